"""`/gemini translate` in a (faked-network) Telegram group, through the real runner.

Commands are real pyrogram `Message`s with real `User` and `Chat` objects, matched by the
runner's own handler filter (pyrogram's `filters.command` parses the arguments) and
answered through `Message.reply_text`; only what would reach Telegram is faked
(`FakeCalls`, and `FakeClient`'s network calls). The engine, the transport and the
emulator are real, in virtual time.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient
from conftest import loop_clock
from pyrogram.enums import ChatType
from pyrogram.types import Chat, Message, User

from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine.events import Event, Transcript, TurnEnded
from bridge.telegram import AccessPolicy, TelegramRunner
from bridge.telegram._botname import bot_named

Run = Callable[..., Any]
RATE_HZ = 48_000
FRAME = RATE_HZ // 100
ADMIN, MEMBER = 1, 7
REPLY_INTERVAL_S = 3.0
TRANSLATE_MODEL = "models/gemini-3.5-live-translate-preview"


class GroupClient(FakeClient):
    """The account "Ada" (@ada_bot); replies are recorded with their loop time."""

    def __init__(self) -> None:
        super().__init__()
        self.me = SimpleNamespace(id=777, username="ada_bot", first_name="Ada")
        self.sent: list[tuple[float, int | None, str]] = []
        self._message_ids = 100

    async def send_message(self, chat_id: Any, text: str, **kwargs: Any) -> Any:
        reply_to = kwargs.get("reply_parameters")
        self.sent.append(
            (asyncio.get_running_loop().time(), getattr(reply_to, "message_id", None), text)
        )
        self._message_ids += 1
        return SimpleNamespace(id=self._message_ids)


def command(client: GroupClient, text: str, user_id: int, message_id: int) -> Message:
    return Message(
        client=client,  # type: ignore[arg-type]
        id=message_id,
        chat=Chat(id=CHAT_ID, type=ChatType.SUPERGROUP, title="the group"),
        from_user=User(id=user_id, first_name=f"user {user_id}"),
        text=text,
    )


async def send(runner: TelegramRunner, client: GroupClient, message: Message) -> None:
    """Through the runner's own command handler, as pyrogram's dispatcher would."""
    handler = client.handlers[0]
    assert await handler.check(client, message)  # pyrogram's filters: group + command
    await handler.callback(client, message)
    await runner.drain()


async def speak(calls: FakeCalls, seconds: float, silence_s: float = 0.6) -> int:
    """A 200 Hz voice for `seconds`, then silence, one 10 ms frame per 10 ms; the number
    of frames delivered."""
    loop = asyncio.get_running_loop()
    n_voice = round(seconds * 100)
    n_frames = n_voice + round(silence_s * 100)
    t = np.arange(n_voice * FRAME) / RATE_HZ
    voice = (0.4 * 32767 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)
    start = loop.time()
    for i in range(n_frames):
        pcm = voice[i * FRAME : (i + 1) * FRAME] if i < n_voice else np.zeros(FRAME, np.int16)
        calls.incoming(CHAT_ID, [(1001, pcm.tobytes())])
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.01 - loop.time()))
    await calls.drain()
    return n_frames


def runner_on(
    emu: Emulator, client: GroupClient, calls: FakeCalls, voice_notes: bool = False, **gemini: Any
) -> Any:
    config = BridgeConfig().with_overrides(
        endpoint={"url": emu.url},
        transport={"sample_rate_hz": RATE_HZ, "channels": 1},
        gemini=gemini,
    )
    # The playout and the account's budget on the (virtual) loop clock.
    runner = TelegramRunner(
        client, calls, config, voice_notes=voice_notes, transcripts=False, clock=loop_clock()
    )
    assert runner.budget.per_chat_interval_s == REPLY_INTERVAL_S
    runner.install_handlers()
    return runner


def test_translate_switches_the_chats_session_in_the_call_and_back(run_virtual: Run) -> None:
    async def scenario() -> tuple[GroupClient, FakeCalls, Any, list[Event]]:
        calls, client = FakeCalls(), GroupClient()
        async with Emulator(EmulatorConfig(silence_duration_ms=300, think_time_s=0.0)) as emu:
            runner = runner_on(emu, client, calls)
            await send(runner, client, command(client, "/gemini", ADMIN, 1))
            bridge = runner.bridges[CHAT_ID]
            normal = bridge.session
            await send(runner, client, command(client, "/gemini translate fr", MEMBER, 2))
            assert bridge.session is normal  # refused: not an admin
            await send(runner, client, command(client, "/gemini translate french", ADMIN, 3))
            await send(runner, client, command(client, "/gemini@ada_bot translate fr", ADMIN, 4))
            assert bridge.session is not normal and bridge.session is not None
            events: list[Event] = []
            bridge.session.add_listener(events.append)
            await speak(calls, 0.8)
            await asyncio.sleep(1.5)  # the translated echo plays out
            await send(runner, client, command(client, "/gemini translate off", ADMIN, 5))
            await send(runner, client, command(client, "/gemini translate", ADMIN, 6))
            await runner.stop()
            return client, calls, emu, events

    client, calls, emu, events = run_virtual(scenario())
    replies = {reply_to: text for _, reply_to, text in client.sent}
    assert replies[1].startswith("Gemini is live in the voice chat")
    assert replies[2] == "Only group admins (or allowlisted users) can do that."
    assert replies[3].startswith("Cannot translate: 'french' is not a BCP-47 language code")
    assert replies[4].startswith("Interpreting into fr: ")
    assert replies[5] == "Interpreter off: Gemini is back to answering."
    assert replies[6].startswith("Usage: /gemini translate <language code")
    # Every /gemini translate reply waited for the chat's turn in the account's budget.
    budgeted = sorted(at_s for at_s, reply_to, _ in client.sent if reply_to in (3, 4, 5, 6))
    assert all(b - a >= REPLY_INTERVAL_S for a, b in itertools.pairwise(budgeted))
    # One call joined and left once; three Live sessions, each closed by the bridge.
    assert len(calls.played) == 1 and calls.left == [CHAT_ID]
    models = [record.setup["model"] for record in emu.sessions]
    assert models == ["models/gemini-3.8-live", TRANSLATE_MODEL, "models/gemini-3.8-live"]
    assert [record.close_codes for record in emu.sessions] == [[1000], [1000], [1000]]
    translation = emu.sessions[1].setup["generationConfig"]["translationConfig"]
    assert translation == {"targetLanguageCode": "fr", "echoTargetLanguage": False}
    # What was said while interpreting came back marked as a translation, and was played.
    said = [e.text for e in events if isinstance(e, Transcript) and e.role == "model"]
    assert said and said[-1].startswith("[fr] [echo ")
    (ended,) = [e for e in events if isinstance(e, TurnEnded)]
    assert ended.heard_s > 0.5 and not ended.interrupted


def test_audio_said_during_a_switch_reaches_one_session_or_the_other(run_virtual: Run) -> None:
    async def scenario() -> tuple[int, Any, float]:
        calls, client = FakeCalls(), GroupClient()
        async with Emulator(EmulatorConfig(silence_duration_ms=5000)) as emu:
            runner = runner_on(emu, client, calls)
            await send(runner, client, command(client, "/gemini", ADMIN, 1))
            talking = asyncio.ensure_future(speak(calls, 2.0, silence_s=0.0))
            await asyncio.sleep(1.0)
            loop = asyncio.get_running_loop()
            switch_started_s = loop.time()
            await send(runner, client, command(client, "/gemini translate es", ADMIN, 2))
            switch_s = loop.time() - switch_started_s
            n_frames = await talking
            await asyncio.sleep(0.1)
            await runner.stop()
            return n_frames, emu, switch_s

    n_frames, emu, switch_s = run_virtual(scenario())
    spoken_s = n_frames / 100
    received_s = sum(record.n_uplink_bytes for record in emu.sessions) / 2 / 16_000
    assert [r.setup["model"] for r in emu.sessions] == ["models/gemini-3.8-live", TRANSLATE_MODEL]
    # About a second of the talk each side of the switch.
    assert [round(r.n_uplink_bytes / 2 / 16_000, 1) for r in emu.sessions] == [1.0, 1.0]
    # The old session sent what it held before closing; only what was said while the new
    # one connected (the switch, here on loopback) and the resampler's delay are missing.
    lost_ms = (spoken_s - received_s) * 1e3
    print(f"\nswitch {switch_s * 1e3:.0f} ms (virtual, loopback), uplink lost {lost_ms:.1f} ms")
    assert 0 <= lost_ms <= switch_s * 1e3 + 20


def test_two_switches_at_once_run_one_after_the_other(run_virtual: Run) -> None:
    async def scenario() -> tuple[FakeCalls, Any, Any]:
        calls, client = FakeCalls(), GroupClient()
        async with Emulator() as emu:
            runner = runner_on(emu, client, calls)
            await send(runner, client, command(client, "/gemini", ADMIN, 1))
            handler = client.handlers[0]
            for text, message_id in (("/gemini translate fr", 2), ("/gemini translate de", 3)):
                message = command(client, text, ADMIN, message_id)
                assert await handler.check(client, message)
                await handler.callback(client, message)  # both handed off before either runs
            await runner.drain()
            bridge = runner.bridges[CHAT_ID]
            running = bridge.session is not None and bridge.session.running
            await runner.stop()
            return calls, emu, running

    calls, emu, running = run_virtual(scenario())
    assert running and len(calls.played) == 1
    languages = [
        r.setup["generationConfig"].get("translationConfig", {}).get("targetLanguageCode")
        for r in emu.sessions
    ]
    assert languages == [None, "fr", "de"]
    assert [r.close_codes for r in emu.sessions] == [[1000], [1000], [1000]]


def test_a_switch_the_service_refuses_leaves_the_call_and_says_so(run_virtual: Run) -> None:
    async def scenario() -> tuple[GroupClient, FakeCalls, bool]:
        calls, client = FakeCalls(), GroupClient()
        # This service knows the normal model only: the translate setup is refused (1008).
        async with Emulator(EmulatorConfig(models=("gemini-3.8-live",))) as emu:
            runner = runner_on(emu, client, calls)
            await send(runner, client, command(client, "/gemini", ADMIN, 1))
            await send(runner, client, command(client, "/gemini translate fr", ADMIN, 2))
            running = runner.bridges[CHAT_ID].running
            await runner.stop()
            return client, calls, running

    client, calls, running = run_virtual(scenario())
    replies = {reply_to: text for _, reply_to, text in client.sent}
    assert replies[2] == "Could not switch modes; the error is in the log. Send /gemini to rejoin."
    # Not sitting in the call deaf and mute: it left, once.
    assert not running and calls.left == [CHAT_ID]


def test_translate_where_the_bot_is_not_live_says_so_and_starts_nothing(
    run_virtual: Run,
) -> None:
    async def scenario() -> tuple[GroupClient, FakeCalls, int]:
        calls, client = FakeCalls(), GroupClient()
        async with Emulator() as emu:
            runner = runner_on(emu, client, calls)
            await send(runner, client, command(client, "/gemini translate fr", ADMIN, 1))
            await runner.stop()
            return client, calls, len(emu.sessions)

    client, calls, n_sessions = run_virtual(scenario())
    assert [text for _, _, text in client.sent] == ["Gemini is not live here: send /gemini first."]
    assert n_sessions == 0 and calls.played == []


def test_the_bot_answers_to_the_accounts_first_name_unless_one_is_configured() -> None:
    client = GroupClient()
    addressed = BridgeConfig().with_overrides(gemini={"respond": "when_addressed"})
    assert bot_named(addressed, client).gemini.bot_name == "Ada"  # type: ignore[arg-type]
    named = addressed.with_overrides(gemini={"bot_name": "Gem"})
    assert bot_named(named, client).gemini.bot_name == "Gem"  # type: ignore[arg-type]
    # Answering always: the name is not needed and not set.
    assert bot_named(BridgeConfig(), client).gemini.bot_name == ""  # type: ignore[arg-type]


def test_a_voice_note_is_answered_even_when_the_bot_answers_only_when_addressed(
    run: Run,
) -> None:
    from test_telegram_runner import ogg_question

    async def scenario() -> tuple[GroupClient, Any]:
        calls, client = FakeCalls(), GroupClient()
        async with Emulator(EmulatorConfig(input_transcript="what is this?")) as emu:
            runner = runner_on(emu, client, calls, voice_notes=True, respond="when_addressed")
            runner.access = AccessPolicy([555])
            await client.deliver(client.voice(555, ogg_question()))
            await runner.drain()
            await runner.stop()
            return client, emu.sessions[0].setup

    client, setup = run(scenario(), timeout_s=30)
    ((_, _, kwargs),) = client.voices
    assert kwargs["caption"].startswith("[echo")
    # Sending it addressed the bot: no "answer only when named" instruction came with it.
    assert "Your name is" not in str(setup.get("systemInstruction"))
