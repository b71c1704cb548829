"""A tiny energy detector on the 16 kHz uplink: speech onset and end, per 10 ms frame.

It is not a speech model: it marks "someone is making sound" so the session can duck its
own output before the server's `interrupted` arrives, and time "end of user speech" for
the latency report. Hysteresis (`onset_frames` loud frames to start, `hangover_frames`
quiet frames to end) keeps single clicks and short pauses from flipping it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from _dsp import peak_abs


class EnergyVad:
    """Peak-level voice activity with hysteresis; `update()` per frame, no allocation."""

    def __init__(
        self, threshold_dbfs: float = -35.0, *, onset_frames: int = 2, hangover_frames: int = 30
    ) -> None:
        self.threshold = int(32768 * 10 ** (threshold_dbfs / 20))
        self.onset_frames = onset_frames
        self.hangover_frames = hangover_frames
        self.active = False
        self._loud_run = 0
        self._quiet_run = 0
        self._onset_candidate = math.nan
        self.onset_s = math.nan
        """`time.monotonic()` of the first loud frame of the current or last activity."""
        self.last_loud_s = math.nan
        """`time.monotonic()` of the latest loud frame, a lone click included."""
        self.last_speech_s = math.nan
        """`time.monotonic()` of the latest loud frame of an activity (end of the latest
        speech): unlike `last_loud_s`, a click too short to start activity leaves it be."""

    def end_activity(self) -> None:
        """Whatever the frames said, nobody speaks now (no frames came for a while)."""
        self.active = False
        self._loud_run = 0
        self._quiet_run = 0

    def update(self, frame: npt.NDArray[np.int16], now_s: float) -> bool:
        """Feed one frame; returns True exactly when activity starts."""
        if frame.size == 0:
            return False
        if peak_abs(frame) >= self.threshold:
            if self._loud_run == 0:
                self._onset_candidate = now_s
            self._loud_run += 1
            self._quiet_run = 0
            self.last_loud_s = now_s
            if self.active:
                self.last_speech_s = now_s
                return False
            if self._loud_run >= self.onset_frames:
                self.active = True
                self.onset_s = self._onset_candidate
                self.last_speech_s = now_s
                return True
            return False
        self._loud_run = 0
        if self.active:
            self._quiet_run += 1
            if self._quiet_run >= self.hangover_frames:
                self.active = False
        return False
