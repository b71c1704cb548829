"""One account, one process: a lock file that a second bridge on the same session finds taken.

Two clients on one auth key at once get `406 AUTH_KEY_DUPLICATED` from Telegram, and the
session is then dead for both (it must log in again). `AccountLock` takes an exclusive
`flock` on a file named after a digest of the session string (never the string itself),
so a second `run` on the same session refuses to start instead of killing it. The
kernel drops the lock when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from .._secret import Secret

__all__ = ["AccountInUseError", "AccountLock"]


class AccountInUseError(RuntimeError):
    """Another process runs the bridge on this session; the message names the lock file."""


class AccountLock:
    """An exclusive lock on one Telegram session for the life of this process."""

    def __init__(self, session: Secret, directory: Path | None = None) -> None:
        digest = hashlib.sha256(session.reveal().encode()).hexdigest()[:16]
        base = directory or Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
        self.path = base / f"gemini-tg-bridge-{digest}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `AccountInUseError` (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 16, 0).decode(errors="replace").strip()
            os.close(fd)
            owner = f"process {pid}" if pid.isdigit() else "another process"
            raise AccountInUseError(
                f"this Telegram session is already in use by {owner} (lock {self.path}); "
                "one account runs in one process: two at once get the session revoked"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel when the process exits)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
