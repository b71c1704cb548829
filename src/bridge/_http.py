"""A small HTTP/1.1 server for a process's own endpoints (metrics and health probes).

One request per connection (`Connection: close`), GET and HEAD only, no body read. It
sits on the same event loop as the audio, so a client must not be able to hold it: the
request head is at most `max_request_bytes` (else 431), it must arrive within
`read_timeout_s` (else 408), the answer must be taken within `write_timeout_s` (else the
connection is dropped), and at most `max_connections` are open at once (others get a 503
and are closed at once). Unknown paths are a 404, other methods a 405.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Response", "Route", "parse_addr", "serve_http"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers: a status and a text body."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Awaitable[Response]]
"""Answers GET (and HEAD) on one path."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def parse_addr(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` → (host, port); the host defaults to
    127.0.0.1 (loopback: a metrics endpoint is not for the world unless asked). Port 0
    picks a free port. Raises `ValueError` naming what is wrong."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "", value
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"HTTP address {text!r}: unclosed '[' around an IPv6 host")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"HTTP address {text!r}: write an IPv6 host in brackets, [::1]:9464")
    if not port_text.isdigit() or int(port_text) > 65_535:
        raise ValueError(f"HTTP address {text!r}: the port must be a number in 0..65535")
    return host or DEFAULT_HOST, int(port_text)


async def serve_http(
    routes: Mapping[str, Route],
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    max_request_bytes: int = 8192,
    read_timeout_s: float = 5.0,
    write_timeout_s: float = 5.0,
    max_connections: int = 32,
) -> asyncio.Server:
    """Serve `routes` (path → route) on `host:port` until the returned server is closed."""
    open_connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        if open_connections >= max_connections:
            await _answer(writer, "GET", Response(503, "too many connections\n"), write_timeout_s)
            return
        open_connections += 1
        try:
            method, response = await _respond(reader, routes, read_timeout_s)
            if response is not None:
                await _answer(writer, method, response, write_timeout_s)
        finally:
            open_connections -= 1
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=max_request_bytes)


async def _respond(
    reader: asyncio.StreamReader, routes: Mapping[str, Route], read_timeout_s: float
) -> tuple[str, Response | None]:
    """The request's method and the answer to it (None: the client went away)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), read_timeout_s)
    except TimeoutError:
        return "GET", Response(408, f"no complete request within {read_timeout_s:g} s\n")
    except asyncio.LimitOverrunError:
        return "GET", Response(431, "request head too large\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return "GET", None
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "GET", Response(400, "malformed request line\n")
    method, target = parts[0], parts[1]
    route = routes.get(target.split("?", 1)[0])
    if route is None:
        return method, Response(404, f"no such path; try {', '.join(sorted(routes))}\n")
    if method not in ("GET", "HEAD"):
        return "GET", Response(405, f"method {method[:16]!r} not allowed; use GET or HEAD\n")
    try:
        return method, await route()
    except Exception as exc:
        log.warning("%s failed: %s: %s", target, type(exc).__name__, exc, exc_info=exc)
        return method, Response(500, f"internal error: {type(exc).__name__}\n")


async def _answer(
    writer: asyncio.StreamWriter, method: str, response: Response, write_timeout_s: float
) -> None:
    body = response.body.encode()
    allow = b"Allow: GET, HEAD\r\n" if response.status == 405 else b""
    head = (
        f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}\r\n"
        f"Content-Type: {response.content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n"
    ).encode()
    writer.write(head + allow + b"\r\n" + (b"" if method == "HEAD" else body))
    try:
        await asyncio.wait_for(writer.drain(), write_timeout_s)
    except (TimeoutError, ConnectionError):
        writer.transport.abort()
    with contextlib.suppress(Exception):
        writer.close()
