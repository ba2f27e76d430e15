"""The benchmark server: pre-encoded chat streams on a raw loopback socket, in a process of its own.

    python -m bench.server        # prints "port N", serves until its standard input closes

Every client of a run reads the same bytes from it.  It runs apart from the clients so that their
CPU time is measured alone, and it is a plain socket server (a thread per connection, ``sendall``
of bytes built once) so that it never is the bottleneck of what it measures.

What to send is chosen per request with headers:

``x-bench-n: N``          N chunk events, then ``[DONE]`` (default 10)
``x-bench-mode: bulk``    the whole body in one write (events packed into 64 KiB HTTP chunks)
``x-bench-mode: trickle`` each event in its own HTTP chunk, written and flushed separately,
                          ``x-bench-gap`` seconds apart (a live server's pace)
``x-bench-wait: S``       with trickle: headers at once, the first event S seconds later; its ``id``
                          is ``<request received ns>-<first event sent ns>`` (``time.monotonic_ns``)
``x-bench-id: ID``        record when this connection is seen closed by the client before the end;
                          ``GET /_bench/closed/ID`` answers ``{"closed_ns": ...}`` once it is

``GET /_bench/pacer`` answers how the paced streams were written so far (running totals): how many
times the pacer woke up with events due and wrote them (``wakes``), how many events it wrote
(``events``), and how late they were in all (``late_s``).  Events written in one wakeup reach a client
together, and one wakeup of the client's event loop then serves them all: the more events a wakeup
carries, the less each costs the client, so a run's cost per event is read with its burst size.

While it waits between two events the server watches the socket, so a client's close is seen (and
timed) as soon as the FIN or RST arrives, not at the next write.
"""

from __future__ import annotations

import heapq
import json
import os
import select
import selectors
import socket
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

from bench.wire import END_OF_BODY, bulk_body, chunk_events, http_chunk

ROOT = Path(__file__).resolve().parents[1]
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
    b"mistral-correlation-id: bench\r\n\r\n"
)
MAX_WAIT = 30.0  # a control request never waits longer than this for a record
_STAMP = "X" * 39  # the id of a stream with a first-event wait, until the stamp replaces it


class ClientClosed(Exception):
    def __init__(self, at_ns: int | None = None) -> None:
        super().__init__()
        self.at_ns = at_ns or time.monotonic_ns()


@lru_cache(maxsize=16)
def _events(n: int) -> list[bytes]:
    return chunk_events(n)


@lru_cache(maxsize=16)
def _framed(n: int) -> list[bytes]:
    return [http_chunk(event) for event in _events(n)]


@lru_cache(maxsize=16)
def _bulk(n: int) -> bytes:
    return bulk_body(_events(n))


class Records:
    def __init__(self) -> None:
        self._closed: dict[str, int] = {}
        self._cond = threading.Condition()

    def closed(self, key: str, at: int) -> None:
        with self._cond:
            self._closed.setdefault(key, at)
            self._cond.notify_all()

    def wait(self, key: str, timeout: float) -> int | None:
        with self._cond:
            self._cond.wait_for(lambda: key in self._closed, timeout)
            return self._closed.pop(key, None)


def _read_request(sock: socket.socket, buffer: bytearray) -> tuple[str, str, dict[str, str]] | None:
    while b"\r\n\r\n" not in buffer:
        piece = sock.recv(65536)
        if not piece:
            return None
        buffer += piece
    end = buffer.index(b"\r\n\r\n")
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    del buffer[: end + 4]
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        piece = sock.recv(65536)
        if not piece:
            return None
        buffer += piece
    del buffer[:length]
    return method, path, headers


def _watch(sock: socket.socket, seconds: float) -> None:
    """Wait ``seconds``, raising ``ClientClosed`` the moment the client closes its side."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        readable, _, _ = select.select([sock], [], [], max(left, 0.0))
        if readable:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                raise ClientClosed
            continue  # a pipelined byte: not ours to judge here
        if left <= 0:
            return


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        raise ClientClosed from None


def _json(sock: socket.socket, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    _send(sock, head.encode() + data)


def _stream(sock: socket.socket, headers: dict[str, str], received: int) -> None:
    n = int(headers.get("x-bench-n", "10"))
    if headers.get("x-bench-mode", "bulk") == "bulk":
        _send(sock, SSE_HEAD + _bulk(n))
        return
    gap = float(headers.get("x-bench-gap", "0"))
    wait = float(headers.get("x-bench-wait", "0"))
    framed = _framed(n)
    _send(sock, SSE_HEAD)
    if wait > 0:
        events = chunk_events(n, stream_id=_STAMP)  # built before the wait: only the stamp is left to write
        _watch(sock, wait)
        sent = time.monotonic_ns()
        stamp = f"{received:019d}-{sent:019d}".encode()
        _send(sock, http_chunk(events[0].replace(_STAMP.encode(), stamp)))
        rest = b"".join(http_chunk(event.replace(_STAMP.encode(), stamp)) for event in events[1:])
        _send(sock, rest + END_OF_BODY)
        return
    if gap > 0:
        PACER.play(sock, framed, gap)
        return
    for event in framed:
        _send(sock, event)
    _send(sock, END_OF_BODY)


class _Paced:
    __slots__ = ("closed_ns", "done", "due", "events", "gap", "next", "sock", "watched")

    def __init__(self, sock: socket.socket, events: list[bytes], gap: float) -> None:
        self.sock, self.events, self.gap = sock, events, gap
        self.next = 1
        self.due = time.monotonic() + gap
        self.done = threading.Event()
        self.closed_ns: int | None = None
        self.watched = True

    def __lt__(self, other: _Paced) -> bool:
        return self.due < other.due


class Pacer:
    """One thread that writes every paced stream's events when they fall due.

    A thread per stream sleeping between events cost more CPU than the client it served once there
    were 200 of them (the many-streams scenario took twice its 2.5 s, the server using over a core of
    two).  Each stream keeps its own phase: event k is due ``k * gap`` after its first, however late
    the others are.  While it waits it watches every socket, so a client's close is seen at once.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._new: list[_Paced] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.wakes = self.events = 0
        self.late_s = 0.0

    def totals(self) -> dict[str, float]:
        return {"wakes": self.wakes, "events": self.events, "late_s": self.late_s}

    def play(self, sock: socket.socket, framed: list[bytes], gap: float) -> None:
        """Send ``framed`` (the first at once) ``gap`` seconds apart; raise ``ClientClosed`` if cut."""
        _send(sock, framed[0])
        if len(framed) == 1:
            _send(sock, END_OF_BODY)
            return
        stream = _Paced(sock, framed, gap)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()
            self._new.append(stream)
        self._wake_w.send(b"x")
        stream.done.wait()
        if stream.closed_ns is not None:
            raise ClientClosed(stream.closed_ns)

    def _run(self) -> None:
        heap: list[_Paced] = []
        while True:
            timeout = max(heap[0].due - time.monotonic(), 0.0) if heap else None
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._wake_r.recv(4096)
                    with self._lock:
                        new, self._new = self._new, []
                    for stream in new:
                        self._selector.register(stream.sock, selectors.EVENT_READ, stream)
                        heapq.heappush(heap, stream)
                else:
                    self._check_closed(key.data)
            now = time.monotonic()
            written = 0
            while heap and heap[0].due <= now:
                stream = heapq.heappop(heap)
                if stream.done.is_set():
                    continue  # closed by the client while it waited
                self.late_s += now - stream.due
                written += 1
                if self._write(stream):
                    heapq.heappush(heap, stream)
            if written:
                self.wakes += 1
                self.events += written

    def _write(self, stream: _Paced) -> bool:
        """Send the stream's next event; true if it has more to send."""
        last = stream.next == len(stream.events) - 1
        data = stream.events[stream.next] + (END_OF_BODY if last else b"")
        try:
            stream.sock.sendall(data)
        except OSError:
            self._finish(stream, closed=True)
            return False
        if last:
            self._finish(stream, closed=False)
            return False
        stream.next += 1
        stream.due += stream.gap
        return True

    def _check_closed(self, stream: _Paced) -> None:
        try:
            data = stream.sock.recv(65536, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            self._finish(stream, closed=True)
        else:  # a pipelined request: its connection's thread reads it once this stream ends
            self._selector.unregister(stream.sock)
            stream.watched = False

    def _finish(self, stream: _Paced, closed: bool) -> None:
        if stream.done.is_set():
            return
        if stream.watched:
            self._selector.unregister(stream.sock)
        if closed:
            stream.closed_ns = time.monotonic_ns()
        stream.done.set()


PACER = Pacer()


def serve_connection(sock: socket.socket, records: Records) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    key = None
    try:
        while True:
            request = _read_request(sock, buffer)
            if request is None:
                return
            received = time.monotonic_ns()
            method, path, headers = request
            key = headers.get("x-bench-id")
            if method == "GET" and path.startswith("/_bench/closed/"):
                _json(sock, 200, {"closed_ns": records.wait(path.rsplit("/", 1)[1], MAX_WAIT)})
            elif method == "GET" and path == "/_bench/ping":
                _json(sock, 200, {"ok": True})
            elif method == "GET" and path == "/_bench/pacer":
                _json(sock, 200, PACER.totals())
            elif method == "POST" and path.rstrip("/").endswith("/chat/completions"):
                _stream(sock, headers, received)
            elif method == "POST" and path.rstrip("/").endswith("/conversations"):  # scenario 8
                from bench.conversations import conversation_body

                _send(sock, SSE_HEAD + conversation_body(int(headers.get("x-bench-n", "10"))))
            else:
                _json(sock, 404, {"object": "error", "message": f"no route {method} {path}"})
            key = None
    except ClientClosed as closed:
        if key is not None:
            records.closed(key, closed.at_ns)
    except OSError:
        pass
    finally:
        sock.close()


def serve(listener: socket.socket) -> None:
    records = Records()
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve_connection, args=(sock, records), daemon=True).start()


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    print(f"port {listener.getsockname()[1]}", flush=True)
    sys.stdin.read()  # the parent closes our stdin (or dies): time to go


if __name__ == "__main__":
    main()


class ServerProcess:
    """``with ServerProcess() as base_url:``: the server above, in a child process."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> str:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("port "):
            self._proc.kill()
            raise RuntimeError(f"the bench server did not start: {line!r}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
