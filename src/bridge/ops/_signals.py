"""SIGTERM and SIGINT as a two-step stop, SIGHUP as "read the chats file again"."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

__all__ = ["Shutdown", "shutdown_signals"]


class Shutdown:
    """Set by signals: `drain` at the first SIGTERM/SIGINT, `now` at the second, `reload`
    at each SIGHUP. `on_drain` is called once, when the drain starts (to say so)."""

    def __init__(self, on_drain: Callable[[], None] | None = None) -> None:
        self.drain = asyncio.Event()
        self.now = asyncio.Event()
        self.reload = asyncio.Event()
        self._on_drain = on_drain

    def stop_signal(self) -> None:
        """One SIGTERM or SIGINT."""
        if self.drain.is_set():
            self.now.set()
            return
        self.drain.set()
        if self._on_drain is not None:
            self._on_drain()


@contextlib.contextmanager
def shutdown_signals(on_drain: Callable[[], None] | None = None) -> Iterator[Shutdown]:
    """Within the block, SIGTERM/SIGINT/SIGHUP set the events of the `Shutdown` yielded."""
    loop = asyncio.get_running_loop()
    shutdown = Shutdown(on_drain)
    handlers = {
        signal.SIGINT: shutdown.stop_signal,
        signal.SIGTERM: shutdown.stop_signal,
        signal.SIGHUP: shutdown.reload.set,
    }
    for sig, handler in handlers.items():
        loop.add_signal_handler(sig, handler)
    try:
        yield shutdown
    finally:
        for sig in handlers:
            loop.remove_signal_handler(sig)
