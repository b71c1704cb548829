"""Shared fixtures and fakes.

- `run(coro)`: a coroutine on a fresh uvloop event loop, in real time. The I/O tests and
  the few `realtime` tests that prove real-time behaviour (pacing, barge-in) use it.
- `run_virtual(coro)`: a coroutine on an event loop with a virtual clock
  (`VirtualTimeLoop`): whenever nothing is ready to run and no socket has data, the clock
  jumps to the next timer. Everything in the process that waits on the loop (the
  emulator's pacing and goAway timers, the client's timeouts, backoff, the session's
  playout clock built by `loop_clock()`) follows it, so ten seconds of conversation take
  a fraction of a second, in the same order every run.
- `loop_clock()`: a `PlayoutClock` on the running loop's clock (virtual under
  `run_virtual`), which makes it the time base of the sessions it drives.
- `stall(seconds)`: under `run_virtual`, blocks the loop for that long in virtual time.
- `PacedWav`: a `WavTransport` whose user speaks one 10 ms frame per 10 ms of loop time
  (silence between what it is given to say): the real transport, paced by its own
  `Pacer` on the loop's clock.
- `gated(captured, stretches, n_sent)`: the part of a whole uplink the gate let through;
  `captured(stretches, position)`: where a sent sample was in the whole uplink.
- `FrameSource`: a transport that hands the session whatever frames a test gives it,
  wrong-sized ones included, and records what it is sent.
- The hooks of `_background`: real-time runs in child processes start when collection
  ends and overlap the rest of the suite.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import pytest
import uvloop
from _background import (  # noqa: F401 (pytest finds hooks by name)
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_sessionfinish,
)

from bridge.engine import PlayoutClock
from bridge.transports import FrameSink, Transport
from bridge.transports.wav import WavTransport

T = TypeVar("T")


def _run_bounded(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], coro: Awaitable[T], timeout_s: float
) -> T:
    """`coro` on a fresh loop from `loop_factory`, bounded by `timeout_s` of its clock."""
    result: list[T] = []

    async def bounded() -> None:
        # The result is kept out of the main task: on exit the runner formats that task
        # (restoring SIGINT), and a whole call's recording would be formatted with it.
        result.append(await asyncio.wait_for(coro, timeout_s))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(bounded())
    return result[0]


def run_uvloop(coro: Awaitable[T], timeout_s: float = 30.0) -> T:
    """Run one coroutine to completion on a fresh uvloop event loop, bounded in time."""
    return _run_bounded(uvloop.new_event_loop, coro, timeout_s)


@pytest.fixture
def run() -> Callable[..., object]:
    """`run(coro, timeout_s=30)` runs a coroutine under uvloop and returns its result."""
    return run_uvloop


_LONG_JUMP_S = 0.25
_SETTLE_S = 0.02
"""Real time a virtual jump of `_LONG_JUMP_S` or more first waits for sockets."""


class _AutojumpSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready, moves the loop's clock instead."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only a socket or another thread can wake us
            return super().select(None)
        # Every peer runs in this loop, and loopback sockets deliver on send, most of the
        # time: on a loaded machine the kernel may hand the data over a little later. A
        # short jump costs nothing then (the data is read on the next one), but a long
        # one could fire a timeout the data would have prevented: wait for it a little.
        if timeout >= _LONG_JUMP_S and (ready := super().select(_SETTLE_S)):
            return ready
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose `time()` only moves when the loop would otherwise wait."""

    def __init__(self) -> None:
        selector = _AutojumpSelector()
        super().__init__(selector)
        selector.loop = self
        self._now_s = 1000.0

    def time(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> None:
        """Move the clock forward (a stall, or the wait the loop skips)."""
        self._now_s += seconds


def run_in_virtual_time(coro: Awaitable[T], timeout_s: float = 60.0) -> T:
    """Run one coroutine on a fresh `VirtualTimeLoop`; `timeout_s` is virtual."""

    return _run_bounded(VirtualTimeLoop, coro, timeout_s)


@pytest.fixture
def run_virtual() -> Callable[..., object]:
    """`run_virtual(coro, timeout_s=60)` runs a coroutine in virtual time."""
    return run_in_virtual_time


def loop_clock() -> PlayoutClock:
    """A playout clock (and session time base) on the running loop's clock."""
    return PlayoutClock(monotonic=asyncio.get_running_loop().time)


def stall(seconds: float) -> None:
    """Block the loop for `seconds` of virtual time (as a long GC pause would)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop), "stall() needs run_virtual"
    loop.advance(seconds)


def gated(captured: bytes, stretches: Iterable[tuple[int, int]], n_sent: int) -> bytes:
    """What of `captured` (a whole 16 kHz uplink) the uplink gate let through: each
    stretch (`Uplink.stretches`: sent and captured sample where it starts) up to the
    next one, the last up to `n_sent` samples sent in all."""
    stretches = list(stretches)
    ends = [sent for sent, _ in stretches[1:]] + [n_sent]
    return b"".join(
        captured[2 * at : 2 * (at + end - sent)]
        for (sent, at), end in zip(stretches, ends, strict=True)
    )


def captured(stretches: Iterable[tuple[int, int]], position: int) -> int:
    """Where sample `position` of the audio the uplink sent was in the whole call."""
    for sent, at in reversed(list(stretches)):
        if sent <= position:
            return at + position - sent
    return position  # the gate is off: the same stream


class PacedWav(WavTransport):
    """A WAV transport whose user speaks in loop time: one frame per 10 ms, then silence.

    The transport's own real-time delivery (`realtime=True`: a `Pacer` tick, then the
    frame straight into the session's sink) on the running loop's clock (virtual under
    `run_virtual`), so it is made inside the loop.
    """

    def __init__(self, source: bytes | None = None, *, sample_rate_hz: int = 48_000) -> None:
        loop_time = asyncio.get_running_loop().time
        super().__init__(source, sample_rate_hz=sample_rate_hz, monotonic=loop_time)


class FrameSource(Transport):
    """Delivers exactly the frames a test passes to `deliver()`; records what it is sent."""

    def __init__(self, sample_rate_hz: int = 48_000, channels: int = 1) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.sent: list[bytes] = []
        self.fail_sends = False
        self._sink: FrameSink | None = None

    def deliver(self, ssrc: int, pcm: bytes) -> None:
        """One inbound frame, as a voice chat would hand it over."""
        assert self._sink is not None, "the transport is not started"
        self._sink(ssrc, pcm)

    async def start(self, on_frame: FrameSink) -> None:
        self._sink = on_frame

    async def send_frame(self, pcm: bytes) -> None:
        if self.fail_sends:
            raise ConnectionError("call ended")
        self.sent.append(pcm)

    async def stop(self) -> None:
        self._sink = None
