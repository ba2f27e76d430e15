"""Never lose what already arrived: events before a fault in the body are delivered, then the error.

Each fault follows two good events, in the same write as them (one read on the client, decoded by
h11 right after the head or by ``ChunkedBody`` past the first chunk boundary), through the sync
client (httpx2's transport) and the async one (``_transport/http11.py``).  The loop must get ``a`` and ``b``,
and the error's ``.partial`` must hold them.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

import pytest

from mistral_client import StreamError
from tests.client.test_faults import attempt
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _frame(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


GOOD = _frame(sse(chunk_json("a"))) + _frame(sse(chunk_json("b")))


def _reset(conn: RawConnection) -> None:
    # SO_LINGER 0: close() sends a RST instead of a FIN.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


# name, the bytes after the two events, what the server does then, words in the error
FAULTS: list[tuple[str, bytes, Callable[[RawConnection], None], str]] = [
    ("malformed size line", b"zz\r\n", lambda c: c.wait_client_close(5), "chunk"),
    ("size of 17 hex digits", b"1" * 17 + b"\r\n", lambda c: c.sock.close(), "connection broke"),
    ("no CRLF after the data", b"3\r\nabcX\r\n", lambda c: c.wait_client_close(5), "chunk"),
    ("size line of 5000 bytes", b"3" * 5000, lambda c: c.sock.close(), "connection broke"),
    ("peer closes mid-chunk", b"40\r\ndata: {", lambda c: c.sock.close(), "connection broke"),
    ("peer resets mid-chunk", b"40\r\ndata: {", _reset, "connection broke"),
]


@pytest.mark.parametrize("split", ["with the head", "after the head"])
@pytest.mark.parametrize(("fault", "after", "then", "words"), FAULTS, ids=[f[0] for f in FAULTS])
def test_events_before_a_fault_are_delivered_then_it_raises(
    kind: str, split: str, fault: str, after: bytes, then: Callable[[RawConnection], None], words: str
) -> None:
    def handler(conn: RawConnection) -> None:
        if split == "with the head":
            conn.send(HEAD + GOOD + after)
        else:
            # The head and a first chunk alone, so the events below come in a read of their own, past
            # the first chunk boundary (the async transport's own decoder); a pause is the only way to
            # ask for two reads, and a shorter one only tests the other path.
            conn.send(HEAD + _frame(sse(chunk_json("", role=True))))
            time.sleep(0.05)
            conn.send(GOOD + after)
        then(conn)

    with RawServer(handler) as raw:
        outcome = attempt(kind, raw.base_url, {"max_retries": 0, "timeout": 10})
    error = outcome.error
    assert type(error) is StreamError, error
    assert words in str(error)
    assert [c.content for c in outcome.chunks if c.content] == ["a", "b"]
    assert error.partial.content == "ab"
    assert error.partial.chunks == outcome.chunks
    assert outcome.elapsed < 5  # raised at once, not after a read that may never come
