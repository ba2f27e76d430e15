"""The local server in a process of its own, that says which requests it saw: the bulk runner's witness.

    python -m tests.support.countserver '{"rate_limit": 1800}'

prints ``ready BASE_URL`` once it listens, then answers each ``counts`` line on stdin with one JSON
line: for every chat request, the statuses the server answered, keyed by the request's first message
(the tests put the ``custom_id`` there).  ``CountServer`` runs it from a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from types import TracebackType
from typing import Any

from tests.support.serveproc import serve_env

START_TIMEOUT = 30.0


def main() -> None:
    from mistral_client.server import LocalServer

    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    with LocalServer(**config) as server:
        print("ready", server.base_url, flush=True)
        for command in sys.stdin:
            if command.strip() != "counts":
                continue
            statuses = {response.request_index: response.status for response in server.recorder.responses}
            counts: dict[str, list[int | None]] = defaultdict(list)
            for request in server.recorder.requests:
                if request.path.endswith("/chat/completions") and isinstance(request.body, dict):
                    messages = request.body.get("messages") or [{}]
                    counts[str(messages[0].get("content"))].append(statuses.get(request.index))
            print(json.dumps(counts), flush=True)


class CountServer:
    """``with CountServer(rate_limit=1800) as server:`` ``server.base_url``, ``server.counts()``."""

    def __init__(self, **config: Any) -> None:
        self._config = config
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> CountServer:
        root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
        env = serve_env()
        env["PYTHONPATH"] = env["PYTHONPATH"] + ":" + root
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.countserver", json.dumps(self._config)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # blocks until the server listens (or the process dies)
        assert line.startswith("ready "), f"the count server did not start: {line!r}"
        self.base_url = line.split(" ", 1)[1].strip()
        return self

    def counts(self) -> dict[str, list[int | None]]:
        """Each custom_id the server saw, with the status of every request that carried it."""
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("counts\n")
        self._proc.stdin.flush()
        return dict(json.loads(self._proc.stdout.readline()))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._proc is not None
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    main()
