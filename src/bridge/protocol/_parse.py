"""Tolerant parser: one server message (bytes or str) in, a list of events out.

Accepts camelCase and snake_case keys, standard and URL-safe base64 (padded or not), and
the design document's `modelTurnContent` / `audio` spellings next to the real `modelTurn` /
`inlineData`. Keys it does not model become `Unknown` events. Only malformed JSON or a
known key with the wrong type raises `ProtocolError`, naming the key.

Events from one message come out in the order a player needs them: the user's
transcription, the reply parts, the reply transcription, then the turn flags
(interrupted, generationComplete, turnComplete), and usage last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson
import pybase64

from ._events import (
    FunctionCall,
    GenerationComplete,
    GoAway,
    InputTranscription,
    Interrupted,
    ModelAudio,
    ModelText,
    OutputTranscription,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    Unknown,
    UsageMetadata,
    VoiceActivity,
)
from .errors import ProtocolError

__all__ = ["parse_duration_s", "parse_server_message"]

_rates: dict[str, int] = {}
_RATE = re.compile(r"rate=(\d+)")
_DEFAULT_OUTPUT_RATE_HZ = 24000
# What a playout path can resample from; Gemini itself always sends 24 kHz.
_MIN_RATE_HZ, _MAX_RATE_HZ = 8000, 96000


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _aliases(*names: str) -> dict[str, str]:
    """Map each camelCase name and its snake_case spelling to the camelCase name."""
    table: dict[str, str] = {}
    for name in names:
        table[name] = name
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        table[snake] = name
    return table


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _b64(data: bytes, urlsafe: bool) -> bytes:
    """Standard or URL-safe base64 held in ASCII bytes, padded or not; raises `ValueError`."""
    if len(data) & 3:
        data += b"=" * (-len(data) & 3)
    return pybase64.b64decode(data, altchars=b"-_" if urlsafe else None, validate=True)


def _b64decode(data: Any, where: str) -> bytes:
    if type(data) is bytes:  # decoded already by _load's fast path
        return data
    if not isinstance(data, str):
        raise ProtocolError(f"{where}: expected base64 text, got {type(data).__name__}")
    try:
        return _b64(data.encode("ascii"), "-" in data or "_" in data)
    except ValueError as exc:
        raise ProtocolError(f"{where}: invalid base64 ({exc})") from None


def _rate_hz(mime_type: Any) -> int:
    if mime_type is None:
        return _DEFAULT_OUTPUT_RATE_HZ
    rate = _rates.get(mime_type)
    if rate is None:
        if not isinstance(mime_type, str):
            raise ProtocolError(f"inlineData.mimeType: expected text, got {mime_type!r}")
        found = _RATE.search(mime_type)
        rate = int(found.group(1)) if found else _DEFAULT_OUTPUT_RATE_HZ
        if not _MIN_RATE_HZ <= rate <= _MAX_RATE_HZ:
            raise ProtocolError(
                f"inlineData.mimeType: sample rate {rate} Hz is outside "
                f"{_MIN_RATE_HZ}..{_MAX_RATE_HZ} Hz ({mime_type!r:.60})"
            )
        if len(_rates) < 64:
            _rates[mime_type] = rate
    return rate


def _flag(value: Any, where: str) -> bool:
    if value is None or type(value) is bool:
        return bool(value)
    raise ProtocolError(f"{where}: expected true or false, got {value!r:.40}")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _parts(turn: Any, out: list[ServerEvent]) -> None:
    turn = _obj(turn, "serverContent.modelTurn")
    parts = turn.get("parts")
    if parts is None:
        return
    if not isinstance(parts, list):
        raise ProtocolError(f"serverContent.modelTurn.parts: expected a list, got {parts!r:.40}")
    for part in parts:
        if not isinstance(part, dict):
            raise ProtocolError("serverContent.modelTurn.parts[]: expected an object")
        blob = part.get("inlineData")
        if blob is None:  # an empty object is still an (invalid) audio part
            blob = part.get("inline_data", part.get("audio"))
        if blob is not None:
            blob = _obj(blob, "modelTurn.parts[].inlineData")
            if "data" not in blob:
                raise ProtocolError("modelTurn.parts[].inlineData.data: missing")
            pcm = _b64decode(blob["data"], "modelTurn.parts[].inlineData.data")
            mime = _get(blob, "mimeType", "mime_type")
            out.append(ModelAudio(pcm, _rate_hz(mime)))
            continue
        text = part.get("text")
        if text is not None:
            if not isinstance(text, str):
                raise ProtocolError("modelTurn.parts[].text: expected text")
            out.append(ModelText(text, bool(part.get("thought", False))))
            continue
        for key, value in part.items():
            out.append(Unknown(f"serverContent.modelTurn.parts.{key}", value))


def _transcription(value: Any, where: str) -> tuple[str, bool]:
    value = _obj(value, where)
    text = value.get("text", "")
    if not isinstance(text, str):
        raise ProtocolError(f"{where}.text: expected text, got {type(text).__name__}")
    return text, bool(value.get("finished", False))


_SC_KEYS = _aliases(
    "modelTurn",
    "modelTurnContent",
    "inputTranscription",
    "outputTranscription",
    "interrupted",
    "generationComplete",
    "turnComplete",
    "turnCompleteReason",
)


def _server_content(value: Any, out: list[ServerEvent]) -> None:
    content = _obj(value, "serverContent")
    turn = None
    input_tr = output_tr = None
    interrupted = generation_complete = turn_complete = False
    reason = None
    extras: list[ServerEvent] = []
    for raw_key, item in content.items():
        key = _SC_KEYS.get(raw_key)
        if key == "modelTurn" or key == "modelTurnContent":
            turn = item
        elif key == "inputTranscription":
            input_tr = _transcription(item, "serverContent.inputTranscription")
        elif key == "outputTranscription":
            output_tr = _transcription(item, "serverContent.outputTranscription")
        elif key == "interrupted":
            interrupted = _flag(item, "serverContent.interrupted")
        elif key == "generationComplete":
            generation_complete = _flag(item, "serverContent.generationComplete")
        elif key == "turnComplete":
            turn_complete = _flag(item, "serverContent.turnComplete")
        elif key == "turnCompleteReason":
            reason = item if isinstance(item, str) else None
        else:
            extras.append(Unknown(f"serverContent.{raw_key}", item))
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


def parse_duration_s(value: Any) -> float:
    """A protobuf Duration ("50s", "9.5s", or {"seconds": 9, "nanos": 5e8}) in seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < math.inf:
            return seconds
    elif isinstance(value, dict):
        seconds_part = value.get("seconds", 0)
        nanos = value.get("nanos", 0)
        try:
            seconds = float(seconds_part) + float(nanos) / 1e9
        except (TypeError, ValueError):
            seconds = -1.0
        if 0 <= seconds < math.inf:
            return seconds
    elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    raise ProtocolError(f"goAway.timeLeft: expected a duration like '50s', got {value!r:.40}")


def _setup_complete(value: Any, out: list[ServerEvent]) -> None:
    value = _obj(value, "setupComplete")
    session_id = _get(value, "sessionId", "session_id")
    out.append(SetupComplete(session_id if isinstance(session_id, str) else None))


def _tool_call(value: Any, out: list[ServerEvent]) -> None:
    value = _obj(value, "toolCall")
    calls = _get(value, "functionCalls", "function_calls") or []
    if not isinstance(calls, list):
        raise ProtocolError("toolCall.functionCalls: expected a list")
    parsed = []
    for call in calls:
        call = _obj(call, "toolCall.functionCalls[]")
        call_id, name, args = call.get("id", ""), call.get("name"), call.get("args")
        if args is None:
            args = {}
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"toolCall.functionCalls[]: missing function name in {call!r:.60}")
        if not isinstance(call_id, str):
            raise ProtocolError(f"toolCall.functionCalls[{name}].id: expected text")
        if not isinstance(args, dict):
            raise ProtocolError(f"toolCall.functionCalls[{name}].args: expected an object")
        parsed.append(FunctionCall(call_id, name, args))
    out.append(ToolCall(tuple(parsed)))


def _cancellation(value: Any, out: list[ServerEvent]) -> None:
    ids = _obj(value, "toolCallCancellation").get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ProtocolError("toolCallCancellation.ids: expected a list of ids")
    out.append(ToolCallCancellation(tuple(ids)))


def _go_away(value: Any, out: list[ServerEvent]) -> None:
    left = _get(_obj(value, "goAway"), "timeLeft", "time_left")
    out.append(GoAway(0.0 if left is None else parse_duration_s(left)))


def _resumption(value: Any, out: list[ServerEvent]) -> None:
    value = _obj(value, "sessionResumptionUpdate")
    handle = _get(value, "newHandle", "new_handle")
    if handle is not None and not isinstance(handle, str):
        raise ProtocolError("sessionResumptionUpdate.newHandle: expected text")
    out.append(SessionResumptionUpdate(handle or None, bool(value.get("resumable", False))))


def _count(value: dict[str, Any], camel: str, snake: str) -> int:
    count = _get(value, camel, snake)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _usage(value: Any, out: list[ServerEvent]) -> None:
    value = _obj(value, "usageMetadata")
    out.append(
        UsageMetadata(
            _count(value, "promptTokenCount", "prompt_token_count"),
            _count(value, "responseTokenCount", "response_token_count"),
            _count(value, "totalTokenCount", "total_token_count"),
            value,
        )
    )


def _voice_activity(value: Any, out: list[ServerEvent]) -> None:
    value = _obj(value, "voiceActivity")
    kind = _get(value, "voiceActivityType", "voice_activity_type") or value.get("type")
    out.append(VoiceActivity(str(kind) if kind is not None else "TYPE_UNSPECIFIED"))


_Handler = Callable[[Any, list[ServerEvent]], None]
_TOP: dict[str, _Handler] = {}
for _name, _handler in (
    ("setupComplete", _setup_complete),
    ("serverContent", _server_content),
    ("toolCall", _tool_call),
    ("toolCallCancellation", _cancellation),
    ("goAway", _go_away),
    ("sessionResumptionUpdate", _resumption),
    ("voiceActivity", _voice_activity),
):
    for _alias in _aliases(_name):
        _TOP[_alias] = _handler
_USAGE_KEYS = frozenset(_aliases("usageMetadata"))


_AUDIO_HEAD = b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{'
_DATA_KEY = b'"data":"'


def _cut_audio(data: bytes) -> tuple[Any, bytes] | None:
    """For the common audio message, decode the base64 payload straight from the frame
    and JSON-parse only the rest, so no str copy of the payload is ever built.

    Returns (message without its payload, pcm), or None when the frame does not have the
    exact shape this shortcut understands (the general path then handles it).
    """
    head = len(_AUDIO_HEAD)
    start = data.find(_DATA_KEY, head)
    # The key must sit directly in parts[0].inlineData (no brace between) and the payload
    # must be plain base64 (no escapes) for the cut to be exact.
    if start < 0 or data.find(b"}", head, start) >= 0 or data.find(b"{", head, start) >= 0:
        return None
    start += len(_DATA_KEY)
    end = data.find(b'"', start)
    if end < 0 or data.find(b"\\", start, end) >= 0:
        return None
    urlsafe = data.find(b"-", start, end) >= 0 or data.find(b"_", start, end) >= 0
    try:
        pcm = _b64(data[start:end], urlsafe)
    except ValueError as exc:
        raise ProtocolError(f"modelTurn.parts[].inlineData.data: invalid base64 ({exc})") from None
    return orjson.loads(data[:start] + data[end:]), pcm


def parse_server_message(data: bytes | bytearray | memoryview | str) -> list[ServerEvent]:
    """All events in one server message (a binary or text frame's payload).

    Raises `ProtocolError` for malformed JSON, a non-object message, or a known key whose
    value has the wrong type. Unknown keys become `Unknown` events.
    """
    try:
        cut = _cut_audio(data) if type(data) is bytes and data.startswith(_AUDIO_HEAD) else None
        if cut is None:
            message = orjson.loads(data)
        else:
            message, pcm = cut
            try:
                content = message["serverContent"]
                turn = content["modelTurn"]
                (part,) = turn["parts"]
                blob = part["inlineData"]
            except (KeyError, TypeError, ValueError):
                message = orjson.loads(data)  # duplicate keys or other oddities
            else:
                if len(message) == len(content) == len(turn) == len(part) == 1 and len(blob) == 2:
                    # The hot path: a message carrying exactly one audio chunk.
                    return [ModelAudio(pcm, _rate_hz(blob.get("mimeType")))]
                # orjson never yields bytes, so bytes here means "already decoded".
                blob["data"] = pcm
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"server message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"server message must be a JSON object, got {type(message).__name__}")
    out: list[ServerEvent] = []
    usage = None
    for key, value in message.items():
        handler = _TOP.get(key)
        if handler is not None:
            handler(value, out)
        elif key in _USAGE_KEYS:
            usage = value
        else:
            out.append(Unknown(key, value))
    if usage is not None:
        _usage(usage, out)
    return out
