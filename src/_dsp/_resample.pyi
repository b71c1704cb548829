"""Stubs for `_dsp._resample`: streaming rational polyphase resampler."""

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from ._typing import AudioBuffer

class Resampler:
    """Streaming rational polyphase FIR resampler with fused channel conversion.

    `process(data)` takes interleaved int16 (bytes, bytearray, memoryview, numpy int16)
    and returns numpy int16, or takes float32 (numpy float32, memoryview 'f') and returns
    float32. Streaming is exact: any chunking gives bit-identical output; a chunk that is a
    multiple of the reduced ratio's denominator yields exactly the proportional count.
    """

    def __init__(
        self,
        in_rate_hz: int,
        out_rate_hz: int,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        quality: Literal["high", "low"] = "high",
    ) -> None: ...
    @property
    def in_rate_hz(self) -> int: ...
    @property
    def out_rate_hz(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def out_channels(self) -> int: ...
    @property
    def quality(self) -> Literal["high", "low"]: ...
    @property
    def up(self) -> int:
        """Interpolation factor L of the reduced ratio out/in = L/M."""
    @property
    def down(self) -> int:
        """Decimation factor M of the reduced ratio out/in = L/M."""
    @property
    def delay_s(self) -> float:
        """Exact group delay of the filter in seconds (linear phase)."""
    @property
    def taps(self) -> npt.NDArray[np.float32]:
        """The prototype lowpass at `up * in_rate_hz`, gain `up` (a copy)."""
    def max_output_frames(self, n_in_frames: int) -> int:
        """Upper bound on frames one `process_into` call of `n_in_frames` can write."""
    @overload
    def process(self, data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    @overload
    def process(self, data: AudioBuffer) -> npt.NDArray[np.int16]: ...
    def process_into(self, data: AudioBuffer, out: AudioBuffer) -> int:
        """Resample `data` into writable `out` (same dtype as `data`, interleaved with
        `out_channels`); return frames written. ValueError if `out` is too small, before
        any state changes."""
    def flush(self) -> npt.NDArray[np.int16] | npt.NDArray[np.float32]:
        """Emit the filter tail (the last `delay_s` of signal) and reset; dtype follows the
        last `process` input (int16 before any)."""
    def reset(self) -> None:
        """Forget all history, as if newly constructed."""
