"""``mistral-client transcribe FILE``: the text of an audio file on stdout, streamed with ``--stream``;
subtitles with ``--srt``/``--vtt``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import arguments
from .media import add_target_flags, client_for, fail
from .output import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Output, say

if TYPE_CHECKING:
    from .._uploads import FileSource

__all__ = ["DEFAULT_MODEL", "add_parser", "run"]

DEFAULT_MODEL = "voxtral-mini-latest"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "transcribe",
        help="transcribe an audio file",
        formatter_class=arguments.Wrapping,
        description=(
            "Print the text of FILE (WAV, FLAC, OGG, MP3...; '-' reads stdin) to stdout.  Without "
            "MISTRAL_API_KEY (and no --base-url or MISTRAL_BASE_URL), or with --local, the embedded local "
            "server answers with deterministic text placed in the audio's real length."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="the audio file; '-' reads it from stdin")
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"the model (default: {DEFAULT_MODEL})")
    parser.add_argument("--language", "-l", metavar="CODE", help="the language spoken, two letters (en, fr...)")
    parser.add_argument("--stream", action="store_true", help="print the text as it arrives")
    parser.add_argument("--diarize", action="store_true", help="name the speakers (in the subtitles)")
    parser.add_argument("--srt", metavar="PATH", type=Path, help="also write the segments as SubRip subtitles")
    parser.add_argument("--vtt", metavar="PATH", type=Path, help="also write the segments as WebVTT subtitles")
    add_target_flags(parser)


def run(args: argparse.Namespace) -> int:
    from .._exceptions import MistralError

    source: FileSource = sys.stdin.buffer if args.file == "-" else args.file
    options: dict[str, Any] = {
        "model": args.model,
        "language": args.language,
        "diarize": args.diarize or None,
        "timestamp_granularities": ["segment"] if args.srt or args.vtt else None,
    }
    out = Output(sys.stdout)
    result = None
    with client_for(args) as client:
        if isinstance(client, int):
            return client
        try:
            if args.stream:
                stream = client.audio.transcriptions.stream(source, **options)
                with stream:
                    for text in stream.text_stream:
                        if not out.write(text):
                            stream.cancel()  # stdout was closed (``| head``)
                            break
                result = stream.result
            else:
                result = client.audio.transcriptions.create(source, **options)
                out.write(result.text)
        except KeyboardInterrupt:
            out.end_line()
            say("interrupted")
            return EXIT_INTERRUPTED
        except MistralError as exc:
            out.end_line()
            partial = getattr(exc, "partial", None)
            return fail(exc, lambda: f"{len(partial.text)} characters arrived (printed above)" if partial else "")
    out.end_line()
    for path, text in ((args.srt, result.to_srt()), (args.vtt, result.to_vtt())):
        if path is not None:
            try:
                path.write_text(text, encoding="utf-8")
            except OSError as exc:
                say(f"error: cannot write {path}: {exc.strerror or exc}")
                return EXIT_USAGE
            say(f"wrote {len(result.segments)} segments to {path}")
    return EXIT_OK
