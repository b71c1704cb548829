"""A minimal Prometheus scrape endpoint for the sessions of a process (loopback by default)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from ._metrics import MetricsSnapshot, prometheus_text

SnapshotSource = Callable[[], Mapping[str, MetricsSnapshot]]
"""Returns the current snapshot of every session, keyed by a session name."""


async def serve_metrics(
    snapshots: SnapshotSource, port: int = 0, host: str = "127.0.0.1"
) -> asyncio.Server:
    """Serve `GET /metrics` in Prometheus text format until the server is closed.

    Each session's series carry the label `session="<name>"`. Any other path is a 404.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        method, _, rest = request.partition(b" ")
        path = rest.split(b" ", 1)[0]
        if method == b"GET" and path in (b"/metrics", b"/metrics/"):
            current = snapshots()
            names = list(current)
            labels = [
                'session="{}"'.format(n.replace("\\", "\\\\").replace('"', '\\"')) for n in names
            ]
            body = prometheus_text([current[n] for n in names], labels=labels).encode()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
        else:
            body = b"not found\n"
            head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)
