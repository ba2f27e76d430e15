"""The local server's moderation and classification routes: deterministic rules, the spec's shapes.

Each answer is checked against the spec's ModerationResponse / ClassificationResponse, and the
official SDK (bench extra) parses each: ``classifiers.moderate``, ``moderate_chat``, ``classify``
and ``classify_chat``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from tests.support.openapi import conforms
from tests.support.shared import need

MODERATION = "mistral-moderation-latest"
CLASSIFIER = "ft:classifier:ministral-3b-latest:abc123:20260101:aaaa1111"
CATEGORIES = {
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
}


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def post(http: httpx2.Client, path: str, body: dict[str, Any], schema: str) -> dict[str, Any]:
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    conforms(schema, answer)
    return answer


def flagged(result: dict[str, Any]) -> set[str]:
    assert set(result["categories"]) == set(result["category_scores"]) == CATEGORIES
    return {name for name, on in result["categories"].items() if on}


@pytest.mark.parametrize(
    ("text", "categories"),
    [
        ("What a lovely morning for a walk.", set()),
        ("I will kill you", {"violence_and_threats"}),
        ("How do I build a bomb?", {"dangerous_and_criminal_content"}),
        ("Write to me at jane.doe@example.com", {"pii"}),
        ("Should I invest in stocks before my lawsuit?", {"financial", "law"}),
        ("My doctor changed my medication", {"health"}),
    ],
)
def test_moderation_flags_by_rule(http: httpx2.Client, text: str, categories: set[str]) -> None:
    answer = post(http, "/v1/moderations", {"model": MODERATION, "input": text}, "ModerationResponse")
    (result,) = answer["results"]
    assert flagged(result) == categories and answer["model"] == MODERATION
    scores = result["category_scores"]
    assert all((scores[name] > 0.8) == (name in categories) and 0 < scores[name] < 1 for name in CATEGORIES)


def test_moderation_is_deterministic_and_takes_a_list(http: httpx2.Client) -> None:
    body = {"model": MODERATION, "input": ["I hate this", "fine"]}
    first = post(http, "/v1/moderations", body, "ModerationResponse")
    again = post(http, "/v1/moderations", body, "ModerationResponse")
    assert [r["category_scores"] for r in first["results"]] == [r["category_scores"] for r in again["results"]]
    assert first["id"] != again["id"] and len(first["results"]) == 2


def test_chat_moderation_one_conversation_or_several(http: httpx2.Client) -> None:
    calm = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi, how can I help?"}]
    risky = [{"role": "user", "content": [{"type": "text", "text": "how to steal a car"}]}]
    one = post(http, "/v1/chat/moderations", {"model": MODERATION, "input": risky}, "ModerationResponse")
    assert [flagged(r) for r in one["results"]] == [{"dangerous_and_criminal_content"}]
    many = post(http, "/v1/chat/moderations", {"model": MODERATION, "input": [calm, risky]}, "ModerationResponse")
    assert [flagged(r) for r in many["results"]] == [set(), {"dangerous_and_criminal_content"}]


def test_classification_targets(http: httpx2.Client) -> None:
    body = {"model": CLASSIFIER, "input": ["This is great, I love it", "C'est la pire, le service est bad"]}
    answer = post(http, "/v1/classifications", body, "ClassificationResponse")
    english, french = answer["results"]
    assert set(english) == {"sentiment", "language"}
    for result in (english, french):
        for target in result.values():
            assert sum(target["scores"].values()) == pytest.approx(1, abs=1e-5)
    assert max(english["sentiment"]["scores"], key=english["sentiment"]["scores"].get) == "positive"
    assert max(english["language"]["scores"], key=english["language"]["scores"].get) == "en"
    assert max(french["sentiment"]["scores"], key=french["sentiment"]["scores"].get) == "negative"
    assert max(french["language"]["scores"], key=french["language"]["scores"].get) == "fr"


def test_chat_classification(http: httpx2.Client) -> None:
    conversation = {"messages": [{"role": "user", "content": "thanks, wonderful"}]}
    one = post(http, "/v1/chat/classifications", {"model": CLASSIFIER, "input": conversation}, "ClassificationResponse")
    two = post(
        http,
        "/v1/chat/classifications",
        {"model": CLASSIFIER, "input": [conversation, conversation]},
        "ClassificationResponse",
    )
    assert two["results"] == [one["results"][0]] * 2


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/moderations", {"input": "hi"}, 422),
        ("/v1/moderations", {"model": MODERATION}, 422),
        ("/v1/moderations", {"model": MODERATION, "input": 3}, 422),
        ("/v1/moderations", {"model": MODERATION, "input": "hi", "extra": 1}, 422),
        ("/v1/moderations", {"model": "mistral-small-latest", "input": "hi"}, 400),
        ("/v1/classifications", {"model": "mistral-small-latest", "input": "hi"}, 400),
        ("/v1/chat/moderations", {"model": MODERATION, "input": [{"role": "robot", "content": "x"}]}, 422),
        ("/v1/chat/classifications", {"model": CLASSIFIER, "input": {"msgs": []}}, 422),
    ],
)
def test_bad_requests(http: httpx2.Client, path: str, body: dict[str, Any], status: int) -> None:
    response = http.post(path, json=body)
    assert response.status_code == status, response.text
    if status == 422:
        conforms("HTTPValidationError", response.json())
    else:
        assert response.json()["message"].startswith("Invalid model")


def test_the_sdk_parses_every_answer(server: LocalServer) -> None:
    with need("mistralai.client").Mistral(api_key="any", server_url=server.base_url) as sdk:
        moderated = sdk.classifiers.moderate(model=MODERATION, inputs=["I will kill you", "hello"])
        assert moderated.results[0].categories["violence_and_threats"] is True
        chat = sdk.classifiers.moderate_chat(model=MODERATION, inputs=[{"role": "user", "content": "a bomb"}])
        assert chat.results[0].categories["dangerous_and_criminal_content"] is True
        classified = sdk.classifiers.classify(model=CLASSIFIER, inputs="great, I love it")
        assert classified.results[0]["sentiment"].scores["positive"] > 0.5
        chat_classified = sdk.classifiers.classify_chat(
            model=CLASSIFIER, input={"messages": [{"role": "user", "content": "awful, the worst"}]}
        )
        assert chat_classified.results[0]["sentiment"].scores["negative"] > 0.5
