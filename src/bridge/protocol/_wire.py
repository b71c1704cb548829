"""Shared readers for server JSON: key spellings, base64, flags, objects, audio rates.

Each raises `ProtocolError` naming the key for a value of the wrong type, never anything
else, so the parser built on them has exactly one failure mode.
"""

from __future__ import annotations

import re
from typing import Any

import pybase64

from .errors import ProtocolError

_rates: dict[str, int] = {}
_RATE = re.compile(r"rate=(\d{1,9})")  # int() of thousands of digits would raise
_DEFAULT_OUTPUT_RATE_HZ = 24000
# What a playout path can resample from; Gemini itself always sends 24 kHz.
_MIN_RATE_HZ, _MAX_RATE_HZ = 8000, 96000


def aliases(*names: str) -> dict[str, str]:
    """Map each camelCase name and its snake_case spelling to the camelCase name."""
    table: dict[str, str] = {}
    for name in names:
        table[name] = name
        snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        table[snake] = name
    return table


def get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def b64(data: bytes, urlsafe: bool) -> bytes:
    """Standard or URL-safe base64 held in ASCII bytes, padded or not; raises `ValueError`."""
    if len(data) & 3:
        data += b"=" * (-len(data) & 3)
    return pybase64.b64decode(data, altchars=b"-_" if urlsafe else None, validate=True)


def b64decode(data: Any, where: str) -> bytes:
    if type(data) is bytes:  # decoded already by _load's fast path
        return data
    if not isinstance(data, str):
        raise ProtocolError(f"{where}: expected base64 text, got {type(data).__name__}")
    try:
        return b64(data.encode("ascii"), "-" in data or "_" in data)
    except ValueError as exc:
        raise ProtocolError(f"{where}: invalid base64 ({exc})") from None


def audio_rate_hz(mime_type: Any) -> int:
    """The sample rate of reply audio, or 0 when `mime_type` is not raw PCM audio."""
    if mime_type is None:
        return _DEFAULT_OUTPUT_RATE_HZ
    if type(mime_type) is not str:
        raise ProtocolError(f"inlineData.mimeType: expected text, got {mime_type!r:.40}")
    rate = _rates.get(mime_type)
    if rate is None:
        if not mime_type.lower().startswith("audio/pcm"):
            return 0
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


def flag(value: Any, where: str) -> bool:
    if value is None or type(value) is bool:
        return bool(value)
    raise ProtocolError(f"{where}: expected true or false, got {value!r:.40}")


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def text_or_none(value: dict[str, Any], camel: str, snake: str, where: str) -> str | None:
    found = get(value, camel, snake)
    if found is None or type(found) is str:
        return found
    raise ProtocolError(f"{where}.{camel}: expected text, got {found!r:.40}")
