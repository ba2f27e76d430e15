"""The C# seed's two ASP.NET Core endpoints, in FastAPI with mistral_client.web, behind the app's own auth.

    POST /chat/stream   body: a JSON string    -> the answer as plain text, piece by piece
    GET  /chat/sse?message=...                 -> the answer as server-sent events, then [DONE]

Both spend the operator's API key, so both require a user's token (401 without one) and allow each
user 5 questions a minute (429 beyond). Run it against the API (MISTRAL_API_KEY) or the local server
(MISTRAL_BASE_URL):

    pip install 'mistral-client[web]' fastapi uvicorn
    mistral-client serve &                      # optional: a local Mistral-compatible server
    export CHAT_APP_TOKENS='alice:a-long-random-token,bob:another-one'
    MISTRAL_BASE_URL=http://127.0.0.1:8000 uvicorn --app-dir examples fastapi_chat:app --port 8001
    curl -N localhost:8001/chat/stream -H 'authorization: Bearer a-long-random-token' \\
        -H 'content-type: application/json' -d '"Tell me a joke"'
    curl -N 'localhost:8001/chat/sse?message=Tell+me+a+joke' -H 'authorization: Bearer a-long-random-token'

Unlike the seed, a browser that goes away cancels the upstream stream at once (the ASP.NET
version relies on a CancellationToken reaching the HTTP call), and an upstream failure reaches the
browser as an ``error`` event, or, on the text endpoint before the first word, as the upstream's
status with a JSON error, instead of a truncated answer.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from mistral_client import AsyncMistral, Models, user
from mistral_client.web import EventStreamResponse, TextStreamResponse

# Users and their tokens: a stand-in for your app's own auth (sessions, OAuth, a gateway in front).
# No tokens, no access: the relay spends your API key, so it never runs open.
TOKENS = {
    name.strip(): token.strip()
    for name, _, token in (pair.partition(":") for pair in os.environ.get("CHAT_APP_TOKENS", "").split(","))
    if token.strip()
}


async def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> str:
    if credentials is not None:
        for name, token in TOKENS.items():
            if secrets.compare_digest(credentials.credentials.encode(), token.encode()):
                return name
    raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


class PerUserLimit:
    """At most ``requests`` per ``seconds`` for each user, counted in this process's memory.

    With several worker processes each keeps its own count (a user gets the limit once per worker):
    behind more than one, count in a shared store such as Redis instead.
    """

    def __init__(self, requests: int, seconds: float) -> None:
        self.requests, self.seconds = requests, seconds
        self.recent: defaultdict[str, deque[float]] = defaultdict(deque)

    # async: it runs on the event loop, one request at a time, so the counts need no lock.
    async def __call__(self, name: Annotated[str, Depends(current_user)]) -> str:
        now, recent = time.monotonic(), self.recent[name]
        while recent and recent[0] <= now - self.seconds:
            recent.popleft()
        if len(recent) >= self.requests:
            wait = math.ceil(recent[0] + self.seconds - now)
            raise HTTPException(429, "too many questions, try again later", headers={"Retry-After": str(wait)})
        recent.append(now)
        return name


# Every chat endpoint takes a ``User``: authenticated first, then counted.
User = Annotated[str, Depends(PerUserLimit(requests=5, seconds=60))]
# A question has something to answer (blank is 422), and a cap on what it may cost.
Question = StringConstraints(strip_whitespace=True)
Message = Annotated[str, Question, Body(min_length=1, max_length=4000)]

# Room for the longest question (4,000 characters are at most 48 KB as JSON, emoji escaped).
MAX_BODY = 64 * 1024


class BodyCap:
    """Refuses a body over ``limit`` bytes with 413 as soon as it is known, without reading the rest.

    FastAPI reads a whole body before it validates it: without a cap, a 20 MB question is read
    into memory first and refused only then.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = int(Headers(scope=scope).get("content-length", "0"))  # the server checked it is a number
        received = 0

        async def capped() -> ASGIMessage:
            nonlocal received
            if declared > self.limit:  # said up front: read none of it
                raise HTTPException(413, f"the body is over {self.limit} bytes")
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # a chunked body says nothing up front: count it as it comes
                raise HTTPException(413, f"the body is over {self.limit} bytes")
            return message

        await self.app(scope, capped, send)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's life: it keeps connections to the API open between requests.
    async with AsyncMistral() as client:
        app.state.mistral = client
        yield


app = FastAPI(lifespan=lifespan)
app.add_middleware(BodyCap, limit=MAX_BODY)


async def answer_text(client: AsyncMistral, message: str) -> AsyncIterator[str]:
    """The seed's ``IAsyncEnumerable<string>``: the answer's text as it arrives."""
    async with client.chat.stream(model=Models.SMALL, messages=[user(message)]) as stream:
        async for text in stream.text_stream:
            yield text


@app.post("/chat/stream")
async def stream_chat(request: Request, who: User, message: Message) -> TextStreamResponse:
    # Cancelling the generator when the client leaves closes its `async with`, and so the upstream.
    return TextStreamResponse(answer_text(request.app.state.mistral, message))


@app.get("/chat/sse")
async def stream_sse(
    request: Request, who: User, message: Annotated[str, Question, Query(min_length=1, max_length=4000)]
) -> EventStreamResponse:
    # The response opens the stream, relays each chunk as a JSON event and closes it however it ends.
    client: AsyncMistral = request.app.state.mistral
    return EventStreamResponse(client.chat.stream(model=Models.SMALL, messages=[user(message)]))
