"""How often a fault that keeps recurring is reported (logged, published)."""

REPORT_EVERY = 500


def worth_reporting(count: int) -> bool:
    """True for the 1st, then every `REPORT_EVERY`th occurrence (count starts at 1).

    A persistent fault (a misconfigured call sending 100 bad frames a second) is still
    seen in the log, but cannot flood it.
    """
    return count % REPORT_EVERY == 1
