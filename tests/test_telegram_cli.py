"""`run` and `login` refuse bad input with one clear line each, before touching Telegram."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient, session_string
from pyrogram.errors import (
    AuthKeyDuplicated,
    AuthKeyUnregistered,
    FloodWait,
    SessionExpired,
    SessionRevoked,
    UserDeactivatedBan,
)

from bridge.cli import build_parser, main

TG_VARS = (
    "TG_API_ID",
    "TG_API_HASH",
    "TG_SESSION",
    "TG_SESSION_FILE",
    "TELEGRAM_API_ID",
    "TELEGRAM_API_HASH",
    "TELEGRAM_SESSION",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_EPHEMERAL_TOKEN",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in TG_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_run_needs_a_chat(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(["run"], capsys)
    assert code == 2 and "give at least one --chat" in err


def test_run_names_missing_telegram_credentials(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(["run", "--chat", "@mygroup"], capsys)
    assert code == 2
    assert "missing TG_API_ID and TG_API_HASH" in err and "my.telegram.org" in err


def test_run_names_a_missing_session(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("TG_API_ID", "123")
    clean_env.setenv("TG_API_HASH", "abcdef0123456789")
    code, err = run_cli(["run", "--chat", "-1001234"], capsys)
    assert code == 2 and "run `gemini-tg-bridge login` first" in err
    assert "abcdef0123456789" not in err


def test_run_names_a_missing_gemini_key(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("TG_API_ID", "123")
    clean_env.setenv("TG_API_HASH", "abcdef0123456789")
    clean_env.setenv("TG_SESSION", session_string())
    code, err = run_cli(["run", "--chat", "@mygroup"], capsys)
    assert code == 2 and "missing GEMINI_API_KEY" in err
    assert session_string() not in err and "abcdef0123456789" not in err


def test_run_names_a_bad_config_file(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run_cli(["run", "--chat", "@g", "--config", str(tmp_path / "none.toml")], capsys)
    assert code == 2 and "none.toml" in err and "does not exist" in err


def test_run_refuses_a_bad_allowlist_entry(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(["run", "--chat", "@g", "--allow", "@"], capsys)
    assert code == 2 and "allowlist entry '@'" in err


def test_run_help_explains_what_is_needed() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    text = subparsers.choices["run"].format_help()  # type: ignore[attr-defined]
    for needed in ("--chat", "TG_API_ID", "TG_API_HASH", "TG_SESSION", "GEMINI_API_KEY", "/gemini"):
        assert needed in text


def test_a_malformed_session_string_is_named_not_unpacked(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("TG_API_ID", "123")
    clean_env.setenv("TG_API_HASH", "abcdef0123456789")
    clean_env.setenv("TG_SESSION", "BQsecret-but-cut-short")
    clean_env.setenv("GEMINI_API_KEY", "gemini-test-key")
    code, err = run_cli(["run", "--chat", "@mygroup"], capsys)
    assert code == 2 and "TG_SESSION (or TG_SESSION_FILE) is not a pyrogram session" in err
    assert "BQsecret" not in err and "unpack" not in err


def test_login_names_missing_credentials(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(["login"], capsys)
    assert code == 2 and "missing TG_API_ID and TG_API_HASH" in err


def test_login_never_overwrites_a_session_file(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean_env.setenv("TG_API_ID", "123")
    clean_env.setenv("TG_API_HASH", "abcdef0123456789")
    existing = tmp_path / "tg.session"
    existing.write_text("old")
    code, err = run_cli(["login", "--session-file", str(existing)], capsys)
    assert code == 2 and "already exists" in err
    assert existing.read_text() == "old"


def _options(**overrides: bool) -> Any:
    from bridge.cli._run import _Options

    values: dict[str, Any] = {
        "chat": [],
        "config": None,
        "allow": [],
        "no_admins": False,
        "start_call": False,
        "wait": False,
        "no_transcripts": False,
        "no_voice_notes": True,
    }
    values.update(overrides)
    return _Options(**values)


class _SignalWhenLive(FakeCalls):
    """Sends this process SIGTERM once the bridge is running, as `kill` would."""

    async def record(self, chat_id: int, stream: Any) -> None:
        await super().record(chat_id, stream)
        # Joining finishes without waiting on anything real, so it is done by then.
        asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)


def test_run_serves_until_sigterm_then_leaves_the_call_and_stops_the_client(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.emulator import Emulator
    from bridge.telegram import AccessPolicy

    calls, client = _SignalWhenLive(), FakeClient()

    async def scenario() -> int:
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(endpoint={"url": emulator.url})
            return await _serve(
                _options(), config, None, [CHAT_ID], AccessPolicy(), lambda _: (client, calls)
            )

    assert run(scenario()) == 0
    out, err = capsys.readouterr()
    assert f"live in the voice chat of {CHAT_ID}" in out
    assert calls.left == [CHAT_ID] and client.stopped
    assert "Traceback" not in err


class _SignalThenHang(FakeCalls):
    """Gets SIGTERM while connecting or joining, then never answers, as a dead network."""

    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase

    async def _hang(self, phase: str) -> None:
        if self.phase == phase:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.Event().wait()

    async def start(self) -> None:
        await self._hang("connecting")
        await super().start()

    async def play(self, chat_id: int, stream: Any, config: Any) -> None:
        await self._hang("joining")
        await super().play(chat_id, stream, config)


@pytest.mark.parametrize("phase", ["connecting", "joining"])
def test_a_signal_ends_run_while_telegram_does_not_answer(
    run: Any, capsys: pytest.CaptureFixture[str], phase: str
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.emulator import Emulator
    from bridge.telegram import AccessPolicy

    calls, client = _SignalThenHang(phase), FakeClient()

    async def scenario() -> int:
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(endpoint={"url": emulator.url})
            return await _serve(
                _options(), config, None, [CHAT_ID], AccessPolicy(), lambda _: (client, calls)
            )

    # Bounded by the run's timeout: without the fix the process waits on Telegram forever.
    assert run(scenario(), timeout_s=10) == 0
    assert client.stopped and "Traceback" not in capsys.readouterr().err


class _FloodedClient(FakeClient):
    """Telegram answers every message with a 300 s FloodWait."""

    async def send_message(self, chat_id: Any, text: str, *, parse_mode: Any = None) -> Any:
        raise FloodWait(value=300)


def test_a_signal_ends_run_while_a_transcript_waits_out_a_flood_wait(
    run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.emulator import Emulator
    from bridge.engine.events import Transcript
    from bridge.telegram import AccessPolicy, TranscriptPoster

    client = _FloodedClient()

    class FloodThenSignal(FakeCalls):
        async def record(self, chat_id: int, stream: Any) -> None:
            await super().record(chat_id, stream)
            # The chat's poster is listening by now: give it a turn Telegram will refuse.
            posters = [p for p in gc.get_objects() if type(p) is TranscriptPoster]
            (poster,) = [p for p in posters if p._api is client]
            poster.on_event(Transcript(role="model", turn_id=0, text="hi", final=True))
            asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)

    calls = FloodThenSignal()

    async def scenario() -> int:
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(endpoint={"url": emulator.url})
            options = _options(no_transcripts=False)
            return await _serve(
                options, config, None, [CHAT_ID], AccessPolicy(), lambda _: (client, calls)
            )

    assert run(scenario(), timeout_s=10) == 0
    assert calls.left == [CHAT_ID] and client.stopped
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("chat", "running", "message"),
    [
        ("@nosuchgroup", True, "chat '@nosuchgroup' not found"),
        ("@mygroup", False, "chat '@mygroup' has no voice chat running"),
    ],
)
def test_run_explains_why_it_could_not_go_live(
    run: Any, capsys: pytest.CaptureFixture[str], chat: str, running: bool, message: str
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.emulator import Emulator
    from bridge.telegram import AccessPolicy

    calls, client = FakeCalls(voice_chat_running=running), FakeClient()

    async def scenario() -> int:
        async with Emulator() as emulator:
            config = BridgeConfig().with_overrides(endpoint={"url": emulator.url})
            return await _serve(
                _options(), config, None, [chat], AccessPolicy(), lambda _: (client, calls)
            )

    assert run(scenario()) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert client.stopped and calls.left == []


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (AuthKeyUnregistered, "is no longer valid"),
        (SessionExpired, "is no longer valid"),
        (AuthKeyDuplicated, "was used by two processes at once"),
        (UserDeactivatedBan, "deactivated or banned"),
    ],
)
def test_run_names_a_dead_session_and_exits_3(
    run: Any, capsys: pytest.CaptureFixture[str], error: type[Exception], why: str
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.telegram import AccessPolicy

    class DeadSessionCalls(FakeCalls):
        async def start(self) -> None:
            raise error()

    calls, client = DeadSessionCalls(), FakeClient()
    code = run(
        _serve(
            _options(), BridgeConfig(), None, [CHAT_ID], AccessPolicy(), lambda _: (client, calls)
        )
    )
    (line,) = capsys.readouterr().err.splitlines()[:1]
    assert code == 3 and why in line and "run `gemini-tg-bridge login`" in line
    assert client.stopped and calls.played == []


@pytest.mark.parametrize("error", [AuthKeyUnregistered, AuthKeyDuplicated, SessionRevoked])
def test_a_session_revoked_while_running_stops_the_process_with_exit_3(
    run_virtual: Any, capsys: pytest.CaptureFixture[str], error: type[Exception]
) -> None:
    from bridge.cli._run import _serve
    from bridge.config import BridgeConfig
    from bridge.telegram import AccessPolicy

    class RevokedLater(FakeClient):
        async def get_me(self) -> Any:
            raise error()  # the session was revoked from another device meanwhile

    calls, client = FakeCalls(), RevokedLater()
    code = run_virtual(
        _serve(
            _options(wait=True),
            BridgeConfig(),
            None,
            [],
            AccessPolicy(),
            lambda _: (client, calls),
        ),
        timeout_s=600,
    )
    err = capsys.readouterr().err
    assert code == 3 and "run `gemini-tg-bridge login`" in err
    assert err.count("error:") == 1 and client.stopped


def test_a_second_process_on_the_same_session_is_refused(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bridge import Secret
    from bridge.telegram._lock import AccountLock

    session = session_string()
    clean_env.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    for name, value in (("TG_API_ID", "123"), ("TG_API_HASH", "abcdef0123456789")):
        clean_env.setenv(name, value)
    clean_env.setenv("TG_SESSION", session)
    clean_env.setenv("GEMINI_API_KEY", "gemini-test-key")
    first = AccountLock(Secret(session))
    first.acquire()  # the bridge already running on this session
    try:
        code, err = run_cli(["run", "--chat", "@mygroup"], capsys)
    finally:
        first.release()
    assert code == 3 and f"already in use by process {os.getpid()}" in err
    assert session not in err and len(err.splitlines()) == 1


def test_most_verbose_logging_keeps_telegram_libraries_above_debug(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # pyrogram logs each MTProto request at DEBUG, api_hash and login codes included.
    loggers = [logging.getLogger(name) for name in ("pyrogram", "pytgcalls", "ntgcalls")]
    saved = [logger.level for logger in loggers]
    try:
        run_cli(["-vv", "run"], capsys)
        for logger in loggers:
            assert not logger.isEnabledFor(logging.DEBUG), logger.name
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


@pytest.mark.parametrize(("flags", "level"), [([], logging.CRITICAL), (["-v"], logging.CRITICAL)])
def test_ntgcalls_logger_is_left_as_py_tgcalls_sets_it_unless_vv(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: list[str], level: int
) -> None:
    import ntgcalls  # noqa: F401 (importing it sets its logger, as py-tgcalls relies on)

    logger = logging.getLogger("ntgcalls")
    saved = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        run_cli([*flags, "run"], capsys)
        assert logger.level == level
    finally:
        logger.setLevel(saved)


def test_participant_requests_reach_py_tgcalls_whatever_the_ntgcalls_arity() -> None:
    # py-tgcalls 3.0 registers `lambda chat_id: ...` for participant requests; ntgcalls
    # 3.0.5 calls it with (chat_id, request) and swallows the TypeError. After start the
    # bridge registers a callback that takes what the installed ntgcalls passes.
    import inspect

    import ntgcalls
    from pytgcalls.methods.utilities import start

    from bridge.transports.tgcalls import fit_participants_callback

    source = inspect.getsource(start)
    assert source.split("on_request_participants(", 1)[1].split(":", 1)[0].split() == [
        "lambda",
        "chat_id",
    ]
    doc = ntgcalls.NTgCalls.on_request_participants.__doc__ or ""
    passes_request = "ParticipantsRequest" in doc.split("Callable[[", 1)[1].split("]", 1)[0]

    class Binding:
        callback: Any = None

        def on_request_participants(self, callback: Any) -> None:
            self.callback = callback

    Binding.on_request_participants.__doc__ = doc
    asked: list[int] = []

    async def main() -> None:
        class Calls:
            _binding = Binding()
            loop = asyncio.get_running_loop()

            async def _handle_request_participants(self, chat_id: int) -> None:
                asked.append(chat_id)

        calls = Calls()
        assert fit_participants_callback(calls) is passes_request
        if passes_request:
            # ntgcalls calls from its own thread, with the id and the request.
            await asyncio.to_thread(calls._binding.callback, -1001, object())
            for _ in range(100):
                if asked:
                    break
                await asyncio.sleep(0.01)
            assert asked == [-1001]

    asyncio.run(main())


def test_py_tgcalls_start_prints_no_banner_and_asks_github_nothing(
    run: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytgcalls import pytgcalls_session
    from pytgcalls.pytgcalls_session import PyTgCallsSession

    from bridge import Secret
    from bridge.telegram import TelegramCredentials, open_account

    requests: list[str] = []

    class NoNetwork:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            requests.append("session")

    monkeypatch.setattr(pytgcalls_session, "ClientSession", NoNetwork)
    monkeypatch.setattr(PyTgCallsSession, "notice_displayed", False)
    open_account(TelegramCredentials(123, Secret("0" * 32), Secret(session_string())))
    run(PyTgCallsSession().start())  # the last step of PyTgCalls.start
    assert capsys.readouterr().out == "" and requests == []
