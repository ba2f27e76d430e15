"""Scenario 8: a conversation stream (named events), beside our chat stream and ``mistralai``'s ``start_stream``.

The bench server sends ``x-bench-n`` events for ``POST /v1/conversations`` as it sends chat chunks
for ``/v1/chat/completions``: ``conversation.response.started``, ``n - 2`` ``message.output.delta``
events with the chat stream's words, ``conversation.response.done`` with usage, in one write.  Each
client reads the whole stream and each event's text, as a caller relaying tokens would; the figure
is its marginal CPU per event between two sizes, as in scenario 1.  Targets (issue 15): ours at
most ``CHAT_TARGET`` times our chat cost per event, and ``SDK_TARGET`` times cheaper than mistralai.

    python -m bench.conversations [--sizes 200,2000] [--reps 3]   # this scenario alone
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from bench.wire import MODEL, WORDS, bulk_body

CHAT_TARGET = 2.0  # at most this many times our chat cost per event
SDK_TARGET = 20.0  # at least this many times cheaper than mistralai
CONVERSATION_ID = "conv_bench"


def conversation_events(n: int, seed: int = 0) -> list[bytes]:
    """``n`` named events: started, ``n - 2`` message deltas shaped as the live service's, done."""
    if n < 2:
        raise ValueError("a turn has at least its started and done events")
    rng = random.Random(seed)
    created = "2026-11-30T01:00:00.000000Z"
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "conversation.response.started",
            {"type": "conversation.response.started", "created_at": created, "conversation_id": CONVERSATION_ID},
        )
    ]
    for _ in range(n - 2):
        delta = {
            "type": "message.output.delta",
            "created_at": created,
            "output_index": 0,
            "id": "msg_0123456789abcdef0123456789abcdef",
            "content_index": 0,
            "model": MODEL,
            "agent_id": None,
            "role": "assistant",
            "content": "".join(rng.choices(WORDS, k=rng.randint(1, 3))),
        }
        events.append(("message.output.delta", delta))
    usage = {"prompt_tokens": 19, "completion_tokens": n - 2, "total_tokens": 19 + n - 2}
    events.append(
        ("conversation.response.done", {"type": "conversation.response.done", "created_at": created, "usage": usage})
    )
    return [
        f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
        for name, data in events
    ]


@lru_cache(maxsize=16)
def conversation_body(n: int) -> bytes:
    """The whole chunked body of ``n`` events, packed as the chat streams of scenario 1 are."""
    return bulk_body(conversation_events(n))


# --- the clients: each reads a whole stream and every event's text; returns how many events --------


def _ours_chat(client: Any, n: int) -> int:
    with client.chat.stream(
        model=MODEL, messages=[{"role": "user", "content": "bench"}], extra_headers=_headers(n)
    ) as s:
        for chunk in s:
            chunk.content  # noqa: B018 - read the text, as every client does
    return s.result.chunk_count + 1  # and [DONE], which is an event on the wire too


def _ours(client: Any, n: int) -> int:
    with client.conversations.start_stream("bench", model=MODEL, extra_headers=_headers(n)) as stream:
        for event in stream:
            getattr(event, "content", None)
    return stream.result.event_count


async def _ours_async(client: Any, n: int) -> int:
    async with client.conversations.start_stream("bench", model=MODEL, extra_headers=_headers(n)) as stream:
        async for event in stream:
            getattr(event, "content", None)
    return stream.result.event_count  # type: ignore[no-any-return]


def _mistralai(client: Any, n: int) -> int:
    count = 0
    with client.beta.conversations.start_stream(inputs="bench", model=MODEL, http_headers=_headers(n)) as events:
        for event in events:
            getattr(event.data, "content", None)
            count += 1
    return count


def _headers(n: int) -> dict[str, str]:
    return {"x-bench-n": str(n), "x-bench-mode": "bulk"}


def run(base: str, sizes: tuple[int, int], reps: int, sdk_reps: int) -> dict[str, Any]:
    """µs of client CPU per event for each client (the median of ``reps`` runs, ``sdk_reps`` for the SDK)."""
    import importlib.util

    from mistral_client import AsyncMistral, Mistral

    loop = asyncio.new_event_loop()
    ours, ours_async = Mistral(base_url=base), AsyncMistral(base_url=base)
    readers: dict[str, Callable[[int], int]] = {
        "ours chat": lambda n: _ours_chat(ours, n),
        "ours": lambda n: _ours(ours, n),
        "ours-async": lambda n: loop.run_until_complete(_ours_async(ours_async, n)),
    }
    sdk = None
    if importlib.util.find_spec("mistralai") is not None:
        from mistralai.client import Mistral as MistralAI

        sdk = MistralAI(api_key="bench", server_url=base)
        readers["mistralai"] = lambda n: _mistralai(sdk, n)
    small, large = sizes
    times: dict[str, dict[int, list[float]]] = {name: {small: [], large: []} for name in readers}
    try:
        for read in readers.values():  # warm-up: connections, caches, lazy imports
            read(small)
        for rep in range(reps):
            order = list(readers) if rep % 2 == 0 else list(reversed(readers))
            for name in order:
                if name == "mistralai" and rep >= sdk_reps:
                    continue
                for n in sizes:
                    gc.collect()
                    start = time.process_time()
                    got = readers[name](n)
                    times[name][n].append(time.process_time() - start)
                    # Every client must have read every event, or its figure means nothing.
                    expected = n + 1 if name == "ours chat" else n
                    if got != expected:
                        raise RuntimeError(f"{name} read {got} events of {expected}")
    finally:
        ours.close()
        loop.run_until_complete(ours_async.close())
        loop.close()
        if sdk is not None:
            http = sdk.sdk_configuration.client
            if http is not None:
                http.close()
    out: dict[str, Any] = {}
    for name, by_size in times.items():
        each = [(b - a) / (large - small) * 1e6 for a, b in zip(by_size[small], by_size[large], strict=True)]
        out[name] = {"us_per_event": sorted(each)[len(each) // 2], "us_per_event_runs": each}
    mine, chat = out["ours"]["us_per_event"], out["ours chat"]["us_per_event"]
    out["vs_chat"] = mine / chat if chat > 0 else None
    if "mistralai" in out:
        out["mistralai_vs_ours"] = out["mistralai"]["us_per_event"] / mine if mine > 0 else None
    return out


def scenario(base: str, s: Any) -> dict[str, Any]:
    """Scenario 8 in ``python -m bench``: the bulk sizes and repetitions of scenario 1."""
    return run(base, s.bulk, s.reps, s.sdk_reps)


def main(argv: list[str] | None = None) -> None:
    from bench.server import ServerProcess

    parser = argparse.ArgumentParser(prog="python -m bench.conversations", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,2000", help="the two stream sizes, in events")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    small, large = (int(part) for part in args.sizes.split(","))
    with ServerProcess() as base:
        result = run(base, (small, large), args.reps, args.reps)
    for name, row in result.items():
        if isinstance(row, dict):
            runs = ", ".join(f"{value:.2f}" for value in row["us_per_event_runs"])
            print(f"{name:12} {row['us_per_event']:8.2f} µs/event   runs: {runs}")
    print(f"ours vs our chat: {result['vs_chat']:.2f}x (target <= {CHAT_TARGET}x)")
    if result.get("mistralai_vs_ours") is not None:
        print(f"mistralai vs ours: {result['mistralai_vs_ours']:.1f}x (target >= {SDK_TARGET}x)")
    json.dump(result, sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
