"""A streaming-first client for the Mistral AI chat API.

    from mistral_client import Mistral, Models, user

    with Mistral() as client, client.chat.stream(model=Models.SMALL, messages=[user("Hi")]) as stream:
        for chunk in stream:
            print(chunk.content, end="", flush=True)

Every request and answer type is in ``mistral_client.types``; docs/architecture.md draws the layers
(the transport, the I/O-free stream pipeline, the wire types, the streams, resources and clients
written once in ``_async/`` with ``_sync/`` generated from it).
"""

import typing as _typing

from ._version import __version__

if _typing.TYPE_CHECKING:
    from ._async.client import AsyncMistral
    from ._async.conversation_stream import AsyncConversationStream
    from ._async.resources.agents import AsyncAgents
    from ._async.resources.audio import AsyncSpeechStream, AsyncTranscriptionStream
    from ._async.resources.chat import AsyncChat
    from ._async.resources.conversations import AsyncConversations, AsyncRunStream
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
        ToolLoopError,
        UnprocessableEntityError,
    )
    from ._pipeline.accumulating import ChoiceResult, StreamResult
    from ._pipeline.audio import Speech, Transcription
    from ._pipeline.conversations import ConversationResult, RunResult
    from ._pipeline.lifecycle import StreamConsumedError
    from ._sync.client import Mistral
    from ._sync.conversation_stream import ConversationStream
    from ._sync.resources.agents import Agents
    from ._sync.resources.audio import SpeechStream, TranscriptionStream
    from ._sync.resources.chat import Chat
    from ._sync.resources.conversations import Conversations, RunStream
    from ._sync.stream import ChatStream
    from ._telemetry import Telemetry
    from ._wire.agents import Agent
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
    from ._wire.conversations import ConversationResponse
    from ._wire.messages import Models, assistant, system, tool, user
    from ._wire.moderation import ClassificationResponse, ModerationResponse
    from ._wire.ocr import OCRResponse
    from ._wire.requests import ChatCompletionRequest

# Each name is imported on first use (PEP 562): ``import mistral_client.cli`` (``--help``, ``--version``)
# must not pay for the HTTP stack.  The table says where each name lives.
_WHERE = {
    "AsyncMistral": "._async.client",
    "AsyncChat": "._async.resources.chat",
    "AsyncChatStream": "._async.stream",
    "AsyncAgents": "._async.resources.agents",
    "AsyncConversations": "._async.resources.conversations",
    "AsyncRunStream": "._async.resources.conversations",
    "AsyncConversationStream": "._async.conversation_stream",
    "Agents": "._sync.resources.agents",
    "Conversations": "._sync.resources.conversations",
    "RunStream": "._sync.resources.conversations",
    "ConversationStream": "._sync.conversation_stream",
    "ConversationResult": "._pipeline.conversations",
    "RunResult": "._pipeline.conversations",
    "ConversationResponse": "._wire.conversations",
    "Agent": "._wire.agents",
    "ToolLoopError": "._exceptions",
    "Timeout": "._config",
    "APIConnectionError": "._exceptions",
    "APIError": "._exceptions",
    "APIStatusError": "._exceptions",
    "APITimeoutError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "BadRequestError": "._exceptions",
    "InternalServerError": "._exceptions",
    "InvalidRequestError": "._exceptions",
    "MistralError": "._exceptions",
    "NotFoundError": "._exceptions",
    "PermissionDeniedError": "._exceptions",
    "RateLimitError": "._exceptions",
    "StreamError": "._exceptions",
    "StreamTimeoutError": "._exceptions",
    "StructuredOutputError": "._exceptions",
    "SyncClientInAsyncError": "._exceptions",
    "ToolArgumentsError": "._exceptions",
    "UnprocessableEntityError": "._exceptions",
    "ChoiceResult": "._pipeline.accumulating",
    "StreamResult": "._pipeline.accumulating",
    "StreamConsumedError": "._pipeline.lifecycle",
    "Mistral": "._sync.client",
    "Chat": "._sync.resources.chat",
    "ChatStream": "._sync.stream",
    "Telemetry": "._telemetry",
    "AssistantMessage": "._wire.answers",
    "ChatCompletion": "._wire.answers",
    "ChatCompletionChunk": "._wire.answers",
    "Choice": "._wire.answers",
    "ChunkChoice": "._wire.answers",
    "DeltaMessage": "._wire.answers",
    "Embedding": "._wire.answers",
    "EmbeddingResponse": "._wire.answers",
    "FunctionCall": "._wire.answers",
    "Model": "._wire.answers",
    "ModelList": "._wire.answers",
    "ToolCall": "._wire.answers",
    "Usage": "._wire.answers",
    "Models": "._wire.messages",
    "assistant": "._wire.messages",
    "system": "._wire.messages",
    "tool": "._wire.messages",
    "user": "._wire.messages",
    "ChatCompletionRequest": "._wire.requests",
    # audio, OCR, moderation
    "AsyncTranscriptionStream": "._async.resources.audio",
    "AsyncSpeechStream": "._async.resources.audio",
    "TranscriptionStream": "._sync.resources.audio",
    "SpeechStream": "._sync.resources.audio",
    "Transcription": "._pipeline.audio",
    "Speech": "._pipeline.audio",
    "OCRResponse": "._wire.ocr",
    "ModerationResponse": "._wire.moderation",
    "ClassificationResponse": "._wire.moderation",
}


def __getattr__(name: str) -> _typing.Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(where, __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "__version__",
    # clients
    "Mistral",
    "AsyncMistral",
    "Chat",
    "AsyncChat",
    "Agents",
    "AsyncAgents",
    "Conversations",
    "AsyncConversations",
    "Timeout",
    "Telemetry",
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
    "ConversationResponse",
    "Agent",
    # streams
    "ChatStream",
    "AsyncChatStream",
    "StreamResult",
    "ChoiceResult",
    "ConversationStream",
    "AsyncConversationStream",
    "ConversationResult",
    "RunStream",
    "AsyncRunStream",
    "RunResult",
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
    "ToolLoopError",
    # audio, OCR, moderation
    "TranscriptionStream",
    "AsyncTranscriptionStream",
    "Transcription",
    "SpeechStream",
    "AsyncSpeechStream",
    "Speech",
    "OCRResponse",
    "ModerationResponse",
    "ClassificationResponse",
]
