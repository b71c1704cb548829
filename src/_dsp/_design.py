"""The resampler's prototype lowpass: a Kaiser-windowed sinc."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# (passband edge, stopband edge) as fractions of the lower Nyquist, design attenuation dB.
# Stopband from 1.1 x Nyquist keeps every alias/image of a 0-0.9 x Nyquist tone out of the
# band; 10 dB of design margin over the 100 dB requirement absorbs float32 taps.
QUALITY = {"high": (0.85, 1.10, 110.0), "low": (0.75, 1.25, 80.0)}


def lowpass(
    up: int, down: int, in_rate_hz: int, out_rate_hz: int, quality: str
) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc at up * in_rate_hz, length a multiple of `up`, gain `up`."""
    if up == 1 and down == 1:
        return np.ones(1)
    pass_frac, stop_frac, atten_db = QUALITY[quality]
    fs_up = float(in_rate_hz) * up
    nyq = min(in_rate_hz, out_rate_hz) / 2.0
    width = 2.0 * np.pi * (stop_frac - pass_frac) * nyq / fs_up
    n_est = int(np.ceil((atten_db - 7.95) / (2.285 * width))) + 1
    n = -(-n_est // up) * up
    beta = 0.1102 * (atten_db - 8.7)
    fc = (pass_frac + stop_frac) / 2.0 * nyq / fs_up  # cycles per sample
    t = np.arange(n) - (n - 1) / 2.0
    h = 2.0 * fc * np.sinc(2.0 * fc * t) * np.kaiser(n, beta)
    return np.asarray(h * (up / h.sum()), dtype=np.float64)
