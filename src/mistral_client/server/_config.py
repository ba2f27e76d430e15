"""``ServerConfig``: the server's defaults (the ``serve`` command's flags set them), checked when made.

A bad value fails here, at construction, naming the field, not on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ._answers import ToolCallStyle
from ._catalog import KNOWN_MODELS
from ._engine import Engine, TemplateEngine
from ._knobs import parse_knobs
from ._limits import DEFAULT_MAX_BODY_SIZE

__all__ = ["ServerConfig"]


@dataclass
class ServerConfig:
    api_key: str | None = None  # when set, requests need ``Authorization: Bearer <api_key>``
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    default_tokens: int = 30
    usage_chunk: Literal["inline", "separate"] = "inline"
    # The model ids /v1/models lists; the server also answers to their dated releases
    # (mistral-small-2506 for mistral-small-latest). ``any_model``: it answers to every id.
    models: tuple[str, ...] = KNOWN_MODELS
    any_model: bool = False
    max_body_size: int = DEFAULT_MAX_BODY_SIZE  # bytes; a larger request body gets 413
    engine: Engine = field(default_factory=TemplateEngine)
    # How tool calls stream: "whole" (Mistral: one delta per call) or "fragmented" (OpenAI/vLLM).
    tool_call_style: ToolCallStyle = "whole"
    # The limits the x-ratelimit-* headers show; only ``rate_limit`` refuses anything.
    requests_per_minute: int = 600
    tokens_per_minute: int = 2_000_000
    rate_limit: int | None = None  # more requests than this in a minute get 429 with Retry-After
    # Defaults for the x-mock-* knobs ({"x-mock-token-delay": "0.02"}); a request's own headers win.
    mock_headers: Mapping[str, str] = field(default_factory=dict)
    ui: bool = False  # also serve the chat page at /ui/ (server/_ui.py)
    # Record/replay (see _replay): forward to ``upstream`` and write exchanges to ``record_dir``, or
    # answer from ``replay_dir`` at the recorded pace ("recorded") or at once ("fast").
    record_dir: str | Path | None = None
    upstream: str | None = None
    replay_dir: str | Path | None = None
    replay_pace: Literal["recorded", "fast"] = "recorded"
    # Who may talk to the server (see _guard): Host names answered besides localhost, 127.0.0.1, [::1]
    # and the address it listens on; origins whose web pages may call it (CORS).
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    # Where /v1/files keeps uploads and batch output (None: a temporary folder, removed at shutdown).
    files_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if self.usage_chunk not in ("inline", "separate"):
            raise ValueError(f"usage_chunk must be 'inline' or 'separate', not {self.usage_chunk!r}")
        if self.tool_call_style not in ("whole", "fragmented"):
            raise ValueError(f"tool_call_style must be 'whole' or 'fragmented', not {self.tool_call_style!r}")
        if (self.record_dir is None) != (self.upstream is None):
            raise ValueError("record_dir and upstream go together: recording forwards to the upstream server")
        if self.record_dir is not None and self.replay_dir is not None:
            raise ValueError("record or replay, not both")
        if self.replay_dir is not None and not Path(self.replay_dir).is_dir():
            raise ValueError(f"replay_dir {str(self.replay_dir)!r} is not a directory of recordings")
        if self.replay_pace not in ("recorded", "fast"):
            raise ValueError(f"replay_pace must be 'recorded' or 'fast', not {self.replay_pace!r}")
        if self.upstream is not None and not self.upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, not {self.upstream!r}")
        if isinstance(self.max_body_size, bool) or not isinstance(self.max_body_size, int) or self.max_body_size < 1:
            raise ValueError(f"max_body_size must be a number of bytes >= 1, not {self.max_body_size!r}")
        self.models = tuple(self.models)
        if not self.models or not all(isinstance(model, str) and model.strip() for model in self.models):
            raise ValueError(f"models must be one or more model ids, not {self.models!r}")
        self.mock_headers = {name.lower(): value for name, value in self.mock_headers.items()}
        parse_knobs(self.mock_headers, {})  # a bad default fails here, not on every request
        self.allowed_hosts = tuple(self.allowed_hosts)
        self.cors_origins = tuple(self.cors_origins)
        for name in self.allowed_hosts:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"allowed_hosts (--allowed-host): {name!r} is not a host name or address (no scheme, path or *)"
                )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"cors_origins (--cors-origin): {origin!r} is not an origin: scheme://host[:port], no path or *"
                )


_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
