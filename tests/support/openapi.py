"""JSON Schema validators for the component schemas of the official Mistral OpenAPI description.

The spec lives in ``shared/mistral-openapi.yaml`` beside the repository checkout; the environment
variable ``MISTRAL_OPENAPI`` points elsewhere. It is not in the repository, so a test that needs
it follows the rule of tests/support/shared.py: skip without it, fail without it when ``CI=true``.

Most tests only cross-check what they already assert against the spec: they call ``conforms``,
which, without the spec, lets the test's own assertions run and reports the cross-check as one
skipped subtest at the end (see ``_spec_cross_checks`` in tests/conftest.py). Tests that are
about the spec itself call ``spec()`` or ``validator()``, which skip the whole test.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.shared import defer, in_ci, shared_path, unavailable

__all__ = ["answer_validator", "conforms", "missing_reason", "spec", "spec_path", "validator"]

_SPEC_URI = "urn:mistral-openapi"


def spec_path() -> Path:
    return shared_path("MISTRAL_OPENAPI", "mistral-openapi.yaml")


def missing_reason() -> str:
    return f"the official OpenAPI description is not here ({spec_path()}); set MISTRAL_OPENAPI"


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The parsed spec, with its one quirk against the live service put right (below)."""
    if not spec_path().is_file():
        unavailable(missing_reason())
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


def conforms(name: str, document: Any, *, valid: bool = True) -> None:
    """Cross-check: ``document`` validates against ``#/components/schemas/<name>`` (or, with
    ``valid=False``, the spec refuses it). Without the spec, outside CI, the check is deferred to
    a skipped subtest at the end of the test, so the test's own assertions still run."""
    if not in_ci() and not spec_path().is_file():
        defer(missing_reason())
        return
    checker = validator(name)
    if valid:
        checker.validate(document)
    else:
        assert not checker.is_valid(document), f"the spec accepts this {name}: {document!r}"


@functools.cache
def answer_validator(
    path: str, method: str, status: str, media: str = "application/json"
) -> jsonschema.protocols.Validator:
    """A validator for the answer the spec gives operation ``method path`` (``path`` as the spec
    spells it: ``/v1/agents/{agent_id}``) with ``status``; refs inside it resolve against the spec."""
    operation = spec()["paths"][path][method.lower()]
    if media not in operation["responses"][status].get("content", {}):
        raise KeyError(f"{method} {path} answers {status} without a {media} body in {spec_path()}")
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method.lower(), "responses", status, "content", media, "schema")
    )
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, Resource.from_contents(spec(), DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"{_SPEC_URI}#/{pointer}"}, registry=registry)
