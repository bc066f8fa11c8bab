"""Redis, the scale-out engine for shared state (rate limits, revocation, pub/sub)."""

from __future__ import annotations

import redis

from vallum.errors import ConfigError, UnavailableError


def client(url: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    except ValueError as exc:
        raise ConfigError("redis_url is not a valid Redis URL") from exc


def ping(url: str) -> None:
    """Raise UnavailableError unless Redis answers PING."""
    try:
        client(url).ping()
    except redis.RedisError as exc:
        raise UnavailableError(f"Redis did not answer ({type(exc).__name__})") from exc
