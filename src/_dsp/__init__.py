"""Cython DSP core: ring buffer, polyphase resampler, jitter buffer and speaker mixer.

All kernels run without the GIL. Audio is int16 (any buffer type, interleaved when
stereo) or float32; outputs are numpy arrays.
"""

from ._jitter import JitterBuffer
from ._mix import mix_into, peak_abs
from ._resample import Resampler
from ._ring import RingBuffer

__all__ = ["JitterBuffer", "Resampler", "RingBuffer", "mix_into", "peak_abs"]
