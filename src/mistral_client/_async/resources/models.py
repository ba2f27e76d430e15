"""``client.models``: the models the API offers."""

from __future__ import annotations

import msgspec

from ..._config import TimeoutLike
from ..._wire.answers import Model, ModelList
from ._base import AsyncResource, decode

__all__ = ["AsyncModelsAPI"]

_decode_list = msgspec.json.Decoder(ModelList).decode
_decode_model = msgspec.json.Decoder(Model).decode


class AsyncModelsAPI(AsyncResource):
    async def list(self, *, timeout: TimeoutLike = None) -> ModelList:
        """The models available to this key (``.data`` is a list of ``Model``)."""
        return decode(_decode_list, await self.get_json("/models", timeout), "a model list")

    async def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        return decode(_decode_model, await self.get_json(f"/models/{model_id}", timeout), "a model card")
