"""What some tests need from outside the repository, and the one rule when it is missing.

The official OpenAPI description and the recorded live answers sit in ``shared/`` beside the
checkout (``../shared``), never in the repository: a user's clone does not have them. Tests that
need them (or Chromium, or uvloop) skip there with a reason, and fail when ``CI=true``, because CI
always provides them and a skip there would hide a check that stopped running.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = ["SHARED", "defer", "in_ci", "need", "shared_path", "take_deferred", "unavailable"]

SHARED = Path(__file__).resolve().parents[3] / "shared"
# Reasons of the cross-checks the running test could not make (reset around each test by conftest).
_deferred: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``; with ``CI=true``, fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: CI must run this test)", pytrace=False)
    pytest.skip(reason)


def need(module: str) -> ModuleType:
    """``module`` imported, for a test that compares with an official SDK (the ``bench`` extra);
    when it is not installed, ``unavailable``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed: pip install -e '.[bench]'")


def shared_path(variable: str, name: str) -> Path:
    """``$variable`` if it is set, else ``../shared/<name>``."""
    override = os.environ.get(variable)
    return Path(override) if override else SHARED / name


def defer(reason: str) -> None:
    """A cross-check inside the running test cannot be made: report it skipped when the test ends."""
    _deferred.append(reason)


def take_deferred() -> list[str]:
    """The reasons deferred since the last call, once each (clears them)."""
    reasons = list(dict.fromkeys(_deferred))
    _deferred.clear()
    return reasons
