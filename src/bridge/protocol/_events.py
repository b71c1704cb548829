"""Server events (parsed from server messages) and the function responses a client sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SetupComplete:
    """The server accepted the setup; the session is live."""

    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class ModelAudio:
    """A chunk of reply audio: little-endian int16 mono PCM at `sample_rate_hz` (24 kHz)."""

    pcm: bytes
    sample_rate_hz: int


@dataclass(frozen=True, slots=True)
class ModelText:
    """Reply text (TEXT modality) or, with `thought=True`, a thought summary."""

    text: str
    thought: bool = False


@dataclass(frozen=True, slots=True)
class ModelMedia:
    """Non-audio `inlineData` in a reply (an image, video, text or application blob).

    Never played: only `audio/pcm` is reply audio.
    """

    mime_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class InputTranscription:
    """Transcription of the user's speech; `text` is an increment, not cumulative."""

    text: str
    finished: bool = False
    language_code: str | None = None
    speaker_label: str | None = None


@dataclass(frozen=True, slots=True)
class InterimInputTranscription:
    """A live caption of the user's speech so far; later ones replace it, the final text
    comes in `InputTranscription`."""

    text: str
    finished: bool = False
    language_code: str | None = None
    speaker_label: str | None = None


@dataclass(frozen=True, slots=True)
class OutputTranscription:
    """Transcription of the model's reply audio; `text` is an increment."""

    text: str
    finished: bool = False
    language_code: str | None = None
    speaker_label: str | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The user barged in: drop queued reply audio now. A `TurnComplete` follows."""


@dataclass(frozen=True, slots=True)
class GenerationComplete:
    """The model has generated its whole reply (audio may still be playing out locally)."""


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The model's turn is over; `reason` is the server's `turnCompleteReason`, if any."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TurnCompleteReason:
    """Why the turn ended (e.g. "NEED_MORE_INPUT"), sent without `turnComplete: true`."""

    reason: str


@dataclass(frozen=True, slots=True)
class WaitingForInput:
    """The model is waiting for the user (nothing more will come until they speak)."""


@dataclass(frozen=True, slots=True)
class GroundingMetadata:
    """Search grounding of the reply (sources, queries), kept verbatim."""

    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PartialArg:
    """One streamed piece of a call's arguments: `value` at `json_path` ("$.city").

    A string value may arrive in pieces at the same path; they are concatenated.
    """

    json_path: str
    value: str | float | bool | None
    will_continue: bool = False


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """One call the model asks the client to run; answer with a `FunctionResponse` of `id`.

    A streamed call comes in pieces with one `id`: `will_continue=True` on all but the
    last, arguments in `partial_args`, the name possibly only on the first piece.
    """

    id: str
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    will_continue: bool = False
    partial_args: tuple[PartialArg, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for one or more function calls."""

    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCallCancellation:
    """Earlier calls were cancelled (usually by a barge-in); their responses are unwanted."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAway:
    """The server will close this connection in `time_left_s`: resume on a new one."""

    time_left_s: float


@dataclass(frozen=True, slots=True)
class SessionResumptionUpdate:
    """A new resumption handle; only a `resumable` handle may be used to resume."""

    handle: str | None
    resumable: bool


@dataclass(frozen=True, slots=True)
class UsageMetadata:
    """Token accounting; `raw` keeps the whole object (details per modality)."""

    prompt_token_count: int
    response_token_count: int
    total_token_count: int
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoiceActivity:
    """Server VAD signal: `kind` is "ACTIVITY_START" / "ACTIVITY_END" (`voiceActivity`),
    or "VAD_SIGNAL_TYPE_SOS" / "VAD_SIGNAL_TYPE_EOS" (`voiceActivityDetectionSignal`)."""

    kind: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A key this parser does not model (dotted path inside `serverContent`), kept verbatim."""

    key: str
    value: Any


ServerEvent = (
    SetupComplete
    | ModelAudio
    | ModelText
    | ModelMedia
    | InputTranscription
    | InterimInputTranscription
    | OutputTranscription
    | Interrupted
    | GenerationComplete
    | TurnComplete
    | TurnCompleteReason
    | WaitingForInput
    | GroundingMetadata
    | ToolCall
    | ToolCallCancellation
    | GoAway
    | SessionResumptionUpdate
    | UsageMetadata
    | VoiceActivity
    | Unknown
)

Scheduling = Literal["SILENT", "WHEN_IDLE", "INTERRUPT"]
SCHEDULINGS: frozenset[str] = frozenset(Scheduling.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    """The result of one `FunctionCall`, sent back in a `toolResponse`.

    `scheduling` and `will_continue` only matter for NON_BLOCKING functions.
    """

    id: str
    name: str
    response: Mapping[str, Any]
    scheduling: Scheduling | None = None
    will_continue: bool | None = None
