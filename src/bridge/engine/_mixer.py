"""Uplink speaker mixing: per-ssrc frames in, one mixed 10 ms frame per period out.

Telegram delivers each speaker's frames separately and not in step. Mixing must give
exactly one frame per 10 ms whatever the number of speakers, and add no delay when it
can avoid it:
- one active speaker: its frame passes straight through (no wait, no copy);
- several: the mix is emitted as soon as every active speaker has a frame queued, or at
  the latest at the end of the mixer's own 10 ms period (`tick()`, paced by the uplink,
  not by playout), with silence for speakers that sent nothing.
At most one mix per tick period, so speakers that deliver out of step never double the
uplink rate. A speaker who joins in a period that was already sent is mixed from the next
one (10 ms behind the others; nothing is dropped). A speaker silent for `idle_ticks`
ticks stops being waited for.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import numpy as np

from _dsp import mix_into

from .._faults import FaultReporter

log = logging.getLogger(__name__)

MixedSink = Callable[[bytes | memoryview], None]


class FrameSizeError(ValueError):
    """An inbound frame does not have the transport's 10 ms frame size."""


class UplinkMixer:
    """Mixes speakers (int32 accumulate, soft clip via `_dsp.mix_into`) into `on_mixed`.

    `on_mixed` gets a buffer valid only during the call (the mix buffer is reused).
    """

    def __init__(
        self,
        frame_bytes: int,
        on_mixed: MixedSink,
        *,
        idle_ticks: int = 20,
        max_queued_frames: int = 8,
    ) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError(f"frame_bytes must be a positive even number, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._on_mixed = on_mixed
        self._idle_ticks = idle_ticks
        self._max_queued = max_queued_frames
        self._queues: dict[int, deque[bytes]] = {}
        self._idle: dict[int, int] = {}
        self._mixed_this_period = False
        self._out = np.zeros(frame_bytes // 2, dtype=np.int16)
        self.frames_in = 0
        self.frames_out = 0
        # A speaker far ahead of the others is a transport problem worth knowing
        # about, not worth a line per frame.
        self._drops = FaultReporter("speaker ahead of the mix, dropping its oldest frame", log)

    @property
    def dropped_frames(self) -> int:
        """Frames dropped from a speaker too far ahead of the others."""
        return self._drops.count

    @property
    def n_speakers(self) -> int:
        """Speakers currently mixed (seen within the idle window)."""
        return len(self._queues)

    def push(self, ssrc: int, pcm: bytes) -> None:
        """Accept one speaker frame. Raises `FrameSizeError` for a wrong-sized frame."""
        if len(pcm) != self.frame_bytes:
            raise FrameSizeError(
                f"frame from ssrc {ssrc} has {len(pcm)} bytes; expected {self.frame_bytes}"
            )
        self.frames_in += 1
        queue = self._queues.get(ssrc)
        if queue is None:
            queue = self._queues[ssrc] = deque()
        self._idle[ssrc] = 0
        if len(self._queues) == 1:
            # Alone: a backlog left from mixing with others drains first, in order.
            while queue:
                self.frames_out += 1
                self._on_mixed(queue.popleft())
            self.frames_out += 1
            self._mixed_this_period = True
            self._on_mixed(pcm)
            return
        if len(queue) >= self._max_queued:
            queue.popleft()
            self._drops.report(f"ssrc {ssrc} is {len(queue) + 1} frames ahead")
        queue.append(pcm)
        if not self._mixed_this_period and all(self._queues.values()):
            self._mix()

    def tick(self) -> None:
        """End of a 10 ms period: emit the mix if it is due, forget idle speakers."""
        if not self._mixed_this_period and any(self._queues.values()):
            self._mix()
        self._mixed_this_period = False
        for ssrc in list(self._idle):
            self._idle[ssrc] += 1
            if self._idle[ssrc] > self._idle_ticks and not self._queues[ssrc]:
                del self._idle[ssrc]
                del self._queues[ssrc]

    def _mix(self) -> None:
        frames = [queue.popleft() for queue in self._queues.values() if queue]
        self._mixed_this_period = True
        self.frames_out += 1
        if len(frames) == 1:
            self._on_mixed(frames[0])
            return
        mix_into(frames, self._out.data)
        self._on_mixed(self._out.data)
