"""A transcription stream: the client's CPU per event, ours against the official ``mistralai`` SDK's.

    python -m bench.audio [--quick] [--out docs/audio.json]

A server in another process answers ``POST /v1/audio/transcriptions`` with the spec's named events
(``transcription.language``, then ``transcription.text.delta`` events with a ``transcription.segment``
every tenth, then ``transcription.done``), as many as the request's ``x-bench-events`` header asks,
written in one go so that the client, not the network, sets the pace.  Each client reads whole
streams of two sizes; the CPU time (``time.process_time``) between the two, divided by the events
between them, is its cost per event: the request, the upload and the connection cancel out.
Runs alternate the clients' order; the medians are reported.  The target: ours at least 20 times
cheaper per event than ``mistralai``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TARGET = 20.0  # ours at least this many times cheaper per event than mistralai's
MODEL = "voxtral-mini-latest"
AUDIO_URL = "https://example.com/talk.wav"  # the bench server reads no audio: a URL keeps uploads out
SIZES = (1_000, 5_000)
QUICK_SIZES = (20, 200)
REPS, QUICK_REPS = 3, 1


def events(n: int) -> bytes:
    """A transcription stream of ``n`` events: language, text deltas (a segment every tenth), done."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + json.dumps({"type": name, **data}).encode() + b"\n\n"

    out = [event("transcription.language", {"audio_language": "en"})]
    words = []
    for i in range(1, n - 1):
        if i % 10 == 0:
            start = (i - 10) * 0.3
            out.append(event("transcription.segment", {"text": " ".join(words), "start": start, "end": i * 0.3}))
            words = []
        else:
            word = f"word{i}"
            words.append(word)
            out.append(event("transcription.text.delta", {"text": " " + word}))
    done = {"model": MODEL, "text": "bench", "language": "en", "segments": [], "usage": {"prompt_audio_seconds": n}}
    out.append(event("transcription.done", done))
    return b"".join(out)


# --- the server (a child process) -----------------------------------------------------------------


def _serve_one(conn: socket.socket, bodies: dict[int, bytes]) -> None:
    with conn:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, data = data.partition(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(data) < length:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            data = data[length:]
            n = int(headers.get("x-bench-events", "10"))
            body = bodies.get(n)
            if body is None:
                body = bodies[n] = events(n)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )


def serve() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    bodies: dict[int, bytes] = {}
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_one, args=(conn, bodies), daemon=True).start()


# --- the clients ----------------------------------------------------------------------------------


def _ours(base: str) -> Any:
    from mistral_client import Mistral

    client = Mistral(api_key="bench", base_url=base, max_retries=0)

    def run(n: int) -> int:
        count = 0
        with client.audio.transcriptions.stream(
            model=MODEL, file_url=AUDIO_URL, extra_headers={"x-bench-events": str(n)}, keep_events=False
        ) as stream:
            for _ in stream:
                count += 1
        return count

    return run, client.close


def _ours_async(base: str, loop: asyncio.AbstractEventLoop) -> Any:
    from mistral_client import AsyncMistral

    client = AsyncMistral(api_key="bench", base_url=base, max_retries=0)

    async def read(n: int) -> int:
        count = 0
        async with client.audio.transcriptions.stream(
            model=MODEL, file_url=AUDIO_URL, extra_headers={"x-bench-events": str(n)}, keep_events=False
        ) as stream:
            async for _ in stream:
                count += 1
        return count

    return (lambda n: loop.run_until_complete(read(n))), (lambda: loop.run_until_complete(client.close()))


def _mistralai(base: str) -> Any:
    from mistralai.client import Mistral as SDK

    client = SDK(api_key="bench", server_url=base)

    def run(n: int) -> int:
        count = 0
        stream = client.audio.transcriptions.stream(
            model=MODEL, file_url=AUDIO_URL, http_headers={"x-bench-events": str(n)}
        )
        with stream:
            for _ in stream:
                count += 1
        return count

    return run, lambda: None


def _mistralai_async(base: str, loop: asyncio.AbstractEventLoop) -> Any:
    from mistralai.client import Mistral as SDK

    client = SDK(api_key="bench", server_url=base)

    async def read(n: int) -> int:
        count = 0
        stream = await client.audio.transcriptions.stream_async(
            model=MODEL, file_url=AUDIO_URL, http_headers={"x-bench-events": str(n)}
        )
        async with stream:
            async for _ in stream:
                count += 1
        return count

    return (lambda n: loop.run_until_complete(read(n))), lambda: None


def measure(sizes: tuple[int, int], reps: int) -> dict[str, Any]:
    child = subprocess.Popen([sys.executable, "-m", "bench.audio", "--serve"], stdout=subprocess.PIPE, text=True)
    loop = asyncio.new_event_loop()
    try:
        assert child.stdout is not None
        base = f"http://127.0.0.1:{child.stdout.readline().strip()}"
        clients = {
            "ours": _ours(base),
            "ours-async": _ours_async(base, loop),
            "mistralai": _mistralai(base),
            "mistralai-async": _mistralai_async(base, loop),
        }
        runs: dict[str, list[float]] = {name: [] for name in clients}
        small, large = sizes
        for rep in range(reps):
            names = list(clients) if rep % 2 == 0 else list(clients)[::-1]
            for name in names:
                read = clients[name][0]
                read(small)  # warm: the connection is open, the code paths imported
                times = []
                for n in (small, large):
                    gc.collect()
                    start = time.process_time()
                    got = read(n)
                    times.append(time.process_time() - start)
                    if got != n:
                        raise RuntimeError(f"{name} delivered {got} events of {n}")
                runs[name].append((times[1] - times[0]) / (large - small) * 1e6)
        for _, close in clients.values():
            close()
    finally:
        loop.close()
        child.kill()
        child.wait()
    per_event = {name: statistics.median(values) for name, values in runs.items()}
    ratios = {
        "sync": per_event["mistralai"] / per_event["ours"],
        "async": per_event["mistralai-async"] / per_event["ours-async"],
    }
    return {
        "date": time.strftime("%Y-%m-%d"),
        "sizes": list(sizes),
        "reps": reps,
        "us_per_event": per_event,
        "us_per_event_runs": runs,
        "times_cheaper": ratios,
        "target": TARGET,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.audio", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON here (e.g. docs/audio.json)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return {}
    result = measure(QUICK_SIZES if args.quick else SIZES, QUICK_REPS if args.quick else REPS)
    result["quick"] = args.quick
    print("client            µs per event")
    for name, value in result["us_per_event"].items():
        print(f"{name:<18}{value:10.1f}")
    for kind, ratio in result["times_cheaper"].items():
        verdict = "meets" if ratio >= TARGET else "misses"
        print(f"{kind}: ours is {ratio:.1f}x cheaper per event than mistralai's ({verdict} the {TARGET:.0f}x target)")
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
