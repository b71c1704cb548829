"""Uplink CPU cost per Telegram frame: the speaker mixer, and the whole path to the socket.

Groups (48 kHz mono int16, Telegram's 10 ms frames; 20 ms = two frames per speaker):
- mix-{10,20}ms-{1,4,11}spk: `_dsp.mix_into` (int32 accumulate, soft clip, no GIL) next
  to the numpy way peers mix (stack, int32 sum, hard clip, cast).
- uplink-{10,20}ms: from a py-tgcalls `StreamFrames` update dispatched by py-tgcalls' own
  handler machinery (real `filters.stream_frame`) through `GroupCallTransport` and the
  engine's `Uplink` (mix, 48→16 kHz, VAD, ring, base64/JSON) to the message written on a
  real websocket to the local emulator (in its own process). The 10 ms case is one
  update (a message leaves every second one); the 20 ms case two updates and one
  message. Peer in the same group:
  the same dispatch and socket with the processing peers use (numpy mix, python-soxr HQ
  resampling, base64 + json.dumps). `dispatch-only` is py-tgcalls' handler dispatch into
  the transport with nothing done; `loop-overhead` an empty `run_until_complete`; both
  are included in every uplink figure.

The uplink figures include a socket write and event-loop scheduling, so they are noisy
on a shared 2-vCPU machine; compare the `min` column first.

Run: .venv/bin/python -m pytest benchmarks/bench_uplink.py --benchmark-only
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import uvloop
from pytgcalls.handlers.handlers_holder import HandlersHolder
from pytgcalls.types import Device, Direction, Frame, StreamFrames

from _dsp import mix_into
from bridge.client import Endpoint, connect
from bridge.engine import EnergyVad
from bridge.engine._uplink import Uplink
from bridge.protocol import LiveConfig
from bridge.transports.tgcalls import GroupCallTransport

RATE_HZ = 48_000
FRAME_SAMPLES = RATE_HZ // 100
CHAT_ID = -1001
ROUNDS = 2000


def speaker_frames(n_speakers: int, n_samples: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(-12000, 12000, n_samples, dtype=np.int16).tobytes() for _ in range(n_speakers)
    ]


def numpy_mix(frames: list[bytes]) -> np.ndarray:
    stacked = np.stack([np.frombuffer(f, np.int16) for f in frames]).astype(np.int32)
    return np.clip(stacked.sum(axis=0), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("n_speakers", [1, 4, 11])
@pytest.mark.parametrize("frame_ms", [10, 20])
@pytest.mark.parametrize("impl", ["dsp", "numpy"])
def test_mix(benchmark: Any, impl: str, frame_ms: int, n_speakers: int) -> None:
    benchmark.group = f"mix-{frame_ms}ms-{n_speakers}spk"
    frames = speaker_frames(n_speakers, FRAME_SAMPLES * frame_ms // 10)
    out = np.zeros(FRAME_SAMPLES * frame_ms // 10, np.int16)
    if impl == "dsp":
        benchmark.pedantic(mix_into, args=(frames, out), rounds=ROUNDS, iterations=10)
        expected = np.clip(numpy_mix(frames), -32767, 32767)
        loud = np.abs(expected) < 0.75 * 32767  # below the soft-clip knee: exact sum
        assert np.array_equal(out[loud], expected[loud])
    else:
        benchmark.pedantic(numpy_mix, args=(frames,), rounds=ROUNDS, iterations=10)


class _Calls(HandlersHolder):
    """py-tgcalls' handler dispatch with the network left out."""

    mtproto_client = None

    async def resolve_chat_id(self, chat: int | str) -> int:
        return int(chat)

    async def play(self, *args: Any, **kwargs: Any) -> None: ...
    async def record(self, *args: Any, **kwargs: Any) -> None: ...
    async def get_participants(self, chat_id: int) -> list[Any]:
        return []

    async def leave_call(self, chat_id: int) -> None: ...


class _Peer:
    """The peer uplink: numpy mix, python-soxr HQ 48→16 kHz, base64 + json.dumps."""

    def __init__(self, send: Callable[[str], Any]) -> None:
        import soxr

        self.resampler = soxr.ResampleStream(RATE_HZ, 16_000, 1, dtype="int16", quality="HQ")
        self.pending = np.zeros(0, np.int16)
        self.send = send
        self.frames: list[bytes] = []

    def on_frame(self, ssrc: int, pcm: bytes) -> None:
        self.frames.append(pcm)
        mixed = numpy_mix(self.frames)
        self.frames.clear()
        out = self.resampler.resample_chunk(mixed)
        self.pending = np.concatenate([self.pending, out])

    async def send_pending(self) -> None:
        while len(self.pending) >= 320:
            chunk, self.pending = self.pending[:320], self.pending[320:]
            data = base64.b64encode(chunk.tobytes()).decode()
            message = {
                "realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": data}}
            }
            await self.send(json.dumps(message))


_EMULATOR_CHILD = """
import asyncio, sys
from bridge.emulator import Emulator, EmulatorConfig

async def main():
    async with Emulator(EmulatorConfig(silence_duration_ms=60_000)) as emulator:
        print(emulator.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def uplink_rig() -> Iterator[dict[str, Any]]:
    # The emulator runs in its own process so its work is not billed to the uplink.
    child = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    url = child.stdout.readline().strip()
    loop = uvloop.new_event_loop()
    conn = loop.run_until_complete(
        connect(LiveConfig(model="gemini-3.8-live"), Endpoint(base_url=url))
    )
    yield {"loop": loop, "conn": conn}
    loop.run_until_complete(conn.close())
    loop.close()
    child.stdin.close()
    child.wait(timeout=10)


def _update(pcm: bytes) -> StreamFrames:
    return StreamFrames(
        CHAT_ID, Direction.INCOMING, Device.MICROPHONE, [Frame(1001, pcm, Frame.Info())]
    )


@pytest.mark.parametrize("frame_ms", [10, 20])
@pytest.mark.parametrize("impl", ["bridge", "peer", "dispatch-only", "loop-overhead"])
def test_uplink(benchmark: Any, uplink_rig: dict[str, Any], impl: str, frame_ms: int) -> None:
    benchmark.group = f"uplink-{frame_ms}ms"
    loop, conn = uplink_rig["loop"], uplink_rig["conn"]
    calls = _Calls()
    transport = GroupCallTransport(calls, CHAT_ID, self_user_id=1)
    updates = [_update(f) for f in speaker_frames(1, FRAME_SAMPLES, seed=1) * (frame_ms // 10)]
    ws_send = conn._ws.send
    if impl == "bridge":
        uplink = Uplink(
            sample_rate_hz=RATE_HZ,
            channels=1,
            chunk_ms=20,
            ring_capacity_s=5.0,
            vad=EnergyVad(-35.0),
            idle_ticks=20,
            histogram_capacity=64,
        )
        encode = conn.protocol.audio_message  # the bridge's path: protocol builds, socket sends
        sink, flush = uplink.on_frame, lambda: uplink.send_pending(encode, conn.send)
    elif impl == "peer":
        peer = _Peer(ws_send)
        sink, flush = peer.on_frame, peer.send_pending
    else:  # py-tgcalls' dispatch into the transport, no processing, nothing sent
        sink = lambda ssrc, pcm: None  # noqa: E731

        async def flush() -> None:
            return None

    loop.run_until_complete(transport.start(sink))

    async def one_round() -> None:
        for update in updates:
            await calls._propagate(update, calls)
        await flush()

    steps = 0

    def step() -> None:
        nonlocal steps
        steps += 1
        if impl == "loop-overhead":
            loop.run_until_complete(flush())
        else:
            loop.run_until_complete(one_round())

    for _ in range(50):  # warm up filters, resampler state, socket buffers
        step()
    benchmark.pedantic(step, rounds=ROUNDS, iterations=1)
    loop.run_until_complete(transport.stop())
    if impl != "loop-overhead":
        # Every frame of every round (warm-up included) reached the transport.
        assert transport.frames_in == steps * len(updates)
