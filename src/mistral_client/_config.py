"""Client settings: where to send requests, with which key, and how long to wait."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._exceptions import InvalidRequestError, MistralError

__all__ = [
    "DEFAULT_BASE_URL",
    "Timeout",
    "api_root",
    "check_extra_headers",
    "check_key_transport",
    "resolve_api_key",
    "resolve_timeout",
]

logger = logging.getLogger("mistral_client")

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
    import httpx2  # already loaded by the client

    try:
        httpx2.URL(url)  # what the requests will be built from: a bad URL fails now, not at the first call
    except (httpx2.InvalidURL, UnicodeEncodeError) as exc:
        raise InvalidRequestError(f"base_url {url!r} is not a valid URL: {exc}") from None
    return url if url.endswith("/v1") else url + "/v1"


def resolve_api_key(api_key: str | None, root: str) -> str | None:
    """The key to send, or ``None`` for a server that needs none (any host but the official one)."""
    source = "passed as api_key" if api_key is not None else "in MISTRAL_API_KEY"
    key = api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY")
    if key is not None and not isinstance(key, str):
        raise InvalidRequestError(f"api_key must be a str, got {type(key).__name__}")
    key = _checked_key(key, source) if key else None
    if not key and urlsplit(root).hostname in OFFICIAL_HOSTS:
        raise MistralError(
            "no API key: pass Mistral(api_key=...) or set MISTRAL_API_KEY "
            "(or point base_url / MISTRAL_BASE_URL at a local server, which needs none)"
        )
    return key or None


def _checked_key(key: str, source: str) -> str:
    """The key without surrounding whitespace; refused if it could not go into a header as given.

    Left alone, a bad key fails later, inside h11 or an ASCII encoder, in an error that quotes the
    whole ``Authorization`` header.  Neither the key nor any part of it is ever shown here.
    """
    stripped = key.strip()
    if stripped != key:
        # A key read from a file or pasted from a terminal usually ends with a newline.
        logger.debug("removed whitespace around the API key from %s", source)
    if stripped.isascii() and stripped.isprintable() and " " not in stripped:
        return stripped
    problem = _first_bad(stripped, lambda char: "!" <= char <= "~")
    raise InvalidRequestError(
        f"the API key {source} ({len(stripped)} characters) contains {problem}; a key is printable ASCII "
        "without spaces: check how it was copied or read (the key is not shown)"
    )


# RFC 9110 token characters: what a header name is made of.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_extra_headers(extra: object, where: str = "extra_headers") -> None:
    """Refuse headers that cannot be sent, before anything is; values are never shown.

    Values are often credentials, and h11 quotes the whole value in its error (``Illegal header
    value b'sk-...\\n'``), so the check is ours.  A bad name is shown only up to its first bad
    character: ``{"Authorization: Bearer sk-...": ""}`` has the key in the name.
    """
    if not isinstance(extra, Mapping):
        raise InvalidRequestError(f"{where} must be a dict of header names to str, got {type(extra).__name__}")
    for name, value in extra.items():
        if not isinstance(name, str):
            raise InvalidRequestError(f"{where}: header names must be str, got {type(name).__name__}")
        if not name:
            raise InvalidRequestError(f"{where}: a header name is empty")
        if not _TOKEN.issuperset(name):
            bad = next(i for i, char in enumerate(name) if char not in _TOKEN)
            shown = f"the header name {name[:bad]!r}..." if bad else "a header name"
            raise InvalidRequestError(
                f"{where}: {shown} has {_first_bad(name, _TOKEN.__contains__)}; "
                "a name is letters, digits and !#$%&'*+-.^_`|~ (the rest of the name is not shown)"
            )
        if not isinstance(value, str):
            raise InvalidRequestError(f"{where}[{name!r}] must be a str, got {type(value).__name__}")
        if not (value.isascii() and value.isprintable()):
            problem = _first_bad(value, lambda char: " " <= char <= "~" or char == "\t")
            if problem:
                raise InvalidRequestError(
                    f"{where}[{name!r}]: the value ({len(value)} characters) contains {problem}; "
                    "a header value is printable ASCII (the value is not shown)"
                )
        if value != value.strip(" \t"):
            raise InvalidRequestError(
                f"{where}[{name!r}]: the value ({len(value)} characters) starts or ends with a space or tab, "
                "which HTTP does not allow (the value is not shown)"
            )


def _first_bad(text: str, allowed: Callable[[str], bool]) -> str | None:
    """The kind and position of the first character not ``allowed``, without quoting anything secret."""
    for position, char in enumerate(text):
        if allowed(char):
            continue
        if char in "\r\n":
            kind = "a line break"
        elif not char.isascii():
            kind = "a non-ASCII character"
        elif char == " ":
            kind = "a space"
        elif char == "\t":
            kind = "a tab"
        elif not char.isprintable():
            kind = "a control character"
        else:
            kind = repr(char)  # printable ASCII refused in a name (":", "(" ...): safe to show alone
        return f"{kind} at position {position}"
    return None


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (bracketed or not, IPv4-mapped too): traffic that never leaves
    the machine."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: it may resolve anywhere
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


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
