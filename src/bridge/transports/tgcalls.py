"""A Telegram group voice chat as a `Transport`, through py-tgcalls 3 and ntgcalls.

Inbound: `record(chat, RecordStream(audio=True, ...))` makes ntgcalls hand us raw 10 ms
frames per speaker (keyed by ssrc). py-tgcalls would turn every batch into a coroutine,
a task and a filter check per handler (~55 µs of event-loop time per frame measured on a
2-core host); instead one callback per `PyTgCalls` takes the frames straight from its
ntgcalls binding and wakes the loop once for all that arrived meanwhile (~2.5 µs per
frame), so no other `stream_frame` handler on that `PyTgCalls` gets frames. Without a
binding (py-tgcalls changed) it falls back to a `stream_frame` handler. Either way each
chat's frames go straight to the engine's sink. Frames from the bot's own ssrc are
dropped so the bot never hears itself.

Outbound: `play(chat, MediaStream(ExternalMedia.AUDIO, AudioParameters(rate, channels)))`
opens an external audio source; frames go to ntgcalls' `send_external_frame` directly
(py-tgcalls' `send_frame` wrapper costs ~50 µs a call in argument checks; it is the
fallback without a binding). Each call consumes exactly one 10 ms frame whatever length
it is given (shorter buffers are over-read), so this transport only ever passes exactly
`frame_bytes`. Nothing in py-tgcalls paces frames: the engine's
playout clock calls `send_frame` once per tick.

Leaving: on `stop()`, or when Telegram reports that the bot was kicked, left, or the
voice chat was closed (`ChatUpdate` with a `LEFT_CALL` status), or that the bot's own
participant left or was removed (also what the same account joining from a phone looks
like; py-tgcalls sends no ChatUpdate then), after which frames sent are dropped and
`ended` is set. `rejoin()` joins again when asked. An admin muting the bot sets
`muted_by_admin` and calls `on_muted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ntgcalls import ConnectionNotFound, FrameData, StreamDevice, StreamMode
from pyrogram.errors import ChannelInvalid, ChannelPrivate, ChatIdInvalid, PeerIdInvalid
from pytgcalls import filters
from pytgcalls.exceptions import NoActiveGroupCall, NotInCallError
from pytgcalls.types import (
    ChatUpdate,
    Device,
    Direction,
    ExternalMedia,
    GroupCallConfig,
    GroupCallParticipant,
    MediaStream,
    RecordStream,
    StreamFrames,
    UpdatedGroupCallParticipant,
)
from pytgcalls.types.raw import AudioParameters

from .._faults import worth_reporting
from ._base import FrameSink, Transport
from ._inbox import LoopInbox
from ._tgcalls_api import (
    ChatNotFoundError,
    GroupCallError,
    NoVoiceChatError,
    VoiceCalls,
    fit_participants_callback,
)

__all__ = [
    "ChatNotFoundError",
    "GroupCallError",
    "GroupCallTransport",
    "NoVoiceChatError",
    "VoiceCalls",
    "fit_participants_callback",
]

log = logging.getLogger(__name__)

# What Telegram answers for a chat id this account cannot see; pyrogram raises
# KeyError/ValueError for a peer it has never met.
_UNKNOWN_CHAT = (PeerIdInvalid, ChannelInvalid, ChannelPrivate, ChatIdInvalid, KeyError, ValueError)
_SSRC_MASK = 0xFFFFFFFF  # Telegram reports sources as signed int32, RTP ssrcs are unsigned
_SELF_LEFT = "the bot was removed from the voice chat, or this account joined it elsewhere"


class _NativeFrames:
    """Inbound frames from ntgcalls' own thread, batched onto the event loop."""

    def __init__(self, transports: dict[int, GroupCallTransport]) -> None:
        self._transports = transports
        self._inbox = LoopInbox(asyncio.get_running_loop(), self._deliver)

    def on_frames(self, chat_id: int, mode: object, device: object, frames: Any) -> None:
        """ntgcalls' `on_frames` callback (its thread): queue this chat's frames."""
        if mode == StreamMode.PLAYBACK and device == StreamDevice.MICROPHONE:
            self._inbox.put((chat_id, [(f.ssrc, bytes(f.data)) for f in frames]))

    def _deliver(self, item: tuple[int, list[tuple[int, bytes]]]) -> None:
        transport = self._transports.get(item[0])
        if transport is not None:
            transport._deliver(item[1])


class _Router:
    """One frame callback and handlers per PyTgCalls instance, dispatching to each chat's
    transport."""

    def __init__(self, calls: VoiceCalls) -> None:
        self.transports: dict[int, GroupCallTransport] = {}
        binding = getattr(calls, "_binding", None)
        if binding is not None and hasattr(binding, "on_frames"):
            binding.on_frames(_NativeFrames(self.transports).on_frames)
        else:
            calls.add_handler(
                self.on_frames, filters.stream_frame(Direction.INCOMING, Device.MICROPHONE)
            )
        calls.add_handler(self.on_chat_update, filters.chat_update(ChatUpdate.Status.LEFT_CALL))
        calls.add_handler(self.on_participant, filters.call_participant())

    async def on_frames(self, _client: object, update: StreamFrames) -> None:
        transport = self.transports.get(update.chat_id)
        if transport is not None:
            transport._deliver([(f.ssrc, f.frame) for f in update.frames])

    async def on_chat_update(self, _client: object, update: ChatUpdate) -> None:
        transport = self.transports.get(update.chat_id)
        if transport is not None:
            transport._call_ended(update.status)

    async def on_participant(self, _client: object, update: UpdatedGroupCallParticipant) -> None:
        transport = self.transports.get(update.chat_id)
        if transport is not None:
            transport._participant_changed(update.action, update.participant)


_routers: weakref.WeakKeyDictionary[VoiceCalls, _Router] = weakref.WeakKeyDictionary()


def _router_for(calls: VoiceCalls) -> _Router:
    router = _routers.get(calls)
    if router is None:
        router = _routers[calls] = _Router(calls)
    return router


class GroupCallTransport(Transport):
    """The bridge's presence in one Telegram group voice chat.

    `calls` is a started `pytgcalls.PyTgCalls`; `chat` a chat id (-100...) or a public
    username. Several transports (several chats) may share one `calls`.
    `sample_rate_hz`/`channels` are what ntgcalls converts to and from (Opus runs at
    48 kHz; 48 kHz mono is the default and needs no conversion on our side).
    """

    def __init__(
        self,
        calls: VoiceCalls,
        chat: int | str,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        start_call: bool = False,
        self_user_id: int | None = None,
    ) -> None:
        if sample_rate_hz not in (8_000, 16_000, 24_000, 32_000, 44_100, 48_000, 96_000):
            raise ValueError(f"unsupported sample_rate_hz {sample_rate_hz}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.chat = chat
        self.chat_id: int | None = None
        self.start_call = start_call
        self._calls = calls
        self._self_user_id = self_user_id
        self._own_ssrcs: set[int] = set()
        self.speakers: dict[int, int] = {}
        """ssrc → Telegram user id of each participant seen."""
        self._sink: FrameSink | None = None
        self._joined = False
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.on_ended: Callable[[str], None] | None = None
        self.muted_by_admin = False
        """True while an admin has muted the bot: it talks and nobody hears it."""
        self.on_muted: Callable[[bool], None] | None = None
        self.frames_in = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        binding = getattr(calls, "_binding", None)
        # py-tgcalls' `send_frame` type-checks its arguments on every call (~50 µs here)
        # and resolves the chat again; its ntgcalls binding takes the frame as it is.
        self._send_native = getattr(binding, "send_external_frame", None)
        self._frame_data = FrameData()

    def __repr__(self) -> str:
        return f"GroupCallTransport(chat={self.chat!r}, joined={self._joined})"

    @property
    def joined(self) -> bool:
        """True while the bot is in the voice chat."""
        return self._joined

    async def start(self, on_frame: FrameSink) -> None:
        """Join the voice chat, start sending and receiving; return once joined. Already
        in the call (a new session replacing the last one), only frames go to `on_frame`."""
        self._sink = on_frame
        if not self._joined:
            await self._join()

    async def rejoin(self) -> None:
        """Join again after a kick or a closed call (a new voice chat must be running)."""
        if self._joined:
            await self._leave()
        await self._join()

    async def _join(self) -> None:
        chat_id = await self._resolve()
        self.chat_id = chat_id
        router = _router_for(self._calls)
        other = router.transports.get(chat_id)
        if other is not None and other is not self:
            raise GroupCallError(f"chat {self.chat!r} already has a transport in this process")
        router.transports[chat_id] = self
        params = AudioParameters(self.sample_rate_hz, self.channels)
        try:
            await self._calls.play(
                chat_id,
                MediaStream(ExternalMedia.AUDIO, params),
                config=GroupCallConfig(auto_start=self.start_call),
            )
        except _UNKNOWN_CHAT as exc:
            router.transports.pop(chat_id, None)
            raise self._not_found(exc) from None
        except NoActiveGroupCall:
            router.transports.pop(chat_id, None)
            raise NoVoiceChatError(
                f"chat {self.chat!r} has no voice chat running; start one in Telegram "
                "(or allow the bridge to start it)"
            ) from None
        except BaseException:
            router.transports.pop(chat_id, None)
            raise
        try:
            await self._calls.record(chat_id, RecordStream(audio=True, audio_parameters=params))
        except BaseException:
            # play() joined the call: do not leave the account in it, deaf.
            router.transports.pop(chat_id, None)
            with contextlib.suppress(Exception):
                await self._calls.leave_call(chat_id)
            raise
        self.ended.clear()
        self.end_reason = ""
        self._joined = True
        await self.refresh_participants()

    async def _resolve(self) -> int:
        try:
            chat_id = int(await self._calls.resolve_chat_id(self.chat))
        except Exception as exc:
            raise self._not_found(exc) from None
        if chat_id >= 0:
            raise ChatNotFoundError(
                f"chat {self.chat!r} is a private chat, not a group with a voice chat"
            )
        return chat_id

    def _not_found(self, exc: BaseException) -> ChatNotFoundError:
        return ChatNotFoundError(
            f"chat {self.chat!r} not found: check the id or username, and that this "
            f"account is a member ({type(exc).__name__})"
        )

    async def refresh_participants(self) -> None:
        """Re-read the participant list: speaker ↔ user mapping and the bot's own ssrc."""
        if self.chat_id is None:
            return
        participants = await self._calls.get_participants(self.chat_id) or []
        me = self._me()
        self.speakers = {p.source & _SSRC_MASK: p.user_id for p in participants}
        self._own_ssrcs = {
            p.source & _SSRC_MASK for p in participants if me is not None and p.user_id == me
        }

    def _me(self) -> int | None:
        if self._self_user_id is None:
            me = getattr(getattr(self._calls, "mtproto_client", None), "me", None)
            self._self_user_id = getattr(me, "id", None)
        return self._self_user_id

    def _deliver(self, frames: Sequence[tuple[int, bytes]]) -> None:
        sink = self._sink
        if sink is None or not self._joined:
            return
        expected = self.frame_bytes
        own = self._own_ssrcs
        for raw_ssrc, pcm in frames:
            ssrc = raw_ssrc & _SSRC_MASK
            if ssrc in own:
                continue
            if len(pcm) != expected:
                self.frames_dropped += 1
                # Throttled: a misconfigured call sends 100 such frames a second.
                if worth_reporting(self.frames_dropped):
                    log.warning(
                        "dropping a %d-byte frame from ssrc %d in %s: expected %d bytes "
                        "(10 ms at %d Hz, %d channel(s))",
                        len(pcm), ssrc, self.chat, expected, self.sample_rate_hz, self.channels,
                    )  # fmt: skip
                continue
            self.frames_in += 1
            sink(ssrc, pcm)

    def _participant_changed(
        self, action: GroupCallParticipant.Action, participant: GroupCallParticipant
    ) -> None:
        ssrc = participant.source & _SSRC_MASK
        is_me = participant.user_id == self._me()
        if action & GroupCallParticipant.Action.LEFT or action & GroupCallParticipant.Action.KICKED:
            self.speakers.pop(ssrc, None)
            self._own_ssrcs.discard(ssrc)
            if is_me:
                # py-tgcalls drops the call itself and sends no ChatUpdate for this.
                self._call_ended(_SELF_LEFT)
            return
        self.speakers[ssrc] = participant.user_id
        if is_me:
            self._own_ssrcs.add(ssrc)
            if participant.muted_by_admin != self.muted_by_admin:
                self.muted_by_admin = participant.muted_by_admin
                log.warning(
                    "%s the bot in %s",
                    "an admin muted" if self.muted_by_admin else "unmuted",
                    self.chat,
                )
                if self.on_muted is not None:
                    self.on_muted(self.muted_by_admin)

    def _call_ended(self, status: ChatUpdate.Status | str) -> None:
        if not self._joined:
            return
        self._joined = False
        self.end_reason = status if isinstance(status, str) else _describe_status(status)
        log.warning("left the voice chat in %s: %s", self.chat, self.end_reason)
        self.ended.set()
        if self.on_ended is not None:
            self.on_ended(self.end_reason)

    async def send_frame(self, pcm: bytes) -> None:
        """Send exactly one 10 ms frame; dropped (and counted) while not in the call."""
        if len(pcm) != self.frame_bytes:
            raise ValueError(
                f"a frame must be exactly {self.frame_bytes} bytes (10 ms), got {len(pcm)} bytes"
            )
        if not self._joined or self.chat_id is None:
            self.frames_dropped += 1
            return
        try:
            if self._send_native is not None:
                mic = StreamDevice.MICROPHONE
                await self._send_native(self.chat_id, mic, pcm, self._frame_data)
            else:
                await self._calls.send_frame(self.chat_id, Device.MICROPHONE, pcm)
        except (NotInCallError, ConnectionNotFound):
            self.frames_dropped += 1
            self._call_ended(ChatUpdate.Status.LEFT_GROUP)
            return
        self.frames_sent += 1

    async def stop(self) -> None:
        """Leave the voice chat and stop delivering frames. Safe to call twice."""
        self._sink = None
        if self._joined:
            await self._leave()
        if self.chat_id is not None:
            router = _routers.get(self._calls)
            if router is not None and router.transports.get(self.chat_id) is self:
                del router.transports[self.chat_id]

    async def _leave(self) -> None:
        self._joined = False
        if self.chat_id is None:
            return
        with contextlib.suppress(NotInCallError, NoActiveGroupCall):
            await self._calls.leave_call(self.chat_id)


def _describe_status(status: ChatUpdate.Status) -> str:
    if status & ChatUpdate.Status.KICKED:
        return "the bot was removed from the voice chat"
    if status & ChatUpdate.Status.CLOSED_VOICE_CHAT:
        return "the voice chat was closed"
    if status & ChatUpdate.Status.LEFT_GROUP:
        return "the bot left the group"
    return f"the call ended ({status})"
