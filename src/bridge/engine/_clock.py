"""The playout clock: one 10 ms tick against absolute deadlines, shared by many sessions.

The pacing is `bridge._pacing.Pacer`: deadlines are `start + n * 10 ms`, so timer slop
does not accumulate into drift, and after a stall (a long GC pause, a blocked loop) the
deadlines already missed are skipped and counted in `missed_ticks` instead of being
ticked in a burst: Telegram plays what it is sent at once, so a burst would only be
heard late. The clock drives playout only; the uplink keeps its own period.

Each tick issues every session's handler as its own task, so a chat whose send into
ntgcalls takes milliseconds delays nobody else's frame. At most one tick per chat is in
flight: a chat whose previous tick has not finished skips this one (counted in
`busy_ticks`) instead of queueing frames that would be heard late.

The clock is also its sessions' time base: `monotonic` and `sleep` are what every
session on it reads the time with (a virtual clock in tests makes them all virtual).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .._faults import FaultReporter
from .._pacing import Monotonic, Pacer, Sleep
from ._metrics import Histogram

log = logging.getLogger(__name__)

FRAME_MS = 10
"""Telegram's frame: the only period playout runs at."""

TickHandler = Callable[[float], Awaitable[None]]
"""Called once per tick with the tick's deadline (seconds on the clock's `monotonic`)."""


class PlayoutClock:
    """Drives every subscribed session's playout, one 10 ms frame per tick.

    The clock runs while it has subscribers (it starts on the first `subscribe`, which
    must happen inside a running event loop, and stops after the last `unsubscribe`).
    Each tick starts every handler as its own task, in subscription order, so a handler
    waiting on a slow transport does not delay the others; a handler whose previous tick
    is still running is skipped for this tick (`busy_ticks`, `skipped_ticks(token)`).

    `monotonic` and `sleep` (default `time.monotonic`, `asyncio.sleep`) go together;
    `time.monotonic`, not `loop.time()`, because uvloop's loop time has 1 ms resolution,
    too coarse to measure deadline error in µs. Both are the same monotonic clock.
    """

    frame_ms = FRAME_MS

    def __init__(
        self,
        *,
        histogram_capacity: int = 65_536,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.monotonic = monotonic
        self.sleep = sleep
        self._handlers: dict[int, TickHandler] = {}
        self._next_id = 0
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._skipped: dict[int, int] = {}
        self.busy_ticks = 0
        """Handler ticks skipped because the handler's previous tick had not finished."""
        self._task: asyncio.Task[None] | None = None
        self._pacer: Pacer | None = None
        self._missed_before = 0
        self.ticks = 0
        # Throttled: a handler failing on every tick would log 100 tracebacks a second.
        self._failures = FaultReporter("playout handler failed", log, level=logging.ERROR)
        self.deadline_error_us = Histogram(histogram_capacity)
        self.tick_cpu_us = Histogram(histogram_capacity)

    @property
    def running(self) -> bool:
        """True while the tick task is alive."""
        return self._task is not None and not self._task.done()

    @property
    def n_subscribers(self) -> int:
        """Handlers currently driven."""
        return len(self._handlers)

    @property
    def missed_ticks(self) -> int:
        """Deadlines skipped after stalls, over every run of the clock."""
        return self._missed_before + (self._pacer.missed_ticks if self._pacer else 0)

    @property
    def handler_errors(self) -> int:
        """Ticks on which a handler raised."""
        return self._failures.count

    def skipped_ticks(self, token: int) -> int:
        """Ticks skipped for one handler because its previous tick was still running."""
        return self._skipped.get(token, 0)

    def subscribe(self, handler: TickHandler) -> int:
        """Start calling `handler` every tick; returns a token for `unsubscribe`."""
        token = self._next_id
        self._next_id += 1
        self._handlers[token] = handler
        if not self.running:
            if self._pacer is not None:
                self._missed_before += self._pacer.missed_ticks
            self._pacer = Pacer(FRAME_MS / 1000, monotonic=self.monotonic, sleep=self.sleep)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="playout-clock")
        return token

    def unsubscribe(self, token: int) -> None:
        """Stop calling the handler; unknown tokens are ignored. The last one stops the clock."""
        self._handlers.pop(token, None)
        self._in_flight.pop(token, None)
        self._skipped.pop(token, None)
        if not self._handlers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        """Stop ticking now, whatever the subscribers."""
        self._handlers.clear()
        for ticking in self._in_flight.values():
            ticking.cancel()
        self._in_flight.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        pacer = self._pacer
        assert pacer is not None
        loop = asyncio.get_running_loop()
        await pacer.next_tick()  # the start: the first frame is due one period later
        while self._handlers:
            deadline_s = await pacer.next_tick()
            self.deadline_error_us.record(pacer.lateness_s() * 1e6)
            started = time.perf_counter()
            in_flight, create_task = self._in_flight, loop.create_task
            for token, handler in list(self._handlers.items()):
                previous = in_flight.get(token)
                if previous is not None and not previous.done():
                    self.busy_ticks += 1
                    self._skipped[token] = self._skipped.get(token, 0) + 1
                    continue
                in_flight[token] = create_task(self._tick_one(handler, deadline_s))
            self.tick_cpu_us.record((time.perf_counter() - started) * 1e6)
            self.ticks += 1
        self._task = None

    async def _tick_one(self, handler: TickHandler, deadline_s: float) -> None:
        try:
            await handler(deadline_s)
        except Exception as exc:
            self._failures.report(exc, exc_info=exc)
