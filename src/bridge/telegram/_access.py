"""Who may start and stop the bridge from the chat: group admins, or an allowlist."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pyrogram import Client
from pyrogram.enums import ChatMemberStatus
from pyrogram.errors.rpc_error import RPCError
from pyrogram.types import Message, User

__all__ = ["AccessPolicy", "chat_id_of"]

log = logging.getLogger(__name__)

_ADMIN_STATUSES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


def chat_id_of(message: Message) -> int | None:
    """The id of the chat `message` is in (pyrogram types every field as optional)."""
    return message.chat.id if message.chat is not None else None


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

    def listed(self, user: User | None) -> bool:
        """True if `user` is on the allowlist."""
        if user is None:
            return False
        username = (user.username or "").lower()
        return user.id in self.user_ids or (bool(username) and username in self.usernames)

    async def allows(self, client: Client, message: Message) -> bool:
        """Whether the sender of `message` may control the bridge in its chat."""
        user = message.from_user
        if self.listed(user):
            return True
        chat_id = chat_id_of(message)
        if not self.admins or user is None or chat_id is None:
            return False
        try:
            member = await client.get_chat_member(chat_id, user.id)
        except RPCError as exc:
            log.warning("could not check admin rights: %s", exc)
            return False
        return member.status in _ADMIN_STATUSES
