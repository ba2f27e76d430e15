"""What really differs between the sync and the async client, as ``AsyncBackend`` / ``SyncBackend``.

Everything else is written once, in ``_async/``, and ``scripts/unasync.py`` generates ``_sync/`` from
it, renaming ``AsyncBackend`` to ``SyncBackend`` (as httpcore's ``_synchronization.py`` does): so the
two classes here have the same methods, each the sync or the async way.  What differs:

- the HTTP client: httpx2's ``Client``, or ``AsyncClient`` on our own transport (``_transport/http11.py``),
  unless a proxy is configured, which only httpx2's transport reaches;
- the timers that hold the total deadline: ``threading.Timer`` or ``loop.call_later``;
- reading a whole body within the deadline: a timer that cuts the socket, or ``asyncio.wait_for``;
- reading a stream's body: ``iter_raw``, or our transport's body itself (``OWN_BODY``);
- the sync client refuses to block a running event loop;
- ``buffered``: the async view also wakes on a timer, with the read in a task of its own;
- a stream dropped without closing: closed now, or its close scheduled on its loop.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

import httpx2

from ._exceptions import MistralError, SyncClientInAsyncError
from ._transport.sockets import OWN_BODY, SocketWatch
from ._version import __version__

if TYPE_CHECKING:
    import asyncio

    from ._pipeline.coalescing import Coalescer

__all__ = ["DRAIN_BYTES", "AsyncBackend", "DeadlinePassed", "SyncBackend", "Timer"]

DEFAULT_HEADERS = {"User-Agent": f"mistral-client/{__version__}"}
# Streams hold their connection for the whole answer, so httpx2's default of 100 connections would
# queue the 101st concurrent stream behind the others; idle ones beyond 100 are closed.
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
# After [DONE] the rest of the body (the chunked terminator) is read so the connection can be
# reused; a server that keeps talking past this many bytes is cut off instead.
DRAIN_BYTES = 64 * 1024
# A caller that leaves the loop at the last chunk (``is_last``) has the whole answer, but [DONE] and
# the end of the body may still be on their way: they are waited for this long, so the connection
# can go back to the pool, and it is closed if they do not come.
_DRAIN_SECONDS = 0.1


class DeadlinePassed(Exception):
    """``read_within``: the total deadline passed before the whole body arrived."""


class Timer(Protocol):
    def cancel(self) -> None: ...


def _raw(response: httpx2.Response) -> bool:
    # We ask for no compression on streams; a server that compresses anyway is decoded.
    return response.headers.get("content-encoding", "identity").lower() in ("", "identity")


class SyncBackend:
    @staticmethod
    def check_caller() -> None:
        """A blocking call inside a running event loop stalls every task of that loop: say so instead.

        Only the calling thread counts, so a worker thread (``asyncio.to_thread``) is fine.
        """
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return  # no event loop can be running without asyncio imported
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if "ipykernel" in sys.modules:
            return  # a notebook cell runs inside the kernel's loop, and blocking it there is expected
        raise SyncClientInAsyncError(
            "Mistral (the sync client) was called inside a running asyncio event loop, where its blocking "
            "I/O would stall every other task; use AsyncMistral and await its calls, or run this call in a "
            "thread (await asyncio.to_thread(...)). Nothing was sent."
        )

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)

    @staticmethod
    def http_client(base_url: str) -> httpx2.Client:
        return httpx2.Client(headers=DEFAULT_HEADERS, limits=_LIMITS, follow_redirects=False)

    @staticmethod
    def read_within(response: httpx2.Response, deadline: float | None) -> bytes:
        """The whole body.  A body that trickles in never trips the read timeout, so a timer cuts the
        socket at the deadline, which wakes the blocked read (``DeadlinePassed``)."""
        watch = SocketWatch(response, deadline - perf_counter()) if deadline is not None else None
        try:
            return response.read()
        except httpx2.HTTPError:
            if watch is not None and watch.fired:
                raise DeadlinePassed from None
            raise
        finally:
            if watch is not None:
                watch.stop()

    @staticmethod
    def running_loop() -> None:
        return None

    @staticmethod
    def call_later(seconds: float, callback: Callable[[], None]) -> Timer:
        timer = threading.Timer(max(seconds, 0.0), callback)
        timer.daemon = True
        timer.start()
        return timer

    @staticmethod
    def body_reader(response: httpx2.Response) -> Iterator[bytes]:
        return response.iter_raw() if _raw(response) else response.iter_bytes()

    @staticmethod
    def drain(response: httpx2.Response, reader: Iterator[bytes]) -> None:
        """Read what is left after the last chunk ([DONE], the end of the body) so that the connection
        goes back to the pool; past ``_DRAIN_SECONDS`` or ``DRAIN_BYTES`` bytes it is cut instead."""
        watch = SocketWatch(response, _DRAIN_SECONDS)
        drained = 0
        try:
            for data in reader:
                drained += len(data)
                if drained > DRAIN_BYTES:
                    break
        except httpx2.HTTPError:
            pass  # cut by the watch, or the server's doing: the connection is just not reused
        finally:
            watch.stop()

    @staticmethod
    def stop_reader(reader: object) -> None:
        pass  # the sync ``buffered`` reads in the caller's thread: there is no read of its own to stop

    @staticmethod
    def close_dropped(response: httpx2.Response, loop: object) -> None:
        response.close()

    @staticmethod
    def awaited(outcome: object) -> object:
        return outcome

    @staticmethod
    def buffered(texts: Iterator[str], coalescer: Coalescer, track: Callable[[Any], None]) -> Iterator[str]:
        """Text as ``coalescer`` joins it; the delay is noticed only when the next delta arrives."""
        try:
            for text in texts:
                due = coalescer.add(text, perf_counter())
                if due is not None:
                    yield due
        except MistralError:
            rest = coalescer.flush()
            if rest is not None:
                yield rest  # what arrived before the failure is shown; the error follows
            raise
        rest = coalescer.flush()
        if rest is not None:
            yield rest


class AsyncBackend:
    @staticmethod
    def check_caller() -> None:
        pass  # awaiting is how the async client is used anywhere

    @staticmethod
    async def sleep(seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)

    @staticmethod
    def http_client(base_url: str) -> httpx2.AsyncClient:
        from ._transport.http11 import AsyncTransport, proxy_in_environment

        if proxy_in_environment(base_url):
            # Our transport speaks to servers only; httpx2's own reaches them through the proxy.
            return httpx2.AsyncClient(headers=DEFAULT_HEADERS, limits=_LIMITS, follow_redirects=False)
        return httpx2.AsyncClient(
            headers=DEFAULT_HEADERS, follow_redirects=False, transport=AsyncTransport(limits=_LIMITS)
        )

    @staticmethod
    async def read_within(response: httpx2.Response, deadline: float | None) -> bytes:
        """The whole body; a body that trickles in never trips the read timeout, so the read as a
        whole is given what is left of the deadline (``DeadlinePassed``)."""
        import asyncio

        if deadline is None:
            return await response.aread()
        try:
            return await asyncio.wait_for(response.aread(), max(deadline - perf_counter(), 0.0))
        except (TimeoutError, asyncio.TimeoutError):
            raise DeadlinePassed from None

    @staticmethod
    def running_loop() -> asyncio.AbstractEventLoop:
        import asyncio

        return asyncio.get_running_loop()

    @staticmethod
    def call_later(seconds: float, callback: Callable[[], None]) -> Timer:
        import asyncio

        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)

    @staticmethod
    def body_reader(response: httpx2.Response) -> AsyncIterator[bytes]:
        raw = _raw(response)
        # Our transport's body, read without httpx2's two generator layers around it (a layer
        # costs per chunk); closing the response still goes through httpx2.
        body = response.extensions.get(OWN_BODY) if raw else None
        # The iterator itself, not the body (whose every ``__aiter__`` starts anew): ``drain`` goes on with it.
        reader: AsyncIterator[bytes] = (
            body if body is not None else response.aiter_raw() if raw else response.aiter_bytes()
        ).__aiter__()
        return reader

    @staticmethod
    async def drain(response: httpx2.Response, reader: AsyncIterator[bytes]) -> None:
        """Read what is left after the last chunk ([DONE], the end of the body) so that the connection
        goes back to the pool; past ``_DRAIN_SECONDS`` or ``DRAIN_BYTES`` bytes it is closed instead."""
        import asyncio

        async def rest() -> None:
            drained = 0
            async for data in reader:
                drained += len(data)
                if drained > DRAIN_BYTES:
                    return

        try:
            await asyncio.wait_for(rest(), _DRAIN_SECONDS)
        except (TimeoutError, asyncio.TimeoutError, httpx2.HTTPError):
            pass  # the connection is just not reused

    @staticmethod
    async def stop_reader(reader: asyncio.Future[Any] | None) -> None:
        # ``buffered`` reads in a task of its own; a generator cannot be closed while it runs.
        if reader is not None and not reader.done():
            import asyncio

            reader.cancel()
            await asyncio.wait((reader,))

    @staticmethod
    def close_dropped(response: httpx2.Response, loop: asyncio.AbstractEventLoop | None) -> None:
        # Called from ``__del__``, on any thread: the loop releases the connection from the pool.
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(response.aclose()))

    @staticmethod
    async def awaited(outcome: object) -> object:
        if isinstance(outcome, Awaitable):  # an async ``on_chunk``
            return await outcome
        return outcome

    @staticmethod
    async def buffered(
        texts: AsyncGenerator[str, None], coalescer: Coalescer, track: Callable[[Any], None]
    ) -> AsyncIterator[str]:
        """Text as ``coalescer`` joins it; a timer also wakes this view, so text is shown on time
        while the model pauses.  ``track`` hands the stream the read task, which its ``aclose`` waits for."""
        import asyncio

        pending: asyncio.Future[str] | None = None
        try:
            while True:
                if pending is None:
                    # The stream's ``aclose`` waits for this read, so leaving ``async with`` stays safe.
                    pending = asyncio.ensure_future(texts.__anext__())
                    track(pending)
                deadline = coalescer.deadline()
                if deadline is not None:
                    # Wait for the next delta only until the buffered text falls due; the read goes on.
                    await asyncio.wait((pending,), timeout=max(deadline - perf_counter(), 0.0))
                    if not pending.done():
                        due = coalescer.flush()
                        if due is not None:
                            yield due
                        continue
                try:
                    text = await pending
                except StopAsyncIteration:
                    pending = None
                    break
                pending = None
                due = coalescer.add(text, perf_counter())
                if due is not None:
                    yield due
        except MistralError:
            pending = None
            rest = coalescer.flush()
            if rest is not None:
                yield rest
            raise
        finally:
            if pending is not None and not pending.done():
                pending.cancel()  # the consumer left early: stop the read, which closes the stream
                try:
                    await pending
                except (asyncio.CancelledError, StopAsyncIteration, MistralError):
                    pass
            await texts.aclose()
        rest = coalescer.flush()
        if rest is not None:
            yield rest
