"""The chat page's behaviour in a real headless Chromium (issue 17): see test_browser.py for the set-up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mistral_client.server import LocalServer
from tests.web import test_browser
from tests.web.test_browser import ChatPage

browser = test_browser.browser  # the same fixtures: one Chromium, one server per module
ui = test_browser.ui

SLOW = {"x-mock-tokens": "100000", "x-mock-token-delay": "0.01"}


@pytest.fixture
def chat(browser: Any, ui: LocalServer) -> Iterator[ChatPage]:
    ui.clear_records()
    tab = ChatPage(browser, ui.base_url)
    yield tab
    tab.close()
    assert tab.errors == [], "the page raised script errors"


def upstream_messages(ui: LocalServer) -> list[list[dict[str, str]]]:
    return [r.body["messages"] for r in ui.requests if r.path == "/v1/chat/completions"]


def test_new_chat_during_an_answer_does_not_leak_the_old_answer(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Count to a million", faults=SLOW)
    chat.page.wait_for_function("() => document.querySelector('.message.assistant').textContent.length > 20")
    chat.page.click("#clear")
    chat.wait_for_state("idle")
    ui.wait_for_disconnect(timeout=5)
    chat.ask("A fresh question")
    chat.wait_for_state("done")
    sent = upstream_messages(ui)
    assert sent[-1] == [{"role": "user", "content": "A fresh question"}]
    assert chat.page.locator(".message").count() == 2
    assert chat.page.locator(".message.user").all_inner_texts() == ["A fresh question"]
