"""Resampler: exact streaming, naive reference, channel layouts, int16 rules, bad input."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _dsp import Resampler, resample

RATIOS = [
    (48000, 16000),
    (16000, 48000),
    (24000, 48000),
    (48000, 24000),
    (48000, 48000),
    (32000, 48000),
    (48000, 32000),
    (8000, 48000),
    (44100, 48000),
]
LAYOUTS = [(1, 1), (2, 1), (1, 2), (2, 2)]


def signal(n_frames: int, channels: int, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_frames * channels) * 3000
    if dtype is np.int16:
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return x.astype(np.float32)


def reference(rs: Resampler, x: np.ndarray) -> np.ndarray:
    """Zero-stuff, convolve with the same taps, decimate; per channel, float64.

    Output j is sum_t h[t] * stuffed[j*M - t]; stuffed is nonzero only at multiples of L,
    so only taps t = (j*M mod L) + L*i contribute, with input sample j*M // L - i.
    """
    h = rs.taps.astype(np.float64)
    frames = x.astype(np.float64).reshape(-1, rs.in_channels)
    if rs.in_channels == 2 and rs.out_channels == 1:
        frames = frames.astype(np.float32).sum(axis=1, keepdims=True, dtype=np.float32) * 0.5
    n_out = -(-len(frames) * rs.up // rs.down)
    pos = np.arange(n_out) * rs.down
    i = np.arange(-(-len(h) // rs.up))
    taps = np.concatenate([h, np.zeros(len(i) * rs.up - len(h))])[
        (pos % rs.up)[:, None] + rs.up * i
    ]
    src = (pos // rs.up)[:, None] - i
    taps[src < 0] = 0.0
    src = np.maximum(src, 0)
    y = np.stack([(taps * frames[src, c]).sum(axis=1) for c in range(frames.shape[1])], 1)
    if rs.out_channels == 2 and y.shape[1] == 1:
        y = np.repeat(y, 2, axis=1)
    return y.reshape(-1)


@pytest.mark.parametrize(("in_hz", "out_hz"), RATIOS)
@pytest.mark.parametrize(("in_ch", "out_ch"), LAYOUTS)
def test_matches_naive_reference(in_hz: int, out_hz: int, in_ch: int, out_ch: int) -> None:
    rs = Resampler(in_hz, out_hz, in_channels=in_ch, out_channels=out_ch)
    x = signal(3001, in_ch)
    y = rs.process(x)
    ref = reference(rs, x)
    assert y.dtype == np.float32 and len(y) == len(ref)
    assert np.max(np.abs(y - ref)) < 1e-5 * 3000 * 4


@settings(max_examples=60, deadline=None)
@given(
    ratio=st.sampled_from(RATIOS),
    layout=st.sampled_from(LAYOUTS),
    sizes=st.lists(st.integers(1, 961), min_size=1, max_size=25),
    as_int16=st.booleans(),
)
def test_any_chunking_is_bit_identical(
    ratio: tuple[int, int], layout: tuple[int, int], sizes: list[int], as_int16: bool
) -> None:
    in_ch, out_ch = layout
    x = signal(sum(sizes), in_ch, seed=len(sizes), dtype=np.int16 if as_int16 else np.float32)
    whole = Resampler(*ratio, in_channels=in_ch, out_channels=out_ch).process(x)
    rs = Resampler(*ratio, in_channels=in_ch, out_channels=out_ch)
    parts, start = [], 0
    for n in sizes:
        chunk = x[start * in_ch : (start + n) * in_ch]
        parts.append(rs.process(chunk.tobytes() if as_int16 else chunk))
        start += n
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize(("in_hz", "out_hz"), RATIOS)
def test_every_call_yields_the_proportional_count(in_hz: int, out_hz: int) -> None:
    rs = Resampler(in_hz, out_hz, in_channels=2)
    chunk = signal(rs.down * 7, 2, dtype=np.int16)
    for _ in range(20):
        assert len(rs.process(chunk)) == rs.up * 7


def test_20ms_frames_at_48k_give_320_samples_at_16k() -> None:
    rs = Resampler(48000, 16000, in_channels=2)
    frame = signal(960, 2, dtype=np.int16).tobytes()
    assert {len(rs.process(frame)) for _ in range(50)} == {320}


def test_process_into_matches_process_and_checks_room() -> None:
    a = Resampler(24000, 48000, out_channels=2)
    b = Resampler(24000, 48000, out_channels=2)
    x = signal(480, 1, dtype=np.int16)
    out = np.zeros(a.max_output_frames(480) * 2, dtype=np.int16)
    for _ in range(3):
        n = a.process_into(x, out)
        np.testing.assert_array_equal(out[: n * 2], b.process(x))
    small = np.zeros(10, dtype=np.int16)
    with pytest.raises(ValueError, match="room for 5 frames but this call produces 960"):
        a.process_into(x, small)
    n = a.process_into(x, out)  # the rejected call changed nothing
    np.testing.assert_array_equal(out[: n * 2], b.process(x))
    with pytest.raises(TypeError, match="same sample type"):
        a.process_into(x, np.zeros(2000, dtype=np.float32))


def test_int16_output_is_rounded_float_output_and_saturates() -> None:
    t = np.arange(4800)
    square = np.where((t // 40) % 2 == 0, 32767, -32768).astype(np.int16)
    for in_hz, out_hz in [(48000, 16000), (16000, 48000)]:
        y16 = Resampler(in_hz, out_hz).process(square)
        y32 = Resampler(in_hz, out_hz).process(square.astype(np.float32))
        assert y32.max() > 32767.5 and y32.min() < -32768.5  # Gibbs overshoot
        expected = np.clip(np.rint(y32.astype(np.float64)), -32768, 32767).astype(np.int16)
        np.testing.assert_array_equal(y16, expected)


@pytest.mark.parametrize(("in_hz", "out_hz"), RATIOS)
def test_flush_emits_the_delayed_tail_and_resets(in_hz: int, out_hz: int) -> None:
    rs = Resampler(in_hz, out_hz)
    x = signal(in_hz // 100, 1)
    y = np.concatenate([rs.process(x), rs.flush()])
    delay_out = rs.delay_s * out_hz
    assert len(y) >= len(x) * out_hz / in_hz + delay_out - 1
    np.testing.assert_array_equal(rs.process(x), Resampler(in_hz, out_hz).process(x))
    assert rs.flush().dtype == np.float32


def test_reset_forgets_history() -> None:
    rs = Resampler(48000, 16000)
    x = signal(960, 1)
    first = rs.process(x)
    rs.process(signal(500, 1, seed=3))
    rs.reset()
    np.testing.assert_array_equal(rs.process(x), first)


def test_48k_to_48k_is_channel_conversion_only() -> None:
    x = signal(100, 2, dtype=np.int16)
    rs = Resampler(48000, 48000, in_channels=2, out_channels=1)
    assert rs.delay_s == 0
    expected = np.rint(x.reshape(-1, 2).astype(np.float64).mean(axis=1))
    np.testing.assert_array_equal(rs.process(x), expected.astype(np.int16))
    mono = signal(50, 1, dtype=np.int16)
    dup = Resampler(48000, 48000, out_channels=2).process(mono)
    np.testing.assert_array_equal(dup, np.repeat(mono, 2))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, 16000), {}, "in_rate_hz must be a positive int"),
        ((48000, -1), {}, "out_rate_hz must be a positive int"),
        ((48000, 16000), {"in_channels": 3}, "in_channels must be 1 or 2"),
        ((48000, 16000), {"quality": "best"}, "quality"),
        ((48000, 44101), {}, "unsupported ratio"),
    ],
)
def test_bad_construction(args: tuple[int, int], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Resampler(*args, **kwargs)  # type: ignore[arg-type]


def test_bad_input_changes_nothing() -> None:
    rs = Resampler(48000, 16000, in_channels=2)
    ref = Resampler(48000, 16000, in_channels=2)
    x = signal(960, 2, dtype=np.int16)
    np.testing.assert_array_equal(rs.process(x), ref.process(x))
    with pytest.raises(ValueError, match="odd number of bytes"):
        rs.process(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="whole number of 2-channel frames"):
        rs.process(np.zeros(3, dtype=np.int16))
    with pytest.raises(TypeError, match="format"):
        rs.process(np.zeros(4, dtype=np.float64))
    with pytest.raises(TypeError):
        rs.process([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        rs.max_output_frames(-1)
    np.testing.assert_array_equal(rs.process(x), ref.process(x))


def test_fortran_ordered_frames_are_refused_and_c_ordered_accepted() -> None:
    rs = Resampler(48000, 16000, in_channels=2)
    ref = Resampler(48000, 16000, in_channels=2)
    stereo = signal(960, 2, dtype=np.int16).reshape(-1, 2)  # (frames, channels)
    with pytest.raises(TypeError, match=r"C-contiguous \(interleaved\)"):
        rs.process(np.asfortranarray(stereo))
    out = np.zeros(2 * rs.max_output_frames(960), dtype=np.int16)
    with pytest.raises(TypeError, match="C-contiguous"):
        rs.process_into(stereo, np.asfortranarray(out.reshape(-1, 2)))
    np.testing.assert_array_equal(rs.process(stereo), ref.process(stereo.reshape(-1)))


def test_kernels_release_the_gil() -> None:
    """While one thread is inside process(), another thread keeps running Python."""
    rs = Resampler(48000, 16000, in_channels=2)
    big = signal(48000 * 60, 2, dtype=np.int16)
    ticks = [0]
    stop = threading.Event()
    started = threading.Event()

    def spin() -> None:
        started.set()
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)  # releases the GIL so the main thread can resume

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)  # no forced switches: only GIL releases let spin() run
    thread = threading.Thread(target=spin)
    try:
        thread.start()
        started.wait()
        during = []
        for _ in range(10):  # a few tries: the spinner may wait for a busy CPU
            before = ticks[0]
            rs.process(big)
            during.append(ticks[0] - before)
            if during[-1]:
                break
    finally:
        stop.set()
        sys.setswitchinterval(old)
        thread.join()
    assert max(during) > 0


def test_two_threads_resample_concurrently_and_correctly() -> None:
    x = signal(48000 * 5, 2, dtype=np.int16)
    expected = Resampler(48000, 16000, in_channels=2).process(x)
    results: list[np.ndarray] = []

    def work() -> None:
        rs = Resampler(48000, 16000, in_channels=2)
        parts = [rs.process(x[i : i + 1920]) for i in range(0, len(x), 1920)]
        results.append(np.concatenate(parts))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_file_rate_44100_to_16000_streams_exactly_with_unit_gain() -> None:
    """160/441: a long polyphase bank in the general kernel."""
    t = np.arange(44100 // 5) / 44100
    x = (10000 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    whole = Resampler(44100, 16000).process(x)
    rs = Resampler(44100, 16000)
    parts = [rs.process(x[i : i + 441]) for i in range(0, len(x), 441)]
    assert [len(p) for p in parts] == [160] * len(parts)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    steady = whole[200:].astype(np.float64)
    assert np.sqrt(2 * np.mean(steady**2)) == pytest.approx(10000, rel=1e-3)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_one_shot_resample_is_the_whole_stream_with_its_tail(dtype: type) -> None:
    x = signal(4801, 2, dtype=dtype)
    y = resample(x, 48000, 16000, in_channels=2)
    rs = Resampler(48000, 16000, in_channels=2)
    expected = np.concatenate([rs.process(x), rs.flush()])
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, expected)
    with pytest.raises(ValueError, match="in_rate_hz must be a positive int"):
        resample(x, 0, 16000)


def test_last_chunk_appends_the_tail_and_resets() -> None:
    a, b = signal(700, 1, seed=1, dtype=np.int16), signal(333, 1, seed=2, dtype=np.int16)
    rs, ref = Resampler(24000, 48000), Resampler(24000, 48000)
    np.testing.assert_array_equal(rs.process(a), ref.process(a))
    np.testing.assert_array_equal(
        rs.process(b, last=True), np.concatenate([ref.process(b), ref.flush()])
    )
    np.testing.assert_array_equal(rs.process(a), Resampler(24000, 48000).process(a))


def test_last_must_be_a_bool_and_a_refused_call_changes_nothing() -> None:
    rs, ref = Resampler(48000, 16000), Resampler(48000, 16000)
    x = signal(960, 1, dtype=np.int16)
    with pytest.raises(TypeError, match="last must be True or False, got 1"):
        rs.process(x, last=1)  # type: ignore[arg-type]
    np.testing.assert_array_equal(rs.process(x), ref.process(x))
