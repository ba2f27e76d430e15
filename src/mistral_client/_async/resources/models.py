"""``client.models``: the models the API offers."""

from __future__ import annotations

import msgspec

from ..._config import TimeoutLike
from ..._wire.answers import Model, ModelList
from ._base import AsyncResource, decode, path_segment

__all__ = ["AsyncModelsAPI"]

_decode_list = msgspec.json.Decoder(ModelList).decode
_decode_model = msgspec.json.Decoder(Model).decode


class AsyncModelsAPI(AsyncResource):
    async def list(self, *, timeout: TimeoutLike = None) -> ModelList:
        """The models available to this key (``.data`` is a list of ``Model``)."""
        data = await self.get_json("/models", timeout, operation="list_models")
        return decode(_decode_list, data, "a model list")

    async def retrieve(self, model_id: str, *, timeout: TimeoutLike = None) -> Model:
        """One model's card, by its id as ``list()`` names it."""
        segment = path_segment(
            model_id, "model_id", "models.retrieve", expected="a model id such as 'mistral-small-latest'"
        )
        path = f"/models/{segment}"
        data = await self.get_json(path, timeout, operation="retrieve_model", model=model_id)
        return decode(_decode_model, data, "a model card")
