"""README's Python samples import only public names, and each one runs.

The samples run as a user would paste them, in a scratch directory holding the files they
name (`bridge.toml`, `question.wav`, `emulator-ca.pem`), with `GEMINI_URL` and
`GEMINI_API_KEY` pointing at a local emulator instead of the real service.
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import soundfile as sf

from bridge import Secret
from bridge.emulator import Emulator, EmulatorConfig

README = Path(__file__).resolve().parents[1] / "README.md"
SAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
KEY = "readme-sample-key"


def _private_imports(code: str) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    # `_dsp` is the DSP package's public name; below it, and anywhere else, `_x` is private.
    return [
        m
        for m in modules
        if any(p.startswith("_") for p in m.split(".")[1:])
        or (m.startswith("_") and m.split(".")[0] != "_dsp")
    ]


def test_there_are_samples_and_the_finder_sees_private_imports() -> None:
    assert len(SAMPLES) >= 4
    assert _private_imports("from bridge._secret import Secret\nimport _dsp") == ["bridge._secret"]


IDS = [f"sample{i}" for i in range(len(SAMPLES))]


@pytest.mark.parametrize("code", SAMPLES, ids=IDS)
def test_sample_imports_only_public_names(code: str) -> None:
    assert _private_imports(code) == []


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """An emulator on its own loop in a thread, so samples may call `asyncio.run` freely."""
    ready: list[str] = []
    started = threading.Event()
    stop: list[asyncio.Event] = []
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        stop.append(asyncio.Event())
        config = EmulatorConfig(
            api_key=Secret(KEY), think_time_s=0, speed=20, silence_duration_ms=200
        )
        try:
            async with Emulator(config) as emu:
                ready.append(emu.url)
                started.set()
                await stop[0].wait()
        finally:
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10) and ready, "the emulator did not start"
    yield ready[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)


@pytest.mark.parametrize(
    "index", range(len(SAMPLES)), ids=[f"sample{i}" for i in range(len(SAMPLES))]
)
def test_sample_runs(
    index: int, emulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trustme = pytest.importorskip("trustme")
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "emulator-ca.pem"))
    # The engine sample runs in real time, its reply played out: a 0.4 s question (the
    # first half second of the bundled speech) and a 200 ms end of turn keep it short.
    speech = resources.files("bridge") / "data" / "speech-en-48k.wav"
    with resources.as_file(speech) as path:
        pcm, rate_hz = sf.read(path, dtype="int16")
    sf.write(tmp_path / "question.wav", pcm[: int(0.5 * rate_hz)], rate_hz, subtype="PCM_16")
    (tmp_path / "bridge.toml").write_text('[gemini]\nmodel = "gemini-3.8-live"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEMINI_URL", emulator_url)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    exec(compile(SAMPLES[index], f"README.md sample {index}", "exec"), {"__name__": "__main__"})
