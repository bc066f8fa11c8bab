"""Local stand-ins for the third-party vendor APIs (real HTTP servers, recorded calls)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeVendor:
    """Answers like OpenAI (and Azure) or Anthropic; ``status`` forces an error."""

    reply: str = "hello from the vendor"
    echo: bool = False
    """Answer with the last user message as received (to see what the vendor saw)."""
    status: int = 200
    delay: float = 0.0
    calls: list[Seen] = field(default_factory=list)

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            import asyncio

            body = json.loads(await request.body())
            self.calls.append(
                Seen(request.url.path, request.url.query, dict(request.headers), body)
            )
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.status != 200:
                return JSONResponse(
                    {"error": {"message": f"bad key {request.headers.get('authorization')}"}},
                    self.status,
                )
            if self.echo:
                self.reply = f"you said: {body['messages'][-1]['content']}"
            if request.url.path.endswith("/v1/messages"):
                return self._anthropic(body)
            return self._openai(body)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])

    def _openai(self, body: dict[str, Any]) -> Response:
        if body.get("stream"):

            async def gen() -> Any:
                for i in range(0, len(self.reply), 5):
                    piece = self.reply[i : i + 5]
                    yield (
                        "data: "
                        + json.dumps(
                            {
                                "choices": [
                                    {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                                ]
                            }
                        )
                        + "\n\n"
                    )
                yield (
                    "data: "
                    + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    + "\n\n"
                )
                yield "data: [DONE]\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model", "azure-deployment"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
        )

    def _anthropic(self, body: dict[str, Any]) -> Response:
        if body.get("stream"):

            async def gen() -> Any:
                events = [
                    {"type": "message_start", "message": {"usage": {"input_tokens": 9}}},
                    *(
                        {
                            "type": "content_block_delta",
                            "delta": {"type": "text_delta", "text": self.reply[i : i + 4]},
                        }
                        for i in range(0, len(self.reply), 4)
                    ),
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 5},
                    },
                    {"type": "message_stop"},
                ]
                for e in events:
                    yield f"event: {e['type']}\ndata: {json.dumps(e)}\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "msg_1",
                "type": "message",
                "content": [{"type": "text", "text": self.reply}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 9, "output_tokens": 5},
            }
        )
