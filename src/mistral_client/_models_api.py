"""``client.models``: the models the API offers."""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

import msgspec

from ._config import TimeoutLike, resolve_timeout
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
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = client._send("GET", "/models", body=None, stream=False, timeout=limits, started=perf_counter())
        return _parse_list(client._read(response))

    def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = client._send(
            "GET", f"/models/{model_id}", body=None, stream=False, timeout=limits, started=perf_counter()
        )
        return _parse_model(client._read(response))


class AsyncModelsAPI:
    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

    async def list(self, *, timeout: TimeoutLike = None) -> ModelList:
        """The models available to this key (``.data`` is a list of ``Model``)."""
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = await client._send("GET", "/models", body=None, stream=False, timeout=limits, started=perf_counter())
        return _parse_list(await client._read(response))

    async def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = await client._send(
            "GET", f"/models/{model_id}", body=None, stream=False, timeout=limits, started=perf_counter()
        )
        return _parse_model(await client._read(response))
