"""A streaming-first client for the Mistral AI chat API.

    from mistral_client import Mistral, Models, user

    with Mistral() as client, client.chat.stream(model=Models.SMALL, messages=[user("Hi")]) as stream:
        for chunk in stream:
            print(chunk.content, end="", flush=True)

Every request and answer type is in ``mistral_client.types``; docs/architecture.md draws the layers
(the transport, the I/O-free stream pipeline, the wire types, the streams, resources and clients
written once in ``_async/`` with ``_sync/`` generated from it).
"""

from ._async.client import AsyncMistral
from ._async.resources.chat import AsyncChat
from ._async.stream import AsyncChatStream
from ._config import Timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    StreamTimeoutError,
    StructuredOutputError,
    SyncClientInAsyncError,
    ToolArgumentsError,
    UnprocessableEntityError,
)
from ._pipeline.accumulating import ChoiceResult, StreamResult
from ._pipeline.lifecycle import StreamConsumedError
from ._sync.client import Mistral
from ._sync.resources.chat import Chat
from ._sync.stream import ChatStream
from ._version import __version__
from ._wire.answers import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    DeltaMessage,
    Embedding,
    EmbeddingResponse,
    FunctionCall,
    Model,
    ModelList,
    ToolCall,
    Usage,
)
from ._wire.messages import Models, assistant, system, tool, user
from ._wire.requests import ChatCompletionRequest

__all__ = [
    "__version__",
    # clients
    "Mistral",
    "AsyncMistral",
    "Chat",
    "AsyncChat",
    "Timeout",
    # requests
    "ChatCompletionRequest",
    "Models",
    "system",
    "user",
    "assistant",
    "tool",
    # answers
    "ChatCompletion",
    "Choice",
    "AssistantMessage",
    "ChatCompletionChunk",
    "ChunkChoice",
    "DeltaMessage",
    "ToolCall",
    "FunctionCall",
    "Usage",
    "EmbeddingResponse",
    "Embedding",
    "Model",
    "ModelList",
    # streams
    "ChatStream",
    "AsyncChatStream",
    "StreamResult",
    "ChoiceResult",
    # errors
    "MistralError",
    "InvalidRequestError",
    "ToolArgumentsError",
    "StructuredOutputError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "StreamTimeoutError",
    "StreamConsumedError",
    "SyncClientInAsyncError",
]
