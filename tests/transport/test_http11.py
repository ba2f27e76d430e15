"""The async HTTP/1.1 transport (``_transport/http11.py``) and its chunked-body decoder (``_transport/chunked.py``).

The decoder is checked against h11 on random bodies cut at random places; the transport against
byte-exact servers on loopback: bodies split at awkward places, keep-alive after our decoder handed
the end of the body back to h11, truncation, the pool's limit and timeout, a read timeout, and TLS.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h11
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_client import AsyncMistral, user
from mistral_client._transport import http11 as _http11
from mistral_client._transport.chunked import ChunkedBody, ChunkedBodyError
from mistral_client._transport.http11 import AsyncTransport
from tests.support.leaks import open_tcp, wait_until
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
LIMITS = httpx2.Limits(max_connections=10, max_keepalive_connections=10)


# --- the decoder ---


def _frame(payloads: list[bytes], extension: bool, trailers: bool) -> bytes:
    ext = b";name=value" if extension else b""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in payloads if p)
    return body + b"0\r\n" + (b"x-trailer: 1\r\n" if trailers else b"") + b"\r\n"


def _h11_body(data: bytes) -> bytes:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(HEAD + data)
    out = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            out += event.data
        elif isinstance(event, h11.EndOfMessage):
            return out
        elif event is h11.NEED_DATA:
            raise AssertionError("h11 wants more")


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=300), max_size=12),
    extension=st.booleans(),
    trailers=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_the_decoder_agrees_with_h11_however_the_body_is_cut(
    payloads: list[bytes], extension: bool, trailers: bool, cuts: list[int]
) -> None:
    data = _frame(payloads, extension, trailers)
    body = ChunkedBody()
    out = b""
    start = 0
    for cut in sorted({c % len(data) for c in cuts} | {len(data)}):
        assert not body.done  # the last byte has not arrived yet
        out += body.feed(data[start:cut])
        start = cut
    assert body.done
    assert out == _h11_body(data) == b"".join(payloads)
    assert body.leftover == b""


def test_bytes_after_the_end_are_left_over() -> None:
    body = ChunkedBody()
    assert body.feed(b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1") == b"abc"
    assert body.done and body.leftover == b"HTTP/1.1"


@pytest.mark.parametrize(
    ("data", "decoded", "message"),
    [
        (b"zz\r\nab\r\n", b"", "malformed chunk-size line"),
        (b"2\r\nab\r\nzz\r\n", b"ab", "malformed chunk-size line"),
        (b"-3\r\nabc\r\n", b"", "malformed chunk-size line"),
        (b"3\r\nabcX\r\n", b"abc", "expected CRLF after its data"),
        (b"2\r\nab\r\n" + b"3" * 5000, b"ab", "chunk-size line longer than 4096 bytes"),
        (b"2\r\nab\r\n0\r\n" + b"x: y\r\n" * 20000, b"ab", "trailers longer than"),
    ],
)
def test_the_decoder_returns_what_came_before_a_malformed_byte_then_raises(
    data: bytes, decoded: bytes, message: str
) -> None:
    body = ChunkedBody()
    if decoded:
        assert body.feed(data) == decoded
        assert body.ended and not body.done
        assert body.error is not None and message in str(body.error)
    with pytest.raises(ChunkedBodyError, match=message):
        body.feed(data if not decoded else b"more")
    assert body.ended and body.error is not None


# --- the transport, against byte-exact servers ---


def _client(**limits: int) -> httpx2.AsyncClient:
    chosen = httpx2.Limits(**limits) if limits else LIMITS  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=AsyncTransport(limits=chosen), timeout=5)


def _chunked(*payloads: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in payloads) + b"0\r\n\r\n"


BODY = [b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"]
WIRE = HEAD + _chunked(*BODY)


def _cuts() -> Iterator[tuple[str, list[int]]]:
    yield "all at once", []
    yield "head alone", [len(HEAD)]
    yield "head and half a size line", [len(HEAD) + 1]
    yield "inside the first CRLF", [len(HEAD) + 3 + len(BODY[0]) + 1]
    yield "terminator apart", [len(WIRE) - 5, len(WIRE) - 2]
    yield "byte by byte", list(range(1, len(WIRE)))


def _sender(cuts: list[int]) -> Callable[[RawConnection], None]:
    def handler(conn: RawConnection) -> None:
        start = 0
        for cut in [*cuts, len(WIRE)]:
            conn.send(WIRE[start:cut])
            start = cut
            time.sleep(0.002)  # each piece its own read on the client

    return handler


@pytest.mark.parametrize(("name", "cuts"), list(_cuts()), ids=[name for name, _ in _cuts()])
async def test_a_body_cut_anywhere_arrives_whole_and_the_connection_is_kept(name: str, cuts: list[int]) -> None:
    with RawServer(_sender(cuts)) as server:
        async with _client() as client:
            for _ in range(2):
                async with client.stream("POST", server.base_url + "/v1/chat/completions", content=b"{}") as r:
                    assert r.status_code == 200
                    assert b"".join([piece async for piece in r.aiter_raw()]) == b"".join(BODY)
    first, second = server.connections
    assert first.client_port == second.client_port  # h11 agreed the body had ended: kept alive


async def test_a_truncated_body_raises_and_the_connection_is_not_reused() -> None:
    def handler(conn: RawConnection) -> None:
        if len(server.connections) == 1:
            conn.send(HEAD + b"b\r\ndata: one\n\n\r\n5\r\nda")
            conn.sock.shutdown(socket.SHUT_WR)
        else:
            conn.send(WIRE)

    with RawServer(handler) as server:
        async with _client() as client:
            url = server.base_url + "/v1/chat/completions"
            async with client.stream("POST", url, content=b"{}") as r:
                got = []
                with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
                    async for piece in r.aiter_raw():
                        got.append(piece)
            assert got == [b"data: one\n\n", b"da"]
            async with client.stream("POST", url, content=b"{}") as r:
                assert await r.aread() == b"".join(BODY)
    assert server.connections[0].client_port != server.connections[1].client_port


async def test_a_malformed_chunk_is_a_protocol_error() -> None:
    def handler(conn: RawConnection) -> None:
        conn.send(HEAD + b"b\r\ndata: one\n\n\r\n")
        time.sleep(0.01)
        conn.send(b"nothex\r\n")

    with RawServer(handler) as server, pytest.raises(httpx2.RemoteProtocolError, match="chunk-size"):
        async with _client() as client, client.stream("POST", server.base_url + "/", content=b"{}") as r:
            async for _ in r.aiter_raw():
                pass


async def test_the_pool_limit_queues_and_its_timeout_raises() -> None:
    release = threading.Event()

    def handler(conn: RawConnection) -> None:
        conn.send(HEAD + b"b\r\ndata: one\n\n\r\n")
        release.wait(5)
        conn.send(b"0\r\n\r\n")

    with RawServer(handler) as server:
        client = httpx2.AsyncClient(
            transport=AsyncTransport(limits=httpx2.Limits(max_connections=1)),
            timeout=httpx2.Timeout(5, pool=0.2),
        )
        async with client:
            url = server.base_url + "/"
            async with client.stream("POST", url, content=b"{}") as first:
                with pytest.raises(httpx2.PoolTimeout):
                    await client.post(url, content=b"{}")
                waiting = asyncio.ensure_future(client.post(url, content=b"{}", timeout=5))
                await asyncio.sleep(0)
                assert not waiting.done()
                release.set()
                await first.aread()
            assert (await waiting).content == b"data: one\n\n"
    assert len({c.client_port for c in server.connections}) == 1


async def test_silence_longer_than_the_read_timeout_raises_read_timeout() -> None:
    def handler(conn: RawConnection) -> None:
        conn.send(HEAD + b"b\r\ndata: one\n\n\r\n")
        conn.wait_client_close(5)

    with RawServer(handler) as server:
        client = httpx2.AsyncClient(transport=AsyncTransport(limits=LIMITS), timeout=httpx2.Timeout(5, read=0.2))
        async with client, client.stream("POST", server.base_url + "/", content=b"{}") as r:
            started = time.monotonic()
            with pytest.raises(httpx2.ReadTimeout):
                async for _ in r.aiter_raw():
                    pass
            assert 0.15 < time.monotonic() - started < 2


async def test_the_async_client_streams_over_its_own_transport() -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        for text in ("Hel", "lo"):
            conn.send_chunk(sse(chunk_json(content=text)))
        conn.send_chunk(sse(chunk_json(finish="stop"), "[DONE]"))
        conn.end_body()

    with RawServer(handler) as server:
        async with AsyncMistral(api_key="k", base_url=server.base_url, allow_insecure_http=True) as client:
            assert isinstance(client._http._transport, AsyncTransport)
            for _ in range(3):
                result = await client.chat.stream_collect(model="m", messages=[user("hi")])
                assert result.content == "Hello"
    assert len({c.client_port for c in server.connections}) == 1


def test_a_client_used_under_two_event_loops_leaves_the_old_connection_behind() -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json(content="Hi"), chunk_json(finish="stop"), "[DONE]"))
        conn.end_body()

    with RawServer(handler) as server:
        client = AsyncMistral(api_key="k", base_url=server.base_url, allow_insecure_http=True)

        async def ask() -> str:
            return (await client.chat.stream_collect(model="m", messages=[user("hi")])).content

        # A script calling asyncio.run() twice: the first loop's connection cannot serve the second.
        assert asyncio.run(ask()) == "Hi"
        assert asyncio.run(ask()) == "Hi"
        asyncio.run(client.close())
        first = server.connections[0].client_port
        wait_until(lambda: not open_tcp(server.port, [first]), what="the first loop's connection closed")
    assert len({c.client_port for c in server.connections}) == 2


def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json(content="via proxy"), chunk_json(finish="stop"), "[DONE]"))
        conn.end_body()

    with RawServer(handler) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)

        async def ask() -> str:
            # The API's address is never dialled: the proxy answers for it.
            base = "http://127.0.0.1:9"
            async with AsyncMistral(api_key="k", base_url=base, allow_insecure_http=True) as client:
                assert not isinstance(client._http._transport, AsyncTransport)
                return (await client.chat.stream_collect(model="m", messages=[user("hi")])).content

        assert asyncio.run(ask()) == "via proxy"
    assert proxy.connections[0].request.path == "http://127.0.0.1:9/v1/chat/completions"


def test_without_a_proxy_the_async_client_uses_our_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")  # for https only
    client = AsyncMistral(api_key="k", base_url="http://127.0.0.1:9", allow_insecure_http=True)
    assert isinstance(client._http._transport, AsyncTransport)
    client = AsyncMistral(api_key="k", base_url="https://api.example.com")
    assert not isinstance(client._http._transport, AsyncTransport)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_cancel_from_another_thread_wakes_a_waiting_read_on_either_loop(loop: str) -> None:
    # The cut is a shutdown() of the socket: asyncio's socket wrapper allows it, uvloop's refuses it and
    # gets a duplicate descriptor instead.  Without it the read below would wait for the server (5 s).
    run = pytest.importorskip("uvloop").run if loop == "uvloop" else asyncio.run

    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json(content="first")))
        conn.wait_client_close(5)

    with RawServer(handler) as server:

        async def read() -> tuple[list[str], bool, float]:
            client = AsyncMistral(api_key="k", base_url=server.base_url, allow_insecure_http=True)
            async with client, client.chat.stream(model="m", messages=[user("hi")]) as stream:
                got = []
                cancelled_at: list[float] = []

                def cancel_while_it_waits() -> None:
                    # The pause puts the cancel where it matters: the reader is waiting on the socket (the
                    # server sends nothing more).  Too short a pause could only make this test pass
                    # without testing the cut; it cannot make it fail.
                    time.sleep(0.3)
                    cancelled_at.append(time.monotonic())
                    stream.cancel()

                async for chunk in stream:
                    got.append(chunk.content)
                    threading.Thread(target=cancel_while_it_waits).start()
                return got, stream.cancelled, time.monotonic() - cancelled_at[0]

        got, cancelled, waited = run(read())
        assert server.connections[0].closed_by_client.wait(5)
    assert got == ["first"] and cancelled
    assert waited < 2


# --- TLS ---


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_streams_over_tls(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[str | None] = []

    def serve() -> None:
        raw, _ = listener.accept()
        with server_context.wrap_socket(raw, server_side=True) as sock:
            seen.append(sock.selected_alpn_protocol())
            for _ in range(2):  # two requests, one connection
                request = b""
                while b"\r\n\r\n" not in request:
                    request += sock.recv(65536)
                sock.sendall(WIRE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setattr(_http11, "_TLS", None)  # built anew, trusting our certificate
    try:
        async with _client() as client:
            for _ in range(2):
                response = await client.get(f"https://localhost:{port}/")
                assert response.content == b"".join(BODY)
                assert response.http_version == "HTTP/1.1"
    finally:
        thread.join(5)
        listener.close()
    assert seen == ["http/1.1"] or seen == [None]


async def test_an_untrusted_certificate_is_a_connect_error(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        raw, _ = listener.accept()
        try:
            server_context.wrap_socket(raw, server_side=True).close()
        except (ssl.SSLError, OSError):
            raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setattr(_http11, "_TLS", None)
    try:
        async with _client() as client:
            with pytest.raises(httpx2.ConnectError, match="certificate"):
                await client.get(f"https://localhost:{listener.getsockname()[1]}/")
    finally:
        thread.join(5)
        listener.close()
        _http11._TLS = None
