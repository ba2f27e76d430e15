"""``client.embeddings``: vectors for texts."""

from __future__ import annotations

from typing import Any

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._wire.answers import EmbeddingResponse
from ..._wire.requests import build_embedding_body
from ._base import AsyncResource, Headers, decode

__all__ = ["AsyncEmbeddings"]

_PATH = "/embeddings"
_decode = msgspec.json.Decoder(EmbeddingResponse).decode


class AsyncEmbeddings(AsyncResource):
    async def create(
        self,
        *,
        model: str | None = None,
        input: str | list[str] | None = None,
        output_dimension: int | None = None,
        output_dtype: str | None = None,
        encoding_format: str | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> EmbeddingResponse:
        """One vector per input, in ``.data`` (``.vectors`` for the plain lists, in input order)."""
        if model is None:
            raise InvalidRequestError("embeddings.create() needs model=..., e.g. Models.EMBED ('mistral-embed')")
        if input is None:
            raise InvalidRequestError("embeddings.create() needs input=..., a string or a list of strings")
        payload = {
            "model": model,
            "input": input,
            "output_dimension": output_dimension,
            "output_dtype": output_dtype,
            "encoding_format": encoding_format,
            "metadata": metadata,
        }
        body = build_embedding_body(payload, method="embeddings.create")
        data, sent = await self.post_json(_PATH, body, timeout, extra_headers, operation="embeddings")
        return decode(_decode, data, "an embedding list", sent)
