"""A lean HTTP/1.1 client for vendor calls: keep-alive pool on asyncio streams.

The gateway's added latency is mostly its own HTTP client: a general-purpose
client spends more CPU per request than everything else the gateway does with its
guards off. Vendor calls need little: POST with a body, a status, headers, a body
delimited by ``content-length``, chunked encoding or the end of the connection,
keep-alive, TLS for ``https``, timeouts. That is this module; anything it does not
understand is an error (fail closed), never a guess.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


class HttpError(Exception):
    """The connection failed or the peer broke the protocol (message has no content)."""


class HttpTimeout(HttpError):
    """The peer did not connect, answer or send the next piece within the timeout."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    path: str  # base path without a trailing slash

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


class Response:
    """Status, lower-cased headers, and a body read on demand."""

    def __init__(
        self,
        pool: Http1Pool,
        origin: Origin,
        conn: _Conn,
        status: int,
        headers: dict[str, str],
        *,
        http10: bool = False,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: _Conn | None = conn
        self.status = status
        self.headers = headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._length = int(length) if length is not None and not self._chunked else None
        if self._length is not None and not 0 <= self._length <= MAX_BODY:
            raise HttpError("bad content-length")
        conn_header = headers.get("connection", "").lower()
        keep = conn_header == "keep-alive" if http10 else conn_header != "close"
        self._reusable = keep and (self._chunked or self._length is not None)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives; the connection returns to the pool at the end."""
        conn = self._conn
        if conn is None:
            return
        r = conn.reader
        try:
            if self._chunked:
                while True:
                    line = await r.readuntil(b"\r\n")
                    size = int(line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while (await r.readuntil(b"\r\n")) != b"\r\n":
                            continue  # skip trailer fields; each line is length-bounded
                        break
                    data = await r.readexactly(size + 2)
                    yield data[:-2]
            elif self._length is not None:
                left = self._length
                while left > 0:
                    data = await r.read(min(left, 65536))
                    if not data:
                        raise HttpError("connection closed mid-body")
                    left -= len(data)
                    yield data
            else:
                total = 0
                while data := await r.read(65536):
                    total += len(data)
                    if total > MAX_BODY:
                        raise HttpError("body too large")
                    yield data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            raise HttpError(f"malformed body ({type(exc).__name__})") from None
        except BaseException:  # OSError, HttpError, cancellation (timeouts): never reuse
            self.close()
            raise
        self._conn = None
        if self._reusable:
            self._pool.release(self._origin, conn)
        else:
            conn.close()

    async def read(self) -> bytes:
        parts = [c async for c in self.chunks()]
        return b"".join(parts)

    async def lines(self) -> AsyncGenerator[bytes, None]:
        """The body split into lines (for server-sent events), without line ends."""
        buf = b""
        async for chunk in self.chunks():
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if buf:
            yield buf

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Http1Pool:
    """Keep-alive connections per origin; ``request`` sends one POST and reads the head."""

    def __init__(self, *, connect_timeout: float = 5.0, max_idle: int = 256) -> None:
        self._idle: dict[Origin, deque[_Conn]] = {}
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._ssl: ssl.SSLContext | None = None

    def release(self, origin: Origin, conn: _Conn) -> None:
        idle = self._idle.setdefault(origin, deque())
        if len(idle) >= self._max_idle or conn.writer.is_closing():
            conn.close()
        else:
            idle.append(conn)

    async def _connect(self, origin: Origin) -> _Conn:
        ctx = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    origin.host, origin.port, ssl=ctx, limit=MAX_HEAD
                )
        except TimeoutError:
            raise HttpTimeout("connect timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"connect failed ({type(exc).__name__})") from None
        return _Conn(reader, writer)

    async def request(
        self, origin: Origin, path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """POST ``body``; returns once the status line and headers are in."""
        head = [f"POST {origin.path}/{path} HTTP/1.1", f"host: {origin.host_header}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"content-length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.writer.is_closing() or conn.reader.at_eof():
                conn.close()
                continue
            try:
                return await self._exchange(origin, conn, payload)
            except _Stale:
                conn.close()  # the peer closed a kept-alive connection: retry on a fresh one
        conn = await self._connect(origin)
        try:
            return await self._exchange(origin, conn, payload)
        except _Stale:
            conn.close()
            raise HttpError("connection closed before any answer") from None

    async def _exchange(self, origin: Origin, conn: _Conn, payload: bytes) -> Response:
        try:
            conn.writer.write(payload)
            await conn.writer.drain()
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _Stale from None
            conn.close()
            raise HttpError("connection closed mid-head") from None
        except (ConnectionResetError, BrokenPipeError):
            raise _Stale from None
        except asyncio.LimitOverrunError:
            conn.close()
            raise HttpError("response head too large") from None
        except OSError as exc:
            conn.close()
            raise HttpError(f"connection failed ({type(exc).__name__})") from None
        except BaseException:  # cancelled (a timeout): the connection is in an unknown state
            conn.close()
            raise
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            conn.close()
            raise HttpError("malformed status line")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Response(self, origin, conn, int(parts[1]), headers, http10=parts[0] == "HTTP/1.0")

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class _Stale(Exception):
    """A reused connection turned out closed before the request was answered."""
