"""Uplink: speaker frames → mix → 48k→16k → ring buffer → one audio message per chunk.

Before mixing, each speaker's frame updates `speakers` (`_speakers.SpeakerTimeline`:
who is speaking over which uplink samples, for naming transcripts).

The frame handler (`on_frame`) runs on the event loop for every 10 ms speaker frame and
does no I/O: it mixes, resamples into the ring buffer and wakes the sender. With several
speakers the mixer also needs the end of each 10 ms period: `run_mixer_period()` paces
it on its own, so the uplink never depends on playout. The sender (`Link.send_uplink`)
calls `send_pending()`, which sends whole chunks (20/40/60 ms) and removes them from the
ring only once the socket has taken them, so audio produced while there is no
connection (goAway, a drop) waits in the ring and goes out, once and in order, on the
next connection. When the ring is full the oldest audio is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt

from _dsp import Resampler, RingBuffer

from .._pacing import Monotonic, Pacer, Sleep
from ._metrics import Histogram
from ._mixer import UplinkMixer
from ._speakers import SpeakerTimeline
from ._vad import EnergyVad

log = logging.getLogger(__name__)

GEMINI_INPUT_RATE_HZ = 16_000
Encode = Callable[[npt.NDArray[np.generic]], bytes]
"""Builds the audio message for one chunk of 16 kHz mono PCM (the protocol's job)."""
SendMessage = Callable[[bytes], Awaitable[None]]
"""Hands one message to the socket (raises if there is none)."""


class Uplink:
    """One session's uplink DSP and the task that feeds the socket."""

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        channels: int,
        chunk_ms: int,
        ring_capacity_s: float,
        vad: EnergyVad,
        idle_ticks: int,
        histogram_capacity: int,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self.chunk_ms = chunk_ms
        self.chunk_samples = GEMINI_INPUT_RATE_HZ * chunk_ms // 1000
        frame_samples = sample_rate_hz // 100
        self.mixer = UplinkMixer(
            frame_samples * 2 * channels, self._on_mixed, idle_ticks=idle_ticks
        )
        self.resampler = Resampler(
            sample_rate_hz, GEMINI_INPUT_RATE_HZ, in_channels=channels, out_channels=1
        )
        self._frame16 = np.zeros(self.resampler.max_output_frames(frame_samples), dtype=np.int16)
        self._frame16_buffer = self._frame16.data  # reused: a fresh memoryview costs per frame
        self.ring = RingBuffer(
            int(ring_capacity_s * GEMINI_INPUT_RATE_HZ), channels=1, overflow="drop_oldest"
        )
        self.vad = vad
        self.speakers = SpeakerTimeline(vad.threshold)
        """Who spoke over which uplink samples (`_resampled` positions)."""
        self.ready = asyncio.Event()
        """Set when at least one chunk is waiting (or on connect), cleared by the sender."""
        self.send_lock = asyncio.Lock()
        """Held while a chunk is on its way into the socket; taken to close a socket."""
        self.processing_us = Histogram(histogram_capacity)
        self.latency_us = Histogram(histogram_capacity)
        self._pending_ns = 0
        self._chunk_done_s: deque[float] = deque()
        self._resampled = 0
        self.bytes_sent = 0
        self.chunks_sent = 0
        self._logged_drops = 0

    @property
    def depth_ms(self) -> float:
        """Audio waiting in the ring."""
        return self.ring.available * 1000 / GEMINI_INPUT_RATE_HZ

    @property
    def sent_position(self) -> int:
        """Uplink samples produced and no longer waiting in the ring (sent or dropped)."""
        return self._resampled - self.ring.available

    def on_frame(self, ssrc: int, pcm: bytes) -> None:
        """Transport frame handler. Raises `FrameSizeError` for a wrong-sized frame."""
        started_ns = time.perf_counter_ns()
        self.mixer.push(ssrc, pcm)  # first: it refuses a wrong-sized frame
        self.speakers.frame(ssrc, pcm)
        self._pending_ns += time.perf_counter_ns() - started_ns

    def tick(self) -> None:
        """End of a 10 ms mixing period: lets the mixer emit a mix that is due."""
        started_ns = time.perf_counter_ns()
        self.mixer.tick()
        self._pending_ns += time.perf_counter_ns() - started_ns

    async def run_mixer_period(self, sleep: Sleep = asyncio.sleep) -> None:
        """Call `tick()` every 10 ms on absolute deadlines, until cancelled."""
        pacer = Pacer(0.010, monotonic=self._monotonic, sleep=sleep)
        while True:
            await pacer.next_tick()
            self.tick()

    def _on_mixed(self, pcm: bytes | memoryview) -> None:
        n = self.resampler.process_into(pcm, self._frame16_buffer)
        frame = self._frame16[:n]
        now_s = self._monotonic()
        self.vad.update(frame, now_s)
        ring = self.ring
        before = ring.available
        ring.write(frame.data)
        self.speakers.mark(self._resampled, n)
        self._resampled += n
        chunk = self.chunk_samples
        # One completion time per whole chunk, to measure frame-in → bytes-on-socket.
        for _ in range((before + n) // chunk - before // chunk):
            self._chunk_done_s.append(now_s)
        while len(self._chunk_done_s) > ring.capacity // chunk:
            self._chunk_done_s.popleft()
        if ring.available >= chunk:
            self.ready.set()

    async def send_pending(self, encode: Encode, send: SendMessage, *, flush: bool = False) -> None:
        """Send every whole chunk in the ring (and, with `flush`, the remainder).

        Each chunk is built into a message by `encode` and handed to `send`. A chunk
        leaves the ring only after `send` returned; if either raises (the socket closed),
        the chunk stays for the next connection and the error propagates.
        `processing_us` counts CPU work only (mix, resample, VAD, ring, `encode`), not the
        socket write, which may yield to other tasks.
        """
        ring = self.ring
        chunk = self.chunk_samples
        while True:
            # Checked under the lock: the sender task and a flush from stop() may race.
            async with self.send_lock:
                available = ring.available
                if available < chunk and not (flush and available):
                    break
                n = min(chunk, available)
                started_ns = time.perf_counter_ns()
                data = ring.peek(n)
                message = encode(data)
                elapsed_ns = time.perf_counter_ns() - started_ns
                dropped_before = ring.dropped_samples
                await send(message)
                # If the ring overflowed meanwhile, part of `data` is already gone.
                ring.skip(max(0, min(n - (ring.dropped_samples - dropped_before), ring.available)))
            self.bytes_sent += data.nbytes
            self.chunks_sent += 1
            scale = 20 / self.chunk_ms
            self.processing_us.record((self._pending_ns + elapsed_ns) * scale / 1000)
            self._pending_ns = 0
            if self._chunk_done_s:
                self.latency_us.record((self._monotonic() - self._chunk_done_s.popleft()) * 1e6)
        if ring.dropped_samples > self._logged_drops:
            log.warning(
                "uplink ring overflowed: %.2f s of user audio dropped so far",
                ring.dropped_samples / GEMINI_INPUT_RATE_HZ,
            )
            self._logged_drops = ring.dropped_samples
