"""A real model behind the local server: SmolLM2-135M-Instruct run by llama.cpp (the ``local-model`` extra).

The model is loaded once per session and serves every test here through a LocalServer over loopback
HTTP. Without the extra these tests skip, except in CI (``CI`` set), which installs it: there they fail.
The CLI's fallback when the extra is missing is tested everywhere.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from mistral_client import Mistral, RateLimitError, assistant, user
from mistral_client.server import (
    EngineBusy,
    Finish,
    LlamaEngine,
    LocalServer,
    Prompt,
    ServerConfig,
    local_model_missing,
)
from tests.support.helpers import MODEL, Runner
from tests.support.openapi import conforms

SRC = Path(__file__).resolve().parents[2] / "src"
MISSING = local_model_missing()
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
QUESTION = [user("What is the capital of France?")]
STORY = [user("Write a very long story about a lighthouse keeper and her cat.")]
HAIKU = "Write a haiku about rivers."  # the README's command: it used to repeat one line for 70 s


def loops(text: str) -> bool:
    """Whether a line, or a phrase of two words or more between punctuation, comes three times or more."""
    lines = [line.strip().lower() for line in text.splitlines() if line.strip()]
    phrases = [part.strip().lower() for part in re.split(r"[\n.,;:!?]+", text) if len(part.split()) >= 2]
    return any(items.count(item) >= 3 for items in (lines, phrases) for item in items)


@pytest.fixture(scope="session")
def engine() -> Iterator[LlamaEngine]:
    if MISSING is not None:
        if IN_CI:
            pytest.fail(f"CI installs the local-model extra, yet {MISSING}")
        pytest.skip(f"needs the local-model extra ({MISSING})")
    # One request generates while one waits; a third is refused (test_the_queue_is_bounded).
    with LlamaEngine(max_queue=1) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def _model_server(engine: LlamaEngine) -> Iterator[LocalServer]:
    with LocalServer(config=ServerConfig(engine=engine)) as server:
        yield server


@pytest.fixture
def model_server(_model_server: LocalServer, engine: LlamaEngine) -> LocalServer:
    assert engine.wait_until_idle(60), "a previous test left the model generating"
    _model_server.clear_records()
    return _model_server


def test_real_tokens_stream_through_the_client(model_server: LocalServer, engine: LlamaEngine, kind: str) -> None:
    chunks, result = Runner(kind, model_server.base_url).stream(
        messages=QUESTION, max_tokens=12, temperature=0.7, random_seed=3
    )

    # What arrived is what the model writes for this request, token by token.
    expected = list(
        engine.generate(Prompt(model=MODEL, messages=QUESTION, max_tokens=12, temperature=0.7, random_seed=3))
    )
    *pieces, finish = expected
    assert isinstance(finish, Finish)
    assert result.content == "".join(str(piece) for piece in pieces)
    assert [chunk.content for chunk in chunks if chunk.content] == pieces
    assert len(pieces) > 1
    # usage counts the model's tokens (the chat template's included), not words or chunks.
    assert result.usage is not None
    record = engine.generations[-2]  # the HTTP request's; the last one is ours, just above
    assert result.usage.prompt_tokens == record.prompt_tokens == engine.count_prompt_tokens(Prompt(MODEL, QUESTION))
    assert result.usage.prompt_tokens > 20  # the template's system prompt and markers, not 6 words
    assert result.usage.completion_tokens == record.completion_tokens == finish.completion_tokens
    assert result.finish_reason == finish.reason
    assert (result.finish_reason, result.usage.completion_tokens) == ("length", 12) or result.finish_reason == "stop"


def test_the_same_seed_gives_the_same_text(model_server: LocalServer) -> None:
    def answer(seed: int) -> str:
        with Mistral(base_url=model_server.base_url) as client:
            return client.chat.stream_collect(
                model=MODEL, messages=STORY, max_tokens=16, temperature=1.0, random_seed=seed
            ).content

    first = answer(7)
    assert first
    assert answer(7) == first
    assert answer(8) != first  # the seed matters: sampling at temperature 1 is not greedy


def test_max_tokens_stop_and_temperature_zero_are_honoured(model_server: LocalServer) -> None:
    with Mistral(base_url=model_server.base_url) as client:
        greedy = client.chat.stream_collect(model=MODEL, messages=STORY, max_tokens=10, temperature=0)
        # Greedy decoding ignores the seed.
        assert (
            client.chat.stream_collect(
                model=MODEL, messages=STORY, max_tokens=10, temperature=0, random_seed=99
            ).content
            == greedy.content
        )
        assert greedy.finish_reason == "length"
        assert greedy.usage is not None and greedy.usage.completion_tokens == 10
        # A stop sequence taken from inside the answer cuts it just before, with finish reason "stop".
        words = greedy.content.split()
        assert len(words) >= 3, greedy.content
        stop = words[2]
        cut = client.chat.stream_collect(model=MODEL, messages=STORY, max_tokens=10, temperature=0, stop=[stop])
    assert cut.finish_reason == "stop"
    assert cut.content == greedy.content[: greedy.content.index(stop)]
    assert cut.usage is not None and cut.usage.completion_tokens < 10


def test_a_disconnect_stops_the_model(model_server: LocalServer, engine: LlamaEngine) -> None:
    with (
        Mistral(base_url=model_server.base_url) as client,
        client.chat.stream(model=MODEL, messages=STORY, max_tokens=1500, temperature=0) as stream,
    ):
        for count, _ in enumerate(stream, 1):
            if count == 4:  # the role chunk and three tokens
                stream.cancel()
    model_server.wait_for_disconnect(10)
    assert engine.wait_until_idle(10), "the model went on generating for a client that left"
    record = engine.generations[-1]
    assert record.finish_reason == "cancelled"
    assert record.completion_tokens < 1500
    # It stopped within the token it was computing when the server closed the request.
    assert record.tokens_after_cancel is not None and record.tokens_after_cancel <= 1

    # The model is free: the next request is answered in full.
    with Mistral(base_url=model_server.base_url) as client:
        after = client.chat.stream_collect(model=MODEL, messages=QUESTION, max_tokens=5)
    assert after.content
    assert engine.generations[-1].finish_reason in ("stop", "length")


def test_a_disconnect_stops_the_model_behind_a_wrapped_answer(model_server: LocalServer, engine: LlamaEngine) -> None:
    # In reasoning mode the server wraps the model's text in thinking chunks: it holds a generator
    # around the engine's answer, not the answer itself, and stops the model through the prompt.
    with (
        Mistral(base_url=model_server.base_url) as client,
        client.chat.stream(
            model=MODEL, messages=STORY, max_tokens=1500, temperature=0, prompt_mode="reasoning"
        ) as stream,
    ):
        for chunk in stream:
            if chunk.content:  # the model's text has begun
                stream.cancel()
    model_server.wait_for_disconnect(10)
    assert engine.wait_until_idle(10), "the model went on generating for a client that left"
    record = engine.generations[-1]
    assert record.finish_reason == "cancelled"
    assert 0 < record.completion_tokens < 1500


def test_the_queue_is_bounded(model_server: LocalServer, engine: LlamaEngine) -> None:
    with Mistral(base_url=model_server.base_url, max_retries=0) as client:
        long = {"model": MODEL, "messages": STORY, "max_tokens": 1500, "temperature": 0}
        with client.chat.stream(**long) as generating:
            next(iter(generating))  # the role chunk: this one has the model
            # Once its headers came, the second is admitted: it waits for the model. A third is one too many.
            with client.chat.stream(**long), pytest.raises(RateLimitError) as refused:
                client.chat.stream_collect(model=MODEL, messages=QUESTION, max_tokens=5)
            generating.cancel()
    assert engine.wait_until_idle(10)

    error = refused.value
    assert error.status_code == 429
    assert error.retry_after is not None and error.retry_after >= 1
    body = error.body
    assert body == {
        "object": "error",
        "message": "server busy: model queue full",  # not a quota: the model has too much to do
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    # The one that waited was withdrawn when its client left, before the model ever ran it.
    waited, ran = sorted(engine.generations[-2:], key=lambda record: record.completion_tokens)
    assert (waited.finish_reason, waited.completion_tokens) == ("cancelled", 0)
    assert ran.finish_reason == "cancelled"


def test_busy_engine_raises_before_anything_is_sent(engine: LlamaEngine, model_server: LocalServer) -> None:
    # The same bound, straight on the engine: generate() admits or refuses at once.
    prompt = Prompt(model=MODEL, messages=STORY, max_tokens=1500, temperature=0)
    first, second = engine.generate(prompt), engine.generate(prompt)
    try:
        with pytest.raises(EngineBusy) as busy:
            engine.generate(prompt)
        assert busy.value.retry_after > 0
    finally:
        for generation in (second, first):
            generation.close()  # type: ignore[attr-defined]
    assert engine.wait_until_idle(10)


def test_a_haiku_ends_without_looping(model_server: LocalServer, engine: LlamaEngine) -> None:
    # What the model wrote with repeat_penalty=1.0 (as before): the detector sees it.
    assert loops("In the heart of the world, a river flows, a river flows, a river flows.")
    assert loops("Flow on\nthe river\nFlow on\nFlow on")
    assert not loops("In the heart of a river, where shadows dance,\nA life is lived in the depths.")

    with Mistral(base_url=model_server.base_url) as client:
        for seed in range(1, 7):
            # No max_tokens and the default temperature: what `chat --local` sends.
            answer = client.chat.stream_collect(model=MODEL, messages=[user(HAIKU)], random_seed=seed)
            assert not loops(answer.content), (seed, answer.content)
            assert answer.finish_reason == "stop", (seed, answer.content)
            assert answer.usage is not None and answer.usage.completion_tokens < engine.max_tokens  # type: ignore[operator]


def test_an_answer_without_max_tokens_ends_at_the_engines_cap() -> None:
    if MISSING is not None:
        pytest.skip(f"needs the local-model extra ({MISSING})")
    with LlamaEngine(max_tokens=8) as capped:
        *pieces, finish = capped.generate(Prompt(model=MODEL, messages=STORY, temperature=0))
        assert finish == Finish("length", completion_tokens=8)
        # The request's own max_tokens still wins, above the cap too.
        *_, longer = capped.generate(Prompt(model=MODEL, messages=STORY, temperature=0, max_tokens=12))
        assert longer == Finish("length", completion_tokens=12)
    assert pieces


def test_the_engine_settings_are_checked_before_loading(engine: LlamaEngine) -> None:
    for name, value in (
        ("threads", 0),
        ("max_tokens", 0),
        ("max_queue", -1),
        ("temperature", -0.1),
        ("top_p", 0.0),
        ("top_k", -1),
        ("min_p", 1.5),
        ("repeat_penalty", 0.0),
    ):
        with pytest.raises(ValueError, match=name):
            LlamaEngine("/no/such/model.gguf", **{name: value})
    # The defaults: half the cores to write and all of them to read a prompt, a repeat penalty and a
    # cap on answers without max_tokens.
    assert engine.threads == max(1, (os.cpu_count() or 2) // 2)
    assert engine.prompt_threads == (os.cpu_count() or 2)
    with LlamaEngine(threads=1) as capped:  # a number given caps both
        assert (capped.threads, capped.prompt_threads) == (1, 1)
    assert (engine.repeat_penalty, engine.max_tokens, engine.temperature) == (1.1, 512, 0.3)


def test_a_conversation_keeps_its_computed_prefix_and_its_text(engine: LlamaEngine) -> None:
    def ask(on: LlamaEngine, messages: list[dict[str, str]]) -> str:
        prompt = Prompt(model=MODEL, messages=messages, max_tokens=24, temperature=0.7, random_seed=11)
        return "".join(piece for piece in on.generate(prompt) if isinstance(piece, str))

    conversation = [user("Name three colours.")]
    texts = []
    for question in ("Which one is the warmest?", "Why?"):
        texts.append(ask(engine, conversation))
        previous = engine.generations[-1]
        conversation += [assistant(texts[-1]), user(question)]
    texts.append(ask(engine, conversation))
    last = engine.generations[-1]
    # The third turn computed only what follows the second's answer, not the whole conversation: the
    # answer was kept, its last token and the template's words after it computed while nothing waited.
    assert last.reused_tokens > previous.prompt_tokens + previous.completion_tokens, (last, previous)

    # The same requests on a model that starts afresh each time give the same text, to the token:
    # what was kept was computed as a fresh start computes it.
    for turn, text in enumerate(texts):
        with LlamaEngine() as fresh:
            assert ask(fresh, conversation[: 2 * turn + 1]) == text, turn
            assert fresh.generations[-1].reused_tokens == 0


@pytest.mark.timeout(300)  # two threads on a machine whose cores are busy spin waiting for each other
@pytest.mark.parametrize("seed", [1, 2])
def test_a_long_conversation_on_two_threads_keeps_its_text(seed: int) -> None:
    # Past 256 tokens of context, llama.cpp splits the attention of a token computed alone across
    # threads, which sums in another order, unless the cache is quantized: with a 16-bit cache on
    # two threads, both seeds here gave another second answer than a fresh start.
    if MISSING is not None:
        pytest.skip(f"needs the local-model extra ({MISSING})")
    letter = " ".join(f"Day {day}: the lamp was lit, the cat slept." for day in range(1, 21))
    conversation = [user(f"Here is the keeper's log. {letter} Summarise it.")]

    def ask(on: LlamaEngine) -> str:
        prompt = Prompt(model=MODEL, messages=conversation, max_tokens=24, temperature=1.0, random_seed=seed)
        return "".join(piece for piece in on.generate(prompt) if isinstance(piece, str))

    with LlamaEngine(threads=2) as kept:
        first = ask(kept)
        assert kept.generations[-1].prompt_tokens > 256  # its answer was written past 256 tokens
        conversation += [assistant(first), user("Shorter, please.")]
        second = ask(kept)
        assert kept.generations[-1].reused_tokens > kept.generations[-2].prompt_tokens
    with LlamaEngine(threads=2) as fresh:
        assert ask(fresh) == second
        assert fresh.generations[-1].reused_tokens == 0


@pytest.mark.timeout(300)
def test_reading_a_prompt_on_more_threads_keeps_the_text() -> None:
    # A conversation long enough that a token alone could have its attention split (past 256 tokens),
    # kept on an engine that reads prompts on every core, gives the text of a fresh engine on one thread.
    if MISSING is not None:
        pytest.skip(f"needs the local-model extra ({MISSING})")
    letter = " ".join(f"Day {day}: the tide came in, the gulls slept." for day in range(1, 21))
    conversation = [user(f"Here is the keeper's log. {letter} Summarise it.")]

    def ask(on: LlamaEngine) -> str:
        prompt = Prompt(model=MODEL, messages=conversation, max_tokens=24, temperature=1.0, random_seed=5)
        return "".join(piece for piece in on.generate(prompt) if isinstance(piece, str))

    with LlamaEngine() as kept:
        if kept.prompt_threads == 1:
            pytest.skip("one core: a prompt is read on one thread")
        first = ask(kept)
        conversation += [assistant(first), user("Shorter, please.")]
        second = ask(kept)
        assert kept.generations[-1].prompt_tokens > 256
        assert kept.generations[-1].reused_tokens > kept.generations[-2].prompt_tokens
    with LlamaEngine(threads=1) as fresh:
        assert ask(fresh) == second
        assert fresh.generations[-1].reused_tokens == 0
        conversation[1:] = []
        assert ask(fresh) == first


def test_the_wire_format_validates_against_the_spec(model_server: LocalServer) -> None:
    request = {"model": MODEL, "messages": QUESTION, "max_tokens": 8, "stream": True, "random_seed": 1}
    with httpx2.Client(base_url=model_server.base_url, timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json=request) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            body = response.read()
        completion = http.post("/v1/chat/completions", json={**request, "stream": False})
    blocks = body.split(b"\n\n")
    assert blocks[-1] == b""
    data = [block.removeprefix(b"data: ") for block in blocks[:-1]]
    assert data[-1] == b"[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    for chunk in chunks:
        conforms("CompletionChunk", chunk)
    last = chunks[-1]
    # Each content chunk carries at least one token (a character split across tokens waits for the rest).
    assert 1 <= len(chunks) - 2 <= last["usage"]["completion_tokens"] <= 8
    assert last["choices"][0]["finish_reason"] in ("stop", "length")

    assert completion.status_code == 200
    answer = completion.json()
    conforms("ChatCompletionResponse", answer)
    # Same seed, same request: the same text whether streamed or not.
    assert answer["choices"][0]["message"]["content"] == "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert answer["usage"] == chunks[-1]["usage"]


# --- The command line ----------------------------------------------------------------------------


def run_cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL")}
    env["PYTHONPATH"] = str(SRC)
    code = f"{prelude}\nimport sys\nfrom mistral_client.cli import main\nraise SystemExit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_chat_local_streams_from_the_model_and_says_so(engine: LlamaEngine) -> None:
    done = run_cli("chat", "What is the capital of France?", "--local", "--max-tokens", "6", "--stats")

    assert done.returncode == 0, done.stderr
    notice, *stats = done.stderr.strip().splitlines()
    described = f"{engine.model_name}, a real model run by llama.cpp"
    assert notice == f"mistral-client: --local: streaming from the embedded local server ({described})"
    assert done.stdout.strip()
    assert "usage: prompt=" in "\n".join(stats)


def test_a_model_asked_for_but_not_installed_is_a_usage_error() -> None:
    # As if llama-cpp-python were not installed: asked for by name, it fails with the install line (issue 17).
    done = run_cli(
        "chat",
        "hi",
        "--local",
        "--engine",
        "llama",
        "--max-tokens",
        "3",
        prelude="import sys; sys.modules['llama_cpp'] = None",
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "mistral-client: error: no local model: llama-cpp-python is not installed: "
        "pip install 'mistral-client[local-model]'",
    ]
    assert done.stdout == ""


def test_a_missing_model_file_is_a_usage_error(tmp_path: Path) -> None:
    for command in (["chat", "hi", "--local"], ["serve", "--port", "0"]):
        done = run_cli(*command, "--model-path", str(tmp_path / "nope.gguf"))
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"mistral-client: error: --model-path: no such file: {tmp_path / 'nope.gguf'}"
        ]


def test_closing_the_engine_cancels_what_it_holds(engine: LlamaEngine) -> None:
    with LlamaEngine(max_queue=1) as own:
        prompt = Prompt(model=MODEL, messages=STORY, max_tokens=1500, temperature=0)
        running, waiting = own.generate(prompt), own.generate(prompt)
        assert isinstance(next(running), str)  # it has the model
    # Closing returned without generating 1500 tokens, and stopped both.
    assert sorted(record.finish_reason for record in own.generations) == ["cancelled", "cancelled"]
    assert list(waiting) == []
    with pytest.raises(RuntimeError, match="closed"):
        own.generate(prompt)


def test_serve_with_the_model(engine: LlamaEngine) -> None:
    env = {name: value for name, value in os.environ.items() if name not in ("MISTRAL_API_KEY", "MISTRAL_BASE_URL")}
    env["PYTHONPATH"] = str(SRC)
    command = [sys.executable, "-m", "mistral_client", "serve", "--port", "0", "--engine", "llama", "--queue", "0"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert f"({engine.model_name}, a real model run by llama.cpp)" in first, first
        base_url = first.split(" at ")[1].split("/v1")[0]
        with Mistral(base_url=base_url) as client:
            result = client.chat.stream_collect(model=MODEL, messages=QUESTION, max_tokens=4, random_seed=5)
        assert result.content
        assert result.usage is not None and result.usage.prompt_tokens == engine.count_prompt_tokens(
            Prompt(MODEL, QUESTION)
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_a_conversation_streams_the_models_text(model_server: LocalServer) -> None:
    from tests.support.conversations import checked, named_events

    body = {
        "model": MODEL,
        "inputs": "What is the capital of France?",
        "stream": True,
        "completion_args": {"max_tokens": 8, "random_seed": 3},
    }
    with (
        httpx2.Client(base_url=model_server.base_url, timeout=120) as http,
        http.stream("POST", "/v1/conversations", json=body) as response,
    ):
        events = checked(named_events(response.read()))
    text = "".join(data["content"] for name, data in events if name == "message.output.delta")
    assert text.strip() and events[-1][0] == "conversation.response.done"
    assert 1 <= events[-1][1]["usage"]["completion_tokens"] <= 8
