"""`gemini-tg-bridge demo` as a user runs it: no arguments, no keys, a report and a WAV."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def test_demo_prints_the_report_and_writes_the_echoed_reply(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in (
        "[user  ] [speech",
        "[gemini] [echo",
        "interrupted;",
        "uplink processing",
        "downlink processing",
        "user frame in -> bytes on the socket",
        "reply audio in -> first frame played",
        "end of user speech -> first reply frame heard",
        "50 ms think time",
        "server 'interrupted' -> playout silent   p50",
        "underruns 0",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    reply, rate_hz = sf.read(tmp_path / "demo-reply.wav", dtype="int16")
    assert rate_hz == 48_000
    # The echo of ~2.5 s of speech: mostly loud audio, not silence.
    frames = reply[: reply.size // 480 * 480].reshape(-1, 480)
    loud_s = np.count_nonzero(np.abs(frames).max(axis=1) > 1000) / 100
    assert 1.5 < loud_s < 3.5
