"""``client.moderations``: is a text, or a conversation, harmful, and in which categories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..._config import TimeoutLike
from ..._wire.moderation import ModerationResponse
from ..._wire.moderation import build_chat_classification_body as chat_body
from ..._wire.moderation import build_classification_body as text_body
from ._base import AsyncResource, Headers, decode

__all__ = ["AsyncModerations"]

_decode = msgspec.json.Decoder(ModerationResponse).decode


class AsyncModerations(AsyncResource):
    async def create(
        self,
        *,
        model: str | None = None,
        input: str | list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> ModerationResponse:
        """Moderate texts: ``results[i]`` is the verdict on ``input[i]`` (``flagged``, ``categories``,
        ``category_scores``)."""
        body = text_body("moderations.create", model, input, metadata, "mistral-moderation-latest")
        data, sent = await self.post_json("/moderations", body, timeout, extra_headers, operation="moderation")
        return decode(_decode, data, "a moderation answer", sent)

    async def chat(
        self,
        *,
        model: str | None = None,
        input: Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> ModerationResponse:
        """Moderate a conversation (a list of messages), or several (a list of lists): one result each."""
        body = chat_body("moderations.chat", model, input, "mistral-moderation-latest", instruct=False)
        data, sent = await self.post_json("/chat/moderations", body, timeout, extra_headers, operation="moderation")
        return decode(_decode, data, "a moderation answer", sent)
