"""The chat layer: transcripts, access control, credentials, session files."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _telegram_fakes import session_string
from _virtual_clock import VirtualClock
from pyrogram.enums import ChatMemberStatus, ParseMode
from pyrogram.errors import FloodWait, MessageNotModified, SlowmodeWait

from bridge import Secret
from bridge.engine.events import Transcript, TurnStarted
from bridge.telegram import (
    AccessPolicy,
    AccountBudget,
    CredentialsError,
    TelegramCredentials,
    TranscriptPoster,
    render_turn,
)
from bridge.telegram._login import save_session_string

CHAT = -1001
SESSION = session_string()


class FakeChat:
    """Records messages like Telegram would show them, with the virtual time of each call;
    can answer with FloodWait."""

    def __init__(
        self,
        clock: VirtualClock | None = None,
        flood_waits: int = 0,
        flood_s: int = 1,
        error: type[FloodWait | SlowmodeWait] = FloodWait,
        chat_id: int = CHAT,
    ):
        self.clock = clock or VirtualClock()
        self.error = error
        self.chat_id = chat_id
        self.messages: dict[int, str] = {}
        self.calls: list[tuple[float, str, int, str]] = []
        self.flood_waits = flood_waits
        self.flood_s = flood_s
        self._next_id = 1

    def _maybe_flood(self) -> None:
        if self.flood_waits:
            self.flood_waits -= 1
            raise self.error(value=self.flood_s)

    async def send_message(self, chat_id: int, text: str, *, parse_mode: Any) -> Any:
        assert chat_id == self.chat_id and parse_mode is ParseMode.DISABLED
        self._maybe_flood()
        message_id, self._next_id = self._next_id, self._next_id + 1
        self.messages[message_id] = text
        self.calls.append((self.clock.now_s, "send", message_id, text))
        return SimpleNamespace(id=message_id)

    async def edit_message_text(
        self, chat_id: int, message_id: int, text: str, *, parse_mode: Any
    ) -> Any:
        self._maybe_flood()
        if self.messages[message_id] == text:
            raise MessageNotModified()
        self.messages[message_id] = text
        self.calls.append((self.clock.now_s, "edit", message_id, text))


def words(role: str, turn_id: int, text: str, final: bool = False) -> Transcript:
    return Transcript(role=role, turn_id=turn_id, text=text, final=final)  # type: ignore[arg-type]


def poster_on(chat: FakeChat, clock: VirtualClock, min_interval_s: float) -> TranscriptPoster:
    return TranscriptPoster(
        chat, CHAT, min_interval_s=min_interval_s, monotonic=clock.monotonic, sleep=clock.sleep
    )


def test_one_message_per_turn_edited_as_text_streams_in(run: Any) -> None:
    async def scenario() -> FakeChat:
        clock = VirtualClock()
        chat = FakeChat(clock)
        poster = poster_on(chat, clock, min_interval_s=0.05)
        poster.on_event(TurnStarted(turn_id=0))  # other events are ignored
        poster.on_event(words("user", 0, "what's the"))
        poster.on_event(words("user", 0, "what's the weather?", final=True))
        await clock.advance(0.1)
        for text in ("It", "It is", "It is sunny", "It is sunny *today*"):
            poster.on_event(words("model", 0, text))
            await clock.advance(0.02)
        poster.on_event(words("model", 0, "It is sunny *today*.", final=True))
        poster.on_event(words("user", 1, "thanks"))
        await poster.close()
        return chat

    chat = run(scenario())
    assert chat.messages == {
        1: "🗣 what's the weather?\n🤖 It is sunny *today*.",
        2: "🗣 thanks",
    }
    calls = [
        (round(at_s, 6), kind, message_id, text) for at_s, kind, message_id, text in chat.calls
    ]
    # Streaming text is coalesced (the two user updates, and "It is" and "*today*" are
    # never posted on their own); close() flushes the final text without waiting.
    assert calls == [
        (0.0, "send", 1, "🗣 what's the weather?"),
        (0.1, "edit", 1, "🗣 what's the weather?\n🤖 It"),
        (0.15, "edit", 1, "🗣 what's the weather?\n🤖 It is sunny"),
        (0.18, "edit", 1, "🗣 what's the weather?\n🤖 It is sunny *today*."),
        (0.18, "send", 2, "🗣 thanks"),
    ]


def test_rate_limit_spaces_api_calls(run: Any) -> None:
    async def scenario() -> FakeChat:
        clock = VirtualClock()
        chat = FakeChat(clock)
        poster = poster_on(chat, clock, min_interval_s=0.25)
        text = ""
        for i in range(32):
            text += f" w{i}"
            poster.on_event(words("model", 0, text))
            await clock.advance(1 / 32)  # binary fractions: the sums are exact
        await clock.advance(0.5)
        await poster.close()
        return chat

    chat = run(scenario())
    assert chat.messages[1].endswith("w31")
    # 32 updates over 1 s at one call per 0.25 s at most: five calls, each posting the
    # newest text at its time (an update due at the same instant comes after the call).
    assert [at_s for at_s, _, _, _ in chat.calls] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [text.split()[-1] for _, _, _, text in chat.calls] == ["w0", "w7", "w15", "w23", "w31"]


def test_flood_wait_is_waited_out_and_nothing_is_lost(run: Any) -> None:
    async def scenario() -> tuple[FakeChat, TranscriptPoster]:
        clock = VirtualClock()
        chat = FakeChat(clock, flood_waits=2, flood_s=3)
        poster = poster_on(chat, clock, min_interval_s=0)
        poster.on_event(words("user", 0, "hello", final=True))
        poster.on_event(words("model", 0, "hi there", final=True))
        await clock.advance(10)
        await poster.close()
        return chat, poster

    chat, poster = run(scenario())
    assert poster.flood_waits == 2
    assert chat.messages == {1: "🗣 hello\n🤖 hi there"}
    # Telegram asked for 3 s twice: the one call that succeeded came 6 s later.
    assert chat.calls == [(6.0, "send", 1, "🗣 hello\n🤖 hi there")]


@pytest.mark.parametrize(
    ("error", "wait_s", "posted_at_s"),
    [(FloodWait, 3600, 30.0), (SlowmodeWait, 10, 10.0)],  # capped at 30 s; slowmode too
)
def test_flood_and_slowmode_waits_are_waited_out_up_to_max_flood_wait_s(
    run: Any, error: type[FloodWait | SlowmodeWait], wait_s: int, posted_at_s: float
) -> None:
    async def scenario() -> FakeChat:
        clock = VirtualClock()
        chat = FakeChat(clock, flood_waits=1, flood_s=wait_s, error=error)
        poster = TranscriptPoster(
            chat, CHAT, max_flood_wait_s=30, monotonic=clock.monotonic, sleep=clock.sleep
        )
        poster.on_event(words("model", 0, "hi", final=True))
        await clock.advance(60)
        await poster.close()
        return chat

    assert run(scenario()).calls == [(posted_at_s, "send", 1, "🤖 hi")]


def test_shutdown_never_waits_out_a_flood_wait(run: Any) -> None:
    async def scenario() -> tuple[FakeChat, float]:
        clock = VirtualClock()
        chat = FakeChat(clock, flood_waits=1, flood_s=300)
        poster = poster_on(chat, clock, min_interval_s=0)
        poster.on_event(words("model", 0, "hi", final=True))
        await clock.advance(1)  # the writer is now sleeping out the 300 s
        # Time stands still from here: close() must return without Telegram's 300 s.
        await poster.close()
        return chat, clock.now_s

    chat, closed_at_s = run(scenario(), timeout_s=5)
    assert chat.calls == [] and closed_at_s == 1.0


def test_chats_of_one_account_share_one_budget_and_one_flood_wait(run: Any) -> None:
    async def scenario() -> list[float]:
        clock = VirtualClock()
        budget = AccountBudget(
            per_chat_interval_s=3, account_interval_s=0.5, monotonic=clock.monotonic
        )
        chats = [FakeChat(clock, flood_waits=int(i == 0), flood_s=20, chat_id=-i) for i in range(8)]
        posters = [
            TranscriptPoster(
                chat, chat.chat_id, min_interval_s=0, budget=budget,
                monotonic=clock.monotonic, sleep=clock.sleep,
            )
            for chat in chats
        ]  # fmt: skip
        text = ""
        for step in range(60):  # 30 s of a reply streaming into eight chats at once
            text += f" w{step}"
            for poster in posters:
                poster.on_event(words("model", 0, text))
            await clock.advance(0.5)
        times_s = sorted(at_s for chat in chats for at_s, _, _, _ in chat.calls)
        for poster in posters:
            await poster.close()
        return times_s

    times_s = run(scenario())
    # The first call met a 20 s FloodWait: every chat held back, not just that one.
    assert times_s and min(times_s) >= 20
    # Over the account: never two calls closer than 0.5 s; 8 chats share 2 calls a second.
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(times_s))
    assert len(times_s) >= 15


def test_long_transcripts_are_cut_to_telegrams_limit() -> None:
    body = render_turn({"model": "x" * 5000})
    assert len(body) == 4096 and body.endswith("…")


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval_s must not be negative"):
        TranscriptPoster(FakeChat(), CHAT, min_interval_s=-1)


class FakeMembers:
    def __init__(self, statuses: dict[int, ChatMemberStatus]) -> None:
        self.statuses = statuses

    async def get_chat_member(self, chat_id: int, user_id: int) -> Any:
        return SimpleNamespace(status=self.statuses.get(user_id, ChatMemberStatus.MEMBER))


def message_from(user_id: int, username: str | None = None) -> Any:
    return SimpleNamespace(
        from_user=SimpleNamespace(id=user_id, username=username), chat=SimpleNamespace(id=CHAT)
    )


def test_admins_and_allowlisted_users_may_control_the_bridge(run: Any) -> None:
    members = FakeMembers({1: ChatMemberStatus.OWNER, 2: ChatMemberStatus.ADMINISTRATOR})
    policy = AccessPolicy(["@Alice", "42"])

    async def check(user_id: int, username: str | None = None) -> bool:
        return await policy.allows(members, message_from(user_id, username))

    assert run(check(1)) and run(check(2))
    assert run(check(42)) and run(check(7, "alice"))
    assert not run(check(3)) and not run(check(7, "bob"))
    only_list = AccessPolicy([42], admins=False)
    assert not run(only_list.allows(members, message_from(1)))
    assert not run(only_list.allows(members, SimpleNamespace(from_user=None, chat=None)))


def test_bad_allowlist_entries_are_named() -> None:
    with pytest.raises(ValueError, match="allowlist entry '@' is neither"):
        AccessPolicy(["@"])


def test_credentials_come_from_the_environment_and_never_show() -> None:
    creds = TelegramCredentials.from_env(
        {"TG_API_ID": "12345", "TG_API_HASH": "0123456789abcdef", "TG_SESSION": SESSION}
    )
    assert creds.api_id == 12345
    shown = f"{creds} {creds!r} {creds.api_hash} {creds.session_string}"
    assert "0123456789abcdef" not in shown and SESSION not in shown
    assert creds.session_string is not None and creds.session_string.reveal() == SESSION


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing TG_API_ID and TG_API_HASH"),
        ({"TG_API_ID": "1"}, "missing TG_API_HASH"),
        ({"TG_API_ID": "abc", "TG_API_HASH": "h"}, "TG_API_ID must be a number"),
        ({"TG_API_ID": "1", "TG_API_HASH": "h"}, "missing TG_SESSION"),
        (
            {"TG_API_ID": "1", "TG_API_HASH": "h", "TG_SESSION_FILE": "/nonexistent/s"},
            "TG_SESSION_FILE '/nonexistent/s' cannot be read",
        ),
    ],
)
def test_missing_credentials_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        TelegramCredentials.from_env(env)


def test_session_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "tg.session"
    save_session_string(Secret(SESSION), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == SESSION + "\n"
    creds = TelegramCredentials.from_env(
        {"TG_API_ID": "1", "TG_API_HASH": "h", "TG_SESSION_FILE": str(path)}
    )
    assert creds.session_string == Secret(SESSION)
    with pytest.raises(FileExistsError, match="already exists"):
        save_session_string(Secret("other"), path)
    assert path.read_text() == SESSION + "\n"
