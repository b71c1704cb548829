"""Incremental input transcription: one piece per utterance, naming the audio it covers.

Gemini transcribes the user a few words at a time. The emulator has no speech model, so
it splits what it receives into utterances instead (loud 10 ms frames, ended by a pause
of `pause_ms`) and sends one `inputTranscription` piece per utterance once the pause is
heard (or `delay_ms` later, as a service transcribing behind the audio would), whose
text names the span of received audio it covers: `"[speech 3.20-4.05 s] "`, in seconds
of the logical session's audio (`start_sample` is what earlier connections of a resumed
session received). A client can then check what it attributes each piece to against the
audio the piece really covers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from ._audio import frame_dbfs
from ._vad import DEFAULT_END_DBFS, FRAME_MS


def piece_text(start_s: float, end_s: float) -> str:
    """The transcription text of a piece covering [start_s, end_s) of received audio."""
    return f"[speech {start_s:.2f}-{end_s:.2f} s] "


class UtterancePieces:
    """Streams int16 mono PCM; finds utterances (loud frames ended by a pause of
    `pause_ms`) and returns their pieces' texts. A new rate starts over at 0 s."""

    def __init__(
        self,
        pause_ms: int,
        *,
        start_sample: int = 0,
        delay_ms: int = 0,
        level_dbfs: float = DEFAULT_END_DBFS,
        min_loud_frames: int = 2,
    ) -> None:
        self.pause_ms = pause_ms
        self.delay_ms = delay_ms
        self._level_dbfs = level_dbfs
        self._min_loud = min_loud_frames
        self._position = start_sample
        """Samples received before `_pending`."""
        self._late: set[asyncio.Task[None]] = set()
        self._restart(0)

    async def send(
        self,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        pcm: bytes,
        rate_hz: int,
        *,
        turn_ended: bool = False,
    ) -> None:
        """`texts()` of `pcm`, each sent as an inputTranscription now or `delay_ms` later."""
        for text in self.texts(pcm, rate_hz, turn_ended=turn_ended):
            message = {"serverContent": {"inputTranscription": {"text": text}}}
            if not self.delay_ms:
                await send(message)
                continue
            task = asyncio.get_running_loop().create_task(self._send_later(send, message))
            self._late.add(task)
            task.add_done_callback(self._late.discard)

    async def _send_later(
        self, send: Callable[[dict[str, Any]], Awaitable[None]], message: dict[str, Any]
    ) -> None:
        await asyncio.sleep(self.delay_ms / 1000)
        with contextlib.suppress(ConnectionClosed):  # the connection ended meanwhile
            await send(message)

    def _restart(self, rate_hz: int) -> None:
        self.sample_rate_hz = rate_hz
        self._frame_samples = rate_hz * FRAME_MS // 1000
        self._pending = bytearray()
        self._start = -1
        """First sample of the utterance in progress (-1: none)."""
        self._end = 0
        self._n_loud = 0
        self._n_quiet = 0

    def texts(self, pcm: bytes, rate_hz: int, *, turn_ended: bool = False) -> list[str]:
        """Process audio; the texts of the pieces it ended (with `turn_ended`, the
        utterance in progress ends too)."""
        spans = self.feed(pcm, rate_hz)
        if turn_ended and (last := self.flush()) is not None:
            spans.append(last)
        return [piece_text(start / rate_hz, end / rate_hz) for start, end in spans]

    def feed(self, pcm: bytes, rate_hz: int) -> list[tuple[int, int]]:
        """Process audio; the [start, end) sample spans of the utterances it ended."""
        if rate_hz != self.sample_rate_hz:
            self._restart(rate_hz)
        pause_frames = max(1, self.pause_ms // FRAME_MS)
        self._pending += pcm
        frame_bytes = self._frame_samples * 2
        n_whole = len(self._pending) // frame_bytes * frame_bytes
        if not n_whole:
            return []
        block = bytes(self._pending[:n_whole])
        del self._pending[:n_whole]
        ended = []
        for level in frame_dbfs(block, self._frame_samples):
            start, self._position = self._position, self._position + self._frame_samples
            if level >= self._level_dbfs:
                if self._start < 0:
                    self._start = start
                self._n_loud += 1
                self._n_quiet = 0
                self._end = self._position
                continue
            if self._start < 0:
                continue
            self._n_quiet += 1
            if self._n_quiet >= pause_frames:
                span = self.flush()
                if span is not None:
                    ended.append(span)
        return ended

    def flush(self) -> tuple[int, int] | None:
        """End the utterance in progress; its span, if it was speech."""
        start, n_loud = self._start, self._n_loud
        self._start = -1
        self._n_loud = self._n_quiet = 0
        return (start, self._end) if start >= 0 and n_loud >= self._min_loud else None
