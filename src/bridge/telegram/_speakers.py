"""Names for the speakers of a voice chat: ssrc → participant → display name.

The engine names speakers by ssrc. Which participant an ssrc is comes from the
transport's `speakers` (filled from the participant list on joining and kept current by
py-tgcalls' participant updates: an ssrc that left is removed, a reused one maps to its
new owner), read when a transcript arrives, never cached here, so a mapping is never
stale. Display names (`_tools.display_name`, as `list_participants` names people to the
model) are looked up once per user id (`get_users`, or `get_chat` for a channel speaking
in the call), by the transcript writer before it renders, never on the event path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pyrogram.errors.rpc_error import RPCError

from ._tools import display_name

__all__ = ["SpeakerNames", "UsersApi"]

log = logging.getLogger(__name__)


class UsersApi(Protocol):
    """The lookups `SpeakerNames` needs (a `pyrogram.Client` has both)."""

    async def get_users(self, user_ids: Sequence[int]) -> Any: ...
    async def get_chat(self, chat_id: int) -> Any: ...


class SpeakerNames:
    """Who an ssrc is now (`users`), and the names of users (`resolve`, then `label`).

    `participants` returns the transport's current ssrc → user id mapping.
    """

    def __init__(self, api: UsersApi, participants: Callable[[], Mapping[int, int]]) -> None:
        self._api = api
        self._participants = participants
        self._names: dict[int, str] = {}

    def users(self, ssrcs: Iterable[int]) -> tuple[int, ...]:
        """The participants speaking on `ssrcs` now; an ssrc nobody holds is left out."""
        current = self._participants()
        return tuple(user for ssrc in ssrcs if (user := current.get(ssrc)) is not None)

    async def resolve(self, user_ids: Iterable[int]) -> None:
        """Look up the names not known yet (one call for the users; a lookup that fails
        is logged and leaves a neutral name, not retried for ever)."""
        missing = sorted({u for u in user_ids if u not in self._names})
        users = [u for u in missing if u > 0]
        if users:
            try:
                found = await self._api.get_users(users)
                for user in found if isinstance(found, list) else [found]:
                    if user is not None:
                        self._names[user.id] = display_name(user)
            except RPCError as exc:
                log.warning("could not look up %d participant name(s): %s", len(users), exc)
        for chat_id in (u for u in missing if u < 0):
            try:
                title = (await self._api.get_chat(chat_id)).title
                self._names[chat_id] = title or f"a channel ({chat_id})"
            except RPCError as exc:
                log.warning("could not look up a channel speaking in the call: %s", exc)
        for user_id in missing:
            self._names.setdefault(user_id, f"user {user_id}")

    def label(self, user_ids: Iterable[int]) -> str:
        """ "Alice" or "Alice, Bob" (after `resolve`); empty for no one."""
        return ", ".join(self._names.get(u, f"user {u}") for u in user_ids)
