"""Answer a voice note: decode OGG/Opus, ask Gemini, encode the spoken reply as OGG/Opus.

The note is decoded by `bridge.transports.audiofile.read_audio` (libsndfile's OGG/Opus,
mixed to mono and resampled to 16 kHz by `_dsp.Resampler`), then streamed through
`bridge.client` as realtime input in `chunk_ms` pieces followed by `audioStreamEnd`, so
the server's activity detection ends the user's turn without waiting for silence. The
reply (24 kHz) is collected until `turnComplete`, resampled to 48 kHz (Opus' native rate)
and written as a mono OGG/Opus voice note. The transcript is the model's output
transcription.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile

from ..client import Endpoint, connect
from ..protocol import (
    InputTranscription,
    LiveConfig,
    ModelAudio,
    OutputTranscription,
    TurnComplete,
    encode_audio_stream_end,
)
from ..transports import AudioError
from ..transports.audiofile import read_audio

__all__ = [
    "VOICE_NOTE_RATE_HZ",
    "VoiceNoteError",
    "VoiceNoteReply",
    "answer_voice_note",
    "decode_voice_note",
    "encode_voice_note",
    "waveform",
]

VOICE_NOTE_RATE_HZ = 48_000
"""Voice notes are written at Opus' native rate, mono."""
_INPUT_RATE_HZ = 16_000
_MAX_NOTE_S = 600.0


class VoiceNoteError(ValueError):
    """A voice note cannot be read, or no reply came back; the message says which."""


@dataclass(frozen=True, slots=True)
class VoiceNoteReply:
    """Gemini's answer to one voice note."""

    pcm: bytes
    """Reply audio: int16 mono at `sample_rate_hz`."""
    sample_rate_hz: int
    transcript: str
    """What the model said (its output transcription)."""
    heard: str
    """What the model heard (the input transcription), if the server sent one."""

    @property
    def duration_s(self) -> float:
        """Length of the reply audio."""
        return len(self.pcm) / 2 / self.sample_rate_hz


def decode_voice_note(note: bytes | str | Path | BinaryIO, *, name: str = "voice note") -> bytes:
    """The note as int16 mono PCM at 16 kHz. Raises `VoiceNoteError` if it is unreadable,
    empty or longer than ten minutes."""
    try:
        return read_audio(note, _INPUT_RATE_HZ, 1, name=name, max_duration_s=_MAX_NOTE_S)
    except AudioError as exc:
        raise VoiceNoteError(str(exc)) from None


def encode_voice_note(pcm: bytes, sample_rate_hz: int = VOICE_NOTE_RATE_HZ) -> bytes:
    """int16 mono PCM as an OGG/Opus file (bytes)."""
    out = io.BytesIO()
    samples = np.frombuffer(pcm, dtype="<i2")
    soundfile.write(out, samples, sample_rate_hz, format="OGG", subtype="OPUS")
    return out.getvalue()


def waveform(pcm: bytes, n_bars: int = 100) -> bytes:
    """Telegram's voice-note waveform: `n_bars` 5-bit peak levels, packed LSB first."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    if samples.size == 0:
        return bytes((n_bars * 5 + 7) // 8)
    bars = np.array([chunk.max() if chunk.size else 0 for chunk in np.array_split(samples, n_bars)])
    peak = max(int(bars.max()), 1)
    levels = np.minimum(31, bars * 31 // peak).astype(np.int64)
    packed = 0
    for index, level in enumerate(levels):
        packed |= int(level) << (5 * index)
    return packed.to_bytes((n_bars * 5 + 7) // 8, "little")


async def answer_voice_note(
    pcm_16k: bytes,
    config: LiveConfig,
    endpoint: Endpoint,
    *,
    chunk_ms: int = 20,
    timeout_s: float = 120.0,
) -> VoiceNoteReply:
    """Stream 16 kHz mono PCM to a Live session and collect the spoken reply at 48 kHz.

    Raises `VoiceNoteError` if no reply audio arrives within `timeout_s`; connection
    errors from `bridge.client` propagate.
    """
    from _dsp import Resampler

    if chunk_ms <= 0:
        raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
    chunk_bytes = _INPUT_RATE_HZ * chunk_ms // 1000 * 2
    upsampler: Any = None
    reply = bytearray()
    transcript: list[str] = []
    heard: list[str] = []
    async with connect(config, endpoint) as conn:
        for offset in range(0, len(pcm_16k), chunk_bytes):
            await conn.send_audio(pcm_16k[offset : offset + chunk_bytes])
        await conn.send(encode_audio_stream_end())
        try:
            async with asyncio.timeout(timeout_s):
                async for event in conn:
                    if isinstance(event, ModelAudio):
                        if upsampler is None:
                            upsampler = Resampler(event.sample_rate_hz, VOICE_NOTE_RATE_HZ)
                        reply += upsampler.process(event.pcm).tobytes()
                    elif isinstance(event, OutputTranscription):
                        transcript.append(event.text)
                    elif isinstance(event, InputTranscription):
                        heard.append(event.text)
                    elif isinstance(event, TurnComplete) and (reply or transcript):
                        break
        except TimeoutError:
            raise VoiceNoteError(f"no complete reply within {timeout_s:.0f} s") from None
    if upsampler is not None:
        reply += upsampler.flush().tobytes()
    if not reply:
        raise VoiceNoteError("the model answered without audio")
    return VoiceNoteReply(
        bytes(reply), VOICE_NOTE_RATE_HZ, "".join(transcript).strip(), "".join(heard).strip()
    )
