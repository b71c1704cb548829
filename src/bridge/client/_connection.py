"""One open Live WebSocket: websockets asyncio around the sans-I/O `LiveProtocol`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import (
    FunctionResponse,
    LiveConnectionClosed,
    LiveProtocol,
    LocalProtocolError,
    ProtocolError,
    ServerEvent,
    SetupComplete,
    closed_error,
)

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 1.0
"""The wait for the server's close frame; then the socket is aborted (a dead peer never
answers, and websockets' own default would hold a `stop()` for 10 s)."""


class LiveConnection:
    """One open Live WebSocket whose setup the server has accepted.

    `recv()` returns the events of one server message; a malformed message is logged and
    skipped. `async for event in conn` yields events until the server closes the session;
    an abnormal close raises a typed `LiveConnectionClosed`, and so does every send after
    the connection ended. The `send_*` methods build their message through `protocol`,
    which raises `LocalProtocolError` for a message illegal in the session's state.
    """

    def __init__(
        self,
        ws: ClientConnection,
        protocol: LiveProtocol,
        setup_complete: SetupComplete,
        pending: list[ServerEvent],
        monotonic: Callable[[], float],
    ) -> None:
        self._ws = ws
        self.protocol = protocol
        """The session state (resumption handle, pending tool calls, goAway deadline)."""
        self.setup_complete = setup_complete
        self.resumed: bool = protocol.resumed
        """The setup carried a resumption handle and the server accepted it."""
        self._pending = pending
        self._monotonic = monotonic
        self._number = protocol.n_connections
        self._ended: tuple[int, str] | None = None
        """(code, reason) once this connection ended."""
        self.n_received = 0
        """Server messages received after `setupComplete`."""
        self.last_heard_s = monotonic()
        """When the server last showed it is alive: a message or a pong (on `monotonic`)."""
        self._pings: set[Awaitable[float]] = set()

    @property
    def compressed(self) -> bool:
        """Whether permessage-deflate was negotiated (off unless `compression=True`)."""
        return bool(self._ws.protocol.extensions)

    @property
    def resumption_handle(self) -> str | None:
        """The latest resumable handle, to pass to the next `connect()`."""
        return self.protocol.resumption_handle

    async def send(self, message: bytes) -> None:
        """Send one already-built client message as a text frame (no state check)."""
        self._check_open()
        await self._write(message)

    async def send_audio(self, pcm: Any, *, sample_rate_hz: int = 16000) -> None:
        """Send int16 PCM (any buffer) as one `realtimeInput.audio` message."""
        self._check_open()
        await self._write(self.protocol.audio_message(pcm, sample_rate_hz=sample_rate_hz))

    async def send_text(self, text: str) -> None:
        """Send `realtimeInput.text`."""
        self._check_open()
        await self._write(self.protocol.text_message(text))

    async def send_audio_stream_end(self) -> None:
        """Tell the server the microphone paused (`realtimeInput.audioStreamEnd`)."""
        self._check_open()
        await self._write(self.protocol.audio_stream_end())

    async def send_activity_start(self) -> None:
        """`realtimeInput.activityStart` (automatic activity detection disabled)."""
        self._check_open()
        await self._write(self.protocol.activity_start())

    async def send_activity_end(self) -> None:
        """`realtimeInput.activityEnd` (automatic activity detection disabled)."""
        self._check_open()
        await self._write(self.protocol.activity_end())

    async def send_client_content(
        self, turns: str | Sequence[Mapping[str, Any]], *, turn_complete: bool = True
    ) -> None:
        """Send `clientContent` turns (interrupts any generation in progress)."""
        self._check_open()
        await self._write(self.protocol.client_content_message(turns, turn_complete=turn_complete))

    async def send_tool_response(self, responses: Iterable[FunctionResponse]) -> None:
        """Answer pending function calls; their ids leave `protocol.pending_tool_calls`."""
        self._check_open()
        await self._write(self.protocol.tool_response(responses))

    async def _write(self, message: bytes) -> None:
        try:
            await self._ws.send(message, text=True)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def recv(self) -> list[ServerEvent]:
        """Events of the next server message (raises `LiveConnectionClosed` at the end)."""
        if self._pending:
            events, self._pending = self._pending, []
            return events
        self._check_open()
        while True:
            try:
                data = await self._ws.recv(decode=False)
            except ConnectionClosed as exc:
                raise self._closed(exc) from None
            self.n_received += 1
            self.last_heard_s = self._monotonic()
            try:
                return self.protocol.receive_data(data, now_s=self._monotonic())
            except ProtocolError as exc:
                log.warning("skipping malformed server message: %s", exc)

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        while True:
            try:
                events = await self.recv()
            except LiveConnectionClosed as exc:
                if exc.code == 1000:
                    return
                raise
            for event in events:
                yield event

    @property
    def ended(self) -> tuple[int, str] | None:
        """(code, reason) of how this connection ended; None while it is open."""
        return self._ended

    async def ping(self) -> None:
        """Send a ping; its pong, whenever it comes, counts as hearing from the server.

        Returns once the ping is written or could not be (a peer that stopped reading
        may never let it drain: the caller bounds the wait)."""
        if self._ended is not None:
            return
        try:
            waiter = await self._ws.ping()
        except ConnectionClosed:
            return
        assert isinstance(waiter, asyncio.Future)
        self._pings.add(waiter)
        waiter.add_done_callback(self._ponged)

    def _ponged(self, waiter: asyncio.Future[float]) -> None:
        self._pings.discard(waiter)
        if not waiter.cancelled() and waiter.exception() is None:
            self.last_heard_s = self._monotonic()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (idempotent); a peer that does not answer within `CLOSE_TIMEOUT_S` is cut off."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._ws.close(code, reason)
        except TimeoutError:
            self.abort()  # a dead peer: do not wait for its close frame
        self._end(1000, "closed by client")

    def abort(self) -> None:
        """Drop the TCP connection at once (a pending send fails, nothing more is read)."""
        self._ws.transport.abort()

    async def __aenter__(self) -> LiveConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._ended is not None:
            raise closed_error(*self._ended)
        if self._number != self.protocol.n_connections:
            raise LocalProtocolError(
                f"connection {self._number} was replaced by connection "
                f"{self.protocol.n_connections} of the same session"
            )

    def _end(self, code: int, reason: str) -> None:
        if self._ended is None:
            self._ended = (code, reason)
            if self._number == self.protocol.n_connections:
                self.protocol.connection_lost()

    def _closed(self, exc: ConnectionClosed) -> LiveConnectionClosed:
        if exc.rcvd is not None:
            self._end(exc.rcvd.code, exc.rcvd.reason)
        elif exc.sent is not None and exc.sent.code == 1000:
            self._end(1000, "closed by client")
        else:
            self._end(1006, "connection lost without a close frame")
        assert self._ended is not None
        return closed_error(*self._ended)
