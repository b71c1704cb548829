"""What a session reports to the layer above it (the Telegram chat, the demo, a user's app).

Events are small frozen dataclasses. A session publishes them in order through an async
iterator (`Session.events()`) and to any registered callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "model"]


@dataclass(frozen=True, slots=True)
class Transcript:
    """Transcription text of one turn so far. `text` is cumulative for the turn."""

    role: Role
    turn_id: int
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """The model began replying (first reply audio or text of turn `turn_id`)."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """A model turn ended; `heard_s` is how much of its audio was played out."""

    turn_id: int
    interrupted: bool
    heard_s: float


@dataclass(frozen=True, slots=True)
class ToolActivity:
    """A tool call changed state.

    `detail`: the result as JSON when "finished", the error when "failed" or "cancelled";
    "slow" means a call the model waits on is still running after `tools.slow_notice_s`.
    """

    call_id: str
    name: str
    status: Literal["started", "slow", "finished", "failed", "cancelled"]
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The session moved to a new connection (goAway or drop); `gap_s` without a socket."""

    reason: str
    gap_s: float
    resumed: bool


@dataclass(frozen=True, slots=True)
class SessionError:
    """Something went wrong that the session survived (or, if `fatal`, did not)."""

    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class RetriesExhausted:
    """Reconnecting used up its attempts; the session keeps trying once per `cool_down_s`."""

    message: str
    cool_down_s: float


@dataclass(frozen=True, slots=True)
class ReplyCut:
    """The connection ended while the server was still generating reply `turn_id`.

    `question` is what the user said (input transcription, may be empty); `reasked` tells
    whether the session sent it again as a text turn on the next connection.
    """

    turn_id: int
    question: str
    reasked: bool


Event = (
    Transcript
    | TurnStarted
    | TurnEnded
    | ToolActivity
    | Reconnected
    | SessionError
    | RetriesExhausted
    | ReplyCut
)
