"""The HTTP layer under ``AsyncMistral``: an asyncio HTTP/1.1 transport for httpx2.

A backend relaying hundreds of streams reads one SSE event per socket read, so what the HTTP layer
costs per read is most of what a chunk costs.  With httpx2's default transport (httpcore2 on anyio)
a read cost an anyio cancel scope and two ``map_exceptions`` context managers, every chunk went
through h11 and four generator layers, and every request scanned the whole pool twice behind anyio
cancellation shields.  ``python -m bench.http_layer`` keeps the measurement; here:

- ``_Socket`` is an asyncio ``Protocol``: a read that has to wait costs one future, and its timeout
  a clock read (one lazy timer per connection, moved only when it fires).
- ``_Connection`` speaks HTTP/1.1 with h11 for the request and the response head; a chunked body is
  decoded by ``ChunkedBody`` from the first chunk boundary on, and h11 is told where it ended.
- ``_Pool`` keeps idle connections per origin, so taking and giving back one costs O(1).

A write returns once the kernel has all of it, and the request's ``trace`` extension hears
``http11.send_request_body.started/complete/failed`` as from httpcore2: the retry rule
(``_retry.py``) needs to know whether the request went out in full.

Errors are httpx2's own exceptions, as raised by httpx2's transport, so nothing above this module
can tell the difference.  The sync client keeps httpx2's transport: blocking sockets have no such
cost per read.  With a proxy set in the environment for the API's URL, ``AsyncMistral`` uses
httpx2's transport too (``proxy_in_environment``), which knows how to talk to proxies.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import h11
import httpx2

from .chunked import ChunkedBody, ChunkedBodyError
from .sockets import OWN_BODY, shutdown_socket

__all__ = ["AsyncTransport", "proxy_in_environment"]

_MAX_HEAD = 100 * 1024  # the response head, as httpcore2 allows
_HIGH_WATER = 256 * 1024  # unread bytes buffered before we stop reading the socket
_SWEEP_EVERY = 1.0  # seconds between two looks at every idle connection
_INCOMPLETE = "peer closed connection without sending complete message body (incomplete chunked read)"

Origin = tuple[bytes, bytes, int]


def proxy_in_environment(url: str) -> bool:
    """True if ``HTTPS_PROXY``/``HTTP_PROXY`` (for ``url``'s scheme) or ``ALL_PROXY`` is set.

    ``NO_PROXY`` is left to httpx2 on purpose: its matching rules are its own, and a host we wrongly
    thought bypassed would be dialled directly where only the proxy gets through.
    """
    import urllib.parse
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    return bool(proxies.get(urllib.parse.urlsplit(url).scheme) or proxies.get("all"))


class AsyncTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport for HTTP/1.1 over TCP or TLS; ``AsyncMistral`` builds its client on it."""

    def __init__(self, *, limits: httpx2.Limits) -> None:
        self._pool = _Pool(limits)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}: use http:// or https://")
        origin = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeouts = request.extensions.get("timeout", {})
        connection = await self._pool.acquire(origin, timeouts.get("pool"))
        return await connection.send(request, timeouts)

    async def aclose(self) -> None:
        sockets = self._pool.close()
        # asyncio closes a socket on the loop's next turn (TLS after its close_notify): wait for that,
        # briefly, so that a closed client has really let go of its connections.
        loop = asyncio.get_running_loop()
        lost = [s.lost for s in sockets if not s.lost.done() and s.loop is loop]
        if lost:
            await asyncio.wait(lost, timeout=1.0)


class _Pool:
    """Connections by origin: idle ones on a stack each (the warmest first), at most ``max_connections``."""

    def __init__(self, limits: httpx2.Limits) -> None:
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._open = 0  # connections counted against the limit: opening, busy or idle
        self._busy: set[_Connection] = set()
        self._closing: set[_Socket] = set()  # closed by us, not yet let go of by asyncio
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        self._next_sweep = 0.0

    async def acquire(self, origin: Origin, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            connection = self._take_idle(origin, loop)
            if connection is None and (self._max is None or self._open < self._max):
                self._open += 1
                connection = _Connection(origin, self)
            if connection is not None:
                self._busy.add(connection)
                return connection
            if self._idle_count:
                self._drop_oldest_idle()  # idle for another origin: its place is worth more here
                continue
            await self._wait(loop, timeout)

    def release(self, connection: _Connection) -> None:
        """Called once per request, when its response is closed: keep the connection or drop it."""
        self._busy.discard(connection)
        if connection.idle and not self._closed and self._max_idle != 0:
            self._idle.setdefault(connection.origin, []).append(connection)
            self._idle_count += 1
            if self._max_idle is not None and self._idle_count > self._max_idle:
                self._drop_oldest_idle()
        else:
            self._drop(connection)
        self.release_turn()

    @property
    def connections(self) -> list[_Connection]:
        """Busy and idle connections, as httpcore2's pool lists them (read by ``connection_states()``)."""
        return [*self._busy, *(c for stack in self._idle.values() for c in stack)]

    def close(self) -> list[_Socket]:
        """Close the idle connections (busy ones close when their response does); return the sockets
        still closing."""
        self._closed = True
        for stack in self._idle.values():
            for connection in stack:
                self._drop(connection)
        self._idle.clear()
        self._idle_count = 0
        return list(self._closing)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        socket = connection.socket
        if socket is not None and not socket.lost.done() and not socket.loop.is_closed():
            self._closing.add(socket)
            socket.lost.add_done_callback(lambda _: self._closing.discard(socket))

    def _take_idle(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        now = time.monotonic()
        if now >= self._next_sweep and self._idle_count:
            self._sweep(now)
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            self._idle_count -= 1
            if connection.reusable(now, self._expiry, loop):
                return connection
            self._drop(connection)
        return None

    def _sweep(self, now: float) -> None:
        # Idle connections of origins no longer asked for would otherwise hold their sockets forever.
        self._next_sweep = now + _SWEEP_EVERY
        for origin, stack in self._idle.items():
            keep = [c for c in stack if c.reusable(now, self._expiry, None)]
            for connection in stack:
                if connection not in keep:
                    self._drop(connection)
            self._idle_count -= len(stack) - len(keep)
            self._idle[origin] = keep

    def _drop_oldest_idle(self) -> None:
        stacks = [stack for stack in self._idle.values() if stack]
        oldest = min(stacks, key=lambda stack: stack[0].idle_since)
        self._drop(oldest.pop(0))
        self._idle_count -= 1

    async def _wait(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release_turn()  # woken, but leaving: the next in line gets the turn
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                raise httpx2.PoolTimeout(f"no connection became free within {timeout} s") from None
            raise

    def release_turn(self) -> None:
        """Wake the first request waiting for a connection, if any."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


class _Connection:
    """One HTTP/1.1 connection: opened by its first request, kept alive between requests."""

    def __init__(self, origin: Origin, pool: _Pool) -> None:
        self.origin = origin
        self.idle = False
        self.idle_since = 0.0
        self._pool = pool
        self.socket: _Socket | None = None
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)

    async def send(self, request: httpx2.Request, timeouts: dict[str, float | None]) -> httpx2.Response:
        self.idle = False
        read_timeout = timeouts.get("read")
        try:
            if self.socket is None:
                self.socket = await _connect(self.origin, request, timeouts.get("connect"))
            await self._send_request(request, timeouts.get("write"))
            head = await self._receive_head(read_timeout)
        except BaseException:
            self.end_of_response()
            raise
        chunked = (
            request.method != "HEAD"
            and head.status_code not in (204, 304)
            and any(name == b"transfer-encoding" for name, _ in head.headers)
        )
        body = _Body(self, read_timeout, chunked)
        return httpx2.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=body,
            extensions={
                "http_version": b"HTTP/" + head.http_version,
                "reason_phrase": head.reason,
                "network_stream": self.socket,
                OWN_BODY: body,
            },
        )

    async def _send_request(self, request: httpx2.Request, timeout: float | None) -> None:
        conn = self._h11
        try:
            parts = [
                conn.send(h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw))
            ]
            async for piece in request.stream:  # type: ignore[union-attr]
                if piece:
                    parts.append(conn.send(h11.Data(data=piece)))
            parts.append(conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise httpx2.LocalProtocolError(str(exc)) from exc
        assert self.socket is not None
        # The retry rule needs to know whether the request left in full (``_retry.py``): say so with
        # the events httpcore2 sends to the ``trace`` extension.
        trace = request.extensions.get("trace")
        if trace is not None:
            await trace("http11.send_request_body.started", {"request": request})
        try:
            # One write, so head and body leave in one segment.
            await self.socket.write(b"".join(p for p in parts if p), timeout)
        except (httpx2.WriteError, httpx2.WriteTimeout) as exc:
            if trace is not None:
                await trace("http11.send_request_body.failed", {"exception": exc})
            if isinstance(exc, httpx2.WriteTimeout):
                raise
            # The server may have answered and closed before reading everything: read its answer.
            return
        if trace is not None:
            await trace("http11.send_request_body.complete", {"return_value": None})

    async def _next_event(self, timeout: float | None) -> Any:
        conn, socket = self._h11, self.socket
        assert socket is not None
        while True:
            event = _next(conn)
            if event is not h11.NEED_DATA:
                return event
            data = await socket.read(timeout)
            if not data and conn.their_state is h11.SEND_RESPONSE:
                raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
            conn.receive_data(data)

    async def _receive_head(self, timeout: float | None) -> h11.Response:
        while True:
            event = await self._next_event(timeout)
            if isinstance(event, h11.Response):
                return event
            # 1xx answers (100 Continue, 103 Early Hints) come before the real one.

    async def body(self, timeout: float | None, chunked: bool, closed: Callable[[], None]) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; ``closed`` runs when it ends, however it ends."""
        conn, socket = self._h11, self.socket
        assert socket is not None
        try:
            if not chunked:
                while True:
                    event = await self._next_event(timeout)
                    if type(event) is h11.Data:
                        yield bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                        return
                    # h11.ConnectionClosed follows a body that ends with the connection: next turn ends
            body = ChunkedBody()
            try:
                # h11 first reads what came with the head, up to a chunk boundary with nothing buffered;
                # ``body`` sees the same bytes so that it knows where that boundary is.
                body.feed(conn.trailing_data[0])
                while True:
                    event = _next(conn)
                    if event is h11.NEED_DATA:
                        if body.error is not None:
                            raise body.error  # h11 handed out all it could decode before the fault
                        if body.at_boundary and not conn.trailing_data[0]:
                            break
                        data = await socket.read(timeout)
                        if not data:
                            raise httpx2.RemoteProtocolError(_INCOMPLETE)
                        conn.receive_data(data)
                        body.feed(data)
                    elif type(event) is h11.Data:
                        yield bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        return
                # From here on a read is one ``feed``, however many chunks it holds.
                read, feed = socket.read, body.feed
                while True:
                    data = await read(timeout)
                    if not data:
                        raise httpx2.RemoteProtocolError(_INCOMPLETE)
                    payload = feed(data)
                    if payload:
                        yield payload
                    if body.ended:
                        break
                if body.error is not None:
                    # Raised after the payload before the fault was handed out, not on a read to
                    # come: the server may send nothing more.
                    raise body.error
            except ChunkedBodyError as exc:
                raise httpx2.RemoteProtocolError(str(exc)) from None
            # Tell h11 where the body ended; the chunks it did not see do not matter to it.
            conn.receive_data(b"0\r\n\r\n" + body.leftover)
            if not isinstance(_next(conn), h11.EndOfMessage):
                raise httpx2.RemoteProtocolError("the chunked body did not end where h11 expected")
        finally:
            closed()

    def end_of_response(self) -> None:
        """The response is closed, read to its end or not: keep the connection if h11 says we can."""
        conn = self._h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self.idle, self.idle_since = True, time.monotonic()
        else:
            self.close()
        self._pool.release(self)

    def reusable(self, now: float, expiry: float | None, loop: asyncio.AbstractEventLoop | None) -> bool:
        socket = self.socket
        return (
            socket is not None
            and (expiry is None or now - self.idle_since < expiry)
            # Something to read on an idle connection can only be the server closing it.
            and not socket.readable()
            and (loop is None or socket.loop is loop)
        )

    def close(self) -> None:
        self.idle = False
        if self.socket is not None:
            self.socket.close()

    def is_idle(self) -> bool:
        return self.idle

    def is_closed(self) -> bool:
        return self.socket is not None and self.socket.closed

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        state = "idle" if self.idle else "closed" if self.socket is None or self.socket.closed else "busy"
        return f"<_Connection {scheme.decode()}://{host.decode()}:{port} {state}>"


def _next(conn: h11.Connection) -> Any:
    try:
        return conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise httpx2.RemoteProtocolError(str(exc)) from exc


class _Body(httpx2.AsyncByteStream):
    """The body of one response: iterating it reads the connection, closing it gives the connection back."""

    def __init__(self, connection: _Connection, timeout: float | None, chunked: bool) -> None:
        self._connection = connection
        self._timeout = timeout
        self._chunked = chunked
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The connection's generator itself, not one of ours around it: a layer costs per chunk.
        return self._connection.body(self._timeout, self._chunked, self._close)

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._connection.end_of_response()


async def _connect(origin: Origin, request: httpx2.Request, timeout: float | None) -> _Socket:
    loop = asyncio.get_running_loop()
    scheme, raw_host, port = origin
    host = raw_host.decode("ascii")
    tls = scheme == b"https"
    server_hostname = (request.extensions.get("sni_hostname") or host) if tls else None
    context = _tls_context() if tls else None
    try:
        _, socket = await asyncio.wait_for(
            loop.create_connection(lambda: _Socket(loop), host, port, ssl=context, server_hostname=server_hostname),
            timeout,
        )
    except (TimeoutError, asyncio.TimeoutError) as exc:
        raise httpx2.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:  # ssl.SSLError is one too
        raise httpx2.ConnectError(str(exc) or type(exc).__name__) from exc
    return socket


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    # Built on the first https connection, not with the client: loading the CA bundle takes longer
    # than importing the whole client, and a client of a local http:// server never needs it.
    global _TLS
    if _TLS is None:
        context = httpx2.create_ssl_context()  # what httpx2's transport trusts; SSL_CERT_FILE/_DIR honoured
        context.set_alpn_protocols(["http/1.1"])
        _TLS = context
    return _TLS


class _Socket(asyncio.Protocol):
    """One TCP or TLS connection, read with ``await read(timeout)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closed = False
        self.lost: asyncio.Future[None] = loop.create_future()  # done once asyncio let go of the socket
        self._transport: asyncio.Transport | None = None
        self._received: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._error: BaseException | None = None
        self._drained: asyncio.Future[None] | None = None
        # The timeout of a waiting read: one timer per connection, moved only when it fires, so a
        # read costs a clock read instead of scheduling and cancelling a timer.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        # Paused while anything of a write is still buffered, resumed once all of it went to the
        # kernel: a write returns when the request was sent in full, which the retry rule needs.
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._received.append(data)
        self._buffered += len(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        self._error = exc
        self._wake()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = self.loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Reading and writing

    async def read(self, timeout: float | None) -> bytes:
        """Everything received so far, waiting for it if need be; b"" once the peer closed."""
        received = self._received
        if not received:
            if self._eof:
                if self._error is not None:
                    raise httpx2.ReadError(str(self._error) or type(self._error).__name__)
                return b""
            waiter = self._waiter = self.loop.create_future()
            if timeout is not None:
                self._arm(timeout)
            try:
                await waiter
            finally:
                self._waiter = None
            received = self._received
            if not received:
                return await self.read(None)  # woken by EOF or a lost connection
        data = received[0] if len(received) == 1 else b"".join(received)
        received.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    def _arm(self, timeout: float) -> None:
        self._deadline = deadline = self.loop.time() + timeout
        if self._timer is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._deadline <= self._timer_at:
            self._waiter = None
            waiter.set_exception(httpx2.ReadTimeout("timed out waiting for data from the server"))
        else:
            self._timer_at = self._deadline
            self._timer = self.loop.call_at(self._deadline, self._on_timer)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Returns once all of ``buffer`` was handed to the kernel; ``WriteError`` if it could not be."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise httpx2.WriteError("the connection is closed")
        transport.write(buffer)
        drained = self._drained
        if drained is not None:
            # Part of it is buffered: ``resume_writing`` says when the rest went, ``connection_lost``
            # when it never will.
            try:
                await asyncio.wait_for(asyncio.shield(drained), timeout)
            except (TimeoutError, asyncio.TimeoutError) as exc:
                raise httpx2.WriteTimeout("timed out sending the request") from exc
            failed = self._drained is not None
        else:
            failed = transport.is_closing()  # asyncio closes the transport when a send fails at once
        if failed:
            error = self._error
            raise httpx2.WriteError(
                (str(error) or type(error).__name__) if error is not None else "the connection closed while sending"
            )

    def readable(self) -> bool:
        return bool(self._received) or self._eof

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            try:
                self._transport.close()
            except RuntimeError:
                # Its event loop is closed (a client used under two asyncio.run() calls), and only that
                # loop may close the socket: end the connection for the server at least.
                sock = self._transport.get_extra_info("socket")
                if sock is not None:
                    shutdown_socket(sock)

    # What httpcore2's streams offer, for ``response.extensions["network_stream"]``

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "is_readable":
            return self.readable()
        if transport is None:
            return None
        name = {"client_addr": "sockname", "server_addr": "peername"}.get(info, info)
        if name in ("socket", "ssl_object", "sockname", "peername"):
            return transport.get_extra_info(name)
        return None
