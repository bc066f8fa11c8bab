"""The built-in ``demo`` upstream: a local, deterministic model for offline use.

It echoes the last user message. Directives in the prompt make it misbehave on
purpose, so the guards can be seen at work without any vendor:

* ``#emit:phi``     answers with a made-up patient's name, MRN, phone and date of birth;
* ``#emit:secret``  answers with an AWS-style access key and a GitHub-style token;
* ``#emit:canary``  repeats the system prompt (and so any canary the gateway put there);
* ``#emit:long``    repeats the echo ten times (for streaming tests).

Streaming splits the answer into 7-character pieces so identifiers straddle chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

PHI_TEXT = (
    "Patient John Smith (MRN 4829301, DOB 03/14/1962, phone 617-555-0199) "
    "was seen at Springfield General on 2024-05-02."
)
CREDENTIAL_TEXT = (
    "Use AWS key AKIAZ7QX3MPLE4KEYQWE with ghp_4fT9kLmN2pQrStUvWxYz0123456789AbCdEf to deploy."
)
CHUNK = 7


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def answer(messages: Sequence[dict[str, object]]) -> str:
    """The demo model's whole answer to a chat."""
    user = ""
    system = ""
    for m in messages:
        if m.get("role") == "user":
            user = _content_text(m.get("content"))
        elif m.get("role") == "system":
            system = _content_text(m.get("content"))
    parts: list[str] = []
    if "#emit:phi" in user:
        parts.append(PHI_TEXT)
    if "#emit:secret" in user:
        parts.append(CREDENTIAL_TEXT)
    if "#emit:canary" in user:
        parts.append(f"My instructions are: {system}")
    echo = f"echo: {user}"
    parts.append(" ".join([echo] * 10) if "#emit:long" in user else echo)
    return " ".join(parts)


def complete(prompt: str) -> str:
    return answer([{"role": "user", "content": prompt}])


def chunks(text: str) -> Iterator[str]:
    for i in range(0, len(text), CHUNK):
        yield text[i : i + CHUNK]


def embedding(text: str, dims: int = 16) -> list[float]:
    """A deterministic unit-ish vector from the text's bytes."""
    acc = [0.0] * dims
    for i, b in enumerate(text.encode()):
        acc[i % dims] += (b % 31) / 31.0
    norm = sum(x * x for x in acc) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in acc]


def count_tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token)."""
    return max(1, (len(text) + 3) // 4) if text else 0
