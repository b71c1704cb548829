"""Session parts under faults, through their public interfaces.

A click must not hold up resumption, a server that sends the same bad message over and
over must not flood the log, a reused tool-call id must not strand a task, and every
drop and error counter must reach the metrics.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from conftest import FrameSource, loop_clock
from websockets.asyncio.server import ServerConnection, serve

from bridge.config import BridgeConfig
from bridge.emulator import Emulator
from bridge.engine import EnergyVad, Session
from bridge.engine._publish import Publisher
from bridge.engine._resume import ResumePolicy
from bridge.engine._stats import SessionCounters
from bridge.engine._toolcalls import ToolCalls
from bridge.engine.events import Event, SessionError, ToolActivity
from bridge.protocol import FunctionCall, FunctionResponse
from bridge.tools import ToolRegistry

Run = Callable[..., Any]
LOUD = np.full(160, 10_000, dtype=np.int16)
QUIET = np.full(160, 10, dtype=np.int16)


def test_a_click_does_not_count_as_an_unanswered_question() -> None:
    vad = EnergyVad()
    busy = {"generating": False, "tools": False}
    policy = ResumePolicy(vad, lambda: busy["generating"], lambda: busy["tools"])
    vad.update(LOUD, 1.0)  # one loud frame: below the VAD's onset
    vad.update(QUIET, 1.01)
    assert policy.at_pause()
    for t in (2.0, 2.01, 2.02):  # real speech, not yet answered
        vad.update(LOUD, t)
    for i in range(40):
        vad.update(QUIET, 2.03 + i / 100)
    assert not vad.active and not policy.at_pause()
    policy.answered(3.0)
    assert policy.at_pause()
    for key in busy:  # a reply being generated, or a tool running, is no pause either
        busy[key] = True
        assert not policy.at_pause()
        busy[key] = False
    vad.update(LOUD, 4.0)
    vad.update(LOUD, 4.01)
    assert vad.active and not policy.at_pause()  # someone is talking


def audio_message(pcm: bytes, rate_hz: int) -> bytes:
    data = base64.b64encode(pcm).decode()
    part = {"inlineData": {"mimeType": f"audio/pcm;rate={rate_hz}", "data": data}}
    return orjson.dumps({"serverContent": {"modelTurn": {"parts": [part]}}})


def test_a_bad_message_repeated_is_reported_once_per_500(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    # Reply audio at a rate the resampler refuses, 1200 times, and one other failure.
    bad = audio_message(b"\0" * 480, 8001)
    messages = [bad] * 1200
    messages.insert(3, audio_message(b"\0" * 480, 12345))

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # setup
        await ws.send(orjson.dumps({"setupComplete": {}}))
        for message in messages:
            await ws.send(message)
        async for _ in ws:
            pass

    async def scenario() -> tuple[list[Event], dict[str, int]]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            config = BridgeConfig().with_overrides(endpoint={"url": f"ws://127.0.0.1:{port}"})
            session = Session(config, FrameSource(), clock=loop_clock())
            events: list[Event] = []
            session.add_listener(events.append)
            async with session:
                while session.counters["event_errors"] < 1201:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)
                return events, session.counters

    with caplog.at_level("ERROR", logger="bridge.engine._link"):
        events, counters = run_virtual(scenario())
    errors = [e for e in events if isinstance(e, SessionError)]
    assert not any(e.fatal for e in errors)
    assert len(errors) == 4  # the 1st, 501st and 1001st of one kind; the other once
    assert "8001 Hz" in errors[0].message and "12345 Hz" in errors[1].message
    assert len(caplog.records) == 4 and caplog.records[0].exc_info is not None
    assert counters["event_errors"] == 1201


def test_drop_and_error_counters_reach_the_metrics(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    frame = bytes(960)

    async def scenario() -> tuple[dict[str, int], list[Event]]:
        async with Emulator() as emu:
            config = BridgeConfig().with_overrides(endpoint={"url": emu.url})
            transport = FrameSource()
            clock = loop_clock()
            session = Session(config, transport, clock=clock)
            events: list[Event] = []
            session.add_listener(events.append)

            async def broken(deadline_s: float) -> None:
                raise RuntimeError("another session's bug")

            async with session:
                clock.subscribe(broken)  # the shared clock counts it for every session
                transport.deliver(1, frame)
                transport.deliver(2, frame)  # joins; speaker 1 then runs 12 frames ahead
                for _ in range(12):
                    transport.deliver(1, frame)
                transport.deliver(1, b"\0" * 10)
                transport.fail_sends = True
                await asyncio.sleep(0.1)
                return session.counters, events

    with caplog.at_level("WARNING"):
        counters, events = run_virtual(scenario())
    assert counters["uplink_mixer_dropped_frames"] == 12 - 8
    assert counters["bad_frames"] == 1
    assert counters["send_errors"] == counters["clock_handler_errors"] > 5
    assert counters["dropped_events"] == 0
    assert counters["frames_in"] == 14
    # Each kind reported once, so far, to the log and (the session's own) to the events.
    messages = [e.message for e in events if isinstance(e, SessionError)]
    assert messages == [
        "dropped inbound frame: frame from ssrc 1 has 10 bytes; expected 960",
        "transport refused a frame: call ended",
    ]


def test_a_reused_call_id_cancels_the_first_call_and_answers_the_second(run: Run) -> None:
    tools = ToolRegistry()
    gates = [asyncio.Event(), asyncio.Event()]
    runs: list[str] = []

    @tools.tool(
        description="Waits for its gate.",
        parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
    async def wait(n: int = 0) -> dict[str, Any]:
        runs.append(f"started {n}")
        try:
            await gates[n].wait()
        except asyncio.CancelledError:
            runs.append(f"cancelled {n}")
            raise
        return {"n": n}

    sent: list[FunctionResponse] = []
    activity: list[Event] = []
    publisher = Publisher()
    publisher.add_listener(activity.append)

    async def respond(response: FunctionResponse) -> None:
        sent.append(response)

    counters = SessionCounters()

    async def scenario() -> tuple[int, int]:
        calls = ToolCalls(tools, publisher, counters, lambda call_id: True, respond)
        calls.start(FunctionCall("c1", "wait", {"n": 0}))
        await asyncio.sleep(0)
        calls.start(FunctionCall("c1", "wait", {"n": 1}))
        await asyncio.sleep(0)
        running = len(calls.tasks())
        gates[0].set()  # too late: the first call is gone
        await asyncio.sleep(0)
        gates[1].set()
        await asyncio.gather(*calls.tasks())
        return running, len(calls.tasks())

    running, left = run(scenario())
    assert running == 1 and left == 0
    assert (counters.tool_calls, counters.tool_cancellations, counters.tool_errors) == (2, 1, 0)
    assert runs == ["started 0", "cancelled 0", "started 1"]
    assert [r.response for r in sent] == [{"n": 1}]
    statuses = [(a.call_id, a.status) for a in activity if isinstance(a, ToolActivity)]
    assert statuses == [
        ("c1", "started"),
        ("c1", "cancelled"),
        ("c1", "started"),
        ("c1", "finished"),
    ]


def test_the_first_of_two_same_id_calls_leaves_the_second_cancellable(run: Run) -> None:
    tools = ToolRegistry()
    release_first = asyncio.Event()

    @tools.tool(description="Returns at once.", parameters={"type": "object"})
    async def quick() -> dict[str, Any]:
        await release_first.wait()
        return {}

    @tools.tool(description="Never returns.", parameters={"type": "object"})
    async def slow() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def respond(response: FunctionResponse) -> None:
        pass

    async def scenario() -> bool:
        calls = ToolCalls(tools, Publisher(), SessionCounters(), lambda call_id: True, respond)
        calls.start(FunctionCall("c1", "quick"))
        first = calls.tasks()[0]
        calls.start(FunctionCall("c1", "slow"))
        await asyncio.gather(first, return_exceptions=True)
        second_known = bool(calls)  # the first's cleanup must not forget the second
        calls.cancel_all("stop")
        await asyncio.sleep(0)
        return second_known and not calls

    assert run(scenario())
