"""The `[http]` and `[drain]` sections: where `run` and `demo` serve their endpoints, and
how `run` ends on SIGTERM.

```toml
[http]
addr = "127.0.0.1:9464"   # or $BRIDGE_HTTP_ADDR; empty = no endpoint; "9464" = loopback
[drain]
timeout_s = 30.0          # SIGTERM: wait this long at most for a pause in each chat
goodbye = ""              # posted in each chat before leaving; empty = nothing posted
```
"""

from __future__ import annotations

from dataclasses import dataclass

from ._http import parse_addr
from ._settings import _range, _setting

__all__ = ["DrainConfig", "HttpConfig"]


def _addr(value: str) -> str | None:
    if not value.strip():
        return None
    try:
        parse_addr(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The /metrics, /livez and /readyz endpoint."""

    addr: str = _setting(
        "", _addr, "HOST:PORT, or PORT for 127.0.0.1; empty = off (the --http flag wins)"
    )


@dataclass(frozen=True, slots=True)
class DrainConfig:
    """What `run` does on SIGTERM before leaving the calls."""

    timeout_s: float = _setting(30.0, _range(0.0, 3600.0), "longest wait for a pause per chat")
    goodbye: str = _setting("", None, "posted in each chat before leaving; empty = none")
