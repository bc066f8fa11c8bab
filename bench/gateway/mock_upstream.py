"""A fast local mock of an OpenAI-compatible upstream, for the gateway benchmark.

    python bench/gateway/mock_upstream.py --port 18700

Raw asyncio protocol, HTTP/1.1 keep-alive, standard library only. It answers

- ``POST /v1/chat/completions``: a fixed small completion, or with ``"stream": true``
  the same text as Server-Sent Events (chunked transfer encoding, ``data: [DONE]``);
- ``GET /v1/models``: one model;
- anything else: 404.

Bodies are parsed as JSON (a malformed body gets a 400), so a proxy that forwards
broken requests is noticed. It binds loopback only and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

MODEL = "mock-model"
WORDS = ["The ", "mock ", "upstream ", "answers ", "briefly", "."]
TEXT = "".join(WORDS)
USAGE = {"prompt_tokens": 256, "completion_tokens": len(WORDS), "total_tokens": 256 + len(WORDS)}


def _response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


COMPLETION = _response(
    "200 OK",
    json.dumps(
        {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": 1764547200,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        },
        separators=(",", ":"),
    ).encode(),
)


def _chunk(delta: dict[str, str], finish: str | None, usage: bool = False) -> bytes:
    event: dict[str, object] = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1764547200,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        event["usage"] = USAGE
    data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _stream() -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    parts = [_chunk({"role": "assistant", "content": ""}, None)]
    parts += [_chunk({"content": w}, None) for w in WORDS]
    parts.append(_chunk({}, "stop", usage=True))
    done = b"data: [DONE]\n\n"
    parts.append(f"{len(done):x}\r\n".encode() + done + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return head + b"".join(parts)


STREAM = _stream()
MODELS = _response(
    "200 OK",
    json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode(),
)
NOT_FOUND = _response("404 Not Found", b'{"error":{"message":"not found"}}')
BAD_REQUEST = _response("400 Bad Request", b'{"error":{"message":"malformed JSON"}}')
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class MockProtocol(asyncio.Protocol):
    """One connection: parse requests out of the buffer and answer each at once."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self.transport.close()
                return
            head = self.buf[:end].decode("latin-1")
            request_line, _, header_text = head.partition("\r\n")
            length = 0
            for line in header_text.split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length > MAX_BODY:
                self.transport.close()
                return
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.transport.write(answer(request_line, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def answer(request_line: str, body: bytes) -> bytes:
    method, _, rest = request_line.partition(" ")
    path = rest.partition(" ")[0].split("?", 1)[0]
    if method == "GET" and path.endswith("/models"):
        return MODELS
    if method != "POST" or not path.endswith("/chat/completions"):
        return NOT_FOUND
    try:
        request = json.loads(body)
    except ValueError:
        return BAD_REQUEST
    if not isinstance(request, dict):
        return BAD_REQUEST
    return STREAM if request.get("stream") is True else COMPLETION


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MockProtocol, host, port, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        raise SystemExit("the mock binds loopback only")
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
