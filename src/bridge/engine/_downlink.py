"""Downlink: reply audio (24 kHz) → resample to the transport → jitter buffer → one frame per tick.

`push()` runs in the receive loop for every audio message; `pop_frame()` runs on the
playout clock's tick. `clear()` (barge-in) empties the jitter buffer with a fade in the
same loop iteration as the `interrupted` message and resets the resampler, whose history
belongs to the cut-off reply.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import numpy.typing as npt

from _dsp import JitterBuffer, Resampler

from .._faults import worth_reporting
from ._metrics import Histogram

log = logging.getLogger(__name__)

GEMINI_OUTPUT_RATE_HZ = 24_000
FADE_MS = 5.0
"""Barge-in and underrun fade: short enough to finish inside the next 10 ms frame."""


class Downlink:
    """One session's playout path."""

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        channels: int,
        target_ms: int,
        max_ms: int,
        histogram_capacity: int,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.jitter = JitterBuffer(
            sample_rate_hz, channels, 10, target_ms=target_ms, max_ms=max_ms, fade_ms=FADE_MS
        )
        self._resamplers: dict[int, Resampler] = {}
        self._frame: npt.NDArray[np.int16] = np.zeros(
            self.jitter.frame_samples * channels, dtype=np.int16
        )
        self._ducked: npt.NDArray[np.int16] = np.zeros_like(self._frame)
        self.processing_us = Histogram(histogram_capacity)
        self.pushed_samples = 0
        self.bytes_received = 0
        self.odd_messages = 0

    def _resampler(self, rate_hz: int) -> Resampler:
        resampler = self._resamplers.get(rate_hz)
        if resampler is None:
            resampler = Resampler(
                rate_hz, self.sample_rate_hz, in_channels=1, out_channels=self.channels
            )
            self._resamplers[rate_hz] = resampler
        return resampler

    def push(self, pcm: bytes, rate_hz: int = GEMINI_OUTPUT_RATE_HZ) -> int:
        """Queue one message of mono reply audio; returns samples per channel queued."""
        started_ns = time.perf_counter_ns()
        usable = len(pcm) & ~1
        if usable != len(pcm):
            # Play the whole samples; the stray byte cannot be part of the next message's.
            self.odd_messages += 1
            if worth_reporting(self.odd_messages):
                log.warning(
                    "reply audio message of %d bytes is not whole int16 samples: "
                    "playing %d samples, dropping the last byte (%d such messages so far)",
                    len(pcm), usable // 2, self.odd_messages,
                )  # fmt: skip
        out = self._resampler(rate_hz).process(memoryview(pcm)[:usable])
        accepted = self.jitter.push(out.data)
        elapsed_ns = time.perf_counter_ns() - started_ns
        self.pushed_samples += accepted
        self.bytes_received += len(pcm)
        n_in = usable // 2
        if n_in:
            # Normalise to one 20 ms frame of model audio, the report's unit.
            self.processing_us.record(elapsed_ns / 1000 * (rate_hz * 0.02) / n_in)
        return accepted

    def pop_frame(self, gain: float = 1.0) -> tuple[bytes, int]:
        """The next 10 ms frame as bytes, and how many samples of it were reply audio."""
        n = self.jitter.pop_into(self._frame.data)
        if n and gain != 1.0:
            np.multiply(self._frame, gain, out=self._ducked, casting="unsafe")
            return self._ducked.tobytes(), n
        return self._frame.tobytes(), n

    def clear(self) -> None:
        """Barge-in: fade out within the next frame, drop the rest, forget filter history."""
        self.jitter.clear()
        for resampler in self._resamplers.values():
            resampler.reset()

    def queued_samples(self) -> int:
        """Samples per channel pushed and not yet played."""
        return round(self.jitter.depth_ms * self.sample_rate_hz / 1000)
