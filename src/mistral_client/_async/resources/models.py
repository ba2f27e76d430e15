"""``client.models``: the models the API offers."""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._wire.answers import Model, ModelList
from ._base import AsyncResource, decode

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
        path = f"/models/{_path_segment(model_id)}"
        data = await self.get_json(path, timeout, operation="retrieve_model", model=model_id)
        return decode(_decode_model, data, "a model card")


def _path_segment(model_id: object) -> str:
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidRequestError(
            f"models.retrieve(): model_id must be a model id such as 'mistral-small-latest', got {model_id!r}"
        )
    try:
        # Escaped, so that an id stays one segment of the path ('a/b' is not /models/a/b); fine-tuned
        # ids hold colons, which a path segment may carry as they are.
        return quote(model_id, safe=":")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            "models.retrieve(): model_id has a character with no UTF-8 form (a lone surrogate); nothing was sent"
        ) from None
