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


AT_BOTTOM = (
    "() => { const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight <= 24; }"
)
TEXT_LENGTH = "document.querySelector('.message.assistant:last-child .body').textContent.length"


def test_the_newest_text_stays_above_the_input_bar_and_following_stops_when_the_reader_scrolls_up(
    browser: Any,
    ui: LocalServer,
) -> None:
    tab = ChatPage(browser, ui.base_url)
    try:
        page = tab.page
        page.set_viewport_size({"width": 700, "height": 480})
        for number in range(3):
            tab.ask(f"Question {number}", faults={"x-mock-tokens": "60"})
            tab.wait_for_state("done")
        assert page.evaluate(AT_BOTTOM)
        # The last question and its answer end above the input bar, not under it.
        footer_top = page.locator("footer").bounding_box()["y"]
        last = page.locator(".message.assistant").last.bounding_box()
        assert last["y"] + last["height"] <= footer_top

        tab.ask("A long one", faults={"x-mock-tokens": "100000", "x-mock-token-delay": "0.005"})
        page.wait_for_function(f"() => {TEXT_LENGTH} > 400")
        page.wait_for_function(f"() => {TEXT_LENGTH} > 800")
        assert page.evaluate(AT_BOTTOM)  # followed while the reader stays at the bottom
        assert page.is_hidden("#jump")

        page.evaluate("document.getElementById('log').scrollTop = 0")
        page.wait_for_selector("#jump:not([hidden])")
        grown = page.evaluate(f"() => {TEXT_LENGTH}") + 300
        page.wait_for_function(f"() => {TEXT_LENGTH} > {grown}")
        assert page.evaluate("document.getElementById('log').scrollTop") == 0  # left where they are
        tab.screenshot("chat-jump.png")

        page.click("#jump")
        page.wait_for_function(AT_BOTTOM)
        grown = page.evaluate(f"() => {TEXT_LENGTH}") + 300
        page.wait_for_function(f"() => {TEXT_LENGTH} > {grown}")
        assert page.evaluate(AT_BOTTOM)  # following again
        assert page.is_hidden("#jump")
        page.click("#stop")
        tab.wait_for_state("stopped")
        assert tab.errors == []
    finally:
        tab.close()
