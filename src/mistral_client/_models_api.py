"""``client.models``: the models the API offers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from ._config import TimeoutLike
from ._exceptions import APIError
from ._models import Model, ModelList

if TYPE_CHECKING:
    from ._client import AsyncMistral, Mistral

__all__ = ["AsyncModelsAPI", "ModelsAPI"]

_decode_list = msgspec.json.Decoder(ModelList).decode
_decode_model = msgspec.json.Decoder(Model).decode


def _parse_list(data: bytes) -> ModelList:
    try:
        return _decode_list(data)
    except msgspec.DecodeError as exc:
        raise APIError(f"the answer is not a model list: {exc}", body=data[:500]) from None


def _parse_model(data: bytes) -> Model:
    try:
        return _decode_model(data)
    except msgspec.DecodeError as exc:
        raise APIError(f"the answer is not a model card: {exc}", body=data[:500]) from None


class ModelsAPI:
    def __init__(self, client: Mistral) -> None:
        self._client = client

    def list(self, *, timeout: TimeoutLike = None) -> ModelList:
        """The models available to this key (``.data`` is a list of ``Model``)."""
        data, _ = self._client._call("GET", "/models", body=None, timeout=timeout)
        return _parse_list(data)

    def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        data, _ = self._client._call("GET", f"/models/{model_id}", body=None, timeout=timeout)
        return _parse_model(data)


class AsyncModelsAPI:
    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

    async def list(self, *, timeout: TimeoutLike = None) -> ModelList:
        """The models available to this key (``.data`` is a list of ``Model``)."""
        data, _ = await self._client._call("GET", "/models", body=None, timeout=timeout)
        return _parse_list(data)

    async def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        data, _ = await self._client._call("GET", f"/models/{model_id}", body=None, timeout=timeout)
        return _parse_model(data)
