"""The bridge in a (faked-network) Telegram voice chat, end to end through the engine.

Real parts: `TelegramRunner`, `GroupCallTransport`, the engine `Session` with its playout
clock and mixer, `bridge.client`, and the local emulator speaking the Gemini wire
format. Faked: only what would reach Telegram (`FakeCalls` and `FakeClient` from
`_telegram_fakes`). Commands and voice notes arrive through the handlers the runner
installs on the client, as pyrogram would deliver them.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import time
from typing import Any

import numpy as np
import pytest
import soundfile
from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient, session_string
from conftest import loop_clock, stall

from bridge import Secret
from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine.events import TurnEnded
from bridge.telegram import AccessPolicy, TelegramRunner, VoiceNoteReply

RATE_HZ = 48_000
FRAME = RATE_HZ // 100


def sine(freq_hz: float, n_samples: int, amplitude: float, start: int = 0) -> np.ndarray:
    t = (np.arange(n_samples) + start) / RATE_HZ
    return (amplitude * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


async def speak(calls: FakeCalls, speakers: dict[int, np.ndarray], stall_at: int = -1) -> None:
    """Deliver each speaker's audio as ntgcalls would: a batch per 10 ms, paced."""
    loop = asyncio.get_running_loop()
    n_frames = max(len(a) for a in speakers.values()) // FRAME
    start = loop.time()
    for i in range(n_frames):
        batch = [(ssrc, a[i * FRAME : (i + 1) * FRAME].tobytes()) for ssrc, a in speakers.items()]
        for ssrc, pcm in batch:
            calls.incoming(CHAT_ID, [(ssrc, pcm)])
        if i == stall_at:
            stall(0.15)  # the whole event loop stalls (GC pause, blocking call)
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.01 - loop.time()))


API_KEY = "gemini-test-key-not-real-0123456789"


def config_for(emulator: Emulator) -> BridgeConfig:
    return BridgeConfig().with_overrides(
        endpoint={"url": emulator.url, "api_key": Secret(API_KEY)},
        transport={"sample_rate_hz": RATE_HZ, "channels": 1},
    )


def assert_never_a_burst(sent_at_s: list[float]) -> None:
    """At most 7 frames in any 50 ms: Telegram plays a burst at once, so it is heard late."""
    sent_at = np.array(sent_at_s)
    for at_s in sent_at:
        in_window = np.count_nonzero((sent_at >= at_s) & (sent_at < at_s + 0.05))
        assert in_window <= 7, f"{in_window} frames sent within 50 ms"


@pytest.mark.realtime
def test_the_runners_own_clock_paces_the_call_on_the_real_clock_after_a_stall(
    run: Any,
) -> None:
    # The one real-time test of the runner: its default clock (as in production, on
    # time.monotonic under uvloop) against a real blocked loop. The scenarios below run
    # the same path on the loop's virtual clock.
    async def scenario() -> tuple[FakeCalls, int, int]:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator() as emulator:
            runner = TelegramRunner(
                client, calls, config_for(emulator), voice_notes=False, transcripts=False
            )
            await runner.go_live(CHAT_ID)
            await asyncio.sleep(0.1)
            before = len(calls.sent)
            time.sleep(0.15)  # the whole event loop stalls (GC pause, blocking call)
            await asyncio.sleep(0.15)
            await runner.stop()
            return calls, before, runner.clock.missed_ticks

    calls, before, missed = run(scenario(), timeout_s=30)
    assert before >= 5 and len(calls.sent) >= before + 5  # silence, and on after the stall
    assert all(len(frame) == 960 for frame in calls.sent)
    assert_never_a_burst(calls.sent_at_s)
    assert missed >= 10  # the deadlines the stall took were skipped, not caught up


def test_a_question_in_the_voice_chat_is_answered_paced_and_transcribed(
    run_virtual: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> tuple[FakeCalls, FakeClient, Any, int]:
        calls, client = FakeCalls(monotonic=asyncio.get_running_loop().time), FakeClient()
        async with Emulator(EmulatorConfig(input_transcript="hello gemini")) as emulator:
            runner = TelegramRunner(
                client, calls, config_for(emulator), voice_notes=False, clock=loop_clock()
            )
            bridge = await runner.go_live(CHAT_ID)
            assert bridge.session is not None
            played_out = asyncio.Event()
            bridge.session.add_listener(
                lambda event: played_out.set() if isinstance(event, TurnEnded) else None
            )
            question = np.concatenate(
                [sine(200, RATE_HZ * 6 // 10, 0.5), np.zeros(RATE_HZ, np.int16)]
            )
            await speak(calls, {1001: question}, stall_at=20)
            await calls.drain()
            await played_out.wait()
            await runner.stop()
            return calls, client, emulator.sessions[0], runner.clock.missed_ticks

    calls, client, record, missed = run_virtual(scenario(), timeout_s=30)
    # Uplink: the speaker's audio reached Gemini at 16 kHz.
    assert len(record.uplink_audio) >= 16_000 * 2 * 1.2
    # Downlink: exactly one 10 ms frame per send, and the echoed 200 Hz reply is in it.
    assert calls.sent and all(len(frame) == 960 for frame in calls.sent)
    played = np.frombuffer(b"".join(calls.sent), "<i2")
    assert np.abs(played).max() > 5000
    loud = played[np.abs(played) > 1000]
    assert len(loud) > RATE_HZ // 4
    spectrum = np.abs(np.fft.rfft(played.astype(np.float64)))
    assert abs(np.argmax(spectrum) * RATE_HZ / len(played) - 200) < 5
    # Pacing: never a burst, even right after the loop stalled for 150 ms: the deadlines
    # it took are skipped (the tick already due goes out with the next), then one frame
    # per 10 ms again.
    assert_never_a_burst(calls.sent_at_s)
    gaps_s = np.diff(calls.sent_at_s)
    assert np.count_nonzero(np.abs(gaps_s - 0.01) > 1e-6) <= 2 and gaps_s.max() >= 0.15
    assert missed >= 13
    # The turn was posted as one message, and the call was left.
    (message,) = client.messages.values()
    assert message.startswith("🗣 Dana: hello gemini\n🤖 [echo 0.6")
    assert calls.left == [CHAT_ID]
    # The Gemini key went to the server in a header, and nowhere else.
    assert record.setup and API_KEY not in caplog.text
    assert all(API_KEY not in m for m in client.messages.values())


def test_eleven_loud_speakers_are_mixed_without_wrapping(run_virtual: Any) -> None:
    async def scenario() -> Any:
        calls, client = FakeCalls(), FakeClient()
        config = EmulatorConfig(silence_duration_ms=2000)
        async with Emulator(config) as emulator:
            runner = TelegramRunner(
                client,
                calls,
                config_for(emulator),
                voice_notes=False,
                transcripts=False,
                clock=loop_clock(),
            )
            await runner.go_live(CHAT_ID)
            n = RATE_HZ // 2
            speakers = {2000 + k: sine(100, n, 0.8) for k in range(11)}
            await speak(calls, speakers)
            await calls.drain()
            await runner.stop()  # flushes the uplink; leaving the emulator waits for it
            return emulator.sessions[0]

    record = run_virtual(scenario(), timeout_s=30)
    uplink = np.frombuffer(bytes(record.uplink_audio), "<i2").astype(np.float64)
    assert len(uplink) > 16_000 * 0.4
    # Eleven in-phase speakers at 0.8 of full scale sum to 8.8x full scale. Soft-clipped,
    # that is a loud, rounded square wave in phase with the 100 Hz input; wrapped int16
    # would flip signs inside every half-period and destroy the correlation.
    body = uplink[1600:-800]
    t = np.arange(len(uplink)) / 16_000
    best = max(
        float(
            np.corrcoef(body, np.sin(2 * np.pi * 100 * t[1600 + lag : 1600 + lag + len(body)]))[
                0, 1
            ]
        )
        for lag in range(-160, 160)
        if 1600 + lag >= 0 and 1600 + lag + len(body) <= len(t)
    )
    assert best > 0.85
    assert np.sqrt(np.mean(body**2)) > 0.6 * 32767


def test_commands_are_limited_to_admins_and_start_and_stop_the_bridge(run: Any) -> None:
    async def scenario() -> tuple[FakeCalls, FakeClient]:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator() as emulator:
            runner = TelegramRunner(client, calls, config_for(emulator), access=AccessPolicy([55]))
            runner.install_handlers()
            assert len(client.handlers) == 2

            async def command(text: str, user_id: int) -> None:
                await client.deliver(client.command(text, user_id))
                await runner.drain()

            await command("/gemini", user_id=7)
            assert calls.played == []
            await command("/gemini", user_id=1)
            assert CHAT_ID in calls.in_call
            await command("/stop", user_id=55)
            assert CHAT_ID not in calls.in_call
            await command("/stop", user_id=1)
            await runner.stop()
            assert client.handlers == []
        return calls, client

    calls, client = run(scenario(), timeout_s=30)
    assert client.replies == [
        "Only group admins (or allowlisted users) can do that.",
        "Gemini is live in the voice chat. Talk to it; /stop ends it.",
        "Gemini left the voice chat.",
        "Gemini is not live here.",
    ]
    assert calls.left == [CHAT_ID]


def test_gemini_in_a_chat_without_a_voice_chat_says_so(run: Any) -> None:
    async def scenario() -> FakeClient:
        calls, client = FakeCalls(voice_chat_running=False), FakeClient()
        async with Emulator() as emulator:
            runner = TelegramRunner(client, calls, config_for(emulator))
            runner.install_handlers()
            await client.deliver(client.command("/gemini", user_id=1))
            await runner.drain()
            await runner.stop()
        return client

    client = run(scenario(), timeout_s=30)
    assert client.replies == [
        f"chat {CHAT_ID} has no voice chat running; start one in Telegram "
        "(or allow the bridge to start it)"
    ]


def test_being_kicked_stops_the_session_and_says_so(run: Any) -> None:
    from pytgcalls.types import ChatUpdate

    async def scenario() -> tuple[FakeClient, Any]:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator() as emulator:
            runner = TelegramRunner(client, calls, config_for(emulator))
            bridge = await runner.go_live(CHAT_ID)
            session = bridge.session
            calls.in_call.discard(CHAT_ID)
            await calls.push(ChatUpdate(CHAT_ID, ChatUpdate.Status.KICKED))
            await runner.drain()
            assert not bridge.running
            await runner.stop()
            return client, session

    client, session = run(scenario(), timeout_s=30)
    assert not session.running
    assert list(client.messages.values()) == [
        "Gemini left the voice chat: the bot was removed from the voice chat. "
        "Send /gemini to rejoin."
    ]


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_chat_arguments_are_refused(value: str) -> None:
    from bridge.telegram import chats_from_args

    with pytest.raises(ValueError, match="--chat must not be empty"):
        chats_from_args([value])


@functools.cache  # one encoding (25 ms) for every test that sends it
def ogg_question() -> bytes:
    question = np.concatenate(
        [
            np.zeros(RATE_HZ // 4, np.int16),
            sine(300, RATE_HZ, 0.4),
            np.zeros(RATE_HZ // 2, np.int16),
        ]
    )
    out = io.BytesIO()
    soundfile.write(out, question, RATE_HZ, format="OGG", subtype="OPUS")
    return out.getvalue()


def test_a_voice_note_is_answered_with_a_voice_note_and_its_transcript(run: Any) -> None:
    async def scenario() -> FakeClient:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator(EmulatorConfig(input_transcript="hi")) as emulator:
            access = AccessPolicy([555])
            runner = TelegramRunner(client, calls, config_for(emulator), access=access)
            runner.install_handlers()
            await client.deliver(client.voice(555, ogg_question()))
            await client.deliver(client.voice(555, b"OggS not really"))
            await runner.drain()
            await runner.stop()
        return client

    client = run(scenario(), timeout_s=30)
    ((chat_id, note, kwargs),) = client.voices
    assert chat_id == 555 and kwargs["reply_to_message_id"] == 9
    reply, rate_hz = soundfile.read(io.BytesIO(note), dtype="int16")
    info = soundfile.info(io.BytesIO(note))
    assert (info.subtype, rate_hz, info.channels) == ("OPUS", 48_000, 1)
    assert abs(len(reply) / rate_hz - 1.0) < 0.25
    assert kwargs["duration"] == 1 and len(kwargs["waveform"]) == 63
    assert kwargs["caption"].startswith("[echo")
    (complaint,) = client.replies
    assert complaint.startswith("Could not answer that voice note: voice note: cannot read audio")


class _CountingAnswer:
    """Stands in for Gemini: counts the voice notes it is asked to answer."""

    def __init__(self) -> None:
        self.asked = 0
        self.release = asyncio.Event()

    async def __call__(self, pcm_16k: bytes) -> VoiceNoteReply:
        self.asked += 1
        await self.release.wait()
        return VoiceNoteReply(bytes(3200), 16_000, "hello", "")


@pytest.mark.parametrize(
    ("rule", "contact", "answered"),
    [("allowlist", True, False), ("contacts", False, False), ("contacts", True, True)],
)
def test_private_voice_notes_from_strangers_never_reach_gemini(
    run: Any, rule: str, contact: bool, answered: bool
) -> None:
    async def scenario() -> tuple[FakeClient, int]:
        calls, client, answer = FakeCalls(), FakeClient(), _CountingAnswer()
        answer.release.set()
        access = AccessPolicy([555], voice_notes=rule)  # type: ignore[arg-type]
        runner = TelegramRunner(
            client, calls, BridgeConfig(), access=access, voice_note_answer=answer
        )
        runner.install_handlers()
        await client.deliver(client.voice(999, ogg_question(), 999, is_contact=contact))
        await client.deliver(client.voice(555, ogg_question(), 555))  # allowlisted
        await runner.drain()
        await runner.stop()
        return client, answer.asked

    client, asked = run(scenario())
    assert asked == (2 if answered else 1)
    assert sorted(chat for chat, _, _ in client.voices) == ([555, 999] if answered else [555])
    assert client.replies == []


def test_group_voice_notes_follow_the_command_rule(run: Any) -> None:
    async def scenario() -> int:
        calls, client, answer = FakeCalls(), FakeClient(), _CountingAnswer()
        answer.release.set()
        access = AccessPolicy(voice_notes="anyone")  # private chats only: groups keep the rule
        async with Emulator() as emulator:
            runner = TelegramRunner(
                client, calls, config_for(emulator), access=access, voice_note_answer=answer
            )
            runner.install_handlers()
            await runner.go_live(CHAT_ID)
            await client.deliver(client.voice(CHAT_ID, ogg_question(), 42))  # a member
            await client.deliver(client.voice(CHAT_ID, ogg_question(), 1))  # an admin
            await runner.drain()
            await runner.stop()
        return answer.asked

    assert run(scenario(), timeout_s=30) == 1


def test_an_anonymous_admin_may_use_the_commands(run: Any) -> None:
    async def scenario() -> FakeClient:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator() as emulator:
            runner = TelegramRunner(client, calls, config_for(emulator))
            runner.install_handlers()
            await client.deliver(client.command("/gemini", None))
            await runner.drain()
            await runner.stop()
        return client

    assert run(scenario(), timeout_s=30).replies == [
        "Gemini is live in the voice chat. Talk to it; /stop ends it."
    ]


def test_voice_notes_beyond_the_accounts_limit_are_turned_away(run: Any) -> None:
    async def scenario() -> tuple[FakeClient, int]:
        calls, client, answer = FakeCalls(), FakeClient(), _CountingAnswer()
        config = BridgeConfig().with_overrides(telegram={"voice_note_concurrency": 2})
        access = AccessPolicy(voice_notes="anyone")
        runner = TelegramRunner(client, calls, config, access=access, voice_note_answer=answer)
        runner.install_handlers()
        for user in (1001, 1002, 1003):
            await client.deliver(client.voice(user, ogg_question(), user))
        while answer.asked < 2 or len(client.replies) < 1:
            await asyncio.sleep(0.01)
        answer.release.set()
        await runner.drain()
        await runner.stop()
        return client, answer.asked

    client, asked = run(scenario())
    assert asked == 2 and len(client.voices) == 2
    assert client.replies == ["Busy with other voice notes; send it again shortly."]


def test_voice_notes_in_groups_that_are_not_bridged_are_left_alone(run: Any) -> None:
    async def scenario() -> FakeClient:
        calls, client = FakeCalls(), FakeClient()
        runner = TelegramRunner(client, calls, BridgeConfig())
        runner.install_handlers()
        await client.deliver(client.voice(-100999, ogg_question()))
        await runner.drain()
        await runner.stop()
        return client

    client = run(scenario())
    assert client.voices == [] and client.replies == []


def test_two_chats_in_one_process_each_get_their_own_speakers(run: Any) -> None:
    from bridge.transports.tgcalls import GroupCallTransport

    async def scenario() -> tuple[list[Any], list[Any]]:
        calls = FakeCalls()
        calls.usernames["@other"] = -1002
        first, second = [], []
        a = GroupCallTransport(calls, CHAT_ID)
        b = GroupCallTransport(calls, "@other")
        await a.start(lambda ssrc, pcm: first.append(ssrc))
        await b.start(lambda ssrc, pcm: second.append(ssrc))
        calls.incoming(CHAT_ID, [(11, bytes(960))])
        calls.incoming(-1002, [(22, bytes(960))])
        await calls.drain()
        await a.stop()
        await b.stop()
        assert sorted(calls.left) == sorted([CHAT_ID, -1002])
        return first, second

    assert run(scenario()) == ([11], [22])


class _TelegramNetwork:
    """A user account's view of Telegram, at the MTProto session (the network boundary).

    Answers as the real API does for the requests a join by numeric id makes: an unknown
    channel asked for with access_hash=0 is PEER_ID_INVALID; the dialogs list the
    account's chats with their access hashes.
    """

    ACCESS_HASH = 0x5EED

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def invoke(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        from pyrogram import raw
        from pyrogram.errors import PeerIdInvalid

        self.requests.append(type(query).__name__)
        unknown = isinstance(query, raw.functions.channels.GetChannels) and any(
            channel.access_hash == 0 for channel in query.id
        )
        if unknown:
            raise PeerIdInvalid()
        if isinstance(query, raw.functions.messages.GetDialogs):
            channel_id = -CHAT_ID - 10**12
            first_page = query.offset_id == 0 and isinstance(
                query.offset_peer, raw.types.InputPeerEmpty
            )
            dialog = raw.types.Dialog(
                peer=raw.types.PeerChannel(channel_id=channel_id),
                top_message=0,
                read_inbox_max_id=0,
                read_outbox_max_id=0,
                unread_count=0,
                unread_mentions_count=0,
                unread_reactions_count=0,
                unread_poll_votes_count=0,
                notify_settings=raw.types.PeerNotifySettings(),
            )
            channel = raw.types.Channel(
                id=channel_id,
                title="My group",
                photo=raw.types.ChatPhotoEmpty(),
                date=0,
                access_hash=self.ACCESS_HASH,
                megagroup=True,
                usernames=[],
                restriction_reason=[],
            )
            if first_page:
                return raw.types.messages.Dialogs(
                    dialogs=[dialog], messages=[], chats=[channel], users=[]
                )
            return raw.types.messages.Dialogs(dialogs=[], messages=[], chats=[], users=[])
        raise AssertionError(f"unexpected request {type(query).__name__}")


class _CallsOnRealClient(FakeCalls):
    """Joins as py-tgcalls 3.0 does: it resolves the chat through the client's peer cache
    and turns any failure into NoActiveGroupCall (`mtproto/client_cache.py:43`)."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.mtproto_client = client

    async def play(self, chat_id: int, stream: Any, config: Any) -> None:
        from pytgcalls.exceptions import NoActiveGroupCall

        try:
            peer = await self.mtproto_client.resolve_peer(chat_id)
        except Exception:
            raise NoActiveGroupCall() from None
        assert peer.access_hash == _TelegramNetwork.ACCESS_HASH
        await super().play(chat_id, stream, config)


def test_a_numeric_chat_id_joins_on_a_fresh_session_string(run: Any) -> None:
    from pyrogram import Client

    session = session_string()

    async def scenario() -> tuple[_CallsOnRealClient, _TelegramNetwork]:
        client = Client("t", api_id=123, api_hash="0" * 32, session_string=session, in_memory=True)
        await client.storage.open()  # what start() does before it connects
        network = _TelegramNetwork()
        client.session = network  # type: ignore[assignment]
        client.is_connected = True
        calls = _CallsOnRealClient(client)
        try:
            async with Emulator() as emulator:
                runner = TelegramRunner(client, calls, config_for(emulator))
                await runner.go_live(CHAT_ID)
                await runner.stop()
        finally:
            await client.storage.close()
        return calls, network

    calls, network = run(scenario(), timeout_s=30)
    assert calls.left == [CHAT_ID]
    assert "GetDialogs" in network.requests
