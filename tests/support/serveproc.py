"""``mistral-client serve`` in a process of its own, and a raw HTTP/1.1 client that sends any header.

The security tests attack the server the way someone on the network or a web page would: a real
``serve`` process on a free loopback port, and requests whose Host, Origin and Content-Type the
attacker writes by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
URL_LINE = "use it with: MISTRAL_BASE_URL="
START_TIMEOUT = 20.0


def serve_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL")}
    env["PYTHONPATH"] = str(SRC)
    return env


@dataclass
class Served:
    """A running ``serve``: where it listens, and everything it printed so far."""

    base_url: str
    port: int
    _out: list[str] = field(default_factory=list)
    _err: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    @property
    def output(self) -> str:
        """stdout and stderr together: every line the process printed, logs included."""
        return "".join(self._out) + "".join(self._err)


def _drain(stream: object, into: list[str], seen: threading.Event | None) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)
        if seen is not None and URL_LINE in line:
            seen.set()


@contextmanager
def serving(*args: str, port: int = 0) -> Iterator[Served]:
    """Run ``mistral-client serve --port PORT ARGS`` until the block ends; yields once it accepts connections."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", "serve", "--port", str(port), *args],
        env=serve_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    announced = threading.Event()
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out, None), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err, announced), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not announced.wait(0.05):
            assert proc.poll() is None, f"serve exited ({proc.returncode}): {''.join(err)}"
            assert time.monotonic() < deadline, f"serve printed no address within {START_TIMEOUT} s: {''.join(err)}"
        base_url = next(line for line in err if URL_LINE in line).split(URL_LINE, 1)[1].strip()
        served = Served(base_url, int(base_url.rsplit(":", 1)[1]), out, err)
        # The address is printed before uvicorn listens: wait until a connection is accepted.
        host = base_url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
        while True:
            try:
                socket.create_connection((host, served.port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, f"serve exited ({proc.returncode}): {''.join(err)}"
                assert time.monotonic() < deadline, "serve did not accept connections in time"
                time.sleep(0.02)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(5)


def run_serve(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` expecting it to refuse to start: its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "mistral_client", "serve", *args],
        env=serve_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


def raw_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    address: str = "127.0.0.1",
    timeout: float = 10,
) -> RawAnswer:
    """One request written byte by byte (no header is added but Content-Length), the whole answer read."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(wire)
        received = b""
        while piece := sock.recv(65536):
            received += piece
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    if answer_headers.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return RawAnswer(int(status_line.split(" ")[1]), answer_headers, rest)


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def outward_address() -> str | None:
    """An address of this machine that is not loopback, or None (no route out: nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address
