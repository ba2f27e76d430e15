"""The ``mistral-client`` command: stream a chat answer to the terminal, or run the local server.

    mistral-client chat "Tell me a joke" [--model M] [--system TEXT] [--max-tokens N] [--stats]
    mistral-client serve [--port 8000] [--engine llama]   # then: MISTRAL_BASE_URL=http://127.0.0.1:8000

Without ``MISTRAL_API_KEY`` (and no ``--base-url`` / ``MISTRAL_BASE_URL``), or with ``--local``,
``chat`` streams from the embedded local server: a small real model (SmolLM2-135M-Instruct through
llama.cpp) when the ``local-model`` extra is installed, deterministic text otherwise.

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

from ._messages import Models

if TYPE_CHECKING:
    from ._exceptions import MistralError
    from ._result import StreamResult
    from ._sync.stream import ChatStream
    from .server import ServerConfig
    from .server._llama import LlamaEngine

__all__ = ["main"]

PROG = "mistral-client"
DEFAULT_MODEL = Models.SMALL
# The embedded server's pace: close enough to a real model's that streaming is visible.
DEMO_TOKEN_DELAY = 0.02
DEMO_FIRST_TOKEN_DELAY = 0.1
SERVER_EXTRA_HINT = "pip install 'mistral-client[server]'"
TEMPLATE_ENGINE = "deterministic text, not a model"

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
    from ._version import __version__

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
    _engine_flags(chat, default_help="llama when the local-model extra is installed, else template")
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

    _add_serve(commands)
    return parser


# serve options that set a ServerConfig field; every other knob flag sets an x-mock-* default.
_SERVE_CONFIG_FLAGS = {"--token-delay", "--first-token-delay", "--api-key", "--rate-limit"}


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The knob table and the limits are plain data: reading them does not load the web framework.
    from .server._knobs import KNOBS
    from .server._limits import DEFAULT_MAX_BODY_SIZE

    serve = commands.add_parser(
        "serve",
        help="run the local Mistral-compatible server in the foreground",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run the local Mistral-compatible server (deterministic text, or a model: --engine llama) until\n"
            "Ctrl-C.  "
            "Point a client at it with MISTRAL_BASE_URL.  Every behaviour flag below sets a default that\n"
            "a request can override with the x-mock-* header of the same name (--disconnect-after N is\n"
            "x-mock-disconnect-after: N), so one server serves a whole test matrix.  A request can never\n"
            "loosen --api-key or --rate-limit, and with --api-key its x-mock-* headers count only if it\n"
            "carries the key.\n\n"
            "It answers only requests that name it by a Host it knows (localhost, 127.0.0.1, [::1], the\n"
            "--host address, --allowed-host names).  A POST must be application/json, and come from no\n"
            "web page but the server's own (or a --cors-origin's).  On an address other than loopback\n"
            "without --api-key it warns, and refuses to run a model (--engine llama) or --record unless\n"
            "--allow-open is given."
        ),
        epilog=(
            "Answers: tools + tool_choice any/required (or a prompt naming a tool) give a tool call;\n"
            "response_format json_object/json_schema gives JSON; prompt_mode reasoning gives thinking\n"
            "chunks; n > 1 gives n choices.  Also /v1/fim/completions, /v1/embeddings, /v1/models.\n"
            "Guide: docs/local-server.md"
        ),
    )
    place = serve.add_argument_group("where")
    place.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: 127.0.0.1, this machine only; another address without "
        "--api-key warns, and refuses --engine llama and --record unless --allow-open)",
    )
    place.add_argument(
        "--port", type=_port, default=8000, help="the port to listen on; 0 picks a free one (default: 8000)"
    )
    place.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header names NAME (any port); repeatable.  Without it only "
        "localhost, 127.0.0.1, [::1] and the --host address are answered, others get 400",
    )
    access = serve.add_argument_group("access and limits")
    access.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' on every API request and the chat page's, else 401; "
        "x-mock-* headers of a request without it are ignored (default: no key needed; with --record: the "
        "upstream's key) [x-mock-api-key adds a second key, never replaces this one]",
    )
    access.add_argument(
        "--rate-limit",
        type=_count,
        metavar="N",
        help="allow N requests per minute, then 429 rate_limited with Retry-After (default: none) "
        "[x-mock-rate-limit adds a limit per x-mock-id, never lifts this one]",
    )
    access.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from ORIGIN (https://app.example) call the server: preflights are answered and "
        "Access-Control-Allow-Origin sent; repeatable (default: none, and a POST from another page is refused)",
    )
    access.add_argument(
        "--allow-open",
        action="store_true",
        help="run a model (--engine llama) or --record on an address other than loopback without --api-key",
    )
    access.add_argument(
        "--requests-per-minute",
        type=_count,
        metavar="N",
        help="the request limit the x-ratelimit-* headers show, without --rate-limit (default: 600)",
    )
    access.add_argument(
        "--tokens-per-minute",
        type=_count,
        metavar="N",
        help="the token limit the x-ratelimit-* headers show; never enforced (default: 2000000)",
    )
    model = serve.add_argument_group("model")
    _engine_flags(model, default_help="template; llama when --model-path is given")
    model.add_argument(
        "--queue",
        type=_count,
        default=4,
        metavar="N",
        help="with a model: requests that may wait while one generates; more get 429 with Retry-After (default: 4)",
    )
    served = serve.add_argument_group("model ids and request size")
    served.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="answer to this model id (and its dated releases: mistral-small-latest also answers "
        "mistral-small-2506); repeat for more; /v1/models lists exactly these (default: Mistral's public models)",
    )
    served.add_argument(
        "--any-model",
        action="store_true",
        help="answer to any model id; a known family keeps its capabilities (mistral-embed still cannot chat)",
    )
    served.add_argument(
        "--max-body-size",
        type=_byte_count,
        metavar="BYTES",
        help=f"refuse larger request bodies with 413 (default: {DEFAULT_MAX_BODY_SIZE}, 10 MiB)",
    )
    pace = serve.add_argument_group("pacing")
    pace.add_argument(
        "--token-delay",
        type=_seconds,
        metavar="S",
        help=f"seconds between streamed chunks; 0 for full speed (default: {DEMO_TOKEN_DELAY}, 0 with a model) "
        "[x-mock-token-delay]",
    )
    pace.add_argument(
        "--first-token-delay",
        type=_seconds,
        metavar="S",
        help=f"seconds before the first token (default: {DEMO_FIRST_TOKEN_DELAY}, 0 with a model) "
        "[x-mock-first-token-delay]",
    )
    pace.add_argument(
        "--fast",
        action="store_true",
        help="as fast as possible, for benchmarks: both delays 0 (overrides the two flags above)",
    )
    replay = serve.add_argument_group("record and replay")
    replay.add_argument(
        "--record",
        metavar="DIR",
        help="forward every request to --upstream and write each exchange to DIR (never the Authorization header)",
    )
    replay.add_argument("--upstream", metavar="URL", help="the Mistral-compatible server --record forwards to")
    replay.add_argument(
        "--replay",
        metavar="DIR",
        help="answer from the recordings in DIR, offline; a request never recorded gets a 404 naming the file",
    )
    replay.add_argument(
        "--replay-pace",
        choices=["recorded", "fast"],
        default="recorded",
        help="replay at the recorded pace, or as fast as possible (default: recorded; --fast means fast)",
    )
    knobs = serve.add_argument_group("answers and faults (each also a per-request x-mock-* header)")
    for knob in KNOBS:
        if knob.flag in _SERVE_CONFIG_FLAGS:
            continue
        help_text = f"{knob.help} [{knob.header}]"
        if knob.kind == "flag":
            knobs.add_argument(knob.flag, action="store_true", help=help_text)
        elif knob.kind in ("usage_chunk", "tool_call_style"):
            choices = ["inline", "separate"] if knob.kind == "usage_chunk" else ["whole", "fragmented"]
            knobs.add_argument(knob.flag, choices=choices, help=help_text)
        else:
            convert = {"count": _count, "seconds": _seconds}.get(knob.kind, str)
            metavar = {"count": "N", "seconds": "S"}.get(knob.kind, "VALUE")
            knobs.add_argument(knob.flag, type=convert, metavar=metavar, help=help_text)
    serve.add_argument(
        "--ui",
        action="store_true",
        help="also serve a chat page at /ui/ that streams from this server; with --api-key the page asks for "
        "the key, without one it answers this machine only",
    )


def _engine_flags(command: argparse.ArgumentParser | argparse._ArgumentGroup, *, default_help: str) -> None:
    command.add_argument(
        "--engine",
        choices=("llama", "template"),
        help="what writes the local server's answers: a real model run by llama.cpp (needs the local-model "
        f"extra) or deterministic text (default: {default_help})",
    )
    command.add_argument(
        "--model-path",
        metavar="GGUF",
        help="the GGUF chat model for --engine llama (default: SmolLM2-135M-Instruct, from the local-model extra)",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _byte_count(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes >= 1, got {text!r}")
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
        from .server import LocalServer, ServerConfig, TemplateEngine

        picked = _local_engine(args, wanted=args.engine or ("llama" if args.model_path or _llama_ready() else None))
        if isinstance(picked, int):
            return picked
        engine, described = picked
        _say(f"{reason} streaming from the embedded local server ({described})")
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


def _stream(args: argparse.Namespace, *, base_url: str | None, api_key: str | None) -> int:
    from ._exceptions import InvalidRequestError, MistralError
    from ._messages import system, user
    from ._sync.client import Mistral

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
    wanted = args.engine or ("llama" if args.model_path else "template")
    refusal = _open_refusal(args, wanted)
    if refusal is not None:
        _say(f"error: {refusal}")
        return EXIT_USAGE
    picked = _local_engine(args, wanted=wanted)
    if isinstance(picked, int):
        return picked
    engine, described = picked
    try:
        try:
            config = _serve_config(args, engine)
        except ValueError as exc:
            _say(f"error: {exc}")
            return EXIT_USAGE
        return _run_server(args, config, described)
    finally:
        if engine is not None:
            engine.close()


def _open_refusal(args: argparse.Namespace, wanted: str) -> str | None:
    """Why serve will not start open to the network (None: it will): a model, or a recorder, for anyone."""
    from .server._guard import is_loopback

    if is_loopback(args.host) or args.api_key or args.allow_open:
        return None
    if args.record:
        what = f"record on {args.host} without --api-key: anyone who reaches it could have {args.upstream} answer "
        what += f"through it, into {args.record}"
    elif wanted == "llama":
        what = f"run a model on {args.host} without --api-key: anyone who reaches it could use this machine's CPU"
    else:
        return None
    return f"refusing to {what}. Add --api-key KEY, listen on 127.0.0.1, or pass --allow-open to accept it"


def _run_server(args: argparse.Namespace, config: ServerConfig, described: str) -> int:
    import socket

    import uvicorn

    from .server import create_app
    from .server._guard import is_loopback

    host: str = args.host
    # Bound here rather than by uvicorn: a busy port is one clear line, and --port 0 shows the port it got.
    # IPPROTO_TCP spelled out, so asyncio sets TCP_NODELAY (see LocalServer.start).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
    if config.record_dir is not None:
        _say(f"recording exchanges with {config.upstream} into {config.record_dir}")
    elif config.replay_dir is not None:
        _say(f"replaying the recordings in {config.replay_dir} ({config.replay_pace} pace)")
    what = "recorded answers" if config.record_dir or config.replay_dir else described
    _say(f"serving a Mistral-compatible API at {base_url}/v1 ({what}); Ctrl-C stops it")
    _say(f"use it with: MISTRAL_BASE_URL={base_url}")
    if config.ui:
        _say(f"chat page: {base_url}/ui/")
    if config.api_key:
        _say("requests must send the --api-key value (MISTRAL_API_KEY=<that key>)")
    elif not is_loopback(host):
        _say(
            f"warning: listening on {host} without --api-key: anyone who can reach this port can use the server; "
            "add --api-key KEY to require a key"
        )
    if host in ("0.0.0.0", "::") and not config.allowed_hosts:
        _say("other machines must reach it by a name given with --allowed-host NAME (a Host header not allowed: 400)")
    bound = sock.getsockname()[0]
    if bound != host and host not in ("0.0.0.0", "::"):
        # --host was a name: the chat page's relay reaches the address it resolved to, by that address.
        config.allowed_hosts = (*config.allowed_hosts, bound)
    app = create_app(config, host=host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="info", timeout_graceful_shutdown=2)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
    finally:
        sock.close()
    return EXIT_OK if server.started else EXIT_FAILED


def _serve_config(args: argparse.Namespace, engine: LlamaEngine | None = None) -> ServerConfig:
    from .server import KNOWN_MODELS, ServerConfig, TemplateEngine
    from .server._knobs import KNOBS
    from .server._limits import DEFAULT_MAX_BODY_SIZE

    mock_headers = {}
    for knob in KNOBS:
        if knob.flag in _SERVE_CONFIG_FLAGS:
            continue
        value = getattr(args, knob.flag[2:].replace("-", "_"))
        if value is True:
            mock_headers[knob.header] = "1"
        elif value is not None and value is not False:
            mock_headers[knob.header] = str(value)
    limits = {
        name: value
        for name, value in (
            ("requests_per_minute", args.requests_per_minute),
            ("tokens_per_minute", args.tokens_per_minute),
        )
        if value is not None
    }
    if args.record and not args.upstream:
        raise ValueError("--record needs --upstream URL: the server to record")
    if args.upstream and not args.record:
        raise ValueError("--upstream goes with --record DIR: where to write the recordings")
    if args.record and args.replay:
        raise ValueError("--record and --replay cannot be used together")
    return ServerConfig(
        record_dir=args.record,
        upstream=args.upstream,
        replay_dir=args.replay,
        replay_pace="fast" if args.fast else args.replay_pace,
        # A model paces itself: the demo delays are for the deterministic engine.
        token_delay=0.0 if args.fast else _first_set(args.token_delay, 0.0 if engine else DEMO_TOKEN_DELAY),
        first_token_delay=0.0
        if args.fast
        else _first_set(args.first_token_delay, 0.0 if engine else DEMO_FIRST_TOKEN_DELAY),
        engine=engine or TemplateEngine(),
        models=tuple(args.models or KNOWN_MODELS),
        any_model=args.any_model,
        max_body_size=args.max_body_size or DEFAULT_MAX_BODY_SIZE,
        api_key=args.api_key or None,
        rate_limit=args.rate_limit,
        mock_headers=mock_headers,
        ui=args.ui,
        allowed_hosts=tuple(args.allowed_host),
        cors_origins=tuple(args.cors_origin),
        **limits,
    )


# --- Helpers -------------------------------------------------------------------------------------


def _llama_ready() -> bool:
    from .server._llama import local_model_missing

    return local_model_missing() is None


def _local_engine(args: argparse.Namespace, *, wanted: str | None) -> tuple[LlamaEngine | None, str] | int:
    """The engine for the local server (None: the deterministic one) and its description, or an exit code.

    A model asked for but not installed is not an error: the deterministic engine stands in, and says so.
    """
    from .server._llama import INSTALL_HINT, LlamaEngine, local_model_missing

    if wanted != "llama":
        hint = "" if wanted == "template" else f"; for a real model: {INSTALL_HINT}"
        return None, TEMPLATE_ENGINE + hint
    if args.model_path is not None and not os.path.isfile(args.model_path):
        _say(f"error: --model-path: no such file: {args.model_path}")
        return EXIT_USAGE
    missing = local_model_missing(args.model_path)
    if missing is not None:
        _say(f"no local model: {missing}")
        return None, TEMPLATE_ENGINE
    try:
        engine = LlamaEngine(args.model_path, max_queue=getattr(args, "queue", 4))
    except (ValueError, RuntimeError, OSError) as exc:
        _say(f"error: cannot load the model {args.model_path or ''}: {' '.join(str(exc).split())}")
        return EXIT_USAGE
    return engine, f"{engine.model_name}, a real model run by llama.cpp"


def _first_set(value: float | None, default: float) -> float:
    return default if value is None else value


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
