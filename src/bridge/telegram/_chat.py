"""Running the bridge in Telegram chats: voice chat sessions, commands, voice notes.

`ChatBridge` is one chat: a `GroupCallTransport`, an engine `Session` on it and a
`TranscriptPoster`. `BridgeRunner` holds the chats of one process on one Telegram
account (one `pyrogram.Client`, one `PyTgCalls`, one shared playout clock), answers
`/gemini` and `/stop` from admins or the allowlist, and answers voice notes.

Handlers only decide and hand off: anything slow (joining a call, asking Gemini about a
voice note) runs in its own task so Telegram's update dispatch is never held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any

from pyrogram import filters
from pyrogram.enums import ParseMode
from pyrogram.errors.rpc_error import RPCError
from pyrogram.handlers import MessageHandler

from ..config import BridgeConfig
from ..engine import PlayoutClock, Session, endpoint, live_config
from ..transports.tgcalls import GroupCallError, GroupCallTransport
from ._access import AccessPolicy
from ._transcripts import TranscriptPoster
from ._voicenote import (
    VoiceNoteError,
    answer_voice_note,
    decode_voice_note,
    encode_voice_note,
    waveform,
)

__all__ = ["BridgeRunner", "ChatBridge"]

log = logging.getLogger(__name__)

_CAPTION_CHARS = 1024  # Telegram's caption limit

SessionFactory = Callable[[BridgeConfig, GroupCallTransport, PlayoutClock], Any]


def _default_session(
    config: BridgeConfig, transport: GroupCallTransport, clock: PlayoutClock
) -> Session:
    return Session(config, transport, clock=clock)


class ChatBridge:
    """Gemini live in one group's voice chat, with transcripts posted to the group."""

    def __init__(
        self,
        client: Any,
        calls: Any,
        chat: int | str,
        config: BridgeConfig,
        clock: PlayoutClock,
        *,
        transcripts: bool = True,
        start_call: bool = False,
        session_factory: SessionFactory = _default_session,
        on_ended: Callable[[ChatBridge, str], None] | None = None,
    ) -> None:
        self.chat = chat
        self.config = config
        self.transport = GroupCallTransport(
            calls,
            chat,
            sample_rate_hz=config.transport.sample_rate_hz,
            channels=config.transport.channels,
            start_call=start_call,
        )
        self.transport.on_ended = self._ended
        self._client = client
        self._clock = clock
        self._transcripts = transcripts
        self._session_factory = session_factory
        self._on_ended = on_ended
        self.session: Any = None
        self.poster: TranscriptPoster | None = None

    def __repr__(self) -> str:
        return f"ChatBridge(chat={self.chat!r}, running={self.running})"

    @property
    def running(self) -> bool:
        """True while the session is live in the voice chat."""
        return self.session is not None

    @property
    def chat_id(self) -> int | None:
        """The resolved numeric chat id (after `start`)."""
        return self.transport.chat_id

    async def start(self) -> None:
        """Connect to Gemini and join the voice chat. Raises `GroupCallError` subclasses
        for a chat that does not exist or has no voice chat, and the client's errors."""
        if self.session is not None:
            return
        session = self._session_factory(self.config, self.transport, self._clock)
        if self._transcripts:
            poster = TranscriptPoster(self._client, self.chat)
            session.add_listener(poster.on_event)
            self.poster = poster
        await session.start()
        self.session = session

    async def stop(self) -> None:
        """Leave the voice chat, flush and close the session, post what is pending."""
        session, self.session = self.session, None
        if session is not None:
            await session.stop()
        poster, self.poster = self.poster, None
        if poster is not None:
            await poster.close()

    def _ended(self, reason: str) -> None:
        if self._on_ended is not None:
            self._on_ended(self, reason)


class BridgeRunner:
    """All bridged chats of one Telegram account, plus commands and voice notes."""

    def __init__(
        self,
        client: Any,
        calls: Any,
        config: BridgeConfig,
        *,
        access: AccessPolicy | None = None,
        transcripts: bool = True,
        start_call: bool = False,
        voice_notes: bool = True,
        session_factory: SessionFactory = _default_session,
        voice_note_answer: Callable[..., Any] | None = None,
    ) -> None:
        self.client = client
        self.calls = calls
        self.config = config
        self.access = access if access is not None else AccessPolicy()
        self.clock = PlayoutClock(histogram_capacity=config.metrics.histogram_capacity)
        self.transcripts = transcripts
        self.start_call = start_call
        self.voice_notes = voice_notes
        self.bridges: dict[int | str, ChatBridge] = {}
        self._session_factory = session_factory
        self._answer = voice_note_answer or self._answer_with_gemini
        self._handlers: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chats: set[int] = set()

    def install_handlers(self) -> None:
        """Register the command and voice-note handlers on the client."""
        command = filters.command(["gemini", "stop"]) & filters.group
        self._handlers.append(self.client.add_handler(MessageHandler(self._on_command, command)))
        if self.voice_notes:
            voice = filters.voice & ~filters.me & (filters.private | filters.group)
            self._handlers.append(self.client.add_handler(MessageHandler(self._on_voice, voice)))

    async def go_live(self, chat: int | str) -> ChatBridge:
        """Start the bridge in `chat`'s voice chat (idempotent). Raises on failure."""
        bridge = self._find(chat)
        if bridge is None:
            bridge = ChatBridge(
                self.client,
                self.calls,
                chat,
                self.config,
                self.clock,
                transcripts=self.transcripts,
                start_call=self.start_call,
                session_factory=self._session_factory,
                on_ended=self._bridge_ended,
            )
        await bridge.start()
        self.bridges[chat] = bridge
        if bridge.chat_id is not None:
            self._chats.add(bridge.chat_id)
        return bridge

    async def stop_chat(self, chat: int | str) -> bool:
        """Stop the bridge in `chat`; False if it was not running."""
        bridge = self._find(chat)
        if bridge is None or not bridge.running:
            return False
        await bridge.stop()
        return True

    async def stop(self) -> None:
        """Stop every chat and every handler task: leave calls, flush, close sockets."""
        for handler in self._handlers:
            with contextlib.suppress(Exception):
                self.client.remove_handler(*handler)
        self._handlers.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for bridge in list(self.bridges.values()):
            with contextlib.suppress(Exception):
                await bridge.stop()
        await self.clock.aclose()

    def _find(self, chat: int | str) -> ChatBridge | None:
        bridge = self.bridges.get(chat)
        if bridge is not None:
            return bridge
        for candidate in self.bridges.values():
            if candidate.chat_id is not None and candidate.chat_id == chat:
                return candidate
        return None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _bridge_ended(self, bridge: ChatBridge, reason: str) -> None:
        self._spawn(self._after_call_ended(bridge, reason))

    async def _after_call_ended(self, bridge: ChatBridge, reason: str) -> None:
        await bridge.stop()
        await self._say(
            bridge.chat, f"Gemini left the voice chat: {reason}. Send /gemini to rejoin."
        )

    # -- handlers: decide, hand off, return ---------------------------------------------

    async def _on_command(self, client: Any, message: Any) -> None:
        self._spawn(self._command(message))

    async def _command(self, message: Any) -> None:
        chat_id = message.chat.id
        name = (message.command or [""])[0].lower()
        if not await self.access.allows(self.client, message):
            await self._reply(message, "Only group admins (or allowlisted users) can do that.")
            return
        if name == "stop":
            stopped = await self.stop_chat(chat_id)
            await self._reply(
                message, "Gemini left the voice chat." if stopped else "Gemini is not live here."
            )
            return
        try:
            await self.go_live(chat_id)
        except GroupCallError as exc:
            await self._reply(message, str(exc))
            return
        except Exception as exc:
            # Unexpected errors go to the log, not to the group: their text is not for users.
            log.warning("could not go live in %s: %s", chat_id, exc)
            await self._reply(message, "Could not start the bridge; the error is in its log.")
            return
        await self._reply(message, "Gemini is live in the voice chat. Talk to it; /stop ends it.")

    async def _on_voice(self, client: Any, message: Any) -> None:
        chat_id = message.chat.id
        if chat_id < 0 and chat_id not in self._chats:
            return  # in groups, only where the bridge was asked to run
        self._spawn(self._voice(message))

    async def _voice(self, message: Any) -> None:
        try:
            media = await self.client.download_media(message, in_memory=True)
            data = bytes(media.getbuffer()) if isinstance(media, io.BytesIO) else b""
            pcm_16k = await asyncio.to_thread(decode_voice_note, data)
            reply = await self._answer(pcm_16k)
            note = await asyncio.to_thread(encode_voice_note, reply.pcm, reply.sample_rate_hz)
        except VoiceNoteError as exc:
            await self._reply(message, f"Could not answer that voice note: {exc}")
            return
        except RPCError as exc:
            log.warning("voice note download failed: %s", exc)
            return
        except Exception as exc:
            log.warning("voice note failed: %s", exc)
            await self._reply(message, "Could not answer that voice note; the error is in the log.")
            return
        file = io.BytesIO(note)
        file.name = "reply.ogg"
        try:
            await self.client.send_voice(
                message.chat.id,
                file,
                caption=reply.transcript[:_CAPTION_CHARS],
                parse_mode=ParseMode.DISABLED,
                duration=max(1, round(reply.duration_s)),
                waveform=waveform(reply.pcm),
                reply_to_message_id=message.id,
            )
        except RPCError as exc:
            log.warning("could not send the voice reply: %s", exc)

    async def _answer_with_gemini(self, pcm_16k: bytes) -> Any:
        return await answer_voice_note(
            pcm_16k,
            live_config(self.config),
            endpoint(self.config),
            chunk_ms=self.config.engine.uplink_chunk_ms,
        )

    async def _reply(self, message: Any, text: str) -> None:
        try:
            await message.reply_text(text, parse_mode=ParseMode.DISABLED)
        except RPCError as exc:
            log.warning("could not reply in %s: %s", message.chat.id, exc)

    async def _say(self, chat: int | str, text: str) -> None:
        try:
            await self.client.send_message(chat, text, parse_mode=ParseMode.DISABLED)
        except RPCError as exc:
            log.warning("could not post in %s: %s", chat, exc)


def chats_from_args(values: Iterable[str]) -> list[int | str]:
    """`--chat` values: numeric ids as int, usernames as given (with or without @)."""
    chats: list[int | str] = []
    for value in values:
        text = value.strip()
        if not text:
            raise ValueError("--chat must not be empty")
        chats.append(int(text) if text.lstrip("-").isdigit() else text)
    return chats
