"""ISA levels: BRIDGE_DSP_ISA picks the kernels, every level the CPU has agrees with the others.

The full DSP suite runs once per level in CI (scripts/ci_dsp_levels.sh); these tests cover
the selection itself and compare the levels within one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import _dsp
from _dsp import Resampler, mix_into, peak_abs

LEVELS = _dsp.available_isas()
KNOWN = ("sse2", "avx2", "avx512", "neon", "generic")


@pytest.fixture
def restore_isa() -> Iterator[None]:
    before = _dsp.isa()
    yield
    _dsp._set_isa(before)


def import_with(value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BRIDGE_DSP_ISA": value}
    return subprocess.run(
        [sys.executable, "-c", "import _dsp; print(_dsp.isa())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_levels_are_known_and_the_one_in_use_is_available() -> None:
    assert LEVELS and set(LEVELS) <= set(KNOWN)
    assert _dsp.isa() in LEVELS
    if os.environ.get("BRIDGE_DSP_ISA", "auto") == "auto":
        assert _dsp.isa() == LEVELS[-1]  # auto: the widest


def test_environment_variable_selects_the_narrowest_level() -> None:
    done = import_with(LEVELS[0])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == LEVELS[0]


def test_level_the_cpu_lacks_is_a_runtime_error_naming_the_cpu_levels() -> None:
    missing = next(level for level in KNOWN if level not in LEVELS)
    done = import_with(missing)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError") and missing in last
    assert f"this CPU has only {', '.join(LEVELS)}" in last


def test_unknown_value_is_a_value_error_naming_the_allowed_values() -> None:
    done = import_with("avx9000")
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError") and "'avx9000'" in last
    assert "sse2, avx2, avx512, neon, generic, auto" in last


def test_set_isa_refuses_bad_levels(restore_isa: None) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        _dsp._set_isa(2)  # type: ignore[arg-type]
    missing = next(level for level in KNOWN if level not in LEVELS)
    with pytest.raises(RuntimeError, match="this CPU has only"):
        _dsp._set_isa(missing)
    _dsp._set_isa("auto")
    assert _dsp.isa() == LEVELS[-1]


@pytest.mark.parametrize(
    ("in_hz", "out_hz", "in_ch"), [(48000, 16000, 2), (16000, 48000, 1), (48000, 32000, 1)]
)
def test_levels_agree_to_float_rounding(
    restore_isa: None, in_hz: int, out_hz: int, in_ch: int
) -> None:
    """Down, up and general kernels: levels differ only by summation order and FMA."""
    x = (np.random.default_rng(1).standard_normal(4000 * in_ch) * 8000).astype(np.float32)
    outs = {}
    for level in LEVELS:
        _dsp._set_isa(level)
        outs[level] = Resampler(in_hz, out_hz, in_channels=in_ch).process(x)
    for level in LEVELS:
        np.testing.assert_allclose(outs[level], outs[LEVELS[0]], rtol=0, atol=0.02)


def test_a_resampler_keeps_the_level_it_was_built_with(restore_isa: None) -> None:
    x = (np.random.default_rng(2).standard_normal(2 * 4800) * 8000).astype(np.int16)
    _dsp._set_isa(LEVELS[0])
    rs = Resampler(48000, 16000, in_channels=2)
    first = rs.process(x[:4800])
    _dsp._set_isa(LEVELS[-1])
    second = rs.process(x[4800:])
    _dsp._set_isa(LEVELS[0])
    whole = Resampler(48000, 16000, in_channels=2).process(x)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)


def test_mixer_and_peak_give_the_same_integers_on_every_level(restore_isa: None) -> None:
    """The soft clip has no multiply-add, so FMA cannot move a rounding boundary."""
    sums = np.arange(-3 * 32768, 3 * 32767, 7, dtype=np.int64)
    third = (sums // 3).astype(np.int16)
    frames = [third, third, (sums - 2 * (sums // 3)).astype(np.int16)]
    outs = []
    for level in LEVELS:
        _dsp._set_isa(level)
        out = np.zeros(len(sums), dtype=np.int16)
        mix_into(frames, out)
        outs.append(out)
        assert peak_abs(frames[2]) == int(np.abs(frames[2].astype(np.int32)).max())
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
