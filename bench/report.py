"""From the numbers of a run to markdown tables, docs/benchmarks.md, the chart and the README's speed paragraph.

Every number these pages state comes from the run (docs/benchmarks.json) or from a named constant
(the targets below, the pools and limits of the code measured); tests/docs/test_docs_claims.py renders the
pages again from the JSON and from a perturbed copy of it to hold that.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

import httpx2
import msgspec

from bench.clients import POOL, SDKS
from bench.scenarios import COMMANDS, CORE_READ
from bench.server import MAX_WAIT

MiB = 1024 * 1024
TARGETS_TITLE = "Targets (issue 5)"
# The targets of issue 5, each judged on the median and on every run of the row.
TARGETS = {
    "bulk_us": 5.0,  # µs of CPU per chunk, sync and async
    "bulk_vs_mistralai": 100.0,  # times cheaper
    "bulk_vs_openai": 20.0,
    "trickle_vs_floor": 1.5,  # times the plain httpx2 floor
    "many_us": 20.0,  # µs per chunk with many streams
    "many_mib": 60.0,  # peak RSS
    "cold_vs_httpx2": 1.3,  # times plain httpx2's wall time
    "cold_mib": 35.0,
    "command_over_python_ms": 60.0,  # mistral-client --help and --version, over an empty interpreter (issue 17)
    "ttfc_added_ms": 1.0,
    "cancel_ms": 10.0,
}
SPEED_START = "<!-- speed: rendered by python -m bench from docs/benchmarks.json -->"
SPEED_END = "<!-- end of speed -->"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            memory = f"{int(info.readline().split()[1]) / MiB:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions = {"httpx2": httpx2.__version__, "msgspec": msgspec.__version__}
    for sdk in ("openai", "mistralai"):
        try:
            from importlib.metadata import version

            versions[sdk] = version(sdk)
        except Exception:
            versions[sdk] = "not installed"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "libraries": ", ".join(f"{name} {v}" for name, v in versions.items()),
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:,.1f}x" if a / b < 100 else f"{a / b:,.0f}x"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


PENDING = "pending"  # a row of a run that kept only its median: the spread comes with the next run


def _each(row: dict[str, Any] | None) -> list[float] | None:
    """Each run's CPU per chunk of a row, or None when the run kept only the median."""
    return None if row is None else row.get("us_per_chunk_runs")


def _spread(row: dict[str, Any] | None, digits: int = 1) -> str:
    each = _each(row)
    if each is None:
        return PENDING
    return f"{_fmt(min(each), digits)}-{_fmt(max(each), digits)}" if len(each) > 1 else "-"


def _runs(row: dict[str, Any] | None, name: str, reps: int, sdk_reps: int) -> int:
    """How many runs a row's median is of: recorded, or (older runs) what the sizes asked for."""
    each = _each(row)
    if each is not None:
        return len(each)
    return min(sdk_reps, reps) if name in SDKS else reps


def _one_runs(r: dict[str, Any], scenario: str, name: str) -> int:
    z = r["sizes"]
    row = _get(r, "scenarios", scenario, name)
    if scenario in ("many", "many_uvloop"):
        return _runs(row, name, z["many_reps"], z["many_sdk_reps"])
    if name == "ours-core":
        return _runs(row, name, max(z["reps"], 3), max(z["reps"], 3))
    return _runs(row, name, z["reps"], z["sdk_reps"])


def _of_runs(r: dict[str, Any], scenario: str, row: dict[str, Any]) -> str:
    """ "median of 5 runs, 7.9-9.1" (or without the spread when the run did not keep it)."""
    name = next(name for name, value in r["scenarios"][scenario].items() if value is row)
    spread = _spread(row)
    runs = _one_runs(r, scenario, name)
    return f"median of {runs} runs" + (f", {spread}" if spread not in (PENDING, "-") else "")


def _cores(r: dict[str, Any]) -> int | None:
    found = re.search(r"(\d+) cores", r["machine"].get("cpu", ""))
    return int(found[1]) if found else None


def _busy(row: dict[str, Any], z: dict[str, Any], chunks: int | None = None) -> float:
    """The share of the wall time the client spent on the CPU (recorded, or from the medians)."""
    if "busy" in row:
        return float(row["busy"])
    total = z["many_streams"] * (chunks or z["many_chunks"])
    return float(row["us_per_chunk"]) * total / 1e6 / float(row["wall_s"])


def _holds(row: dict[str, Any], limit: float, key: str = "us_per_chunk") -> bool | str:
    """True if the median and every run keep under ``limit``; "in N of K runs" if only some do."""
    if row[key] > limit:
        return False
    each = _each(row) if key == "us_per_chunk" else None
    if not each:
        return True
    kept = sum(1 for value in each if value <= limit)
    return True if kept == len(each) else f"in {kept} of {len(each)} runs"


def _conversations(rows: dict[str, Any], z: dict[str, Any]) -> list[str]:
    """The conversation stream's table (issue 15): µs per event, beside our chat stream and mistralai."""
    table = []
    chat = _get(rows, "ours chat", "us_per_event")
    for name, row in rows.items():
        if not isinstance(row, dict):
            continue
        each = row["us_per_event_runs"]
        spread = f"{_fmt(min(each), 2)}-{_fmt(max(each), 2)}" if len(each) > 1 else "-"
        table.append([name, str(len(each)), _fmt(row["us_per_event"], 2), spread, _ratio(row["us_per_event"], chat)])
    small, large = z["bulk"]
    note = (
        f"A conversation stream (`conversations.start_stream`: named events, {small:,} and {large:,} of them, "
        "the chat stream's words in `message.output.delta` events) read whole, each event's text read, beside "
        "our chat stream of as many events and mistralai's `beta.conversations.start_stream` on the same bytes; "
        "marginal CPU per event between the two sizes, the median of the runs with their min-max."
    )
    return [
        "### 8. Conversation streams",
        note,
        _table(["client", "runs", "µs/event", "min-max", "vs ours chat"], table),
    ]


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | str | None]]:
    """(target, what was measured, whether it holds) for every target of the issue that was run."""
    s, t = r["scenarios"], TARGETS
    out: list[tuple[str, str, bool | str | None]] = []

    def check(label: str, measured: str, ok: bool | str | None) -> None:
        out.append((label, measured, ok))

    conversations = s.get("conversations")
    if conversations:
        from bench.conversations import CHAT_TARGET, SDK_TARGET

        vs_chat, vs_sdk = conversations.get("vs_chat"), conversations.get("mistralai_vs_ours")
        if vs_chat is not None:
            check(
                f"conversations: <= {CHAT_TARGET:g}x our chat cost per event", f"{vs_chat:.2f}x", vs_chat <= CHAT_TARGET
            )
        if vs_sdk is not None:
            label = f"conversations: >= {SDK_TARGET:g}x cheaper than mistralai's start_stream"
            check(label, f"{vs_sdk:,.0f}x", vs_sdk >= SDK_TARGET)
    ours_bulk = max(
        (
            v
            for v in (_get(s, "bulk", "ours", "us_per_chunk"), _get(s, "bulk", "ours-async", "us_per_chunk"))
            if v is not None
        ),
        default=None,
    )
    if ours_bulk is not None:
        check(
            f"bulk: <= {t['bulk_us']:g} µs per chunk (sync and async)", f"{ours_bulk:.2f} µs", ours_bulk <= t["bulk_us"]
        )
        for sdk in ("mistralai", "openai"):
            times = t[f"bulk_vs_{sdk}"]
            theirs = _get(s, "bulk", sdk, "us_per_chunk")
            ours = _get(s, "bulk", "ours", "us_per_chunk")
            if theirs is not None and ours:
                check(f"bulk: >= {times:g}x cheaper than {sdk}", f"{theirs / ours:,.0f}x", theirs / ours >= times)
    floor = _get(s, "trickle", "httpx2", "us_per_chunk")
    for name in ("ours", "ours-async"):
        ours = _get(s, "trickle", name, "us_per_chunk")
        base = floor if name == "ours" else _get(s, "trickle", "httpx2-async", "us_per_chunk") or floor
        if ours is not None and base:
            which = "sync" if name == "ours" else "async"
            limit = t["trickle_vs_floor"]
            check(
                f"trickle ({which}): <= {limit:g}x the plain httpx2 floor", f"{ours / base:.2f}x", ours / base <= limit
            )
    streams = r["sizes"]["many_streams"]
    for key, loop in (("many", "asyncio"), ("many_uvloop", "uvloop")):
        many, floor_many = _get(s, key, "ours"), _get(s, key, "loop-floor", "us_per_chunk")
        if many:
            us = many["us_per_chunk"]
            spread = _spread(many)
            runs = _one_runs(r, key, "ours")
            shown = f"{us:.1f} µs" + (
                f" ({spread} in {runs} runs" if spread not in (PENDING, "-") else f" ({runs} runs"
            )
            shown += f"; the loop alone: {floor_many:.1f})" if floor_many else ")"
            check(
                f"{streams} streams ({loop} loop): <= {t['many_us']:g} µs per chunk", shown, _holds(many, t["many_us"])
            )
            check(
                f"{streams} streams ({loop} loop): peak memory <= {t['many_mib']:g} MiB",
                f"{many['peak_rss_mib']:.0f} MiB",
                many["peak_rss_mib"] <= t["many_mib"],
            )
    ours, floor_cold = _get(s, "cold", "ours"), _get(s, "cold", "httpx2")
    if ours and floor_cold:
        ratio = ours["wall_ms"] / floor_cold["wall_ms"]
        check(
            f"cold start: <= {t['cold_vs_httpx2']:g}x plain httpx2 wall time",
            f"{ratio:.2f}x",
            ratio <= t["cold_vs_httpx2"],
        )
        check(
            f"cold start: <= {t['cold_mib']:g} MiB peak",
            f"{ours['peak_rss_mib']:.1f} MiB",
            ours["peak_rss_mib"] <= t["cold_mib"],
        )
    for command in COMMANDS:
        over = _get(s, "cold", command, "over_python_ms")
        if over is not None:
            limit = t["command_over_python_ms"]
            check(f"cold start: `{command}` <= {limit:g} ms over an empty interpreter", f"{over:.0f} ms", over <= limit)
    for name, floor_name in (("ours", "httpx2"), ("ours-async", "httpx2-async")):
        mine, base_t = _get(s, "ttfc", name, "client_ms"), _get(s, "ttfc", floor_name, "client_ms")
        if base_t is None:
            base_t = _get(s, "ttfc", "httpx2", "client_ms")
        if mine is not None and base_t is not None:
            added = mine - base_t
            check(
                f"time to first chunk ({name}): <= {t['ttfc_added_ms']:g} ms added over httpx2",
                f"{added:+.2f} ms",
                added <= t["ttfc_added_ms"],
            )
    for way in ("ours close", "ours-async aclose", "ours-async task cancel"):
        ms = _get(s, "cancel", way, "ms")
        if _get(s, "cancel", way) is not None:
            check(
                f"cancellation ({way}): seen by the server <= {t['cancel_ms']:g} ms",
                _fmt(ms, 2) + " ms",
                ms is not None and ms <= t["cancel_ms"],
            )
    if "telemetry" in s:
        out += _telemetry_targets(s["telemetry"])
    return out


def _verdict(ok: bool | str | None) -> str:
    if isinstance(ok, str):
        return f"**{ok}**"
    return "yes" if ok else "**no**"


def markdown(r: dict[str, Any]) -> str:
    """Every table of a run."""
    s, z = r["scenarios"], r["sizes"]
    parts: list[str] = []
    if r.get("quick"):
        parts.append("**--quick: tiny sizes that only check the harness runs; these numbers mean nothing.**")
    rows = [[label, measured, _verdict(ok)] for label, measured, ok in targets(r)]
    if rows:
        parts += [f"### {TARGETS_TITLE}", _table(["target", "measured", "holds"], rows)]
    pending = False

    if "bulk" in s or "trickle" in s:
        order = ("ours", "ours-async", "ours-core", "httpx2", "httpx2-async", "httpx2+json", "openai", "mistralai")
        present = {**s.get("bulk", {}), **s.get("trickle", {})}
        clients = [c for c in order if c in present]
        labels = {"ours-core": "ours, decoding core alone (no I/O)"}
        head = ["client", "runs", "bulk µs/chunk", "min-max", "bulk vs ours", "trickle µs/chunk", "min-max"]
        head.append("trickle vs httpx2")
        table = []
        for c in clients:
            bulk, trickle = _get(s, "bulk", c), _get(s, "trickle", c)
            b, t = _get(s, "bulk", c, "us_per_chunk"), _get(s, "trickle", c, "us_per_chunk")
            pending = pending or _each(bulk) is None or _each(trickle) is None
            table.append(
                [
                    labels.get(c, c),
                    str(_one_runs(r, "bulk" if bulk else "trickle", c)),
                    _fmt(b, 2),
                    _spread(bulk, 2) if bulk else "-",
                    _ratio(b, _get(s, "bulk", "ours", "us_per_chunk")),
                    _fmt(t, 2),
                    _spread(trickle, 2) if trickle else "-",
                    _ratio(t, _get(s, "trickle", "httpx2", "us_per_chunk")),
                ]
            )
        (a, b_size) = z["bulk"]
        kept = _each(_get(s, "bulk", "ours")) is not None
        how = (
            "each run streams both sizes, and a row gives the median of its runs' marginal costs, with their min-max"
            if kept
            else "a row gives the difference between the medians of its runs at each size"
        )
        note = (
            f"Client CPU per chunk, marginal between streams of {a:,} and {b_size:,} chunks (so the cost of the call "
            f"itself drops out); {how}.  Bulk: the server writes the whole body at once.  Trickle: each event in its "
            f"own write and HTTP chunk, at least {z['trickle_gap'] * 1e6:.0f} µs apart (streams of "
            f"{z['trickle'][0]:,} and {z['trickle'][1]:,})"
        )
        reads, pace = _get(s, "trickle", "_reads_per_event"), _get(s, "trickle", "_us_between_events")
        if reads is not None and pace is not None:
            note += f"; events came {pace:.0f} µs apart and the floor made {reads:.2f} reads per event"
        note += (
            f".  The decoding core alone is fed the same bytes in {CORE_READ // 1024} KiB reads (bulk) or one event "
            "a read (trickle): the rest of a client's cost is the HTTP layer's"
        )
        parts += ["### 1-2. One stream: bulk and trickle", note + ".", _table(head, table)]

    for key, loop in (("many", "asyncio"), ("many_uvloop", "uvloop")):
        if key not in s:
            continue
        table = []
        labels = {
            "ours": "ours, keep_chunks=False",
            "ours (keep_chunks=True)": "ours, default (keeps every chunk)",
            "loop-floor": f"{loop} alone (no HTTP client)",
        }
        for c, v in s[key].items():
            pending = pending or _each(v) is None
            table.append(
                [
                    labels.get(c, c),
                    str(_one_runs(r, key, c)),
                    _fmt(v["us_per_chunk"], 1),
                    _spread(v),
                    _ratio(v["us_per_chunk"], s[key].get("ours", {}).get("us_per_chunk")),
                    _fmt(v["wall_s"], 2),
                    f"{_busy(v, z):.0%}",
                    _fmt(v.get("events_per_server_wake"), 1),
                    _fmt(v["peak_rss_mib"], 0),
                    _fmt(v["added_rss_mib"], 1),
                ]
            )
        ours = s[key].get("ours", {})
        ran_on = ""
        if ours.get("transport") and ours.get("loop"):
            ran_on = f"  Every run of ours sent through `{ours['transport']}` on `{ours['loop']}`."
        note = (
            f"{z['many_streams']} concurrent async streams of {z['many_chunks']} chunks through one client "
            f"(each client in a fresh process, on the {loop} event loop), events {z['many_gap'] * 1e3:g} ms apart "
            f"in each stream; whole-run CPU divided by all chunks.  Each row is the median of its runs (the SDKs "
            "take tens of seconds a run, so they run fewer times), with their min-max; *busy* is the share of "
            "the wall time the client spent on the CPU, and *burst* how many events the server wrote each time "
            "its pacer woke up (they reach the client together; - where the run did not record it).  Peak RSS is "
            'the whole process; "added" is above the process after import, client construction and one stream.  '
            "A relay passes `keep_chunks=False` (the SDKs keep nothing either); by default "
            f"`stream.result.chunks` holds every chunk, here all {z['many_streams'] * z['many_chunks']:,} typed "
            f"chunks at once.  *{loop} alone* opens the same connections with an asyncio `Protocol` that only "
            f"counts reads: the event loop's own cost per event, under every client on that loop.{ran_on}"
        )
        parts += [
            "### 3b. Many streams (uvloop)" if loop == "uvloop" else "### 3. Many streams",
            note,
            _table(
                [
                    "client",
                    "runs",
                    "µs/chunk",
                    "min-max",
                    "vs ours",
                    "wall s",
                    "busy",
                    "burst",
                    "peak RSS MiB",
                    "added MiB",
                ],
                table,
            ),
        ]

    if "many_rates" in s:
        parts += _rates_section(s["many_rates"], z)

    if "cold" in s:
        floor_cold = s["cold"].get("httpx2", {})
        table = []
        commands = [c for c in s["cold"] if c in COMMANDS]
        for c, v in s["cold"].items():
            over = v.get("over_python_ms", v["wall_ms"] - v["python_wall_ms"])
            table.append(
                [
                    f"`{c}`" if c in commands else c,
                    _fmt(v["wall_ms"], 0),
                    _fmt(over, 0),
                    "-" if c in commands else _ratio(v["wall_ms"], floor_cold.get("wall_ms")),
                    _fmt(v["import_wall_ms"], 0),
                    _fmt(v["peak_rss_mib"], 1),
                ]
            )
        python_ms = next(iter(s["cold"].values()))["python_wall_ms"]
        # Runs before the command rows measured the empty interpreter after all the others.
        same_rounds = ", measured in the same rounds" if commands else ""
        note = (
            f"A new process that imports the client, builds it and streams {z['cold_chunks']} chunks; wall time "
            f"from spawn to exit, medians of {z['cold_reps']} runs of each client (an empty `python -c pass` takes "
            f'{python_ms:.0f} ms{same_rounds}; "over python" is the rest).  "import" is a process that only '
            "imports the library."
        )
        if commands:
            note += (
                "  " + " and ".join(f"`{c}`" for c in commands) + " run the command line as its console script "
                "does, and stream nothing: what someone typing them waits for."
            )
        parts += [
            "### 4. Cold start",
            note,
            _table(["client", "wall ms", "over python ms", "vs httpx2", "import ms", "peak RSS MiB"], table),
        ]

    if "ttfc" in s:
        table = []
        for c, v in s["ttfc"].items():
            floor_name = "httpx2-async" if c.endswith("-async") and "httpx2-async" in s["ttfc"] else "httpx2"
            added = v["client_ms"] - s["ttfc"][floor_name]["client_ms"] if floor_name in s["ttfc"] else None
            table.append(
                [
                    c,
                    _fmt(v["ttfc_ms"], 2),
                    _fmt(v["request_ms"], 2),
                    _fmt(v["delivery_ms"], 2),
                    _fmt(v["client_ms"], 2),
                    "-" if added is None else f"{added:+.2f}",
                ]
            )
        note = (
            f"The server answers at once, then waits {z['ttfc_wait'] * 1e3:g} ms before the first event; pooled "
            f"connection, medians of {z['ttfc_reps']} runs of each client.  The server stamps the chunk id with when "
            'the request arrived and when it sent the first event: "request" is from the call to the server '
            "reading the request, \"delivery\" from the server's write to the chunk in the caller's hands, and "
            '"client" is the time to the first chunk minus the server\'s own wait, the part the client is '
            "responsible for."
        )
        head = ["client", "first chunk ms", "request ms", "delivery ms", "client ms", "added over httpx2 ms"]
        parts += ["### 5. Time to first chunk", note, _table(head, table)]

    if "cancel" in s:
        table = [[way, _fmt(v["ms"], 2), str(v["missed"])] for way, v in s["cancel"].items()]
        note = (
            f"A stream of events {z['cancel_gap'] * 1e3:g} ms apart; after the third chunk the client closes it (or "
            "the task reading it is cancelled).  Time from that call to the server seeing the socket closed (both "
            "stamped with `time.monotonic_ns`, one clock for all processes), medians of "
            f'{z["cancel_reps"]} runs of each way; "missed": the server saw no close within {MAX_WAIT:g} s.'
        )
        parts += ["### 6. Cancellation", note, _table(["client and way", "ms", "missed"], table)]

    if "large" in s:
        sizes = sorted({int(k) for v in s["large"].values() for k in v})
        head = (
            ["decoder"]
            + [f"{size / MiB:g} MiB" if size >= MiB else f"{size // 1024} KiB" for size in sizes]
            + ["largest / smallest"]
        )
        table = []
        for name, per in s["large"].items():
            cells = [_fmt(per.get(str(size)), 1) if str(size) in per else "-" for size in sizes]
            done = [per[str(size)] for size in sizes if str(size) in per]
            table.append([name, *cells, _ratio(done[-1], done[0]) if len(done) > 1 else "-"])
        from mistral_client._config import DEFAULT_MAX_EVENT_SIZE

        note = (
            f"One event fed in {z['large_read']:,}-byte reads; CPU milliseconds per MiB of event (constant when "
            f'linear), medians of {z["large_reps"]} runs.  "ours (SSE + chunk)" is the whole decoding core, with the '
            f"default {DEFAULT_MAX_EVENT_SIZE / MiB:g} MiB event cap, up to the typed chunk."
        )
        parts += ["### 7. Large events", note, _table(head, table)]
    if "conversations" in s:
        parts += _conversations(s["conversations"], z)
    if "bulk_runner" in s:
        parts += _bulk_runner_section(s["bulk_runner"], z)
    if "telemetry" in s:
        parts += _telemetry_section(s["telemetry"], z)
    if pending:
        parts.insert(
            0,
            f"*{PENDING}*: this run kept only each row's median, not its runs' values; the next full run "
            "(`python -m bench`) fills in the spread.",
        )
    return "\n\n".join(parts) + "\n"


BULK_CPU_TARGET = 5  # scenario 9's target: client CPU per request at least this many times below mistralai's


def _bulk_runner_section(rows: dict[str, Any], z: dict[str, Any]) -> list[str]:
    small, large = (str(n) for n in z["bulk_runner"])
    concurrency = z["bulk_runner_concurrency"]
    ours = rows.get("ours", {}).get(large, {})
    head = ["client", "requests/s", "CPU µs/request", "CPU vs ours", f"RSS growth at {int(small):,} (MiB)"]
    head.append(f"at {int(large):,} (MiB)")
    table = []
    for name, by_size in rows.items():
        row = by_size[large]
        table.append(
            [
                name,
                _fmt(row["requests_per_s"], 0),
                _fmt(row["cpu_us_per_request"], 0),
                _ratio(row["cpu_us_per_request"], ours.get("cpu_us_per_request")),
                _fmt(by_size[small]["rss_growth_mib"], 1),
                _fmt(row["rss_growth_mib"], 1),
            ]
        )
    note = (
        f"{int(large):,} chat requests at concurrency {concurrency} against the local server "
        "(`mistral-client serve --fast`) in another process. ours: the bulk runner's direct engine "
        "(`mistral_client.bulk`), writing its results file; mistralai and openai: `asyncio.gather` over the "
        f"SDK's async chat call, {concurrency} at a time, the answers kept in a list. CPU: the client process's. "
        f"RSS growth: peak memory above the client's once it had sent one request, for {int(small):,} and "
        f"{int(large):,} requests (a runner that holds neither its input nor its output grows only by the set "
        f"of ids it has seen). Target: client CPU per request at least {BULK_CPU_TARGET}x lower than mistralai's."
    )
    return ["### 9. Bulk runs", note, _table(head, table)]


def _telemetry_section(rows: dict[str, Any], z: dict[str, Any]) -> list[str]:
    """Scenario 10 (issue 18): what OpenTelemetry costs, with the SDK's own floor beside the client's."""
    from bench.telemetry import table

    head = ["client", "mode", "µs/chunk", "Δ", "µs/stream", "Δ", "many µs/chunk", "Δ"]
    small, large = z["bulk"]
    note = (
        "What recording a stream with OpenTelemetry costs (`bench/telemetry.py`).  Modes: *off* (the client told "
        "not to record, as without OpenTelemetry), *api* (the API imported, no SDK configured), *sdk* (the SDK's "
        "tracer provider with a batch span processor whose exporter drops the spans, and its meter provider with "
        "an in-memory reader: every span and record is made) and *floor* (the client told not to record while the "
        "bench makes, around each stream, the span, its context and the five histogram records the client makes, "
        "on the same SDK: what recording them costs anyone).  Our clients run all four modes in one process, "
        f"taking turns in each of {z['telemetry_reps']} repetitions; Δ is the median of each repetition's "
        f"difference from *off*.  µs/chunk: marginal CPU between bulk streams of {small:,} and {large:,} chunks; "
        f"µs/stream: CPU per stream of {z['telemetry_streams']} streams of {z['telemetry_chunks']} chunks (async: "
        f"all at once); many: the many-streams scenario's live-paced streams, {z['telemetry_many_streams']} at once of "
        f"{z['telemetry_many_chunks']} chunks, CPU per chunk (each stream's fixed cost spread over its chunks).  "
        "mistralai traces through the global provider (with `MISTRAL_SDK_TELEMETRY=global`), off and on in a "
        f"process each, {z['sdk_reps']} runs of a tenth of the sizes."
    )
    exported = ", ".join(
        f"{name} {row['spans_exported']:,}" for name, row in rows.items() if isinstance(row, dict) and "sdk" in row
    )
    own = rows.get("hooks_us_per_stream")
    facts = [f"Spans the *sdk* mode exported: {exported}."]
    if own is not None:
        facts.append(
            f"The client's own telemetry code, every hook of a streamed call against providers that do nothing: "
            f"{own:.1f} µs per stream."
        )
    return ["### 10. OpenTelemetry", note, _table(head, table(rows)), "  ".join(facts)]


def _telemetry_targets(rows: dict[str, Any]) -> list[tuple[str, str, bool | str | None]]:
    from bench.telemetry import API_PER_CHUNK_US, OURS, SDK_PER_CHUNK_US, SDK_PER_STREAM_US

    ours = [rows[name] for name in OURS if name in rows]
    if not ours:
        return []

    def worst(mode: str, key: str) -> float:
        return max(row["delta"][mode][key] for row in ours)

    api, sdk_chunk, sdk_stream = (
        worst("api", "us_per_chunk"),
        worst("sdk", "us_per_chunk"),
        worst("sdk", "us_per_stream"),
    )
    floor = worst("floor", "us_per_stream")
    out: list[tuple[str, str, bool | str | None]] = [
        (
            f"telemetry, API without an SDK: < {API_PER_CHUNK_US:g} µs more per chunk",
            f"{api:+.3f} µs",
            api < API_PER_CHUNK_US,
        ),
        (
            f"telemetry, SDK: <= {SDK_PER_CHUNK_US:g} µs more per chunk",
            f"{sdk_chunk:+.3f} µs",
            sdk_chunk <= SDK_PER_CHUNK_US,
        ),
        (
            f"telemetry, SDK: <= {SDK_PER_STREAM_US:g} µs more per stream",
            f"{sdk_stream:+.0f} µs (the SDK alone, recording the same: {floor:+.0f} µs)",
            sdk_stream <= SDK_PER_STREAM_US,
        ),
    ]
    theirs = rows.get("mistralai")
    if theirs is not None:
        ours_chunk = max(row["delta"]["sdk"]["us_per_chunk"] for row in ours)
        out.append(
            (
                "telemetry: cheaper per chunk than mistralai's own tracing",
                f"{ours_chunk:+.3f} µs vs {theirs['delta']['sdk']['us_per_chunk']:+.1f} µs",
                ours_chunk < theirs["delta"]["sdk"]["us_per_chunk"],
            )
        )
    return out


def _rates_section(rates: dict[str, Any], z: dict[str, Any]) -> list[str]:
    gaps = sorted({gap for by_gap in rates.values() for gap in by_gap}, key=float)
    streams = z["many_streams"]
    head = ["loop, client"] + [f"{gap} ms apart ({streams / (float(gap) / 1e3):,.0f}/s)" for gap in gaps]
    labels = {"ours": "ours, keep_chunks=False", "loop-floor": "the loop alone"}
    table = []
    for loop, by_gap in rates.items():
        for client in dict.fromkeys(c for gap in gaps for c in by_gap.get(gap, {})):
            cells = []
            for gap in gaps:
                row = by_gap.get(gap, {}).get(client)
                spread = "-" if row is None else _spread(row)
                cells.append(
                    "-" if row is None else _fmt(row["us_per_chunk"]) + (f" ({spread})" if len(spread) > 1 else "")
                )
            table.append([f"{loop}, {labels.get(client, client)}", *cells])
    reps = z["many_rate_reps"]
    note = (
        f"Scenario 3 again, {streams} streams at a time, with events further apart in each stream (the total rate "
        f"of events in brackets); each stream lasts about {z['many_rate_seconds']:g} s.  CPU µs per chunk, "
        + (f"median (min-max) of {reps} runs." if reps > 1 else "one run.")
        + "  One wakeup of the event loop serves every socket that is ready by then: the "
        "further apart the events, the fewer each wakeup serves, and the more each one costs."
    )
    return ["### 3c. Many streams at other event rates", note, _table(head, table)]


def chart(r: dict[str, Any], path: Path) -> bool:
    """A PNG of CPU per chunk by client and scenario; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    s = r["scenarios"]
    groups = [
        (key, label)
        for key, label in (
            ("bulk", "bulk"),
            ("trickle", "trickle"),
            ("many", f"{r['sizes']['many_streams']} concurrent"),
        )
        if key in s
    ]
    clients = ["ours", "ours-async", "httpx2", "httpx2-async", "httpx2+json", "openai", "mistralai"]
    colors = {
        "ours": "#fa500f",
        "ours-async": "#ffaf00",
        "httpx2": "#7a7a7a",
        "httpx2-async": "#9a9a9a",
        "httpx2+json": "#b0b0b0",
        "openai": "#10a37f",
        "mistralai": "#1f3a93",
    }
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    width = 0.8 / len(clients)
    for i, client in enumerate(clients):
        xs, ys = [], []
        for g, (key, _) in enumerate(groups):
            value = _get(s, key, client, "us_per_chunk")
            if value is not None and value > 0:
                xs.append(g + (i - (len(clients) - 1) / 2) * width)
                ys.append(value)
        if not xs:
            continue
        bars = ax.bar(xs, ys, width * 0.95, label=client, color=colors[client])
        for bar, y in zip(bars, ys, strict=True):
            ax.annotate(
                _fmt(y, 1),
                (bar.get_x() + bar.get_width() / 2, y),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_yscale("log")
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top * 2)  # room for the labels over the tallest bars
    ax.set_xticks(range(len(groups)), [label + (" (async)" if key == "many" else "") for key, label in groups])
    ax.set_ylabel("client CPU per chunk (µs, log scale)")
    ax.set_title("CPU per streamed chunk, same bytes from the same loopback server")
    ax.legend(ncols=7, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    ax.grid(axis="y", which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


MEASURE_YOURSELF = """```python
import time

from mistral_client import Mistral, Models, user

# MISTRAL_BASE_URL points at a Mistral-compatible server: for numbers that mean something, one in
# another process (`mistral-client serve`), so that this process's CPU time is the client's alone.
with Mistral() as client:
    cpu = time.process_time()
    with client.chat.stream(
        model=Models.SMALL, messages=[user("Count to 500.")], extra_headers={"x-mock-tokens": "500"}
    ) as stream:
        for chunk in stream:
            pass
    cpu = time.process_time() - cpu
print(f"{stream.result.chunk_count} chunks, {cpu / stream.result.chunk_count * 1e6:.1f} µs of CPU per chunk")
```"""


def _loop_bullets(r: dict[str, Any]) -> list[str]:
    """What the many-streams tables say about the event loop, with this run's numbers."""
    s, z = r["scenarios"], r["sizes"]
    target = TARGETS["many_us"]
    out = []
    floor_a, floor_u = _get(s, "many", "loop-floor"), _get(s, "many_uvloop", "loop-floor")
    if floor_a:
        text = (
            f"- With {z['many_streams']} streams, each event costs the event loop itself a wakeup: the *asyncio "
            "alone* row opens the same connections with a `Protocol` that only counts reads.  In this run the "
            f"standard loop alone spent {floor_a['us_per_chunk']:.1f} µs per event ({_of_runs(r, 'many', floor_a)}) "
            "before any client code ran"
        )
        if floor_a["us_per_chunk"] > target:
            text += f", more than the {target:g} µs target by itself"
        if floor_u:
            text += (
                f"; uvloop, which uvicorn uses when it is installed, spent {floor_u['us_per_chunk']:.1f} µs "
                f"({_of_runs(r, 'many_uvloop', floor_u)})"
            )
        out.append(text + ".")
    rates = s.get("many_rates")
    text = (
        "- That cost is not a constant of the client or of the loop: one wakeup of the loop serves every socket "
        "that is ready by then, so the closer together events come, the more each wakeup serves and the less each "
        "event costs.  The server's pacer writes the events that fell due since it last woke (*burst*), a busy "
        "machine wakes it later and makes the bursts larger, and a client busy all the time (*busy* near 100%) "
        "lets events pile up between its own wakeups: each makes a chunk cost less.  So the same code on the same "
        "machine gives different figures from one run to the next; compare rows within a run, and read the spread."
    )
    if rates:
        loop = "uvloop" if "uvloop" in rates else next(iter(rates))
        gaps = sorted(rates[loop], key=float)
        first, last = rates[loop][gaps[0]].get("ours"), rates[loop][gaps[-1]].get("ours")
        if first and last:
            text += (
                f"  In section 3c, ours on {loop} cost {first['us_per_chunk']:.1f} µs per chunk with events "
                f"{gaps[0]} ms apart in each stream and {last['us_per_chunk']:.1f} µs with {gaps[-1]} ms."
            )
    else:
        text += "  (This run predates section 3c, the same scenario at other event rates.)"
    out.append(text)
    walls = {
        loop: (_get(s, key, "ours", "wall_s"), _get(s, key, "loop-floor", "wall_s"))
        for key, loop in (("many", "asyncio"), ("many_uvloop", "uvloop"))
        if _get(s, key, "ours") and _get(s, key, "loop-floor")
    }
    if walls:
        nominal = z["many_chunks"] * z["many_gap"]
        took = "; ".join(
            f"on {loop}, {ours:.2f} s through ours and {floor:.2f} s for the loop alone"
            for loop, (ours, floor) in walls.items()
        )
        out.append(
            "- The server writes all paced streams from one thread that keeps each stream's own phase; a thread per "
            "stream sleeping between events used more CPU than the client it served, and let events bunch up, which "
            f"made every client look cheaper per chunk.  At the server's pace a stream of {z['many_chunks']} events "
            f"{z['many_gap'] * 1e3:g} ms apart lasts {nominal:g} s; in this run the streams took (medians) {took}."
        )
    removed = r.get("proxy_variables_removed")
    named = "" if removed is None else " (here: " + (", ".join(f"`{n}`" for n in removed) or "none was set") + ")"
    out.append(
        f"- Proxy variables are taken out of the run's environment{named}: the server is on loopback, but with one "
        "set `AsyncMistral` sends through httpx2's transport instead of its own (it leaves `NO_PROXY` to httpx2), "
        "and then costs what httpx2 costs, on either loop.  Each many-streams run records the loop and the "
        "transport it used, and the benchmark stops if ours did not use its own."
    )
    return out


def document(r: dict[str, Any], tables: str, chart_name: str | None) -> str:
    m = r["machine"]
    headline = headline_sentence(r)
    cores = _cores(r)
    load = r.get("load") or {}
    shared = (f"the machine these numbers come from has {cores} cores" if cores else "the machine may be shared") + (
        f", and its load average was {load['start'][0]:.1f} when the run began and {load['end'][0]:.1f} when it ended"
        if load.get("start") and load.get("end")
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "mistral-client against the official SDKs (`mistralai`, `openai`) and plain httpx2, all reading the same bytes "
        "from the same loopback server in the same run.  Generated by `python -m bench`; the numbers below are from "
        f"the run of {r['date']} (docs/benchmarks.json).",
        "",
    ]
    if headline:
        lines += [headline, ""]
    lines += [
        "## How it measures",
        "",
        "- The server (`bench/server.py`) runs in a process of its own and sends pre-encoded streams in the wire "
        "format the live API sends (`p` padding, a role chunk, content chunks with non-ASCII text, a last chunk "
        "with usage, `[DONE]`), in HTTP chunked framing.  It is a plain socket server, so that its CPU is not "
        "the client's; with many streams, how it paces them still shapes what each event costs a client (see "
        "*Reading the results*).",
        f"- Client cost is the CPU time of the client process (`time.process_time`), not wall time: {shared}; CPU "
        "time is what a busy machine disturbs least.",
        "- CPU per chunk is the marginal cost between a short and a long stream, so the fixed cost of a call "
        "(connection, request, headers) drops out.  Each repetition runs every client in turn, so a machine that gets "
        "busier slows them alike; tables show medians, each row says how many runs it is of and, where the "
        "spread matters, their min-max; ratios are taken within the same run.",
        "- `httpx2` is the floor: plain httpx2 reading the raw bytes and splitting events on blank lines, nothing "
        "decoded.  `httpx2+json` adds `json.loads` per event, the least any client does.",
        "- Every client but the floor reads the text delta of every chunk, as a caller relaying tokens would.",
        "",
        "## Results",
        "",
        tables,
    ]
    if chart_name:
        lines += [f"![CPU per chunk by client and scenario]({chart_name})", ""]
    from mistral_client._backends import _LIMITS

    default_pool = httpx2._config.DEFAULT_LIMITS.max_connections
    streams = r["sizes"]["many_streams"]
    lines += [
        "## Reading the results",
        "",
        "- On a live-paced stream most of any client's CPU is the HTTP layer and the event loop, which handle "
        "every read, one event each: compare a client with the `httpx2` floor rather than with zero.  The "
        "decoding core alone, fed the same bytes without I/O, is the part that is ours, measured warm; between "
        "two reads of a live stream the caches go cold, and the same work costs more.",
        "- The async client runs on an HTTP/1.1 transport of its own (`_transport/http11.py`): asyncio sockets, "
        "h11 for the response head, its own chunked-body decoder and pool.  That is why it can cost less than the "
        "`httpx2-async` floor, which reads through httpcore2 on anyio (a cancel scope per read, h11 and four "
        "generator layers per chunk).  The sync client uses httpx2's transport: blocking reads have no such cost.",
        *_loop_bullets(r),
        "- By default a stream keeps every chunk in `stream.result.chunks`; a relay that only forwards tokens "
        "passes `keep_chunks=False`, which is what the SDKs do anyway.  The many-streams table shows both.",
        f"- httpx2's default pool holds {default_pool:,} connections: {streams} concurrent streams through one "
        f"default client would queue {max(streams - default_pool, 0)} of them.  The benchmark gives every other "
        f"client a pool of {POOL.max_connections:,} connections; ours runs as its README shows, on its default "
        f"client, whose pool holds {_LIMITS.max_connections:,}.",
        "",
    ]
    machine_lines = [f"- {key}: {value}" for key, value in m.items()]
    if load.get("start") and load.get("end"):
        machine_lines.append(
            f"- load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in load['start'])} at the start, "
            f"{', '.join(f'{x:.2f}' for x in load['end'])} at the end"
        )
    lines += [
        "## Machine",
        "",
        *machine_lines,
        "",
        "## Reproduce",
        "",
        "```sh",
        'python -m pip install -e ".[bench]"',
        "python -m bench              # every scenario; rewrites docs/benchmarks.* and README.md's Speed",
        "python -m bench --only 1,2   # some scenarios; --quick: tiny sizes, to check the harness; --help for more",
        "python -m bench --render docs/benchmarks.json   # the pages again from a saved run",
        "```",
        "",
        "Without the `bench` extra the SDK columns are left out and no chart is drawn.  Measure one stream of your "
        "own:",
        "",
        MEASURE_YOURSELF,
        "",
    ]
    return "\n".join(lines)


def headline_sentence(r: dict[str, Any]) -> str:
    s = r["scenarios"]
    ours = _get(s, "bulk", "ours", "us_per_chunk")
    if not ours:
        return ""
    bits = [f"Decoding a stream costs mistral-client {ours:.1f} µs of CPU per chunk"]
    for sdk in ("mistralai", "openai"):
        theirs = _get(s, "bulk", sdk, "us_per_chunk")
        if theirs:
            bits.append(f"{theirs / ours:,.0f}x less than {sdk} ({theirs:,.0f} µs)")
    sentence = bits[0] + (": " + " and ".join(bits[1:]) if len(bits) > 1 else "") + "."
    floor, trickle = _get(s, "trickle", "httpx2", "us_per_chunk"), _get(s, "trickle", "ours", "us_per_chunk")
    if floor and trickle:
        sentence += (
            f"  On a live-paced stream it costs {trickle / floor:.2f}x what plain httpx2 costs to read the bytes."
        )
    return sentence


def readme_speed(r: dict[str, Any]) -> str:
    """The README's speed paragraph, from the same run as docs/benchmarks.md."""
    s, z = r["scenarios"], r["sizes"]
    ours = _get(s, "bulk", "ours", "us_per_chunk")
    parts = []
    if ours:
        sdks = [
            f"{theirs / ours:,.0f}x less than {'the `mistralai` SDK' if sdk == 'mistralai' else '`openai`'}"
            for sdk in ("mistralai", "openai")
            if (theirs := _get(s, "bulk", sdk, "us_per_chunk"))
        ]
        parts.append(
            "On the same bytes from the same loopback server, decoding a stream costs mistral-client about "
            f"{ours:.1f} µs of CPU per chunk" + (": " + " and ".join(sdks) if sdks else "") + "."
        )
    floor, floor_async = (
        _get(s, "trickle", "httpx2", "us_per_chunk"),
        _get(s, "trickle", "httpx2-async", "us_per_chunk"),
    )
    sync, async_ = _get(s, "trickle", "ours", "us_per_chunk"), _get(s, "trickle", "ours-async", "us_per_chunk")
    if floor and sync:
        text = (
            f"On a live-paced stream (one event per read) the sync client costs {sync / floor:.1f}x what plain "
            "httpx2 spends just reading the bytes"
        )
        if floor_async and async_:
            text += (
                f", and the async client, on an HTTP/1.1 transport of its own, {async_ / floor_async:.1f}x what "
                "httpx2's async client spends"
            )
        parts.append(text + ".")
    uv, aio = _get(s, "many_uvloop", "ours"), _get(s, "many", "ours")
    if uv and aio:

        def spread(key: str, row: dict[str, Any]) -> str:
            runs = _one_runs(r, key, "ours")
            each = _each(row)
            return f"{_spread(row, 0)} µs over {runs} runs" if each and len(each) > 1 else f"median of {runs} runs"

        floor_uv, httpx2_uv = _get(s, "many_uvloop", "loop-floor"), _get(s, "many_uvloop", "httpx2")
        floor_aio = _get(s, "many", "loop-floor")
        text = (
            f"Relaying {z['many_streams']} streams at once, events {z['many_gap'] * 1e3:g} ms apart, it costs "
            f"{uv['us_per_chunk']:.0f} µs per chunk on uvloop ({spread('many_uvloop', uv)}"
        )
        text += f"; plain httpx2: {httpx2_uv['us_per_chunk']:.0f})" if httpx2_uv else ")"
        text += f" and {aio['us_per_chunk']:.0f} µs on the standard asyncio loop ({spread('many', aio)})"
        if floor_aio and floor_uv:
            text += (
                f", where the loop's own cost per event was {floor_aio['us_per_chunk']:.0f} µs (uvloop's: "
                f"{floor_uv['us_per_chunk']:.0f})"
            )
        if _falls_with_rate(s.get("many_rates")):
            text += "; these costs fall as events come closer together"
        parts.append(text + ".")
    parts.append(
        f"Method, every scenario, the spread and how to reproduce: [Benchmarks](docs/benchmarks.md) (the run of "
        f"{r['date']}, `python -m bench`)."
    )
    return _wrap(" ".join(parts))


def _falls_with_rate(rates: dict[str, Any] | None) -> bool:
    """True if, on every loop of the sweep, ours cost less per chunk at the shortest gap than at the longest."""
    if not rates:
        return False
    for by_gap in rates.values():
        gaps = sorted(by_gap, key=float)
        first, last = by_gap[gaps[0]].get("ours"), by_gap[gaps[-1]].get("ours")
        if not first or not last or first["us_per_chunk"] >= last["us_per_chunk"]:
            return False
    return True


def _wrap(text: str, width: int = 100) -> str:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def with_speed(readme: str, r: dict[str, Any]) -> str:
    """``readme`` with the paragraph between the speed markers rendered from ``r``."""
    start, end = readme.find(SPEED_START), readme.find(SPEED_END)
    if start < 0 or end < start or readme.count(SPEED_START) != 1:
        raise ValueError(f"README.md needs one {SPEED_START!r} followed by {SPEED_END!r}")
    return readme[: start + len(SPEED_START)] + "\n" + readme_speed(r) + "\n" + readme[end:]
