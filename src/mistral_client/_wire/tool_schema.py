"""Python functions as tools: the JSON schema of their parameters, read from their type hints.

``function_tool(get_weather)`` is the ``{"type": "function", "function": {...}}`` the API takes; the
schema comes from msgspec (so ``int``, ``str``, ``Literal``, ``Enum``, ``list[...]``, ``X | None``,
dataclasses, TypedDicts and Structs work), the description from the docstring's first paragraph,
and a parameter's own description from ``Annotated[int, msgspec.Meta(description=...)]``.
``call_tool`` decodes a call's JSON arguments into those same types before calling the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

import msgspec

from .._exceptions import InvalidRequestError

__all__ = ["ToolFunction", "arguments_type", "function_tool"]


class ToolFunction:
    """A function with what calling it as a tool needs: its name, its schema, its arguments' type."""

    __slots__ = ("arguments", "function", "name", "positional", "schema")

    def __init__(self, function: Callable[..., Any]) -> None:
        name = getattr(function, "__name__", None)
        if not callable(function) or not name or name == "<lambda>":
            raise InvalidRequestError(
                f"a tool must be a named function (def ...), got {function!r}; a lambda has no name to call it by"
            )
        self.function = function
        self.name: str = name
        self.arguments, self.positional = arguments_type(function)
        self.schema = function_tool(function, self.arguments)

    def decode(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The call's arguments in the function's types (``msgspec.ValidationError`` when they do not fit)."""
        value = msgspec.convert(arguments, self.arguments, strict=False)
        keywords = {field: getattr(value, field) for field in self.arguments.__struct_fields__}
        positional = [keywords.pop(field) for field in self.positional]
        return positional, {key: item for key, item in keywords.items() if item is not msgspec.UNSET}


def arguments_type(function: Callable[..., Any]) -> tuple[type[msgspec.Struct], list[str]]:
    """A Struct with one field per parameter (its hint, its default), and the positional-only names."""
    try:
        signature = inspect.signature(function)
        hints = get_type_hints(function, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise InvalidRequestError(f"tool {function!r}: cannot read its parameters' types: {exc}") from None
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    positional = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # *args / **kwargs take nothing the model can be told about
        hint = hints.get(parameter.name, Any)
        if parameter.default is parameter.empty:
            fields.append((parameter.name, hint))
        else:
            fields.append((parameter.name, hint, parameter.default))
        if parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(parameter.name)
    name = "".join(part.title() for part in function.__name__.split("_")) or "Arguments"
    try:
        struct = msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=True)
        msgspec.json.schema(struct)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"tool {function.__name__!r}: a parameter's type has no JSON schema: {exc}") from None
    return struct, positional


def function_tool(function: Callable[..., Any], arguments: type[msgspec.Struct] | None = None) -> dict[str, Any]:
    """The API's function tool for ``function``: name, description and a JSON schema of its parameters."""
    if arguments is None:
        arguments, _ = arguments_type(function)
    document = msgspec.json.schema(arguments)
    definitions: dict[str, Any] = document.get("$defs", {})
    parameters = dict(definitions.pop(arguments.__name__))
    parameters.pop("title", None)
    parameters.setdefault("properties", {})
    if definitions:  # the types the parameters use (dataclasses, Structs...), referenced from them
        parameters["$defs"] = definitions
    tool: dict[str, Any] = {"name": function.__name__, "parameters": parameters}
    doc = inspect.getdoc(function)
    if doc:
        tool["description"] = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return {"type": "function", "function": tool}
