"""Moderation and classification: ``POST /v1/moderations``, ``/v1/chat/moderations``,
``/v1/classifications`` and ``/v1/chat/classifications``, by deterministic rules.

Moderation scores the nine categories of Mistral's moderation model: a category whose words (or,
for ``pii``, an e-mail address or a phone number) appear in the text scores between 0.85 and 0.95
and is flagged; the others score below 0.01. Classification answers two targets for every input:
``sentiment`` (positive, negative, neutral: counted from words) and ``language`` (en, fr, other:
counted from common words). The same text always gets the same scores.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._inputs import answer_delay, injected, invalid_model
from ._requests import Message, schema_problems
from ._state import shared_of

__all__ = ["MODERATION_ROUTES", "category_scores"]


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b", re.I)


_RULES: dict[str, re.Pattern[str]] = {
    "sexual": _words("sex", "sexual", "nude", "porn", "explicit"),
    "hate_and_discrimination": _words("hate", "hateful", "racist", "inferior", "slur"),
    "violence_and_threats": _words("kill", "attack", "hurt you", "threaten", "weapon", "shoot"),
    "dangerous_and_criminal_content": _words("bomb", "explosive", "steal", "hack into", "launder", "drugs"),
    "selfharm": _words("suicide", "self-harm", "hurt myself", "kill myself"),
    "health": _words("diagnosis", "symptom", "symptoms", "medication", "disease", "doctor"),
    "financial": _words("invest", "investment", "loan", "stock", "stocks", "bank account", "crypto"),
    "law": _words("lawsuit", "lawyer", "legal advice", "court", "sue"),
    "pii": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d -]{7,}\d|\bsocial security\b|\bpassport number\b", re.I),
}
_POSITIVE = _words("good", "great", "love", "excellent", "happy", "thanks", "wonderful", "like")
_NEGATIVE = _words("bad", "terrible", "hate", "awful", "sad", "angry", "worst", "broken")
_ENGLISH = _words("the", "and", "is", "of", "to", "you", "it", "this")
_FRENCH = _words("le", "la", "les", "et", "est", "de", "des", "vous", "une", "merci")


def _fraction(text: str, salt: str) -> float:
    """A number in [0, 1) that ``text`` and ``salt`` decide."""
    digest = hashlib.sha256(f"{salt}\0{text}".encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48


def category_scores(text: str) -> dict[str, float]:
    return {
        name: round(
            0.85 + 0.1 * _fraction(text, name) if rule.search(text) else 0.0001 + 0.0099 * _fraction(text, name), 6
        )
        for name, rule in _RULES.items()
    }


def _moderation(text: str) -> dict[str, Any]:
    scores = category_scores(text)
    return {"categories": {name: score > 0.5 for name, score in scores.items()}, "category_scores": scores}


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Scores that add up to 1, each label's share of ``counts`` plus one (so none is 0)."""
    total = sum(counts.values()) + len(counts)
    return {label: round((count + 1) / total, 6) for label, count in counts.items()}


def _classification(text: str) -> dict[str, Any]:
    positive, negative = len(_POSITIVE.findall(text)), len(_NEGATIVE.findall(text))
    neutral = 1 if positive == negative else 0
    english, french = len(_ENGLISH.findall(text)), len(_FRENCH.findall(text))
    other = 1 if english == french == 0 else 0
    return {
        "sentiment": {"scores": _shares({"positive": positive, "negative": negative, "neutral": neutral})},
        "language": {"scores": _shares({"en": english, "fr": french, "other": other})},
    }


# --- Requests (the spec's, strict) -----------------------------------------------------------------


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class _ClassificationRequest(_Strict, kw_only=True):
    model: str
    input: str | list[str]
    metadata: dict[str, Any] | None = None


class _ChatOne(_Strict, kw_only=True):
    model: str
    input: list[Message]


class _ChatMany(_Strict, kw_only=True):
    model: str
    input: list[list[Message]]


class _Instruct(_Strict):
    messages: list[Message]


class _ChatClassificationRequest(_Strict, kw_only=True):
    model: str
    input: _Instruct | list[_Instruct]


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(chunk.get("text", "") for chunk in content or () if isinstance(chunk, dict))


def _conversation_text(messages: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(_message_text(message) for message in messages)


async def _body(request: Request, schema: type[msgspec.Struct] | None = None) -> dict[str, Any] | Response:
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    if schema is None:  # chat moderation: one conversation or several, by the shape of the first item
        many = isinstance(body, dict) and isinstance(body.get("input"), list) and bool(body["input"])
        schema = _ChatMany if many and isinstance(body["input"][0], list) else _ChatOne
    if problems := schema_problems(body, schema):
        return JSONResponse({"detail": problems}, status_code=422)
    assert isinstance(body, dict)
    return body


def _answer(request: Request, body: Mapping[str, Any], results: list[dict[str, Any]], texts: list[str]) -> Response:
    shared_of(request).window.spend(tokens=sum(len(text.split()) for text in texts))
    return JSONResponse({"id": uuid.uuid4().hex, "model": body["model"], "results": results})


def _serves(request: Request, model: str, *, classifier: bool) -> bool:
    if shared_of(request).config.any_model or model.startswith("mistral-moderation"):
        return True
    return classifier and model.startswith("ft:")  # a fine-tuned classifier


async def _route(request: Request, *, chat: bool, classify: bool) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    schema: type[msgspec.Struct] | None
    schema = (_ChatClassificationRequest if classify else None) if chat else _ClassificationRequest
    body = await _body(request, schema)
    if isinstance(body, Response):
        return body
    model = body["model"]
    if not _serves(request, model, classifier=classify):
        return invalid_model(model)
    request.state.model = model
    given = body["input"]
    if not chat:
        texts = [given] if isinstance(given, str) else list(given)
    elif classify:
        texts = [_conversation_text(item["messages"]) for item in (given if isinstance(given, list) else [given])]
    else:
        conversations = given if given and isinstance(given[0], list) else [given]
        texts = [_conversation_text(conversation) for conversation in conversations]
    judge = _classification if classify else _moderation
    await answer_delay(request)
    return _answer(request, body, [judge(text) for text in texts], texts)


async def moderations(request: Request) -> Response:
    return await _route(request, chat=False, classify=False)


async def chat_moderations(request: Request) -> Response:
    return await _route(request, chat=True, classify=False)


async def classifications(request: Request) -> Response:
    return await _route(request, chat=False, classify=True)


async def chat_classifications(request: Request) -> Response:
    return await _route(request, chat=True, classify=True)


MODERATION_ROUTES = [
    Route("/v1/moderations", moderations, methods=["POST"]),
    Route("/v1/chat/moderations", chat_moderations, methods=["POST"]),
    Route("/v1/classifications", classifications, methods=["POST"]),
    Route("/v1/chat/classifications", chat_classifications, methods=["POST"]),
]
