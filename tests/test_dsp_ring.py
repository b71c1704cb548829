"""RingBuffer: unit scenarios and a state machine against a deque model."""

from __future__ import annotations

import sys
from collections import deque

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from _dsp import RingBuffer


def frames(values: list[int], channels: int = 1) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.int16), channels)


def test_write_read_round_trip_accepts_every_buffer_type() -> None:
    ring = RingBuffer(16, channels=2)
    data = np.arange(8, dtype=np.int16)
    for buf in (data.tobytes(), bytearray(data.tobytes()), memoryview(data), data):
        assert ring.write(buf) == 4
        out = ring.read(4)
        assert out.dtype == np.int16
        np.testing.assert_array_equal(out, data)


def test_wraparound_keeps_order() -> None:
    ring = RingBuffer(5)
    ring.write(frames([1, 2, 3, 4]))
    np.testing.assert_array_equal(ring.read(3), [1, 2, 3])
    ring.write(frames([5, 6, 7, 8]))
    assert ring.available == 5 and ring.free == 0
    np.testing.assert_array_equal(ring.peek(5), [4, 5, 6, 7, 8])
    ring.skip(2)
    np.testing.assert_array_equal(ring.read(3), [6, 7, 8])


def test_overflow_error_names_sizes_and_changes_nothing() -> None:
    ring = RingBuffer(4)
    ring.write(frames([1, 2, 3]))
    with pytest.raises(OverflowError, match=r"2 frames.*1 of 4"):
        ring.write(frames([9, 9]))
    assert ring.available == 3
    np.testing.assert_array_equal(ring.read(3), [1, 2, 3])


def test_drop_oldest_counts_and_keeps_newest() -> None:
    ring = RingBuffer(4, overflow="drop_oldest")
    ring.write(frames([1, 2, 3]))
    assert ring.write(frames([4, 5])) == 2
    assert ring.dropped_samples == 1
    np.testing.assert_array_equal(ring.peek(4), [2, 3, 4, 5])
    assert ring.write(frames(list(range(10, 16)))) == 4  # only the newest 4 fit
    assert ring.dropped_samples == 1 + 4 + 2
    np.testing.assert_array_equal(ring.read(4), [12, 13, 14, 15])


def test_drop_oldest_write_larger_than_capacity_returns_frames_stored() -> None:
    ring = RingBuffer(3, channels=2, overflow="drop_oldest")
    assert ring.write(frames([1, 2, 3, 4, 5, 6, 7], channels=2)) == 3
    assert ring.dropped_samples == 4
    np.testing.assert_array_equal(ring.read(3), frames([5, 6, 7], channels=2))


@pytest.mark.parametrize(
    ("capacity", "channels", "dtype"),
    [
        (2**62, 2, "int16"),  # 2**62 * 4 bytes wraps to 0 in size_t
        (2**61, 2, "float32"),  # 2**61 * 8 bytes wraps to 0
        (sys.maxsize // 2 + 1, 1, "int16"),
        (2**70, 1, "int16"),
    ],
)
def test_capacity_whose_byte_count_overflows_is_refused(
    capacity: int, channels: int, dtype: str
) -> None:
    frame_bytes = channels * (2 if dtype == "int16" else 4)
    limit = sys.maxsize // frame_bytes
    with pytest.raises(ValueError, match=rf"capacity={capacity} .*limit of {limit} frames"):
        RingBuffer(capacity, channels=channels, dtype=dtype)  # type: ignore[arg-type]


def test_capacity_at_the_byte_limit_is_an_allocation_failure_not_an_overflow() -> None:
    with pytest.raises(MemoryError):
        RingBuffer(sys.maxsize // 4, channels=2)


def test_fortran_ordered_frames_are_refused_and_c_ordered_accepted() -> None:
    ring = RingBuffer(8, channels=2)
    stereo = np.array([[1, -1], [2, -2], [3, -3]], dtype=np.int16)  # (frames, channels)
    with pytest.raises(TypeError, match=r"C-contiguous \(interleaved\)"):
        ring.write(np.asfortranarray(stereo))
    with pytest.raises(TypeError, match="C-contiguous"):
        ring.read_into(np.asfortranarray(np.zeros((3, 2), dtype=np.int16)))
    assert ring.available == 0
    assert ring.write(stereo) == 3
    np.testing.assert_array_equal(ring.read(3), [1, -1, 2, -2, 3, -3])


def test_read_into_moves_what_fits() -> None:
    ring = RingBuffer(8, channels=2)
    ring.write(np.arange(10, dtype=np.int16))
    out = np.zeros(6, dtype=np.int16)
    assert ring.read_into(out) == 3
    np.testing.assert_array_equal(out, np.arange(6))
    assert ring.read_into(out) == 2
    np.testing.assert_array_equal(out[:4], [6, 7, 8, 9])
    assert ring.available == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"capacity": 0}, ValueError),
        ({"capacity": 4, "channels": 3}, ValueError),
        ({"capacity": 4, "overflow": "wrap"}, ValueError),
        ({"capacity": 4, "dtype": "float64"}, ValueError),
    ],
)
def test_bad_construction(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        RingBuffer(**kwargs)  # type: ignore[arg-type]


def test_bad_input_is_rejected_and_leaves_buffer_unchanged() -> None:
    ring = RingBuffer(8, channels=2)
    ring.write(np.arange(4, dtype=np.int16))
    with pytest.raises(ValueError, match="odd number of bytes"):
        ring.write(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="whole number of 2-channel frames"):
        ring.write(np.arange(3, dtype=np.int16))
    with pytest.raises(TypeError, match="int16"):
        ring.write(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="format"):
        ring.write(np.zeros(4, dtype=np.int32))
    with pytest.raises(TypeError):
        ring.write("text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only 2 available"):
        ring.read(3)
    with pytest.raises(ValueError, match="only 2 available"):
        ring.skip(3)
    with pytest.raises(ValueError, match="non-negative"):
        ring.peek(-1)
    with pytest.raises(TypeError, match="writable"):
        ring.read_into(b"\x00" * 8)
    np.testing.assert_array_equal(ring.read(2), np.arange(4))


def test_float32_ring_round_trips_exactly_and_refuses_int16() -> None:
    ring = RingBuffer(4, channels=2, dtype="float32")
    assert ring.dtype == "float32"
    data = np.array([0.5, -0.25, 1e-7, -1.0], dtype=np.float32)
    assert ring.write(data) == 2
    with pytest.raises(TypeError, match="holds float32"):
        ring.write(np.zeros(2, dtype=np.int16))
    with pytest.raises(TypeError, match="holds float32"):
        ring.write(b"\x00\x00\x00\x00")  # bytes count as int16
    with pytest.raises(TypeError, match="float32"):
        ring.read_into(np.zeros(2, dtype=np.int16))
    out = ring.read(2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data)


class RingModel(RuleBasedStateMachine):
    """Every operation agrees with a bounded deque of frames."""

    def __init__(self) -> None:
        super().__init__()
        self.ring: RingBuffer | None = None

    @precondition(lambda self: self.ring is None)
    @rule(
        capacity=st.integers(1, 40),
        channels=st.sampled_from([1, 2]),
        overflow=st.sampled_from(["error", "drop_oldest"]),
        dtype=st.sampled_from(["int16", "float32"]),
    )
    def create(self, capacity: int, channels: int, overflow: str, dtype: str) -> None:
        self.ring = RingBuffer(capacity, channels=channels, overflow=overflow, dtype=dtype)  # type: ignore[arg-type]
        self.capacity, self.channels, self.overflow = capacity, channels, overflow
        self.dtype = np.dtype(dtype)
        self.model: deque[tuple[int, ...]] = deque()
        self.dropped = 0
        self.counter = 0

    def _fresh(self, n: int) -> np.ndarray:
        values = np.arange(self.counter, self.counter + n * self.channels) % 65536 - 32768
        self.counter += n * self.channels
        return values.astype(self.dtype)

    def _model_frames(self, n: int) -> np.ndarray:
        flat = [v for frame in list(self.model)[:n] for v in frame]
        return np.asarray(flat, dtype=self.dtype)

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 50))
    def write(self, n: int) -> None:
        assert self.ring is not None
        data = self._fresh(n)
        new = [
            tuple(int(v) for v in data[i : i + self.channels])
            for i in range(0, len(data), self.channels)
        ]
        if self.overflow == "error" and n > self.capacity - len(self.model):
            with pytest.raises(OverflowError):
                self.ring.write(data)
            return
        # Plain bytes count as int16, so only the int16 ring gets them.
        stored = self.ring.write(data.tobytes() if self.dtype == np.int16 else data)
        assert stored == min(n, self.capacity)
        self.model.extend(new)
        while len(self.model) > self.capacity:
            self.model.popleft()
            self.dropped += 1

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 45), how=st.sampled_from(["read", "peek", "skip", "read_into"]))
    def take(self, n: int, how: str) -> None:
        assert self.ring is not None
        if how == "read_into":
            out = np.full(n * self.channels, 7, dtype=self.dtype)
            k = min(n, len(self.model))
            assert self.ring.read_into(out) == k
            np.testing.assert_array_equal(out[: k * self.channels], self._model_frames(k))
            for _ in range(k):
                self.model.popleft()
            return
        if n > len(self.model):
            with pytest.raises(ValueError):
                getattr(self.ring, how)(n)
            return
        expected = self._model_frames(n)
        result = getattr(self.ring, how)(n)
        if how != "skip":
            np.testing.assert_array_equal(result, expected)
        if how != "peek":
            for _ in range(n):
                self.model.popleft()

    @precondition(lambda self: self.ring is not None)
    @rule()
    def clear(self) -> None:
        assert self.ring is not None
        self.ring.clear()
        self.model.clear()

    @invariant()
    def counts_agree(self) -> None:
        if self.ring is None:
            return
        assert self.ring.available == len(self.model) == len(self.ring)
        assert self.ring.free == self.capacity - len(self.model)
        assert self.ring.dropped_samples == self.dropped


RingModel.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestRingModel = RingModel.TestCase
