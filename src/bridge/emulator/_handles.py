"""Logical sessions and the resumption handles that name them.

A logical session outlives its connections: a client that reconnects with the latest
handle it was given continues the same session (and the same `SessionRecord`). The
server (`_server.py`) looks handles up when a setup arrives; a connection
(`_session.py`) issues a fresh one after setup and after each turn. Both use this
registry, so neither imports the other.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from ._records import SessionRecord

__all__ = ["HandleRegistry", "LogicalSession"]


@dataclass(slots=True)
class LogicalSession:
    """A session that may span several connections through resumption handles."""

    record: SessionRecord
    live_handle: str | None = None
    attached: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while a connection serves this session."""
    started_s: float = 0.0
    """Loop time at which the session began (its limits count from here)."""
    ended: str | None = None
    """Why the service ended the session for good; resuming it is then refused."""


class HandleRegistry:
    """The live resumption handle of every logical session; older handles are stale."""

    def __init__(self) -> None:
        self._sessions: dict[str, LogicalSession] = {}

    def issue(self, session: LogicalSession) -> str:
        """A new resumption handle for `session`; its previous one stops working."""
        if session.live_handle is not None:
            self._sessions.pop(session.live_handle, None)
        handle = secrets.token_urlsafe(18)
        session.live_handle = handle
        session.record.handles.append(handle)
        self._sessions[handle] = session
        return handle

    def lookup(self, handle: str) -> LogicalSession | None:
        """The session `handle` resumes, or None if it is unknown or stale."""
        return self._sessions.get(handle)
