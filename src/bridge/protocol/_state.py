"""Sans-I/O session state machine: what may be sent now, what the server said, what is pending.

Design (after h11's `_state.py`):

- One `LiveProtocol` is one logical Live session; it outlives its connections. `state` is
  the state of the current connection and moves only along `_TRANSITIONS` below.
- Every client message is built here, and each builder first fires its trigger. A trigger
  the table does not list for the current state raises `LocalProtocolError` before
  anything is built: nothing is sent and nothing changes. So no audio, text or tool
  response goes out before `setupComplete` or after the connection ended, and a
  connection never gets a second setup.
- Guards the table cannot express, checked the same way: a tool response must name a
  pending call (not unknown, answered or cancelled); `audioStreamEnd` needs the server's
  activity detection, `activityStart`/`activityEnd` need it disabled.
- Server frames go in through `receive_data()` (or parsed events through `observe()`).
  The server is not ours to police: a malformed frame is a `ProtocolError` from the
  parser, and an event in a surprising order is tolerated, never a local error.
- `connection_lost()` is legal in every state. It forgets per-connection sub-state
  (generating, pending tool calls, goAway deadline) and keeps the resumption handle, so
  the next `setup_message()` resumes. Only a handle the server marked resumable is kept.
- Times are whatever monotonic clock the caller passes as `now_s`: the state machine
  never reads a clock, so tests drive it without sockets or sleeps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._config import LiveConfig
from ._encode import (
    encode_activity_end,
    encode_activity_start,
    encode_audio,
    encode_audio_stream_end,
    encode_client_content,
    encode_setup,
    encode_text,
    encode_tool_response,
)
from ._events import (
    FunctionResponse,
    GenerationComplete,
    GoAway,
    Interrupted,
    ModelAudio,
    ModelText,
    ServerEvent,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
)
from ._parse import parse_server_message
from .errors import LocalProtocolError


class ProtocolState(enum.Enum):
    """Where the current connection of a `LiveProtocol` stands."""

    IDLE = "idle"
    """No connection yet."""
    SETUP_SENT = "setup sent"
    """The setup went out; waiting for `setupComplete`."""
    READY = "ready"
    """`setupComplete` arrived: realtime input, client content and tool responses may go."""
    CLOSED = "closed"
    """The connection ended; the next `setup_message()` starts (or resumes) a new one."""


class _Trigger(enum.Enum):
    SEND_SETUP = "send setup"
    SETUP_COMPLETE = "receive setupComplete"
    RECEIVE = "receive a server message"
    SEND_INPUT = "send realtime input"
    SEND_CONTENT = "send client content"
    SEND_TOOL_RESPONSE = "send a tool response"
    CONNECTION_LOST = "lose the connection"


_S = ProtocolState
_T = _Trigger
_TRANSITIONS: dict[ProtocolState, dict[_Trigger, ProtocolState]] = {
    _S.IDLE: {_T.SEND_SETUP: _S.SETUP_SENT, _T.CONNECTION_LOST: _S.IDLE},
    _S.SETUP_SENT: {
        _T.SETUP_COMPLETE: _S.READY,
        _T.RECEIVE: _S.SETUP_SENT,
        _T.CONNECTION_LOST: _S.CLOSED,
    },
    _S.READY: {
        _T.SETUP_COMPLETE: _S.READY,  # a repeated setupComplete is the server's quirk
        _T.RECEIVE: _S.READY,
        _T.SEND_INPUT: _S.READY,
        _T.SEND_CONTENT: _S.READY,
        _T.SEND_TOOL_RESPONSE: _S.READY,
        _T.CONNECTION_LOST: _S.CLOSED,
    },
    _S.CLOSED: {_T.SEND_SETUP: _S.SETUP_SENT, _T.CONNECTION_LOST: _S.CLOSED},
}


class LiveProtocol:
    """State of one logical Live session across its connections. Does no I/O.

    ```python
    protocol = LiveProtocol(config)
    send(protocol.setup_message())
    for event in protocol.receive_data(frame, now_s=time.monotonic()):
        ...                                  # after SetupComplete: protocol.state is READY
    send(protocol.audio_message(pcm_20ms))   # LocalProtocolError before setupComplete
    ```
    """

    def __init__(self, config: LiveConfig, *, resumption_handle: str | None = None) -> None:
        config.validate()
        self.config = config
        self.state = ProtocolState.IDLE
        """The current connection's state; changes only through the transition table."""
        self.resumption_handle: str | None = resumption_handle
        """Latest resumable handle (survives reconnects); set it to None to start afresh."""
        self.resuming = False
        """The current connection's setup carried a resumption handle."""
        self.resumed = False
        """The current connection resumed: its setup carried a handle and it is READY."""
        self.session_id: str | None = None
        self.generating = False
        """True between the first reply part and generationComplete / interrupted."""
        self.pending_tool_calls: dict[str, str] = {}
        """Outstanding function call ids → function names."""
        self.go_away_deadline_s: float | None = None
        """When the server will close this connection (its goAway), on the caller's clock."""
        self.n_connections = 0
        """Setups sent so far: the current connection's number, counting from 1."""
        detection = config.realtime_input.activity_detection
        self._client_marks_activity = detection.disabled

    @property
    def setup_complete(self) -> bool:
        """Whether the current connection is READY."""
        return self.state is ProtocolState.READY

    def _fire(self, trigger: _Trigger) -> ProtocolState:
        """The state `trigger` leads to; raises `LocalProtocolError` if it is illegal now."""
        new_state = _TRANSITIONS[self.state].get(trigger)
        if new_state is None:
            raise LocalProtocolError(
                f"cannot {trigger.value} when the connection is {self.state.value}"
            )
        return new_state

    # -- client messages --------------------------------------------------------------

    def setup_message(self) -> bytes:
        """The setup for a new connection, resuming the last resumable handle if any."""
        new_state = self._fire(_T.SEND_SETUP)
        message = encode_setup(self.config, resumption_handle=self.resumption_handle)
        self.state = new_state
        self.resuming = self.resumption_handle is not None
        self.n_connections += 1
        return message

    def audio_message(self, pcm: Any, *, sample_rate_hz: int = 16000) -> bytes:
        """`realtimeInput.audio` carrying int16 `pcm` (any C-contiguous buffer)."""
        self._fire(_T.SEND_INPUT)
        return encode_audio(pcm, sample_rate_hz=sample_rate_hz)

    def text_message(self, text: str) -> bytes:
        """`realtimeInput.text`: text the model treats like speech."""
        self._fire(_T.SEND_INPUT)
        return encode_text(text)

    def audio_stream_end(self) -> bytes:
        """`realtimeInput.audioStreamEnd`: the microphone paused (automatic detection only)."""
        self._fire(_T.SEND_INPUT)
        if self._client_marks_activity:
            raise LocalProtocolError(
                "audioStreamEnd needs automatic activity detection, which the setup disabled"
            )
        return encode_audio_stream_end()

    def activity_start(self) -> bytes:
        """`realtimeInput.activityStart` (only when automatic activity detection is disabled)."""
        self._fire(_T.SEND_INPUT)
        self._require_client_activity("activityStart")
        return encode_activity_start()

    def activity_end(self) -> bytes:
        """`realtimeInput.activityEnd` (only when automatic activity detection is disabled)."""
        self._fire(_T.SEND_INPUT)
        self._require_client_activity("activityEnd")
        return encode_activity_end()

    def _require_client_activity(self, what: str) -> None:
        if not self._client_marks_activity:
            raise LocalProtocolError(
                f"{what} needs automatic activity detection disabled in the setup"
            )

    def client_content_message(
        self, turns: str | Sequence[Mapping[str, Any]], *, turn_complete: bool = True
    ) -> bytes:
        """`clientContent` (interrupts any generation in progress); see `encode_client_content`."""
        self._fire(_T.SEND_CONTENT)
        return encode_client_content(turns, turn_complete=turn_complete)

    def tool_response(self, responses: Iterable[FunctionResponse]) -> bytes:
        """Encode responses to pending calls and drop their ids from `pending_tool_calls`.

        Raises `LocalProtocolError` (and changes nothing) if a response names an id that
        is not pending: unknown, already answered, cancelled or from an earlier connection.
        A response with `will_continue=True` leaves its call pending for the next part.
        """
        self._fire(_T.SEND_TOOL_RESPONSE)
        items = list(responses)
        for response in items:
            call_id = getattr(response, "id", None)
            if isinstance(call_id, str) and call_id and call_id not in self.pending_tool_calls:
                raise LocalProtocolError(
                    f"tool response for {call_id!r}: no such call is pending"
                    " (unknown, answered, cancelled or from an earlier connection)"
                )
        message = encode_tool_response(items)  # ConfigError for a bad response: nothing changes
        for response in items:
            if response.will_continue is not True:
                self.pending_tool_calls.pop(response.id, None)
        return message

    def is_pending(self, call_id: str) -> bool:
        """Whether a function call is still awaiting its response."""
        return call_id in self.pending_tool_calls

    # -- server messages --------------------------------------------------------------

    def receive_data(self, data: bytes | str, *, now_s: float = 0.0) -> list[ServerEvent]:
        """Parse one frame and update state; returns its events (raises `ProtocolError`)."""
        self._fire(_T.RECEIVE)
        events = parse_server_message(data)
        for event in events:
            self.observe(event, now_s=now_s)
        return events

    def observe(self, event: ServerEvent, *, now_s: float = 0.0) -> None:
        """Update state from one server event (for callers that parse frames themselves)."""
        kind = type(event)
        if kind is SetupComplete:
            self.state = self._fire(_T.SETUP_COMPLETE)
            self.resumed = self.resuming
            self.session_id = event.session_id  # type: ignore[union-attr]
            return
        self._fire(_T.RECEIVE)
        if kind is ModelAudio or kind is ModelText:
            self.generating = True
        elif kind is GenerationComplete or kind is Interrupted or kind is TurnComplete:
            self.generating = False
        elif kind is SessionResumptionUpdate:
            if event.resumable and event.handle:  # type: ignore[union-attr]
                self.resumption_handle = event.handle  # type: ignore[union-attr]
        elif kind is ToolCall:
            for call in event.calls:  # type: ignore[union-attr]
                self.pending_tool_calls[call.id] = call.name
        elif kind is ToolCallCancellation:
            for call_id in event.ids:  # type: ignore[union-attr]
                self.pending_tool_calls.pop(call_id, None)
        elif kind is GoAway:
            self.go_away_deadline_s = now_s + event.time_left_s  # type: ignore[union-attr]

    def connection_lost(self) -> None:
        """The connection ended: forget its sub-state, keep the resumption handle."""
        self.state = self._fire(_T.CONNECTION_LOST)
        self.resuming = self.resumed = False
        self.generating = False
        self.pending_tool_calls.clear()
        self.go_away_deadline_s = None
