"""What can go wrong with the account's connection to Telegram, and how to say it.

`SESSION_ERRORS` are Telegram's answers once a session cannot be used any more (revoked,
expired, duplicated by a second process, the account deactivated or banned); none of
them passes by waiting, so the CLI exits with code 3 on them.
"""

from __future__ import annotations

from pyrogram.errors import (
    AuthKeyDuplicated,
    AuthKeyUnregistered,
    SessionExpired,
    SessionRevoked,
    UserDeactivated,
    UserDeactivatedBan,
)

__all__ = ["SESSION_ERRORS", "SessionRevokedError", "TelegramConnectError", "session_problem"]


class TelegramConnectError(RuntimeError):
    """The account could not connect to Telegram; the message says why."""


class SessionRevokedError(TelegramConnectError):
    """The session string no longer logs in (revoked, expired or the account is gone)."""


SESSION_ERRORS = (
    AuthKeyUnregistered,
    AuthKeyDuplicated,
    SessionExpired,
    SessionRevoked,
    UserDeactivated,
    UserDeactivatedBan,
)


def session_problem(exc: BaseException) -> str:
    """One line for the user: what happened to the session, and what to do."""
    if isinstance(exc, AuthKeyDuplicated):
        why = "was used by two processes at once, so Telegram revoked it"
    elif isinstance(exc, UserDeactivatedBan | UserDeactivated):
        why = "belongs to an account that is deactivated or banned"
    else:
        why = "is no longer valid (revoked, expired or logged out)"
    return f"the Telegram session {why}; run `gemini-tg-bridge login`"
