"""`run` as a service: its endpoints, the drain on SIGTERM, the chats file, paced joins.

The `run` tests drive the CLI's own `_serve` with the real `TelegramRunner`, engine
sessions, pyrogram/py-tgcalls types and the local emulator; only Telegram's network is
faked (`_telegram_fakes`). Signals are real: the test sends them to its own process.
They run in virtual time (`run_virtual`, the runner on `loop_clock()`), as do the join
pacing and the chats file's polling.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient
from conftest import loop_clock
from pyrogram.errors import FloodWait
from test_telegram_cli import _options

from bridge import Secret
from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import Session
from bridge.ops import ChatsFile, ChatsFileError, parse_chats
from bridge.telegram import AccessPolicy, TelegramRunner

RATE_HZ = 48_000
FRAME = RATE_HZ // 100
OTHER_CHAT = -100999  # a second group FakeCalls and FakeClient know
GOODBYE = "Gemini is restarting; back in a minute."


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(RATE_HZ * seconds)) / RATE_HZ
    return (amplitude * 32767 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)


async def speak(calls: FakeCalls, pcm: np.ndarray, chat_id: int = CHAT_ID) -> None:
    """One speaker's audio as ntgcalls delivers it: a 10 ms frame per 10 ms."""
    loop = asyncio.get_running_loop()
    start_s = loop.time()
    for i in range(len(pcm) // FRAME):
        calls.incoming(chat_id, [(1001, pcm[i * FRAME : (i + 1) * FRAME].tobytes())])
        await asyncio.sleep(max(0.0, start_s + (i + 1) * 0.01 - loop.time()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def until(condition: Any, poll_s: float = 0.02) -> None:
    while not condition():
        await asyncio.sleep(poll_s)


async def until_status(port: int, path: str, status: int) -> str:
    while True:
        try:
            got, body = await get(port, path)
        except OSError:
            got, body = 0, ""
        if got == status:
            return body
        await asyncio.sleep(0.02)


def options(**overrides: Any) -> Any:
    """`run`'s options, without transcripts unless asked (the tests watch other messages)."""
    return _options(**{"no_transcripts": True, **overrides})


def config_for(emulator: Emulator, **sections: Any) -> BridgeConfig:
    return BridgeConfig().with_overrides(
        endpoint={"url": emulator.url, "api_key": Secret("gemini-test-key")},
        transport={"sample_rate_hz": RATE_HZ, "channels": 1},
        **sections,
    )


class Timeline:
    """What reached Telegram, in order: messages posted and calls left."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []


class LoggedCalls(FakeCalls):
    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.usernames["-1002"] = -1002
        self.timeline = timeline

    async def leave_call(self, chat_id: int) -> None:
        loud = sum(int(np.abs(np.frombuffer(f, "<i2")).max() > 1000) for f in self.sent)
        self.timeline.events.append(("left", (chat_id, loud)))
        await super().leave_call(chat_id)


class LoggedClient(FakeClient):
    def __init__(self, timeline: Timeline) -> None:
        super().__init__()
        self.timeline = timeline

    async def send_message(self, chat_id: Any, text: str, *, parse_mode: Any = None) -> Any:
        self.timeline.events.append(("message", text))
        return await super().send_message(chat_id, text, parse_mode=parse_mode)


def test_run_serves_its_endpoints_then_drains_at_a_pause_and_says_goodbye(
    run_virtual: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli._run import _serve

    timeline = Timeline()
    calls, client = LoggedCalls(timeline), LoggedClient(timeline)
    port = free_port()

    async def scenario() -> tuple[int, dict[str, tuple[int, str]]]:
        seen: dict[str, tuple[int, str]] = {}
        async with Emulator(EmulatorConfig(input_transcript="hello")) as emulator:
            config = config_for(
                emulator,
                http={"addr": f"127.0.0.1:{port}"},
                drain={"timeout_s": 20.0, "goodbye": GOODBYE},
            )
            serving = asyncio.ensure_future(
                _serve(options(), config, None, [CHAT_ID], AccessPolicy(),
                       lambda _: (client, calls), clock=loop_clock())
            )  # fmt: skip
            await until_status(port, "/readyz", 200)
            seen["/livez"] = await get(port, "/livez")
            seen["/metrics"] = await get(port, "/metrics")
            # A question; SIGTERM comes while it is being asked.
            asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.SIGTERM)
            speaking = asyncio.ensure_future(
                speak(calls, np.concatenate([tone(0.6), tone(1.0, 0)]))
            )
            seen["/readyz"] = (503, await until_status(port, "/readyz", 503))
            await client.deliver(client.command("/gemini", 1))
            await until(lambda: client.replies)
            await speaking
            return await serving, seen

    code, seen = run_virtual(scenario(), timeout_s=30)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"serving /metrics, /livez and /readyz on http://127.0.0.1:{port}" in out
    assert seen["/livez"] == (200, "ok\n")
    status, metrics = seen["/metrics"]
    assert status == 200
    for line in (
        "gemini_bridge_chats_desired 1\n",
        "gemini_bridge_chats_live 1\n",
        "gemini_bridge_telegram_connected 1\n",
        "gemini_bridge_draining 0\n",
        "gemini_bridge_telegram_flood_wait_seconds 0\n",
        f'gemini_bridge_reconnects_total{{chat="{CHAT_ID}"}} 0\n',
    ):
        assert line in metrics
    assert seen["/readyz"] == (503, "draining: leaving the voice chats\n")
    assert client.replies == ["Gemini is shutting down here; try again in a minute."]
    # The call was left only after the whole echoed reply (0.6 s) had played, and the
    # goodbye came first.
    (goodbye, left) = [e for e in timeline.events if e[0] in ("message", "left")][-2:]
    assert goodbye == ("message", GOODBYE)
    assert left[0] == "left" and left[1][0] == CHAT_ID and left[1][1] >= 55
    assert "draining: leaving each voice chat at its next pause" in err


@pytest.mark.parametrize(
    ("timeout_s", "signals_at_s"),
    [(60.0, (0.3, 0.8)), (0.5, (0.3,))],
    ids=["a second signal", "the drain timeout"],
)
def test_a_long_speaker_does_not_hold_the_exit_past(
    run_virtual: Any,
    capsys: pytest.CaptureFixture[str],
    timeout_s: float,
    signals_at_s: tuple[float],
) -> None:
    from bridge.cli._run import _serve

    calls, client = FakeCalls(), FakeClient()

    async def scenario() -> tuple[int, bool]:
        async with Emulator() as emulator:
            config = config_for(emulator, drain={"timeout_s": timeout_s})
            serving = asyncio.ensure_future(
                _serve(options(), config, None, [CHAT_ID], AccessPolicy(),
                       lambda _: (client, calls), clock=loop_clock())
            )  # fmt: skip
            await until(lambda: CHAT_ID in calls.in_call and calls.recorded)
            # Somebody talks for 20 s: the drain would wait for them.
            speaking = asyncio.ensure_future(speak(calls, tone(20.0)))
            for at_s in signals_at_s:
                asyncio.get_running_loop().call_later(at_s, os.kill, os.getpid(), signal.SIGTERM)
            code = await serving
            still_talking = not speaking.done()
            speaking.cancel()
            return code, still_talking

    code, still_talking = run_virtual(scenario(), timeout_s=15)
    assert code == 0 and still_talking
    assert calls.left == [CHAT_ID] and client.stopped
    err = capsys.readouterr().err
    assert f"at most {timeout_s:g} s" in err and "Traceback" not in err


def test_the_chats_file_is_applied_on_sighup_and_a_bad_version_changes_nothing(
    run_virtual: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.cli import _run

    monkeypatch.setattr(_run, "_JOIN_INTERVAL_S", 0.05)
    monkeypatch.setattr(_run, "_CHATS_FILE_POLL_S", 3600.0)  # only SIGHUP reloads here
    chats = tmp_path / "chats.txt"
    chats.write_text(f"# the groups\n{OTHER_CHAT}   # the second one\n")
    calls, client = FakeCalls(), FakeClient()
    printed = {"out": "", "err": ""}

    def said(text: str) -> bool:
        out, err = capsys.readouterr()
        printed["out"] += out
        printed["err"] += err
        return text in printed["out"] + printed["err"]

    def reload(text: str) -> None:
        chats.write_text(text)
        os.kill(os.getpid(), signal.SIGHUP)

    async def scenario() -> int:
        async with Emulator() as emulator:
            serving = asyncio.ensure_future(
                _run._serve(options(chat=[str(CHAT_ID)], chats_file=str(chats)),
                            config_for(emulator), None, [CHAT_ID], AccessPolicy(),
                            lambda _: (client, calls), clock=loop_clock())
            )  # fmt: skip
            await until(lambda: calls.in_call == {CHAT_ID, OTHER_CHAT})
            # A bad version: named, and nothing of it is applied.
            reload("-1002\nnot a chat!\n")
            await until(lambda: said(f"error: {chats} line 2: 'not a chat!'"))
            await asyncio.sleep(0.2)
            assert calls.in_call == {CHAT_ID, OTHER_CHAT} and not calls.left
            # Removed from the file: left; the --chat chat stays.
            reload("# nothing here now\n")
            await until(lambda: calls.in_call == {CHAT_ID})
            # Listed again: joined again.
            reload(f"{OTHER_CHAT}\n")
            await until(lambda: calls.in_call == {CHAT_ID, OTHER_CHAT})
            os.kill(os.getpid(), signal.SIGTERM)
            return await serving

    assert run_virtual(scenario(), timeout_s=20) == 0
    said("")
    out, err = printed["out"], printed["err"]
    assert f"left the voice chat of {OTHER_CHAT}: no longer in the chats file" in out
    assert out.count(f"live in the voice chat of {OTHER_CHAT}") == 2
    assert "; the chats stay as they are" in err and "Traceback" not in err
    # Left once on removal, then both at the drain (at once, in either order).
    assert calls.left[0] == OTHER_CHAT and sorted(calls.left[1:]) == sorted([CHAT_ID, OTHER_CHAT])


def test_a_bad_chats_file_at_start_is_a_configuration_error(
    run: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bridge.cli._run import _serve

    chats = tmp_path / "chats.txt"
    chats.write_text("-1001\nhttps://t.me/group\n")
    calls, client = FakeCalls(), FakeClient()
    code = run(
        _serve(options(chats_file=str(chats)), BridgeConfig(), None, [], AccessPolicy(),
               lambda _: (client, calls))
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"error: {chats} line 2: 'https://t.me/group' is neither a group id (-100...) "
        "nor a @username\n"
    )
    assert not calls.played


def test_an_http_address_in_use_is_named_and_nothing_connects(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli._run import _serve

    calls, client = FakeCalls(), FakeClient()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        config = BridgeConfig().with_overrides(http={"addr": addr})
        code = run(
            _serve(options(), config, None, [CHAT_ID], AccessPolicy(), lambda _: (client, calls))
        )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: cannot serve HTTP on {addr}: ")
    assert "Traceback" not in err and not calls.played


def test_wait_with_a_chats_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    assert main(["run", "--wait", "--chats-file", "chats.txt"]) == 2
    assert capsys.readouterr().err == (
        "error: --wait joins no chat by itself: give it without --chats-file\n"
    )


def test_chats_file_lines_comments_and_errors() -> None:
    text = "# header\n\n-1001234567890\n  @team_call  # ours\nsecond_group\n-1001234567890\n"
    assert parse_chats(text, "chats.txt") == [-1001234567890, "@team_call", "@second_group"]
    for bad, named in (
        ("-100\ntwo words\n", "chats.txt line 2: 'two words'"),
        ("@\n", "chats.txt line 1: '@'"),
        ("@9lives\n", "chats.txt line 1: '@9lives'"),
    ):
        with pytest.raises(ChatsFileError, match=named):
            parse_chats(bad, "chats.txt")


def test_the_chats_file_is_polled_for_changes(run_virtual: Any, tmp_path: Path) -> None:
    path = tmp_path / "chats.txt"
    path.write_text("-1001\n")
    chats_file = ChatsFile(str(path), poll_s=2.0)

    async def scenario() -> list[Any]:
        loop = asyncio.get_running_loop()
        seen: list[Any] = [chats_file.read()]
        changes = chats_file.changes(asyncio.Event())
        for text, mtime_s in (("-1001\n@bad entry\n", 2_000), ("-1001\n-1002\n", 3_000)):
            os.utime(path, (mtime_s, mtime_s))  # unchanged content, new mtime: read again
            path.write_text(text)
            os.utime(path, (mtime_s, mtime_s))
            before_s = loop.time()
            seen.append(await anext(changes))
            seen.append(loop.time() - before_s)
        return seen

    first, error, waited_s, second, _ = run_virtual(scenario())
    assert first == [-1001]
    assert isinstance(error, ChatsFileError) and "line 2: '@bad entry'" in str(error)
    assert waited_s == pytest.approx(2.0)
    assert second == [-1001, -1002]


def test_joins_are_paced_and_a_flood_wait_is_waited_out(run_virtual: Any) -> None:
    from bridge.telegram._chatset import ChatSet

    class FloodOnce(FakeCalls):
        def __init__(self) -> None:
            super().__init__()
            self.usernames["-1002"] = -1002
            self.tried_at_s: list[tuple[int, float]] = []

        async def play(self, chat_id: int, stream: Any, config: Any) -> None:
            self.tried_at_s.append((chat_id, asyncio.get_running_loop().time()))
            if chat_id == OTHER_CHAT and len(self.tried_at_s) == 2:
                raise FloodWait(value=7)
            await super().play(chat_id, stream, config)

    calls = FloodOnce()

    async def scenario() -> tuple[list[float], dict[Any, Any], int]:
        clock = loop_clock()
        async with Emulator() as emulator:
            runner = TelegramRunner(
                FakeClient(), calls, config_for(emulator), voice_notes=False, clock=clock,
                session_factory=lambda c, t, k, tools: Session(
                    c, t, tools=tools, clock=k, keep_trying=True
                ),
            )  # fmt: skip
            chat_set = ChatSet(runner, [CHAT_ID, OTHER_CHAT, -1002])
            await chat_set.update()
            await runner.stop()
        start_s = calls.tried_at_s[0][1]
        return [t - start_s for _, t in calls.tried_at_s], chat_set.outcomes, chat_set.flood_waits

    tried_at_s, outcomes, flood_waits = run_virtual(scenario())
    # CHAT_ID at once, OTHER_CHAT a second later (flood wait 7 s), again, then -1002 a
    # second after that: never two joins within a second.
    assert [round(t, 1) for t in tried_at_s] == [0.0, 1.0, 8.0, 9.0]
    assert outcomes == {CHAT_ID: None, OTHER_CHAT: None, -1002: None} and flood_waits == 1


def test_livez_fails_when_telegram_has_been_silent_or_the_session_is_gone(run: Any) -> None:
    from bridge.telegram._chatset import ChatSet
    from bridge.telegram._health import RunHealth

    async def scenario() -> list[str | None]:
        runner = TelegramRunner(FakeClient(), FakeCalls(), BridgeConfig(), voice_notes=False)
        health = RunHealth(runner, ChatSet(runner, [CHAT_ID]), stale_s=180.0)
        now_s = asyncio.get_running_loop().time()
        seen = [health.not_alive(), health.not_ready()]
        runner.telegram_seen_s = now_s - 10
        seen += [health.not_alive(), health.not_ready()]
        runner.telegram_seen_s = now_s - 200
        seen.append(health.not_alive())
        runner.session_problem = "the Telegram session is no longer valid"
        runner.session_lost.set()
        seen.append(health.not_alive())
        return seen

    assert run(scenario()) == [
        None,
        "connecting to Telegram",
        None,
        f"joining: 1 of 1 chats not tried yet (next: {CHAT_ID})",
        "no answer from Telegram for 200 s",
        "the Telegram session is no longer valid",
    ]
