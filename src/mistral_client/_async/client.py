"""``AsyncMistral``: configuration, the HTTP connection pool, and sending with retries.

The endpoints live in ``resources/``; this module only knows how to send one request: with the key,
within the time limits (``_read``: the answer's body included), retried only where it cannot have
reached the model (the decision is ``_retry.py``'s; the loop here only does the I/O).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from functools import cached_property
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx2

from .._backends import AsyncBackend, DeadlinePassed
from .._config import (
    DEFAULT_MAX_EVENT_SIZE,
    Timeout,
    TimeoutLike,
    api_root,
    check_extra_headers,
    check_key_transport,
    resolve_api_key,
    resolve_timeout,
)
from .._exceptions import APIConnectionError, APITimeoutError, InvalidRequestError, MistralError, redact
from .._http_errors import status_error, transport_error
from .._retry import RETRY_STATUSES, SentInFull, retry_delay, transport_retryable
from .._telemetry import Call, Telemetry, settings_for, trace_attempt
from .._uploads import Multipart
from .resources.chat import AsyncChat
from .resources.embeddings import AsyncEmbeddings
from .resources.fim import AsyncFim
from .resources.models import AsyncModelsAPI

if TYPE_CHECKING:
    from .resources.agents import AsyncAgents
    from .resources.audio import AsyncAudio
    from .resources.batch import AsyncBatch
    from .resources.classifiers import AsyncClassifiers
    from .resources.conversations import AsyncConversations
    from .resources.files import AsyncFiles
    from .resources.moderations import AsyncModerations
    from .resources.ocr import AsyncOCR

__all__ = ["AsyncMistral"]

logger = logging.getLogger("mistral_client")


class _Secret:
    """Holds the API key so that no repr, log line or ``vars()`` dump shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'[redacted]'"


class AsyncMistral:
    """The client: ``Mistral`` blocks, ``AsyncMistral`` has the same names, awaited.

    ``Mistral()`` and ``AsyncMistral()`` read ``MISTRAL_API_KEY`` and ``MISTRAL_BASE_URL``.
    """

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
        telemetry: Telemetry | bool | None = None,
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
        self._telemetry = settings_for(telemetry, self.base_url)  # docs/observability.md
        self._owns_http = http_client is None
        if http_client is not None:  # its headers go out with every request: h11 would quote a bad one
            check_extra_headers(http_client.headers, "http_client.headers")
            self._http = http_client
        else:
            self._http = AsyncBackend.http_client(self.base_url)
        self.chat = AsyncChat(self)
        self.fim = AsyncFim(self)
        self.embeddings = AsyncEmbeddings(self)
        self.models = AsyncModelsAPI(self)

    # The other endpoint families are made on first use: a client that only chats does not import
    # them (their wire types and pipelines are most of the package), so it starts as fast as before.
    @cached_property
    def agents(self) -> AsyncAgents:
        from .resources.agents import AsyncAgents

        return AsyncAgents(self)

    @cached_property
    def conversations(self) -> AsyncConversations:
        from .resources.conversations import AsyncConversations

        return AsyncConversations(self)

    @cached_property
    def audio(self) -> AsyncAudio:
        from .resources.audio import AsyncAudio

        return AsyncAudio(self)

    @cached_property
    def ocr(self) -> AsyncOCR:
        from .resources.ocr import AsyncOCR

        return AsyncOCR(self)

    @cached_property
    def moderations(self) -> AsyncModerations:
        from .resources.moderations import AsyncModerations

        return AsyncModerations(self)

    @cached_property
    def classifiers(self) -> AsyncClassifiers:
        from .resources.classifiers import AsyncClassifiers

        return AsyncClassifiers(self)

    @cached_property
    def files(self) -> AsyncFiles:
        from .resources.files import AsyncFiles

        return AsyncFiles(self)

    @cached_property
    def batch(self) -> AsyncBatch:
        from .resources.batch import AsyncBatch

        return AsyncBatch(self)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Multipart | None,
        stream: bool,
        timeout: Timeout,
        started: float,
        extra_headers: dict[str, str] | None = None,
        max_retries: int | None = None,
        call: Call | None = None,
        observe: Callable[[httpx2.Response], object] | None = None,
    ) -> httpx2.Response:
        """Send until a 2xx answer arrives (body unread) or there is nothing left to retry."""
        AsyncBackend.check_caller()
        deadline = self._deadline(timeout, started)
        retries = self.max_retries if max_retries is None else max_retries
        headers = self._headers(stream, extra_headers, form=isinstance(body, Multipart))
        if isinstance(body, Multipart) and not body.rewindable:
            retries = 0  # a file that cannot be rewound would be sent in part
        attempt = 0
        with body.opened() if isinstance(body, Multipart) else nullcontext() as form:
            while True:
                sent = SentInFull()
                request = self._build(
                    method, path, body, headers, self._attempt_timeout(timeout, deadline), sent.atrace, form
                )
                logger.debug("%s %s (attempt %d)", method, request.url, attempt + 1)
                response_headers = None
                with trace_attempt(call, request, attempt) as tried:  # one span per try (_telemetry.py)
                    try:
                        response = await self._http.send(request, stream=True)
                    except httpx2.HTTPError as exc:
                        error: MistralError = transport_error(exc, request)
                        retryable = transport_retryable(exc, sent)
                    else:
                        # The response outlives the call (on an exception, as ``stream.response``): its request
                        # must not carry the key to wherever the response ends up (a log, an error tracker).
                        response.request = redact(response.request) or response.request
                        tried.answered(response.status_code)
                        if observe is not None:  # the bulk runner's concurrency reads every answer's status and headers
                            observe(response)
                        if response.is_success:
                            return response
                        await self._read(response, timeout, deadline)  # raised if it fails: the answer had begun
                        error, retryable = status_error(response), response.status_code in RETRY_STATUSES
                        response_headers = response.headers
                    tried.failed(error)
                delay = retry_delay(retryable, attempt, retries, deadline, response_headers, perf_counter())
                if delay is None:
                    raise error
                logger.info("retrying in %.2fs after: %s (attempt %d of %d)", delay, error, attempt + 1, retries)
                await AsyncBackend.sleep(delay)
                attempt += 1

    async def _read(self, response: httpx2.Response, timeout: Timeout, deadline: float | None) -> bytes:
        """The whole body, then the response closed, within what is left of the deadline."""
        try:
            return await AsyncBackend.read_within(response, deadline)
        except DeadlinePassed:
            raise APITimeoutError(
                f"the total deadline of {timeout.total}s passed reading the answer", request=response.request
            ) from None
        except httpx2.HTTPError as exc:
            if isinstance(exc, httpx2.TimeoutException):
                raise APITimeoutError(f"timed out reading the answer: {exc}", request=response.request) from None
            raise APIConnectionError(
                f"the connection broke reading the answer: {exc}", request=response.request
            ) from None
        finally:
            await response.aclose()

    def _headers(self, stream: bool, extra: dict[str, str] | None, form: bool = False) -> dict[str, str]:
        # A form's Content-Type (with its boundary) is httpx2's to write.
        headers = {} if form else {"Content-Type": "application/json"}
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
        body: bytes | Multipart | None,
        headers: dict[str, str],
        timeout: httpx2.Timeout,
        trace: object,
        form: tuple[dict[str, Any], list[tuple[str, Any]]] | None = None,
    ) -> httpx2.Request:
        # ``trace`` tells the retry rule whether the request was sent in full (``_retry.py``).
        url, extensions = self.base_url + path, {"trace": trace}
        if form is not None:
            data, files = form
            request = self._http.build_request(
                method, url, data=data, files=files, headers=headers, timeout=timeout, extensions=extensions
            )
        else:
            assert not isinstance(body, Multipart)
            request = self._http.build_request(
                method, url, content=body, headers=headers, timeout=timeout, extensions=extensions
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

    def connection_states(self) -> list[str]:
        """``active``, ``idle`` or ``closed`` for each connection of the client's pool.

        For checking that streams give their connections back: one that stays ``active`` after
        every stream ended is a leak. Empty for an ``http_client`` whose transport keeps no pool
        this can read (a mounted or custom transport).
        """
        pool = getattr(getattr(self._http, "_transport", None), "_pool", None)
        states = []
        for connection in getattr(pool, "connections", ()):
            states.append("closed" if connection.is_closed() else "idle" if connection.is_idle() else "active")
        return states

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

    def __repr__(self) -> str:
        # getattr: a traceback that shows locals may repr a client whose __init__ raised half-way.
        key = "set" if getattr(self, "_api_key", None) is not None else "none"
        base_url, retries = getattr(self, "base_url", None), getattr(self, "max_retries", None)
        return f"{type(self).__name__}(base_url={base_url!r}, api_key={key}, max_retries={retries})"
