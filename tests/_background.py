"""Real-time runs that start when collection ends and overlap the rest of the suite.

A few tests prove behaviour on the real clock in child processes: a WebRTC call through
ntgcalls, the demos as a user runs them. They spend most of their time waiting (a
second of speech takes a second), not computing, so they start in background threads as
soon as the session knows it will need them, and the tests that check their results wait
for them, last in the session: the waiting overlaps the tests that compute.

A run is a session fixture made with `@background`. The runs go one after another, in
the order their modules were collected, in one thread: side by side with each other and
the tests, the WebRTC call's Opus jitter buffers stretched its echo below the test's
threshold. A run that no selected test needs never starts; one that was not started
(say, its test was selected by a plugin after collection) runs when first asked for.
Every `Child` process still running when the session ends is killed.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

_WAIT_S = 300.0
"""Longest a test waits for its run (each child process has its own, shorter timeout)."""


class _Run:
    def __init__(self, body: Callable[[Path], Any], workdir: Path) -> None:
        self._body = body
        self._workdir = workdir
        self._future: Future[Any] = Future()
        self._lock = threading.Lock()
        self._started = False

    def execute(self) -> None:
        """Run the body, unless it has already started (here or in another thread)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        try:
            self._future.set_result(self._body(self._workdir))
        except BaseException as exc:  # raised again in the test that asks for the result
            self._future.set_exception(exc)

    def result(self) -> Any:
        self.execute()  # never started (not needed at collection): run it now
        return self._future.result(timeout=_WAIT_S)


_runs: dict[str, _Run] = {}
_children: list[subprocess.Popen[str]] = []
_workdir = tempfile.TemporaryDirectory(prefix="bridge-background-", ignore_cleanup_errors=True)


def background(body: Callable[[Path], T]) -> Any:
    """Make `body(workdir)` a session fixture named after it, run in the background."""
    name = body.__name__
    run = _runs[name] = _Run(body, Path(_workdir.name) / name)

    @pytest.fixture(scope="session", name=name)
    def result() -> T:
        return run.result()  # type: ignore[no-any-return]

    return result


class Child:
    """A child process started now, its output going to files in `cwd`, waited for later."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd
        with open(cwd / "stdout.txt", "w") as out, open(cwd / "stderr.txt", "w") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, cwd=cwd, env=env)
        _children.append(self.proc)

    def wait(self, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """Its exit, asserted to be 0, with what it printed; killed after `timeout_s`."""
        try:
            code = self.proc.wait(timeout=timeout_s)
        finally:
            self.proc.kill()
            self.proc.wait()
        out, err = (self.cwd / "stdout.txt").read_text(), (self.cwd / "stderr.txt").read_text()
        assert code == 0, f"{self.proc.args} exited {code}:\n{out[-2000:]}{err[-2000:]}"
        return subprocess.CompletedProcess(self.proc.args, code, out, err)


def _execute(runs: list[_Run]) -> None:
    for run in runs:
        run.execute()


def _uses(item: pytest.Item, name: str) -> bool:
    return name in getattr(item, "fixturenames", ())


def _uses_a_run(item: pytest.Item) -> bool:
    return any(_uses(item, name) for name in _runs)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that wait for a run go last (in their order), when it is likely done."""
    items[:] = [i for i in items if not _uses_a_run(i)] + [i for i in items if _uses_a_run(i)]


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    needed = [run for name, run in _runs.items() if any(_uses(i, name) for i in session.items)]
    threading.Thread(target=_execute, args=(needed,), name="background", daemon=True).start()


def pytest_sessionfinish() -> None:
    for proc in _children:
        with contextlib.suppress(OSError):
            proc.kill()
    _workdir.cleanup()
