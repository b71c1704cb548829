"""Who is speaking: per-speaker activity before mixing, on a timeline of uplink samples.

Telegram hands over each participant's audio separately (keyed by ssrc); the mix sent to
Gemini loses who said what. `SpeakerTimeline` keeps it:
- `frame(ssrc, pcm)`, for every speaker frame before it is mixed: a peak-level detector
  per ssrc with hysteresis (`onset_frames` loud frames to start, `hangover_frames` quiet
  ones to stop), so a click does not make a speaker and a breath does not end one;
- `mark(position, n_samples)`, for every mixed frame written to the uplink: the speakers
  active now cover those samples. Positions count 16 kHz samples produced by the uplink
  since the session started: audio held through a reconnect or dropped by a gate keeps
  its place, so the timeline never drifts from what the server heard.
- `attribute(start, end)`: the speakers of a span of uplink audio, in the order they
  started, keeping those active for at least `MIN_SHARE` of the busiest one's time.

`Attribution` estimates the span each incremental input transcription covers: the audio
sent since the previous piece (the server transcribes what it has received; a piece
arrives after its audio was sent, and the next piece starts where this one ended), less
the last `lag_samples` when the service is known to transcribe that far behind.
"""

from __future__ import annotations

import math
from collections import deque

from _dsp import peak_abs

MIN_SHARE = 0.3
"""A speaker is named for a span if active at least this share of the busiest one's time."""
MIN_ACTIVE_SAMPLES = 480
"""...and for at least 30 ms of 16 kHz audio (a cough under someone else's words is not)."""
MAX_RUNS = 20_000
"""Runs kept at most (hours of turn-taking) when nothing consumes them."""


class _Level:
    __slots__ = ("active", "loud_run", "quiet_run", "seen")

    def __init__(self) -> None:
        self.active = False
        self.loud_run = 0
        self.quiet_run = 0
        self.seen = 0
        """`SpeakerTimeline._marks` when its latest frame arrived."""


class SpeakerTimeline:
    """Per-ssrc voice activity, and which speakers were active over which uplink samples."""

    def __init__(
        self,
        threshold: int,
        *,
        onset_frames: int = 2,
        hangover_frames: int = 10,
        forget_frames: int = 3000,
    ) -> None:
        self.threshold = threshold
        """int16 peak of a loud frame (the uplink VAD's)."""
        self.onset_frames = onset_frames
        self.hangover_frames = hangover_frames
        self.forget_frames = forget_frames
        self._levels: dict[int, _Level] = {}
        self._active: tuple[int, ...] = ()
        self._marks = 0
        self._runs: deque[tuple[int, int, tuple[int, ...]]] = deque()
        """(start, end, ssrcs) of uplink samples with the same speakers, none empty."""

    @property
    def active(self) -> tuple[int, ...]:
        """The ssrcs speaking now, in the order they started."""
        return self._active

    def frame(self, ssrc: int, pcm: bytes) -> None:
        """One 10 ms frame of one speaker, before mixing."""
        level = self._levels.get(ssrc)
        if level is None:
            level = self._levels[ssrc] = _Level()
        level.seen = self._marks
        if peak_abs(pcm) >= self.threshold:
            level.loud_run += 1
            level.quiet_run = 0
            if not level.active and level.loud_run >= self.onset_frames:
                level.active = True
                self._active = (*self._active, ssrc)
            return
        level.loud_run = 0
        level.quiet_run += 1
        if level.active and level.quiet_run >= self.hangover_frames:
            self._stop(ssrc)

    def _stop(self, ssrc: int) -> None:
        self._levels[ssrc].active = False
        self._active = tuple(s for s in self._active if s != ssrc)

    def mark(self, position: int, n_samples: int) -> None:
        """Uplink samples [position, position + n_samples) carry the speakers active now."""
        self._marks += 1
        for ssrc in self._active:
            # No frames any more (left, muted, a dead stream): it stops speaking too.
            if self._marks - self._levels[ssrc].seen > self.hangover_frames:
                self._stop(ssrc)
        if self._marks % self.forget_frames == 0:  # ssrcs gone for a minute: forget them
            gone = [
                s for s, v in self._levels.items() if self._marks - v.seen >= self.forget_frames
            ]
            for ssrc in gone:
                del self._levels[ssrc]
        ssrcs = self._active
        if not ssrcs or n_samples <= 0:
            return
        runs = self._runs
        if runs and runs[-1][1] == position and runs[-1][2] == ssrcs:
            runs[-1] = (runs[-1][0], position + n_samples, ssrcs)
            return
        runs.append((position, position + n_samples, ssrcs))
        if len(runs) > MAX_RUNS:
            runs.popleft()

    def attribute(self, start: int, end: int) -> tuple[int, ...]:
        """The speakers of uplink samples [start, end), first to start first.

        Runs that end before `start` are dropped: spans are asked for in order.
        """
        runs = self._runs
        while runs and runs[0][1] <= start:
            runs.popleft()
        active: dict[int, int] = {}
        first: dict[int, int] = {}
        for run_start, run_end, ssrcs in runs:
            if run_start >= end:
                break
            n = min(run_end, end) - max(run_start, start)
            for ssrc in ssrcs:
                active[ssrc] = active.get(ssrc, 0) + n
                first.setdefault(ssrc, max(run_start, start))
        if not active:
            return ()
        floor = max(MIN_ACTIVE_SAMPLES, math.ceil(MIN_SHARE * max(active.values())))
        named = [ssrc for ssrc, n in active.items() if n >= floor]
        return tuple(sorted(named, key=first.__getitem__))


class Attribution:
    """Names the speakers of each incremental input transcription (see module docstring)."""

    def __init__(self, timeline: SpeakerTimeline, *, lag_samples: int = 0) -> None:
        self._timeline = timeline
        self.lag_samples = lag_samples
        self._heard_to = 0
        """Uplink position up to which audio was covered by earlier pieces."""

    def piece(self, sent_position: int) -> tuple[int, ...]:
        """A transcription piece arrived after uplink audio up to `sent_position` was sent."""
        end = max(self._heard_to, sent_position - self.lag_samples)
        start, self._heard_to = self._heard_to, end
        return self._timeline.attribute(start, self._heard_to)
