"""The ``mistral-client`` command: stream a chat answer to the terminal, or run the local server.

    mistral-client chat "Tell me a joke" [--model M] [--system TEXT] [--max-tokens N] [--stats]
    mistral-client serve [--port 8000]          # then: MISTRAL_BASE_URL=http://127.0.0.1:8000

Without ``MISTRAL_API_KEY`` (and no ``--base-url`` / ``MISTRAL_BASE_URL``), or with ``--local``,
``chat`` streams from the embedded local server, which writes deterministic text, not a model's.

Exit codes: 0 success, 1 the request failed, 2 a usage error (or the ``server`` extra is missing),
130 interrupted with Ctrl-C.  Errors are one ``mistral-client: error: ...`` line on stderr.
The client and the server are imported only by the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ._exceptions import MistralError
    from ._result import StreamResult
    from ._streaming import ChatStream

__all__ = ["main"]

PROG = "mistral-client"
DEFAULT_MODEL = "mistral-small-latest"
# The embedded server's pace: close enough to a real model's that streaming is visible.
DEMO_TOKEN_DELAY = 0.02
DEMO_FIRST_TOKEN_DELAY = 0.1
SERVER_EXTRA_HINT = "pip install 'mistral-client[server]'"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "chat":
            return _chat(args)
        if args.command == "serve":
            return _serve(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    parser.print_help(sys.stderr)
    return EXIT_USAGE


# --- Arguments -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from ._client import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Stream chat answers from the Mistral AI API, or run a local Mistral-compatible server.",
        epilog="Environment: MISTRAL_API_KEY (the API key), MISTRAL_BASE_URL (another server, e.g. a local one).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser(
        "chat",
        help="stream an answer to a prompt",
        description=(
            "Stream the answer to PROMPT to stdout as the tokens arrive.  Without MISTRAL_API_KEY (and no "
            "--base-url or MISTRAL_BASE_URL), or with --local, the answer comes from the embedded local "
            "server: deterministic text, not a model."
        ),
    )
    chat.add_argument("prompt", nargs="+", metavar="PROMPT", help="the user message (several words are joined)")
    chat.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"the model to ask (default: {DEFAULT_MODEL})")
    chat.add_argument("--system", "-s", metavar="TEXT", help="a system message sent before the prompt")
    chat.add_argument(
        "--max-tokens", type=_count, metavar="N", help="stop the answer after N tokens (finish reason: length)"
    )
    chat.add_argument("--temperature", "-t", type=_temperature, metavar="T", help="sampling temperature, 0 to 1.5")
    chat.add_argument(
        "--stats",
        action="store_true",
        help="after the answer, print time to first token, tokens/s, chunks, usage and finish reason to stderr",
    )
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

    serve = commands.add_parser(
        "serve",
        help="run the local Mistral-compatible server in the foreground",
        description=(
            "Run the local Mistral-compatible server (deterministic text, not a model) until Ctrl-C.  "
            "Point a client at it with MISTRAL_BASE_URL."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="the port to listen on; 0 picks a free one (default: 8000)"
    )
    serve.add_argument(
        "--token-delay",
        type=_seconds,
        default=DEMO_TOKEN_DELAY,
        metavar="S",
        help=f"seconds between streamed tokens; 0 for full speed (default: {DEMO_TOKEN_DELAY})",
    )
    serve.add_argument(
        "--first-token-delay",
        type=_seconds,
        default=DEMO_FIRST_TOKEN_DELAY,
        metavar="S",
        help=f"seconds before the first token (default: {DEMO_FIRST_TOKEN_DELAY})",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' on every request (default: no key needed)",
    )
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1.5:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1.5, got {text!r}")
    return value


# --- chat ----------------------------------------------------------------------------------------


def _chat(args: argparse.Namespace) -> int:
    env_key = os.environ.get("MISTRAL_API_KEY", "").strip()
    env_base = os.environ.get("MISTRAL_BASE_URL", "").strip()
    if args.local or not (env_key or env_base or args.base_url):
        reason = "--local:" if args.local else "no MISTRAL_API_KEY set;"
        if not _server_extra_present():
            return EXIT_USAGE
        from .server import LocalServer

        _say(f"{reason} streaming from the embedded local server (deterministic text, not a model)")
        with LocalServer(token_delay=DEMO_TOKEN_DELAY, first_token_delay=DEMO_FIRST_TOKEN_DELAY) as server:
            # Never send a real key to the stand-in: "" means "no key" to the client.
            return _stream(args, base_url=server.base_url, api_key="")
    return _stream(args, base_url=args.base_url, api_key=None)


def _stream(args: argparse.Namespace, *, base_url: str | None, api_key: str | None) -> int:
    from ._client import Mistral
    from ._exceptions import InvalidRequestError, MistralError
    from ._messages import system, user

    messages: list[dict[str, object]] = []
    if args.system is not None:
        messages.append(dict(system(args.system)))
    messages.append(dict(user(" ".join(args.prompt))))
    out = _Output(sys.stdout)
    stream: ChatStream | None = None
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
        if stream is not None:
            stream.cancel()
        out.end_line()
        _say("interrupted")
        return EXIT_INTERRUPTED
    except MistralError as exc:
        out.end_line()
        _say(f"error: {_describe(exc, secret=api_key or os.environ.get('MISTRAL_API_KEY'))}")
        return EXIT_USAGE if isinstance(exc, InvalidRequestError) else EXIT_FAILED
    if out.broken:
        return EXIT_FAILED
    out.end_line(always=True)
    if args.stats and stream is not None:
        for line in _stats(stream.result):
            print(line, file=sys.stderr)
    return EXIT_OK


class _Output:
    """stdout, flushed after each delta; remembers whether a line is open and whether the pipe broke."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.pending_line = False
        self.broken = False

    def write(self, text: str) -> bool:
        if self.broken:
            return False
        try:
            self.file.write(text)
            self.file.flush()
        except BrokenPipeError:
            self.broken = True
            # Python would complain again when it flushes stdout at exit: point it at /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)
            return False
        self.pending_line = not text.endswith("\n")
        return True

    def end_line(self, *, always: bool = False) -> None:
        """Finish the answer's line (``always``: even when nothing, or a full line, was written)."""
        if always or self.pending_line:
            self.write("\n")


def _stats(result: StreamResult) -> list[str]:
    ttft, total = result.time_to_first_token, result.total_latency
    usage = result.usage
    if usage is not None and usage.completion_tokens > 0:
        tokens, unit = usage.completion_tokens, "tokens/s"
    else:
        tokens, unit = result.chunk_count, "tokens/s (chunks, no usage reported)"
    generating = total - ttft if ttft is not None and total is not None else None
    rate = f"{tokens / generating:.1f}" if generating and generating > 0 else "n/a"
    usage_line = (
        f"prompt={usage.prompt_tokens} completion={usage.completion_tokens} total={usage.total_tokens}"
        if usage is not None
        else "n/a"
    )
    return [
        f"time to first token: {_ms(ttft)}",
        f"{unit}: {rate}",
        f"total time: {_ms(total)}",
        f"chunks: {result.chunk_count}",
        f"usage: {usage_line}",
        f"finish reason: {result.finish_reason or 'n/a'}",
        f"model: {result.model or 'n/a'}",
    ]


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _describe(exc: MistralError, *, secret: str | None) -> str:
    """One line for an error: its message, the status and request id, and a hint where one helps."""
    from ._exceptions import APIConnectionError, AuthenticationError, StreamError

    message = str(exc) or type(exc).__name__
    if isinstance(exc, StreamError):
        extra = [f"code={exc.code}" if exc.code else "", f"request_id={exc.request_id}" if exc.request_id else ""]
        message = " ".join([f"the stream broke: {message}", *filter(None, extra)])
    elif isinstance(exc, APIConnectionError) and exc.request is not None:
        message = f"{message} ({exc.request.url})"
    if isinstance(exc, AuthenticationError):
        message += " (check MISTRAL_API_KEY)"
    if secret and secret.strip():
        message = message.replace(secret.strip(), "[redacted]")
    return " ".join(message.split())


# --- serve ---------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    if not _server_extra_present():
        return EXIT_USAGE
    import socket

    import uvicorn

    from .server import ServerConfig, create_app

    config = ServerConfig(
        token_delay=args.token_delay, first_token_delay=args.first_token_delay, api_key=args.api_key or None
    )
    host: str = args.host
    # Bound here rather than by uvicorn: a busy port is one clear line, and --port 0 shows the port it got.
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets whose proto says TCP, and with Nagle
    # on, every answer's last small write waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, args.port))
    except OSError as exc:
        sock.close()
        _say(f"error: cannot listen on {host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILED
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    base_url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    _say(f"serving a Mistral-compatible API at {base_url}/v1 (deterministic text, not a model); Ctrl-C stops it")
    _say(f"use it with: MISTRAL_BASE_URL={base_url}")
    if config.api_key:
        _say("requests must send the --api-key value (MISTRAL_API_KEY=<that key>)")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host=host, port=port, lifespan="off", log_level="info", timeout_graceful_shutdown=2
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
    finally:
        sock.close()
    return EXIT_OK if server.started else EXIT_FAILED


# --- Helpers -------------------------------------------------------------------------------------


def _server_extra_present() -> bool:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        missing = f" ({exc.name} is not installed)" if exc.name else ""
        _say(f"error: the local server needs the 'server' extra{missing}: {SERVER_EXTRA_HINT}")
        return False
    return True


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
