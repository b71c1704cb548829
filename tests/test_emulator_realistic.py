"""The realistic emulator profile, seen from a plain websockets client.

Limits, slow pongs, bursty replies and drops run in virtual time (`run_virtual`), so a
58-minute deadline compressed 600x still takes a few milliseconds; times asserted are
the loop's, never the wall clock's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import types as pytypes
import typing
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
from google.genai import types
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge.cli import main
from bridge.emulator import Emulator, EmulatorConfig
from bridge.emulator._setup import setup_fields
from bridge.protocol import LiveConfig

Run = Callable[..., Any]
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
COMPRESSION = {"contextWindowCompression": {"slidingWindow": {}}}


def realistic(**changes: Any) -> EmulatorConfig:
    return EmulatorConfig.from_profile("realistic", **{"time_scale": 1 / 600, "seed": 7, **changes})


async def open_session(emu: Emulator, **setup: Any) -> tuple[ClientConnection, list[Any]]:
    ws = await connect(emu.url + PATH, ping_interval=None)
    await ws.send(orjson.dumps({"setup": {"model": "models/m", **setup}}))
    return ws, []


async def until_closed(ws: ClientConnection) -> tuple[list[tuple[float, Any]], float]:
    """Every message with its loop time, then the loop time of the close."""
    loop = asyncio.get_running_loop()
    messages = []
    try:
        async for data in ws:
            messages.append((loop.time(), orjson.loads(data)))
    except ConnectionClosed:
        pass
    return messages, loop.time()


def last_handle(messages: list[tuple[float, Any]]) -> str:
    updates = [m["sessionResumptionUpdate"] for _, m in messages if "sessionResumptionUpdate" in m]
    return str(updates[-1]["newHandle"])


def test_connections_last_10_min_and_the_session_is_closed_at_58_min_for_good(
    run_virtual: Run,
) -> None:
    async def scenario() -> list[tuple[float, float | None, int | None, str]]:
        async with Emulator(realistic()) as emu:
            start_s = asyncio.get_running_loop().time()
            ends = []
            handle = None
            while True:
                resume = {"sessionResumption": {"handle": handle}} if handle else {}
                ws, _ = await open_session(emu, **COMPRESSION, **resume)
                messages, closed_s = await until_closed(ws)
                go_away = [t - start_s for t, m in messages if "goAway" in m]
                ends.append(
                    (
                        closed_s - start_s,
                        go_away[0] if go_away else None,
                        ws.close_code,
                        ws.close_reason or "",
                    )
                )
                if ws.close_code != 1008:
                    break
                handle = last_handle(messages)
            # The deadline's session cannot be resumed; a new one can start.
            ws, _ = await open_session(emu, sessionResumption={"handle": last_handle(messages)})
            _, refused_s = await until_closed(ws)
            ends.append((refused_s - start_s, None, ws.close_code, ws.close_reason or ""))
            ws, _ = await open_session(emu, **COMPRESSION)
            first = orjson.loads(await ws.recv())
            assert first == {"setupComplete": {"sessionId": "session-2"}}
            await ws.close()
            return ends

    ends = run_virtual(scenario())
    # 1 s of loop time per 10 minutes: five whole connections, each announced 50 s ahead.
    for n, (closed_s, go_away_s, code, _) in enumerate(ends[:5], start=1):
        assert closed_s == pytest.approx(n, abs=1e-3) and code == 1008
        assert go_away_s == pytest.approx(n - 50 / 600, abs=1e-3)
    closed_s, go_away_s, code, reason = ends[5]
    assert closed_s == pytest.approx(5.8, abs=1e-3) and go_away_s is None
    assert (code, reason) == (1011, "deadline expired")
    assert ends[6][2] == 1007 and "ended" in ends[6][3]


@pytest.mark.parametrize("compression", [False, True])
def test_an_audio_session_without_compression_ends_at_15_min(
    run_virtual: Run, compression: bool
) -> None:
    async def scenario() -> tuple[float, int | None, int | None]:
        async with Emulator(realistic(session_seconds=None)) as emu:
            start_s = asyncio.get_running_loop().time()
            ws, _ = await open_session(emu, **(COMPRESSION if compression else {}))
            messages, closed_s = await asyncio.wait_for(until_closed(ws), 10.0)
            code = ws.close_code
            resume = {"sessionResumption": {"handle": last_handle(messages)}}
            ws, _ = await open_session(emu, **resume)
            await asyncio.wait_for(until_closed(ws), 3.0)
            return closed_s - start_s, code, ws.close_code

    if compression:  # no 15-min limit: the 58-min deadline closes it, never resumable
        closed_s, code, resumed = run_virtual(scenario())
        assert closed_s == pytest.approx(5.8, abs=1e-3) and code == 1011 and resumed == 1007
    else:
        closed_s, code, resumed = run_virtual(scenario())
        assert closed_s == pytest.approx(1.5, abs=1e-3) and code == 1008 and resumed == 1007


def test_pongs_are_late_while_audio_is_still_answered(run_virtual: Run) -> None:
    speech = (np.sin(np.arange(16_000) / 16_000 * 2 * np.pi * 300) * 8000).astype("<i2")
    pcm = speech.tobytes() + bytes(32_000)

    async def scenario() -> list[float]:
        async with Emulator(realistic(time_scale=1 / 60)) as emu:
            ws, _ = await open_session(emu, **COMPRESSION)
            loop = asyncio.get_running_loop()
            delays = []
            for _ in range(5):
                sent_s = loop.time()
                pong = await ws.ping()
                blob = {"data": base64.b64encode(pcm).decode(), "mimeType": "audio/pcm;rate=16000"}
                await ws.send(orjson.dumps({"realtimeInput": {"audio": blob}}))
                while True:  # the turn is heard at once: reading goes on while the pong waits
                    message = orjson.loads(await ws.recv())
                    if "inputTranscription" in message.get("serverContent", {}):
                        break
                assert not pong.done()
                await pong
                delays.append(loop.time() - sent_s)
            await ws.close()
            return delays

    delays = run_virtual(scenario())
    assert all(8 / 60 <= d <= 30 / 60 + 1e-6 for d in delays), delays
    assert len(set(delays)) == 5


def test_replies_come_in_bursts_faster_and_slower_than_real_time(run_virtual: Run) -> None:
    async def scenario() -> list[float]:
        config = realistic(time_scale=1.0, reply="tone", tone_s=8.0, think_time_s=0.0)
        async with Emulator(config) as emu:
            ws, _ = await open_session(emu)
            await ws.send(orjson.dumps({"realtimeInput": {"text": "talk"}}))
            loop = asyncio.get_running_loop()
            times = []
            while True:
                message = orjson.loads(await ws.recv())
                content = message.get("serverContent", {})
                if "modelTurn" in content:
                    times.append(loop.time())
                if content.get("turnComplete"):
                    break
            await ws.close()
            return times

    times = run_virtual(scenario())
    # 5 chunks of 40 ms a burst; each burst's 200 ms took 200 ms / speed.
    bursts = np.diff(times[::5])
    speeds = 0.2 / bursts
    assert speeds.min() >= 0.7 - 1e-6 and speeds.max() <= 3.0 + 1e-6
    assert speeds.min() < 1.0 < speeds.max()


def _model_of(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, pytypes.UnionType, list):
        for arg in typing.get_args(annotation):
            if (found := _model_of(arg)) is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


def sdk_fields(model: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    """The camelCase field tree of a google-genai model (None: any value)."""
    tree: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        tools = model is types.LiveClientSetup and name == "tools"
        sub = types.Tool if tools else _model_of(info.annotation)
        if sub is None or sub is types.Schema or sub in path:
            tree[info.alias or name] = None
        else:
            tree[info.alias or name] = sdk_fields(sub, (*path, sub))
    return tree


def merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key)
        out[key] = merged(mine, value) if isinstance(mine, dict) and value else mine or value
    return out


def sdk_setup_fields() -> dict[str, Any]:
    """What the SDK can put in a setup: `LiveClientSetup`'s fields, and `LiveConnectConfig`'s
    (which its converters place at the top level or under generationConfig)."""
    setup = sdk_fields(types.LiveClientSetup, (types.LiveClientSetup,))
    connect = sdk_fields(types.LiveConnectConfig, (types.LiveConnectConfig,))
    generation = {k: v for k, v in connect.items() if k not in setup}
    top = merged(setup, generation)
    top["generationConfig"] = merged(top["generationConfig"], generation)
    return top


def test_the_setup_field_tree_is_the_installed_sdks() -> None:
    # After an SDK upgrade, regenerate src/bridge/data/live_setup_fields.json with
    # json.dump(sdk_setup_fields(), f, indent=1, sort_keys=True).
    assert setup_fields() == sdk_setup_fields()


def close_of(run_virtual: Run, config: EmulatorConfig, message: dict[str, Any] | str) -> Any:
    async def scenario() -> tuple[int | None, str | None, Any]:
        async with Emulator(config) as emu:
            ws = await connect(emu.url + PATH, ping_interval=None)
            await ws.send(message if isinstance(message, str) else orjson.dumps(message))
            first = None
            with contextlib.suppress(ConnectionClosed):
                first = orjson.loads(await ws.recv())
            await ws.close()
            return ws.close_code, ws.close_reason, first

    return run_virtual(scenario())


def test_setup_fields_the_sdk_does_not_know_are_refused_by_name(run_virtual: Run) -> None:
    bad = {"setup": {"model": "m", "generationConfig": {"temprature": 0.5}}}
    code, reason, _ = close_of(run_virtual, realistic(), bad)
    assert code == 1007 and '"temprature"' in reason and "setup.generationConfig" in reason
    # The same setup is accepted by the basic profile (not checked against the SDK).
    assert close_of(run_virtual, EmulatorConfig(), bad)[2] is not None
    coverage = {"turnCoverage": "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"}
    good = {"setup": {"model": "m", "realtime_input_config": coverage}}  # snake_case too
    assert close_of(run_virtual, realistic(), good)[2] == {
        "setupComplete": {"sessionId": "session-1"}
    }
    ours = LiveConfig(model="gemini-3.8-live", system_instruction="hi").to_wire()
    assert close_of(run_virtual, realistic(), {"setup": ours})[2] is not None


def test_close_reasons_are_cut_at_123_bytes(run_virtual: Run) -> None:
    name = "é" * 100  # 200 bytes of UTF-8
    code, reason, _ = close_of(run_virtual, realistic(), {"setup": {"model": "m", name: 1}})
    assert code == 1007 and reason.startswith('Invalid JSON payload received. Unknown name "é')
    assert len(reason.encode()) <= 123


def test_deep_nesting_is_refused_without_a_traceback(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * 1000 + "1" + "]" * 1000  # within orjson's limit (1024), not Python's
    message = '{"setup": {"model": "m", "systemInstruction": {"parts": ' + nested + "}}}"
    with caplog.at_level(logging.INFO):
        code, reason, _ = close_of(run_virtual, EmulatorConfig(), message)
    assert code == 1007 and "nesting deeper than 64" in reason
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_bounded_records_keep_the_last_seconds_of_audio(run_virtual: Run) -> None:
    rng = np.random.default_rng(3)
    pcm = rng.integers(-20, 20, 16_000 * 5, dtype=np.int16).tobytes()  # 5 s, quiet

    async def scenario() -> Any:
        async with Emulator(EmulatorConfig(record_audio_s=1.0)) as emu:
            ws, _ = await open_session(emu)
            for offset in range(0, len(pcm), 64):  # 2500 messages of 2 ms
                blob = {"data": base64.b64encode(pcm[offset : offset + 64]).decode()}
                await ws.send(orjson.dumps({"realtimeInput": {"audio": blob}}))
            await ws.close()
            await asyncio.sleep(0.1)
            return emu.sessions[0]

    record = run_virtual(scenario())
    assert record.n_uplink_bytes == len(pcm)
    assert bytes(record.uplink_audio) == pcm[-32_000:]
    assert record.uplink_audio_start == len(pcm) - 32_000
    assert 1000 <= len(record.messages) <= 2000


def test_random_drops_follow_the_seed(run_virtual: Run) -> None:
    async def scenario(seed: int) -> list[tuple[float, int | None]]:
        async with Emulator(realistic(drops_per_hour=600.0, seed=seed)) as emu:
            start_s = asyncio.get_running_loop().time()
            ends = []
            for _ in range(8):
                ws, _ = await open_session(emu, **COMPRESSION)
                _, closed_s = await until_closed(ws)
                ends.append((round(closed_s - start_s, 6), ws.close_code))
            return ends

    first = run_virtual(scenario(1))
    assert first == run_virtual(scenario(1))
    assert first != run_virtual(scenario(2))
    codes = {code for _, code in first}
    assert codes <= {1006, 1011, 1008} and {1006, 1011} <= codes


def test_emulator_command_rejects_a_bad_knob(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--profile", "realistic", "--speed-range", "3", "1"]) == 2
    err = capsys.readouterr().err
    assert "speed_range" in err and "Traceback" not in err
    assert main(["emulator", "--time-scale", "0"]) == 2
    assert "time_scale" in capsys.readouterr().err
