"""What the uplink's voice-activity gate costs: CPU per frame, and delay at a turn's end.

Groups:
- gate-frame-10ms: one 10 ms speaker frame (48 kHz mono) through the engine's `Uplink`
  (mix, 48→16 kHz, VAD, gate, ring) and, every second frame, the 20 ms message built
  and handed to a socket stand-in, in the trailing quiet of a turn (the frames that
  decide when the server ends it), gate on next to gate off.
- turn-end: a real session on the real clock (uvloop) against the emulator on loopback,
  gate on and gate off: a user says 1.2 s, then the room is quiet; timed is the last
  frame of speech handed to the session → the emulator's transcription of the turn back
  at the client, less the emulator's 300 ms end-of-speech silence. The gate's share of
  it is the gate-on figure less the gate-off one (p50 and p99 are printed and saved to
  benchmarks/results/bench_gate.json). With `--benchmark-disable` (CI's smoke run) each
  side runs two turns instead of `TURNS`.

Run: .venv/bin/python -m pytest benchmarks/bench_gate.py --benchmark-only -s
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from bridge._pacing import Pacer
from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import EnergyVad, Session
from bridge.engine._gate import UplinkGate
from bridge.engine._uplink import Uplink
from bridge.engine.events import Event, Transcript
from bridge.protocol import encode_audio
from bridge.transports import FrameSink, Transport

RATE_HZ = 48_000
FRAME = RATE_HZ // 100
ROUNDS = 4000
TURNS = 20
SILENCE_MS = 300
RESULTS = Path(__file__).parent / "results" / "bench_gate.json"


def tone_then_quiet(seconds_loud: float, seconds_quiet: float) -> list[bytes]:
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds_loud * RATE_HZ)) / RATE_HZ
    loud = 8000 * np.sin(2 * np.pi * 220 * t)
    quiet = rng.normal(0, 20, int(seconds_quiet * RATE_HZ))
    pcm = np.concatenate([loud, quiet]).astype(np.int16)
    return [pcm[i : i + FRAME].tobytes() for i in range(0, pcm.size - FRAME + 1, FRAME)]


def uplink(gate: bool) -> Uplink:
    vad = EnergyVad()
    return Uplink(
        sample_rate_hz=RATE_HZ, channels=1, chunk_ms=20, ring_capacity_s=10.0, vad=vad,
        idle_ticks=20, histogram_capacity=1024,
        gate=UplinkGate(vad, pre_roll_ms=400, hangover_ms=60_000, pause_ms=60_000,
                        sample_rate_hz=16_000) if gate else None,
    )  # fmt: skip


def frame_cost(benchmark: Any, gate: bool) -> None:
    path = uplink(gate)
    frames = tone_then_quiet(0.5, ROUNDS / 100 + 1)
    # The turn has started: the gate is open and the quiet after the speech follows.
    for frame in frames[:50]:
        path.on_frame(1, frame)
    quiet = iter(frames[50:])
    sent: list[int] = []

    async def send(message: bytes) -> None:
        sent.append(len(message))

    def encode(pcm: Any) -> bytes:
        return encode_audio(pcm, sample_rate_hz=16_000)

    def one_frame() -> None:
        path.on_frame(1, next(quiet))
        path.tick()
        # Runs to completion without suspending (`send` never awaits): no loop needed.
        with contextlib.suppress(StopIteration):
            path.send_pending(encode, send).send(None)

    benchmark.group = "gate-frame-10ms"
    benchmark.pedantic(one_frame, rounds=ROUNDS, iterations=1, warmup_rounds=20)
    assert sent and path.ring.available < path.chunk_samples


def test_frame_gate_on(benchmark: Any) -> None:
    frame_cost(benchmark, gate=True)


def test_frame_gate_off(benchmark: Any) -> None:
    frame_cost(benchmark, gate=False)


class Feeder(Transport):
    """A user paced on the real clock: one 10 ms frame per 10 ms, silence between turns."""

    def __init__(self) -> None:
        self.sample_rate_hz, self.channels = RATE_HZ, 1
        self._sink: FrameSink | None = None

    async def start(self, on_frame: FrameSink) -> None:
        self._sink = on_frame

    async def send_frame(self, pcm: bytes) -> None:
        pass

    async def stop(self) -> None:
        self._sink = None

    async def play(self, frames: list[bytes], last_loud: int) -> float:
        """Deliver `frames` in real time; returns when frame `last_loud` went in."""
        pacer = Pacer(0.010)
        handed_s = 0.0
        loop = asyncio.get_running_loop()
        for index, frame in enumerate(frames):
            await pacer.next_tick()
            assert self._sink is not None
            self._sink(1, frame)
            if index == last_loud:
                handed_s = loop.time()
        return handed_s


async def turn_end_delays(gate: bool, turns: int) -> list[float]:
    frames = tone_then_quiet(1.2, 2.5)
    last_loud = int(1.2 * 100) - 1
    emulator = EmulatorConfig(think_time_s=0.0, silence_duration_ms=SILENCE_MS, tone_s=0.2)
    delays: list[float] = []
    async with Emulator(emulator) as emu:
        config = BridgeConfig().with_overrides(
            endpoint={"url": emu.url}, engine={"uplink_gate": gate}
        )
        feeder = Feeder()
        heard: asyncio.Queue[float] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def on_event(event: Event) -> None:
            if isinstance(event, Transcript) and event.role == "user":
                heard.put_nowait(loop.time())

        session = Session(config, feeder)
        session.add_listener(on_event)
        async with session:
            for _ in range(turns):
                ended_s = await feeder.play(frames, last_loud)
                detected_s = await asyncio.wait_for(heard.get(), 5.0)
                delays.append((detected_s - ended_s) * 1e3 - SILENCE_MS)
    return delays


def test_turn_end_gate_on_vs_off(benchmark: Any) -> None:
    turns = 2 if benchmark.disabled else TURNS
    results: dict[str, list[float]] = {}

    def both() -> None:
        for gate in (False, True):
            results["on" if gate else "off"] = uvloop.run(turn_end_delays(gate, turns))

    benchmark.group = "turn-end"
    benchmark.pedantic(both, rounds=1, iterations=1)
    summary = {
        side: {
            "p50_ms": float(np.percentile(delays, 50)),
            "p99_ms": float(np.percentile(delays, 99)),
            "n": len(delays),
        }
        for side, delays in results.items()
    }
    summary["added"] = {
        "p50_ms": summary["on"]["p50_ms"] - summary["off"]["p50_ms"],
        "p99_ms": summary["on"]["p99_ms"] - summary["off"]["p99_ms"],
    }
    print(f"\nturn end (last speech frame in -> turn detected, less {SILENCE_MS} ms): {summary}")
    if not benchmark.disabled:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, indent=1))
    assert all(len(delays) == turns for delays in results.values())
