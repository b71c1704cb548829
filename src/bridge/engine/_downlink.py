"""Downlink: reply audio (24 kHz) → resample to the transport → jitter buffer → one frame per tick.

`push()` runs in the receive loop for every audio message; `pop_frame()` runs on the
playout clock's tick. `clear()` (barge-in) empties the jitter buffer with a fade in the
same loop iteration as the `interrupted` message and resets the resampler, whose history
belongs to the cut-off reply. The jitter buffer stays private: `Turns` and the barge-in
logic read the play position and state through the properties here.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import numpy.typing as npt

from _dsp import JitterBuffer, Resampler

from .._faults import FaultReporter
from ._metrics import Histogram

log = logging.getLogger(__name__)

GEMINI_OUTPUT_RATE_HZ = 24_000
_RESAMPLER_SLACK = 256
"""Input samples beyond the exact room: the resampler holds some back as filter delay."""
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
        self._max_ms = max_ms
        self._jitter = JitterBuffer(
            sample_rate_hz, channels, 10, target_ms=target_ms, max_ms=max_ms, fade_ms=FADE_MS
        )
        self._resamplers: dict[int, Resampler] = {}
        self._frame: npt.NDArray[np.int16] = np.zeros(
            self._jitter.frame_samples * channels, dtype=np.int16
        )
        self._ducked: npt.NDArray[np.int16] = np.zeros_like(self._frame)
        self.processing_us = Histogram(histogram_capacity)
        self.pushed_samples = 0
        self.bytes_received = 0
        # Whole samples are played; the stray byte cannot be part of the next message's.
        self._odd = FaultReporter("reply audio message is not whole int16 samples", log)
        self._overfull = FaultReporter("reply audio beyond the playout limit dropped", log)
        self._dropped_early = 0

    @property
    def odd_messages(self) -> int:
        """Audio messages with an odd byte count (their last byte was dropped)."""
        return self._odd.count

    @property
    def played_samples(self) -> int:
        """Samples per channel played so far (the play position)."""
        return self._jitter.played_samples

    @property
    def is_playing(self) -> bool:
        """Reply audio is being played (not waiting to fill, not idle)."""
        return self._jitter.is_playing

    @property
    def is_idle(self) -> bool:
        """Nothing playing and nothing queued."""
        return not self._jitter.is_playing and self._jitter.depth_ms == 0

    @property
    def depth_ms(self) -> float:
        """Reply audio queued for playout."""
        return self._jitter.depth_ms

    @property
    def target_ms(self) -> float:
        """The depth playout starts at (grows after underruns)."""
        return self._jitter.target_ms

    @property
    def underruns(self) -> int:
        """Frames concealed because the reply audio had not arrived in time."""
        return self._jitter.underruns

    @property
    def dropped_samples(self) -> int:
        """Reply audio dropped (at the output rate) because the buffer was at `max_ms`."""
        return self._jitter.dropped_samples + self._dropped_early

    def mark_end(self) -> None:
        """The reply is complete: play what is queued without waiting for the target."""
        self._jitter.mark_end()

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
            self._odd.report(
                f"{len(pcm)} bytes: playing {usable // 2} samples, dropping the last byte"
            )
        # Audio the buffer cannot take is dropped before it is resampled, so one huge
        # message costs a slice, not a resampling pass over all of it.
        room_ms = self._max_ms - self._jitter.depth_ms
        room_bytes = 2 * max(0, int(room_ms * rate_hz / 1000) + _RESAMPLER_SLACK)
        if usable > room_bytes:
            dropped_ms = (usable - room_bytes) * 500 / rate_hz
            self._dropped_early += round(dropped_ms * self.sample_rate_hz / 1000)
            self._overfull.report(f"{dropped_ms:.0f} ms of a {usable // 2}-sample message")
            usable = room_bytes
        out = self._resampler(rate_hz).process(memoryview(pcm)[:usable])
        accepted = self._jitter.push(out.data)
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
        n = self._jitter.pop_into(self._frame.data)
        if n and gain != 1.0:
            np.multiply(self._frame, gain, out=self._ducked, casting="unsafe")
            return self._ducked.tobytes(), n
        return self._frame.tobytes(), n

    def clear(self) -> None:
        """Barge-in: fade out within the next frame, drop the rest, forget filter history."""
        self._jitter.clear()
        for resampler in self._resamplers.values():
            resampler.reset()

    def queued_samples(self) -> int:
        """Samples per channel pushed and not yet played."""
        return round(self._jitter.depth_ms * self.sample_rate_hz / 1000)
