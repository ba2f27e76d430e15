"""The behaviour knobs: one table, read from ``x-mock-*`` request headers and from server defaults.

One server serves a whole test matrix because every knob can be set per request with a header;
``ServerConfig.mock_headers`` (the ``serve`` flags) gives defaults that a request's own headers
override. The table below is the single list of knobs: parsing, the ``serve`` flags and their help,
and the knobs table of docs/local-server.md all come from it (``markdown_table``; after changing a
knob, ``python -m mistral_client.server._knobs docs/local-server.md`` rewrites that table, and
tests/docs/test_knobs_table.py fails until it is). Nothing here imports the web framework.

A request's knobs may make its own answer slower, shorter, longer or failing, never loosen what
the operator set: ``x-mock-api-key`` and ``x-mock-rate-limit`` only add a check on top of the
server's key and rate limit (``_middleware.Observed``), and with a server key they count only for
requests that carry it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["KNOBS", "Knob", "Knobs", "StreamFaults", "markdown_table", "parse_knobs"]

Kind = Literal["count", "seconds", "flag", "text", "usage_chunk", "tool_call_style"]
_VALUE_OF_KIND = {"count": "N", "seconds": "S", "flag": "1", "text": "V"}


@dataclass(frozen=True)
class Knob:
    header: str
    kind: Kind
    help: str  # markdown: the docs' table shows it as is, ``serve --help`` too
    value: str = ""  # what the docs show after the header: ``x-mock-status: CODE`` (default: from the kind)

    @property
    def flag(self) -> str:
        """The ``serve`` option that sets this knob's default: ``x-mock-token-delay`` -> ``--token-delay``."""
        return "--" + self.header.removeprefix("x-mock-")

    @property
    def example(self) -> str:
        """The header as the docs show it: ``x-mock-fail-times: K``."""
        return f"{self.header}: {self.value or _VALUE_OF_KIND.get(self.kind, 'V')}"


KNOBS = (
    Knob(
        "x-mock-status",
        "count",
        "answer this error status (400-599) with Mistral's error body "
        '(401: `{"detail":"Unauthorized"}`, 422: a validation detail)',
        "CODE",
    ),
    Knob("x-mock-retry-after", "text", "with `x-mock-status`: send `Retry-After: V`"),
    Knob("x-mock-fail-times", "count", "with `x-mock-status`: fail only the first K requests of an `x-mock-id`", "K"),
    Knob("x-mock-id", "text", "groups requests for `x-mock-fail-times` and `x-mock-rate-limit`", "ID"),
    Knob("x-mock-tokens", "count", "answers are N tokens long when nothing cuts them short (default 30)"),
    Knob("x-mock-first-token-delay", "seconds", "seconds before the first event (or the whole non-streamed answer)"),
    Knob("x-mock-token-delay", "seconds", "seconds between streamed chunks; 0 streams as fast as possible"),
    Knob("x-mock-stall-after", "count", "after N content chunks, pause for `x-mock-stall-seconds`"),
    Knob("x-mock-stall-seconds", "seconds", "how long `x-mock-stall-after` pauses (default 1)"),
    Knob("x-mock-disconnect-after", "count", "after N content chunks, close the connection mid-body"),
    Knob(
        "x-mock-error-event-after",
        "count",
        'after N content chunks, send an `{"object":"error",...}` event and end',
    ),
    Knob("x-mock-finish-error-after", "count", 'after N content chunks, finish with `finish_reason: "error"`'),
    Knob("x-mock-malformed-after", "count", "after N content chunks, send an event that is not JSON, then go on"),
    Knob(
        "x-mock-usage-chunk",
        "usage_chunk",
        "`separate`: usage in its own `choices: []` chunk after the last content chunk; `inline`: in the last chunk",
        "separate",
    ),
    Knob("x-mock-no-done", "flag", "end the body without `data: [DONE]`"),
    Knob("x-mock-html", "flag", "answer 200 with a proxy's HTML error page"),
    Knob("x-mock-crlf", "flag", "end lines with CRLF"),
    Knob("x-mock-keepalive", "flag", "a `: keep-alive` comment before every event"),
    Knob(
        "x-mock-tool-call-style",
        "tool_call_style",
        "`fragmented`: tool calls in OpenAI/vLLM pieces; `whole`: Mistral's one delta per call",
        "fragmented",
    ),
    Knob(
        "x-mock-api-key",
        "text",
        'require `Authorization: Bearer KEY`, else 401 `{"detail":"Unauthorized"}` '
        "(the header is a second key to match, never a replacement for `--api-key`)",
        "KEY",
    ),
    Knob(
        "x-mock-rate-limit",
        "count",
        "allow N requests a minute, then 429 `rate_limited` with `Retry-After` "
        "(the header counts per `x-mock-id` on top of the flag, which counts all requests)",
    ),
    # Batch jobs take the knobs of the request that created them.
    Knob(
        "x-mock-batch-fail-every",
        "count",
        "batch jobs: every Nth line fails (an `internal_error` line in the error file) instead of running",
    ),
    Knob(
        "x-mock-batch-line-delay",
        "seconds",
        "batch jobs: wait S seconds in `QUEUED`, then S seconds before each line",
    ),
    Knob(
        "x-mock-batch-timeout",
        "seconds",
        "batch jobs: stop at `TIMEOUT_EXCEEDED` after S seconds (not `timeout_hours`)",
    ),
)
_BY_HEADER = {knob.header: knob for knob in KNOBS}
_FLAG_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class StreamFaults:
    """Mid-stream misbehaviour; each ``*_after`` counts content chunks already sent."""

    stall_after: int | None = None
    stall_seconds: float = 1.0
    disconnect_after: int | None = None
    error_event_after: int | None = None
    finish_error_after: int | None = None
    malformed_after: int | None = None
    no_done: bool = False
    crlf: bool = False
    keepalive: bool = False


@dataclass(frozen=True)
class Knobs:
    """The knobs of one request (None: not set, the server's configuration decides)."""

    status: int | None = None
    retry_after: str | None = None
    fail_times: int | None = None
    mock_id: str = ""
    tokens: int | None = None
    first_token_delay: float | None = None
    token_delay: float | None = None
    usage_chunk: Literal["inline", "separate"] | None = None
    html: bool = False
    tool_call_style: Literal["whole", "fragmented"] | None = None
    api_key: str | None = None
    rate_limit: int | None = None
    stream: StreamFaults = field(default_factory=StreamFaults)
    batch_fail_every: int | None = None
    batch_line_delay: float | None = None
    batch_timeout: float | None = None


def parse_knobs(defaults: Mapping[str, str], headers: Mapping[str, str]) -> Knobs:
    """The knobs from ``defaults`` overridden by ``headers``; raises ValueError naming a bad header."""
    values: dict[str, object] = {}
    for source in (defaults, headers):
        for name, knob in _BY_HEADER.items():
            raw = source.get(name)
            if raw is not None:
                values[name] = _parse(knob, raw)

    def count(name: str) -> int | None:
        value = values.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def seconds(name: str) -> float | None:
        value = values.get(name)
        return value if isinstance(value, float) else None

    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) else None

    def flag(name: str) -> bool:
        return values.get(name) is True

    status = count("x-mock-status")
    if status is not None and not 400 <= status <= 599:
        raise ValueError(f"x-mock-status must be an error status (400-599), got {status}")
    usage_chunk = text("x-mock-usage-chunk")
    style = text("x-mock-tool-call-style")
    stall_seconds = seconds("x-mock-stall-seconds")
    return Knobs(
        status=status,
        retry_after=text("x-mock-retry-after"),
        fail_times=count("x-mock-fail-times"),
        mock_id=text("x-mock-id") or "",
        tokens=count("x-mock-tokens"),
        first_token_delay=seconds("x-mock-first-token-delay"),
        token_delay=seconds("x-mock-token-delay"),
        usage_chunk="separate" if usage_chunk == "separate" else "inline" if usage_chunk else None,
        html=flag("x-mock-html"),
        tool_call_style="fragmented" if style == "fragmented" else "whole" if style else None,
        api_key=text("x-mock-api-key"),
        rate_limit=count("x-mock-rate-limit"),
        stream=StreamFaults(
            stall_after=count("x-mock-stall-after"),
            stall_seconds=1.0 if stall_seconds is None else stall_seconds,
            disconnect_after=count("x-mock-disconnect-after"),
            error_event_after=count("x-mock-error-event-after"),
            finish_error_after=count("x-mock-finish-error-after"),
            malformed_after=count("x-mock-malformed-after"),
            no_done=flag("x-mock-no-done"),
            crlf=flag("x-mock-crlf"),
            keepalive=flag("x-mock-keepalive"),
        ),
        batch_fail_every=count("x-mock-batch-fail-every"),
        batch_line_delay=seconds("x-mock-batch-line-delay"),
        batch_timeout=seconds("x-mock-batch-timeout"),
    )


def _parse(knob: Knob, raw: str) -> object:
    value = raw.strip()
    if knob.kind == "count":
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"{knob.header} must be a whole number >= 0, got {raw!r}")
        return int(value)
    if knob.kind == "seconds":
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 <= number < float("inf"):  # also catches nan
            raise ValueError(f"{knob.header} must be a number of seconds >= 0, got {raw!r}")
        return number
    if knob.kind == "flag":
        return value.lower() in _FLAG_TRUE
    if knob.kind == "usage_chunk" and value not in ("inline", "separate"):
        raise ValueError(f"{knob.header} must be 'inline' or 'separate', got {raw!r}")
    if knob.kind == "tool_call_style" and value not in ("whole", "fragmented"):
        raise ValueError(f"{knob.header} must be 'whole' or 'fragmented', got {raw!r}")
    return raw if knob.kind == "text" else value


# The docs' knobs table sits between these two lines of docs/local-server.md.
TABLE_START = "<!-- knobs table: generated from KNOBS (python -m mistral_client.server._knobs FILE) -->"
TABLE_END = "<!-- end of knobs table -->"


def markdown_table() -> str:
    """The knobs table of docs/local-server.md: one row per knob, in ``KNOBS`` order."""
    rows = ["| header | `serve` flag | effect |", "|---|---|---|"]
    for knob in KNOBS:
        effect = knob.help.replace("|", "\\|")  # a bar would end the cell
        rows.append(f"| `{knob.example}` | `{knob.flag}` | {effect} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """``text`` (a markdown page) with the region between the table's markers rewritten."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start or text.count(TABLE_START) != 1:
        raise ValueError(f"expected one {TABLE_START!r} followed by {TABLE_END!r}")
    return text[: start + len(TABLE_START)] + "\n" + markdown_table() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    """``python -m mistral_client.server._knobs FILE...``: rewrite the knobs table in each file."""
    for name in argv:
        path = Path(name)
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
