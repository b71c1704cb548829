"""Who may use the bridge: start and stop it from a group (admins or an allowlist), and
get a reply to a voice note (the same rule in groups; in private chats the allowlist,
also the account's contacts, or anyone, as `voice_notes` says). Every answered voice note
spends the owner's Gemini quota, so the default is the allowlist only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from pyrogram import Client
from pyrogram.enums import ChatMemberStatus
from pyrogram.errors.rpc_error import RPCError
from pyrogram.types import Message, User

__all__ = ["AccessPolicy", "VoiceNoteRule", "chat_id_of"]

VoiceNoteRule = Literal["allowlist", "contacts", "anyone"]

log = logging.getLogger(__name__)

_ADMIN_STATUSES = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


def chat_id_of(message: Message) -> int | None:
    """The id of the chat `message` is in (pyrogram types every field as optional)."""
    return message.chat.id if message.chat is not None else None


class AccessPolicy:
    """Allows a user who is on `allow` (ids or @usernames) or, if `admins`, a chat admin.

    `voice_notes` widens who gets a reply to a private voice note: "contacts" adds the
    account's contacts, "anyone" everybody.
    """

    def __init__(
        self,
        allow: Iterable[int | str] = (),
        *,
        admins: bool = True,
        voice_notes: VoiceNoteRule = "allowlist",
    ) -> None:
        if voice_notes not in ("allowlist", "contacts", "anyone"):
            raise ValueError(
                f"voice_notes must be 'allowlist', 'contacts' or 'anyone', got {voice_notes!r}"
            )
        self.admins = admins
        self.voice_notes = voice_notes
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
        chat_id = chat_id_of(message)
        if user is None:
            if not self.admins or chat_id is None:
                return False
            # An anonymous admin posts as the group itself; nobody else can.
            sender = message.sender_chat
            return sender is not None and sender.id == chat_id
        return await self.allows_user(client, chat_id, user)

    async def allows_user(self, client: Client, chat_id: int | None, user: User) -> bool:
        """Whether `user` may control the bridge in `chat_id` (allowlisted, or an admin)."""
        if self.listed(user):
            return True
        if not self.admins or chat_id is None:
            return False
        try:
            member = await client.get_chat_member(chat_id, user.id)
        except RPCError as exc:
            log.warning("could not check admin rights: %s", exc)
            return False
        return member.status in _ADMIN_STATUSES

    async def allows_voice_note(self, client: Client, message: Message) -> bool:
        """Whether the sender of the voice note `message` gets a reply."""
        chat_id = chat_id_of(message)
        if chat_id is not None and chat_id < 0:
            return await self.allows(client, message)  # in a group: the command rule
        user = message.from_user
        if self.voice_notes == "anyone" or self.listed(user):
            return True
        return self.voice_notes == "contacts" and user is not None and bool(user.is_contact)
