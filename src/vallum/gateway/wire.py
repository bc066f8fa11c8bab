"""OpenAI's wire format: answers, stream chunks and errors, as plain dicts and bytes."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from vallum.errors import VallumError

#: OpenAI error ``type`` by HTTP status (clients branch on these).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def new_id(prefix: str) -> str:
    return f"{prefix}-vallum{secrets.token_hex(10)}"


def chat_response(
    model: str,
    text: str,
    *,
    finish: str = "stop",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    id_: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id_ or new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_response(
    model: str, text: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chunk(
    id_: str,
    model: str,
    created: int,
    *,
    text: str | None = None,
    role: bool = False,
    finish: str | None = None,
    usage: tuple[int, int] | None = None,
) -> bytes:
    """One ``data:`` line of a chat completion stream."""
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if text is not None:
        delta["content"] = text
    body: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return b"data: " + orjson.dumps(body) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def error_body(exc: VallumError) -> dict[str, Any]:
    """OpenAI's error shape; ``code`` is Vallum's stable error code."""
    return {
        "error": {
            "message": exc.one_line(),
            "type": _TYPES.get(exc.http_status, "api_error"),
            "code": exc.code,
            "param": None,
        }
    }


def error_bytes(exc: VallumError) -> bytes:
    return orjson.dumps(error_body(exc))


def stream_error(exc: VallumError) -> bytes:
    """An error inside an already-started stream (OpenAI's SDK raises on it)."""
    return b"data: " + error_bytes(exc) + b"\n\n"
