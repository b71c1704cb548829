"""Telegram credentials from the environment or a session file, held as `Secret`s.

`TG_API_ID` and `TG_API_HASH` come from https://my.telegram.org; `TG_SESSION` is the
session string `gemini-tg-bridge login` creates (or `TG_SESSION_FILE`, a file holding
it). The engine's spellings `TELEGRAM_API_ID`, `TELEGRAM_API_HASH`, `TELEGRAM_SESSION`
work too. None of these values ever appears in a log line, repr or error message.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .._secret import Secret

__all__ = ["CredentialsError", "TelegramCredentials"]


class CredentialsError(ValueError):
    """A credential is missing or malformed; the message names it and where to get it."""


@dataclass(frozen=True, slots=True)
class TelegramCredentials:
    """What a user account needs to connect: the app's id and hash, and a session."""

    api_id: int
    api_hash: Secret
    session_string: Secret | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, need_session: bool = True
    ) -> TelegramCredentials:
        """Read the credentials; raises `CredentialsError` naming what is missing."""
        env = os.environ if env is None else env
        raw_id = _first(env, "TG_API_ID", "TELEGRAM_API_ID")
        raw_hash = _first(env, "TG_API_HASH", "TELEGRAM_API_HASH")
        missing = [
            name for name, value in (("TG_API_ID", raw_id), ("TG_API_HASH", raw_hash)) if not value
        ]
        if missing:
            raise CredentialsError(
                f"missing {' and '.join(missing)}: create an app at https://my.telegram.org "
                "and export its api_id and api_hash"
            )
        try:
            api_id = int(raw_id)
        except ValueError:
            raise CredentialsError(
                "TG_API_ID must be a number (the api_id from my.telegram.org)"
            ) from None
        session = _first(env, "TG_SESSION", "TELEGRAM_SESSION")
        session_file = env.get("TG_SESSION_FILE", "")
        if not session and session_file:
            try:
                session = Path(session_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CredentialsError(
                    f"TG_SESSION_FILE {session_file!r} cannot be read: {exc.strerror}"
                ) from None
        if need_session and not session:
            raise CredentialsError(
                "missing TG_SESSION (or TG_SESSION_FILE): run `gemini-tg-bridge login` first"
            )
        if session and not _is_session_string(session):
            raise CredentialsError(
                f"TG_SESSION (or TG_SESSION_FILE) is not a pyrogram session string "
                f"({len(session)} characters that do not decode to one): run "
                "`gemini-tg-bridge login` and use the string it saves"
            )
        return cls(api_id, Secret(raw_hash), Secret(session) if session else None)


# pyrogram's layouts: today's (">BI?256sQ?", 271 bytes), and two older ones it still reads
# by the string's length.
_SESSION_BYTES = 271
_OLD_SESSION_CHARS = (351, 356)


def _is_session_string(text: str) -> bool:
    if len(text) in _OLD_SESSION_CHARS:
        return True
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return False
    return len(raw) == _SESSION_BYTES


def _first(env: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return ""
