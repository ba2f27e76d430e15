"""What ``transcribe`` and ``ocr`` share: where to send (the API, or the embedded local server), the
``--local``/``--base-url`` flags, and one line for an error."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .local import server_extra_present
from .output import EXIT_FAILED, EXIT_USAGE, describe_error, say

if TYPE_CHECKING:
    from .._exceptions import MistralError
    from .._sync.client import Mistral

__all__ = ["add_target_flags", "client_for", "fail"]


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="use the embedded local server even when MISTRAL_API_KEY is set (needs the server and media extras)",
    )
    where.add_argument(
        "--base-url", metavar="URL", help="the API's address (default: MISTRAL_BASE_URL, else https://api.mistral.ai)"
    )


@contextmanager
def client_for(args: argparse.Namespace) -> Iterator[Mistral | int]:
    """A client for the API, or for the embedded local server without a key (or with ``--local``);
    an exit code instead when the local server cannot run."""
    from .._sync.client import Mistral

    env_key = os.environ.get("MISTRAL_API_KEY", "").strip()
    env_base = os.environ.get("MISTRAL_BASE_URL", "").strip()
    if args.local or not (env_key or env_base or args.base_url):
        if not server_extra_present():
            yield EXIT_USAGE
            return
        from ..server import LocalServer

        reason = "--local:" if args.local else "no MISTRAL_API_KEY set;"
        say(f"{reason} using the embedded local server (deterministic text, not a model)")
        # Never send a real key to the stand-in: "" means "no key" to the client.
        with LocalServer() as server, Mistral(api_key="", base_url=server.base_url) as client:
            yield client
        return
    with Mistral(base_url=args.base_url) as client:
        yield client


def fail(exc: MistralError, arrived: Callable[[], str] | None = None) -> int:
    """One error line; for a broken stream, what arrived (said by ``arrived``) instead of the Python hint."""
    from .._exceptions import InvalidRequestError, StreamError

    if isinstance(exc, StreamError):
        reason = str(exc).split("; ", 1)[0]
        code = f" (code={exc.code})" if exc.code else ""
        said = arrived() if arrived is not None else ""
        say(f"error: {reason}{code}{'; ' + said if said else ''}; run the command again")
    else:
        say(f"error: {describe_error(exc, secret=os.environ.get('MISTRAL_API_KEY'))}")
    return EXIT_USAGE if isinstance(exc, InvalidRequestError) else EXIT_FAILED
