"""What `run`'s /metrics, /livez and /readyz report about one account.

- alive: the event loop answers (it is answering), the session has not been revoked, and
  Telegram answered within `stale_s` (the runner checks the session once a minute);
- ready: connected, every desired chat tried at least once, not draining;
- metrics: the account's gauges and counters, then every live chat's session metrics,
  labelled `chat="<chat>"` (whatever counters a session has, token usage included).
"""

from __future__ import annotations

import asyncio

from ..engine import Session
from ..ops import gauges_text, metrics_document, session_snapshots
from ._chatset import ChatSet
from ._runner import TelegramRunner

__all__ = ["RunHealth"]

STALE_S = 180.0
"""Telegram silent this long (three missed session checks): not alive."""


class RunHealth:
    """The `Health` of one account's `run` (see `bridge.ops.serving`)."""

    def __init__(self, runner: TelegramRunner, chats: ChatSet, *, stale_s: float = STALE_S):
        self._runner = runner
        self._chats = chats
        self.stale_s = stale_s
        self.chats_file_errors = 0

    def _silent_s(self) -> float | None:
        seen_s = self._runner.telegram_seen_s
        return None if seen_s is None else asyncio.get_running_loop().time() - seen_s

    async def metrics(self) -> str:
        """The account's gauges and counters, then each live chat's series."""
        runner, chats = self._runner, self._chats
        sessions: dict[str, Session] = {
            str(chat): bridge.session
            for chat, bridge in runner.bridges.items()
            if bridge.session is not None
        }
        snapshots = await session_snapshots(sessions)
        silent_s = self._silent_s()
        connected = silent_s is not None and silent_s < self.stale_s
        gauges = {
            "chats_desired": len(chats.desired),
            "chats_live": len(snapshots),
            "telegram_connected": float(connected and not runner.session_lost.is_set()),
            "telegram_flood_wait_seconds": max(runner.budget.held_for_s(), chats.flood_wait_s()),
            "draining": float(runner.draining),
        }
        counters = {
            "chat_join_attempts": chats.join_attempts,
            "chat_join_failures": chats.join_failures,
            "chat_join_flood_waits": chats.flood_waits,
            "chats_file_errors": self.chats_file_errors,
        }
        return metrics_document(snapshots, gauges_text(gauges, counters))

    def not_alive(self) -> str | None:
        """The session is gone, or Telegram has been silent too long."""
        runner = self._runner
        if runner.session_lost.is_set():
            return runner.session_problem
        silent_s = self._silent_s()
        if silent_s is not None and silent_s >= self.stale_s:
            return f"no answer from Telegram for {silent_s:.0f} s"
        return None

    def not_ready(self) -> str | None:
        """Draining, still connecting, or a desired chat not tried yet."""
        if self._runner.draining:
            return "draining: leaving the voice chats"
        if self._runner.telegram_seen_s is None:
            return "connecting to Telegram"
        pending = self._chats.pending
        if pending:
            total = len(self._chats.desired)
            return f"joining: {len(pending)} of {total} chats not tried yet (next: {pending[0]})"
        return None
