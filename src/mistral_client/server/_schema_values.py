"""A JSON value that satisfies a JSON schema: tool call arguments and ``json_schema`` answers.

Covers what tool and response schemas use in practice (objects, arrays, scalars, ``enum``,
``const``, bounds, ``anyOf``/``oneOf``/``allOf``, local ``$ref``, string ``format``); a keyword it
does not know (``pattern``, say) is ignored, so the value may miss that one rule. Values come from
the caller's ``random.Random``, so the same request gives the same value.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["value_for"]

_WORDS = (
    "alpha", "river", "paris", "blue", "seven", "server", "orange", "stream", "north", "token",
    "quiet", "lamp", "green", "delta", "maple", "cloud",
)  # fmt: skip
_FORMATS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T09:30:00Z",
    "time": "09:30:00",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "5f1e0c9a-3b2d-4c8e-9a7f-1d2e3f4a5b6c",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}
_MAX_DEPTH = 8


def value_for(schema: Any, rng: random.Random, *, root: Any = None, depth: int = 0) -> Any:
    """A value valid against ``schema``; ``root`` is the document that ``$ref``s resolve in."""
    if root is None:
        root = schema
    if schema is True or not isinstance(schema, Mapping):
        return _word(rng)
    if "$ref" in schema:
        target = _resolve(root, schema["$ref"])
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return value_for({**target, **rest} if rest else target, rng, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(list(schema["enum"]))
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(root, part["$ref"]) if isinstance(part, Mapping) and "$ref" in part else part
            if isinstance(part, Mapping):
                merged = _merge(merged, part)
        return value_for(merged, rng, root=root, depth=depth + 1)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = list(schema[key])
            # A null option is the least useful answer; take the first other one.
            chosen = next((o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")), options[0])
            return value_for(chosen, rng, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = _implied_type(schema)
    if depth >= _MAX_DEPTH and kind in ("object", "array"):
        return {} if kind == "object" else []
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind == "string":
        return _string(schema, rng)
    if kind == "integer":
        return _integer(schema, rng)
    if kind == "number":
        return _number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _word(rng)


def _implied_type(schema: Mapping[str, Any]) -> str:
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _object(schema: Mapping[str, Any], rng: random.Random, root: Any, depth: int) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    # Every declared property, so a client test sees them all; then any required one not declared.
    names = [*properties, *(n for n in schema.get("required", ()) if n not in properties)]
    value = {name: value_for(properties.get(name, {}), rng, root=root, depth=depth + 1) for name in names}
    minimum = schema.get("minProperties", 0)
    extra = schema.get("additionalProperties", True)
    while len(value) < minimum and extra is not False:
        value[f"{_word(rng)}_{len(value)}"] = value_for(extra, rng, root=root, depth=depth + 1)
    return value


def _array(schema: Mapping[str, Any], rng: random.Random, root: Any, depth: int) -> list[Any]:
    prefix = list(schema.get("prefixItems") or ())
    items = schema.get("items", {})
    low = schema.get("minItems", 0)
    high = schema.get("maxItems", max(low, 2) + 1)
    count = max(len(prefix) if items is False else 0, min(max(low, min(2, high)), high))
    values = [value_for(part, rng, root=root, depth=depth + 1) for part in prefix[:count]]
    while len(values) < count:
        values.append(value_for(items, rng, root=root, depth=depth + 1))
    if schema.get("uniqueItems"):
        unique: list[Any] = []
        for item in values:
            if item not in unique:
                unique.append(item)
        values = unique
    return values


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    text = _FORMATS.get(schema.get("format", ""), "") or _word(rng)
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    while len(text) < low:
        text += " " + _word(rng)
    return text[:high] if high is not None else text


def _integer(schema: Mapping[str, Any], rng: random.Random) -> int:
    low, high = _bounds(schema)
    low_int = math.ceil(low) if low is not None else None
    high_int = math.floor(high) if high is not None else None
    if low_int is not None and low is not None and low_int == low and "exclusiveMinimum" in schema:
        low_int += 1
    if high_int is not None and high is not None and high_int == high and "exclusiveMaximum" in schema:
        high_int -= 1
    start = low_int if low_int is not None else (high_int - 100 if high_int is not None else 1)
    end = high_int if high_int is not None else start + 100
    value = rng.randint(start, max(start, end))
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        value = -(-value // step) * step
        if high_int is not None and value > high_int:
            value -= step
    return value


def _number(schema: Mapping[str, Any], rng: random.Random) -> float:
    if isinstance(schema.get("multipleOf"), int):
        return float(_integer(schema, rng))
    low, high = _bounds(schema)
    start = low if low is not None else (high - 100 if high is not None else 0.0)
    end = high if high is not None else start + 100
    # Strictly inside the bounds, so exclusive ones hold too; two decimals read like real data.
    value = round(start + (end - start) * (0.1 + 0.8 * rng.random()), 2)
    return value if start < value < end or start == end else (start + end) / 2


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    low = low if isinstance(low, (int, float)) and not isinstance(low, bool) else None
    high = high if isinstance(high, (int, float)) and not isinstance(high, bool) else None
    return low, high


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}  # a remote reference: nothing to follow offline
    node = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**into, **part}
    if "properties" in into and "properties" in part:
        merged["properties"] = {**into["properties"], **part["properties"]}
    if "required" in into and "required" in part:
        merged["required"] = [*into["required"], *(n for n in part["required"] if n not in into["required"])]
    return merged
