"""The ``mistral-client`` command: stream a chat answer to the terminal, or run the local server.

    mistral-client chat "Tell me a joke" [--model M] [--system TEXT] [--max-tokens N] [--stats]
    echo "Tell me a joke" | mistral-client chat       # or chat -: the prompt from stdin
    mistral-client serve [--port 8000] [--engine llama]   # then: MISTRAL_BASE_URL=http://127.0.0.1:8000
    mistral-client transcribe talk.wav [--stream] [--srt talk.srt]    mistral-client ocr scan.pdf -o scan.md
    mistral-client batch run requests.jsonl -o results.jsonl [--engine direct|batch]   # see cli/batch.py

Without ``MISTRAL_API_KEY`` (and no ``--base-url`` / ``MISTRAL_BASE_URL``), or with ``--local``,
``chat`` streams from the embedded local server: a small real model (SmolLM2-135M-Instruct through
llama.cpp) when the ``local-model`` extra is installed, deterministic text otherwise.

Exit codes: 0 success, 1 the request failed, 2 a usage error (or the ``server`` extra is missing, or a
model asked for is not installed), 130 interrupted with Ctrl-C.  Errors are one ``mistral-client: error:
...`` line on stderr (red on a terminal, unless NO_COLOR is set).  The client and the server are imported
only by the command that needs them: ``--help`` and ``--version`` load neither.

One module per command (``chat``, ``serve``), each adding its parser and running it; ``output`` is
what the terminal gets, ``arguments`` what a flag's value may be, ``local`` the embedded server both
commands start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import arguments, batch, chat, ocr, serve, transcribe

# What ``cli.NAME`` read before the split, still there (docs claims read the demo pace from here).
from .chat import DEFAULT_MODEL as DEFAULT_MODEL
from .local import DEMO_FIRST_TOKEN_DELAY as DEMO_FIRST_TOKEN_DELAY
from .local import DEMO_TOKEN_DELAY as DEMO_TOKEN_DELAY
from .local import SERVER_EXTRA_HINT as SERVER_EXTRA_HINT
from .local import TEMPLATE_ENGINE as TEMPLATE_ENGINE
from .output import EXIT_FAILED as EXIT_FAILED
from .output import EXIT_INTERRUPTED, EXIT_USAGE, PROG, say
from .output import EXIT_OK as EXIT_OK

__all__ = ["main"]

_COMMANDS = {"chat": chat.run, "serve": serve.run, "transcribe": transcribe.run, "ocr": ocr.run, "batch": batch.run}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    # Ctrl-C at any point, also while the server or a model loads, is one line, never a traceback.
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        run = _COMMANDS.get(args.command)
        if run is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return run(args)
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=arguments.Wrapping,
        description="Stream chat answers from the Mistral AI API, or run a local Mistral-compatible server.",
        epilog="Environment: MISTRAL_API_KEY (the API key), MISTRAL_BASE_URL (another server, e.g. a local one).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat.add_parser(commands)
    serve.add_parser(commands)
    transcribe.add_parser(commands)
    ocr.add_parser(commands)
    batch.add_parser(commands)
    return parser
