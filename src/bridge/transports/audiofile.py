"""The one audio-file reader: any format libsndfile reads, converted to the PCM asked for.

The demo's speech sample, `WavTransport` sources and Telegram voice notes (OGG/Opus) all
come through `read_audio`: soundfile decodes, more than two channels are folded to mono,
and `_dsp.Resampler` converts rate and channel count in one pass, with the filter's group
delay dropped so the converted audio starts where the file does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from _dsp import Resampler

from ._base import AudioError

__all__ = ["AudioError", "read_audio"]

AudioSource = str | Path | bytes | BinaryIO
"""A path, the file's bytes, or an open binary file."""


def read_audio(
    source: AudioSource,
    sample_rate_hz: int,
    channels: int,
    *,
    name: str | None = None,
    max_duration_s: float | None = None,
) -> bytes:
    """The audio in `source` as int16 PCM at `sample_rate_hz` with `channels` (1 or 2).

    `name` is how errors refer to it (default: the path). Raises `AudioError` for a file
    that cannot be read or decoded, holds no audio, or is longer than `max_duration_s`.
    """
    shown = name if name is not None else str(source) if isinstance(source, str | Path) else "audio"
    file: str | BinaryIO
    if isinstance(source, bytes):
        file = io.BytesIO(source)
    elif isinstance(source, Path):
        file = str(source)
    else:
        file = source
    try:
        data, file_rate_hz = sf.read(file, dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        reason = getattr(exc, "error_string", "") or getattr(exc, "strerror", "") or str(exc)
        raise AudioError(f"{shown}: cannot read audio: {reason}") from None
    samples: npt.NDArray[np.int16] = data
    n_frames, file_channels = samples.shape
    if n_frames == 0:
        raise AudioError(f"{shown}: contains no audio")
    if max_duration_s is not None and n_frames / file_rate_hz > max_duration_s:
        raise AudioError(
            f"{shown}: {n_frames / file_rate_hz:.0f} s long; at most {max_duration_s:.0f} s"
        )
    if file_channels > 2:
        # The resampler converts mono/stereo; anything wider is folded to mono first.
        samples = samples.mean(axis=1, keepdims=True).astype(np.int16)
        file_channels = 1
    if file_rate_hz == sample_rate_hz and file_channels == channels:
        return np.ascontiguousarray(samples).tobytes()
    resampler = Resampler(
        file_rate_hz, sample_rate_hz, in_channels=file_channels, out_channels=channels
    )
    head = resampler.process(np.ascontiguousarray(samples).reshape(-1).data)
    tail = resampler.flush()
    delay_frames = round(resampler.delay_s * sample_rate_hz)
    out = np.concatenate([head, tail]).astype(np.int16, copy=False)
    return out[delay_frames * channels :].tobytes()
