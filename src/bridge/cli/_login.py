"""`gemini-tg-bridge login`: create the Telegram session the bridge runs as.

Needs TG_API_ID and TG_API_HASH (from https://my.telegram.org). Asks for the phone
number, the login code Telegram sends, and the 2FA password if set. The session string
is written to a new 0600 file (default `gemini-tg-bridge.session`; point TG_SESSION_FILE
at it), or with `--print` shown once for TG_SESSION. Use a dedicated account: the bridge
joins voice chats as this user.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from .._loop import run
from . import Subparsers, typed_args

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the `login` subcommand."""
    parser = subparsers.add_parser(
        "login",
        help="create the Telegram session string (interactive)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--session-file",
        type=Path,
        default=Path("gemini-tg-bridge.session"),
        metavar="FILE",
        help="new file to store the session in, mode 0600 (default: %(default)s)",
    )
    where.add_argument("--print", action="store_true", help="print the session string once instead")
    parser.set_defaults(handler=main)


@dataclass(frozen=True, slots=True)
class _Args:
    session_file: Path
    print: bool


def main(parsed: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit code."""
    args = typed_args(_Args, parsed)
    from ..telegram import CredentialsError, TelegramCredentials
    from ..telegram._login import create_session_string, save_session_string

    try:
        credentials = TelegramCredentials.from_env(need_session=False)
    except CredentialsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.print and args.session_file.exists():
        print(f"error: {args.session_file} already exists; remove it first", file=sys.stderr)
        return 2
    try:
        session = run(create_session_string(credentials))
    except (KeyboardInterrupt, EOFError):
        print("\nlogin cancelled", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"error: login failed: {exc}", file=sys.stderr)
        return 1
    if args.print:
        print("Session string (shown once; keep it secret, export it as TG_SESSION):")
        print(session.reveal())
        return 0
    try:
        save_session_string(session, args.session_file)
    except OSError as exc:
        print(f"error: cannot write {args.session_file}: {exc}", file=sys.stderr)
        return 1
    print(f"Session saved to {args.session_file} (mode 0600).")
    print(f"Run the bridge with: export TG_SESSION_FILE={args.session_file}")
    return 0
