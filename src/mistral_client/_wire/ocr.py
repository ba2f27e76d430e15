"""OCR on the wire: ``POST /v1/ocr``, the request checked before sending and the answer read tolerantly."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .answers import OrNull

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "OCRImage",
    "OCRPage",
    "OCRPageDimensions",
    "OCRRequest",
    "OCRResponse",
    "OCRTable",
    "OCRUsageInfo",
    "media_type_of",
]

# The API's limit on a document (Mistral's OCR documentation: 50 MB); the client checks it before sending.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024

_BY_EXTENSION = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}
_BY_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def media_type_of(name: str, head: bytes) -> str | None:
    """The media type of a document, from its first bytes, else its name's extension (``None``: unknown)."""
    for magic, media_type in _BY_MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return _BY_EXTENSION.get(name.rpartition(".")[2].lower()) if "." in name else None


class _FileChunk(msgspec.Struct, tag_field="type", tag="file", forbid_unknown_fields=True):
    file_id: Annotated[str, Meta(min_length=1)]


class _DocumentURLChunk(msgspec.Struct, tag_field="type", tag="document_url", forbid_unknown_fields=True):
    document_url: Annotated[str, Meta(min_length=1)]
    document_name: str | UnsetType | None = UNSET


class _ImageURL(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, Meta(min_length=1)]
    detail: Literal["low", "auto", "high"] | UnsetType | None = UNSET


class _ImageURLChunk(msgspec.Struct, tag_field="type", tag="image_url", forbid_unknown_fields=True):
    image_url: _ImageURL | Annotated[str, Meta(min_length=1)]


class OCRRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field of the API's ``OCRRequest``; the unset ones are not sent."""

    model: Annotated[str, Meta(min_length=1)]
    document: _FileChunk | _DocumentURLChunk | _ImageURLChunk
    pages: str | list[Annotated[int, Meta(ge=0)]] | UnsetType | None = UNSET
    include_image_base64: bool | UnsetType | None = UNSET
    image_limit: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    image_min_size: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    bbox_annotation_format: dict[str, Any] | UnsetType | None = UNSET
    document_annotation_format: dict[str, Any] | UnsetType | None = UNSET
    document_annotation_prompt: str | UnsetType | None = UNSET
    table_format: Literal["markdown", "html"] | UnsetType | None = UNSET
    extract_header: bool | UnsetType = UNSET
    extract_footer: bool | UnsetType = UNSET
    include_blocks: bool | UnsetType = UNSET
    confidence_scores_granularity: Literal["word", "page", "block"] | UnsetType | None = UNSET


class OCRPageDimensions(msgspec.Struct, gc=False):
    dpi: int | None = None
    height: int | None = None
    width: int | None = None


class OCRImage(msgspec.Struct, dict=True):
    """An image found on a page: where it is, its pixels (``include_image_base64``), its annotation."""

    id: OrNull[str] = ""
    top_left_x: int | None = None
    top_left_y: int | None = None
    bottom_right_x: int | None = None
    bottom_right_y: int | None = None
    image_base64: str | None = None
    image_annotation: str | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""

    @property
    def annotation(self) -> Any:
        """``image_annotation`` decoded into the type given as ``bbox_annotation_format``; ``None``
        without one (or without an annotation)."""
        return _parsed(self, "image_annotation", "_bbox_type")


class OCRTable(msgspec.Struct, gc=False):
    """A table cut out of a page (``table_format``): the page's markdown refers to it by ``id``."""

    id: OrNull[str] = ""
    content: OrNull[str] = ""
    format: str | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""
        if self.content is None:
            self.content = ""


class OCRPage(msgspec.Struct, gc=False):
    """One page: its text as markdown, its images and tables, header and footer when extracted."""

    index: OrNull[int] = 0
    markdown: OrNull[str] = ""
    images: OrNull[list[OCRImage]] = msgspec.field(default_factory=list)
    tables: OrNull[list[OCRTable]] = msgspec.field(default_factory=list)
    hyperlinks: OrNull[list[str]] = msgspec.field(default_factory=list)
    header: str | None = None
    footer: str | None = None
    dimensions: OCRPageDimensions | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = 0
        if self.markdown is None:
            self.markdown = ""
        if self.images is None:
            self.images = []
        if self.tables is None:
            self.tables = []
        if self.hyperlinks is None:
            self.hyperlinks = []


class OCRUsageInfo(msgspec.Struct, gc=False):
    pages_processed: OrNull[int] = 0
    doc_size_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.pages_processed is None:
            self.pages_processed = 0


class OCRResponse(msgspec.Struct, dict=True):
    """The answer of ``ocr.process``: ``pages`` (markdown, images, tables), ``usage_info``, and
    ``to_markdown()`` for the whole document as one markdown text."""

    pages: OrNull[list[OCRPage]] = msgspec.field(default_factory=list)
    model: OrNull[str] = ""
    document_annotation: str | None = None
    usage_info: OrNull[OCRUsageInfo] = msgspec.field(default_factory=OCRUsageInfo)

    def __post_init__(self) -> None:
        if self.pages is None:
            self.pages = []
        if self.model is None:
            self.model = ""
        if self.usage_info is None:
            self.usage_info = OCRUsageInfo()

    @property
    def annotation(self) -> Any:
        """``document_annotation`` decoded into the type given as ``document_annotation_format``;
        ``None`` without one (or without an annotation)."""
        return _parsed(self, "document_annotation", "_document_type")

    def to_markdown(self, *, page_separator: str = "\n\n", inline_images: bool = False, tables: bool = True) -> str:
        """The pages' markdown joined into one document, in page order.

        ``tables`` puts each table's content where the page refers to it (``[tbl-0.md](tbl-0.md)``, with
        ``table_format``); ``inline_images`` replaces each image reference with its pixels as a data URL
        (with ``include_image_base64=True``), so that the one file shows them.  Headers and footers
        (``extract_header``/``extract_footer``) stay out: they repeat on every page.
        """
        parts = []
        for page in sorted(self.pages, key=lambda page: page.index):
            text = page.markdown
            if tables:
                for table in page.tables:
                    if table.id:
                        text = _replace_link(text, table.id, table.content, image=False)
            if inline_images:
                for image in page.images:
                    if image.id and image.image_base64:
                        text = _replace_link(text, image.id, _data_url(image.id, image.image_base64), image=True)
            parts.append(text.strip("\n"))
        return page_separator.join(part for part in parts if part) + "\n" if parts else ""


def _replace_link(text: str, name: str, replacement: str, *, image: bool) -> str:
    # ``![img-0.jpeg](img-0.jpeg)`` for an image, ``[tbl-0.md](tbl-0.md)`` for a table.
    link = re.compile(r"!?\[[^\]]*\]\(" + re.escape(name) + r"\)")
    if image:
        return link.sub(lambda match: f"![{name}]({replacement})", text)
    return link.sub(lambda match: replacement, text)


def _data_url(name: str, data: str) -> str:
    if data.startswith("data:"):
        return data
    kind = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}.get(
        name.rpartition(".")[2].lower(), "jpeg"
    )
    return f"data:image/{kind};base64,{data}"


def _parsed(struct: Any, field: str, type_key: str) -> Any:
    output_type = struct.__dict__.get(type_key)
    value = getattr(struct, field)
    if output_type is None or value is None:
        return None
    cache = struct.__dict__.get("_parsed")
    if cache is None or cache[0] is not value:
        from .structured import parse_output

        cache = struct.__dict__["_parsed"] = (value, parse_output(value, output_type))
    return cache[1]
