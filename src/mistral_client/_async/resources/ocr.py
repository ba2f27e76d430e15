"""``client.ocr``: a document or an image to markdown, page by page."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._wire.ocr import MAX_DOCUMENT_BYTES, OCRRequest, OCRResponse, media_type_of
from ..._wire.requests import _encode
from ..._wire.structured import response_format_for
from ._base import AsyncResource, Headers, decode
from ._media import FileSource, local_file, read_all

__all__ = ["AsyncOCR"]

_decode = msgspec.json.Decoder(OCRResponse).decode
_METHOD = "ocr.process"


class AsyncOCR(AsyncResource):
    async def process(
        self,
        file: FileSource | None = None,
        /,
        *,
        model: str | None = None,
        document_url: str | None = None,
        image_url: str | None = None,
        file_id: str | None = None,
        document: Mapping[str, Any] | None = None,
        document_name: str | None = None,
        pages: str | Sequence[int] | range | None = None,
        include_image_base64: bool | None = None,
        image_limit: int | None = None,
        image_min_size: int | None = None,
        table_format: str | None = None,
        extract_header: bool | None = None,
        extract_footer: bool | None = None,
        bbox_annotation_format: Mapping[str, Any] | type | None = None,
        document_annotation_format: Mapping[str, Any] | type | None = None,
        document_annotation_prompt: str | None = None,
        confidence_scores_granularity: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> OCRResponse:
        """Read a document: one of ``file`` (a local path, bytes or binary file, sent with the call),
        ``document_url``, ``image_url``, ``file_id`` (a file uploaded with ``purpose='ocr'``), or
        ``document`` (the API's own ``{"type": ...}`` shape).

        The answer has ``pages`` (each with ``markdown``, ``images``, ``tables``), ``usage_info``, and
        ``to_markdown()``.  An annotation format given as a type (a msgspec Struct, dataclass,
        TypedDict or pydantic model) is sent as its JSON schema, and the annotations come back
        decoded into it: ``response.annotation``, ``image.annotation``.
        """
        if model is None:
            raise InvalidRequestError(f"{_METHOD}() needs model=..., e.g. 'mistral-ocr-latest'")
        chunk = _document(file, document_url, image_url, file_id, document, document_name)
        payload: dict[str, Any] = {"model": model, "document": chunk}
        if isinstance(pages, range):
            pages = list(pages)
        options = {
            "pages": list(pages) if isinstance(pages, Sequence) and not isinstance(pages, str) else pages,
            "include_image_base64": include_image_base64,
            "image_limit": image_limit,
            "image_min_size": image_min_size,
            "table_format": table_format,
            "extract_header": extract_header,
            "extract_footer": extract_footer,
            "document_annotation_prompt": document_annotation_prompt,
            "confidence_scores_granularity": confidence_scores_granularity,
        }
        payload.update((key, value) for key, value in options.items() if value is not None)
        types = {}
        for key, value in (
            ("bbox_annotation_format", bbox_annotation_format),
            ("document_annotation_format", document_annotation_format),
        ):
            if value is not None:
                try:
                    payload[key], types[key] = response_format_for(value)
                except InvalidRequestError as exc:
                    raise InvalidRequestError(f"{_METHOD}(): {key}: {exc}") from None
        try:
            msgspec.convert(payload, OCRRequest)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"{_METHOD}(): invalid request: {exc}") from None
        data, sent = await self.post_json("/ocr", _encode(_METHOD, payload), timeout, extra_headers, operation="ocr")
        response = decode(_decode, data, "an OCR answer", sent)
        # ``dict=True`` lets the annotations' types ride on the answer, off the wire fields.
        if types.get("document_annotation_format") is not None:
            response.__dict__["_document_type"] = types["document_annotation_format"]
        bbox_type = types.get("bbox_annotation_format")
        if bbox_type is not None:
            for page in response.pages:
                for image in page.images:
                    image.__dict__["_bbox_type"] = bbox_type
        return response


def _document(
    file: Any,
    document_url: str | None,
    image_url: str | None,
    file_id: str | None,
    document: Mapping[str, Any] | None,
    document_name: str | None,
) -> dict[str, Any]:
    given = {
        name: value
        for name, value in (
            ("file", file),
            ("document_url", document_url),
            ("image_url", image_url),
            ("file_id", file_id),
            ("document", document),
        )
        if value is not None
    }
    if not given:
        raise InvalidRequestError(
            f"{_METHOD}() needs a document: a local file (ocr.process('scan.pdf', ...)), document_url=..., "
            "image_url=..., file_id=... or document={...}"
        )
    if len(given) > 1:
        raise InvalidRequestError(f"{_METHOD}(): give one document, not {len(given)} ({', '.join(given)})")
    if document is not None:
        if not isinstance(document, Mapping):
            raise InvalidRequestError(f"{_METHOD}(): document must be a dict such as {{'type': 'document_url', ...}}")
        return dict(document)
    if document_url is not None:
        chunk: dict[str, Any] = {"type": "document_url", "document_url": document_url}
        if document_name is not None:
            chunk["document_name"] = document_name
        return chunk
    if image_url is not None:
        return {"type": "image_url", "image_url": image_url}
    if file_id is not None:
        return {"type": "file", "file_id": file_id}
    # A local file travels in the call itself, as a data URL: no upload to keep or delete.
    local = local_file(file, "the document", _METHOD, max_size=MAX_DOCUMENT_BYTES, name=document_name)
    data = read_all(local)
    media_type = media_type_of(local.filename, data[:16])
    if media_type is None:
        raise InvalidRequestError(
            f"{_METHOD}(): cannot tell what kind of document {local.filename!r} is (PDF, an image, DOCX, PPTX...) "
            "from its name or its first bytes: give its name with the extension, e.g. document_name='scan.pdf'"
        )
    url = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    if media_type.startswith("image/"):
        return {"type": "image_url", "image_url": url}
    return {"type": "document_url", "document_url": url, "document_name": local.filename}
