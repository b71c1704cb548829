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

With a `gate` (`_gate.UplinkGate`), only speech (with its pre-roll and the quiet after
it) reaches the ring. Where a stretch of sent audio starts and ends is marked by its
position in the sent stream; the sender sends each mark, in order with the audio, as
the control message `control(kind)` builds for it ("start": `activityStart` in manual
activity detection; "end": `audioStreamEnd` or `activityEnd`). Marks wait in the ring's
order through reconnections too, and a stretch still open on a new connection is
opened again there (manual detection needs `activityStart` on each connection).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from _dsp import Resampler, RingBuffer

from .._pacing import Monotonic, Pacer, Sleep
from ._gate import UplinkGate
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
Mark = Literal["start", "end"]
Control = Callable[[Mark], bytes | None]
"""Builds the message for a gate mark, or None when the mark needs none."""
MAX_STRETCHES_KEPT = 4096
_Mark = Literal["start", "end", "hold"]
"""In the ring's order: "hold" only makes the audio before it go out, a short chunk too."""


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
        gate: UplinkGate | None = None,
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
        self.gate = gate
        self.speakers = SpeakerTimeline(vad.threshold)
        """Who spoke over which uplink samples (`captured_samples` positions)."""
        self.ready = asyncio.Event()
        """Set when at least one chunk is waiting (or on connect), cleared by the sender."""
        self.send_lock = asyncio.Lock()
        """Held while a chunk is on its way into the socket; taken to close a socket."""
        self.processing_us = Histogram(histogram_capacity)
        self.latency_us = Histogram(histogram_capacity)
        self._pending_ns = 0
        # (sent-stream position of a whole chunk's end, when its last frame came in)
        self._chunk_done: deque[tuple[int, float]] = deque()
        self._marks: deque[tuple[int, _Mark]] = deque()
        self._stretch_open = False
        """A "start" mark was sent and its "end" not yet."""
        self.written_samples = 0
        """Samples put into the ring: the position in the stream sent to Gemini."""
        self.captured_samples = 0
        """16 kHz samples the mixer produced, sent or not."""
        self.sent_samples = 0
        self.stream_ends = 0
        """"end" marks sent (`audioStreamEnd` / `activityEnd`)."""
        self.stretches: deque[tuple[int, int]] = deque(maxlen=MAX_STRETCHES_KEPT)
        """(sent-stream position, captured position) where each of the latest gated
        stretches (or its resumption after a hold) starts: maps sent audio to the call."""
        self._first_tick_s = math.nan
        self._last_tick_s = math.nan
        self.bytes_sent = 0
        self.chunks_sent = 0
        self._logged_drops = 0

    @property
    def depth_ms(self) -> float:
        """Audio waiting in the ring."""
        return self.ring.available * 1000 / GEMINI_INPUT_RATE_HZ

    @property
    def sent_position(self) -> int:
        """Uplink samples produced (`captured_samples` positions) and no longer waiting:
        sent, dropped, or passed over by the gate."""
        waiting = self.ring.available
        if self.gate is None:
            return self.captured_samples - waiting
        if not waiting:  # all sent but what the gate still holds as pre-roll
            return self.captured_samples - self.gate.pre_roll.available
        position = self.written_samples - waiting
        for sent, captured in reversed(self.stretches):
            if sent <= position:
                return captured + position - sent
        return 0  # older than every stretch kept: the start of the call

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
        now_s = self._monotonic()
        if math.isnan(self._first_tick_s):
            self._first_tick_s = now_s
        self._last_tick_s = now_s
        if self.gate is not None:
            self._step_gate(now_s)
        self._pending_ns += time.perf_counter_ns() - started_ns

    @property
    def call_s(self) -> float:
        """How long the uplink has been running (its first to its latest mixer tick)."""
        span_s = self._last_tick_s - self._first_tick_s
        return 0.0 if math.isnan(span_s) else span_s

    @property
    def in_stretch(self) -> bool:
        """The gate is open, or the end of the last stretch is not sent yet."""
        return self._stretch_open or (self.gate is not None and self.gate.is_open)

    def reconnected(self) -> None:
        """A new connection: a stretch open on the old one is opened again on it."""
        if self._stretch_open:
            self._stretch_open = False
            self._marks.appendleft((self.written_samples - self.ring.available, "start"))

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
        started = self.vad.update(frame, now_s)
        self.speakers.mark(self.captured_samples, n)  # sent or not: positions keep their place
        self.captured_samples += n
        gate = self.gate
        if gate is None:
            self._write(frame, now_s)
        elif gate.sending:
            self._write(frame, now_s)
            self._step_gate(now_s)
        elif started:
            held, new = gate.open()
            self.stretches.append((self.written_samples, self.captured_samples - n - held.size))
            if new:
                self._marks.append((self.written_samples, "start"))
            self._write(held, now_s)
            self._write(frame, now_s)
        else:
            gate.hold(frame)
            self._step_gate(now_s)

    def _write(self, pcm: npt.NDArray[np.int16], now_s: float) -> None:
        n = pcm.size
        if not n:
            return
        ring = self.ring
        ring.write(pcm.data)
        before = self.written_samples
        self.written_samples = after = before + n
        chunk = self.chunk_samples
        # When each whole chunk was complete, to measure frame-in → bytes-on-socket.
        done = self._chunk_done
        for end in range((before // chunk + 1) * chunk, after + 1, chunk):
            done.append((end, now_s))
        while len(done) > ring.capacity // chunk:
            done.popleft()
        if ring.available >= chunk:
            self.ready.set()

    def _step_gate(self, now_s: float) -> None:
        gate = self.gate
        step = gate.step(now_s) if gate is not None else None
        if step is not None:
            # The sending stopped: its last short chunk goes out now, not with the next.
            self._chunk_done.append((self.written_samples, now_s))
            self._marks.append((self.written_samples, step))
            self.ready.set()

    async def send_pending(
        self,
        encode: Encode,
        send: SendMessage,
        *,
        control: Control | None = None,
        flush: bool = False,
    ) -> None:
        """Send every whole chunk in the ring and the gate's marks (with `flush`, the
        remainder too).

        Each chunk is built into a message by `encode` and each mark by `control`, then
        handed to `send`. The audio before a mark goes out before it, a short last chunk
        included. A chunk (or mark) leaves only after `send` returned; if either raises
        (the socket closed), it stays for the next connection and the error propagates.
        `processing_us` counts CPU work only (mix, resample, VAD, ring, `encode`), not the
        socket write, which may yield to other tasks.
        """
        ring = self.ring
        chunk = self.chunk_samples
        marks = self._marks
        while True:
            # Checked under the lock: the sender task and a flush from stop() may race.
            async with self.send_lock:
                position = self.written_samples - ring.available
                if marks and marks[0][0] <= position:
                    kind = marks[0][1]
                    message = control(kind) if control is not None and kind != "hold" else None
                    if message is not None:
                        await send(message)
                    marks.popleft()
                    if kind != "hold":
                        self._stretch_open = kind == "start"
                        self.stream_ends += kind == "end"
                    continue
                available = ring.available
                to_mark = marks[0][0] - position if marks else available + 1
                n = min(chunk, available, to_mark)
                if n == 0 or (n < chunk and not flush and to_mark > available):
                    break
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
            self.sent_samples += n
            scale = 20 / self.chunk_ms
            self.processing_us.record((self._pending_ns + elapsed_ns) * scale / 1000)
            self._pending_ns = 0
            done = self._chunk_done
            completed_s = math.nan
            while done and done[0][0] <= position + n:
                completed_s = done.popleft()[1]
            if not math.isnan(completed_s):
                self.latency_us.record((self._monotonic() - completed_s) * 1e6)
        if ring.dropped_samples > self._logged_drops:
            log.warning(
                "uplink ring overflowed: %.2f s of user audio dropped so far",
                ring.dropped_samples / GEMINI_INPUT_RATE_HZ,
            )
            self._logged_drops = ring.dropped_samples
