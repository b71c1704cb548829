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

Chats may also come from --chats-file: one group id or @username per line, '#' starts
a comment. It is read again when it changes (checked every 2 s) or on SIGHUP: new chats
are joined (at most one join per second), chats no longer listed are left, and a bad
line is reported and changes nothing. --chat chats stay whatever the file says.
--http ADDR (or BRIDGE_HTTP_ADDR) serves /metrics, /livez and /readyz.

Credentials come from the environment: TG_API_ID, TG_API_HASH, TG_SESSION (or
TG_SESSION_FILE) for Telegram, GEMINI_API_KEY for Gemini. One session runs in one
process: a second `run` on it exits with code 3 (two clients on one session get it
revoked by Telegram). Exit codes: 0 after a signal, 1 when no chat could go live (or
another failure), 2 for bad configuration, credentials or chats file, 3 when the session
is revoked, expired, duplicated or in use (a supervisor should not restart on 2 or 3).
SIGTERM or SIGINT drains: /readyz turns 503, /gemini is refused, each chat is left at its
next pause (nobody talking, no reply playing; at most [drain] timeout_s, 30 s), with
[drain] goodbye posted first if set; then exit 0. A second signal leaves the calls and
exits within 2 s, whatever phase the bridge is in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._loop import run
from . import Subparsers, typed_args

if TYPE_CHECKING:
    from pyrogram import Client

    from ..config import BridgeConfig
    from ..engine import PlayoutClock
    from ..ops import ChatsFile, Shutdown
    from ..telegram import AccessPolicy, TelegramCredentials, TelegramRunner, VoiceNoteRule
    from ..telegram._chatset import Chat, ChatSet
    from ..telegram._health import RunHealth
    from ..transports.tgcalls import VoiceCalls

    OpenAccount = Callable[[TelegramCredentials], tuple[Client, VoiceCalls]]

__all__ = ["register"]

T = TypeVar("T")

# A supervisor's stop timeout is often a few seconds: exit within 2 s of SIGINT/SIGTERM.
_CANCEL_GRACE_S = 0.2
_SHUTDOWN_S = 1.5
_JOIN_INTERVAL_S = 1.0  # Telegram's join flood limit is per account
_CHATS_FILE_POLL_S = 2.0

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
    parser.add_argument(
        "--chats-file",
        metavar="PATH",
        help="more chats, one per line ('#' comments); re-read on change or SIGHUP",
    )
    parser.add_argument("--config", metavar="FILE", help="bridge configuration (TOML)")
    parser.add_argument(
        "--http",
        metavar="ADDR",
        help="serve /metrics, /livez, /readyz on HOST:PORT (PORT alone: 127.0.0.1); "
        "default: $BRIDGE_HTTP_ADDR or [http] addr, else none",
    )
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
    chats_file: str | None = None
    http: str | None = None


def _fail(message: str, code: int = EXIT_CONFIG) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    """Check everything that can be checked offline, then run until a signal."""
    from ..config import BridgeConfig, ConfigError
    from ..telegram import AccessPolicy, CredentialsError, chats_from_args, open_account
    from ..telegram._lock import AccountInUseError, AccountLock

    options = typed_args(_Options, args)
    if not options.chat and not options.chats_file and not options.wait:
        return _fail(
            "give at least one --chat or a --chats-file (or --wait to go live on /gemini only)"
        )
    if options.chats_file and options.wait:
        return _fail("--wait joins no chat by itself: give it without --chats-file")
    try:
        config = BridgeConfig.load(options.config)
        if options.http is not None:
            config = config.with_overrides(http={"addr": options.http})
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
    clock: PlayoutClock | None = None,
) -> int:
    """Run the bridge on the account until a signal; print what happens. `clock`: the
    runner's time base (default: its own playout clock on `time.monotonic`)."""
    from ..ops import ChatsFile, ChatsFileError, serving, shutdown_signals
    from ..telegram import TelegramRunner
    from ..telegram._chatset import ChatSet
    from ..telegram._health import RunHealth

    chats_file = None
    if options.chats_file:
        chats_file = ChatsFile(options.chats_file, poll_s=_CHATS_FILE_POLL_S)
    try:
        listed = chats_file.read() if chats_file is not None else []
    except ChatsFileError as exc:
        return _fail(str(exc))
    client, calls = open_account(credentials)
    runner = TelegramRunner(
        client,
        calls,
        config,
        access=access,
        transcripts=not options.no_transcripts,
        start_call=options.start_call,
        voice_notes=not options.no_voice_notes,
        clock=clock,
    )
    chat_set = ChatSet(
        runner, [] if options.wait else chats, join_interval_s=_JOIN_INTERVAL_S,
        report=_print_outcome, on_left=_print_left,
    )  # fmt: skip
    chat_set.listed = listed
    health = RunHealth(runner, chat_set)

    def draining() -> None:
        runner.draining = True
        print(f"draining: leaving each voice chat at its next pause (at most "
              f"{config.drain.timeout_s:g} s); a second signal leaves at once",
              file=sys.stderr, flush=True)  # fmt: skip

    with shutdown_signals(draining) as shutdown:
        async with contextlib.AsyncExitStack() as stack:
            if config.http.addr:
                try:
                    url = await stack.enter_async_context(serving(health, config.http.addr))
                except OSError as exc:
                    why = exc.strerror or exc
                    return _fail(f"cannot serve HTTP on {config.http.addr}: {why}", 1)
                print(f"serving /metrics, /livez and /readyz on {url}", flush=True)
            try:
                return await _serve_until(shutdown, runner, chat_set, health, chats_file, options)
            finally:
                await _leave(runner)


async def _leave(runner: TelegramRunner) -> None:
    """Leave the calls, flush, stop the client: within `_SHUTDOWN_S`, whatever Telegram does."""
    from ..telegram import TelegramConnectError

    print("leaving the voice chats…", file=sys.stderr, flush=True)
    try:
        await asyncio.wait_for(runner.close(), _SHUTDOWN_S)
    except TimeoutError:
        print("warning: Telegram did not answer in time while leaving", file=sys.stderr)
    except TelegramConnectError as exc:
        print(f"warning: {exc}", file=sys.stderr)


async def _serve_until(
    shutdown: Shutdown,
    runner: TelegramRunner,
    chat_set: ChatSet,
    health: RunHealth,
    chats_file: ChatsFile | None,
    options: _Options,
) -> int:
    """Connect, go live, follow the chats file, then drain at the first signal; a
    signal ends connecting or joining at once, a second one ends the drain."""
    from ..telegram import SessionRevokedError, TelegramConnectError
    from ..telegram._drain import drain

    try:
        connected = await _unless_stopped(shutdown.drain, _true_after(runner.connect()))
        if connected is None:
            return 0
    except SessionRevokedError as exc:
        return _fail(str(exc), EXIT_SESSION)
    except TelegramConnectError as exc:
        return _fail(str(exc), 1)
    if not options.wait:
        joined = await _unless_stopped(shutdown.drain, _true_after(chat_set.update()))
        outcomes = chat_set.outcomes.values()
        if joined and outcomes and all(problem is not None for problem in outcomes):
            return 1
    if not shutdown.drain.is_set():
        print("running; Ctrl-C leaves each voice chat at a pause (twice: at once)", flush=True)
        following = None
        if chats_file is not None:
            following = asyncio.ensure_future(
                _follow(chats_file, chat_set, health, shutdown.reload)
            )
        try:
            await _unless_stopped(shutdown.drain, runner.session_lost.wait())
        finally:
            if following is not None:
                following.cancel()
                await asyncio.wait((following,), timeout=_CANCEL_GRACE_S)
        if runner.session_lost.is_set():
            return _fail(runner.session_problem, EXIT_SESSION)
    config = runner.config.drain
    await _unless_stopped(shutdown.now, drain(runner, config.timeout_s, config.goodbye))
    return 0


async def _follow(
    chats_file: ChatsFile, chat_set: ChatSet, health: RunHealth, reload: asyncio.Event
) -> None:
    """Apply each new version of the chats file; a bad one is reported and changes nothing."""
    from ..ops import ChatsFileError

    async for listed in chats_file.changes(reload):
        if isinstance(listed, ChatsFileError):
            health.chats_file_errors += 1
            print(f"error: {listed}; the chats stay as they are", file=sys.stderr, flush=True)
            continue
        await chat_set.update(listed)


def _print_outcome(chat: Chat, problem: str | None) -> None:
    if problem is None:
        print(f"live in the voice chat of {chat}", flush=True)
    else:
        print(f"error: {problem}", file=sys.stderr, flush=True)


def _print_left(chat: Chat) -> None:
    print(f"left the voice chat of {chat}: no longer in the chats file", flush=True)


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
