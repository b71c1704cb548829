"""Stubs for `_dsp._ring`: a fixed-capacity int16 or float32 ring buffer counted in frames."""

from typing import Literal, Self

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from ._typing import AudioBuffer

@disjoint_base
class RingBuffer:
    """Fixed-capacity FIFO of int16 (or, with dtype="float32", float32) audio, interleaved
    when `channels` is 2.

    All counts (`capacity`, `available`, `free`, `dropped_samples`, `n`) are in samples
    per channel (frames: a stereo frame is one). Inputs accept any buffer of the ring's
    dtype (bytes, bytearray, memoryview, numpy; bytes count as int16); outputs are 1-D
    interleaved numpy arrays of `n * channels` samples. Data of the other dtype is refused
    with TypeError. Reads and writes hold the GIL (each is a memcpy).

    overflow="error": a write that does not fit raises `OverflowError` naming the sizes
    and changes nothing. overflow="drop_oldest": the oldest frames make room and are
    counted in `dropped_samples`.
    """

    def __new__(
        cls,
        capacity: int,
        *,
        channels: int = 1,
        overflow: Literal["error", "drop_oldest"] = "error",
        dtype: Literal["int16", "float32"] = "int16",
    ) -> Self: ...
    @property
    def capacity(self) -> int:
        """Samples per channel (frames) the buffer can hold."""
    @property
    def channels(self) -> int:
        """Interleaved channels per frame (1 or 2)."""
    @property
    def dtype(self) -> Literal["int16", "float32"]:
        """The sample type held."""
    @property
    def overflow(self) -> Literal["error", "drop_oldest"]:
        """The overflow policy chosen at construction."""
    @property
    def available(self) -> int:
        """Frames ready to read."""
    @property
    def free(self) -> int:
        """Frames that can be written without overflowing."""
    @property
    def dropped_samples(self) -> int:
        """Samples per channel discarded so far under overflow="drop_oldest"."""
    def write(self, data: AudioBuffer) -> int:
        """Append interleaved frames of the ring's dtype; return the frames of `data` stored.

        Under overflow="drop_oldest", `data` longer than `capacity` keeps only its newest
        `capacity` frames, and the return value is `capacity`."""
    def read(self, n: int) -> npt.NDArray[np.int16] | npt.NDArray[np.float32]:
        """Remove and return the oldest `n` frames; ValueError if fewer are available."""
    def read_into(self, out: AudioBuffer) -> int:
        """Move min(available, len(out) // channels) frames into writable `out`;
        return the number of frames moved."""
    def peek(self, n: int) -> npt.NDArray[np.int16] | npt.NDArray[np.float32]:
        """Return the oldest `n` frames without removing them."""
    def skip(self, n: int) -> None:
        """Discard the oldest `n` frames; ValueError if fewer are available."""
    def clear(self) -> None:
        """Discard everything buffered (not counted in `dropped_samples`)."""
    def __len__(self) -> int:
        """Same as `available`."""
