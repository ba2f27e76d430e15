"""What the terminal gets: the answer on stdout as it streams, one-line notes on stderr, the exit code."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .._exceptions import MistralError, StreamError
    from .._pipeline.accumulating import StreamResult

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "Output",
    "RetryNotice",
    "colour",
    "describe_error",
    "dim",
    "say",
    "stats_lines",
    "token_rate",
]

PROG = "mistral-client"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


_RED, _DIM, _RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"


def colour(file: TextIO) -> bool:
    """Whether ``file`` gets colour: a terminal, and neither NO_COLOR (https://no-color.org) nor TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # replaced by something that is no file, or closed
        return False


def say(message: str) -> None:
    """One line on stderr; an error is red on a terminal."""
    line = f"{PROG}: {message}"
    if message.startswith("error:") and colour(sys.stderr):
        line = f"{_RED}{line}{_RESET}"
    print(line, file=sys.stderr, flush=True)


def dim(line: str, file: TextIO) -> str:
    return f"{_DIM}{line}{_RESET}" if colour(file) else line


class RetryNotice(logging.Handler):
    """Says on stderr why the client waits before it retries, and for how long.

    The client logs each retry on the ``mistral_client`` logger ("retrying in %.2fs after: %s ...");
    this handler turns that record into a line, or on a terminal into a live countdown.
    """

    def __init__(self, file: TextIO) -> None:
        super().__init__(logging.INFO)
        self.file = file
        self.live = file.isatty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if not record.msg.startswith("retrying in") or not isinstance(args, tuple) or len(args) < 2:
            return
        from .._exceptions import APIStatusError

        delay, error = args[0], args[1]
        if not isinstance(delay, int | float):
            return
        if not isinstance(error, APIStatusError) and delay < _QUIET_RETRY:
            return  # a short back-off after a dropped connection: the answer comes before anyone wonders
        reason = _retry_reason(error)
        self.finish()
        if not self.live:
            say(f"{reason}; retrying in {_whole_seconds(delay)}")
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._count_down, args=(reason, time.monotonic() + delay), name="retry-countdown", daemon=True
        )
        self._thread.start()

    def _count_down(self, reason: str, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            self.file.write(f"\r\x1b[K{PROG}: {reason}; retrying in {_whole_seconds(left)}")
            self.file.flush()
            # Wake when the shown number changes (or when the wait is over: finish()).
            if self._stop.wait(left - math.floor(left) or 1.0):
                self.file.write("\n")
                return
        self.file.write(f"\r\x1b[K{PROG}: {reason}; retrying now\n")
        self.file.flush()

    def finish(self) -> None:
        """End a countdown still running (an interrupt), leaving its last line."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()


# Below this wait, a retry after a connection failure is not worth a line; a server's refusal always is.
_QUIET_RETRY = 3.0


def _whole_seconds(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))} s"


def _retry_reason(error: object) -> str:
    from .._exceptions import APIStatusError, RateLimitError

    if isinstance(error, RateLimitError):
        return f"rate limited by the server ({error.status_code} {error.message})"
    if isinstance(error, APIStatusError):
        return f"the server answered {error.status_code} {error.message}"
    return f"cannot reach the server ({' '.join(str(error).split())})"


class Output:
    """stdout, flushed after each delta; remembers whether a line is open and whether the pipe broke."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.pending_line = False
        self.broken = False

    def write(self, text: str) -> bool:
        if self.broken:
            return False
        try:
            self.file.write(text)
            self.file.flush()
        except BrokenPipeError:
            self.broken = True
            # Python would complain again when it flushes stdout at exit: point it at /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)
            return False
        self.pending_line = not text.endswith("\n")
        return True

    def end_line(self, *, always: bool = False) -> None:
        """Finish the answer's line (``always``: even when nothing, or a full line, was written)."""
        if always or self.pending_line:
            self.write("\n")


# A rate is shown only when it measures something: over a shorter stretch, or fewer tokens, what
# it divides by is mostly when the chunks happened to be read (an instant server gives millions of
# tokens/s). The chat page (server/ui/chat.js) keeps the same rule.
RATE_MIN_TOKENS = 10  # tokens after the first
RATE_MIN_SECONDS = 0.25  # from the first token to the end


def token_rate(tokens: int, first: float | None, total: float | None) -> float | None:
    """Tokens per second after the first token, or None when too few came over too short a time."""
    if first is None or total is None:
        return None
    seconds, after_first = total - first, tokens - 1
    if after_first < RATE_MIN_TOKENS or seconds < RATE_MIN_SECONDS:
        return None
    return after_first / seconds


def stats_lines(result: StreamResult) -> list[str]:
    """What ``chat --stats`` prints after the answer: latency, speed, chunks, usage, finish reason, model."""
    ttft, total = result.time_to_first_token, result.total_latency
    usage = result.usage
    if usage is not None and usage.completion_tokens > 0:
        tokens, unit = usage.completion_tokens, "tokens/s"
    else:
        tokens, unit = result.chunk_count, "tokens/s (chunks, no usage reported)"
    rate = token_rate(tokens, ttft, total)
    usage_line = (
        f"prompt={usage.prompt_tokens} completion={usage.completion_tokens} total={usage.total_tokens}"
        if usage is not None
        else "n/a"
    )
    shown = (
        f"{rate:.1f}"
        if rate is not None
        else f"n/a (too short to measure: fewer than {RATE_MIN_TOKENS + 1} tokens or under {RATE_MIN_SECONDS:g} s)"
    )
    return [
        f"time to first token: {_ms(ttft)}",
        f"{unit}: {shown}",
        f"total time: {_ms(total)}",
        f"chunks: {result.chunk_count}",
        f"usage: {usage_line}",
        f"finish reason: {result.finish_reason or 'n/a'}",
        f"model: {result.model or 'n/a'}",
    ]


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def describe_error(exc: MistralError, *, secret: str | None) -> str:
    """One line for an error, written for a terminal: what happened, what arrived, what to do."""
    from .._exceptions import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        RateLimitError,
        StreamError,
    )

    message = str(exc) or type(exc).__name__
    if isinstance(exc, StreamError):
        message = _stream_broke(exc)
    elif isinstance(exc, APITimeoutError):
        message = f"no answer in time: {message}; try again later"
    elif isinstance(exc, APIConnectionError):
        where = f" at {exc.request.url}" if exc.request is not None else ""
        message = (
            f"cannot reach the server{where}: {message}; check that it is running, and --base-url or MISTRAL_BASE_URL"
        )
    elif isinstance(exc, AuthenticationError):
        message += " (check MISTRAL_API_KEY)"
    elif isinstance(exc, RateLimitError):
        message += "; rate limited: wait a minute and try again"
    elif isinstance(exc, APIStatusError) and exc.status_code >= 500:
        message += "; the server failed: try again later"
    if secret and secret.strip():
        message = message.replace(secret.strip(), "[redacted]")
    return " ".join(message.split())


def _stream_broke(exc: StreamError) -> str:
    partial = exc.partial
    # The exception's text ends with what arrived, for Python ("...; see .partial"): the terminal gets its own.
    reason = str(exc).split(f"; {partial.chunk_count} chunks (", 1)[0]
    ids = " ".join(
        filter(None, [f"code={exc.code}" if exc.code else "", f"request_id={exc.request_id}" if exc.request_id else ""])
    )
    detail = f"{reason}{f' ({ids})' if ids else ''}"
    arrived = len(partial.content)
    if arrived:
        return (
            f"the answer was cut off after {arrived} characters (printed above): {detail}; "
            "run the command again for a whole answer"
        )
    return f"the answer broke off before any text arrived: {detail}; try again"
