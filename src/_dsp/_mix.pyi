"""Stubs for `_dsp._mix`: the speaker mixer for the uplink."""

from collections.abc import Sequence

from typing_extensions import Buffer

def mix_into(frames: Sequence[Buffer], out: Buffer) -> int:
    """Sum equal-length int16 buffers into writable int16 `out` with a soft clip.

    Sums in int32, passes values up to the knee (0.75 of full scale) unchanged and maps
    larger magnitudes through a smooth monotone curve that approaches full scale, so the
    result never wraps. Empty `frames` writes zeros. Returns the number of int16 samples
    written (`len(out)`); ValueError naming both lengths on a length mismatch.
    """
