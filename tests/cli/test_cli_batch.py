"""``mistral-client batch``: bad input reported before sending, usage errors, a run's summary, a key kept secret."""

from __future__ import annotations

import json
from pathlib import Path

from mistral_client.server import LocalServer
from tests.bulk.helpers import request_line, result_ids, write_requests
from tests.cli.test_cli import ERROR_PREFIX, cli_env, run_cli

KEY = "sk-test-batch-cli-9a7c"


def test_bad_lines_are_listed_with_their_numbers_and_nothing_is_sent(server: LocalServer, tmp_path: Path) -> None:
    lines = [
        json.dumps(request_line("a")),
        "not json",
        '{"custom_id": "b"}',
        json.dumps(request_line("a")),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    done = run_cli(
        "batch",
        "run",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(tmp_path / "out.jsonl"),
        env=cli_env(base_url=server.base_url),
    )
    assert done.returncode == 2
    assert f"{ERROR_PREFIX} {tmp_path / 'in.jsonl'}: 3 bad lines, nothing was sent:" in done.stderr
    assert "  line 2: not JSON" in done.stderr
    assert '  line 3: no "body"' in done.stderr
    assert "  line 4: custom_id 'a' again (first on line 1)" in done.stderr
    assert server.recorder.requests == []
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_lines_come_before_a_missing_key(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("nope\n")
    done = run_cli("batch", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert done.returncode == 2 and "line 1: not JSON" in done.stderr


def test_a_missing_key_is_one_line(tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 1)
    done = run_cli("batch", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no API key" in done.stderr


def test_usage_errors(tmp_path: Path) -> None:
    assert run_cli("batch").returncode == 2
    missing = run_cli("batch", "run", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    engine = run_cli("batch", "run", "x", "-o", "y", "--engine", "fast")
    assert engine.returncode == 2 and "invalid choice" in engine.stderr
    zero = run_cli("batch", "run", "x", "-o", "y", "--concurrency", "0")
    assert zero.returncode == 2 and "expected a whole number >= 1" in zero.stderr


def test_a_run_with_failures_sums_up_and_exits_1_and_never_shows_the_key(tmp_path: Path) -> None:
    lines = [request_line("ok"), request_line("bad", model="no-such-model")]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with LocalServer(api_key=KEY) as server:
        env = cli_env(key=KEY, base_url=server.base_url)
        done = run_cli("batch", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), env=env)
        again = run_cli("batch", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), env=env)
    assert done.returncode == 1, done.stderr
    assert f"1 results in {tmp_path / 'out.jsonl'}, 1 failed (in {tmp_path / 'out.errors.jsonl'})" in done.stderr
    assert result_ids(tmp_path / "out.jsonl") == ["ok"] and result_ids(tmp_path / "out.errors.jsonl") == ["bad"]
    assert again.returncode == 0 and "nothing to send: all 2 results are in" in again.stderr
    for text in (
        done.stdout,
        done.stderr,
        (tmp_path / "out.jsonl").read_text(),
        (tmp_path / "out.errors.jsonl").read_text(),
    ):
        assert KEY not in text


def test_job_actions_name_a_job_that_is_not_there(server: LocalServer) -> None:
    env = cli_env(base_url=server.base_url)
    done = run_cli("batch", "status", "00000000-0000-4000-8000-000000000000", env=env)
    assert done.returncode == 1 and ERROR_PREFIX in done.stderr and "404" in done.stderr


def test_on_a_terminal_a_progress_bar_shows_counts_rates_and_errors(server: LocalServer, tmp_path: Path) -> None:
    from tests.cli.test_cli_terminal import run_in_pty

    items = [request_line(f"p{n}") for n in range(30)] + [request_line("bad", model="no-such-model")]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in items))
    args = ("batch", "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    code, shown = run_in_pty(*args, env=cli_env(base_url=server.base_url))
    assert code == 1  # one request failed
    assert "31/31" in shown and "req/s" in shown and "tok/s" in shown and "1 errors" in shown
    plain = run_cli(*args[:-1], str(tmp_path / "again.jsonl"), env=cli_env(base_url=server.base_url))
    assert "req/s" not in plain.stderr and "\x1b[" not in plain.stderr  # no terminal: no bar
    quiet_code, quiet = run_in_pty(
        *args[:-1], str(tmp_path / "third.jsonl"), "--no-progress", env=cli_env(base_url=server.base_url)
    )
    assert quiet_code == 1 and "req/s" not in quiet
