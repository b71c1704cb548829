"""`demo --via ntgcalls --sessions N`: N chats in one bridge process, measured.

N simulated users, each in its own WebRTC loopback call with its own `Session`, all
sessions on one playout clock in this process; the users (`UserFarm`) and the emulator
run in two other processes, so the CPU figures of this process are the bridge's own.
Each user says the bundled speech once (starts spread over a second) and listens to the
whole reply. The table: per session, the playout deadline error at the bot, underruns,
ticks skipped, what the user heard; then CPU of each process and of this process's
threads, split into the event loop (the main thread: everything in Python) and the
native threads (ntgcalls: WebRTC, Opus, network), per chat and extrapolated to chats
per core.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from .._loop import run
from ..config import BridgeConfig
from ..emulator import Emulator, EmulatorConfig
from ..engine import MetricsSnapshot, PlayoutClock, Session
from ..transports.loopback_farm import UserFarm, UserReport

STAGGER_S = 1.0
"""The users' first words are spread over this long, as people in different chats."""
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class CapacityResult:
    """One run's figures; `rows` one per session, CPU in % of one core."""

    n_sessions: int
    rows: list[dict[str, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    missed_ticks: int = 0
    busy_ticks: int = 0
    first_metrics: MetricsSnapshot | None = None

    def summary(self) -> dict[str, float]:
        """The figures a benchmark records: worst and median over the sessions."""

        def col(key: str) -> np.ndarray:
            return np.array([r[key] for r in self.rows], dtype=np.float64)

        replies = col("reply_ms")
        heard = ~np.isnan(replies)
        return {
            "sessions": self.n_sessions,
            "deadline_p50_ms": float(np.median(col("deadline_p50_ms"))),
            "deadline_p99_ms_worst": float(col("deadline_p99_ms").max()),
            "underruns": float(col("underruns").sum()),
            "missed_ticks": self.missed_ticks,
            "busy_ticks": self.busy_ticks,
            "heard_gap_p99_ms_worst": float(np.nanmax(col("gap_p99_ms"))),
            "replies_heard": float(heard.sum()),
            "reply_ms_p50": float(np.median(replies[heard])) if heard.any() else math.nan,
            **self.cpu,
            "load_avg_1m": self.load_avg[0],
        }


def run_capacity(n_sessions: int, config: BridgeConfig, speech: bytes, silence_ms: int) -> int:
    """Run, print the table; 0 when every user heard a reply."""
    result = run(measure(n_sessions, config, speech, silence_ms))
    print_table(result)
    return 0 if result.summary()["replies_heard"] == n_sessions else 1


async def measure(
    n_sessions: int, config: BridgeConfig, speech: bytes, silence_ms: int, rate_hz: int = 48_000
) -> CapacityResult:
    """Run N sessions against an emulator process with users in another; the figures."""
    emulator_config = EmulatorConfig(think_time_s=0.05, speed=1.2, silence_duration_ms=silence_ms)
    async with contextlib.AsyncExitStack() as stack:
        url, emulator_pid = await stack.enter_async_context(_emulator_process(emulator_config))
        config = config.with_overrides(
            endpoint={"url": url, "api_key": None},
            engine={"vad_duck": True},
            transport={"sample_rate_hz": rate_hz, "channels": 1},
        )
        farm = await stack.enter_async_context(UserFarm(n_sessions, speech, sample_rate_hz=rate_hz))
        clock = PlayoutClock(histogram_capacity=config.metrics.histogram_capacity)
        sessions = [Session(config, call.transport, clock=clock) for call in farm.calls]
        for session in sessions:
            await session.start()
        pids = {"bridge": os.getpid(), "users": farm.user_pid or 0, "emulator": emulator_pid}
        before_s, before = time.monotonic(), _cpu_snapshot(pids)
        try:
            reports = await farm.converse(STAGGER_S)
        finally:
            elapsed_s, after = time.monotonic() - before_s, _cpu_snapshot(pids)
            for session in sessions:
                await session.stop()
    result = CapacityResult(n_sessions, load_avg=os.getloadavg())
    result.cpu = _cpu_shares(before, after, elapsed_s, n_sessions)
    result.missed_ticks, result.busy_ticks = clock.missed_ticks, clock.busy_ticks
    result.first_metrics = sessions[0].metrics()
    result.rows = [_row(s.metrics(), r) for s, r in zip(sessions, reports, strict=True)]
    return result


def _row(m: MetricsSnapshot, report: UserReport) -> dict[str, float]:
    return {
        "deadline_p50_ms": m.deadline_error_us.p50 / 1e3,
        "deadline_p99_ms": m.deadline_error_us.p99 / 1e3,
        "underruns": m.counters["underruns"],
        "reply_ms": (report.first_heard_s - report.speech_end_s) * 1e3,
        "reply_frames": report.reply_frames,
        "gap_p50_ms": report.gap_p50_ms,
        "gap_p99_ms": report.gap_p99_ms,
        "gap_max_ms": report.gap_max_ms,
        "user_missed_ticks": report.missed_ticks,
    }


def print_table(result: CapacityResult) -> None:
    """The per-session table, then CPU; the first session's latency report."""
    print(f"\n{result.n_sessions} sessions, one bridge process "
          f"(load average {result.load_avg[0]:.2f} {result.load_avg[1]:.2f}, "
          f"{os.cpu_count()} cores)")  # fmt: skip
    print("session  deadline err p50/p99 ms  underruns  reply heard after  "
          "frames heard  heard gaps p50/p99/max ms")  # fmt: skip
    for i, r in enumerate(result.rows, 1):
        reply = "none" if math.isnan(r["reply_ms"]) else f"{r['reply_ms']:.0f} ms"
        print(f"{i:7d}  {r['deadline_p50_ms']:8.2f} / {r['deadline_p99_ms']:6.2f}    "
              f"{r['underruns']:9.0f}  {reply:>17}  {r['reply_frames']:12.0f}  "
              f"{r['gap_p50_ms']:.1f} / {r['gap_p99_ms']:.1f} / {r['gap_max_ms']:.1f}")  # fmt: skip
    c = result.cpu
    print(f"playout clock: missed ticks {result.missed_ticks}, "
          f"chat ticks skipped (send still in flight) {result.busy_ticks}")  # fmt: skip
    print(f"CPU, % of one core: bridge {c['bridge_cpu_pct']:.1f} (event loop "
          f"{c['loop_cpu_pct']:.1f}, ntgcalls/native threads {c['native_cpu_pct']:.1f}), "
          f"users {c['users_cpu_pct']:.1f}, emulator {c['emulator_cpu_pct']:.1f}")  # fmt: skip
    threads = sorted(((v, k[7:]) for k, v in c.items() if k.startswith("thread:")), reverse=True)
    print("  other threads by name: " + ", ".join(f"{name} {v:.1f}" for v, name in threads))
    starved = result.missed_ticks > 0 or result.busy_ticks > 0
    print(f"per chat: event loop {c['loop_cpu_pct_per_chat']:.2f} %, native "
          f"{c['native_cpu_pct_per_chat']:.2f} %; one core holds about "
          f"{c['chats_per_core']:.0f} chats"
          + (" (ticks were skipped: the process lacked CPU, so this is a lower bound "
             "on the cost per chat)" if starved else ""))  # fmt: skip
    if result.first_metrics is not None:
        from ._demo import print_metrics

        print("\nsession 1:")
        print_metrics(result.first_metrics)


# -- processes -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _emulator_process(config: EmulatorConfig) -> Any:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_emulator_main, args=(theirs, config), daemon=True)
    process.start()
    theirs.close()
    loop = asyncio.get_running_loop()
    try:
        ready = await loop.run_in_executor(None, ours.poll, 30.0)
        if not ready:
            raise OSError("the emulator process did not start within 30 s")
        url = ours.recv()
        yield url, process.pid
    finally:
        process.terminate()
        await loop.run_in_executor(None, process.join, 5.0)
        if process.is_alive():
            process.kill()
        ours.close()


def _emulator_main(conn: Connection, config: EmulatorConfig) -> None:
    async def serve() -> None:
        async with Emulator(config) as emulator:
            conn.send(emulator.url)
            await emulator.serve_forever()

    run(serve())


# -- CPU accounting ---------------------------------------------------------------------


def _stat(stat_path: str) -> tuple[str, float]:
    """The name and utime + stime (seconds) in /proc/.../stat (the name may hold spaces)."""
    with open(stat_path, encoding="ascii", errors="replace") as f:
        head, tail = f.read().rsplit(")", 1)
    fields = tail.split()
    return head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def _threads() -> Iterator[tuple[int, str, float]]:
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may end while we look
            yield int(tid), *_stat(f"/proc/self/task/{tid}/stat")


def _cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    snap = {name: _stat(f"/proc/{pid}/stat")[1] for name, pid in pids.items() if pid}
    main_tid = pids["bridge"]
    snap["loop"] = snap["native"] = 0.0
    for tid, name, cpu_s in _threads():
        if tid == main_tid:
            snap["loop"] = cpu_s
        else:
            snap["native"] += cpu_s
            # Grouped by name: WebRTC's own threads are named; Python's (ntgcalls runs
            # each call through a ThreadPoolExecutor) carry the process name.
            # Unnamed native threads are "Thread 0x<address>": one group.
            key = "thread:" + name.split(" 0x", 1)[0]
            snap[key] = snap.get(key, 0.0) + cpu_s
    return snap


def _cpu_shares(
    before: dict[str, float], after: dict[str, float], elapsed_s: float, n_chats: int
) -> dict[str, float]:
    """% of one core over the window; native threads that ended in it are not counted."""
    pct = {k: 100 * (after[k] - before.get(k, 0.0)) / elapsed_s for k in after}
    per_chat_bridge = pct["bridge"] / n_chats
    return {
        "bridge_cpu_pct": pct["bridge"],
        "loop_cpu_pct": pct["loop"],
        "native_cpu_pct": pct["native"],
        "users_cpu_pct": pct.get("users", math.nan),
        "emulator_cpu_pct": pct.get("emulator", math.nan),
        "loop_cpu_pct_per_chat": pct["loop"] / n_chats,
        "native_cpu_pct_per_chat": pct["native"] / n_chats,
        "chats_per_core": 100 / per_chat_bridge if per_chat_bridge > 0 else math.inf,
        "window_s": elapsed_s,
        **{k: v for k, v in pct.items() if k.startswith("thread:") and v >= 0.5},
    }
