"""`/metrics`, `/livez` and `/readyz` for whatever a command runs, on the small HTTP server.

A command hands `serving()` a `Health`: its Prometheus text, and one line saying why it
is not alive or not ready (None when it is). `/livez` and `/readyz` answer 200 with "ok"
or 503 with that line, so an orchestrator's probe log says what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from .._http import Response, parse_addr, serve_http
from ..engine import MetricsSnapshot, Session
from ..engine._serve import PROMETHEUS_TEXT, sessions_text

__all__ = [
    "Health",
    "SessionsHealth",
    "gauges_text",
    "metrics_document",
    "serving",
    "session_snapshots",
]

PREFIX = "gemini_bridge"


class Health(Protocol):
    """What the endpoints report; every method is called on the event loop."""

    async def metrics(self) -> str:
        """The whole /metrics document (Prometheus text)."""
        ...

    def not_alive(self) -> str | None:
        """Why the process should be restarted, or None while it works."""
        ...

    def not_ready(self) -> str | None:
        """Why it should not count as up (yet), or None when it does."""
        ...


@contextlib.asynccontextmanager
async def serving(health: Health, addr: str) -> AsyncIterator[str]:
    """Serve `health` on `addr` (see `parse_addr`) within the block; yields the URL it
    listens on (with the real port when `addr` asked for port 0). Raises `OSError` when
    the address cannot be bound and `ValueError` when it does not parse."""
    host, port = parse_addr(addr)

    async def metrics() -> Response:
        return Response(200, await health.metrics(), PROMETHEUS_TEXT)

    async def livez() -> Response:
        return _probe(health.not_alive())

    async def readyz() -> Response:
        return _probe(health.not_ready())

    routes = {"/metrics": metrics, "/livez": livez, "/readyz": readyz}
    server = await serve_http(routes, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    try:
        yield f"http://{shown}:{bound_port}"
    finally:
        server.close()
        await server.wait_closed()


class SessionsHealth:
    """The health of a command that runs engine sessions and nothing else (`demo`):
    alive while the loop answers, ready while every session it holds is running."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    async def metrics(self) -> str:
        """The sessions' series, and how many of them run."""
        snapshots = await session_snapshots(self.sessions)
        gauges = {"chats_desired": len(self.sessions), "chats_live": len(snapshots)}
        return metrics_document(snapshots, gauges_text(gauges))

    def not_alive(self) -> str | None:
        """None: answering at all is what shows the loop works."""
        return None

    def not_ready(self) -> str | None:
        """Which session is not running, if any."""
        if not self.sessions:
            return "no session started yet"
        stopped = [name for name, session in self.sessions.items() if not session.running]
        return f"session {stopped[0]} is not running" if stopped else None


def _probe(problem: str | None) -> Response:
    if problem is None:
        return Response(200, "ok\n")
    return Response(503, " ".join(problem.split()) + "\n")


async def session_snapshots(sessions: Mapping[str, Session]) -> dict[str, MetricsSnapshot]:
    """Each running session's snapshot, letting the loop run between two of them: a
    snapshot sorts every latency histogram (milliseconds each at the default capacity)
    and the playout clock must not wait for all chats at once."""
    snapshots: dict[str, MetricsSnapshot] = {}
    for name, session in sessions.items():
        if session.running:
            snapshots[name] = session.metrics()
            await asyncio.sleep(0)
    return snapshots


def gauges_text(gauges: Mapping[str, float], counters: Mapping[str, int] | None = None) -> str:
    """Process-wide gauges (and counters, with `_total`) as Prometheus text."""
    lines: list[str] = []
    for key, value in gauges.items():
        lines += [f"# TYPE {PREFIX}_{key} gauge", f"{PREFIX}_{key} {value:.9g}"]
    for key, count in (counters or {}).items():
        lines += [f"# TYPE {PREFIX}_{key}_total counter", f"{PREFIX}_{key}_total {count:d}"]
    return "\n".join(lines) + "\n" if lines else ""


def metrics_document(snapshots: Mapping[str, MetricsSnapshot], process: str) -> str:
    """The process-wide lines, then every session's series labelled `chat="<name>"`."""
    return process + sessions_text(snapshots, label="chat")
