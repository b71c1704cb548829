"""`gemini-tg-bridge emulator`: run the local Gemini Live emulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass

from .._loop import run
from .._secret import Secret
from ..emulator import Emulator, EmulatorConfig, ReplyMode
from ..protocol import ConfigError
from . import Subparsers, typed_args


def register(subparsers: Subparsers) -> None:
    """Add the `emulator` subcommand."""
    parser = subparsers.add_parser(
        "emulator",
        help="serve a local Gemini Live emulator",
        description="Serve a local Gemini Live emulator and print its URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--certfile", help="TLS certificate (PEM) to serve wss://")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("GEMINI_EMULATOR_API_KEY") or None,
        help="require this API key (default: $GEMINI_EMULATOR_API_KEY, else accept any); "
        "prefer the variable: other local users can read a flag in `ps`",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="accepted model name (repeatable; default: any)",
    )
    parser.add_argument(
        "--session-seconds",
        type=float,
        default=None,
        help="connection lifetime before goAway and close",
    )
    parser.add_argument(
        "--go-away-s", type=float, default=1.0, help="how long before the end goAway is sent"
    )
    parser.add_argument("--reply", choices=("echo", "tone"), default="echo")
    parser.add_argument("--think-time-s", type=float, default=0.05)
    parser.add_argument("--chunk-ms", type=int, default=40)
    parser.add_argument("--burst-chunks", type=int, default=5)
    parser.add_argument(
        "--speed",
        type=float,
        default=4.0,
        help="reply pacing vs real time (< 1 is slower than real time)",
    )
    parser.set_defaults(handler=main)


async def _serve(config: EmulatorConfig) -> None:
    async with Emulator(config) as emulator:
        print(emulator.url, flush=True)
        await emulator.serve_forever()


@dataclass(frozen=True, slots=True)
class _Args:
    host: str
    port: int
    certfile: str | None
    keyfile: str | None
    api_key: str | None
    model: list[str]
    session_seconds: float | None
    go_away_s: float
    reply: ReplyMode
    think_time_s: float
    chunk_ms: int
    burst_chunks: int
    speed: float


def main(parsed: argparse.Namespace) -> int:
    """Run the emulator; prints its URL on stdout, serves until Ctrl-C."""
    args = typed_args(_Args, parsed)
    try:
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            certfile=args.certfile,
            keyfile=args.keyfile,
            api_key=Secret(args.api_key) if args.api_key else None,
            models=tuple(m.removeprefix("models/") for m in args.model),
            session_seconds=args.session_seconds,
            go_away_s=args.go_away_s,
            reply=args.reply,
            think_time_s=args.think_time_s,
            chunk_ms=args.chunk_ms,
            burst_chunks=args.burst_chunks,
            speed=args.speed,
        )
        config.validate()
    except ConfigError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    try:
        run(_serve(config))
    except OSError as exc:
        print(f"emulator: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    return 0
