"""The chat page's behaviour in a real headless Chromium (issue 17): see test_browser.py for the set-up."""

from __future__ import annotations

import re
from typing import Any

from mistral_client.server import LocalServer
from tests.web import test_browser
from tests.web.test_browser import ChatPage

browser = test_browser.browser  # the same fixtures: one Chromium, one server per module, one tab per test
ui = test_browser.ui
chat = test_browser.chat

SLOW = {"x-mock-tokens": "100000", "x-mock-token-delay": "0.01"}


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


def test_a_busy_service_is_counted_down_from_retry_after_then_asked_again(chat: ChatPage, ui: LocalServer) -> None:
    busy = {"x-mock-status": "429", "x-mock-retry-after": "2", "x-mock-fail-times": "1", "x-mock-id": "countdown"}
    chat.ask("Say hello", faults=busy)
    chat.wait_for_state("waiting")
    notice = chat.answer().locator(".notice-text")
    assert re.fullmatch(r"The service is busy\. Retrying in [12] s…", notice.inner_text())
    assert "429" in chat.answer().locator(".notice details pre").text_content()
    assert chat.page.is_enabled("#stop")
    chat.screenshot("chat-busy.png")
    chat.wait_for_state("done")  # the second try goes through
    assert chat.page.locator(".message.user").all_inner_texts() == ["Say hello"]
    assert chat.answer().locator(".notice").count() == 0
    assert chat.answer().locator(".body").inner_text()
    assert [len(m) for m in upstream_messages(ui)] == [1, 1]


def test_stop_ends_the_countdown(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Say hello", faults={"x-mock-status": "429", "x-mock-retry-after": "30"})
    chat.wait_for_state("waiting")
    chat.page.keyboard.press("Escape")
    chat.wait_for_state("error")
    assert chat.answer().locator(".notice-text").inner_text() == "The service is busy."
    assert chat.page.is_visible(".retry")


def test_a_question_that_got_no_answer_is_marked_not_sent_and_left_out_of_the_context(
    chat: ChatPage, ui: LocalServer
) -> None:
    chat.ask("First question", faults={"x-mock-status": "503"})
    chat.wait_for_state("error")
    question = chat.page.locator(".message.user").last
    assert "unsent" in (question.get_attribute("class") or "")
    assert "Not sent" in question.inner_text()
    chat.screenshot("chat-unsent.png")

    chat.ask("Second question")
    chat.wait_for_state("done")
    # What the screen says was not sent, the model was not sent either.
    assert upstream_messages(ui)[-1] == [{"role": "user", "content": "Second question"}]
    assert chat.page.is_hidden(".retry")  # only the last answer can be retried


def test_retry_asks_the_failed_question_again_in_place_of_the_failed_attempt(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Say hello", faults={"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-id": "retry-button"})
    chat.wait_for_state("error")
    chat.page.click(".retry")
    chat.wait_for_state("done")
    assert chat.page.locator(".message.user").all_inner_texts() == ["Say hello"]
    assert chat.page.locator(".message.assistant").count() == 1
    assert chat.page.locator(".notice").count() == 0
    assert [m[-1]["content"] for m in upstream_messages(ui)] == ["Say hello", "Say hello"]


def test_a_cut_off_answer_keeps_its_text_and_is_part_of_the_context(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Say hello", faults={"x-mock-disconnect-after": "4"})
    chat.wait_for_state("error")
    partial = chat.answer().locator(".body").inner_text()
    assert partial
    assert chat.answer().locator(".notice-text").inner_text() == "The answer was cut off."
    assert "unsent" not in (chat.page.locator(".message.user").last.get_attribute("class") or "")
    chat.ask("Go on")
    chat.wait_for_state("done")
    assert upstream_messages(ui)[-1][1] == {"role": "assistant", "content": partial}


def test_no_bubble_is_ever_left_empty(chat: ChatPage) -> None:
    chat.ask("Wait", faults={"x-mock-first-token-delay": "30"})
    chat.page.wait_for_selector(".message.assistant.silent .typing")
    chat.page.click("#stop")
    chat.wait_for_state("stopped")
    assert chat.answer().inner_text().strip() == "Stopped before any answer came."
    empty = chat.page.evaluate(
        "() => [...document.querySelectorAll('.message')].filter(m => !m.innerText.trim()).length"
    )
    assert empty == 0


FOCUSED = "() => document.activeElement && document.activeElement.id"


def test_the_input_has_the_focus_on_load_and_after_send_and_stop(chat: ChatPage) -> None:
    assert chat.page.evaluate(FOCUSED) == "prompt"
    chat.ask("Count to a million", faults=SLOW)  # clicks Send: the focus comes back to the input
    chat.wait_for_state("streaming")
    assert chat.page.evaluate(FOCUSED) == "prompt"
    chat.page.click("#stop")
    chat.wait_for_state("stopped")
    assert chat.page.evaluate(FOCUSED) == "prompt"


def test_escape_stops_the_answer(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Count to a million", faults=SLOW)
    chat.page.wait_for_function("() => document.querySelector('.message.assistant .body').textContent.length > 5")
    chat.page.keyboard.press("Escape")
    chat.wait_for_state("stopped")
    ui.wait_for_disconnect(timeout=5)
    assert chat.page.evaluate(FOCUSED) == "prompt"


def test_enter_sends_but_not_while_an_input_method_composes(chat: ChatPage, ui: LocalServer) -> None:
    chat.page.fill("#prompt", "にほんご")
    chat.page.dispatch_event("#prompt", "keydown", {"key": "Enter", "isComposing": True})
    chat.page.dispatch_event("#prompt", "keydown", {"key": "Enter", "keyCode": 229})
    assert chat.page.locator(".message").count() == 0
    assert chat.page.input_value("#prompt") == "にほんご"
    chat.page.keyboard.press("Shift+Enter")  # a new line, not a send
    assert chat.page.locator(".message").count() == 0
    chat.page.keyboard.press("Enter")
    chat.wait_for_state("done")
    assert chat.page.locator(".message.user").all_inner_texts() == ["にほんご"]
    assert chat.page.input_value("#prompt") == ""


STORE = "mistral-client.chat"


def test_the_conversation_survives_a_reload_and_new_chat_forgets_it(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Remember me")
    chat.wait_for_state("done")
    first_answer = chat.answer().locator(".body").inner_text()
    chat.page.reload()
    chat.page.wait_for_selector("body[data-ready='1']")
    assert chat.page.locator(".message.user").all_inner_texts() == ["Remember me"]
    assert chat.answer().locator(".body").inner_text() == first_answer

    chat.ask("And now?")
    chat.wait_for_state("done")
    assert [m["role"] for m in upstream_messages(ui)[-1]] == ["user", "assistant", "user"]

    chat.page.click("#clear")
    assert chat.page.evaluate(f"() => localStorage.getItem('{STORE}')") is None
    chat.page.reload()
    chat.page.wait_for_selector("body[data-ready='1']")
    assert chat.page.locator(".message").count() == 0


def test_typing_dots_before_the_first_token_and_during_a_long_silence(chat: ChatPage) -> None:
    typing = ".message.assistant.silent .typing"
    chat.ask("Take your time", faults={"x-mock-first-token-delay": "1"})
    chat.page.wait_for_selector(typing, state="visible")
    assert chat.answer().locator(".body").text_content() == ""
    chat.wait_for_state("done")
    assert chat.page.is_hidden(".message.assistant .typing")

    chat.ask("Pause midway", faults={"x-mock-stall-after": "3", "x-mock-stall-seconds": "3"})
    chat.page.wait_for_function("() => document.querySelector('.message.assistant:last-child .body').textContent")
    chat.page.wait_for_selector(f".message.assistant:last-child{typing[len('.message.assistant') :]}", state="visible")
    assert chat.answer().locator(".body").text_content()  # the dots come after the text so far
    chat.wait_for_state("done")
    assert chat.page.is_hidden(".message.assistant:last-child .typing")


def test_the_page_has_a_favicon(chat: ChatPage, ui: LocalServer) -> None:
    assert chat.page.get_attribute("link[rel=icon]", "href") == "favicon.svg"
    loaded = chat.page.evaluate("() => document.querySelector('header h1 img').naturalWidth")
    assert loaded > 0  # served, and allowed by the page's Content-Security-Policy
    assert any(r.path == "/ui/favicon.svg" for r in ui.requests)


def test_an_answer_left_streaming_by_a_reload_comes_back_as_stopped(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Count to a million", faults=SLOW)
    chat.page.wait_for_function(f"() => (JSON.parse(localStorage.getItem('{STORE}'))[1] || {{}}).content.length > 10")
    chat.page.reload()
    chat.page.wait_for_selector("body[data-ready='1']")
    ui.wait_for_disconnect(timeout=5)
    answer = chat.answer()
    assert "stopped" in (answer.get_attribute("class") or "")
    assert answer.locator(".body").inner_text()
    assert chat.page.evaluate("() => document.body.dataset.state") == "idle"
    chat.ask("Go on")
    chat.wait_for_state("done")
    assert [m["role"] for m in upstream_messages(ui)[-1]] == ["user", "assistant", "user"]
