"""The local server's OCR (``POST /v1/ocr``): a PDF's real text layer per page, images, the spec's shapes.

The documents are the server's own (``mistral_client.server._media``): PDFs with a text layer
written here, and a PNG. Every answer is checked against the spec's OCRResponse; the official
SDK parses them (test_ocr_sdk.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import jsonschema
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import pdf_bytes, png_bytes, sample_pdf
from tests.support.openapi import conforms

PATH = "/v1/ocr"
MODEL = "mistral-ocr-latest"
INVOICE = {
    "type": "object",
    "properties": {"number": {"type": "string"}, "total": {"type": "number", "minimum": 0}},
    "required": ["number", "total"],
    "additionalProperties": False,
}


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def pdf_url(data: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(data).decode()


def png_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def ocr(http: httpx2.Client, document: dict[str, Any], **options: Any) -> dict[str, Any]:
    response = http.post(PATH, json={"model": MODEL, "document": document, **options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    conforms("OCRResponse", body)
    return body


def sample(http: httpx2.Client, **options: Any) -> dict[str, Any]:
    return ocr(http, {"type": "document_url", "document_url": pdf_url(sample_pdf())}, **options)


# --- PDFs -----------------------------------------------------------------------------------------


def test_the_text_layer_is_read_page_by_page(http: httpx2.Client) -> None:
    lines = [["Alpha (one) \\ two", "", "bravo charlie"], ["delta echo foxtrot"]]
    body = ocr(http, {"type": "document_url", "document_url": pdf_url(pdf_bytes(lines))})
    assert [page["index"] for page in body["pages"]] == [0, 1]
    assert body["pages"][0]["markdown"] == "Alpha (one) \\ two\n\nbravo charlie"  # a gap: a new paragraph
    assert body["pages"][1]["markdown"] == "delta echo foxtrot"
    assert body["pages"][0]["dimensions"] == {"dpi": 200, "width": 1700, "height": 2200}  # US Letter
    assert body["usage_info"] == {"pages_processed": 2, "doc_size_bytes": len(pdf_bytes(lines))}
    assert body["model"] == MODEL and body["document_annotation"] is None


def test_header_and_footer_stay_in_the_markdown_unless_extracted(http: httpx2.Client) -> None:
    kept = sample(http)["pages"][0]
    assert kept["markdown"].startswith("Local Server Sample\n\n") and kept["markdown"].endswith("\n\nPage 1 of 3")
    assert kept["header"] is None and kept["footer"] is None
    pages = sample(http, extract_header=True, extract_footer=True)["pages"]
    assert [(p["header"], p["footer"]) for p in pages] == [("Local Server Sample", f"Page {n} of 3") for n in (1, 2, 3)]
    assert pages[0]["markdown"] == (
        "Quarterly report\n\nThe local server reads this text from the PDF's text layer. "
        "Each page comes back as markdown, in order."
    )


def test_tables_inline_or_apart(http: httpx2.Client) -> None:
    table = "| Region | Sales | Growth |\n|---|---|---|\n| North | 120 | 4% |\n| South | 95 | 2% |"
    inline = sample(http, pages=[1])["pages"][0]
    assert table in inline["markdown"] and inline["tables"] == []
    apart = sample(http, pages=[1], table_format="markdown")["pages"][0]
    assert "[tbl-0.md](tbl-0.md)" in apart["markdown"] and table not in apart["markdown"]
    assert apart["tables"] == [{"id": "tbl-0.md", "content": table, "format": "markdown"}]
    html = sample(http, pages=[1], table_format="html")["pages"][0]["tables"][0]
    assert html["id"] == "tbl-0.html" and html["content"].startswith("<table><tr><th>Region</th>")


@pytest.mark.parametrize(("pages", "indexes"), [("0,2", [0, 2]), ("1-2", [1, 2]), ([2, 0], [2, 0]), (None, [0, 1, 2])])
def test_pages_select(http: httpx2.Client, pages: Any, indexes: list[int]) -> None:
    body = sample(http, pages=pages)
    assert [page["index"] for page in body["pages"]] == indexes
    assert body["usage_info"]["pages_processed"] == len(indexes)


def test_blocks_have_their_boxes_on_the_page(http: httpx2.Client) -> None:
    blocks = sample(http, pages=[1], table_format="markdown")["pages"][0]["blocks"]
    assert [block["type"] for block in blocks] == ["header", "text", "table", "text", "footer"]
    tops = [block["top_left_y"] for block in blocks]
    assert tops == sorted(tops) and tops[0] < 220 and tops[-1] > 2000  # top to bottom, in 200-dpi pixels
    assert all(b["top_left_x"] < b["bottom_right_x"] <= 1700 and b["top_left_y"] < b["bottom_right_y"] for b in blocks)
    assert blocks[2]["table_id"] == "tbl-0.md"
    assert "blocks" not in sample(http, include_blocks=False)["pages"][0]


def test_confidence_scores(http: httpx2.Client) -> None:
    page = sample(http, pages=[0], confidence_scores_granularity="word")["pages"][0]
    scores = page["confidence_scores"]
    words = scores["word_confidence_scores"]
    assert [w["text"] for w in words] == page["markdown"].split()
    assert all(page["markdown"][w["start_index"] :].startswith(w["text"]) for w in words)
    assert scores["minimum_page_confidence_score"] <= scores["average_page_confidence_score"] <= 1
    assert (
        "word_confidence_scores"
        not in sample(http, confidence_scores_granularity="page")["pages"][0]["confidence_scores"]
    )


def test_a_document_annotation_follows_its_schema(http: httpx2.Client) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "invoice", "schema": INVOICE}}
    body = sample(http, document_annotation_format=fmt, document_annotation_prompt="the invoice's number")
    jsonschema.validate(json.loads(body["document_annotation"]), INVOICE)
    assert sample(http, document_annotation_format=fmt)["document_annotation"] == body["document_annotation"]


# --- Images, file ids, URLs -----------------------------------------------------------------------


def test_an_image_gets_a_deterministic_text_and_its_size(http: httpx2.Client) -> None:
    image = png_bytes(120, 80)
    fmt = {"type": "json_schema", "json_schema": {"name": "invoice", "schema": INVOICE}}
    body = ocr(
        http,
        {"type": "image_url", "image_url": png_url(image)},
        include_image_base64=True,
        bbox_annotation_format=fmt,
    )
    page = body["pages"][0]
    assert page["dimensions"] == {"dpi": 200, "width": 120, "height": 80}
    assert page["markdown"].startswith("![img-0.png](img-0.png)\n\n")
    (picture,) = page["images"]
    assert (picture["bottom_right_x"], picture["bottom_right_y"]) == (120, 80)
    assert picture["image_base64"] == png_url(image)
    jsonschema.validate(json.loads(picture["image_annotation"]), INVOICE)
    again = ocr(http, {"image_url": {"url": png_url(image)}})  # "type" may be left out, as the spec allows
    assert again["pages"][0]["markdown"] == page["markdown"] and again["pages"][0]["images"][0]["image_base64"] is None
    other = ocr(http, {"type": "image_url", "image_url": png_url(png_bytes(121, 80))})
    assert other["pages"][0]["markdown"] != page["markdown"]
    assert ocr(http, {"type": "image_url", "image_url": png_url(image)}, image_limit=0)["pages"][0]["images"] == []


def test_a_file_id_goes_through_the_hook(server: LocalServer, http: httpx2.Client) -> None:
    server.app.state.file_content = {"6f0b2c58-4f7e-4a43-9d49-0c8b5e0f6f11": (sample_pdf(), "sample.pdf")}.get
    try:
        body = ocr(http, {"type": "file", "file_id": "6f0b2c58-4f7e-4a43-9d49-0c8b5e0f6f11"})
        assert len(body["pages"]) == 3
        missing = http.post(PATH, json={"model": MODEL, "document": {"type": "file", "file_id": "nope"}})
        assert missing.status_code == 404 and "nope" in missing.json()["message"]
    finally:
        del server.app.state.file_content


def test_a_url_the_server_cannot_fetch_is_one_deterministic_page(http: httpx2.Client) -> None:
    document = {"type": "document_url", "document_url": "https://example.com/papers/report.pdf"}
    body = ocr(http, document)
    assert len(body["pages"]) == 1 and body["pages"][0]["markdown"].startswith("# report.pdf\n\n")
    assert body["usage_info"]["doc_size_bytes"] is None and ocr(http, document) == body


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model": MODEL}, ["body", "document"]),
        ({"document": {"type": "document_url", "document_url": "https://example.com/a.pdf"}}, ["body", "model"]),
        ({"model": MODEL, "document": {"type": "video_url", "video_url": "x"}}, ["body", "document", "type"]),
        ({"model": MODEL, "document": {"document_url": "x"}, "colour": True}, ["body", "colour"]),
        ({"model": MODEL, "document": {"document_url": "x"}, "table_format": "latex"}, ["body", "table_format"]),
    ],
)
def test_schema_errors_are_422(http: httpx2.Client, body: dict[str, Any], loc: list[str]) -> None:
    response = http.post(PATH, json=body)
    assert response.status_code == 422, response.text
    conforms("HTTPValidationError", response.json())
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("document", "options", "says"),
    [
        ({"document_url": pdf_url(b"%PDF-1.4 not really")}, {}, "cannot read the PDF"),
        ({"document_url": pdf_url(b"hello")}, {}, "neither a PDF nor a PNG"),
        ({"document_url": "data:application/pdf;base64,%%%"}, {}, "base64"),
        ({"document_url": pdf_url(sample_pdf())}, {"pages": [3]}, "3 is not a page of this document, which has 3"),
        ({"document_url": pdf_url(sample_pdf())}, {"pages": "first"}, "'first' is not page numbers"),
        (
            {"document_url": pdf_url(sample_pdf())},
            {"bbox_annotation_format": {"type": "json_object"}},
            "only json_schema",
        ),
        ({"document_url": pdf_url(sample_pdf())}, {"document_annotation_prompt": "x"}, "needs a document_annotation"),
    ],
)
def test_documents_and_options_the_server_refuses_are_400(
    http: httpx2.Client, document: dict[str, Any], options: dict[str, Any], says: str
) -> None:
    response = http.post(PATH, json={"model": MODEL, "document": document, **options})
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "invalid_request_error" and says in response.json()["message"]


def test_a_model_that_does_no_ocr_is_refused(http: httpx2.Client) -> None:
    document = {"type": "document_url", "document_url": "https://example.com/a.pdf"}
    response = http.post(PATH, json={"model": "mistral-small-latest", "document": document})
    assert response.status_code == 400 and response.json()["message"] == "Invalid model: mistral-small-latest"
    assert http.post(PATH, json={"model": None, "document": document}).json()["model"] == MODEL


def test_a_document_over_the_size_limit_is_413() -> None:
    with LocalServer(max_body_size=20_000) as small, httpx2.Client(base_url=small.base_url) as http:
        big = pdf_bytes([[f"line {i} of a long document" for i in range(40)]] * 20)
        response = http.post(PATH, json={"model": MODEL, "document": {"document_url": pdf_url(big)}})
    assert response.status_code == 413
