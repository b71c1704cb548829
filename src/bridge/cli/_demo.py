"""`gemini-tg-bridge demo`: the whole pipeline, offline, in about ten seconds.

Starts the emulator in-process (or, with `--live`, uses the real service and
GEMINI_API_KEY), plays the bundled speech sample as a user in real time through the full
bridge (mix, 48→16 kHz, websocket, 24→48 kHz, jitter buffer, playout clock), then talks
over the reply to show barge-in. Writes what the user heard of the first reply to
`demo-reply.wav` and prints transcripts and the latency report.

The call is opened by `open_call(via)`: a bot-side `Transport` plus a simulated user that
speaks into the call and records what it hears. `--via wav` (the default) is the in-memory
WAV transport; other transports plug in there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import math
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .._loop import run
from ..config import BridgeConfig, ConfigError
from ..emulator import Emulator, EmulatorConfig
from ..engine import MetricsSnapshot, Session, Summary
from ..engine.events import Event, Transcript, TurnEnded, TurnStarted
from ..protocol import BridgeError
from ..tools import builtin_tools
from ..transports import Transport
from ..transports.wav import WavTransport, read_audio

SPEECH_SAMPLE = "data/speech-en-48k.wav"
VIAS: tuple[str, ...] = ("wav", "ntgcalls")
RATE_HZ = 48_000
FRAME_S = 0.01
LOUD = 300  # int16 peak that counts as "audible" in what the user hears (about -40 dBFS)
BARGE_IN_AFTER_S = 1.5  # round two: how much of the reply plays before the user cuts in
TURN_TIMEOUT_S = 15.0


class HeardFrameLike(Protocol):
    """A frame the simulated user heard: its arrival time and PCM."""

    @property
    def arrival_s(self) -> float: ...
    @property
    def pcm(self) -> bytes: ...


class SimulatedUser(Protocol):
    """The other end of the call: speaks queued PCM in real time, records what it hears."""

    @property
    def sample_rate_hz(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def heard(self) -> Sequence[HeardFrameLike]: ...

    def say(self, pcm: bytes) -> int: ...
    def sent_at(self, frame_index: int) -> float: ...
    @property
    def frames_sent(self) -> int: ...


@contextlib.asynccontextmanager
async def open_call(
    via: str, sample_rate_hz: int = RATE_HZ, channels: int = 1
) -> AsyncIterator[tuple[Transport, SimulatedUser]]:
    """The bot's transport and the simulated user for `via`, torn down on exit."""
    if via == "wav":
        transport = WavTransport(sample_rate_hz=sample_rate_hz, channels=channels)
        yield transport, transport
        return
    if via == "ntgcalls":
        # A real WebRTC/Opus call between two ntgcalls endpoints on loopback: the
        # latencies measured at the user's end include both Opus/jitter-buffer legs.
        from ..transports.loopback import LoopbackCall

        async with LoopbackCall(sample_rate_hz=sample_rate_hz, channels=channels) as call:
            print("via ntgcalls: a WebRTC/Opus call on loopback; latencies heard by the user "
                  "include both call legs (Opus, RTP/UDP, jitter buffer)")  # fmt: skip
            yield call.transport, call.user
        return
    raise ValueError(f"--via {via!r}: expected one of {list(VIAS)}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    parser.set_defaults(handler=main)  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Run the demo; 0 when a reply was heard and barge-in worked."""
    try:
        config = BridgeConfig.load(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.live and not (config.endpoint.api_key or config.endpoint.ephemeral_token):
        print("demo --live needs GEMINI_API_KEY (or endpoint.api_key in --config)", file=sys.stderr)
        return 2
    try:
        code = run(_demo(args, config))
    except (BridgeError, OSError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        code = 1
    if args.via == "ntgcalls":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # ntgcalls may abort during interpreter teardown
    return code


@dataclass(slots=True)
class _Round:
    speech_start_s: float = math.nan
    speech_end_s: float = math.nan
    first_heard_s: float = math.nan
    silent_heard_s: float = math.nan


async def _demo(args: argparse.Namespace, config: BridgeConfig) -> int:
    # Replies stream at 1.2x real time (200 ms bursts), so the server is still generating
    # when the user cuts in and the barge-in is the server's `interrupted`.
    emulator_config = EmulatorConfig(think_time_s=0.05, speed=1.2)
    async with contextlib.AsyncExitStack() as stack:
        if args.live:
            where = f"Gemini Live ({config.gemini.model})"
        else:
            emulator = await stack.enter_async_context(Emulator(emulator_config))
            config = config.with_overrides(endpoint={"url": emulator.url, "api_key": None})
            where = f"the local emulator at {emulator.url}"
        config = config.with_overrides(
            engine={"vad_duck": True},
            transport={"sample_rate_hz": RATE_HZ, "channels": 1},
        )
        transport, user = await stack.enter_async_context(open_call(args.via, RATE_HZ, 1))
        speech = _load_speech(args.input, user.sample_rate_hz, user.channels)
        print(f"demo: {len(speech) / 2 / user.sample_rate_hz:.2f} s of speech via {args.via} "
              f"to {where}")  # fmt: skip
        session = Session(config, transport, tools=builtin_tools())
        turns = _TurnWatcher()
        session.add_listener(turns.on_event)
        session.add_listener(_print_event)
        await session.start()
        try:
            first, second = await _converse(user, turns, speech)
        finally:
            await session.stop()
        metrics = session.metrics()
    reply = _heard_between(user, first.speech_end_s, second.speech_start_s)
    _write_wav(args.out, reply, user.sample_rate_hz)
    _report(metrics, first, second, args.live, emulator_config, args.out, len(reply))
    heard_reply = not math.isnan(first.first_heard_s)
    barged_in = turns.interrupted
    return 0 if heard_reply and barged_in else 1


class _TurnWatcher:
    """Waits for turn events."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.interrupted = False

    def on_event(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self.started.set()
        elif isinstance(event, TurnEnded):
            self.interrupted |= event.interrupted
            self.ended.set()

    def reset(self) -> None:
        self.started.clear()
        self.ended.clear()


def _print_event(event: Event) -> None:
    if isinstance(event, Transcript) and event.final:
        who = "user  " if event.role == "user" else "gemini"
        print(f"  [{who}] {event.text}")
    elif isinstance(event, TurnEnded):
        how = "interrupted" if event.interrupted else "complete"
        print(f"  [turn {event.turn_id}] {how}; {event.heard_s:.2f} s of the reply was heard")


async def _speak(user: SimulatedUser, pcm: bytes) -> tuple[int, int]:
    """Queue `pcm`; return the frame indexes of its first and last audible frames."""
    frame_bytes = user.sample_rate_hz * 2 * user.channels // 100
    start = user.say(pcm)
    loud = [i for i in range(0, len(pcm), frame_bytes) if _peak(pcm[i : i + frame_bytes]) >= LOUD]
    first, last = (loud[0], loud[-1]) if loud else (0, len(pcm) - 1)
    return start + first // frame_bytes, start + last // frame_bytes


async def _wait_sent(user: SimulatedUser, frame_index: int) -> float:
    while user.frames_sent <= frame_index:
        await asyncio.sleep(FRAME_S)
    return user.sent_at(frame_index) + FRAME_S


async def _converse(
    user: SimulatedUser, turns: _TurnWatcher, speech: bytes
) -> tuple[_Round, _Round]:
    first, second = _Round(), _Round()
    # Round one: ask, listen to the whole reply.
    start, last = await _speak(user, speech)
    first.speech_start_s = await _wait_sent(user, start) - FRAME_S
    first.speech_end_s = await _wait_sent(user, last)
    await asyncio.wait_for(turns.ended.wait(), TURN_TIMEOUT_S)
    first.first_heard_s = _first_loud(user, first.speech_end_s)
    await asyncio.sleep(0.3)
    # Round two: ask again, then talk over the reply once it has played for a moment.
    turns.reset()
    start, last = await _speak(user, speech)
    second.speech_start_s = await _wait_sent(user, start) - FRAME_S
    second.speech_end_s = await _wait_sent(user, last)
    await asyncio.wait_for(turns.started.wait(), TURN_TIMEOUT_S)
    await asyncio.sleep(BARGE_IN_AFTER_S)
    turns.ended.clear()
    start, _ = await _speak(user, speech)
    barge_s = await _wait_sent(user, start) - FRAME_S
    await asyncio.wait_for(turns.ended.wait(), 5.0)
    await asyncio.sleep(0.2)
    second.first_heard_s = barge_s
    second.silent_heard_s = _silent_from(user, barge_s)
    return first, second


def _peak(pcm: bytes) -> int:
    samples = np.frombuffer(pcm, dtype=np.int16)
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0


def _first_loud(user: SimulatedUser, after_s: float) -> float:
    for frame in user.heard:
        if frame.arrival_s >= after_s and _peak(frame.pcm) >= LOUD:
            return frame.arrival_s
    return math.nan


def _silent_from(user: SimulatedUser, after_s: float) -> float:
    """When the last audible frame heard after `after_s` ended (`after_s` if none)."""
    silent_s = after_s
    for frame in user.heard:
        if frame.arrival_s >= after_s and _peak(frame.pcm) >= LOUD:
            silent_s = frame.arrival_s + FRAME_S
    return silent_s


def _heard_between(user: SimulatedUser, start_s: float, end_s: float) -> bytes:
    return b"".join(f.pcm for f in user.heard if start_s <= f.arrival_s < end_s)


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
    first: _Round,
    second: _Round,
    live: bool,
    emulator: EmulatorConfig,
    out: str,
    reply_bytes: int,
) -> None:
    c = m.counters
    if live:
        server = "includes the model's own end-of-speech detection and thinking"
    else:
        server = (
            f"includes the emulator's {emulator.silence_duration_ms} ms end-of-speech "
            f"silence and {emulator.think_time_s * 1e3:.0f} ms think time"
        )
    reply_s = first.first_heard_s - first.speech_end_s
    print()
    print("latency report (per 20 ms frame of audio)")
    print(f"  uplink processing   (mix+resample+encode)  {_dist(m.uplink_us)}")
    print(f"  downlink processing (decode+resample+buf)  {_dist(m.downlink_us)}")
    print("  bridge-added latency")
    print(f"    user frame in -> bytes on the socket     {_dist(m.uplink_latency_us)}")
    print(f"    reply audio in -> first frame played     {_dist(m.downlink_latency_us)}")
    print(f"  end of user speech -> first reply frame heard: {_ms(reply_s)} ({server})")
    print(f"  barge-in: server 'interrupted' -> playout silent   {_dist(m.barge_in_ms, 'ms')}")
    print(f"            local VAD: user speech -> output ducked  {_dist(m.duck_ms, 'ms')}")
    if m.local_barge_in_ms.count:
        print(
            f"            local barge-in (reply fully received)  {_dist(m.local_barge_in_ms, 'ms')}"
        )
    heard_silent = second.silent_heard_s - second.first_heard_s
    print(f"            user starts talking -> last bot audio heard: {_ms(heard_silent)} "
          "(includes the server's speech detection)")  # fmt: skip
    print(f"  playout: underruns {c['underruns']}, missed ticks {c['missed_ticks']}, "
          f"deadline error {_dist(m.deadline_error_us)}")  # fmt: skip
    print(f"  turns {c['turns']}, interruptions {c['interruptions']}, "
          f"uplink {c['uplink_bytes']} B in {c['uplink_chunks']} messages, "
          f"downlink {c['downlink_bytes']} B")  # fmt: skip
    print(f"wrote {out}: {reply_bytes / 2 / RATE_HZ:.2f} s of the first reply as heard")
