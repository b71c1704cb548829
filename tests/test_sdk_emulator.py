"""Google's own SDK (google-genai) holds a conversation with the emulator over TLS, and so
does our client: setup, an audio turn, barge-in, a tool call, goAway and resumption.

Every test runs against both emulator profiles: `basic` and `realistic` (the setup checked
against the SDK's own fields, bursty replies at 0.7x-3x real time, live captions, slow
pongs; records kept whole so the test can compare audio). Both clients and the emulator
share one virtual-time loop (`run_virtual`): real sockets and TLS, no idle waiting."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trustme
from google import genai
from google.genai import types

from bridge.client import Endpoint, connect
from bridge.emulator import Emulator, EmulatorConfig, resample_int16
from bridge.protocol import (
    FunctionDeclaration,
    FunctionResponse,
    GoAway,
    InputTranscription,
    LiveConfig,
    ModelAudio,
    OutputTranscription,
    ToolCall,
    TurnComplete,
)

Run = Callable[..., Any]
RATE_HZ = 16000
FRAME_BYTES = 640
MODEL = "gemini-3.8-live"


@dataclass(frozen=True)
class Tls:
    certfile: str
    keyfile: str
    client_context: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    yield make_tls(tmp_path_factory.mktemp("tls"))


def make_tls(folder: Path) -> Tls:
    """A CA, a certificate for 127.0.0.1 in `folder`, and a client context trusting it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return Tls(str(certfile), str(keyfile), context)


@pytest.fixture(params=["basic", "realistic"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def emulator_config(tls: Tls, profile: Any, **changes: Any) -> EmulatorConfig:
    base = EmulatorConfig.from_profile(
        profile,
        think_time_s=0.0,
        speed=50.0,
        certfile=tls.certfile,
        keyfile=tls.keyfile,
        models=(MODEL,),
        record_audio_s=None,
    )
    return replace(base, **changes)


def sdk_client(emu: Emulator, tls: Tls) -> Any:
    return genai.Client(
        api_key="test-key",
        http_options={"base_url": emu.https_url, "async_client_args": {"ssl": tls.client_context}},
    )


def sdk_config(handle: str | None = None) -> Any:
    return types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription={},
        output_audio_transcription={},
        speech_config={"voice_config": {"prebuilt_voice_config": {"voice_name": "Puck"}}},
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(name="get_time", description="Current time")
                ]
            )
        ],
        session_resumption=types.SessionResumptionConfig(handle=handle),
    )


def speech(seconds: float, frequency_hz: float = 300.0, seed: int = 0) -> bytes:
    n_samples = int(seconds * RATE_HZ)
    t = np.arange(n_samples) / RATE_HZ
    noise = np.random.default_rng(seed).normal(0, 0.02, n_samples)
    return ((0.3 * np.sin(2 * np.pi * frequency_hz * t) + noise) * 32767).astype(np.int16).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE_HZ) * 2)


async def sdk_send(session: Any, pcm: bytes) -> None:
    for offset in range(0, len(pcm), FRAME_BYTES):
        await session.send_realtime_input(
            audio=types.Blob(
                data=pcm[offset : offset + FRAME_BYTES], mime_type="audio/pcm;rate=16000"
            )
        )


def test_sdk_audio_turn_with_reply_audio_and_both_transcriptions(
    run_virtual: Run, tls: Tls, profile: str
) -> None:
    user = speech(1.0)

    async def scenario() -> None:
        async with (
            Emulator(emulator_config(tls, profile)) as emu,
            sdk_client(emu, tls).aio.live.connect(model=MODEL, config=sdk_config()) as session,
        ):
            assert session.session_id == "session-1"
            await sdk_send(session, user + silence(0.7))
            reply, heard, said, captions = bytearray(), [], [], []
            async for message in session.receive():
                content = message.server_content
                if message.data:
                    reply += message.data
                if content and content.interim_input_transcription:
                    captions.append(content.interim_input_transcription.text)
                if content and content.input_transcription:
                    heard.append(content.input_transcription.text)
                if content and content.output_transcription:
                    said.append(content.output_transcription.text)
            record = emu.sessions[0]
            assert bytes(reply) == resample_int16(bytes(record.turns[0].audio), RATE_HZ)
            assert heard == ["[speech 1.00 s]"] and said == ["[echo 1.00 s]"]
            # Live captions every 500 ms while the turn lasts (realistic), none from basic.
            expected = [f"[speaking {0.5 * n:.2f} s]" for n in range(1, len(captions) + 1)]
            assert captions == expected and len(captions) == (0 if profile == "basic" else 2)
            setup = record.setup
            assert setup["model"] == f"models/{MODEL}"
            voice = setup["generationConfig"]["speechConfig"]["voiceConfig"]
            assert voice == {"prebuiltVoiceConfig": {"voiceName": "Puck"}}
            assert bytes(record.uplink_audio) == user + silence(0.7)

    run_virtual(scenario())


def test_sdk_interrupted_reply(run_virtual: Run, tls: Tls, profile: str) -> None:
    async def scenario() -> None:
        async with (
            Emulator(emulator_config(tls, profile, speed=1.0, burst_chunks=1)) as emu,
            sdk_client(emu, tls).aio.live.connect(model=MODEL, config=sdk_config()) as session,
        ):
            await sdk_send(session, speech(2.0) + silence(0.6))
            flags = []
            barged = False
            async for message in session.receive():
                content = message.server_content
                if message.data and not barged:
                    barged = True
                    await sdk_send(session, speech(0.3, 500.0, seed=1))
                if content and content.interrupted:
                    flags.append("interrupted")
                if content and content.generation_complete:
                    flags.append("generationComplete")
                if content and content.turn_complete:
                    flags.append("turnComplete")
            assert flags == ["interrupted", "turnComplete"]
            assert emu.sessions[0].turns[0].interrupted

    run_virtual(scenario())


def test_sdk_tool_call_round_trip(run_virtual: Run, tls: Tls, profile: str) -> None:
    async def scenario() -> None:
        async with (
            Emulator(emulator_config(tls, profile)) as emu,
            sdk_client(emu, tls).aio.live.connect(model=MODEL, config=sdk_config()) as session,
        ):
            await session.send_realtime_input(text="what does get_time say?")
            said = []
            async for message in session.receive():
                if message.tool_call:
                    (call,) = message.tool_call.function_calls
                    assert call.name == "get_time"
                    await session.send_tool_response(
                        function_responses=[
                            types.FunctionResponse(
                                id=call.id, name=call.name, response={"time": "noon"}
                            )
                        ]
                    )
                content = message.server_content
                if content and content.output_transcription:
                    said.append(content.output_transcription.text)
            assert said == ['get_time returned {"time":"noon"}']
            (response,) = emu.sessions[0].tool_responses
            assert response["id"] == "call-0-get_time"

    run_virtual(scenario())


def test_sdk_go_away_then_resumption(run_virtual: Run, tls: Tls, profile: str) -> None:
    async def scenario() -> None:
        # goAway 0.1 s into each connection; the second one's 0.3 s reply (as slow as 0.7x
        # real time with the realistic profile) is over well before it closes.
        config = emulator_config(tls, profile, session_seconds=1.0, go_away_s=0.9, tone_s=0.3)
        async with Emulator(config) as emu:
            client = sdk_client(emu, tls)
            sent = bytearray()
            handle = None
            async with client.aio.live.connect(model=MODEL, config=sdk_config()) as session:
                chunk = speech(0.1, seed=1)
                await sdk_send(session, chunk)
                sent += chunk
                async for message in session.receive():
                    if message.session_resumption_update:
                        handle = message.session_resumption_update.new_handle
                    if message.go_away:
                        assert message.go_away.time_left == "0.9s"
                        break
            assert handle
            async with client.aio.live.connect(model=MODEL, config=sdk_config(handle)) as session:
                chunk = speech(0.1, seed=2)
                await sdk_send(session, chunk)
                sent += chunk
                await session.send_realtime_input(text="done")
                async for _ in session.receive():
                    pass
            (record,) = emu.sessions
            assert record.resumed_with == [handle]
            assert bytes(record.uplink_audio) == bytes(sent)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        run_virtual(scenario())


def test_our_client_over_tls_same_scenarios(run_virtual: Run, tls: Tls, profile: str) -> None:
    config = LiveConfig(model=MODEL, function_declarations=(FunctionDeclaration("get_time"),))

    async def scenario() -> None:
        # Both turns end before the goAway; realistic replies are as slow as 0.7x real time.
        lifetime_s = 0.8 if profile == "basic" else 3.0
        changes = {"session_seconds": lifetime_s, "go_away_s": 0.6, "tone_s": 0.3}
        async with Emulator(emulator_config(tls, profile, **changes)) as emu:
            endpoint = Endpoint(base_url=emu.url, ssl_context=tls.client_context)
            assert endpoint.url.startswith("wss://127.0.0.1:")
            seen: list[type] = []
            connecting = connect(config, endpoint)
            async for conn in connecting:
                if conn.resumed:  # the move after goAway
                    assert conn.setup_complete.session_id == "session-1"
                    break
                pcm = speech(1.0) + silence(0.7)
                for offset in range(0, len(pcm), FRAME_BYTES):
                    await conn.send_audio(pcm[offset : offset + FRAME_BYTES])
                async for event in conn:
                    seen.append(type(event))
                    if isinstance(event, TurnComplete) and seen.count(TurnComplete) == 1:
                        await conn.send_text("call get_time")
                    if isinstance(event, ToolCall):
                        await conn.send_tool_response(
                            [FunctionResponse(c.id, c.name, {"ok": True}) for c in event.calls]
                        )
                    if seen.count(TurnComplete) == 2 and GoAway in seen:
                        break
            await connecting.aclose()
            assert ModelAudio in seen and InputTranscription in seen
            assert OutputTranscription in seen and ToolCall in seen
            assert emu.sessions[0].tool_responses[0]["response"] == {"ok": True}
            assert emu.sessions[0].n_connections == 2

    run_virtual(scenario())
