"""A virtual clock for code that takes `monotonic` and `sleep` (Pacer, TranscriptPoster).

Time stands still until the test calls `advance(s)`, which moves it forward, waking each
sleeper at its own deadline in order and letting the event loop run what that wakes
before moving on. Nothing waits in real time, and what runs when is the same every run.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    def __init__(self) -> None:
        self.now_s = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now_s

    async def sleep(self, delay_s: float) -> None:
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now_s + delay_s, next(self._order), wake))
        await wake

    async def advance(self, delta_s: float) -> None:
        """Move time forward by `delta_s`, running everything due on the way."""
        target_s = self.now_s + delta_s
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target_s:
            deadline_s, _, wake = heapq.heappop(self._sleepers)
            self.now_s = max(self.now_s, deadline_s)
            if not wake.done():
                wake.set_result(None)
            await _settle()
        self.now_s = target_s

    def stall(self, delta_s: float) -> None:
        """Jump forward without waking anyone, as a blocked event loop would."""
        self.now_s += delta_s


async def _settle() -> None:
    # Enough loop turns for a woken task to run up to its next wait (a few hops through
    # futures and tasks), with no real time passing.
    for _ in range(20):
        await asyncio.sleep(0)
