"""Shared fixtures: the I/O tests run their coroutines under uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import uvloop

T = TypeVar("T")


def run_uvloop(coro: Awaitable[T], timeout_s: float = 30.0) -> T:
    """Run one coroutine to completion on a fresh uvloop event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


@pytest.fixture
def run() -> Callable[..., object]:
    """`run(coro, timeout_s=30)` runs a coroutine under uvloop and returns its result."""
    return run_uvloop
