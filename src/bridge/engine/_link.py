"""The session's link to Gemini: the current socket, the uplink sender, goAway moves.

Uplink: `send_uplink()` waits for whole chunks in the uplink ring and sends them on the
current connection, each message built by the protocol (`LiveProtocol.audio_message`,
which refuses audio the connection's state does not allow); a chunk leaves the ring
only once a socket took it.
Downlink: `run()` reads each connection's events and hands them to the session's
`on_event`, one by one; one that fails is reported (throttled per kind) and skipped.

Reconnection is the client's (`async for conn in connect(..., retry=...)`: backoff,
which errors are fatal, the resumption handle carried over, a refused handle dropped).
`run()` only decides when to move on: after a drop at once; after `goAway` at the first
pause (`ResumePolicy`), else once the protocol's goAway deadline minus `resume_margin_s`
has passed (the one goAway clock: `LiveProtocol.go_away_deadline_s`, on the session's
clock) and no reply is being generated and no tool runs: a reply is never cut by the
bridge; if the server closes first, that is a drop. A connection that shows no sign of
life (no message, no pong) for `liveness_timeout_s` is declared dead and replaced. The
old socket is closed before the next one opens (a dead one is aborted after a second).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt

from .._faults import FaultReporter
from ..client import LiveConnection, RetryEvent, describe
from ..config import BridgeConfig
from ..protocol import (
    FunctionResponse,
    LiveConnectionClosed,
    LiveProtocol,
    LocalProtocolError,
    ServerEvent,
)
from . import _setup
from ._clock import PlayoutClock
from ._publish import Publisher
from ._resume import ResumePolicy
from ._stats import SessionStats
from ._uplink import GEMINI_INPUT_RATE_HZ, Mark, Uplink
from .events import Reconnected, RetriesExhausted, SessionError

log = logging.getLogger(__name__)

_PAUSE_POLL_S = 0.01
_SEND_LOCK_WAIT_S = 0.5
"""How long a move waits for a chunk on its way into the old socket before aborting it."""


class Link:
    """Holds one session's connection and moves it to new sockets as needed."""

    def __init__(
        self,
        *,
        config: BridgeConfig,
        protocol: LiveProtocol,
        clock: PlayoutClock,
        uplink: Uplink,
        resume: ResumePolicy,
        publisher: Publisher,
        stats: SessionStats,
        on_event: Callable[[ServerEvent], None],
        on_lost: Callable[[], None],
        on_reconnected: Callable[[LiveConnection], Awaitable[None]],
        keep_trying: bool = False,
    ) -> None:
        self._monotonic = clock.monotonic
        self._sleep = clock.sleep
        self._connector = _setup.connector(
            config,
            protocol,
            on_retry=self.retried,
            monotonic=clock.monotonic,
            sleep=clock.sleep,
            keep_trying=keep_trying,
        )
        self._liveness_timeout_s = config.engine.liveness_timeout_s
        self._on_reconnected = on_reconnected
        self._protocol = protocol
        self._resume_margin_s = config.engine.resume_margin_s
        self._uplink = uplink
        self._resume = resume
        self._publisher = publisher
        self._stats = stats
        self._on_event = on_event
        self._on_lost = on_lost
        self._conn: LiveConnection | None = None
        self._connected = asyncio.Event()
        self._go_away = asyncio.Event()
        self.failed = False
        self.dead_connections = 0
        """Connections declared dead (no message, no pong for `liveness_timeout_s`)."""
        """Set when reconnecting gave up (a fatal `SessionError` was published)."""
        # Per kind of error: a misbehaving server sends the same bad message 50 times
        # a second, and two different faults must both be seen.
        self.event_errors = FaultReporter(
            "failed to handle server event",
            log,
            publish=publisher.error,
            level=logging.ERROR,
            keyed=True,
        )

    @property
    def connected(self) -> bool:
        """A socket is open and its setup was accepted."""
        return self._connected.is_set()

    @property
    def connection(self) -> LiveConnection | None:
        """The current socket, if any."""
        return self._conn

    def go_away(self) -> None:
        """The server sent goAway (the protocol has its deadline): move at the next pause."""
        self._stats.counters.go_aways += 1
        self._go_away.set()

    @property
    def attempts(self) -> dict[str, int]:
        """Connection attempts so far, by outcome ("ok", "failed", "fresh")."""
        attempts = self._connector.attempts
        return {outcome: attempts[outcome] for outcome in ("ok", "failed", "fresh")}

    def retried(self, event: RetryEvent) -> None:
        """The client's `on_retry`: a refused handle or a spent budget is worth telling."""
        if event.handle_dropped:
            self._publisher.error(
                f"resumption refused ({describe(event.error)}); starting a new session"
            )
        elif event.budget_spent:
            cool_down_s = event.delay_s
            self._publisher.publish(
                RetriesExhausted(
                    f"Gemini is unreachable after {event.attempt} attempts (last: "
                    f"{describe(event.error)}); trying again every {cool_down_s:g} s",
                    cool_down_s,
                )
            )

    async def open(self) -> LiveConnection:
        """The first connection, with the configured retries (raises if there is none)."""
        conn = await anext(self._connector)
        self._set_connection(conn)
        return conn

    async def run(self, conn: LiveConnection) -> None:
        """Serve connections one after another until cancelled or out of retries."""
        while True:
            reason = await self._serve(conn)
            self._on_lost()
            gap_started_s = self._monotonic()
            try:
                conn = await anext(self._connector)
            except Exception as exc:
                message = f"Live session ended, not reconnecting: {describe(exc)}"
                log.error("%s", message)
                self.failed = True
                self._publisher.publish(SessionError(message, fatal=True))
                return
            gap_s = self._monotonic() - gap_started_s
            counters = self._stats.counters
            counters.reconnects += 1
            counters.resumptions += conn.resumed
            self._stats.histograms.reconnect_gap_ms.record(gap_s * 1e3)
            self._set_connection(conn)
            self._publisher.publish(Reconnected(reason, gap_s, conn.resumed))
            try:
                await self._on_reconnected(conn)
            except (LiveConnectionClosed, LocalProtocolError, OSError) as exc:
                log.warning("could not send on the new connection: %s", describe(exc))

    async def send_uplink(self) -> None:
        """Send uplink chunks as they become whole, on whatever socket is current."""
        uplink = self._uplink
        while True:
            await uplink.ready.wait()
            uplink.ready.clear()
            await self._connected.wait()
            try:
                await uplink.send_pending(self._encode_audio, self._send, control=self._control)
            except (LiveConnectionClosed, LocalProtocolError, OSError):
                # The receive loop sees the same close and reconnects; the unsent chunk
                # is still in the ring.
                self._connected.clear()
                uplink.ready.set()

    async def respond(self, response: FunctionResponse) -> None:
        """Answer one function call on the current socket (raises if there is none)."""
        conn = self._conn
        if conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        await conn.send_tool_response([response])

    async def flush(self) -> None:
        """Send the audio still held, the last partial chunk too (at stop)."""
        if self._conn is None:
            return
        try:
            sending = self._uplink.send_pending(
                self._encode_audio, self._send, control=self._control, flush=True
            )
            await asyncio.wait_for(sending, _SEND_LOCK_WAIT_S)
        except (LiveConnectionClosed, LocalProtocolError, OSError):
            pass  # the socket is gone (or too slow): the tail is lost either way
        # 0.5 s here and at most 1 s in close(): stop() never waits 2 s on a dead socket.
        except Exception as exc:
            log.warning("could not send the audio still held at stop: %s", exc)

    async def close(self) -> None:
        """Close the socket (at stop, once the tasks driving it are cancelled)."""
        self._conn = None
        self._connected.clear()
        try:
            await self._connector.aclose()
        except Exception as exc:
            log.warning("closing the Live connection at stop failed: %s", exc)

    # -- internals -------------------------------------------------------------------

    def _encode_audio(self, pcm: npt.NDArray[np.generic]) -> bytes:
        if self._conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        # LocalProtocolError if the connection ended under us: the chunk waits.
        return self._protocol.audio_message(pcm, sample_rate_hz=GEMINI_INPUT_RATE_HZ)

    def _control(self, mark: Mark) -> bytes | None:
        """The uplink gate's marks: activityStart/End when the client marks turns
        (automatic detection disabled), else audioStreamEnd at a stretch's end."""
        if self._conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        protocol = self._protocol
        if protocol.config.realtime_input.activity_detection.disabled:
            return protocol.activity_start() if mark == "start" else protocol.activity_end()
        return protocol.audio_stream_end() if mark == "end" else None

    async def _send(self, message: bytes) -> None:
        conn = self._conn
        if conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        await conn.send(message)

    def _set_connection(self, conn: LiveConnection) -> None:
        self._conn = conn
        self._go_away.clear()
        self._connected.set()
        self._uplink.reconnected()
        self._uplink.ready.set()

    async def _serve(self, conn: LiveConnection) -> str:
        """Run one connection; return why it ended ("goAway" or "dropped: ...")."""
        receiver = asyncio.create_task(self._receive(conn), name="session-receive")
        resume = asyncio.create_task(self._resume_when_due(), name="session-resume")
        liveness = asyncio.create_task(self._watch_liveness(conn), name="session-liveness")
        tasks = {receiver, resume, liveness}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # Close the old socket before the caller opens the new one, under the send
            # lock so that no chunk is half-sent: what the old socket took, the server
            # got (the close handshake flushes it); the rest is still in the ring. A
            # chunk stuck on a peer that stopped reading is failed by aborting the socket.
            lock = self._uplink.send_lock
            try:
                await asyncio.wait_for(lock.acquire(), _SEND_LOCK_WAIT_S)
            except TimeoutError:
                conn.abort()
                await lock.acquire()
            try:
                self._connected.clear()
                self._conn = None
                try:
                    await conn.close()
                except Exception as close_exc:
                    log.warning("closing the Live connection before moving failed: %s", close_exc)
            finally:
                lock.release()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if resume in done:
            return "goAway"
        if liveness in done:
            return f"dead: {liveness.result()}"
        error = receiver.exception() if not receiver.cancelled() else None
        if error is not None:
            return f"dropped: {describe(error)}"
        return "dropped: server closed the session"

    async def _watch_liveness(self, conn: LiveConnection) -> str:
        """Ping; return once neither a message nor a pong came for `liveness_timeout_s`."""
        timeout_s = self._liveness_timeout_s
        ping_every_s = timeout_s / 4
        pinging: asyncio.Task[None] | None = None
        next_ping_s = self._monotonic()
        try:
            while True:
                now_s = self._monotonic()
                silent_s = now_s - conn.last_heard_s
                if silent_s >= timeout_s:
                    self.dead_connections += 1
                    log.warning("no message or pong from Gemini for %.0f s: reconnecting", silent_s)
                    return f"no message or pong for {silent_s:.0f} s"
                if now_s >= next_ping_s:
                    next_ping_s = now_s + ping_every_s
                    # Never awaited here: a peer that stopped reading never lets it drain.
                    if pinging is None or pinging.done():
                        pinging = asyncio.create_task(conn.ping(), name="session-ping")
                due_s = min(next_ping_s, conn.last_heard_s + timeout_s)
                await self._sleep(max(due_s - now_s, _PAUSE_POLL_S))
        finally:
            if pinging is not None:
                pinging.cancel()

    async def _resume_when_due(self) -> None:
        """After goAway: return at the first pause, or after the deadline once no reply is
        being generated and no tool runs (never cut a reply: the server may close first)."""
        await self._go_away.wait()
        closes_s = self._protocol.go_away_deadline_s
        assert closes_s is not None, "the protocol saw goAway before the session did"
        deadline_s = closes_s - self._resume_margin_s
        resume = self._resume
        while not resume.at_pause():
            if self._monotonic() >= deadline_s and not resume.busy():
                return
            await self._sleep(_PAUSE_POLL_S)

    async def _receive(self, conn: LiveConnection) -> None:
        while True:
            for event in await conn.recv():
                try:
                    self._on_event(event)
                except Exception as exc:
                    detail = f"{type(event).__name__}: {type(exc).__name__}: {exc}"
                    self.event_errors.report(detail, exc_info=exc)
