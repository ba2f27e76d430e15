"""A local Mistral-compatible chat server: deterministic answers, faults on request, records of use.

Needs the ``server`` extra (starlette, uvicorn); the client package never imports this one.
"""

from __future__ import annotations

from ._app import CHAT_COMPLETION_FIELDS, KNOWN_MODELS, ServerConfig, create_app
from ._engine import Engine, Finish, Prompt, TemplateEngine
from ._knobs import KNOBS, Knob
from ._local import LocalServer
from ._records import DisconnectRecord, Recorder, RequestRecord, ResponseRecord

__all__ = [
    "CHAT_COMPLETION_FIELDS",
    "KNOBS",
    "KNOWN_MODELS",
    "DisconnectRecord",
    "Engine",
    "Finish",
    "Knob",
    "LocalServer",
    "Prompt",
    "Recorder",
    "RequestRecord",
    "ResponseRecord",
    "ServerConfig",
    "TemplateEngine",
    "create_app",
]
