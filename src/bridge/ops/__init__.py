"""Running the bridge as a service: endpoints, signals, the chats file.

- `_endpoints`: `serving(health, addr)` serves `/metrics`, `/livez` and `/readyz` for a
  `Health` (on `bridge._http`, a small bounded HTTP server); `session_snapshots` and
  `gauges_text` build the metrics document.
- `_signals`: `shutdown_signals()`: the first SIGTERM/SIGINT drains, the second ends at
  once, SIGHUP reloads.
- `_chatsfile`: `ChatsFile`, the chats file format and its reloads.

Nothing here needs the Telegram packages: `demo` serves the same endpoints.
"""

from ._chatsfile import ChatsFile, ChatsFileError, parse_chat, parse_chats
from ._endpoints import (
    Health,
    SessionsHealth,
    gauges_text,
    metrics_document,
    serving,
    session_snapshots,
)
from ._signals import Shutdown, shutdown_signals

__all__ = [
    "ChatsFile",
    "ChatsFileError",
    "Health",
    "SessionsHealth",
    "Shutdown",
    "gauges_text",
    "metrics_document",
    "parse_chat",
    "parse_chats",
    "serving",
    "session_snapshots",
    "shutdown_signals",
]
