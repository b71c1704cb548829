"""A real WebRTC/Opus call between two ntgcalls instances on loopback, no Telegram.

`LoopbackCall` holds two `ntgcalls.NTgCalls` endpoints in one process joined by a P2P
call: each side's signaling data is handed to the other, the key exchange is skipped with
a shared random key, and both sides capture and play external 10 ms PCM frames. One end
is the bridge (`LoopbackTransport`, a `Transport`), the other a simulated user
(`LoopbackUser`, a `SimulatedUser`) that speaks queued PCM in real time and records what
it hears with arrival times. Audio crosses the same native path as a Telegram group call: Opus
encode/decode, RTP over UDP and WebRTC's jitter buffer.

ntgcalls calls back from its own threads; every callback only schedules work on the
event loop with `call_soon_threadsafe`. ntgcalls may abort at interpreter exit, so a
program that used it should end with `os._exit` after `LoopbackCall.close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

import ntgcalls

from ._base import FRAME_MS, FrameSink, Transport
from ._inbox import LoopInbox
from ._user import HeardFrame, SimulatedUser

__all__ = ["HeardFrame", "LoopbackCall", "LoopbackError", "LoopbackTransport", "LoopbackUser"]

_KEY_BYTES = 256  # Telegram's DH-derived call key length; any shared value works here
_BOT_PEER_ID = 1  # each instance names its single call by the peer's id
_USER_PEER_ID = 2


class LoopbackError(RuntimeError):
    """The loopback call could not be set up or was lost."""


class _Native:
    """One `NTgCalls` instance holding any number of P2P calls (as py-tgcalls holds every
    chat of an account), its callbacks routed to each call's `_Endpoint` by call id.

    Inbound frames go through a `LoopInbox`: frames of many calls arriving together cost
    one event-loop wake-up.
    """

    def __init__(self) -> None:
        self.calls = ntgcalls.NTgCalls()
        self.endpoints: dict[int, _Endpoint] = {}
        self.frame_data = ntgcalls.FrameData()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Register the callbacks, scheduling their work on `loop` (once)."""
        if self._loop is not None:
            return
        self._loop = loop
        endpoints = self.endpoints
        arrived = LoopInbox(loop, _deliver_pcm)
        playback, microphone = ntgcalls.StreamMode.PLAYBACK, ntgcalls.StreamDevice.MICROPHONE

        def schedule(callback: Callable[..., None], *args: Any) -> None:
            # A native thread may still call back while the loop shuts down.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

        def signaling(call_id: int, data: bytes) -> None:
            endpoint = endpoints.get(call_id)
            if endpoint is not None and endpoint.forward_signaling is not None:
                schedule(endpoint.forward_signaling, data)

        def frames_arrived(call_id: int, mode: Any, device: Any, frames: Any) -> None:
            endpoint = endpoints.get(call_id)
            if endpoint is None or mode != playback or device != microphone:
                return
            now_s = time.monotonic()
            for frame in frames:
                arrived.put((endpoint, now_s, frame.ssrc, bytes(frame.data)))

        def connection_changed(call_id: int, info: Any) -> None:
            endpoint = endpoints.get(call_id)
            if endpoint is not None:
                schedule(endpoint.connection_changed, info.state)

        self.calls.on_signaling_data(signaling)
        self.calls.on_frames(frames_arrived)
        self.calls.on_connection_change(connection_changed)


def _deliver_pcm(item: tuple[_Endpoint, float, int, bytes]) -> None:
    endpoint, arrival_s, ssrc, pcm = item
    if endpoint.on_pcm is not None:
        endpoint.on_pcm(arrival_s, ssrc, pcm)


class _Endpoint:
    """One P2P call on a `_Native`, capturing and playing external PCM.

    `forward_signaling` carries this end's signaling data to the other end (in this
    process or another one); the other end's data comes in through `deliver_signaling`.
    """

    def __init__(self, native: _Native, call_id: int, sample_rate_hz: int, channels: int) -> None:
        self.native = native
        self.peer_id = call_id
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_bytes = sample_rate_hz * FRAME_MS // 1000 * 2 * channels
        self.calls = native.calls
        self.on_pcm: Callable[[float, int, bytes], None] | None = None
        self.forward_signaling: Callable[[bytes], None] | None = None
        self.connected: asyncio.Future[None] | None = None

    def _description(self) -> Any:
        audio = ntgcalls.AudioDescription(
            ntgcalls.MediaSource.EXTERNAL, self.sample_rate_hz, self.channels, "", False
        )
        return ntgcalls.MediaDescription(audio, None, None, None)

    async def prepare(self, forward_signaling: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.connected = loop.create_future()
        self.forward_signaling = forward_signaling
        self.native.bind(loop)
        self.native.endpoints[self.peer_id] = self
        await self.calls.create_p2p_call(self.peer_id)
        description = self._description()
        await self.calls.set_stream_sources(self.peer_id, ntgcalls.StreamMode.CAPTURE, description)
        await self.calls.set_stream_sources(self.peer_id, ntgcalls.StreamMode.PLAYBACK, description)

    def deliver_signaling(self, data: bytes) -> None:
        task = asyncio.ensure_future(self.calls.send_signaling_data(self.peer_id, data))
        task.add_done_callback(_consume_exception)

    def connection_changed(self, state: Any) -> None:
        fut = self.connected
        if fut is None or fut.done():
            return
        if state == ntgcalls.ConnectionState.CONNECTED:
            fut.set_result(None)
        elif state in (
            ntgcalls.ConnectionState.FAILED,
            ntgcalls.ConnectionState.TIMEOUT,
            ntgcalls.ConnectionState.CLOSED,
        ):
            fut.set_exception(LoopbackError(f"loopback call ended while connecting: {state.name}"))

    async def connect(self, key: bytes, outgoing: bool) -> None:
        await self.calls.skip_exchange(self.peer_id, key, outgoing)
        versions = ntgcalls.NTgCalls.get_protocol().library_versions
        await self.calls.connect_p2p(self.peer_id, [], versions, True, None)

    async def send(self, pcm: bytes) -> None:
        await self.calls.send_external_frame(
            self.peer_id, ntgcalls.StreamDevice.MICROPHONE, pcm, self.native.frame_data
        )

    async def stop(self) -> None:
        self.on_pcm = None
        self.forward_signaling = None
        with contextlib.suppress(ntgcalls.ConnectionNotFound):
            await self.calls.stop(self.peer_id)
        self.native.endpoints.pop(self.peer_id, None)


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _check_frame(pcm: bytes, frame_bytes: int) -> None:
    if len(pcm) != frame_bytes:
        raise ValueError(
            f"a frame must be exactly {frame_bytes} bytes (10 ms), got {len(pcm)} bytes"
        )


class _Call(Protocol):
    """What a `LoopbackTransport` needs of the call it is the bridge's end of."""

    @property
    def bot_endpoint(self) -> _Endpoint: ...
    @property
    def is_open(self) -> bool: ...
    async def connect(self) -> None: ...
    async def close(self) -> None: ...


class LoopbackTransport(Transport):
    """The bridge's end of a `LoopbackCall`: hears the user, speaks into the call."""

    def __init__(self, call: _Call) -> None:
        self._call = call
        self._endpoint = endpoint = call.bot_endpoint
        self.sample_rate_hz = endpoint.sample_rate_hz
        self.channels = endpoint.channels
        self.frames_sent = 0
        self.frames_dropped = 0

    async def start(self, on_frame: FrameSink) -> None:
        """Deliver every frame heard from the user to `on_frame`; connect if needed."""
        self._endpoint.on_pcm = lambda _arrival_s, ssrc, pcm: on_frame(ssrc, pcm)
        await self._call.connect()

    async def send_frame(self, pcm: bytes) -> None:
        """Send exactly one 10 ms frame into the call (dropped once the call is closed)."""
        _check_frame(pcm, self.frame_bytes)
        if not self._call.is_open:
            # A playout tick racing the hang-up: nobody is listening any more.
            self.frames_dropped += 1
            return
        await self._endpoint.send(pcm)
        self.frames_sent += 1

    async def stop(self) -> None:
        """Stop hearing the user and hang up the whole call. Safe to call twice."""
        self._endpoint.on_pcm = None
        await self._call.close()


class LoopbackUser(SimulatedUser):
    """The simulated participant: speaks queued PCM into the call, records what it hears.

    Paced and recorded like every `SimulatedUser`; arrival times are when ntgcalls handed
    the frame over, on the same `time.monotonic()` clock as `sent_at`.
    """

    def __init__(self, call: LoopbackCall) -> None:
        super().__init__(call.sample_rate_hz, call.channels)
        self._endpoint = call._user
        self.frame_bytes = self._endpoint.frame_bytes
        self._endpoint.on_pcm = lambda arrival_s, ssrc, pcm: self.hear(pcm, ssrc, arrival_s)

    async def _send_frame(self, pcm: bytes) -> None:
        await self._endpoint.send(pcm)


class LoopbackCall:
    """Two ntgcalls endpoints on loopback holding one real P2P call.

    Use as `async with LoopbackCall() as call:`; `call.transport` is the bridge's side,
    `call.user` the simulated participant. Rates and channels are the PCM both ends
    exchange (Opus runs at 48 kHz inside; ntgcalls resamples to what is asked).
    """

    def __init__(
        self,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if sample_rate_hz not in (8_000, 12_000, 16_000, 24_000, 32_000, 44_100, 48_000):
            raise ValueError(f"unsupported sample_rate_hz {sample_rate_hz}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.connect_timeout_s = connect_timeout_s
        self.bot_endpoint = _Endpoint(_Native(), _BOT_PEER_ID, sample_rate_hz, channels)
        self._user = _Endpoint(_Native(), _USER_PEER_ID, sample_rate_hz, channels)
        self.transport = LoopbackTransport(self)
        self.user = LoopbackUser(self)
        self._connected = False
        self._closed = False
        self._connect_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        """True once connected and until closed."""
        return self._connected and not self._closed

    async def connect(self) -> None:
        """Set up both endpoints and wait until the WebRTC connection is up (idempotent)."""
        async with self._connect_lock:
            if self._closed:
                raise LoopbackError("the loopback call is closed")
            if self._connected:
                return
            await self.bot_endpoint.prepare(self._user.deliver_signaling)
            await self._user.prepare(self.bot_endpoint.deliver_signaling)
            key = os.urandom(_KEY_BYTES)
            await self.bot_endpoint.connect(key, outgoing=True)
            await self._user.connect(key, outgoing=False)
            ends = (self.bot_endpoint, self._user)
            waits = [ep.connected for ep in ends if ep.connected is not None]
            try:
                await asyncio.wait_for(asyncio.gather(*waits), self.connect_timeout_s)
            except TimeoutError:
                raise LoopbackError(
                    f"loopback call not connected within {self.connect_timeout_s} s"
                ) from None
            self._connected = True
            self.user.start_speaking()

    async def close(self) -> None:
        """Stop the user's pacing and hang up both ends. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self.user.stop_speaking()
        for endpoint in (self.bot_endpoint, self._user):
            await endpoint.stop()

    async def __aenter__(self) -> LoopbackCall:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
