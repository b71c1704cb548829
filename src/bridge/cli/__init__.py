"""`gemini-tg-bridge` command line: one module per subcommand.

Each module in `COMMANDS` defines `register(subparsers)`, which adds its parser and sets
`handler=function(args) -> int` as a default. A handler reads its arguments once into a
typed dataclass (`typed_args`), builds the library objects, runs them and prints what
they report; the work itself is library code (`bridge.telegram.TelegramRunner`,
`bridge.transports.demo`, `bridge.telegram.answer_voice_note`, `bridge.emulator`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each command module's `register(subparsers)` receives."""

Options = TypeVar("Options", bound="DataclassInstance")


def typed_args(options: type[Options], args: argparse.Namespace) -> Options:
    """The parsed `args` as `options`, a dataclass whose fields are named like the dests."""
    return options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(options)})


# At DEBUG these log whole MTProto requests, api_hash and login codes included.
_SECRET_LOGGING_LIBRARIES = ("pyrogram", "pytgcalls", "ntgcalls")

# Installed by the `telegram` extra only; the commands import them when they start.
_TELEGRAM_EXTRA_MODULES = frozenset({"pyrogram", "pytgcalls", "ntgcalls", "tgcrypto"})
INSTALL_TELEGRAM_EXTRA = "pip install 'gemini-tg-bridge[telegram]'"
"""The command that adds what `run`, `login`, `voicenote` and `demo --via ntgcalls` need."""

COMMANDS: tuple[str, ...] = (
    "bridge.cli._demo",
    "bridge.cli._run",
    "bridge.cli._login",
    "bridge.cli._voicenote",
    "bridge.cli._emulator",
    "bridge.cli._token",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gemini-tg-bridge",
        description="Bridge Telegram voice chats to the Gemini Live API.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gemini-tg-bridge` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in _SECRET_LOGGING_LIBRARIES:
        # ntgcalls logs from its native threads; py-tgcalls leaves it at CRITICAL, and
        # raising it was behind a whole-interpreter deadlock (ntgcalls issue 62): only -vv.
        if name != "ntgcalls" or args.verbose >= 2:
            logging.getLogger(name).setLevel(max(level, logging.INFO))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _TELEGRAM_EXTRA_MODULES:
            raise
        print(
            f"error: {args.command} needs {missing}, from the telegram extra: "
            f"{INSTALL_TELEGRAM_EXTRA}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
