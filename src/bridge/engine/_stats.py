"""One session's own counters and latency histograms, as named fields.

Each part of the session counts into the fields it owns (`Turns` → `turns`, `ToolCalls`
→ `tool_*`, `BargeIn` → `interruptions`, `local_barge_ins` and the barge-in histograms,
the link → `reconnects`, `resumptions`, `go_aways`, `reconnect_gap_ms`). The parts'
own counters (uplink bytes, jitter-buffer underruns, fault reporters) stay with them;
`Session.metrics()` gathers everything into one `MetricsSnapshot` under the metric
names the README lists. `usage` sums the server's token reports; with the uplink's
`call_ms`, `uplink_audio_in_ms` and `uplink_audio_sent_ms` it shows what the gate saves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ._clock import PlayoutClock
from ._downlink import Downlink
from ._metrics import Histogram, MetricsSnapshot
from ._uplink import GEMINI_INPUT_RATE_HZ, Uplink
from ._usage import TokenUsage


@dataclass(slots=True)
class SessionCounters:
    """Events counted since the session was made."""

    turns: int = 0
    interruptions: int = 0
    local_barge_ins: int = 0
    reconnects: int = 0
    resumptions: int = 0
    go_aways: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    tool_cancellations: int = 0
    late_tool_results_dropped: int = 0
    replies_not_addressed: int = 0
    replies_held: int = 0
    reply_hold_ms: int = 0
    ticks: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counter name → value, for a snapshot."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class SessionHistograms:
    """Latency distributions recorded by the session's parts (units in the names)."""

    __slots__ = (
        "barge_in_ms",
        "deadline_error_us",
        "downlink_latency_us",
        "duck_ms",
        "local_barge_in_ms",
        "reconnect_gap_ms",
        "reply_latency_ms",
        "tick_us",
    )

    def __init__(self, capacity: int) -> None:
        self.tick_us = Histogram(capacity)
        self.deadline_error_us = Histogram(capacity)
        self.downlink_latency_us = Histogram(capacity)
        self.reply_latency_ms = Histogram(capacity)
        self.barge_in_ms = Histogram(capacity)
        self.duck_ms = Histogram(capacity)
        self.local_barge_in_ms = Histogram(capacity)
        self.reconnect_gap_ms = Histogram(capacity)


@dataclass(slots=True)
class SessionStats:
    """What a session counts and times about itself."""

    counters: SessionCounters
    histograms: SessionHistograms
    usage: TokenUsage

    @classmethod
    def new(cls, histogram_capacity: int) -> SessionStats:
        """Zero counters, empty histograms keeping `histogram_capacity` samples each."""
        return cls(SessionCounters(), SessionHistograms(histogram_capacity), TokenUsage())


def counter_values(
    stats: SessionStats,
    uplink: Uplink,
    downlink: Downlink,
    clock: PlayoutClock,
    faults: Mapping[str, int],
) -> dict[str, int]:
    """Every counter of a session by its metric name; `faults` are the fault reporters'."""
    per_ms = GEMINI_INPUT_RATE_HZ // 1000
    return {
        **stats.counters.as_dict(),
        **stats.usage.as_dict(),
        **faults,
        "call_ms": round(uplink.call_s * 1000),
        "uplink_audio_in_ms": uplink.captured_samples // per_ms,
        "uplink_audio_sent_ms": uplink.sent_samples // per_ms,
        "uplink_stream_ends": uplink.stream_ends,
        "uplink_gate_opens": uplink.gate.opens if uplink.gate is not None else 0,
        "frames_in": uplink.mixer.frames_in,
        "uplink_mixer_dropped_frames": uplink.mixer.dropped_frames,
        "uplink_chunks": uplink.chunks_sent,
        "uplink_bytes": uplink.bytes_sent,
        "uplink_dropped_samples": uplink.ring.dropped_samples,
        "downlink_bytes": downlink.bytes_received,
        "downlink_odd_messages": downlink.odd_messages,
        "underruns": downlink.underruns,
        "downlink_dropped_samples": downlink.dropped_samples,
        "missed_ticks": clock.missed_ticks,
        "clock_handler_errors": clock.handler_errors,
    }


def snapshot(
    stats: SessionStats,
    uplink: Uplink,
    downlink: Downlink,
    clock: PlayoutClock,
    counters: Mapping[str, int],
    *,
    connected: bool,
) -> MetricsSnapshot:
    """A session's `MetricsSnapshot`: summaries, `counters` and the current gauges."""
    h = stats.histograms
    return MetricsSnapshot(
        uplink_us=uplink.processing_us.summary(),
        downlink_us=downlink.processing_us.summary(),
        uplink_latency_us=uplink.latency_us.summary(),
        downlink_latency_us=h.downlink_latency_us.summary(),
        tick_us=h.tick_us.summary(),
        deadline_error_us=h.deadline_error_us.summary(),
        loop_lag_us=clock.deadline_error_us.summary(),
        reply_latency_ms=h.reply_latency_ms.summary(),
        barge_in_ms=h.barge_in_ms.summary(),
        duck_ms=h.duck_ms.summary(),
        local_barge_in_ms=h.local_barge_in_ms.summary(),
        reconnect_gap_ms=h.reconnect_gap_ms.summary(),
        counters=counters,
        gauges={
            "jitter_depth_ms": downlink.depth_ms,
            "jitter_target_ms": downlink.target_ms,
            "uplink_ring_ms": uplink.depth_ms,
            "speakers": float(uplink.mixer.n_speakers),
            "connected": float(connected),
        },
    )
