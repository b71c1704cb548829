"""The bot's name in run mode, for `respond = "when_addressed"`: the Telegram account's
first name unless `gemini.bot_name` is set."""

from __future__ import annotations

import dataclasses

from pyrogram import Client

from ..config import BridgeConfig

__all__ = ["bot_named"]


def bot_named(config: BridgeConfig, client: Client) -> BridgeConfig:
    """`config` with the account's first name as the bot's, if it answers only when
    addressed and no name is configured."""
    gemini = config.gemini
    me = getattr(client, "me", None)
    first_name = (getattr(me, "first_name", None) or "").strip()
    if gemini.respond != "when_addressed" or gemini.bot_name.strip() or not first_name:
        return config
    return dataclasses.replace(config, gemini=dataclasses.replace(gemini, bot_name=first_name))
