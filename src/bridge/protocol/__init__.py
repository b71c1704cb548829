"""Gemini Live wire protocol without I/O: configuration, message builders, parser, state.

Never imports asyncio, websockets or Telegram code, so any I/O layer (our client, the
emulator, a test) can use it. Field names are the exact camelCase wire names.

    config = LiveConfig(model="gemini-3.8-live",
                        generation=GenerationConfig(speech=SpeechConfig(voice_name="Puck")))
    protocol = LiveProtocol(config)           # the session's state machine
    frame = protocol.setup_message()          # bytes for one text frame
    for event in protocol.receive_data(data, now_s=time.monotonic()):  # a frame's payload
        ...
    frame = protocol.audio_message(pcm_int16) # the 20 ms hot path, legal once READY

`LiveProtocol` builds every outgoing message and refuses one that is illegal in its
current state (`LocalProtocolError`); the `encode_*` functions and `parse_server_message`
underneath it are stateless and public for servers and tests.
"""

from __future__ import annotations

from ._backoff import backoff
from ._calls import CallAssembler
from ._config import (
    ActivityHandling,
    AutomaticActivityDetection,
    Behavior,
    ContextWindowCompression,
    EndSensitivity,
    FunctionDeclaration,
    GenerationConfig,
    LiveConfig,
    MediaResolution,
    Modality,
    RealtimeInputConfig,
    SpeechConfig,
    StartSensitivity,
    ThinkingConfig,
    TurnCoverage,
)
from ._encode import (
    encode_activity_end,
    encode_activity_start,
    encode_audio,
    encode_audio_stream_end,
    encode_client_content,
    encode_setup,
    encode_text,
    encode_tool_response,
)
from ._events import (
    FunctionCall,
    FunctionResponse,
    GenerationComplete,
    GoAway,
    GroundingMetadata,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    ModelAudio,
    ModelMedia,
    ModelText,
    OutputTranscription,
    PartialArg,
    Scheduling,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    TurnCompleteReason,
    Unknown,
    UsageMetadata,
    VoiceActivity,
    WaitingForInput,
)
from ._parse import parse_duration_s, parse_server_message
from ._state import LiveProtocol, ProtocolState
from ._translation import LiveTranslateConfig, TranslationConfig, language_problem
from .errors import (
    AuthError,
    BridgeError,
    ConfigError,
    ConnectFailed,
    InvalidArgument,
    LiveConnectionClosed,
    LocalProtocolError,
    PolicyViolation,
    ProtocolError,
    QuotaExceeded,
    ServerInternalError,
    closed_error,
)

__all__ = [
    "ActivityHandling",
    "AuthError",
    "AutomaticActivityDetection",
    "Behavior",
    "BridgeError",
    "CallAssembler",
    "ConfigError",
    "ConnectFailed",
    "ContextWindowCompression",
    "EndSensitivity",
    "FunctionCall",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerationComplete",
    "GenerationConfig",
    "GoAway",
    "GroundingMetadata",
    "InputTranscription",
    "InterimInputTranscription",
    "Interrupted",
    "InvalidArgument",
    "LiveConfig",
    "LiveConnectionClosed",
    "LiveProtocol",
    "LiveTranslateConfig",
    "LocalProtocolError",
    "MediaResolution",
    "Modality",
    "ModelAudio",
    "ModelMedia",
    "ModelText",
    "OutputTranscription",
    "PartialArg",
    "PolicyViolation",
    "ProtocolError",
    "ProtocolState",
    "QuotaExceeded",
    "RealtimeInputConfig",
    "Scheduling",
    "ServerEvent",
    "ServerInternalError",
    "SessionResumptionUpdate",
    "SetupComplete",
    "SpeechConfig",
    "StartSensitivity",
    "ThinkingConfig",
    "ToolCall",
    "ToolCallCancellation",
    "TranslationConfig",
    "TurnComplete",
    "TurnCompleteReason",
    "TurnCoverage",
    "Unknown",
    "UsageMetadata",
    "VoiceActivity",
    "WaitingForInput",
    "backoff",
    "closed_error",
    "encode_activity_end",
    "encode_activity_start",
    "encode_audio",
    "encode_audio_stream_end",
    "encode_client_content",
    "encode_setup",
    "encode_text",
    "encode_tool_response",
    "language_problem",
    "parse_duration_s",
    "parse_server_message",
]
