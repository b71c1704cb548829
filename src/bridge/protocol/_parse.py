"""Tolerant parser: one server message (bytes or str) in, a list of events out.

Accepts camelCase and snake_case keys, standard and URL-safe base64 (padded or not), and
the design document's `modelTurnContent` / `audio` spellings next to the real `modelTurn` /
`inlineData`. Keys it does not model become `Unknown` events; `null` for a known key
means absent (as protobuf JSON and the SDK read it). Only malformed JSON or a known key
with the wrong type raises `ProtocolError`, naming the key; no other exception escapes.
`inlineData` is reply audio only for `audio/pcm` (or no mime type); an empty chunk
(no `data`) is no audio; other media become `ModelMedia`.

Events from one message come out in the order a player needs them: the user's
transcription, the reply parts, the reply transcription, then the turn flags
(interrupted, generationComplete, turnComplete), and usage last.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson

from ._calls import parse_tool_call
from ._content import parse_server_content
from ._events import (
    GoAway,
    ModelAudio,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCallCancellation,
    Unknown,
    UsageMetadata,
    VoiceActivity,
)
from ._wire import aliases, audio_rate_hz, b64, flag, get, obj
from .errors import ProtocolError

__all__ = ["parse_duration_s", "parse_server_message"]


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
        except (TypeError, ValueError, OverflowError):
            seconds = -1.0
        if 0 <= seconds < math.inf:
            return seconds
    elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    raise ProtocolError(f"goAway.timeLeft: expected a duration like '50s', got {value!r:.40}")


def _setup_complete(value: Any, out: list[ServerEvent]) -> None:
    value = obj(value, "setupComplete")
    session_id = get(value, "sessionId", "session_id")
    out.append(SetupComplete(session_id if isinstance(session_id, str) else None))


def _cancellation(value: Any, out: list[ServerEvent]) -> None:
    ids = obj(value, "toolCallCancellation").get("ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ProtocolError("toolCallCancellation.ids: expected a list of ids")
    out.append(ToolCallCancellation(tuple(ids)))


def _go_away(value: Any, out: list[ServerEvent]) -> None:
    left = get(obj(value, "goAway"), "timeLeft", "time_left")
    try:
        time_left_s = 0.0 if left is None else parse_duration_s(left)
    except ProtocolError:
        time_left_s = 0.0  # still a goAway: the close is coming, treat it as imminent
    out.append(GoAway(time_left_s))


def _resumption(value: Any, out: list[ServerEvent]) -> None:
    value = obj(value, "sessionResumptionUpdate")
    handle = get(value, "newHandle", "new_handle")
    if handle is not None and not isinstance(handle, str):
        raise ProtocolError("sessionResumptionUpdate.newHandle: expected text")
    out.append(
        SessionResumptionUpdate(
            handle or None, flag(value.get("resumable"), "sessionResumptionUpdate.resumable")
        )
    )


def _count(value: dict[str, Any], camel: str, snake: str) -> int:
    count = get(value, camel, snake)
    if count is None:
        return 0
    if type(count) is not int:
        raise ProtocolError(f"usageMetadata.{camel}: expected an integer, got {count!r:.40}")
    return count


def _usage(value: Any, out: list[ServerEvent]) -> None:
    value = obj(value, "usageMetadata")
    out.append(
        UsageMetadata(
            _count(value, "promptTokenCount", "prompt_token_count"),
            _count(value, "responseTokenCount", "response_token_count"),
            _count(value, "totalTokenCount", "total_token_count"),
            value,
        )
    )


def _voice_activity(value: Any, out: list[ServerEvent]) -> None:
    value = obj(value, "voiceActivity")
    kind = get(value, "voiceActivityType", "voice_activity_type") or value.get("type")
    out.append(VoiceActivity(str(kind) if kind is not None else "TYPE_UNSPECIFIED"))


def _vad_signal(value: Any, out: list[ServerEvent]) -> None:
    value = obj(value, "voiceActivityDetectionSignal")
    kind = get(value, "vadSignalType", "vad_signal_type")
    if kind is not None and type(kind) is not str:
        raise ProtocolError(f"voiceActivityDetectionSignal.vadSignalType: got {kind!r:.40}")
    out.append(VoiceActivity(kind or "VAD_SIGNAL_TYPE_UNSPECIFIED"))


_Handler = Callable[[Any, list[ServerEvent]], None]
_TOP: dict[str, _Handler] = {}
for _name, _handler in (
    ("setupComplete", _setup_complete),
    ("serverContent", parse_server_content),
    ("toolCall", parse_tool_call),
    ("toolCallCancellation", _cancellation),
    ("goAway", _go_away),
    ("sessionResumptionUpdate", _resumption),
    ("voiceActivity", _voice_activity),
    ("voiceActivityDetectionSignal", _vad_signal),
):
    for _alias in aliases(_name):
        _TOP[_alias] = _handler
_USAGE_KEYS = frozenset(aliases("usageMetadata"))


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
        pcm = b64(data[start:end], urlsafe)
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
                    rate_hz = audio_rate_hz(blob.get("mimeType"))
                    if rate_hz and pcm:
                        return [ModelAudio(pcm, rate_hz)]
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
        if value is None:
            continue
        if handler is not None:
            handler(value, out)
        elif key in _USAGE_KEYS:
            usage = value
        else:
            out.append(Unknown(key, value))
    if usage is not None:
        _usage(usage, out)
    return out
