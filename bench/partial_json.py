"""What ``stream.partial_json()`` costs per chunk, against jiter's partial mode re-parsing each prefix.

    python -m bench.partial_json [--quick] [--json docs/partial-json.json]

A progressive UI reads the value after every chunk.  This feeds a structured answer of about 29 KB
(an object with a list of records: strings with escapes, ``\\u`` sequences and surrogate pairs,
integers, floats with exponents, literals) in 5-character chunks to ``PartialJSON`` (what the
stream's ``partial_json()`` uses), reading ``value()`` after each, and measures:

- the whole stream: wall time for every chunk and value, ours against
  ``jiter.from_json(prefix, partial_mode="trailing-strings")`` on every same prefix (what
  openai-python does), in the same run, medians of a few runs;
- the cost of one call (feed 5 characters, read the value) at a 1 KB and a 30 KB prefix, on a
  longer answer of the same kind: flat means the second is not much more than the first;
- the same through the decoding pipeline (SSE events of 5 characters of content each, to chunks and
  the result), reading the value after each chunk as ``stream.partial_json()`` does, beside the
  decoding alone;
- on how many of the stream's prefixes the two values differ (the rule's documented differences).

It prints the numbers and writes them to docs/partial-json.json (not with ``--quick``); it judges
none of them: the targets are in the issue, and docs/streaming.md quotes the run.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jiter

from mistral_client._pipeline.decoding import ChunkDecoder
from mistral_client._pipeline.partial_json import PartialJSON

CHUNK = 5
STREAM_CHARS = 29_000
PREFIXES = (1_000, 30_000)
CALLS = 200  # calls timed at each prefix
OUT = Path(__file__).resolve().parents[1] / "docs" / "partial-json.json"

WORDS = ["river", "delta", "basin", "source", "tributary", "meander", "estuary", "bank", "flood", "plain"]
TEXTS = [
    'He said "go" \\ then stopped.',
    "caf\u00e9, na\u00efve, \u00fcber: accents",
    "emoji \U0001f600 and \U0001f30a outside the BMP",
    "tab\tnew line\nslash / done",
    "plain words for a while, nothing to escape here at all",
]


def answer(chars: int) -> str:
    """A structured answer of at least ``chars`` characters, the same for every run (ASCII: \\u escapes)."""
    rng = random.Random(20)
    items: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"title": "Rivers of the world", "summary": " ".join(TEXTS), "items": items}
    text = ""
    while len(text) < chars:
        items.append(
            {
                "id": len(items),
                "name": " ".join(rng.choices(WORDS, k=3)),
                "length_km": rng.randint(10, 7000),
                "flow": round(rng.uniform(-1, 1) * 10 ** rng.randint(-5, 5), 4),
                "ratio": float(f"{rng.uniform(1, 9):.3f}e-{rng.randint(1, 12)}"),
                "tags": rng.sample(WORDS, 3),
                "navigable": rng.random() < 0.5,
                "note": None,
                "description": rng.choice(TEXTS),
            }
        )
        text = json.dumps(doc)
    return text


def ours(text: str, cuts: list[int]) -> Any:
    parser = PartialJSON()
    feed, value = parser.feed, parser.value
    start = 0
    partial = None
    for cut in cuts:
        feed(text[start:cut])
        start = cut
        partial = value()
    return partial


def theirs(data: bytes, cuts: list[int]) -> Any:
    from_json = jiter.from_json
    partial = None
    for cut in cuts:
        partial = from_json(data[:cut], partial_mode="trailing-strings")
    return partial


def stream_events(text: str) -> list[bytes]:
    """The answer as the API streams it: one event per chunk of ``CHUNK`` characters."""
    head = {"id": "a", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [
        b"data: %s\n\n"
        % json.dumps({**head, "choices": [{"index": 0, "delta": {"content": text[i : i + CHUNK]}}]}).encode()
        for i in range(0, len(text), CHUNK)
    ]
    return [*events, b"data: [DONE]\n\n"]


def through_the_pipeline(events: list[bytes], reader: str) -> Any:
    """Decode the events, reading the value after each chunk as ``stream.partial_json()`` does (it reads
    ``result.content``, which joins the text, and feeds the parser what is new); another
    ``reader``: decoding alone."""
    decoder = ChunkDecoder(time.perf_counter())
    parser = PartialJSON()
    from_json = jiter.from_json
    partial = None
    for event in events:
        for chunk in decoder.feed(event):
            decoder.deliver(chunk)
            if reader == "ours":
                content = decoder.result.content
                if len(content) > parser.length:
                    parser.feed(content[parser.length :])
                partial = parser.value()
            elif reader == "jiter":
                partial = from_json(decoder.result.content.encode(), partial_mode="trailing-strings")
    return partial


def timed(fn: Any, *args: Any) -> float:
    gc.collect()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def per_call(text: str, prefix: int, reps: int) -> dict[str, float]:
    """Microseconds per call (5 more characters, then the value) at ``prefix``, ours and jiter's."""
    cuts = list(range(prefix + CHUNK, prefix + CHUNK * (CALLS + 1), CHUNK))
    data = text.encode()
    ours_us, theirs_us = [], []
    for _ in range(reps):
        parser = PartialJSON()
        parser.feed(text[:prefix])
        parser.value()
        gc.collect()
        start = time.perf_counter()
        fed = prefix
        for cut in cuts:
            parser.feed(text[fed:cut])
            fed = cut
            parser.value()
        ours_us.append((time.perf_counter() - start) / CALLS * 1e6)
        theirs_us.append(timed(theirs, data, cuts) / CALLS * 1e6)
    return {"ours": statistics.median(ours_us), "jiter": statistics.median(theirs_us)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.partial_json", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each: checks the harness, writes nothing")
    parser.add_argument("--reps", type=int, default=7, help="runs of each measure (median)")
    parser.add_argument("--json", type=Path, default=OUT, help="where to write the numbers")
    args = parser.parse_args(argv)
    reps = 1 if args.quick else args.reps

    text = answer(STREAM_CHARS)
    data = text.encode()
    assert len(data) == len(text)  # ASCII: a character is a byte, so both read the same prefixes
    cuts = [*range(CHUNK, len(text), CHUNK), len(text)]
    assert ours(text, cuts) == theirs(data, cuts) == json.loads(text)

    # Interleaved, so that both see the same load on the machine.
    stream: dict[str, list[float]] = {"ours": [], "jiter": []}
    for _ in range(reps):
        stream["ours"].append(timed(ours, text, cuts) * 1e3)
        stream["jiter"].append(timed(theirs, data, cuts) * 1e3)
    stream_ms = {name: statistics.median(times) for name, times in stream.items()}

    events = stream_events(text)
    assert through_the_pipeline(events, "ours") == through_the_pipeline(events, "jiter") == json.loads(text)
    pipeline: dict[str, list[float]] = {"decoding alone": [], "ours": [], "jiter": []}
    for _ in range(reps):
        for name in pipeline:
            pipeline[name].append(timed(through_the_pipeline, events, name) * 1e3)
    pipeline_ms = {name: statistics.median(times) for name, times in pipeline.items()}

    long_text = answer(max(PREFIXES) + CHUNK * (CALLS + 2))
    calls = {str(prefix): per_call(long_text, prefix, reps) for prefix in PREFIXES}
    small, large = (str(prefix) for prefix in PREFIXES)

    partial, differ = PartialJSON(), 0
    start = 0
    for cut in cuts:
        partial.feed(text[start:cut])
        start = cut
        differ += partial.value() != jiter.from_json(data[:cut], partial_mode="trailing-strings")

    out: dict[str, Any] = {
        "document_chars": len(text),
        "chunk_chars": CHUNK,
        "chunks": len(cuts),
        "reps": reps,
        "stream_ms": stream_ms,
        "stream_speedup": stream_ms["jiter"] / stream_ms["ours"],
        "pipeline_ms": pipeline_ms,
        "per_call_us": calls,
        "per_call_growth": calls[large]["ours"] / calls[small]["ours"],
        "prefixes_compared": len(cuts),
        "prefixes_differing": differ,
        "python": platform.python_version(),
        "jiter": version("jiter"),
    }
    print(f"{len(text):,}-character answer in {len(cuts):,} chunks of {CHUNK}, value after each (median of {reps})")
    print(f"  ours  {stream_ms['ours']:8.1f} ms   jiter {stream_ms['jiter']:8.1f} ms   {out['stream_speedup']:.1f}x")
    alone = pipeline_ms["decoding alone"]
    print(
        f"  through the decoding pipeline: decoding alone {alone:.1f} ms, with ours "
        f"{pipeline_ms['ours']:.1f} ms, with jiter {pipeline_ms['jiter']:.1f} ms"
    )
    for prefix, costs in calls.items():
        print(
            f"  one call at a {int(prefix):,}-character prefix: "
            f"ours {costs['ours']:.2f} us, jiter {costs['jiter']:.2f} us"
        )
    print(f"  ours at {int(large):,} / at {int(small):,}: {out['per_call_growth']:.2f}x")
    print(f"  values differing from jiter's: {differ} of {len(cuts):,} prefixes")
    if not args.quick:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
