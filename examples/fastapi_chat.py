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
browser as an ``error`` event instead of a truncated answer.
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
# A cap on what one question may cost.
Message = Annotated[str, Body(max_length=4000)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's life: it keeps connections to the API open between requests.
    async with AsyncMistral() as client:
        app.state.mistral = client
        yield


app = FastAPI(lifespan=lifespan)


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
    request: Request, who: User, message: Annotated[str, Query(max_length=4000)]
) -> EventStreamResponse:
    # The response opens the stream, relays each chunk as a JSON event and closes it however it ends.
    client: AsyncMistral = request.app.state.mistral
    return EventStreamResponse(client.chat.stream(model=Models.SMALL, messages=[user(message)]))
