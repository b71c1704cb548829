"""The chats `run` is told to bridge, and the joins and leaves that make it so.

The set is the `--chat` flags (fixed for the process's life) plus the chats file's
current list. `update()` applies a new file list: chats no longer listed (and not a
flag) are left, chats never tried or whose last try failed are joined. Joins go one
at a time, each at least `join_interval_s` after the one before (Telegram's join flood
limit is per account: an `AccountBudget` of its own spaces them), and a `FloodWait` is
waited out before the same chat is tried again. A chat an admin stopped with /stop, or
whose call ended, stays as it is until it is listed anew. Joins are timed on the runner's
clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pyrogram.errors import FloodWait

from ..transports.tgcalls import GroupCallError
from ._budget import AccountBudget
from ._runner import TelegramRunner

__all__ = ["Chat", "ChatSet"]

Chat = int | str

Report = Callable[[Chat, str | None], None]
"""Told each join's outcome: None when the chat went live, else why not."""


class ChatSet:
    """The chats one account should be live in, and what became of each."""

    def __init__(
        self,
        runner: TelegramRunner,
        fixed: Sequence[Chat] = (),
        *,
        join_interval_s: float = 1.0,
        report: Report | None = None,
        on_left: Callable[[Chat], None] | None = None,
    ) -> None:
        self._runner = runner
        self.fixed = list(dict.fromkeys(fixed))
        self.listed: list[Chat] = []
        """The chats file's current list."""
        self.outcomes: dict[Chat, str | None] = {}
        """Each chat's last join: None when it went live, else why not."""
        self.join_attempts = 0
        self.join_failures = 0
        self.flood_waits = 0
        self._report = report or (lambda chat, problem: None)
        self._on_left = on_left or (lambda chat: None)
        self._sleep = runner.clock.sleep
        self._joins = AccountBudget(
            per_chat_interval_s=0.0,
            account_interval_s=join_interval_s,
            monotonic=runner.clock.monotonic,
            sleep=runner.clock.sleep,
        )
        self._one_at_a_time = asyncio.Lock()

    @property
    def desired(self) -> list[Chat]:
        """The flags' chats, then the file's, each once."""
        return list(dict.fromkeys([*self.fixed, *self.listed]))

    @property
    def pending(self) -> list[Chat]:
        """Desired chats not tried yet."""
        return [chat for chat in self.desired if chat not in self.outcomes]

    def flood_wait_s(self) -> float:
        """How much longer joins wait out a FloodWait (0: none)."""
        return self._joins.held_for_s()

    async def update(self, listed: Sequence[Chat] | None = None) -> None:
        """Take the chats file's new list (None: keep it), leave what is no longer
        desired, then join what is desired and not live (never tried, or failed)."""
        async with self._one_at_a_time:
            if listed is not None:
                old, self.listed = self.listed, list(dict.fromkeys(listed))
                for chat in old:
                    if chat not in self.desired:
                        await self._leave(chat)
            for chat in self.desired:
                if self.outcomes.get(chat, "") is not None:
                    self.outcomes[chat] = problem = await self._join(chat)
                    self._report(chat, problem)

    async def _leave(self, chat: Chat) -> None:
        self.outcomes.pop(chat, None)
        if await self._runner.stop_chat(chat):
            self._on_left(chat)

    async def _join(self, chat: Chat) -> str | None:
        while True:
            await self._sleep(self._joins.wait_s(chat))
            self._joins.spend(chat)
            self.join_attempts += 1
            try:
                await self._runner.go_live(chat)
            except FloodWait as exc:
                self.flood_waits += 1
                self._joins.hold(float(exc.value or 1))
                continue
            except GroupCallError as exc:
                problem = str(exc)
            except Exception as exc:
                problem = f"{chat}: {type(exc).__name__}: {exc}"
            else:
                return None
            self.join_failures += 1
            return problem
