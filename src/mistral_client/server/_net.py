"""Where a server listens: one way to bind its socket and to name its address as a URL."""

from __future__ import annotations

import socket

__all__ = ["base_url", "host_name", "is_wildcard", "listen"]

# A wildcard address is not one a client can connect to: a URL names loopback instead.
_REACHABLE = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free one), ready to hand to uvicorn.

    Bound here rather than by uvicorn, so the port is known, and ours, before the server starts.
    IPPROTO_TCP is spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    every answer whose headers and body go out in two writes waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def is_wildcard(host: str) -> bool:
    """Whether ``host`` means every address of the machine (the network, not only loopback)."""
    return host in _REACHABLE


def host_name(address: str) -> str:
    """How a Host header names ``address``: IPv6 in brackets."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (IPv6 in brackets) for a server listening on ``host``, without ``/v1``."""
    host = _REACHABLE.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
