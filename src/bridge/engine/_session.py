"""One voice chat's session: wires the transport, the DSP paths, the connection and tools.

Tasks of a running session:
- `_manage`: holds the connection; reconnects with backoff and the latest resumption
  handle after a drop, and moves to a new socket after `goAway` (closing the old one
  first, at a pause with no generation in flight, at the latest `timeLeft - margin`);
- `_receive` (per connection): server events → playout, transcripts, tools;
- `_send`: uplink chunks from the ring buffer to whatever socket is current;
- the playout clock's tick (`_tick`), shared with other sessions when a clock is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

from .._faults import worth_reporting
from ..client import LiveConnection, connect
from ..config import BridgeConfig
from ..protocol import (
    AuthError,
    ConfigError,
    ConnectFailed,
    FunctionResponse,
    GenerationComplete,
    GoAway,
    InputTranscription,
    Interrupted,
    LiveConnectionClosed,
    LiveProtocol,
    ModelAudio,
    OutputTranscription,
    ServerEvent,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    backoff,
)
from ..tools import ToolRegistry
from ..transports import Transport
from . import _setup
from ._clock import PlayoutClock
from ._downlink import FADE_MS, Downlink
from ._metrics import Histogram, MetricsSnapshot
from ._mixer import FrameSizeError
from ._publish import Publisher
from ._toolcalls import ToolCalls
from ._turns import Turns
from ._uplink import Uplink
from ._vad import EnergyVad
from .events import (
    Event,
    Reconnected,
    SessionError,
)

log = logging.getLogger(__name__)

_DUCK_RELEASE_S = 0.5  # a local VAD false alarm: restore full output after this much quiet
_PAUSE_POLL_S = 0.01
_MAX_ERROR_KINDS = 64


class SessionClosed(RuntimeError):
    """The session could not start or has already stopped."""


class Session:
    """Bridges one transport (a voice chat) to one Gemini Live session.

    ```python
    async with Session(BridgeConfig.load("bridge.toml"), transport) as session:
        async for event in session.events():
            ...
    ```
    """

    def __init__(
        self,
        config: BridgeConfig,
        transport: Transport,
        *,
        tools: ToolRegistry | None = None,
        clock: PlayoutClock | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.tools = tools if tools is not None else ToolRegistry()
        self._own_clock = clock is None
        capacity = config.metrics.histogram_capacity
        self.clock = clock if clock is not None else PlayoutClock(histogram_capacity=capacity)
        self._live_config = _setup.live_config(config, self.tools)
        self._live_config.validate()
        self._endpoint = _setup.endpoint(config)
        self._endpoint.validate()
        engine = config.engine
        rate_hz, channels = transport.sample_rate_hz, transport.channels
        self._vad = EnergyVad(engine.vad_threshold_dbfs)
        self.uplink = Uplink(
            sample_rate_hz=rate_hz,
            channels=channels,
            chunk_ms=engine.uplink_chunk_ms,
            ring_capacity_s=engine.ring_capacity_s,
            vad=self._vad,
            idle_ticks=max(1, engine.speaker_idle_ms // 10),
            histogram_capacity=capacity,
        )
        self.downlink = Downlink(
            sample_rate_hz=rate_hz,
            channels=channels,
            target_ms=engine.jitter_target_ms,
            max_ms=engine.jitter_max_ms,
            histogram_capacity=capacity,
        )
        self._protocol = LiveProtocol(self._live_config)
        self._conn: LiveConnection | None = None
        self._connected = asyncio.Event()
        self._publisher = Publisher()
        self._tasks: list[asyncio.Task[Any]] = []
        self._clock_token: int | None = None
        self._state = "new"
        self._go_away_deadline_s: float | None = None
        self._go_away = asyncio.Event()
        self._barge_in_at_s: float | None = None
        self._answered_s = -math.inf
        """When the server last closed a turn: user speech before it has been answered."""
        self._ducked_since_s: float | None = None
        self._bad_frames = 0
        self._event_errors: dict[str, int] = {}
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "turns",
                "interruptions",
                "local_barge_ins",
                "reconnects",
                "resumptions",
                "go_aways",
                "tool_calls",
                "tool_errors",
                "tool_cancellations",
                "late_tool_results_dropped",
                "bad_frames",
                "send_errors",
                "event_errors",
                "ticks",
            ),
            0,
        )
        self._h = {
            name: Histogram(capacity)
            for name in (
                "tick_us",
                "deadline_error_us",
                "downlink_latency_us",
                "reply_latency_ms",
                "barge_in_ms",
                "duck_ms",
                "local_barge_in_ms",
                "reconnect_gap_ms",
            )
        }
        self._turns = Turns(self.downlink, self._publisher, self.counters, self._first_played)
        self._tools = ToolCalls(
            self.tools, self._publisher, self.counters, self._protocol.is_pending, self._respond
        )

    # -- public API ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Gemini, start the transport and the playout; return once running.

        Raises `AuthError`, `ConfigError`, `ConnectFailed` or `LiveConnectionClosed` if
        the first connection cannot be made (after the configured retries).
        """
        if self._state != "new":
            raise SessionClosed(f"session cannot start: it is {self._state}")
        self._state = "starting"
        try:
            conn, _ = await self._connect_with_retry(reason="start")
        except BaseException:
            self._state = "stopped"
            self._publisher.close()
            raise
        self._set_connection(conn)
        loop = asyncio.get_running_loop()
        for coro, name in ((self._send(), "session-send"), (self._manage(conn), "session-manage")):
            task = loop.create_task(coro, name=name)
            task.add_done_callback(self._task_done)
            self._tasks.append(task)
        self._clock_token = self.clock.subscribe(self._tick)
        try:
            await self.transport.start(self._on_frame)
        except BaseException:
            await self.stop()
            raise
        if self._state == "starting":  # a task may already have failed
            self._state = "running"

    async def stop(self) -> None:
        """Send the audio still held, close the socket, stop the transport. Idempotent."""
        if self._state in ("stopping", "stopped"):
            return
        if self._state == "new":
            self._state = "stopped"
            self._publisher.close()
            return
        self._state = "stopping"
        try:
            await self.transport.stop()
        except Exception as exc:
            log.warning("transport did not stop cleanly: %s", exc)
        conn = self._conn
        if conn is not None:
            try:
                await asyncio.wait_for(self.uplink.send_pending(self._send_audio, flush=True), 2)
            except (LiveConnectionClosed, OSError):
                pass  # the socket is gone (or too slow): the tail is lost either way
            except Exception as exc:
                log.warning("could not send the audio still held at stop: %s", exc)
        for task in [*self._tasks, *self._tools.tasks()]:
            task.cancel()
        for task in [*self._tasks, *self._tools.tasks()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._clock_token is not None:
            self.clock.unsubscribe(self._clock_token)
            self._clock_token = None
        if self._own_clock:
            await self.clock.aclose()
        if conn is not None:
            await _close_quietly(conn, "at stop")
        self._conn = None
        self._state = "stopped"
        self._publisher.close()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Report a long-lived task that died of an unexpected error while running."""
        if task.cancelled() or self._state not in ("starting", "running"):
            return
        exc = task.exception()
        if exc is None:
            return
        # Without it the session would go on half-working, silently, until stop().
        message = f"{task.get_name()} failed: {type(exc).__name__}: {exc}"
        log.error("%s", message, exc_info=exc)
        self._state = "failed"
        self._publisher.publish(SessionError(message, fatal=True))

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def events(self) -> AsyncIterator[Event]:
        """Every event published from now on, in order; ends when the session stops."""
        return self._publisher.stream()

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        """Call `callback(event)` synchronously for every event (exceptions are logged)."""
        self._publisher.add_listener(callback)

    @property
    def running(self) -> bool:
        """True between a successful `start()` and `stop()`."""
        return self._state == "running"

    @property
    def resumption_handle(self) -> str | None:
        """The latest resumable handle the server gave."""
        return self._protocol.resumption_handle

    def metrics(self) -> MetricsSnapshot:
        """Latency distributions, counters and gauges at this moment."""
        jitter = self.downlink.jitter
        counters = dict(self.counters)
        counters.update(
            frames_in=self.uplink.mixer.frames_in,
            uplink_mixer_dropped_frames=self.uplink.mixer.dropped_frames,
            uplink_chunks=self.uplink.chunks_sent,
            uplink_bytes=self.uplink.bytes_sent,
            uplink_dropped_samples=self.uplink.ring.dropped_samples,
            downlink_bytes=self.downlink.bytes_received,
            downlink_odd_messages=self.downlink.odd_messages,
            underruns=jitter.underruns,
            downlink_dropped_samples=jitter.dropped_samples,
            missed_ticks=self.clock.missed_ticks,
            clock_handler_errors=self.clock.handler_errors,
            dropped_events=self._publisher.dropped_events,
        )
        h = self._h
        return MetricsSnapshot(
            uplink_us=self.uplink.processing_us.summary(),
            downlink_us=self.downlink.processing_us.summary(),
            uplink_latency_us=self.uplink.latency_us.summary(),
            downlink_latency_us=h["downlink_latency_us"].summary(),
            tick_us=h["tick_us"].summary(),
            deadline_error_us=h["deadline_error_us"].summary(),
            loop_lag_us=self.clock.deadline_error_us.summary(),
            reply_latency_ms=h["reply_latency_ms"].summary(),
            barge_in_ms=h["barge_in_ms"].summary(),
            duck_ms=h["duck_ms"].summary(),
            local_barge_in_ms=h["local_barge_in_ms"].summary(),
            reconnect_gap_ms=h["reconnect_gap_ms"].summary(),
            counters=counters,
            gauges={
                "jitter_depth_ms": jitter.depth_ms,
                "jitter_target_ms": jitter.target_ms,
                "uplink_ring_ms": self.uplink.depth_ms,
                "speakers": float(self.uplink.mixer.n_speakers),
                "connected": float(self._connected.is_set()),
            },
        )

    # -- transport side --------------------------------------------------------------

    def _on_frame(self, ssrc: int, pcm: bytes) -> None:
        try:
            self.uplink.on_frame(ssrc, pcm)
        except FrameSizeError as exc:
            self._bad_frames += 1
            self.counters["bad_frames"] = self._bad_frames
            # Throttled: a broken transport sends 100 bad frames a second.
            if worth_reporting(self._bad_frames):
                log.warning("dropping inbound frame: %s", exc)
                self._publisher.publish(SessionError(f"dropped inbound frame: {exc}"))

    async def _tick(self, deadline_s: float) -> None:
        started_ns = time.perf_counter_ns()
        self.uplink.tick()
        self._local_vad()
        gain = self.config.engine.vad_duck_gain if self._ducked_since_s is not None else 1.0
        frame, n = self.downlink.pop_frame(gain)
        now_s = time.monotonic()
        self._h["deadline_error_us"].record(max(0.0, now_s - deadline_s) * 1e6)
        try:
            await self.transport.send_frame(frame)
        except Exception as exc:
            self.counters["send_errors"] += 1
            # Throttled: a dead transport fails on every tick.
            if worth_reporting(self.counters["send_errors"]):
                log.warning("transport refused a frame: %s", exc)
                self._publisher.publish(SessionError(f"transport refused a frame: {exc}"))
        self.counters["ticks"] += 1
        self._turns.after_frame(n, now_s)
        if self._barge_in_at_s is not None:
            # This frame carries the fade; the output is silent FADE_MS into it.
            self._h["barge_in_ms"].record((now_s - self._barge_in_at_s) * 1e3 + FADE_MS)
            self._barge_in_at_s = None
        self._h["tick_us"].record((time.perf_counter_ns() - started_ns) / 1000)

    def _first_played(self, audio_in_s: float, now_s: float) -> None:
        self._h["downlink_latency_us"].record((now_s - audio_in_s) * 1e6)
        if not math.isnan(self._vad.last_loud_s) and self._vad.last_loud_s < audio_in_s:
            self._h["reply_latency_ms"].record((now_s - self._vad.last_loud_s) * 1e3)

    def _local_vad(self) -> None:
        """Duck on local speech; stop a fully received reply the server cannot interrupt."""
        engine = self.config.engine
        vad = self._vad
        # Only speech that began after the reply did counts, not the tail of the question.
        speaking = vad.active and vad.onset_s >= self._turns.reply_started_s
        playing = self.downlink.jitter.is_playing
        now_s = time.monotonic()
        if engine.vad_duck:
            if self._ducked_since_s is None:
                if speaking and playing:
                    self._ducked_since_s = now_s
                    self._h["duck_ms"].record((now_s - vad.onset_s) * 1e3)
            elif not playing or (not vad.active and now_s - vad.last_loud_s > _DUCK_RELEASE_S):
                self._ducked_since_s = None
        if (
            engine.local_barge_in_ms
            and speaking
            and playing
            and self._turns.playing
            and not self._turns.current.started
            and now_s - vad.onset_s >= engine.local_barge_in_ms / 1000
        ):
            # The server finished generating this reply, so it will not say
            # `interrupted`: the user talking over it is a barge-in only we can act on.
            self.downlink.clear()
            self.counters["local_barge_ins"] += 1
            self._ducked_since_s = None
            self._h["local_barge_in_ms"].record((now_s - vad.onset_s) * 1e3)
            self._turns.interrupt_all()

    # -- connection ------------------------------------------------------------------

    async def _connect_once(self) -> LiveConnection:
        # The client's default pings (every 20 s, no pong timeout) are what notice a
        # half-open socket in a silent call, where nothing else is sent or received.
        return await connect(
            self._live_config,
            self._endpoint,
            connect_timeout_s=self.config.endpoint.connect_timeout_s,
            protocol=self._protocol,
        )

    async def _connect_with_retry(self, reason: str) -> tuple[LiveConnection, bool]:
        """Connect, retrying with backoff; also returns whether the session was resumed."""
        engine = self.config.engine
        delays = backoff(
            initial_s=engine.reconnect_base_delay_s, max_s=engine.reconnect_max_delay_s
        )
        attempt = 0
        while True:
            attempt += 1
            # The handle may be dropped between attempts (refused): what counts is
            # whether the attempt that succeeded carried one.
            resuming = self._protocol.resumption_handle is not None
            try:
                return await self._connect_once(), resuming
            except (AuthError, ConfigError):
                raise
            except LiveConnectionClosed as exc:
                if not exc.retryable and self._protocol.resumption_handle is not None:
                    # The handle was refused (expired, or the server lost it): carry on
                    # in a new session rather than not at all; the context is lost.
                    message = f"resumption refused ({exc.reason}); starting a new session"
                    log.warning("%s", message)
                    self._publisher.publish(SessionError(message))
                    self._protocol.resumption_handle = None
                    continue
                if not exc.retryable or attempt >= engine.reconnect_max_attempts:
                    raise
                error: Exception = exc
            except (ConnectFailed, OSError, TimeoutError) as exc:
                if attempt >= engine.reconnect_max_attempts:
                    raise
                error = exc
            delay_s = next(delays)
            log.warning(
                "%s: connection attempt %d failed (%s); retrying in %.2f s",
                reason, attempt, error, delay_s,
            )  # fmt: skip
            await asyncio.sleep(delay_s)

    def _set_connection(self, conn: LiveConnection) -> None:
        self._conn = conn
        self._go_away_deadline_s = None
        self._go_away.clear()
        self._connected.set()
        self.uplink.ready.set()

    async def _manage(self, conn: LiveConnection) -> None:
        """Serve connections one after another until the session stops."""
        while True:
            reason = await self._serve(conn)
            self._connected.clear()
            self._conn = None
            self._turns.connection_ended()
            gap_started_s = time.monotonic()
            self._tools.cancel_all("connection replaced")
            try:
                conn, resumed = await self._connect_with_retry(reason=reason)
            except Exception as exc:
                message = f"could not reconnect after {reason}: {exc}"
                log.error("%s", message)
                self._publisher.publish(SessionError(message, fatal=True))
                self._state = "failed"
                return
            gap_s = time.monotonic() - gap_started_s
            self.counters["reconnects"] += 1
            if resumed:
                self.counters["resumptions"] += 1
            self._h["reconnect_gap_ms"].record(gap_s * 1e3)
            self._set_connection(conn)
            self._publisher.publish(Reconnected(reason, gap_s, resumed))

    async def _serve(self, conn: LiveConnection) -> str:
        """Run one connection; return why it ended ("goAway" or "dropped: ...")."""
        receiver = asyncio.create_task(self._receive(conn), name="session-receive")
        resume = asyncio.create_task(self._resume_when_due(), name="session-resume")
        try:
            done, _ = await asyncio.wait({receiver, resume}, return_when=asyncio.FIRST_COMPLETED)
            going_away = resume in done
            # Close the old socket before the caller opens the new one, under the send
            # lock so that no chunk is half-sent: what the old socket took, the server
            # got (the close handshake flushes it); the rest is still in the ring.
            async with self.uplink.send_lock:
                self._connected.clear()
                self._conn = None
                await _close_quietly(conn, "before reconnecting")
        finally:
            receiver.cancel()
            resume.cancel()
            await asyncio.gather(receiver, resume, return_exceptions=True)
        if going_away:
            return "goAway"
        exc = receiver.exception() if not receiver.cancelled() else None
        return f"dropped: {exc}" if exc is not None else "dropped: server closed the session"

    async def _resume_when_due(self) -> None:
        """After goAway: return at the first pause, or at `timeLeft - margin` at the latest."""
        await self._go_away.wait()
        deadline_s = self._go_away_deadline_s
        assert deadline_s is not None
        while time.monotonic() < deadline_s:
            if self._at_pause():
                return
            await asyncio.sleep(_PAUSE_POLL_S)

    def _at_pause(self) -> bool:
        """No reply being generated, no tool running, nobody talking, nothing unanswered."""
        vad = self._vad
        # `last_speech_s`, not `last_loud_s`: a lone click is not a question to wait for.
        unanswered = not math.isnan(vad.last_speech_s) and vad.last_speech_s > self._answered_s
        return not (self._protocol.generating or self._tools or vad.active or unanswered)

    async def _receive(self, conn: LiveConnection) -> None:
        while True:
            for event in await conn.recv():
                try:
                    self._handle(event)
                except Exception as exc:
                    self._event_failed(event, exc)

    def _event_failed(self, event: ServerEvent, exc: Exception) -> None:
        self.counters["event_errors"] += 1
        key = f"{type(exc).__name__}: {exc}"
        if key not in self._event_errors and len(self._event_errors) >= _MAX_ERROR_KINDS:
            key = "other"  # messages that vary per event must not each count as new
        n = self._event_errors[key] = self._event_errors.get(key, 0) + 1
        # Throttled per kind of error: a misbehaving server sends the
        # same bad message 50 times a second.
        if not worth_reporting(n):
            return
        log.error(
            "failed to handle %r (%d such errors): %s", type(event).__name__, n, exc, exc_info=exc
        )
        self._publisher.publish(SessionError(f"failed to handle server event: {exc}"))

    async def _respond(self, response: FunctionResponse) -> None:
        conn = self._conn
        if conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        await conn.send_tool_response([response])

    async def _send_audio(self, message: bytes) -> None:
        conn = self._conn
        if conn is None:
            raise LiveConnectionClosed(1006, "no connection")
        await conn.send(message)

    async def _send(self) -> None:
        uplink = self.uplink
        while True:
            await uplink.ready.wait()
            uplink.ready.clear()
            await self._connected.wait()
            try:
                await uplink.send_pending(self._send_audio)
            except (LiveConnectionClosed, OSError):
                # The receive loop sees the same close and reconnects; the unsent chunk
                # is still in the ring.
                self._connected.clear()
                uplink.ready.set()

    # -- server events ---------------------------------------------------------------

    def _handle(self, event: ServerEvent) -> None:
        kind = type(event)
        if kind is ModelAudio:
            self._turns.audio(event.pcm, event.sample_rate_hz)  # type: ignore[union-attr]
        elif kind is Interrupted:
            self._on_interrupted()
        elif kind is GenerationComplete:
            self._turns.generation_complete()
        elif kind is TurnComplete:
            self._answered_s = time.monotonic()
            self._turns.turn_complete()
        elif kind is InputTranscription:
            self._turns.transcript("user", event.text, event.finished)  # type: ignore[union-attr]
        elif kind is OutputTranscription:
            self._turns.transcript("model", event.text, event.finished)  # type: ignore[union-attr]
        elif kind is ToolCall:
            for call in event.calls:  # type: ignore[union-attr]
                self._tools.start(call)
        elif kind is ToolCallCancellation:
            for call_id in event.ids:  # type: ignore[union-attr]
                self._tools.cancel(call_id, "cancelled by the server")
        elif kind is GoAway:
            self.counters["go_aways"] += 1
            margin_s = self.config.engine.resume_margin_s
            time_left_s = event.time_left_s  # type: ignore[union-attr]
            self._go_away_deadline_s = time.monotonic() + max(0.0, time_left_s - margin_s)
            self._go_away.set()

    def _on_interrupted(self) -> None:
        # Same loop iteration as the message: the next tick plays the fade, then silence.
        self.downlink.clear()
        self.counters["interruptions"] += 1
        self._barge_in_at_s = time.monotonic()
        self._ducked_since_s = None
        self._turns.interrupt_all()


async def _close_quietly(conn: LiveConnection, when: str) -> None:
    """Close a socket we are leaving anyway: an error is worth a warning, not a stop."""
    try:
        await conn.close()
    except Exception as exc:
        log.warning("closing the Live connection %s failed: %s", when, exc)
