"""`gemini-tg-bridge run --chat CHAT`: go live in Telegram group voice chats.

Joins each chat's running voice chat as the logged-in account (see `login`), streams
what participants say to Gemini Live and plays the spoken reply into the call. One
engine session per chat; several --chat options share one process and one account.
Transcripts are posted in the chat (one message per turn). Admins and allowlisted users
(--allow, or `allow` in the config's [telegram] section) control it with /gemini and
/stop; voice notes sent to the account, or in a bridged group, get a spoken reply.

Credentials come from the environment: TG_API_ID, TG_API_HASH, TG_SESSION (or
TG_SESSION_FILE) for Telegram, GEMINI_API_KEY for Gemini. SIGINT/SIGTERM leave the
calls, flush and close the sessions, then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from .._loop import run
from . import Subparsers

__all__ = ["register"]


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


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(args: argparse.Namespace) -> int:
    """Check everything that can be checked offline, then run until a signal."""
    from ..config import BridgeConfig, ConfigError
    from ..telegram import AccessPolicy, CredentialsError, TelegramCredentials, chats_from_args

    if not args.chat and not args.wait:
        return _fail("give at least one --chat (or --wait to go live on /gemini only)")
    try:
        config = BridgeConfig.load(args.config)
    except ConfigError as exc:
        return _fail(f"configuration: {exc}")
    try:
        chats = chats_from_args(args.chat)
        access = AccessPolicy(
            (*config.telegram.allow, *args.allow),
            admins=config.telegram.admins and not args.no_admins,
        )
    except ValueError as exc:
        return _fail(str(exc))
    try:
        credentials = _credentials(config, TelegramCredentials)
    except CredentialsError as exc:
        return _fail(str(exc))
    if config.endpoint.api_key is None and config.endpoint.ephemeral_token is None:
        return _fail("missing GEMINI_API_KEY (or endpoint.api_key in the configuration)")
    code = run(_serve(args, config, credentials, chats, access))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # ntgcalls may abort during interpreter teardown


def _credentials(config: Any, credentials_type: Any) -> Any:
    """TG_* from the environment, falling back to the configuration's [telegram] keys."""
    env = dict(os.environ)
    telegram = config.telegram
    if telegram.api_id and not env.get("TG_API_ID"):
        env["TG_API_ID"] = str(telegram.api_id)
    if telegram.api_hash is not None and not env.get("TG_API_HASH"):
        env["TG_API_HASH"] = telegram.api_hash.reveal()
    if telegram.session_string is not None and not env.get("TG_SESSION"):
        env["TG_SESSION"] = telegram.session_string.reveal()
    return credentials_type.from_env(env)


def _telegram(credentials: Any) -> tuple[Any, Any]:
    """The account's MTProto client and the PyTgCalls instance on it (not yet started)."""
    from pyrogram import Client
    from pytgcalls import PyTgCalls

    session = credentials.session_string
    client = Client(
        "gemini-tg-bridge",
        api_id=credentials.api_id,
        api_hash=credentials.api_hash.reveal(),
        session_string=session.reveal() if session is not None else None,
        in_memory=True,
    )
    return client, PyTgCalls(client)


async def _serve(
    args: Any,
    config: Any,
    credentials: Any,
    chats: list[Any],
    access: Any,
    telegram: Callable[[Any], tuple[Any, Any]] = _telegram,
) -> int:
    client, calls = telegram(credentials)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await _serve_until_stopped(args, config, chats, access, client, calls, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve_until_stopped(
    args: Any, config: Any, chats: list[Any], access: Any, client: Any, calls: Any, stop: Any
) -> int:
    from pyrogram.errors import AuthKeyUnregistered, SessionRevoked, UserDeactivated

    from ..telegram import BridgeRunner
    from ..transports.tgcalls import GroupCallError

    try:
        await calls.start()
    except (AuthKeyUnregistered, SessionRevoked, UserDeactivated):
        print(
            "error: the Telegram session is no longer valid; run `gemini-tg-bridge login`",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        print(f"error: cannot connect to Telegram: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if not getattr(calls, "_is_running", True):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), 10)
    runner = BridgeRunner(
        client,
        calls,
        config,
        access=access,
        transcripts=not args.no_transcripts,
        start_call=args.start_call,
        voice_notes=not args.no_voice_notes,
    )
    runner.install_handlers()
    try:
        live = 0
        if not args.wait:
            for chat in chats:
                try:
                    await runner.go_live(chat)
                except GroupCallError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    continue
                except Exception as exc:
                    print(f"error: {chat}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                live += 1
                print(f"live in the voice chat of {chat}", flush=True)
            if live == 0:
                return 1
        print("running; Ctrl-C to leave the voice chats and exit", flush=True)
        await stop.wait()
    finally:
        print("leaving the voice chats…", file=sys.stderr, flush=True)
        await runner.stop()
        try:
            await asyncio.wait_for(client.stop(), 10)
        except Exception as exc:
            print(f"warning: Telegram client did not stop cleanly: {exc}", file=sys.stderr)
    return 0
