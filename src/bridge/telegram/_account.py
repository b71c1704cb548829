"""Opening one Telegram account: its MTProto client and the PyTgCalls instance on it."""

from __future__ import annotations

from pyrogram import Client

from ..transports.tgcalls import VoiceCalls
from ._credentials import TelegramCredentials

__all__ = ["open_account"]


def open_account(credentials: TelegramCredentials) -> tuple[Client, VoiceCalls]:
    """The account's MTProto client and the PyTgCalls instance on it (not yet started)."""
    from pytgcalls import PyTgCalls
    from pytgcalls.pytgcalls_session import PyTgCallsSession

    # PyTgCalls.start prints a banner to stdout and asks GitHub for its latest version
    # (two 5 s timeouts offline) unless it believes it already did: a service does neither.
    PyTgCallsSession.notice_displayed = True
    session = credentials.session_string
    client = Client(
        "gemini-tg-bridge",
        api_id=credentials.api_id,
        api_hash=credentials.api_hash.reveal(),
        session_string=session.reveal() if session is not None else None,
        in_memory=True,
    )
    calls: VoiceCalls = PyTgCalls(client)
    return client, calls
