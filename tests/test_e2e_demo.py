"""`gemini-tg-bridge demo` as a user runs it: no keys, a report, a WAV, and with `--http` the
endpoints a supervisor polls.

The run (`python -m bridge demo`, a child process started in the background when the
session starts: see tests/_background.py) speaks the first 1.2 s of the bundled sample
(`--input`) and lets the emulator end a turn after 200 ms of silence (`--silence-ms`) to
keep it short; that the bundled sample itself loads is checked without running the demo.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from _background import Child, background
from _virtual_clock import VirtualClock

SPEECH = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_EPHEMERAL_TOKEN")


def best_correlation(needle: npt.NDArray[np.float64], haystack: npt.NDArray[np.float64]) -> float:
    """Normalised correlation of `needle` with `haystack` at the best lag (needle leading)."""
    size = 1 << (needle.size + haystack.size - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    lag = int(np.argmax(np.abs(corr[: haystack.size])))
    seg = haystack[lag : lag + needle.size]
    ref = needle[: seg.size]
    return float(np.dot(ref, seg) / np.sqrt(np.dot(ref, ref) * np.dot(seg, seg)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class DemoRun(NamedTuple):
    proc: subprocess.CompletedProcess[str]
    base: str
    """The `--http` address, as a URL."""
    seen: dict[str, tuple[int, str]]
    """Each endpoint's status and body, read while the demo ran."""
    question: npt.NDArray[np.int16]
    reply: npt.NDArray[np.int16]
    reply_rate_hz: int


def _scrape(base: str, seen: dict[str, tuple[int, str]], child: Child) -> None:
    """Once the demo's session runs, every endpoint answers from inside it."""
    while child.proc.poll() is None:
        try:
            status, body = _get(f"{base}/readyz")
        except OSError:
            status, body = 0, ""
        if status == 200:
            seen["/readyz"] = status, body
            seen["/livez"] = _get(f"{base}/livez")
            seen["/metrics"] = _get(f"{base}/metrics")
            return
        time.sleep(0.005)  # not serving yet, or not ready: ask again soon, not in a spin


@background
def wav_demo(workdir: Path) -> DemoRun:
    """`python -m bridge demo` with no keys, `--out` and `--http`, polled while it runs."""
    workdir.mkdir(parents=True)
    speech, speech_rate_hz = sf.read(SPEECH, dtype="int16")
    question = speech[: speech_rate_hz * 6 // 5]  # 0.8 s of speech, then a pause
    sf.write(workdir / "question.wav", question, speech_rate_hz, subtype="PCM_16")
    base = f"http://127.0.0.1:{_free_port()}"
    argv = ["demo", "--input", "question.wav", "--out", "demo-reply.wav", "--silence-ms", "200"]
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    child = Child(
        [sys.executable, "-m", "bridge", *argv, "--http", base.removeprefix("http://")],
        workdir,
        env=env,
    )
    seen: dict[str, tuple[int, str]] = {}
    _scrape(base, seen, child)
    proc = child.wait(timeout_s=60)
    reply, rate_hz = sf.read(workdir / "demo-reply.wav", dtype="int16")
    return DemoRun(proc, base, seen, question, reply, rate_hz)


@pytest.mark.realtime
def test_demo_prints_the_report_and_writes_the_echoed_reply(wav_demo: DemoRun) -> None:
    out, err, base, seen = wav_demo.proc.stdout, wav_demo.proc.stderr, wav_demo.base, wav_demo.seen
    # --http: /metrics, /livez and /readyz served while the demo runs, and gone after.
    assert f"serving /metrics, /livez and /readyz on {base}" in out
    assert seen["/readyz"] == (200, "ok\n") and seen["/livez"] == (200, "ok\n")
    status, metrics = seen["/metrics"]
    assert status == 200
    assert "gemini_bridge_chats_live 1\n" in metrics
    assert 'gemini_bridge_uplink_bytes_total{chat="demo"} ' in metrics
    with pytest.raises(OSError):
        _get(f"{base}/livez")
    for line in (
        "demo: 1.20 s of speech via wav",
        "[user  ] [speech",
        "[gemini] [echo",
        "[turn 1] interrupted;",
        "uplink processing",
        "downlink processing",
        "user frame in -> bytes on the socket",
        "reply audio in -> first frame played",
        "end of user speech -> first reply frame heard",
        "200 ms end-of-speech silence and 50 ms think time",
        "server 'interrupted' -> playout silent   p50",
        "underruns 0",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    assert "Traceback" not in err
    reply, question = wav_demo.reply, wav_demo.question
    assert wav_demo.reply_rate_hz == 48_000
    # The echo of 0.8 s of speech: mostly loud audio, not silence.
    frames = reply[: reply.size // 480 * 480].reshape(-1, 480)
    loud_s = np.count_nonzero(np.abs(frames).max(axis=1) > 1000) / 100
    assert 0.6 < loud_s < 1.2
    # And it is the user's own speech, echoed through 48→16→24→48 kHz: measured 0.999.
    # Time-reversed speech (same spectrum, other content) scores about -0.2, and one lost
    # 10 ms frame splits the match in two, so 0.9 separates "the echo" from anything else.
    needle = question.astype(np.float64)
    heard = reply.astype(np.float64)
    assert best_correlation(needle, heard) > 0.9
    assert abs(best_correlation(needle[::-1].copy(), heard)) < 0.5


def test_the_bundled_speech_sample_loads_at_the_call_format() -> None:
    from bridge.cli._demo import _load_speech

    pcm = _load_speech(None, 16_000, 2)
    assert abs(len(pcm) / 4 / 16_000 - 2.73) < 0.01
    samples = np.frombuffer(pcm, "<i2").reshape(-1, 2)
    assert np.array_equal(samples[:, 0], samples[:, 1]) and np.abs(samples).max() > 10_000


def test_a_bad_input_file_is_named_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")
    assert main(["demo", "--input", str(bad), "--out", str(tmp_path / "reply.wav")]) == 1
    err = capsys.readouterr().err
    assert f"demo failed: {bad}: cannot read audio" in err
    assert "Traceback" not in err
    assert not (tmp_path / "reply.wav").exists()


def test_the_simulated_user_speaks_one_frame_per_tick_and_never_bursts(run: Any) -> None:
    from bridge.transports.wav import WavTransport

    async def scenario() -> tuple[WavTransport, list[float], float]:
        clock = VirtualClock()
        user = WavTransport(sample_rate_hz=16_000, monotonic=clock.monotonic, sleep=clock.sleep)
        got: list[float] = []
        await user.start(lambda _ssrc, _pcm: got.append(clock.now_s))
        start = user.say(np.full(1600, 1000, np.int16).tobytes())  # 100 ms
        await clock.advance(0.045)
        clock.stall(0.1)  # the event loop is blocked for 100 ms
        await clock.advance(0.1)
        sent_s = await user.wait_sent(start + 9)
        await user.stop()
        return user, got, sent_s

    user, got, last_speech_s = run(scenario())
    # One frame at each 10 ms deadline; after the stall the missed deadlines are skipped
    # (and counted), not made up: the next frame goes out once, at the latest deadline.
    assert got[:5] == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert got[5:7] == pytest.approx([0.145, 0.15])
    assert user.missed_ticks == 9  # the deadlines 0.05 to 0.13
    assert last_speech_s == pytest.approx(0.18)
    assert all(b - a >= 0.005 for a, b in itertools.pairwise(got))


def test_an_unknown_call_kind_is_named(run: Any) -> None:
    from bridge.transports.demo import open_call

    async def scenario() -> None:
        async with open_call("carrier-pigeon"):
            pass

    with pytest.raises(ValueError, match=r"--via 'carrier-pigeon': expected one of \['wav'"):
        run(scenario())
