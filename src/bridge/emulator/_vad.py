"""Energy-based voice activity detection honouring automaticActivityDetection settings.

Speech must last `prefix_padding_ms` to start a turn and silence `silence_duration_ms`
to end it. Sensitivities move the level thresholds: a HIGH start sensitivity starts on
quieter sound, a HIGH end sensitivity ends a turn on louder trailing sound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._audio import frame_dbfs

FRAME_MS = 10
_START_DBFS = {"START_SENSITIVITY_HIGH": -50.0, "START_SENSITIVITY_LOW": -34.0}
_END_DBFS = {"END_SENSITIVITY_HIGH": -38.0, "END_SENSITIVITY_LOW": -52.0}
DEFAULT_START_DBFS = -42.0
DEFAULT_END_DBFS = -45.0


@dataclass(slots=True)
class VadResult:
    """What one chunk of audio did: speech started and/or ended, and turn audio so far."""

    started: bool = False
    ended: bool = False
    speech: bytearray = field(default_factory=bytearray)
    """Audio of a turn that ended in this chunk (onset to last loud frame)."""


class EnergyVad:
    """Streaming VAD over int16 mono PCM in 10 ms frames; keeps the current turn's audio."""

    def __init__(
        self,
        *,
        sample_rate_hz: int,
        prefix_padding_ms: int,
        silence_duration_ms: int,
        start_sensitivity: str | None = None,
        end_sensitivity: str | None = None,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.frame_bytes = sample_rate_hz * FRAME_MS // 1000 * 2
        self.start_frames = max(1, prefix_padding_ms // FRAME_MS)
        self.end_frames = max(1, silence_duration_ms // FRAME_MS)
        self.start_dbfs = _START_DBFS.get(start_sensitivity or "", DEFAULT_START_DBFS)
        self.end_dbfs = _END_DBFS.get(end_sensitivity or "", DEFAULT_END_DBFS)
        self.speaking = False
        self._pending = bytearray()
        self._onset = bytearray()
        self._turn = bytearray()
        self._n_loud = 0
        self._n_quiet = 0
        self._last_loud_bytes = 0

    def feed(self, pcm: bytes) -> VadResult:
        """Process audio; a turn that ends returns its speech in `VadResult.speech`."""
        result = VadResult()
        self._pending += pcm
        n_whole = len(self._pending) // self.frame_bytes * self.frame_bytes
        if not n_whole:
            return result
        block = bytes(self._pending[:n_whole])
        del self._pending[:n_whole]
        size, view = self.frame_bytes, memoryview(block)
        for index, level in enumerate(frame_dbfs(block, size // 2)):
            frame = view[index * size : (index + 1) * size]
            if not self.speaking:
                if level >= self.start_dbfs:
                    self._n_loud += 1
                    self._onset += frame
                    if self._n_loud >= self.start_frames:
                        self.speaking = True
                        result.started = True
                        self._turn = self._onset
                        self._onset = bytearray()
                        self._last_loud_bytes = len(self._turn)
                        self._n_quiet = 0
                else:
                    self._n_loud = 0
                    self._onset.clear()
                continue
            self._turn += frame
            if level >= self.end_dbfs:
                self._n_quiet = 0
                self._last_loud_bytes = len(self._turn)
            else:
                self._n_quiet += 1
                if self._n_quiet >= self.end_frames:
                    result.ended = True
                    result.speech = self.end_turn()
        return result

    def end_turn(self) -> bytearray:
        """Force the end of the current turn (audioStreamEnd); returns its speech audio."""
        speech = self._turn[: self._last_loud_bytes]
        self.speaking = False
        self._turn = bytearray()
        self._n_loud = self._n_quiet = 0
        self._last_loud_bytes = 0
        return speech
