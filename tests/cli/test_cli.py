"""The ``mistral-client`` command, run as a real process (``python -m mistral_client``).

Every test starts the CLI with ``subprocess``; servers are real (the CLI's embedded one, or a
``LocalServer`` in this process on loopback).  Nothing here talks to the network beyond loopback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mistral_client import Mistral, RateLimitError, __version__, user
from mistral_client.cli import DEMO_TOKEN_DELAY
from mistral_client.server import LocalServer

SRC = Path(__file__).resolve().parents[2] / "src"
KEY = "sk-test-cli-5f1e0c9a"  # a key the server requires; it must never show in the CLI's output
LOCAL_NOTICE = "streaming from the embedded local server (deterministic text, not a model)"
# The deterministic engine even where the local-model extra is installed (tests/server/test_llama.py covers that one).
TEMPLATE = ("--engine", "template")
ERROR_PREFIX = "mistral-client: error:"
TIMEOUT = 20


def cli_env(*, key: str | None = None, base_url: str | None = None, pythonpath: str | None = None) -> dict[str, str]:
    """The environment for the child: this one, minus the MISTRAL_* settings the test did not ask for."""
    env = {name: value for name, value in os.environ.items() if name not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL")}
    env["PYTHONPATH"] = pythonpath or str(SRC)
    if key is not None:
        env["MISTRAL_API_KEY"] = key
    if base_url is not None:
        env["MISTRAL_BASE_URL"] = base_url
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mistral_client", *args],
        env=env if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def popen_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mistral_client", *args],
        env=env if env is not None else cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def parse_stats(stderr: str) -> dict[str, str]:
    """The ``label: value`` lines that ``--stats`` prints, keyed by label."""
    stats = {}
    for line in stderr.splitlines():
        label, sep, value = line.partition(": ")
        if sep and not label.startswith("mistral-client"):
            stats[label] = value
    return stats


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as local:
        yield local


# --- chat: where the answer comes from -----------------------------------------------------------


def test_local_flag_streams_the_answer_to_stdout(server: LocalServer) -> None:
    # A key in the environment does not matter with --local, and is not sent to the stand-in.
    done = run_cli("chat", "hi", "--local", *TEMPLATE, "--max-tokens", "8", env=cli_env(key=KEY))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert done.stdout.endswith("\n")
    assert done.stderr.strip().splitlines() == [f"mistral-client: --local: {LOCAL_NOTICE}"]
    # The text is exactly what the (deterministic) server answers to the same request.
    with Mistral(base_url=server.base_url) as client:
        expected = client.chat.stream_collect(model="mistral-small-latest", messages=[user("hi")], max_tokens=8).content
    assert done.stdout == expected + "\n"
    assert KEY not in done.stdout + done.stderr


def test_without_a_key_it_uses_the_local_server_and_says_so() -> None:
    done = run_cli("chat", "hello", "there", *TEMPLATE, "--max-tokens", "5")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert done.stderr.strip().splitlines() == [f"mistral-client: no MISTRAL_API_KEY set; {LOCAL_NOTICE}"]


def test_stats_go_to_stderr_and_parse() -> None:
    # The embedded server paces its tokens (DEMO_TOKEN_DELAY apart): 25 of them last long enough for a rate.
    done = run_cli("chat", "hi", "--local", *TEMPLATE, "--stats", "--max-tokens", "25")

    assert done.returncode == 0, done.stderr
    stats = parse_stats(done.stderr)
    assert float(stats["time to first token"].removesuffix(" ms")) > 0
    # The server waits DEMO_TOKEN_DELAY between tokens: the rate cannot be above its inverse.
    assert 0 < float(stats["tokens/s"]) <= 1 / DEMO_TOKEN_DELAY
    assert float(stats["total time"].removesuffix(" ms")) >= float(stats["time to first token"].removesuffix(" ms"))
    assert int(stats["chunks"]) > 1
    usage = dict(part.split("=") for part in stats["usage"].split())
    assert int(usage["prompt"]) >= 1
    assert int(usage["completion"]) > 1
    assert int(usage["total"]) == int(usage["prompt"]) + int(usage["completion"])
    assert stats["finish reason"] == "length"
    assert stats["model"] == "mistral-small-latest"
    assert "time to first token" not in done.stdout


def test_an_instant_answer_shows_no_token_rate(server: LocalServer) -> None:
    # The test server writes every token at once: a rate over that would be millions of tokens/s.
    done = run_cli("chat", "hi", "--base-url", server.base_url, "--stats", "--max-tokens", "25")

    assert done.returncode == 0, done.stderr
    stats = parse_stats(done.stderr)
    assert stats["usage"].split()[1] == "completion=25"  # enough tokens, over too short a time
    assert stats["tokens/s"] == "n/a (too short to measure: fewer than 11 tokens or under 0.25 s)"
    assert float(stats["total time"].removesuffix(" ms")) > 0


def test_a_rate_needs_enough_tokens_and_enough_time() -> None:
    from mistral_client.cli.output import RATE_MIN_SECONDS, RATE_MIN_TOKENS, token_rate

    # The chat page shows a rate by the same rule.
    page = (SRC / "mistral_client" / "server" / "ui" / "chat.js").read_text(encoding="utf-8")
    assert f"const RATE_MIN_TOKENS = {RATE_MIN_TOKENS};" in page
    assert f"const RATE_MIN_SECONDS = {RATE_MIN_SECONDS};" in page
    assert token_rate(11, 1.0, 1.25) == 40.0  # the tokens after the first, over the time after it
    assert token_rate(10, 1.0, 60.0) is None  # a minute, but too few tokens
    assert token_rate(5000, 1.0, 1.2) is None  # many tokens, too short a time
    assert token_rate(50, None, 2.0) is None and token_rate(50, 1.0, None) is None


def test_max_tokens_cuts_the_answer_short() -> None:
    done = run_cli("chat", "tell me a long story", "--local", *TEMPLATE, "--max-tokens", "3", "--stats")

    assert done.returncode == 0, done.stderr
    assert 1 <= len(done.stdout.split()) <= 3
    stats = parse_stats(done.stderr)
    assert stats["finish reason"] == "length"
    assert "completion=3" in stats["usage"]


def test_system_message_and_temperature_are_sent(server: LocalServer) -> None:
    server.clear_records()
    args = ["--system", "Be brief.", "--temperature", "0.2", "--max-tokens", "2", "--base-url", server.base_url]
    done = run_cli("chat", "hi", *args)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # a server was named: no notice
    body = server.requests[-1].body
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 2
    assert body["stream"] is True


def test_streaming_is_incremental() -> None:
    # At the demo pace the answer takes over half a second: its first bytes must come long before the end.
    proc = popen_cli("chat", "hi", "--local", *TEMPLATE)
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        assert first
        assert proc.poll() is None, "the first byte only arrived when the process had finished"
        rest, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert len(first + rest) > 10


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_cancels_the_stream_and_exits_130() -> None:
    proc = popen_cli("chat", "hi", "--local", *TEMPLATE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.read(1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    text = stderr.decode()
    assert "mistral-client: interrupted" in text
    assert "Traceback" not in text


# --- chat: errors --------------------------------------------------------------------------------


def test_connection_refused_is_one_error_line() -> None:
    done = run_cli("chat", "hi", "--base-url", "http://127.0.0.1:1")

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert "127.0.0.1:1" in lines[0]
    assert "Traceback" not in done.stderr


def test_invalid_model_reports_the_400(server: LocalServer) -> None:
    done = run_cli("chat", "hi", "--base-url", server.base_url, "--model", "nope")

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert "400" in lines[0]
    assert "invalid model" in lines[0].lower()
    assert re.search(r"request_id=\w+", lines[0])
    assert "Traceback" not in done.stderr


def test_key_from_the_environment_is_sent_and_never_printed(keyed_server: LocalServer) -> None:
    done = run_cli("chat", "hi", "--stats", env=cli_env(key=KEY, base_url=keyed_server.base_url))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert KEY not in done.stdout + done.stderr


def test_wrong_key_is_an_auth_error_without_the_key(keyed_server: LocalServer) -> None:
    wrong = "sk-wrong-key-0a1b2c3d"
    done = run_cli("chat", "hi", "--base-url", keyed_server.base_url, env=cli_env(key=wrong))

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert "401" in lines[0]
    assert wrong not in done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "hi", "--local", "--base-url", "http://127.0.0.1:1"],
        ["chat", "hi", "--max-tokens", "-1"],
        ["chat", "hi", "--temperature", "9"],
        ["serve", "--port", "70000"],
        ["serve", "--token-delay", "fast"],
        [],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = run_cli(*args)

    assert done.returncode == 2, done.stderr
    assert "usage:" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_server_extra_is_one_clear_line(tmp_path: Path) -> None:
    # A package that fails to import as if starlette were not installed, ahead of the real one.
    fake = tmp_path / "starlette"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'starlette'\", name='starlette')\n", encoding="utf-8"
    )
    env = cli_env(pythonpath=os.pathsep.join([str(tmp_path), str(SRC)]))
    for args in (["chat", "hi", "--local"], ["serve", "--port", "0"]):
        done = run_cli(*args, env=env)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(ERROR_PREFIX)
        assert "pip install 'mistral-client[server]'" in lines[0]


def test_version() -> None:
    done = run_cli("--version")

    assert done.returncode == 0
    assert done.stdout.strip() == f"mistral-client {__version__}"


# --- serve ---------------------------------------------------------------------------------------


def test_serve_help_documents_every_flag() -> None:
    from mistral_client.server import KNOBS

    done = run_cli("serve", "--help")

    assert done.returncode == 0
    flags = ["--host", "--port", "--token-delay", "--first-token-delay", "--fast", "--api-key", "--rate-limit"]
    flags += ["--requests-per-minute", "--tokens-per-minute", *(knob.flag for knob in KNOBS)]
    flags += ["--allowed-host", "--cors-origin", "--allow-open", "--ui"]
    help_text = re.sub(r"[\s-]", "", done.stdout)  # argparse wraps long lines, also at dashes
    for flag in flags:
        assert re.search(rf"^  {flag}\b", done.stdout, re.M), f"{flag} has no help line"
    for knob in KNOBS:
        assert knob.header.replace("-", "") in help_text, knob.header


def test_serve_answers_on_its_port() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", "serve", "--port", str(port), "--api-key", KEY],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        answer = None
        while answer is None:
            assert proc.poll() is None, "serve exited early"
            try:
                answer = httpx2.get(f"{base_url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=1)
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 10 s"
                time.sleep(0.05)
        assert answer.status_code == 200
        assert "mistral-small-latest" in [model["id"] for model in answer.json()["data"]]
        assert httpx2.get(f"{base_url}/v1/models", timeout=1).status_code == 401  # the key is required

        # The client streams from it, pointed there the way serve says.
        with Mistral(api_key=KEY, base_url=base_url) as client:
            result = client.chat.stream_collect(model="mistral-small-latest", messages=[user("hi")], max_tokens=2)
        assert result.finish_reason == "length"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=TIMEOUT)
    assert f"MISTRAL_BASE_URL={base_url}" in stderr
    assert KEY not in stderr


def serving(*args: str) -> Iterator[str]:
    """Run ``serve`` with ``args`` on a free port; yields its base URL once it answers."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mistral_client", "serve", "--port", str(port), *args],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, f"serve exited early: {proc.communicate()[1]}"
            try:
                # A HEAD to an unknown path: answered (404) without counting against a rate limit.
                httpx2.head(f"{base_url}/ready", timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 10 s"
                time.sleep(0.05)
        yield base_url
    finally:
        proc.terminate()
        proc.communicate(timeout=TIMEOUT)


def test_serve_flags_set_the_server_defaults() -> None:
    flags = [
        "--fast",
        "--tokens",
        "3",
        "--rate-limit",
        "2",
        "--tool-call-style",
        "fragmented",
        "--usage-chunk",
        "separate",
    ]
    for base_url in serving(*flags):
        with Mistral(base_url=base_url, max_retries=0) as client:
            result = client.chat.stream_collect(model="mistral-small-latest", messages=[user("hi")])
            assert result.usage is not None and result.usage.completion_tokens == 3
            assert result.chunks is not None and result.chunks[-1].choices == []  # usage in its own chunk
            weather = {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
            with httpx2.stream(
                "POST",
                f"{base_url}/v1/chat/completions",
                json={
                    "model": "mistral-small-latest",
                    "messages": [{"role": "user", "content": "x"}],
                    "tools": [weather],
                    "tool_choice": "any",
                    "stream": True,
                },
            ) as response:
                body = response.read()
            assert b'"arguments":""' in body  # the fragmented style's first delta
            with pytest.raises(RateLimitError):
                client.chat.complete(model="mistral-small-latest", messages=[user("hi")])


def test_serve_refuses_a_bad_flag_value_in_one_line() -> None:
    done = run_cli("serve", "--port", "0", "--tokens", "many")
    assert done.returncode == 2
    assert "--tokens" in done.stderr


def test_serve_replays_recordings_offline(tmp_path: Path) -> None:
    with (
        LocalServer() as upstream,
        LocalServer(record_dir=tmp_path, upstream=upstream.base_url) as recorder,
        Mistral(base_url=recorder.base_url) as client,
    ):
        recorded = client.chat.complete(model="mistral-small-latest", messages=[user("hi")])
    for base_url in serving("--replay", str(tmp_path), "--fast"):
        with Mistral(base_url=base_url) as client:
            assert client.chat.complete(model="mistral-small-latest", messages=[user("hi")]).id == recorded.id


def test_serve_record_and_replay_flags_are_checked(tmp_path: Path) -> None:
    for args, words in [
        (["--record", str(tmp_path)], "--record needs --upstream"),
        (["--upstream", "http://127.0.0.1:1"], "--upstream goes with --record"),
        (["--replay", str(tmp_path / "nowhere")], "not a directory"),
    ]:
        done = run_cli("serve", "--port", "0", *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


def test_serve_on_a_busy_port_is_one_error_line(server: LocalServer) -> None:
    done = run_cli("serve", "--host", "127.0.0.1", "--port", str(server.port))

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{ERROR_PREFIX} cannot listen on 127.0.0.1:{server.port}")
