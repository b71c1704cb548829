"""The chat's interpreter mode: `/gemini translate <language>` and `/gemini translate off`.

Switching modes is a new Live session (another model, another setup) in the same call:
`switch_session` stops the running session without leaving the call (its uplink audio
still held is sent first, then its socket is closed), then starts the new one, which
takes over the call's frames once its setup is accepted. What the participants say
between the two is not sent anywhere: the new session's connect time (one setup round
trip, a few hundred ms on the real service). The reply playing at the switch is cut.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait, SlowmodeWait
from pyrogram.errors.rpc_error import RPCError
from pyrogram.types import Message

from ..config import BridgeConfig
from ..engine import live_config
from ..protocol import language_problem
from ._access import chat_id_of
from ._budget import AccountBudget
from ._chat import ChatBridge

__all__ = ["mode_command", "switch_session"]

log = logging.getLogger(__name__)

_NOT_LIVE = "Gemini is not live here: send /gemini first."
USAGE = "Usage: /gemini translate <language code, e.g. fr, es, pt-BR>, or /gemini translate off"


_switching: weakref.WeakKeyDictionary[ChatBridge, asyncio.Lock] = weakref.WeakKeyDictionary()


async def switch_session(bridge: ChatBridge, config: BridgeConfig) -> bool:
    """Replace `bridge`'s session with one on `config`, staying in the call; False (and
    nothing changed) if it is not live.

    Raises `ConfigError` (nothing changed) for a bad `config`; if the new session cannot
    start, the call is left too (no bot sitting silent in it) and the error raised.
    Switches of one chat run one after the other: the last one asked wins.
    """
    live_config(config).validate()
    async with _switching.setdefault(bridge, asyncio.Lock()):
        if not bridge.running:
            return False
        bridge.config = config
        await bridge.stop(leave=False)
        try:
            await bridge.start()
        except BaseException:
            await bridge.transport.stop()
            raise
        return True


async def mode_command(bridge: ChatBridge | None, message: Message, budget: AccountBudget) -> bool:
    """Answer `/gemini translate <language>|off` in `bridge`'s chat (access already
    checked); False for any other command."""
    words = message.command or []
    chat = chat_id_of(message)
    if [word.lower() for word in words[:2]] != ["gemini", "translate"] or chat is None:
        return False
    await _translate(bridge, chat, message, words[2:], budget)
    return True


async def _translate(
    bridge: ChatBridge | None, chat: int, message: Message, args: list[str], budget: AccountBudget
) -> None:
    if not args:
        await budgeted_reply(budget, chat, message, USAGE)
        return
    language = args[0]
    off = language.lower() == "off"
    problem = None if off else language_problem(language)
    if problem:
        await budgeted_reply(budget, chat, message, f"Cannot translate: {problem}.\n{USAGE}")
        return
    if bridge is None:
        await budgeted_reply(budget, chat, message, _NOT_LIVE)
        return
    config = bridge.config.with_overrides(translate={"language": "" if off else language})
    try:
        switched = await switch_session(bridge, config)
    except Exception as exc:
        log.warning("could not switch modes in %s: %s", chat, exc)
        text = "Could not switch modes; the error is in the log. Send /gemini to rejoin."
        await budgeted_reply(budget, chat, message, text)
        return
    if not switched:
        text = _NOT_LIVE
    elif off:
        text = "Interpreter off: Gemini is back to answering."
    else:
        text = (
            f"Interpreting into {language}: everything said in the call is spoken again in "
            "that language. /gemini translate off ends it."
        )
    await budgeted_reply(budget, chat, message, text)


async def budgeted_reply(budget: AccountBudget, chat: int, message: Message, text: str) -> None:
    """Reply to `message` when the account's budget allows, as transcripts are posted."""
    await budget.turn(chat)
    try:
        await message.reply_text(text, parse_mode=ParseMode.DISABLED)
    except (FloodWait, SlowmodeWait) as exc:
        budget.hold(float(exc.value or 1))  # the reply is lost; the chat's transcripts wait
        log.warning("reply in %s not posted: Telegram asked to wait %s s", chat, exc.value)
    except RPCError as exc:
        log.warning("could not reply in %s: %s", chat, exc)
