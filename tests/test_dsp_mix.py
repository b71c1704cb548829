"""mix_into: int32 sum with a soft clip that never wraps."""

from __future__ import annotations

import array
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _dsp import mix_into, peak_abs

KNEE = 24576


def test_sum_below_knee_is_exact_for_any_buffer_type() -> None:
    a = np.array([100, -200, 3000, 0], dtype=np.int16)
    b = np.array([1, 2, -3000, 5], dtype=np.int16)
    out = bytearray(8)
    frames = [a.tobytes(), memoryview(b), array.array("h", [0, 0, 0, 1])]
    assert mix_into(frames, out) == 4
    np.testing.assert_array_equal(np.frombuffer(out, np.int16), [101, -198, 0, 6])


def test_empty_frames_write_zeros() -> None:
    out = np.full(6, 99, dtype=np.int16)
    assert mix_into([], out) == 6
    assert not out.any()


def test_loud_overlap_compresses_instead_of_wrapping() -> None:
    loud = np.full(4, 30000, dtype=np.int16)
    out = np.zeros(4, dtype=np.int16)
    mix_into([loud, loud, loud], out)
    assert (out > KNEE).all() and (out <= 32767).all()
    mix_into([-loud, -loud, -loud], out)
    assert (out < -KNEE).all() and (out >= -32767).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=2, max_size=200), st.integers(1, 6))
def test_soft_clip_is_monotone_odd_and_identity_below_knee(values: list[int], n: int) -> None:
    frame = np.asarray(values, dtype=np.int16)
    total = frame.astype(np.int64) * n
    out = np.zeros_like(frame)
    mix_into([frame] * n, out)
    small = np.abs(total) <= KNEE
    np.testing.assert_array_equal(out[small], total[small])
    order = np.argsort(total, kind="stable")
    assert (np.diff(out[order].astype(np.int64)) >= 0).all()
    assert (np.sign(out) == np.sign(total)).all()


def test_curve_is_smooth_at_the_knee() -> None:
    sums = np.arange(KNEE - 200, KNEE + 200, dtype=np.int64)
    half = (sums // 2).astype(np.int16)
    frames = [half, (sums - sums // 2).astype(np.int16)]
    out = np.zeros(len(sums), dtype=np.int16)
    mix_into(frames, out)
    steps = np.diff(out.astype(np.int64))
    assert steps.max() <= 1 and steps.min() >= 0
    assert out[-1] > KNEE + 150  # slope close to 1 just past the knee


def test_bad_input() -> None:
    out = np.zeros(4, dtype=np.int16)
    with pytest.raises(ValueError, match=r"frames\[1\] holds 3 samples but out holds 4"):
        mix_into([np.zeros(4, np.int16), np.zeros(3, np.int16)], out)
    with pytest.raises(TypeError, match=r"frames\[0\]"):
        mix_into([np.zeros(4, np.float32)], out)
    with pytest.raises(TypeError, match="writable"):
        mix_into([], b"\x00" * 8)
    with pytest.raises(ValueError, match="odd number of bytes"):
        mix_into([b"\x00" * 7], bytearray(8))
    with pytest.raises(TypeError, match="frames must be an iterable of int16 buffers, got int"):
        mix_into(5, out)  # type: ignore[arg-type]


def test_frames_whose_len_understates_their_items_are_all_mixed() -> None:
    """The frame table is sized from the items, not from what __len__ claims.

    Runs in a child process: sizing it from __len__ writes past the table, which may crash.
    """
    code = textwrap.dedent(
        """
        import numpy as np
        from _dsp import mix_into

        class Frames:
            def __init__(self, items, claimed):
                self.items, self.claimed = items, claimed
            def __len__(self):
                return self.claimed
            def __iter__(self):
                return iter(self.items)

        one = np.ones(4, dtype=np.int16)
        for claimed in (0, 1, 2**62):
            out = np.zeros(4, dtype=np.int16)
            assert mix_into(Frames([one] * 500, claimed), out) == 4
            assert (out == 500).all(), out
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), max_size=600))
def test_peak_abs_matches_numpy_including_the_most_negative_sample(samples: list[int]) -> None:
    data = np.array(samples, dtype=np.int16)
    expected = int(np.abs(data.astype(np.int32)).max()) if samples else 0
    assert peak_abs(data) == expected
    assert peak_abs(data.tobytes()) == expected


def test_peak_abs_refuses_what_is_not_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        peak_abs(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="odd number of bytes"):
        peak_abs(b"\x00\x01\x02")
