"""Fan-out of session events to async iterators and callbacks.

Each iterator has its own bounded queue: a consumer that stops reading loses its oldest
events (counted, and logged once per overflow) instead of growing memory for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from .events import Event, SessionError

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]

MAX_QUEUED_EVENTS = 10_000
"""Events held for one iterator that is not reading; hours of a busy call's events."""


class EventStream:
    """One consumer's view: every event published after it was created, in order."""

    def __init__(self, publisher: Publisher) -> None:
        # Unbounded for asyncio; `deliver` keeps it to `max_queued` events, so that
        # the end-of-stream marker always fits.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._max_queued = publisher.max_queued_events
        self._overflowing = False
        self.dropped = 0
        """Events this consumer lost because it did not keep up."""
        self._done = publisher.closed
        publisher._streams.append(self)

    def deliver(self, event: Event) -> bool:
        """Queue `event`; returns False if the oldest event had to be dropped for it."""
        queue = self._queue
        if queue.qsize() < self._max_queued:
            self._overflowing = False
            queue.put_nowait(event)
            return True
        queue.get_nowait()
        queue.put_nowait(event)
        self.dropped += 1
        if not self._overflowing:
            self._overflowing = True
            log.warning(
                "an event consumer is not reading: %d events queued, dropping the oldest "
                "(%d dropped so far)",
                self._max_queued, self.dropped,
            )  # fmt: skip
        return False

    def end(self) -> None:
        """No more events: the iterator stops after those queued."""
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._done and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._done = True
            raise StopAsyncIteration
        return event


class Publisher:
    """Publishes events to every stream and listener; a failing listener is logged only."""

    def __init__(self, *, max_queued_events: int = MAX_QUEUED_EVENTS) -> None:
        if max_queued_events < 1:
            raise ValueError(f"max_queued_events must be positive, got {max_queued_events}")
        self.max_queued_events = max_queued_events
        self._streams: list[EventStream] = []
        self._listeners: list[Listener] = []
        self.closed = False
        self.dropped_events = 0
        """Events dropped, over every stream, because their consumer did not keep up."""

    def stream(self) -> EventStream:
        """A new iterator over the events published from now on."""
        return EventStream(self)

    def add_listener(self, callback: Listener) -> None:
        """Call `callback(event)` for every event, synchronously, in order."""
        self._listeners.append(callback)

    def publish(self, event: Event) -> None:
        """Deliver `event` to everyone (after `close()`, it is dropped)."""
        if self.closed:
            return
        for stream in self._streams:
            if not stream.deliver(event):
                self.dropped_events += 1
        for callback in self._listeners:
            try:
                callback(event)
            except Exception:
                log.exception("event listener %r failed on %r", callback, event)

    def error(self, message: str) -> None:
        """Publish a `SessionError` the session survived (a `FaultReporter`'s `publish`)."""
        self.publish(SessionError(message))

    def close(self) -> None:
        """End every stream after the events already queued."""
        if self.closed:
            return
        self.closed = True
        for stream in self._streams:
            stream.end()
