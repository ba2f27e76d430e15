"""The package's promises: the public names of the contract, typing, and a light import."""

from __future__ import annotations

import subprocess
import sys
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
