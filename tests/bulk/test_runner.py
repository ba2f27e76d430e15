"""The bulk runner in this process against the shared local server: input checks, files, resume, callbacks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mistral_client import AsyncMistral
from mistral_client.bulk import BadInputError, BulkResult, BulkRunner, BulkStats, arun, errors_path_for, run
from mistral_client.server import LocalServer
from tests.bulk.helpers import read_results, request_line, result_ids, write_requests


def chat_requests(server: LocalServer) -> list[str]:
    return [str(r.body["messages"][0]["content"]) for r in server.recorder.requests if r.path.endswith("/completions")]


async def test_a_run_writes_every_result_once_in_the_batch_output_format(server: LocalServer, tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 60)
    seen: list[BulkResult] = []
    async with AsyncMistral(base_url=server.base_url) as client:
        async for result in arun(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", client=client, concurrency=8):
            seen.append(result)
    assert sorted(result.custom_id for result in seen) == sorted(ids)
    assert all(result.ok and result.status_code == 200 for result in seen)
    lines = read_results(tmp_path / "out.jsonl")
    assert sorted(line["custom_id"] for line in lines) == sorted(ids)
    first = lines[0]
    assert set(first) == {"id", "custom_id", "response", "error"}
    assert first["error"] is None and first["response"]["status_code"] == 200
    assert first["response"]["body"]["choices"][0]["message"]["content"]
    assert seen[0].body["object"] == "chat.completion"
    assert sorted(chat_requests(server)) == sorted(ids)  # each sent once
    assert not errors_path_for(tmp_path / "out.jsonl").exists() or not read_results(tmp_path / "out.errors.jsonl")


def test_bad_lines_are_all_reported_with_their_numbers_and_nothing_is_sent(server: LocalServer, tmp_path: Path) -> None:
    good = json.dumps(request_line("a"))
    lines = [
        good,
        "{not json",
        '{"custom_id": "b"}',
        good,  # duplicate of line 1
        "",
        '{"body": {"messages": []}}',
        '["a list"]',
        '{"custom_id": "c", "body": "text"}',
        '{"custom_id": 7, "body": {}}',
        json.dumps(request_line("d", stream=True)),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as caught:
        run(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False)
    numbers = [problem.line for problem in caught.value.problems]
    assert numbers == [2, 3, 4, 6, 7, 8, 9, 10]
    message = str(caught.value)
    assert "7 bad lines" not in message and "8 bad lines, nothing was sent" in message
    assert "line 2: not JSON" in message
    assert 'line 3: no "body"' in message
    assert "line 4: custom_id 'a' again (first on line 1)" in message
    assert 'line 6: no "custom_id"' in message
    assert "line 7: not a JSON object" in message
    assert '"body" must be a JSON object, got a string' in message
    assert '"custom_id" must be a non-empty string, got 7' in message
    assert '"stream": true' in message
    assert server.recorder.requests == []
    assert not (tmp_path / "out.jsonl").exists()


def test_a_bad_item_of_an_iterable_stops_the_run_with_its_position(server: LocalServer, tmp_path: Path) -> None:
    items = [request_line("a"), request_line("b"), {"custom_id": "c"}]
    with pytest.raises(BadInputError, match='line 3: no "body"'):
        run(items, output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False, concurrency=1)


def test_resume_skips_written_ids_and_cuts_a_torn_last_line(server: LocalServer, tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    run(tmp_path / "in.jsonl", output=out, base_url=server.base_url, progress=False)
    lines = out.read_bytes().splitlines(keepends=True)
    kept = lines[:12]
    # A run killed mid-write: twelve whole lines, then half of the thirteenth.
    out.write_bytes(b"".join(kept) + lines[12][: len(lines[12]) // 2])
    server.clear_records()
    stats = run(tmp_path / "in.jsonl", output=out, base_url=server.base_url, progress=False)
    assert stats.skipped == 12 and stats.succeeded == 8
    written = result_ids(out)
    assert sorted(written) == sorted(ids) and len(written) == len(ids)
    kept_ids = {json.loads(line)["custom_id"] for line in kept}
    assert sorted(chat_requests(server)) == sorted(set(ids) - kept_ids)


def test_a_failing_request_goes_to_the_errors_file_and_the_run_goes_on(server: LocalServer, tmp_path: Path) -> None:
    items = [request_line("ok1"), request_line("bad", model="no-such-model"), request_line("ok2")]
    stats = run(items, output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False)
    assert (stats.succeeded, stats.failed) == (2, 1)
    assert sorted(result_ids(tmp_path / "out.jsonl")) == ["ok1", "ok2"]
    (error,) = read_results(tmp_path / "out.errors.jsonl")
    assert error["custom_id"] == "bad" and error["response"]["status_code"] >= 400
    assert "no-such-model" in error["error"]["message"] or error["error"]["message"]
    # Started again, the failed one is not sent again unless asked to.
    server.clear_records()
    again = run(items, output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False)
    assert again.skipped == 3 and again.done == 0 and server.recorder.requests == []
    retried = run(items, output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False, retry_errors=True)
    assert retried.done == 1 and chat_requests(server) == ["bad"]
    assert result_ids(tmp_path / "out.errors.jsonl") == ["bad"]


def test_callbacks_see_every_result_and_the_counts(server: LocalServer, tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 10)
    results: list[str] = []
    progress: list[tuple[int, int]] = []

    def on_progress(stats: BulkStats) -> None:
        progress.append((stats.done, stats.total or 0))

    run(
        tmp_path / "in.jsonl",
        output=tmp_path / "out.jsonl",
        base_url=server.base_url,
        progress=False,
        on_result=lambda result: results.append(result.custom_id),
        on_progress=on_progress,
    )
    assert sorted(results) == sorted(f"r{n}" for n in range(10))
    assert progress[-1] == (10, 10) and [done for done, _ in progress] == list(range(1, 11))


def test_model_fills_bodies_that_name_none(server: LocalServer, tmp_path: Path) -> None:
    line = request_line("a")
    del line["body"]["model"]
    run([line], output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False, model="mistral-tiny-latest")
    assert server.recorder.requests[0].body["model"] == "mistral-tiny-latest"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"engine": "fast"}, "engine must be 'direct' or 'batch'"),
        ({"endpoint": "/v1/nothing"}, "endpoint '/v1/nothing'"),
        ({"endpoint": "/v1/audio/transcriptions"}, "the direct engine sends to one of"),
        ({"concurrency": 0}, "concurrency must be a whole number >= 1"),
        ({"on_result": "print"}, "on_result must be a callable"),
        ({"errors": "OUT"}, "output and errors are the same file"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    server: LocalServer, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    write_requests(tmp_path / "in.jsonl", 2)
    if options.get("errors") == "OUT":
        options["errors"] = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match=message):
        BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", **options)  # type: ignore[arg-type]
    assert server.recorder.requests == []


def test_a_missing_input_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        BulkRunner(tmp_path / "nope.jsonl", output=tmp_path / "out.jsonl")


def test_an_output_file_of_something_else_is_refused(server: LocalServer, tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 2)
    (tmp_path / "out.jsonl").write_text('{"hello": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: not a result line with a custom_id"):
        run(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False)
    assert server.recorder.requests == []


async def test_two_runs_cannot_append_to_one_file(server: LocalServer, tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 200)
    async with AsyncMistral(base_url=server.base_url) as client:
        first = arun(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", client=client, concurrency=1).__aiter__()
        await first.__anext__()  # the first run holds the file
        with pytest.raises(ValueError, match="another run is writing"):
            await BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", client=client).run()
        await first.aclose()  # type: ignore[attr-defined]


async def test_stop_ends_the_run_with_whole_lines_and_a_resume_finishes_it(server: LocalServer, tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 300)
    out = tmp_path / "out.jsonl"
    async with AsyncMistral(base_url=server.base_url) as client:
        runner = BulkRunner(tmp_path / "in.jsonl", output=out, client=client, concurrency=4)
        count = 0
        async for _ in runner:
            count += 1
            if count == 20:
                runner.stop()
        assert runner.stopped and 20 <= runner.stats.done < 300
        assert "run it again with the same output file" in runner.resume_hint()
        written = result_ids(out)
        assert len(written) == len(set(written)) == runner.stats.done
        stats = await BulkRunner(tmp_path / "in.jsonl", output=out, client=client).run()
    assert stats.skipped == len(written)
    assert sorted(result_ids(out)) == sorted(ids)


def test_progress_needs_a_terminal_or_asking(tmp_path: Path) -> None:
    from mistral_client.bulk._progress import wants_bar

    class Tty:
        def isatty(self) -> bool:
            return True

    assert wants_bar(None, Tty()) is True  # type: ignore[arg-type]
    assert wants_bar(None, open(tmp_path / "f", "w")) is False  # noqa: SIM115
    assert wants_bar(False, Tty()) is False  # type: ignore[arg-type]


def test_a_bar_draws_done_of_total_rates_and_errors(server: LocalServer, tmp_path: Path) -> None:
    import io

    from mistral_client.bulk._progress import ProgressBar

    stats = BulkStats(total=10, skipped=2, succeeded=5, failed=1, tokens=600)
    buffer = io.StringIO()
    bar = ProgressBar(stats, "out.jsonl", file=buffer)
    with bar:
        pass
    shown = buffer.getvalue()
    assert "8/10" in shown and "req/s" in shown and "tok/s" in shown and "1 errors" in shown


def test_importing_the_package_loads_neither_the_runner_nor_rich() -> None:
    import subprocess
    import sys

    code = "import sys, mistral_client; print('mistral_client.bulk' in sys.modules, 'rich' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "False"]


def test_a_run_without_a_terminal_does_not_load_rich(server: LocalServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    write_requests(tmp_path / "in.jsonl", 3)
    code = (
        "import sys; from mistral_client.bulk import run; "
        f"run({str(tmp_path / 'in.jsonl')!r}, output={str(tmp_path / 'out.jsonl')!r}, base_url={server.base_url!r}); "
        "print('rich' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"
    assert len(result_ids(tmp_path / "out.jsonl")) == 3


def test_asyncio_run_of_a_runner_works_from_a_fresh_loop(server: LocalServer, tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 5)
    runner = BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", base_url=server.base_url, progress=False)
    stats = asyncio.run(runner.run())
    assert stats.succeeded == 5
    with pytest.raises(ValueError, match="runs once"):
        runner.__aiter__()


def test_the_batch_engine_uploads_polls_and_downloads(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 30)
    lines = (tmp_path / "in.jsonl").read_text().splitlines()
    # One line the service refuses: it lands in the errors file.
    lines[5] = json.dumps({"custom_id": "r5", "body": {"model": "no-such-model", "messages": [{"role": "user"}]}})
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    statuses: list[str | None] = []
    with LocalServer(mock_headers={"x-mock-batch-line-delay": "0.01"}) as server:
        stats = run(
            tmp_path / "in.jsonl",
            output=tmp_path / "out.jsonl",
            engine="batch",
            base_url=server.base_url,
            poll_interval=0.2,
            on_progress=lambda stats: statuses.append(stats.status),
        )
        uploads = [r for r in server.recorder.requests if r.path == "/v1/files" and r.method == "POST"]
        creates = [r for r in server.recorder.requests if r.path == "/v1/batch/jobs" and r.method == "POST"]
    assert len(uploads) == 1 and len(creates) == 1
    assert creates[0].body["endpoint"] == "/v1/chat/completions"
    assert (stats.succeeded, stats.failed) == (29, 1)
    assert "RUNNING" in statuses or "QUEUED" in statuses
    assert statuses[-1] == "SUCCESS"
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(set(ids) - {"r5"})
    assert result_ids(tmp_path / "out.errors.jsonl") == ["r5"]
    assert not (tmp_path / "out.jsonl.job").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.errors.jsonl", "out.jsonl"]


def test_a_stopped_batch_run_picks_its_job_up_again(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    with LocalServer(mock_headers={"x-mock-batch-line-delay": "0.05"}) as server:
        first = BulkRunner(
            tmp_path / "in.jsonl", output=out, engine="batch", base_url=server.base_url, poll_interval=0.1
        )
        first.on_progress = lambda stats: first.stop()  # stop at the first poll: the job is queued or running
        asyncio.run(first.run())
        assert first.stopped and first.stats.job_id is not None
        assert (tmp_path / "out.jsonl.job").read_text().strip() == first.stats.job_id
        second = BulkRunner(
            tmp_path / "in.jsonl", output=out, engine="batch", base_url=server.base_url, poll_interval=0.1
        )
        stats = asyncio.run(second.run())
        creates = [r for r in server.recorder.requests if r.path == "/v1/batch/jobs" and r.method == "POST"]
    assert len(creates) == 1 and stats.job_id == first.stats.job_id
    assert stats.succeeded == 10 and sorted(result_ids(out)) == sorted(ids)
    assert not (tmp_path / "out.jsonl.job").exists()


def test_a_sync_client_lends_its_configuration(server: LocalServer, tmp_path: Path) -> None:
    from mistral_client import Mistral

    with (
        LocalServer(api_key="sk-bulk-sync") as keyed,
        Mistral(api_key="sk-bulk-sync", base_url=keyed.base_url) as client,
    ):
        stats = run([request_line("a")], output=tmp_path / "out.jsonl", client=client, progress=False)
        assert stats.succeeded == 1
        assert keyed.recorder.requests[0].headers["authorization"] == "[redacted]"  # the key went with it


def test_extra_headers_go_with_every_request_and_odd_answers_are_errors_not_crashes(
    server: LocalServer, tmp_path: Path
) -> None:
    items = [request_line(f"h{n}") for n in range(5)]
    stats = run(
        items,
        output=tmp_path / "out.jsonl",
        base_url=server.base_url,
        progress=False,
        extra_headers={"x-mock-html": "1"},
    )
    assert all(r.headers.get("x-mock-html") == "1" for r in server.recorder.requests)
    assert (stats.succeeded, stats.failed) == (0, 5)  # a 200 that is no JSON: each one's failure, the run went on
    errors = read_results(tmp_path / "out.errors.jsonl")
    assert sorted(line["custom_id"] for line in errors) == [f"h{n}" for n in range(5)]
    assert all("not JSON" in line["error"]["message"] for line in errors)


def test_a_batch_job_that_times_out_leaves_the_rest_for_the_next_run(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    knobs = {"x-mock-batch-line-delay": "0.05", "x-mock-batch-timeout": "0.4"}
    with LocalServer() as server:
        first = run(
            tmp_path / "in.jsonl",
            output=out,
            engine="batch",
            base_url=server.base_url,
            poll_interval=0.1,
            extra_headers=knobs,
        )
        assert first.status == "TIMEOUT_EXCEEDED" and first.done < 20
        second = run(tmp_path / "in.jsonl", output=out, engine="batch", base_url=server.base_url, poll_interval=0.1)
    assert second.status == "SUCCESS" and second.skipped == first.done
    written = result_ids(out) + result_ids(tmp_path / "out.errors.jsonl")
    assert sorted(written) == sorted(ids)


def test_the_direct_engine_sends_to_the_endpoint_named(server: LocalServer, tmp_path: Path) -> None:
    items = [{"custom_id": f"e{n}", "body": {"model": "mistral-embed", "input": [f"text {n}"]}} for n in range(4)]
    stats = run(items, output=tmp_path / "out.jsonl", base_url=server.base_url, endpoint="/v1/embeddings")
    assert stats.succeeded == 4
    assert {r.path for r in server.recorder.requests} == {"/v1/embeddings"}
    assert all(line["response"]["body"]["data"][0]["embedding"] for line in read_results(tmp_path / "out.jsonl"))


def test_an_exception_in_a_callback_stops_the_run_and_propagates(server: LocalServer, tmp_path: Path) -> None:
    write_requests(tmp_path / "in.jsonl", 50)

    def on_result(result: BulkResult) -> None:
        if result.custom_id == "r3":
            raise LookupError("the program's own bug")

    with pytest.raises(LookupError, match="the program's own bug"):
        run(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", base_url=server.base_url, on_result=on_result)
    written = result_ids(tmp_path / "out.jsonl")
    assert "r3" in written and len(written) < 50  # its result was written first; the run stopped soon after
