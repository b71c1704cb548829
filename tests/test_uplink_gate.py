"""The uplink's voice-activity gate, driven frame by frame without sockets.

A user's 10 ms frames go into a real `Uplink` (mixer, resampler, VAD, gate, ring) on a
hand-moved clock; `send_pending` hands its messages to a list. What is asserted is what
the server would receive: which samples, which marks, in which order, exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from _dsp import Resampler
from bridge.config import BridgeConfig, ConfigError
from bridge.engine._gate import UplinkGate
from bridge.engine._uplink import Mark, Uplink
from bridge.engine._vad import EnergyVad

RATE_HZ = 48_000
FRAME = RATE_HZ // 100
FRAME16 = 160
PRE_ROLL_MS = 300
HANGOVER_MS = 700
PAUSE_MS = 1000


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def make_uplink(clock: Clock, *, gate: bool = True) -> Uplink:
    vad = EnergyVad(-35.0)
    return Uplink(
        sample_rate_hz=RATE_HZ,
        channels=1,
        chunk_ms=20,
        ring_capacity_s=30.0,
        vad=vad,
        idle_ticks=20,
        histogram_capacity=64,
        gate=UplinkGate(
            vad,
            pre_roll_ms=PRE_ROLL_MS,
            hangover_ms=HANGOVER_MS,
            pause_ms=PAUSE_MS,
            sample_rate_hz=16_000,
        )
        if gate
        else None,
        monotonic=clock,
    )


def noise(seconds: float, dbfs: float, seed: int) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    level = 32768 * 10 ** (dbfs / 20)
    return np.clip(rng.normal(0, level, int(seconds * RATE_HZ)), -32768, 32767).astype(np.int16)


def tone(seconds: float, dbfs: float = -12.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return (32768 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def frames(pcm: npt.NDArray[np.int16]) -> Iterator[bytes]:
    for start in range(0, pcm.size - FRAME + 1, FRAME):
        yield pcm[start : start + FRAME].tobytes()


class Wire:
    """What reached the server: audio samples and marks, in order."""

    def __init__(self) -> None:
        self.items: list[npt.NDArray[np.int16] | Mark] = []
        self.fail = False

    def encode(self, pcm: npt.NDArray[np.generic]) -> bytes:
        self.items.append(np.array(pcm, dtype=np.int16))
        return b"audio"

    def control(self, mark: Mark) -> bytes:
        self.items.append(mark)
        return mark.encode()

    async def send(self, message: bytes) -> None:
        if self.fail:
            self.items.pop()  # encoded, never delivered
            raise ConnectionError("socket closed")

    @property
    def audio(self) -> npt.NDArray[np.int16]:
        parts = [item for item in self.items if not isinstance(item, str)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    @property
    def marks(self) -> list[str]:
        return [item for item in self.items if isinstance(item, str)]

    def stretches(self) -> list[npt.NDArray[np.int16]]:
        """The audio between each "start" and its "end"."""
        out: list[npt.NDArray[np.int16]] = []
        current: list[npt.NDArray[np.int16]] | None = None
        for item in self.items:
            if isinstance(item, str):
                if item == "start":
                    current = []
                    continue
                assert current is not None, "an end with no start"
                out.append(np.concatenate(current))
                current = None
            else:
                assert current is not None, "audio outside a stretch"
                current.append(item)
        return out


def play(uplink: Uplink, clock: Clock, pcm: npt.NDArray[np.int16]) -> None:
    """One frame and one mixer tick per 10 ms, as a session would see them."""
    for frame in frames(pcm):
        uplink.on_frame(1, frame)
        uplink.tick()
        clock.now_s += 0.010


def drain(uplink: Uplink, wire: Wire, *, flush: bool = False) -> None:
    asyncio.run(uplink.send_pending(wire.encode, wire.send, control=wire.control, flush=flush))


def as16(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    return Resampler(RATE_HZ, 16_000).process(pcm)


def test_a_silent_room_sends_nothing() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    play(uplink, clock, noise(5.0, -60.0, seed=1))
    drain(uplink, wire, flush=True)
    assert wire.items == []
    assert uplink.captured_samples == 5 * 16_000 and uplink.sent_samples == 0


def test_speech_goes_out_with_its_pre_roll_then_the_pause_then_the_stream_end() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    room = noise(2.0, -60.0, seed=2)
    said = np.concatenate([room, tone(1.0), noise(3.0, -60.0, seed=3)])
    play(uplink, clock, said)
    drain(uplink, wire)
    assert wire.marks == ["start", "end"]
    [stretch] = wire.stretches()
    # Sample for sample: what the whole uplink would have sent, from `pre_roll_ms` before
    # the first loud frame to `hangover_ms` after the last one (within a few frames).
    whole = as16(said)
    first = 2 * 16_000 - PRE_ROLL_MS * 16
    assert np.array_equal(stretch, whole[first : first + stretch.size])
    quiet_samples = first + stretch.size - 3 * 16_000
    assert HANGOVER_MS * 16 <= quiet_samples <= HANGOVER_MS * 16 + 3 * FRAME16
    assert uplink.stream_ends == 1 and uplink.gate is not None and uplink.gate.opens == 1


def test_a_pause_shorter_than_pause_ms_keeps_one_stretch() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    gap = noise(0.8, -60.0, seed=4)
    said = np.concatenate([noise(0.5, -60.0, 5), tone(0.5), gap, tone(0.5), noise(2.0, -60.0, 6)])
    play(uplink, clock, said)
    drain(uplink, wire)
    assert wire.marks == ["start", "end"]
    # The server hears the pause inside the stretch as it was.
    first = int(0.5 * 16_000) - PRE_ROLL_MS * 16
    assert np.array_equal(wire.stretches()[0], as16(said)[first : first + wire.audio.size])


def test_the_pre_roll_after_a_recent_close_holds_only_audio_not_sent() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    # The second word comes 100 ms after the gate closed: its pre-roll is those 100 ms.
    first = np.concatenate([noise(0.5, -60.0, 7), tone(0.3), noise(PAUSE_MS / 1000, -60.0, 8)])
    said = np.concatenate([first, noise(0.1, -60.0, 9), tone(0.3), noise(1.5, -60.0, 10)])
    play(uplink, clock, said)
    drain(uplink, wire)
    assert wire.marks == ["start", "end", "start", "end"]
    # Nothing twice, nothing reordered: each stretch is a piece of the input, the second
    # one after the first, beginning where the first one's stretch ended.
    whole = as16(said)
    one, two = wire.stretches()
    start = int(0.5 * 16_000) - PRE_ROLL_MS * 16
    assert np.array_equal(one, whole[start : start + one.size])
    ended = int((0.8 + PAUSE_MS / 1000) * 16_000)  # the last loud frame + the pause
    at = uplink.stretches[1][1]
    assert ended <= at <= ended + 2 * FRAME16
    assert np.array_equal(two, whole[at : at + two.size])


def test_a_muted_room_still_gets_its_stream_end() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    play(uplink, clock, np.concatenate([noise(0.5, -60.0, 11), tone(0.5)]))
    for _ in range(PAUSE_MS // 10 + 1):  # every microphone muted: ticks, no frames
        uplink.tick()
        clock.now_s += 0.010
    drain(uplink, wire)
    assert wire.marks == ["start", "end"]
    assert wire.items[-1] == "end"


def test_a_word_said_right_after_everyone_was_muted_is_sent_whole() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    before = np.concatenate([noise(0.5, -60.0, 16), tone(0.5)])
    play(uplink, clock, before)
    for _ in range(HANGOVER_MS // 10 + 5):  # muted: ticks, no frames, past the hangover
        uplink.tick()
        clock.now_s += 0.010
    word = np.concatenate([tone(0.5), noise(2.0, -60.0, 17)])
    play(uplink, clock, word)
    drain(uplink, wire)
    # The word after the mute is heard from its first sample, in the same stretch: the
    # server hears the two words back to back, as the microphones gave them.
    assert wire.marks == ["start", "end"]
    start = int(0.5 * 16_000) - PRE_ROLL_MS * 16
    whole = as16(np.concatenate([before, word]))
    assert np.array_equal(wire.audio, whole[start : start + wire.audio.size])
    assert wire.audio.size > (before.size + word.size // 4) // 3


def test_audio_and_marks_not_taken_by_a_dead_socket_go_out_once_on_the_next() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock), Wire()
    said = np.concatenate([noise(0.5, -60.0, 12), tone(0.6), noise(2.0, -60.0, 13)])
    play(uplink, clock, said[:48_000])  # 1 s in: a stretch is open
    drain(uplink, wire)
    sent_before = wire.audio.size
    assert wire.marks == ["start"] and sent_before
    wire.fail = True
    play(uplink, clock, said[48_000:])
    with pytest.raises(ConnectionError):
        drain(uplink, wire)
    # Speaker timelines count captured samples: the first unsent one is where it was said.
    first = int(0.5 * 16_000) - PRE_ROLL_MS * 16
    assert uplink.sent_position == first + sent_before
    wire.fail = False
    uplink.reconnected()  # the stretch is opened again on the new socket
    drain(uplink, wire)
    assert wire.marks == ["start", "start", "end"]
    whole = as16(said)
    begin = int(0.5 * 16_000) - PRE_ROLL_MS * 16
    assert np.array_equal(wire.audio, whole[begin : begin + wire.audio.size])
    assert uplink.ring.available == 0
    assert uplink.sent_position == uplink.captured_samples - uplink.gate.pre_roll.available  # type: ignore[union-attr]


def test_with_the_gate_off_every_sample_goes_out_and_no_mark() -> None:
    clock = Clock()
    uplink, wire = make_uplink(clock, gate=False), Wire()
    said = np.concatenate([noise(1.0, -60.0, 14), tone(0.5), noise(2.0, -60.0, 15)])
    play(uplink, clock, said)
    drain(uplink, wire, flush=True)
    assert wire.marks == [] and np.array_equal(wire.audio, as16(said))


def test_gate_settings_out_of_order_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="hangover_ms <= pause_ms"):
        UplinkGate(
            EnergyVad(), pre_roll_ms=300, hangover_ms=1200, pause_ms=1000, sample_rate_hz=16_000
        )
    with pytest.raises(ConfigError, match=r"engine\.uplink_hangover_ms"):
        BridgeConfig().with_overrides(engine={"uplink_hangover_ms": 1500, "uplink_pause_ms": 1000})
