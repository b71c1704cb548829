"""Which connection failures are worth another attempt, how long to wait, how often to try."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..protocol import (
    AuthError,
    ConfigError,
    ConnectFailed,
    InvalidArgument,
    LiveConnectionClosed,
    PolicyViolation,
    backoff,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How `async for conn in connect(...)` retries a connection attempt that failed.

    `max_attempts` attempts per outage (None: no limit), waiting `initial_delay_s`, then
    `factor` times more each time up to `max_delay_s`, each delay jittered by ±`jitter`.
    A connection that the server accepted and then closed before sending anything is a
    failed attempt of the same outage; one that carried messages ends the outage (the
    count and the delays start afresh). When the attempts are spent the last error raises,
    unless `cool_down_s` is set: then the caller is told once (`RetryEvent.budget_spent`)
    and attempts go on, one per `cool_down_s`, until one succeeds (a long-running bot
    keeps its chats; never a hot loop). Subclass and override `process_exception` (which
    errors are fatal) or `delays`.
    """

    max_attempts: int | None = 8
    initial_delay_s: float = 0.2
    max_delay_s: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2
    cool_down_s: float | None = None

    def __post_init__(self) -> None:
        cool_down_s = self.cool_down_s
        if cool_down_s is not None and not (
            isinstance(cool_down_s, (int, float)) and cool_down_s > 0
        ):
            raise ConfigError(
                f"cool_down_s: expected a positive number or None, got {cool_down_s!r}"
            )
        attempts = self.max_attempts
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
        ):
            raise ConfigError(
                f"max_attempts: expected a positive integer or None, got {attempts!r}"
            )
        next(self.delays())  # backoff() names what is wrong with the delays

    def process_exception(self, exc: BaseException) -> BaseException | None:
        """None to retry after `exc`, or the exception to raise instead (often `exc`).

        Retried: network errors, timeouts, refused upgrades (incl. HTTP 429) and closes
        other than 1007/1008. Fatal: `AuthError`, `ConfigError`, close 1007 (invalid
        argument, bad key) and 1008 (unknown model, policy), which the same setup would
        only meet again, and anything unexpected.
        """
        if isinstance(exc, (AuthError, ConfigError, InvalidArgument, PolicyViolation)):
            return exc
        if isinstance(exc, (ConnectFailed, LiveConnectionClosed, OSError, TimeoutError)):
            return None
        return exc

    def refuses_handle(self, exc: BaseException) -> bool:
        """Whether a failed attempt to resume means the server refused the handle.

        The default: the server closed the connection during a resuming setup with a
        fatal close (an expired or unknown handle comes back as 1007). The caller then
        drops the handle and starts one fresh session.
        """
        return isinstance(exc, LiveConnectionClosed) and self.process_exception(exc) is not None

    def delays(self) -> Iterator[float]:
        """Waits before the 2nd, 3rd, ... attempt of one reconnection (a fresh generator)."""
        return backoff(
            initial_s=self.initial_delay_s,
            factor=self.factor,
            max_s=self.max_delay_s,
            jitter=self.jitter,
        )


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One failed connection attempt, reported to `on_retry` before the next one."""

    attempt: int
    """Which attempt of this reconnection failed, counting from 1."""
    error: BaseException
    """Why it failed."""
    delay_s: float
    """The wait before the next attempt."""
    handle_dropped: bool = False
    """The server refused the resumption handle: the next attempt starts a fresh session."""
    budget_spent: bool = False
    """The outage used up `max_attempts`; from now on one attempt per `cool_down_s`."""


def describe(exc: BaseException) -> str:
    """A one-line account of `exc` that is never empty (`TimeoutError()` has no text)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
