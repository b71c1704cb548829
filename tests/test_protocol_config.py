"""Configuration validation, audio encoding edge cases, backoff and close codes."""

from __future__ import annotations

import array
import itertools
import random
from dataclasses import replace

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol import (
    AutomaticActivityDetection,
    ConfigError,
    ContextWindowCompression,
    FunctionDeclaration,
    FunctionResponse,
    GenerationConfig,
    InvalidArgument,
    LiveConfig,
    LiveConnectionClosed,
    PolicyViolation,
    RealtimeInputConfig,
    ServerInternalError,
    SpeechConfig,
    backoff,
    closed_error,
    encode_audio,
    encode_client_content,
    encode_setup,
    encode_tool_response,
)

BASE = LiveConfig(model="gemini-3.8-live")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (replace(BASE, model=""), "model"),
        (replace(BASE, model="models/"), "model"),
        (
            replace(BASE, generation=GenerationConfig(response_modalities=("VIDEO",))),  # type: ignore[arg-type]
            "response_modalities",
        ),
        (replace(BASE, generation=GenerationConfig(response_modalities=())), "response_modalities"),
        (replace(BASE, generation=GenerationConfig(temperature=-0.1)), "temperature"),
        (replace(BASE, generation=GenerationConfig(top_p=1.5)), "top_p"),
        (replace(BASE, generation=GenerationConfig(top_k=0)), "top_k"),
        (replace(BASE, generation=GenerationConfig(temperature=float("nan"))), "temperature"),
        (
            replace(BASE, generation=GenerationConfig(speech=SpeechConfig(voice_name=" "))),
            "voice_name",
        ),
        (
            replace(BASE, generation=GenerationConfig(media_resolution="HUGE")),  # type: ignore[arg-type]
            "media_resolution",
        ),
        (
            replace(
                BASE,
                realtime_input=RealtimeInputConfig(
                    AutomaticActivityDetection(silence_duration_ms=-1)
                ),
            ),
            "silence_duration_ms",
        ),
        (
            replace(
                BASE,
                realtime_input=RealtimeInputConfig(
                    AutomaticActivityDetection(prefix_padding_ms=-20)
                ),
            ),
            "prefix_padding_ms",
        ),
        (
            replace(
                BASE,
                realtime_input=RealtimeInputConfig(
                    AutomaticActivityDetection(start_of_speech_sensitivity="HIGH")
                ),
            ),  # type: ignore[arg-type]
            "start_of_speech_sensitivity",
        ),
        (
            replace(BASE, realtime_input=RealtimeInputConfig(activity_handling="BARGE_IN")),
            "activity_handling",
        ),  # type: ignore[arg-type]
        (replace(BASE, realtime_input=RealtimeInputConfig(turn_coverage="ALL")), "turn_coverage"),  # type: ignore[arg-type]
        (replace(BASE, function_declarations=(FunctionDeclaration(""),)), "function name"),
        (
            replace(BASE, function_declarations=(FunctionDeclaration("f", behavior="SOMETIMES"),)),
            "behavior",
        ),  # type: ignore[arg-type]
        (
            replace(
                BASE, function_declarations=(FunctionDeclaration("f"), FunctionDeclaration("f"))
            ),
            "duplicate",
        ),
        (
            replace(BASE, context_window_compression=ContextWindowCompression(10, 20)),
            "target_tokens",
        ),
    ],
)
def test_invalid_config_is_refused_before_anything_is_sent(
    config: LiveConfig, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        encode_setup(config)


def test_model_name_gets_the_models_prefix_once() -> None:
    assert orjson.loads(encode_setup(BASE))["setup"]["model"] == "models/gemini-3.8-live"
    config = replace(BASE, model="models/gemini-3.8-live")
    assert orjson.loads(encode_setup(config))["setup"]["model"] == "models/gemini-3.8-live"


def test_minimal_setup_has_only_what_was_asked() -> None:
    config = replace(
        BASE, session_resumption=False, input_transcription=False, output_transcription=False
    )
    assert orjson.loads(encode_setup(config)) == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"]},
        }
    }


@pytest.mark.parametrize(
    "pcm",
    [
        np.array([1, -2, 300], dtype=np.int16),
        array.array("h", [1, -2, 300]),
        memoryview(np.array([1, -2, 300], dtype=np.int16).tobytes()),
        bytearray(np.array([1, -2, 300], dtype=np.int16).tobytes()),
        np.array([[1, -2, 300]], dtype=np.int16),
    ],
    ids=["ndarray", "array", "memoryview", "bytearray", "2d"],
)
def test_audio_accepts_any_int16_buffer(pcm: object) -> None:
    message = orjson.loads(encode_audio(pcm))
    expected = np.array([1, -2, 300], dtype=np.int16).tobytes()
    import base64

    assert base64.b64decode(message["realtimeInput"]["audio"]["data"]) == expected


@pytest.mark.parametrize(
    ("pcm", "fragment"),
    [
        (np.zeros(4, dtype=np.float32), "int16"),
        (b"\x00\x01\x02", "odd byte count"),
        (np.zeros((4, 4), dtype=np.int16)[:, 1], "contiguous"),
    ],
)
def test_audio_rejects_non_int16_buffers(pcm: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        encode_audio(pcm)


def test_audio_rate_is_in_the_mime_type_and_checked() -> None:
    assert b"audio/pcm;rate=24000" in encode_audio(b"\x00\x00", sample_rate_hz=24000)
    with pytest.raises(ConfigError, match="sample_rate_hz"):
        encode_audio(b"\x00\x00", sample_rate_hz=1000)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000).filter(lambda b: len(b) % 2 == 0))
def test_audio_message_is_valid_json_carrying_the_exact_bytes(pcm: bytes) -> None:
    import base64

    data = orjson.loads(encode_audio(pcm))["realtimeInput"]["audio"]["data"]
    assert base64.b64decode(data) == pcm


def test_bad_tool_responses_and_turns_are_refused() -> None:
    with pytest.raises(ConfigError, match="call id"):
        encode_tool_response([FunctionResponse("", "f", {})])
    with pytest.raises(ConfigError, match="scheduling"):
        encode_tool_response([FunctionResponse("a", "f", {}, "LATER")])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least one"):
        encode_tool_response([])
    with pytest.raises(ConfigError, match="JSON"):
        encode_tool_response([FunctionResponse("a", "f", {"x": object()})])
    with pytest.raises(ConfigError, match=r"turns\[0\]"):
        encode_client_content([{"role": "user"}])


def test_backoff_grows_caps_and_jitters_within_bounds() -> None:
    delays = list(
        itertools.islice(
            backoff(initial_s=1, factor=2, max_s=10, jitter=0.1, rng=random.Random(7)), 8
        )
    )
    nominal = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(0.9 * n <= d <= min(10, 1.1 * n) for d, n in zip(delays, nominal, strict=True))
    with pytest.raises(ConfigError):
        next(backoff(initial_s=5, max_s=1))


def test_close_codes_map_to_typed_errors_carrying_the_reason() -> None:
    for code, kind in (
        (1007, InvalidArgument),
        (1008, PolicyViolation),
        (1011, ServerInternalError),
        (1006, LiveConnectionClosed),
    ):
        error = closed_error(code, "why")
        assert type(error) is kind and error.code == code and error.reason == "why"
        assert "why" in str(error)
    assert not closed_error(1007).retryable and closed_error(1011).retryable
