"""Where a session's audio comes from and where the bot's audio goes."""

from ._base import FrameSink, Transport

__all__ = ["FrameSink", "Transport"]
