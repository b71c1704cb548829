"""End-to-end engine benchmarks: CPU per 20 ms frame, loopback latencies, concurrency.

Groups:
- engine-uplink-20ms: one 20 ms frame through the engine's uplink (two 10 ms speaker
  frames → 48→16 kHz → VAD → ring → base64/JSON message), next to the peer way
  (numpy downmix, python-soxr HQ stream, base64 + json.dumps).
- engine-downlink-20ms: 20 ms of 24 kHz reply audio → 48 kHz → jitter buffer → two 10 ms
  frames out, next to the peer way (python-soxr HQ stream into a deque of frames).
- loopback-latency: one real-time `Session` (WAV transport) against the emulator in this
  process over 127.0.0.1, five turns: uplink latency (user frame in → message on the
  socket), downlink latency (reply audio in → first 10 ms frame out) and the full loop
  (end of user speech → first echoed frame out, minus the emulator's end-of-speech
  silence and think time). Latencies go to `extra_info` and the printed table.
- concurrency: N sessions (1, 10, 50, 100, 200) in this process sharing one playout
  clock, against the emulator in another process (`gemini-tg-bridge emulator`), each
  speaking the bundled utterance and playing the echo: CPU per session, p99 playout
  deadline error, underruns, missed ticks.

Raw samples are written to `benchmarks/results/bench_e2e.json` for
`scripts/plot_latency.py`.

Run: .venv/bin/python -m pytest benchmarks/bench_e2e.py --benchmark-only -s
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr
import uvloop

from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import EnergyVad, PlayoutClock, Session
from bridge.engine._downlink import Downlink
from bridge.engine._uplink import Uplink
from bridge.engine.events import Event, TurnEnded
from bridge.protocol import encode_audio
from bridge.transports.wav import WavTransport, read_audio

RATE_HZ = 48_000
ROUNDS = 3000
SPEECH = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
RESULTS = Path(__file__).resolve().parent / "results" / "bench_e2e.json"
SILENCE_MS = 300
SHORT_S = 1.2  # "Hello Gemini." without the pause in the middle of the full utterance


def save(section: str, data: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = data
    RESULTS.write_text(json.dumps(results, separators=(",", ":")))


def frames_48k(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-8000, 8000, 480, dtype=np.int16).tobytes() for _ in range(n)]


# -- CPU per 20 ms frame -------------------------------------------------------------


def test_engine_uplink_ours(benchmark: Any) -> None:
    uplink = Uplink(
        sample_rate_hz=RATE_HZ, channels=1, chunk_ms=20, ring_capacity_s=10.0,
        vad=EnergyVad(), idle_ticks=20, histogram_capacity=1024,
    )  # fmt: skip
    frames = frames_48k(2)
    sent: deque[bytes] = deque(maxlen=4)

    async def send(message: bytes) -> None:
        sent.append(message)

    def encode(pcm: Any) -> bytes:
        return encode_audio(pcm, sample_rate_hz=16_000)  # LiveProtocol.audio_message's bytes

    def one_frame() -> None:
        uplink.on_frame(1, frames[0])
        uplink.on_frame(1, frames[1])
        # Runs to completion without suspending (`send` never awaits): no loop needed.
        with contextlib.suppress(StopIteration):
            uplink.send_pending(encode, send).send(None)

    benchmark.group = "engine-uplink-20ms"
    benchmark.pedantic(one_frame, rounds=ROUNDS, iterations=1, warmup_rounds=50)
    assert sent and len(json.loads(sent[-1])["realtimeInput"]["audio"]["data"]) == 856


def test_engine_uplink_peer_numpy_soxr(benchmark: Any) -> None:
    stream = soxr.ResampleStream(RATE_HZ, 16_000, 1, dtype="int16", quality="HQ")
    frames = frames_48k(2)
    sent: deque[str] = deque(maxlen=4)

    def one_frame() -> None:
        pcm = np.frombuffer(frames[0] + frames[1], dtype=np.int16)
        out = stream.resample_chunk(pcm)
        data = base64.b64encode(out.tobytes()).decode()
        sent.append(
            json.dumps(
                {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": data}}}
            )
        )

    benchmark.group = "engine-uplink-20ms"
    benchmark.pedantic(one_frame, rounds=ROUNDS, iterations=1, warmup_rounds=50)


def test_engine_downlink_ours(benchmark: Any) -> None:
    downlink = Downlink(
        sample_rate_hz=RATE_HZ, channels=1, target_ms=40, max_ms=60_000, histogram_capacity=1024
    )
    reply = np.random.default_rng(1).integers(-8000, 8000, 480, dtype=np.int16).tobytes()
    for _ in range(4):
        downlink.push(reply)

    def one_frame() -> None:
        downlink.push(reply)
        downlink.pop_frame()
        downlink.pop_frame()

    benchmark.group = "engine-downlink-20ms"
    benchmark.pedantic(one_frame, rounds=ROUNDS, iterations=1, warmup_rounds=50)
    assert downlink.underruns == 0


def test_engine_downlink_peer_soxr_queue(benchmark: Any) -> None:
    stream = soxr.ResampleStream(24_000, RATE_HZ, 1, dtype="int16", quality="HQ")
    reply = np.random.default_rng(1).integers(-8000, 8000, 480, dtype=np.int16)
    queue: deque[bytes] = deque()
    pending = bytearray()

    def one_frame() -> None:
        pending.extend(stream.resample_chunk(reply).tobytes())
        while len(pending) >= 960:
            queue.append(bytes(pending[:960]))
            del pending[:960]
        for _ in range(2):
            queue.popleft() if queue else bytes(960)

    benchmark.group = "engine-downlink-20ms"
    benchmark.pedantic(one_frame, rounds=ROUNDS, iterations=1, warmup_rounds=50)


# -- latency on loopback -------------------------------------------------------------


async def _loopback_turns(n_turns: int) -> dict[str, Any]:
    speech = read_audio(SPEECH, RATE_HZ, 1)[: int(SHORT_S * RATE_HZ) * 2]
    emulator = EmulatorConfig(think_time_s=0.05, silence_duration_ms=SILENCE_MS)
    loops_ms: list[float] = []
    async with Emulator(emulator) as emu:
        config = BridgeConfig().with_overrides(endpoint={"url": emu.url})
        transport = WavTransport(sample_rate_hz=RATE_HZ)
        session = Session(config, transport)
        ended = asyncio.Event()
        session.add_listener(lambda e: isinstance(e, TurnEnded) and ended.set())
        loud = [i for i in range(0, len(speech), 960) if np.abs(
            np.frombuffer(speech[i : i + 960], np.int16)).max() > 300]  # fmt: skip
        last_loud = loud[-1] // 960
        async with session:
            for _ in range(n_turns):
                ended.clear()
                start = transport.say(speech)
                await asyncio.wait_for(ended.wait(), 15)
                speech_end_s = transport.sent_at(start + last_loud) + 0.01
                first_heard = next(
                    f.arrival_s for f in transport.heard
                    if f.arrival_s > speech_end_s
                    and np.abs(np.frombuffer(f.pcm, np.int16)).max() > 300
                )  # fmt: skip
                server_s = SILENCE_MS / 1000 + emulator.think_time_s
                loops_ms.append((first_heard - speech_end_s - server_s) * 1e3)
                await asyncio.sleep(0.2)
        metrics = session.metrics()
    return {
        "uplink_latency_us": session.uplink.latency_us.values().tolist(),
        "downlink_latency_us": session.stats.histograms.downlink_latency_us.values().tolist(),
        "loop_ms": loops_ms,
        "uplink_us": session.uplink.processing_us.values().tolist(),
        "downlink_us": session.downlink.processing_us.values().tolist(),
        "underruns": metrics.counters["underruns"],
    }


def _pct(values: list[float]) -> str:
    if not values:
        return "no samples"
    p50, p99 = np.percentile(values, (50, 99))
    return f"p50 {p50:8.1f}  p99 {p99:8.1f}  max {max(values):8.1f}  n={len(values)}"


def test_loopback_latency(benchmark: Any) -> None:
    benchmark.group = "loopback-latency"
    result: dict[str, Any] = benchmark.pedantic(
        lambda: uvloop.run(_loopback_turns(5)), rounds=1, iterations=1
    )
    save("loopback", result)
    for key in ("uplink_latency_us", "downlink_latency_us", "loop_ms", "uplink_us", "downlink_us"):
        benchmark.extra_info[key] = _pct(result[key])
    print("\nloopback latency (one session, real time, emulator in process)")
    print(f"  uplink  frame in -> message on socket (µs)   {_pct(result['uplink_latency_us'])}")
    print(f"  downlink audio in -> first frame out (µs)    {_pct(result['downlink_latency_us'])}")
    print(f"  full loop minus server time (ms)             {_pct(result['loop_ms'])}")
    print(f"  uplink CPU per 20 ms, in pipeline (µs)       {_pct(result['uplink_us'])}")
    print(f"  downlink CPU per 20 ms, in pipeline (µs)     {_pct(result['downlink_us'])}")
    assert result["underruns"] == 0


# -- concurrency ---------------------------------------------------------------------


class ExternalEmulator:
    """`gemini-tg-bridge emulator` in a child process; its URL and CPU time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "emulator", "--think-time-s", "0.05",
             "--speed", "4"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("ws://"):
            self.close()
            raise RuntimeError(f"the emulator did not start: {self.url!r}")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


async def _concurrent(
    n_sessions: int, url: str, emulator: ExternalEmulator, chunk_ms: int = 20
) -> dict[str, Any]:
    speech = read_audio(SPEECH, RATE_HZ, 1)
    clock = PlayoutClock()
    config = BridgeConfig().with_overrides(
        endpoint={"url": url}, engine={"uplink_chunk_ms": chunk_ms}
    )
    sessions: list[Session] = []
    done = 0
    all_done = asyncio.Event()

    def on_event(event: Event) -> None:
        nonlocal done
        if isinstance(event, TurnEnded):
            done += 1
            if done >= n_sessions:
                all_done.set()

    for i in range(n_sessions):
        # Stagger the speakers over a second, as unrelated chats would be.
        transport = WavTransport(speech, sample_rate_hz=RATE_HZ, lead_in_ms=(i * 70) % 1000)
        session = Session(config, transport, clock=clock)
        session.add_listener(on_event)
        sessions.append(session)
    for session in sessions:
        await session.start()
    clock.deadline_error_us.reset()
    for session in sessions:
        session.stats.histograms.deadline_error_us.reset()
    missed_before = clock.missed_ticks
    cpu0, emu0, wall0 = time.process_time(), emulator.cpu_s(), time.monotonic()
    try:
        await asyncio.wait_for(all_done.wait(), 30)
    finally:
        cpu_s = time.process_time() - cpu0
        emu_cpu_s = emulator.cpu_s() - emu0
        wall_s = time.monotonic() - wall0
        lag = clock.deadline_error_us.summary()
        missed = clock.missed_ticks - missed_before
        # Per session: how late each frame reached its transport after its deadline.
        errors = np.concatenate([s.stats.histograms.deadline_error_us.values() for s in sessions])
        p50, p99 = np.percentile(errors, (50, 99))
        underruns = sum(s.downlink.underruns for s in sessions)
        heard = [s.metrics().counters["turns"] for s in sessions]
        await asyncio.gather(*(s.stop() for s in sessions))
        await clock.aclose()
    return {
        "sessions": n_sessions,
        "uplink_chunk_ms": chunk_ms,
        "wall_s": wall_s,
        "cpu_per_session_pct": 100 * cpu_s / wall_s / n_sessions,
        "process_cpu_pct": 100 * cpu_s / wall_s,
        "emulator_cpu_pct": 100 * emu_cpu_s / wall_s,
        "deadline_error_p50_us": float(p50),
        "deadline_error_p99_us": float(p99),
        "deadline_error_max_us": float(errors.max()),
        "loop_lag_p99_us": lag.p99,
        "missed_ticks": missed,
        "underruns": underruns,
        "turns_completed": sum(heard),
        "deadline_errors_us": np.random.default_rng(0).choice(errors, 2000).round(1).tolist(),
    }


@pytest.fixture(scope="module")
def external_emulator() -> Any:
    emulator = ExternalEmulator()
    yield emulator
    emulator.close()


@pytest.mark.parametrize(
    ("n_sessions", "chunk_ms"),
    [(1, 20), (10, 20), (50, 20), (100, 20), (200, 20), (100, 40), (200, 40)],
)
def test_concurrency(
    benchmark: Any, external_emulator: ExternalEmulator, n_sessions: int, chunk_ms: int
) -> None:
    benchmark.group = "concurrency"
    if benchmark.disabled and n_sessions > 10:
        pytest.skip("a smoke run (--benchmark-disable) keeps to 10 sessions")
    result: dict[str, Any] = benchmark.pedantic(
        lambda: uvloop.run(
            _concurrent(n_sessions, external_emulator.url, external_emulator, chunk_ms)
        ),
        rounds=1,
        iterations=1,
    )
    save(f"concurrency-{n_sessions}-{chunk_ms}ms", result)
    summary = {k: v for k, v in result.items() if k != "deadline_errors_us"}
    benchmark.extra_info.update(summary)
    print(
        f"\n{n_sessions:4d} sessions, {chunk_ms} ms chunks: CPU/session "
        f"{result['cpu_per_session_pct']:.2f}% of a core "
        f"(bridge process {result['process_cpu_pct']:.0f}%, emulator "
        f"{result['emulator_cpu_pct']:.0f}%), playout deadline error p50 "
        f"{result['deadline_error_p50_us'] / 1000:.2f} ms p99 "
        f"{result['deadline_error_p99_us'] / 1000:.2f} ms max "
        f"{result['deadline_error_max_us'] / 1000:.2f} ms, missed ticks "
        f"{result['missed_ticks']}, underruns {result['underruns']}, turns "
        f"{result['turns_completed']}/{n_sessions}"
    )
