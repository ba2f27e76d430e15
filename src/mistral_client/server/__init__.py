"""A local Mistral-compatible server: deterministic answers, faults on request, records of use.

Needs the ``server`` extra (starlette, uvicorn); the client package never imports this one. Names
are imported on first use, so the command line can read the knob table (``_knobs``) without
loading the web framework.
``LlamaEngine`` (a real model) also needs the ``local-model`` extra, imported when one is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app
    from ._catalog import KNOWN_MODELS
    from ._config import ServerConfig
    from ._engine import Engine, EngineBusy, Finish, Prompt, TemplateEngine
    from ._knobs import KNOBS, Knob
    from ._llama import GenerationRecord, LlamaEngine, default_model_path, local_model_missing
    from ._local import LocalServer
    from ._media import write_samples
    from ._records import DisconnectRecord, Recorder, RequestRecord, ResponseRecord
    from ._requests import CHAT_COMPLETION_FIELDS

_HOMES = {
    "CHAT_COMPLETION_FIELDS": "_requests",
    "KNOBS": "_knobs",
    "KNOWN_MODELS": "_catalog",
    "DisconnectRecord": "_records",
    "Engine": "_engine",
    "EngineBusy": "_engine",
    "Finish": "_engine",
    "GenerationRecord": "_llama",
    "Knob": "_knobs",
    "LlamaEngine": "_llama",
    "LocalServer": "_local",
    "Prompt": "_engine",
    "Recorder": "_records",
    "RequestRecord": "_records",
    "ResponseRecord": "_records",
    "ServerConfig": "_config",
    "TemplateEngine": "_engine",
    "create_app": "_app",
    "default_model_path": "_llama",
    "local_model_missing": "_llama",
    "write_samples": "_media",
}

__all__ = [
    "CHAT_COMPLETION_FIELDS",
    "KNOBS",
    "KNOWN_MODELS",
    "DisconnectRecord",
    "Engine",
    "EngineBusy",
    "Finish",
    "GenerationRecord",
    "Knob",
    "LlamaEngine",
    "LocalServer",
    "Prompt",
    "Recorder",
    "RequestRecord",
    "ResponseRecord",
    "ServerConfig",
    "TemplateEngine",
    "create_app",
    "default_model_path",
    "local_model_missing",
    "write_samples",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
