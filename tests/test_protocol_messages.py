"""Golden wire messages (tests/data/live): our builders produce them, our parser reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from bridge.emulator._wire import decode_message
from bridge.protocol import (
    AutomaticActivityDetection,
    ContextWindowCompression,
    FunctionCall,
    FunctionDeclaration,
    FunctionResponse,
    GenerationComplete,
    GenerationConfig,
    GoAway,
    GroundingMetadata,
    InputTranscription,
    Interrupted,
    LiveConfig,
    ModelAudio,
    ModelText,
    OutputTranscription,
    RealtimeInputConfig,
    SessionResumptionUpdate,
    SetupComplete,
    SpeechConfig,
    ThinkingConfig,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    Unknown,
    UsageMetadata,
    VoiceActivity,
    WaitingForInput,
    encode_activity_end,
    encode_activity_start,
    encode_audio,
    encode_audio_stream_end,
    encode_client_content,
    encode_setup,
    encode_text,
    encode_tool_response,
    parse_server_message,
)

DATA = Path(__file__).parent / "data" / "live"
PCM = np.array([0, 1, -1, -32768], dtype=np.int16)


def golden(kind: str, name: str) -> Any:
    return json.loads((DATA / kind / f"{name}.json").read_text())


FULL = LiveConfig(
    model="gemini-3.8-live",
    generation=GenerationConfig(
        temperature=0.7,
        top_p=0.9,
        top_k=40,
        max_output_tokens=1024,
        candidate_count=1,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        speech=SpeechConfig(voice_name="Puck", language_code="en-US"),
        media_resolution="MEDIA_RESOLUTION_LOW",
        enable_affective_dialog=True,
        thinking=ThinkingConfig(thinking_budget=0, include_thoughts=False),
    ),
    system_instruction="You are a helpful voice assistant.",
    function_declarations=(
        FunctionDeclaration(
            "get_time",
            "Current time",
            {"type": "OBJECT", "properties": {"zone": {"type": "STRING"}}},
            behavior="NON_BLOCKING",
        ),
    ),
    google_search=True,
    realtime_input=RealtimeInputConfig(
        AutomaticActivityDetection(
            start_of_speech_sensitivity="START_SENSITIVITY_HIGH",
            end_of_speech_sensitivity="END_SENSITIVITY_LOW",
            prefix_padding_ms=40,
            silence_duration_ms=600,
        ),
        activity_handling="START_OF_ACTIVITY_INTERRUPTS",
        turn_coverage="TURN_INCLUDES_ONLY_ACTIVITY",
    ),
    context_window_compression=ContextWindowCompression(trigger_tokens=25600, target_tokens=12800),
    proactive_audio=True,
)

MANUAL = LiveConfig(
    model="models/gemini-2.5-flash-native-audio-latest",
    generation=GenerationConfig(response_modalities=("TEXT",)),
    realtime_input=RealtimeInputConfig(
        AutomaticActivityDetection(disabled=True), activity_handling="NO_INTERRUPTION"
    ),
    input_transcription=False,
    output_transcription=False,
)

CLIENT_CASES: list[tuple[str, bytes]] = [
    ("setup_full", encode_setup(FULL)),
    ("setup_resume_manual", encode_setup(MANUAL, resumption_handle="Cg8xMjM0NTY3ODkwYWJjZA")),
    ("realtime_audio", encode_audio(PCM)),
    ("realtime_text", encode_text("Hello, what time is it?")),
    ("activity_start", encode_activity_start()),
    ("activity_end", encode_activity_end()),
    ("audio_stream_end", encode_audio_stream_end()),
    ("client_content", encode_client_content("Tell me a joke")),
    (
        "tool_response",
        encode_tool_response(
            [FunctionResponse("fc-1", "get_time", {"time": "12:00"}, "WHEN_IDLE", False)]
        ),
    ),
]


@pytest.mark.parametrize(("name", "encoded"), CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES])
def test_builders_match_golden_client_messages(name: str, encoded: bytes) -> None:
    assert orjson.loads(encoded) == golden("client", name)


@pytest.mark.parametrize(("name", "encoded"), CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES])
def test_client_messages_are_one_key_utf8_json_that_the_emulator_reads(
    name: str, encoded: bytes
) -> None:
    encoded.decode("utf-8")
    key, body = decode_message(encoded)
    assert [key] == list(golden("client", name))
    assert body == golden("client", name)[key]


SERVER_CASES: list[tuple[str, list[object]]] = [
    ("setup_complete", [SetupComplete("s-42")]),
    ("model_audio", [ModelAudio(PCM.tobytes(), 24000)]),
    ("model_text", [ModelText("Thinking...", thought=True), ModelText("Hello")]),
    ("input_transcription", [InputTranscription("what time", True)]),
    ("output_transcription", [OutputTranscription("It is noon", False)]),
    ("interrupted", [Interrupted()]),
    ("generation_complete", [GenerationComplete()]),
    (
        "turn_complete_usage",
        [
            TurnComplete("NEED_MORE_INPUT"),
            UsageMetadata(
                10,
                20,
                30,
                {
                    "promptTokenCount": 10,
                    "responseTokenCount": 20,
                    "totalTokenCount": 30,
                    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
                },
            ),
        ],
    ),
    (
        "tool_call",
        [
            ToolCall(
                (FunctionCall("fc-1", "get_time", {"zone": "UTC"}), FunctionCall("fc-2", "search"))
            )
        ],
    ),
    ("tool_call_cancellation", [ToolCallCancellation(("fc-1", "fc-2"))]),
    ("go_away", [GoAway(9.5)]),
    ("session_resumption_update", [SessionResumptionUpdate("Cg8xMjM0NTY3ODkwYWJjZA", True)]),
    ("voice_activity", [VoiceActivity("ACTIVITY_START")]),
    (
        "bundled",
        [
            InputTranscription("see you", False),
            ModelAudio(b"\x01\x00\x02\x00", 24000),
            OutputTranscription("bye", True),
            GenerationComplete(),
            TurnComplete(None),
        ],
    ),
    (
        "unknown",
        [
            GroundingMetadata({"webSearchQueries": ["x"]}),
            WaitingForInput(),
            Unknown("somethingNew", {"a": 1}),
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), SERVER_CASES, ids=[c[0] for c in SERVER_CASES])
@pytest.mark.parametrize("frame", ["binary", "text"])
def test_golden_server_messages_parse_to_events(
    name: str, expected: list[object], frame: str
) -> None:
    raw = (DATA / "server" / f"{name}.json").read_bytes()
    data: bytes | str = raw if frame == "binary" else raw.decode()
    assert parse_server_message(data) == expected


def test_every_golden_file_is_covered() -> None:
    client = {path.stem for path in (DATA / "client").glob("*.json")}
    server = {path.stem for path in (DATA / "server").glob("*.json")}
    assert client == {name for name, _ in CLIENT_CASES}
    assert server == {name for name, _ in SERVER_CASES}
