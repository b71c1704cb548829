"""Types shared by the `_dsp` stubs (stub-only: there is no runtime module)."""

import array
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

AudioBuffer: TypeAlias = Buffer | npt.NDArray[np.int16] | npt.NDArray[np.float32]
"""Audio in any buffer type: bytes, bytearray, memoryview, array.array or a numpy array."""

Int16Buffer: TypeAlias = bytes | bytearray | memoryview | array.array[int] | npt.NDArray[np.int16]
"""int16 audio: bytes-like (native-endian int16 pairs), array.array("h") or numpy int16.

Not `Buffer`: numpy float32 arrays are buffers too, and these parameters refuse them
(TypeError at run time)."""

Float32Array: TypeAlias = npt.NDArray[np.float32]
Int16Array: TypeAlias = npt.NDArray[np.int16]

Quality: TypeAlias = Literal["high", "low"]
Level: TypeAlias = Literal["sse2", "avx2", "avx512", "neon", "generic"]
