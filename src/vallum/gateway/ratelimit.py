"""Token buckets per key and per route: in process, or shared through Redis.

A limit of N per minute is a bucket of N tokens refilled at N/60 per second.
Requests take 1 from the requests bucket; prompts take their estimated tokens
from the tokens bucket, and the completion's tokens are charged afterwards
(the bucket may go into debt, which later requests wait out). A refused take
returns the seconds to wait, which becomes ``Retry-After``.

With ``redis_url`` set, every worker shares the buckets: one atomic Lua script
per take, using Redis's clock so workers' clocks do not matter.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis.asyncio as aioredis

from vallum.errors import UnavailableError


class Limiter(Protocol):
    async def take(self, bucket: str, limit: int, cost: float, *, force: bool = False) -> float:
        """Take ``cost`` from a bucket of ``limit``/minute; 0.0 or the seconds to wait."""
        ...

    async def close(self) -> None: ...


class LocalLimiter:
    """Buckets in this process's memory (one worker, or limits per worker)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def take(self, bucket: str, limit: int, cost: float, *, force: bool = False) -> float:
        return self.take_now(bucket, limit, cost, force=force)

    def take_now(self, bucket: str, limit: int, cost: float, *, force: bool = False) -> float:
        if limit <= 0:
            return 0.0
        rate = limit / 60.0
        cost = min(cost, float(limit))
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(bucket, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens >= cost or force:
                self._buckets[bucket] = (tokens - cost, now)
                return 0.0
            self._buckets[bucket] = (tokens, now)
        return (cost - tokens) / rate

    async def close(self) -> None:
        return None


_LUA = """
local cap = tonumber(ARGV[1])
local rate = cap / 60.0
local cost = math.min(tonumber(ARGV[2]), cap)
local force = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or cap
local ts = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost or force == 1 then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 120)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis, shared by every worker (atomic Lua script)."""

    def __init__(self, url: str, prefix: str = "vallum:rl:") -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._redis.register_script(_LUA)
        self._prefix = prefix

    async def take(self, bucket: str, limit: int, cost: float, *, force: bool = False) -> float:
        if limit <= 0:
            return 0.0
        try:
            raw = await self._script(
                keys=[self._prefix + bucket], args=[limit, cost, 1 if force else 0]
            )
        except aioredis.RedisError as exc:
            raise UnavailableError(
                f"rate limiter unavailable ({type(exc).__name__}); refusing rather than unlimited"
            ) from None
        return float(raw)

    async def close(self) -> None:
        await self._redis.aclose()
