"""The playout clock: one 10 ms tick against absolute deadlines, shared by many sessions.

Deadlines are `start + n * frame_s` on the event loop's monotonic clock, never
`sleep(frame)` in a loop, so timer slop does not accumulate into drift. After a stall
(a long GC pause, a blocked loop) the clock does not burst to catch up: it skips the
deadlines already missed, counts them in `missed_ticks`, and ticks once for the latest
one. Telegram plays what it is sent at once, so a burst would only be heard late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .._faults import worth_reporting
from ._metrics import Histogram

log = logging.getLogger(__name__)

TickHandler = Callable[[float], Awaitable[None]]
"""Called once per tick with the tick's deadline (`time.monotonic()` seconds)."""


class PlayoutClock:
    """Drives every subscribed session's playout, one frame per `frame_ms`.

    The clock runs while it has subscribers (it starts on the first `subscribe`, which
    must happen inside a running event loop, and stops after the last `unsubscribe`).
    Handlers run one after another in subscription order; each must be quick (pop one
    frame, hand it to the transport) because a slow one delays the rest.
    """

    def __init__(self, frame_ms: int = 10, *, histogram_capacity: int = 65_536) -> None:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        self.frame_ms = frame_ms
        self.frame_s = frame_ms / 1000
        self._handlers: dict[int, TickHandler] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.missed_ticks = 0
        self.handler_errors = 0
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

    def subscribe(self, handler: TickHandler) -> int:
        """Start calling `handler` every tick; returns a token for `unsubscribe`."""
        token = self._next_id
        self._next_id += 1
        self._handlers[token] = handler
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="playout-clock")
        return token

    def unsubscribe(self, token: int) -> None:
        """Stop calling the handler; unknown tokens are ignored. The last one stops the clock."""
        self._handlers.pop(token, None)
        if not self._handlers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        """Stop ticking now, whatever the subscribers."""
        self._handlers.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        # time.monotonic, not loop.time(): uvloop's loop time has 1 ms resolution, too
        # coarse to measure deadline error in µs. Both are the same monotonic clock.
        monotonic = time.monotonic
        frame_s = self.frame_s
        deadline = monotonic() + frame_s
        while self._handlers:
            delay = deadline - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = monotonic()
            late_s = now - deadline
            if late_s >= frame_s:
                skipped = int(late_s // frame_s)
                self.missed_ticks += skipped
                deadline += skipped * frame_s
                late_s = now - deadline
            self.deadline_error_us.record(max(late_s, 0.0) * 1e6)
            started = time.perf_counter()
            for handler in list(self._handlers.values()):
                try:
                    await handler(deadline)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.handler_errors += 1
                    # Throttled: a handler failing on every tick
                    # would otherwise log 100 tracebacks a second.
                    if worth_reporting(self.handler_errors):
                        log.exception(
                            "playout handler failed (%d failures so far)", self.handler_errors
                        )
            self.tick_cpu_us.record((time.perf_counter() - started) * 1e6)
            self.ticks += 1
            deadline += frame_s
        self._task = None
