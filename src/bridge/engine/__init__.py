"""One voice chat's session: uplink, downlink, playout clock, barge-in, tools, metrics.

```python
class Session:
    def __init__(self, config: BridgeConfig, transport: Transport, *,
                 tools: ToolRegistry | None = None, clock: PlayoutClock | None = None) -> None
    async def start(self) -> None          # connect to Gemini, start the transport, run
    async def stop(self) -> None           # flush, close the socket, stop the transport; idempotent
    async def __aenter__(self) -> Session  # start()
    async def __aexit__(self, *exc) -> None  # stop()
    def events(self) -> AsyncIterator[bridge.engine.events.Event]
    def add_listener(self, callback: Callable[[Event], None]) -> None
    def metrics(self) -> MetricsSnapshot
```

`BridgeConfig` lives in `bridge.config`, `ToolRegistry` in `bridge.tools`. One
`PlayoutClock` may drive every session of a process; without one, a session makes its own.
"""

from . import events
from ._clock import PlayoutClock, TickHandler
from ._metrics import Histogram, MetricsSnapshot, Summary, prometheus_text
from ._mixer import FrameSizeError, UplinkMixer
from ._serve import SnapshotSource, serve_metrics
from ._session import Session, SessionClosed
from ._setup import endpoint, live_config
from ._vad import EnergyVad
from .events import Event

__all__ = [
    "EnergyVad",
    "Event",
    "FrameSizeError",
    "Histogram",
    "MetricsSnapshot",
    "PlayoutClock",
    "Session",
    "SessionClosed",
    "SnapshotSource",
    "Summary",
    "TickHandler",
    "UplinkMixer",
    "endpoint",
    "events",
    "live_config",
    "prometheus_text",
    "serve_metrics",
]
