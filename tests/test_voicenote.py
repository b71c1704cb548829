"""Voice notes: real OGG/Opus files in, a spoken OGG/Opus reply out, via the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from bridge.cli import main
from bridge.telegram import (
    VoiceNoteError,
    answer_voice_note,
    decode_voice_note,
    encode_voice_note,
    waveform,
)

RATE_HZ = 48_000
TONE_HZ = 200.0
SPEECH_S = 1.0


def write_note(path: Path, *, rate_hz: int = RATE_HZ, channels: int = 1) -> Path:
    """A note with 0.3 s of silence, a 1 s 200 Hz 'voice', then 0.7 s of silence."""
    t = np.arange(int(2.0 * rate_hz)) / rate_hz
    voice = 0.4 * np.sin(2 * np.pi * TONE_HZ * t) * ((t >= 0.3) & (t < 0.3 + SPEECH_S))
    data = np.repeat(voice[:, None], channels, axis=1).astype(np.float32)
    soundfile.write(path, data, rate_hz, format="OGG", subtype="OPUS")
    return path


def dominant_hz(pcm: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * rate_hz / len(pcm))


def test_cli_answers_a_voice_note_with_an_ogg_opus_voice_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = write_note(tmp_path / "in.ogg")
    out = tmp_path / "out.ogg"
    assert main(["voicenote", str(note), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reply: " in printed and str(out) in printed
    info = soundfile.info(out)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 48_000, 1)
    reply, rate_hz = soundfile.read(out, dtype="int16")
    # The emulator echoes the detected speech: about as long, and the same pitch.
    assert abs(len(reply) / rate_hz - SPEECH_S) < 0.25
    assert abs(dominant_hz(reply, rate_hz) - TONE_HZ) < 5


@pytest.mark.parametrize(("rate_hz", "channels"), [(48_000, 2), (16_000, 1)])
def test_notes_at_other_rates_and_stereo_decode_to_16k_mono(
    tmp_path: Path, rate_hz: int, channels: int
) -> None:
    pcm = np.frombuffer(
        decode_voice_note(write_note(tmp_path / "n.ogg", rate_hz=rate_hz, channels=channels)),
        "<i2",
    )
    assert abs(len(pcm) / 16_000 - 2.0) < 0.05
    speech = pcm[int(0.4 * 16_000) : int(1.2 * 16_000)]
    assert abs(dominant_hz(speech, 16_000) - TONE_HZ) < 3
    assert np.abs(speech).max() > 0.3 * 32767


def test_a_corrupt_note_is_a_clear_error_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ogg"
    good = encode_voice_note(np.zeros(4800, np.int16).tobytes())
    bad.write_bytes(good[:40] + b"\x00garbage" * 50)
    assert main(["voicenote", str(bad), str(tmp_path / "out.ogg")]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: cannot read audio" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.ogg").exists()
    with pytest.raises(VoiceNoteError, match=r"voice note: cannot read audio: [A-Z]") as info:
        decode_voice_note(b"OggS" + bytes(100))
    assert "BytesIO" not in str(info.value)


def test_a_missing_note_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.ogg"
    assert main(["voicenote", str(missing), str(tmp_path / "out.ogg")]) == 2
    assert f"{missing} does not exist" in capsys.readouterr().err


def test_an_empty_note_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.int16), RATE_HZ)
    with pytest.raises(VoiceNoteError, match="contains no audio"):
        decode_voice_note(empty, name="empty.wav")


def test_a_note_over_ten_minutes_is_refused(tmp_path: Path) -> None:
    long = tmp_path / "long.wav"
    soundfile.write(long, np.zeros(8_000 * 601, np.int16), 8_000)
    with pytest.raises(VoiceNoteError, match="601 s long; at most 600 s"):
        decode_voice_note(long, name="long.wav")


def test_reply_transcripts_come_back_through_the_client(tmp_path: Path, run: Any) -> None:
    from bridge.client import Endpoint
    from bridge.emulator import Emulator, EmulatorConfig
    from bridge.protocol import LiveConfig

    pcm = decode_voice_note(write_note(tmp_path / "in.ogg"))

    async def scenario() -> Any:
        config = EmulatorConfig(input_transcript="what is the weather")
        async with Emulator(config) as emulator:
            reply = await answer_voice_note(
                pcm, LiveConfig(model="gemini-3.8-live"), Endpoint(base_url=emulator.url)
            )
            return reply, emulator

    reply, _ = run(scenario())
    assert reply.heard == "what is the weather"
    assert reply.transcript
    assert reply.sample_rate_hz == 48_000
    assert abs(reply.duration_s - SPEECH_S) < 0.25


def test_waveform_is_100_five_bit_bars() -> None:
    loud_then_quiet = np.concatenate(
        [np.full(4800, 20000, np.int16), np.full(4800, 100, np.int16)]
    ).tobytes()
    packed = waveform(loud_then_quiet)
    assert len(packed) == 63  # ceil(100 * 5 / 8)
    value = int.from_bytes(packed, "little")
    levels = [(value >> (5 * i)) & 31 for i in range(100)]
    assert levels[:50] == [31] * 50
    assert max(levels[50:]) <= 1
    assert waveform(b"") == bytes(63)
