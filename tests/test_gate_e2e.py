"""The uplink gate in a whole session against the emulator, in virtual time.

How the gate meets the rest of the bridge: turns the client marks itself (manual
activity detection: the gate's stretches become activityStart/activityEnd, and a
stretch cut by a reconnection is opened again on the new socket), the server's end of a
turn and a user talking over a reply (both as quick as with the gate off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import PacedWav
from test_e2e import QUICK, Recorder, bridge_config, session_for, speech_pcm

from bridge.emulator import Emulator
from bridge.engine.events import Reconnected, TurnEnded, TurnStarted

Run = Callable[..., Any]


def realtime_kinds(messages: list[dict[str, Any]]) -> list[str]:
    """The client's realtimeInput messages by kind, runs of audio as one "audio"."""
    kinds: list[str] = []
    for message in messages:
        body = message.get("realtimeInput")
        if body is None:
            continue
        kind = next(iter(body))
        if not (kind == "audio" and kinds and kinds[-1] == "audio"):
            kinds.append(kind)
    return kinds


def test_with_manual_activity_detection_each_stretch_is_a_turn_the_client_marks(
    run_virtual: Run,
) -> None:
    pcm = speech_pcm(1.2)

    async def scenario() -> tuple[Any, list[TurnEnded]]:
        async with Emulator(QUICK) as emu:
            transport = PacedWav(pcm)
            config = bridge_config(emu.url).with_overrides(
                gemini={"automatic_activity_detection": False}
            )
            session = session_for(config, transport)
            events = Recorder(session)
            async with session:
                await events.wait_for(lambda e: isinstance(e, TurnEnded))
                transport.say(pcm)
                await events.wait_for(lambda e: isinstance(e, TurnEnded) and e.turn_id == 1)
            return emu.sessions[0], events.of(TurnEnded)

    record, ended = run_virtual(scenario())
    assert realtime_kinds(record.messages) == [
        "activityStart",
        "audio",
        "activityEnd",
        "activityStart",
        "audio",
        "activityEnd",
    ]
    # The emulator answered each marked turn with the audio between its marks.
    assert [len(t.audio) for t in record.turns] == [n * 2 for n in turn_lengths(record)]
    assert len(ended) == 2 and not ended[0].interrupted


def turn_lengths(record: Any) -> list[int]:
    """Samples of audio between each activityStart and activityEnd the client sent."""
    lengths: list[int] = []
    for message in record.messages:
        body = message.get("realtimeInput", {})
        if "activityStart" in body:
            lengths.append(0)
        elif "audio" in body:
            lengths[-1] += body["audio"]["dataBytes"] // 2
    return lengths


def test_a_stretch_cut_by_a_move_is_opened_again_on_the_new_socket(run_virtual: Run) -> None:
    pcm = speech_pcm()  # 2.7 s: talking through the move

    async def scenario() -> Any:
        # goAway 0.5 s in with 1 s left: the move is due at 1.0 s, mid-utterance.
        emulator = replace(QUICK, session_seconds=1.5, go_away_s=1.0, silence_duration_ms=500)
        async with Emulator(emulator) as emu:
            transport = PacedWav(pcm)
            config = bridge_config(emu.url, resume_margin_s=0.5).with_overrides(
                gemini={"automatic_activity_detection": False}
            )
            session = session_for(config, transport)
            events = Recorder(session)
            async with session:
                await events.wait_for(lambda e: isinstance(e, Reconnected))
                await events.wait_for(lambda e: isinstance(e, TurnEnded))
            return emu.sessions[0]

    record = run_virtual(scenario())
    assert record.n_connections >= 2
    # Each connection's part of the stretch is a turn the client opened on it.
    kinds = realtime_kinds(record.messages)
    assert kinds[:2] == ["activityStart", "audio"]
    with_audio = sum(1 for n_bytes in record.uplink_audio_by_connection if n_bytes)
    assert with_audio >= 2 and kinds.count("activityStart") == with_audio
    assert kinds[-1] == "activityEnd"
    assert len(record.turns) >= 1


def reply_and_barge_in_times(run_virtual: Run, gate: bool) -> tuple[float, float]:
    """Seconds from the end of the user's speech to the first reply audio, and from the
    user talking over that reply to the reply being stopped."""
    pcm = speech_pcm(1.2)

    async def scenario() -> tuple[float, float]:
        emulator = replace(QUICK, speed=1.0, silence_duration_ms=500)
        async with Emulator(emulator) as emu:
            transport = PacedWav()
            session = session_for(bridge_config(emu.url, uplink_gate=gate), transport)
            events = Recorder(session)
            loop = asyncio.get_running_loop()
            async with session:
                await asyncio.sleep(3.0)  # the room was quiet for a while
                said_s = loop.time()
                transport.say(pcm)
                spoken_s = said_s + len(pcm) / 2 / 48_000
                await events.wait_for(lambda e: isinstance(e, TurnStarted))
                replied_s = loop.time()
                await asyncio.sleep(0.3)
                talked_s = loop.time()
                transport.say(pcm)
                await events.wait_for(lambda e: isinstance(e, TurnEnded))
                return replied_s - spoken_s, loop.time() - talked_s

    result: tuple[float, float] = run_virtual(scenario())
    return result


def test_the_gate_adds_no_delay_to_a_reply_or_a_barge_in(run_virtual: Run) -> None:
    reply_on_s, barge_in_on_s = reply_and_barge_in_times(run_virtual, gate=True)
    reply_off_s, barge_in_off_s = reply_and_barge_in_times(run_virtual, gate=False)
    # Virtual time: the structure of the delays, not the CPU (benchmarks/bench_gate.py).
    assert reply_on_s == pytest.approx(reply_off_s, abs=0.020)
    assert barge_in_on_s == pytest.approx(barge_in_off_s, abs=0.020)
