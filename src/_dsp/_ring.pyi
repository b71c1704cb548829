"""Stubs for `_dsp._ring`: a fixed-capacity int16 ring buffer counted in frames."""

from typing import Literal

import numpy as np
import numpy.typing as npt

from ._typing import AudioBuffer

class RingBuffer:
    """Fixed-capacity FIFO of int16 audio, interleaved when `channels` is 2.

    All counts (`capacity`, `available`, `free`, `dropped`, `n`) are in samples per
    channel (frames). Inputs accept any int16 buffer (bytes, bytearray, memoryview,
    numpy); outputs are 1-D interleaved numpy int16 arrays of `n * channels` samples.

    overflow="error": a write that does not fit raises `OverflowError` naming the sizes
    and changes nothing. overflow="drop_oldest": the oldest frames make room and are
    counted in `dropped`.
    """

    def __init__(
        self,
        capacity: int,
        *,
        channels: int = 1,
        overflow: Literal["error", "drop_oldest"] = "error",
    ) -> None: ...
    @property
    def capacity(self) -> int:
        """Frames the buffer can hold."""
    @property
    def channels(self) -> int:
        """Interleaved channels per frame (1 or 2)."""
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
    def dropped(self) -> int:
        """Frames discarded so far under overflow="drop_oldest"."""
    def write(self, data: AudioBuffer) -> int:
        """Append interleaved int16 frames; return the number of frames written."""
    def read(self, n: int) -> npt.NDArray[np.int16]:
        """Remove and return the oldest `n` frames; ValueError if fewer are available."""
    def read_into(self, out: AudioBuffer) -> int:
        """Move min(available, len(out) // channels) frames into writable int16 `out`;
        return the number of frames moved."""
    def peek(self, n: int) -> npt.NDArray[np.int16]:
        """Return the oldest `n` frames without removing them."""
    def skip(self, n: int) -> None:
        """Discard the oldest `n` frames; ValueError if fewer are available."""
    def clear(self) -> None:
        """Discard everything buffered (not counted in `dropped`)."""
    def __len__(self) -> int:
        """Same as `available`."""
