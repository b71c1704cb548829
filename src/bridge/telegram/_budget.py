"""One Telegram account's allowance of chat messages and edits, shared by all its chats.

Telegram rate-limits per account as well as per group (about 20 messages a minute in a
group), and answers an account that goes over with FloodWaits that grow. Every
`TranscriptPoster` of an account asks the same `AccountBudget` before each call: a chat
gets at most one call per `per_chat_interval_s`, the account at most one per
`account_interval_s` over all chats (so with many chats each one edits less often), and a
FloodWait seen by any chat holds every chat back for the time Telegram asked.
`monotonic` and `sleep` go together: the runner passes its playout clock's, so every
wait of an account is on one time base (a virtual one in tests).
"""

from __future__ import annotations

import asyncio
import time

from .._pacing import Monotonic, Sleep

__all__ = ["AccountBudget"]


NOTICE_WAIT_S = 10.0
"""Longest wait for a notice (a slow tool, Gemini unreachable, the call left): later,
it would only confuse."""


class AccountBudget:
    """When the next chat message or edit may go out; one instance per account."""

    def __init__(
        self,
        *,
        per_chat_interval_s: float = 3.0,
        account_interval_s: float = 0.25,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_chat_interval_s < 0 or account_interval_s < 0:
            raise ValueError(
                "intervals must not be negative, got "
                f"per_chat_interval_s={per_chat_interval_s}, "
                f"account_interval_s={account_interval_s}"
            )
        self.per_chat_interval_s = per_chat_interval_s
        self.account_interval_s = account_interval_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._chat_last_s: dict[int | str, float] = {}
        self._account_last_s = -float("inf")
        self._held_until_s = -float("inf")

    def ready_at(self, chat: int | str) -> float:
        """The earliest time (on `monotonic`) a call for `chat` may be made."""
        chat_last_s = self._chat_last_s.get(chat, -float("inf"))
        return max(
            chat_last_s + self.per_chat_interval_s,
            self._account_last_s + self.account_interval_s,
            self._held_until_s,
        )

    def wait_s(self, chat: int | str) -> float:
        """How long from now until a call for `chat` may be made (0: at once)."""
        return max(0.0, self.ready_at(chat) - self._monotonic())

    def held_for_s(self) -> float:
        """How much longer a flood wait holds every chat back (0: none)."""
        return max(0.0, self._held_until_s - self._monotonic())

    async def turn(self, chat: int | str) -> None:
        """Wait until a call for `chat` may be made, and record it as made."""
        while (wait_s := self.wait_s(chat)) > 0:
            await self._sleep(wait_s)
        self.spend(chat)

    async def turn_within(self, chat: int | str, limit_s: float) -> bool:
        """`turn`, for a message worth sending only soon: False (nothing spent) when the
        wait would be longer than `limit_s`."""
        wait_s = self.wait_s(chat)
        if wait_s > limit_s:
            return False
        await self._sleep(wait_s)
        self.spend(chat)
        return True

    def spend(self, chat: int | str) -> None:
        """Record a call for `chat` made now."""
        now_s = self._monotonic()
        self._chat_last_s[chat] = now_s
        self._account_last_s = now_s

    def hold(self, wait_s: float) -> None:
        """Telegram asked the account to wait `wait_s`: no chat calls before then."""
        self._held_until_s = max(self._held_until_s, self._monotonic() + wait_s)
