"""``mistral-client chat``: stream the answer to a prompt to stdout, from the API or the embedded server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from .._wire.messages import Models
from . import arguments
from .local import DEMO_FIRST_TOKEN_DELAY, DEMO_TOKEN_DELAY, llama_ready, local_engine, server_extra_present
from .output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Output,
    RetryNotice,
    describe_error,
    dim,
    say,
    stats_lines,
)

if TYPE_CHECKING:
    from .._sync.stream import ChatStream

__all__ = ["DEFAULT_MODEL", "add_parser", "run"]

DEFAULT_MODEL = Models.SMALL


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser(
        "chat",
        help="stream an answer to a prompt",
        formatter_class=arguments.Wrapping,
        description=(
            "Stream the answer to PROMPT to stdout as the tokens arrive.  Without MISTRAL_API_KEY (and no "
            "--base-url or MISTRAL_BASE_URL), or with --local, the answer comes from the embedded local "
            "server: a small real model when the local-model extra is installed, else deterministic text."
        ),
    )
    chat.add_argument(
        "prompt",
        nargs="*",
        metavar="PROMPT",
        help="the user message (several words are joined); '-', or none with stdin not a terminal, reads it from stdin",
    )
    chat.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"the model to ask (default: {DEFAULT_MODEL})")
    chat.add_argument("--system", "-s", metavar="TEXT", help="a system message sent before the prompt")
    chat.add_argument(
        "--max-tokens",
        type=arguments.max_tokens,
        metavar="N",
        help="stop the answer after N tokens (finish reason: length)",
    )
    chat.add_argument(
        "--temperature",
        "-t",
        type=arguments.temperature,
        metavar="T",
        help=f"sampling temperature, {arguments.TEMPERATURE_RANGE}",
    )
    chat.add_argument(
        "--stats",
        action="store_true",
        help="after the answer, print time to first token, tokens/s (n/a for an answer too short to measure), "
        "chunks, usage and finish reason to stderr",
    )
    arguments.add_engine_flags(chat, default_help="llama when the local-model extra is installed, else template")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="use the embedded local server even when MISTRAL_API_KEY is set (needs the server extra)",
    )
    where.add_argument(
        "--base-url",
        metavar="URL",
        help="the API's address (default: MISTRAL_BASE_URL, else https://api.mistral.ai)",
    )


def run(args: argparse.Namespace) -> int:
    prompt = _prompt(args.prompt)
    if prompt is None:
        return EXIT_USAGE
    args.prompt = [prompt]
    env_key = os.environ.get("MISTRAL_API_KEY", "").strip()
    env_base = os.environ.get("MISTRAL_BASE_URL", "").strip()
    if args.local or not (env_key or env_base or args.base_url):
        reason = "--local:" if args.local else "no MISTRAL_API_KEY set;"
        if not server_extra_present():
            return EXIT_USAGE
        from ..server import LocalServer, ServerConfig, TemplateEngine

        named = args.model_path or args.threads  # flags that only a model takes ask for one
        picked = local_engine(args, wanted=args.engine or ("llama" if named or llama_ready() else None))
        if isinstance(picked, int):
            return picked
        engine, described = picked
        say(f"{reason} streaming from the embedded local server ({described})")
        model = engine is not None  # a model paces itself
        config = ServerConfig(
            token_delay=0 if model else DEMO_TOKEN_DELAY,
            first_token_delay=0 if model else DEMO_FIRST_TOKEN_DELAY,
            engine=engine or TemplateEngine(),
        )
        try:
            with LocalServer(config=config) as server:
                # Never send a real key to the stand-in: "" means "no key" to the client.
                return _stream(args, base_url=server.base_url, api_key="")
        finally:
            if engine is not None:
                engine.close()
    return _stream(args, base_url=args.base_url, api_key=None)


def _prompt(words: list[str]) -> str | None:
    """The prompt: the words, or stdin for '-' (or no words while stdin is not a terminal); None: said why not."""
    if words and words != ["-"]:
        return " ".join(words)
    if not words and (sys.stdin is None or sys.stdin.isatty()):
        say('error: no prompt: give one (chat "Tell me a joke"), or pipe it in (echo hi | mistral-client chat)')
        return None
    text = sys.stdin.read() if sys.stdin is not None else ""
    if not text.strip():
        say("error: the prompt read from stdin is empty")
        return None
    return text.rstrip("\n")


def _stream(args: argparse.Namespace, *, base_url: str | None, api_key: str | None) -> int:
    from .._exceptions import InvalidRequestError, MistralError
    from .._sync.client import Mistral
    from .._wire.messages import system, user

    messages: list[dict[str, object]] = []
    if args.system is not None:
        messages.append(dict(system(args.system)))
    messages.append(dict(user(" ".join(args.prompt))))
    out = Output(sys.stdout)
    stream: ChatStream | None = None
    # The client logs each retry: the user hears why nothing arrives yet, and for how long.
    notice = RetryNotice(sys.stderr)
    logger = logging.getLogger("mistral_client")
    logger.addHandler(notice)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        with Mistral(api_key=api_key, base_url=base_url) as client:
            stream = client.chat.stream(
                model=args.model,
                messages=messages,
                max_tokens=args.max_tokens,
                temperature=args.temperature,
                keep_chunks=False,
            )
            with stream:
                for chunk in stream:
                    text = chunk.content
                    if text and not out.write(text):
                        stream.cancel()  # stdout was closed (``| head``): stop the server generating
                        break
    except KeyboardInterrupt:
        notice.finish()
        if stream is not None:
            stream.cancel()
        out.end_line()
        say("interrupted")
        return EXIT_INTERRUPTED
    except MistralError as exc:
        notice.finish()
        out.end_line()
        say(f"error: {describe_error(exc, secret=api_key or os.environ.get('MISTRAL_API_KEY'))}")
        return EXIT_USAGE if isinstance(exc, InvalidRequestError) else EXIT_FAILED
    finally:
        logger.removeHandler(notice)
    if out.broken:
        return EXIT_FAILED
    out.end_line(always=True)
    if args.stats and stream is not None:
        for line in stats_lines(stream.result):
            print(dim(line, sys.stderr), file=sys.stderr)
    return EXIT_OK
