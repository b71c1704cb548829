"""A minimal Prometheus scrape endpoint for the sessions of a process (loopback by default)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from .._http import Response, serve_http
from ._metrics import MetricsSnapshot, prometheus_text

SnapshotSource = Callable[[], Mapping[str, MetricsSnapshot]]
"""Returns the current snapshot of every session, keyed by a session name."""

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
"""The content type of the Prometheus text exposition format."""


def session_label(name: str, label: str = "session") -> str:
    """`label="name"` with the value escaped as the exposition format requires."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{label}="{escaped}"'


def sessions_text(snapshots: Mapping[str, MetricsSnapshot], label: str = "session") -> str:
    """Every session's series in one document, each labelled `label="<name>"`."""
    names = list(snapshots)
    labels = [session_label(name, label) for name in names]
    return prometheus_text([snapshots[name] for name in names], labels=labels)


async def serve_metrics(
    snapshots: SnapshotSource, port: int = 0, host: str = "127.0.0.1"
) -> asyncio.Server:
    """Serve `GET /metrics` in Prometheus text format until the server is closed.

    Each session's series carry the label `session="<name>"`. Any other path is a 404.
    """

    async def metrics() -> Response:
        return Response(200, sessions_text(snapshots()), PROMETHEUS_TEXT)

    return await serve_http({"/metrics": metrics}, host, port)
