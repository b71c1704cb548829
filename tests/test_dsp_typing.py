"""int16-only entry points refuse float32: TypeError at run time, and in the type checker.

Each refused call carries `# type: ignore[arg-type]`; scripts/ci_dsp_levels.sh runs mypy
with --warn-unused-ignores on this file, so a stub that accepted float32 fails there.
"""

from __future__ import annotations

import numpy as np
import pytest

from _dsp import JitterBuffer, Resampler, mix_into, peak_abs

F32 = np.zeros(480, dtype=np.float32)
I16 = np.zeros(480, dtype=np.int16)


def test_mix_into_refuses_float32() -> None:
    with pytest.raises(TypeError, match=r"frames\[0\] must be an int16 buffer"):
        mix_into([F32], I16)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="out must be a writable int16 buffer"):
        mix_into([I16], F32)  # type: ignore[arg-type]
    assert mix_into([I16, bytes(960)], I16) == 480


def test_peak_abs_refuses_float32() -> None:
    with pytest.raises(TypeError, match="data must be an int16 buffer"):
        peak_abs(F32)  # type: ignore[arg-type]


def test_jitter_buffer_refuses_float32() -> None:
    jb = JitterBuffer(48000, 1, 10)
    with pytest.raises(TypeError, match="data must be an int16 buffer"):
        jb.push(F32)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="out must be a writable int16 buffer"):
        jb.pop_into(F32)  # type: ignore[arg-type]


def test_resampler_output_type_follows_input_type() -> None:
    rs = Resampler(48000, 16000)
    as_f32: np.ndarray[tuple[int], np.dtype[np.float32]] = rs.process(F32)
    as_i16: np.ndarray[tuple[int], np.dtype[np.int16]] = rs.process(bytes(960))
    assert as_f32.dtype == np.float32 and as_i16.dtype == np.int16
