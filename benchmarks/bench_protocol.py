"""Protocol CPU cost per message: ours next to google-genai doing the same work.

Groups:
- encode-20ms: one 20 ms 16 kHz uplink audio message from int16 PCM to the JSON frame.
  SDK: the exact steps of `AsyncSession.send_realtime_input(audio=Blob(...))` short of the
  socket (pydantic validation, mldev converter, dict conversion, json.dumps).
- parse-40ms / parse-200ms: one server message carrying 24 kHz reply audio, from the
  frame's bytes to an event with the PCM. SDK: the steps of `AsyncSession._receive()`
  (json.loads, mldev converter, `LiveServerMessage._from_response`) plus reading `.data`.

Run: .venv/bin/python -m pytest benchmarks/bench_protocol.py --benchmark-only
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest

from bridge.protocol import ModelAudio, encode_audio, parse_server_message

genai = pytest.importorskip("google.genai")
from google.genai import _common, types  # noqa: E402
from google.genai import _live_converters as live_converters  # noqa: E402

UPLINK_RATE_HZ = 16000
REPLY_RATE_HZ = 24000
ROUNDS = 2000


def pcm(n_ms: int, rate_hz: int, seed: int = 0) -> np.ndarray:
    n_samples = rate_hz * n_ms // 1000
    return np.random.default_rng(seed).integers(-8000, 8000, n_samples, dtype=np.int16)


def server_audio_message(n_ms: int) -> bytes:
    data = base64.b64encode(pcm(n_ms, REPLY_RATE_HZ).tobytes()).decode()
    return orjson.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}]
                }
            }
        }
    )


def ours_encode(frame: np.ndarray) -> bytes:
    return encode_audio(frame, sample_rate_hz=UPLINK_RATE_HZ)


def sdk_encode(frame: np.ndarray) -> str:
    kwargs = {"audio": types.Blob(data=frame.tobytes(), mime_type="audio/pcm;rate=16000")}
    realtime_input = types.LiveSendRealtimeInputParameters.model_validate(kwargs)
    realtime_input_dict = live_converters._LiveSendRealtimeInputParameters_to_mldev(
        from_object=realtime_input
    )
    realtime_input_dict = _common.convert_to_dict(realtime_input_dict)
    realtime_input_dict = _common.encode_unserializable_types(realtime_input_dict)
    return json.dumps({"realtime_input": realtime_input_dict})


def ours_parse(raw: bytes) -> bytes:
    (event,) = parse_server_message(raw)
    assert isinstance(event, ModelAudio)
    return event.pcm


def sdk_parse(raw: bytes) -> bytes:
    parameter_model = types.LiveServerMessage()
    response = json.loads(raw)
    response_dict = live_converters._LiveServerMessage_from_mldev(response)
    message = types.LiveServerMessage._from_response(
        response=response_dict, kwargs=parameter_model.model_dump()
    )
    data = message.data
    assert data is not None
    return data


def check_same_work() -> None:
    """Both sides produce the same payload, so the comparison is like for like."""
    frame = pcm(20, UPLINK_RATE_HZ)
    ours = orjson.loads(ours_encode(frame))["realtimeInput"]["audio"]
    theirs = json.loads(sdk_encode(frame))["realtime_input"]["audio"]
    assert base64.b64decode(ours["data"]) == base64.urlsafe_b64decode(theirs["data"])
    raw = server_audio_message(40)
    assert ours_parse(raw) == sdk_parse(raw)


check_same_work()


def bench(benchmark: Any, fn: Callable[[Any], Any], arg: Any) -> None:
    benchmark.pedantic(fn, args=(arg,), rounds=ROUNDS, iterations=5, warmup_rounds=50)


@pytest.mark.benchmark(group="encode-20ms")
@pytest.mark.parametrize("impl", ["bridge", "google-genai"])
def test_encode_20ms_uplink(benchmark: Any, impl: str) -> None:
    bench(benchmark, ours_encode if impl == "bridge" else sdk_encode, pcm(20, UPLINK_RATE_HZ))


@pytest.mark.benchmark(group="parse-40ms")
@pytest.mark.parametrize("impl", ["bridge", "google-genai"])
def test_parse_40ms_reply(benchmark: Any, impl: str) -> None:
    bench(benchmark, ours_parse if impl == "bridge" else sdk_parse, server_audio_message(40))


@pytest.mark.benchmark(group="parse-200ms")
@pytest.mark.parametrize("impl", ["bridge", "google-genai"])
def test_parse_200ms_reply(benchmark: Any, impl: str) -> None:
    bench(benchmark, ours_parse if impl == "bridge" else sdk_parse, server_audio_message(200))


def speech_like(n_ms: int, rate_hz: int) -> np.ndarray:
    """A modulated tone with noise: compresses more like speech than random samples do."""
    t = np.arange(rate_hz * n_ms // 1000) / rate_hz
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = np.random.default_rng(1).normal(0, 0.03, t.size)
    return ((wave + noise) * 32767).astype(np.int16)


@pytest.mark.benchmark(group="deflate-20ms")
def test_permessage_deflate_cost_of_a_20ms_uplink(benchmark: Any) -> None:
    """What permessage-deflate would add per uplink message (why it is off by default)."""
    import zlib

    messages = [ours_encode(chunk) for chunk in np.split(speech_like(2000, UPLINK_RATE_HZ), 100)]
    compressor = zlib.compressobj(wbits=-15)
    state = {"i": 0}

    def deflate() -> bytes:
        state["i"] = (state["i"] + 1) % len(messages)
        return compressor.compress(messages[state["i"]]) + compressor.flush(zlib.Z_SYNC_FLUSH)

    sizes = [len(deflate()) for _ in messages]
    benchmark.extra_info["bytes_ratio"] = round(sum(sizes) / sum(map(len, messages)), 3)
    benchmark.pedantic(deflate, rounds=ROUNDS, iterations=5, warmup_rounds=50)
