"""JSON Schema validators for the component schemas of the official Mistral OpenAPI description.

The spec lives in ``shared/mistral-openapi.yaml`` beside the repository checkout; the environment
variable ``MISTRAL_OPENAPI`` points elsewhere.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["spec", "spec_path", "validator"]

_SPEC_URI = "urn:mistral-openapi"


def spec_path() -> Path:
    override = os.environ.get("MISTRAL_OPENAPI")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "mistral-openapi.yaml"


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The parsed spec with the documented quirks applied (see shared/PROTOCOL.md, "Spec quirks")."""
    # The spec is 1 MB: the C loader, where PyYAML has it, parses it several times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open(encoding="utf-8") as file:
        loaded: dict[str, Any] = yaml.load(file, Loader=loader)  # a safe loader
    # ChatCompletionResponse requires `data`, which the live service never sends.
    for part in loaded["components"]["schemas"]["ChatCompletionResponse"].get("allOf", []):
        if "data" in part.get("required", []):
            part["required"] = [name for name in part["required"] if name != "data"]
    return loaded


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A validator for ``#/components/schemas/<name>``; refs inside it resolve against the spec."""
    document = spec()
    if name not in document["components"]["schemas"]:
        raise KeyError(f"no component schema named {name!r} in {spec_path()}")
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, Resource.from_contents(document, DRAFT202012))
    schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)
