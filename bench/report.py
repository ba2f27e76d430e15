"""From the numbers of a run to markdown tables, docs/benchmarks.md and the chart."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import httpx2
import msgspec

MiB = 1024 * 1024
TARGETS_TITLE = "Targets (issue 5)"


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


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, whether it holds) for every target of the issue that was run."""
    s = r["scenarios"]
    out: list[tuple[str, str, bool | None]] = []

    def check(label: str, measured: str, ok: bool | None) -> None:
        out.append((label, measured, ok))

    ours_bulk = max(
        (
            v
            for v in (_get(s, "bulk", "ours", "us_per_chunk"), _get(s, "bulk", "ours-async", "us_per_chunk"))
            if v is not None
        ),
        default=None,
    )
    if ours_bulk is not None:
        check("bulk: <= 5 µs per chunk (sync and async)", f"{ours_bulk:.2f} µs", ours_bulk <= 5)
        for sdk, times in (("mistralai", 100), ("openai", 20)):
            theirs = _get(s, "bulk", sdk, "us_per_chunk")
            ours = _get(s, "bulk", "ours", "us_per_chunk")
            if theirs is not None and ours:
                check(f"bulk: >= {times}x cheaper than {sdk}", f"{theirs / ours:,.0f}x", theirs / ours >= times)
    floor = _get(s, "trickle", "httpx2", "us_per_chunk")
    for name in ("ours", "ours-async"):
        ours = _get(s, "trickle", name, "us_per_chunk")
        base = floor if name == "ours" else _get(s, "trickle", "httpx2-async", "us_per_chunk") or floor
        if ours is not None and base:
            which = "sync" if name == "ours" else "async"
            check(f"trickle ({which}): <= 1.5x the plain httpx2 floor", f"{ours / base:.2f}x", ours / base <= 1.5)
    for key, loop in (("many", "asyncio"), ("many_uvloop", "uvloop")):
        many, floor_many = _get(s, key, "ours"), _get(s, key, "loop-floor", "us_per_chunk")
        if many:
            us = many["us_per_chunk"]
            shown = f"{us:.1f} µs" + (f" (the loop alone: {floor_many:.1f})" if floor_many else "")
            check(f"200 streams ({loop} loop): <= 20 µs per chunk", shown, us <= 20)
            check(
                f"200 streams ({loop} loop): peak memory <= 60 MiB",
                f"{many['peak_rss_mib']:.0f} MiB",
                many["peak_rss_mib"] <= 60,
            )
    ours, floor_cold = _get(s, "cold", "ours"), _get(s, "cold", "httpx2")
    if ours and floor_cold:
        ratio = ours["wall_ms"] / floor_cold["wall_ms"]
        check("cold start: <= 1.3x plain httpx2 wall time", f"{ratio:.2f}x", ratio <= 1.3)
        check("cold start: <= 35 MiB peak", f"{ours['peak_rss_mib']:.1f} MiB", ours["peak_rss_mib"] <= 35)
    for name, floor_name in (("ours", "httpx2"), ("ours-async", "httpx2-async")):
        mine, base_t = _get(s, "ttfc", name, "client_ms"), _get(s, "ttfc", floor_name, "client_ms")
        if base_t is None:
            base_t = _get(s, "ttfc", "httpx2", "client_ms")
        if mine is not None and base_t is not None:
            added = mine - base_t
            check(f"time to first chunk ({name}): <= 1 ms added over httpx2", f"{added:+.2f} ms", added <= 1)
    for way in ("ours close", "ours-async aclose", "ours-async task cancel"):
        ms = _get(s, "cancel", way, "ms")
        if _get(s, "cancel", way) is not None:
            check(
                f"cancellation ({way}): seen by the server <= 10 ms",
                _fmt(ms, 2) + " ms",
                ms is not None and ms <= 10,
            )
    return out


def markdown(r: dict[str, Any]) -> str:
    """Every table of a run."""
    s, z = r["scenarios"], r["sizes"]
    parts: list[str] = []
    if r.get("quick"):
        parts.append("**--quick: tiny sizes that only check the harness runs; these numbers mean nothing.**")
    rows = [[label, measured, "yes" if ok else "**no**"] for label, measured, ok in targets(r)]
    if rows:
        parts += [f"### {TARGETS_TITLE}", _table(["target", "measured", "holds"], rows)]

    if "bulk" in s or "trickle" in s:
        order = ("ours", "ours-async", "ours-core", "httpx2", "httpx2-async", "httpx2+json", "openai", "mistralai")
        present = {**s.get("bulk", {}), **s.get("trickle", {})}
        clients = [c for c in order if c in present]
        labels = {"ours-core": "ours, decoding core alone (no I/O)"}
        head = ["client", "bulk µs/chunk", "bulk vs ours", "trickle µs/chunk", "trickle vs httpx2"]
        table = []
        for c in clients:
            b, t = _get(s, "bulk", c, "us_per_chunk"), _get(s, "trickle", c, "us_per_chunk")
            table.append(
                [
                    labels.get(c, c),
                    _fmt(b, 2),
                    _ratio(b, _get(s, "bulk", "ours", "us_per_chunk")),
                    _fmt(t, 2),
                    _ratio(t, _get(s, "trickle", "httpx2", "us_per_chunk")),
                ]
            )
        (a, b) = z["bulk"]
        note = (
            f"Client CPU per chunk, marginal between streams of {a:,} and {b:,} chunks (so the cost of the call itself "
            f"drops out); medians of {z['reps']} runs.  Bulk: the server writes the whole body at once.  Trickle: "
            f"each event in its own write and HTTP chunk, at least {z['trickle_gap'] * 1e6:.0f} µs apart (streams "
            f"of {z['trickle'][0]:,} and {z['trickle'][1]:,})"
        )
        reads, pace = _get(s, "trickle", "_reads_per_event"), _get(s, "trickle", "_us_between_events")
        if reads is not None and pace is not None:
            note += f"; events came {pace:.0f} µs apart and the floor made {reads:.2f} reads per event"
        note += (
            ".  The decoding core alone is fed the same bytes in 64 KiB reads (bulk) or one event a read (trickle): "
            "the rest of a client's cost is the HTTP layer's"
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
            table.append(
                [
                    labels.get(c, c),
                    _fmt(v["us_per_chunk"], 1),
                    _ratio(v["us_per_chunk"], s[key].get("ours", {}).get("us_per_chunk")),
                    _fmt(v["wall_s"], 2),
                    _fmt(v["peak_rss_mib"], 0),
                    _fmt(v["added_rss_mib"], 1),
                ]
            )
        note = (
            f"{z['many_streams']} concurrent async streams of {z['many_chunks']} chunks through one client "
            f"(each client in a fresh process, on the {loop} event loop), events {z['many_gap'] * 1e3:g} ms apart "
            f"in each stream; whole-run CPU divided by all chunks, medians of {z['many_reps']} runs.  Peak RSS is "
            'the whole process; "added" is above the process after import, client construction and one stream.  '
            "A relay passes `keep_chunks=False` (the SDKs keep nothing either); by default "
            f"`stream.result.chunks` holds every chunk, here all {z['many_streams'] * z['many_chunks']:,} typed "
            f"chunks at once.  *{loop} alone* opens the same connections with an asyncio `Protocol` that only "
            "counts reads: the event loop's own cost per event, under every client on that loop."
        )
        parts += [
            "### 3. Many streams" + (" (uvloop)" if loop == "uvloop" else ""),
            note,
            _table(["client", "µs/chunk", "vs ours", "wall s", "peak RSS MiB", "added MiB"], table),
        ]

    if "cold" in s:
        floor_cold = s["cold"].get("httpx2", {})
        table = []
        for c, v in s["cold"].items():
            table.append(
                [
                    c,
                    _fmt(v["wall_ms"], 0),
                    _ratio(v["wall_ms"], floor_cold.get("wall_ms")),
                    _fmt(v["import_wall_ms"], 0),
                    _fmt(v["peak_rss_mib"], 1),
                ]
            )
        python_ms = next(iter(s["cold"].values()))["python_wall_ms"]
        note = (
            f"A new process that imports the client, builds it and streams {z['cold_chunks']} chunks; wall time "
            f"from spawn to exit, medians of {z['cold_reps']} runs (an empty `python -c pass` takes "
            f'{python_ms:.0f} ms).  "import" is a process that only imports the library.'
        )
        parts += [
            "### 4. Cold start",
            note,
            _table(["client", "wall ms", "vs httpx2", "import ms", "peak RSS MiB"], table),
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
            f"connection, medians of {z['ttfc_reps']} runs.  The server stamps the chunk id with when the request "
            'arrived and when it sent the first event: "request" is from the call to the server reading the request, '
            '"delivery" from the server\'s write to the chunk in the caller\'s hands, and "client" is the time to the '
            "first chunk minus the server's own wait, the part the client is responsible for."
        )
        head = ["client", "first chunk ms", "request ms", "delivery ms", "client ms", "added over httpx2 ms"]
        parts += ["### 5. Time to first chunk", note, _table(head, table)]

    if "cancel" in s:
        table = [[way, _fmt(v["ms"], 2), str(v["missed"])] for way, v in s["cancel"].items()]
        note = (
            f"A stream of events {z['cancel_gap'] * 1e3:g} ms apart; after the third chunk the client closes it (or "
            "the task reading it is cancelled).  Time from that call to the server seeing the socket closed (both "
            "stamped with `time.monotonic_ns`, one clock for all processes), medians of "
            f'{z["cancel_reps"]} runs; "missed": the server saw no close within 60 s.'
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
        note = (
            f"One event fed in {z['large_read']:,}-byte reads; CPU milliseconds per MiB of event (constant when "
            f'linear), medians of {z["large_reps"]} runs.  "ours (SSE + chunk)" is the whole decoding core, with the '
            "default 16 MiB event cap, up to the typed chunk."
        )
        parts += ["### 7. Large events", note, _table(head, table)]
    return "\n\n".join(parts) + "\n"


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
        for key, label in (("bulk", "bulk"), ("trickle", "trickle"), ("many", "200 concurrent"))
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


def document(r: dict[str, Any], tables: str, chart_name: str | None) -> str:
    m = r["machine"]
    headline = headline_sentence(r)
    lines = [
        "# Benchmarks",
        "",
        "mistral-client against the official SDKs (`mistralai`, `openai`) and plain httpx2, all reading the same bytes "
        "from the same loopback server in the same run.  Generated by `python -m bench`; the numbers below are from "
        f"the run of {r['date']}.",
        "",
    ]
    if headline:
        lines += [headline, ""]
    lines += [
        "## How it measures",
        "",
        "- The server (`bench/server.py`) runs in a process of its own and sends pre-encoded streams in the 2026 wire "
        "format (`p` padding, a role chunk, content chunks with non-ASCII text, a last chunk with usage, `[DONE]`), in "
        "HTTP chunked framing; it is a plain socket server, so it is never what limits a client.",
        "- Client cost is the CPU time of the client process (`time.process_time`), not wall time: the machine "
        "these numbers come from is shared (2 cores, other jobs running), and CPU time is what a busy machine "
        "disturbs least.",
        "- CPU per chunk is the marginal cost between a short and a long stream, so the fixed cost of a call "
        "(connection, request, headers) drops out.  Each repetition runs every client in turn, so a machine that gets "
        "busier slows them alike; tables show medians, and ratios are taken within the same run.",
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
    lines += [
        "## Reading the results",
        "",
        "- On a live-paced stream most of any client's CPU is the HTTP layer and the event loop, which handle "
        "every read, one event each: compare a client with the `httpx2` floor rather than with zero.  The "
        "decoding core alone, fed the same bytes without I/O, is the part that is ours, measured warm; between "
        "two reads of a live stream the caches go cold, and the same work costs more.",
        "- The async client runs on an HTTP/1.1 transport of its own (`_http11.py`): asyncio sockets, h11 for "
        "the response head, its own chunked-body decoder and pool.  That is why it can cost less than the "
        "`httpx2-async` floor, which reads through httpcore2 on anyio (a cancel scope per read, h11 and four "
        "generator layers per chunk).  The sync client uses httpx2's transport: blocking reads have no such cost.",
        "- With 200 streams, each event costs the event loop itself a wakeup: the *asyncio alone* row opens the "
        "same connections with a `Protocol` that only counts reads.  On this machine the standard loop spends "
        "about 20-25 µs per event before any client code runs, more than the 20 µs target, so no client meets "
        "it there.  uvloop, which uvicorn uses when it is installed, spends about 6 µs; the target is met there.",
        "- The server writes all paced streams from one thread that keeps each stream's own phase.  Before, a "
        "thread per stream slept between events: with 200 streams that server used more than one of the two "
        "cores, the streams took twice their 2.5 s, and events bunched up, which made every client look cheaper "
        "per chunk than it is with a server that keeps pace.",
        "- By default a stream keeps every chunk in `stream.result.chunks`; a relay that only forwards tokens "
        "passes `keep_chunks=False`, which is what the SDKs do anyway.  The many-streams table shows both.",
        "- httpx2's default pool holds 100 connections: 200 concurrent streams through one default client would "
        "queue half of them.  The benchmark gives every other client a pool of 1,000 connections; ours runs "
        "as its README shows, on its default client, whose pool holds 1,000.",
        "",
    ]
    lines += [
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in m.items()),
        "",
        "## Reproduce",
        "",
        "```sh",
        'python -m pip install -e ".[bench]"',
        "python -m bench              # every scenario; prints the tables, rewrites docs/benchmarks.md and .png",
        "python -m bench --only 1,2   # some scenarios; --quick: tiny sizes, to check the harness; --help for more",
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
