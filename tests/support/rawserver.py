"""A scripted HTTP/1.1 server on a raw loopback socket, for faults that must be byte-exact.

Each accepted connection reads one request and hands it to ``handler(conn)``, which writes whatever
bytes the test wants (a torn chunk, a CR split from its LF, a body with no end) and may close early.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawConnection:
    sock: socket.socket
    request: RawRequest
    client_port: int
    closed_by_client: threading.Event = field(default_factory=threading.Event)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_head(self, status: int = 200, content_type: str = "text/event-stream", extra: str = "") -> None:
        self.send(
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n{extra}\r\n".encode()
        )

    def send_chunk(self, data: bytes) -> None:
        """One piece of a chunked body (the HTTP framing, not an SSE chunk)."""
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def end_body(self) -> None:
        self.send(b"0\r\n\r\n")

    def send_full(self, status: int, body: bytes, content_type: str = "application/json", extra: str = "") -> None:
        head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
        self.send(head.encode() + body)

    def wait_client_close(self, timeout: float) -> bool:
        """Block until the client closes its side (recv returns EOF or fails)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    break
        except TimeoutError:
            return False
        except OSError:
            pass
        self.closed_by_client.set()
        return True


def _read_request(sock: socket.socket, read_body: bool = True) -> RawRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while read_body and len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return RawRequest(method, path, headers, body)


class RawServer:
    """``read_body=False`` hands the request to ``handler`` once its head arrived, the body unread
    (the handler must then close); ``receive_buffer`` sets SO_RCVBUF for the accepted sockets, so
    that a large request cannot fit into the kernel's buffers while the handler does not read it."""

    def __init__(
        self, handler: Callable[[RawConnection], None], *, read_body: bool = True, receive_buffer: int | None = None
    ) -> None:
        self.handler = handler
        self.read_body = read_body
        self.connections: list[RawConnection] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        if receive_buffer is not None:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    def __enter__(self) -> RawServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        self._listener.close()
        for conn in self.connections:
            try:
                conn.sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        if self.errors:
            raise self.errors[0]

    def _serve(self) -> None:
        while not self._stopping:
            try:
                sock, addr = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(sock, addr[1]), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, sock: socket.socket, port: int) -> None:
        try:
            while True:  # keep-alive: serve requests until the client or the handler closes
                request = _read_request(sock, self.read_body)
                if request is None:
                    return
                conn = RawConnection(sock, request, port)
                self.connections.append(conn)
                self.handler(conn)
        except OSError:
            pass
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            try:
                sock.close()
            except OSError:
                pass


@contextmanager
def full_accept_queue() -> Iterator[str]:
    """The base URL of a listener whose accept queue is full: it drops new SYNs, so connecting hangs
    until the client's connect timeout (Linux, loopback too)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield f"http://127.0.0.1:{port}"
        finally:
            for filler in fillers:
                filler.close()


def sse(*payloads: bytes | str) -> bytes:
    """Data-only SSE events, the way the Mistral API frames them."""
    out = b""
    for payload in payloads:
        data = payload.encode() if isinstance(payload, str) else payload
        out += b"data: " + data + b"\n\n"
    return out


def chunk_json(
    content: str | None = None, *, finish: str | None = None, usage: bool = False, role: bool = False
) -> str:
    delta: list[str] = []
    if role:
        delta.append('"role":"assistant"')
    if content is not None:
        import json

        delta.append(f'"content":{json.dumps(content)}')
    finish_json = "null" if finish is None else f'"{finish}"'
    usage_json = ',"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}' if usage else ""
    return (
        '{"id":"raw1","object":"chat.completion.chunk","created":1,"model":"mistral-small-latest",'
        f'"choices":[{{"index":0,"delta":{{{",".join(delta)}}},"finish_reason":{finish_json}}}]{usage_json}}}'
    )
