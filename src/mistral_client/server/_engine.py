"""What produces the words of an answer: a small interface and a deterministic stand-in for a model.

The HTTP side only needs pieces of text followed by a finish reason, so a real model can replace
``TemplateEngine`` by implementing ``Engine``; nothing here knows about HTTP or server-sent events.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Engine", "EngineBusy", "Finish", "Prompt", "TemplateEngine", "message_text", "prompt_seed"]


@dataclass(frozen=True)
class Prompt:
    """The parts of a chat request that decide the answer's text."""

    model: str
    messages: Sequence[Any]
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    random_seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    # How long the answer is when nothing cuts it short; a real model is free to ignore it.
    target_tokens: int = 30
    # Which of ``n`` answers this is: each index gets its own text (0 is the text of a lone answer).
    choice_index: int = 0
    # The rest of the request, for engines that use it (the server shapes tool calls, JSON and
    # reasoning itself, so an engine that only writes text can ignore these).
    tools: Sequence[Any] = ()
    response_format: Any = None
    prompt_mode: str | None = None
    # Set by the server when nobody wants the answer any more (the client left): an engine that
    # computes for long (a real model) stops. Shared by the copies made for ``n`` answers.
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class Finish:
    """The last item an engine yields: why the text ended."""

    reason: str
    index: int = 0  # the choice it ends, when the server interleaves ``n`` answers
    # Set by engines whose pieces are not one token each (a real model): the usage to report.
    completion_tokens: int | None = None


class EngineBusy(Exception):
    """Raised by ``generate`` when the engine cannot take one more request; the server answers 429."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the engine is busy; retry after {retry_after:g} s")
        self.retry_after = retry_after


class Engine(Protocol):
    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        """Yield the answer as text pieces (one per token, leading space included), then a ``Finish``."""
        ...

    def count_prompt_tokens(self, prompt: Prompt) -> int: ...


# fmt: off
_SUBJECTS = (
    "The model", "A small server", "Every stream", "The client", "This answer", "Our test",
    "The quiet river", "A careful reader", "The local engine", "Each request", "The old library",
    "A patient robot", "The morning train", "Your program",
)
_VERBS = (
    "sends", "reads", "writes", "returns", "parses", "counts", "carries", "follows", "repeats",
    "builds", "checks", "remembers", "finds",
)
_OBJECTS = (
    "a short reply", "the next token", "each event", "plain words", "the final chunk",
    "a tidy sentence", "the whole message", "a friendly greeting", "some useful facts",
    "the same story", "a clear answer", "every line",
)
_ENDINGS = (
    "", "", "today", "on time", "in order", "again", "with care", "for you", "without a pause",
    "before lunch", "one more time",
)
# fmt: on
_SENTENCE_ENDS = frozenset({".", "!", "?"})


@dataclass
class TemplateEngine:
    """Readable English-ish text, the same for the same model, messages and ``random_seed``.

    Sentences are drawn from a fixed vocabulary by a generator seeded with a hash of the prompt,
    so tests can compare answers across requests and processes (``hash()`` is salted per process,
    hence sha256).
    """

    greetings: tuple[str, ...] = field(default=("Hello", "Sure", "Certainly", "Well"))

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        natural = prompt.target_tokens
        limit = natural if prompt.max_tokens is None else min(natural, prompt.max_tokens)
        tokens = itertools.islice(self._tokens(prompt, natural), limit)
        reason = "length" if limit < natural else "stop"
        if not prompt.stop:
            # No look-ahead needed: stay lazy so a million-token benchmark answer costs no memory.
            yield from tokens
            yield Finish(reason)
            return
        pieces = list(tokens)
        text = "".join(pieces)
        cut = min((i for i in (text.find(s) for s in prompt.stop if s) if i >= 0), default=-1)
        if cut < 0:
            yield from pieces
            yield Finish(reason)
            return
        emitted = 0
        for piece in pieces:
            if emitted + len(piece) >= cut:
                if cut > emitted:
                    yield piece[: cut - emitted]
                break
            yield piece
            emitted += len(piece)
        yield Finish("stop")

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return sum(len(message_text(message).split()) for message in prompt.messages)

    def _tokens(self, prompt: Prompt, count: int) -> Iterator[str]:
        """``count`` tokens; the last one ends a sentence so a full answer reads as finished."""
        words = self._words(random.Random(prompt_seed(prompt)))
        for index in range(count):
            word = next(words)
            if index == count - 2 and word in _SENTENCE_ENDS:
                word = " too"  # so the full stop that comes next does not follow another one
            elif index == count - 1 and index > 0:
                word = "."
            yield word

    def _words(self, rng: random.Random) -> Iterator[str]:
        yield rng.choice(self.greetings)  # the only word without a leading space: it starts the text
        yield "!"
        while True:
            ending = rng.choice(_ENDINGS)
            sentence = " ".join(
                part for part in (rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), ending) if part
            )
            for word in sentence.split(" "):
                yield " " + word
            yield rng.choice(".....!")


def prompt_seed(prompt: Prompt, salt: str = "") -> int:
    """A seed from the request: the same model, messages, ``random_seed``, choice and salt give the same one."""
    parts: list[Any] = [prompt.model, prompt.messages, prompt.random_seed]
    if prompt.choice_index:
        parts.append(prompt.choice_index)  # left out for 0, so a lone answer keeps its historical text
    if salt:
        parts.append(salt)
    key = json.dumps(parts, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def message_text(message: Any) -> str:
    """The text of one message, whether ``content`` is a string or a list of typed chunks."""
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            chunk["text"] for chunk in content if isinstance(chunk, Mapping) and isinstance(chunk.get("text"), str)
        )
    return ""
