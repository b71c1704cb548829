"""Whether a group may have live captions: not when it is in slow mode.

Live captions edit a turn's message every few seconds while people speak. A group in
slow mode (`Chat.slow_mode_delay`, seconds between a member's messages) has asked its
members to post less; the bridge follows that and keeps to the transcript, one message
per turn written as it is transcribed. A group that cannot be read is treated the same.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pyrogram.errors.rpc_error import RPCError

__all__ = ["captions_allowed"]

log = logging.getLogger(__name__)


class ChatsApi(Protocol):
    """The lookup `captions_allowed` needs (a `pyrogram.Client` has it)."""

    async def get_chat(self, chat_id: int | str) -> Any: ...


async def captions_allowed(api: ChatsApi, chat: int | str) -> bool:
    """True unless `chat` is in slow mode (or its settings cannot be read); logs why not."""
    try:
        info = await api.get_chat(chat)
    except RPCError as exc:
        log.warning("live captions off in %s: cannot read the group's settings (%s)", chat, exc)
        return False
    delay_s = getattr(info, "slow_mode_delay", None) or 0
    if delay_s:
        log.warning(
            "live captions off in %s: the group is in slow mode (%d s between messages); "
            "transcripts are still posted, one message per turn",
            chat, delay_s,
        )  # fmt: skip
        return False
    return True
