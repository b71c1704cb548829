"""The uplink's voice-activity gate: no audio to Gemini while the room is silent.

Gemini bills input audio by its duration, so a silent but unmuted room costs as much as
a conversation. The gate sits between the resampler and the uplink ring, per 16 kHz
frame, driven by the session's `EnergyVad`:

- closed: frames go into a pre-roll ring holding the last `pre_roll_ms` before the VAD's
  first loud frame (older audio is dropped, never sent);
- the VAD starts activity: the gate opens, and the pre-roll, then the frame, go to the
  uplink ring, so the soft start of a word (below the VAD's threshold) is sent too;
- open: every frame goes to the uplink ring, pauses inside speech included, so the
  server's own turn detection hears exactly what it would without the gate;
- `pause_ms` after the last speech frame the gate closes: a stream-end mark follows the
  last sample, which the sender turns into `audioStreamEnd` (automatic activity
  detection) or `activityEnd` (manual, where the open mark is `activityStart`).

Closing is checked on every frame and on every 10 ms mixer tick, so a room where every
microphone went quiet (no frames at all) still gets its stream end. The pre-roll holds
only audio not sent yet: after a close it starts empty.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from _dsp import RingBuffer

from ._vad import EnergyVad


class UplinkGate:
    """Open or closed, with the pre-roll held while closed; owned by the `Uplink`."""

    def __init__(
        self, vad: EnergyVad, *, pre_roll_ms: int, pause_ms: int, sample_rate_hz: int
    ) -> None:
        if pre_roll_ms < 0 or pause_ms < 0:
            raise ValueError(
                f"pre_roll_ms and pause_ms must not be negative, got {pre_roll_ms}, {pause_ms}"
            )
        self._vad = vad
        self.pre_roll_ms = pre_roll_ms
        self.pause_s = pause_ms / 1000
        # The VAD starts on its `onset_frames`-th loud frame: the frames before that one
        # are held on top, so the pre-roll is `pre_roll_ms` before the first loud frame.
        frame_samples = sample_rate_hz // 100
        held_samples = sample_rate_hz * pre_roll_ms // 1000 + (vad.onset_frames - 1) * frame_samples
        self.pre_roll = RingBuffer(max(1, held_samples), channels=1, overflow="drop_oldest")
        self._use_pre_roll = pre_roll_ms > 0
        self.is_open = False
        self.opens = 0
        """Times the gate opened (segments of audio sent)."""

    def hold(self, frame: npt.NDArray[np.int16]) -> None:
        """A frame while closed: keep it as pre-roll."""
        if self._use_pre_roll:
            self.pre_roll.write(frame.data)

    def open(self) -> npt.NDArray[np.int16]:
        """Open; returns the pre-roll to send before the frame that opened it."""
        self.is_open = True
        self.opens += 1
        held: npt.NDArray[np.int16] = self.pre_roll.read(self.pre_roll.available)  # type: ignore[assignment]
        return held

    def due_to_close(self, now_s: float) -> bool:
        """Open, and the last speech is `pause_ms` old."""
        last_s = self._vad.last_speech_s
        return self.is_open and (math.isnan(last_s) or now_s - last_s >= self.pause_s)

    def close(self) -> None:
        """Close: from now on frames are held as pre-roll again, starting empty."""
        self.is_open = False
        self.pre_roll.clear()
        # With frames flowing the VAD's hangover ended long ago; with none (every
        # microphone muted) it never saw the quiet: end it, so the next word starts it.
        self._vad.end_activity()
