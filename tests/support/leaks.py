"""What is still open: the client's connection pool, and the kernel's table of TCP sockets.

The pool is what the client believes; ``/proc/net/tcp`` is what the operating system (and so the
server) sees.  A leak shows in one or the other: a connection the pool still counts as busy, or a
socket whose peer never learnt that it was closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# States of /proc/net/tcp (include/net/tcp_states.h) in which a socket is still open at our end.
_OPEN_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "08": "CLOSE_WAIT"}


def pool_states(client: Any) -> list[str]:
    """``idle``, ``active`` or ``closed`` for each connection in a ``Mistral``/``AsyncMistral`` pool."""
    states: list[str] = client.connection_states()
    return states


def open_tcp(port: int, peers: Iterable[int] | None = None) -> list[tuple[int, int, str]]:
    """Open sockets on loopback whose local port is ``port`` (and remote port in ``peers``, if given).

    Each is ``(local port, remote port, state)``.  For a server's port this is the server's view of
    its clients; for a client's port, the client's side of one connection.
    """
    wanted = None if peers is None else set(peers)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            local_port = int(local.rsplit(":", 1)[1], 16)
            remote_port = int(remote.rsplit(":", 1)[1], 16)
            if local_port != port or state not in _OPEN_STATES:
                continue
            if wanted is not None and remote_port not in wanted:
                continue
            found.append((local_port, remote_port, _OPEN_STATES[state]))
    return found


def wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds: for state another thread or process settles (a socket close)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.005)


def assert_no_open_sockets(server_port: int, client_ports: Iterable[int], timeout: float = 5.0) -> None:
    """Neither end of any of these connections is still open (the server has seen every close)."""
    ports = sorted(set(client_ports))

    def closed() -> bool:
        return not open_tcp(server_port, ports) and not any(open_tcp(port, [server_port]) for port in ports)

    if not closed():
        try:
            wait_until(closed, timeout, "all sockets closed")
        except AssertionError:
            still = open_tcp(server_port, ports) + [s for p in ports for s in open_tcp(p, [server_port])]
            raise AssertionError(f"sockets still open after {timeout} s: {still}") from None
