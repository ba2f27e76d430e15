"""Every type of a request and of an answer, public: for annotations, ``isinstance`` and ``msgspec``.

    from mistral_client.types import ChatCompletionChunk, MessageParam, StreamResult

Answers are msgspec Structs, decoded as they arrive; requests are Structs (every field of the API,
checked before anything is sent) or the TypedDicts that ``chat.complete(...)`` and friends accept as
keyword arguments. The names most code needs are also in ``mistral_client`` itself.
"""

from ._config import Timeout, TimeoutLike
from ._pipeline.accumulating import ChoiceResult, StreamResult

# Audio, OCR, moderation and classification (issue 19).
from ._pipeline.audio import Speech, Transcription
from ._pipeline.conversations import ConversationResult, RunResult
from ._wire.agents import (
    Agent,
    AgentAlias,
    AgentCreateRequest,
    AgentPage,
    AgentParams,
    AgentsCompletionRequest,
    AgentsParams,
    AgentUpdateRequest,
)
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
from ._wire.audio import (
    AudioUsage,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechRequest,
    SpeechResponse,
    TranscriptionDone,
    TranscriptionLanguage,
    TranscriptionRequest,
    TranscriptionResponse,
    TranscriptionSegment,
    TranscriptionSegmentEvent,
    TranscriptionTextDelta,
    Voice,
    VoiceCreateRequest,
    VoiceList,
    VoiceUpdateRequest,
)
from ._wire.batch import BatchError, BatchJob, BatchJobList, BatchRequest, DeletedBatchJob
from ._wire.conversation_requests import AppendParams, CompletionArgs, ConversationParams, RestartParams, RunParams
from ._wire.conversations import (
    AgentHandoffDoneEvent,
    AgentHandoffEntry,
    AgentHandoffStartedEvent,
    ConversationHistory,
    ConversationInfo,
    ConversationMessages,
    ConversationResponse,
    ConversationUsage,
    FunctionCallEntry,
    FunctionCallEvent,
    FunctionResultEntry,
    MessageInputEntry,
    MessageOutputEntry,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseErrorEvent,
    ResponseStartedEvent,
    ToolExecutionDeltaEvent,
    ToolExecutionDoneEvent,
    ToolExecutionEntry,
    ToolExecutionStartedEvent,
    UnknownEntry,
)
from ._wire.events import UnknownEvent
from ._wire.files import DeletedFile, FileList, FileObject, SignedURL
from ._wire.messages import (
    AssistantMessageParam,
    ContentParam,
    MessageParam,
    SystemMessageParam,
    ToolMessageParam,
    UserMessageParam,
)
from ._wire.moderation import (
    ClassificationRequest,
    ClassificationResponse,
    ClassificationTarget,
    ModerationCategory,
    ModerationResponse,
    ModerationResult,
)
from ._wire.ocr import OCRImage, OCRPage, OCRPageDimensions, OCRRequest, OCRResponse, OCRTable, OCRUsageInfo
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
    # agents and conversations: requests
    "AgentsCompletionRequest",
    "AgentsParams",
    "AgentCreateRequest",
    "AgentUpdateRequest",
    "AgentParams",
    "ConversationParams",
    "AppendParams",
    "RestartParams",
    "RunParams",
    "CompletionArgs",
    # agents and conversations: answers and entries
    "Agent",
    "AgentAlias",
    "AgentPage",
    "ConversationResponse",
    "ConversationInfo",
    "ConversationHistory",
    "ConversationMessages",
    "ConversationUsage",
    "MessageInputEntry",
    "MessageOutputEntry",
    "FunctionCallEntry",
    "FunctionResultEntry",
    "ToolExecutionEntry",
    "AgentHandoffEntry",
    "UnknownEntry",
    # a conversation stream's events (an unknown type arrives as UnknownEvent)
    "ResponseStartedEvent",
    "ResponseDoneEvent",
    "ResponseErrorEvent",
    "MessageOutputEvent",
    "FunctionCallEvent",
    "ToolExecutionStartedEvent",
    "ToolExecutionDeltaEvent",
    "ToolExecutionDoneEvent",
    "AgentHandoffStartedEvent",
    "AgentHandoffDoneEvent",
    "UnknownEvent",
    # what a conversation stream and the tool loop accumulate
    "ConversationResult",
    "RunResult",
    # audio (issue 19)
    "TranscriptionRequest",
    "TranscriptionResponse",
    "TranscriptionSegment",
    "TranscriptionLanguage",
    "TranscriptionTextDelta",
    "TranscriptionSegmentEvent",
    "TranscriptionDone",
    "Transcription",
    "SpeechRequest",
    "SpeechResponse",
    "SpeechAudioDelta",
    "SpeechAudioDone",
    "Speech",
    "AudioUsage",
    "Voice",
    "VoiceList",
    "VoiceCreateRequest",
    "VoiceUpdateRequest",
    # OCR (issue 19)
    "OCRRequest",
    "OCRResponse",
    "OCRPage",
    "OCRImage",
    "OCRTable",
    "OCRPageDimensions",
    "OCRUsageInfo",
    # moderation and classification (issue 19)
    "ClassificationRequest",
    "ModerationResponse",
    "ModerationResult",
    "ModerationCategory",
    "ClassificationResponse",
    "ClassificationTarget",
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
