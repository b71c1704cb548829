"""Stubs for `_dsp._resample`: streaming rational polyphase resampler."""

from typing import Self, overload

from typing_extensions import disjoint_base

from ._typing import AudioBuffer, Float32Array, Int16Array, Int16Buffer, Quality

@disjoint_base
class Resampler:
    """Streaming rational polyphase FIR resampler with fused channel conversion.

    `process(data)` takes interleaved int16 (bytes, bytearray, memoryview, numpy int16)
    and returns numpy int16, or takes float32 (numpy float32, memoryview 'f') and returns
    float32. Streaming is exact: any chunking gives bit-identical output; a chunk that is a
    multiple of the reduced ratio's denominator yields exactly the proportional count.
    """

    def __new__(
        cls,
        in_rate_hz: int,
        out_rate_hz: int,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        quality: Quality = "high",
    ) -> Self: ...
    @property
    def in_rate_hz(self) -> int: ...
    @property
    def out_rate_hz(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def out_channels(self) -> int: ...
    @property
    def quality(self) -> Quality: ...
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
    def taps(self) -> Float32Array:
        """The prototype lowpass at `up * in_rate_hz`, gain `up` (a copy)."""
    def max_output_frames(self, n_in_frames: int) -> int:
        """Upper bound on frames one `process_into` call of `n_in_frames` can write."""
    @overload
    def process(self, data: Float32Array, *, last: bool = False) -> Float32Array: ...
    @overload
    def process(self, data: Int16Buffer, *, last: bool = False) -> Int16Array: ...
    @overload
    def process(self, data: AudioBuffer, *, last: bool = False) -> Int16Array | Float32Array:
        """Resample interleaved `data`; int16 in gives int16 out, float32 gives float32 (a
        memoryview's format decides at run time).

        With `last=True` the stream ends here: the filter tail (`flush()`) is appended and
        the resampler is reset, like python-soxr's `resample_chunk(x, last=True)`."""
    def process_into(self, data: AudioBuffer, out: AudioBuffer) -> int:
        """Resample `data` into writable `out` (same dtype as `data`, interleaved with
        `out_channels`); return frames written. ValueError if `out` is too small, before
        any state changes."""
    def flush(self) -> Int16Array | Float32Array:
        """Emit the filter tail (the last `delay_s` of signal) and reset; dtype follows the
        last `process` input (int16 before any)."""
    def reset(self) -> None:
        """Forget all history, as if newly constructed."""
