"""Latency histograms, counters and the session's metrics snapshot (also as Prometheus text).

Recording must cost next to nothing in the audio path, so a `Histogram` keeps the last
`capacity` samples in a preallocated numpy array plus exact running count/sum/max, and
sorts only when a snapshot is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Summary:
    """Distribution of one latency or duration, in the unit named by the metric."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def empty(cls) -> Summary:
        """No samples yet."""
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Histogram:
    """Samples of one quantity; percentiles over the most recent `capacity` samples."""

    __slots__ = ("_count", "_max", "_samples", "_sum")

    def __init__(self, capacity: int = 65_536) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._samples: npt.NDArray[np.float64] = np.empty(capacity, dtype=np.float64)
        self._count = 0
        self._sum = 0.0
        self._max = 0.0

    def record(self, value: float) -> None:
        """Add one sample."""
        self._samples[self._count % self._samples.shape[0]] = value
        self._count += 1
        self._sum += value
        if value > self._max:
            self._max = value

    def extend(self, values: Iterable[float]) -> None:
        """Add many samples."""
        for value in values:
            self.record(value)

    @property
    def count(self) -> int:
        """Samples recorded since creation (not only those kept)."""
        return self._count

    def values(self) -> npt.NDArray[np.float64]:
        """The kept samples (a copy), oldest first order not guaranteed."""
        return self._samples[: min(self._count, self._samples.shape[0])].copy()

    def summary(self) -> Summary:
        """Count, mean and max over all samples; percentiles over the kept ones."""
        if self._count == 0:
            return Summary.empty()
        kept = self._samples[: min(self._count, self._samples.shape[0])]
        p50, p90, p99 = np.percentile(kept, (50.0, 90.0, 99.0))
        return Summary(
            self._count, self._sum / self._count, float(p50), float(p90), float(p99), self._max
        )

    def reset(self) -> None:
        """Forget every sample."""
        self._count = 0
        self._sum = 0.0
        self._max = 0.0


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """A session's metrics at one moment. Durations in µs unless the name says otherwise.

    - `uplink_us`: CPU time per uplink chunk (mix + resample + ring + encode + send call),
      normalised to one 20 ms frame.
    - `downlink_us`: CPU time per received audio message (decode + resample + buffer),
      normalised to one 20 ms frame of model audio.
    - `uplink_latency_us`: last frame of a chunk in → message handed to the socket.
    - `downlink_latency_us`: reply audio in → its first 10 ms frame handed to the transport.
    - `tick_us`: CPU time of one playout tick (pop + send one frame).
    - `deadline_error_us`: how late this session's frame reached the transport after its
      absolute playout deadline (with a shared clock this includes the sessions served
      before it in the same tick).
    - `loop_lag_us`: how late the playout clock woke up after each deadline (event-loop
      lag; shared by every session on the clock).
    - `reply_latency_ms`: end of user speech (last loud uplink frame) → first reply frame
      played, per turn (includes the model's think time).
    - `barge_in_ms`: `interrupted` received → output silent (server barge-in), per turn.
    - `duck_ms`: user speech onset → output ducked (local VAD), per turn.
    - `local_barge_in_ms`: user speech onset → playout stopped, for replies the server had
      finished sending (it sends no `interrupted` for those).
    - `reconnect_gap_ms`: time without a socket per reconnect.
    """

    uplink_us: Summary
    downlink_us: Summary
    uplink_latency_us: Summary
    downlink_latency_us: Summary
    tick_us: Summary
    deadline_error_us: Summary
    loop_lag_us: Summary
    reply_latency_ms: Summary
    barge_in_ms: Summary
    duck_ms: Summary
    local_barge_in_ms: Summary
    reconnect_gap_ms: Summary
    counters: Mapping[str, int] = field(default_factory=dict)
    gauges: Mapping[str, float] = field(default_factory=dict)

    def to_prometheus(self, prefix: str = "gemini_bridge", labels: str = "") -> str:
        """Prometheus text exposition: summaries with quantiles, counters and gauges."""
        return prometheus_text([self], prefix, [labels])


_SUMMARY_FIELDS = (
    ("uplink_us", "uplink_processing_seconds", 1e-6),
    ("downlink_us", "downlink_processing_seconds", 1e-6),
    ("uplink_latency_us", "uplink_latency_seconds", 1e-6),
    ("downlink_latency_us", "downlink_latency_seconds", 1e-6),
    ("tick_us", "playout_tick_seconds", 1e-6),
    ("deadline_error_us", "playout_deadline_error_seconds", 1e-6),
    ("loop_lag_us", "event_loop_lag_seconds", 1e-6),
    ("reply_latency_ms", "reply_latency_seconds", 1e-3),
    ("barge_in_ms", "barge_in_seconds", 1e-3),
    ("duck_ms", "duck_seconds", 1e-3),
    ("local_barge_in_ms", "local_barge_in_seconds", 1e-3),
    ("reconnect_gap_ms", "reconnect_gap_seconds", 1e-3),
)


def prometheus_text(
    snapshots: list[MetricsSnapshot], prefix: str = "gemini_bridge", labels: list[str] | None = None
) -> str:
    """Several sessions' snapshots in one Prometheus text document.

    `labels[i]` is a label set such as `session="chat-42"` for `snapshots[i]`.
    """
    label_sets = labels or [""] * len(snapshots)
    if len(label_sets) != len(snapshots):
        raise ValueError("one label set per snapshot")
    lines: list[str] = []
    for attr, name, scale in _SUMMARY_FIELDS:
        metric = f"{prefix}_{name}"
        lines.append(f"# TYPE {metric} summary")
        for snap, label in zip(snapshots, label_sets, strict=True):
            s: Summary = getattr(snap, attr)
            sep = "," if label else ""
            for q, v in (("0.5", s.p50), ("0.9", s.p90), ("0.99", s.p99)):
                lines.append(f'{metric}{{{label}{sep}quantile="{q}"}} {v * scale:.9g}')
            braces = f"{{{label}}}" if label else ""
            lines.append(f"{metric}_sum{braces} {s.mean * s.count * scale:.9g}")
            lines.append(f"{metric}_count{braces} {s.count}")
    # Counters print as exact integers (byte counts pass 10**9); gauges as floats.
    values_of: list[tuple[str, str, str, Callable[[MetricsSnapshot], Mapping[str, float]]]] = [
        ("counter", "_total", "d", lambda snap: snap.counters),
        ("gauge", "", ".9g", lambda snap: snap.gauges),
    ]
    for kind, suffix, spec, values in values_of:
        for key in sorted({k for snap in snapshots for k in values(snap)}):
            metric = f"{prefix}_{key}{suffix}"
            lines.append(f"# TYPE {metric} {kind}")
            for snap, label in zip(snapshots, label_sets, strict=True):
                braces = f"{{{label}}}" if label else ""
                lines.append(f"{metric}{braces} {format(values(snap).get(key, 0), spec)}")
    return "\n".join(lines) + "\n"
