"""`gemini-tg-bridge emulator` and `token` as a user runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from bridge.cli import main
from bridge.client import Endpoint, connect
from bridge.protocol import LiveConfig

Run = Callable[..., Any]
CLI = [sys.executable, "-m", "bridge"]


def test_emulator_command_prints_its_url_and_serves(run: Run) -> None:
    process = subprocess.Popen(
        [
            *CLI,
            "emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            "k",
            "--session-seconds",
            "30",
            "--reply",
            "tone",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            process.wait(timeout=10)
            assert process.stderr is not None
            raise AssertionError(f"emulator exited: {process.stderr.read()[-500:]}")
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", url), url

        async def talk() -> str | None:
            from bridge import Secret

            endpoint = Endpoint(base_url=url, api_key=Secret("k"))
            async with connect(LiveConfig(model="gemini-3.8-live"), endpoint) as conn:
                return conn.setup_complete.session_id

        assert run(talk()) == "session-1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulator_command_rejects_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--session-seconds", "0.5", "--go-away-s", "1"]) == 2
    err = capsys.readouterr().err
    assert "session_seconds" in err and "Traceback" not in err


def test_token_command_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert main(["token"]) == 2
    assert "GEMINI_API_KEY" in capsys.readouterr().err
