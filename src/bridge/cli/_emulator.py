"""`gemini-tg-bridge emulator`: run the local Gemini Live emulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from .._loop import run
from .._secret import Secret
from ..emulator import Emulator, EmulatorConfig
from ..emulator._config import PROFILES, Profile
from ..protocol import ConfigError
from . import Subparsers, typed_args

_OFF = "off"


def _seconds_or_off(text: str) -> float | str:
    """A duration, or "off" for none (e.g. to lift one of the realistic profile's limits)."""
    if text.strip().lower() in (_OFF, "none"):
        return _OFF
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'off', got {text!r}") from None


# (option, type, nargs, help): each sets the EmulatorConfig field of the same name, over
# the profile's value; left out, the profile decides.
_KNOBS: tuple[tuple[str, Any, int | None, str], ...] = (
    ("--session-seconds", _seconds_or_off, None, "connection lifetime before goAway and close"),
    ("--go-away-s", float, None, "how long before the end goAway is sent"),
    ("--audio-session-limit-s", _seconds_or_off, None, "session end without compression"),
    ("--deadline-s", _seconds_or_off, None, "hard close (1011 deadline expired) after this"),
    ("--time-scale", float, None, "multiply every service duration (0.0167: a minute in 1 s)"),
    ("--pong-delay-s", float, 2, "pongs leave LOW..HIGH s after each ping"),
    ("--speed", float, None, "reply pacing vs real time (< 1 is slower than real time)"),
    ("--speed-range", float, 2, "per-burst reply speed drawn from LOW..HIGH"),
    ("--interim-ms", int, None, "interimInputTranscription every N ms of speech"),
    ("--piece-pause-ms", int, None, "inputTranscription per utterance ended by N ms of quiet"),
    ("--piece-delay-ms", int, None, "each inputTranscription piece N ms late"),
    ("--input-transcript-lag-s", float, None, "inputTranscription this long after a turn"),
    ("--drops-per-hour", float, None, "connections dropped at random, per hour on average"),
    ("--seed", int, None, "seed of the random delays, speeds and drops"),
    ("--record-audio-s", _seconds_or_off, None, "uplink audio kept per session ('off': all)"),
    ("--think-time-s", float, None, "delay before each reply"),
    ("--chunk-ms", int, None, "reply audio per message"),
    ("--burst-chunks", int, None, "reply messages per burst"),
    ("--reply", str, None, "echo (the user's turn) or tone"),
)


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
        "--profile",
        choices=PROFILES,
        default="basic",
        help="basic: no service limits, fast replies; realistic: the service's limits, "
        "slow pongs and bursty replies (the options below override single settings)",
    )
    for option, kind, nargs, text in _KNOBS:
        metavar = ("LOW", "HIGH") if nargs == 2 else None
        parser.add_argument(option, type=kind, nargs=nargs, metavar=metavar, help=text)
    parser.add_argument(
        "--strict-setup",
        action=argparse.BooleanOptionalAction,
        help="refuse setup fields google-genai's types do not know",
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
    profile: Profile


def _knob_changes(parsed: argparse.Namespace) -> dict[str, Any]:
    """The knobs given on the command line, as EmulatorConfig fields."""
    changes: dict[str, Any] = {}
    for name in [option[2:].replace("-", "_") for option, *_ in _KNOBS] + ["strict_setup"]:
        value = getattr(parsed, name)
        if value is not None:
            changes[name] = None if value == _OFF else value
    for name in ("pong_delay_s", "speed_range"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return changes


def main(parsed: argparse.Namespace) -> int:
    """Run the emulator; prints its URL on stdout, serves until Ctrl-C."""
    args = typed_args(_Args, parsed)
    try:
        config = EmulatorConfig.from_profile(
            args.profile,
            host=args.host,
            port=args.port,
            certfile=args.certfile,
            keyfile=args.keyfile,
            api_key=Secret(args.api_key) if args.api_key else None,
            models=tuple(m.removeprefix("models/") for m in args.model),
            **_knob_changes(parsed),
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
