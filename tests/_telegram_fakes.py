"""Fakes for what would reach Telegram: the only parts of the Telegram tests not real.

`FakeCalls` keeps py-tgcalls' own handler dispatch (`HandlersHolder._propagate`, the
real `filters`) and the real types (`StreamFrames`, `Frame`, `MediaStream`,
`AudioParameters`, `RecordStream`, `ExternalMedia`, `Device`); only what would reach
Telegram or ntgcalls' WebRTC stack is replaced: joining, leaving, the participant list
and `send_frame`, which keeps exactly one 10 ms frame per call as ntgcalls does, and
when it came (`sent_at_s`, on `monotonic`: the loop's clock for a test in virtual time).
`FakeClient` is the chat side of a pyrogram Client: messages, replies, handlers (called
as pyrogram would call them), voice notes and admin lookups.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import struct
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

from ntgcalls import MediaSource
from pyrogram import Client, raw, types
from pyrogram.enums import ChatMemberStatus, ChatType
from pyrogram.errors import PeerIdInvalid
from pytgcalls import PyTgCalls
from pytgcalls.exceptions import NoActiveGroupCall, NotInCallError
from pytgcalls.handlers.handlers_holder import HandlersHolder
from pytgcalls.types import (
    Device,
    Direction,
    Frame,
    GroupCallConfig,
    GroupCallParticipant,
    MediaStream,
    RecordStream,
    StreamFrames,
)

CHAT_ID = -1001234567890
ME = 777
BOT_SSRC = 0xFFFFFFF0  # reported by Telegram as a negative int32


def session_string(user_id: int = ME) -> str:
    """A well-formed pyrogram session string (DC 2, a made-up auth key): it never connects."""
    packed = struct.pack(">BI?256sQ?", 2, 123, False, bytes(range(256)), user_id, False)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def participant(user_id: int, source: int) -> GroupCallParticipant:
    return GroupCallParticipant(
        user_id, False, False, False, False, False, False, 100, source, None, None
    )


class _Me:
    id = ME


class _MtProto:
    me = _Me()


class FakeCalls(HandlersHolder):
    """PyTgCalls with Telegram and WebRTC replaced; dispatch and types are the real ones."""

    def __init__(
        self, *, voice_chat_running: bool = True, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.monotonic = monotonic
        self.mtproto_client = _MtProto()
        self.usernames = {"@mygroup": CHAT_ID, "mygroup": CHAT_ID, "-100999": -100999}
        self.voice_chat_running = voice_chat_running
        self.in_call: set[int] = set()
        self.played: list[tuple[int, MediaStream, GroupCallConfig]] = []
        self.recorded: list[tuple[int, RecordStream]] = []
        self.sent: list[bytes] = []
        self.sent_at_s: list[float] = []
        self.left: list[int] = []
        self.participants = [participant(ME, BOT_SSRC - 2**32), participant(42, 1001)]
        self._frame_bytes = 0
        self._pending: set[asyncio.Task[Any]] = set()
        self._is_running = False

    async def start(self) -> None:
        self._is_running = True

    async def resolve_chat_id(self, chat: int | str) -> int:
        try:
            return int(chat)
        except ValueError:
            if chat not in self.usernames:
                raise KeyError(f"username {chat} not occupied") from None
            return self.usernames[chat]

    async def play(self, chat_id: int, stream: MediaStream, config: GroupCallConfig) -> None:
        if chat_id not in self.usernames.values():
            raise PeerIdInvalid()  # what Telegram answers for a chat this account cannot see
        if not self.voice_chat_running and not config.auto_start:
            raise NoActiveGroupCall()
        self.voice_chat_running = True
        mic = stream.microphone
        assert mic is not None and mic.media_source == MediaSource.EXTERNAL
        self._frame_bytes = mic.parameters.bitrate * 2 * mic.parameters.channels // 100
        self.played.append((chat_id, stream, config))
        self.in_call.add(chat_id)

    async def record(self, chat_id: int, stream: RecordStream) -> None:
        assert chat_id in self.in_call
        self.recorded.append((chat_id, stream))

    async def send_frame(self, chat_id: int, device: Device, data: bytes) -> None:
        if chat_id not in self.in_call:
            raise NotInCallError()
        assert device == Device.MICROPHONE
        # ntgcalls consumes exactly one frame; a short buffer would be over-read.
        assert len(data) >= self._frame_bytes
        self.sent.append(data[: self._frame_bytes])
        self.sent_at_s.append(self.monotonic())

    async def leave_call(self, chat_id: int) -> None:
        if chat_id not in self.in_call:
            raise NotInCallError()
        self.in_call.discard(chat_id)
        self.left.append(chat_id)

    async def get_participants(self, chat_id: int) -> list[GroupCallParticipant]:
        return list(self.participants)

    def incoming(self, chat_id: int, frames: list[tuple[int, bytes]]) -> None:
        """One ntgcalls on_frames batch: scheduled as its own task, as PyTgCalls does."""
        update = StreamFrames(
            chat_id,
            Direction.INCOMING,
            Device.MICROPHONE,
            [Frame(ssrc, pcm, Frame.Info()) for ssrc, pcm in frames],
        )
        task = asyncio.get_running_loop().create_task(self._propagate(update, self))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def push(self, update: Any) -> None:
        await self._propagate(update, self)

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*self._pending)


class FakeClient:
    """The chat side of a pyrogram Client: messages, replies, handlers, admin lookups."""

    def __init__(self) -> None:
        self.messages: dict[int, str] = {}
        self.replies: list[str] = []
        self.handlers: list[Any] = []
        self.stopped = False
        self.voices: list[tuple[int, bytes, dict[str, Any]]] = []
        self._next = 1
        self.storage = self  # the peer cache: the chats this account has met
        self.known_peers = {CHAT_ID, -1002, -100999}
        self.users = {42: types.User(id=42, first_name="Dana")}
        """The accounts `get_users` knows (real pyrogram `User`s): 42 is in `FakeCalls`."""
        self.user_lookups: list[list[int]] = []
        self.slow_mode_delay_s: int | None = None
        """The groups' `Chat.slow_mode_delay` (None: slow mode off)."""

    async def get_peer_by_id(self, peer_id: int) -> Any:
        if peer_id not in self.known_peers:
            raise KeyError(peer_id)
        return SimpleNamespace(channel_id=peer_id)

    async def get_dialogs(self) -> Any:
        for peer_id in sorted(self.known_peers):
            yield SimpleNamespace(chat=SimpleNamespace(id=peer_id))

    async def send_message(self, chat_id: Any, text: str, *, parse_mode: Any = None) -> Any:
        self.messages[self._next] = text
        self._next += 1
        return SimpleNamespace(id=self._next - 1)

    async def edit_message_text(
        self, chat_id: Any, message_id: int, text: str, *, parse_mode: Any = None
    ) -> None:
        self.messages[message_id] = text

    async def stop(self) -> None:
        self.stopped = True

    async def get_users(self, user_ids: list[int]) -> list[types.User]:
        self.user_lookups.append(list(user_ids))
        return [self.users[u] for u in user_ids if u in self.users]

    async def get_chat(self, chat_id: int | str) -> types.Chat:
        if chat_id not in self.known_peers:
            raise PeerIdInvalid()
        return types.Chat(
            id=int(chat_id), type=ChatType.SUPERGROUP, slow_mode_delay=self.slow_mode_delay_s
        )

    async def download_media(self, message: Any, in_memory: bool = False) -> Any:
        assert in_memory
        return io.BytesIO(message.voice_bytes)

    async def send_voice(self, chat_id: int, voice: Any, **kwargs: Any) -> None:
        self.voices.append((chat_id, voice.getvalue(), kwargs))

    def add_handler(self, handler: Any, group: int = 0) -> tuple[Any, int]:
        self.handlers.append(handler)
        return handler, group

    def remove_handler(self, handler: Any, group: int = 0) -> None:
        self.handlers.remove(handler)

    async def get_chat_member(self, chat_id: int, user_id: int) -> Any:
        admin = user_id == 1
        return SimpleNamespace(
            status=ChatMemberStatus.ADMINISTRATOR if admin else ChatMemberStatus.MEMBER
        )

    def command(self, text: str, user_id: int | None) -> Any:
        """A command; `user_id` None is an anonymous admin, who posts as the group."""
        replies = self.replies

        async def reply_text(reply: str, parse_mode: Any = None) -> None:
            replies.append(reply)

        return SimpleNamespace(
            chat=SimpleNamespace(id=CHAT_ID),
            from_user=None if user_id is None else SimpleNamespace(id=user_id, username=None),
            sender_chat=SimpleNamespace(id=CHAT_ID) if user_id is None else None,
            command=text.lstrip("/").split(),
            reply_text=reply_text,
        )

    def voice(
        self, chat_id: int, data: bytes, user_id: int = 555, *, is_contact: bool = False
    ) -> Any:
        replies = self.replies

        async def reply_text(reply: str, parse_mode: Any = None) -> None:
            replies.append(reply)

        return SimpleNamespace(
            chat=SimpleNamespace(id=chat_id),
            from_user=SimpleNamespace(id=user_id, username=None, is_contact=is_contact),
            sender_chat=None,
            id=9,
            voice_bytes=data,
            reply_text=reply_text,
        )

    async def deliver(self, message: Any) -> None:
        """Call the handler for `message` as pyrogram's dispatcher would.

        pyrogram's filters need real `Message` objects, so the fake routes by kind instead:
        commands to the first handler installed, voice notes to the second.
        """
        handler = self.handlers[0 if hasattr(message, "command") else 1]
        await handler.callback(self, message)


class RealCalls(PyTgCalls):  # type: ignore[misc]
    """The real `PyTgCalls` on a real (never connected) pyrogram `Client`: updates go through
    py-tgcalls' own `_handle_mtproto_updates`. Only joining, which needs Telegram and a
    WebRTC peer, is replaced."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.in_call: set[int] = set()
        # What start() caches: this account's own peer, by which updates are told apart.
        self._cache_user_peer.put(CHAT_ID, raw.types.InputPeerUser(user_id=ME, access_hash=0))

    async def play(self, chat_id: int, stream: Any = None, config: Any = None) -> None:
        self.in_call.add(chat_id)

    async def record(self, chat_id: int, stream: Any = None) -> None:
        assert chat_id in self.in_call

    async def leave_call(self, chat_id: int) -> None:
        self.in_call.discard(chat_id)

    async def get_participants(self, chat_id: int) -> list[GroupCallParticipant]:
        return [participant(ME, BOT_SSRC - 2**32)]

    async def telegram_sends(self, update: Any) -> None:
        """An update as pyrogram hands it to py-tgcalls."""
        await self._handle_mtproto_updates(update)


@contextlib.asynccontextmanager
async def real_calls() -> AsyncIterator[RealCalls]:
    """A `RealCalls` on a `Client` whose storage is open, as after start()."""
    client = Client(
        "t", api_id=1, api_hash="0" * 32, session_string=session_string(), in_memory=True
    )
    await client.storage.open()
    try:
        yield RealCalls(client)
    finally:
        await client.storage.close()
