"""The model ids the server answers to, and the card ``/v1/models`` shows for each.

The names are the client's ``Models`` (the one list of them). What a model can do is read from
the family its id starts with, so a dated release (``magistral-medium-2509``) or a name given to
``serve --model`` gets the same card as its family's alias. Nothing here imports the web framework.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from .._wire.messages import Models

__all__ = ["KNOWN_MODELS", "Capability", "accepts", "can", "embedding_dimension", "model_card"]

# Models' constants in the order the class lists them: /v1/models shows them so.
KNOWN_MODELS: tuple[str, ...] = tuple(value for name, value in vars(Models).items() if name.isupper())

# What a route needs from a model: a card capability, or "embeddings" (cards have no such flag).
Capability = Literal["completion_chat", "completion_fim", "embeddings", "reasoning"]

# A release is the family's name and the year and month it came out: mistral-small-2506.
_DATED = re.compile(r"(?P<family>.+)-\d\d(?:0[1-9]|1[0-2])")


@dataclass(frozen=True)
class _Family:
    prefix: str
    can: frozenset[str]  # card capabilities that are true, or {"embeddings"}
    context: int = 131_072
    dimension: int = 1024  # embedding models: the vector length when output_dimension is not given


def _family(prefix: str, *can: str, context: int = 131_072, dimension: int = 1024) -> _Family:
    return _Family(prefix, frozenset(can), context, dimension)


_CHAT = ("completion_chat", "function_calling")
# An id's family is the first one whose prefix starts it.
_FAMILIES = (
    _family("codestral-embed", "embeddings", context=8192, dimension=1536),
    _family("mistral-embed", "embeddings", context=8192),
    _family("magistral", *_CHAT, "reasoning", "vision"),
    _family("codestral", *_CHAT, "completion_fim", context=262_144),
    _family("devstral", *_CHAT, context=262_144),
    _family("pixtral", *_CHAT, "vision"),
    _family("voxtral", *_CHAT, "audio", context=32_768),
    _family("ministral", *_CHAT, "vision"),
    _family("mistral-large", *_CHAT, "vision", context=262_144),
    _family("mistral-medium", *_CHAT, "vision"),
    _family("mistral-small", *_CHAT, "vision"),
    _family("open-mistral", *_CHAT),
)
# An id of no known family (a --model or --any-model name) is not second-guessed: every route serves it.
_OTHER = _family("", *_CHAT, "completion_fim", "embeddings")
# The card's flags, all present as the live cards have them (the spec's ModelCapabilities).
_CARD_FLAGS = (
    "completion_chat",
    "function_calling",
    "reasoning",
    "completion_fim",
    "fine_tuning",
    "vision",
    "ocr",
    "classification",
    "moderation",
    "audio",
    "audio_transcription",
)


def _traits(model: str) -> _Family:
    return next((family for family in _FAMILIES if model.startswith(family.prefix)), _OTHER)


def accepts(model: str, models: Collection[str], *, any_model: bool = False) -> bool:
    """Whether a server that lists ``models`` answers to ``model``: one of them, or a dated release
    of one (``mistral-small-2506`` of ``mistral-small-latest``, ``mistral-embed-2312`` of ``mistral-embed``);
    with ``any_model``, every id."""
    if any_model or model in models:
        return True
    dated = _DATED.fullmatch(model)
    if dated is None or dated["family"].endswith("-latest"):
        return False
    return f"{dated['family']}-latest" in models or dated["family"] in models


def can(model: str, capability: Capability) -> bool:
    """Whether ``model`` serves a route needing ``capability``: its family's capabilities, or all
    of them for an id of no known family."""
    return capability in _traits(model).can


def embedding_dimension(model: str) -> int:
    return _traits(model).dimension


def model_card(model: str) -> dict[str, Any]:
    """The card the live ``/v1/models`` shows, with this family's capabilities."""
    traits = _traits(model)
    return {
        "id": model,
        "object": "model",
        "created": 1_767_225_600,
        "owned_by": "mistralai",
        "capabilities": {flag: flag in traits.can for flag in _CARD_FLAGS},
        "name": model,
        "description": f"Local stand-in for {model}",
        "max_context_length": traits.context,
        "aliases": [],
        "deprecation": None,
        "default_model_temperature": 0.3 if "completion_chat" in traits.can else None,
        "type": "base",
    }
