"""The one pacing loop: absolute deadlines, no drift, no burst after a stall.

Deadlines are `start + n * period`, never `sleep(period)` in a loop, so timer slop does
not accumulate. After a stall (a GC pause, a blocked loop) the deadlines already missed
are skipped and counted, and the pacer wakes once for the latest one: a real-time peer
plays what it is given at once, so a catch-up burst would only be heard late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """Wakes once per `period_s` on absolute deadlines.

    ```python
    pacer = Pacer(0.010)
    while True:
        deadline_s = await pacer.next_tick()
        send_one_frame()
    ```

    `monotonic` and `sleep` may be replaced together (a virtual clock in tests).
    """

    __slots__ = ("_deadline_s", "_monotonic", "_sleep", "missed_ticks", "period_s", "ticks")

    def __init__(
        self,
        period_s: float,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.period_s = period_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._deadline_s: float | None = None
        self.ticks = 0
        self.missed_ticks = 0

    def lateness_s(self) -> float:
        """How far past the current deadline it is now (0 before the first tick)."""
        if self._deadline_s is None:
            return 0.0
        return max(0.0, self._monotonic() - self._deadline_s)

    async def next_tick(self) -> float:
        """Wait for the next deadline and return it; the first tick is immediate."""
        period_s = self.period_s
        if self._deadline_s is None:
            self._deadline_s = self._monotonic()
        else:
            self._deadline_s += period_s
            delay_s = self._deadline_s - self._monotonic()
            if delay_s > 0:
                await self._sleep(delay_s)
            late_s = self._monotonic() - self._deadline_s
            if late_s >= period_s:
                skipped = int(late_s // period_s)
                self.missed_ticks += skipped
                self._deadline_s += skipped * period_s
        self.ticks += 1
        return self._deadline_s
