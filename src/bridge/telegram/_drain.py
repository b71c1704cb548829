"""Leaving every chat at a pause: what `run` does on SIGTERM.

`drain()` marks the runner as draining (/gemini is refused from then on), then in every
live chat at once: waits for a pause (`Session.at_pause`: no reply generated or playing,
no tool running, nobody talking, no question unanswered — what a goAway move waits for),
at most until `timeout_s` after the drain began; posts `goodbye` if there is one, through
the account's `AccountBudget` and never waiting on it longer than `_GOODBYE_S`; then
leaves the call, flushing the session and the transcript.
"""

from __future__ import annotations

import asyncio
import logging

from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait
from pyrogram.errors.rpc_error import RPCError

from ._chat import ChatBridge
from ._runner import TelegramRunner

__all__ = ["drain"]

log = logging.getLogger(__name__)

_PAUSE_POLL_S = 0.05
_GOODBYE_S = 5.0
"""Longest wait for the budget, and then for Telegram, to post a goodbye."""
_LEAVE_S = 1.0
"""How long a leave under way may still take once the drain is ended at once."""


async def drain(runner: TelegramRunner, timeout_s: float, goodbye: str = "") -> None:
    """Refuse /gemini, then leave every live chat at its next pause (at most `timeout_s`
    from now), saying `goodbye` first when it is not empty."""
    runner.draining = True
    deadline_s = asyncio.get_running_loop().time() + timeout_s
    live = [bridge for bridge in runner.bridges.values() if bridge.running]
    outcomes = await asyncio.gather(
        *(_leave_at_pause(runner, b, deadline_s, goodbye) for b in live), return_exceptions=True
    )
    for bridge, outcome in zip(live, outcomes, strict=True):
        if isinstance(outcome, Exception):  # the others still leave; the exit stays clean
            log.warning("leaving %s: %s: %s", bridge.chat, type(outcome).__name__, outcome)


async def _leave_at_pause(
    runner: TelegramRunner, bridge: ChatBridge, deadline_s: float, goodbye: str
) -> None:
    loop = asyncio.get_running_loop()
    while (session := bridge.session) is not None and session.running:
        if session.at_pause or loop.time() >= deadline_s:
            break
        await asyncio.sleep(_PAUSE_POLL_S)
    if goodbye and bridge.running:
        await _say_goodbye(runner, bridge.chat, goodbye)
    leaving = asyncio.ensure_future(bridge.stop())
    try:
        await asyncio.shield(leaving)
    except asyncio.CancelledError:
        # Ended at once (a second signal): a call half left stays in it, so finish.
        await asyncio.wait((leaving,), timeout=_LEAVE_S)
        raise


async def _say_goodbye(runner: TelegramRunner, chat: int | str, text: str) -> None:
    budget = runner.budget
    if not await budget.turn_within(chat, _GOODBYE_S):
        wait_s = budget.wait_s(chat)
        log.info(
            "no goodbye in %s: Telegram's limits allow the next message in %.0f s", chat, wait_s
        )
        return
    try:
        await asyncio.wait_for(
            runner.client.send_message(chat, text, parse_mode=ParseMode.DISABLED), _GOODBYE_S
        )
    except FloodWait as exc:
        budget.hold(float(exc.value or 1))
        log.info("no goodbye in %s: flood wait of %s s", chat, exc.value)
    except (RPCError, TimeoutError) as exc:
        log.warning("could not post the goodbye in %s: %s", chat, exc or "no answer")
