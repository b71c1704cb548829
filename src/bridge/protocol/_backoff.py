"""Reconnect delays: capped exponential backoff with jitter, as a plain generator."""

from __future__ import annotations

import random
from collections.abc import Iterator

from .errors import ConfigError


def backoff(
    *,
    initial_s: float = 0.25,
    factor: float = 2.0,
    max_s: float = 30.0,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Endless delays before each reconnect attempt: initial_s, xfactor, capped at max_s.

    Each delay is scaled by a random factor in [1 - jitter, 1 + jitter] so many clients
    dropped at once do not reconnect in lockstep. Restart the generator after a success.
    """
    if initial_s < 0 or max_s < initial_s:
        raise ConfigError(f"backoff: need 0 <= initial_s <= max_s, got {initial_s}, {max_s}")
    if factor < 1:
        raise ConfigError(f"backoff: factor must be >= 1, got {factor}")
    if not 0 <= jitter < 1:
        raise ConfigError(f"backoff: jitter must be in [0, 1), got {jitter}")
    source = rng or random.Random()
    delay_s = initial_s
    while True:
        yield min(max_s, delay_s * (1 + jitter * (2 * source.random() - 1)))
        delay_s = min(max_s, delay_s * factor)
