"""What answering only when addressed costs: the delay it adds to the first reply audio.

Group address-hold: one real-time `Session` (WAV transport, uvloop) against the emulator
in this process, five turns per case, "Gemini, ..." as the input transcription. The
emulator sends the transcription `lag` after the end of the turn and the reply audio
`think` (300 ms) after it: with `respond = "when_addressed"` the reply waits for the
transcript. Each case is measured with `respond = "always"` and `"when_addressed"`:
`reply_latency_ms` (last loud user frame → first reply frame played) and the session's
`reply_hold_ms / replies_held`. The added delay is their difference; the model is
`max(0, lag - think)`, plus whatever the event loop adds. With live captions (every
100 ms of speech, the transcript a word at a time) the name shows while the user speaks,
and nothing is held.

Run: .venv/bin/python -m pytest benchmarks/bench_address.py --benchmark-only -s
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvloop

from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import Session
from bridge.engine.events import TurnEnded
from bridge.transports.wav import WavTransport, read_audio

RATE_HZ = 48_000
SPEECH = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
SHORT_S = 1.2  # "Hello Gemini.": one turn
THINK_S = 0.3
TURNS = 5


async def _turns(respond: str, lag_s: float, captions: bool) -> dict[str, Any]:
    speech = read_audio(SPEECH, RATE_HZ, 1)[: int(SHORT_S * RATE_HZ) * 2]
    emulator = EmulatorConfig(
        think_time_s=THINK_S,
        silence_duration_ms=300,
        input_transcript="Gemini, say that back",
        input_transcript_lag_s=lag_s,
        interim_ms=100 if captions else None,
        interim_words=captions,
    )
    async with Emulator(emulator) as emu:
        config = BridgeConfig().with_overrides(
            endpoint={"url": emu.url}, gemini={"respond": respond}
        )
        transport = WavTransport(sample_rate_hz=RATE_HZ)
        session = Session(config, transport)
        ended = asyncio.Event()
        session.add_listener(lambda e: isinstance(e, TurnEnded) and ended.set())
        async with session:
            for _ in range(TURNS):
                ended.clear()
                transport.say(speech)
                await asyncio.wait_for(ended.wait(), 15)
                await asyncio.sleep(0.2)
        metrics, counters = session.metrics(), session.counters
    return {
        "reply_latency_ms": session.stats.histograms.reply_latency_ms.values().tolist(),
        "hold_ms": counters["reply_hold_ms"] / max(1, counters["replies_held"]),
        "underruns": metrics.counters["underruns"],
    }


@pytest.mark.parametrize(
    ("lag_s", "captions"), [(0.0, False), (0.5, False), (1.0, False), (1.0, True)]
)
def test_address_hold(benchmark: Any, lag_s: float, captions: bool) -> None:
    benchmark.group = "address-hold"

    def both() -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            uvloop.run(_turns("always", lag_s, captions)),
            uvloop.run(_turns("when_addressed", lag_s, captions)),
        )

    always, addressed = benchmark.pedantic(both, rounds=1, iterations=1)
    p50_always = float(np.median(always["reply_latency_ms"]))
    p50_addressed = float(np.median(addressed["reply_latency_ms"]))
    added_ms = p50_addressed - p50_always
    benchmark.extra_info.update(
        lag_ms=lag_s * 1e3,
        captions=captions,
        reply_latency_always_p50_ms=p50_always,
        reply_latency_when_addressed_p50_ms=p50_addressed,
        added_p50_ms=added_ms,
        hold_mean_ms=addressed["hold_ms"],
    )
    print(
        f"\nlag {lag_s * 1e3:5.0f} ms  captions {'on ' if captions else 'off'}  "
        f"think {THINK_S * 1e3:.0f} ms  reply latency p50: "
        f"always {p50_always:6.1f}  when_addressed {p50_addressed:6.1f}  "
        f"added {added_ms:6.1f} ms  (hold counter mean {addressed['hold_ms']:.1f} ms)"
    )
    assert always["underruns"] == addressed["underruns"] == 0
