"""The package's promises: the public names of the contract, typing, and a light import."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import mistral_client

CONTRACT = """
    Mistral, AsyncMistral, ChatCompletionRequest, Timeout, Models, system, user, assistant, tool,
    StreamResult, MistralError, APIError, APIStatusError, BadRequestError, AuthenticationError,
    PermissionDeniedError, NotFoundError, UnprocessableEntityError, RateLimitError,
    InternalServerError, APIConnectionError, APITimeoutError, StreamError,
"""


def test_contract_names_are_exported() -> None:
    names = [name.strip() for name in CONTRACT.replace("\n", " ").split(",") if name.strip()]
    missing = [name for name in names if not hasattr(mistral_client, name)]
    assert missing == []
    assert set(names) <= set(mistral_client.__all__)


def test_models_constants() -> None:
    from mistral_client import Models

    assert Models.SMALL == "mistral-small-latest"
    assert (Models.LARGE, Models.MEDIUM, Models.CODESTRAL) == (
        "mistral-large-latest",
        "mistral-medium-latest",
        "codestral-latest",
    )
    assert (Models.MINISTRAL_3B, Models.MINISTRAL_8B, Models.MINISTRAL_14B) == (
        "ministral-3b-latest",
        "ministral-8b-latest",
        "ministral-14b-latest",
    )


def test_package_is_typed() -> None:
    assert (Path(mistral_client.__file__).parent / "py.typed").is_file()


def test_import_stays_light() -> None:
    # CLI tools and serverless functions pay for every import: no server, CLI or test libraries.
    code = (
        "import sys, mistral_client\n"
        "heavy = [m for m in ('starlette', 'uvicorn', 'mistral_client.server', 'mistral_client.cli', "
        "'pytest', 'jsonschema', 'yaml', 'asyncio') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_a_client_imports_an_endpoint_family_only_when_used() -> None:
    # A client that only chats starts without the other families' resources, wire types and pipelines.
    families = ("agents", "conversations", "audio", "ocr", "moderations", "classifiers", "files", "batch")
    code = (
        "import sys\n"
        "from mistral_client import AsyncMistral, Mistral\n"
        "Mistral(api_key='k'), AsyncMistral(api_key='k')\n"
        "ours = lambda: sorted(m for m in sys.modules if m.startswith('mistral_client.') "
        f"and m.rpartition('.')[2] in {families!r})\n"
        "print(ours())\n"
        "client = Mistral(api_key='k')\n"
        "assert client.files is client.files and client.audio.transcriptions is not None\n"
        "print(ours())"
    )
    before, after = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert before == "[]"
    assert "mistral_client._sync.resources.files" in after and "mistral_client._sync.resources.audio" in after
    assert "mistral_client._sync.resources.agents" not in after


def test_all_is_exactly_the_public_names() -> None:
    # As httpx checks its own: a name added to the package but not to __all__ (or the reverse) fails.
    for name in dir(mistral_client):  # the names are imported on first use: use each one
        getattr(mistral_client, name)
    public = {
        name
        for name, value in vars(mistral_client).items()
        if (not name.startswith("_") or name == "__version__") and not isinstance(value, types.ModuleType)
    }
    assert len(mistral_client.__all__) == len(set(mistral_client.__all__))
    assert sorted(mistral_client.__all__) == sorted(public)


def test_the_types_module_has_every_request_and_answer_type() -> None:
    from mistral_client import types as public_types
    from mistral_client._pipeline import accumulating
    from mistral_client._wire import answers, messages, requests

    public = {
        name
        for name, value in vars(public_types).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert sorted(public_types.__all__) == sorted(public)
    # Every class a wire module or the result module exports is a type a user may need to name.
    wanted = {
        name
        for module in (answers, messages, requests, accumulating)
        for name in module.__all__
        if isinstance(getattr(module, name), type) and name != "Models"
    }
    assert wanted - set(public_types.__all__) == set()
    # And the ones the package's root exports are the same objects.
    for name in set(public_types.__all__) & set(mistral_client.__all__):
        assert getattr(public_types, name) is getattr(mistral_client, name), name
