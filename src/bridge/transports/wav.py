"""A transport backed by audio files: plays a WAV as the user, records what the bot says.

The file may have any sample rate and channel count; it is converted once to the
transport's format with `_dsp.Resampler`. In real time (`realtime=True`) one 10 ms frame is
delivered per tick against absolute deadlines, followed by silence (as a Telegram call
keeps sending frames through silence) until `stop()`. With `realtime=False` the queued
audio is delivered as fast as the event loop allows, then delivery stops.

The user side mirrors `bridge.transports.loopback.LoopbackUser`: `say()` queues more PCM,
`sent_at(i)` is when outgoing frame `i` was delivered, `heard` holds every frame the bot
sent with its arrival time, and `write_recording()` saves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from _dsp import Resampler

from ._base import FRAME_MS, FrameSink, Transport

__all__ = ["HeardFrame", "WavError", "WavTransport", "read_audio"]


class WavError(ValueError):
    """An audio file or PCM buffer cannot be used; the message names it and the problem."""


@dataclass(frozen=True, slots=True)
class HeardFrame:
    """One 10 ms frame the bot sent, with its `time.monotonic()` arrival time."""

    arrival_s: float
    ssrc: int
    pcm: bytes


def read_audio(path: str | Path, sample_rate_hz: int, channels: int) -> bytes:
    """Read an audio file of any rate/channels as int16 PCM at `sample_rate_hz`/`channels`."""
    try:
        data, file_rate_hz = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise WavError(f"{path}: cannot read audio: {exc}") from None
    samples: npt.NDArray[np.int16] = data
    file_channels = samples.shape[1]
    if file_channels > 2:
        # Resampler handles mono/stereo; fold anything wider to mono first.
        samples = samples.mean(axis=1, keepdims=True).astype(np.int16)
        file_channels = 1
    if samples.shape[0] == 0:
        raise WavError(f"{path}: contains no audio")
    if file_rate_hz == sample_rate_hz and file_channels == channels:
        return np.ascontiguousarray(samples).tobytes()
    resampler = Resampler(
        file_rate_hz, sample_rate_hz, in_channels=file_channels, out_channels=channels
    )
    head = resampler.process(np.ascontiguousarray(samples).reshape(-1).data)
    tail = resampler.flush()
    # Drop the filter's group delay so the converted audio starts where the file does.
    delay_frames = round(resampler.delay_s * sample_rate_hz)
    out = np.concatenate([head, tail]).astype(np.int16, copy=False)
    return out[delay_frames * channels :].tobytes()


class WavTransport(Transport):
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
    ) -> None:
        if sample_rate_hz not in (8_000, 16_000, 24_000, 32_000, 44_100, 48_000):
            raise WavError(f"sample_rate_hz must be a standard rate, got {sample_rate_hz}")
        if channels not in (1, 2):
            raise WavError(f"channels must be 1 or 2, got {channels}")
        if lead_in_ms < 0 or lead_in_ms % FRAME_MS:
            raise WavError(f"lead_in_ms must be a non-negative multiple of 10, got {lead_in_ms}")
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.realtime = realtime
        self.ssrc = ssrc
        self.heard: list[HeardFrame] = []
        self._queue: deque[bytes] = deque()
        self._send_times_s: list[float] = []
        self._on_frame: FrameSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._stopped = False
        if lead_in_ms:
            self.say(bytes(lead_in_ms * self.frame_bytes // FRAME_MS))
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.say(bytes(source))
        elif source is not None:
            self.say(read_audio(source, sample_rate_hz, channels))

    # -- user side -------------------------------------------------------------------

    def say(self, pcm: bytes) -> int:
        """Queue PCM (transport format) to speak; returns its first outgoing frame index.

        The PCM is padded with silence to whole 10 ms frames.
        """
        sample_bytes = 2 * self.channels
        if len(pcm) % sample_bytes:
            raise WavError(
                f"PCM length {len(pcm)} is not a whole number of {sample_bytes}-byte samples"
            )
        start_frame = len(self._send_times_s) + len(self._queue)
        frame_bytes = self.frame_bytes
        for offset in range(0, len(pcm), frame_bytes):
            self._queue.append(pcm[offset : offset + frame_bytes].ljust(frame_bytes, b"\0"))
        self._drained.clear()
        self._wake.set()
        return start_frame

    @property
    def queued_frames(self) -> int:
        """Frames waiting to be spoken."""
        return len(self._queue)

    @property
    def frames_sent(self) -> int:
        """Frames delivered so far (speech and silence)."""
        return len(self._send_times_s)

    def sent_at(self, frame_index: int) -> float:
        """`time.monotonic()` at which outgoing frame `frame_index` was delivered."""
        return self._send_times_s[frame_index]

    async def wait_drained(self) -> None:
        """Return once everything queued with `say()` has been delivered."""
        if self._queue:
            await self._drained.wait()

    def heard_pcm(self) -> bytes:
        """Everything the bot sent, concatenated (transport format)."""
        return b"".join(frame.pcm for frame in self.heard)

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
        if self._task is not None:
            raise WavError("the WAV transport is already started")
        self._on_frame = on_frame
        run = self._pace() if self.realtime else self._flood()
        self._task = asyncio.get_running_loop().create_task(run, name="wav-transport")

    async def send_frame(self, pcm: bytes) -> None:
        """Record one 10 ms frame from the bot."""
        if len(pcm) != self.frame_bytes:
            raise WavError(f"frame has {len(pcm)} bytes; expected {self.frame_bytes}")
        self.heard.append(HeardFrame(time.monotonic(), 0, bytes(pcm)))

    async def stop(self) -> None:
        """Stop delivering frames (the recording stays available). Safe to call twice."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _deliver(self, frame: bytes) -> None:
        assert self._on_frame is not None
        self._send_times_s.append(time.monotonic())
        self._on_frame(self.ssrc, frame)
        if not self._queue:
            self._drained.set()

    async def _pace(self) -> None:
        silence = bytes(self.frame_bytes)
        period_s = FRAME_MS / 1000
        deadline_s = time.monotonic()
        while True:
            self._deliver(self._queue.popleft() if self._queue else silence)
            deadline_s += period_s
            now_s = time.monotonic()
            if now_s > deadline_s + period_s:
                # A stall: skip the missed frames' deadlines instead of bursting.
                deadline_s += (now_s - deadline_s) // period_s * period_s
            await asyncio.sleep(max(0.0, deadline_s - now_s))

    async def _flood(self) -> None:
        while True:
            while self._queue:
                self._deliver(self._queue.popleft())
                await asyncio.sleep(0)
            self._wake.clear()
            await self._wake.wait()
