"""Cython DSP core: ring buffer, polyphase resampler, jitter buffer and speaker mixer.

The resampler and mixer kernels run without the GIL. Audio is int16 (any buffer type,
interleaved when stereo) or float32; outputs are numpy arrays.

The kernels are compiled once per ISA level (x86-64: "sse2", "avx2" = AVX2+FMA, "avx512";
"neon" on aarch64; "generic" elsewhere). The widest level the CPU has runs unless the
environment variable BRIDGE_DSP_ISA names another ("auto" is the default); it is read at
import: a level the CPU lacks raises RuntimeError, an unknown name ValueError. `isa()`
returns the level in use, `available_isas()` those the CPU has. Within one level,
streaming output is bit-exact under any chunking; levels may differ in the last bits.
"""

from ._isa import _set_isa as _set_isa  # for tests and benchmarks
from ._isa import available_isas, isa
from ._jitter import JitterBuffer
from ._mix import mix_into, peak_abs
from ._oneshot import resample
from ._resample import Resampler
from ._ring import RingBuffer

__all__ = [
    "JitterBuffer",
    "Resampler",
    "RingBuffer",
    "available_isas",
    "isa",
    "mix_into",
    "peak_abs",
    "resample",
]
