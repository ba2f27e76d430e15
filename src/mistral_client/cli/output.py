"""What the terminal gets: the answer on stdout as it streams, one-line notes on stderr, the exit code."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .._exceptions import MistralError
    from .._pipeline.accumulating import StreamResult

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "Output",
    "describe_error",
    "say",
    "stats_lines",
]

PROG = "mistral-client"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


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


def stats_lines(result: StreamResult) -> list[str]:
    """What ``chat --stats`` prints after the answer: latency, speed, chunks, usage, finish reason, model."""
    ttft, total = result.time_to_first_token, result.total_latency
    usage = result.usage
    if usage is not None and usage.completion_tokens > 0:
        tokens, unit = usage.completion_tokens, "tokens/s"
    else:
        tokens, unit = result.chunk_count, "tokens/s (chunks, no usage reported)"
    generating = total - ttft if ttft is not None and total is not None else None
    rate = f"{tokens / generating:.1f}" if generating and generating > 0 else "n/a"
    usage_line = (
        f"prompt={usage.prompt_tokens} completion={usage.completion_tokens} total={usage.total_tokens}"
        if usage is not None
        else "n/a"
    )
    return [
        f"time to first token: {_ms(ttft)}",
        f"{unit}: {rate}",
        f"total time: {_ms(total)}",
        f"chunks: {result.chunk_count}",
        f"usage: {usage_line}",
        f"finish reason: {result.finish_reason or 'n/a'}",
        f"model: {result.model or 'n/a'}",
    ]


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def describe_error(exc: MistralError, *, secret: str | None) -> str:
    """One line for an error: its message, the status and request id, and a hint where one helps."""
    from .._exceptions import APIConnectionError, AuthenticationError, StreamError

    message = str(exc) or type(exc).__name__
    if isinstance(exc, StreamError):
        extra = [f"code={exc.code}" if exc.code else "", f"request_id={exc.request_id}" if exc.request_id else ""]
        message = " ".join([f"the stream broke: {message}", *filter(None, extra)])
    elif isinstance(exc, APIConnectionError) and exc.request is not None:
        message = f"{message} ({exc.request.url})"
    if isinstance(exc, AuthenticationError):
        message += " (check MISTRAL_API_KEY)"
    if secret and secret.strip():
        message = message.replace(secret.strip(), "[redacted]")
    return " ".join(message.split())
