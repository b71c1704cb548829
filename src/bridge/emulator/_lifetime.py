"""When the service ends a connection or a whole session.

Each connection plans its end when it starts: the earliest of its lifetime
(`session_seconds`), the session's audio limit without compression, the session's hard
deadline, and a random drop. The first two are announced by goAway `go_away_s` ahead;
the last two are not. An ending that ends the session marks it, so that resuming it is
refused with 1007 (as users of the service report after a 58:00 close).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from ._config import EmulatorConfig
from ._handles import LogicalSession

LIFETIME_REASON = "The session has reached its time limit."
AUDIO_LIMIT_REASON = "Audio session duration limit reached (enable context window compression)."
DEADLINE_REASON = "deadline expired"
DROP_REASON = "Internal error encountered."


@dataclass(frozen=True, slots=True)
class Ending:
    """How and when one connection ends."""

    at_s: float
    """Loop time of the close."""
    code: int
    reason: str
    go_away: bool
    """Announced by goAway `go_away_s` before `at_s`."""
    ends_session: bool = False
    """The logical session ends with it: resuming it is refused."""
    abort: bool = False
    """Dropped without a close frame (the client sees 1006)."""


def plan_ending(
    config: EmulatorConfig,
    session: LogicalSession,
    setup: dict[str, Any],
    now_s: float,
    rng: random.Random,
) -> Ending | None:
    """The first of the endings that apply to a connection starting at `now_s`."""
    endings = []
    if config.session_seconds is not None:
        at_s = now_s + config.scaled(config.session_seconds)
        endings.append(Ending(at_s, 1008, LIFETIME_REASON, go_away=True))
    if config.audio_session_limit_s is not None and not setup.get("contextWindowCompression"):
        at_s = session.started_s + config.scaled(config.audio_session_limit_s)
        endings.append(Ending(at_s, 1008, AUDIO_LIMIT_REASON, go_away=True, ends_session=True))
    if config.deadline_s is not None:
        at_s = session.started_s + config.scaled(config.deadline_s)
        endings.append(Ending(at_s, 1011, DEADLINE_REASON, go_away=False, ends_session=True))
    if config.drops_per_hour > 0:
        after_s = config.scaled(rng.expovariate(config.drops_per_hour / 3600))
        endings.append(
            Ending(now_s + after_s, 1011, DROP_REASON, go_away=False, abort=rng.random() < 0.5)
        )
    return min(endings, key=lambda ending: ending.at_s, default=None)


async def sleep_until(deadline_s: float) -> None:
    """Sleep until the loop's clock reaches `deadline_s` (at once if it has)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, deadline_s - loop.time()))
