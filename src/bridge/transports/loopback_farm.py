"""Many WebRTC loopback calls for a capacity run, the users' ends in another process.

`UserFarm` holds N calls: the bridge's ends live in this process on one `NTgCalls` (as
py-tgcalls holds every chat of an account), the simulated users' ends in a child process
with its own `NTgCalls`, so the users' Opus work and pacing do not count against the
bridge. Signaling and the script's messages cross a `multiprocessing` pipe; audio crosses
real RTP/UDP on loopback.

Each user, once told to `converse`, waits its share of a stagger (so the calls do not all
speak in the same 10 ms), says the speech once and listens to the whole reply. What it
measured comes back as a `UserReport`: when its speech ended, when the reply was first
heard, and the gaps between frames heard during the reply (10 ms each when playout is
smooth). Both processes read the same `time.monotonic` clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from .._loop import run
from ._base import FRAME_MS
from ._user import SimulatedUser
from .loopback import LoopbackError, LoopbackTransport, _Endpoint, _Native

__all__ = ["FarmCall", "UserFarm", "UserReport"]

LOUD = 300
"""int16 peak that counts as audible (about -40 dBFS), as in `bridge.transports.demo`."""
REPLY_QUIET_S = 1.0
"""Silence after the last audible frame that ends the reply."""
REPLY_TIMEOUT_S = 20.0
_KEY_BYTES = 256


@dataclass(frozen=True, slots=True)
class UserReport:
    """What one simulated user measured (times on the shared monotonic clock)."""

    speech_end_s: float
    first_heard_s: float
    """First audible reply frame; NaN if no reply was heard."""
    reply_frames: int
    """Frames heard from the first to the last audible reply frame."""
    gap_p50_ms: float
    gap_p99_ms: float
    gap_max_ms: float
    """Arrival gaps between consecutive frames heard during the reply."""
    missed_ticks: int
    """The user's own pacing stalls (a loaded user process, not the bridge)."""


class FarmCall:
    """One call of the farm, bridge side: `transport` is what a `Session` is given."""

    def __init__(self, farm: UserFarm, index: int) -> None:
        self._farm = farm
        self.index = index
        self.bot_endpoint = _Endpoint(farm.native, index + 1, farm.sample_rate_hz, farm.channels)
        self.transport = LoopbackTransport(self)
        self._closed = False

    @property
    def is_open(self) -> bool:
        """True once the farm is connected and until this call is closed."""
        return self._farm.connected and not self._closed

    async def connect(self) -> None:
        """The farm connects every call up front; nothing left to do."""
        if not self._farm.connected:
            raise LoopbackError("the farm's calls are not connected (use `async with UserFarm`)")

    async def close(self) -> None:
        """Hang up the bridge's end. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self.bot_endpoint.stop()


class UserFarm:
    """N loopback calls whose users run in a child process.

    ```python
    async with UserFarm(10, speech_pcm) as farm:
        ... start a Session on each farm.calls[i].transport ...
        reports = await farm.converse(stagger_s=1.0)
    ```
    """

    def __init__(
        self,
        n_calls: int,
        speech: bytes,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        connect_timeout_s: float = 20.0,
    ) -> None:
        if n_calls < 1:
            raise ValueError(f"n_calls must be at least 1, got {n_calls}")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.connect_timeout_s = connect_timeout_s
        self.native = _Native()
        self.calls = [FarmCall(self, i) for i in range(n_calls)]
        self.connected = False
        self._speech = speech
        self._conn: Connection | None = None
        self._process: Any = None
        self._replies: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @property
    def user_pid(self) -> int | None:
        """The users' process id while it runs."""
        return self._process.pid if self._process is not None else None

    async def __aenter__(self) -> UserFarm:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        self._conn = ours
        args = (theirs, len(self.calls), self._speech, self.sample_rate_hz, self.channels)
        self._process = ctx.Process(target=_users_main, args=args, daemon=True)
        self._process.start()
        theirs.close()
        loop.add_reader(ours.fileno(), self._readable)
        for call in self.calls:
            await call.bot_endpoint.prepare(self._signaling_to_user(call.index))
        keys = [os.urandom(_KEY_BYTES) for _ in self.calls]
        for call, key in zip(self.calls, keys, strict=True):
            self._send(("call", call.index, key))
        await self._expect("prepared", len(self.calls))
        for call, key in zip(self.calls, keys, strict=True):
            await call.bot_endpoint.connect(key, outgoing=True)
            self._send(("connect", call.index))
        waits = [c.bot_endpoint.connected for c in self.calls if c.bot_endpoint.connected]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.connect_timeout_s)
        except TimeoutError:
            raise LoopbackError(
                f"{len(self.calls)} loopback calls not connected within {self.connect_timeout_s} s"
            ) from None
        self.connected = True

    async def converse(self, stagger_s: float) -> list[UserReport]:
        """Every user says the speech once (starts spread over `stagger_s`) and listens to
        the whole reply; returns each user's report, in call order."""
        self._send(("converse", stagger_s))
        (reports,) = await self._expect("reports", 1)
        return list(reports)

    async def close(self) -> None:
        """Hang up every call and end the users' process. Safe to call twice."""
        self.connected = False
        for call in self.calls:
            await call.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                asyncio.get_running_loop().remove_reader(conn.fileno())
                conn.send(("stop",))
            conn.close()
        process, self._process = self._process, None
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, process.join, 5.0)
            if process.is_alive():
                process.kill()

    def _signaling_to_user(self, index: int) -> Callable[[bytes], None]:
        return lambda data: self._send(("sig", index, data))

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(message)

    def _readable(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                message = conn.recv()
                if message[0] == "sig":
                    self.calls[message[1]].bot_endpoint.deliver_signaling(message[2])
                else:
                    self._replies.put_nowait(message)
        except (EOFError, OSError):
            if conn is not None:
                asyncio.get_running_loop().remove_reader(conn.fileno())
            self._replies.put_nowait(("error", "the users' process ended"))

    async def _expect(self, kind: str, count: int) -> list[Any]:
        got: list[Any] = []
        while len(got) < count:
            message = await asyncio.wait_for(self._replies.get(), REPLY_TIMEOUT_S * 3)
            if message[0] == "error":
                raise LoopbackError(f"users' process: {message[1]}")
            if message[0] != kind:
                raise LoopbackError(f"users' process: expected {kind!r}, got {message[0]!r}")
            got.append(message[1])
        return got


# -- the users' process ----------------------------------------------------------------


class _FarmUser(SimulatedUser):
    def __init__(self, endpoint: _Endpoint) -> None:
        super().__init__(endpoint.sample_rate_hz, endpoint.channels)
        self._endpoint = endpoint
        endpoint.on_pcm = lambda arrival_s, ssrc, pcm: self.hear(pcm, ssrc, arrival_s)

    async def _send_frame(self, pcm: bytes) -> None:
        await self._endpoint.send(pcm)


def _users_main(conn: Connection, n_calls: int, speech: bytes, rate_hz: int, channels: int) -> None:
    code = 0
    try:
        run(_Users(conn, n_calls, speech, rate_hz, channels).serve())
    except BaseException as exc:  # reported to the bridge, then a hard exit (ntgcalls)
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        code = 1
    os._exit(code)


class _Users:
    def __init__(
        self, conn: Connection, n_calls: int, speech: bytes, rate_hz: int, channels: int
    ) -> None:
        self.conn = conn
        self.speech = speech
        native = _Native()
        self.endpoints = [_Endpoint(native, i + 1, rate_hz, channels) for i in range(n_calls)]
        self.users: list[_FarmUser] = []
        self.keys: dict[int, bytes] = {}
        self.stopped = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._readable)
        self.users = [_FarmUser(endpoint) for endpoint in self.endpoints]
        await self.stopped.wait()
        for user in self.users:
            await user.stop_speaking()
        for endpoint in self.endpoints:
            await endpoint.stop()

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self._handle(self.conn.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.stopped.set()

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "sig":
            self.endpoints[message[1]].deliver_signaling(message[2])
        elif kind == "call":
            self._spawn(self._prepare(message[1], message[2]))
        elif kind == "connect":
            self._spawn(self._connect(message[1]))
        elif kind == "converse":
            self._spawn(self._converse(message[1]))
        elif kind == "stop":
            self.stopped.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.conn.send(("error", f"{type(exc).__name__}: {exc}"))

    async def _prepare(self, index: int, key: bytes) -> None:
        endpoint = self.endpoints[index]
        self.keys[index] = key
        await endpoint.prepare(lambda data: self.conn.send(("sig", index, data)))
        self.conn.send(("prepared", index))

    async def _connect(self, index: int) -> None:
        endpoint = self.endpoints[index]
        await endpoint.connect(self.keys[index], outgoing=False)
        assert endpoint.connected is not None
        await endpoint.connected
        self.users[index].start_speaking()

    async def _converse(self, stagger_s: float) -> None:
        n = len(self.users)
        reports = await asyncio.gather(
            *(_ask_once(user, self.speech, stagger_s * i / n) for i, user in enumerate(self.users))
        )
        self.conn.send(("reports", reports))


async def _ask_once(user: SimulatedUser, speech: bytes, delay_s: float) -> UserReport:
    await asyncio.sleep(delay_s)
    frame_bytes = user.sample_rate_hz * FRAME_MS // 1000 * 2 * user.channels
    start = user.say(speech)
    last = start + (len(speech) + frame_bytes - 1) // frame_bytes - 1
    speech_end_s = await user.wait_sent(last) + FRAME_MS / 1000
    deadline_s = speech_end_s + REPLY_TIMEOUT_S
    first_i = last_i = -1
    checked = len(user.heard)
    while time.monotonic() < deadline_s:
        await asyncio.sleep(0.1)
        heard = user.heard
        for i in range(checked, len(heard)):
            if heard[i].arrival_s >= speech_end_s and _peak(heard[i].pcm) >= LOUD:
                first_i = i if first_i < 0 else first_i
                last_i = i
        checked = len(heard)
        if last_i >= 0 and time.monotonic() - heard[last_i].arrival_s > REPLY_QUIET_S:
            break
    if first_i < 0:
        nan = float("nan")
        return UserReport(speech_end_s, nan, 0, nan, nan, nan, user.missed_ticks)
    arrivals = np.array([f.arrival_s for f in user.heard[first_i : last_i + 1]])
    gaps_ms = np.diff(arrivals) * 1e3 if arrivals.size > 1 else np.zeros(1)
    return UserReport(
        speech_end_s=speech_end_s,
        first_heard_s=user.heard[first_i].arrival_s,
        reply_frames=int(arrivals.size),
        gap_p50_ms=float(np.percentile(gaps_ms, 50)),
        gap_p99_ms=float(np.percentile(gaps_ms, 99)),
        gap_max_ms=float(gaps_ms.max()),
        missed_ticks=user.missed_ticks,
    )


def _peak(pcm: bytes) -> int:
    samples = np.frombuffer(pcm, dtype=np.int16)
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0
