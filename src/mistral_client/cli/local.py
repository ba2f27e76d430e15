"""The embedded local server as both commands start it: the ``server`` extra, the engine, the demo pace."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from .output import EXIT_USAGE, say

if TYPE_CHECKING:
    from ..server._llama import LlamaEngine

__all__ = [
    "DEMO_FIRST_TOKEN_DELAY",
    "DEMO_TOKEN_DELAY",
    "SERVER_EXTRA_HINT",
    "TEMPLATE_ENGINE",
    "llama_ready",
    "local_engine",
    "server_extra_present",
]

# The embedded server's pace: close enough to a real model's that streaming is visible.
DEMO_TOKEN_DELAY = 0.02
DEMO_FIRST_TOKEN_DELAY = 0.1
SERVER_EXTRA_HINT = "pip install 'mistral-client[server]'"
TEMPLATE_ENGINE = "deterministic text, not a model"


def server_extra_present() -> bool:
    """Whether the local server can run; if not, says which package is missing and how to get it."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        missing = f" ({exc.name} is not installed)" if exc.name else ""
        say(f"error: the local server needs the 'server' extra{missing}: {SERVER_EXTRA_HINT}")
        return False
    return True


def llama_ready() -> bool:
    from ..server._llama import local_model_missing

    return local_model_missing() is None


def local_engine(args: argparse.Namespace, *, wanted: str | None) -> tuple[LlamaEngine | None, str] | int:
    """The engine for the local server (None: the deterministic one) and its description, or an exit code.

    ``wanted`` is "llama" only when the user asked for a model (``--engine llama``, ``--model-path``,
    ``--threads``): then a model that is not installed is a usage error naming the install line.
    """
    from ..server._llama import INSTALL_HINT, LlamaEngine, local_model_missing

    threads: int | None = getattr(args, "threads", None)
    if wanted != "llama":
        if threads is not None:
            say("error: --threads is for a model (--engine llama)")
            return EXIT_USAGE
        hint = "" if wanted == "template" else f"; for a real model: {INSTALL_HINT}"
        return None, TEMPLATE_ENGINE + hint
    if args.model_path is not None and not os.path.isfile(args.model_path):
        say(f"error: --model-path: no such file: {args.model_path}")
        return EXIT_USAGE
    missing = local_model_missing(args.model_path)
    if missing is not None:
        say(f"error: no local model: {' '.join(missing.split())}")
        return EXIT_USAGE
    try:
        engine = LlamaEngine(args.model_path, max_queue=getattr(args, "queue", 4), threads=threads)
    except (ValueError, RuntimeError, OSError) as exc:
        say(f"error: cannot load the model {args.model_path or ''}: {' '.join(str(exc).split())}")
        return EXIT_USAGE
    return engine, f"{engine.model_name}, a real model run by llama.cpp"
