"""``python -m bench``: run the scenarios, print the tables, write docs/benchmarks.md and the chart.

Scenarios: 1 bulk, 2 trickle, 3 many streams (on asyncio and uvloop, then at other event rates),
4 cold start, 5 time to first chunk, 6 cancellation, 7 large events, 8 conversation streams, 9 bulk runs (the
runner's direct engine), 10 OpenTelemetry (off, API only, SDK, and the SDK's own floor).  ``--quick`` runs each
at a tiny size (what CI does, to keep the harness working); its numbers mean nothing.

The run's numbers go to docs/benchmarks.json; docs/benchmarks.md, its chart and the README's speed
paragraph are rendered from them (``--render`` renders them again from a saved run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import bulk, conversations, report, scenarios, telemetry
from bench.server import ROOT, ServerProcess

SCENARIOS = {
    1: "bulk",
    2: "trickle",
    3: "many",
    4: "cold",
    5: "ttfc",
    6: "cancel",
    7: "large",
    8: "conversations",
    9: "bulk_runner",
    10: "telemetry",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    parser.add_argument("--only", default="", help="scenario numbers to run, e.g. 1,2 (default: all)")
    parser.add_argument("--reps", type=int, help="repetitions of scenarios 1 and 2 (median reported)")
    parser.add_argument(
        "--many-reps",
        type=int,
        metavar="K",
        help=f"runs of each scenario 3 row (default {scenarios.Sizes().many_reps})",
    )
    parser.add_argument("--clients", help="comma-separated clients (default: all installed)")
    parser.add_argument(
        "--out", type=Path, help="where to write benchmarks.md/.png/.json (default: docs/, or nowhere with --quick)"
    )
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="rewrite the page, the chart and README's Speed from a saved run"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    sizes = scenarios.QUICK if args.quick else scenarios.Sizes()
    if args.reps:
        sizes = dataclasses.replace(sizes, reps=args.reps)
    if args.many_reps:
        sizes = dataclasses.replace(sizes, many_reps=args.many_reps)
    if args.clients:
        sizes = dataclasses.replace(sizes, clients=tuple(args.clients.split(",")))
    chosen = [SCENARIOS[int(n)] for n in args.only.split(",") if n.strip()] or list(SCENARIOS.values())
    out = args.out if args.out is not None else (None if args.quick else ROOT / "docs")
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        write(results, out or ROOT / "docs")
        return results

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "machine": report.machine(),
        "sizes": dataclasses.asdict(sizes),
        "proxy_variables_removed": scenarios.without_proxies(),
        "load": {"start": _load()},
        "scenarios": {},
    }
    done = results["scenarios"]

    def step(name: str, fn: Callable[[], Any], key: str | None = None) -> None:
        if name not in chosen:
            return
        key = key or name
        start = time.perf_counter()
        print(f"[bench] {key}...", file=sys.stderr, flush=True)
        done[key] = fn()
        print(f"[bench] {key} took {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    with ServerProcess() as base:
        clients = scenarios.Clients(base, sizes.clients)
        try:
            step("bulk", lambda: scenarios.bulk(clients, sizes))
            step("trickle", lambda: scenarios.trickle(clients, base, sizes))
            step("ttfc", lambda: scenarios.ttfc(clients, sizes))
            step("cancel", lambda: scenarios.cancellation(clients, base, sizes))
        finally:
            clients.close()
        loops = ("asyncio", "uvloop") if scenarios.has_uvloop() else ("asyncio",)
        step("many", lambda: scenarios.many(base, sizes))
        if "uvloop" in loops:
            step("many", lambda: scenarios.many(base, sizes, "uvloop"), key="many_uvloop")
        step("many", lambda: scenarios.many_rates(base, sizes, loops), key="many_rates")
        step("cold", lambda: scenarios.cold_start(base, sizes))
        step("conversations", lambda: conversations.scenario(base, sizes))
        step("telemetry", lambda: telemetry.scenario(base, sizes))
    step("large", lambda: scenarios.large(sizes))
    step("bulk_runner", lambda: bulk.scenario(sizes))
    results["load"]["end"] = _load()

    if out is not None:
        write(results, out)
    else:
        print(report.markdown(results))
    return results


def _load() -> list[float] | None:
    """The 1, 5 and 15-minute load averages: how busy the machine was around the run."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write(results: dict[str, Any], out: Path) -> None:
    """Print the tables; write benchmarks.md, .json and (with matplotlib) .png into ``out``.

    Written into the repository's docs/, the README's speed paragraph is rendered from the same run.
    """
    tables = report.markdown(results)
    print(tables)
    out.mkdir(parents=True, exist_ok=True)
    drawn = report.chart(results, out / "benchmarks.png")
    page = report.document(results, tables, "benchmarks.png" if drawn else None)
    (out / "benchmarks.md").write_text(page, encoding="utf-8")
    json_path = out / "benchmarks.json"
    if not json_path.exists() or json.loads(json_path.read_text(encoding="utf-8")) != results:
        json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    wrote = [str(out / "benchmarks.md")] + (["the chart"] if drawn else [])
    if out.resolve() == (ROOT / "docs").resolve() and not results.get("quick"):
        readme = ROOT / "README.md"
        readme.write_text(report.with_speed(readme.read_text(encoding="utf-8"), results), encoding="utf-8")
        wrote.append(str(readme))
    print("wrote " + ", ".join(wrote), file=sys.stderr)
