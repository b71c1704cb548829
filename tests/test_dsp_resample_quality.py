"""Resampler quality measured with tones.

Measured on the float32 path: int16 output adds rounding noise about 98 dB below a
full-scale sine, which would hide the filter's own figures. Amplitude and phase come from
a least-squares sine/cosine fit at the known frequency over the steady-state part of the
output (after a Hann window); everything the fit does not explain is alias, image or noise.
"""

from __future__ import annotations

import numpy as np
import pytest

from _dsp import Resampler

AMPLITUDE = 16384.0
DURATION_S = 0.12


def tone(rate_hz: int, freq_hz: float) -> np.ndarray:
    t = np.arange(int(rate_hz * DURATION_S)) / rate_hz
    return (AMPLITUDE * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def measure(rs: Resampler, freq_hz: float) -> tuple[float, float, float]:
    """Return (gain dB, residual dB relative to the input tone, measured delay s)."""
    y = rs.process(tone(rs.in_rate_hz, freq_hz)).astype(np.float64)
    rate = rs.out_rate_hz
    skip = int(rate * (2 * rs.delay_s + 0.002))
    y = y[skip:]
    t = (np.arange(len(y)) + skip) / rate
    w = np.hanning(len(y))
    if freq_hz < rate / 2:
        basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], 1)
        coef, *_ = np.linalg.lstsq(basis * w[:, None], y * w, rcond=None)
        resid = y - basis @ coef
        amp = float(np.hypot(*coef))
        phase = float(np.arctan2(coef[1], coef[0]))  # y ~ A sin(2 pi f (t - d))
        delay = (-phase / (2 * np.pi * freq_hz)) % (1 / freq_hz) if freq_hz > 0 else 0.0
    else:
        resid, amp, delay = y, 0.0, 0.0
    resid_rms = np.sqrt(np.sum((resid * w) ** 2) / np.sum(w**2))
    gain_db = 20 * np.log10(max(amp, 1e-30) / AMPLITUDE)
    resid_db = 20 * np.log10(max(resid_rms, 1e-30) / (AMPLITUDE / np.sqrt(2)))
    return gain_db, resid_db, delay


DOWN = [(48000, 16000), (48000, 24000), (48000, 32000)]
UP = [(16000, 48000), (24000, 48000), (32000, 48000)]


@pytest.mark.parametrize(("in_hz", "out_hz"), DOWN)
def test_downsampling_aliases_are_100db_down(in_hz: int, out_hz: int) -> None:
    """Every input tone whose alias lands in 0-0.9 x the output Nyquist, plus passband tones."""
    nyq = out_hz / 2
    stop = np.linspace(1.1 * nyq, in_hz / 2 - 50, 24)
    passband = np.linspace(100, 0.85 * nyq, 8)
    worst = max(measure(Resampler(in_hz, out_hz), f)[1] for f in [*stop, *passband])
    assert worst <= -100.0


@pytest.mark.parametrize(("in_hz", "out_hz"), UP)
def test_upsampling_images_are_100db_down(in_hz: int, out_hz: int) -> None:
    """Images of every input tone in 0-0.9 x the input Nyquist."""
    nyq = in_hz / 2
    worst = max(measure(Resampler(in_hz, out_hz), f)[1] for f in np.linspace(50, 0.9 * nyq, 30))
    assert worst <= -100.0


@pytest.mark.parametrize(("in_hz", "out_hz"), DOWN + UP)
def test_passband_ripple_within_005_db(in_hz: int, out_hz: int) -> None:
    nyq = min(in_hz, out_hz) / 2
    gains = [measure(Resampler(in_hz, out_hz), f)[0] for f in np.linspace(50, 0.85 * nyq, 30)]
    assert max(abs(g) for g in gains) <= 0.05


@pytest.mark.parametrize(
    ("in_hz", "out_hz", "limit_s"), [(48000, 16000, 0.003), (24000, 48000, 0.002)]
)
def test_group_delay_is_exact_and_small(in_hz: int, out_hz: int, limit_s: float) -> None:
    rs = Resampler(in_hz, out_hz)
    assert rs.delay_s <= limit_s
    for f in (100.0, 150.0, 250.0):  # periods longer than the delay
        _, _, delay = measure(Resampler(in_hz, out_hz), f)
        assert delay == pytest.approx(rs.delay_s, abs=2e-6)


def test_low_quality_figures() -> None:
    """ "low": passband to 0.75 x Nyquist within 0.05 dB; stopband from 1.25 x >= 75 dB down."""
    rs = Resampler(48000, 16000, quality="low")
    assert rs.delay_s < Resampler(48000, 16000).delay_s * 0.75
    for f in np.linspace(100, 0.75 * 8000, 8):
        assert abs(measure(Resampler(48000, 16000, quality="low"), f)[0]) <= 0.05
    for f in np.linspace(1.25 * 8000, 23950, 12):
        assert measure(Resampler(48000, 16000, quality="low"), f)[1] <= -75.0


def test_int16_path_is_limited_only_by_rounding() -> None:
    """A 0.9 full-scale sine through int16 in/out keeps ~95 dB SNR (rounding floor ~98 dB)."""
    t = np.arange(48000 // 5) / 48000
    x = np.round(0.9 * 32767 * np.sin(2 * np.pi * 997 * t)).astype(np.int16)
    rs = Resampler(48000, 16000)
    y = rs.process(x).astype(np.float64)
    ref = Resampler(48000, 16000).process(x.astype(np.float32)).astype(np.float64)
    skip = 200
    err = y[skip:] - ref[skip:]
    assert np.max(np.abs(err)) <= 0.5
    snr_db = 10 * np.log10(np.mean(ref[skip:] ** 2) / np.mean(err**2))
    assert snr_db >= 95.0
