"""The chats file: one chat per line, read at start and again whenever it changes.

```text
# chats.txt: a group id or a @username per line; '#' starts a comment
-1001234567890
@our_group        # the team's call
```

`ChatsFile.changes()` polls the file's identity (mtime, size, inode: a Kubernetes
ConfigMap update swaps a symlink) every `poll_s`, and reads it at once when `reload` is
set (SIGHUP). Each read yields the whole list, or a `ChatsFileError` naming the file and
the line at fault; the caller keeps what it runs on an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator

__all__ = ["ChatsFile", "ChatsFileError", "parse_chat", "parse_chats"]

Chat = int | str

# Telegram usernames: letters, digits and underscores, starting with a letter, at most
# 32 long (5 at least for most, but some are shorter: the length is Telegram's to judge).
_USERNAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{0,31}")


class ChatsFileError(ValueError):
    """The chats file is missing or has a bad line; the message names which."""


def parse_chat(text: str) -> Chat:
    """A group id (`-100...`) as int, or a username as `@name`; `ValueError` otherwise."""
    value = text.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if _USERNAME.fullmatch(value):
        return value if value.startswith("@") else f"@{value}"
    if not value:
        raise ValueError("a chat must not be empty")
    raise ValueError(f"{value[:64]!r} is neither a group id (-100...) nor a @username")


def parse_chats(text: str, source: str) -> list[Chat]:
    """Every chat in a chats file's `text`, in order, each once; `source` names the file
    in the `ChatsFileError` for a bad line."""
    chats: list[Chat] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            chat = parse_chat(entry)
        except ValueError as exc:
            raise ChatsFileError(f"{source} line {number}: {exc}") from None
        if chat not in chats:
            chats.append(chat)
    return chats


class ChatsFile:
    """A chats file on disk and the lists it has held."""

    def __init__(self, path: str, *, poll_s: float = 2.0) -> None:
        self.path = path
        self.poll_s = poll_s
        self._seen: tuple[int, int, int] | None = None

    def read(self) -> list[Chat]:
        """The chats the file lists now. Raises `ChatsFileError`."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                self._seen = _identity(os.fstat(fh.fileno()))
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ChatsFileError(f"{self.path}: cannot read the chats file: {reason}") from None
        return parse_chats(text, self.path)

    async def changes(self, reload: asyncio.Event) -> AsyncIterator[list[Chat] | ChatsFileError]:
        """After each change of the file (or each `reload`), its new list or its error."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reload.wait(), self.poll_s)
            asked = reload.is_set()
            reload.clear()
            try:
                identity: tuple[int, int, int] | None = _identity(os.stat(self.path))
            except OSError:
                identity = None
            if not asked and identity == self._seen:
                continue
            self._seen = identity
            try:
                yield self.read()
            except ChatsFileError as exc:
                yield exc


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino
