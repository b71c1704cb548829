"""Who may start and stop the bridge from the chat: group admins, or an allowlist."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pyrogram.enums import ChatMemberStatus
from pyrogram.errors.rpc_error import RPCError

__all__ = ["AccessPolicy"]

log = logging.getLogger(__name__)

_ADMIN_STATUSES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


class AccessPolicy:
    """Allows a user who is on `allow` (ids or @usernames) or, if `admins`, a chat admin."""

    def __init__(self, allow: Iterable[int | str] = (), *, admins: bool = True) -> None:
        self.admins = admins
        self.user_ids: set[int] = set()
        self.usernames: set[str] = set()
        for entry in allow:
            if isinstance(entry, int):
                self.user_ids.add(entry)
                continue
            text = str(entry).strip()
            if text.lstrip("-").isdigit():
                self.user_ids.add(int(text))
            elif text.lstrip("@"):
                self.usernames.add(text.lstrip("@").lower())
            else:
                raise ValueError(f"allowlist entry {entry!r} is neither a user id nor a username")

    def listed(self, user: Any) -> bool:
        """True if `user` (a pyrogram User, or None) is on the allowlist."""
        if user is None:
            return False
        username = (getattr(user, "username", None) or "").lower()
        return user.id in self.user_ids or (bool(username) and username in self.usernames)

    async def allows(self, client: Any, message: Any) -> bool:
        """Whether the sender of `message` may control the bridge in its chat."""
        user = getattr(message, "from_user", None)
        if self.listed(user):
            return True
        if not self.admins or user is None:
            return False
        try:
            member = await client.get_chat_member(message.chat.id, user.id)
        except RPCError as exc:
            log.warning("could not check admin rights: %s", exc)
            return False
        return getattr(member, "status", None) in _ADMIN_STATUSES
