"""One request schema: the server's request Structs are the client's, field for field and bound for
bound; only the shapes of the objects inside (messages, tools, formats) are the server's own."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi
import pytest

from mistral_client._wire import requests as client_requests
from mistral_client.server import _requests as server_requests

NAMES = ["ChatCompletionRequest", "FIMCompletionRequest", "EmbeddingRequest"]
# The server's Struct for each of the client's (named apart, so the two are never confused).
STRICT = {
    "ChatCompletionRequest": "StrictChatRequest",
    "FIMCompletionRequest": "StrictFIMRequest",
    "EmbeddingRequest": "StrictEmbeddingRequest",
}

# Where the client is stricter than the API's schema, and the server answers as the service does:
# an empty model id is the service's 400 "Invalid model", an empty list of texts embeds none.
RELAXED = {("ChatCompletionRequest", "model"), ("EmbeddingRequest", "input")}

_CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


def bounds(kind: mi.Type) -> set[tuple[str, tuple[tuple[str, Any], ...]]]:
    """Every bound in a field's type, down to (not into) the objects it holds."""
    found: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
    if isinstance(kind, mi.UnionType):
        for member in kind.types:
            found |= bounds(member)
        return found
    constraints = tuple((name, getattr(kind, name)) for name in _CONSTRAINTS if getattr(kind, name, None) is not None)
    if constraints:
        found.add((type(kind).__name__, constraints))
    for inner in ("item_type", "key_type", "value_type"):
        if isinstance(getattr(kind, inner, None), mi.Type):
            found |= bounds(getattr(kind, inner))
    return found


def fields(struct: type[msgspec.Struct]) -> dict[str, mi.Field]:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return {field.name: field for field in info.fields}


@pytest.mark.parametrize("name", NAMES)
def test_the_server_struct_has_the_client_fields_in_order(name: str) -> None:
    client, server = getattr(client_requests, name), getattr(server_requests, STRICT[name])
    assert server is not client
    assert server.__struct_fields__ == client.__struct_fields__
    assert [f.required for f in fields(server).values()] == [f.required for f in fields(client).values()]


def test_every_bound_is_the_client_s() -> None:
    differing, compared = set(), 0
    for name in NAMES:
        client, server = fields(getattr(client_requests, name)), fields(getattr(server_requests, STRICT[name]))
        for field in client:
            client_bounds, server_bounds = bounds(client[field].type), bounds(server[field].type)
            compared += bool(client_bounds)
            if client_bounds != server_bounds:
                differing.add((name, field))
    assert compared >= 10  # temperature, top_p, max_tokens, penalties, n... were seen
    assert differing == RELAXED


def test_a_bound_changed_in_the_client_is_the_server_s_too() -> None:
    # What a new client field with a bound becomes on the server: the same field, refused out of range.
    class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
        model: str
        level: Annotated[int, msgspec.Meta(ge=1, le=3)] | msgspec.UnsetType = msgspec.UNSET

    strict = server_requests._stricter(Request)
    assert strict.__struct_fields__ == ("model", "level")
    assert server_requests.schema_problems({"model": "m", "level": 2}, strict) == []
    (problem,) = server_requests.schema_problems({"model": "m", "level": 4}, strict)
    assert problem["loc"] == ["body", "level"] and problem["type"] == "less_than_equal"
    (missing,) = server_requests.schema_problems({"level": 1}, strict)
    assert missing["loc"] == ["body", "model"] and missing["type"] == "missing"
    with pytest.raises(TypeError, match="no field"):
        server_requests._stricter(Request, levels=int)
