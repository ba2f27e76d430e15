"""How much a hand-written bytes decoder saves over httpx2's str-based SSE parser.

Builds a Mistral-like chat stream (chunk events shaped as the live API sends them, with the random ``p``
padding, 200-300 bytes each) and reports the median cost per event over several repetitions of:

  (a) ``SSEDecoder`` fed 64 KiB reads                 vs  (b) httpx2 ``_SSEParser`` fed the same reads,
      decoded to str by an incremental UTF-8 decoder as ``EventSource`` does through ``iter_text``;
  (c) the same two when every read holds one event (a server that flushes after each token);
  (d) the same two with the JSON parse the client does next: ``msgspec.json.decode(event.raw)``
      after ours, ``json.loads(event.data)`` after httpx2's (plus httpx2 + msgspec on the str, to
      separate the gain of the JSON library from that of the SSE layer).

Run from the repository root:  PYTHONPATH=src python bench/sse_decoders.py [--quick]
No assertion on time: this prints numbers, it does not judge them.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import platform
import random
import statistics
import string
import sys
import time
from collections.abc import Callable

import msgspec
from httpx2._sse import _SSEParser

from mistral_client._pipeline.sse import SSEDecoder

READ_SIZE = 64 * 1024
WORDS = [
    " the", " of", " and", " to", " a", " in", " is", " that", " for", " it", " as", " with", " on",
    " stream", " event", " token", " model", " Mistral", " Paris", " réponse", " café", " naïve",
    " —", " 😀", " 中文", " données", "\n", ",", ".", " «", "»", " 1", "2", "3",
]  # fmt: skip
PAD_ALPHABET = string.ascii_letters + string.digits


def build_stream(n_events: int, seed: int = 0) -> bytes:
    """``n_events`` chunk events (role, content deltas, a final chunk with usage), then [DONE]."""
    rng = random.Random(seed)
    stream_id = "".join(rng.choices("0123456789abcdef", k=32))
    head = {"id": stream_id, "object": "chat.completion.chunk", "created": 1787865810}
    head["model"] = "mistral-small-latest"
    events = []
    for i in range(n_events):
        if i == 0:
            choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        elif i == n_events - 1:
            choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}
        else:
            content = "".join(rng.choices(WORDS, k=rng.randint(1, 3)))
            choice = {"index": 0, "delta": {"content": content}, "finish_reason": None}
        chunk: dict[str, object] = {**head, "choices": [choice]}
        if i == n_events - 1:
            chunk["usage"] = {"prompt_tokens": 19, "total_tokens": 19 + n_events, "completion_tokens": n_events}
        chunk["p"] = "".join(rng.choices(PAD_ALPHABET, k=rng.randint(4, 64)))
        events.append(b"data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


# --- the pipelines under test: each returns how many events it produced ---


def ours(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    n = 0
    for read in reads:
        n += len(decoder.feed(read))
    n += len(decoder.end())
    return n


def theirs(reads: list[bytes]) -> int:
    parser = _SSEParser()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    n = 0
    for read in reads:
        for _ in parser.decode(text.decode(read)):
            n += 1
    for _ in parser.decode(text.decode(b"", final=True)):
        n += 1
    for _ in parser.flush():
        n += 1
    return n


def ours_msgspec(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    decode = msgspec.json.decode
    n = 0
    for read in reads:
        for event in decoder.feed(read):
            if event.raw != b"[DONE]":
                decode(event.raw)
            n += 1
    return n


def _theirs_then(reads: list[bytes], loads: Callable[[str], object]) -> int:
    parser = _SSEParser()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    n = 0
    for read in reads:
        for event in parser.decode(text.decode(read)):
            if event.data != "[DONE]":
                loads(event.data)
            n += 1
    return n


def theirs_json(reads: list[bytes]) -> int:
    return _theirs_then(reads, json.loads)


def theirs_msgspec(reads: list[bytes]) -> int:
    return _theirs_then(reads, msgspec.json.decode)


def _timed(fn: Callable[[list[bytes]], int], reads: list[bytes], n_events: int) -> float:
    gc.collect()
    start = time.perf_counter()
    got = fn(reads)
    elapsed = time.perf_counter() - start
    if got != n_events:
        sys.exit(f"{fn.__name__} produced {got} events, expected {n_events}")
    return elapsed


def median_us_per_event(
    fns: tuple[Callable[[list[bytes]], int], ...], reads: list[bytes], n_events: int, reps: int
) -> list[float]:
    """Median µs per event of each of ``fns``; they take turns, so a busy machine slows them alike."""
    for fn in fns:
        fn(reads)  # warm-up, not timed
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, t in zip(fns, times, strict=True):
            t.append(_timed(fn, reads, n_events))
    return [statistics.median(t) / n_events * 1e6 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (500 events, 3 repetitions)")
    parser.add_argument("--events", type=int, help="chunk events in the stream (default 20000)")
    parser.add_argument("--reps", type=int, help="repetitions; the median is reported (default 11)")
    args = parser.parse_args()
    n_chunks = args.events or (500 if args.quick else 20_000)
    reps = args.reps or (3 if args.quick else 11)

    stream = build_stream(n_chunks)
    n_events = n_chunks + 1  # and [DONE]
    big_reads = [stream[i : i + READ_SIZE] for i in range(0, len(stream), READ_SIZE)]
    one_event_reads = [event + b"\n\n" for event in stream.split(b"\n\n")[:-1]]
    assert b"".join(one_event_reads) == stream and len(one_event_reads) == n_events

    sizes = [len(r) for r in one_event_reads[:-1]]
    print(
        f"Python {platform.python_version()} ({platform.machine()}), httpx2 _SSEParser vs SSEDecoder; "
        f"{n_chunks} chunk events + [DONE], {len(stream) / 1e6:.1f} MB, event size {min(sizes)}-{max(sizes)} "
        f"bytes (mean {statistics.mean(sizes):.0f}); median of {reps} runs\n"
    )

    rows = [
        ("(a)/(b) SSE only, 64 KiB reads", ours, theirs, big_reads),
        ("(c) SSE only, one event per read", ours, theirs, one_event_reads),
        ("(d) SSE + JSON, 64 KiB reads (msgspec on raw / json.loads on str)", ours_msgspec, theirs_json, big_reads),
        ("(d') SSE + JSON, 64 KiB reads (msgspec on raw / msgspec on str)", ours_msgspec, theirs_msgspec, big_reads),
    ]
    print("| case | SSEDecoder µs/event | httpx2 µs/event | httpx2 / ours |")
    print("|---|---:|---:|---:|")
    for label, a, b, reads in rows:
        t_ours, t_theirs = median_us_per_event((a, b), reads, n_events, reps)
        print(f"| {label} | {t_ours:.2f} | {t_theirs:.2f} | {t_theirs / t_ours:.1f}x |")


if __name__ == "__main__":
    main()
