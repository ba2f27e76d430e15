"""Structured output: a Python type as ``response_format``, and the answer decoded back into it.

A msgspec Struct, a dataclass, a TypedDict (anything msgspec can describe) or a pydantic model is
turned into the ``json_schema`` response format; the answer's text is decoded into the same type
with the library that described it, so the schema sent and the check applied agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from .._exceptions import InvalidRequestError, StructuredOutputError

__all__ = ["parse_output", "response_format_for"]


def response_format_for(value: Any) -> tuple[Any, Any]:
    """``(the response_format to send, the type to decode the answer into or None)``."""
    if value is None or isinstance(value, Mapping):
        return value, None
    if not isinstance(value, type):
        raise InvalidRequestError(
            "response_format must be a dict such as {'type': 'json_object'} or a type (a msgspec Struct, "
            f"dataclass, TypedDict or pydantic model), got {type(value).__name__}"
        )
    schema = _schema(value)
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", getattr(value, "__name__", "output"))[:64]
    json_schema: dict[str, Any] = {"name": name, "schema": schema, "strict": True}
    description = (getattr(value, "__doc__", None) or "").strip()
    if description and not _is_default_doc(value, description):
        json_schema["description"] = description
    return {"type": "json_schema", "json_schema": json_schema}, value


def parse_output(text: str, output_type: Any) -> Any:
    """The answer's text as an instance of ``output_type``."""
    try:
        if _is_pydantic(output_type):
            return output_type.model_validate_json(text)
        return msgspec.json.decode(text, type=output_type)
    except Exception as exc:  # msgspec and pydantic raise their own ValidationError types
        name = getattr(output_type, "__name__", repr(output_type))
        shown = text if len(text) <= 200 else text[:197] + "..."
        hint = " (it is empty)" if not text else ""
        raise StructuredOutputError(
            f"the answer does not decode into {name}{hint}: {exc}; the text was {shown!r}",
            content=text,
            output_type=output_type,
        ) from None


def _schema(value: Any) -> dict[str, Any]:
    if _is_pydantic(value):
        schema: dict[str, Any] = value.model_json_schema()
        return schema
    try:
        schema = msgspec.json.schema(value)
    except TypeError as exc:
        raise InvalidRequestError(f"response_format: cannot describe {value!r} as a JSON schema: {exc}") from None
    # msgspec puts the type itself in $defs behind a $ref; the API wants an object schema at the top.
    ref = schema.get("$ref", "")
    defs = schema.get("$defs", {})
    name = ref.rpartition("/")[2]
    if name in defs:
        top = dict(defs[name])
        rest = {key: item for key, item in defs.items() if key != name or _refers_to(defs, ref)}
        if rest:
            top["$defs"] = rest
        return top
    return schema


def _refers_to(defs: Mapping[str, Any], ref: str) -> bool:
    # A recursive type refers to itself: its definition must then stay in $defs.
    return ref in msgspec.json.encode(defs).decode()


def _is_pydantic(value: Any) -> bool:
    return isinstance(value, type) and hasattr(value, "model_json_schema") and hasattr(value, "model_validate_json")


def _is_default_doc(value: Any, doc: str) -> bool:
    # dataclasses and pydantic make up a docstring from the signature: not a description.
    return doc.startswith(f"{getattr(value, '__name__', '')}(") or doc.startswith("Usage docs:")
