"""The session state machine, driven by events alone: no sockets, no clocks, no sleeps."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol import (
    AutomaticActivityDetection,
    ConfigError,
    FunctionCall,
    FunctionResponse,
    GenerationComplete,
    GoAway,
    Interrupted,
    LiveConfig,
    LiveProtocol,
    LocalProtocolError,
    ModelAudio,
    ModelText,
    ProtocolState,
    RealtimeInputConfig,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    encode_audio,
)

CONFIG = LiveConfig(model="gemini-3.8-live")
MANUAL = LiveConfig(
    model="gemini-3.8-live",
    realtime_input=RealtimeInputConfig(
        activity_detection=AutomaticActivityDetection(disabled=True)
    ),
)
PCM = b"\x01\x00\xff\xff"


def snapshot(protocol: LiveProtocol) -> dict[str, object]:
    """Everything a refused message must leave as it was."""
    state = {k: v for k, v in vars(protocol).items() if k != "config"}
    state["pending_tool_calls"] = dict(protocol.pending_tool_calls)
    return state


def ready(config: LiveConfig = CONFIG) -> LiveProtocol:
    protocol = LiveProtocol(config)
    protocol.setup_message()
    protocol.observe(SetupComplete("s-1"))
    return protocol


def test_a_connection_goes_from_setup_to_ready_to_closed_and_the_next_one_resumes() -> None:
    protocol = LiveProtocol(CONFIG)
    assert protocol.state is ProtocolState.IDLE
    first = orjson.loads(protocol.setup_message())
    assert first["setup"]["sessionResumption"] == {}
    assert protocol.state is ProtocolState.SETUP_SENT and not protocol.resuming
    protocol.observe(SetupComplete("s-1"))
    assert protocol.state is ProtocolState.READY and protocol.session_id == "s-1"
    assert not protocol.resumed
    protocol.observe(SessionResumptionUpdate("h1", True))
    protocol.observe(SessionResumptionUpdate("h2", False))  # not resumable: not kept
    protocol.connection_lost()
    assert protocol.state is ProtocolState.CLOSED and protocol.resumption_handle == "h1"

    second = orjson.loads(protocol.setup_message())
    assert second["setup"]["sessionResumption"] == {"handle": "h1"}
    assert protocol.resuming and not protocol.resumed  # not until the server accepts it
    protocol.observe(SetupComplete())
    assert protocol.resumed and protocol.n_connections == 2


def test_a_refused_resume_leaves_resumed_false_and_the_handle_can_be_dropped() -> None:
    protocol = LiveProtocol(CONFIG, resumption_handle="old")
    protocol.setup_message()
    assert protocol.resuming
    protocol.connection_lost()  # the server closed instead of answering
    assert not protocol.resuming and not protocol.resumed
    protocol.resumption_handle = None
    fresh = orjson.loads(protocol.setup_message())
    assert fresh["setup"]["sessionResumption"] == {}
    protocol.observe(SetupComplete())
    assert not protocol.resumed


BUILDERS: dict[str, Callable[[LiveProtocol], bytes]] = {
    "audio": lambda p: p.audio_message(PCM),
    "text": lambda p: p.text_message("hello"),
    "audioStreamEnd": lambda p: p.audio_stream_end(),
    "clientContent": lambda p: p.client_content_message("hello"),
    "toolResponse": lambda p: p.tool_response([FunctionResponse("a", "f", {})]),
}


@pytest.mark.parametrize("builder", BUILDERS.values(), ids=BUILDERS.keys())
@pytest.mark.parametrize("moves", ["new", "setup sent", "closed"])
def test_client_messages_outside_a_ready_connection_are_refused_and_change_nothing(
    builder: Callable[[LiveProtocol], bytes], moves: str
) -> None:
    protocol = LiveProtocol(CONFIG)
    if moves != "new":
        protocol.setup_message()
        protocol.observe(ToolCall((FunctionCall("a", "f"),)))  # a call before setupComplete
    if moves == "closed":
        protocol.observe(SetupComplete())
        protocol.connection_lost()
    before = snapshot(protocol)
    with pytest.raises(LocalProtocolError, match=r"^cannot send .* when the connection is "):
        builder(protocol)
    assert snapshot(protocol) == before


def test_a_second_setup_on_one_connection_is_refused() -> None:
    protocol = LiveProtocol(CONFIG)
    protocol.setup_message()
    with pytest.raises(LocalProtocolError, match="setup sent"):
        protocol.setup_message()
    protocol.observe(SetupComplete())
    with pytest.raises(LocalProtocolError, match="ready"):
        protocol.setup_message()
    assert protocol.n_connections == 1


def test_messages_built_in_a_ready_connection_are_the_wire_messages() -> None:
    protocol = ready()
    assert protocol.audio_message(PCM, sample_rate_hz=24000) == encode_audio(
        PCM, sample_rate_hz=24000
    )
    assert orjson.loads(protocol.text_message("hi")) == {"realtimeInput": {"text": "hi"}}
    assert orjson.loads(protocol.audio_stream_end()) == {"realtimeInput": {"audioStreamEnd": True}}
    content = orjson.loads(protocol.client_content_message("hi", turn_complete=False))
    assert content["clientContent"]["turnComplete"] is False
    with pytest.raises(ConfigError, match="int16"):  # bad input is still a ConfigError
        protocol.audio_message(memoryview(b"\0" * 8).cast("f"))


def test_tool_responses_go_only_to_pending_calls() -> None:
    protocol = ready()
    protocol.observe(
        ToolCall((FunctionCall("a", "f"), FunctionCall("b", "g"), FunctionCall("c", "h")))
    )
    protocol.observe(ToolCallCancellation(("a",)))
    with pytest.raises(LocalProtocolError, match="'a': no such call is pending"):
        protocol.tool_response([FunctionResponse("a", "f", {})])
    with pytest.raises(LocalProtocolError, match="'zz'"):  # refused whole: b stays pending
        protocol.tool_response([FunctionResponse("b", "g", {}), FunctionResponse("zz", "f", {})])
    assert protocol.pending_tool_calls == {"b": "g", "c": "h"}

    # An unserialisable result is a ConfigError and leaves the call open for an error reply.
    with pytest.raises(ConfigError, match="JSON"):
        protocol.tool_response([FunctionResponse("b", "g", {"x": object()})])
    assert protocol.is_pending("b")
    message = orjson.loads(protocol.tool_response([FunctionResponse("b", "g", {"ok": True})]))
    assert message["toolResponse"]["functionResponses"][0]["id"] == "b"
    with pytest.raises(LocalProtocolError, match="answered"):
        protocol.tool_response([FunctionResponse("b", "g", {})])

    # A NON_BLOCKING call answered in parts stays pending until its last part.
    protocol.tool_response([FunctionResponse("c", "h", {"part": 1}, will_continue=True)])
    assert protocol.is_pending("c")
    protocol.tool_response([FunctionResponse("c", "h", {"part": 2})])
    assert not protocol.pending_tool_calls


def test_a_call_from_an_earlier_connection_cannot_be_answered_on_the_next() -> None:
    protocol = ready()
    protocol.observe(ToolCall((FunctionCall("a", "f"),)))
    protocol.connection_lost()
    protocol.setup_message()
    protocol.observe(SetupComplete())
    with pytest.raises(LocalProtocolError, match="earlier connection"):
        protocol.tool_response([FunctionResponse("a", "f", {})])


def test_activity_markers_follow_the_setup() -> None:
    automatic, manual = ready(), ready(MANUAL)
    for marker in (automatic.activity_start, automatic.activity_end):
        with pytest.raises(LocalProtocolError, match="disabled in the setup"):
            marker()
    with pytest.raises(LocalProtocolError, match="the setup disabled"):
        manual.audio_stream_end()
    assert orjson.loads(manual.activity_start()) == {"realtimeInput": {"activityStart": {}}}
    assert orjson.loads(manual.activity_end()) == {"realtimeInput": {"activityEnd": {}}}


def test_generating_runs_from_the_first_reply_part_to_its_end() -> None:
    protocol = ready()
    for end in (GenerationComplete(), Interrupted(), TurnComplete()):
        for part in (ModelAudio(PCM, 24000), ModelText("hi")):
            protocol.observe(part)
            assert protocol.generating
            protocol.observe(end)
            assert not protocol.generating
    protocol.observe(ModelAudio(PCM, 24000))
    protocol.connection_lost()
    assert not protocol.generating


def test_the_go_away_deadline_is_on_the_callers_clock_and_ends_with_the_connection() -> None:
    protocol = ready()
    assert protocol.go_away_deadline_s is None
    protocol.observe(GoAway(5.0), now_s=100.0)
    assert protocol.go_away_deadline_s == 105.0
    protocol.receive_data(b'{"goAway": {"timeLeft": "2.5s"}}', now_s=101.0)
    assert protocol.go_away_deadline_s == 103.5  # the latest word counts
    protocol.connection_lost()
    assert protocol.go_away_deadline_s is None


def test_server_frames_without_a_connection_are_a_local_error() -> None:
    protocol = LiveProtocol(CONFIG)
    with pytest.raises(LocalProtocolError, match="idle"):
        protocol.receive_data(b'{"setupComplete": {}}')
    with pytest.raises(LocalProtocolError, match="idle"):
        protocol.observe(SetupComplete())
    assert protocol.state is ProtocolState.IDLE


def test_server_events_in_a_surprising_order_are_tolerated() -> None:
    protocol = LiveProtocol(CONFIG)
    protocol.setup_message()
    # Before setupComplete: state is updated but the connection is not ready yet.
    protocol.receive_data(b'{"sessionResumptionUpdate": {"newHandle": "h", "resumable": true}}')
    assert protocol.state is ProtocolState.SETUP_SENT and protocol.resumption_handle == "h"
    protocol.observe(SetupComplete("s-1"))
    protocol.observe(SetupComplete("s-1"))  # a repeated setupComplete is not our error
    assert protocol.state is ProtocolState.READY


OPERATIONS: dict[str, Callable[[LiveProtocol], object]] = {
    "setup": lambda p: p.setup_message(),
    "setupComplete": lambda p: p.observe(SetupComplete()),
    "toolCall": lambda p: p.observe(ToolCall((FunctionCall("x", "f"),))),
    "cancel": lambda p: p.observe(ToolCallCancellation(("x",))),
    "audio": lambda p: p.audio_message(PCM),
    "respond": lambda p: p.tool_response([FunctionResponse("x", "f", {})]),
    "goAway": lambda p: p.observe(GoAway(1.0), now_s=1.0),
    "lost": lambda p: p.connection_lost(),
}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(OPERATIONS)), max_size=25))
def test_any_sequence_either_moves_the_state_or_is_refused_without_a_trace(
    names: list[str],
) -> None:
    protocol = LiveProtocol(CONFIG)
    for name in names:
        before = snapshot(protocol)
        was_ready = protocol.state is ProtocolState.READY
        try:
            OPERATIONS[name](protocol)
        except LocalProtocolError as exc:
            assert str(exc)
            assert snapshot(protocol) == before
            assert name != "lost"
            assert not (name == "audio" and was_ready)
        else:
            assert name != "audio" or was_ready
            assert name != "respond" or before["pending_tool_calls"] == {"x": "f"}
        if name == "lost":
            assert not protocol.pending_tool_calls and protocol.go_away_deadline_s is None
