"""The chat page's markdown, and how it looks at desktop, phone (390x844) and dark-mode sizes (issue 17).

Screenshots go to test-artifacts/ (git-ignored; CI keeps them as artifacts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mistral_client.server import Finish, LocalServer, Prompt
from tests.web import test_browser
from tests.web.test_browser import ARTIFACTS, TIMEOUT_MS, ChatPage

browser = test_browser.browser

LONG_ID = "req_" + "9f3a1c7e" * 12
LONG_URL = "https://example.com/" + "a-very-long-path-segment/" * 8 + "?query=" + "x" * 60


class _Rich:
    """A model answering in every markdown form the page renders, with long unbroken words."""

    TEXT = (
        "## A table\n"
        "| Name | Value |\n"
        "|------|------:|\n"
        "| ~~old~~ | **1** |\n"
        f"| id | {LONG_ID} |\n\n"
        "> A quote with *emphasis*\n"
        "> > and a nested one\n\n"
        "- top\n"
        "  - nested item\n"
        "    1. deeper, numbered\n"
        "- second top\n\n"
        f"See {LONG_URL} and https://example.org/docs. Also <b>not bold</b>.\n\n"
        "```python\n"
        "print('hello')  # " + "a long code line " * 8 + "\n"
        "<script>window.__pwned=1</script>\n"
        "```\n"
    )

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        for start in range(0, len(self.TEXT), 5):
            yield self.TEXT[start : start + 5]
        yield Finish("stop")

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return 1


@pytest.fixture(scope="module")
def rich() -> Iterator[LocalServer]:
    with LocalServer(ui=True, engine=_Rich()) as running:
        yield running


def open_tab(browser: Any, server: LocalServer, **context: Any) -> ChatPage:
    tab = ChatPage.__new__(ChatPage)
    tab.context = browser.new_context(**context)
    tab.page = tab.context.new_page()
    tab.page.set_default_timeout(TIMEOUT_MS)
    tab.errors = []
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.goto(f"{server.base_url}/ui/")
    tab.page.wait_for_selector("body[data-ready='1']")
    return tab


NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def test_markdown_tables_quotes_lists_links_and_code_blocks(browser: Any, rich: LocalServer) -> None:
    tab = open_tab(browser, rich, viewport={"width": 900, "height": 900})
    try:
        tab.ask("Show me everything")
        tab.wait_for_state("done")
        log, page = tab.page.locator("#log"), tab.page
        assert log.locator("h3").inner_text() == "A table"
        assert log.locator("th").all_inner_texts() == ["Name", "Value"]
        assert log.locator("td del").inner_text() == "old"
        assert log.locator("td strong").inner_text() == "1"
        assert log.locator("td").nth(3).inner_text() == LONG_ID
        # A header stays on one line however long a cell of its table is; the long cell wraps instead.
        lines_of = (
            "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length; }"
        )
        assert [log.locator("th").nth(i).evaluate(lines_of) for i in range(2)] == [1, 1]
        assert log.locator("td").nth(3).evaluate(lines_of) > 1
        assert log.locator("blockquote em").inner_text() == "emphasis"
        assert log.locator("blockquote blockquote").inner_text() == "and a nested one"
        assert log.locator("ul > li > ul > li > ol > li").inner_text() == "deeper, numbered"
        assert page.locator(".message.assistant > .body > ul > li").count() == 2
        hrefs = page.evaluate("() => [...document.querySelectorAll('#log a')].map(a => a.getAttribute('href'))")
        assert hrefs == [LONG_URL, "https://example.org/docs"]  # the sentence's full stop is not the URL's
        assert log.locator(".code .lang").inner_text() == "python"
        assert "<b>not bold</b>" in log.inner_text()  # the model's HTML is text
        assert log.locator("b").count() == 0 and log.locator("script").count() == 0
        assert page.evaluate("() => window.__pwned") is None
        code = log.locator(".code pre").inner_text()
        assert code.endswith("<script>window.__pwned=1</script>")

        tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.click(".code .copy")
        page.wait_for_selector(".code .copy:text('Copied')")
        assert page.evaluate("() => navigator.clipboard.readText()") == code
        page.screenshot(path=str(ARTIFACTS / "chat-desktop.png"))
        assert tab.errors == []
    finally:
        tab.close()


def test_at_phone_width_nothing_overflows_and_the_input_stays_reachable(browser: Any, rich: LocalServer) -> None:
    phone = {"width": 390, "height": 844}
    tab = open_tab(browser, rich, viewport=phone, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = tab.page
        page.screenshot(path=str(ARTIFACTS / "chat-phone-empty.png"))
        header = page.locator("header").bounding_box()
        assert header["height"] <= 56, "the header fits on one compact line"
        for number in range(4):
            tab.ask(f"Question {number} {LONG_ID}")
            tab.wait_for_state("done")
        assert page.evaluate(NO_OVERFLOW), "the page is wider than the phone"
        box = page.locator("#prompt").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= phone["height"]
        assert page.is_visible("#send")
        page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
        assert tab.errors == []
    finally:
        tab.close()


def test_dark_mode(browser: Any, rich: LocalServer) -> None:
    tab = open_tab(browser, rich, viewport={"width": 900, "height": 900}, color_scheme="dark")
    try:
        tab.ask("Show me everything")
        tab.wait_for_state("done")
        tab.ask("And fail", faults={"x-mock-status": "503"})
        tab.wait_for_state("error")
        background = tab.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3])
        assert red + green + blue < 150, f"dark mode has a dark page, got {background}"
        assert tab.page.evaluate(NO_OVERFLOW)
        tab.page.screenshot(path=str(ARTIFACTS / "chat-dark.png"))
        assert tab.errors == []
    finally:
        tab.close()
