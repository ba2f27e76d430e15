"""The C# seed's two ASP.NET Core endpoints, in FastAPI with mistral_client.web.

    POST /chat/stream   body: a JSON string    -> the answer as plain text, piece by piece
    GET  /chat/sse?message=...                 -> the answer as server-sent events, then [DONE]

Run it against the API (MISTRAL_API_KEY) or the local server (MISTRAL_BASE_URL):

    pip install 'mistral-client[web]' fastapi uvicorn
    mistral-client serve &                      # optional: a local Mistral-compatible server
    MISTRAL_BASE_URL=http://127.0.0.1:8000 uvicorn --app-dir examples fastapi_chat:app --port 8001
    curl -N localhost:8001/chat/stream -H 'content-type: application/json' -d '"Tell me a joke"'
    curl -N 'localhost:8001/chat/sse?message=Tell+me+a+joke'

Unlike the seed, a browser that goes away cancels the upstream stream at once (the ASP.NET
version relies on a CancellationToken reaching the HTTP call), and an upstream failure reaches the
browser as an ``error`` event instead of a truncated answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Body, FastAPI, Request

from mistral_client import AsyncMistral, Models, user
from mistral_client.web import EventStreamResponse, TextStreamResponse


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
async def stream_chat(request: Request, message: str = Body()) -> TextStreamResponse:
    # Cancelling the generator when the client leaves closes its `async with`, and so the upstream.
    return TextStreamResponse(answer_text(request.app.state.mistral, message))


@app.get("/chat/sse")
async def stream_sse(request: Request, message: str) -> EventStreamResponse:
    # The response opens the stream, relays each chunk as a JSON event and closes it however it ends.
    client: AsyncMistral = request.app.state.mistral
    return EventStreamResponse(client.chat.stream(model=Models.SMALL, messages=[user(message)]))
