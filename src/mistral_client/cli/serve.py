"""``mistral-client serve``: run the local Mistral-compatible server in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
from typing import TYPE_CHECKING

from . import arguments
from .local import DEMO_FIRST_TOKEN_DELAY, DEMO_TOKEN_DELAY, local_engine, server_extra_present
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, say

if TYPE_CHECKING:
    from ..server import ServerConfig
    from ..server._llama import LlamaEngine

__all__ = ["add_parser", "run"]

# serve options that set a ServerConfig field; every other knob flag sets an x-mock-* default.
_SERVE_CONFIG_FLAGS = {"--token-delay", "--first-token-delay", "--api-key", "--rate-limit"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The knob table and the limits are plain data: reading them does not load the web framework.
    from ..server._knobs import KNOBS
    from ..server._limits import DEFAULT_MAX_BODY_SIZE

    serve = commands.add_parser(
        "serve",
        help="run the local Mistral-compatible server in the foreground",
        formatter_class=arguments.Wrapping,
        description=(
            "Run the local Mistral-compatible server (deterministic text, or a model: --engine llama) until "
            "Ctrl-C.  Point a client at it with MISTRAL_BASE_URL.  Every behaviour flag below sets a default "
            "that a request can override with the x-mock-* header of the same name (--disconnect-after N is "
            "x-mock-disconnect-after: N), so one server serves a whole test matrix.  A request can never "
            "loosen --api-key or --rate-limit, and with --api-key its x-mock-* headers count only if it "
            "carries the key.\n\n"
            "It answers only requests that name it by a Host it knows (localhost, 127.0.0.1, [::1], the "
            "--host address, --allowed-host names).  A POST must be application/json, and come from no "
            "web page but the server's own (or a --cors-origin's).  On an address other than loopback "
            "without --api-key it warns, and refuses to run a model (--engine llama) or --record unless "
            "--allow-open is given."
        ),
        epilog=(
            "Answers: tools + tool_choice any/required (or a prompt naming a tool) give a tool call; "
            "response_format json_object/json_schema gives JSON; prompt_mode reasoning gives thinking "
            "chunks; n > 1 gives n choices.  Also /v1/fim/completions, /v1/embeddings, /v1/models."
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
        "--port", type=arguments.port, default=8000, help="the port to listen on; 0 picks a free one (default: 8000)"
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
        type=arguments.count,
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
        type=arguments.count,
        metavar="N",
        help="the request limit the x-ratelimit-* headers show, without --rate-limit (default: 600)",
    )
    access.add_argument(
        "--tokens-per-minute",
        type=arguments.count,
        metavar="N",
        help="the token limit the x-ratelimit-* headers show; never enforced (default: 2000000)",
    )
    model = serve.add_argument_group("model")
    arguments.add_engine_flags(model, default_help="template; llama when --model-path is given")
    model.add_argument(
        "--queue",
        type=arguments.count,
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
        type=arguments.byte_count,
        metavar="BYTES",
        help=f"refuse larger request bodies with 413 (default: {DEFAULT_MAX_BODY_SIZE}, 10 MiB)",
    )
    served.add_argument(
        "--files-dir",
        metavar="DIR",
        help="keep /v1/files uploads and batch results in DIR (default: a temporary folder, removed on exit)",
    )
    pace = serve.add_argument_group("pacing")
    pace.add_argument(
        "--token-delay",
        type=arguments.seconds,
        metavar="S",
        help=f"seconds between streamed chunks; 0 for full speed (default: {DEMO_TOKEN_DELAY}, 0 with a model) "
        "[x-mock-token-delay]",
    )
    pace.add_argument(
        "--first-token-delay",
        type=arguments.seconds,
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
            convert = {"count": arguments.count, "seconds": arguments.seconds}.get(knob.kind, str)
            metavar = {"count": "N", "seconds": "S"}.get(knob.kind, "VALUE")
            knobs.add_argument(knob.flag, type=convert, metavar=metavar, help=help_text)
    serve.add_argument(
        "--ui",
        action="store_true",
        help="also serve a chat page at /ui/ that streams from this server; with --api-key the page asks for "
        "the key, without one it answers this machine only",
    )


def run(args: argparse.Namespace) -> int:
    if not server_extra_present():
        return EXIT_USAGE
    wanted = args.engine or ("llama" if args.model_path or args.threads else "template")
    refusal = _open_refusal(args, wanted)
    if refusal is not None:
        say(f"error: {refusal}")
        return EXIT_USAGE
    picked = local_engine(args, wanted=wanted)
    if isinstance(picked, int):
        return picked
    engine, described = picked
    try:
        try:
            config = _serve_config(args, engine)
        except ValueError as exc:
            say(f"error: {exc}")
            return EXIT_USAGE
        return _run_server(args, config, described)
    finally:
        if engine is not None:
            engine.close()


def _open_refusal(args: argparse.Namespace, wanted: str) -> str | None:
    """Why serve will not start open to the network (None: it will): a model, or a recorder, for anyone."""
    from .._config import is_loopback

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
    import uvicorn

    from .._config import is_loopback
    from ..server import _net, create_app
    from .stopping import StoppableServer

    host: str = args.host
    # Bound before uvicorn starts: a busy port is one clear line, and --port 0 shows the port it got.
    try:
        sock = _net.listen(host, args.port)
    except OSError as exc:
        say(f"error: cannot listen on {host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILED
    port = sock.getsockname()[1]
    base_url = _net.base_url(host, port)
    if config.record_dir is not None:
        say(f"recording exchanges with {config.upstream} into {config.record_dir}")
    elif config.replay_dir is not None:
        say(f"replaying the recordings in {config.replay_dir} ({config.replay_pace} pace)")
    what = "recorded answers" if config.record_dir or config.replay_dir else described
    say(f"serving a Mistral-compatible API at {base_url}/v1 ({what}); Ctrl-C stops it")
    say(f"use it with: MISTRAL_BASE_URL={base_url}")
    if config.ui:
        say(f"chat page: {base_url}/ui/")
    if config.api_key:
        say("requests must send the --api-key value (MISTRAL_API_KEY=<that key>)")
    elif not is_loopback(host):
        say(
            f"warning: listening on {host} without --api-key: anyone who can reach this port can use the server; "
            "add --api-key KEY to require a key"
        )
    if _net.is_wildcard(host) and not config.allowed_hosts:
        say("other machines must reach it by a name given with --allowed-host NAME (a Host header not allowed: 400)")
    bound = sock.getsockname()[0]
    if bound != host and not _net.is_wildcard(host):
        # --host was a name: the chat page's relay reaches the address it resolved to, by that address.
        config.allowed_hosts = (*config.allowed_hosts, bound)
    app = create_app(config, host=host)
    server = StoppableServer(
        uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="info", timeout_graceful_shutdown=2)
    )
    # uvicorn shuts down cleanly on SIGTERM too, then raises it again: as a Ctrl-C, the process still
    # ends through its exit handlers (the temporary files folder is removed), not killed by the signal.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised the Ctrl-C (or SIGTERM) it caught
    finally:
        sock.close()
    if not server.started:
        if server.should_exit:  # Ctrl-C before it was listening
            say("interrupted")
            return EXIT_INTERRUPTED
        return EXIT_FAILED
    streams = f"{server.cancelled} open stream" + ("" if server.cancelled == 1 else "s")
    say(f"stopped{f' (cancelled {streams})' if server.cancelled else ''}")
    return EXIT_OK


def _serve_config(args: argparse.Namespace, engine: LlamaEngine | None = None) -> ServerConfig:
    from ..server import KNOWN_MODELS, ServerConfig, TemplateEngine
    from ..server._knobs import KNOBS
    from ..server._limits import DEFAULT_MAX_BODY_SIZE

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
        files_dir=args.files_dir,
        **limits,
    )


def _first_set(value: float | None, default: float) -> float:
    return default if value is None else value
