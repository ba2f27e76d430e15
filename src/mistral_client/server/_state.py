"""What the middleware and the routes share: one ``Shared`` per app, and each request's knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ._config import ServerConfig
from ._knobs import Knobs
from ._limits import RateWindow
from ._records import Recorder

__all__ = ["Shared", "knobs_of", "shared_of"]


@dataclass
class Shared:
    """State the routes share; lives on ``app.state.shared``."""

    config: ServerConfig
    recorder: Recorder
    window: RateWindow
    failures_by_id: dict[str, int] = field(default_factory=dict)  # x-mock-fail-times, per x-mock-id


def shared_of(request: Request) -> Shared:
    shared: Shared = request.app.state.shared
    return shared


def knobs_of(request: Request) -> Knobs:
    """The request's x-mock-* knobs, which the middleware parsed (``request.state.knobs``)."""
    knobs: Knobs = request.state.knobs
    return knobs
