"""The chat page (``serve --ui``) in a real headless Chromium, driven by Playwright.

Playwright cannot download its own browser here, so it drives Debian's (``apt-get install
chromium``). Without it these tests skip locally, and fail in CI (``CI=true``), where .ci/run
installs it. Screenshots go to test-artifacts/ (not committed).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mistral_client import Mistral, user
from mistral_client.server import Finish, LocalServer, Prompt
from tests.support.helpers import MODEL
from tests.support.serveproc import serving
from tests.support.shared import unavailable

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def ui() -> Iterator[LocalServer]:
    with LocalServer(ui=True) as running:
        yield running


class ChatPage:
    """One browser tab on the chat page, failing the test on any script error."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 900, "height": 700})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{base_url}/ui/")
        self.page.wait_for_selector("body[data-ready='1']")

    def ask(self, prompt: str, *, faults: dict[str, str] | None = None) -> None:
        self.page.set_extra_http_headers(faults or {})
        self.page.fill("#prompt", prompt)
        self.page.click("#send")

    def wait_for_state(self, state: str) -> None:
        self.page.wait_for_selector(f"body[data-state='{state}']")

    def answer(self) -> Any:
        return self.page.locator(".message.assistant").last

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def chat(browser: Any, ui: LocalServer) -> Iterator[ChatPage]:
    ui.clear_records()
    tab = ChatPage(browser, ui.base_url)
    yield tab
    tab.close()
    assert tab.errors == [], "the page raised script errors"


def direct_answer(base_url: str, messages: list[Any]) -> str:
    # Playwright's sync API runs an event loop in this thread, where the sync client refuses to
    # block (SyncClientInAsyncError); a worker thread is the documented way out.
    def ask() -> str:
        with Mistral(base_url=base_url) as client:
            return client.chat.stream_collect(model=MODEL, messages=messages).content

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ask).result()


def test_the_page_streams_an_answer_with_its_timings(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Say hello", faults={"x-mock-token-delay": "0.03"})
    # Text shows while the answer is still coming: it streams, it is not shown at the end.
    chat.page.wait_for_function(
        "() => document.body.dataset.state === 'streaming' && "
        "document.querySelector('.message.assistant').textContent.length > 0"
    )
    assert chat.page.is_enabled("#stop") and chat.page.is_disabled("#send")
    chat.wait_for_state("done")

    first_answer = chat.answer().inner_text()
    assert re.fullmatch(r"first token \d+ ms · [\d.]+ tokens/s · 30 tokens", chat.page.inner_text("#stats"))
    assert chat.page.is_hidden("#error")
    chat.screenshot("chat.png")

    chat.ask("And again?")
    chat.wait_for_state("done")
    upstream = [r for r in ui.requests if r.path == "/v1/chat/completions"]
    assert [len(r.body["messages"]) for r in upstream] == [1, 3]  # the page keeps the conversation
    assert upstream[1].body["messages"][1]["content"] == first_answer
    assert first_answer == direct_answer(ui.base_url, [user("Say hello")])


def test_a_rate_is_shown_only_over_enough_tokens_and_time(chat: ChatPage) -> None:
    # The test server writes all 30 tokens at once: a rate over that would be millions of tokens/s.
    chat.ask("Say hello")
    chat.wait_for_state("done")
    assert re.fullmatch(r"first token \d+ ms · 30 tokens", chat.page.inner_text("#stats"))
    # Half a second, but only four tokens after the first: no rate either (the CLI's rule, RATE_MIN_TOKENS).
    chat.ask("Say hello again", faults={"x-mock-tokens": "5", "x-mock-token-delay": "0.12"})
    chat.wait_for_state("done")
    assert re.fullmatch(r"first token \d+ ms · 5 tokens", chat.page.inner_text("#stats"))


def test_stop_aborts_the_answer_and_the_server_sees_the_disconnect(chat: ChatPage, ui: LocalServer) -> None:
    chat.ask("Count to a million", faults={"x-mock-tokens": "100000", "x-mock-token-delay": "0.01"})
    chat.page.wait_for_function("() => document.querySelector('.message.assistant').textContent.length > 20")
    chat.page.click("#stop")
    chat.wait_for_state("stopped")

    record = ui.wait_for_disconnect(timeout=5)
    cut = next(r for r in ui.requests if r.index == record.request_index)
    assert cut.path == "/v1/chat/completions"  # the relay's own request to the API was closed
    assert record.chunks_sent < 100000
    assert "stopped" in (chat.answer().get_attribute("class") or "")
    assert chat.answer().inner_text()  # what arrived before Stop stays on the page
    assert chat.page.is_hidden("#error")
    assert chat.page.is_enabled("#send")


def test_an_error_mid_answer_is_shown_inside_the_answer_in_plain_words(chat: ChatPage) -> None:
    chat.ask("Say hello", faults={"x-mock-error-event-after": "3"})
    chat.wait_for_state("error")
    notice = chat.answer().locator(".notice")
    assert notice.locator(".notice-text").inner_text() == "The answer was cut off."
    assert notice.locator("details").get_attribute("open") is None  # the detail is there, folded
    assert "Internal server error" in notice.locator("details pre").text_content()
    assert chat.answer().locator(".body").inner_text()  # the three tokens that came first
    assert chat.page.is_hidden("#error")
    chat.screenshot("chat-error.png")


def test_a_refused_request_is_shown_to_the_user(chat: ChatPage) -> None:
    chat.ask("Say hello", faults={"x-mock-status": "503"})
    chat.wait_for_state("error")
    notice = chat.answer().locator(".notice")
    assert notice.locator(".notice-text").inner_text() == "The service had a problem and could not answer."
    assert "503" in notice.locator("details pre").text_content()
    assert chat.answer().locator(".body").inner_text() == ""


class _Hostile:
    """A model trying to run script in the page through its answer, a few characters at a time."""

    TEXT = (
        "### Title\n"
        "Some **bold**, *italic* and `<b>code</b>`.\n"
        '<img src=x onerror="window.__pwned=1">\n'
        "<script>window.__pwned=2</script>\n"
        "[safe](https://example.com/a?b=1&c=2) [evil](javascript:window.__pwned=3) "
        '[quote](https://x.test/"onmouseover="window.__pwned=4)\n\n'
        "- item <svg onload=window.__pwned=5>\n"
        "- <iframe src=javascript:window.__pwned=6></iframe>\n\n"
        "```\n<script>window.__pwned=7</script>\n```\n"
    )

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        for start in range(0, len(self.TEXT), 3):
            yield self.TEXT[start : start + 3]
        yield Finish("stop")

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return 1


def test_markdown_is_rendered_and_model_html_is_not(browser: Any) -> None:
    with LocalServer(ui=True, engine=_Hostile()) as hostile:
        tab = ChatPage(browser, hostile.base_url)
        try:
            tab.ask("Be nasty")
            tab.wait_for_state("done")
            page, log = tab.page, tab.page.locator("#log")
            tab.screenshot("chat-markdown.png")

            assert page.evaluate("window.__pwned") is None
            for tag in ("img", "script", "svg", "iframe", "b"):
                assert log.locator(tag).count() == 0, f"a <{tag}> from the model reached the page"
            handlers = page.evaluate(
                "[...document.querySelectorAll('#log *')]"
                ".flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on'))"
            )
            assert handlers == []
            hrefs = page.evaluate("[...document.querySelectorAll('#log a')].map(a => a.getAttribute('href'))")
            assert hrefs == ["https://example.com/a?b=1&c=2", 'https://x.test/"onmouseover="window.__pwned=4']

            text = tab.answer().inner_text()
            assert '<img src=x onerror="window.__pwned=1">' in text  # shown as text, not run
            assert "[evil](javascript:window.__pwned=3)" in text
            assert log.locator("h4").inner_text() == "Title"
            assert log.locator("strong").inner_text() == "bold"
            assert log.locator("em").inner_text() == "italic"
            assert log.locator("p code").inner_text() == "<b>code</b>"
            assert log.locator("li").all_inner_texts() == [
                "item <svg onload=window.__pwned=5>",
                "<iframe src=javascript:window.__pwned=6></iframe>",
            ]
            assert log.locator("pre code").inner_text() == "<script>window.__pwned=7</script>"
            assert tab.errors == []
        finally:
            tab.close()


KEY_ITEM = "mistral-client.api-key"


def test_the_page_asks_for_the_servers_key_keeps_it_for_the_tab_and_asks_again_when_refused(browser: Any) -> None:
    key = "sk-browser-key-5e1d08"
    with serving("--ui", "--api-key", key, "--fast") as served:
        context = browser.new_context(viewport={"width": 900, "height": 700})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(f"{served.base_url}/ui/")
            page.wait_for_selector("#key-dialog[open]")
            assert page.is_visible("#key") and page.is_hidden("#key-error")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "chat-key.png"))

            page.fill("#key", "not-the-key")
            page.click("#key-send")
            page.wait_for_selector("#key-error:not([hidden])")  # refused: asked again, saying why
            assert "refused" in page.inner_text("#key-error")
            assert page.evaluate(f"sessionStorage.getItem('{KEY_ITEM}')") is None
            page.screenshot(path=str(ARTIFACTS / "chat-key-refused.png"))

            page.fill("#key", key)
            page.click("#key-send")
            page.wait_for_selector("body[data-ready='1']")
            assert page.evaluate(f"sessionStorage.getItem('{KEY_ITEM}')") == key
            # The key never outlives the tab (the transcript in localStorage does, without it).
            assert page.evaluate(f"Object.values(localStorage).some(v => v.includes('{key}'))") is False
            page.fill("#prompt", "Say hello")
            page.click("#send")
            page.wait_for_selector("body[data-state='done']")
            assert page.locator(".message.assistant").last.inner_text()

            page.reload()  # the tab keeps the key: no second prompt
            page.wait_for_selector("body[data-ready='1']")
            assert not page.evaluate("document.getElementById('key-dialog').open")

            # A key the server stops accepting mid-session: the question waits for a new key, then goes.
            page.evaluate(f"sessionStorage.setItem('{KEY_ITEM}', 'stale')")
            page.fill("#prompt", "Say hello again")
            page.click("#send")
            page.wait_for_selector("#key-dialog[open] #key-error:not([hidden])")
            page.fill("#key", key)
            page.click("#key-send")
            page.wait_for_selector("body[data-state='done']")
            # The first question survived the reload; the refused one went once, with the new key.
            assert page.locator(".message.user").all_inner_texts() == ["Say hello", "Say hello again"]
            assert page.locator(".message.assistant").last.inner_text()
            assert page.is_hidden("#error")
        finally:
            context.close()
        assert errors == [], "the page raised script errors"
        # Another tab (a new browsing context) starts without the key.
        other = browser.new_context()
        try:
            fresh = other.new_page()
            fresh.goto(f"{served.base_url}/ui/")
            fresh.wait_for_selector("#key-dialog[open]")
        finally:
            other.close()
