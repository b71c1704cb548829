"""Barge-in and ducking: the user talking over the reply makes it stop, or softer.

Three paths, all acting on the downlink and timed in the session's histograms:
- server barge-in: `interrupted()` runs in the same loop iteration as the message and
  clears the playout (the next tick plays the fade, then silence): `barge_in_ms`;
- ducking (`vad_duck`): local speech that began after the reply did lowers the output to
  `vad_duck_gain` before the server reacts, and is released after half a second of
  quiet (a false alarm) or when the reply ends: `duck_ms`;
- local barge-in (`local_barge_in_ms`): a reply the server has finished generating
  cannot be interrupted by the server, so speech that long over it stops it here:
  `local_barge_in_ms`.

`before_frame()` and `after_frame()` run on every playout tick, around the frame.
"""

from __future__ import annotations

import math

from ..config import EngineConfig
from ._downlink import FADE_MS, Downlink
from ._stats import SessionStats
from ._turns import Turns
from ._vad import EnergyVad

DUCK_RELEASE_S = 0.5
"""A local VAD false alarm: restore full output after this much quiet."""


class BargeIn:
    """One session's barge-in and ducking state."""

    def __init__(
        self,
        engine: EngineConfig,
        vad: EnergyVad,
        downlink: Downlink,
        turns: Turns,
        stats: SessionStats,
    ) -> None:
        self._engine = engine
        self._vad = vad
        self._downlink = downlink
        self._turns = turns
        self._counters = stats.counters
        self._h = stats.histograms
        self._interrupted_s = math.nan
        self._ducked_since_s: float | None = None

    @property
    def ducked(self) -> bool:
        """The output is currently lowered for local speech."""
        return self._ducked_since_s is not None

    def interrupted(self, now_s: float) -> None:
        """The server's `interrupted`: stop the reply in this loop iteration."""
        self._downlink.clear()
        self._counters.interruptions += 1
        self._interrupted_s = now_s
        self._ducked_since_s = None
        self._turns.interrupt_all()

    def before_frame(self, now_s: float) -> float:
        """Duck on local speech, stop a finished reply talked over; returns the output gain."""
        engine = self._engine
        vad = self._vad
        # Only speech that began after the reply did counts, not the tail of the question.
        speaking = vad.active and vad.onset_s >= self._turns.reply_started_s
        playing = self._downlink.is_playing
        if engine.vad_duck:
            if self._ducked_since_s is None:
                if speaking and playing:
                    self._ducked_since_s = now_s
                    self._h.duck_ms.record((now_s - vad.onset_s) * 1e3)
            elif not playing or (not vad.active and now_s - vad.last_loud_s > DUCK_RELEASE_S):
                self._ducked_since_s = None
        if (
            engine.local_barge_in_ms
            and speaking
            and playing
            and self._turns.playing
            and not self._turns.current.started
            and now_s - vad.onset_s >= engine.local_barge_in_ms / 1000
        ):
            # The server finished generating this reply, so it will not say
            # `interrupted`: the user talking over it is a barge-in only we can act on.
            self._downlink.clear()
            self._counters.local_barge_ins += 1
            self._ducked_since_s = None
            self._h.local_barge_in_ms.record((now_s - vad.onset_s) * 1e3)
            self._turns.interrupt_all()
        return engine.vad_duck_gain if self._ducked_since_s is not None else 1.0

    def after_frame(self, now_s: float) -> None:
        """After the frame went out: time a server barge-in that this frame completed."""
        if not math.isnan(self._interrupted_s):
            # This frame carries the fade; the output is silent FADE_MS into it.
            self._h.barge_in_ms.record((now_s - self._interrupted_s) * 1e3 + FADE_MS)
            self._interrupted_s = math.nan
