"""`gemini-tg-bridge demo`: the whole pipeline, offline, in about ten seconds.

Starts the emulator in-process (or, with `--live`, uses the real service and
GEMINI_API_KEY), plays the bundled speech sample as a user in real time through the full
bridge (mix, 48→16 kHz, websocket, 24→48 kHz, jitter buffer, playout clock), then talks
over the reply to show barge-in. Writes what the user heard of the first reply to
`demo-reply.wav` and prints transcripts and the latency report.

The call and the conversation are library code in `bridge.transports.demo`: this module
parses arguments, builds the emulator, session and call, runs the script and prints the
report. `--via wav` (the default) is the in-memory WAV call; `--via ntgcalls` a real
WebRTC/Opus call on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import math
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .._loop import run
from ..client import describe
from ..config import BridgeConfig, ConfigError
from ..emulator import Emulator, EmulatorConfig
from ..engine import MetricsSnapshot, Session, Summary
from ..engine.events import Event, SessionError, Transcript, TurnEnded, TurnStarted
from ..ops import SessionsHealth, serving
from ..protocol import BridgeError
from ..tools import builtin_tools
from ..transports import AudioError
from ..transports.audiofile import read_audio
from ..transports.demo import VIAS, Round, TurnSignals, converse, heard_between, open_call
from . import Subparsers, typed_args

SPEECH_SAMPLE = "data/speech-en-48k.wav"
RATE_HZ = 48_000
T = TypeVar("T")


def register(subparsers: Subparsers) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a bundled recording and print a latency report",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="use the real Gemini Live service (needs GEMINI_API_KEY)",
    )
    parser.add_argument(
        "--via",
        choices=VIAS,
        default="wav",
        help="how the simulated user reaches the bridge (default: wav)",
    )
    parser.add_argument("--config", help="TOML configuration file (optional)")
    parser.add_argument(
        "--out",
        default="demo-reply.wav",
        help="where to write the reply the user heard (demo-reply.wav)",
    )
    parser.add_argument("--input", help="speak this audio file instead of the bundled one")
    parser.add_argument(
        "--silence-ms",
        type=int,
        default=500,
        metavar="MS",
        help="silence that ends the user's turn in the local emulator (default: 500)",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=1,
        metavar="N",
        help="with --via ntgcalls: N users, each in its own call with its own session, in "
        "this process; users and emulator in other processes; prints a capacity table",
    )
    parser.add_argument(
        "--speakers",
        type=int,
        default=1,
        metavar="N",
        help="2: two people (two voices, two ssrcs) in one call; transcripts name each",
    )
    parser.add_argument(
        "--http",
        metavar="ADDR",
        help="serve /metrics, /livez and /readyz on HOST:PORT (PORT alone: 127.0.0.1) while "
        "the demo runs; default: $BRIDGE_HTTP_ADDR or [http] addr, else none",
    )
    parser.set_defaults(handler=main)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Args:
    live: bool
    via: str
    config: str | None
    out: str
    input: str | None
    silence_ms: int
    sessions: int
    speakers: int
    http: str | None


def main(parsed: argparse.Namespace) -> int:
    """Run the demo; 0 when a reply was heard and barge-in worked."""
    args = typed_args(_Args, parsed)
    try:
        config = BridgeConfig.load(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.live and not (config.endpoint.api_key or config.endpoint.ephemeral_token):
        print("demo --live needs GEMINI_API_KEY (or endpoint.api_key in --config)", file=sys.stderr)
        return 2
    if args.http is not None:
        try:
            config = config.with_overrides(http={"addr": args.http})
        except ConfigError as exc:
            print(f"demo --http: {exc}", file=sys.stderr)
            return 2
    if args.sessions < 1:
        print(f"demo --sessions {args.sessions}: N must be at least 1", file=sys.stderr)
        return 2
    if args.sessions > 1 and (args.via != "ntgcalls" or args.live):
        print(f"demo --sessions {args.sessions}: needs --via ntgcalls and the local emulator "
              "(no --live)", file=sys.stderr)  # fmt: skip
        return 2
    if args.speakers not in (1, 2) or (args.speakers == 2 and (args.via != "wav" or args.input)):
        print(f"demo --speakers {args.speakers}: N is 1 or 2; 2 plays its own voices in an "
              "in-memory call (no --input, --via wav)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        if args.speakers == 2:
            from ._demo_speakers import run_speakers

            code = run(run_speakers(config, live=args.live, silence_ms=args.silence_ms))
        elif args.sessions > 1:
            from ._capacity import run_capacity

            speech = _load_speech(args.input, RATE_HZ, 1)
            code = run_capacity(args.sessions, config, speech, args.silence_ms)
        else:
            code = run(_demo(args, config))
    except TimeoutError:
        print("demo failed: no reply from the bot in time", file=sys.stderr)
        code = 1
    except (BridgeError, AudioError, OSError) as exc:
        print(f"demo failed: {describe(exc)}", file=sys.stderr)
        code = 1
    if args.via == "ntgcalls":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # ntgcalls may abort during interpreter teardown
    return code


async def _demo(args: _Args, config: BridgeConfig) -> int:
    live, via, out = args.live, args.via, args.out
    # Replies stream at 1.2x real time (200 ms bursts), so the server is still generating
    # when the user cuts in and the barge-in is the server's `interrupted`.
    emulator_config = EmulatorConfig(
        think_time_s=0.05, speed=1.2, silence_duration_ms=args.silence_ms
    )
    async with contextlib.AsyncExitStack() as stack:
        health = SessionsHealth()
        if config.http.addr:
            url = await stack.enter_async_context(serving(health, config.http.addr))
            print(f"serving /metrics, /livez and /readyz on {url}", flush=True)
        config, where = await demo_endpoint(stack, config, live, emulator_config)
        config = config.with_overrides(
            engine={"vad_duck": True},
            transport={"sample_rate_hz": RATE_HZ, "channels": 1},
        )
        transport, user = await stack.enter_async_context(open_call(via, RATE_HZ, 1))
        if via == "ntgcalls":
            print("via ntgcalls: a WebRTC/Opus call on loopback; latencies heard by the user "
                  "include both call legs (Opus, RTP/UDP, jitter buffer)")  # fmt: skip
        speech = _load_speech(args.input, user.sample_rate_hz, user.channels)
        print(f"demo: {len(speech) / 2 / user.sample_rate_hz:.2f} s of speech via {via} "
              f"to {where}")  # fmt: skip
        session = Session(config, transport, tools=builtin_tools())
        health.sessions["demo"] = session
        turns = TurnSignals()
        fatal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        session.add_listener(lambda event: _signal_turns(event, turns))
        session.add_listener(lambda event: _on_fatal(event, fatal))
        session.add_listener(_print_event)
        await session.start()
        try:
            first, second = await _until_fatal(converse(user, speech, turns), fatal)
        finally:
            await session.stop()
        metrics = session.metrics()
    reply = heard_between(user, first.speech_end_s, second.speech_start_s)
    _write_wav(out, reply, user.sample_rate_hz)
    _report(metrics, first, second, live, emulator_config, out, len(reply))
    heard_reply = not math.isnan(first.first_heard_s)
    return 0 if heard_reply and turns.interrupted else 1


async def demo_endpoint(
    stack: contextlib.AsyncExitStack, config: BridgeConfig, live: bool, emulator: EmulatorConfig
) -> tuple[BridgeConfig, str]:
    """`config` pointed at the local emulator (started on `stack`) unless `live`, and
    where the demo talks to, as printed."""
    if live:
        return config, f"Gemini Live ({config.gemini.model})"
    server = await stack.enter_async_context(Emulator(emulator))
    config = config.with_overrides(endpoint={"url": server.url, "api_key": None})
    return config, f"the local emulator at {server.url}"


def _on_fatal(event: Event, fatal: asyncio.Future[str]) -> None:
    if isinstance(event, SessionError) and event.fatal and not fatal.done():
        fatal.set_result(event.message)


async def _until_fatal(conversing: Awaitable[T], fatal: asyncio.Future[str]) -> T:
    """The conversation's result, or `SessionFailed` as soon as the session gave up."""
    task = asyncio.ensure_future(conversing)
    waiting: set[asyncio.Future[Any]] = {task, fatal}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    raise SessionFailed(fatal.result())


class SessionFailed(BridgeError):
    """The session gave up (its fatal `SessionError`, e.g. a close with 1007)."""


def _signal_turns(event: Event, turns: TurnSignals) -> None:
    if isinstance(event, TurnStarted):
        turns.turn_started()
    elif isinstance(event, TurnEnded):
        turns.turn_ended(event.interrupted)


MAX_PRINTED_CHARS = 2000
"""A transcript line is cut here: a server can send megabytes of text in one turn."""


def shown_transcript(text: str, max_chars: int = MAX_PRINTED_CHARS) -> str:
    """`text` as printed: whole if short, else its start and how much was left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... ({len(text) - max_chars} more characters not shown)"


def _print_event(event: Event) -> None:
    if isinstance(event, Transcript) and event.final:
        who = "user  " if event.role == "user" else "gemini"
        print(f"  [{who}] {shown_transcript(event.text)}")
    elif isinstance(event, TurnEnded):
        how = "interrupted" if event.interrupted else "complete"
        print(f"  [turn {event.turn_id}] {how}; {event.heard_s:.2f} s of the reply was heard")


def _load_speech(path: str | None, rate_hz: int, channels: int) -> bytes:
    if path is not None:
        return read_audio(path, rate_hz, channels)
    resource = importlib.resources.files("bridge").joinpath(SPEECH_SAMPLE)
    with importlib.resources.as_file(resource) as sample:
        return read_audio(sample, rate_hz, channels)


def _write_wav(path: str, pcm: bytes, rate_hz: int) -> None:
    import soundfile as sf

    sf.write(path, np.frombuffer(pcm, dtype=np.int16), rate_hz, subtype="PCM_16")


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1e3:.0f} ms"


def _dist(s: Summary, unit: str = "µs", digits: int = 1) -> str:
    if not s.count:
        return "no samples"
    f: Callable[[float], str] = lambda v: f"{v:.{digits}f}"  # noqa: E731
    return f"p50 {f(s.p50)}  p99 {f(s.p99)}  max {f(s.max)} {unit}  (n={s.count})"


def _report(
    m: MetricsSnapshot,
    first: Round,
    second: Round,
    live: bool,
    emulator: EmulatorConfig,
    out: str,
    reply_bytes: int,
) -> None:
    if live:
        server = "includes the model's own end-of-speech detection and thinking"
    else:
        server = (
            f"includes the emulator's {emulator.silence_duration_ms} ms end-of-speech "
            f"silence and {emulator.think_time_s * 1e3:.0f} ms think time"
        )
    reply_s = first.first_heard_s - first.speech_end_s
    print()
    print_metrics(m)
    print(f"  end of user speech -> first reply frame heard: {_ms(reply_s)} ({server})")
    heard_silent = second.silent_heard_s - second.first_heard_s
    print(f"            user starts talking -> last bot audio heard: {_ms(heard_silent)} "
          "(includes the server's speech detection)")  # fmt: skip
    print(f"wrote {out}: {reply_bytes / 2 / RATE_HZ:.2f} s of the first reply as heard")


def print_metrics(m: MetricsSnapshot) -> None:
    """The latency report's lines that come from one session's metrics."""
    c = m.counters
    print("latency report (per 20 ms frame of audio)")
    print(f"  uplink processing   (mix+resample+encode)  {_dist(m.uplink_us)}")
    print(f"  downlink processing (decode+resample+buf)  {_dist(m.downlink_us)}")
    print("  bridge-added latency")
    print(f"    user frame in -> bytes on the socket     {_dist(m.uplink_latency_us)}")
    print(f"    reply audio in -> first frame played     {_dist(m.downlink_latency_us)}")
    print(f"  barge-in: server 'interrupted' -> playout silent   {_dist(m.barge_in_ms, 'ms')}")
    print(f"            local VAD: user speech -> output ducked  {_dist(m.duck_ms, 'ms')}")
    if m.local_barge_in_ms.count:
        print(
            f"            local barge-in (reply fully received)  {_dist(m.local_barge_in_ms, 'ms')}"
        )
    print(f"  playout: underruns {c['underruns']}, missed ticks {c['missed_ticks']}, "
          f"deadline error {_dist(m.deadline_error_us)}")  # fmt: skip
    print(f"  turns {c['turns']}, interruptions {c['interruptions']}, "
          f"uplink {c['uplink_bytes']} B in {c['uplink_chunks']} messages, "
          f"downlink {c['downlink_bytes']} B")  # fmt: skip
    print(f"  {uplink_line(c)}")
    print(f"  tokens: prompt {c['prompt_tokens']}, response {c['response_tokens']}, "
          f"total {c['total_tokens']}")  # fmt: skip


def uplink_line(c: Mapping[str, int]) -> str:
    """How much of the call's audio went to Gemini (the uplink gate holds back silence)."""
    sent_s, call_s = c["uplink_audio_sent_ms"] / 1000, c["call_ms"] / 1000
    share = f"{100 * sent_s / call_s:.0f} %" if call_s else "n/a"
    return f"uplink: audio sent {sent_s:.1f} s of {call_s:.1f} s call ({share})"
