"""One-shot resampling of a whole signal (python-soxr's `resample`, without the shift)."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

from ._resample import Resampler

if TYPE_CHECKING:  # stub-only aliases
    from ._typing import AudioBuffer, Float32Array, Int16Array, Int16Buffer, Quality


@overload
def resample(
    data: Float32Array,
    in_rate_hz: int,
    out_rate_hz: int,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    quality: Quality = "high",
) -> Float32Array: ...
@overload
def resample(
    data: Int16Buffer,
    in_rate_hz: int,
    out_rate_hz: int,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    quality: Quality = "high",
) -> Int16Array: ...
@overload
def resample(
    data: AudioBuffer,
    in_rate_hz: int,
    out_rate_hz: int,
    *,
    in_channels: int = 1,
    out_channels: int = 1,
    quality: Quality = "high",
) -> Int16Array | Float32Array: ...
def resample(
    data: AudioBuffer, in_rate_hz: int, out_rate_hz: int, *, in_channels: int = 1,
    out_channels: int = 1, quality: Quality = "high",
) -> Int16Array | Float32Array:  # fmt: skip
    """Resample a whole signal in one call: `Resampler(...).process(data, last=True)`.

    Returns int16 for int16 input, float32 for float32. The output is the complete filtered
    signal: it lags the input by `Resampler.delay_s` (a linear-phase delay, often a
    fractional number of output samples, so it is not trimmed away) and ends with the
    filter tail.
    """
    resampler = Resampler(
        in_rate_hz, out_rate_hz, in_channels=in_channels, out_channels=out_channels,
        quality=quality,
    )  # fmt: skip
    return resampler.process(data, last=True)
