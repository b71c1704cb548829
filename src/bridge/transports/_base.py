"""The one small interface between the engine and any audio endpoint.

Every frame crossing it is 10 ms of little-endian signed 16-bit PCM, interleaved when
there are two channels, at the transport's `sample_rate_hz`: exactly `frame_bytes` bytes.
That is Telegram's (ntgcalls') boundary, so the Telegram transports pass frames through
untouched.

Inbound audio is pushed: the transport calls `on_frame(ssrc, pcm)` once per speaker frame,
from the event loop, as the frame arrives. The sink does no I/O and returns at once.
Outbound audio is pulled by the engine's playout clock: one `send_frame` per 10 ms tick.
"""

from __future__ import annotations

import abc
from typing import Protocol

FRAME_MS = 10


class AudioError(ValueError):
    """An audio file or PCM buffer cannot be used; the message names it and the problem."""


class FrameSink(Protocol):
    """Receives one inbound 10 ms frame from one speaker (identified by `ssrc`)."""

    def __call__(self, ssrc: int, pcm: bytes) -> None: ...


class Transport(abc.ABC):
    """An audio endpoint: a Telegram voice chat, a WebRTC loopback call, WAV files."""

    sample_rate_hz: int
    channels: int

    @property
    def frame_samples(self) -> int:
        """Samples per channel in one 10 ms frame."""
        return self.sample_rate_hz * FRAME_MS // 1000

    @property
    def frame_bytes(self) -> int:
        """Bytes in one 10 ms frame: `sample_rate_hz * 2 * channels / 100`."""
        return self.frame_samples * 2 * self.channels

    @abc.abstractmethod
    async def start(self, on_frame: FrameSink) -> None:
        """Connect and begin delivering inbound frames to `on_frame`; return once running."""

    @abc.abstractmethod
    async def send_frame(self, pcm: bytes) -> None:
        """Send exactly one 10 ms frame (`frame_bytes` long) to the listeners."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop delivering frames and release the endpoint. Safe to call twice."""
