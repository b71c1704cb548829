"""Typed Live session configuration, validated and rendered with the exact wire names.

Every field maps to one camelCase key of the `setup` message (see PROTOCOL.md); a field
left at None is omitted so the server's default applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError

Modality = Literal["AUDIO", "TEXT"]
StartSensitivity = Literal[
    "START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW"
]
EndSensitivity = Literal[
    "END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW"
]
ActivityHandling = Literal[
    "ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION"
]
TurnCoverage = Literal[
    "TURN_COVERAGE_UNSPECIFIED", "TURN_INCLUDES_ONLY_ACTIVITY", "TURN_INCLUDES_ALL_INPUT"
]
MediaResolution = Literal[
    "MEDIA_RESOLUTION_UNSPECIFIED",
    "MEDIA_RESOLUTION_LOW",
    "MEDIA_RESOLUTION_MEDIUM",
    "MEDIA_RESOLUTION_HIGH",
]
Behavior = Literal["BLOCKING", "NON_BLOCKING"]
ThinkingLevel = Literal["MINIMAL", "LOW", "MEDIUM", "HIGH"]

MODALITIES: frozenset[str] = frozenset(Modality.__args__)  # type: ignore[attr-defined]
START_SENSITIVITIES: frozenset[str] = frozenset(StartSensitivity.__args__)  # type: ignore[attr-defined]
END_SENSITIVITIES: frozenset[str] = frozenset(EndSensitivity.__args__)  # type: ignore[attr-defined]
ACTIVITY_HANDLINGS: frozenset[str] = frozenset(ActivityHandling.__args__)  # type: ignore[attr-defined]
TURN_COVERAGES: frozenset[str] = frozenset(TurnCoverage.__args__)  # type: ignore[attr-defined]
MEDIA_RESOLUTIONS: frozenset[str] = frozenset(MediaResolution.__args__)  # type: ignore[attr-defined]
BEHAVIORS: frozenset[str] = frozenset(Behavior.__args__)  # type: ignore[attr-defined]
THINKING_LEVELS: frozenset[str] = frozenset(ThinkingLevel.__args__)  # type: ignore[attr-defined]


def _enum(name: str, value: object, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise ConfigError(f"{name}: unknown value {value!r}; expected one of {sorted(allowed)}")


def _number(
    name: str, value: object, *, low: float | None = None, high: float | None = None
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{name}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{name}: must be <= {high}, got {value!r}")


def _integer(name: str, value: object, *, low: int = 0) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if value < low:
        raise ConfigError(f"{name}: must be >= {low}, got {value!r}")


def _put(out: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        out[key] = value


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    """Voice of the reply audio (`speechConfig`)."""

    voice_name: str | None = None
    """A prebuilt voice such as "Puck", "Charon", "Kore", "Aoede"."""
    language_code: str | None = None
    """BCP-47 language of the reply speech, e.g. "en-US"."""

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        if self.voice_name is not None and (
            not isinstance(self.voice_name, str) or not self.voice_name.strip()
        ):
            raise ConfigError(f"speech.voice_name: expected a voice name, got {self.voice_name!r}")
        if self.language_code is not None and (
            not isinstance(self.language_code, str) or not self.language_code.strip()
        ):
            raise ConfigError(
                f"speech.language_code: expected a BCP-47 code, got {self.language_code!r}"
            )

    def to_wire(self) -> dict[str, Any]:
        """The `speechConfig` object."""
        out: dict[str, Any] = {}
        if self.voice_name is not None:
            out["voiceConfig"] = {"prebuiltVoiceConfig": {"voiceName": self.voice_name}}
        _put(out, "languageCode", self.language_code)
        return out


@dataclass(frozen=True, slots=True)
class ThinkingConfig:
    """Model thinking (`thinkingConfig`)."""

    thinking_budget: int | None = None
    """Token budget for thinking; 0 turns it off, -1 lets the model decide."""
    include_thoughts: bool | None = None
    thinking_level: ThinkingLevel | None = None

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        _integer("thinking.thinking_budget", self.thinking_budget, low=-1)
        _enum("thinking.thinking_level", self.thinking_level, THINKING_LEVELS)

    def to_wire(self) -> dict[str, Any]:
        """The `thinkingConfig` object."""
        out: dict[str, Any] = {}
        _put(out, "thinkingBudget", self.thinking_budget)
        _put(out, "includeThoughts", self.include_thoughts)
        _put(out, "thinkingLevel", self.thinking_level)
        return out


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Sampling and output settings (`generationConfig`)."""

    response_modalities: tuple[Modality, ...] = ("AUDIO",)
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_output_tokens: int | None = None
    candidate_count: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    speech: SpeechConfig | None = None
    media_resolution: MediaResolution | None = None
    enable_affective_dialog: bool | None = None
    thinking: ThinkingConfig | None = None

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        if not self.response_modalities:
            raise ConfigError("generation.response_modalities: at least one modality is needed")
        for modality in self.response_modalities:
            _enum("generation.response_modalities", modality, MODALITIES)
        _number("generation.temperature", self.temperature, low=0.0, high=2.0)
        _number("generation.top_p", self.top_p, low=0.0, high=1.0)
        _integer("generation.top_k", self.top_k, low=1)
        _integer("generation.max_output_tokens", self.max_output_tokens, low=1)
        _integer("generation.candidate_count", self.candidate_count, low=1)
        _number("generation.presence_penalty", self.presence_penalty, low=-2.0, high=2.0)
        _number("generation.frequency_penalty", self.frequency_penalty, low=-2.0, high=2.0)
        _integer("generation.seed", self.seed, low=-(2**31))
        _enum("generation.media_resolution", self.media_resolution, MEDIA_RESOLUTIONS)
        if self.speech is not None:
            self.speech.validate()
        if self.thinking is not None:
            self.thinking.validate()

    def to_wire(self) -> dict[str, Any]:
        """The `generationConfig` object."""
        out: dict[str, Any] = {"responseModalities": list(self.response_modalities)}
        _put(out, "temperature", self.temperature)
        _put(out, "topP", self.top_p)
        _put(out, "topK", self.top_k)
        _put(out, "maxOutputTokens", self.max_output_tokens)
        _put(out, "candidateCount", self.candidate_count)
        _put(out, "presencePenalty", self.presence_penalty)
        _put(out, "frequencyPenalty", self.frequency_penalty)
        _put(out, "seed", self.seed)
        if self.speech is not None:
            out["speechConfig"] = self.speech.to_wire()
        _put(out, "mediaResolution", self.media_resolution)
        _put(out, "enableAffectiveDialog", self.enable_affective_dialog)
        if self.thinking is not None:
            out["thinkingConfig"] = self.thinking.to_wire()
        return out


@dataclass(frozen=True, slots=True)
class FunctionDeclaration:
    """One function the model may call (`functionDeclarations[]`)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    """An OpenAPI-style schema object, e.g. {"type": "OBJECT", "properties": {...}}."""
    behavior: Behavior | None = None
    """NON_BLOCKING lets the model keep talking while the call runs."""

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"function name: expected a non-empty name, got {self.name!r}")
        if self.parameters is not None and not isinstance(self.parameters, Mapping):
            raise ConfigError(f"function {self.name!r}: parameters must be a mapping")
        _enum(f"function {self.name!r}: behavior", self.behavior, BEHAVIORS)

    def to_wire(self) -> dict[str, Any]:
        """One `functionDeclarations` entry."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.parameters is not None:
            out["parameters"] = dict(self.parameters)
        _put(out, "behavior", self.behavior)
        return out


@dataclass(frozen=True, slots=True)
class AutomaticActivityDetection:
    """Server-side voice activity detection (`automaticActivityDetection`)."""

    disabled: bool = False
    """True: the client marks turns with activityStart / activityEnd itself."""
    start_of_speech_sensitivity: StartSensitivity | None = None
    end_of_speech_sensitivity: EndSensitivity | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        _enum(
            "activity_detection.start_of_speech_sensitivity",
            self.start_of_speech_sensitivity,
            START_SENSITIVITIES,
        )
        _enum(
            "activity_detection.end_of_speech_sensitivity",
            self.end_of_speech_sensitivity,
            END_SENSITIVITIES,
        )
        _integer("activity_detection.prefix_padding_ms", self.prefix_padding_ms)
        _integer("activity_detection.silence_duration_ms", self.silence_duration_ms)

    def to_wire(self) -> dict[str, Any]:
        """The `automaticActivityDetection` object."""
        out: dict[str, Any] = {}
        if self.disabled:
            out["disabled"] = True
        _put(out, "startOfSpeechSensitivity", self.start_of_speech_sensitivity)
        _put(out, "endOfSpeechSensitivity", self.end_of_speech_sensitivity)
        _put(out, "prefixPaddingMs", self.prefix_padding_ms)
        _put(out, "silenceDurationMs", self.silence_duration_ms)
        return out


@dataclass(frozen=True, slots=True)
class RealtimeInputConfig:
    """How realtime input is turned into turns (`realtimeInputConfig`)."""

    activity_detection: AutomaticActivityDetection = field(
        default_factory=AutomaticActivityDetection
    )
    activity_handling: ActivityHandling | None = None
    """START_OF_ACTIVITY_INTERRUPTS (default: barge-in) or NO_INTERRUPTION."""
    turn_coverage: TurnCoverage | None = None

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        self.activity_detection.validate()
        _enum("realtime_input.activity_handling", self.activity_handling, ACTIVITY_HANDLINGS)
        _enum("realtime_input.turn_coverage", self.turn_coverage, TURN_COVERAGES)

    def to_wire(self) -> dict[str, Any]:
        """The `realtimeInputConfig` object (empty when everything is default)."""
        out: dict[str, Any] = {}
        detection = self.activity_detection.to_wire()
        if detection:
            out["automaticActivityDetection"] = detection
        _put(out, "activityHandling", self.activity_handling)
        _put(out, "turnCoverage", self.turn_coverage)
        return out


@dataclass(frozen=True, slots=True)
class ContextWindowCompression:
    """Sliding-window compression that lifts the session length limit."""

    trigger_tokens: int | None = None
    target_tokens: int | None = None

    def validate(self) -> None:
        """Raise `ConfigError` if a value is invalid."""
        _integer("context_window_compression.trigger_tokens", self.trigger_tokens, low=1)
        _integer("context_window_compression.target_tokens", self.target_tokens, low=1)
        if (
            self.trigger_tokens is not None
            and self.target_tokens is not None
            and self.target_tokens > self.trigger_tokens
        ):
            raise ConfigError(
                "context_window_compression: target_tokens must not exceed trigger_tokens "
                f"({self.target_tokens} > {self.trigger_tokens})"
            )

    def to_wire(self) -> dict[str, Any]:
        """The `contextWindowCompression` object."""
        out: dict[str, Any] = {}
        _put(out, "triggerTokens", self.trigger_tokens)
        window: dict[str, Any] = {}
        _put(window, "targetTokens", self.target_tokens)
        out["slidingWindow"] = window
        return out


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Everything sent in the `setup` message of a Live session.

    `model` is a setting, never a constant: "gemini-3.8-live" and "models/gemini-3.8-live"
    are both accepted. Call `validate()` (or let `encode_setup` do it) before connecting.
    """

    model: str
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    system_instruction: str | None = None
    function_declarations: tuple[FunctionDeclaration, ...] = ()
    google_search: bool = False
    realtime_input: RealtimeInputConfig = field(default_factory=RealtimeInputConfig)
    session_resumption: bool = True
    """Ask for resumption handles so a dropped or expiring connection can continue."""
    context_window_compression: ContextWindowCompression | None = None
    input_transcription: bool = True
    output_transcription: bool = True
    proactive_audio: bool | None = None

    @property
    def model_path(self) -> str:
        """The model as the wire wants it: "models/NAME"."""
        model = self.model.strip()
        return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"

    def validate(self) -> None:
        """Raise `ConfigError` naming the first invalid field."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError(f"model: expected a model name, got {self.model!r}")
        if self.model.strip() in ("models/", "tunedModels/"):
            raise ConfigError(f"model: missing the name after {self.model!r}")
        self.generation.validate()
        if self.system_instruction is not None and not isinstance(self.system_instruction, str):
            raise ConfigError("system_instruction: expected text")
        names: set[str] = set()
        for declaration in self.function_declarations:
            if not isinstance(declaration, FunctionDeclaration):
                raise ConfigError(
                    f"function_declarations: expected FunctionDeclaration, got {declaration!r}"
                )
            declaration.validate()
            if declaration.name in names:
                raise ConfigError(f"function_declarations: duplicate name {declaration.name!r}")
            names.add(declaration.name)
        self.realtime_input.validate()
        if self.context_window_compression is not None:
            self.context_window_compression.validate()

    def to_wire(self, *, resumption_handle: str | None = None) -> dict[str, Any]:
        """The body of the `setup` message (without the `setup` key)."""
        out: dict[str, Any] = {
            "model": self.model_path,
            "generationConfig": self.generation.to_wire(),
        }
        if self.system_instruction:
            out["systemInstruction"] = {"parts": [{"text": self.system_instruction}]}
        tools: list[dict[str, Any]] = []
        if self.function_declarations:
            tools.append(
                {"functionDeclarations": [d.to_wire() for d in self.function_declarations]}
            )
        if self.google_search:
            tools.append({"googleSearch": {}})
        if tools:
            out["tools"] = tools
        realtime = self.realtime_input.to_wire()
        if realtime:
            out["realtimeInputConfig"] = realtime
        if self.session_resumption or resumption_handle is not None:
            out["sessionResumption"] = {"handle": resumption_handle} if resumption_handle else {}
        if self.context_window_compression is not None:
            out["contextWindowCompression"] = self.context_window_compression.to_wire()
        if self.input_transcription:
            out["inputAudioTranscription"] = {}
        if self.output_transcription:
            out["outputAudioTranscription"] = {}
        if self.proactive_audio is not None:
            out["proactivity"] = {"proactiveAudio": self.proactive_audio}
        return out
