"""Event loop entry point (uvloop when it is installed, plain asyncio otherwise), and
turning SIGINT/SIGTERM into an event a long-running command waits for."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a new event loop (uvloop if available)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    # asyncio.Runner takes a loop factory on 3.11; asyncio.run only from 3.12.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[asyncio.Event]:
    """Within the block, SIGINT and SIGTERM set `stop` instead of ending the process."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
