"""Just enough HTTP/1.1 for the bench: message heads, bodies, and a keep-alive client connection.

The ingest loop sends thousands of small requests per second from the machine that runs the server;
this client costs a fraction of the CPU of httpx's connection pool, so the bench measures the server,
not itself. Bodies are ``Content-Length`` or chunked, at most :data:`MAX_BODY` bytes.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse

#: Largest body read (API bodies are capped at 64 KiB).
MAX_BODY = 64 * 1024
#: Largest message head (start line and headers).
MAX_HEAD = 16 * 1024
#: Chunks read from one chunked body before giving up.
MAX_CHUNKS = 1024
#: Seconds a kept-alive connection may sit idle before it is reopened (uvicorn closes them after 5).
MAX_IDLE = 2.0


class BadMessage(Exception):
    """A malformed HTTP message; ``status`` is what a server answers (400 or 413)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def parse_head(head: bytes) -> tuple[list[str], dict[str, str]]:
    """The start line split in three and lower-cased headers of a message head."""
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    if len(start) != 3:
        raise BadMessage(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadMessage(400)
            headers[name.strip().lower()] = value.strip()
    return start, headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """The body, by ``Content-Length`` or chunked transfer coding."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadMessage(400) from None
    if length < 0:
        raise BadMessage(400)
    if length > MAX_BODY:
        raise BadMessage(413)
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    for _ in range(MAX_CHUNKS):
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadMessage(400) from None
        if size == 0:
            for _ in range(MAX_CHUNKS):  # trailers, up to the empty line
                if await reader.readuntil(b"\r\n") == b"\r\n":
                    return bytes(body)
            raise BadMessage(400)
        if len(body) + size > MAX_BODY:
            raise BadMessage(413)
        body += (await reader.readexactly(size + 2))[:size]
    raise BadMessage(400)


class _Stale(ConnectionResetError):
    """A kept-alive connection was closed by the server before it answered anything."""


class Connection:
    """One keep-alive client connection, reopened as needed; one request at a time.

    A connection idle for :data:`MAX_IDLE` seconds is reopened before use, and a reused connection
    that the server closed before answering (its keep-alive timeout raced the request) is retried once
    on a new one: the request never reached the application.
    """

    def __init__(self, base_url: str, *, timeout: float) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"only http:// URLs are supported, not {base_url!r}")
        self.host, self.port = url.hostname, url.port or 80
        self._prefix = url.path.rstrip("/")
        self._host_header = url.netloc
        self._timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._idle_since = 0.0

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """Send one request; the status and body. Raises ``OSError``, ``TimeoutError`` or
        :class:`BadMessage` (after which the connection is closed)."""
        if self._streams is not None and time.monotonic() - self._idle_since > MAX_IDLE:
            self.close()
        try:
            for attempt in range(2):
                reused = self._streams is not None
                try:
                    answer = await asyncio.wait_for(
                        self._exchange(method, path, headers, body), self._timeout
                    )
                except _Stale:
                    self.close()
                    if not reused or attempt:
                        raise
                    continue
                self._idle_since = time.monotonic()
                return answer
            raise AssertionError("unreachable")
        except BaseException:
            self.close()
            raise

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port, limit=MAX_HEAD)
        reader, writer = self._streams
        lines = [
            f"{method} {self._prefix}{path} HTTP/1.1",
            f"host: {self._host_header}",
            f"content-length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise ConnectionResetError("the server closed the connection mid-answer") from None
            raise _Stale("the server closed the connection") from None
        except (BrokenPipeError, ConnectionResetError):
            raise _Stale("the server closed the connection") from None
        except asyncio.LimitOverrunError:
            raise BadMessage(400) from None
        try:
            start, answer_headers = parse_head(head)
            status = int(start[1])
        except ValueError:
            raise BadMessage(400) from None
        content = await read_body(reader, answer_headers)
        if answer_headers.get("connection", "").lower() == "close":
            self.close()
        return status, content

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class Pool:
    """Up to ``size`` keep-alive :class:`Connection` s, most recently used first."""

    def __init__(self, base_url: str, *, size: int, timeout: float) -> None:
        self._all = [Connection(base_url, timeout=timeout) for _ in range(size)]
        self._idle: asyncio.LifoQueue[Connection] = asyncio.LifoQueue()
        for conn in self._all:
            self._idle.put_nowait(conn)

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """:meth:`Connection.request` on a free connection (waiting for one when all are busy)."""
        conn = await self._idle.get()
        try:
            return await conn.request(method, path, headers or {}, body)
        finally:
            self._idle.put_nowait(conn)

    def close(self) -> None:
        """Close every connection."""
        for conn in self._all:
            conn.close()
