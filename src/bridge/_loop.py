"""Event loop entry point: uvloop when it is installed, plain asyncio otherwise.

(Signals for long-running commands: `bridge.ops.shutdown_signals`.)"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
