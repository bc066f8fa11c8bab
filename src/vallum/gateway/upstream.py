"""Calling vendors: OpenAI-compatible, Azure OpenAI, Anthropic, and the built-in demo.

Requests arrive in OpenAI's wire format and answers leave in it; this module
translates for Azure (deployment URLs, ``api-key`` header) and Anthropic (the
Messages API) and normalises streams into :class:`Piece` values. Credentials
go only into request headers: never into errors, logs or events. An upstream
failure becomes an :class:`~vallum.errors.UpstreamError` naming the vendor and
the HTTP status, never the vendor's body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson

from vallum.errors import UpstreamError, UpstreamTimeoutError, UsageError
from vallum.gateway import demo
from vallum.gateway.http1 import Http1Pool, HttpError, Origin, Response
from vallum.gateway.policy import Vendor, VendorKind
from vallum.gateway.wire import chat_response, completion_response

ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class Piece:
    """One step of a normalised stream: some text, maybe the end, maybe usage."""

    text: str = ""
    finish: str | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)


def _headers(vendor: Vendor) -> dict[str, str]:
    h = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    secret = vendor.credential
    if not secret:
        return h
    if vendor.kind is VendorKind.AZURE_OPENAI:
        h["api-key"] = secret
    elif vendor.kind is VendorKind.ANTHROPIC:
        h["x-api-key"] = secret
        h["anthropic-version"] = ANTHROPIC_VERSION
    else:
        h["authorization"] = f"Bearer {secret}"
    return h


def _path(vendor: Vendor, model: str, endpoint: str) -> str:
    """The request path below the vendor's base URL."""
    if vendor.kind is VendorKind.AZURE_OPENAI:
        return f"openai/deployments/{model}/{endpoint}?api-version={vendor.api_version}"
    if vendor.kind is VendorKind.ANTHROPIC:
        if endpoint != "chat/completions":
            raise UsageError(f"vendor {vendor.name} (anthropic) has no {endpoint} endpoint")
        return "v1/messages"
    return endpoint


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def to_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    system = "\n\n".join(
        _text(m.get("content")) for m in body.get("messages", []) if m.get("role") == "system"
    )
    messages = [
        {"role": m["role"], "content": _text(m.get("content"))}
        for m in body.get("messages", [])
        if m.get("role") in ("user", "assistant")
    ]
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens") or 1024,
    }
    if system:
        out["system"] = system
    for src, dst in (("temperature", "temperature"), ("top_p", "top_p"), ("stream", "stream")):
        if src in body:
            out[dst] = body[src]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return out


_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def from_anthropic(raw: dict[str, Any], alias: str) -> dict[str, Any]:
    text = "".join(b.get("text", "") for b in raw.get("content", []) if b.get("type") == "text")
    usage = raw.get("usage") or {}
    return chat_response(
        alias,
        text,
        finish=_STOP.get(str(raw.get("stop_reason")), "stop"),
        prompt_tokens=int(usage.get("input_tokens", 0)),
        completion_tokens=int(usage.get("output_tokens", 0)),
        id_=str(raw.get("id", "")) or None,
    )


class Upstreams:
    """One keep-alive connection pool per worker, shared by every vendor."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._pool = Http1Pool(connect_timeout=min(timeout, 5.0))
        self._origins: dict[str, Origin] = {}

    async def close(self) -> None:
        self._pool.close()

    def _origin(self, vendor: Vendor) -> Origin:
        origin = self._origins.get(vendor.base_url)
        if origin is None:
            try:
                origin = Origin.of(vendor.base_url)
            except HttpError:
                raise UpstreamError(f"vendor {vendor.name} has an invalid base URL") from None
            self._origins[vendor.base_url] = origin
        return origin

    async def _send(self, vendor: Vendor, model: str, endpoint: str, body: bytes) -> Response:
        resp = await self._pool.request(
            self._origin(vendor), _path(vendor, model, endpoint), _headers(vendor), body
        )
        if resp.status >= 400:
            resp.close()
            _check(vendor, resp.status)
        return resp

    # -- whole answers ----------------------------------------------------
    async def call(
        self, vendor: Vendor, model: str, endpoint: str, body: dict[str, Any], alias: str
    ) -> dict[str, Any]:
        """A non-streaming call; the answer in OpenAI's shape, ``model`` set to the alias."""
        if vendor.kind is VendorKind.DEMO:
            return _demo(endpoint, body, alias)
        out = self._prepare(vendor, model, endpoint, body, stream=False)
        try:
            async with asyncio.timeout(self._timeout):
                resp = await self._send(vendor, model, endpoint, out)
                content = await resp.read()
        except TimeoutError:
            raise UpstreamTimeoutError(f"vendor {vendor.name} did not answer in time") from None
        except HttpError as exc:
            raise UpstreamError(f"vendor {vendor.name} unreachable or broken ({exc})") from None
        try:
            raw = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"vendor {vendor.name} sent an answer that is not JSON") from None
        if not isinstance(raw, dict):
            raise UpstreamError(f"vendor {vendor.name} sent an unexpected answer")
        if vendor.kind is VendorKind.ANTHROPIC:
            return from_anthropic(raw, alias)
        raw["model"] = alias
        return raw

    # -- streams ----------------------------------------------------------
    async def stream(
        self, vendor: Vendor, model: str, body: dict[str, Any]
    ) -> AsyncGenerator[Piece, None]:
        """A streaming chat call, normalised to :class:`Piece` values."""
        if vendor.kind is VendorKind.DEMO:
            text = demo.answer(body.get("messages", []))
            for part in demo.chunks(text):
                yield Piece(part)
            prompt = sum(
                demo.count_tokens(_text(m.get("content"))) for m in body.get("messages", [])
            )
            yield Piece("", "stop", (prompt, demo.count_tokens(text)))
            return
        out = self._prepare(vendor, model, "chat/completions", body, stream=True)
        try:
            async with asyncio.timeout(self._timeout):
                resp = await self._send(vendor, model, "chat/completions", out)
        except TimeoutError:
            raise UpstreamTimeoutError(f"vendor {vendor.name} did not answer in time") from None
        except HttpError as exc:
            raise UpstreamError(f"vendor {vendor.name} unreachable or broken ({exc})") from None
        parse = _anthropic_piece if vendor.kind is VendorKind.ANTHROPIC else _openai_piece
        lines = resp.lines()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._timeout):
                        line = await anext(lines)
                except StopAsyncIteration:
                    break
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    event = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise UpstreamError(f"vendor {vendor.name} sent a malformed stream") from None
                piece = parse(event)
                if piece is not None:
                    yield piece
        except TimeoutError:
            raise UpstreamTimeoutError(f"vendor {vendor.name} stalled mid-stream") from None
        except HttpError as exc:
            raise UpstreamError(f"vendor {vendor.name} stream failed ({exc})") from None
        finally:
            await lines.aclose()
            resp.close()

    def _prepare(
        self, vendor: Vendor, model: str, endpoint: str, body: dict[str, Any], *, stream: bool
    ) -> bytes:
        if vendor.kind is VendorKind.ANTHROPIC:
            out = to_anthropic(body, model)
        else:
            out = dict(body)
            if vendor.kind is VendorKind.AZURE_OPENAI:
                out.pop("model", None)
            else:
                out["model"] = model
        if stream:
            out["stream"] = True
        return orjson.dumps(out)


def _check(vendor: Vendor, status: int) -> None:
    if status < 400:
        return
    if status == 429:
        raise UpstreamError(f"vendor {vendor.name} is rate limiting the gateway (HTTP 429)")
    if status in (401, 403):
        raise UpstreamError(
            f"vendor {vendor.name} refused the gateway's credentials (HTTP {status})",
            hint="check the vendor's credential with `vallum vendors add`",
        )
    raise UpstreamError(f"vendor {vendor.name} answered HTTP {status}")


def _openai_piece(event: dict[str, Any]) -> Piece | None:
    usage = event.get("usage")
    u = None
    if isinstance(usage, dict):
        u = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    choices = event.get("choices") or []
    if not choices:
        return Piece("", None, u) if u else None
    c = choices[0]
    delta = c.get("delta") or {}
    text = delta.get("content") or c.get("text") or ""
    return Piece(str(text), c.get("finish_reason"), u)


def _anthropic_piece(event: dict[str, Any]) -> Piece | None:
    kind = event.get("type")
    if kind == "content_block_delta":
        return Piece(str((event.get("delta") or {}).get("text", "")))
    if kind == "message_start":
        usage = (event.get("message") or {}).get("usage") or {}
        return Piece("", None, (int(usage.get("input_tokens", 0)), 0))
    if kind == "message_delta":
        usage = event.get("usage") or {}
        stop = (event.get("delta") or {}).get("stop_reason")
        return Piece("", _STOP.get(str(stop), "stop"), (0, int(usage.get("output_tokens", 0))))
    return None


def _demo(endpoint: str, body: dict[str, Any], alias: str) -> dict[str, Any]:
    if endpoint == "chat/completions":
        messages = body.get("messages", [])
        text = demo.answer(messages)
        prompt = sum(demo.count_tokens(_text(m.get("content"))) for m in messages)
        return chat_response(
            alias, text, prompt_tokens=prompt, completion_tokens=demo.count_tokens(text)
        )
    if endpoint == "completions":
        prompt = body.get("prompt", "")
        p = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
        text = demo.complete(p)
        return completion_response(alias, text, demo.count_tokens(p), demo.count_tokens(text))
    inputs = body.get("input", "")
    items = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]
    return {
        "object": "list",
        "model": alias,
        "data": [
            {"object": "embedding", "index": i, "embedding": demo.embedding(t)}
            for i, t in enumerate(items)
        ],
        "usage": {
            "prompt_tokens": sum(demo.count_tokens(t) for t in items),
            "total_tokens": sum(demo.count_tokens(t) for t in items),
        },
    }


def now_seconds() -> int:
    return int(time.time())
