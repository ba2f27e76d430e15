"""The official ``mistralai`` SDK against the local server's OCR: every answer parses, errors are its own.

The SDK comes with the ``bench`` extra: without it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import png_bytes, sample_pdf
from tests.support.shared import need

KEY = "sk-sdk-ocr"
MODEL = "mistral-ocr-latest"
PDF = "data:application/pdf;base64," + base64.b64encode(sample_pdf()).decode()


@pytest.fixture(scope="module")
def local() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def sdk(local: LocalServer) -> Iterator[Any]:
    with need("mistralai.client").Mistral(api_key=KEY, server_url=local.base_url) as client:
        yield client


def test_a_pdf_with_every_option(sdk: Any) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    answer = sdk.ocr.process(
        model=MODEL,
        document={"type": "document_url", "document_url": PDF, "document_name": "sample.pdf"},
        pages="0-1",
        table_format="html",
        extract_header=True,
        extract_footer=True,
        confidence_scores_granularity="word",
        document_annotation_format={"type": "json_schema", "json_schema": {"name": "doc", "schema": schema}},
    )
    assert [page.index for page in answer.pages] == [0, 1]
    assert answer.pages[0].header == "Local Server Sample" and answer.pages[1].footer == "Page 2 of 3"
    assert answer.pages[1].tables[0].format_ == "html" and answer.pages[1].blocks
    assert answer.usage_info.pages_processed == 2 and "title" in json.loads(answer.document_annotation)


def test_an_image(sdk: Any) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes(40, 30)).decode()
    answer = sdk.ocr.process(model=MODEL, document={"type": "image_url", "image_url": url}, include_image_base64=True)
    (page,) = answer.pages
    assert page.dimensions.width == 40 and page.images[0].image_base64 == url


def test_errors_are_the_sdks(sdk: Any) -> None:
    errors = need("mistralai.client.errors")
    with pytest.raises(errors.SDKError) as unreadable:
        sdk.ocr.process(model=MODEL, document={"type": "document_url", "document_url": "data:application/pdf,nope"})
    assert unreadable.value.status_code == 400 and "neither a PDF" in unreadable.value.body
    with pytest.raises(errors.SDKError) as outside:
        sdk.ocr.process(model=None, document={"type": "document_url", "document_url": PDF}, pages=[7])
    assert outside.value.status_code == 400 and "7 is not a page" in outside.value.body
