"""``client.classifiers``: scores from a classifier model (a fine-tuned one, or moderation), by label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..._config import TimeoutLike
from ..._wire.moderation import ClassificationResponse
from ..._wire.moderation import build_chat_classification_body as chat_body
from ..._wire.moderation import build_classification_body as text_body
from ._base import AsyncResource, Headers, decode

__all__ = ["AsyncClassifiers"]

_decode = msgspec.json.Decoder(ClassificationResponse).decode


class AsyncClassifiers(AsyncResource):
    async def classify(
        self,
        *,
        model: str | None = None,
        input: str | list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> ClassificationResponse:
        """Classify texts: ``results[i][target]`` holds the scores by label (``.label``, the best one)."""
        body = text_body("classifiers.classify", model, input, metadata, "your fine-tuned classifier's id")
        data, sent = await self.post_json("/classifications", body, timeout, extra_headers, operation="classification")
        return decode(_decode, data, "a classification answer", sent)

    async def classify_chat(
        self,
        *,
        model: str | None = None,
        input: Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> ClassificationResponse:
        """Classify a conversation (a list of messages), or several (a list of lists)."""
        body = chat_body("classifiers.classify_chat", model, input, "your fine-tuned classifier's id", instruct=True)
        data, sent = await self.post_json(
            "/chat/classifications", body, timeout, extra_headers, operation="classification"
        )
        return decode(_decode, data, "a classification answer", sent)
