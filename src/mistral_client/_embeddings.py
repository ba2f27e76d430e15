"""``client.embeddings``: vectors for texts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ._chat import Headers, acomplete_request, complete_request
from ._config import TimeoutLike
from ._exceptions import APIError
from ._models import EmbeddingResponse
from ._request import build_embedding_body

if TYPE_CHECKING:
    from ._client import AsyncMistral, Mistral

__all__ = ["AsyncEmbeddings", "Embeddings"]

_PATH = "/embeddings"
_decode = msgspec.json.Decoder(EmbeddingResponse).decode


def _body(
    model: str | None,
    input: str | list[str] | None,
    output_dimension: int | None,
    output_dtype: str | None,
    encoding_format: str | None,
    metadata: dict[str, Any] | None,
) -> bytes:
    from ._exceptions import InvalidRequestError

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
    return build_embedding_body(payload, method="embeddings.create")


def _parse(data: bytes, request: Any) -> EmbeddingResponse:
    try:
        return _decode(data)
    except msgspec.DecodeError as exc:
        raise APIError(f"the answer is not an embedding list: {exc}", request=request, body=data[:500]) from None


class Embeddings:
    def __init__(self, client: Mistral) -> None:
        self._client = client

    def create(
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
        body = _body(model, input, output_dimension, output_dtype, encoding_format, metadata)
        data, sent = complete_request(self._client, _PATH, body, timeout, extra_headers)
        return _parse(data, sent)


class AsyncEmbeddings:
    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

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
        body = _body(model, input, output_dimension, output_dtype, encoding_format, metadata)
        data, sent = await acomplete_request(self._client, _PATH, body, timeout, extra_headers)
        return _parse(data, sent)
