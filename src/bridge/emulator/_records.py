"""What the emulator remembers of each session, for tests to inspect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class TurnRecord:
    """One user turn as the emulator understood it."""

    index: int
    audio: bytearray = field(default_factory=bytearray)
    """Uplink PCM attributed to the turn (speech only), at `sample_rate_hz`."""
    sample_rate_hz: int = 16000
    text: str | None = None
    reply_audio_bytes: int = 0
    """24 kHz reply bytes actually sent for this turn."""
    interrupted: bool = False
    tool_calls: list[str] = field(default_factory=list)
    result: str | None = None
    """What the model says about a NON_BLOCKING call's result (a turn no user started)."""
    cut_by: str | None = None
    """Who ended the connection while this turn's reply was being generated: "client"
    (the bridge moved or closed too early) or "server" (a drop, a limit, a deadline)."""


@dataclass(slots=True)
class SessionRecord:
    """A logical session: its first setup and everything received over all its connections."""

    session_id: str
    setup: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Every client message after setup, keys normalised to camelCase, audio data decoded
    into `uplink_audio` (the message keeps the byte count under `data_bytes`)."""
    uplink_audio: bytearray = field(default_factory=bytearray)
    """Every uplink audio byte in arrival order, across all connections (with
    `record_audio_s` set, only the most recent ones: see `uplink_audio_start`)."""
    uplink_audio_start: int = 0
    """Offset in the whole uplink stream of `uplink_audio[0]` (bytes no longer kept)."""
    uplink_audio_by_connection: list[int] = field(default_factory=list)
    """Bytes received on each connection, in connection order."""
    turns: list[TurnRecord] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    """Resumption handles issued, oldest first; the last one is the valid one."""
    resumed_with: list[str] = field(default_factory=list)
    """Handles presented by connections that resumed this session."""
    close_codes: list[int] = field(default_factory=list)
    tool_responses: list[dict[str, Any]] = field(default_factory=list)

    def trim(self, n_audio_bytes: int, n_messages: int) -> None:
        """Keep at most the last `n_audio_bytes` of uplink audio and about `n_messages`
        messages (trimmed in batches, so appending stays cheap)."""
        excess = len(self.uplink_audio) - n_audio_bytes
        if excess > 0:
            del self.uplink_audio[:excess]
            self.uplink_audio_start += excess
        if len(self.messages) > 2 * n_messages:
            del self.messages[:-n_messages]

    @property
    def n_uplink_bytes(self) -> int:
        """Uplink audio bytes received over the session's life (kept or not)."""
        return sum(self.uplink_audio_by_connection)

    @property
    def n_connections(self) -> int:
        """How many connections carried this session."""
        return len(self.uplink_audio_by_connection)
