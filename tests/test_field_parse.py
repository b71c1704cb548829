"""What a misbehaving or unusual server sends, and what the bridge makes of it.

Each case is one the real service (or a hostile one) produces: an empty audio chunk next
to `turnComplete`, non-audio `inlineData`, type-confused values, streamed function calls,
a `toolCall` with 10,000 calls, 50,000 invalid frames, a huge reply, a huge transcript,
and error bodies that reflect our request headers (the API key among them). The servers
here are real `websockets` servers on 127.0.0.1; the engine runs in virtual time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from conftest import FrameSource, loop_clock
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bridge._secret import Secret
from bridge.cli._demo import _print_event
from bridge.client import Endpoint, connect, mint_token
from bridge.client._connect import MAX_MESSAGE_BYTES
from bridge.config import BridgeConfig, ConfigError
from bridge.engine import Session
from bridge.engine._downlink import Downlink
from bridge.engine._toolcalls import MAX_CALLS_IN_FLIGHT
from bridge.engine._turns import MAX_TURN_TEXT_CHARS
from bridge.engine.events import Transcript
from bridge.protocol import (
    AuthError,
    CallAssembler,
    ConnectFailed,
    FunctionCall,
    GoAway,
    GroundingMetadata,
    InputTranscription,
    InterimInputTranscription,
    LiveConfig,
    ModelAudio,
    ModelMedia,
    OutputTranscription,
    ProtocolError,
    ToolCall,
    TurnComplete,
    TurnCompleteReason,
    UsageMetadata,
    VoiceActivity,
    WaitingForInput,
    parse_server_message,
)
from bridge.tools import builtin_tools

Run = Callable[..., Any]
# A made-up key with the shape of a Google API key ("AIza" + 35 characters), so the
# shape-based masking is tested too; built from parts so no key-like literal is stored.
KEY = "AIza" + "_test_only_not_a_key_".ljust(35, "0")


def content(**fields: Any) -> bytes:
    return orjson.dumps({"serverContent": fields})


def part(mime: Any, data: str | None = None) -> dict[str, Any]:
    blob: dict[str, Any] = {"mimeType": mime}
    if data is not None:
        blob["data"] = data
    return {"inlineData": blob}


# -- the parser -----------------------------------------------------------------------


def test_an_empty_audio_chunk_is_no_audio_and_keeps_its_turn_complete() -> None:
    # protobuf JSON leaves out an empty chunk's `data`.
    message = content(modelTurn={"parts": [part("audio/pcm;rate=24000")]}, turnComplete=True)
    assert parse_server_message(message) == [TurnComplete(None)]
    # The one-chunk fast path with an empty payload: nothing to play either.
    assert parse_server_message(content(modelTurn={"parts": [part("audio/pcm", "")]})) == []


@pytest.mark.parametrize(
    "mime", ["image/png", "video/mp4", "text/plain", "application/pdf", "audio/mpeg"]
)
def test_non_audio_inline_data_is_media_and_never_played(mime: str) -> None:
    data = base64.b64encode(b"\x89PNG....").decode()
    events = parse_server_message(content(modelTurn={"parts": [part(mime, data)]}))
    assert events == [ModelMedia(mime, b"\x89PNG....")]
    with_turn = content(modelTurn={"parts": [part(mime)]}, turnComplete=True)
    assert parse_server_message(with_turn) == [ModelMedia(mime, b""), TurnComplete(None)]


@pytest.mark.parametrize("mime", [24000, {"rate": 24000}, ["audio/pcm"], True])
def test_a_type_confused_mime_type_is_a_protocol_error(mime: Any) -> None:
    for data in ("AAAA", None):
        message = content(modelTurn={"parts": [part(mime, data)]})
        with pytest.raises(ProtocolError, match="mimeType: expected text"):
            parse_server_message(message)


def test_null_for_a_known_key_is_absent() -> None:
    message = orjson.dumps(
        {
            "serverContent": {
                "inputTranscription": None,
                "modelTurn": None,
                "interrupted": None,
                "turnComplete": True,
            },
            "goAway": None,
            "toolCall": None,
            "usageMetadata": None,
        }
    )
    assert parse_server_message(message) == [TurnComplete(None)]


@pytest.mark.parametrize("left", ["soon", "-3s", "infs", {"seconds": "1e999"}, [], True])
def test_an_unusable_go_away_time_is_still_a_go_away_treated_as_imminent(left: Any) -> None:
    assert parse_server_message(orjson.dumps({"goAway": {"timeLeft": left}})) == [GoAway(0.0)]


def test_fields_users_need_become_events() -> None:
    tr = {"text": "hal", "languageCode": "de-DE", "speakerLabel": "spk1"}
    message = orjson.dumps(
        {
            "serverContent": {
                "interimInputTranscription": tr,
                "inputTranscription": {**tr, "finished": True},
                "outputTranscription": {"text": "hi", "languageCode": "en-US"},
                "groundingMetadata": {"webSearchQueries": ["weather"]},
                "turnCompleteReason": "NEED_MORE_INPUT",
                "waitingForInput": True,
            },
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 9},
        }
    )
    assert parse_server_message(message) == [
        InterimInputTranscription("hal", False, "de-DE", "spk1"),
        InputTranscription("hal", True, "de-DE", "spk1"),
        OutputTranscription("hi", False, "en-US", None),
        GroundingMetadata({"webSearchQueries": ["weather"]}),
        TurnCompleteReason("NEED_MORE_INPUT"),
        WaitingForInput(),
        UsageMetadata(5, 0, 9, {"promptTokenCount": 5, "totalTokenCount": 9}),
    ]
    vad = orjson.dumps({"voiceActivityDetectionSignal": {"vadSignalType": "VAD_SIGNAL_TYPE_SOS"}})
    assert parse_server_message(vad) == [VoiceActivity("VAD_SIGNAL_TYPE_SOS")]


def streamed_message() -> bytes:
    return orjson.dumps(
        {
            "toolCall": {
                "functionCalls": [
                    {
                        "id": "a",
                        "name": "calculate",
                        "willContinue": True,
                        "partialArgs": [
                            {"jsonPath": "$.expression", "stringValue": "17*", "willContinue": True}
                        ],
                    },
                    {"id": "b", "name": "calculate", "args": {"expression": "1+1"}},
                ]
            }
        }
    )


def continuation_message() -> bytes:
    call = {"id": "a", "partialArgs": [{"jsonPath": "$.expression", "stringValue": "23"}]}
    return orjson.dumps({"toolCall": {"functionCalls": [call]}})


def test_a_streamed_call_keeps_its_siblings_and_is_assembled_per_id() -> None:
    (first,) = parse_server_message(streamed_message())
    (second,) = parse_server_message(continuation_message())
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert [c.id for c in first.calls] == ["a", "b"]  # the continuation-less sibling kept
    assert second.calls[0].name == ""
    assembler = CallAssembler()
    finished = [assembler.feed(call) for call in (*first.calls, *second.calls)]
    assert finished == [
        None,
        FunctionCall("b", "calculate", {"expression": "1+1"}),
        FunctionCall("a", "calculate", {"expression": "17*23"}),
    ]
    assert len(assembler) == 0


def test_streamed_arguments_at_nested_paths_and_their_limits() -> None:
    assembler = CallAssembler()
    pieces = [
        ("$.place.city", {"stringValue": "Ber"}),
        ("$.place.city", {"stringValue": "lin"}),
        ("$.days[1]", {"numberValue": 3}),
        ("$.metric", {"boolValue": True}),
        ("$.note", {"nullValue": "NULL_VALUE"}),
    ]
    call = {
        "id": "w",
        "name": "weather",
        "willContinue": True,
        "partialArgs": [{"jsonPath": p, **v} for p, v in pieces],
    }
    (event,) = parse_server_message(orjson.dumps({"toolCall": {"functionCalls": [call]}}))
    assert isinstance(event, ToolCall)
    assert assembler.feed(event.calls[0]) is None
    done = assembler.feed(FunctionCall("w", ""))
    assert done == FunctionCall(
        "w",
        "weather",
        {"place": {"city": "Berlin"}, "days": [None, 3], "metric": True, "note": None},
    )
    with pytest.raises(ProtocolError, match="unusable jsonPath"):
        bad = parse_server_message(
            orjson.dumps(
                {
                    "toolCall": {
                        "functionCalls": [
                            {"id": "x", "partialArgs": [{"jsonPath": "$.a[99999999]"}]}
                        ]
                    }
                }
            )
        )[0]
        assert isinstance(bad, ToolCall)
        assembler.feed(bad.calls[0])


# -- bounded work per message, through a real server ----------------------------------


class LoopProbe:
    """The longest single step of the event loop (one callback or task step) while open:
    how long the loop was held. Real time, so it works under the virtual-time loop too.
    Reported, never asserted (the machine is shared)."""

    def __init__(self) -> None:
        self.max_stall_s = 0.0
        self.slowest = ""
        self._original = asyncio.events.Handle._run

    def __enter__(self) -> LoopProbe:
        original = self._original

        def timed(handle: asyncio.events.Handle) -> None:
            started = time.perf_counter()
            try:
                original(handle)
            finally:
                took_s = time.perf_counter() - started
                if took_s > self.max_stall_s:
                    owner = getattr(handle._callback, "__self__", handle)
                    self.max_stall_s, self.slowest = took_s, repr(owner)[:300]

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]


STALLS: dict[str, float] = {}
"""Measured max stall per hostile case (see the report)."""
SLOWEST: dict[str, str] = {}
"""The loop step that took longest, per case."""


async def serve_session(
    messages: list[bytes],
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    tools: bool = True,
    name: str,
) -> tuple[list[dict[str, Any]], Session]:
    """A server that sends `messages` after setup and records what the bridge sends
    back (except audio), until `until(received)`; returns that and the session."""
    received: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(orjson.dumps({"setupComplete": {}}))
        for message in messages:
            await ws.send(message)
        async for frame in ws:
            message = orjson.loads(frame)
            if "realtimeInput" not in message:
                received.append(message)
            await asyncio.sleep(0)  # a real server runs elsewhere: keep its steps small

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        config = BridgeConfig().with_overrides(endpoint={"url": f"ws://127.0.0.1:{port}"})
        session = Session(
            config,
            FrameSource(),
            clock=loop_clock(),
            tools=builtin_tools() if tools else None,
        )
        with LoopProbe() as probe:
            async with session:
                for _ in range(20_000):
                    if until(received):
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)
        STALLS[name] = probe.max_stall_s
        SLOWEST[name] = probe.slowest
    return received, session


def answers(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for m in received for r in m.get("toolResponse", {}).get("functionResponses", [])]


def test_ten_thousand_calls_in_one_message_run_a_bounded_number_of_tasks(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    n_calls = 10_000
    calls = [
        {"id": f"c{i}", "name": "calculate", "args": {"expression": f"{i}+1"}}
        for i in range(n_calls)
    ]
    message = orjson.dumps({"toolCall": {"functionCalls": calls}})
    peak_tasks = 0

    async def scenario() -> list[dict[str, Any]]:
        nonlocal peak_tasks

        def until(received: list[dict[str, Any]]) -> bool:
            nonlocal peak_tasks
            peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
            return len(answers(received)) >= n_calls

        received, _ = await serve_session([message], until, name="10,000 calls")
        return received

    with caplog.at_level("WARNING"):
        received = run_virtual(scenario())
    replies = answers(received)
    assert sorted(r["id"] for r in replies) == sorted(c["id"] for c in calls)  # each once
    ok = [r for r in replies if "value" in r["response"]]
    assert 0 < len(ok) <= MAX_CALLS_IN_FLIGHT
    assert all(r["response"]["value"] == int(r["id"][1:]) + 1 for r in ok)
    assert "more than" in next(r for r in replies if "error" in r["response"])["response"]["error"]
    assert peak_tasks < MAX_CALLS_IN_FLIGHT + 20  # not one task per call
    assert len(caplog.records) < 40  # the refusals, throttled (not 10,000 lines)


def test_ten_thousand_calls_with_one_id_give_a_few_lines_and_one_answer(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [{"id": "same", "name": "calculate", "args": {"expression": "2*3"}}] * 10_000
    message = orjson.dumps({"toolCall": {"functionCalls": calls}})

    async def scenario() -> list[dict[str, Any]]:
        received, _ = await serve_session([message], lambda r: bool(answers(r)), name="one id")
        return received

    with caplog.at_level("WARNING"):
        received = run_virtual(scenario())
    assert len(answers(received)) == 1
    assert len(caplog.records) < 40


def test_a_streamed_call_over_the_wire_is_answered_once_with_its_sibling(
    run_virtual: Run,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        received, _ = await serve_session(
            [streamed_message(), continuation_message()],
            lambda r: len(answers(r)) >= 2,
            name="streamed call",
        )
        return received

    replies = {r["id"]: r["response"] for r in answers(run_virtual(scenario()))}
    assert replies == {
        "b": {"expression": "1+1", "value": 2},
        "a": {"expression": "17*23", "value": 391},
    }


def test_a_huge_reply_is_cut_to_the_playout_limit_before_it_is_resampled() -> None:
    downlink = Downlink(
        sample_rate_hz=48_000, channels=1, target_ms=60, max_ms=2_000, histogram_capacity=64
    )
    fed: list[int] = []
    real = downlink._resampler

    class Counting:
        def __init__(self, rate_hz: int) -> None:
            self._inner = real(rate_hz)

        def process(self, data: Any) -> Any:
            fed.append(len(data))
            return self._inner.process(data)

    downlink._resampler = Counting  # type: ignore[assignment,method-assign]
    pcm = bytes(50_000_000)  # 50 MB at 24 kHz: about 17 minutes
    queued = downlink.push(pcm)
    # What was resampled is the buffer's room (2 s at 24 kHz) plus the filter's slack.
    assert sum(fed) <= 2 * (24_000 * 2 + 512)
    assert 2_000 * 48 - 100 <= queued <= 2_000 * 48
    assert downlink.dropped_samples >= (len(pcm) // 2 - 24_000 * 2) * 2 - 2000
    assert downlink.push(bytes(48_000)) == 0  # full: nothing more is resampled
    assert sum(fed) <= 2 * (24_000 * 2 + 512) + 2 * 512


def test_a_reply_message_at_the_size_limit_is_played_and_the_session_goes_on(
    run_virtual: Run,
) -> None:
    n_bytes = (MAX_MESSAGE_BYTES - 200) // 4 * 3  # as much audio as one message can hold
    data = base64.b64encode(bytes(n_bytes)).decode()
    message = content(modelTurn={"parts": [part("audio/pcm;rate=24000", data)]})
    assert len(message) <= MAX_MESSAGE_BYTES
    done = orjson.dumps({"serverContent": {"generationComplete": True, "turnComplete": True}})
    ask = orjson.dumps(
        {
            "toolCall": {
                "functionCalls": [{"id": "q", "name": "calculate", "args": {"expression": "6*7"}}]
            }
        }
    )

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, int]]:
        received, session = await serve_session(
            [message, done, ask], lambda r: bool(answers(r)), name="4 MiB reply"
        )
        return received, dict(session.counters)

    received, counters = run_virtual(scenario())
    assert counters["downlink_bytes"] == n_bytes
    assert answers(received)[0]["response"]["value"] == 42  # the session went on


def test_fifty_thousand_invalid_frames_give_a_bounded_log(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    n_frames = 50_000

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(orjson.dumps({"setupComplete": {}}))
        for i in range(n_frames):
            await ws.send(b"{not json %d" % i)
            if i % 100 == 0:
                await asyncio.sleep(0)  # a real server runs elsewhere: keep its steps small
        await ws.send(orjson.dumps({"serverContent": {"turnComplete": True}}))
        await ws.wait_closed()

    async def scenario() -> list[Any]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            endpoint = Endpoint(base_url=f"ws://127.0.0.1:{port}")
            with LoopProbe() as probe:
                async with connect(LiveConfig(model="m"), endpoint) as conn:
                    events = await conn.recv()
            STALLS["50,000 invalid frames"] = probe.max_stall_s
            SLOWEST["50,000 invalid frames"] = probe.slowest
            return events

    with caplog.at_level("WARNING", logger="bridge.client"):
        assert run_virtual(scenario()) == [TurnComplete(None)]
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == n_frames // 500  # the 1st, 501st, ... 49,501st
    assert "(49501 so far)" in lines[-1].getMessage()


def test_a_turn_that_never_ends_keeps_a_bounded_transcript(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    # 3,000 pieces of 1,000 characters and no turnComplete: published cumulative, each
    # transcript would grow to 3 MB and the pieces would cost 4.5 GB of copies in all.
    piece = orjson.dumps({"serverContent": {"inputTranscription": {"text": "la " * 333 + "l"}}})

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(orjson.dumps({"setupComplete": {}}))
        for _ in range(3_000):
            await ws.send(piece)
        await ws.wait_closed()

    async def scenario() -> list[Transcript]:
        said: list[Transcript] = []
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            config = BridgeConfig().with_overrides(endpoint={"url": f"ws://127.0.0.1:{port}"})
            session = Session(config, FrameSource(), clock=loop_clock())
            session.add_listener(lambda e: said.append(e) if isinstance(e, Transcript) else None)
            async with session:
                while len(said) < 3_000:
                    await asyncio.sleep(0.01)
        return said

    with caplog.at_level("WARNING"):
        said = run_virtual(scenario())
    assert max(len(t.text) for t in said) == MAX_TURN_TEXT_CHARS
    assert said[-1].text.startswith("la la ")
    dropped = [r for r in caplog.records if "beyond the turn's limit" in r.getMessage()]
    assert 1 <= len(dropped) < 10  # throttled: not one line per piece


def test_a_huge_transcript_is_not_printed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    _print_event(Transcript("model", 0, "la " * 10_000_000, True))
    out = capsys.readouterr().out
    assert len(out) < 3_000 and "more characters not shown" in out


# -- secrets in error messages ---------------------------------------------------------


def reflecting_response(status: int, headers: Headers) -> Response:
    """What a proxy that echoes the request does: every header in the body."""
    body = "\n".join(f"{k}: {v}" for k, v in headers.raw_items()) + "\n" + "x" * 5000
    return Response(status, "Refused", Headers([("Content-Type", "text/plain")]), body.encode())


@pytest.mark.parametrize("status", [401, 403, 500])
def test_an_upgrade_refusal_that_reflects_headers_does_not_show_the_key(
    run_virtual: Run, status: int
) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return reflecting_response(status, request.headers)

    async def scenario() -> str:
        async def never(ws: ServerConnection) -> None:
            raise AssertionError("not reached")

        async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            endpoint = Endpoint(base_url=f"ws://127.0.0.1:{port}", api_key=Secret(KEY))
            with pytest.raises((AuthError, ConnectFailed)) as caught:
                await connect(LiveConfig(model="m"), endpoint)
            return str(caught.value)

    message = run_virtual(scenario())
    assert KEY not in message and KEY[:12] not in message
    assert f"HTTP {status}" in message and "***" in message
    assert len(message) < 600


@contextlib.contextmanager
def reflecting_http_server(status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = str(self.headers).encode() + self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_token_mint_error_that_reflects_headers_does_not_show_the_key(
    run: Run, status: int
) -> None:
    with reflecting_http_server(status) as base_url:
        endpoint = Endpoint(base_url=base_url, api_key=Secret(KEY))
        with pytest.raises((AuthError, ConnectFailed)) as caught:
            run(mint_token(endpoint, timeout_s=5))
    message = str(caught.value)
    assert f"HTTP {status}" in message and "***" in message
    assert KEY not in message and KEY[:12] not in message


def test_url_userinfo_is_masked_in_connect_errors_and_config_errors(run_virtual: Run) -> None:
    async def scenario() -> str:
        endpoint = Endpoint(base_url=f"ws://user:{KEY}@127.0.0.1:9")  # nothing listens
        with pytest.raises(ConnectFailed) as caught:
            await connect(LiveConfig(model="m"), endpoint, connect_timeout_s=2)
        return str(caught.value)

    message = run_virtual(scenario())
    assert KEY not in message and "ws://***@127.0.0.1:9" in message
    with pytest.raises(ConfigError) as caught:
        Endpoint(base_url=f"ftp://user:{KEY}@host").validate()
    assert KEY not in str(caught.value) and "***@host" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        BridgeConfig.load(env={"GEMINI_URL": f"http://user:{KEY}@host"})
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "name",
    ["BRIDGE_ENGINE_UPLINK_CHUNK_MS", "BRIDGE_ENDPOINT_API_VERSION", "BRIDGE_TRANSPORT_CHANNELS"],
)
def test_a_key_put_in_a_non_secret_variable_is_not_echoed(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BridgeConfig.load(env={name: KEY})
    message = str(caught.value)
    assert KEY[:10] not in message and f"${name}" in message
    assert "looks like a credential" in message


def test_warnings_are_logged_once_not_per_message(caplog: pytest.LogCaptureFixture) -> None:
    # A stray guard: parsing never logs; only the layers above report (throttled).
    with caplog.at_level(logging.DEBUG, logger="bridge.protocol"):
        for _ in range(100):
            with pytest.raises(ProtocolError):
                parse_server_message(b"{bad")
    assert not caplog.records


def test_audio_events_keep_their_rate() -> None:
    data = base64.b64encode(b"\x01\x00" * 4).decode()
    events = parse_server_message(
        content(modelTurn={"parts": [part("audio/pcm;rate=16000", data)]})
    )
    assert events == [ModelAudio(b"\x01\x00" * 4, 16000)]


# -- calculate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("1e308 * 10", "not a finite number"),
        ("1e308 * 10 - 1e308 * 10", "not a finite number"),
        ("(-8) ** 0.5", "not a real number"),
        ("(-1) ** (1/3)", "not a real number"),
        ("2 ** 1001", "exponent 1001 is too large"),
        ("2 ** -1001", "exponent -1001 is too large"),
        ("31 ** 1000", "exceeds 4096 bits"),
    ],
)
def test_calculate_answers_what_it_cannot_represent_with_an_error(
    run_virtual: Run, expression: str, problem: str
) -> None:
    result = run_virtual(builtin_tools().call("calculate", {"expression": expression}))
    assert problem in result["error"], result


def test_calculate_accepts_its_documented_bounds(run_virtual: Run) -> None:
    tools = builtin_tools()
    (declaration,) = [d for d in tools.declarations() if d["name"] == "calculate"]
    assert "exponents from -1000 to 1000" in declaration["description"]
    assert "integers up to 4096 bits" in declaration["description"]

    def value(expression: str) -> Any:
        return run_virtual(tools.call("calculate", {"expression": expression}))["value"]

    assert value("2 ** 1000") == str(2**1000)
    assert value("2 ** -1000") == 2.0**-1000
    assert value("17 ** 1000") == str(17**1000)  # 4088 bits: inside the bound
    assert value("2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 95") == str(2**4095)
