"""When a session may move to a new socket after `goAway`: "is now a pause?".

A synchronous question with no clock of its own: the link moves at the first pause, or
after the goAway deadline (the protocol's, minus `resume_margin_s`) as soon as nothing
would be cut (`busy()` false: no reply being generated, no call the model waits on).
A NON_BLOCKING call running is no pause (moving would cancel it), but it does not hold
the move past the deadline: the conversation never waited on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._vad import EnergyVad


class ResumePolicy:
    """A pause: no reply being generated, no tool running, nobody talking, nothing unanswered."""

    def __init__(
        self,
        vad: EnergyVad,
        generating: Callable[[], bool],
        tools_busy: Callable[[], bool],
        tools_aside: Callable[[], bool] = lambda: False,
    ) -> None:
        self._vad = vad
        self._generating = generating
        self._tools_busy = tools_busy
        self._tools_aside = tools_aside
        self._answered_s = -math.inf

    def answered(self, now_s: float) -> None:
        """The server closed a turn at `now_s`: user speech before it has been answered."""
        self._answered_s = now_s

    def busy(self) -> bool:
        """A reply is being generated or the model waits on a call: moving would cut it."""
        return self._generating() or self._tools_busy()

    def at_pause(self) -> bool:
        """Whether moving to a new socket now would cut nothing off."""
        vad = self._vad
        # `last_speech_s`, not `last_loud_s`: a lone click is not a question to wait for.
        unanswered = not math.isnan(vad.last_speech_s) and vad.last_speech_s > self._answered_s
        return not (self.busy() or self._tools_aside() or vad.active or unanswered)
