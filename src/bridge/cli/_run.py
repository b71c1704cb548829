"""`gemini-tg-bridge run --chat CHAT`: go live in Telegram group voice chats.

Joins each chat's running voice chat as the logged-in account (see `login`), streams
what participants say to Gemini Live and plays the spoken reply into the call. One
engine session per chat; several --chat options share one process and one account.
Transcripts are posted in the chat (one message per turn). Admins and allowlisted users
(--allow, or `allow` in the config's [telegram] section) control it with /gemini and
/stop. Voice notes get a spoken reply: in a bridged group from the same people; in a
private chat from the allowlist only, unless `voice_notes` in [telegram] says "contacts"
or "anyone" (every reply spends your Gemini quota). At most `voice_note_concurrency`
(default 2) are answered at once.

Credentials come from the environment: TG_API_ID, TG_API_HASH, TG_SESSION (or
TG_SESSION_FILE) for Telegram, GEMINI_API_KEY for Gemini. One session runs in one
process: a second `run` on it exits with code 3 (two clients on one session get it
revoked by Telegram). Exit codes: 0 after a signal, 1 when no chat could go live,
2 for bad configuration or credentials, 3 when the session is revoked, expired,
duplicated or in use (a supervisor should not restart on 2 or 3). SIGINT/SIGTERM leave the
calls, flush and close the sessions, then exit within 2 s, whatever phase the bridge is
in (connecting, joining, running, or waiting out a Telegram flood wait).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._loop import run, stop_on_signals
from . import Subparsers, typed_args

if TYPE_CHECKING:
    from pyrogram import Client

    from ..config import BridgeConfig
    from ..telegram import AccessPolicy, TelegramCredentials, TelegramRunner, VoiceNoteRule
    from ..transports.tgcalls import VoiceCalls

    OpenAccount = Callable[[TelegramCredentials], tuple[Client, VoiceCalls]]

__all__ = ["register"]

T = TypeVar("T")

# A supervisor's stop timeout is often a few seconds: exit within 2 s of SIGINT/SIGTERM.
_CANCEL_GRACE_S = 0.2
_SHUTDOWN_S = 1.5

# Exit codes: 1 could not go live (worth a retry), 2 bad configuration or credentials, 3 the
# Telegram session cannot run here (revoked, duplicated, in use): a supervisor should not
# restart on 2 or 3.
EXIT_CONFIG = 2
EXIT_SESSION = 3


def register(subparsers: Subparsers) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="go live in Telegram group voice chats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--chat",
        action="append",
        default=[],
        metavar="CHAT",
        help="group id (-100...) or @username; repeat for several chats",
    )
    parser.add_argument("--config", metavar="FILE", help="bridge configuration (TOML)")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="USER",
        help="user id or @username allowed to use /gemini and /stop (besides admins)",
    )
    parser.add_argument(
        "--no-admins", action="store_true", help="only --allow users may use the commands"
    )
    parser.add_argument(
        "--start-call",
        action="store_true",
        help="start a voice chat if none is running (needs the right to manage calls)",
    )
    parser.add_argument(
        "--wait", action="store_true", help="do not join at start; wait for /gemini"
    )
    parser.add_argument("--no-transcripts", action="store_true", help="do not post transcripts")
    parser.add_argument("--no-voice-notes", action="store_true", help="ignore voice notes")
    parser.set_defaults(handler=main)


@dataclass(frozen=True, slots=True)
class _Options:
    """The `run` arguments, named like their dests."""

    chat: list[str]
    config: str | None
    allow: list[str]
    no_admins: bool
    start_call: bool
    wait: bool
    no_transcripts: bool
    no_voice_notes: bool


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    """Check everything that can be checked offline, then run until a signal."""
    from ..config import BridgeConfig, ConfigError
    from ..telegram import AccessPolicy, CredentialsError, chats_from_args, open_account
    from ..telegram._lock import AccountInUseError, AccountLock

    options = typed_args(_Options, args)
    if not options.chat and not options.wait:
        return _fail("give at least one --chat (or --wait to go live on /gemini only)")
    try:
        config = BridgeConfig.load(options.config)
    except ConfigError as exc:
        return _fail(f"configuration: {exc}")
    try:
        chats = chats_from_args(options.chat)
        access = AccessPolicy(
            (*config.telegram.allow, *options.allow),
            admins=config.telegram.admins and not options.no_admins,
            voice_notes=cast("VoiceNoteRule", config.telegram.voice_notes),
        )
    except ValueError as exc:
        return _fail(str(exc))
    try:
        credentials = _credentials(config)
    except CredentialsError as exc:
        return _fail(str(exc))
    if config.endpoint.api_key is None and config.endpoint.ephemeral_token is None:
        return _fail("missing GEMINI_API_KEY (or endpoint.api_key in the configuration)")
    lock = AccountLock(credentials.session_string) if credentials.session_string else None
    try:
        if lock is not None:
            lock.acquire()
    except AccountInUseError as exc:
        return _fail(str(exc), EXIT_SESSION)
    except OSError as exc:
        return _fail(f"cannot create the account's lock file: {exc}")
    code = run(_serve(options, config, credentials, chats, access, open_account))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # ntgcalls may abort during interpreter teardown


def _credentials(config: BridgeConfig) -> TelegramCredentials:
    """TG_* from the environment, falling back to the configuration's [telegram] keys."""
    from ..telegram import TelegramCredentials

    env = dict(os.environ)
    telegram = config.telegram
    if telegram.api_id and not env.get("TG_API_ID"):
        env["TG_API_ID"] = str(telegram.api_id)
    if telegram.api_hash is not None and not env.get("TG_API_HASH"):
        env["TG_API_HASH"] = telegram.api_hash.reveal()
    if telegram.session_string is not None and not env.get("TG_SESSION"):
        env["TG_SESSION"] = telegram.session_string.reveal()
    return TelegramCredentials.from_env(env)


async def _serve(
    options: _Options,
    config: BridgeConfig,
    credentials: TelegramCredentials,
    chats: list[int | str],
    access: AccessPolicy,
    open_account: OpenAccount,
) -> int:
    """Run the bridge on the account until a signal; print what happens."""
    from ..telegram import TelegramConnectError, TelegramRunner

    client, calls = open_account(credentials)
    runner = TelegramRunner(
        client,
        calls,
        config,
        access=access,
        transcripts=not options.no_transcripts,
        start_call=options.start_call,
        voice_notes=not options.no_voice_notes,
    )
    with stop_on_signals(asyncio.Event()) as stop:
        try:
            return await _serve_until(stop, runner, options, chats)
        finally:
            print("leaving the voice chats…", file=sys.stderr, flush=True)
            try:
                await asyncio.wait_for(runner.close(), _SHUTDOWN_S)
            except TimeoutError:
                print("warning: Telegram did not answer in time while leaving", file=sys.stderr)
            except TelegramConnectError as exc:
                print(f"warning: {exc}", file=sys.stderr)


async def _serve_until(
    stop: asyncio.Event, runner: TelegramRunner, options: _Options, chats: list[int | str]
) -> int:
    """Connect, go live, then wait; a signal ends any of these phases at once."""
    from ..telegram import SessionRevokedError, TelegramConnectError

    try:
        connected = await _unless_stopped(stop, _true_after(runner.connect()))
        if connected is None:
            return 0
    except SessionRevokedError as exc:
        return _fail(str(exc), EXIT_SESSION)
    except TelegramConnectError as exc:
        return _fail(str(exc), 1)
    if not options.wait:
        results = await _unless_stopped(stop, runner.go_live_in(chats))
        if results is None:
            return 0
        for chat, problem in results.items():
            if problem is None:
                print(f"live in the voice chat of {chat}", flush=True)
            else:
                print(f"error: {problem}", file=sys.stderr)
        if all(problem is not None for problem in results.values()):
            return 1
    print("running; Ctrl-C to leave the voice chats and exit", flush=True)
    await _unless_stopped(stop, runner.session_lost.wait())
    if runner.session_lost.is_set():
        return _fail(runner.session_problem, EXIT_SESSION)
    return 0


async def _true_after(coro: Coroutine[Any, Any, None]) -> bool:
    await coro
    return True


async def _unless_stopped(stop: asyncio.Event, coro: Coroutine[Any, Any, T]) -> T | None:
    """`coro`'s result, or None once `stop` is set first (then `coro` is cancelled)."""
    work = asyncio.ensure_future(coro)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((work, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if work.done():
        return work.result()
    work.cancel()
    # A client that ignores cancellation must not hold the exit up: close() follows.
    await asyncio.wait((work,), timeout=_CANCEL_GRACE_S)
    return None
