"""The shared playout clock under a slow transport: one chat's send never delays another's.

On Telegram, `send_frame` awaits ntgcalls and takes 0.4 to 14 ms; a clock that awaited each
chat's send in turn would make every chat after a slow one late. These run real sessions
against the emulator in virtual time, with one transport whose sends take longer than a
tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from conftest import FrameSource, loop_clock

from bridge.config import BridgeConfig
from bridge.emulator import Emulator
from bridge.engine import Session

Run = Callable[..., Any]
SLOW_SEND_S = 0.025  # two and a half ticks


class SlowSends(FrameSource):
    """Each send takes `SLOW_SEND_S`; records how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0

    async def send_frame(self, pcm: bytes) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(SLOW_SEND_S)
            self.sent.append(pcm)
        finally:
            self.in_flight -= 1


def config(url: str) -> BridgeConfig:
    return BridgeConfig().with_overrides(endpoint={"url": url})


def test_a_slow_chat_neither_delays_the_others_nor_queues_frames(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[Session], SlowSends, list[FrameSource], Any]:
        clock = loop_clock()
        async with Emulator() as emu:
            slow = SlowSends()
            quick = [FrameSource() for _ in range(3)]
            # The slow chat first: a clock that awaited sends in turn would make all the
            # others late by its send time on every tick.
            sessions = [Session(config(emu.url), t, clock=clock) for t in [slow, *quick]]
            for session in sessions:
                await session.start()
            await asyncio.sleep(1.0)
            for session in sessions:
                await session.stop()
        return sessions, slow, quick, clock

    sessions, slow, quick, clock = run_virtual(scenario())
    for session, transport in zip(sessions[1:], quick, strict=True):
        error = session.metrics().deadline_error_us
        assert error.count >= 90 and error.max == 0, error
        assert len(transport.sent) >= 90
    # The slow chat has at most one frame in flight; the ticks it could not take are
    # skipped and counted, not queued to be played late in a burst.
    assert slow.max_in_flight == 1
    assert clock.busy_ticks >= 60
    assert len(slow.sent) + clock.busy_ticks >= 90
    assert clock.missed_ticks == 0
