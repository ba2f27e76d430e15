"""docs/local-server.md's knobs table is generated from ``KNOBS``, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from mistral_client.server import _knobs

PAGE = Path(__file__).resolve().parents[2] / "docs" / "local-server.md"


def test_the_docs_table_is_the_one_knobs_renders() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert text.count(_knobs.TABLE_START) == 1 and text.count(_knobs.TABLE_END) == 1
    assert _knobs.with_table(text) == text, (
        "docs/local-server.md's knobs table is out of date: run "
        "`python -m mistral_client.server._knobs docs/local-server.md`"
    )


def test_every_knob_has_a_row_with_its_header_and_flag() -> None:
    table = _knobs.markdown_table().splitlines()[2:]
    assert len(table) == len(_knobs.KNOBS)
    for row, knob in zip(table, _knobs.KNOBS, strict=True):
        assert row.startswith(f"| `{knob.header}: ") and f"| `{knob.flag}` |" in row, row


def test_rewriting_the_region_keeps_the_rest_of_the_page() -> None:
    page = f"before\n\n{_knobs.TABLE_START}\n| stale |\n{_knobs.TABLE_END}\n\nafter\n"
    rewritten = _knobs.with_table(page)
    assert rewritten.startswith(f"before\n\n{_knobs.TABLE_START}\n| header |")
    assert rewritten.endswith(f"\n{_knobs.TABLE_END}\n\nafter\n")
    assert "| stale |" not in rewritten
    with pytest.raises(ValueError, match="knobs table"):
        _knobs.with_table("no markers here")
