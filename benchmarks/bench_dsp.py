"""DSP core against the peers people would otherwise use, on the bridge's real frames.

Run: pytest benchmarks/bench_dsp.py --benchmark-group-by=group
Every group holds our kernel and its peers on the same frames; compare means (soxr
returns output in bursts, so its per-call times vary by design). Inputs are numpy int16
frames cycled from a fixed-seed noise signal so no call sees a cache-hot repeat.

The resampler runs once per ISA level this CPU has (`_dsp.available_isas()`), each level in
its own group with the peers measured right after it in the same process, so every level
is compared with soxr under the same load. Quote figures with the level and the CPU flags
(`lscpu`): the level is in each group's name and in `extra_info["isa"]`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import _dsp
from _dsp import JitterBuffer, Resampler, RingBuffer

soxr = pytest.importorskip("soxr")
av = pytest.importorskip("av")

FRAME_MS = [10, 20]
N_FRAMES = 64
ROUNDS = 1000
ITERATIONS = 20


def frames(rate_hz: int, channels: int, frame_ms: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(7)
    n = rate_hz * frame_ms // 1000 * channels
    data = np.clip(rng.standard_normal(n * N_FRAMES) * 4000, -32768, 32767).astype(np.int16)
    return itertools.cycle([data[i * n : (i + 1) * n].copy() for i in range(N_FRAMES)])


def run(benchmark: pytest.FixtureRequest, fn: Callable[[], object]) -> None:
    for _ in range(N_FRAMES):  # warm up state, caches and soxr's internal buffers
        fn()
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=ITERATIONS, warmup_rounds=2)


def downmix(x: np.ndarray) -> np.ndarray:
    return ((x[0::2].astype(np.int32) + x[1::2]) >> 1).astype(np.int16)


def swr(in_hz: int, in_layout: str, out_hz: int) -> Callable[[np.ndarray], object]:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=out_hz)

    def convert(x: np.ndarray) -> object:
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout=in_layout)
        frame.sample_rate = in_hz
        return resampler.resample(frame)

    return convert


CASES = {
    "48k stereo->16k mono": (48000, 2, 16000),
    "24k->48k mono": (24000, 1, 48000),
    "16k->48k mono": (16000, 1, 48000),
}


LEVELS = _dsp.available_isas()
PEERS = ["dsp", "soxr_hq", "pyav_swr"]


@pytest.fixture
def isa_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """Build the resampler under the parametrized ISA level; restore "auto" afterwards."""
    level: str = request.param
    _dsp._set_isa(level)
    yield level
    _dsp._set_isa("auto")


# The peer varies fastest, so each group's members run back to back.
@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("isa_level", LEVELS, indirect=True)
@pytest.mark.parametrize("frame_ms", FRAME_MS)
@pytest.mark.parametrize("case", list(CASES))
def test_resample(benchmark, case: str, frame_ms: int, isa_level: str, peer: str) -> None:  # type: ignore[no-untyped-def]
    in_hz, in_ch, out_hz = CASES[case]
    benchmark.group = f"resample {case} per {frame_ms} ms [isa {isa_level}]"
    benchmark.extra_info["isa"] = isa_level
    it = frames(in_hz, in_ch, frame_ms)
    if peer == "dsp":
        rs = Resampler(in_hz, out_hz, in_channels=in_ch)
        run(benchmark, lambda: rs.process(next(it)))
    elif peer == "soxr_hq":
        stream = soxr.ResampleStream(in_hz, out_hz, 1, dtype="int16", quality="HQ")
        if in_ch == 2:
            run(benchmark, lambda: stream.resample_chunk(downmix(next(it))))
        else:
            run(benchmark, lambda: stream.resample_chunk(next(it)))
    else:
        convert = swr(in_hz, "stereo" if in_ch == 2 else "mono", out_hz)
        run(benchmark, lambda: convert(next(it)))


@pytest.mark.parametrize("frame_ms", FRAME_MS)
def test_ring_write_read_dsp(benchmark, frame_ms: int) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"ring write+read per {frame_ms} ms (48k mono)"
    ring = RingBuffer(48000)
    it = frames(48000, 1, frame_ms)
    n = 48 * frame_ms

    def op() -> object:
        ring.write(next(it))
        return ring.read(n)

    run(benchmark, op)


@pytest.mark.parametrize("frame_ms", FRAME_MS)
def test_ring_write_read_bytearray(benchmark, frame_ms: int) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"ring write+read per {frame_ms} ms (48k mono)"
    fifo = bytearray()
    it = frames(48000, 1, frame_ms)
    n_bytes = 96 * frame_ms

    def op() -> object:
        fifo.extend(next(it))
        out = np.frombuffer(bytes(fifo[:n_bytes]), np.int16)
        del fifo[:n_bytes]
        return out

    run(benchmark, op)


@pytest.mark.parametrize("frame_ms", FRAME_MS)
def test_jitter_push_pop_dsp(benchmark, frame_ms: int) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"jitter push+pop per {frame_ms} ms (48k mono)"
    jb = JitterBuffer(48000, 1, frame_ms, target_ms=4 * frame_ms)
    it = frames(48000, 1, frame_ms)
    for _ in range(8):
        jb.push(next(it))

    def op() -> object:
        jb.push(next(it))
        return jb.pop()

    run(benchmark, op)


@pytest.mark.parametrize("frame_ms", FRAME_MS)
def test_jitter_push_pop_bytearray(benchmark, frame_ms: int) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"jitter push+pop per {frame_ms} ms (48k mono)"
    fifo = bytearray()
    it = frames(48000, 1, frame_ms)
    n_bytes = 96 * frame_ms
    for _ in range(8):
        fifo.extend(next(it))

    def op() -> object:
        fifo.extend(next(it))
        out = np.frombuffer(bytes(fifo[:n_bytes]), np.int16)
        del fifo[:n_bytes]
        return out

    run(benchmark, op)
