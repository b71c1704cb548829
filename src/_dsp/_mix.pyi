"""Stubs for `_dsp._mix`: the speaker mixer for the uplink."""

from collections.abc import Iterable

from ._typing import Int16Buffer

def mix_into(frames: Iterable[Int16Buffer], out: Int16Buffer) -> int:
    """Sum equal-length int16 buffers into writable int16 `out` with a soft clip.

    Sums in int32, passes values up to the knee (0.75 of full scale) unchanged and maps
    larger magnitudes through a smooth monotone curve that approaches full scale, so the
    result never wraps. Empty `frames` writes zeros. Returns the number of int16 samples
    written (`len(out)`); ValueError naming both lengths on a length mismatch.
    """

def peak_abs(data: Int16Buffer) -> int:
    """Largest absolute sample value of an int16 buffer, 0..32768 (so -32768 reads as 32768).

    The uplink's voice-activity detector calls it on every 10 ms frame, where numpy's
    `abs` + `max` would cost more in call overhead than in arithmetic.
    """
