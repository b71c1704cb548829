"""One voice chat's session: uplink, downlink, playout clock, barge-in, tools, metrics."""

from . import events

__all__ = ["events"]
