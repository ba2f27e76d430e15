"""``Mistral`` and ``AsyncMistral``: configuration, the HTTP connection pool, and sending with retries.

The endpoints themselves live in ``_chat.py`` and ``_models_api.py``; this module only knows how to
send one request: with the key, within the time limits (the answer's body included, ``_call``),
retried only where it cannot have reached the model (``_retry.py``).
"""

from __future__ import annotations

import logging
import sys
from time import perf_counter, sleep
from types import TracebackType
from typing import TYPE_CHECKING

import httpx2

from ._config import (
    DEFAULT_MAX_EVENT_SIZE,
    Timeout,
    TimeoutLike,
    api_root,
    check_extra_headers,
    check_key_transport,
    resolve_api_key,
    resolve_timeout,
)
from ._errors import redact, status_error, transport_error
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    MistralError,
    SyncClientInAsyncError,
)
from ._retry import RETRY_STATUSES, SentInFull, backoff, transport_retryable

if TYPE_CHECKING:
    from ._chat import AsyncChat, Chat
    from ._embeddings import AsyncEmbeddings, Embeddings
    from ._fim import AsyncFim, Fim
    from ._models_api import AsyncModelsAPI, ModelsAPI

__all__ = ["AsyncMistral", "Mistral"]

__version__ = "0.1.0"
logger = logging.getLogger("mistral_client")

_DEFAULT_HEADERS = {"User-Agent": f"mistral-client/{__version__}"}
# Streams hold their connection for the whole answer, so httpx2's default of 100 connections would
# queue the 101st concurrent stream behind the others; idle ones beyond 100 are closed.
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


class _Secret:
    """Holds the API key so that no repr, log line or ``vars()`` dump shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'[redacted]'"


def _refuse_inside_event_loop() -> None:
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


def _forget_key(response: httpx2.Response) -> None:
    # The response outlives the call (on an exception, as ``stream.response``): its request must
    # not carry the key to wherever the response ends up (a log, an error tracker).
    response.request = redact(response.request) or response.request


class _BaseClient:
    _http: httpx2.Client | httpx2.AsyncClient

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: TimeoutLike,
        max_retries: int,
        max_event_size: int | None,
        allow_insecure_http: bool,
    ) -> None:
        self.base_url = api_root(base_url)
        key = resolve_api_key(api_key, self.base_url)
        if key:
            check_key_transport(self.base_url, allow_insecure_http)
        self._api_key = _Secret(key) if key else None
        self.timeout = resolve_timeout(timeout, Timeout())
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        self.max_event_size = max_event_size

    def _headers(self, stream: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if stream:
            # Compressing a token stream delays every token until a compressor block fills.
            headers["Accept"] = "text/event-stream"
            headers["Accept-Encoding"] = "identity"
        else:
            headers["Accept"] = "application/json"
        if extra:
            check_extra_headers(extra)
            headers.update(extra)
        return headers

    def _build(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: httpx2.Timeout,
        trace: object,
    ) -> httpx2.Request:
        # ``trace`` tells the retry rule whether the request was sent in full (``_retry.py``).
        request = self._http.build_request(
            method, self._url(path), content=body, headers=headers, timeout=timeout, extensions={"trace": trace}
        )
        # The key goes on the request object only (whose repr hides headers), never in a dict that
        # a traceback with locals, a debugger or a logged ``extra_headers`` could show.
        if self._api_key is not None and "authorization" not in request.headers:  # extra_headers win
            request.headers["Authorization"] = f"Bearer {self._api_key.get()}"
        return request

    def _attempt_timeout(self, timeout: Timeout, deadline: float | None) -> httpx2.Timeout:
        connect, read = timeout.connect, timeout.read
        # Waiting for a free pooled connection is queueing behind our own streams, which may each
        # run for minutes: only the caller's total deadline bounds it, not the connect timeout.
        pool = None
        if deadline is not None:
            remaining = deadline - perf_counter()
            if remaining <= 0:
                raise APITimeoutError(f"the total deadline of {timeout.total}s passed before an answer")
            connect = remaining if connect is None else min(connect, remaining)
            read = remaining if read is None else min(read, remaining)
            pool = remaining
        return httpx2.Timeout(connect=connect, read=read, write=read, pool=pool)

    @staticmethod
    def _deadline(timeout: Timeout, started: float) -> float | None:
        return started + timeout.total if timeout.total is not None else None

    @staticmethod
    def _body_error(exc: httpx2.HTTPError, request: httpx2.Request) -> APIConnectionError:
        if isinstance(exc, httpx2.TimeoutException):
            return APITimeoutError(f"timed out reading the answer: {exc}", request=request)
        return APIConnectionError(f"the connection broke reading the answer: {exc}", request=request)

    @staticmethod
    def _deadline_error(timeout: Timeout, request: httpx2.Request) -> APITimeoutError:
        return APITimeoutError(f"the total deadline of {timeout.total}s passed reading the answer", request=request)

    def _retry_wait(
        self,
        error: MistralError,
        retryable: bool,
        attempt: int,
        retries: int,
        deadline: float | None,
        headers: httpx2.Headers | None,
    ) -> float:
        """Seconds to wait before sending again; raises ``error`` when there is no retry to make."""
        if not retryable or attempt >= retries:
            raise error
        delay = backoff(attempt, headers)
        if delay is None:
            raise error  # the server asked for a longer wait than a retry should make the caller sit through
        if deadline is not None and perf_counter() + delay >= deadline:
            raise error  # the wait would outlast the deadline: the real cause is more useful
        logger.info("retrying in %.2fs after: %s (attempt %d of %d)", delay, error, attempt + 1, retries)
        return delay

    def _url(self, path: str) -> str:
        return self.base_url + path

    def __repr__(self) -> str:
        # getattr: a traceback that shows locals may repr a client whose __init__ raised half-way.
        key = "set" if getattr(self, "_api_key", None) is not None else "none"
        base_url, retries = getattr(self, "base_url", None), getattr(self, "max_retries", None)
        return f"{type(self).__name__}(base_url={base_url!r}, api_key={key}, max_retries={retries})"


class Mistral(_BaseClient):
    """The synchronous client.  ``Mistral()`` reads ``MISTRAL_API_KEY`` and ``MISTRAL_BASE_URL``."""

    chat: Chat
    fim: Fim
    embeddings: Embeddings
    models: ModelsAPI
    _http: httpx2.Client

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutLike = None,
        max_retries: int = 2,
        http_client: httpx2.Client | None = None,
        *,
        max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, max_event_size, allow_insecure_http)
        from ._chat import Chat
        from ._embeddings import Embeddings
        from ._fim import Fim
        from ._models_api import ModelsAPI

        self._owns_http = http_client is None
        if http_client is not None:  # its headers go out with every request: h11 would quote a bad one
            check_extra_headers(http_client.headers, "http_client.headers")
        self._http = (
            http_client
            if http_client is not None
            else httpx2.Client(headers=_DEFAULT_HEADERS, limits=_LIMITS, follow_redirects=False)
        )
        self.chat = Chat(self)
        self.fim = Fim(self)
        self.embeddings = Embeddings(self)
        self.models = ModelsAPI(self)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        stream: bool,
        timeout: Timeout,
        started: float,
        extra_headers: dict[str, str] | None = None,
        max_retries: int | None = None,
    ) -> httpx2.Response:
        """Send until a 2xx answer arrives (body unread) or there is nothing left to retry."""
        _refuse_inside_event_loop()
        deadline = self._deadline(timeout, started)
        retries = self.max_retries if max_retries is None else max_retries
        headers = self._headers(stream, extra_headers)
        attempt = 0
        while True:
            sent = SentInFull()
            request = self._build(method, path, body, headers, self._attempt_timeout(timeout, deadline), sent.trace)
            logger.debug("%s %s (attempt %d)", method, request.url, attempt + 1)
            response_headers = None
            try:
                response = self._http.send(request, stream=True)
            except httpx2.HTTPError as exc:
                error: MistralError = transport_error(exc, request)
                retryable = transport_retryable(exc, sent)
            else:
                _forget_key(response)
                if response.is_success:
                    return response
                self._read(response, timeout, deadline)  # a failure here is raised: the answer had begun
                error, retryable = status_error(response), response.status_code in RETRY_STATUSES
                response_headers = response.headers
            sleep(self._retry_wait(error, retryable, attempt, retries, deadline, response_headers))
            attempt += 1

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        timeout: TimeoutLike,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[bytes, httpx2.Request]:
        """Send a request that has no stream and read its whole answer, all within the total deadline.

        Every endpoint without a stream goes through here, so none can read a body unbounded.
        """
        limits = resolve_timeout(timeout, self.timeout)
        started = perf_counter()
        response = self._send(
            method, path, body=body, stream=False, timeout=limits, started=started, extra_headers=extra_headers
        )
        return self._read(response, limits, self._deadline(limits, started)), response.request

    def _read(self, response: httpx2.Response, timeout: Timeout, deadline: float | None) -> bytes:
        """The whole body, then the response closed.  A body that trickles in never trips the read
        timeout, so a timer cuts the socket at the deadline, which wakes the blocked read."""
        from ._streaming import SocketWatch

        watch = SocketWatch(response, deadline - perf_counter()) if deadline is not None else None
        try:
            return response.read()
        except httpx2.HTTPError as exc:
            if watch is not None and watch.fired:
                raise self._deadline_error(timeout, response.request) from None
            raise self._body_error(exc, response.request) from None
        finally:
            if watch is not None:
                watch.stop()
            response.close()

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Mistral:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncMistral(_BaseClient):
    """The asyncio client: the same names as ``Mistral``, awaited."""

    chat: AsyncChat
    fim: AsyncFim
    embeddings: AsyncEmbeddings
    models: AsyncModelsAPI
    _http: httpx2.AsyncClient

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutLike = None,
        max_retries: int = 2,
        http_client: httpx2.AsyncClient | None = None,
        *,
        max_event_size: int | None = DEFAULT_MAX_EVENT_SIZE,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, max_event_size, allow_insecure_http)
        from ._chat import AsyncChat
        from ._embeddings import AsyncEmbeddings
        from ._fim import AsyncFim
        from ._http11 import AsyncTransport, proxy_in_environment
        from ._models_api import AsyncModelsAPI

        self._owns_http = http_client is None
        if http_client is not None:  # its headers go out with every request: h11 would quote a bad one
            check_extra_headers(http_client.headers, "http_client.headers")
            self._http = http_client
        elif proxy_in_environment(self.base_url):
            # Our transport speaks to servers only; httpx2's own reaches them through the proxy.
            self._http = httpx2.AsyncClient(headers=_DEFAULT_HEADERS, limits=_LIMITS, follow_redirects=False)
        else:
            self._http = httpx2.AsyncClient(
                headers=_DEFAULT_HEADERS, follow_redirects=False, transport=AsyncTransport(limits=_LIMITS)
            )
        self.chat = AsyncChat(self)
        self.fim = AsyncFim(self)
        self.embeddings = AsyncEmbeddings(self)
        self.models = AsyncModelsAPI(self)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        stream: bool,
        timeout: Timeout,
        started: float,
        extra_headers: dict[str, str] | None = None,
        max_retries: int | None = None,
    ) -> httpx2.Response:
        """Send until a 2xx answer arrives (body unread) or there is nothing left to retry."""
        import asyncio

        deadline = self._deadline(timeout, started)
        retries = self.max_retries if max_retries is None else max_retries
        headers = self._headers(stream, extra_headers)
        attempt = 0
        while True:
            sent = SentInFull()
            request = self._build(method, path, body, headers, self._attempt_timeout(timeout, deadline), sent.atrace)
            logger.debug("%s %s (attempt %d)", method, request.url, attempt + 1)
            response_headers = None
            try:
                response = await self._http.send(request, stream=True)
            except httpx2.HTTPError as exc:
                error: MistralError = transport_error(exc, request)
                retryable = transport_retryable(exc, sent)
            else:
                _forget_key(response)
                if response.is_success:
                    return response
                await self._read(response, timeout, deadline)  # a failure here is raised: the answer had begun
                error, retryable = status_error(response), response.status_code in RETRY_STATUSES
                response_headers = response.headers
            await asyncio.sleep(self._retry_wait(error, retryable, attempt, retries, deadline, response_headers))
            attempt += 1

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        timeout: TimeoutLike,
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[bytes, httpx2.Request]:
        """Send a request that has no stream and read its whole answer, all within the total deadline.

        Every endpoint without a stream goes through here, so none can read a body unbounded.
        """
        limits = resolve_timeout(timeout, self.timeout)
        started = perf_counter()
        response = await self._send(
            method, path, body=body, stream=False, timeout=limits, started=started, extra_headers=extra_headers
        )
        return await self._read(response, limits, self._deadline(limits, started)), response.request

    async def _read(self, response: httpx2.Response, timeout: Timeout, deadline: float | None) -> bytes:
        """The whole body, then the response closed; a body that trickles in never trips the read
        timeout, so the read as a whole is given what is left of the deadline."""
        import asyncio

        try:
            if deadline is None:
                return await response.aread()
            return await asyncio.wait_for(response.aread(), max(deadline - perf_counter(), 0.0))
        except (TimeoutError, asyncio.TimeoutError):
            raise self._deadline_error(timeout, response.request) from None
        except httpx2.HTTPError as exc:
            raise self._body_error(exc, response.request) from None
        finally:
            await response.aclose()

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncMistral:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
