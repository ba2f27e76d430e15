"""The socket under a response: cut it now, or after a time limit; the body extension our transport sets.

Transport-level helpers: this module imports nothing from the package, so the transport
(``_transport/http11.py``) and the streams above it both use it.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import httpx2

__all__ = ["OWN_BODY", "SocketWatch", "cut_socket", "shutdown_socket"]

# A response extension our async transport (``_transport/http11.py``) sets: the body, to read it directly.
OWN_BODY = "mistral_client.body"


class SocketWatch:
    """Cuts a sync response's socket after ``seconds`` unless stopped first, waking a read blocked on it.

    For time limits that no per-read timeout can hold: a body that trickles in, a bounded drain.
    """

    __slots__ = ("_lock", "_response", "_stopped", "_timer", "fired")

    def __init__(self, response: httpx2.Response, seconds: float) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._stopped = False
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._stopped:  # stopped in time: the connection stays whole for the pool
                self.fired = True
                cut_socket(self._response)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def cut_socket(response: httpx2.Response) -> None:
    """End the connection under ``response`` now: shutdown() wakes a blocked read and sends the FIN."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        shutdown_socket(sock)


def shutdown_socket(sock: Any) -> None:
    """``shutdown(SHUT_RDWR)`` on a socket, or on the wrapper an event loop hands out for one.

    asyncio's ``TransportSocket`` has ``shutdown()``; uvloop's refuses it, so there the call goes
    to a duplicate of the descriptor (a shutdown acts on the socket, whichever descriptor names it).
    """
    try:
        sock.shutdown(socket.SHUT_RDWR)
        return
    except OSError:
        return  # already closed
    except (AttributeError, TypeError):
        pass
    try:
        duplicate = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
    except (AttributeError, OSError, TypeError, ValueError):
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
