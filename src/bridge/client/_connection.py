"""The Live WebSocket client: websockets asyncio + the sans-I/O protocol layer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Generator, Iterable
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .._redact import redact_url, redacting_logger
from ..protocol import (
    AuthError,
    ConnectFailed,
    FunctionResponse,
    LiveConfig,
    LiveConnectionClosed,
    LiveProtocol,
    ProtocolError,
    QuotaExceeded,
    ServerEvent,
    SetupComplete,
    closed_error,
    encode_audio,
)
from ._endpoint import Endpoint

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Reply audio bursts can be large; the websockets default of 1 MiB is too small."""


class LiveConnection:
    """One open Live WebSocket whose setup the server has accepted.

    `recv()` returns the events of one server message; a malformed message is logged and
    skipped. `async for event in conn` yields events until the server closes the session;
    an abnormal close raises a typed `LiveConnectionClosed`.
    """

    def __init__(
        self,
        ws: ClientConnection,
        protocol: LiveProtocol,
        setup_complete: SetupComplete,
        pending: list[ServerEvent],
    ) -> None:
        self._ws = ws
        self.protocol = protocol
        """The session state (resumption handle, pending tool calls, goAway deadline)."""
        self.setup_complete = setup_complete
        self._pending = pending

    @property
    def compressed(self) -> bool:
        """Whether permessage-deflate was negotiated (off unless `compression=True`)."""
        return bool(self._ws.protocol.extensions)

    @property
    def resumption_handle(self) -> str | None:
        """The latest resumable handle, to pass to the next `connect()`."""
        return self.protocol.resumption_handle

    async def send(self, message: bytes) -> None:
        """Send one client message (from the `bridge.protocol` builders) as a text frame."""
        try:
            await self._ws.send(message, text=True)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def send_audio(self, pcm: Any, *, sample_rate_hz: int = 16000) -> None:
        """Send int16 PCM (any buffer) as one `realtimeInput.audio` message."""
        await self.send(encode_audio(pcm, sample_rate_hz=sample_rate_hz))

    async def send_tool_response(self, responses: Iterable[FunctionResponse]) -> None:
        """Answer function calls; their ids leave `protocol.pending_tool_calls`."""
        await self.send(self.protocol.tool_response(responses))

    async def recv(self) -> list[ServerEvent]:
        """Events of the next server message (raises `LiveConnectionClosed` at the end)."""
        if self._pending:
            events, self._pending = self._pending, []
            return events
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await self._ws.recv(decode=False)
            except ConnectionClosed as exc:
                raise self._closed(exc) from None
            try:
                return self.protocol.receive_data(data, now_s=loop.time())
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

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close cleanly (idempotent)."""
        await self._ws.close(code, reason)
        self.protocol.connection_lost()

    async def __aenter__(self) -> LiveConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _closed(self, exc: ConnectionClosed) -> LiveConnectionClosed:
        self.protocol.connection_lost()
        if exc.rcvd is not None:
            return closed_error(exc.rcvd.code, exc.rcvd.reason)
        if exc.sent is not None and exc.sent.code == 1000:
            return closed_error(1000, "closed by client")
        return closed_error(1006, "connection lost without a close frame")


async def _open(
    config: LiveConfig,
    endpoint: Endpoint,
    resumption_handle: str | None,
    connect_timeout_s: float,
    ping_interval_s: float | None,
    ping_timeout_s: float | None,
    compression: bool,
    protocol: LiveProtocol | None,
) -> LiveConnection:
    endpoint.validate()
    if protocol is None:
        protocol = LiveProtocol(config, resumption_handle=resumption_handle)
    else:
        protocol.connection_lost()
        if resumption_handle is not None:
            protocol.resumption_handle = resumption_handle
    setup = protocol.setup_message()
    url = endpoint.url
    shown_url = redact_url(url)
    try:
        ws = await asyncio.wait_for(
            ws_connect(
                url,
                additional_headers=endpoint.headers(),
                compression="deflate" if compression else None,
                ssl=endpoint.ssl_context if url.startswith("wss://") else None,
                open_timeout=None,
                ping_interval=ping_interval_s,
                ping_timeout=ping_timeout_s,
                max_size=MAX_MESSAGE_BYTES,
                proxy=None,
                logger=redacting_logger("bridge.client.ws"),
            ),
            connect_timeout_s,
        )
    except InvalidStatus as exc:
        protocol.connection_lost()
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace")[:200] if exc.response.body else ""
        if status == 429:
            raise QuotaExceeded(f"HTTP 429 from {shown_url}: {body}", status=status) from None
        if status in (401, 403):
            raise AuthError(f"HTTP {status} from {shown_url}: credentials refused {body}") from None
        raise ConnectFailed(f"HTTP {status} from {shown_url}: {body}", status=status) from None
    except TimeoutError:
        protocol.connection_lost()
        raise ConnectFailed(
            f"timed out after {connect_timeout_s} s connecting to {shown_url}"
        ) from None
    except (OSError, InvalidHandshake) as exc:
        protocol.connection_lost()
        raise ConnectFailed(f"cannot connect to {shown_url}: {exc}") from None
    try:
        await ws.send(setup, text=True)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(connect_timeout_s):
            while True:
                data = await ws.recv(decode=False)
                try:
                    events = protocol.receive_data(data, now_s=loop.time())
                except ProtocolError as exc:
                    log.warning("skipping malformed server message before setup: %s", exc)
                    continue
                for index, event in enumerate(events):
                    if isinstance(event, SetupComplete):
                        return LiveConnection(ws, protocol, event, events[index + 1 :])
                log.warning("ignoring %d events before setupComplete", len(events))
    except ConnectionClosed as exc:
        protocol.connection_lost()
        if exc.rcvd is not None:
            raise closed_error(exc.rcvd.code, exc.rcvd.reason) from None
        raise closed_error(1006, "connection lost during setup") from None
    except TimeoutError:
        protocol.connection_lost()
        await ws.close()
        raise ConnectFailed(f"no setupComplete within {connect_timeout_s} s from {url}") from None
    except BaseException:
        protocol.connection_lost()
        await ws.close()
        raise


class _Connecting:
    """`await connect(...)` or `async with connect(...) as conn:`."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._conn: LiveConnection | None = None

    def __await__(self) -> Generator[Any, None, LiveConnection]:
        return _open(**self._kwargs).__await__()

    async def __aenter__(self) -> LiveConnection:
        self._conn = await _open(**self._kwargs)
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()


def connect(
    config: LiveConfig,
    endpoint: Endpoint,
    *,
    resumption_handle: str | None = None,
    connect_timeout_s: float = 10.0,
    ping_interval_s: float | None = 20.0,
    ping_timeout_s: float | None = None,
    compression: bool = False,
    protocol: LiveProtocol | None = None,
) -> _Connecting:
    """Open a Live session: WebSocket upgrade, `setup`, wait for `setupComplete`.

    Use as `async with connect(...) as conn:` or `conn = await connect(...)`.
    `ping_timeout_s=None` by default: the server's pongs can take 30 s, and a timeout
    would kill healthy sessions; pings still keep NATs open. Pass an existing `protocol`
    to continue its session (its resumption handle is used). Raises `ConfigError`,
    `ConnectFailed` (incl. `QuotaExceeded`), `AuthError` or `LiveConnectionClosed`.
    """
    return _Connecting(
        config=config,
        endpoint=endpoint,
        resumption_handle=resumption_handle,
        connect_timeout_s=connect_timeout_s,
        ping_interval_s=ping_interval_s,
        ping_timeout_s=ping_timeout_s,
        compression=compression,
        protocol=protocol,
    )
