"""What a stream's result holds with ``keep_chunks=False``, and what it costs per chunk.

    python -m bench.keep_chunks [--quick]

A relay passes ``keep_chunks=False`` so that a long stream does not hold every chunk.  This feeds
the decoding core (bytes -> events -> chunks -> result, no I/O) with 10,000 and 100,000 chunks of
a Mistral-like stream (``bench.wire``), hands each chunk out and drops it, as a relay does, then:

- memory: what the result still holds (``tracemalloc``: bytes allocated by the run and still
  alive), beside the size of its text as one string; the difference is the cost of holding the
  text in pieces.  Flat means that difference does not grow with the number of chunks.
- CPU: process time per chunk, marginal between the two sizes (medians of a few runs), for
  ``keep_chunks=False`` and for the default.

It prints numbers and judges none of them.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from typing import Any

from bench.wire import chunk_events
from mistral_client._pipeline.decoding import ChunkDecoder

READ = 64 * 1024


def _reads(n: int) -> list[bytes]:
    body = b"".join(chunk_events(n))
    return [body[i : i + READ] for i in range(0, len(body), READ)]


def _run(reads: list[bytes], keep_chunks: bool) -> ChunkDecoder:
    decoder = ChunkDecoder(time.perf_counter(), keep_chunks=keep_chunks)
    deliver = decoder.deliver
    for data in reads:
        for chunk in decoder.feed(data):
            deliver(chunk)
            chunk.content  # noqa: B018 - read the text, as a relay does
    return decoder


def memory(reads: list[bytes], n: int, keep_chunks: bool) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        decoder = _run(reads, keep_chunks)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    result = decoder.result
    assert result.chunk_count == n, result.chunk_count
    text = sys.getsizeof(result.content)  # the text as one string, which the result must hold anyway
    return {"held_bytes": held, "text_bytes": text, "beyond_text_bytes": held - text}


def cpu(reads: dict[int, list[bytes]], keep_chunks: bool, reps: int) -> float:
    """Process-time microseconds per chunk, marginal between the two sizes."""
    small, large = sorted(reads)
    times: dict[int, list[float]] = {small: [], large: []}
    for _ in range(reps):
        for n in (small, large):
            gc.collect()
            start = time.process_time()
            _run(reads[n], keep_chunks)
            times[n].append(time.process_time() - start)
    return (statistics.median(times[large]) - statistics.median(times[small])) / (large - small) * 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.keep_chunks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    parser.add_argument("--reps", type=int, default=5, help="runs per size for the CPU figure (median)")
    args = parser.parse_args(argv)
    sizes = (200, 2_000) if args.quick else (10_000, 100_000)
    reps = 1 if args.quick else args.reps
    reads = {n: _reads(n) for n in sizes}
    out: dict[str, Any] = {"memory": {}, "cpu_us_per_chunk": {}}
    for keep in (False, True):
        name = f"keep_chunks={keep}"
        out["memory"][name] = {str(n): memory(reads[n], n, keep) for n in sizes}
        out["cpu_us_per_chunk"][name] = cpu(reads, keep, reps)

    small, large = (str(n) for n in sizes)
    print(f"{'':18} {'chunks':>8} {'held':>12} {'text':>12} {'beyond text':>12} {'per chunk':>10}")
    for name, by_size in out["memory"].items():
        for n, m in by_size.items():
            per = m["beyond_text_bytes"] / int(n)
            print(
                f"{name:18} {n:>8} {m['held_bytes']:>12,} {m['text_bytes']:>12,} "
                f"{m['beyond_text_bytes']:>12,} {per:>9.1f}B"
            )
        grow = by_size[large]["beyond_text_bytes"] - by_size[small]["beyond_text_bytes"]
        print(f"{name:18} beyond the text, {grow / (int(large) - int(small)):.2f} bytes per extra chunk")
    for name, us in out["cpu_us_per_chunk"].items():
        print(f"{name:18} CPU {us:.3f} us per chunk (median of {reps})")
    return out


if __name__ == "__main__":
    main()
