"""Run the app under uvicorn in a background thread, on a loopback port of its own."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from ._app import create_app
from ._config import ServerConfig
from ._net import base_url, listen
from ._records import DisconnectRecord, Recorder, RequestRecord, ResponseRecord

__all__ = ["LocalServer"]


class LocalServer:
    """A Mistral-compatible server for tests: ``with LocalServer() as server: ... server.base_url``.

    Keyword arguments other than ``host``, ``port`` and ``config`` are ``ServerConfig`` fields.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, config: ServerConfig | None = None, **config_fields: Any
    ) -> None:
        if config is not None and config_fields:
            raise TypeError("pass either config or ServerConfig fields, not both")
        self.config = config if config is not None else ServerConfig(**config_fields)
        self.recorder = Recorder()
        # Answers Host names for loopback and for ``host``; ServerConfig(allowed_hosts=...) adds others.
        self.app = create_app(self.config, recorder=self.recorder, host=host)
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- Lifecycle ---

    def start(self, timeout: float = 10.0) -> LocalServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        # Bound before uvicorn runs: the port is known, and ours, with no window for a race.
        sock = listen(self._host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                log_config=None,  # leave the process's logging setup alone
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"LocalServer:{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"uvicorn did not start on {self._host}:{self._port}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None
        self.app.state.files.close()  # a temporary folder of uploads goes with the server

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- Where it is ---

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` without ``/v1``, like ``https://api.mistral.ai``."""
        return base_url(self._host, self.port)

    # --- What it saw ---

    @property
    def requests(self) -> list[RequestRecord]:
        return self.recorder.requests

    @property
    def responses(self) -> list[ResponseRecord]:
        """What the server sent back: status, headers and body bytes (see ``ResponseRecord``)."""
        return self.recorder.responses

    @property
    def disconnects(self) -> list[DisconnectRecord]:
        return self.recorder.disconnects

    @property
    def connections(self) -> list[tuple[str, int]]:
        return self.recorder.connections

    def wait_for_disconnect(self, timeout: float) -> DisconnectRecord:
        return self.recorder.wait_for_disconnect(timeout)

    def clear_records(self) -> None:
        self.recorder.clear()
