"""Chats per bridge process on the real ntgcalls path, N in {1, 5, 10, 20, 30}.

Each run is `demo --via ntgcalls --sessions N` (`bridge.cli._capacity.measure`): N users,
each in its own WebRTC loopback call with its own `Session`, all in one bridge process;
users and emulator in two other processes. Recorded in `extra_info`: the worst per-session
p99 playout deadline error, underruns, missed and skipped ticks, what the users heard
(worst p99 arrival gap), CPU of each process, the bridge's CPU split into the event-loop
thread and ntgcalls' native threads (per chat), chats per core extrapolated, and the
1-minute load average next to them (the figures are only as quiet as the machine).

Each N runs in a fresh child process (ntgcalls may abort at interpreter exit). With
`--benchmark-disable` (the CI smoke run) only N = 1 runs, once, on a shorter question.

Run: python -m pytest benchmarks/bench_capacity.py --benchmark-only -s
"""

from __future__ import annotations

import importlib.resources
import multiprocessing
import os
import platform
from multiprocessing.connection import Connection
from typing import Any

import pytest

from bridge.config import BridgeConfig
from bridge.transports.audiofile import read_audio

SESSIONS = (1, 5, 10, 20, 30)
SILENCE_MS = 300
RUN_TIMEOUT_S = 240.0


def _measure_main(conn: Connection, n_sessions: int, speech_s: float | None) -> None:
    from bridge._loop import run
    from bridge.cli._capacity import measure, print_table

    resource = importlib.resources.files("bridge").joinpath("data/speech-en-48k.wav")
    with importlib.resources.as_file(resource) as sample:
        speech = read_audio(sample, 48_000, 1)
    if speech_s is not None:
        speech = speech[: int(speech_s * 48_000) * 2]
    try:
        result = run(measure(n_sessions, BridgeConfig(), speech, SILENCE_MS))
        print_table(result)
        conn.send(("ok", result.summary()))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    os._exit(0)  # ntgcalls may abort during interpreter teardown


def measure_in_child(n_sessions: int, speech_s: float | None = None) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_measure_main, args=(theirs, n_sessions, speech_s))
    process.start()
    theirs.close()
    try:
        if not ours.poll(RUN_TIMEOUT_S):
            raise TimeoutError(f"{n_sessions} sessions: no result within {RUN_TIMEOUT_S} s")
        status, payload = ours.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    if status != "ok":
        raise RuntimeError(f"{n_sessions} sessions: {payload}")
    return dict(payload)


@pytest.mark.parametrize("n_sessions", SESSIONS)
def test_capacity(benchmark: Any, n_sessions: int) -> None:
    if benchmark.disabled and n_sessions != 1:
        pytest.skip("more than one session only when benchmarking")
    # The smoke run: the first 1.2 s of the sample (0.8 s of speech), to stay brief.
    speech_s = 1.2 if benchmark.disabled else None
    summaries: list[dict[str, Any]] = []
    benchmark.pedantic(
        lambda: summaries.append(measure_in_child(n_sessions, speech_s)), rounds=1, iterations=1
    )
    summary = summaries[-1]
    benchmark.extra_info.update(summary)
    benchmark.extra_info["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    # Every user heard a reply: a run where calls failed measures nothing.
    assert summary["replies_heard"] == n_sessions, summary
