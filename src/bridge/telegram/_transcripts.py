"""Transcripts in the group: one message per turn, edited as the text streams in.

The engine publishes cumulative `Transcript` events for the user's words and the
model's reply. `TranscriptPoster.on_event` only records the latest text (it runs on the
event path and must not wait on Telegram); one writer task turns that state into at
most one API call per `min_interval_s` for the chat, coalescing intermediate text, so a
fast-talking model costs a handful of edits, not one per word; an `AccountBudget`
shared by all chats of the account spaces the calls further. Telegram's flood limits
are answered: on `FloodWait` or `SlowmodeWait` the writer sleeps the time asked and
retries, in the background. `close()` flushes what it can within `flush_s` and never
waits out a flood wait beyond that: shutdown is not held up by Telegram. Text is sent
verbatim (no Markdown/HTML).

With `names` (`SpeakerNames`), the user's words are split by speaker ("🗣 Alice: …");
who holds an ssrc is read as each transcript arrives. With `captions`, the turn's
message is posted as soon as the first live caption (interim transcription) arrives and
edited as people speak ("🎙 Alice: …"), through the same rate limits, until the
transcript replaces it; a group in slow mode turns them off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait, MessageNotModified, SlowmodeWait
from pyrogram.errors.rpc_error import RPCError

from .._pacing import Monotonic, Sleep
from ..engine.events import Caption, Event, Spoken, Transcript
from ._budget import AccountBudget
from ._speakers import SpeakerNames

__all__ = ["ChatApi", "TranscriptPoster"]

log = logging.getLogger(__name__)

_MAX_MESSAGE_CHARS = 4096  # Telegram's limit for one text message
_LABELS = {"user": "🗣", "model": "🤖"}
_CAPTION = "🎙"
Said = tuple[str, str]
"""(who, text) of a line: who is a label such as "Alice, Bob", or "" when unknown."""


class _Posted(Protocol):
    @property
    def id(self) -> int: ...


class ChatApi(Protocol):
    """The two calls the poster needs (a `pyrogram.Client` has both)."""

    async def send_message(
        self, chat_id: int | str, text: str, *, parse_mode: ParseMode
    ) -> _Posted | None: ...

    async def edit_message_text(
        self, chat_id: int | str, message_id: int, text: str, *, parse_mode: ParseMode
    ) -> object: ...


@dataclass(slots=True)
class _Turn:
    texts: dict[str, str] = field(default_factory=dict)
    parts: list[tuple[Spoken, tuple[int, ...]]] = field(default_factory=list)
    """Each part of the user's words with the users who held its ssrcs when it arrived."""
    caption: tuple[tuple[int, ...], str] | None = None
    message_id: int | None = None
    written: str = ""
    final: bool = False


def _line(symbol: str, who: str, text: str) -> str:
    return f"{symbol} {who}: {text.strip()}" if who else f"{symbol} {text.strip()}"


def render_turn(
    texts: dict[str, str], parts: Sequence[Said] = (), caption: Said | None = None
) -> str:
    """The message body of one turn: the user's words (by speaker, with `parts`), the
    live caption of what is being said, then the reply."""
    if parts:
        lines = [_line(_LABELS["user"], who, text) for who, text in parts]
    else:
        lines = [_line(_LABELS["user"], "", texts["user"])] if "user" in texts else []
    if caption is not None:
        lines.append(_line(_CAPTION, *caption) + " …")
    if "model" in texts:
        lines.append(_line(_LABELS["model"], "", texts["model"]))
    body = "\n".join(lines)
    if len(body) > _MAX_MESSAGE_CHARS:
        body = body[: _MAX_MESSAGE_CHARS - 1] + "…"
    return body


class TranscriptPoster:
    """Posts each turn's transcript to `chat_id` and keeps it up to date.

    Feed it events with `on_event` (register it with `Session.add_listener`). Call
    `close()` to write what is pending and stop. `budget` is the account's shared
    `AccountBudget` (it must use the same `monotonic`). `monotonic` and `sleep` may be
    replaced together (a virtual clock in tests).
    """

    def __init__(
        self,
        api: ChatApi,
        chat_id: int | str,
        *,
        min_interval_s: float = 1.0,
        max_flood_wait_s: float = 300.0,
        flush_s: float = 1.0,
        budget: AccountBudget | None = None,
        names: SpeakerNames | None = None,
        captions: bool = False,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must not be negative, got {min_interval_s}")
        self._api = api
        self.chat_id = chat_id
        self.min_interval_s = min_interval_s
        self.max_flood_wait_s = max_flood_wait_s
        self.flush_s = flush_s
        self._budget = budget
        self._names = names
        self.captions = captions
        self._flush_by = float("inf")
        self._monotonic = monotonic
        self._sleep = sleep
        self._turns: dict[int, _Turn] = {}
        self._dirty: list[int] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.api_calls = 0
        self.flood_waits = 0

    def on_event(self, event: Event) -> None:
        """Record a transcript update; returns at once (never touches the network)."""
        if isinstance(event, Caption):
            if self.captions and event.text.strip():
                users = self._names.users(event.ssrcs) if self._names is not None else ()
                self._turn(event.turn_id).caption = (users, event.text)
                self._touch(event.turn_id)
            return
        if not isinstance(event, Transcript) or not event.text.strip():
            return
        turn = self._turn(event.turn_id)
        turn.texts[event.role] = event.text
        turn.final = turn.final or (event.final and event.role == "model")
        if event.role == "user":
            turn.caption = None  # transcribed now
            if self._names is not None:
                turn.parts = self._named(turn.parts, event.parts, self._names)
        self._touch(event.turn_id)

    @staticmethod
    def _named(
        known: list[tuple[Spoken, tuple[int, ...]]], parts: Sequence[Spoken], names: SpeakerNames
    ) -> list[tuple[Spoken, tuple[int, ...]]]:
        """`parts` with their speakers; a part already seen keeps who said it then."""
        return [
            (part, known[i][1] if i < len(known) and known[i][0].ssrcs == part.ssrcs
             else names.users(part.ssrcs))
            for i, part in enumerate(parts)
        ]  # fmt: skip

    def _turn(self, turn_id: int) -> _Turn:
        turn = self._turns.get(turn_id)
        if turn is None:
            turn = self._turns[turn_id] = _Turn()
        return turn

    def _touch(self, turn_id: int) -> None:
        if turn_id not in self._dirty:
            self._dirty.append(turn_id)
        self._wake.set()
        if self._task is None and not self._closing:
            self._task = asyncio.get_running_loop().create_task(self._write_loop())

    async def close(self) -> None:
        """Write what is pending within `flush_s`, then stop the writer."""
        self._flush_by = self._monotonic() + self.flush_s
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _write_loop(self) -> None:
        next_call_at = -float("inf")
        while True:
            if not self._dirty:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            ready_at = next_call_at
            if self._budget is not None:
                ready_at = max(ready_at, self._budget.ready_at(self.chat_id))
            delay_s = ready_at - self._monotonic()
            if delay_s > 0 and not self._closing:
                await self._pause(delay_s)
                continue
            turn_id = self._dirty.pop(0)
            turn = self._turns[turn_id]
            text = await self._render(turn)
            if text != turn.written:
                await self._write(turn, text)
                next_call_at = self._monotonic() + self.min_interval_s
            if turn.final and turn_id not in self._dirty:
                del self._turns[turn_id]

    async def _render(self, turn: _Turn) -> str:
        names, caption = self._names, turn.caption if self.captions else None
        if names is None:
            return render_turn(turn.texts, caption=None if caption is None else ("", caption[1]))
        speakers = [user for _, users in turn.parts for user in users]
        await names.resolve([*speakers, *(caption[0] if caption else ())])
        parts: list[Said] = []
        for part, users in turn.parts:
            who = names.label(users)
            if parts and parts[-1][0] == who:  # e.g. the other speaker of a pair has left
                parts[-1] = (who, parts[-1][1] + part.text)
            else:
                parts.append((who, part.text))
        said = None if caption is None else (names.label(caption[0]), caption[1])
        return render_turn(turn.texts, parts, said)

    async def _pause(self, delay_s: float) -> None:
        """Sleep out the rate limit, but let close() cut it short to flush."""
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(delay_s))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    async def _wait_out(self, wait_s: float) -> bool:
        """Sleep out a flood wait; False as soon as it would outlast `close()`'s flush."""
        until_s = self._monotonic() + wait_s
        while (left_s := until_s - self._monotonic()) > 0:
            if self._closing and until_s > self._flush_by:
                return False
            await self._pause(left_s)
        return True

    async def _write(self, turn: _Turn, text: str) -> None:
        for _ in range(5):
            if self._budget is not None:
                # A retry after a flood wait queues behind the other chats too.
                while not self._closing and (
                    (left_s := self._budget.ready_at(self.chat_id) - self._monotonic()) > 0
                ):
                    await self._pause(left_s)
                self._budget.spend(self.chat_id)
            try:
                self.api_calls += 1
                if turn.message_id is None:
                    message = await self._api.send_message(
                        self.chat_id, text, parse_mode=ParseMode.DISABLED
                    )
                    # None only for messages Telegram does not post at once (scheduled).
                    turn.message_id = message.id if message is not None else None
                else:
                    await self._api.edit_message_text(
                        self.chat_id, turn.message_id, text, parse_mode=ParseMode.DISABLED
                    )
                turn.written = text
                return
            except (FloodWait, SlowmodeWait) as exc:
                if isinstance(exc, SlowmodeWait) and self.captions:
                    self.captions = False
                    log.warning("live captions off in %s: the group is in slow mode", self.chat_id)
                self.flood_waits += 1
                wait_s = min(float(exc.value or 1), self.max_flood_wait_s)
                if self._budget is not None:
                    self._budget.hold(wait_s)
                log.warning("Telegram asked to wait %.0f s before posting again", wait_s)
                if not await self._wait_out(wait_s):
                    log.warning("transcripts in %s not posted: shutting down", self.chat_id)
                    self._dirty.clear()
                    return
            except MessageNotModified:
                turn.written = text
                return
            except RPCError as exc:
                log.warning("could not post a transcript: %s", exc)
                return
