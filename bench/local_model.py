"""The local model's speed: load time, time to first token and tokens/s, on the engine and over HTTP.

    python bench/local_model.py [--runs 3] [--max-tokens 64] [--threads N] [--model-path GGUF] [--json FILE]

Needs the ``local-model`` extra.  Three measures, medians of ``--runs`` runs of the same request
(greedy, so every run writes the same tokens):

1. ``LlamaEngine`` alone: the prompt's evaluation plus the first token, then the tokens that follow.
2. Our streaming client against a ``LocalServer`` with that engine, over loopback HTTP: what a user
   of ``mistral-client chat --local`` sees (``StreamResult.time_to_first_token``, usage tokens).
Tokens/s counts the tokens after the first over the time after the first, so it is the decoding
rate, not diluted by the prompt.  Nothing here asserts a time; the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mistral_client import Mistral, user
from mistral_client.server import Finish, LlamaEngine, LocalServer, Prompt, ServerConfig, local_model_missing

MODEL = "mistral-small-latest"
MESSAGES = [user("Write a short story about a lighthouse keeper and her cat.")]


def engine_run(engine: LlamaEngine, max_tokens: int) -> dict[str, float]:
    prompt = Prompt(model=MODEL, messages=MESSAGES, max_tokens=max_tokens, temperature=0)
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    for item in engine.generate(prompt):
        if first is None:
            first = time.perf_counter() - start
        if isinstance(item, Finish):
            tokens = item.completion_tokens or 0
    total = time.perf_counter() - start
    assert first is not None
    return {"ttft_s": first, "tokens": tokens, "tokens_per_s": (tokens - 1) / (total - first) if tokens > 1 else 0.0}


def http_run(base_url: str, max_tokens: int) -> dict[str, float]:
    with Mistral(base_url=base_url) as client:
        result = client.chat.stream_collect(model=MODEL, messages=MESSAGES, max_tokens=max_tokens, temperature=0)
    ttft, total = result.time_to_first_token, result.total_latency
    assert ttft is not None and total is not None and result.usage is not None
    tokens = result.usage.completion_tokens
    return {"ttft_s": ttft, "tokens": tokens, "tokens_per_s": (tokens - 1) / (total - ttft) if tokens > 1 else 0.0}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: half the cores)")
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    missing = local_model_missing(args.model_path)
    if missing is not None:
        print(f"local_model.py: {missing}", file=sys.stderr)
        return 2

    start = time.perf_counter()
    with LlamaEngine(args.model_path, threads=args.threads) as engine:
        load = time.perf_counter() - start
        engine_run(engine, 4)  # warm the caches once
        direct = medians([engine_run(engine, args.max_tokens) for _ in range(args.runs)])
        with LocalServer(config=ServerConfig(engine=engine)) as server:
            over_http = medians([http_run(server.base_url, args.max_tokens) for _ in range(args.runs)])
        name = engine.model_name

    results: dict[str, Any] = {
        "model": name,
        "cores": os.cpu_count(),
        "threads": args.threads or max(1, (os.cpu_count() or 2) // 2),
        "max_tokens": args.max_tokens,
        "runs": args.runs,
        "load_s": load,
        "engine": direct,
        "http": over_http,
    }
    print(f"{name}: loaded in {load * 1000:.0f} ms ({results['threads']} threads, {os.cpu_count()} cores)")
    for label, row in (("engine", direct), ("client over HTTP", over_http)):
        print(
            f"  {label:17} time to first token {row['ttft_s'] * 1000:7.1f} ms   "
            f"{row['tokens_per_s']:6.1f} tokens/s   ({row['tokens']:.0f} tokens)"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
