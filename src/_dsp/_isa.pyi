"""Stubs for `_dsp._isa`: which ISA level's kernels run."""

from typing import Literal

from ._typing import Level

ENV_VAR: str
KNOWN: tuple[Level, ...]

def available_isas() -> tuple[Level, ...]:
    """ISA levels this CPU can run, narrowest first (the last is what "auto" picks)."""

def isa() -> Level:
    """The ISA level whose kernels new Resamplers and the mixer use."""

def _set_isa(level: Level | Literal["auto"]) -> None:
    """Switch kernels for tests and benchmarks: "auto" or a level from `available_isas()`.

    Resamplers already built keep their level; mix_into and peak_abs switch at once.
    """
