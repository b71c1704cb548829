"""The parser tolerates every spelling the service and SDKs use, and rejects garbage clearly."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol import (
    GoAway,
    InputTranscription,
    ModelAudio,
    OutputTranscription,
    ProtocolError,
    SessionResumptionUpdate,
    ToolCall,
    TurnComplete,
    Unknown,
    encode_audio,
    parse_duration_s,
    parse_server_message,
)

# Bytes whose base64 differs between the standard and URL-safe alphabets ("+/" vs "-_").
TRICKY = bytes([0xFB, 0xFF, 0xBF, 0xFE, 0x3E, 0x3F, 0x00, 0x80])


def audio_message(
    data: str,
    *,
    turn_key: str = "modelTurn",
    part_key: str = "inlineData",
    mime_key: str = "mimeType",
    content_key: str = "serverContent",
) -> bytes:
    part = {part_key: {mime_key: "audio/pcm;rate=24000", "data": data}}
    return orjson.dumps({content_key: {turn_key: {"parts": [part]}}})


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(TRICKY).decode(),
        base64.urlsafe_b64encode(TRICKY).decode(),
        base64.urlsafe_b64encode(TRICKY).decode().rstrip("="),
        base64.b64encode(TRICKY[:6]).decode().rstrip("="),
    ],
    ids=["standard", "urlsafe", "urlsafe-unpadded", "standard-unpadded"],
)
def test_both_base64_alphabets_decode_to_the_same_pcm(data: str) -> None:
    (event,) = parse_server_message(audio_message(data))
    assert isinstance(event, ModelAudio)
    assert TRICKY.startswith(event.pcm) and len(event.pcm) >= 6


@pytest.mark.parametrize(
    "spelling",
    [
        {},
        {
            "turn_key": "model_turn",
            "part_key": "inline_data",
            "mime_key": "mime_type",
            "content_key": "server_content",
        },
        {"turn_key": "modelTurnContent"},
        {"part_key": "audio"},
    ],
    ids=["camel", "snake", "modelTurnContent", "audio-part"],
)
def test_audio_is_found_under_every_known_spelling(spelling: dict[str, str]) -> None:
    data = base64.b64encode(b"\x01\x02\x03\x04").decode()
    assert parse_server_message(audio_message(data, **spelling)) == [
        ModelAudio(b"\x01\x02\x03\x04", 24000)
    ]


def test_sample_rate_comes_from_the_mime_type() -> None:
    message = {
        "serverContent": {
            "modelTurn": {
                "parts": [
                    {"inlineData": {"mimeType": "audio/pcm;rate=16000", "data": "AAA="}},
                    {"inlineData": {"data": "AAA="}},
                ]
            }
        }
    }
    events = parse_server_message(orjson.dumps(message))
    assert [e.sample_rate_hz for e in events if isinstance(e, ModelAudio)] == [16000, 24000]


def test_snake_case_top_level_keys() -> None:
    message = {
        "session_resumption_update": {"new_handle": "h1", "resumable": True},
        "go_away": {"time_left": "50s"},
        "tool_call": {"function_calls": [{"id": "a", "name": "f", "args": {"x": 1}}]},
        "server_content": {
            "input_transcription": {"text": "hi"},
            "output_transcription": {"text": "yo", "finished": True},
            "turn_complete": True,
        },
    }
    events = parse_server_message(orjson.dumps(message))
    assert SessionResumptionUpdate("h1", True) in events
    assert GoAway(50.0) in events
    assert any(isinstance(e, ToolCall) and e.calls[0].args == {"x": 1} for e in events)
    assert [
        type(e)
        for e in events
        if type(e) in (InputTranscription, OutputTranscription, TurnComplete)
    ] == [InputTranscription, OutputTranscription, TurnComplete]


def test_unknown_keys_never_raise() -> None:
    events = parse_server_message(b'{"brandNew": [1, 2], "serverContent": {"future": 1}}')
    assert events == [Unknown("brandNew", [1, 2]), Unknown("serverContent.future", 1)]


def test_an_empty_object_gives_no_events() -> None:
    assert parse_server_message(b"{}") == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b'{"serverContent": []}', "serverContent"),
        (b'{"serverContent": {"modelTurn": {"parts": {}}}}', "parts"),
        (
            b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": 5}}]}}}',
            "inlineData.data",
        ),
        (b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "A"}}]}}}', "base64"),
        (b'{"serverContent": {"inputTranscription": {"text": 3}}}', "inputTranscription.text"),
        (b'{"toolCall": {"functionCalls": [{"args": {}}]}}', "a name or an id"),
        (b'{"toolCall": {"functionCalls": [{"id": "x", "name": 7}]}}', "name: expected text"),
        (b'{"toolCall": {"functionCalls": [{"id": "x", "name": "f", "args": []}]}}', "args"),
        (b'{"toolCallCancellation": {"ids": [1]}}', "ids"),
        (b'{"sessionResumptionUpdate": {"newHandle": 7}}', "newHandle"),
        (b'{"serverContent": {"interrupted": "false"}}', "interrupted: expected true or false"),
        (b'{"serverContent": {"turnComplete": 1}}', "turnComplete"),
        (
            b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": 24000}}]}}}',
            "mimeType: expected text",
        ),
        (
            b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": {}}}]}}}',
            "mimeType: expected text",
        ),
        (b'{"serverContent": {"inputTranscription": {"finished": "yes"}}}', "finished"),
        (b'{"serverContent": {"turnCompleteReason": 3}}', "turnCompleteReason"),
        (
            b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            b'{"mimeType": "audio/pcm;rate=' + b"9" * 5000 + b'", "data": "AAAA"}}]}}}',
            "Hz is outside",
        ),
        (
            b'{"serverContent": {"modelTurn": {"parts": [{"inlineData": '
            b'{"mimeType": "audio/pcm;rate=7", "data": "AAAA"}}]}}}',
            "7 Hz is outside",
        ),
    ],
)
def test_malformed_messages_raise_protocol_error_naming_the_problem(
    data: bytes, fragment: str
) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        parse_server_message(data)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("50s", 50.0),
        ("9.5s", 9.5),
        ("0s", 0.0),
        ({"seconds": 9, "nanos": 500_000_000}, 9.5),
        (3, 3.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration_s(value) == seconds


def test_audio_round_trips_through_encode_and_parse() -> None:
    pcm = bytes(range(256)) * 4
    body = orjson.loads(encode_audio(pcm))["realtimeInput"]["audio"]
    server = {"serverContent": {"modelTurn": {"parts": [{"inlineData": body}]}}}
    assert parse_server_message(orjson.dumps(server)) == [ModelAudio(pcm, 16000)]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "serverContent",
                    "modelTurn",
                    "parts",
                    "inlineData",
                    "data",
                    "text",
                    "toolCall",
                    "functionCalls",
                    "goAway",
                    "timeLeft",
                    "ids",
                    "x",
                    "setupComplete",
                    "usageMetadata",
                    "turnComplete",
                    "interrupted",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_fuzzed_json_gives_events_or_protocol_error(value: object) -> None:
    data = orjson.dumps(value)
    try:
        events = parse_server_message(data)
    except ProtocolError as exc:
        assert str(exc)
    else:
        assert isinstance(events, list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_fuzzed_bytes_give_events_or_protocol_error(data: bytes) -> None:
    try:
        events = parse_server_message(data)
    except ProtocolError as exc:
        assert str(exc)
    else:
        assert isinstance(events, list)


def test_fast_path_and_general_path_agree() -> None:
    pcm = bytes(range(256)) * 3
    fast = orjson.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/pcm;rate=24000",
                                "data": base64.urlsafe_b64encode(pcm).decode(),
                            }
                        }
                    ]
                },
                "outputTranscription": {"text": "x"},
            }
        }
    )
    general = fast.decode()  # text frames take the general path
    assert parse_server_message(fast) == parse_server_message(general)
    assert parse_server_message(fast)[0] == ModelAudio(pcm, 24000)
    escaped = fast.replace(b"rate=24000", b"rate=24000\\u0020")
    assert parse_server_message(escaped)[0] == ModelAudio(pcm, 24000)
    with pytest.raises(ProtocolError, match="base64"):
        parse_server_message(fast.replace(b'"data":"', b'"data":"*'))


def test_shapes_the_audio_shortcut_does_not_cover_take_the_general_path() -> None:
    duplicate = (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"AAAA"}}]}},'
        b'"serverContent":{"turnComplete":true}}'
    )
    assert parse_server_message(duplicate) == [TurnComplete()]
    nested = (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"meta":{"data":"x"},'
        b'"data":"AQA="}}]}}}'
    )
    assert parse_server_message(nested) == [ModelAudio(b"\x01\x00", 24000)]
    two_parts = (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"AQA="}},'
        b'{"inlineData":{"data":"AgA="}}]}}}'
    )
    assert parse_server_message(two_parts) == [
        ModelAudio(b"\x01\x00", 24000),
        ModelAudio(b"\x02\x00", 24000),
    ]
