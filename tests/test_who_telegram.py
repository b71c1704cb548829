"""Who said what and live captions in the group: names from the voice chat's participants.

Real parts: `ChatBridge`, `GroupCallTransport` with py-tgcalls' dispatch and types, the
engine `Session`, the emulator (transcribing per utterance), `TranscriptPoster`,
`AccountBudget`, pyrogram's `User` and `Chat`. Faked: only Telegram's network
(`FakeCalls`, `FakeClient`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telegram_fakes import BOT_SSRC, CHAT_ID, ME, FakeCalls, FakeClient, participant
from _virtual_clock import VirtualClock
from conftest import loop_clock
from pyrogram import types
from pyrogram.errors import SlowmodeWait
from pytgcalls.types import GroupCallParticipant, UpdatedGroupCallParticipant

from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine.events import Caption, Spoken, Transcript
from bridge.telegram import AccountBudget, TranscriptPoster
from bridge.telegram._chat import ChatBridge
from bridge.telegram._speakers import SpeakerNames
from bridge.transports.audiofile import read_audio
from bridge.transports.tgcalls import GroupCallTransport

DATA = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data"
RATE_HZ = 48_000
FRAME_BYTES = 960
ALICE_SSRC, BOB_SSRC = 1001, 1002
JOINED, LEFT = GroupCallParticipant.Action.JOINED, GroupCallParticipant.Action.LEFT


def users(client: FakeClient) -> None:
    client.users = {
        101: types.User(id=101, first_name="Alice"),
        102: types.User(id=102, first_name="Bob", last_name="Stone"),
        103: types.User(id=103, first_name="Carol"),
    }


async def speak(calls: FakeCalls, lines: dict[int, bytes]) -> None:
    """Every speaker's frames, one batch per 10 ms of loop time, as ntgcalls delivers."""
    loop = asyncio.get_running_loop()
    n_frames = max(len(pcm) for pcm in lines.values()) // FRAME_BYTES
    start = loop.time()
    for i in range(n_frames):
        batch = [
            (ssrc, pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) for ssrc, pcm in lines.items()
        ]
        calls.incoming(CHAT_ID, [(s, p.ljust(FRAME_BYTES, b"\0")) for s, p in batch])
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.01 - loop.time()))


def test_transcripts_in_the_group_name_each_speaker(run_virtual: Any) -> None:
    alice = read_audio(DATA / "alice-en-16k.wav", RATE_HZ, 1)
    bob = read_audio(DATA / "bob-en-16k.wav", RATE_HZ, 1)
    gap = bytes(RATE_HZ * 2)  # 1 s: Alice's turn ends before Bob starts

    async def scenario() -> FakeClient:
        calls, client = FakeCalls(), FakeClient()
        users(client)
        calls.participants = [
            participant(ME, BOT_SSRC - 2**32),
            participant(101, ALICE_SSRC),
            participant(102, BOB_SSRC),
        ]
        emulator_config = EmulatorConfig(piece_pause_ms=200, silence_duration_ms=500, speed=4.0)
        async with Emulator(emulator_config) as emulator:
            config = BridgeConfig().with_overrides(endpoint={"url": emulator.url})
            bridge = ChatBridge(client, calls, CHAT_ID, config, loop_clock())
            await bridge.start()
            silence = bytes(len(alice) + len(gap))
            await speak(calls, {ALICE_SSRC: alice + gap, BOB_SSRC: silence + bob + gap + gap})
            await calls.drain()
            await bridge.stop()
        return client

    client = run_virtual(scenario(), timeout_s=120)
    text = "\n".join(client.messages.values())
    lines = [line for line in text.splitlines() if line.startswith("🗣")]
    assert any(line.startswith("🗣 Alice: [speech") for line in lines), text
    assert any(line.startswith("🗣 Bob Stone: [speech") for line in lines), text
    assert all(line.startswith(("🗣 Alice: ", "🗣 Bob Stone: ")) for line in lines), text
    # Names were looked up once, together, not per message.
    assert len(client.user_lookups) <= 2 and all(
        101 in ids or 102 in ids for ids in client.user_lookups
    )


def test_live_captions_through_the_bridge_show_who_speaks_then_the_transcript(
    run_virtual: Any,
) -> None:
    alice = read_audio(DATA / "alice-en-16k.wav", RATE_HZ, 1)

    async def scenario() -> EditLog:
        loop = asyncio.get_running_loop()
        calls, client = FakeCalls(), EditLog(loop.time)
        users(client)
        calls.participants = [participant(ME, BOT_SSRC - 2**32), participant(101, ALICE_SSRC)]
        emulator_config = EmulatorConfig(piece_pause_ms=200, interim_ms=300, speed=4.0)
        async with Emulator(emulator_config) as emulator:
            config = BridgeConfig().with_overrides(
                endpoint={"url": emulator.url}, telegram={"captions": True}
            )
            budget = AccountBudget(per_chat_interval_s=1.0, monotonic=loop.time)
            bridge = ChatBridge(client, calls, CHAT_ID, config, loop_clock(), budget=budget)
            await bridge.start()
            await speak(calls, {ALICE_SSRC: alice + bytes(2 * RATE_HZ * 2)})
            await calls.drain()
            await bridge.stop()
        return client

    client = run_virtual(scenario(), timeout_s=120)
    times, texts = zip(*client.calls, strict=True)
    # Captions while Alice speaks, in the same message, replaced by her transcript.
    first = next(i for i, text in enumerate(texts) if text.startswith("🗣 Alice: [speech"))
    assert first > 0 and texts[0].startswith("🎙 Alice: [speaking"), texts
    # Edited as she speaks (4.4 s), as often as the account's budget allows on the chat's
    # clock: the loop's, as the bridge's own.
    assert sum("🎙" in text for text in texts) >= 4, texts
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times)), times
    assert len(client.messages) == 1, client.messages
    (final,) = client.messages.values()
    assert final.startswith("🗣 Alice: [speech") and "🎙" not in final, final


def user_piece(turn_id: int, *parts: tuple[tuple[int, ...], str]) -> Transcript:
    spoken = tuple(Spoken(ssrcs, text) for ssrcs, text in parts)
    return Transcript("user", turn_id, "".join(text for _, text in parts), False, spoken)


def test_a_left_ssrc_is_forgotten_and_a_reused_one_gets_the_new_name(run: Any) -> None:
    async def scenario() -> FakeClient:
        calls, client = FakeCalls(), FakeClient()
        users(client)
        calls.participants = [participant(ME, BOT_SSRC - 2**32), participant(101, 11)]
        transport = GroupCallTransport(calls, CHAT_ID)
        await transport.start(lambda ssrc, pcm: None)
        names = SpeakerNames(client, lambda: transport.speakers)
        poster = TranscriptPoster(client, CHAT_ID, min_interval_s=0, names=names)
        poster.on_event(user_piece(0, ((11,), "hello ")))
        await calls.push(UpdatedGroupCallParticipant(CHAT_ID, LEFT, participant(101, 11)))
        # Alice's words stay hers after she left; a piece on her ssrc now has no owner.
        poster.on_event(user_piece(0, ((11,), "hello "), ((), "anyone? ")))
        await calls.push(UpdatedGroupCallParticipant(CHAT_ID, JOINED, participant(103, 11)))
        poster.on_event(user_piece(1, ((11,), "it's Carol")))
        await poster.close()
        await transport.stop()
        return client

    client = run(scenario())
    assert list(client.messages.values()) == ["🗣 Alice: hello\n🗣 anyone?", "🗣 Carol: it's Carol"]


def test_a_name_that_cannot_be_looked_up_is_neutral(run: Any) -> None:
    async def scenario() -> FakeClient:
        client = FakeClient()  # knows no users
        names = SpeakerNames(client, lambda: {5: 555})
        poster = TranscriptPoster(client, CHAT_ID, min_interval_s=0, names=names)
        # ssrc 6 is nobody's (not in the call any more): the two parts read as one.
        poster.on_event(user_piece(0, ((5,), "hi "), ((5, 6), "there")))
        await poster.close()
        return client

    assert list(run(scenario()).messages.values()) == ["🗣 user 555: hi there"]


def caption_poster(
    clock: VirtualClock, client: Any, budget: AccountBudget, *, captions: bool = True
) -> TranscriptPoster:
    names = SpeakerNames(client, lambda: {ALICE_SSRC: 101})
    return TranscriptPoster(
        client,
        CHAT_ID,
        min_interval_s=1.0,
        budget=budget,
        names=names,
        captions=captions,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


class EditLog(FakeClient):
    """Records each message sent or edited with its time on `now`."""

    def __init__(self, now: Callable[[], float]) -> None:
        super().__init__()
        self.now = now
        self.calls: list[tuple[float, str]] = []
        self.slowmode_waits = 0

    async def send_message(self, chat_id: Any, text: str, *, parse_mode: Any = None) -> Any:
        if self.slowmode_waits:
            self.slowmode_waits -= 1
            raise SlowmodeWait(value=1)
        self.calls.append((self.now(), text))
        return await super().send_message(chat_id, text, parse_mode=parse_mode)

    async def edit_message_text(
        self, chat_id: Any, message_id: int, text: str, *, parse_mode: Any = None
    ) -> None:
        self.calls.append((self.now(), text))
        await super().edit_message_text(chat_id, message_id, text, parse_mode=parse_mode)


def test_live_captions_edit_one_message_within_the_accounts_budget(run: Any) -> None:
    async def scenario() -> EditLog:
        clock = VirtualClock()
        client = EditLog(clock.monotonic)
        users(client)
        budget = AccountBudget(per_chat_interval_s=3.0, monotonic=clock.monotonic)
        poster = caption_poster(clock, client, budget)
        words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
        for i in range(100):  # ten seconds of interim transcriptions, ten a second
            caption = " ".join(words[: 1 + i // 10])
            poster.on_event(Caption(0, caption, (ALICE_SSRC,)))
            await clock.advance(0.1)
        poster.on_event(user_piece(0, ((ALICE_SSRC,), " ".join(words))))
        await clock.advance(3.0)
        await poster.close()
        return client

    client = run(scenario())
    times = [at_s for at_s, _ in client.calls]
    # One message, edited no more often than the account's budget allows.
    assert len(client.messages) == 1
    assert all(b - a >= 3.0 - 1e-9 for a, b in itertools.pairwise(times))
    assert 3 <= len(times) <= 5
    assert client.calls[0][1] == "🎙 Alice: the …"
    assert any(text.startswith("🎙 Alice: the quick brown fox") for _, text in client.calls)
    (final,) = client.messages.values()
    assert final == "🗣 Alice: the quick brown fox jumps over the lazy dog"


def test_captions_are_off_by_default(run: Any) -> None:
    async def scenario() -> FakeClient:
        client = FakeClient()
        poster = TranscriptPoster(client, CHAT_ID, min_interval_s=0)
        poster.on_event(Caption(0, "hello", ()))
        poster.on_event(user_piece(1, ((), "done")))
        await poster.close()
        return client

    assert list(run(scenario()).messages.values()) == ["🗣 done"]


@pytest.mark.parametrize(("slow_mode_s", "captions"), [(None, True), (10, False)])
def test_a_group_in_slow_mode_gets_no_captions(
    run_virtual: Any, caplog: pytest.LogCaptureFixture, slow_mode_s: int | None, captions: bool
) -> None:
    async def scenario() -> bool:
        calls, client = FakeCalls(), FakeClient()
        client.slow_mode_delay_s = slow_mode_s
        async with Emulator(EmulatorConfig()) as emulator:
            config = BridgeConfig().with_overrides(
                endpoint={"url": emulator.url}, telegram={"captions": True}
            )
            bridge = ChatBridge(client, calls, CHAT_ID, config, loop_clock())
            await bridge.start()
            assert bridge.poster is not None
            on = bridge.poster.captions
            await bridge.stop()
        return on

    with caplog.at_level(logging.WARNING):
        assert run_virtual(scenario()) is captions
    said = "live captions off in -1001234567890: the group is in slow mode (10 s between messages)"
    assert (said in caplog.text) is not captions


def test_slow_mode_met_while_posting_turns_captions_off(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> TranscriptPoster:
        clock = VirtualClock()
        client = EditLog(clock.monotonic)
        users(client)
        client.slowmode_waits = 1
        poster = caption_poster(clock, client, AccountBudget(monotonic=clock.monotonic))
        poster.on_event(Caption(0, "hel", (ALICE_SSRC,)))
        await clock.advance(5.0)
        poster.on_event(Caption(0, "hello th", (ALICE_SSRC,)))
        poster.on_event(user_piece(0, ((ALICE_SSRC,), "hello there")))
        await clock.advance(5.0)
        await poster.close()
        assert list(client.messages.values()) == ["🗣 Alice: hello there"]
        return poster

    with caplog.at_level(logging.WARNING):
        assert run(scenario()).captions is False
    assert "live captions off in -1001234567890: the group is in slow mode" in caplog.text
