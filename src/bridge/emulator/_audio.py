"""Reply audio for the emulator: echo resampling and tones (numpy, not the bridge's DSP)."""

from __future__ import annotations

import math

import numpy as np

REPLY_RATE_HZ = 24000


def resample_int16(pcm: bytes, from_rate_hz: int, to_rate_hz: int = REPLY_RATE_HZ) -> bytes:
    """Linear-interpolation resampling of int16 mono PCM; good enough to recognise an echo."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if from_rate_hz == to_rate_hz or samples.size == 0:
        return bytes(pcm)
    n_out = samples.size * to_rate_hz // from_rate_hz
    positions = np.arange(n_out, dtype=np.float64) * (from_rate_hz / to_rate_hz)
    out = np.interp(positions, np.arange(samples.size), samples.astype(np.float64))
    return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


def tone(duration_s: float, frequency_hz: float, rate_hz: int = REPLY_RATE_HZ) -> bytes:
    """A sine at -12 dBFS with 5 ms fades, as int16 PCM."""
    n_samples = int(duration_s * rate_hz)
    t = np.arange(n_samples) / rate_hz
    wave = 0.25 * np.sin(2 * np.pi * frequency_hz * t)
    n_fade = min(n_samples // 2, rate_hz // 200)
    if n_fade:
        ramp = np.linspace(0.0, 1.0, n_fade)
        wave[:n_fade] *= ramp
        wave[n_samples - n_fade :] *= ramp[::-1]
    return (wave * 32767).astype("<i2").tobytes()


def frame_dbfs(pcm: bytes, frame_samples: int) -> list[float]:
    """RMS level in dBFS of each whole frame of `frame_samples` int16 samples."""
    samples = np.frombuffer(pcm, dtype="<i2")
    n_frames = samples.size // frame_samples
    frames = samples[: n_frames * frame_samples].reshape(n_frames, frame_samples)
    frames = frames.astype(np.float64)
    # A message holds a frame or two: numpy's per-call cost is what counts, so one
    # einsum for the energies and the rest on Python floats.
    full_scale = frame_samples * 32768.0**2
    energies: list[float] = np.einsum("ij,ij->i", frames, frames).tolist()
    return [10 * math.log10(max(energy / full_scale, 1e-12)) for energy in energies]
