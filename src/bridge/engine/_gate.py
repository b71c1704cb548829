"""The uplink's voice-activity gate: no audio to Gemini while the room is silent.

Gemini bills input audio by its duration, so a silent but unmuted room costs as much as
a conversation. The gate sits between the resampler and the uplink ring, per 16 kHz
frame, driven by the session's `EnergyVad`. A stretch (what the server hears as one
stream of audio) goes through three states:

- closed: frames go into a pre-roll ring holding the last `pre_roll_ms` before the VAD's
  first loud frame (older audio is dropped, never sent);
- the VAD starts activity: the stretch opens ("start" mark), and the pre-roll, then the
  frame, go to the uplink ring, so the soft start of a word (below the VAD's threshold)
  is sent too. While sending, every frame goes out, pauses inside speech included, so
  the server's own turn detection hears what it would without the gate;
- `hangover_ms` after the last speech frame sending stops (held), but the stretch stays
  open: new frames go to the pre-roll again. Speech within `pause_ms` resumes sending,
  the pre-roll first (with `pre_roll_ms + hangover_ms >= pause_ms`, the whole pause);
- `pause_ms` after the last speech frame the stretch ends: an "end" mark follows its
  last sample, which the sender turns into `audioStreamEnd` (automatic activity
  detection) or `activityEnd` (manual, where the start mark is `activityStart`).

The hangover is the trailing quiet the server needs to see to end a turn itself (its
`silenceDurationMs`); the pause is the service's guidance for `audioStreamEnd`. Both are
checked on every frame and on every 10 ms mixer tick, so a room where every microphone
went quiet (no frames at all) still gets its stream end. The pre-roll holds only audio
not sent yet: it starts empty whenever sending stops.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from _dsp import RingBuffer

from ._vad import EnergyVad

Step = Literal["hold", "end"]


class UplinkGate:
    """Sending, held or closed, with the pre-roll kept while not sending; owned by the
    `Uplink`, which sends what `open()` returns and marks what `step()` says."""

    def __init__(
        self,
        vad: EnergyVad,
        *,
        pre_roll_ms: int,
        hangover_ms: int,
        pause_ms: int,
        sample_rate_hz: int,
    ) -> None:
        if not 0 <= hangover_ms <= pause_ms or pre_roll_ms < 0:
            raise ValueError(
                "need pre_roll_ms >= 0 and 0 <= hangover_ms <= pause_ms, got pre_roll_ms="
                f"{pre_roll_ms}, hangover_ms={hangover_ms}, pause_ms={pause_ms}"
            )
        self._vad = vad
        self.hangover_s = hangover_ms / 1000
        self.pause_s = pause_ms / 1000
        # The VAD starts on its `onset_frames`-th loud frame: the frames before that one
        # are held on top, so the pre-roll is `pre_roll_ms` before the first loud frame.
        frame_samples = sample_rate_hz // 100
        held_samples = sample_rate_hz * pre_roll_ms // 1000 + (vad.onset_frames - 1) * frame_samples
        self.pre_roll = RingBuffer(max(1, held_samples), channels=1, overflow="drop_oldest")
        self.sending = False
        self.is_open = False
        """A stretch is open (sending or held): its end mark is still to come."""
        self.opens = 0
        """Stretches opened."""

    def hold(self, frame: npt.NDArray[np.int16]) -> None:
        """A frame while not sending: keep it as pre-roll."""
        self.pre_roll.write(frame.data)

    def open(self) -> tuple[npt.NDArray[np.int16], bool]:
        """Send again; returns the pre-roll to send before the frame that started the
        VAD, and whether a new stretch begins (else a held one resumes)."""
        new = not self.is_open
        self.sending = self.is_open = True
        self.opens += new
        held: npt.NDArray[np.int16] = self.pre_roll.read(self.pre_roll.available)  # type: ignore[assignment]
        return held, new

    def step(self, now_s: float) -> Step | None:
        """Stop sending `hangover_ms`, end the stretch `pause_ms` after the last speech."""
        if not self.is_open:
            return None
        quiet_s = now_s - self._vad.last_speech_s
        if not quiet_s >= self.pause_s and not math.isnan(quiet_s):
            if not (self.sending and quiet_s >= self.hangover_s):
                return None
            step: Step = "hold"
        else:
            step = "end"
            self.is_open = False
        self.sending = False
        self.pre_roll.clear()  # all sent: the pre-roll starts from here
        # With frames flowing the VAD's own hangover ended long ago; with none (every
        # microphone muted) it never saw the quiet: end it, so the next word starts it.
        self._vad.end_activity()
        return step
