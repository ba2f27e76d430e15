"""The ``mistral-client`` command as a person meets it: Ctrl-C, waits, errors, help, colour, stdin.

Real processes against real loopback servers, as in test_cli.py; a terminal is a real pty.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mistral_client import Mistral, user
from mistral_client.server import KNOBS, LocalServer
from mistral_client.server._llama import INSTALL_HINT, local_model_missing

from .test_cli import ERROR_PREFIX, SRC, TEMPLATE, TIMEOUT, cli_env, run_cli

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="signals to a child and ptys are POSIX")
ESC = "\x1b["


def run_in_pty(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a terminal (a pty); its exit code and everything it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", *args],
        env=env if env is not None else cli_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal's last end
                break
            if not data:
                break
            out += data
        code = proc.wait(timeout=TIMEOUT)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out.decode(errors="replace")


def template_answer(server: LocalServer, prompt: str, max_tokens: int) -> str:
    with Mistral(base_url=server.base_url) as client:
        return client.chat.stream_collect(
            model="mistral-small-latest", messages=[user(prompt)], max_tokens=max_tokens
        ).content


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


# --- Ctrl-C ---------------------------------------------------------------------------------------


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``serve --port 0 ARGS``; the process, its base URL and the stderr lines it printed to announce it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", "serve", "--port", "0", *args],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    while True:
        line = proc.stderr.readline()
        assert line, f"serve exited: {''.join(lines)}"
        lines.append(line)
        if "MISTRAL_BASE_URL=" in line:
            return proc, line.split("MISTRAL_BASE_URL=", 1)[1].strip(), lines


def connect(proc: subprocess.Popen[str], port: int) -> socket.socket:
    """A connection to ``serve``, once it accepts them (it prints its address before uvicorn listens)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except ConnectionRefusedError:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not accept a connection"
            time.sleep(0.02)


@POSIX_ONLY
def test_ctrl_c_on_serve_with_an_open_stream_cancels_it_in_one_line() -> None:
    proc, base_url, _ = start_serve("--token-delay", "30")  # the stream stays open until Ctrl-C
    try:
        port = int(base_url.rsplit(":", 1)[1])
        body = b'{"model":"mistral-small-latest","messages":[{"role":"user","content":"hi"}],"stream":true}'
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        with connect(proc, port) as sock:
            sock.sendall(request)
            received = b""
            while b"data: " not in received:  # the stream is open: its first event arrived
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
            proc.send_signal(signal.SIGINT)
            while chunk := sock.recv(65536):  # the server ends the answer, it does not wait 30 s
                received += chunk
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert b"[DONE]" not in received  # cut short, not finished
    assert received.endswith(b"0\r\n\r\n")  # the chunked body ended properly
    assert "Traceback" not in stderr and "Exception in ASGI" not in stderr, stderr
    # What follows the access log's line for the request: one line.
    after = [line for line in stderr.splitlines() if '"POST /v1/chat/completions' not in line]
    assert after == ["mistral-client: stopped (cancelled 1 open stream)"], stderr


def slow_import(tmp_path: Path, module: str) -> dict[str, str]:
    """An environment where importing ``module`` says so on stderr, then hangs: start-up, held still."""
    fake = tmp_path / module
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import sys, time\nprint('importing " + module + "', file=sys.stderr, flush=True)\ntime.sleep(60)\n",
        encoding="utf-8",
    )
    return cli_env(pythonpath=os.pathsep.join([str(tmp_path), str(SRC)]))


@POSIX_ONLY
@pytest.mark.parametrize("args", [["serve", "--port", "0"], ["chat", "hi", "--local"]])
def test_ctrl_c_during_start_up_is_one_line(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", *args],
        env=slow_import(tmp_path, "starlette"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "importing starlette\n"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert stderr == "mistral-client: interrupted\n"


# --- waiting for a rate limit ---------------------------------------------------------------------


@pytest.fixture
def limited() -> Iterator[LocalServer]:
    """A server that refuses the first request with 429 and Retry-After: 2, then answers."""
    headers = {"x-mock-status": "429", "x-mock-retry-after": "2", "x-mock-fail-times": "1"}
    with LocalServer(mock_headers=headers) as local:
        yield local


def test_a_rate_limit_wait_is_announced_on_stderr(limited: LocalServer) -> None:
    done = run_cli("chat", "hi", "--max-tokens", "4", "--base-url", limited.base_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(r"mistral-client: rate limited by the server \(429 .+\); retrying in 2 s", lines[0])
    assert ESC not in done.stderr  # not a terminal: no countdown, no colour


@POSIX_ONLY
def test_on_a_terminal_the_wait_counts_down(limited: LocalServer) -> None:
    code, screen = run_in_pty("chat", "hi", "--max-tokens", "4", "--base-url", limited.base_url)

    assert code == 0, screen
    assert "\r\x1b[Kmistral-client: rate limited by the server (429" in screen
    counted = re.findall(r"retrying in (\d+) s", screen)
    assert counted[:2] == ["2", "1"], screen
    assert "; retrying now\r\n" in screen  # the line stays, and the answer starts below it


# --- errors for a terminal ------------------------------------------------------------------------


def test_a_stream_cut_short_says_what_arrived_and_what_to_do() -> None:
    with LocalServer(mock_headers={"x-mock-disconnect-after": "3"}) as local:
        done = run_cli("chat", "hi", "--base-url", local.base_url)

    assert done.returncode == 1
    assert done.stdout.strip()  # the part that arrived is printed
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    arrived = len(done.stdout.rstrip("\n"))
    assert lines[0].startswith(f"{ERROR_PREFIX} the answer was cut off after {arrived} characters (printed above):")
    assert lines[0].endswith("run the command again for a whole answer")
    assert ".partial" not in done.stderr


def test_connection_refused_says_what_to_check() -> None:
    done = run_cli("chat", "hi", "--base-url", "http://127.0.0.1:1")

    assert done.returncode == 1
    assert "cannot reach the server at http://127.0.0.1:1" in done.stderr
    assert "check that it is running, and --base-url or MISTRAL_BASE_URL" in done.stderr


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["chat"], ["serve"]])
def test_help_wraps_to_the_terminal_and_names_no_repository_file(command: list[str]) -> None:
    env = cli_env()
    env["COLUMNS"] = "80"
    done = run_cli(*command, "--help", env=env)

    assert done.returncode == 0
    too_long = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert too_long == []
    assert "docs/" not in done.stdout and ".md" not in done.stdout
    if command == ["serve"]:
        for knob in KNOBS:  # never broken at a dash
            assert knob.header in done.stdout or knob.flag in done.stdout, knob.header
        assert "x-mock-disconnect-after: N" in done.stdout


# --- a model asked for by name --------------------------------------------------------------------


@pytest.mark.skipif(local_model_missing() is None, reason="the local-model extra is installed here")
@pytest.mark.parametrize(
    "args", [["serve", "--port", "0", "--engine", "llama"], ["chat", "hi", "--local", "--engine", "llama"]]
)
def test_a_model_asked_for_but_not_installed_fails_with_the_install_line(args: list[str]) -> None:
    done = run_cli(*args)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert INSTALL_HINT in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("args", [["serve", "--port", "0"], ["chat", "hi", "--local"]])
def test_threads_go_with_a_model(args: list[str]) -> None:
    for value, expected in [("0", "usage:"), ("2", "")]:
        done = run_cli(*args, "--engine", "template", "--threads", value)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        if value == "2":
            assert "--threads is for a model (--engine llama)" in done.stderr


# --- the prompt from stdin ------------------------------------------------------------------------


@pytest.mark.parametrize("words", [["-"], []])
def test_the_prompt_comes_from_stdin(server: LocalServer, words: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mistral_client", "chat", *words, "--local", *TEMPLATE, "--max-tokens", "6"],
        env=cli_env(),
        input="what is in a pipe\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == template_answer(server, "what is in a pipe", 6) + "\n"


def test_an_empty_stdin_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mistral_client", "chat", "--local", *TEMPLATE],
        env=cli_env(),
        input="",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert done.returncode == 2
    assert done.stderr == f"{ERROR_PREFIX} the prompt read from stdin is empty\n"


@POSIX_ONLY
def test_no_prompt_on_a_terminal_says_how_to_give_one() -> None:
    code, screen = run_in_pty("chat", "--local", *TEMPLATE)

    assert code == 2
    assert "no prompt: give one" in screen


def test_max_tokens_zero_is_refused() -> None:
    done = run_cli("chat", "hi", "--local", *TEMPLATE, "--max-tokens", "0")

    assert done.returncode == 2
    assert "--max-tokens: expected a whole number >= 1, got '0'" in done.stderr
    assert done.stdout == ""


# --- colour ---------------------------------------------------------------------------------------


@POSIX_ONLY
def test_on_a_terminal_stats_are_dim_and_errors_red() -> None:
    code, screen = run_in_pty("chat", "hi", "--local", *TEMPLATE, "--stats", "--max-tokens", "3")
    assert code == 0, screen
    assert "\x1b[2mtime to first token: " in screen
    assert "\x1b[2mfinish reason: length\x1b[0m" in screen

    code, screen = run_in_pty("chat", "hi", "--base-url", "http://127.0.0.1:1")
    assert code == 1, screen
    assert f"\x1b[31m{ERROR_PREFIX} cannot reach the server" in screen


@POSIX_ONLY
def test_no_color_and_pipes_get_plain_text() -> None:
    env = cli_env()
    env["NO_COLOR"] = "1"
    code, screen = run_in_pty("chat", "hi", "--local", *TEMPLATE, "--stats", "--max-tokens", "3", env=env)
    assert code == 0, screen
    assert ESC not in screen

    done = run_cli("chat", "hi", "--local", *TEMPLATE, "--stats", "--max-tokens", "3")
    assert done.returncode == 0
    assert ESC not in done.stdout + done.stderr


# --- start-up cost --------------------------------------------------------------------------------


def test_importing_the_cli_does_not_load_the_http_client() -> None:
    code = (
        "import sys, mistral_client.cli\nprint(sorted(m for m in ('httpx2', 'httpcore2', 'anyio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["serve", "--help"], ["chat", "--help"]])
def test_help_and_version_load_neither_client_nor_server(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mistral_client", *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not loaded & {"httpx2", "starlette", "uvicorn", "mistral_client._sync.client"}
