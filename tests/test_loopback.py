"""The ntgcalls loopback call carries audio both ways through real WebRTC/Opus.

ntgcalls may abort at interpreter exit and runs native threads, so the call itself runs
in a child process (this file run as a script) with a timeout; the child saves what was
sent and heard, and the assertions run here in the parent. One call serves every test:
first the whole bridge (a `Session` and the emulator) on it, then raw frames both ways.

Correlation threshold: the normalized cross-correlation of the heard signal with the
sent one, at the best lag. Opus at WebRTC's voice bitrate keeps the waveform of a
harmonic voice-like signal well (measured 0.85-0.89 user→bridge, 0.86-0.96 bridge→user;
the first is usually lower because the receiver's jitter buffer time-stretches a little while it
adapts), while a different voice-like signal of the same length scores ~0.15 against
it, and dropped, reordered or wrongly resampled frames break the single-lag alignment.
0.6 sits between the two with margin on both sides.

The emulator's echo crosses both Opus legs plus three resamplers (48→16 kHz in the
bridge, 16→24 kHz in the emulator, 24→48 kHz in the bridge) and the jitter buffer, so
its waveform is less faithful: measured 0.66 to 0.69 over five runs, against 0.13 to 0.14
for a different voice-like signal in the same recording. ECHO_MIN_CORRELATION = 0.45
splits those.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from _background import Child, background

from bridge._pacing import Pacer

SPEECH = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data" / "speech-en-48k.wav"
RATE_HZ = 48_000
FRAME_SAMPLES = RATE_HZ // 100
MIN_CORRELATION = 0.6
ECHO_MIN_CORRELATION = 0.45


def voice_like(duration_s: float, rate_hz: int, f0_hz: float, syllable_hz: float) -> np.ndarray:
    """A deterministic harmonic signal with a gliding pitch and a syllable-rate envelope."""
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    f0 = f0_hz * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    signal = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * syllable_hz * t) ** 2
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (9000 * signal * envelope * ramp / 2.2).astype(np.int16)


def best_correlation(sent: np.ndarray, heard: np.ndarray) -> tuple[float, int]:
    """Max normalized correlation of `sent` against `heard` over all lags, and that lag."""
    s = sent.astype(np.float64)
    h = heard.astype(np.float64)
    n = len(s) + len(h)
    size = 1 << (n - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(s, size)), size)
    lag = int(np.argmax(xcorr[: len(h)]))
    window = h[lag : lag + len(s)]
    if len(window) < len(s):
        return 0.0, lag
    denom = np.sqrt((s * s).sum() * (window * window).sum())
    return float((s * window).sum() / denom) if denom else 0.0, lag


def first_loud_frame(frames: list[bytes], threshold: float = 500.0) -> int:
    for i, pcm in enumerate(frames):
        x = np.frombuffer(pcm, "<i2").astype(np.float64)
        if np.sqrt((x * x).mean()) > threshold:
            return i
    raise AssertionError("nothing loud was heard")


async def _child(out_path: str) -> None:
    """One loopback call: the whole bridge on it, then raw frames both ways."""
    from bridge.transports.loopback import LoopbackCall

    async with LoopbackCall(sample_rate_hz=RATE_HZ) as call:
        echo = await _echo_through_the_bridge(call)
        raw = await _exchange_frames(call)
    await call.transport.stop()  # a second stop is harmless
    np.savez(out_path, **raw, **echo)


async def _exchange_frames(call: Any) -> dict[str, Any]:
    """The user speaks into the call and the bridge's end hears it, and the other way."""
    up = voice_like(1.0, RATE_HZ, f0_hz=130, syllable_hz=4)
    down = voice_like(1.0, RATE_HZ, f0_hz=210, syllable_hz=3)
    bot_heard: list[tuple[float, bytes]] = []
    silence = bytes(FRAME_SAMPLES * 2)
    outgoing: list[bytes] = []
    down_sent_s: list[float] = []
    drained = asyncio.Event()

    async def playout() -> None:
        # Like the engine's playout clock: one frame per 10 ms tick, silence when idle.
        pacer = Pacer(0.01)
        while True:
            await pacer.next_tick()
            frame = outgoing.pop(0) if outgoing else silence
            if frame is not silence:
                down_sent_s.append(time.monotonic())
                if not outgoing:
                    drained.set()
            await call.transport.send_frame(frame)

    await call.transport.start(lambda _ssrc, pcm: bot_heard.append((time.monotonic(), pcm)))
    clock = asyncio.create_task(playout())
    await asyncio.sleep(0.5)  # let both jitter buffers settle on steady streams
    # Both talk at once, as people do: each direction is its own stream.
    n_user_heard_before = len(call.user.heard)
    start = call.user.say(up.tobytes())
    outgoing.extend(
        down[i : i + FRAME_SAMPLES].tobytes() for i in range(0, len(down), FRAME_SAMPLES)
    )
    await call.user.wait_drained()
    await drained.wait()
    await asyncio.sleep(0.4)  # the tails cross the network and the jitter buffers
    up_sent_s = call.user.sent_at(start)
    clock.cancel()
    user_heard = call.user.heard[n_user_heard_before:]
    bad_size = ""
    try:
        await call.transport.send_frame(b"\0" * 10)
    except ValueError as exc:
        bad_size = str(exc)
    return {
        "up": up,
        "down": down,
        "bot_heard": np.frombuffer(b"".join(p for _, p in bot_heard), "<i2"),
        "bot_arrivals": np.array([t for t, _ in bot_heard]),
        "user_heard": np.frombuffer(b"".join(f.pcm for f in user_heard), "<i2"),
        "user_arrivals": np.array([f.arrival_s for f in user_heard]),
        "up_sent_s": up_sent_s,
        "down_sent_s": np.array(down_sent_s),
        "frames_sent": call.transport.frames_sent,
        "bad_size": bad_size,
    }


async def _echo_through_the_bridge(call: Any) -> dict[str, Any]:
    """The whole bridge on the call: user → WebRTC → Session → emulator → back."""
    from bridge.config import BridgeConfig
    from bridge.emulator import Emulator, EmulatorConfig
    from bridge.engine import Session
    from bridge.engine.events import TurnEnded
    from bridge.transports.loopback import LoopbackTransport

    class KeepCallOpen(LoopbackTransport):
        async def stop(self) -> None:  # the raw exchange uses the call afterwards
            self._endpoint.on_pcm = None

    question = voice_like(1.0, RATE_HZ, f0_hz=150, syllable_hz=4)
    ended = asyncio.Event()
    async with Emulator(EmulatorConfig(silence_duration_ms=200)) as emulator:
        config = BridgeConfig().with_overrides(
            endpoint={"url": emulator.url}, transport={"sample_rate_hz": RATE_HZ, "channels": 1}
        )
        session = Session(config, KeepCallOpen(call))
        session.add_listener(lambda e: ended.set() if isinstance(e, TurnEnded) else None)
        await session.start()
        await asyncio.sleep(0.5)  # the jitter buffer settles on the session's steady stream
        start = call.user.say(question.tobytes())
        last = start + len(question) // FRAME_SAMPLES - 1
        speech_end_s = await call.user.wait_sent(last) + 0.01
        await asyncio.wait_for(ended.wait(), 20)
        await asyncio.sleep(0.4)  # the reply's tail crosses the call
        heard = [f for f in call.user.heard if f.arrival_s >= speech_end_s]
        await session.stop()
    return {
        "question": question,
        "echo_heard": np.frombuffer(b"".join(f.pcm for f in heard), "<i2"),
        "echo_arrivals": np.array([f.arrival_s for f in heard]),
        "speech_end_s": speech_end_s,
    }


def _start_demo(cwd: Path, *argv: str) -> Child:
    """`gemini-tg-bridge demo --via ntgcalls ...` on the first 1.2 s of the bundled sample
    (0.8 s of speech, to keep the run short), the emulator ending turns after 200 ms."""
    import soundfile as sf

    cwd.mkdir(parents=True)
    speech, rate_hz = sf.read(SPEECH, dtype="int16")
    sf.write(cwd / "question.wav", speech[: rate_hz * 6 // 5], rate_hz, subtype="PCM_16")
    demo = ("demo", "--via", "ntgcalls", "--input", "question.wav", "--silence-ms", "200")
    return Child([sys.executable, "-m", "bridge", *demo, *argv], cwd)


@background(alone=True)
def loopback_run(workdir: Path) -> dict[str, np.ndarray]:
    """The call, with no other background run beside it: its correlations need a core."""
    Child([sys.executable, __file__, "call", "run.npz"], workdir).wait(timeout_s=60)
    with np.load(workdir / "run.npz") as data:
        return {k: data[k] for k in data.files}


class Demos(NamedTuple):
    one: subprocess.CompletedProcess[str]
    three: subprocess.CompletedProcess[str]
    reply_wav: Path
    """What the one-session run wrote with `--out`."""


@background(alone=True)
def ntgcalls_demos(workdir: Path) -> Demos:
    """Both demo runs, after the call and together: each spends most of its time waiting
    on the real clock (measured: 1.5 and 3.5 s of CPU in 6 s of wall time), and what they
    are checked for (reports, replies heard) does not depend on sharing the CPU. With no
    other background run beside them: with a compiler and a virtual-time scenario as well,
    ntgcalls timed one of the four calls out while connecting (CI, 2 cores)."""
    one = _start_demo(workdir / "one", "--out", "reply.wav")
    three = _start_demo(workdir / "three", "--sessions", "3")
    return Demos(one.wait(timeout_s=120), three.wait(timeout_s=120), one.cwd / "reply.wav")


def _latency_s(heard: np.ndarray, arrivals: np.ndarray, sent_s: float) -> float:
    frames = [heard[i : i + FRAME_SAMPLES].tobytes() for i in range(0, len(heard), FRAME_SAMPLES)]
    return float(arrivals[first_loud_frame(frames)] - sent_s)


@pytest.mark.realtime
def test_user_speech_is_heard_by_the_bridge(loopback_run: dict[str, np.ndarray]) -> None:
    corr, _ = best_correlation(loopback_run["up"], loopback_run["bot_heard"])
    assert corr > MIN_CORRELATION
    latency_s = _latency_s(
        loopback_run["bot_heard"], loopback_run["bot_arrivals"], float(loopback_run["up_sent_s"])
    )
    print(f"user→bridge: correlation {corr:.3f}, send→heard {latency_s * 1000:.0f} ms")
    assert latency_s > 0


@pytest.mark.realtime
def test_bridge_speech_is_heard_by_the_user(loopback_run: dict[str, np.ndarray]) -> None:
    corr, _ = best_correlation(loopback_run["down"], loopback_run["user_heard"])
    assert corr > MIN_CORRELATION
    latency_s = _latency_s(
        loopback_run["user_heard"],
        loopback_run["user_arrivals"],
        float(loopback_run["down_sent_s"][0]),
    )
    print(f"bridge→user: correlation {corr:.3f}, send→heard {latency_s * 1000:.0f} ms")
    assert latency_s > 0


@pytest.mark.realtime
def test_unrelated_audio_scores_below_threshold(loopback_run: dict[str, np.ndarray]) -> None:
    # The threshold means something: the bridge's own speech is not in what it heard.
    corr, _ = best_correlation(loopback_run["down"], loopback_run["bot_heard"])
    assert corr < MIN_CORRELATION


@pytest.mark.realtime
def test_wrong_frame_size_is_refused_with_its_size(loopback_run: dict[str, np.ndarray]) -> None:
    message = str(loopback_run["bad_size"])
    assert "960 bytes" in message and "got 10 bytes" in message


@pytest.mark.realtime
def test_the_emulators_echo_is_heard_at_the_users_end(loopback_run: dict[str, np.ndarray]) -> None:
    result = loopback_run
    corr, _ = best_correlation(result["question"], result["echo_heard"])
    latency_s = _latency_s(
        result["echo_heard"], result["echo_arrivals"], float(result["speech_end_s"])
    )
    print(
        f"user speech end → echoed reply heard (two WebRTC legs, bridge, emulator): "
        f"{latency_s * 1000:.0f} ms; correlation {corr:.3f}"
    )
    assert corr > ECHO_MIN_CORRELATION
    unrelated = voice_like(1.0, RATE_HZ, f0_hz=210, syllable_hz=3)
    assert best_correlation(unrelated, result["echo_heard"])[0] < ECHO_MIN_CORRELATION
    assert latency_s > 0


@pytest.mark.realtime
def test_demo_via_ntgcalls_reports_latency_including_the_webrtc_leg(
    ntgcalls_demos: Demos,
) -> None:
    proc = ntgcalls_demos.one
    out = ntgcalls_demos.reply_wav
    assert "via ntgcalls" in proc.stdout and "include both call legs" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if "first reply frame heard" in x)
    assert int(line.split(":")[1].split("ms")[0]) > 0
    assert out.stat().st_size > 44
    assert "[turn 1] interrupted" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.realtime
def test_demo_with_several_sessions_prints_each_sessions_playout_and_the_cpu_split(
    ntgcalls_demos: Demos,
) -> None:
    proc = ntgcalls_demos.three
    lines = proc.stdout.splitlines()
    header = next(i for i, x in enumerate(lines) if x.startswith("session  deadline"))
    rows = [x.split() for x in lines[header + 1 : header + 4]]
    # Every user, in its own call, heard its own reply.
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(r[5] != "none" and int(r[7]) > 10 for r in rows), rows
    cpu = next(x for x in lines if x.startswith("CPU, % of one core"))
    assert "event loop" in cpu and "ntgcalls/native threads" in cpu and "users" in cpu
    assert "session 1:" in lines and any("deadline error" in x for x in lines)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--via", "wav", "--sessions", "3"], "--sessions 3: needs --via ntgcalls"),
        (["--via", "ntgcalls", "--live", "--sessions", "3"], "the local emulator (no --live)"),
        (["--via", "ntgcalls", "--sessions", "0"], "--sessions 0: N must be at least 1"),
    ],
)
def test_several_sessions_need_the_ntgcalls_call_and_the_emulator(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from bridge.cli import main

    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-used")
    assert main(["demo", *argv]) == 2
    assert error in capsys.readouterr().err


def test_bad_call_parameters_are_named() -> None:
    from bridge.transports.loopback import LoopbackCall

    with pytest.raises(ValueError, match="sample_rate_hz 11025"):
        LoopbackCall(sample_rate_hz=11_025)
    with pytest.raises(ValueError, match="channels must be 1 or 2"):
        LoopbackCall(channels=3)


if __name__ == "__main__":
    import uvloop

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_child(sys.argv[2]))
    except BaseException as exc:
        print(f"loopback child failed: {exc!r}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
