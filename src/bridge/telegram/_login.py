"""Create a Telegram session string (pyrogram's interactive auth) and keep it private.

The session string is a full login to the account: it is written only to a file created
with mode 0600 (refusing to overwrite one that exists), or printed once for the user to
put in `TG_SESSION`. It is held in a `Secret` everywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._secret import Secret
from ._credentials import TelegramCredentials

__all__ = ["create_session_string", "save_session_string"]


async def create_session_string(credentials: TelegramCredentials) -> Secret:
    """Log in interactively (phone number, code, 2FA password on the terminal)."""
    from pyrogram import Client

    client = Client(
        "gemini-tg-bridge-login",
        api_id=credentials.api_id,
        api_hash=credentials.api_hash.reveal(),
        in_memory=True,
        no_updates=True,
    )
    async with client:
        return Secret(await client.export_session_string())


def save_session_string(session: Secret, path: Path) -> None:
    """Write the session to a new file readable only by its owner (mode 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; remove it or choose another file") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, session.reveal().encode("utf-8") + b"\n")
    finally:
        os.close(fd)
