"""Base64 for audio payloads: SIMD pybase64 when installed, the standard library otherwise.

Audio is most of every Live message, so this is where the protocol's CPU goes; pybase64
decodes about 20x faster than `binascii`.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["b64decode", "b64decode_buffer", "b64encode"]

_URLSAFE = str.maketrans("-_", "+/")

_fast: ModuleType | None
try:
    import pybase64 as _fast
except ImportError:  # pragma: no cover - exercised only without the optional speed-up
    _fast = None


def _pad(data: str) -> str:
    return data + "=" * (-len(data) & 3) if len(data) & 3 else data


if _fast is not None:
    _decode: Callable[..., bytes] = _fast.b64decode
    b64encode: Callable[[Any], bytes] = _fast.b64encode

    def b64decode(data: str) -> bytes:
        """Decode standard or URL-safe base64, padded or not; raises `ValueError`."""
        if "-" in data or "_" in data:
            return _decode(_pad(data), altchars=b"-_", validate=True)
        return _decode(_pad(data), validate=True)

    def b64decode_buffer(data: bytes, urlsafe: bool) -> bytes:
        """Decode base64 held in ASCII bytes; raises `ValueError`."""
        if len(data) & 3:
            data += b"=" * (-len(data) & 3)
        if urlsafe:
            return _decode(data, altchars=b"-_", validate=True)
        return _decode(data, validate=True)

else:

    def b64encode(data: Any) -> bytes:
        """Standard base64 of any bytes-like object, without a newline."""
        return binascii.b2a_base64(data, newline=False)

    def b64decode(data: str) -> bytes:
        """Decode standard or URL-safe base64, padded or not; raises `ValueError`."""
        if "-" in data or "_" in data:
            data = data.translate(_URLSAFE)
        return binascii.a2b_base64(_pad(data), strict_mode=True)

    def b64decode_buffer(data: bytes, urlsafe: bool) -> bytes:
        """Decode base64 held in ASCII bytes; raises `ValueError`."""
        return b64decode(data.decode("ascii"))
