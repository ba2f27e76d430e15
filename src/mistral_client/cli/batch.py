"""``mistral-client batch``: run a JSONL of requests to a results file, and look after Batch API jobs.

    mistral-client batch run requests.jsonl -o results.jsonl [--engine direct|batch] [--concurrency N]
    mistral-client batch status JOB_ID | cancel JOB_ID | download JOB_ID [-o FILE]

``run`` checks every line first and reports each bad one with its line number before anything is
sent (exit 2); a run stopped with Ctrl-C (exit 130), or killed, resumes when started again with the
same ``-o``.  Exit 1 when some requests failed (they are in the errors file).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import arguments
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, describe_error, say

__all__ = ["add_parser", "run"]

_DIRECT_DEFAULT_CONCURRENCY = 16


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batch = commands.add_parser(
        "batch",
        help="run a JSONL file of requests, resumably; Batch API jobs",
        formatter_class=arguments.Wrapping,
        description=(
            'Run many requests from a JSONL file of {"custom_id": ..., "body": {...}} lines (the Batch API\'s '
            "format), writing each result to an output file as it arrives; or look after a Batch API job."
        ),
    )
    actions = batch.add_subparsers(dest="batch_command", metavar="ACTION")
    runner = actions.add_parser(
        "run",
        help="send every request of a JSONL file; started again with the same -o, it resumes",
        formatter_class=arguments.Wrapping,
        description=(
            "Send every request of REQUESTS and append each result to OUTPUT as it arrives (failures to the errors "
            "file). Every line is checked first: bad ones are listed with their line numbers and nothing is sent. "
            "Started again with the same OUTPUT, a run sends only the requests whose custom_id is in neither file yet."
        ),
    )
    runner.add_argument("requests", metavar="REQUESTS", help="the JSONL file of requests")
    runner.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="the results file (appended to)")
    runner.add_argument(
        "--errors", metavar="FILE", help="where failed requests go (default: OUTPUT with .errors before its suffix)"
    )
    runner.add_argument(
        "--engine",
        choices=["direct", "batch"],
        default="direct",
        help="direct: send the requests from here, concurrently; batch: the Batch API (cheaper, slower) "
        "(default: direct)",
    )
    runner.add_argument(
        "--concurrency",
        type=arguments.threads,
        default=_DIRECT_DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"direct: at most N requests in flight; fewer while the service says to slow down "
        f"(default: {_DIRECT_DEFAULT_CONCURRENCY})",
    )
    runner.add_argument(
        "--endpoint", default="/v1/chat/completions", help="where each body is sent (default: /v1/chat/completions)"
    )
    runner.add_argument("--model", "-m", help="the model for lines whose body names none")
    runner.add_argument(
        "--retry-errors", action="store_true", help="send again the requests in the errors file (it starts over)"
    )
    runner.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    _base_url(runner)
    for name, text in (
        ("status", "a job's status and counts"),
        ("cancel", "ask the service to stop a job"),
        ("download", "write a finished job's output (and error) file"),
    ):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("job_id", metavar="JOB_ID")
        if name == "download":
            action.add_argument("-o", "--output", metavar="FILE", help="the output file (default: JOB_ID.jsonl)")
            action.add_argument(
                "--errors", metavar="FILE", help="the error file (default: JOB_ID.errors.jsonl), if the job has one"
            )
        _base_url(action)


def _base_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url", metavar="URL", help="the API's address (default: MISTRAL_BASE_URL, else https://api.mistral.ai)"
    )


def run(args: argparse.Namespace) -> int:
    from .._exceptions import InvalidRequestError, MistralError

    command = getattr(args, "batch_command", None)
    if command is None:
        say("error: batch needs an action: run, status, cancel or download (mistral-client batch --help)")
        return EXIT_USAGE
    try:
        if command == "run":
            return _run(args)
        return _job(args, command)
    except InvalidRequestError as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except MistralError as exc:
        say(f"error: {describe_error(exc, secret=os.environ.get('MISTRAL_API_KEY'))}")
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    from ..bulk import BulkRunner, run_blocking

    runner = BulkRunner(
        args.requests,
        output=args.output,
        errors=args.errors,
        engine=args.engine,
        endpoint=args.endpoint,
        model=args.model,
        concurrency=args.concurrency,
        retry_errors=args.retry_errors,
        progress=False if args.no_progress else None,
        base_url=args.base_url,
    )
    runner.source.check()  # bad lines before a missing key: they are the first thing to fix
    stats = runner.stats
    try:
        run_blocking(runner)
    except KeyboardInterrupt:
        where = f"; the job {stats.job_id} goes on at the service" if stats.job_id else ""
        say(f"interrupted: {stats.skipped + stats.done:,} results in {args.output}{where}")
        say(f"to resume: {_resume_command(args)}")
        return EXIT_INTERRUPTED
    if stats.status is not None and stats.status != "SUCCESS":
        say(
            f"error: batch job {stats.job_id} ended {stats.status}: {stats.done:,} results written to "
            f"{args.output} (failures to {runner.errors}); run it again to send the rest in a new job"
        )
        return EXIT_FAILED
    failed = f", {stats.failed:,} failed (in {runner.errors})" if stats.failed else ""
    skipped = f" ({stats.skipped:,} already there)" if stats.skipped else ""
    job = f" (batch job {stats.job_id}, {stats.status})" if stats.job_id else ""
    if not stats.done and stats.skipped and stats.skipped == stats.total:
        say(f"nothing to send: all {stats.skipped:,} results are in {args.output} already")
    else:
        say(
            f"{stats.succeeded + stats.skipped:,} results in {args.output}{skipped}{failed}; {stats.done:,} this run "
            f"in {stats.elapsed:.1f} s, {stats.requests_per_second:,.0f} requests/s{job}"
        )
    return EXIT_FAILED if stats.failed else EXIT_OK


def _resume_command(args: argparse.Namespace) -> str:
    words = ["mistral-client", "batch", "run", args.requests, "-o", args.output]
    if args.errors:
        words += ["--errors", args.errors]
    if args.engine != "direct":
        words += ["--engine", args.engine]
    if args.base_url:
        words += ["--base-url", args.base_url]
    return " ".join(_quoted(word) for word in words)


def _quoted(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _job(args: argparse.Namespace, command: str) -> int:
    from .._sync.client import Mistral

    with Mistral(base_url=args.base_url) as client:
        jobs = client.batch.jobs
        if command == "cancel":
            job = jobs.cancel(args.job_id)
            _show(job)
            return EXIT_OK
        job = jobs.get(args.job_id)
        if command == "status":
            _show(job)
            return EXIT_OK
        if not job.done:
            say(f"error: job {job.id} is {job.status}: its files are written when it ends (batch status {job.id})")
            return EXIT_FAILED
        written = []
        for file_id, target in (
            (job.output_file, args.output or f"{job.id}.jsonl"),
            (job.error_file, args.errors or f"{job.id}.errors.jsonl"),
        ):
            if file_id is not None:
                size = client.files.download(file_id, target)
                written.append(f"{target} ({size:,} bytes)")
        say(f"job {job.id} {job.status}: " + (", ".join(written) if written else "no files"))
        return EXIT_OK if job.status == "SUCCESS" else EXIT_FAILED


def _show(job: Any) -> None:
    fields = [
        ("id", job.id),
        ("status", job.status),
        ("endpoint", job.endpoint),
        ("model", job.model),
        (
            "requests",
            f"{job.completed_requests:,} of {job.total_requests:,} done, "
            f"{job.succeeded_requests:,} succeeded, {job.failed_requests:,} failed",
        ),
        ("output_file", job.output_file),
        ("error_file", job.error_file),
    ]
    for name, value in fields:
        if value is not None:
            print(f"{name + ':':13} {value}", file=sys.stdout)
