"""Reading client messages the way the real server does: camelCase or snake_case keys,
standard or URL-safe base64, text or binary frames."""

from __future__ import annotations

import binascii
import re
from typing import Any

import orjson

_SNAKE = re.compile(r"_([a-z0-9])")
# Values under these keys are user data (schemas, arguments): their keys stay as sent.
_OPAQUE = frozenset(("args", "response", "parameters", "parametersJsonSchema"))
_URLSAFE = bytes.maketrans(b"-_", b"+/")


class WireError(ValueError):
    """A client message the server rejects; `code` is the close code to use."""

    def __init__(self, message: str, code: int = 1007) -> None:
        super().__init__(message)
        self.code = code


MAX_DEPTH = 64
"""Deepest object/array nesting accepted in a client message (the service's is similar)."""
MAX_REASON_BYTES = 123


def close_reason(text: str) -> str:
    """`text` cut to the 123 UTF-8 bytes a close frame allows (never mid-character)."""
    return text.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def camel(name: str) -> str:
    """snake_case → camelCase (camelCase passes through)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), name) if "_" in name else name


def normalise(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value with every object key in camelCase (user data untouched);
    nesting deeper than `MAX_DEPTH` raises `WireError`."""
    if depth > MAX_DEPTH and isinstance(value, (dict, list)):
        raise WireError(f"Invalid JSON payload received: nesting deeper than {MAX_DEPTH} levels.")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = camel(key)
            out[name] = item if name in _OPAQUE else normalise(item, depth + 1)
        return out
    if isinstance(value, list):
        return [normalise(item, depth + 1) for item in value]
    return value


def decode_message(data: bytes | str) -> tuple[str, Any]:
    """(top-level key, body) of one client message, keys normalised; raises `WireError`."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise WireError("Invalid JSON payload received.") from None
    if not isinstance(message, dict) or len(message) != 1:
        raise WireError("Invalid JSON payload received: expected exactly one top-level field.")
    ((key, body),) = message.items()
    key = camel(key)
    if key not in ("setup", "realtimeInput", "clientContent", "toolResponse", "contextUpdate"):
        raise WireError(f'Invalid JSON payload received. Unknown name "{key}".')
    if not isinstance(body, dict):
        raise WireError(f"Invalid value for {key}: expected an object.")
    return key, normalise(body)


def b64decode(data: Any) -> bytes:
    """Decode standard or URL-safe base64, padded or not; raises `WireError`."""
    if not isinstance(data, str):
        raise WireError("Invalid value at 'data': expected base64 text.")
    raw = data.encode("ascii", "replace").translate(_URLSAFE)
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        raise WireError("Invalid value at 'data': not base64.") from None


def rate_from_mime(mime_type: Any) -> int:
    """Sample rate of an `audio/pcm;rate=N` mime type (16 kHz when absent)."""
    if not isinstance(mime_type, str) or not mime_type.startswith("audio/pcm"):
        raise WireError(f"Unsupported mime type {mime_type!r} for realtime audio.")
    found = re.search(r"rate=(\d+)", mime_type)
    rate = int(found.group(1)) if found else 16000
    if not 8000 <= rate <= 48000:
        raise WireError(f"Unsupported sample rate {rate}.")
    return rate
