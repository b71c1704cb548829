"""Types shared by the `_dsp` stubs (stub-only: there is no runtime module)."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

AudioBuffer: TypeAlias = Buffer | npt.NDArray[np.int16] | npt.NDArray[np.float32]
"""Audio in any buffer type: bytes, bytearray, memoryview, array.array or a numpy array."""
