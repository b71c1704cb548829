"""Fan-out of session events to async iterators and callbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from .events import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


class EventStream:
    """One consumer's view: every event published after it was created, in order."""

    def __init__(self, publisher: Publisher) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._publisher = publisher
        self._done = publisher.closed
        publisher._streams.append(self._queue)

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

    def __init__(self) -> None:
        self._streams: list[asyncio.Queue[Event | None]] = []
        self._listeners: list[Listener] = []
        self.closed = False

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
        for queue in self._streams:
            queue.put_nowait(event)
        for callback in self._listeners:
            try:
                callback(event)
            except Exception:
                log.exception("event listener %r failed on %r", callback, event)

    def close(self) -> None:
        """End every stream after the events already queued."""
        if self.closed:
            return
        self.closed = True
        for queue in self._streams:
            queue.put_nowait(None)
