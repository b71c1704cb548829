"""The shared fault reporter and pacing loop, driven without real time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge._faults import REPORT_EVERY, FaultReporter
from bridge._pacing import Pacer


class VirtualTime:
    def __init__(self) -> None:
        self.now_s = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now_s

    async def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        self.now_s += delay_s


def test_fault_reports_first_and_every_nth_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    published: list[str] = []
    fault = FaultReporter("dropping frame", logging.getLogger("t"), publish=published.append)
    with caplog.at_level(logging.WARNING, "t"):
        reported = [fault.report(ValueError("7 bytes")) for _ in range(REPORT_EVERY + 1)]
    assert fault.count == REPORT_EVERY + 1
    assert [i for i, r in enumerate(reported) if r] == [0, REPORT_EVERY]
    assert published == ["dropping frame: 7 bytes"] * 2
    assert caplog.messages == [
        "dropping frame: 7 bytes (1 so far)",
        f"dropping frame: 7 bytes ({REPORT_EVERY + 1} so far)",
    ]


def test_keyed_fault_throttles_each_detail_alone_with_a_bounded_key_set() -> None:
    fault = FaultReporter("bad message", logging.getLogger("t"), keyed=True)
    assert fault.report("a") and fault.report("b")
    assert not fault.report("a")
    # Details that vary per occurrence: after 64 kinds they all count as one.
    fresh = [fault.report(f"id {i}") for i in range(200)]
    assert sum(fresh) == 62 + 1


def test_an_empty_detail_still_says_what_it_was() -> None:
    published: list[str] = []
    FaultReporter("tool failed", logging.getLogger("t"), publish=published.append).report(
        TimeoutError()
    )
    assert published == ["tool failed: TimeoutError"]


def test_pacer_keeps_absolute_deadlines_without_drift() -> None:
    vt = VirtualTime()
    pacer = Pacer(0.01, monotonic=vt.monotonic, sleep=vt.sleep)

    async def main() -> list[float]:
        deadlines = []
        for _ in range(5):
            deadlines.append(await pacer.next_tick())
            vt.now_s += 0.003  # work inside each tick does not push the next deadline
        return deadlines

    deadlines = asyncio.run(main())
    assert deadlines == pytest.approx([100.0 + 0.01 * i for i in range(5)])
    assert pacer.missed_ticks == 0 and pacer.ticks == 5


def test_pacer_skips_missed_deadlines_after_a_stall_instead_of_bursting() -> None:
    vt = VirtualTime()
    pacer = Pacer(0.01, monotonic=vt.monotonic, sleep=vt.sleep)

    async def main() -> list[float]:
        out = [await pacer.next_tick()]
        vt.now_s += 0.055  # a 55 ms stall
        out.append(await pacer.next_tick())
        out.append(await pacer.next_tick())
        return out

    first, after_stall, following = asyncio.run(main())
    assert pacer.missed_ticks == 4
    assert after_stall == pytest.approx(first + 0.05)
    assert following == pytest.approx(first + 0.06)
    assert vt.sleeps[-1] == pytest.approx(0.005)


def test_pacer_refuses_a_non_positive_period() -> None:
    with pytest.raises(ValueError, match="period_s must be positive, got 0"):
        Pacer(0)
