"""One place that counts, throttles, logs and publishes a recurring fault.

A persistent fault (a misconfigured call sending 100 bad frames a second, a handler
failing on every tick, a server repeating one bad message) must be seen, but must not
flood the log or the chat: the first occurrence is reported, then every
`REPORT_EVERY`-th, always with the running count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

REPORT_EVERY = 500
_MAX_KINDS = 64


def worth_reporting(count: int) -> bool:
    """True for the 1st, then every `REPORT_EVERY`th occurrence (count starts at 1)."""
    return count % REPORT_EVERY == 1


class FaultReporter:
    """Counts one kind of fault; reports the 1st and every `REPORT_EVERY`-th occurrence.

    ```python
    bad_frames = FaultReporter("dropping inbound frame", log, publish=on_error)
    bad_frames.report(exc)          # counts; logs and publishes when worth it
    bad_frames.count                # every occurrence so far
    ```

    `keyed=True` throttles each distinct detail text on its own (a server sending two
    different bad messages gets both reported), with at most 64 distinct keys so that
    details that vary per occurrence cannot each count as new.
    """

    __slots__ = ("_counts", "_keyed", "_level", "_log", "_publish", "count", "what")

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        *,
        publish: Callable[[str], None] | None = None,
        level: int = logging.WARNING,
        keyed: bool = False,
    ) -> None:
        if not what:
            raise ValueError("a fault needs a description")
        self.what = what
        self.count = 0
        self._log = log
        self._publish = publish
        self._level = level
        self._keyed = keyed
        self._counts: dict[str, int] = {}

    def report(self, detail: object, *, exc_info: BaseException | None = None) -> bool:
        """Count one occurrence; log (and publish) it if it is worth reporting.

        Returns whether it was reported.
        """
        self.count += 1
        text = str(detail) or type(detail).__name__
        n = self.count
        if self._keyed:
            key = text if text in self._counts or len(self._counts) < _MAX_KINDS else "other"
            n = self._counts[key] = self._counts.get(key, 0) + 1
        if not worth_reporting(n):
            return False
        line = f"{self.what}: {text}"
        self._log.log(self._level, "%s (%d so far)", line, n, exc_info=exc_info)
        if self._publish is not None:
            self._publish(line)
        return True
