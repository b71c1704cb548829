"""`gemini-tg-bridge voicenote IN.ogg OUT.ogg`: answer a voice note offline.

By default the note goes to a local emulator started in-process (no network, no key),
which echoes it; `--live` sends it to the Gemini Live endpoint from the configuration
(`GEMINI_API_KEY`). The reply is written as a mono 48 kHz OGG/Opus voice note and its
transcript printed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._loop import run
from . import Subparsers, typed_args

if TYPE_CHECKING:
    from ..config import BridgeConfig
    from ..telegram import VoiceNoteReply

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add the `voicenote` subcommand."""
    parser = subparsers.add_parser(
        "voicenote",
        help="answer an OGG/Opus voice note with a spoken OGG/Opus reply",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="IN.ogg", help="the voice note to answer")
    parser.add_argument("output", type=Path, metavar="OUT.ogg", help="where to write the reply")
    parser.add_argument("--config", metavar="FILE", help="bridge configuration (TOML)")
    parser.add_argument(
        "--live",
        action="store_true",
        help="use the configured Gemini Live endpoint instead of the local emulator",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="reply deadline"
    )
    parser.set_defaults(handler=main)


@dataclass(frozen=True, slots=True)
class _Args:
    input: Path
    output: Path
    config: str | None
    live: bool
    timeout: float


def main(parsed: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit code."""
    args = typed_args(_Args, parsed)
    from ..client import describe
    from ..config import BridgeConfig, ConfigError
    from ..protocol import BridgeError
    from ..telegram import VoiceNoteError, decode_voice_note, encode_voice_note

    try:
        config = BridgeConfig.load(args.config)
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"error: {args.input} does not exist or is not a file", file=sys.stderr)
        return 2
    try:
        pcm_16k = decode_voice_note(args.input, name=str(args.input))
    except VoiceNoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        reply = run(_answer(pcm_16k, config, live=args.live, timeout_s=args.timeout))
    except (VoiceNoteError, BridgeError, OSError) as exc:  # OSError: TimeoutError too
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1
    try:
        args.output.write_bytes(encode_voice_note(reply.pcm, reply.sample_rate_hz))
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if reply.heard:
        print(f"heard: {reply.heard}")
    print(f"reply: {reply.transcript or '(no transcript)'}")
    print(
        f"wrote {args.output} ({reply.duration_s:.2f} s, OGG/Opus mono {reply.sample_rate_hz} Hz)"
    )
    return 0


async def _answer(
    pcm_16k: bytes, config: BridgeConfig, *, live: bool, timeout_s: float
) -> VoiceNoteReply:
    from ..client import Endpoint
    from ..engine import endpoint, live_config
    from ..telegram import answer_voice_note

    setup = live_config(config)
    chunk_ms = config.engine.uplink_chunk_ms
    if live:
        return await answer_voice_note(
            pcm_16k, setup, endpoint(config), chunk_ms=chunk_ms, timeout_s=timeout_s
        )
    from ..emulator import Emulator, EmulatorConfig

    async with Emulator(EmulatorConfig()) as emulator:
        local = Endpoint(base_url=emulator.url)
        return await answer_voice_note(
            pcm_16k, setup, local, chunk_ms=chunk_ms, timeout_s=timeout_s
        )
