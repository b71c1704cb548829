"""Produce the demo's bundled speech samples: `src/bridge/data/speech-en-48k.wav`, and
the two voices of `demo --speakers 2`.

A short English utterance synthesised with espeak-ng (`apt-get install espeak-ng`),
resampled to 48 kHz mono int16 (Telegram's rate) with soxr, normalised to -3 dBFS peak,
with 100 ms of silence on each side. Run from the repository root:

    python scripts/make_speech_sample.py [--text "..."] [--out PATH]

The speakers' samples are kept at 16 kHz (what Gemini hears; a third of the size):

    python scripts/make_speech_sample.py --voice en-us+f3 --wpm 160 --rate 16000 \
        --max-bytes 150000 --out src/bridge/data/alice-en-16k.wav \
        --text "Hi Gemini, this is Alice. What is the weather like in Paris today?"
    python scripts/make_speech_sample.py --voice en-gb+m3 --wpm 150 --rate 16000 \
        --max-bytes 150000 --out src/bridge/data/bob-en-16k.wav \
        --text "And this is Bob. Will it rain in London tomorrow?"
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

TEXT = "Hello Gemini. What time is it in Berlin?"
OUT = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
RATE_HZ = 48_000
PAD_S = 0.1
PEAK_DBFS = -3.0
MAX_BYTES = 300_000


def synthesise(text: str, voice: str, words_per_minute: int) -> tuple[np.ndarray, int]:
    """Run espeak-ng and return float32 mono samples and their sample rate."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng not found: apt-get install -y espeak-ng")
    wav = subprocess.run(
        [espeak, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    samples, rate_hz = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate_hz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--wpm", type=int, default=165, help="speaking rate, words per minute")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rate", type=int, default=RATE_HZ, help="sample rate of the file, Hz")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="largest file allowed")
    args = parser.parse_args()

    samples, rate_hz = synthesise(args.text, args.voice, args.wpm)
    resampled = soxr.resample(samples, rate_hz, args.rate, quality="VHQ")
    # espeak-ng pads its output with silence; trim it so the sample is speech, then pad
    # a fixed 100 ms so "end of user speech" is a known instant.
    loud = np.flatnonzero(np.abs(resampled) > 10 ** (-40 / 20))
    resampled = resampled[loud[0] : loud[-1] + 1]
    peak = float(np.max(np.abs(resampled)))
    resampled *= 10 ** (PEAK_DBFS / 20) / peak
    pad = np.zeros(int(PAD_S * args.rate), dtype=np.float32)
    pcm = np.round(np.concatenate([pad, resampled, pad]) * 32767).astype(np.int16)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(args.out, pcm, args.rate, subtype="PCM_16")
    size = args.out.stat().st_size
    print(f"{args.out}: {pcm.size / args.rate:.2f} s, {size} bytes")
    if size > args.max_bytes:
        print(f"warning: larger than {args.max_bytes} bytes; use a shorter --text",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
