"""Keeps credentials out of websockets' handshake logs.

At DEBUG level websockets logs every handshake header (`> x-goog-api-key: ...`) and the
request path with its query. Both our client and the emulator hand websockets a logger
carrying `RedactCredentials`, so running with `-vv` never prints a key or token.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
SENSITIVE_HEADERS = frozenset({"x-goog-api-key", "authorization", "cookie", "set-cookie"})
_QUERY_SECRET = re.compile(r"\b((?:key|access_token)=)[^&\s]+", re.IGNORECASE)


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
    """`url` with any `key=` / `access_token=` query values masked, for error messages."""
    return _QUERY_SECRET.sub(rf"\g<1>{MASK}", url)


def redacting_logger(name: str) -> logging.Logger:
    """The logger `name`, with `RedactCredentials` attached once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
    return logger
