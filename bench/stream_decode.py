"""CPU cost per chunk of the stream pipeline: the decoding core alone, and the client end to end.

    python bench/stream_decode.py [--quick]

1. ``ChunkDecoder`` fed a captured-format stream (with ``p`` padding) in 64 KiB reads: bytes ->
   events -> typed chunks -> result, no I/O.
2. The sync and the async client streaming N chunks from the local server running in another
   process (so the server's CPU is not counted), as fast as it can write.
The marginal cost between two stream sizes removes the fixed cost of a call.  Medians of several
runs; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx2

from mistral_client import AsyncMistral, Mistral, user
from mistral_client._chunks import ChunkDecoder


def captured_stream(n: int) -> bytes:
    head = '{"id":"b5811c7a0c6e4b3a9f1f0f6f0d6c2e11","object":"chat.completion.chunk","created":1787865810,'
    head += '"model":"mistral-small-latest","choices":[{"index":0,"delta":'
    events = [f'data: {head}{{"role":"assistant","content":""}},"finish_reason":null}}]}}\n\n']
    for i in range(n):
        pad = "abcdefghijklmnopqrstuvwxyz0123456789"[: 8 + i % 28]
        events.append(f'data: {head}{{"content":" word{i % 97}"}},"finish_reason":null}}],"p":"{pad}"}}\n\n')
    events.append(
        f'data: {head}{{"content":""}},"finish_reason":"stop"}}],'
        f'"usage":{{"prompt_tokens":19,"total_tokens":{n + 19},"completion_tokens":{n}}}}}\n\n'
    )
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def decode_cost(n: int, repeat: int) -> float:
    body = captured_stream(n)
    reads = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    times = []
    for _ in range(repeat):
        start = time.process_time()
        decoder = ChunkDecoder(time.perf_counter())
        deliver = decoder.deliver
        for read in reads:
            for chunk in decoder.feed(read):
                deliver(chunk)
        times.append(time.process_time() - start)
        assert decoder.done and decoder.result.chunk_count == n + 2
    return statistics.median(times)


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "mistral_client", "serve", "--port", str(port)]
    cmd += ["--token-delay", "0", "--first-token-delay", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx2.get(base + "/v1/models", timeout=1)
            return proc, base
        except httpx2.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start")


def client_cost(base: str, n: int, repeat: int, kind: str) -> float:
    headers = {"x-mock-tokens": str(n)}
    messages = [user("bench")]
    times = []
    if kind == "sync":
        with Mistral(base_url=base) as client:
            for _ in range(repeat):
                start = time.process_time()
                with client.chat.stream(model="mistral-small-latest", messages=messages, extra_headers=headers) as s:
                    for _chunk in s:
                        pass
                times.append(time.process_time() - start)
                assert s.result.chunk_count == n + 2
        return statistics.median(times)

    async def main() -> float:
        async with AsyncMistral(base_url=base) as client:
            for _ in range(repeat):
                start = time.process_time()
                async with client.chat.stream(
                    model="mistral-small-latest", messages=messages, extra_headers=headers
                ) as s:
                    async for _chunk in s:
                        pass
                times.append(time.process_time() - start)
                assert s.result.chunk_count == n + 2
        return statistics.median(times)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness runs")
    args = parser.parse_args()
    small, large, repeat = (50, 500, 2) if args.quick else (2_000, 20_000, 7)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; medians of {repeat} runs\n")
    print("| what | µs per chunk (marginal, process CPU) |")
    print("|---|---|")
    a, b = decode_cost(small, repeat), decode_cost(large, repeat)
    print(f"| ChunkDecoder alone, 64 KiB reads | {(b - a) / (large - small) * 1e6:.2f} |")
    proc, base = start_server()
    try:
        for kind in ("sync", "async"):
            a, b = client_cost(base, small, repeat, kind), client_cost(base, large, repeat, kind)
            print(f"| {kind} client end to end (server in another process) | {(b - a) / (large - small) * 1e6:.2f} |")
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
