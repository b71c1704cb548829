"""Interpreter mode on the wire: the live-translate setup, checked by the emulator as the
service checks it, spoken by our client, by a whole `Session` and by google-genai itself.

The emulator marks a translated reply: its output transcription starts with the target
language ("[fr] [echo 1.00 s]"), so each test sees the translation path end to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import PacedWav, loop_clock
from google.genai import types
from test_sdk_emulator import (
    MODEL,
    Tls,
    emulator_config,
    make_tls,
    sdk_client,
    sdk_send,
    silence,
    speech,
)
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from bridge.client import Endpoint, connect
from bridge.config import BridgeConfig, ConfigError
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import Session
from bridge.engine._setup import live_config
from bridge.engine.events import Transcript, TurnEnded
from bridge.protocol import (
    FunctionDeclaration,
    LiveTranslateConfig,
    OutputTranscription,
    TranslationConfig,
    TurnComplete,
)
from bridge.tools import ToolRegistry
from bridge.transports.wav import read_audio

Run = Callable[..., Any]
TRANSLATE_MODEL = "gemini-3.5-live-translate-preview"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
FRAME_BYTES = 640
SPEECH_WAV = Path(__file__).resolve().parents[1] / "src/bridge/data/speech-en-48k.wav"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def translate(code: str = "fr", **changes: Any) -> LiveTranslateConfig:
    return LiveTranslateConfig(
        model=TRANSLATE_MODEL, translation=TranslationConfig(code, False), **changes
    )


def test_the_translation_settings_go_under_generation_config_with_the_sdks_names() -> None:
    setup = translate("pt-BR").to_wire()
    assert setup["model"] == f"models/{TRANSLATE_MODEL}"
    assert setup["generationConfig"] == {
        "responseModalities": ["AUDIO"],
        "translationConfig": {"targetLanguageCode": "pt-BR", "echoTargetLanguage": False},
    }
    assert "systemInstruction" not in setup and "tools" not in setup
    # The SDK's own type takes exactly these names.
    parsed = types.GenerationConfig.model_validate(setup["generationConfig"])
    assert parsed.translation_config is not None
    assert parsed.translation_config.target_language_code == "pt-BR"


@pytest.mark.parametrize("code", ["french", "fr_FR", "", "f", "en-", "12", "en-US-x"])
def test_a_bad_language_code_is_refused_naming_it(code: str) -> None:
    with pytest.raises(ConfigError, match=rf"target_language_code: {code!r} is not a BCP-47"):
        translate(code).validate()


def test_the_translate_model_takes_no_instruction_and_no_tools() -> None:
    with pytest.raises(ConfigError, match="system_instruction: the live-translate model"):
        translate(system_instruction="be nice").validate()
    with pytest.raises(ConfigError, match="function_declarations: the live-translate model"):
        translate(function_declarations=(FunctionDeclaration("get_time"),)).validate()
    with pytest.raises(ConfigError, match="translation: the live-translate model needs"):
        LiveTranslateConfig(model=TRANSLATE_MODEL).validate()


def test_translate_config_switches_the_session_setup_to_the_translate_model() -> None:
    registry = ToolRegistry()

    @registry.tool()
    async def get_time() -> str:
        """The time."""
        return "noon"

    config = BridgeConfig().with_overrides(translate={"language": "de"})
    live = live_config(config, registry)
    live.validate()
    setup = live.to_wire()
    assert setup["model"] == f"models/{TRANSLATE_MODEL}"
    assert setup["generationConfig"]["translationConfig"] == {
        "targetLanguageCode": "de",
        "echoTargetLanguage": False,
    }
    # Tools and the assistant's instruction stay with the normal session.
    assert "tools" not in setup and "systemInstruction" not in setup
    assert "inputAudioTranscription" in setup and "contextWindowCompression" in setup
    # Back to normal: the configured model, tools and instruction.
    normal = live_config(BridgeConfig(), registry).to_wire()
    assert normal["model"] == "models/gemini-3.8-live" and "translationConfig" not in str(normal)
    assert normal["tools"][0]["functionDeclarations"][0]["name"] == "get_time"


def test_bad_translate_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"translate\.language: 'English' is not a BCP-47"):
        BridgeConfig.load(env={"BRIDGE_TRANSLATE_LANGUAGE": "English"})
    with pytest.raises(ConfigError, match=r"translate\.model: must not be empty"):
        BridgeConfig.load(env={"BRIDGE_TRANSLATE_MODEL": " "})
    with pytest.raises(ConfigError, match=r"translate\.echo_target_language: must be true or"):
        BridgeConfig.load(env={"BRIDGE_TRANSLATE_ECHO_TARGET_LANGUAGE": "maybe"})


def strict(**changes: Any) -> EmulatorConfig:
    """The realistic profile's setup check (the SDK's field names), fast replies."""
    return EmulatorConfig.from_profile(
        "realistic", think_time_s=0.0, speed=50.0, record_audio_s=None, **changes
    )


@pytest.mark.parametrize(
    ("translation", "field"),
    [
        ({"targetLanguageCode": "Klingon"}, "target_language_code': 'Klingon'"),
        ({}, "target_language_code': None"),
        ({"targetLanguageCode": "fr", "echoTargetLanguage": "yes"}, "echo_target_language"),
        ({"targetLanguageCode": "fr", "sourceLanguage": "en"}, '"sourceLanguage"'),
    ],
)
def test_the_emulator_refuses_a_bad_translation_setup_naming_the_field(
    run_virtual: Run, translation: dict[str, Any], field: str
) -> None:
    async def scenario() -> tuple[int | None, str | None]:
        async with Emulator(strict()) as emu:
            ws = await ws_connect(emu.url + PATH, ping_interval=None)
            generation = {"responseModalities": ["AUDIO"], "translationConfig": translation}
            await ws.send(orjson.dumps({"setup": {"model": "m", "generationConfig": generation}}))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code, ws.close_reason

    code, reason = run_virtual(scenario())
    assert code == 1007 and reason is not None and field in reason


def test_our_client_gets_a_translated_reply(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[str], dict[str, Any]]:
        async with Emulator(strict()) as emu:
            said: list[str] = []
            connecting = connect(translate("fr"), Endpoint(base_url=emu.url))
            async for conn in connecting:
                pcm = speech(1.0) + silence(0.7)
                for offset in range(0, len(pcm), FRAME_BYTES):
                    await conn.send_audio(pcm[offset : offset + FRAME_BYTES])
                async for event in conn:
                    if isinstance(event, OutputTranscription):
                        said.append(event.text)
                    if isinstance(event, TurnComplete):
                        break
                break
            await connecting.aclose()
            return said, emu.sessions[0].setup

    said, setup = run_virtual(scenario())
    assert said == ["[fr] [echo 1.00 s]"]
    assert setup["generationConfig"]["translationConfig"]["targetLanguageCode"] == "fr"


def test_a_session_in_interpreter_mode_plays_and_posts_the_translation(run_virtual: Run) -> None:
    async def scenario() -> tuple[list[Transcript], list[TurnEnded], dict[str, Any]]:
        async with Emulator(strict(silence_duration_ms=300)) as emu:
            # An interpreter translates everyone: `when_addressed` does not apply to it.
            config = BridgeConfig().with_overrides(
                endpoint={"url": emu.url},
                translate={"language": "es"},
                gemini={"respond": "when_addressed"},
            )
            transport = PacedWav(read_audio(SPEECH_WAV, 48_000, 1)[: int(1.2 * 48_000) * 2])
            session = Session(config, transport, clock=loop_clock())
            events: list[Any] = []
            session.add_listener(events.append)
            async with session:
                await asyncio.sleep(2.5)
            transcripts = [e for e in events if isinstance(e, Transcript) and e.role == "model"]
            ended = [e for e in events if isinstance(e, TurnEnded)]
            return transcripts, ended, emu.sessions[0].setup

    transcripts, ended, setup = run_virtual(scenario())
    assert setup["model"] == f"models/{TRANSLATE_MODEL}"
    assert transcripts and transcripts[-1].text.startswith("[es] [echo ")
    assert len(ended) == 1 and ended[0].heard_s > 0.5


def test_google_genai_speaks_the_translation_setup_to_the_emulator(
    run_virtual: Run, tls: Tls
) -> None:
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        translation_config=types.TranslationConfig(
            target_language_code="pl", echo_target_language=True
        ),
    )

    async def scenario() -> tuple[list[str], int, dict[str, Any]]:
        emulator = emulator_config(tls, "realistic", models=(MODEL, TRANSLATE_MODEL))
        async with (
            Emulator(emulator) as emu,
            sdk_client(emu, tls).aio.live.connect(model=TRANSLATE_MODEL, config=config) as live,
        ):
            await sdk_send(live, speech(1.0) + silence(0.7))
            said, reply_bytes = [], 0
            async for message in live.receive():
                if message.data:
                    reply_bytes += len(message.data)
                content = message.server_content
                if content and content.output_transcription:
                    said.append(content.output_transcription.text)
            return said, reply_bytes, emu.sessions[0].setup

    said, reply_bytes, setup = run_virtual(scenario())
    assert said == ["[pl] [echo 1.00 s]"] and reply_bytes == 48_000
    assert setup["generationConfig"]["translationConfig"] == {
        "targetLanguageCode": "pl",
        "echoTargetLanguage": True,
    }
