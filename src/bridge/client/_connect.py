"""Opening Live connections: one (`await`, `async with`) or one after another (`async for`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .._redact import redact_url, redacting_logger
from ..protocol import (
    AuthError,
    ConfigError,
    ConnectFailed,
    LiveConfig,
    LiveProtocol,
    ProtocolError,
    ProtocolState,
    QuotaExceeded,
    SetupComplete,
    closed_error,
)
from ._connection import CLOSE_TIMEOUT_S, LiveConnection
from ._endpoint import Endpoint
from ._retry import RetryEvent, RetryPolicy, describe

log = logging.getLogger(__name__)

_CLOSED_BY_CLIENT = (1000, "closed by client")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Reply audio bursts can be large; the websockets default of 1 MiB is too small."""


class Connect:
    """What `connect()` returns: one Live connection, or one after another.

    - `conn = await connect(...)`: one attempt; the caller closes `conn`.
    - `async with connect(...) as conn:`: the same, closed on exit.
    - `async for conn in connect(...):`: a new connection each time the body finishes an
      iteration (after a `LiveConnectionClosed`, or to move after a goAway). The previous
      connection is closed first; attempts that fail are retried per `retry`, and the
      session resumes from the latest handle in the shared `protocol`. Fatal errors and
      the last error of a spent attempt budget raise out of the loop. Leaving the loop
      leaves the current connection open: close it, or `await aclose()`.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        protocol: LiveProtocol,
        *,
        connect_timeout_s: float,
        ping_interval_s: float | None,
        ping_timeout_s: float | None,
        compression: bool,
        retry: RetryPolicy,
        on_retry: Callable[[RetryEvent], None] | None,
        monotonic: Callable[[], float] | None,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.endpoint = endpoint
        self.protocol = protocol
        """The session's state, shared by all its connections (handle, goAway deadline)."""
        self.retry = retry
        self.connection: LiveConnection | None = None
        """The connection most recently opened."""
        self._connect_timeout_s = connect_timeout_s
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._compression = compression
        self._on_retry = on_retry
        self._monotonic = monotonic
        self._sleep = sleep
        self._finished = False
        self._outage_attempts = 0
        self._delays: Iterator[float] | None = None
        self.attempts: Counter[str] = Counter()
        """Connection attempts by outcome: "ok", "failed", "fresh" (a refused handle dropped)."""

    # -- one connection ---------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, LiveConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> LiveConnection:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            await self.connection.close()

    # -- one after another ------------------------------------------------------------

    def __aiter__(self) -> Connect:
        return self

    async def __anext__(self) -> LiveConnection:
        """Close the previous connection and open the next, retrying per the policy."""
        if self._finished:
            raise StopAsyncIteration
        previous = self.connection
        if previous is not None:
            await self._after(previous)
        while True:
            # The handle may be dropped between attempts: what counts is whether the
            # attempt that fails carried one.
            resuming = self.protocol.resumption_handle is not None
            try:
                conn = await self._open()
            except Exception as exc:
                self.attempts["failed"] += 1
                fatal = self._fatal(exc)
                if fatal is not None and resuming and self.retry.refuses_handle(exc):
                    self._drop_handle(exc)
                    continue
                if fatal is exc:
                    raise
                if fatal is not None:
                    raise fatal from exc
                await self._failed(exc)
                continue
            self.attempts["ok"] += 1
            return conn

    async def _after(self, previous: LiveConnection) -> None:
        """Judge how the previous connection ended: fatal, a failed attempt, or healthy."""
        ended = previous.ended
        await previous.close()
        if ended is None or ended == _CLOSED_BY_CLIENT:
            if previous.n_received:
                self._healthy()
            return
        error = closed_error(*ended)
        fatal = self._fatal(error)
        if fatal is not None and previous.n_received and error.retryable:
            fatal = None  # ended a live session (1008: its time is up after goAway)
        if fatal is not None:
            if previous.resumed and self.protocol.resumption_handle is not None:
                # Accepted, then refused (the 1007 after a deadline close): one fresh start.
                self._drop_handle(error)
                return
            raise fatal
        if previous.n_received:
            self._healthy()
        else:  # accepted and closed at once: a failed attempt of the same outage
            self.attempts["failed"] += 1
            await self._failed(error)

    def _fatal(self, exc: BaseException) -> BaseException | None:
        try:
            return self.retry.process_exception(exc)
        except Exception as raised:  # a policy may raise instead of returning
            return raised

    def _healthy(self) -> None:
        self._outage_attempts = 0
        self._delays = None

    def _drop_handle(self, exc: BaseException) -> None:
        # Expired or unknown handle: carry on in a new session rather than not at all;
        # the conversation's context is lost.
        log.warning("resumption refused (%s); starting a new session", exc)
        self.attempts["fresh"] += 1
        self.protocol.resumption_handle = None
        self._report(RetryEvent(self._outage_attempts + 1, exc, 0.0, handle_dropped=True))

    async def _failed(self, exc: BaseException) -> None:
        """Count one failed attempt of this outage, then wait (or raise: budget spent)."""
        policy = self.retry
        self._outage_attempts += 1
        attempt = self._outage_attempts
        if policy.max_attempts is not None and attempt >= policy.max_attempts:
            if policy.cool_down_s is None:
                raise exc
            delay_s = policy.cool_down_s
            if attempt == policy.max_attempts:  # said once per outage, then quiet
                log.warning(
                    "%d connection attempts failed, the last with %s; trying again every %g s",
                    attempt,
                    describe(exc),
                    delay_s,
                )
                self._report(RetryEvent(attempt, exc, delay_s, budget_spent=True))
        else:
            if self._delays is None:
                self._delays = policy.delays()
            delay_s = next(self._delays)
            log.warning(
                "connection attempt %d failed (%s); retrying in %.2f s",
                attempt,
                describe(exc),
                delay_s,
            )
            self._report(RetryEvent(attempt, exc, delay_s))
        await self._sleep(delay_s)

    async def aclose(self) -> None:
        """End the iteration and close the current connection (idempotent)."""
        self._finished = True
        if self.connection is not None:
            await self.connection.close()

    def _report(self, event: RetryEvent) -> None:
        if self._on_retry is not None:
            self._on_retry(event)

    # -- the handshake ----------------------------------------------------------------

    async def _open(self) -> LiveConnection:
        """Upgrade, send the setup, wait for `setupComplete`: one attempt."""
        protocol = self.protocol
        if protocol.state is ProtocolState.READY:
            protocol.connection_lost()  # the caller moves on from a connection it kept open
        setup = protocol.setup_message()
        try:
            conn = await self._handshake(setup)
        except BaseException:
            protocol.connection_lost()
            raise
        self.connection = conn
        return conn

    async def _handshake(self, setup: bytes) -> LiveConnection:
        monotonic = self._monotonic or asyncio.get_running_loop().time
        endpoint = self.endpoint
        timeout_s = self._connect_timeout_s
        url = endpoint.url
        shown_url = redact_url(url)
        try:
            ws = await asyncio.wait_for(
                ws_connect(
                    url,
                    additional_headers=endpoint.headers(),
                    compression="deflate" if self._compression else None,
                    ssl=endpoint.ssl_context if url.startswith("wss://") else None,
                    open_timeout=None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    ping_interval=self._ping_interval_s,
                    ping_timeout=self._ping_timeout_s,
                    max_size=MAX_MESSAGE_BYTES,
                    proxy=None,
                    logger=redacting_logger("bridge.client.ws"),
                ),
                timeout_s,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace")[:200] if exc.response.body else ""
            if status == 429:
                raise QuotaExceeded(f"HTTP 429 from {shown_url}: {body}", status=status) from None
            if status in (401, 403):
                raise AuthError(
                    f"HTTP {status} from {shown_url}: credentials refused {body}"
                ) from None
            raise ConnectFailed(f"HTTP {status} from {shown_url}: {body}", status=status) from None
        except TimeoutError:
            raise ConnectFailed(
                f"timed out after {timeout_s} s connecting to {shown_url}"
            ) from None
        except (OSError, InvalidHandshake) as exc:
            raise ConnectFailed(f"cannot connect to {shown_url}: {exc}") from None
        try:
            await ws.send(setup, text=True)
            async with asyncio.timeout(timeout_s):
                while True:
                    data = await ws.recv(decode=False)
                    try:
                        events = self.protocol.receive_data(data, now_s=monotonic())
                    except ProtocolError as exc:
                        log.warning("skipping malformed server message before setup: %s", exc)
                        continue
                    for index, event in enumerate(events):
                        if isinstance(event, SetupComplete):
                            return LiveConnection(
                                ws, self.protocol, event, events[index + 1 :], monotonic
                            )
                    log.warning("ignoring %d events before setupComplete", len(events))
        except ConnectionClosed as exc:
            if exc.rcvd is not None:
                raise closed_error(exc.rcvd.code, exc.rcvd.reason) from None
            raise closed_error(1006, "connection lost during setup") from None
        except TimeoutError:
            await ws.close()
            raise ConnectFailed(f"no setupComplete within {timeout_s} s from {shown_url}") from None
        except BaseException:
            await ws.close()
            raise


def connect(
    config: LiveConfig,
    endpoint: Endpoint,
    *,
    protocol: LiveProtocol | None = None,
    resumption_handle: str | None = None,
    connect_timeout_s: float = 10.0,
    ping_interval_s: float | None = 20.0,
    ping_timeout_s: float | None = None,
    compression: bool = False,
    retry: RetryPolicy | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
    monotonic: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Connect:
    """Open a Live session: WebSocket upgrade, `setup`, wait for `setupComplete`.

    `conn = await connect(...)` and `async with connect(...) as conn:` open one
    connection; `async for conn in connect(...):` reconnects each time the body finishes
    an iteration, retrying failed attempts per `retry` (default `RetryPolicy()`) and
    calling `on_retry` before each wait. Pass a `protocol` to continue its session (its
    resumption handle is used); `resumption_handle` sets the handle to resume.
    `ping_timeout_s=None` by default: the server's pongs can take 30 s, and a timeout
    would kill healthy sessions; pings still keep NATs open. `monotonic` is the clock of
    `protocol.go_away_deadline_s` (default: the event loop's `loop.time()`), `sleep` waits
    between attempts; replace them together for virtual time. Raises `ConfigError` (here,
    for a bad config or endpoint), and on opening `ConnectFailed` (incl. `QuotaExceeded`),
    `AuthError` or `LiveConnectionClosed`.
    """
    endpoint.validate()
    if protocol is None:
        protocol = LiveProtocol(config)
    elif protocol.config != config:
        raise ConfigError("protocol: it was made for a different LiveConfig than `config`")
    if resumption_handle is not None:
        protocol.resumption_handle = resumption_handle
    if not connect_timeout_s > 0:
        raise ConfigError(f"connect_timeout_s: must be positive, got {connect_timeout_s!r}")
    return Connect(
        endpoint,
        protocol,
        connect_timeout_s=connect_timeout_s,
        ping_interval_s=ping_interval_s,
        ping_timeout_s=ping_timeout_s,
        compression=compression,
        retry=RetryPolicy() if retry is None else retry,
        on_retry=on_retry,
        monotonic=monotonic,
        sleep=sleep,
    )
