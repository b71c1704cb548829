"""A scripted ten-minute group call with 20 % speech, with the uplink gate on and off.

One user speaks turns of 1-5 s (phrases of the bundled recording, each opening with a
soft breath below the bridge's VAD threshold) at random times over a room's noise
floor, one 10 ms frame per 10 ms of loop time, to the emulator, in virtual time
(`run_virtual`): the ten minutes take seconds. What the emulator received is compared
with what the bridge sends with the gate off: the whole call resampled once (as
tests/test_e2e.py shows, sample for sample):
- the gate sends at most 30 % of the call's audio, and is billed for that much;
- the emulator's own turn detection (its VAD, fed the whole call as the gate-off bridge
  would send it) finds the same turns, with the same audio;
- no word onset is clipped: the first 300 ms of every turn, from its first breath,
  arrive sample for sample.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from _background import in_child
from conftest import PacedWav, loop_clock, run_in_virtual_time

from _dsp import Resampler
from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig, SessionRecord
from bridge.emulator._vad import EnergyVad as ServerVad
from bridge.engine import Session
from bridge.transports.wav import read_audio

SPEECH = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
RATE_HZ = 48_000
CALL_S = 600.0
ONSET_CHECKED_S = 0.3


def dbfs(level: float) -> float:
    return 32768 * 10 ** (level / 20)


@dataclass
class Script:
    pcm: npt.NDArray[np.int16]
    starts: list[int]
    """48 kHz sample where each turn's first breath begins."""
    speech_s: float


def script(seed: int = 20261204) -> Script:
    """Ten minutes of room noise (-66 dBFS RMS) with turns placed at random: each turn is
    one to four phrases of the recording, 150-400 ms apart, after a breath rising to
    -50 dBFS RMS over 50-250 ms (audible, but not to either VAD)."""
    rng = np.random.default_rng(seed)
    # float32 and in place: 28.8 M samples, where float64 temporaries cost seconds.
    clip = np.frombuffer(read_audio(SPEECH, RATE_HZ, 1), dtype=np.int16).astype(np.float32)
    phrases = [clip[int(a * RATE_HZ) : int(b * RATE_HZ)] for a, b in ((0.10, 0.93), (1.24, 2.68))]
    call = rng.standard_normal(int(CALL_S * RATE_HZ), dtype=np.float32)
    call *= dbfs(-66)
    starts: list[int] = []
    speech = 0
    at = int(2.0 * RATE_HZ)
    while True:
        breath_n = int(rng.uniform(0.05, 0.25) * RATE_HZ)
        breath = rng.standard_normal(breath_n, dtype=np.float32)
        breath *= np.geomspace(dbfs(-80), dbfs(-50), breath_n, dtype=np.float32)
        parts = [breath]
        for _ in range(rng.integers(1, 5)):
            parts.append(phrases[rng.integers(len(phrases))] * np.float32(rng.uniform(0.5, 1.0)))
            parts.append(np.zeros(int(rng.uniform(0.15, 0.4) * RATE_HZ), dtype=np.float32))
        turn = np.concatenate(parts[:-1])
        if at + turn.size > call.size - 2 * RATE_HZ:
            break
        call[at : at + turn.size] += turn
        starts.append(at)
        speech += turn.size
        at += turn.size + int(rng.uniform(7.0, 19.0) * RATE_HZ)
    np.rint(call, out=call)
    pcm = np.clip(call, -32768, 32767, out=call).astype(np.int16)
    return Script(pcm, starts, speech / RATE_HZ)


@dataclass
class Heard:
    record: SessionRecord
    counters: dict[str, int]
    prometheus: str


EMULATOR = EmulatorConfig(think_time_s=0.0, tone_s=0.5)


async def one_call(said: Script, gate: bool) -> Heard:
    async with Emulator(EMULATOR) as emu:
        transport = PacedWav(said.pcm.tobytes())
        config = BridgeConfig().with_overrides(
            endpoint={"url": emu.url}, engine={"uplink_gate": gate}
        )
        session = Session(config, transport, clock=loop_clock())
        async with session:
            while transport.frames_sent < said.pcm.size // (RATE_HZ // 100):
                await asyncio.sleep(1.0)
            await asyncio.sleep(1.5)  # the last turn's reply and usage report
        return Heard(emu.sessions[0], session.counters, session.metrics().to_prometheus())


def turns_without_the_gate(whole: npt.NDArray[np.int16]) -> list[bytes]:
    """The turns the emulator's VAD finds in the whole call, sent in 20 ms messages."""
    vad = ServerVad(
        sample_rate_hz=16_000,
        prefix_padding_ms=EMULATOR.prefix_padding_ms,
        silence_duration_ms=EMULATOR.silence_duration_ms,
    )
    turns = []
    for start in range(0, whole.size, 320):
        heard = vad.feed(whole[start : start + 320].tobytes())
        if heard.ended:
            turns.append(bytes(heard.speech))
    return turns


@in_child
def call() -> tuple[Script, Heard, npt.NDArray[np.int16]]:
    """The call with the gate on, in a child process (see tests/_background.py)."""
    said = script()
    heard = run_in_virtual_time(one_call(said, gate=True), timeout_s=CALL_S + 60)
    return said, heard, Resampler(RATE_HZ, 16_000).process(said.pcm)


Call = tuple[Script, Heard, npt.NDArray[np.int16]]


def test_the_script_is_a_ten_minute_call_with_a_fifth_of_it_speech(call: Call) -> None:
    said, _, whole = call
    assert said.pcm.size == CALL_S * RATE_HZ and whole.size == CALL_S * 16_000
    assert 0.18 <= said.speech_s / CALL_S <= 0.22


def test_the_gate_sends_at_most_30_percent_of_the_call_and_is_billed_for_that(call: Call) -> None:
    _, heard, _ = call
    counters = heard.counters
    sent_ms = counters["uplink_audio_sent_ms"]
    assert counters["call_ms"] == pytest.approx(CALL_S * 1000, rel=0.01)
    assert counters["uplink_audio_in_ms"] == pytest.approx(CALL_S * 1000, rel=0.01)
    assert sent_ms <= 0.30 * counters["call_ms"]
    assert heard.record.n_uplink_bytes == sent_ms * 32
    # The emulator bills input audio by its duration, as the service does.
    assert counters["prompt_tokens_audio"] == pytest.approx(25 * sent_ms / 1000, rel=0.01)
    for name in ("uplink_audio_sent_ms", "call_ms", "prompt_tokens_audio"):
        assert f"gemini_bridge_{name}_total {counters[name]}\n" in heard.prometheus


def test_the_emulator_finds_the_same_turns_with_the_same_audio(call: Call) -> None:
    said, heard, whole = call
    expected = turns_without_the_gate(whole)
    assert len(expected) == len(said.starts)
    assert [bytes(t.audio) for t in heard.record.turns] == expected
    assert heard.counters["uplink_stream_ends"] == len(said.starts)


def test_no_word_onset_is_clipped(call: Call) -> None:
    said, heard, whole = call
    received = bytes(heard.record.uplink_audio)
    n_checked = int(ONSET_CHECKED_S * 16_000)
    clipped = [
        start
        for start in said.starts
        if received.find(whole[start // 3 : start // 3 + n_checked].tobytes()) < 0
    ]
    assert clipped == []
