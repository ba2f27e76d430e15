"""Client settings: where to send requests, with which key, and how long to wait."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._exceptions import InvalidRequestError, MistralError

__all__ = ["DEFAULT_BASE_URL", "Timeout", "api_root", "check_key_transport", "resolve_api_key", "resolve_timeout"]

DEFAULT_BASE_URL = "https://api.mistral.ai"
OFFICIAL_HOSTS = frozenset({"api.mistral.ai"})
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Timeout:
    """How long a call may wait, in seconds (``None``: no limit).

    ``connect``: to open the connection.  ``read``: the longest silence allowed between two reads,
    including the wait for the response headers.  ``total``: a deadline for the whole call, retries,
    back-off and the whole stream included.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise InvalidRequestError(f"Timeout.{name} must be a positive number of seconds or None, got {value!r}")


TimeoutLike = Timeout | float | int | None


def resolve_timeout(value: TimeoutLike | Timeout, default: Timeout) -> Timeout:
    """``None`` keeps the default; a number is a total deadline (on top of the default's other limits)."""
    if value is None:
        return default
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"timeout must be a Timeout, a number of seconds or None, got {type(value).__name__}")
    return Timeout(connect=default.connect, read=default.read, total=float(value))


def api_root(base_url: str | None) -> str:
    """The URL that ``/chat/completions`` hangs off: the base URL with ``/v1`` appended unless present."""
    url = (base_url or os.environ.get("MISTRAL_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL!r}, got {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def resolve_api_key(api_key: str | None, root: str) -> str | None:
    """The key to send, or ``None`` for a server that needs none (any host but the official one)."""
    key = api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY")
    key = key.strip() if key else None
    if not key and urlsplit(root).hostname in OFFICIAL_HOSTS:
        raise MistralError(
            "no API key: pass Mistral(api_key=...) or set MISTRAL_API_KEY "
            "(or point base_url / MISTRAL_BASE_URL at a local server, which needs none)"
        )
    return key or None


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: traffic that never leaves the machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def check_key_transport(root: str, allow_insecure_http: bool) -> None:
    """Refuse to send a key in clear text across a network unless the caller said so."""
    parts = urlsplit(root)
    if parts.scheme == "https" or allow_insecure_http or is_loopback(parts.hostname):
        return
    raise MistralError(
        f"refusing to send the API key over plain http to {parts.hostname!r}: anyone on the network path "
        "could read it. Use an https:// base_url, or, on a network you trust, pass "
        "allow_insecure_http=True to Mistral() / AsyncMistral()"
    )
