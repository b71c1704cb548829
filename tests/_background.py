"""Runs in child processes that start when collection ends and overlap the other tests.

Some tests check what a child process did: a WebRTC call through ntgcalls and the demos
as a user runs them, which spend most of their time waiting on the real clock, and long
scenarios in virtual time, whose results do not depend on the CPU they get. They start
in background threads as soon as the session knows it needs them, and the tests that
check their results go last: the waiting and the second core overlap the other tests.

A run is a session fixture made with `@background` (its body starts `Child` processes),
or with `@in_child` (its body runs in a child Python process, its result pickled back).
Runs made with `alone=True` go first, one at a time with no other run beside them (with
the build and the WAV demo beside it, the WebRTC call's Opus jitter buffers stretched its
echo below the test's threshold); the others then run two at a time, in the order their
modules were collected. A run that no selected test needs never starts;
one that was not started (say, its test was selected by a plugin after collection) runs
when first asked for. Every `Child` still running when the session ends is killed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

_WAIT_S = 300.0
"""Longest a test waits for its run, and an `in_child` child for its body."""

_TESTS_NICENESS = 5
_VIRTUAL_NICENESS = 10
"""When the cores are short, the real-time children come first (niceness 0), then the
tests in this process, then the virtual-time scenarios, which lose nothing by waiting."""

_THREADS = 2
"""Runs at a time once the `alone` ones are done: with this process, about two cores."""


class _Run:
    def __init__(self, body: Callable[[Path], Any], workdir: Path, alone: bool) -> None:
        self.alone = alone
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
_bodies: dict[tuple[str, str], Callable[[], Any]] = {}
_pending: list[_Run] = []
_children: list[subprocess.Popen[str]] = []
_closing = threading.Event()
_workdir = tempfile.TemporaryDirectory(prefix="bridge-background-", ignore_cleanup_errors=True)


def background(body: Callable[[Path], T] | None = None, *, alone: bool = False) -> Any:
    """Make `body(workdir)` a session fixture named after it, run in the background;
    `alone`: with no other run beside it."""

    def register(body: Callable[[Path], T]) -> Any:
        name = body.__name__
        run = _runs[name] = _Run(body, Path(_workdir.name) / name, alone)

        @pytest.fixture(scope="session", name=name)
        def result() -> T:
            return run.result()  # type: ignore[no-any-return]

        return result

    return register if body is None else register(body)


def in_child(body: Callable[[], T] | None = None, *, alone: bool = False) -> Any:
    """`background`, with `body()` run in a child Python process and its result pickled
    back: for scenarios in virtual time (CPU-bound: another core runs them while this
    process runs other tests) and real-time ones (`alone=True`, so that they get a core)."""

    def register(body: Callable[[], T]) -> Any:
        module, name = body.__module__, body.__name__
        _bodies[module, name] = body

        def run(workdir: Path) -> T:
            argv = [sys.executable, __file__, module, name, "result.pickle"]
            niceness = 0 if alone else _VIRTUAL_NICENESS
            Child(argv, workdir, niceness=niceness).wait(timeout_s=_WAIT_S)
            with open(workdir / "result.pickle", "rb") as result:
                return pickle.load(result)  # type: ignore[no-any-return]

        run.__name__ = name
        return background(run, alone=alone)

    return register if body is None else register(body)


class Child:
    """A child process started now, its output going to files in `cwd`, waited for later."""

    def __init__(
        self, argv: list[str], cwd: Path, env: dict[str, str] | None = None, niceness: int = 0
    ) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd
        with open(cwd / "stdout.txt", "w") as out, open(cwd / "stderr.txt", "w") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, cwd=cwd, env=env)
        _children.append(self.proc)
        if niceness:
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, niceness)

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
        if run.alone and not _closing.is_set():
            run.execute()
    _pending.extend(run for run in runs if not run.alone)
    for _ in range(_THREADS):
        threading.Thread(target=_take, name="background", daemon=True).start()


def _take() -> None:
    while not _closing.is_set():
        try:
            run = _pending.pop(0)  # atomic under the GIL: each run is taken once
        except IndexError:
            return
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
    if not needed:
        return
    threading.Thread(target=_execute, args=(needed,), name="background", daemon=True).start()
    # After the thread has started (it and the children it starts keep niceness 0): on
    # Linux a thread's niceness is its own, so this lowers only the tests' thread.
    os.nice(_TESTS_NICENESS)


def pytest_sessionfinish() -> None:
    _closing.set()  # no run starts from now on
    for proc in _children:
        with contextlib.suppress(OSError):
            proc.kill()
    _workdir.cleanup()


def _main(module: str, name: str, out: str) -> None:
    """In the child: import the test module (it registers its bodies), run one, save it."""
    importlib.import_module(module)
    body = sys.modules["_background"]._bodies[module, name]  # the copy the module imported
    with open(out, "wb") as result:
        pickle.dump(body(), result, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    _main(*sys.argv[1:])
