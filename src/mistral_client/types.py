"""Every type of a request and of an answer, public: for annotations, ``isinstance`` and ``msgspec``.

    from mistral_client.types import ChatCompletionChunk, MessageParam, StreamResult

Answers are msgspec Structs, decoded as they arrive; requests are Structs (every field of the API,
checked before anything is sent) or the TypedDicts that ``chat.complete(...)`` and friends accept as
keyword arguments. The names most code needs are also in ``mistral_client`` itself.
"""

from ._config import Timeout, TimeoutLike
from ._pipeline.accumulating import ChoiceResult, StreamResult
from ._wire.answers import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    ContentPart,
    DeltaMessage,
    Embedding,
    EmbeddingResponse,
    FunctionCall,
    Model,
    ModelList,
    ToolCall,
    Usage,
)
from ._wire.batch import BatchError, BatchJob, BatchJobList, BatchRequest, DeletedBatchJob
from ._wire.files import DeletedFile, FileList, FileObject, SignedURL
from ._wire.messages import (
    AssistantMessageParam,
    ContentParam,
    MessageParam,
    SystemMessageParam,
    ToolMessageParam,
    UserMessageParam,
)
from ._wire.requests import ChatCompletionRequest, ChatParams, EmbeddingRequest, FIMCompletionRequest, FIMParams

__all__ = [
    # requests
    "ChatCompletionRequest",
    "ChatParams",
    "FIMCompletionRequest",
    "FIMParams",
    "EmbeddingRequest",
    "MessageParam",
    "SystemMessageParam",
    "UserMessageParam",
    "AssistantMessageParam",
    "ToolMessageParam",
    "ContentParam",
    "Timeout",
    "TimeoutLike",
    # answers
    "ChatCompletion",
    "Choice",
    "AssistantMessage",
    "ChatCompletionChunk",
    "ChunkChoice",
    "DeltaMessage",
    "ContentPart",
    "ToolCall",
    "FunctionCall",
    "Usage",
    "EmbeddingResponse",
    "Embedding",
    "Model",
    "ModelList",
    # what a stream accumulates
    "StreamResult",
    "ChoiceResult",
    # files and batch jobs (client.files, client.batch.jobs)
    "FileObject",
    "FileList",
    "DeletedFile",
    "SignedURL",
    "BatchRequest",
    "BatchJob",
    "BatchJobList",
    "BatchError",
    "DeletedBatchJob",
]
