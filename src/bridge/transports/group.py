"""An in-memory group call: several simulated participants, each with its own ssrc.

`GroupCall` is the bot's `Transport`; each participant is a `SimulatedUser` (`members`,
keyed by ssrc) that sends one 10 ms frame per tick, silence when it has nothing to say,
as a Telegram participant with an open microphone does, and hears everything the bot
sends. `place(ssrc, pcm, at_s)` schedules a line at a point of the call's time line, so
a script of who says what when (overlaps included) is laid out before the call starts;
`say()` on a member speaks after what it has queued. `spoken` keeps every line placed,
to compare what the bridge attributed against who really spoke.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .._pacing import Monotonic, Sleep
from ._base import FRAME_MS, AudioError, FrameSink, Transport
from ._user import SimulatedUser

__all__ = ["GroupCall", "Line", "Member"]


@dataclass(frozen=True, slots=True)
class Line:
    """What one participant said, from outgoing frame `start_frame` on."""

    ssrc: int
    start_frame: int
    pcm: bytes


class Member(SimulatedUser):
    """One participant of a `GroupCall`: its frames reach the bot keyed by `ssrc`."""

    def __init__(self, call: GroupCall, ssrc: int) -> None:
        super().__init__(
            call.sample_rate_hz, call.channels, monotonic=call.monotonic, sleep=call.sleep
        )
        self.ssrc = ssrc
        self._call = call

    async def _send_frame(self, pcm: bytes) -> None:
        sink = self._call.sink
        if sink is not None:
            sink(self.ssrc, pcm)


class GroupCall(Transport):
    """The bot's side of an in-memory call with one `Member` per ssrc in `ssrcs`."""

    def __init__(
        self,
        ssrcs: Iterable[int],
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.monotonic = monotonic
        self.sleep = sleep
        self.sink: FrameSink | None = None
        self.members = {ssrc: Member(self, ssrc) for ssrc in ssrcs}
        if not self.members:
            raise AudioError("a group call needs at least one member")
        self.spoken: list[Line] = []
        """Every line placed or said, in the order given."""

    def place(self, ssrc: int, pcm: bytes, at_s: float) -> Line:
        """Have `ssrc` say `pcm` starting `at_s` into the call (after what it has queued).

        Raises `AudioError` for an unknown ssrc or a time before its queued audio ends.
        """
        member = self.members.get(ssrc)
        if member is None:
            raise AudioError(f"ssrc {ssrc} is not in the call (members: {sorted(self.members)})")
        at_frame = round(at_s * 1000 / FRAME_MS)
        queued_to = member.frames_sent + member.queued_frames
        if at_frame < queued_to:
            raise AudioError(
                f"ssrc {ssrc} cannot start at {at_s:.2f} s: it speaks until "
                f"{queued_to * FRAME_MS / 1000:.2f} s"
            )
        member.say(bytes((at_frame - queued_to) * self.frame_bytes))
        line = Line(ssrc, member.say(pcm), pcm)
        self.spoken.append(line)
        return line

    async def start(self, on_frame: FrameSink) -> None:
        """Every member starts sending (silence until its first line)."""
        self.sink = on_frame
        for member in self.members.values():
            member.start_speaking()

    async def send_frame(self, pcm: bytes) -> None:
        """Every member hears the bot's frame."""
        if len(pcm) != self.frame_bytes:
            raise AudioError(f"frame has {len(pcm)} bytes; expected {self.frame_bytes}")
        for member in self.members.values():
            member.hear(bytes(pcm))

    async def stop(self) -> None:
        """Members stop sending; what they heard stays. Safe to call twice."""
        self.sink = None
        for member in self.members.values():
            await member.stop_speaking()
