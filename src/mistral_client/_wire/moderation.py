"""Moderation and classification on the wire: ``/v1/moderations``, ``/v1/chat/moderations``,
``/v1/classifications`` and ``/v1/chat/classifications``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .._exceptions import InvalidRequestError
from .answers import OrNull
from .requests import _at, _encode, _Messages, messages_as_dicts

__all__ = [
    "MODERATION_CATEGORIES",
    "ClassificationRequest",
    "ClassificationResponse",
    "ClassificationTarget",
    "ModerationCategory",
    "ModerationResponse",
    "ModerationResult",
    "build_chat_classification_body",
    "build_classification_body",
]

ModerationCategory = Literal[
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
]
# The categories of ``mistral-moderation-latest``, in the spec's order; an answer may carry others.
MODERATION_CATEGORIES: tuple[ModerationCategory, ...] = ModerationCategory.__args__  # type: ignore[attr-defined]


class ClassificationRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``/v1/moderations`` and ``/v1/classifications``: texts to classify."""

    model: Annotated[str, Meta(min_length=1)]
    input: str | Annotated[list[str], Meta(min_length=1)]
    metadata: dict[str, Any] | UnsetType | None = UNSET


class ModerationResult(msgspec.Struct, gc=False):
    """One input's verdict: ``categories`` (flagged or not) and ``category_scores`` (0 to 1), by category."""

    categories: OrNull[dict[str, bool]] = msgspec.field(default_factory=dict)
    category_scores: OrNull[dict[str, float]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.categories is None:
            self.categories = {}
        if self.category_scores is None:
            self.category_scores = {}

    @property
    def flagged(self) -> bool:
        """Whether any category is flagged."""
        return any(self.categories.values())

    @property
    def flagged_categories(self) -> list[str]:
        """The flagged categories, highest score first."""
        flagged = [name for name, value in self.categories.items() if value]
        return sorted(flagged, key=lambda name: -self.category_scores.get(name, 0.0))

    def score(self, category: ModerationCategory | str) -> float:
        """The score of one category (``0.0`` when the answer does not name it)."""
        return self.category_scores.get(category, 0.0)


class ModerationResponse(msgspec.Struct, gc=False):
    """``results[i]`` is the verdict on input ``i`` (on conversation ``i`` for ``moderations.chat``)."""

    id: OrNull[str] = ""
    model: OrNull[str] = ""
    results: OrNull[list[ModerationResult]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""
        if self.model is None:
            self.model = ""
        if self.results is None:
            self.results = []

    @property
    def flagged(self) -> bool:
        """Whether any input has a flagged category."""
        return any(result.flagged for result in self.results)


class ClassificationTarget(msgspec.Struct, gc=False):
    """A classifier's scores for one target (one head of a fine-tuned classifier), by label."""

    scores: OrNull[dict[str, float]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scores is None:
            self.scores = {}

    @property
    def label(self) -> str | None:
        """The label with the highest score (``None`` without scores)."""
        return max(self.scores, key=self.scores.__getitem__) if self.scores else None

    @property
    def score(self) -> float:
        """The highest score."""
        return max(self.scores.values()) if self.scores else 0.0


class ClassificationResponse(msgspec.Struct, gc=False):
    """``results[i]`` maps each target of the classifier to its scores, for input ``i``."""

    id: OrNull[str] = ""
    model: OrNull[str] = ""
    results: OrNull[list[dict[str, ClassificationTarget]]] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""
        if self.model is None:
            self.model = ""
        if self.results is None:
            self.results = []


def build_classification_body(
    method: str, model: str | None, input: Any, metadata: dict[str, Any] | None, example: str
) -> bytes:
    """Check a text classification's arguments and return the JSON body to send."""
    if model is None:
        raise InvalidRequestError(f"{method}() needs model=..., e.g. {example}")
    if input is None:
        raise InvalidRequestError(f"{method}() needs input=..., a string or a list of strings")
    payload: dict[str, Any] = {"model": model, "input": input}
    if metadata is not None:
        payload["metadata"] = metadata
    try:
        msgspec.convert(payload, ClassificationRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    return _encode(method, payload)


def build_chat_classification_body(
    method: str, model: str | None, input: Any, example: str, *, instruct: bool
) -> bytes:
    """Check a conversation classification's arguments: ``input`` is one conversation (a list of
    messages) or several (a list of lists).  ``instruct`` wraps each as ``{"messages": [...]}``, the
    shape ``/v1/chat/classifications`` takes."""
    if model is None:
        raise InvalidRequestError(f"{method}() needs model=..., e.g. {example}")
    if input is None:
        raise InvalidRequestError(f"{method}() needs input=[...], a list of messages (or a list of such lists)")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(f"{method}(): model must be a non-empty string, got {model!r}")
    if not isinstance(input, Sequence) or isinstance(input, (str, bytes)) or not input:
        raise InvalidRequestError(f"{method}(): input must be a non-empty list of messages (or of lists of messages)")
    several = all(isinstance(item, Sequence) and not isinstance(item, (str, bytes)) for item in input)
    conversations = [messages_as_dicts(list(item)) for item in input] if several else [messages_as_dicts(input)]
    for index, messages in enumerate(conversations):
        where = f"input[{index}]" if several else "input"
        if not messages:
            raise InvalidRequestError(f"{method}(): {where} is empty; give at least one message")
        try:
            msgspec.convert(messages, _Messages)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"{method}(): invalid message: {_at(exc, where)}") from None
    if instruct:
        wrapped = [{"messages": messages} for messages in conversations]
        value: Any = wrapped if several else wrapped[0]
    else:
        value = conversations if several else conversations[0]
    return _encode(method, {"model": model, "input": value})
