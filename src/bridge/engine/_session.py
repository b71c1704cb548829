"""One voice chat's session: wires the transport, the two audio paths, the link and tools.

Data flows one way along each path; the session only connects the parts:

    UPLINK    transport.on_frame → Uplink (mix, 48→16 kHz, VAD, ring; its own 10 ms
              mixing period) → Link.send_uplink → socket
    DOWNLINK  socket → Link.run → Session._handle → Turns → Downlink (24→48 kHz, jitter
              buffer) → PlayoutClock tick (Session._tick) → transport.send_frame
    CONTROL   interrupted / local speech → BargeIn → Downlink.clear, Turns.interrupt_all
              goAway → Link (moves at a pause: ResumePolicy); tool calls → ToolCalls → Link

Tasks of a running session: `session-manage` (`Link.run`: connections, reconnects),
`session-send` (`Link.send_uplink`), `session-mix` (the uplink mixer's period), and the
playout clock's tick, shared with other sessions when a clock is given. Every timestamp
and deadline of the session is on the clock's `monotonic` (virtual in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

from .._faults import FaultReporter
from ..client import LiveConnection
from ..config import BridgeConfig
from ..protocol import (
    GenerationComplete,
    GoAway,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    LiveProtocol,
    ModelAudio,
    OutputTranscription,
    ServerEvent,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UsageMetadata,
)
from ..tools import ToolRegistry
from ..transports import Transport
from . import _setup, _stats
from ._address import address_gate
from ._bargein import BargeIn
from ._clock import PlayoutClock
from ._link import Link
from ._metrics import MetricsSnapshot
from ._mixer import FrameSizeError
from ._publish import Publisher
from ._resume import ResumePolicy
from ._speakers import Attribution
from ._stats import SessionStats
from ._toolcalls import ToolCalls
from ._turns import Turns
from ._vad import EnergyVad
from .events import Event, ReplyCut, SessionError

log = logging.getLogger(__name__)


class SessionClosed(RuntimeError):
    """The session could not start or has already stopped."""


class Session:
    """Bridges one transport (a voice chat) to one Gemini Live session.

    ```python
    async with Session(BridgeConfig.load("bridge.toml"), transport) as session:
        async for event in session.events():
            ...
    ```

    `clock` drives the playout (share one between sessions) and is the session's time
    base; without one, the session makes its own on `time.monotonic`. `keep_trying`:
    when reconnecting has used up `engine.reconnect_max_attempts`, publish
    `RetriesExhausted` once and go on with one attempt per `engine.reconnect_cool_down_s`
    (a bot's chat) instead of ending with a fatal `SessionError` (a one-off command).
    """

    def __init__(
        self,
        config: BridgeConfig,
        transport: Transport,
        *,
        tools: ToolRegistry | None = None,
        clock: PlayoutClock | None = None,
        keep_trying: bool = False,
    ) -> None:
        self.config = config
        self.transport = transport
        self.tools = _setup.tools_for(config, tools)
        self._own_clock = clock is None
        capacity = config.metrics.histogram_capacity
        self.clock = clock if clock is not None else PlayoutClock(histogram_capacity=capacity)
        self._monotonic = monotonic = self.clock.monotonic
        engine = config.engine
        self._vad = vad = EnergyVad(engine.vad_threshold_dbfs)
        self.uplink, self.downlink = _setup.audio_paths(config, transport, vad, monotonic)
        self.stats = stats = SessionStats.new(capacity)
        # A bad setting raises ConfigError here (the protocol checks the setup, the
        # connector the endpoint), not at start().
        self._protocol = protocol = LiveProtocol(_setup.live_config(config, self.tools))
        self._publisher = publisher = Publisher()
        self._tasks: list[asyncio.Task[Any]] = []
        self._clock_token: int | None = None
        self._state = "new"
        self._turns = Turns(self.downlink, publisher, stats, vad, monotonic)
        self._address = address_gate(config, stats.counters, monotonic)
        self._barge_in = BargeIn(engine, vad, self.downlink, self._turns, stats)
        self._resume = ResumePolicy(
            vad,
            lambda: protocol.generating,
            lambda: self._tools.waited_on(),  # a NON_BLOCKING call does not hold a move
            lambda: bool(self._tools),
            lambda: self.uplink.in_stretch,
        )
        self._link = Link(
            config=config,
            protocol=protocol,
            clock=self.clock,
            uplink=self.uplink,
            resume=self._resume,
            publisher=publisher,
            stats=stats,
            on_event=self._handle,
            on_lost=self._connection_lost,
            on_reconnected=self._reconnected,
            keep_trying=keep_trying,
        )
        lag_samples = engine.transcript_lag_ms * 16  # uplink positions are 16 kHz samples
        self._attribution = Attribution(self.uplink.speakers, lag_samples=lag_samples)
        self._replies_cut = 0
        self._reask: str | None = None
        """The question of a reply the server cut short, to ask again on the next socket."""
        self._tools = ToolCalls(
            self.tools,
            publisher,
            stats.counters,
            protocol.is_pending,
            self._link.respond,
            slow_notice_s=config.tools.slow_notice_s,
        )
        # Throttled: a broken transport sends 100 bad frames a second, a dead one fails
        # on every tick.
        self._bad_frames = FaultReporter("dropped inbound frame", log, publish=publisher.error)
        self._send_errors = FaultReporter("transport refused a frame", log, publish=publisher.error)

    # -- public API ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Gemini, start the transport and the playout; return once running.

        Raises `AuthError`, `ConfigError`, `ConnectFailed` or `LiveConnectionClosed` if
        the first connection cannot be made (after the configured retries).
        """
        if self._state != "new":
            raise SessionClosed(f"session cannot start: it is {self._state}")
        self._state = "starting"
        if not self.config.gemini.context_compression_tokens:
            log.warning(
                "context-window compression is off (gemini.context_compression_tokens = 0): "
                "the Live service ends audio sessions after 15 minutes"
            )
        if not (self.config.gemini.automatic_activity_detection or self.config.engine.uplink_gate):
            log.warning(
                "no turn will end: without automatic activity detection the uplink gate "
                "marks turns (activityStart/End), and engine.uplink_gate is off"
            )
        try:
            conn = await self._link.open()
        except BaseException:
            self._state = "stopped"
            self._publisher.close()
            raise
        loop = asyncio.get_running_loop()
        for coro, name in (
            (self._link.send_uplink(), "session-send"),
            (self._link.run(conn), "session-manage"),
            (self.uplink.run_mixer_period(self.clock.sleep), "session-mix"),
        ):
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

    async def stop(self, *, release_transport: bool = True) -> None:
        """Send the audio still held, close the socket, stop the transport (with
        `release_transport=False` it stays in the call for the next session). Idempotent."""
        if self._state in ("stopping", "stopped"):
            return
        if self._state == "new":
            self._state = "stopped"
            self._publisher.close()
            return
        self._state = "stopping"
        try:
            if release_transport:
                await self.transport.stop()
        except Exception as exc:
            log.warning("transport did not stop cleanly: %s", exc)
        await self._link.flush()
        tasks = [*self._tasks, *self._tools.tasks()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._clock_token is not None:
            self.clock.unsubscribe(self._clock_token)
            self._clock_token = None
        if self._own_clock:
            await self.clock.aclose()
        await self._link.close()
        self._state = "stopped"
        self._publisher.close()

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Report a long-lived task that ended while the session was running."""
        if task.cancelled() or self._state not in ("starting", "running"):
            return
        exc = task.exception()
        if exc is None:
            if self._link.failed:  # out of reconnection attempts, already reported
                self._state = "failed"
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
    def at_pause(self) -> bool:
        """Nothing would be cut off now: no reply generated or playing, no tool running,
        nobody talking, no question unanswered (what a goAway move waits for)."""
        return self._resume.at_pause() and self.downlink.is_idle

    @property
    def connection(self) -> LiveConnection | None:
        """The current Live connection (None while reconnecting or stopped)."""
        return self._link.connection

    @property
    def resumption_handle(self) -> str | None:
        """The latest resumable handle the server gave."""
        return self._protocol.resumption_handle

    @property
    def counters(self) -> dict[str, int]:
        """Every counter of `metrics()`, without the latency summaries (cheap to poll)."""
        faults = {
            "bad_frames": self._bad_frames.count,
            "send_errors": self._send_errors.count,
            "event_errors": self._link.event_errors.count,
            "dropped_events": self._publisher.dropped_events,
            "dead_connections": self._link.dead_connections,
            "replies_cut": self._replies_cut,
            **{f"connect_{outcome}": n for outcome, n in self._link.attempts.items()},
        }
        return _stats.counter_values(self.stats, self.uplink, self.downlink, self.clock, faults)

    def metrics(self) -> MetricsSnapshot:
        """Latency distributions, counters and gauges at this moment."""
        return _stats.snapshot(
            self.stats,
            self.uplink,
            self.downlink,
            self.clock,
            self.counters,
            connected=self._link.connected,
        )

    # -- uplink and downlink ---------------------------------------------------------

    def _on_frame(self, ssrc: int, pcm: bytes) -> None:
        """The transport's frame sink: one 10 ms frame of one speaker (no I/O, no raise)."""
        try:
            self.uplink.on_frame(ssrc, pcm)
        except FrameSizeError as exc:
            self._bad_frames.report(exc)

    async def _tick(self, deadline_s: float) -> None:
        started_ns = time.perf_counter_ns()
        gain = self._barge_in.before_frame(self._monotonic())
        frame, n = self.downlink.pop_frame(gain)
        now_s = self._monotonic()
        h = self.stats.histograms
        h.deadline_error_us.record(max(0.0, now_s - deadline_s) * 1e6)
        try:
            await self.transport.send_frame(frame)
        except Exception as exc:
            self._send_errors.report(exc)
        self.stats.counters.ticks += 1
        self._turns.after_frame(n, now_s)
        self._barge_in.after_frame(now_s)
        h.tick_us.record((time.perf_counter_ns() - started_ns) / 1000)

    # -- server events ---------------------------------------------------------------

    def _connection_lost(self) -> None:
        turn = self._turns.current
        if turn.started and not turn.generation_done and not turn.ended:
            # The bridge never moves mid-reply: the server (or the network) cut it.
            self._replies_cut += 1
            question = turn.input_text.strip()
            self._reask = question or None
            log.warning("the connection ended in the middle of reply %d", turn.id)
            self._publisher.publish(ReplyCut(turn.id, question, bool(question)))
        self._turns.connection_ended()
        if self._address is not None:
            self._address.reset()
        self._tools.cancel_all("connection replaced")

    async def _reconnected(self, conn: LiveConnection) -> None:
        """On a new socket: ask again the question whose reply was cut short."""
        question = self._reask  # kept until a turn completes: this socket may die too
        if question is not None:
            if self._address is not None:
                self._address.answer_next()  # it was played, so it was addressed
            text = (
                "(The connection dropped while you were answering. The user had said: "
                f"{question!r}. Please answer that again.)"
            )
            await conn.send_client_content([{"role": "user", "parts": [{"text": text}]}])

    def _handle(self, event: ServerEvent) -> None:
        events = (event,) if self._address is None else self._address.admit(event)
        for admitted in events:  # when_addressed: a reply waits for its decision
            self._dispatch(admitted)

    def _dispatch(self, event: ServerEvent) -> None:
        kind = type(event)
        if kind is ModelAudio:
            self._turns.audio(event.pcm, event.sample_rate_hz)  # type: ignore[union-attr]
        elif kind is Interrupted:
            self._barge_in.interrupted(self._monotonic())
        elif kind is GenerationComplete:
            self._turns.generation_complete()
        elif kind is TurnComplete:
            self._reask = None
            self._resume.answered(self._monotonic())
            self._turns.turn_complete()
        elif kind is InputTranscription:
            ssrcs = self._attribution.piece(self.uplink.sent_position)
            self._turns.transcript("user", event.text, event.finished, ssrcs)  # type: ignore[union-attr]
        elif kind is InterimInputTranscription:
            self._turns.caption(event.text, self.uplink.speakers.active)  # type: ignore[union-attr]
        elif kind is OutputTranscription:
            self._turns.transcript("model", event.text, event.finished)  # type: ignore[union-attr]
        elif kind is ToolCall:
            self._tools.start_all(event.calls)  # type: ignore[union-attr]
        elif kind is ToolCallCancellation:
            for call_id in event.ids:  # type: ignore[union-attr]
                self._tools.cancel(call_id, "cancelled by the server")
        elif kind is GoAway:
            self._link.go_away()
        elif kind is UsageMetadata:
            self.stats.usage.add(event)  # type: ignore[arg-type]
