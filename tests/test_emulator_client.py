"""Our client against the emulator: the conversation scenarios the bridge relies on."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bridge import Secret
from bridge.client import Endpoint, LiveConnection, connect
from bridge.emulator import Emulator, EmulatorConfig, resample_int16
from bridge.protocol import (
    AutomaticActivityDetection,
    FunctionDeclaration,
    FunctionResponse,
    GenerationComplete,
    GenerationConfig,
    GoAway,
    InputTranscription,
    Interrupted,
    InvalidArgument,
    LiveConfig,
    ModelAudio,
    ModelText,
    OutputTranscription,
    RealtimeInputConfig,
    ServerEvent,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
)

RATE_HZ = 16000
FRAME_BYTES = 640  # 20 ms
FAST = EmulatorConfig(think_time_s=0.0, speed=50.0)
CONFIG = LiveConfig(
    model="gemini-3.8-live",
    function_declarations=(FunctionDeclaration("get_time", "Current time"),),
)
Run = Callable[..., Any]


def speech(seconds: float, frequency_hz: float = 300.0, seed: int = 0) -> bytes:
    """A loud, slightly noisy tone: clearly speech to an energy VAD, unique per seed."""
    n_samples = int(seconds * RATE_HZ)
    t = np.arange(n_samples) / RATE_HZ
    noise = np.random.default_rng(seed).normal(0, 0.02, n_samples)
    wave = 0.3 * np.sin(2 * np.pi * frequency_hz * t) + noise
    return (wave * 32767).astype(np.int16).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE_HZ) * 2)


async def send_pcm(conn: LiveConnection, pcm: bytes) -> None:
    for offset in range(0, len(pcm), FRAME_BYTES):
        await conn.send_audio(pcm[offset : offset + FRAME_BYTES])


async def until(conn: LiveConnection, kind: type, limit: int = 10_000) -> list[ServerEvent]:
    """Events up to and including the first of `kind`."""
    seen: list[ServerEvent] = []
    async for event in conn:
        seen.append(event)
        if isinstance(event, kind) or len(seen) >= limit:
            break
    return seen


def audio_of(events: list[ServerEvent]) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, ModelAudio))


def kinds(events: list[ServerEvent]) -> list[type]:
    return [type(e) for e in events if not isinstance(e, ModelAudio)]


def test_audio_turn_is_echoed_at_24khz_with_both_transcriptions(run: Run) -> None:
    user = speech(1.2)

    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            assert conn.setup_complete.session_id == "session-1"
            await send_pcm(conn, silence(0.3) + user + silence(0.8))
            events = await until(conn, TurnComplete)
            record = emu.sessions[0]
            turn = record.turns[0]
            assert bytes(turn.audio) in user and len(turn.audio) >= len(user) - 1600
            assert audio_of(events) == resample_int16(bytes(turn.audio), RATE_HZ)
            assert all(e.sample_rate_hz == 24000 for e in events if isinstance(e, ModelAudio))
            order = kinds(events)
            assert order.index(InputTranscription) < order.index(OutputTranscription)
            assert order[-2:] == [GenerationComplete, TurnComplete]
            first_audio = next(i for i, e in enumerate(events) if isinstance(e, ModelAudio))
            assert isinstance(events[first_audio - 1], InputTranscription)
            assert "[speech 1.2" in next(
                e.text for e in events if isinstance(e, InputTranscription)
            )
            assert bytes(record.uplink_audio) == silence(0.3) + user + silence(0.8)

    run(scenario())


def test_barge_in_interrupts_the_reply(run: Run) -> None:
    slow = replace(FAST, speed=1.0, burst_chunks=1)

    async def scenario() -> None:
        async with Emulator(slow) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            await send_pcm(conn, speech(2.0) + silence(0.6))
            events = await until(conn, ModelAudio)
            await send_pcm(conn, speech(0.3, 500.0, seed=1))
            events += await until(conn, TurnComplete)
            order = kinds(events)
            assert order[-2:] == [Interrupted, TurnComplete]
            assert GenerationComplete not in order
            turn = emu.sessions[0].turns[0]
            assert turn.interrupted
            assert 0 < len(audio_of(events)) < len(resample_int16(bytes(turn.audio), RATE_HZ))

    run(scenario())


def test_no_interruption_mode_finishes_the_reply(run: Run) -> None:
    config = replace(
        CONFIG, realtime_input=RealtimeInputConfig(activity_handling="NO_INTERRUPTION")
    )

    async def scenario() -> None:
        async with (
            Emulator(replace(FAST, speed=2.0)) as emu,
            connect(config, Endpoint(base_url=emu.url)) as conn,
        ):
            # The 0.4 s reply plays at 2x real time: the speech below lands during it.
            await send_pcm(conn, speech(0.4) + silence(0.6))
            events = await until(conn, ModelAudio)
            await send_pcm(conn, speech(0.3, 500.0, seed=1))
            events += await until(conn, TurnComplete)
            assert Interrupted not in kinds(events)
            assert GenerationComplete in kinds(events)

    run(scenario())


def test_tool_call_round_trip(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            await conn.send_text("please call get_time")
            (call_event,) = [e for e in await until(conn, ToolCall) if isinstance(e, ToolCall)]
            (call,) = call_event.calls
            assert call.name == "get_time" and conn.protocol.is_pending(call.id)
            await conn.send_tool_response([FunctionResponse(call.id, call.name, {"t": "noon"})])
            assert not conn.protocol.pending_tool_calls
            events = await until(conn, TurnComplete)
            said = "".join(e.text for e in events if isinstance(e, OutputTranscription))
            assert 'get_time returned {"t":"noon"}' in said
            assert emu.sessions[0].tool_responses[0]["response"] == {"t": "noon"}

    run(scenario())


def test_barge_in_during_a_tool_call_cancels_it(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            await conn.send_text("get_time please")
            calls = [e for e in await until(conn, ToolCall) if isinstance(e, ToolCall)]
            await send_pcm(conn, speech(0.3))
            events = await until(conn, TurnComplete)
            assert kinds(events)[-3:] == [ToolCallCancellation, Interrupted, TurnComplete]
            cancelled = next(e for e in events if isinstance(e, ToolCallCancellation))
            assert cancelled.ids == (calls[0].calls[0].id,)
            assert not conn.protocol.pending_tool_calls
            assert emu.sessions[0].turns[0].interrupted

    run(scenario())


def test_go_away_then_resume_loses_and_duplicates_no_uplink_audio(run: Run) -> None:
    emulator = replace(FAST, session_seconds=0.3, go_away_s=0.2)

    async def scenario() -> None:
        async with Emulator(emulator) as emu:
            sent = bytearray()
            frames = (speech(0.02, seed=seed)[:FRAME_BYTES] for seed in range(1, 10_000))
            handles: list[str | None] = []
            connecting = connect(CONFIG, Endpoint(base_url=emu.url))
            async for conn in connecting:
                for frame in itertools.islice(frames, 10):
                    await conn.send_audio(frame)
                    sent += frame
                if conn.resumed:
                    break
                go_away = [e for e in await until(conn, GoAway) if isinstance(e, GoAway)]
                assert go_away[0].time_left_s == pytest.approx(0.2)
                for frame in itertools.islice(frames, 10):  # the socket is still open
                    await conn.send_audio(frame)
                    sent += frame
                handles.append(conn.resumption_handle)
            await connecting.aclose()
            (record,) = emu.sessions
            assert record.n_connections == 2
            assert handles[0] and record.resumed_with == handles
            assert bytes(record.uplink_audio) == bytes(sent)

    run(scenario())


def test_the_server_closes_after_go_away_with_1008(run: Run) -> None:
    async def scenario() -> None:
        async with (
            Emulator(replace(FAST, session_seconds=0.1, go_away_s=0.05)) as emu,
            connect(CONFIG, Endpoint(base_url=emu.url)) as conn,
        ):
            with pytest.raises(Exception) as caught:
                await until(conn, TurnComplete)
            assert getattr(caught.value, "code", None) == 1008

    run(scenario())


def test_stale_handle_is_refused(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            endpoint = Endpoint(base_url=emu.url)
            async with connect(CONFIG, endpoint) as conn:
                await conn.send_text("hello")
                await until(conn, TurnComplete)
                await until(conn, TurnComplete, limit=1)
                record = emu.sessions[0]
                assert len(record.handles) >= 2
            with pytest.raises(InvalidArgument, match="handle"):
                await connect(CONFIG, endpoint, resumption_handle=record.handles[0])
            with pytest.raises(InvalidArgument, match="handle"):
                await connect(CONFIG, endpoint, resumption_handle="made-up")
            async with connect(CONFIG, endpoint, resumption_handle=record.handles[-1]):
                assert record.n_connections == 2

    run(scenario())


def test_manual_activity_turns(run: Run) -> None:
    config = replace(
        CONFIG, realtime_input=RealtimeInputConfig(AutomaticActivityDetection(disabled=True))
    )
    quiet = (np.full(3200, 20, dtype=np.int16)).tobytes()  # below any VAD threshold

    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(config, Endpoint(base_url=emu.url)) as conn:
            await send_pcm(conn, speech(0.2))  # outside any activity: ignored
            await conn.send_activity_start()
            await send_pcm(conn, quiet)
            await conn.send_activity_end()
            events = await until(conn, TurnComplete)
            assert audio_of(events) == resample_int16(quiet, RATE_HZ)
            assert len(emu.sessions[0].turns) == 1

    run(scenario())


def test_audio_stream_end_closes_the_turn(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            await send_pcm(conn, speech(0.5))
            await conn.send_audio_stream_end()
            events = await until(conn, TurnComplete)
            assert len(audio_of(events)) == len(
                resample_int16(bytes(emu.sessions[0].turns[0].audio), RATE_HZ)
            )
            assert len(emu.sessions[0].turns[0].audio) > 0.4 * RATE_HZ * 2

    run(scenario())


def test_vad_settings_from_setup_are_honoured(run: Run) -> None:
    long_pause = replace(
        CONFIG,
        realtime_input=RealtimeInputConfig(AutomaticActivityDetection(silence_duration_ms=1500)),
    )

    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(long_pause, Endpoint(base_url=emu.url)) as conn:
            # A 1 s pause does not end the turn when silenceDurationMs is 1500.
            await send_pcm(conn, speech(0.3) + silence(1.0) + speech(0.3, seed=2) + silence(1.6))
            await until(conn, TurnComplete)
            assert len(emu.sessions[0].turns) == 1
            assert len(emu.sessions[0].turns[0].audio) >= 1.5 * RATE_HZ * 2

    run(scenario())


def test_text_modality_replies_with_text(run: Run) -> None:
    config = replace(CONFIG, generation=GenerationConfig(response_modalities=("TEXT",)))

    async def scenario() -> None:
        async with Emulator(FAST) as emu, connect(config, Endpoint(base_url=emu.url)) as conn:
            await conn.send_text("hi there")
            events = await until(conn, TurnComplete)
            assert [e.text for e in events if isinstance(e, ModelText)] == ["You said: hi there"]
            assert emu.sessions[0].setup["generationConfig"]["responseModalities"] == ["TEXT"]

    run(scenario())


def test_api_key_is_checked_and_travels_in_a_header(run: Run) -> None:
    config = replace(FAST, api_key=Secret("right-key"), tokens=(Secret("auth_tokens/t1"),))

    async def scenario() -> None:
        async with Emulator(config) as emu:
            good = Endpoint(base_url=emu.url, api_key=Secret("right-key"))
            assert "right-key" not in good.url and "right-key" not in repr(good)
            async with connect(CONFIG, good):
                pass
            for endpoint in (
                Endpoint(base_url=emu.url, api_key=Secret("wrong")),
                Endpoint(base_url=emu.url),
            ):
                with pytest.raises(InvalidArgument, match="API key not valid"):
                    await connect(CONFIG, endpoint)
            token = Endpoint(base_url=emu.url, token=Secret("auth_tokens/t1"))
            assert token.url.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
            async with connect(CONFIG, token):
                pass
            with pytest.raises(InvalidArgument):
                await connect(CONFIG, Endpoint(base_url=emu.url, token=Secret("auth_tokens/x")))
            assert len(emu.sessions) == 2

    run(scenario())
