"""The emulator survives garbage with the right close codes, at the real paths only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.client import Endpoint, connect
from bridge.emulator import Emulator, EmulatorConfig
from bridge.protocol import (
    ConnectFailed,
    LiveConfig,
    PolicyViolation,
    QuotaExceeded,
    TurnComplete,
    encode_setup,
    encode_text,
)

Run = Callable[..., Any]
FAST = EmulatorConfig(think_time_s=0.0, speed=50.0, models=("gemini-3.8-live",))
CONFIG = LiveConfig(model="gemini-3.8-live")
SETUP = encode_setup(CONFIG)
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


async def close_code_after(url: str, *frames: bytes | str, text: bool = True) -> tuple[int, str]:
    """Send frames on a raw socket; return the server's close code and reason."""
    async with ws_connect(url + PATH, max_size=None) as ws:
        try:
            for frame in frames:
                if isinstance(frame, bytes) and text:
                    await ws.send(frame, text=True)
                else:
                    await ws.send(frame)
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError("the server never closed")


@pytest.mark.parametrize(
    ("frames", "code", "fragment"),
    [
        ((b"{not json",), 1007, "Invalid JSON"),
        ((b"\x00\xffnoise\x13",), 1007, ""),  # invalid UTF-8 in a text frame
        ((encode_text("hi"),), 1007, "first message must be setup"),
        ((b'{"setup": {}, "realtimeInput": {}}',), 1007, "exactly one"),
        ((b'{"hello": {}}',), 1007, "Unknown name"),
        ((b'{"setup": {"model": ""}}',), 1007, "model"),
        (
            (
                b'{"setup": {"model": "models/x", "generationConfig": '
                b'{"responseModalities": ["SMELL"]}}}',
            ),
            1007,
            "response_modalities",
        ),
        (
            (
                b'{"setup": {"model": "models/gemini-3.8-live", "realtimeInputConfig": '
                b'{"activityHandling": "SOMETIMES"}}}',
            ),
            1007,
            "activity_handling",
        ),
        ((b'{"setup": {"model": "models/unknown-model"}}',), 1008, "not found"),
        ((SETUP, SETUP), 1007, "setup"),
        ((SETUP, b"[]"), 1007, "Invalid JSON"),
        (
            (
                SETUP,
                b'{"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", '
                b'"data": "!!!"}}}',
            ),
            1007,
            "base64",
        ),
        (
            (SETUP, b'{"realtimeInput": {"audio": {"mimeType": "audio/opus", "data": "AAAA"}}}'),
            1007,
            "mime type",
        ),
        ((SETUP, b'{"realtimeInput": {"activityStart": {}}}'), 1007, "activityStart"),
        ((SETUP, b'{"toolResponse": {"functionResponses": [{"name": "f"}]}}'), 1007, "id"),
    ],
)
def test_bad_client_messages_get_the_right_close_code(
    run: Run, frames: tuple[bytes, ...], code: int, fragment: str
) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            got_code, reason = await close_code_after(emu.url, *frames)
            assert got_code == code
            assert fragment.lower() in reason.lower()
            assert len(reason.encode()) <= 123

    run(scenario())


def test_snake_case_setup_and_binary_client_frames_are_accepted(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu, ws_connect(emu.url + "/" + PATH) as ws:
            await ws.send(
                orjson.dumps(
                    {
                        "setup": {
                            "model": "models/gemini-3.8-live",
                            "generation_config": {"response_modalities": ["AUDIO"]},
                        }
                    }
                )
            )
            reply = await ws.recv()
            assert isinstance(reply, bytes)  # server JSON travels in binary frames
            assert orjson.loads(reply) == {"setupComplete": {"sessionId": "session-1"}}
            await ws.send(
                orjson.dumps(
                    {
                        "realtime_input": {
                            "audio": {"mime_type": "audio/pcm;rate=16000", "data": "-_-__g"}
                        }
                    }
                )
            )
            await ws.send(orjson.dumps({"realtime_input": {"text": "done"}}))
            while "turnComplete" not in orjson.loads(await ws.recv()).get("serverContent", {}):
                pass
        assert emu.sessions[0].setup["generationConfig"] == {"responseModalities": ["AUDIO"]}
        # "-_-__g" is unpadded URL-safe base64 for FB FF BF FE.
        assert bytes(emu.sessions[0].uplink_audio) == bytes([0xFB, 0xFF, 0xBF, 0xFE])
        assert emu.sessions[0].messages[-1] == {"realtimeInput": {"text": "done"}}

    run(scenario())


def test_oversize_messages_close_1009_and_other_sessions_carry_on(run: Run) -> None:
    async def scenario() -> None:
        async with (
            Emulator(replace(FAST, max_message_bytes=4096)) as emu,
            connect(CONFIG, Endpoint(base_url=emu.url)) as healthy,
        ):
            code, _ = await close_code_after(emu.url, SETUP, b'"' + b"A" * 10_000 + b'"')
            assert code == 1009
            code, _ = await close_code_after(emu.url, b"\xff" * 100, text=False)
            assert code == 1007
            await healthy.send(encode_text("still there?"))
            async for event in healthy:
                if isinstance(event, TurnComplete):
                    break

    run(scenario())


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_every_api_version_and_a_doubled_slash_are_served(run: Run, version: str) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            async with connect(CONFIG, Endpoint(base_url=emu.url + "/", api_version=version)):
                pass
            path = (
                f"//ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
            )
            async with ws_connect(emu.url + path) as ws:
                await ws.send(SETUP, text=True)
                assert "setupComplete" in orjson.loads(await ws.recv())

    run(scenario())


def test_wrong_path_is_404(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            with pytest.raises(InvalidStatus) as caught:
                async with ws_connect(emu.url + "/ws/other"):
                    pass
            assert caught.value.response.status_code == 404

    run(scenario())


def test_unknown_model_and_quota_become_typed_client_errors(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(replace(FAST, max_sessions=1)) as emu:
            endpoint = Endpoint(base_url=emu.url)
            with pytest.raises(PolicyViolation, match="not found"):
                await connect(LiveConfig(model="nope"), endpoint)
            async with connect(CONFIG, endpoint):
                with pytest.raises(QuotaExceeded) as caught:
                    await connect(CONFIG, endpoint)
                assert caught.value.status == 429
            async with connect(CONFIG, endpoint):
                pass

    run(scenario())


def test_connect_failures_are_typed(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            port = emu.port
        with pytest.raises(ConnectFailed, match="cannot connect"):
            await connect(CONFIG, Endpoint(base_url=f"ws://127.0.0.1:{port}"))
        async with Emulator(replace(FAST, setup_timeout_s=0.2)) as emu:
            code, reason = await close_code_after(emu.url)
            assert (code, reason) == (1007, "No setup message received.")

    run(scenario())


_KEYS = st.sampled_from(
    [
        "realtimeInput",
        "realtime_input",
        "clientContent",
        "toolResponse",
        "audio",
        "data",
        "mimeType",
        "text",
        "turns",
        "parts",
        "functionResponses",
        "id",
        "activityStart",
        "audioStreamEnd",
        "mediaChunks",
        "turnComplete",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=3),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=st.lists(_JSON, min_size=1, max_size=3))
def test_fuzzed_client_messages_never_crash_the_emulator(run: Run, messages: list[object]) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu, ws_connect(emu.url + PATH) as ws:
            await ws.send(SETUP, text=True)
            await ws.recv()
            try:
                for message in messages:
                    await ws.send(orjson.dumps(message), text=True)
                await ws.send(encode_text("ping"), text=True)
                while b"turnComplete" not in await ws.recv():
                    pass
            except ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 1007, exc

    run(scenario(), timeout_s=10)
