"""One bridged chat: a `GroupCallTransport`, an engine `Session` on it, a `TranscriptPoster`.

`ChatBridge` goes live in one group's voice chat and leaves it; `TelegramRunner`
(`_runner.py`) holds the chats of one account and decides when. `chats_from_args` turns
`--chat` values into chat ids and usernames; `meet_chat` puts a numeric chat id into the
client's peer cache before anything uses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from pyrogram import Client
from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait
from pyrogram.errors.rpc_error import RPCError

from ..config import BridgeConfig
from ..engine import PlayoutClock, Session
from ..engine.events import Event, RetriesExhausted
from ..ops import parse_chat
from ..tools import ToolRegistry, builtin_tools
from ..transports.tgcalls import ChatNotFoundError, GroupCallTransport, VoiceCalls
from ._access import AccessPolicy
from ._botname import bot_named
from ._budget import NOTICE_WAIT_S, AccountBudget
from ._captions import captions_allowed
from ._speakers import SpeakerNames
from ._tools import ChatTools
from ._transcripts import TranscriptPoster

log = logging.getLogger(__name__)

__all__ = [
    "ChatBridge",
    "SessionFactory",
    "chats_from_args",
    "default_session",
    "meet_chat",
    "usage_text",
]

SessionFactory = Callable[[BridgeConfig, GroupCallTransport, PlayoutClock, ToolRegistry], Session]
"""Builds the engine session for one chat, with its tools (tests substitute their own)."""


def default_session(
    config: BridgeConfig, transport: GroupCallTransport, clock: PlayoutClock, tools: ToolRegistry
) -> Session:
    """An engine `Session` on `transport`, driven by the shared `clock`; a chat outlives
    an outage (after the retry budget, one attempt per `engine.reconnect_cool_down_s`)."""
    return Session(config, transport, tools=tools, clock=clock, keep_trying=True)


class ChatBridge:
    """Gemini live in one group's voice chat, with transcripts posted to the group.

    `clock` drives the session's playout and is the chat's one time base: the transcript
    poster and the Telegram tools read the time and wait on its `monotonic` and `sleep`
    (`budget`, the account's, must be on the same clock).
    """

    def __init__(
        self,
        client: Client,
        calls: VoiceCalls,
        chat: int | str,
        config: BridgeConfig,
        clock: PlayoutClock,
        *,
        transcripts: bool = True,
        start_call: bool = False,
        session_factory: SessionFactory = default_session,
        on_ended: Callable[[ChatBridge, str], None] | None = None,
        on_muted: Callable[[ChatBridge, bool], None] | None = None,
        budget: AccountBudget | None = None,
        access: AccessPolicy | None = None,
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
        if on_muted is not None:
            self.transport.on_muted = lambda muted: on_muted(self, muted)
        self._client = client
        self._clock = clock
        self._transcripts = transcripts
        self._session_factory = session_factory
        self._on_ended = on_ended
        self._budget = budget
        self.tools = ChatTools(
            client,
            calls,
            self.transport,
            config.tools,
            access=access,
            budget=budget,
            monotonic=clock.monotonic,
            sleep=clock.sleep,
        )
        self.session: Session | None = None
        self.poster: TranscriptPoster | None = None
        self._notices: set[asyncio.Task[None]] = set()
        self._usage_before: dict[str, int] = {}
        """Usage of this chat's sessions that have ended."""

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
        tools = builtin_tools()
        self.tools.register(tools)  # the Telegram tools: this chat's, in Telegram mode only
        config = bot_named(self.config, self._client)
        session = self._session_factory(config, self.transport, self._clock, tools)
        if self._transcripts:
            tg = self.config.telegram
            # The transport's participants as they are now (people join and leave).
            names = SpeakerNames(self._client, lambda: self.transport.speakers)
            poster = TranscriptPoster(
                self._client,
                self.chat,
                budget=self._budget,
                names=names if tg.speaker_names else None,
                captions=tg.captions and await captions_allowed(self._client, self.chat),
                monotonic=self._clock.monotonic,
                sleep=self._clock.sleep,
            )
            session.add_listener(poster.on_event)
            self.poster = poster
        session.add_listener(self._on_event)
        session.add_listener(self.tools.on_event)
        await session.start()
        self.session = session

    async def stop(self, *, leave: bool = True) -> None:
        """Leave the voice chat, flush and close the session, post what is pending.
        `leave=False` stays in the call, for a session on another config to take over."""
        session, self.session = self.session, None
        if session is not None:
            await session.stop(release_transport=leave)
            self._usage_before = self.usage(session)
        await self.tools.close()
        poster, self.poster = self.poster, None
        if poster is not None:
            await poster.close()

    def usage(self, session: Session | None = None) -> dict[str, int]:
        """Tokens billed and seconds of audio sent and of call, over every session this
        chat has had (`session`: the live one, if not `self.session`)."""
        totals = dict(self._usage_before)
        session = session or self.session
        if session is not None:
            for name, value in session.counters.items():
                if name in _USAGE or "_tokens" in name:
                    totals[name] = totals.get(name, 0) + value
        return totals

    def _on_event(self, event: Event) -> None:
        # The session says it once per outage (and logs it): the chat hears it once too.
        if isinstance(event, RetriesExhausted):
            task = asyncio.get_running_loop().create_task(self._notify(event.message))
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

    async def _notify(self, text: str) -> None:
        budget = self._budget
        if budget is not None and not await budget.turn_within(self.chat, NOTICE_WAIT_S):
            log.info("not posted in %s (Telegram's limits): %s", self.chat, text)
            return
        try:
            await self._client.send_message(self.chat, text, parse_mode=ParseMode.DISABLED)
        except FloodWait as exc:
            if budget is not None:
                budget.hold(float(exc.value or 1))
        except RPCError as exc:
            log.warning("could not post in %s: %s", self.chat, exc)

    def _ended(self, reason: str) -> None:
        if self._on_ended is not None:
            self._on_ended(self, reason)


_USAGE = frozenset({"call_ms", "uplink_audio_in_ms", "uplink_audio_sent_ms"})


def usage_text(usage: Mapping[str, int] | None) -> str:
    """The `/gemini usage` answer for one chat's `ChatBridge.usage()`."""
    if not usage:
        return "Gemini has not been live in this chat since the bridge started."
    sent_s, call_s = usage.get("uplink_audio_sent_ms", 0) / 1000, usage.get("call_ms", 0) / 1000
    share = f" ({100 * sent_s / call_s:.0f} %)" if call_s else ""

    def tokens(kind: str) -> str:
        modalities = sorted(
            (name.removeprefix(f"{kind}_tokens_"), n)
            for name, n in usage.items()
            if name.startswith(f"{kind}_tokens_")
        )
        detail = ", ".join(f"{modality} {n:,}" for modality, n in modalities)
        return f"{usage.get(f'{kind}_tokens', 0):,}" + (f" ({detail})" if detail else "")

    return (
        "Gemini usage in this chat since the bridge started:\n"
        f"audio sent {sent_s:,.1f} s of {call_s:,.1f} s of call{share}\n"
        f"tokens: prompt {tokens('prompt')}, response {tokens('response')}, "
        f"total {usage.get('total_tokens', 0):,}"
    )


def chats_from_args(values: Iterable[str]) -> list[int | str]:
    """`--chat` values: numeric ids as int, usernames as `@name` (see `parse_chat`)."""
    chats: list[int | str] = []
    for value in values:
        if not value.strip():
            raise ValueError("--chat must not be empty")
        try:
            chats.append(parse_chat(value))
        except ValueError as exc:
            raise ValueError(f"--chat: {exc}") from None
    return chats


async def meet_chat(client: Client, chat: int | str) -> None:
    """Make sure `client` knows numeric `chat`'s access hash, reading the dialogs if needed.

    A client started from a session string has an empty peer cache; pyrogram then asks
    for an unknown channel with access_hash=0, which user accounts commonly get
    PEER_ID_INVALID for, and py-tgcalls turns that into "no voice chat running". The
    account's dialogs carry every chat it is in, with its access hash. Usernames need
    nothing: they resolve over the network. Raises `ChatNotFoundError` for a chat the
    account is not in.
    """
    if isinstance(chat, str):
        return
    try:
        await client.storage.get_peer_by_id(chat)
        return
    except KeyError:
        pass
    try:
        async for dialog in client.get_dialogs():
            if dialog.chat is not None and dialog.chat.id == chat:
                return
    except RPCError as exc:
        raise ChatNotFoundError(
            f"chat {chat!r}: cannot read this account's chats to find it ({exc.ID})"
        ) from None
    raise ChatNotFoundError(
        f"chat {chat!r} not found among this account's chats: check the id, and that this "
        "account is a member (or use the group's @username)"
    )
