"""JitterBuffer scenarios: adaptive start, underrun fades, barge-in, end of reply, limits."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _dsp import JitterBuffer

RATE = 48000
FRAME = 480
FADE = 240  # 5 ms at 48 kHz


def sine(n: int, amplitude: float = 30000.0, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(n) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def max_natural_step(amplitude: float = 30000.0, freq_hz: float = 440.0) -> float:
    return 2 * np.pi * freq_hz / RATE * amplitude + 1


def test_idle_pops_silence() -> None:
    jb = JitterBuffer()
    assert jb.frame_samples == FRAME
    for _ in range(3):
        frame = jb.pop()
        assert frame.dtype == np.int16 and frame.shape == (FRAME,) and not frame.any()
    assert not jb.is_playing and jb.played_samples == 0


def test_talkspurt_waits_for_target_then_plays_unchanged() -> None:
    jb = JitterBuffer(target_ms=60)
    audio = sine(RATE // 10)
    assert jb.push(audio[: 48 * 50]) == 48 * 50  # 50 ms: below the target
    assert not jb.pop().any() and not jb.is_playing
    jb.push(audio[48 * 50 :])
    out = np.concatenate([jb.pop() for _ in range(5)])
    assert jb.is_playing
    np.testing.assert_array_equal(out, audio[: 5 * FRAME])
    assert jb.played_samples == 5 * FRAME
    assert jb.depth_ms == pytest.approx(50.0)


def test_mark_end_plays_out_the_rest_without_waiting() -> None:
    jb = JitterBuffer(target_ms=100)
    audio = sine(700)
    jb.push(audio)
    assert not jb.pop().any()
    jb.mark_end()
    first, second = jb.pop(), jb.pop()
    np.testing.assert_array_equal(first, audio[:FRAME])
    np.testing.assert_array_equal(second[: 700 - FRAME], audio[FRAME:])
    assert not second[700 - FRAME :].any()
    assert not jb.is_playing and jb.underruns == 0 and jb.played_samples == 700


def test_underrun_fades_out_raises_target_and_fades_back_in() -> None:
    jb = JitterBuffer(target_ms=20)
    audio = sine(RATE)
    jb.push(audio[:2400])  # 50 ms
    frames = [jb.pop() for _ in range(6)]
    assert jb.underruns == 1 and not jb.is_playing
    assert jb.target_ms == pytest.approx(30.0)
    jb.push(audio[2400:6000])
    frames += [jb.pop() for _ in range(6)]
    out = np.concatenate(frames).astype(np.int64)
    assert np.abs(np.diff(out)).max() <= max_natural_step() + 32767 / FADE + 1
    played = np.concatenate([f[f != 0] for f in frames])
    assert len(played) <= jb.played_samples


def test_target_decays_after_stable_playout() -> None:
    jb = JitterBuffer(target_ms=20)
    jb.push(sine(2400))
    for _ in range(6):
        jb.pop()
    raised = jb.target_ms
    assert raised > 20
    jb.push(sine(RATE * 3))
    for _ in range(250):
        jb.pop()
    assert jb.underruns == 1
    assert 20 <= jb.target_ms < raised


def test_repeated_underruns_raise_target_to_a_bound() -> None:
    jb = JitterBuffer(target_ms=20, max_ms=1000)
    for _ in range(100):
        jb.push(sine(FRAME * 30))
        for _ in range(60):
            jb.pop()
    assert jb.underruns >= 50
    assert jb.target_ms <= 220


def test_clear_fades_within_one_frame_and_discards_the_rest() -> None:
    jb = JitterBuffer(target_ms=20)
    audio = sine(RATE)
    jb.push(audio)
    before = np.concatenate([jb.pop() for _ in range(3)])
    jb.clear()
    assert jb.is_playing  # its fade-out is still to come
    faded = jb.pop()
    assert not faded[FADE:].any()
    steps = np.abs(np.diff(np.concatenate([before, faded]).astype(np.int64)))
    assert steps.max() <= max_natural_step() + 32767 / FADE + 1
    assert not jb.is_playing and jb.depth_ms == 0
    assert not jb.pop().any()
    assert jb.played_samples == 3 * FRAME + FADE


def test_second_clear_before_the_fade_keeps_the_fade() -> None:
    jb = JitterBuffer(target_ms=20)
    audio = sine(RATE)
    jb.push(audio)
    before = np.concatenate([jb.pop() for _ in range(3)])
    assert abs(int(before[-1])) > 20000  # loud where the clear lands
    jb.clear()
    jb.push(audio[:1000])  # audio arriving between the two clears is discarded too
    jb.clear()
    assert jb.is_playing
    after = np.concatenate([jb.pop() for _ in range(3)])
    steps = np.abs(np.diff(np.concatenate([before, after]).astype(np.int64)))
    assert steps.max() <= max_natural_step() + 32767 / FADE + 1
    assert after[: FADE - 1].any() and not after[FADE:].any()
    assert not jb.is_playing and jb.depth_ms == 0
    assert jb.played_samples == 3 * FRAME + FADE


def test_clear_when_idle_discards_and_next_reply_starts_fresh() -> None:
    jb = JitterBuffer(target_ms=20)
    jb.push(sine(400))
    jb.clear()
    assert jb.depth_ms == 0 and not jb.pop().any()
    audio = sine(2000)
    jb.push(audio)
    np.testing.assert_array_equal(jb.pop(), audio[:FRAME])


def test_mark_end_does_not_carry_over_into_the_next_reply() -> None:
    """Reply B, pushed before reply A drained, running dry is an underrun with a fade."""
    jb = JitterBuffer(target_ms=20)
    audio = sine(5800)
    assert abs(int(audio[-1])) > 20000  # B would end on a loud sample
    jb.push(audio[:1000])  # reply A
    jb.mark_end()
    frames = [jb.pop()]
    jb.push(audio[1000:])  # reply B, no mark_end
    frames += [jb.pop() for _ in range(20)]
    out = np.concatenate(frames).astype(np.int64)
    assert np.abs(np.diff(out)).max() <= max_natural_step() + 32767 / FADE + 1
    assert jb.underruns == 1 and not jb.is_playing
    # Unchanged up to a fade-out over the last FADE samples played, then silence; what
    # is left over waits for B to continue, as after any underrun.
    end = jb.played_samples
    assert len(audio) - FRAME < end <= len(audio)
    np.testing.assert_array_equal(out[: end - FADE], audio[: end - FADE])
    assert (np.abs(out[end - FADE : end]) <= np.abs(audio[end - FADE : end])).all()
    assert not out[end - 1 :].any()


def test_reply_after_a_mark_that_is_too_short_waits_for_its_target() -> None:
    jb = JitterBuffer(target_ms=20)
    audio = sine(1600)
    jb.push(audio[:600])  # reply A
    jb.mark_end()
    jb.push(audio[600:700])  # the start of reply B: below its target
    first, second = jb.pop(), jb.pop()
    np.testing.assert_array_equal(first, audio[:FRAME])
    np.testing.assert_array_equal(second[: 600 - FRAME], audio[FRAME:600])
    assert not second[600 - FRAME :].any()
    assert not jb.pop().any() and jb.underruns == 0 and not jb.is_playing
    jb.push(audio[700:])  # B reaches the target and starts where it left off
    np.testing.assert_array_equal(jb.pop(), audio[600 : 600 + FRAME])


def test_overflow_beyond_max_ms_is_counted_not_hidden() -> None:
    jb = JitterBuffer(target_ms=20, max_ms=100)
    assert jb.push(sine(RATE // 5)) == 4800
    assert jb.dropped_samples == RATE // 5 - 4800
    assert jb.depth_ms == pytest.approx(100.0)


def test_stereo_frames_and_pop_into() -> None:
    jb = JitterBuffer(RATE, 2, 20, target_ms=40)
    assert jb.frame_samples == 960
    audio = np.stack([sine(4800), -sine(4800)], 1).reshape(-1)
    jb.push(audio.tobytes())
    out = bytearray(960 * 4)
    assert jb.pop_into(out) == 960
    np.testing.assert_array_equal(np.frombuffer(out, np.int16), audio[: 960 * 2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate_hz": 0}, "sample_rate_hz"),
        ({"channels": 3}, "channels"),
        ({"frame_ms": 0}, "frame_ms"),
        ({"fade_ms": 6}, "fade_ms"),
        ({"target_ms": 5}, "target_ms"),
        ({"max_ms": 50, "target_ms": 60}, "max_ms"),
        ({"sample_rate_hz": 44101, "frame_ms": 10}, "frame_ms"),
        ({"sample_rate_hz": True}, "sample_rate_hz must be a positive int, got True"),
        ({"frame_ms": True}, "frame_ms must be a positive int"),
        ({"target_ms": float("inf")}, "target_ms must be finite, got inf"),
        ({"fade_ms": float("nan")}, "fade_ms must be finite, got nan"),
    ],
)
def test_bad_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        JitterBuffer(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["target_ms", "max_ms", "fade_ms"])
@pytest.mark.parametrize("value", ["60", None, True])
def test_durations_that_are_not_numbers_are_a_type_error_naming_them(
    name: str, value: object
) -> None:
    with pytest.raises(TypeError, match=f"{name} must be a number, got {value!r}"):
        JitterBuffer(48000, 1, 10, **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channels", "max_ms"),
    [
        (2, 2**62),  # 1000 Hz: 2**62 samples * 2 channels * 2 bytes wraps to 0 in size_t
        (1, 2**62),
        (2, sys.maxsize // 4 + 1),
        (1, 2**80),
    ],
)
def test_max_ms_whose_byte_count_overflows_is_refused(channels: int, max_ms: int) -> None:
    limit = sys.maxsize // (2 * channels)
    with pytest.raises(ValueError, match=rf"capacity of {max_ms} samples.*limit of {limit}"):
        JitterBuffer(1000, channels, 10, target_ms=10, max_ms=max_ms)


def test_bad_input_is_rejected_and_changes_nothing() -> None:
    jb = JitterBuffer(channels=2)
    with pytest.raises(ValueError, match="odd number of bytes"):
        jb.push(b"\x00" * 5)
    with pytest.raises(ValueError, match="whole number of 2-channel frames"):
        jb.push(np.zeros(3, np.int16))
    with pytest.raises(TypeError, match="int16"):
        jb.push(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="one frame is 960"):
        jb.pop_into(np.zeros(100, np.int16))
    with pytest.raises(TypeError, match=r"C-contiguous \(interleaved\)"):
        jb.push(np.asfortranarray(np.zeros((480, 2), np.int16)))
    assert jb.depth_ms == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 4)), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_conserves_samples(schedule: list[tuple[int, int]], seed: int) -> None:
    """Played audio equals the input, in order; only fades (after underruns) attenuate it."""
    rng = np.random.default_rng(seed)
    jb = JitterBuffer(target_ms=20)
    pushed, played = [], []
    out = np.zeros(FRAME, np.int16)
    for n_push, n_pop in schedule:
        chunk = (rng.integers(1000, 20000, n_push) * rng.choice([-1, 1], n_push)).astype(np.int16)
        assert jb.push(chunk) == n_push
        pushed.append(chunk)
        for _ in range(n_pop):
            n = jb.pop_into(out)
            assert not out[n:].any()
            played.append(out[:n].copy())
    jb.mark_end()
    for _ in range(200):
        n = jb.pop_into(out)
        played.append(out[:n].copy())
    src = np.concatenate(pushed).astype(np.int64)
    got = np.concatenate(played).astype(np.int64)
    assert jb.played_samples == len(src) == len(got)
    if jb.underruns == 0:
        np.testing.assert_array_equal(got, src)
    else:
        assert (np.abs(got) <= np.abs(src)).all()
        assert (got * src >= 0).all()
        assert np.count_nonzero(got != src) <= jb.underruns * 2 * FADE
