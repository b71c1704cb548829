"""The py-tgcalls group-call transport against a PyTgCalls whose network is faked.

`FakeCalls` (in `_telegram_fakes`) keeps py-tgcalls' own dispatch and types; only what
would reach Telegram or ntgcalls' WebRTC stack is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _telegram_fakes import BOT_SSRC, CHAT_ID, ME, FakeCalls, participant, real_calls
from ntgcalls import MediaSource
from pytgcalls.types import (
    ChatUpdate,
    Device,
    Direction,
    Frame,
    GroupCallParticipant,
    StreamFrames,
    UpdatedGroupCallParticipant,
)
from pytgcalls.types.raw import AudioParameters

from bridge.transports.tgcalls import (
    ChatNotFoundError,
    GroupCallTransport,
    NoVoiceChatError,
)


def tone(n_samples: int, channels: int, amplitude: int = 8000, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.integers(-amplitude, amplitude, n_samples * channels, dtype=np.int16).tobytes()


def collect() -> tuple[list[tuple[int, bytes]], Callable[[int, bytes], None]]:
    got: list[tuple[int, bytes]] = []
    return got, lambda ssrc, pcm: got.append((ssrc, pcm))


@pytest.mark.parametrize(
    ("rate_hz", "channels", "frame_bytes"), [(48_000, 1, 960), (48_000, 2, 1920), (16_000, 1, 320)]
)
def test_join_uses_external_audio_at_the_configured_format(
    run: Any, rate_hz: int, channels: int, frame_bytes: int
) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, "@mygroup", sample_rate_hz=rate_hz, channels=channels)
        _, sink = collect()
        await transport.start(sink)
        assert transport.frame_bytes == frame_bytes
        ((chat_id, stream, config),) = calls.played
        assert chat_id == CHAT_ID and config.auto_start is False
        assert isinstance(stream.microphone.parameters, AudioParameters)
        assert (stream.microphone.parameters.bitrate, stream.microphone.parameters.channels) == (
            rate_hz,
            channels,
        )
        ((_, record),) = calls.recorded
        assert record.microphone.media_source == MediaSource.EXTERNAL
        assert record.microphone.parameters.bitrate == rate_hz
        await transport.send_frame(bytes(frame_bytes))
        assert calls.sent == [bytes(frame_bytes)]
        await transport.stop()

    run(scenario())


def test_send_frame_passes_exactly_one_frame_and_refuses_other_sizes(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        await transport.start(collect()[1])
        frame = tone(480, 1)
        await transport.send_frame(frame)
        for bad in (frame[:-2], frame + b"\0\0", b""):
            with pytest.raises(ValueError, match=f"exactly 960 bytes .*got {len(bad)} bytes"):
                await transport.send_frame(bad)
        assert calls.sent == [frame]
        assert transport.frames_sent == 1
        await transport.stop()

    run(scenario())


def test_per_speaker_frames_reach_the_sink_and_the_bot_never_hears_itself(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        got, sink = collect()
        await transport.start(sink)
        alice, bob = tone(480, 1, seed=1), tone(480, 1, seed=2)
        calls.incoming(CHAT_ID, [(1001, alice)])
        calls.incoming(CHAT_ID, [(1002, bob), (BOT_SSRC, tone(480, 1, seed=3))])
        calls.incoming(CHAT_ID, [(BOT_SSRC - 2**32, tone(480, 1, seed=4))])
        calls.incoming(-100999, [(1003, tone(480, 1, seed=5))])  # another chat's call
        await calls.drain()
        assert got == [(1001, alice), (1002, bob)]
        assert transport.speakers[1001] == 42
        await transport.stop()

    run(scenario())


def test_outgoing_and_wrong_size_frames_are_not_delivered(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        got, sink = collect()
        await transport.start(sink)
        await calls.push(
            StreamFrames(
                CHAT_ID, Direction.OUTGOING, Device.MICROPHONE, [Frame(5, bytes(960), Frame.Info())]
            )
        )
        calls.incoming(CHAT_ID, [(1001, bytes(100))])
        await calls.drain()
        assert got == []
        assert transport.frames_dropped == 1
        await transport.stop()

    with caplog.at_level("WARNING"):
        run(scenario())
    assert "dropping a 100-byte frame from ssrc 1001" in caplog.text
    assert "expected 960 bytes" in caplog.text


def test_a_participant_joining_is_mapped_to_its_user(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        await transport.start(collect()[1])
        await calls.push(
            UpdatedGroupCallParticipant(
                CHAT_ID, GroupCallParticipant.Action.JOINED, participant(99, -5)
            )
        )
        assert transport.speakers[(-5) & 0xFFFFFFFF] == 99
        await calls.push(
            UpdatedGroupCallParticipant(
                CHAT_ID, GroupCallParticipant.Action.LEFT, participant(99, -5)
            )
        )
        assert (-5) & 0xFFFFFFFF not in transport.speakers
        await transport.stop()

    run(scenario())


def test_stop_leaves_once_and_frames_after_it_go_nowhere(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        got, sink = collect()
        await transport.start(sink)
        await transport.stop()
        await transport.stop()
        assert calls.left == [CHAT_ID]
        calls.incoming(CHAT_ID, [(1001, tone(480, 1))])
        await calls.drain()
        await transport.send_frame(bytes(960))
        assert got == [] and calls.sent == []
        # The chat is free for a new transport in the same process.
        again = GroupCallTransport(calls, CHAT_ID)
        await again.start(sink)
        assert again.joined
        await again.stop()

    run(scenario())


def test_kicked_ends_the_call_and_rejoin_joins_again(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        reasons: list[str] = []
        transport.on_ended = reasons.append
        _got, sink = collect()
        await transport.start(sink)
        calls.in_call.discard(CHAT_ID)
        await calls.push(ChatUpdate(CHAT_ID, ChatUpdate.Status.KICKED))
        assert transport.ended.is_set() and not transport.joined
        assert reasons == ["the bot was removed from the voice chat"]
        await transport.send_frame(bytes(960))  # dropped, no error every tick
        assert transport.frames_dropped == 1
        await transport.rejoin()
        assert transport.joined and not transport.ended.is_set()
        await transport.send_frame(bytes(960))
        assert len(calls.sent) == 1
        await transport.stop()
        assert calls.left == [CHAT_ID]

    run(scenario())


def test_a_call_that_vanished_under_send_frame_counts_as_ended(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        transport = GroupCallTransport(calls, CHAT_ID)
        await transport.start(collect()[1])
        calls.in_call.clear()
        await transport.send_frame(bytes(960))
        assert transport.ended.is_set()
        await transport.stop()

    run(scenario())


def test_no_voice_chat_running_is_a_clear_error(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls(voice_chat_running=False)
        transport = GroupCallTransport(calls, "@mygroup")
        with pytest.raises(NoVoiceChatError, match="'@mygroup' has no voice chat running"):
            await transport.start(collect()[1])
        # Allowed to start one: it joins.
        starter = GroupCallTransport(calls, "@mygroup", start_call=True)
        await starter.start(collect()[1])
        assert starter.joined
        await starter.stop()

    run(scenario())


def test_a_chat_that_does_not_exist_is_a_clear_error(run: Any) -> None:
    async def scenario() -> None:
        calls = FakeCalls()
        with pytest.raises(ChatNotFoundError, match="'@nosuchgroup' not found"):
            await GroupCallTransport(calls, "@nosuchgroup").start(collect()[1])
        with pytest.raises(ChatNotFoundError, match=r"chat -100777 not found.*PeerIdInvalid"):
            await GroupCallTransport(calls, -100777).start(collect()[1])
        with pytest.raises(ChatNotFoundError, match="private chat"):
            await GroupCallTransport(calls, 12345).start(collect()[1])
        assert calls.played == []

    run(scenario())


def test_bad_format_settings_are_named() -> None:
    with pytest.raises(ValueError, match="sample_rate_hz 11025"):
        GroupCallTransport(FakeCalls(), CHAT_ID, sample_rate_hz=11_025)
    with pytest.raises(ValueError, match="channels must be 1 or 2, got 6"):
        GroupCallTransport(FakeCalls(), CHAT_ID, channels=6)


def _me_in_call(action: GroupCallParticipant.Action, *, muted_by_admin: bool = False) -> Any:
    me = GroupCallParticipant(
        ME, muted_by_admin, muted_by_admin, False, False, False, False, 100, BOT_SSRC - 2**32,
        None, None,
    )  # fmt: skip
    return UpdatedGroupCallParticipant(CHAT_ID, action, me)


@pytest.mark.parametrize(
    "action", [GroupCallParticipant.Action.KICKED, GroupCallParticipant.Action.LEFT]
)
def test_the_bot_removed_from_the_call_is_noticed_without_a_chat_update(
    run: Any, action: GroupCallParticipant.Action
) -> None:
    # Removal, or this account joining from a phone: py-tgcalls clears the call itself and
    # passes on only the bot's own participant update, no ChatUpdate.
    async def scenario() -> tuple[GroupCallTransport, list[str]]:
        async with real_calls() as calls:
            transport = GroupCallTransport(calls, CHAT_ID, self_user_id=ME)
            reasons: list[str] = []
            transport.on_ended = reasons.append
            await transport.start(collect()[1])
            assert transport._own_ssrcs == {BOT_SSRC}
            await calls.telegram_sends(_me_in_call(action))
            await transport.stop()
        return transport, reasons

    transport, reasons = run(scenario())
    assert not transport.joined and transport.ended.is_set()
    assert reasons == [
        "the bot was removed from the voice chat, or this account joined it elsewhere"
    ]
    assert transport._own_ssrcs == set()


def test_an_admin_muting_the_bot_is_noticed(run: Any) -> None:
    async def scenario() -> list[bool]:
        async with real_calls() as calls:
            transport = GroupCallTransport(calls, CHAT_ID, self_user_id=ME)
            changes: list[bool] = []
            transport.on_muted = changes.append
            await transport.start(collect()[1])
            updated = GroupCallParticipant.Action.UPDATED
            await calls.telegram_sends(_me_in_call(updated, muted_by_admin=True))
            assert transport.muted_by_admin
            await calls.telegram_sends(_me_in_call(updated, muted_by_admin=False))
            await transport.stop()
        return changes

    assert run(scenario()) == [True, False]


def test_a_failed_record_after_play_leaves_the_call(run: Any) -> None:
    class RecordFails(FakeCalls):
        async def record(self, chat_id: int, stream: Any) -> None:
            raise ConnectionError("ntgcalls: connection not found")

    async def scenario() -> RecordFails:
        calls = RecordFails()
        transport = GroupCallTransport(calls, CHAT_ID)
        with pytest.raises(ConnectionError):
            await transport.start(collect()[1])
        return calls

    calls = run(scenario())
    assert calls.in_call == set() and calls.left == [CHAT_ID]
