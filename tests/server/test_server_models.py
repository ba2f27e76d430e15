"""The model ids the local server answers to: Mistral's public families, their dated releases,
``ServerConfig(models=..., any_model=...)`` and the ``serve --model``/``--any-model`` flags."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client import Models
from mistral_client.server import KNOWN_MODELS, LocalServer, ServerConfig
from tests.support.openapi import spec_path, validator
from tests.support.servertools import CHAT, EMBEDDINGS, FIM, chat

# The families the issue found refused, their dated releases, and the ones served before.
SERVED = [
    "magistral-medium-latest",
    "magistral-small-latest",
    "devstral-small-latest",
    "devstral-medium-latest",
    "pixtral-large-latest",
    "open-mistral-nemo",
    "voxtral-small-latest",
    "mistral-small-2506",
    "magistral-medium-2509",
    "mistral-large-2411",
    "ministral-8b-2410",
    "codestral-2508",
    "open-mistral-nemo-2407",
    *KNOWN_MODELS,
]


def need_spec() -> None:
    if spec_path().is_file():
        return
    reason = f"the official OpenAPI description is not here ({spec_path()}); set MISTRAL_OPENAPI"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def complete(client: httpx2.Client, model: str, path: str = CHAT, **fields: Any) -> httpx2.Response:
    if path == FIM:
        return client.post(path, json={"model": model, "prompt": "def f(", **fields})
    if path == EMBEDDINGS:
        return client.post(path, json={"model": model, "input": "x", **fields})
    return client.post(path, json=chat(stream=False, model=model, **fields))


def refused(response: httpx2.Response, model: str) -> bool:
    return response.status_code == 400 and response.json() == {
        "object": "error",
        "message": f"Invalid model: {model}",
        "type": "invalid_model",
        "param": None,
        "code": "1500",
    }


def test_the_server_lists_the_clients_models_in_order() -> None:
    constants = [value for name, value in vars(Models).items() if name.isupper()]
    assert list(KNOWN_MODELS) == constants
    assert ServerConfig().models == KNOWN_MODELS
    for name in ("MAGISTRAL_MEDIUM", "MAGISTRAL_SMALL", "DEVSTRAL_SMALL", "PIXTRAL_LARGE", "NEMO"):
        assert getattr(Models, name) in KNOWN_MODELS


@pytest.mark.parametrize("model", SERVED)
def test_public_families_and_their_releases_are_served(client: httpx2.Client, model: str) -> None:
    path = EMBEDDINGS if "embed" in model else CHAT
    response = complete(client, model, path)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model  # the id asked for, as the live API echoes it


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("mistral-tiny-2019", CHAT),  # no such month, no such family
        ("mistral-small-2513", CHAT),  # month 13
        ("mistral-small-latest-2506", CHAT),
        ("gpt-4o", CHAT),
        ("open-mistral-7b", CHAT),  # retired
        ("mistral-tiny", CHAT),
        ("mistral-embed", CHAT),  # embedding models do not chat...
        ("mistral-embed-2312", CHAT),
        ("mistral-small-latest", EMBEDDINGS),  # ...nor chat models embed
        ("magistral-medium-latest", FIM),  # fill in the middle is codestral's
        ("devstral-small-latest", FIM),
    ],
)
def test_unknown_ids_and_wrong_kinds_are_invalid_model(client: httpx2.Client, model: str, path: str) -> None:
    assert refused(complete(client, model, path), model)


def test_fim_and_embeddings_take_their_families_releases(client: httpx2.Client) -> None:
    assert complete(client, "codestral-2508", FIM).status_code == 200
    vector = complete(client, "codestral-embed-2505", EMBEDDINGS).json()["data"][0]["embedding"]
    assert len(vector) == 1536  # the family's dimension
    assert len(complete(client, "mistral-embed-2312", EMBEDDINGS).json()["data"][0]["embedding"]) == 1024


def capabilities(client: httpx2.Client, model: str) -> dict[str, bool]:
    response = client.get(f"/v1/models/{model}")
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["id"] == model
    found: dict[str, bool] = card["capabilities"]
    return found


def test_model_cards_say_what_each_family_does(client: httpx2.Client) -> None:
    true = {name for name, value in capabilities(client, "magistral-medium-latest").items() if value}
    assert true == {"completion_chat", "function_calling", "reasoning", "vision"}
    for model in ("pixtral-large-latest", "ministral-8b-latest", "mistral-large-latest", "mistral-small-2506"):
        assert capabilities(client, model)["vision"], model
    assert capabilities(client, "codestral-latest")["completion_fim"]
    assert not capabilities(client, "devstral-small-latest")["completion_fim"]
    assert capabilities(client, "voxtral-small-latest")["audio"]
    assert not any(capabilities(client, "codestral-embed").values())
    assert not capabilities(client, "open-mistral-nemo")["vision"]
    # A release's card is its family's.
    assert capabilities(client, "magistral-medium-2509") == capabilities(client, "magistral-medium-latest")
    assert client.get("/v1/models/magistral-medium-2513").status_code == 404


def test_every_card_validates_against_the_spec(client: httpx2.Client) -> None:
    need_spec()
    listed = client.get("/v1/models").json()
    validator("ModelList").validate(listed)
    assert [card["id"] for card in listed["data"]] == list(KNOWN_MODELS)
    for model in SERVED:
        validator("BaseModelCard").validate(client.get(f"/v1/models/{model}").json())


def test_magistral_thinks_unless_told_not_to(client: httpx2.Client) -> None:
    content = complete(client, "magistral-small-latest").json()["choices"][0]["message"]["content"]
    assert [part["type"] for part in content] == ["thinking", "text"]
    plain = complete(client, "magistral-small-latest", prompt_mode=None).json()["choices"][0]["message"]["content"]
    assert isinstance(plain, str) and plain
    assert isinstance(complete(client, "mistral-small-latest").json()["choices"][0]["message"]["content"], str)


def test_models_option_serves_exactly_those_and_their_releases() -> None:
    with (
        LocalServer(models=["mistral-small-latest", "my-model"]) as server,
        httpx2.Client(base_url=server.base_url, timeout=10) as client,
    ):
        assert [card["id"] for card in client.get("/v1/models").json()["data"]] == ["mistral-small-latest", "my-model"]
        assert complete(client, "mistral-small-2506").status_code == 200
        # A name of no known family is not second-guessed: every route serves it.
        for path in (CHAT, FIM, EMBEDDINGS):
            assert complete(client, "my-model", path).status_code == 200, path
        assert complete(client, "my-model-2506").status_code == 200  # a release of a name without -latest
        for model in ("mistral-large-latest", "magistral-medium-latest", "mistral-embed", "my-model-25"):
            assert refused(complete(client, model), model)
        assert client.get("/v1/models/mistral-large-latest").status_code == 404


def test_any_model_answers_to_every_id_but_known_families_keep_their_kind() -> None:
    with LocalServer(any_model=True) as server, httpx2.Client(base_url=server.base_url, timeout=10) as client:
        for path in (CHAT, FIM, EMBEDDINGS):
            assert complete(client, "anything-at-all", path).status_code == 200, path
        assert client.get("/v1/models/anything-at-all").json()["id"] == "anything-at-all"
        assert [card["id"] for card in client.get("/v1/models").json()["data"]] == list(KNOWN_MODELS)
        assert refused(complete(client, "mistral-embed"), "mistral-embed")
        assert refused(complete(client, "mistral-small-latest", EMBEDDINGS), "mistral-small-latest")


@pytest.mark.parametrize("models", [(), [""], ["ok", "  "], [None]])
def test_models_option_is_checked(models: Any) -> None:
    with pytest.raises(ValueError, match="models must be one or more model ids"):
        ServerConfig(models=models)


def test_serve_model_flags() -> None:
    from tests.cli.test_cli import serving

    for base_url in serving("--fast", "--model", "mistral-small-latest", "--model", "my-model"):
        with httpx2.Client(base_url=base_url, timeout=10) as client:
            assert [card["id"] for card in client.get("/v1/models").json()["data"]] == [
                "mistral-small-latest",
                "my-model",
            ]
            assert complete(client, "my-model").status_code == 200
            assert complete(client, "mistral-small-2506").status_code == 200
            assert refused(complete(client, "magistral-small-latest"), "magistral-small-latest")
    for base_url in serving("--fast", "--any-model"):
        with httpx2.Client(base_url=base_url, timeout=10) as client:
            assert complete(client, "anything-at-all").status_code == 200
            assert refused(complete(client, "mistral-embed"), "mistral-embed")
