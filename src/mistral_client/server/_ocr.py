"""``POST /v1/ocr``: a PDF's real text layer (pypdf), page by page, as markdown; images get a
deterministic text.

A PDF's lines are read with their positions on the page: a line alone at the top is the header, one
at the bottom the footer (moved to the page's ``header``/``footer`` with ``extract_header`` /
``extract_footer``), lines with `` | `` between cells make a table (kept in the markdown, or, with
``table_format``, put in ``tables`` and linked from the markdown as the live API does), a gap
starts a new paragraph, and each of those is a block with its box in pixels at 200 dpi.
Annotation formats (``bbox_annotation_format``, ``document_annotation_format``) are answered with
a JSON value valid against their schema. A URL other than a ``data:`` URL cannot be fetched (the
server reaches no network): its document is one page of deterministic text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._errors import error_response
from ._inputs import answer_delay, data_url, injected, invalid_model, lookup_file, missing_media, not_found, serves
from ._requests import ResponseFormat, schema_problems
from ._schema_values import value_for
from ._state import shared_of

__all__ = ["OCR_ROUTES"]

_DPI = 200
_POINTS = 72
_DEFAULT_MODEL = "mistral-ocr-latest"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class _FileChunk(_Strict, tag_field="type", tag="file"):
    file_id: str


class _DocumentURLChunk(_Strict, tag_field="type", tag="document_url"):
    document_url: str
    document_name: str | None = None


class _ImageURL(_Strict):
    url: str
    detail: Literal["low", "auto", "high"] | None = None


class _ImageURLChunk(_Strict, tag_field="type", tag="image_url"):
    image_url: _ImageURL | str


class _OCRRequest(_Strict, kw_only=True):
    """The spec's OCRRequest (``additionalProperties: false``)."""

    document: _FileChunk | _DocumentURLChunk | _ImageURLChunk
    model: str | None
    pages: str | list[int] | None = None
    include_image_base64: bool | None = None
    image_limit: int | None = None
    image_min_size: int | None = None
    bbox_annotation_format: ResponseFormat | None = None
    document_annotation_format: ResponseFormat | None = None
    document_annotation_prompt: str | None = None
    table_format: Literal["markdown", "html"] | None = None
    extract_header: bool = False
    extract_footer: bool = False
    include_blocks: bool = True
    confidence_scores_granularity: Literal["word", "page", "block"] | None = None


_TAGS = (("file_id", "file"), ("document_url", "document_url"), ("image_url", "image_url"))


class _BadDocument(ValueError):
    """A document the server cannot read: a 400 with this message."""


async def ocr(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    if (missing := missing_media("pypdf")) is not None:
        return missing
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    if isinstance(body, dict) and isinstance(body.get("document"), dict) and "type" not in body["document"]:
        # The chunks' "type" has a default in the spec: the key present decides which chunk it is.
        tag = next((tag for key, tag in _TAGS if key in body["document"]), None)
        if tag is not None:
            body = {**body, "document": {"type": tag, **body["document"]}}
    if problems := schema_problems(body, _OCRRequest):
        return JSONResponse({"detail": problems}, status_code=422)
    model = body["model"] or _DEFAULT_MODEL
    if not serves(request, model, "mistral-ocr"):
        return invalid_model(model)
    request.state.model = model
    options = msgspec.convert(body, _OCRRequest)
    if (rule := _rule_broken(options)) is not None:
        return error_response(400, rule, "invalid_request_error", "3001")
    source = _document(request, options.document)
    if isinstance(source, Response):
        return source
    try:
        pages, size = await asyncio.to_thread(_read, source, options)  # a long PDF parses for a while
    except _BadDocument as exc:
        return error_response(400, str(exc), "invalid_request_error", "3001")
    rng = random.Random(hashlib.sha256(source.key).digest())
    annotation = None
    if options.document_annotation_format is not None:
        annotation = _annotation(options.document_annotation_format, rng)
    shared_of(request).window.spend(tokens=sum(len(page["markdown"].split()) for page in pages))
    await answer_delay(request)
    answer = {"pages": pages, "model": model, "document_annotation": annotation}
    answer["usage_info"] = {"pages_processed": len(pages), "doc_size_bytes": size}
    return JSONResponse(answer)


def _rule_broken(options: _OCRRequest) -> str | None:
    for name in ("bbox_annotation_format", "document_annotation_format"):
        given: ResponseFormat | None = getattr(options, name)
        if given is not None and (given.type != "json_schema" or given.json_schema is None):
            return f"{name}: only json_schema is valid (with its json_schema), got type {given.type!r}"
    if options.document_annotation_prompt is not None and options.document_annotation_format is None:
        return "document_annotation_prompt needs a document_annotation_format"
    for name in ("image_limit", "image_min_size"):
        value = getattr(options, name)
        if value is not None and value < 0:
            return f"{name} must be >= 0, got {value}"
    return None


# --- The document --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    data: bytes | None  # None: a URL the server cannot fetch
    name: str
    kind: Literal["document", "image"]  # what the request says it is
    key: bytes  # what the deterministic parts follow


def _document(request: Request, chunk: _FileChunk | _DocumentURLChunk | _ImageURLChunk) -> _Source | Response:
    if isinstance(chunk, _FileChunk):
        found = lookup_file(request, chunk.file_id)
        if found is None:
            return not_found(f"No file with id {chunk.file_id!r}")
        data, name = found
        return _Source(data, name, "document", hashlib.sha256(data).digest())
    url = chunk.document_url if isinstance(chunk, _DocumentURLChunk) else None
    kind: Literal["document", "image"] = "document"
    if not isinstance(chunk, _DocumentURLChunk):
        kind = "image"
        url = chunk.image_url if isinstance(chunk.image_url, str) else chunk.image_url.url
    assert url is not None
    try:
        inline = data_url(url)
    except ValueError as exc:
        return error_response(400, f"{kind}: {exc}", "invalid_request_error", "3001")
    name = (chunk.document_name if isinstance(chunk, _DocumentURLChunk) else None) or ""
    if inline is None:
        return _Source(None, name or url.split("?")[0].rstrip("/").rpartition("/")[2] or url, kind, url.encode())
    return _Source(inline[0], name, kind, hashlib.sha256(inline[0]).digest())


def _read(source: _Source, options: _OCRRequest) -> tuple[list[dict[str, Any]], int | None]:
    """The answer's pages, and the document's size in bytes (None when it was not read)."""
    if source.data is None:
        return [_unfetched_page(source, options)], None
    data = source.data
    if data.startswith(b"%PDF-"):
        return _pdf_pages(data, options), len(data)
    image = _image_size(data)
    if image is not None:
        return [_image_page(source, data, image, options)], len(data)
    head = data[:8]
    raise _BadDocument(
        f"cannot read the {source.kind}{f' {source.name!r}' if source.name else ''}: it is neither a PDF "
        f"nor a PNG, JPEG, GIF or WebP image (it starts with {head!r})"
    )


def _selected(pages: str | list[int] | None, count: int) -> list[int]:
    """The 0-based page numbers ``pages`` asks for ('0,2-4' or [0, 2]); all when None."""
    if pages is None:
        return list(range(count))
    wanted: list[int] = []
    if isinstance(pages, str):
        for part in pages.split(","):
            first, _, last = part.strip().partition("-")
            if not (first.isdigit() and (not last or last.isdigit())):
                raise _BadDocument(f"pages: {pages!r} is not page numbers and ranges such as '0,2-4'")
            wanted += range(int(first), int(last or first) + 1)
    else:
        wanted = list(pages)
    outside = [page for page in wanted if not 0 <= page < count]
    if outside:
        raise _BadDocument(f"pages: {outside[0]} is not a page of this document, which has {count} (0-{count - 1})")
    return list(dict.fromkeys(wanted))


# --- PDF ------------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    x: float
    y: float  # PDF points from the bottom of the page
    size: float


@dataclass
class _Block:
    kind: Literal["text", "table", "header", "footer"]
    lines: list[_Line] = field(default_factory=list)


def _pdf_pages(data: bytes, options: _OCRRequest) -> list[dict[str, Any]]:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _BadDocument("cannot read the PDF: it is encrypted")
        count = len(reader.pages)
    except _BadDocument:
        raise
    except Exception as exc:  # a parser of untrusted bytes: any failure is the document's
        raise _BadDocument(f"cannot read the PDF: {exc or type(exc).__name__}") from None
    answers = []
    for index in _selected(options.pages, count):
        page = reader.pages[index]
        try:
            lines = _lines(page)
        except Exception as exc:
            raise _BadDocument(f"cannot read page {index} of the PDF: {exc or type(exc).__name__}") from None
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        answers.append(_page_answer(index, _blocks(lines, height), width, height, options))
    return answers


def _lines(page: Any) -> list[_Line]:
    """The page's lines of text, top to bottom, with where each starts."""
    runs: dict[tuple[float, float], list[Any]] = {}

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.setdefault((round(y, 1), round(x, 1)), [x, y, size, ""])[3] += text

    text = page.extract_text(visitor_text=visit)
    if not runs and text.strip():  # no positions given: the lines, spread down the page
        height = float(page.mediabox.height)
        rows = [row.strip() for row in text.splitlines() if row.strip()]
        return [_Line(row, _POINTS, height - _POINTS - 14 * i, 11) for i, row in enumerate(rows)]
    lines = []
    for (y, _x), (x, _y, size, content) in sorted(runs.items(), key=lambda item: (-item[0][0], item[0][1])):
        for offset, part in enumerate(content.split("\n")):
            if part.strip():
                lines.append(_Line(part.strip(), x, y - offset * size * 1.2, size))
    return lines


def _blocks(lines: list[_Line], height: float) -> list[_Block]:
    blocks: list[_Block] = []
    body = list(lines)
    header = footer = None
    if body and body[0].y > height * 0.9:
        header = body.pop(0)
    if body and body[-1].y < height * 0.1:
        footer = body.pop()
    if header is not None:
        blocks.append(_Block("header", [header]))
    previous: _Line | None = None
    for line in body:
        kind: Literal["text", "table"] = "table" if len(_cells(line.text)) > 1 else "text"
        gap = previous is not None and previous.y - line.y > 1.6 * line.size
        if blocks and blocks[-1].kind == kind and not gap:
            blocks[-1].lines.append(line)
        else:
            blocks.append(_Block(kind, [line]))
        previous = line
    for block in blocks:  # a lone row is a line of text, not a table
        if block.kind == "table" and len(block.lines) < 2:
            block.kind = "text"
    if footer is not None:
        blocks.append(_Block("footer", [footer]))
    return blocks


def _cells(text: str) -> list[str]:
    return [cell.strip() for cell in text.split(" | ")]


def _table(block: _Block, table_format: str) -> str:
    rows = [_cells(line.text) for line in block.lines]
    if table_format == "html":
        head = "".join(f"<th>{cell}</th>" for cell in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows[1:])
        return f"<table><tr>{head}</tr>{body}</table>"
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _page_answer(index: int, blocks: list[_Block], width: float, height: float, options: _OCRRequest) -> dict[str, Any]:
    scale = _DPI / _POINTS
    parts: list[str] = []
    tables: list[dict[str, Any]] = []
    answer_blocks: list[dict[str, Any]] = []
    header = footer = None
    for block in blocks:
        if block.kind == "table":
            content = _table(block, options.table_format or "markdown")
            if options.table_format is not None:
                table_id = f"tbl-{len(tables)}.{'html' if options.table_format == 'html' else 'md'}"
                tables.append({"id": table_id, "content": content, "format": options.table_format})
                parts.append(f"[{table_id}]({table_id})")
            else:
                parts.append(content)
        else:
            content = " ".join(line.text for line in block.lines)
            if block.kind == "header" and options.extract_header:
                header = content
            elif block.kind == "footer" and options.extract_footer:
                footer = content
            else:
                parts.append(content)
        box = _box(block, width, height, scale)
        answer_block: dict[str, Any] = {"type": block.kind, **box, "content": content}
        if block.kind == "table" and options.table_format is not None:
            answer_block["table_id"] = tables[-1]["id"]
        answer_blocks.append(answer_block)
    markdown = "\n\n".join(parts)
    page: dict[str, Any] = {
        "index": index,
        "markdown": markdown,
        "images": [],
        "tables": tables,
        "hyperlinks": [],
        "header": header,
        "footer": footer,
        "dimensions": {"dpi": _DPI, "height": round(height * scale), "width": round(width * scale)},
    }
    if options.include_blocks:
        page["blocks"] = answer_blocks
    if options.confidence_scores_granularity is not None:
        page["confidence_scores"] = _confidence(markdown, options.confidence_scores_granularity)
    return page


def _box(block: _Block, width: float, height: float, scale: float) -> dict[str, int]:
    top = max(line.y + line.size for line in block.lines)
    bottom = min(line.y - 0.25 * line.size for line in block.lines)
    left = min(line.x for line in block.lines)
    # Helvetica is about half an em wide a character on average.
    right = max(line.x + 0.5 * line.size * len(line.text) for line in block.lines)
    return {
        "top_left_x": max(0, round(left * scale)),
        "top_left_y": max(0, round((height - top) * scale)),
        "bottom_right_x": max(0, round(min(width, right) * scale)),
        "bottom_right_y": max(0, round((height - bottom) * scale)),
    }


def _confidence(markdown: str, granularity: str) -> dict[str, Any]:
    rng = random.Random(hashlib.sha256(markdown.encode()).digest())
    words = [(word, start) for word, start in _words(markdown)]
    scores = [round(0.9 + 0.1 * rng.random(), 4) for _ in words]
    answer: dict[str, Any] = {
        "average_page_confidence_score": round(sum(scores) / len(scores), 4) if scores else 1.0,
        "minimum_page_confidence_score": min(scores) if scores else 1.0,
    }
    if granularity == "word":
        answer["word_confidence_scores"] = [
            {"text": word, "confidence": score, "start_index": start}
            for (word, start), score in zip(words, scores, strict=True)
        ]
    return answer


def _words(text: str) -> list[tuple[str, int]]:
    return [(match.group(), match.start()) for match in re.finditer(r"\S+", text)]


# --- Images and what cannot be fetched ------------------------------------------------------------


_IMAGE_WORDS = (
    "invoice", "total", "date", "name", "address", "receipt", "amount", "signature", "table", "figure",
    "report", "summary", "page", "section", "chart", "label",
)  # fmt: skip


def _image_size(data: bytes) -> tuple[str, int, int] | None:
    """The image's format and size in pixels, read from its header (PNG, JPEG, GIF, WebP)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"GIF8") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            return "webp", 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if data[12:16] == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", width & 0x3FFF, height & 0x3FFF
        if data[12:16] == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return "jpeg", width, height
        at += 2 + length
    return None


def _deterministic_text(key: bytes, words: int) -> str:
    rng = random.Random(hashlib.sha256(key).digest())
    chosen = [rng.choice(_IMAGE_WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _image_page(source: _Source, data: bytes, image: tuple[str, int, int], options: _OCRRequest) -> dict[str, Any]:
    kind, width, height = image
    image_id = f"img-0.{kind}"
    text = _deterministic_text(source.key, 12)
    images = []
    small = options.image_min_size is not None and min(width, height) < options.image_min_size
    if options.image_limit != 0 and not small:
        encoded = f"data:image/{kind};base64,{base64.b64encode(data).decode()}"
        picture: dict[str, Any] = {
            "id": image_id,
            "top_left_x": 0,
            "top_left_y": 0,
            "bottom_right_x": width,
            "bottom_right_y": height,
            "image_base64": encoded if options.include_image_base64 else None,
        }
        if options.bbox_annotation_format is not None:
            picture["image_annotation"] = _annotation(
                options.bbox_annotation_format, random.Random(hashlib.sha256(source.key + b"\0bbox").digest())
            )
        images.append(picture)
    markdown = (f"![{image_id}]({image_id})\n\n" if images else "") + text
    page: dict[str, Any] = {
        "index": 0,
        "markdown": markdown,
        "images": images,
        "tables": [],
        "hyperlinks": [],
        "header": None,
        "footer": None,
        "dimensions": {"dpi": _DPI, "height": height, "width": width},
    }
    if options.include_blocks:
        page["blocks"] = [
            {"type": "text", "top_left_x": 0, "top_left_y": 0, "bottom_right_x": width,
             "bottom_right_y": height, "content": text},
        ]  # fmt: skip
    if options.confidence_scores_granularity is not None:
        page["confidence_scores"] = _confidence(markdown, options.confidence_scores_granularity)
    return page


def _unfetched_page(source: _Source, options: _OCRRequest) -> dict[str, Any]:
    if options.pages is not None:
        _selected(options.pages, 1)
    title = source.name or "document"
    text = _deterministic_text(source.key, 24)
    markdown = f"# {title}\n\n{text}"
    page: dict[str, Any] = {
        "index": 0,
        "markdown": markdown,
        "images": [],
        "tables": [],
        "hyperlinks": [],
        "header": None,
        "footer": None,
        "dimensions": {"dpi": _DPI, "height": 2200, "width": 1700},
    }
    if options.confidence_scores_granularity is not None:
        page["confidence_scores"] = _confidence(markdown, options.confidence_scores_granularity)
    return page


def _annotation(response_format: ResponseFormat, rng: random.Random) -> str:
    assert response_format.json_schema is not None
    return json.dumps(value_for(response_format.json_schema.schema, rng))


OCR_ROUTES = [Route("/v1/ocr", ocr, methods=["POST"])]
