"""How fast a browser leaving cancels the upstream stream, through mistral_client.web (target: 100 ms).

    python bench/web_disconnect.py [--quick]

A relay (``EventStreamResponse`` under uvicorn) streams from the local server; a client reads the
first event, closes its socket, and the time until the local server records the disconnect of the
relay's upstream request is measured (both clocks are ``time.monotonic()`` in this process).
Two cases: the model streaming tokens, and the model silent (no write could notice the client).
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mistral_client import AsyncMistral, Mistral, user
from mistral_client.server import LocalServer
from mistral_client.web import EventStreamResponse

CASES = {
    "streaming": {"x-mock-tokens": "100000", "x-mock-token-delay": "0.005"},
    "silent": {"x-mock-stall-after": "1", "x-mock-stall-seconds": "60"},
}


def relay_app(upstream: str) -> Starlette:
    async def sse(request: Request) -> Response:
        faults = {k: v for k, v in request.headers.items() if k.startswith("x-mock-")}
        client: Any = Mistral(base_url=upstream) if request.query_params.get("kind") == "sync" else None
        client = client or AsyncMistral(base_url=upstream)
        stream = client.chat.stream(model="mistral-small-latest", messages=[user("Hi")], extra_headers=faults)
        return EventStreamResponse(stream, background=BackgroundTask(client.close))

    return Starlette(routes=[Route("/sse", sse)])


def serve(app: Starlette) -> tuple[uvicorn.Server, int]:
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.005)
    return server, sock.getsockname()[1]


def one_trial(port: int, upstream: LocalServer, kind: str, faults: dict[str, str]) -> float:
    head = "".join(f"{name}: {value}\r\n" for name, value in faults.items())
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /sse?kind={kind} HTTP/1.1\r\nhost: relay\r\n{head}\r\n".encode())
        received = b""
        while b'"content"' not in received:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the relay ended the stream early")
            received += data
        left = time.monotonic()
        sock.shutdown(socket.SHUT_RDWR)
    return upstream.wait_for_disconnect(timeout=10).at - left


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few trials, to check the harness runs")
    trials = 3 if parser.parse_args().quick else 30
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {trials} trials each\n")
    print("| upstream stream | model | median ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    with LocalServer() as upstream:
        relay, port = serve(relay_app(upstream.base_url))
        try:
            for kind in ("async", "sync"):
                for case, faults in CASES.items():
                    times = sorted(one_trial(port, upstream, kind, faults) * 1000 for _ in range(trials))
                    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                    print(f"| {kind} | {case} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} |")
        finally:
            relay.should_exit = True


if __name__ == "__main__":
    main()
