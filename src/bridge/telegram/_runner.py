"""The bridge on one Telegram account: connect, go live in chats, answer commands, stop.

`TelegramRunner` holds one `pyrogram.Client`, one `PyTgCalls` and one playout clock shared
by every bridged chat (`ChatBridge`). It answers `/gemini` and `/stop` from admins or the
allowlist, and voice notes from those `AccessPolicy.allows_voice_note` lets through, at
most `telegram.voice_note_concurrency` at once. Its life: `open_account()` builds the
clients, `connect()` starts them (a revoked session is a `SessionRevokedError`), `go_live_in()`
joins the chats asked for, and `close()` leaves the calls, flushes the sessions and
stops the client. The CLI's `run` parses arguments, waits for SIGINT/SIGTERM in between
(`bridge.ops.shutdown_signals`) and prints what these report.

Handlers only decide and hand off: anything slow (joining a call, asking Gemini about a
voice note) runs in its own task so Telegram's update dispatch is never held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence

from pyrogram import Client, filters
from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait
from pyrogram.errors.rpc_error import RPCError
from pyrogram.handlers import MessageHandler
from pyrogram.handlers.handler import Handler
from pyrogram.types import Message

from ..config import BridgeConfig
from ..engine import PlayoutClock, endpoint, live_config
from ..transports.tgcalls import GroupCallError, VoiceCalls, fit_participants_callback
from ._access import AccessPolicy, chat_id_of
from ._budget import NOTICE_WAIT_S, AccountBudget
from ._chat import ChatBridge, SessionFactory, default_session, meet_chat, usage_text
from ._errors import SESSION_ERRORS, SessionRevokedError, TelegramConnectError, session_problem
from ._modes import mode_command
from ._voicenote import (
    VoiceNoteError,
    VoiceNoteReply,
    answer_voice_note,
    decode_voice_note,
    encode_voice_note,
    waveform,
)

__all__ = [
    "SessionRevokedError",
    "TelegramConnectError",
    "TelegramRunner",
    "VoiceNoteAnswer",
]

log = logging.getLogger(__name__)

_CAPTION_CHARS = 1024  # Telegram's caption limit
_CLIENT_STOP_TIMEOUT_S = 10.0
_SESSION_CHECK_S = 60.0

VoiceNoteAnswer = Callable[[bytes], Awaitable[VoiceNoteReply]]
"""Answers 16 kHz mono PCM with a spoken reply (default: ask Gemini)."""


class TelegramRunner:
    """All bridged chats of one Telegram account, plus commands and voice notes.

    `clock` (default: a `PlayoutClock` on `time.monotonic`): the time base of the account's
    playout, budget, transcripts and tools; pass one to run on another (tests: loop time).
    """

    def __init__(
        self,
        client: Client,
        calls: VoiceCalls,
        config: BridgeConfig,
        *,
        access: AccessPolicy | None = None,
        transcripts: bool = True,
        start_call: bool = False,
        voice_notes: bool = True,
        session_factory: SessionFactory = default_session,
        voice_note_answer: VoiceNoteAnswer | None = None,
        session_check_s: float = _SESSION_CHECK_S,
        clock: PlayoutClock | None = None,
    ) -> None:
        self.client = client
        self.calls = calls
        self.config = config
        self.access = access if access is not None else AccessPolicy()
        self.clock = clock or PlayoutClock(histogram_capacity=config.metrics.histogram_capacity)
        self.transcripts = transcripts
        self.start_call = start_call
        self.voice_notes = voice_notes
        self.bridges: dict[int | str, ChatBridge] = {}
        self._session_factory = session_factory
        self._answer = voice_note_answer or self._answer_with_gemini
        self._handlers: list[tuple[Handler, int]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._chats: set[int] = set()
        self.budget = AccountBudget(monotonic=self.clock.monotonic, sleep=self.clock.sleep)
        """Transcript messages and edits of every chat go through this one allowance."""
        self._voice_slots = asyncio.Semaphore(config.telegram.voice_note_concurrency)
        self._session_check_s = session_check_s
        self.session_lost = asyncio.Event()
        """Set once Telegram says the session is dead; `session_problem` says why."""
        self.session_problem = ""
        self._watcher: asyncio.Task[None] | None = None
        self.telegram_seen_s: float | None = None
        """Loop time of Telegram's last answer (connecting, then each session check)."""
        self.draining = False
        """Set when the process is about to leave every chat: /gemini is refused."""

    # -- the account's life ---------------------------------------------------------------

    async def connect(self) -> None:
        """Start the client and PyTgCalls, then install the handlers.

        Raises `SessionRevokedError` when the session no longer logs in and
        `TelegramConnectError` for anything else; the client is stopped either way.
        """
        try:
            await self.calls.start()
        except SESSION_ERRORS as exc:
            await self._stop_client()
            raise SessionRevokedError(session_problem(exc)) from None
        except Exception as exc:
            await self._stop_client()
            raise TelegramConnectError(
                f"cannot connect to Telegram: {type(exc).__name__}: {exc}"
            ) from None
        fit_participants_callback(self.calls)
        self.telegram_seen_s = asyncio.get_running_loop().time()
        self.install_handlers()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_session())

    async def _watch_session(self) -> None:
        """Notice a session revoked (or duplicated) while running, even when idle."""
        while not self.session_lost.is_set():
            await asyncio.sleep(self._session_check_s)
            try:
                await self.client.get_me()
            except SESSION_ERRORS as exc:
                self._lost(exc)
            except Exception as exc:  # the network: the next check tries again
                log.info("session check failed: %s", exc)
            else:
                self.telegram_seen_s = asyncio.get_running_loop().time()

    def _lost(self, exc: BaseException) -> None:
        if not self.session_lost.is_set():
            self.session_problem = session_problem(exc)
            self.session_lost.set()

    async def go_live_in(self, chats: Sequence[int | str]) -> dict[int | str, str | None]:
        """Go live in each chat; map each to None, or to why it could not go live."""
        results: dict[int | str, str | None] = {}
        for chat in chats:
            try:
                await self.go_live(chat)
            except GroupCallError as exc:
                results[chat] = str(exc)
            except Exception as exc:
                results[chat] = f"{chat}: {type(exc).__name__}: {exc}"
            else:
                results[chat] = None
        return results

    async def close(self) -> None:
        """Leave every call, flush the sessions, then stop the client.

        Raises `TelegramConnectError` if the client did not stop cleanly (all else is done).
        """
        await self.stop()
        try:
            await asyncio.wait_for(self.client.stop(), _CLIENT_STOP_TIMEOUT_S)
        except Exception as exc:
            raise TelegramConnectError(f"Telegram client did not stop cleanly: {exc}") from None

    async def _stop_client(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.stop(), _CLIENT_STOP_TIMEOUT_S)

    # -- chats ------------------------------------------------------------------------------

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
            await meet_chat(self.client, chat)
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
                on_muted=self._bridge_muted,
                budget=self.budget,
                access=self.access,
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
        for handler, group in self._handlers:
            with contextlib.suppress(Exception):
                self.client.remove_handler(handler, group)
        self._handlers.clear()
        if self._watcher is not None:
            self._watcher.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # All chats at once: shutdown must not take longer with more chats.
        await asyncio.gather(
            *(bridge.stop() for bridge in self.bridges.values()), return_exceptions=True
        )
        await self.clock.aclose()

    async def drain(self) -> None:
        """Wait until every command and voice note handed off so far has been handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _find(self, chat: int | str) -> ChatBridge | None:
        bridge = self.bridges.get(chat)
        if bridge is not None:
            return bridge
        for candidate in self.bridges.values():
            if candidate.chat_id is not None and candidate.chat_id == chat:
                return candidate
        return None

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _bridge_ended(self, bridge: ChatBridge, reason: str) -> None:
        self._spawn(self._after_call_ended(bridge, reason))

    def _bridge_muted(self, bridge: ChatBridge, muted: bool) -> None:
        if muted:
            text = "An admin muted Gemini in the voice chat: nobody hears it until unmuted."
            self._spawn(self._say(bridge.chat, text))

    async def _after_call_ended(self, bridge: ChatBridge, reason: str) -> None:
        await bridge.stop()
        await self._say(
            bridge.chat, f"Gemini left the voice chat: {reason}. Send /gemini to rejoin."
        )

    # -- handlers: decide, hand off, return ---------------------------------------------

    async def _on_command(self, client: Client, message: Message) -> None:
        self._spawn(self._command(message))

    async def _command(self, message: Message) -> None:
        chat_id = chat_id_of(message)
        if chat_id is None:
            return
        name = (message.command or [""])[0].lower()
        if not await self.access.allows(self.client, message):
            await self._reply(message, "Only group admins (or allowlisted users) can do that.")
            return
        if name == "gemini" and self.draining:
            await self._reply(message, "Gemini is shutting down here; try again in a minute.")
            return
        if name == "gemini" and (message.command or [])[1:2] == ["usage"]:
            bridge = self._find(chat_id)
            await self.budget.turn(chat_id)
            await self._reply(message, usage_text(bridge.usage() if bridge else None))
            return
        if await mode_command(self._find(chat_id), message, self.budget):
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

    async def _on_voice(self, client: Client, message: Message) -> None:
        chat_id = chat_id_of(message)
        if chat_id is None:
            return
        if chat_id < 0 and chat_id not in self._chats:
            return  # in groups, only where the bridge was asked to run
        self._spawn(self._voice(message, chat_id))

    async def _voice(self, message: Message, chat_id: int) -> None:
        if not await self.access.allows_voice_note(self.client, message):
            user = message.from_user
            log.info("ignored a voice note from %s in %s", user.id if user else None, chat_id)
            return
        if self._voice_slots.locked():
            await self._reply(message, "Busy with other voice notes; send it again shortly.")
            return
        async with self._voice_slots:
            await self._answer_voice(message, chat_id)

    async def _answer_voice(self, message: Message, chat_id: int) -> None:
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
                chat_id,
                file,
                caption=reply.transcript[:_CAPTION_CHARS],
                parse_mode=ParseMode.DISABLED,
                duration=max(1, round(reply.duration_s)),
                waveform=waveform(reply.pcm),
                reply_to_message_id=message.id,
            )
        except RPCError as exc:
            log.warning("could not send the voice reply: %s", exc)

    async def _answer_with_gemini(self, pcm_16k: bytes) -> VoiceNoteReply:
        return await answer_voice_note(
            pcm_16k,
            # Sending a voice note addresses the bot: it is answered whatever `respond` says.
            live_config(self.config.with_overrides(gemini={"respond": "always"})),
            endpoint(self.config),
            chunk_ms=self.config.engine.uplink_chunk_ms,
        )

    async def _reply(self, message: Message, text: str) -> None:
        try:
            await message.reply_text(text, parse_mode=ParseMode.DISABLED)
        except SESSION_ERRORS as exc:
            self._lost(exc)
        except RPCError as exc:
            log.warning("could not reply in %s: %s", chat_id_of(message), exc)

    async def _say(self, chat: int | str, text: str) -> None:
        if not await self.budget.turn_within(chat, NOTICE_WAIT_S):  # news gone stale
            log.info("not posted in %s (Telegram's limits): %s", chat, text)
            return
        try:
            await self.client.send_message(chat, text, parse_mode=ParseMode.DISABLED)
        except SESSION_ERRORS as exc:
            self._lost(exc)
        except FloodWait as exc:
            self.budget.hold(float(exc.value or 1))
        except RPCError as exc:
            log.warning("could not post in %s: %s", chat, exc)
