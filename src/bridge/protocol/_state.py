"""Sans-I/O session state: what has been sent, what the server said, what is pending.

Rules:
- `setup_message()` once per connection; `connection_lost()` forgets per-connection state
  but keeps the resumption handle, so the next `setup_message()` resumes.
- Every received frame goes through `receive_data()`, which parses it and updates state;
  the caller acts on the returned events.
- A handle is kept only when the server marks it resumable.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._config import LiveConfig
from ._encode import encode_setup, encode_tool_response
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
from .errors import ProtocolError


class LiveProtocol:
    """State of one logical Live session across its connections. Does no I/O.

    `now_s` arguments are any monotonic clock in seconds (the caller's choice).
    """

    def __init__(self, config: LiveConfig, *, resumption_handle: str | None = None) -> None:
        config.validate()
        self.config = config
        self.resumption_handle: str | None = resumption_handle
        """Latest resumable handle (survives reconnects)."""
        self.setup_sent = False
        self.setup_complete = False
        self.session_id: str | None = None
        self.generating = False
        """True between the first reply part and generationComplete / interrupted."""
        self.pending_tool_calls: dict[str, str] = {}
        """Outstanding function call ids → function names."""
        self.go_away_deadline_s: float | None = None
        self.n_connections = 0

    def setup_message(self) -> bytes:
        """The setup for a new connection, resuming the last resumable handle if any."""
        if self.setup_sent:
            raise ProtocolError("setup was already sent on this connection")
        message = encode_setup(self.config, resumption_handle=self.resumption_handle)
        self.setup_sent = True
        self.n_connections += 1
        return message

    def receive_data(self, data: bytes | str, *, now_s: float = 0.0) -> list[ServerEvent]:
        """Parse one frame and update state; returns its events (raises `ProtocolError`)."""
        events = parse_server_message(data)
        for event in events:
            self.observe(event, now_s=now_s)
        return events

    def observe(self, event: ServerEvent, *, now_s: float = 0.0) -> None:
        """Update state from one event (for callers that parse themselves)."""
        kind = type(event)
        if kind is ModelAudio or kind is ModelText:
            self.generating = True
        elif kind is GenerationComplete or kind is Interrupted or kind is TurnComplete:
            self.generating = False
        elif kind is SetupComplete:
            self.setup_complete = True
            self.session_id = event.session_id  # type: ignore[union-attr]
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

    def tool_response(self, responses: Iterable[FunctionResponse]) -> bytes:
        """Encode responses and drop their ids from `pending_tool_calls`.

        Responses to ids that are no longer pending (cancelled) are still encoded; use
        `is_pending()` to skip them if the caller prefers.
        """
        items = list(responses)
        message = encode_tool_response(items)
        for response in items:
            self.pending_tool_calls.pop(response.id, None)
        return message

    def is_pending(self, call_id: str) -> bool:
        """Whether a function call is still awaiting its response."""
        return call_id in self.pending_tool_calls

    def connection_lost(self) -> None:
        """Forget per-connection state; the resumption handle is kept for the next setup."""
        self.setup_sent = False
        self.setup_complete = False
        self.generating = False
        self.pending_tool_calls.clear()
        self.go_away_deadline_s = None
