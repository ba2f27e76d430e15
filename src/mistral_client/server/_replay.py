"""Record exchanges with a real Mistral-compatible server, and answer from those recordings offline.

Recording forwards each request to the upstream server as it comes, streams the answer back to the
client as it arrives, and writes the exchange to ``DIR``: the request (without its Authorization
header: secrets never reach the disk), the status, the headers, and the body in the pieces it
arrived in, each with the seconds since the request went upstream. Replaying answers a request
from the recording of the same request: same method, path, JSON body and ``x-mock-*`` headers (so
a test matrix against our own server records and replays too), at the recorded pace or at once.
A request seen several times is recorded as a sequence, replayed in order (the last one repeats),
so a failure followed by a successful retry replays as it happened. A request with no recording
gets a 404 naming the file it looked for.

One JSON file per request: ``POST_v1_chat_completions_<hash>.json``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._stream import ClosingStreamingResponse, InjectedDisconnect

__all__ = ["Recording", "Replaying", "recording_name"]

# Not worth keeping: they describe one connection, or they are secrets.
_DROPPED_REQUEST_HEADERS = frozenset(
    {"authorization", "x-mock-api-key", "host", "content-length", "connection", "accept-encoding", "cookie"}
)
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server", "set-cookie"}
)
_FORMAT = 1


def recording_name(method: str, path: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The file that holds the recording of this request."""
    try:
        canonical: Any = json.loads(body) if body else None
    except ValueError:
        canonical = base64.b64encode(body).decode("ascii")
    knobs = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-mock-"))
    knobs = [(k, v) for k, v in knobs if k not in _DROPPED_REQUEST_HEADERS]
    key = json.dumps([method.upper(), path, canonical, knobs], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = path.strip("/").replace("/", "_") or "root"
    return f"{method.upper()}_{slug}_{digest}.json"


@dataclass
class Recording:
    """Forwards to ``upstream`` and writes every complete exchange under ``directory``."""

    directory: Path
    upstream: str
    timeout: float = 600.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def answer(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST_HEADERS}
        forwarded = dict(headers)
        if "authorization" in request.headers:
            forwarded["authorization"] = request.headers["authorization"]  # sent on, never written
        forwarded["accept-encoding"] = "identity"  # record the bytes as the client gets them
        client = httpx2.AsyncClient(timeout=self.timeout)
        upstream_request = client.build_request(
            request.method,
            self.upstream.rstrip("/") + request.url.path,
            params=request.url.query or None,
            content=body,
            headers=forwarded,
        )
        started = time.monotonic()
        try:
            upstream = await client.send(upstream_request, stream=True)
        except httpx2.HTTPError as exc:
            await client.aclose()
            message = f"the upstream server {self.upstream} did not answer: {exc}"
            return JSONResponse(_error_body(message, "upstream_error", "3000"), status_code=502)
        headers_at = time.monotonic() - started
        response_headers = [
            (k, v) for k, v in upstream.headers.multi_items() if k.lower() not in _DROPPED_RESPONSE_HEADERS
        ]
        exchange: dict[str, Any] = {
            "status": upstream.status_code,
            "headers": response_headers,
            "headers_at": round(headers_at, 6),
            "chunks": [],
            "broken": False,
        }
        name = recording_name(request.method, request.url.path, body, request.headers)
        record = {"method": request.method, "path": request.url.path, "headers": headers, "body": _body(body)}

        async def relay() -> AsyncGenerator[bytes, None]:
            finished = False
            try:
                async for piece in upstream.aiter_raw():
                    exchange["chunks"].append({"at": round(time.monotonic() - started, 6), **_piece(piece)})
                    yield piece
                finished = True
            except httpx2.HTTPError:
                # The upstream broke the body off: record that, and break it off for our client too.
                exchange["broken"] = True
                finished = True
                await self._save(name, record, exchange)
                raise InjectedDisconnect("the upstream server broke off its answer") from None
            finally:
                await upstream.aclose()
                await client.aclose()
                if finished and not exchange["broken"]:
                    await self._save(name, record, exchange)
                # A client that left early leaves no recording: the upstream's answer is unknown.

        return ClosingStreamingResponse(relay(), status_code=upstream.status_code, headers=dict(response_headers))

    async def _save(self, name: str, request: dict[str, Any], exchange: dict[str, Any]) -> None:
        async with self._lock:
            path = self.directory / name
            self.directory.mkdir(parents=True, exist_ok=True)
            existing = json.loads(path.read_text("utf-8")) if path.exists() else None
            exchanges = existing["exchanges"] if existing else []
            exchanges.append(exchange)
            document = {"format": _FORMAT, "request": request, "exchanges": exchanges}
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
            temporary.replace(path)


@dataclass
class Replaying:
    """Answers from the recordings under ``directory``; ``pace`` "recorded" or "fast"."""

    directory: Path
    pace: Literal["recorded", "fast"] = "recorded"
    _served: dict[str, int] = field(default_factory=dict)

    async def answer(self, request: Request) -> Response:
        body = await request.body()
        name = recording_name(request.method, request.url.path, body, request.headers)
        path = self.directory / name
        if not path.exists():
            message = (
                f"No recording for {request.method} {request.url.path} with this body and these x-mock-* headers: "
                f"{path} does not exist (record it with: mistral-client serve --record {self.directory} --upstream URL)"
            )
            return JSONResponse(_error_body(message, "not_found", "3004"), status_code=404)
        exchanges = json.loads(path.read_text("utf-8"))["exchanges"]
        turn = self._served.get(name, 0)
        self._served[name] = turn + 1
        exchange = exchanges[min(turn, len(exchanges) - 1)]
        started = time.monotonic()
        paced = self.pace == "recorded"
        if paced:
            await _sleep_until(started + exchange["headers_at"])

        async def play() -> AsyncGenerator[bytes, None]:
            for chunk in exchange["chunks"]:
                if paced:
                    await _sleep_until(started + chunk["at"])
                yield chunk["text"].encode("utf-8") if "text" in chunk else base64.b64decode(chunk["base64"])
            if exchange["broken"]:
                raise InjectedDisconnect("the recorded answer was broken off here")

        return ClosingStreamingResponse(play(), status_code=exchange["status"], headers=dict(exchange["headers"]))


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _piece(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:  # a read that split a character, or not text at all
        return {"base64": base64.b64encode(data).decode("ascii")}


def _body(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def _error_body(message: str, kind: str, code: str) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}
