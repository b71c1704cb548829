"""`serverContent`: reply parts, transcriptions and turn flags, in the order a player needs."""

from __future__ import annotations

from typing import Any

from ._events import (
    GenerationComplete,
    GroundingMetadata,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    ModelAudio,
    ModelMedia,
    ModelText,
    OutputTranscription,
    ServerEvent,
    TurnComplete,
    TurnCompleteReason,
    Unknown,
    WaitingForInput,
)
from ._wire import aliases, audio_rate_hz, b64decode, flag, get, obj, text_or_none
from .errors import ProtocolError

__all__ = ["parse_server_content"]


def _parts(turn: Any, out: list[ServerEvent]) -> None:
    turn = obj(turn, "serverContent.modelTurn")
    parts = turn.get("parts")
    if parts is None:
        return
    if not isinstance(parts, list):
        raise ProtocolError(f"serverContent.modelTurn.parts: expected a list, got {parts!r:.40}")
    for part in parts:
        if not isinstance(part, dict):
            raise ProtocolError("serverContent.modelTurn.parts[]: expected an object")
        blob = part.get("inlineData")
        if blob is None:
            blob = get(part, "inline_data", "audio")
        if blob is not None:
            _blob(obj(blob, "modelTurn.parts[].inlineData"), out)
            continue
        text = part.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise ProtocolError("modelTurn.parts[].text: expected text")
            out.append(ModelText(text, flag(part.get("thought"), "modelTurn.parts[].thought")))
            continue
        for key, value in part.items():
            out.append(Unknown(f"serverContent.modelTurn.parts.{key}", value))


def _blob(blob: dict[str, Any], out: list[ServerEvent]) -> None:
    mime = get(blob, "mimeType", "mime_type")
    rate_hz = audio_rate_hz(mime)
    data = blob.get("data")
    raw = b"" if data is None else b64decode(data, "modelTurn.parts[].inlineData.data")
    if not rate_hz:
        out.append(ModelMedia(mime, raw))
    elif raw:  # protobuf JSON leaves out an empty chunk's data: no audio, not an error
        out.append(ModelAudio(raw, rate_hz))


def _transcription(value: Any, where: str) -> tuple[str, bool, str | None, str | None]:
    value = obj(value, where)
    text = value.get("text")
    if text is None:
        text = ""
    elif not isinstance(text, str):
        raise ProtocolError(f"{where}.text: expected text, got {type(text).__name__}")
    finished = value.get("finished")
    plain = len(value) == ("text" in value) + ("finished" in value)
    if plain and (finished is None or finished is True or finished is False):
        return text, bool(finished), None, None  # the usual {text[, finished]}
    return (
        text,
        flag(finished, f"{where}.finished"),
        text_or_none(value, "languageCode", "language_code", where),
        text_or_none(value, "speakerLabel", "speaker_label", where),
    )


_SC_KEYS = aliases(
    "modelTurn",
    "modelTurnContent",
    "inputTranscription",
    "interimInputTranscription",
    "outputTranscription",
    "interrupted",
    "generationComplete",
    "turnComplete",
    "turnCompleteReason",
    "waitingForInput",
    "groundingMetadata",
)


def parse_server_content(value: Any, out: list[ServerEvent]) -> None:
    content = obj(value, "serverContent")
    turn = None
    input_tr = interim_tr = output_tr = None
    interrupted = generation_complete = turn_complete = waiting = False
    reason = None
    extras: list[ServerEvent] = []
    for raw_key, item in content.items():
        key = _SC_KEYS.get(raw_key)
        if item is None:
            continue
        if key == "modelTurn" or key == "modelTurnContent":
            turn = item
        elif key == "inputTranscription":
            input_tr = _transcription(item, "serverContent.inputTranscription")
        elif key == "interimInputTranscription":
            interim_tr = _transcription(item, "serverContent.interimInputTranscription")
        elif key == "outputTranscription":
            output_tr = _transcription(item, "serverContent.outputTranscription")
        elif key == "interrupted":
            interrupted = flag(item, "serverContent.interrupted")
        elif key == "generationComplete":
            generation_complete = flag(item, "serverContent.generationComplete")
        elif key == "turnComplete":
            turn_complete = flag(item, "serverContent.turnComplete")
        elif key == "turnCompleteReason":
            if type(item) is not str:
                raise ProtocolError(f"serverContent.turnCompleteReason: got {item!r:.40}")
            reason = item
        elif key == "waitingForInput":
            waiting = flag(item, "serverContent.waitingForInput")
        elif key == "groundingMetadata":
            extras.append(GroundingMetadata(obj(item, "serverContent.groundingMetadata")))
        else:
            extras.append(Unknown(f"serverContent.{raw_key}", item))
    if interim_tr is not None:
        out.append(InterimInputTranscription(*interim_tr))
    if input_tr is not None:
        out.append(InputTranscription(*input_tr))
    if turn is not None:
        _parts(turn, out)
    if output_tr is not None:
        out.append(OutputTranscription(*output_tr))
    out.extend(extras)
    if interrupted:
        out.append(Interrupted())
    if generation_complete:
        out.append(GenerationComplete())
    if turn_complete:
        out.append(TurnComplete(reason))
    elif reason is not None:
        out.append(TurnCompleteReason(reason))
    if waiting:
        out.append(WaitingForInput())
