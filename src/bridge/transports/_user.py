"""The simulated participant's end of a call: speaks queued PCM, records what it hears.

`SimulatedUser` is shared by `WavTransport` (both ends in memory) and `LoopbackUser` (the
far end of a real WebRTC call). Outgoing audio is one 10 ms frame per tick of a
`bridge._pacing.Pacer` (silence when nothing is queued, as a Telegram participant keeps
sending), so a stall skips ticks and never bursts. `sent_at(i)` is when outgoing frame `i`
went out, and `heard` every frame received with its arrival time, both on the same clock,
so an onset found in `heard` can be matched to when it was spoken.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

from .._pacing import Monotonic, Pacer, Sleep
from ._base import FRAME_MS, AudioError

__all__ = ["HeardFrame", "SimulatedUser"]


@dataclass(frozen=True, slots=True)
class HeardFrame:
    """One 10 ms frame received by the user, with its arrival time on the user's clock."""

    arrival_s: float
    ssrc: int
    pcm: bytes


class SimulatedUser(abc.ABC):
    """Speaks queued PCM in real time and records what it hears.

    Subclasses implement `_send_frame(pcm)`, where one outgoing 10 ms frame goes.
    `monotonic` and `sleep` may be replaced together (a virtual clock in tests).
    """

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.heard: list[HeardFrame] = []
        """Every frame heard, in arrival order."""
        self._monotonic = monotonic
        self._pacer = Pacer(FRAME_MS / 1000, monotonic=monotonic, sleep=sleep)
        self._queue: deque[bytes] = deque()
        self._send_times_s: list[float] = []
        self._progress = asyncio.Event()
        self._speaking: asyncio.Task[None] | None = None

    @property
    def _frame_bytes(self) -> int:
        return self.sample_rate_hz * FRAME_MS // 1000 * 2 * self.channels

    @abc.abstractmethod
    async def _send_frame(self, pcm: bytes) -> None:
        """Send one outgoing 10 ms frame to wherever this user's end of the call is."""

    # -- speaking --------------------------------------------------------------------

    def say(self, pcm: bytes) -> int:
        """Queue PCM to speak; returns the outgoing frame index where it starts.

        The PCM is padded with silence to whole 10 ms frames.
        """
        sample_bytes = 2 * self.channels
        if len(pcm) % sample_bytes:
            raise AudioError(
                f"PCM length {len(pcm)} is not a whole number of {sample_bytes}-byte samples"
            )
        start_frame = len(self._send_times_s) + len(self._queue)
        frame_bytes = self._frame_bytes
        for offset in range(0, len(pcm), frame_bytes):
            self._queue.append(pcm[offset : offset + frame_bytes].ljust(frame_bytes, b"\0"))
        self._progress.set()  # wakes a non-real-time speaker waiting for more
        self._progress.clear()
        return start_frame

    @property
    def queued_frames(self) -> int:
        """Frames waiting to be spoken."""
        return len(self._queue)

    @property
    def frames_sent(self) -> int:
        """Outgoing frames sent so far (speech and silence)."""
        return len(self._send_times_s)

    @property
    def missed_ticks(self) -> int:
        """10 ms ticks skipped after stalls (never made up with a burst)."""
        return self._pacer.missed_ticks

    def sent_at(self, frame_index: int) -> float:
        """When outgoing frame `frame_index` was sent (the user's clock)."""
        return self._send_times_s[frame_index]

    async def wait_sent(self, frame_index: int) -> float:
        """Wait until outgoing frame `frame_index` has been sent; return when it was."""
        while len(self._send_times_s) <= frame_index:
            await self._progress.wait()
        return self._send_times_s[frame_index]

    async def wait_drained(self) -> None:
        """Return once everything queued with `say()` has been sent."""
        while self._queue:
            await self._progress.wait()

    def start_speaking(self, *, realtime: bool = True) -> None:
        """Start sending: paced (silence when idle), or with `realtime=False` each queued
        frame as fast as the event loop allows. Idempotent."""
        if self._speaking is None:
            run = self._paced() if realtime else self._unpaced()
            self._speaking = asyncio.get_running_loop().create_task(run, name="simulated-user")

    async def stop_speaking(self) -> None:
        """Stop sending. Safe to call twice."""
        task, self._speaking = self._speaking, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _send_next(self, frame: bytes) -> None:
        self._send_times_s.append(self._monotonic())
        await self._send_frame(frame)
        self._progress.set()
        self._progress.clear()

    async def _paced(self) -> None:
        silence = bytes(self._frame_bytes)
        while True:
            await self._pacer.next_tick()
            await self._send_next(self._queue.popleft() if self._queue else silence)

    async def _unpaced(self) -> None:
        while True:
            while self._queue:
                await self._send_next(self._queue.popleft())
                await asyncio.sleep(0)
            await self._progress.wait()

    # -- hearing ---------------------------------------------------------------------

    def hear(self, pcm: bytes, ssrc: int = 0, arrival_s: float | None = None) -> None:
        """Record one frame heard (arriving now unless `arrival_s` is given)."""
        when_s = self._monotonic() if arrival_s is None else arrival_s
        self.heard.append(HeardFrame(when_s, ssrc, pcm))

    def heard_pcm(self) -> bytes:
        """Everything heard so far, concatenated."""
        return b"".join(frame.pcm for frame in self.heard)
