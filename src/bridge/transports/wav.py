"""A transport backed by audio files: plays a file as the user, records what the bot says.

Both ends of the call live in memory: `WavTransport` is the bridge's `Transport` and the
`SimulatedUser` speaking into it. The source may have any format, rate and channel count
(`read_audio` converts it once). In real time (`realtime=True`) one 10 ms frame is
delivered per tick of the shared `Pacer`, followed by silence (as a Telegram call keeps
sending frames through silence) until `stop()`. With `realtime=False` the queued audio is
delivered as fast as the event loop allows, then delivery waits for more.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from .._pacing import Monotonic, Sleep
from ._base import FRAME_MS, FrameSink, Transport
from ._user import HeardFrame, SimulatedUser
from .audiofile import AudioError, read_audio

__all__ = ["HeardFrame", "WavError", "WavTransport", "read_audio"]

WavError = AudioError
"""This module's name for `AudioError` (the same class)."""


class WavTransport(SimulatedUser, Transport):
    """Plays `source` (a path or int16 PCM at the transport's format) as speaker `ssrc`."""

    def __init__(
        self,
        source: str | Path | bytes | None = None,
        *,
        sample_rate_hz: int = 48_000,
        channels: int = 1,
        realtime: bool = True,
        ssrc: int = 1,
        lead_in_ms: int = 0,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if sample_rate_hz not in (8_000, 16_000, 24_000, 32_000, 44_100, 48_000):
            raise WavError(f"sample_rate_hz must be a standard rate, got {sample_rate_hz}")
        if channels not in (1, 2):
            raise WavError(f"channels must be 1 or 2, got {channels}")
        if lead_in_ms < 0 or lead_in_ms % FRAME_MS:
            raise WavError(f"lead_in_ms must be a non-negative multiple of 10, got {lead_in_ms}")
        super().__init__(sample_rate_hz, channels, monotonic=monotonic, sleep=sleep)
        self.realtime = realtime
        self.ssrc = ssrc
        self._on_frame: FrameSink | None = None
        self._stopped = False
        if lead_in_ms:
            self.say(bytes(lead_in_ms * self.frame_bytes // FRAME_MS))
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.say(bytes(source))
        elif source is not None:
            self.say(read_audio(source, sample_rate_hz, channels))

    def write_recording(self, path: str | Path) -> Path:
        """Write what the bot sent to a WAV file at the transport's format."""
        pcm = np.frombuffer(self.heard_pcm(), dtype=np.int16).reshape(-1, self.channels)
        out = Path(path)
        sf.write(str(out), pcm, self.sample_rate_hz, subtype="PCM_16")
        return out

    # -- Transport -------------------------------------------------------------------

    async def start(self, on_frame: FrameSink) -> None:
        """Begin delivering the queued audio to `on_frame`."""
        if self._stopped:
            raise WavError("the WAV transport was stopped; make a new one")
        if self._on_frame is not None:
            raise WavError("the WAV transport is already started")
        self._on_frame = on_frame
        self.start_speaking(realtime=self.realtime)

    async def send_frame(self, pcm: bytes) -> None:
        """Record one 10 ms frame from the bot."""
        if len(pcm) != self.frame_bytes:
            raise WavError(f"frame has {len(pcm)} bytes; expected {self.frame_bytes}")
        self.hear(bytes(pcm))

    async def stop(self) -> None:
        """Stop delivering frames (the recording stays available). Safe to call twice."""
        self._stopped = True
        await self.stop_speaking()

    async def _send_frame(self, pcm: bytes) -> None:
        assert self._on_frame is not None
        self._on_frame(self.ssrc, pcm)
