"""Keeps credentials out of logs and error messages.

At DEBUG level websockets logs every handshake header (`> x-goog-api-key: ...`) and the
request path with its query. Both our client and the emulator hand websockets a logger
carrying `RedactCredentials`, so running with `-vv` never prints a key or token.
`redact_url` masks query credentials and userinfo (`ws://user:KEY@host`); `redact_text`
masks known secret values wherever they appear in text we echo (a response body from a
server or proxy that reflects request headers) and caps its length.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
SENSITIVE_HEADERS = frozenset({"x-goog-api-key", "authorization", "cookie", "set-cookie"})
_QUERY_SECRET = re.compile(r"\b((?:key|access_token)=)[^&\s]+", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/?#\s@]*@", re.IGNORECASE)
_HEADER_SECRET = re.compile(
    r"((?:x-goog-api-key|authorization|cookie|set-cookie)\s*[:=]\s*)[^\r\n,;\"']+",
    re.IGNORECASE,
)
# What Google keys and tokens look like, for values that reach us outside a Secret.
_SECRET_LOOKING = re.compile(r"AIza[0-9A-Za-z_-]{20,}|auth_tokens/\S+|\bya29\.\S+")
_OPAQUE = re.compile(r"(?=(?:[A-Za-z+/=_-]*[0-9]){4})[A-Za-z0-9+/=_-]{20,}")
MAX_ECHOED_CHARS = 300
"""Bodies and exception texts are cut here: an error line is not a place for a page."""


class RedactCredentials(logging.Filter):
    """Masks credential header values and `key=` / `access_token=` query values."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or not args:
            return True
        name = args[0]
        if len(args) == 2 and isinstance(name, str) and name.lower() in SENSITIVE_HEADERS:
            record.args = (name, MASK)
        else:
            record.args = tuple(
                _QUERY_SECRET.sub(rf"\g<1>{MASK}", arg) if isinstance(arg, str) else arg
                for arg in args
            )
        return True


def redact_url(url: str) -> str:
    """`url` with userinfo and `key=` / `access_token=` query values masked."""
    return _QUERY_SECRET.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>{MASK}@", url))


def looks_secret(text: str) -> bool:
    """Whether `text` holds something shaped like a credential: a Google API key or token,
    or a run of 20+ base64/hex characters with 4+ digits (a hash, a session string)."""
    if _SECRET_LOOKING.search(text):
        return True
    return _OPAQUE.search(text) is not None


def redact_text(
    text: str, secrets: Iterable[str | None] = (), *, max_chars: int = MAX_ECHOED_CHARS
) -> str:
    """`text` safe to echo: each of `secrets` (and key-shaped strings, credential headers,
    URL credentials) masked wherever it appears, then cut to `max_chars`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _HEADER_SECRET.sub(rf"\g<1>{MASK}", redact_url(text))
    text = _SECRET_LOOKING.sub(MASK, text)
    if len(text) > max_chars:
        text = f"{text[:max_chars]}... ({len(text)} characters)"
    return text


def redacting_logger(name: str) -> logging.Logger:
    """The logger `name`, with `RedactCredentials` attached once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
    return logger
