"""The link under field conditions: hostile Live servers on 127.0.0.1, in virtual time.

Each server is a few lines of `websockets.asyncio.server` doing one thing the real
service (or a bad network) does: refuse every session with 1007, close every connection
at once with 1011, stop reading and answering pings, goAway with a short window in the
middle of a reply, close a session at its deadline and then refuse to resume it. A real
`Session` (real client, real DSP) talks to it; assertions are about what the user and
the operator see: one clear line, no hot loop, no reply cut by the bridge, the question
answered.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import PacedWav, loop_clock
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bridge.client import RetryPolicy, describe
from bridge.config import BridgeConfig, ConfigError
from bridge.engine import Session
from bridge.engine._setup import live_config
from bridge.engine.events import (
    Event,
    Reconnected,
    ReplyCut,
    RetriesExhausted,
    SessionError,
    TurnEnded,
)
from bridge.protocol import LiveProtocol

Run = Callable[..., Any]
Handler = Callable[[ServerConnection, int], Awaitable[None]]
CHUNK_S = 0.2
CHUNK = base64.b64encode(b"\x10\x00" * int(24_000 * CHUNK_S)).decode()


class Hostile:
    """A Live server on 127.0.0.1 that runs `handler(ws, n)` for its n-th connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.setups: list[dict[str, Any]] = []
        self.received: list[list[dict[str, Any]]] = []
        self.url = ""

    async def setup(self, ws: ServerConnection, *, complete: bool = True) -> None:
        """Read the setup and (by default) accept it."""
        self.setups.append(orjson.loads(await ws.recv())["setup"])
        if complete:
            await send(ws, {"setupComplete": {}})

    async def keep_reading(self, ws: ServerConnection, n: int) -> None:
        """Record every client message until the client goes."""
        try:
            async for message in ws:
                self.received[n].append(orjson.loads(message))
        except ConnectionClosed:
            pass

    async def _serve(self, ws: ServerConnection) -> None:
        n = len(self.received)
        self.received.append([])
        with suppress(ConnectionClosed):
            await self.handler(ws, n)

    @property
    def n_connections(self) -> int:
        return len(self.received)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hostile]:
        async with serve(self._serve, "127.0.0.1", 0, ping_interval=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            yield self


async def send(ws: ServerConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message))


AUDIO = {
    "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": CHUNK}}]}
}
"""One 200 ms chunk of reply audio (`serverContent`)."""


def crashing_server() -> Hostile:
    """Accepts every setup, then closes at once with 1011."""

    async def crash(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        await ws.close(1011, "Internal error encountered.")

    server = Hostile(crash)
    return server


def bridge_config(url: str, **engine: Any) -> BridgeConfig:
    return BridgeConfig().with_overrides(
        endpoint={"url": url},
        engine={"reconnect_base_delay_s": 0.05, "reconnect_max_delay_s": 0.2, **engine},
    )


class Recorder:
    """Every event of a session, with a wait for the first that matches."""

    def __init__(self, session: Session) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        session.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def wait_for(self, kind: type, timeout_s: float = 30.0) -> Any:
        async def scan() -> Any:
            while not self.of(kind):
                self._changed.clear()
                await self._changed.wait()
            return self.of(kind)[0]

        return await asyncio.wait_for(scan(), timeout_s)


# -- 1007 / 1008: fail fast, one line --------------------------------------------------


def test_a_server_closing_every_session_with_1007_fails_fast_with_one_line(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        await ws.close(1007, "Invalid JSON payload received. Unknown name 'fooBar'")

    server = Hostile(refuse)

    async def scenario() -> tuple[SessionError, bool, dict[str, int]]:
        async with server.running():
            session = Session(bridge_config(server.url), PacedWav(), clock=loop_clock())
            events = Recorder(session)
            async with session:
                error = await events.wait_for(SessionError)
                await asyncio.sleep(5)  # no attempt after giving up
                return error, session.running, session.counters

    with caplog.at_level(logging.WARNING):
        error, running, counters = run_virtual(scenario())
    assert error.fatal and not running
    assert "1007" in error.message and "Unknown name 'fooBar'" in error.message
    assert server.n_connections == 1, "1007 is not retried with the same setup"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "1007" in errors[0].getMessage()
    assert counters["connect_ok"] == 1 and counters["connect_fresh"] == 0


def test_closed_at_once_with_1011_is_a_failed_attempt_and_the_budget_ends_it(
    run_virtual: Run,
) -> None:
    server = crashing_server()

    async def scenario() -> tuple[SessionError, dict[str, int]]:
        async with server.running():
            config = bridge_config(server.url, reconnect_max_attempts=4)
            session = Session(config, PacedWav(), clock=loop_clock())
            events = Recorder(session)
            async with session:
                error = await events.wait_for(SessionError)
                return error, session.counters

    error, counters = run_virtual(scenario())
    assert error.fatal and "1011" in error.message and "Internal error" in error.message
    # 4 attempts in backoff (the first connection's counts: each accepted, closed at once).
    assert server.n_connections == 4
    assert counters["connect_ok"] == 4 and counters["connect_failed"] == 4


def test_a_bot_keeps_its_chat_after_the_budget_with_one_attempt_per_cool_down(
    run_virtual: Run,
) -> None:
    server = crashing_server()

    async def scenario() -> tuple[list[RetriesExhausted], bool, int]:
        async with server.running():
            config = bridge_config(server.url, reconnect_max_attempts=3)
            session = Session(config, PacedWav(), clock=loop_clock(), keep_trying=True)
            events = Recorder(session)
            async with session:
                await events.wait_for(RetriesExhausted)
                spent_at = server.n_connections
                await asyncio.sleep(300)
                return events.of(RetriesExhausted), session.running, spent_at

    said, running, spent_at = run_virtual(scenario(), timeout_s=400)
    assert running, "the chat is kept"
    assert len(said) == 1 and said[0].cool_down_s == 30
    assert "1011" in said[0].message and "every 30 s" in said[0].message
    # 300 s after the budget: one attempt per 30 s, never a hot loop.
    assert 9 <= server.n_connections - spent_at <= 11


# -- liveness -----------------------------------------------------------------------------


def test_a_server_that_stops_reading_is_declared_dead_and_stop_is_quick(
    run_virtual: Run,
) -> None:
    async def deaf(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        ws.transport.pause_reading()  # no more reads, no more pongs
        await ws.wait_closed()

    server = Hostile(deaf)

    async def scenario() -> tuple[Reconnected, float, float]:
        loop = asyncio.get_running_loop()
        async with server.running():
            session = Session(bridge_config(server.url), PacedWav(), clock=loop_clock())
            events = Recorder(session)
            await session.start()
            started_s = loop.time()
            reconnected = await events.wait_for(Reconnected, timeout_s=120)
            dead_after_s = loop.time() - started_s
            stopping_s = loop.time()
            await session.stop()  # on the second connection, as deaf as the first
            return reconnected, dead_after_s, loop.time() - stopping_s

    reconnected, dead_after_s, stop_s = run_virtual(scenario(), timeout_s=200)
    assert reconnected.reason.startswith("dead: no message or pong")
    # Dead after 60 s of silence (the default), not before: pongs may take 30 s.
    assert 60 <= dead_after_s <= 62
    assert stop_s <= 2.0
    assert server.n_connections == 2


def test_slow_pongs_keep_a_silent_call_alive(run_virtual: Run) -> None:
    async def slow(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        await server.keep_reading(ws, n)  # websockets answers pings at once

    server = Hostile(slow)

    async def scenario() -> tuple[list[Reconnected], dict[str, int]]:
        async with server.running():
            session = Session(bridge_config(server.url), PacedWav(), clock=loop_clock())
            events = Recorder(session)
            async with session:
                await asyncio.sleep(150)  # no server message at all, only pongs
                return events.of(Reconnected), session.counters

    reconnected, counters = run_virtual(scenario(), timeout_s=400)
    assert reconnected == [] and counters["dead_connections"] == 0


# -- goAway and cut replies ------------------------------------------------------------


def test_go_away_with_a_short_window_mid_reply_waits_for_the_reply(run_virtual: Run) -> None:
    cut_by_client: list[int] = []

    async def reply_with_go_away(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        reading = asyncio.create_task(server.keep_reading(ws, n))
        if n == 0:
            try:
                for i in range(10):  # a 2 s reply, generated in real time
                    await send(ws, {"serverContent": AUDIO})
                    if i == 1:
                        await send(ws, {"goAway": {"timeLeft": "1s"}})
                    await asyncio.sleep(CHUNK_S)
                await send(ws, {"serverContent": {"turnComplete": True}})
            except ConnectionClosed:
                cut_by_client.append(n)
        await reading

    server = Hostile(reply_with_go_away)

    async def scenario() -> tuple[TurnEnded, Reconnected, list[Event]]:
        async with server.running():
            session = Session(bridge_config(server.url), PacedWav(), clock=loop_clock())
            events = Recorder(session)
            async with session:
                moved = await events.wait_for(Reconnected)
                ended = await events.wait_for(TurnEnded)
                return ended, moved, events.events

    ended, moved, events = run_virtual(scenario())
    assert cut_by_client == [] and moved.reason == "goAway"
    assert not [e for e in events if isinstance(e, ReplyCut)]
    assert not ended.interrupted and ended.heard_s == pytest.approx(10 * CHUNK_S, abs=0.01)


@pytest.mark.parametrize("refused", ["in setup", "after setup"])
def test_a_deadline_close_mid_reply_then_a_refused_resume_starts_fresh_and_reasks(
    run_virtual: Run, refused: str
) -> None:
    question = "what is the tallest mountain in Africa"

    async def deadline(ws: ServerConnection, n: int) -> None:
        if n == 0:
            await server.setup(ws)
            await send(ws, {"sessionResumptionUpdate": {"newHandle": "h-58", "resumable": True}})
            heard = {"text": question, "finished": True}
            await send(ws, {"serverContent": {"inputTranscription": heard}})
            await send(ws, {"serverContent": AUDIO})
            await asyncio.sleep(0.1)
            await ws.close(1011, "deadline expired")
        elif n == 1:  # the resumption of a session past its deadline is refused
            await server.setup(ws, complete=refused == "after setup")
            await ws.close(1007, "session not found")
        else:
            await server.setup(ws)
            await server.keep_reading(ws, n)

    server = Hostile(deadline)

    async def scenario() -> tuple[list[Event], bool, dict[str, int]]:
        async with server.running():
            session = Session(bridge_config(server.url), PacedWav(), clock=loop_clock())
            events = Recorder(session)
            async with session:
                await events.wait_for(Reconnected)
                while not any("clientContent" in m for m in server.received[-1]):
                    await asyncio.sleep(0.05)
                return events.events, session.running, session.counters

    events, running, counters = run_virtual(scenario())
    assert running and server.n_connections == 3
    assert "sessionResumption" in server.setups[1] and server.setups[1]["sessionResumption"]
    assert not server.setups[2].get("sessionResumption", {}).get("handle")
    refused_errors = [e for e in events if isinstance(e, SessionError)]
    assert len(refused_errors) == 1 and not refused_errors[0].fatal
    assert "1007" in refused_errors[0].message and "new session" in refused_errors[0].message
    assert [e for e in events if isinstance(e, ReplyCut)] == [ReplyCut(0, question, True)]
    # (Accepted and then refused, the resumption counts as a move of its own.)
    reconnected = [e for e in events if isinstance(e, Reconnected)]
    assert len(reconnected) == (2 if refused == "after setup" else 1)
    assert not reconnected[-1].resumed
    # The question is asked again, as a text turn, on the fresh session.
    [reask] = [m for m in server.received[2] if "clientContent" in m]
    text = reask["clientContent"]["turns"][0]["parts"][0]["text"]
    assert question in text and reask["clientContent"]["turnComplete"]
    assert counters["replies_cut"] == 1 and counters["connect_fresh"] == 1


# -- long calls ---------------------------------------------------------------------------


def test_context_window_compression_is_on_by_default_sized_for_audio() -> None:
    setup = orjson.loads(LiveProtocol(live_config(BridgeConfig())).setup_message())["setup"]
    assert setup["contextWindowCompression"] == {
        "triggerTokens": 32_000,
        "slidingWindow": {"targetTokens": 16_000},
    }
    small = BridgeConfig().with_overrides(gemini={"context_compression_tokens": 8_000})
    with pytest.raises(ConfigError, match="target_tokens must not exceed trigger_tokens"):
        LiveProtocol(live_config(small))


def test_turning_compression_off_warns_at_start(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    async def accept(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        await server.keep_reading(ws, n)

    server = Hostile(accept)

    async def scenario() -> None:
        async with server.running():
            config = bridge_config(server.url).with_overrides(
                gemini={"context_compression_tokens": 0}
            )
            async with Session(config, PacedWav(), clock=loop_clock()):
                pass

    with caplog.at_level(logging.WARNING):
        run_virtual(scenario())
    assert "contextWindowCompression" not in server.setups[0]
    assert any("15 minutes" in r.getMessage() for r in caplog.records)


# -- error lines ------------------------------------------------------------------------


def test_an_error_line_is_never_empty() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(OSError("a\n  b")) == "a b"
    with pytest.raises(ConfigError, match="cool_down_s"):
        RetryPolicy(cool_down_s=0)


@pytest.mark.parametrize("flood_wait_s", [0, 120], ids=["told", "held-by-a-flood-wait"])
def test_a_telegram_chat_is_told_once_and_kept_when_gemini_is_unreachable(
    run_virtual: Run, flood_wait_s: int
) -> None:
    from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient

    from bridge.telegram import TelegramRunner

    server = crashing_server()

    async def scenario() -> tuple[list[str], bool, int, int]:
        calls, client = FakeCalls(), FakeClient()
        async with server.running():
            config = bridge_config(server.url, reconnect_max_attempts=3).with_overrides(
                transport={"sample_rate_hz": 48_000, "channels": 1}
            )
            runner = TelegramRunner(client, calls, config, transcripts=False, clock=loop_clock())
            bridge = await runner.go_live(CHAT_ID)
            runner.budget.hold(flood_wait_s)  # Telegram asked the account to wait
            await asyncio.sleep(65)
            running = bridge.running and bridge.session is not None and bridge.session.running
            await runner.stop()
            return list(client.messages.values()), running, server.n_connections, len(calls.sent)

    messages, running, n_connections, n_frames = run_virtual(scenario(), timeout_s=200)
    # The bot stayed in the call throughout, one frame per 10 ms of it (the runner's clock).
    assert running and n_frames >= 6450
    if flood_wait_s:  # the notice goes through the account's budget, or not at all
        assert messages == []
    else:
        assert len(messages) == 1 and "unreachable" in messages[0] and "1011" in messages[0]
    assert n_connections <= 3 + 3  # the budget, then one per 30 s


@pytest.mark.realtime
def test_demo_against_a_1007_server_exits_non_zero_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    async def refuse(ws: ServerConnection, n: int) -> None:
        await server.setup(ws)
        await ws.close(1007, "API key expired. Please renew the API key.")

    server = Hostile(refuse)
    ready, done = threading.Event(), threading.Event()

    async def serve_until_done() -> None:
        async with server.running():
            ready.set()
            while not done.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=asyncio.run, args=(serve_until_done(),))
    thread.start()
    try:
        ready.wait(10)
        config = tmp_path / "bridge.toml"
        config.write_text(f'[endpoint]\nurl = "{server.url}"\n')
        monkeypatch.setenv("GEMINI_API_KEY", "k-not-real")
        code = main(["demo", "--live", "--config", str(config), "--out", str(tmp_path / "o.wav")])
    finally:
        done.set()
        thread.join(10)
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("demo failed")]
    assert code == 1 and len(failed) == 1, err
    assert "1007" in failed[0] and "API key expired" in failed[0]
    assert "Traceback" not in err and server.n_connections == 1
