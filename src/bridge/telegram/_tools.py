"""Tools the model gets in a Telegram chat: who is in the call, and posting in the group.

`list_participants` (BLOCKING: quick, and the answer is the reply) names who is in the
voice chat, from py-tgcalls' participant list mapped to pyrogram users. Anyone in the call
may have it used: it tells what every participant already sees in Telegram's call window.

`post_message` (NON_BLOCKING, SILENT: the model says it is posting and goes on; a
failure is still spoken, see `Tool.response_scheduling`) posts as the account, for the
whole group to read. The bridge hears one mixed stream and cannot tell who asked, so
the rule covers everyone who could have: every participant with an open microphone must
be allowed by the chat's `AccessPolicy` (allowlisted, or an admin); a muted participant
cannot have asked. Posts are plain text (no Markdown or HTML), start with "🤖 " (never
a /command, and plainly the model's), have every "@" broken by a word joiner (nobody is
notified by a mention the model wrote), are at most `tools.post_max_chars` long, go out at
most once per `tools.post_interval_s` per chat, and queue behind the account's
`AccountBudget` like every other message (a refusal names the wait).

`ChatTools.on_event` turns the session's `ToolActivity` into chat notices: a call the
model waits on that is slow (`tools.slow_notice_s`) gets "⏳ …", and with
`tools.post_results` each result is posted. A notice that cannot go out within
`NOTICE_WAIT_S` is dropped: a late one would only confuse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from pyrogram import Client
from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait, SlowmodeWait
from pyrogram.errors.rpc_error import RPCError
from pyrogram.types import User

from .._pacing import Monotonic, Sleep
from .._tools_settings import ToolsConfig
from ..engine.events import Event, ToolActivity
from ..tools import ToolRegistry
from ..transports.tgcalls import GroupCallTransport, VoiceCalls
from ._access import AccessPolicy
from ._budget import NOTICE_WAIT_S, AccountBudget

__all__ = ["ChatTools", "display_name", "neutralise_mentions"]

log = logging.getLogger(__name__)

MAX_LISTED = 50
"""Participants named by `list_participants`; the rest are counted."""
BUDGET_WAIT_S = 5.0
"""A post waits this long at most for the account's budget, then is refused."""
"""A notice waits this long at most, then is dropped."""
MAX_CHECKED = 20
"""Open microphones checked for a post at most (one admin lookup each); more: refused."""
_LABEL = "🤖 "
_WORD_JOINER = "\u2060"


class _Posted(Protocol):
    @property
    def id(self) -> int: ...


def display_name(user: User) -> str:
    """How a person is named to the model: first and last name, else @username, else id."""
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return name or (f"@{user.username}" if user.username else f"user {user.id}")


def neutralise_mentions(text: str) -> str:
    """`text` with every "@" followed by a word joiner: it reads the same, notifies nobody."""
    return text.replace("@", "@" + _WORD_JOINER)


class ChatTools:
    """The Telegram tools and notices of one bridged chat."""

    def __init__(
        self,
        client: Client,
        calls: VoiceCalls,
        transport: GroupCallTransport,
        config: ToolsConfig,
        *,
        access: AccessPolicy | None = None,
        budget: AccountBudget | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._calls = calls
        self._transport = transport
        self._config = config
        self._access = access if access is not None else AccessPolicy()
        self._budget = (
            budget if budget is not None else AccountBudget(monotonic=monotonic, sleep=sleep)
        )
        self._monotonic = monotonic
        self._sleep = sleep
        self._last_post_s = -float("inf")
        self._notices: set[asyncio.Task[None]] = set()
        self.posts = 0

    @property
    def chat(self) -> int | str:
        """The chat as the bridge was given it (the account budget's key)."""
        return self._transport.chat

    def register(self, tools: ToolRegistry) -> None:
        """Add `list_participants` and `post_message` to `tools`."""
        tools.register(
            "list_participants",
            self.list_participants,
            description="List who is in this Telegram voice chat, and whose microphone is on.",
            timeout_s=10.0,
            behavior="BLOCKING",
        )
        limit = self._config.post_max_chars
        tools.register(
            "post_message",
            self.post_message,
            description=(
                "Post a short text message (a note, a summary, a link) in the group's chat, "
                f"at most {limit} characters, plain text. Only when someone asks for it."
            ),
            parameters={
                "type": "object",
                "properties": {"text": {"type": "string", "description": "what to post"}},
                "required": ["text"],
            },
            timeout_s=BUDGET_WAIT_S + 15.0,
            behavior="NON_BLOCKING",
            scheduling="SILENT",
        )

    # -- the tools ------------------------------------------------------------------------

    async def list_participants(self) -> dict[str, Any]:
        """Who is in the call (the account itself left out), microphones on first."""
        people = await self._people()
        listed = [
            {"name": name, "microphone": "off" if muted else "on"}
            for name, _, muted in sorted(people, key=lambda p: (p[2], p[0].lower()))
        ]
        result: dict[str, Any] = {"count": len(listed), "participants": listed[:MAX_LISTED]}
        if len(listed) > MAX_LISTED:
            result["not_listed"] = len(listed) - MAX_LISTED
        return result

    async def post_message(self, text: str) -> dict[str, Any]:
        """Post `text` in the group, if everyone with an open microphone may have it done."""
        body = text.strip()
        limit = self._config.post_max_chars
        if not body:
            raise ValueError("text is empty")
        if len(body) > limit:
            raise ValueError(f"text has {len(body)} characters; the limit is {limit}")
        refusal = await self._refusal()
        if refusal:
            raise PermissionError(refusal)
        wait_s = self._last_post_s + self._config.post_interval_s - self._monotonic()
        if wait_s > 0:
            raise PermissionError(
                f"one post per {self._config.post_interval_s:g} s in this chat; "
                f"try again in {wait_s:.0f} s"
            )
        message = await self._send(_LABEL + neutralise_mentions(body), BUDGET_WAIT_S)
        self._last_post_s = self._monotonic()
        self.posts += 1
        return {"posted": True, "message_id": message.id if message is not None else None}

    # -- notices --------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """A session listener: notices for slow calls and, if configured, results."""
        if not isinstance(event, ToolActivity):
            return
        if event.status == "slow":
            text = f"⏳ {event.name} is taking a while…"
        elif event.status == "finished" and self._config.post_results:
            text = f"🔧 {event.name}: {event.detail}"
        else:
            return
        task = asyncio.get_running_loop().create_task(self._notice(neutralise_mentions(text)))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def close(self) -> None:
        """Drop the notices not posted yet."""
        for task in list(self._notices):
            task.cancel()
        await asyncio.gather(*self._notices, return_exceptions=True)

    async def _notice(self, text: str) -> None:
        try:
            await self._send(text, NOTICE_WAIT_S)
        except RuntimeError as exc:
            log.warning("tool notice not posted in %s: %s", self.chat, exc)

    # -- Telegram -------------------------------------------------------------------------

    async def _people(self) -> list[tuple[str, User | None, bool]]:
        """(name, user or None for a channel, muted) of everyone in the call but the account."""
        chat_id = self._transport.chat_id
        if chat_id is None or not self._transport.joined:
            raise RuntimeError("the bridge is not in the voice chat")
        participants = await self._calls.get_participants(chat_id) or []
        me = getattr(getattr(self._client, "me", None), "id", None)
        others = [p for p in participants if p.user_id != me]
        user_ids = sorted({p.user_id for p in others if p.user_id > 0})
        users: dict[int, User] = {}
        if user_ids:
            found = await self._client.get_users(user_ids)
            found_list: Sequence[User | None] = found if isinstance(found, list) else [found]
            users = {user.id: user for user in found_list if user is not None}
        people: list[tuple[str, User | None, bool]] = []
        for p in others:
            user = users.get(p.user_id)
            if user is not None:
                name = display_name(user)
            else:
                name = "this group" if p.user_id == chat_id else f"a channel ({p.user_id})"
            people.append((name, user, bool(p.muted)))
        return people

    async def _refusal(self) -> str:
        """Why `post_message` may not run now ("" if it may)."""
        chat_id = self._transport.chat_id
        people = [(name, user) for name, user, muted in await self._people() if not muted]
        if not people:
            return "nobody in the call has a microphone on, so nobody can have asked"
        if len(people) > MAX_CHECKED:
            return f"{len(people)} microphones are on; posting is checked for {MAX_CHECKED} at most"
        barred = []
        for name, user in people:
            # The group itself is an anonymous admin; a channel cannot be checked.
            if user is None:
                allowed = name == "this group" and self._access.admins
            else:
                allowed = await self._access.allows_user(self._client, chat_id, user)
            if not allowed:
                barred.append(name)
        if not barred:
            return ""
        return (
            f"not allowed while {', '.join(barred[:5])} "
            f"{'has' if len(barred) == 1 else 'have'} a microphone on: only admins or "
            "allowlisted people may have the assistant post, and anyone speaking could have asked"
        )

    async def _send(self, text: str, max_wait_s: float) -> _Posted | None:
        """Send within the account's budget; `RuntimeError` saying why if it cannot."""
        wait_s = self._budget.ready_at(self.chat) - self._monotonic()
        if wait_s > max_wait_s:
            raise RuntimeError(f"Telegram rate limit: try again in {wait_s:.0f} s")
        if wait_s > 0:
            await self._sleep(wait_s)
        self._budget.spend(self.chat)
        try:
            message: _Posted | None = await self._client.send_message(
                self.chat, text, parse_mode=ParseMode.DISABLED
            )
        except (FloodWait, SlowmodeWait) as exc:
            flood_s = float(exc.value or 1)
            self._budget.hold(flood_s)
            raise RuntimeError(f"Telegram asked to wait {flood_s:.0f} s before posting") from None
        except RPCError as exc:
            raise RuntimeError(f"Telegram refused the post: {exc.ID or exc}") from None
        return message
