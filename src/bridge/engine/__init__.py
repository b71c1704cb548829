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
    counters: dict[str, int]               # the snapshot's counters, cheap to poll
    stats: SessionStats                    # the session's own counters and histograms
```

`BridgeConfig` lives in `bridge.config`, `ToolRegistry` in `bridge.tools`. One
`PlayoutClock` may drive every session of a process; without one, a session makes its own.
The clock is also the sessions' time base (`PlayoutClock(monotonic=..., sleep=...)`).

Where things are, following the audio one way:

    uplink    _uplink.py (Uplink: mix → 48→16 kHz → VAD → ring; its own mixing period)
              (uses _mixer.py: UplinkMixer, _vad.py: EnergyVad)
              → _link.py (Link.send_uplink: chunks onto the current socket)
    downlink  _link.py (Link.run: one connection after another from the client's
              reconnecting connect(), moved at a pause after goAway; events one by one)
              → _session.py (Session._handle: who gets which event)
              → _turns.py (Turns: which reply plays, how much was heard, transcripts)
              → _downlink.py (Downlink: 24→48 kHz → jitter buffer)
              → _clock.py (PlayoutClock: one 10 ms tick) → Session._tick → transport
    control   _bargein.py (BargeIn: interrupted, ducking, local barge-in)
              _resume.py (ResumePolicy: "is now a pause?" for goAway)
              _toolcalls.py (ToolCalls: run, answer, cancel function calls)
    wiring    _setup.py (config → protocol setup, reconnecting connector, audio paths)
    reporting _stats.py (SessionStats: named counters and histograms → MetricsSnapshot),
              _metrics.py (Histogram, MetricsSnapshot, Prometheus text), _serve.py
              (/metrics), _publish.py (events to iterators and listeners), events.py
"""

from . import events
from ._clock import PlayoutClock, TickHandler
from ._metrics import Histogram, MetricsSnapshot, Summary, prometheus_text
from ._mixer import FrameSizeError, UplinkMixer
from ._serve import SnapshotSource, serve_metrics
from ._session import Session, SessionClosed
from ._setup import endpoint, live_config
from ._stats import SessionCounters, SessionHistograms, SessionStats
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
    "SessionCounters",
    "SessionHistograms",
    "SessionStats",
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
