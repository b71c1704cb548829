"""The base install works without the `telegram` extra; what needs it says what to install.

Each check runs in a fresh interpreter where the extra's modules cannot be imported (an
import hook refuses them, as an install without the extra would), so what this process
already imported does not hide a missing lazy import. The real wheel without extras is
checked by scripts/ci_deploy.sh. The interpreters start with the session, in the
background (tests/_background.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _background import background

from bridge import cli

TELEGRAM_EXTRA = ("pyrogram", "pytgcalls", "ntgcalls", "tgcrypto")

_WITHOUT_EXTRA = f"""
import sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {TELEGRAM_EXTRA!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = _WITHOUT_EXTRA + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@background
def imports_without_the_extra(workdir: Path) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True)
    return _python(
        """
        import _dsp, bridge.client, bridge.emulator, bridge.engine, bridge.protocol
        import bridge.transports.demo, bridge.transports.wav
        from bridge.cli import build_parser
        build_parser()
        print(sorted(m for m in sys.modules if m.partition(".")[0] in
                     ("pyrogram", "pytgcalls", "ntgcalls", "tgcrypto")))
        """,
        workdir,
    )


def test_base_modules_and_every_command_parser_import_without_the_extra(
    imports_without_the_extra: subprocess.CompletedProcess[str],
) -> None:
    done = imports_without_the_extra
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


COMMANDS = [
    ["run", "--chat", "-1001234567890"],
    ["login", "--print"],
    ["voicenote", "note.ogg", "reply.ogg"],
    ["demo", "--via", "ntgcalls", "--out", "reply.wav"],
]


@background
def commands_without_the_extra(workdir: Path) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True)
    (workdir / "note.ogg").write_bytes(b"OggS")
    return _python(
        f"""
        import contextlib, io, json
        from bridge.cli import main
        results = []
        for argv in {COMMANDS!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(argv)
            results.append((code, err.getvalue()))
        print(json.dumps(results))
        """,
        workdir,
    )


def test_commands_that_need_telegram_name_the_extra_in_one_line(
    commands_without_the_extra: subprocess.CompletedProcess[str],
) -> None:
    done = commands_without_the_extra
    assert done.returncode == 0, done.stderr
    for argv, (code, stderr) in zip(COMMANDS, json.loads(done.stdout), strict=True):
        lines = stderr.splitlines()
        assert code == 2, (argv, stderr)
        assert len(lines) == 1, (argv, stderr)
        assert lines[0].startswith(f"error: {argv[0]} needs "), lines[0]
        assert lines[0].endswith("pip install 'gemini-tg-bridge[telegram]'"), lines[0]


def test_an_unrelated_missing_module_is_not_blamed_on_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def build_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser()
        parser.add_argument("-v", "--verbose", action="count", default=0)
        commands = parser.add_subparsers(dest="command")
        commands.add_parser("broken").set_defaults(handler=handler)
        return parser

    def handler(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'soxr'", name="soxr")

    monkeypatch.setattr(cli, "build_parser", build_parser)
    with pytest.raises(ModuleNotFoundError, match="soxr"):
        cli.main(["broken"])
