"""Tool behaviour and response scheduling, end to end: a real `Session` against the emulator.

A NON_BLOCKING tool does not hold the conversation: the reply plays and the user is
answered while it runs; its result is then taken in silently (SILENT), spoken after the
reply in progress (WHEN_IDLE) or spoken at once, cutting that reply (INTERRUPT). A call
the model waits on and that runs long is reported as "slow" (the chat posts a notice).
Everything runs in virtual time; assertions are about what the room hears and what the
server received.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest
from conftest import PacedWav
from test_e2e import QUICK, Recorder, Run, bridge_config, session_for, speech_pcm, tool_registry
from test_emulator_client import CONFIG, until
from test_emulator_robustness import FAST, SETUP, close_code_after
from test_sdk_emulator import MODEL, Tls, emulator_config, profile, sdk_client, tls  # noqa: F401

from bridge.client import Endpoint, connect
from bridge.config import BridgeConfig
from bridge.emulator import Emulator, SessionRecord
from bridge.engine.events import Reconnected, ToolActivity, Transcript, TurnEnded, TurnStarted
from bridge.protocol import Interrupted, ToolCall, ToolCallCancellation, TurnComplete
from bridge.tools import ToolRegistry

types = pytest.importorskip("google.genai.types")
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}}


def tools_config(url: str, behavior: str, scheduling: str | None = None, **tools: Any) -> Any:
    settings: dict[str, Any] = {"behavior": (f"lookup={behavior}",), **tools}
    if scheduling is not None:
        settings["scheduling"] = (f"lookup={scheduling}",)
    return bridge_config(url).with_overrides(tools=settings)


def spoken(events: Recorder) -> list[str]:
    return [t.text for t in events.of(Transcript) if t.role == "model" and t.final]


def statuses(events: Recorder) -> list[str]:
    return [a.status for a in events.of(ToolActivity)]


async def call_held_open(
    behavior: str, scheduling: str | None = None
) -> tuple[SessionRecord, Recorder, list[str], list[str]]:
    """The user asks; the tool stays open until the user has been answered twice."""
    calls: list[str] = []
    gate = asyncio.Event()
    async with Emulator(replace(QUICK, tool_on_audio_turn="lookup", reply="tone")) as emu:
        transport = PacedWav(speech_pcm(1.0))
        config = tools_config(emu.url, behavior, scheduling)
        session = session_for(config, transport, tools=tool_registry(calls, gate))
        events = Recorder(session)
        async with session:
            await events.wait_for(lambda e: isinstance(e, ToolActivity))
            # Blocking: nothing is said while the call runs (the wait times out).
            with_tool_open: list[str] = []
            try:
                await events.wait_for(lambda e: isinstance(e, TurnEnded), timeout_s=5.0)
                transport.say(speech_pcm(1.0))  # the user goes on talking meanwhile
                await events.wait_for(lambda e: len(events.of(TurnEnded)) == 2, timeout_s=5.0)
            except TimeoutError:
                pass
            with_tool_open = [type(e).__name__ for _, e in events.events]
            gate.set()
            await events.wait_for(lambda e: isinstance(e, ToolActivity) and e.status != "started")
            await asyncio.sleep(3.0)
        return emu.sessions[0], events, calls, with_tool_open


def test_a_non_blocking_tool_lets_replies_play_and_the_user_be_answered(run_virtual: Run) -> None:
    record, events, calls, with_tool_open = run_virtual(call_held_open("NON_BLOCKING"))
    # Each of the user's turns made a call; both ran at once.
    assert calls == ["started", "started", "finished", "finished"]
    # While the tools ran: two replies played out in full, the second to new speech.
    assert with_tool_open.count("TurnEnded") == 2
    assert [e.interrupted for e in events.of(TurnEnded)][:2] == [False, False]
    assert len([t for t in record.turns if t.audio]) == 2
    declared = record.setup["tools"][0]["functionDeclarations"][0]
    assert declared["behavior"] == "NON_BLOCKING"
    # No scheduling configured: the server's default (WHEN_IDLE) speaks the result.
    assert "scheduling" not in record.tool_responses[0]
    assert spoken(events)[-2:] == ['lookup returned {"answer":42}'] * 2


def test_a_blocking_tool_holds_the_reply_until_its_result(run_virtual: Run) -> None:
    record, events, calls, with_tool_open = run_virtual(call_held_open("BLOCKING"))
    assert calls == ["started", "finished"]
    assert "TurnStarted" not in with_tool_open
    assert spoken(events)[0] == 'lookup returned {"answer":42}'
    assert record.setup["tools"][0]["functionDeclarations"][0]["behavior"] == "BLOCKING"
    assert "scheduling" not in record.tool_responses[0]  # only for NON_BLOCKING calls


def test_a_silent_result_is_taken_in_without_a_word(run_virtual: Run) -> None:
    record, events, _, _ = run_virtual(call_held_open("NON_BLOCKING", "SILENT"))
    assert record.tool_responses[0]["scheduling"] == "SILENT"
    assert not any("lookup returned" in text for text in spoken(events))
    assert len(events.of(TurnStarted)) == 2  # the two answers to the user, nothing more


def test_a_failed_silent_call_is_still_spoken_about(run_virtual: Run) -> None:
    tools = ToolRegistry()

    @tools.tool(description="Fails.", parameters=TEXT)
    async def lookup(text: str = "") -> None:
        raise RuntimeError("service down")

    async def scenario() -> tuple[SessionRecord, Recorder]:
        async with Emulator(replace(QUICK, tool_on_audio_turn="lookup", reply="tone")) as emu:
            config = tools_config(emu.url, "NON_BLOCKING", "SILENT")
            session = session_for(config, PacedWav(speech_pcm(1.0)), tools=tools)
            events = Recorder(session)
            async with session:
                await events.wait_for(lambda e: "service down" in str(e))
                await events.wait_for(lambda e: len(events.of(TurnEnded)) == 2)
            return emu.sessions[0], events

    record, events = run_virtual(scenario())
    assert record.tool_responses[0]["scheduling"] == "WHEN_IDLE"
    assert "service down" in spoken(events)[-1]


async def result_during_a_long_reply(
    scheduling: str, **tools: Any
) -> tuple[SessionRecord, Recorder]:
    """A 3 s reply; the tool answers 0.5 s into it."""
    registry = ToolRegistry()

    @registry.tool(description="Slow.", parameters=TEXT)
    async def lookup(text: str = "") -> dict[str, Any]:
        await asyncio.sleep(0.5)
        return {"answer": 7}

    emulator = replace(QUICK, tool_on_audio_turn="lookup", reply="tone", tone_s=3.0)
    async with Emulator(emulator) as emu:
        config = tools_config(emu.url, "NON_BLOCKING", scheduling, **tools)
        session = session_for(config, PacedWav(speech_pcm(1.0)), tools=registry)
        events = Recorder(session)
        async with session:
            await events.wait_for(lambda e: len(events.of(TurnEnded)) == 2)
        return emu.sessions[0], events


def test_an_interrupting_result_cuts_the_reply_in_progress(run_virtual: Run) -> None:
    record, events = run_virtual(result_during_a_long_reply("INTERRUPT"))
    first, second = events.of(TurnEnded)
    assert first.interrupted and first.heard_s < 1.5
    assert not second.interrupted
    assert spoken(events) == ['lookup returned {"answer":7}']
    assert record.turns[0].interrupted and record.turns[1].result


def test_a_when_idle_result_waits_for_the_end_of_the_reply(run_virtual: Run) -> None:
    record, events = run_virtual(result_during_a_long_reply("WHEN_IDLE"))
    first, _ = events.of(TurnEnded)
    assert not first.interrupted and first.heard_s == pytest.approx(3.0, abs=0.05)
    assert spoken(events) == ["[tone 3.00 s]", 'lookup returned {"answer":7}']
    assert not record.turns[0].interrupted


def test_barge_in_leaves_a_non_blocking_call_running(run_virtual: Run) -> None:
    """The user cuts the reply short: the call the reply did not wait on goes on."""
    calls: list[str] = []

    async def scenario() -> tuple[SessionRecord, Recorder]:
        gate = asyncio.Event()
        emulator = replace(QUICK, tool_on_audio_turn="lookup", reply="tone", tone_s=3.0)
        async with Emulator(emulator) as emu:
            transport = PacedWav(speech_pcm(1.0))
            config = tools_config(emu.url, "NON_BLOCKING", "SILENT")
            session = session_for(config, transport, tools=tool_registry(calls, gate))
            events = Recorder(session)
            async with session:
                await events.wait_for(lambda e: isinstance(e, TurnStarted))
                transport.say(speech_pcm(1.0))
                await events.wait_for(lambda e: isinstance(e, TurnEnded) and e.interrupted)
                gate.set()
                await events.wait_for(
                    lambda e: isinstance(e, ToolActivity) and e.status != "started"
                )
            return emu.sessions[0], events

    record, events = run_virtual(scenario())
    assert calls == ["started", "finished"]
    assert statuses(events) == ["started", "finished"]
    assert record.tool_responses[0]["response"] == {"answer": 42}


@pytest.mark.parametrize("behavior", ["NON_BLOCKING", "BLOCKING"])
def test_after_go_away_only_a_call_the_model_waits_on_holds_the_move(
    run_virtual: Run, behavior: str
) -> None:
    """A long call runs when goAway comes (at 2 s, 2 s left; the move is due at 3.5 s)."""
    calls: list[str] = []

    async def scenario() -> tuple[float, Reconnected]:
        gate = asyncio.Event()
        emulator = replace(
            QUICK, tool_on_audio_turn="lookup", reply="tone", session_seconds=4.0, go_away_s=2.0
        )
        async with Emulator(emulator) as emu:
            config = tools_config(emu.url, behavior).with_overrides(engine={"resume_margin_s": 0.5})
            transport = PacedWav(speech_pcm(1.0))
            session = session_for(config, transport, tools=tool_registry(calls, gate))
            events = Recorder(session)
            async with session:
                started_s = asyncio.get_running_loop().time()
                reconnected = await events.wait_for(lambda e: isinstance(e, Reconnected))
                moved_s = next(t for t, e in events.events if e is reconnected)
            assert isinstance(reconnected, Reconnected)
            return moved_s - started_s, reconnected

    moved_after_s, reconnected = run_virtual(scenario())
    assert calls == ["started", "cancelled"]  # a call cannot outlive its connection
    if behavior == "NON_BLOCKING":
        # Not a pause (a call runs), but nobody waits on it: it moved at the deadline.
        assert reconnected.reason == "goAway" and moved_after_s == pytest.approx(3.5, abs=0.05)
    else:
        # The model waits: the bridge never cuts that, and the server closed first.
        assert reconnected.reason.startswith("dropped: ")
        assert moved_after_s == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize(
    ("behavior", "tool_s", "expected"),
    [
        ("BLOCKING", 2.0, ["started", "slow", "finished"]),
        ("BLOCKING", 0.5, ["started", "finished"]),
        ("NON_BLOCKING", 2.0, ["started", "finished"]),  # the model is not waiting
    ],
)
def test_a_call_the_model_waits_on_is_reported_slow(
    run_virtual: Run, behavior: str, tool_s: float, expected: list[str]
) -> None:
    registry = ToolRegistry()

    @registry.tool(description="Takes a while.", parameters=TEXT)
    async def lookup(text: str = "") -> dict[str, Any]:
        await asyncio.sleep(tool_s)
        return {"rows": [1, 2]}

    async def scenario() -> Recorder:
        async with Emulator(replace(QUICK, tool_on_audio_turn="lookup", reply="tone")) as emu:
            config = tools_config(emu.url, behavior, slow_notice_s=1.0)
            session = session_for(config, PacedWav(speech_pcm(1.0)), tools=registry)
            events = Recorder(session)
            async with session:
                await events.wait_for(
                    lambda e: isinstance(e, ToolActivity) and e.status == "finished"
                )
            return events

    events = run_virtual(scenario())
    assert statuses(events) == expected
    assert events.of(ToolActivity)[-1].detail == '{"rows":[1,2]}'


def test_what_the_session_sends_is_what_google_genai_accepts(run_virtual: Run) -> None:
    """The setup's declarations and the scheduled responses, read by the SDK's own types
    (they forbid unknown fields and check enum values)."""
    calls: list[str] = []

    async def scenario() -> SessionRecord:
        async with Emulator(replace(QUICK, tool_on_audio_turn="lookup")) as emu:
            config = tools_config(emu.url, "NON_BLOCKING", "INTERRUPT")
            session = session_for(config, PacedWav(speech_pcm(1.0)), tools=tool_registry(calls))
            events = Recorder(session)
            async with session:
                await events.wait_for(lambda e: "lookup returned" in str(e))
            return emu.sessions[0]

    record = run_virtual(scenario())
    setup = types.LiveClientSetup.model_validate(record.setup)
    (declaration,) = setup.tools[0].function_declarations
    assert declaration.behavior == types.Behavior.NON_BLOCKING
    (message,) = [m for m in record.messages if "toolResponse" in m]
    parsed = types.LiveClientMessage.model_validate(orjson.loads(orjson.dumps(message)))
    (response,) = parsed.tool_response.function_responses
    assert response.scheduling == types.FunctionResponseScheduling.INTERRUPT


@pytest.mark.parametrize(
    ("frames", "fragment"),
    [
        (
            (
                b'{"setup": {"model": "models/gemini-3.8-live", "tools": [{"functionDeclarations":'
                b' [{"name": "f", "behavior": "SOMETIMES"}]}]}}',
            ),
            "behavior",
        ),
        (
            (
                SETUP,
                b'{"toolResponse": {"functionResponses": '
                b'[{"id": "c", "response": {}, "scheduling": "LOUDLY"}]}}',
            ),
            "scheduling",
        ),
    ],
)
def test_the_emulator_refuses_values_google_genai_does_not_have(
    run: Run, frames: tuple[bytes, ...], fragment: str
) -> None:
    async def scenario() -> tuple[int, str]:
        async with Emulator(FAST) as emu:
            return await close_code_after(emu.url, *frames)

    code, reason = run(scenario())
    assert code == 1007 and fragment in reason


def test_bridge_config_reads_the_tools_section(tmp_path: Any) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text('[tools]\nbehavior = ["lookup=NON_BLOCKING"]\nslow_notice_s = 2.5\n')
    config = BridgeConfig.load(str(path), env={"BRIDGE_TOOLS_SCHEDULING": "lookup=SILENT"})
    assert config.tools.behavior == ("lookup=NON_BLOCKING",)
    assert config.tools.scheduling == ("lookup=SILENT",)
    assert config.tools.slow_notice_s == 2.5


def test_a_spoken_acknowledgement_would_cost_the_call_it_acknowledges(run_virtual: Run) -> None:
    """Why a slow call's notice is posted in the chat rather than spoken: a text turn
    asking the model to say "one moment" is new input, which interrupts the turn that is
    waiting on the call and cancels the call (as clientContent does on the service)."""

    async def scenario() -> tuple[list[Any], str, bool]:
        async with Emulator(FAST) as emu, connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
            await conn.send_text("get_time please")
            (asked,) = [e for e in await until(conn, ToolCall) if isinstance(e, ToolCall)]
            await conn.send_text("(Tell the room: one moment, still looking.)")
            events = await until(conn, TurnComplete)
            call_id = asked.calls[0].id
            return events, call_id, conn.protocol.is_pending(call_id)

    events, call_id, still_pending = run_virtual(scenario())
    cancelled = [e for e in events if isinstance(e, ToolCallCancellation)]
    assert cancelled and cancelled[0].ids == (call_id,) and not still_pending
    assert any(isinstance(e, Interrupted) for e in events)


def test_google_genai_declares_non_blocking_and_schedules_the_result(
    run_virtual: Run,
    tls: Tls,  # noqa: F811 (the SDK tests' fixtures, imported above)
    profile: str,  # noqa: F811
) -> None:
    """Google's SDK against the emulator: the reply goes on while the call is open; the
    WHEN_IDLE result is spoken in a turn of its own once that reply is over."""

    async def scenario() -> tuple[list[list[str]], SessionRecord]:
        declaration = types.FunctionDeclaration(
            name="get_time", description="Current time", behavior=types.Behavior.NON_BLOCKING
        )
        config = types.LiveConnectConfig(
            response_modalities=["AUDIO"],
            output_audio_transcription={},
            tools=[types.Tool(function_declarations=[declaration])],
        )
        said: list[list[str]] = []
        async with (
            Emulator(emulator_config(tls, profile)) as emu,
            sdk_client(emu, tls).aio.live.connect(model=MODEL, config=config) as session,
        ):
            await session.send_realtime_input(text="what does get_time say?")
            for _ in range(2):
                turn: list[str] = []
                async for message in session.receive():
                    if message.tool_call:
                        (call,) = message.tool_call.function_calls
                        response = types.FunctionResponse(
                            id=call.id,
                            name=call.name,
                            response={"time": "noon"},
                            scheduling=types.FunctionResponseScheduling.WHEN_IDLE,
                        )
                        await session.send_tool_response(function_responses=[response])
                    content = message.server_content
                    if content and content.output_transcription:
                        turn.append(content.output_transcription.text)
                said.append(turn)
            return said, emu.sessions[0]

    said, record = run_virtual(scenario())
    assert said == [["[tone 1.00 s]"], ['get_time returned {"time":"noon"}']]
    assert record.setup["tools"][0]["functionDeclarations"][0]["behavior"] == "NON_BLOCKING"
    assert record.tool_responses[0]["scheduling"] == "WHEN_IDLE"
