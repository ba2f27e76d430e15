"""``mistral-client ocr FILE -o out.md``: a document (PDF, image...) as one markdown file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import arguments
from .media import add_target_flags, client_for, fail
from .output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Output, say

__all__ = ["DEFAULT_MODEL", "add_parser", "run"]

DEFAULT_MODEL = "mistral-ocr-latest"
_IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".tif", ".tiff")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "ocr",
        help="turn a document into markdown",
        formatter_class=arguments.Wrapping,
        description=(
            "Read FILE (a PDF, an image, DOCX, PPTX..., or an http(s) URL of one) and write its pages as one "
            "markdown document to -o PATH, or to stdout.  Without MISTRAL_API_KEY (and no --base-url or "
            "MISTRAL_BASE_URL), or with --local, the embedded local server reads a PDF's text layer."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the document: a path or an http(s) URL")
    parser.add_argument("--output", "-o", metavar="PATH", type=Path, help="write the markdown here (default: stdout)")
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"the model (default: {DEFAULT_MODEL})")
    parser.add_argument("--pages", metavar="LIST", type=_pages, help="only these pages, from 0: e.g. 0,2-4")
    parser.add_argument(
        "--images", action="store_true", help="put the images into the markdown (as data URLs: one self-contained file)"
    )
    add_target_flags(parser)


def _pages(text: str) -> list[int]:
    pages: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low, high = int(first), int(last or first)
            if low < 0 or high < low:
                raise ValueError
            pages.extend(range(low, high + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"pages must be numbers from 0 and ranges, e.g. 0,2-4; got {text!r}") from None
    return pages


def run(args: argparse.Namespace) -> int:
    from .._exceptions import MistralError

    url = args.file if args.file.startswith(("http://", "https://")) else None
    image = url is not None and url.lower().endswith(_IMAGES)
    with client_for(args) as client:
        if isinstance(client, int):
            return client
        try:
            answer = client.ocr.process(
                None if url else args.file,
                model=args.model,
                document_url=url if url and not image else None,
                image_url=url if image else None,
                pages=args.pages,
                include_image_base64=args.images or None,
            )
        except KeyboardInterrupt:
            say("interrupted")
            return EXIT_INTERRUPTED
        except MistralError as exc:
            return fail(exc)
    markdown = answer.to_markdown(inline_images=args.images)
    if args.output is None:
        Output(sys.stdout).write(markdown)
        return EXIT_OK
    try:
        args.output.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        say(f"error: cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_USAGE
    say(f"wrote {len(answer.pages)} pages ({len(markdown)} characters) to {args.output}")
    return EXIT_OK
