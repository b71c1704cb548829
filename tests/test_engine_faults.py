"""Session and tool-call internals under faults: no server needed.

A click must not hold up resumption, a server that sends the same bad message over and
over must not flood the log, a reused tool-call id must not strand a task, and every
drop counter must reach the metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bridge.config import BridgeConfig
from bridge.engine import Session
from bridge.engine._publish import Publisher
from bridge.engine._toolcalls import ToolCalls
from bridge.engine.events import Event, SessionError, ToolActivity
from bridge.protocol import FunctionCall, FunctionResponse, LiveConnectionClosed, ModelAudio
from bridge.tools import ToolRegistry
from bridge.transports.wav import WavTransport

Run = Callable[..., Any]
LOUD = np.full(160, 10_000, dtype=np.int16)
QUIET = np.full(160, 10, dtype=np.int16)


def session() -> Session:
    config = BridgeConfig().with_overrides(endpoint={"url": "ws://127.0.0.1:9"})
    return Session(config, WavTransport(sample_rate_hz=48_000))


def test_a_click_does_not_count_as_an_unanswered_question() -> None:
    s = session()
    s._vad.update(LOUD, 1.0)  # one loud frame: below the VAD's onset
    s._vad.update(QUIET, 1.01)
    assert s._at_pause()
    for t in (2.0, 2.01, 2.02):  # real speech, not yet answered
        s._vad.update(LOUD, t)
    for i in range(40):
        s._vad.update(QUIET, 2.03 + i / 100)
    assert not s._vad.active and not s._at_pause()
    s._answered_s = 3.0
    assert s._at_pause()


class Replaying:
    """A connection whose server sends the same messages, then closes."""

    def __init__(self, messages: list[list[Any]]) -> None:
        self._messages = messages

    async def recv(self) -> list[Any]:
        if not self._messages:
            raise LiveConnectionClosed(1000, "done")
        return self._messages.pop(0)


def test_a_bad_message_repeated_is_reported_once_per_500(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    s = session()
    events: list[Event] = []
    s.add_listener(events.append)
    # Reply audio at a rate nothing can resample, 1200 times, and one other failure.
    bad = ModelAudio(b"\0" * 480, 7)
    messages: list[list[Any]] = [[bad] for _ in range(1200)]
    messages.insert(3, [ModelAudio(b"\0" * 480, 11)])

    async def scenario() -> None:
        with pytest.raises(LiveConnectionClosed):
            await s._receive(Replaying(messages))  # type: ignore[arg-type]

    with caplog.at_level("ERROR", logger="bridge.engine._session"):
        run(scenario())
    errors = [e for e in events if isinstance(e, SessionError)]
    assert not any(e.fatal for e in errors)
    assert len(errors) == 4  # the 1st, 501st and 1001st of one kind; the other once
    assert "7 Hz" in errors[0].message and "11 Hz" in errors[1].message
    assert len(caplog.records) == 4 and caplog.records[0].exc_info is not None
    assert s.metrics().counters["event_errors"] == 1201


def test_drop_and_error_counters_reach_the_metrics() -> None:
    s = session()
    s.uplink.mixer.dropped_frames = 3
    s.clock.handler_errors = 2
    s._publisher.dropped_events = 5
    counters = s.metrics().counters
    assert counters["uplink_mixer_dropped_frames"] == 3
    assert counters["clock_handler_errors"] == 2
    assert counters["dropped_events"] == 5


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

    async def scenario() -> tuple[int, int]:
        counters = dict.fromkeys(("tool_calls", "tool_errors", "tool_cancellations"), 0)
        counters["late_tool_results_dropped"] = 0
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
        counters: dict[str, int] = dict.fromkeys(
            ("tool_calls", "tool_errors", "tool_cancellations", "late_tool_results_dropped"), 0
        )
        calls = ToolCalls(tools, Publisher(), counters, lambda call_id: True, respond)
        calls.start(FunctionCall("c1", "quick"))
        first = calls.tasks()[0]
        calls.start(FunctionCall("c1", "slow"))
        await asyncio.gather(first, return_exceptions=True)
        second_known = bool(calls)  # the first's cleanup must not forget the second
        calls.cancel_all("stop")
        await asyncio.sleep(0)
        return second_known and not calls

    assert run(scenario())
