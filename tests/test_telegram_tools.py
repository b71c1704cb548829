"""The Telegram tools: `list_participants`, `post_message`, and the chat notices of tool calls.

Real parts: pyrogram's `User`, `Chat`, `Message`, `ChatMember` and errors, py-tgcalls'
`GroupCallParticipant`, the `GroupCallTransport` joined through `FakeCalls`, the
`AccessPolicy`, the `AccountBudget`, the `ToolRegistry` the model's calls go through.
Faked: only Telegram's network (`FakeCalls`, and a `FakeClient` answering with real types).
Time is virtual (`run_virtual`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from _telegram_fakes import BOT_SSRC, CHAT_ID, ME, FakeCalls, FakeClient
from conftest import loop_clock
from pyrogram.enums import ChatMemberStatus, ChatType, ParseMode
from pyrogram.errors import FloodWait
from pyrogram.types import Chat, ChatMember, Message, User
from pytgcalls.types import GroupCallParticipant

from bridge.config import BridgeConfig
from bridge.emulator import Emulator
from bridge.engine.events import ToolActivity
from bridge.telegram import AccessPolicy, AccountBudget, TelegramRunner
from bridge.telegram._tools import BUDGET_WAIT_S, MAX_CHECKED, MAX_LISTED, ChatTools
from bridge.tools import ToolRegistry, builtin_tools
from bridge.transports.tgcalls import GroupCallTransport

Run = Callable[..., Any]
ALICE = User(id=1, first_name="Alice", last_name="Admin", username="alice")
BOB = User(id=2, first_name="Bob")
CAROL = User(id=3, username="carol")  # no name, only a username
ADMINS = {ALICE.id}


def in_call(user_id: int, ssrc: int, *, muted: bool = False) -> GroupCallParticipant:
    return GroupCallParticipant(
        user_id, muted, False, False, False, False, False, 100, ssrc, None, None
    )


class TelegramAccount(FakeClient):
    """The chat side of the account, answering with pyrogram's own types."""

    def __init__(self, users: list[User], flood_s: int = 0) -> None:
        super().__init__()
        self.me = User(id=ME, first_name="Bridge", is_self=True)
        self.users = {user.id: user for user in users}
        self.posted: list[tuple[float, int | str, str, ParseMode | None]] = []
        self.flood_s = flood_s

    async def get_users(self, user_ids: list[int]) -> list[User]:
        return [self.users[i] for i in user_ids if i in self.users]

    async def get_chat_member(self, chat_id: int, user_id: int) -> ChatMember:
        admin = user_id in ADMINS
        status = ChatMemberStatus.ADMINISTRATOR if admin else ChatMemberStatus.MEMBER
        return ChatMember(status=status, user=self.users.get(user_id))

    async def send_message(
        self, chat_id: int | str, text: str, *, parse_mode: ParseMode | None = None
    ) -> Message:
        if self.flood_s:
            raise FloodWait(value=self.flood_s)
        self.posted.append((asyncio.get_running_loop().time(), chat_id, text, parse_mode))
        chat = Chat(id=CHAT_ID, type=ChatType.SUPERGROUP)
        return Message(id=len(self.posted), chat=chat, text=text)


async def chat_tools(
    participants: list[GroupCallParticipant],
    *,
    users: tuple[User, ...] = (ALICE, BOB, CAROL),
    access: AccessPolicy | None = None,
    budget: AccountBudget | None = None,
    flood_s: int = 0,
    **settings: Any,
) -> tuple[ChatTools, TelegramAccount, ToolRegistry]:
    """The tools of a bridge that has joined CHAT_ID's voice chat, in a registry."""
    calls = FakeCalls()
    calls.participants = [in_call(ME, BOT_SSRC - 2**32), *participants]
    account = TelegramAccount(list(users), flood_s)
    transport = GroupCallTransport(calls, CHAT_ID)
    await transport.start(lambda ssrc, pcm: None)
    config = BridgeConfig().with_overrides(tools=settings).tools
    loop = asyncio.get_running_loop()
    tools = ChatTools(
        account,  # type: ignore[arg-type]
        calls,
        transport,
        config,
        access=access,
        budget=budget or AccountBudget(monotonic=loop.time),
        monotonic=loop.time,
    )
    registry = ToolRegistry()
    tools.register(registry)
    return tools, account, registry


def test_list_participants_names_everyone_but_the_bridge(run_virtual: Run) -> None:
    async def scenario() -> dict[str, Any]:
        people = [in_call(2, 11, muted=True), in_call(3, 12), in_call(1, 13), in_call(-1007, 14)]
        _, _, registry = await chat_tools(people)
        return await registry.call("list_participants", {})

    assert run_virtual(scenario()) == {
        "count": 4,
        "participants": [  # microphones on first, then by name
            {"name": "@carol", "microphone": "on"},
            {"name": "a channel (-1007)", "microphone": "on"},
            {"name": "Alice Admin", "microphone": "on"},
            {"name": "Bob", "microphone": "off"},
        ],
    }


def test_a_large_call_is_listed_in_part_and_counted(run_virtual: Run) -> None:
    async def scenario() -> dict[str, Any]:
        users = tuple(User(id=100 + i, first_name=f"P{i:03d}") for i in range(MAX_LISTED + 7))
        people = [in_call(user.id, 1000 + user.id) for user in users]
        _, _, registry = await chat_tools(people, users=users)
        return await registry.call("list_participants", {})

    result = run_virtual(scenario())
    assert result["count"] == MAX_LISTED + 7 and result["not_listed"] == 7
    assert len(result["participants"]) == MAX_LISTED


def test_a_post_goes_out_labelled_plain_and_mentioning_nobody(run_virtual: Run) -> None:
    async def scenario() -> tuple[dict[str, Any], TelegramAccount]:
        # Alice (an admin) speaks; Bob is muted, so he cannot have asked.
        _, account, registry = await chat_tools([in_call(1, 11), in_call(2, 12, muted=True)])
        text = "/stop the notes: https://example.org/x @everyone @alice"
        return await registry.call("post_message", {"text": text}), account

    result, account = run_virtual(scenario())
    assert result == {"posted": True, "message_id": 1}
    ((_, chat, text, parse_mode),) = account.posted
    assert chat == CHAT_ID and parse_mode is ParseMode.DISABLED
    assert text == "🤖 /stop the notes: https://example.org/x @\u2060everyone @\u2060alice"


@pytest.mark.parametrize(
    ("people", "access", "allowed"),
    [
        ([in_call(1, 11), in_call(2, 12)], None, False),  # Bob, not allowed, speaks too
        ([in_call(1, 11), in_call(2, 12)], AccessPolicy([2]), True),  # Bob is allowlisted
        ([in_call(1, 11), in_call(2, 12)], AccessPolicy(["@bob"], admins=False), False),
        ([in_call(2, 12)], AccessPolicy(["@carol"]), False),
        ([in_call(1, 11), in_call(-1007, 13)], None, False),  # a channel cannot be checked
        ([in_call(1, 11), in_call(CHAT_ID, 13)], None, True),  # the group: an anonymous admin
        ([in_call(1, 11, muted=True)], None, False),  # nobody can have asked
    ],
)
def test_posting_needs_everyone_with_a_microphone_on_to_be_allowed(
    run_virtual: Run,
    people: list[GroupCallParticipant],
    access: AccessPolicy | None,
    allowed: bool,
) -> None:
    async def scenario() -> tuple[dict[str, Any], TelegramAccount]:
        _, account, registry = await chat_tools(people, access=access)
        return await registry.call("post_message", {"text": "hello"}), account

    result, account = run_virtual(scenario())
    assert bool(account.posted) is allowed
    if not allowed:
        assert result["error"].startswith("post_message failed: PermissionError: ")
        if len(people) > 1 and not people[1].muted:
            assert "Bob" in result["error"] or "channel" in result["error"]


def test_a_crowd_of_open_microphones_is_refused_without_checking_each(run_virtual: Run) -> None:
    async def scenario() -> tuple[dict[str, Any], TelegramAccount]:
        users = tuple(User(id=100 + i, first_name=f"P{i}") for i in range(MAX_CHECKED + 1))
        people = [in_call(user.id, 1000 + user.id) for user in users]
        _, account, registry = await chat_tools(people, users=users, access=AccessPolicy(["@x"]))
        return await registry.call("post_message", {"text": "hello"}), account

    result, account = run_virtual(scenario())
    assert f"{MAX_CHECKED + 1} microphones are on" in result["error"] and not account.posted


def test_the_refusal_names_who_is_not_allowed(run_virtual: Run) -> None:
    async def scenario() -> dict[str, Any]:
        _, _, registry = await chat_tools([in_call(1, 11), in_call(2, 12), in_call(3, 13)])
        return await registry.call("post_message", {"text": "hello"})

    error = run_virtual(scenario())["error"]
    assert "not allowed while Bob, @carol have a microphone on" in error


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("   ", "text is empty"), ("x" * 41, "text has 41 characters; the limit is 40")],
)
def test_empty_or_long_posts_are_refused(run_virtual: Run, text: str, fragment: str) -> None:
    async def scenario() -> tuple[dict[str, Any], TelegramAccount]:
        _, account, registry = await chat_tools([in_call(1, 11)], post_max_chars=40)
        return await registry.call("post_message", {"text": text}), account

    result, account = run_virtual(scenario())
    assert fragment in result["error"] and not account.posted


def test_posts_are_spaced_per_chat(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], TelegramAccount]:
        _, account, registry = await chat_tools([in_call(1, 11)], post_interval_s=30.0)
        results = [await registry.call("post_message", {"text": "one"})]
        await asyncio.sleep(10.0)
        results.append(await registry.call("post_message", {"text": "two"}))
        await asyncio.sleep(20.0)
        results.append(await registry.call("post_message", {"text": "three"}))
        return results, account

    results, account = run_virtual(scenario())
    assert "one post per 30 s in this chat; try again in 20 s" in results[1]["error"]
    assert [text for _, _, text, _ in account.posted] == ["🤖 one", "🤖 three"]


def test_a_post_waits_its_turn_in_the_account_budget_or_is_refused(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], TelegramAccount, float, float]:
        loop = asyncio.get_running_loop()
        budget = AccountBudget(per_chat_interval_s=3.0, monotonic=loop.time)
        _, account, registry = await chat_tools(
            [in_call(1, 11)], budget=budget, post_interval_s=0.0
        )
        budget.spend(CHAT_ID)  # a transcript edit just went out in this chat
        start_s = loop.time()
        results = [await registry.call("post_message", {"text": "waited"})]
        next_transcript_s = budget.ready_at(CHAT_ID)  # the post spent the chat's turn
        budget.hold(BUDGET_WAIT_S + 10.0)  # a FloodWait seen by another chat of the account
        results.append(await registry.call("post_message", {"text": "refused"}))
        return results, account, start_s, next_transcript_s

    results, account, start_s, next_transcript_s = run_virtual(scenario())
    ((posted_s, _, text, _),) = account.posted
    assert text == "🤖 waited" and posted_s == pytest.approx(start_s + 3.0)
    assert next_transcript_s == pytest.approx(posted_s + 3.0)
    assert "Telegram rate limit: try again in 15 s" in results[1]["error"]


def test_a_flood_wait_holds_every_chat_of_the_account(run_virtual: Run) -> None:
    async def scenario() -> tuple[dict[str, Any], float]:
        loop = asyncio.get_running_loop()
        budget = AccountBudget(monotonic=loop.time)
        _, _, registry = await chat_tools([in_call(1, 11)], budget=budget, flood_s=42)
        result = await registry.call("post_message", {"text": "hello"})
        return result, budget.ready_at(-100999) - loop.time()

    result, other_chat_wait_s = run_virtual(scenario())
    assert "Telegram asked to wait 42 s before posting" in result["error"]
    assert other_chat_wait_s == pytest.approx(42.0)


@pytest.mark.parametrize("post_results", [False, True])
def test_slow_calls_and_results_are_posted_as_notices(run_virtual: Run, post_results: bool) -> None:
    async def scenario() -> TelegramAccount:
        tools, account, _ = await chat_tools([in_call(1, 11)], post_results=post_results)
        tools.on_event(ToolActivity("c1", "lookup", "started"))
        tools.on_event(ToolActivity("c1", "lookup", "slow", "running for 4 s"))
        tools.on_event(ToolActivity("c1", "lookup", "finished", '{"who":"@alice"}'))
        await asyncio.sleep(5.0)
        await tools.close()
        return account

    posted = [text for _, _, text, _ in run_virtual(scenario()).posted]
    notices = ["⏳ lookup is taking a while…"]
    if post_results:
        notices.append('🔧 lookup: {"who":"@\u2060alice"}')
    assert posted == notices


def test_the_telegram_tools_are_declared_only_in_telegram_chats(run_virtual: Run) -> None:
    async def scenario() -> dict[str, Any]:
        calls, client = FakeCalls(), TelegramAccount([ALICE])
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(
                endpoint={"url": emulator.url},
                tools={"behavior": ("list_participants=NON_BLOCKING",), "disabled": ("calculate",)},
            )
            runner = TelegramRunner(
                client,  # type: ignore[arg-type]
                calls,
                config,
                voice_notes=False,
                clock=loop_clock(),
            )
            await runner.go_live(CHAT_ID)
            await runner.stop()
            return emulator.sessions[0].setup

    setup = run_virtual(scenario())
    declared = {d["name"]: d.get("behavior") for d in setup["tools"][0]["functionDeclarations"]}
    assert declared == {
        "current_time": "BLOCKING",
        "list_participants": "NON_BLOCKING",  # the configured override
        "post_message": "NON_BLOCKING",
    }
    assert {tool.name for tool in builtin_tools()} == {"current_time", "calculate"}  # demo


def test_a_live_chats_posts_are_spaced_on_the_accounts_clock(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], TelegramAccount]:
        calls, client = FakeCalls(), TelegramAccount([ALICE])
        calls.participants = [in_call(ME, BOT_SSRC - 2**32), in_call(ALICE.id, 11)]
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(
                endpoint={"url": emulator.url}, tools={"post_interval_s": 30.0}
            )
            runner = TelegramRunner(
                client,  # type: ignore[arg-type]
                calls,
                config,
                voice_notes=False,
                transcripts=False,
                clock=loop_clock(),
            )
            tools = (await runner.go_live(CHAT_ID)).tools
            results: list[dict[str, Any]] = [await tools.post_message("one")]
            await asyncio.sleep(10.0)
            try:
                await tools.post_message("two")
            except PermissionError as exc:
                results.append({"error": str(exc)})
            await runner.stop()
            return results, client

    results, client = run_virtual(scenario())
    # Ten seconds of the call later, as the runner's clock counts them.
    assert results[0]["posted"] and "try again in 20 s" in results[1]["error"]
    assert [text for _, _, text, _ in client.posted] == ["🤖 one"]
