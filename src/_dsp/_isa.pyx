# cython: language_level=3
"""Which ISA level's kernels run: the widest the CPU has, or BRIDGE_DSP_ISA's choice.

Read once at import. `BRIDGE_DSP_ISA` is one of "sse2", "avx2", "avx512" (x86-64),
"neon" (aarch64), "generic" (other CPUs) or "auto" (the default: the widest level the
CPU has). A level this build knows but the CPU lacks raises RuntimeError naming the CPU's
levels; any other value raises ValueError naming the allowed ones.
"""

import os

from ._kernels cimport dsp_cpu_has, dsp_levels, dsp_n_levels, DspKernels

ENV_VAR = "BRIDGE_DSP_ISA"
KNOWN = ("sse2", "avx2", "avx512", "neon", "generic")

cdef const DspKernels* _active = NULL


cdef const DspKernels* active_kernels() noexcept nogil:
    return _active


def _compiled():
    return tuple(dsp_levels[i].name.decode() for i in range(dsp_n_levels))


def available_isas():
    """ISA levels this CPU can run, narrowest first (the last is what "auto" picks)."""
    return tuple(dsp_levels[i].name.decode() for i in range(dsp_n_levels) if dsp_cpu_has(i))


def isa():
    """The ISA level whose kernels new Resamplers and the mixer use."""
    return _active.name.decode()


def _set_isa(level):
    """Switch kernels for tests and benchmarks: "auto" or a level from `available_isas()`.

    Resamplers already built keep their level (so a stream stays bit-exact); mix_into and
    peak_abs use the new level from their next call.
    """
    global _active
    if not isinstance(level, str) or level not in (*KNOWN, "auto"):
        raise ValueError(
            f"{ENV_VAR} must be one of {', '.join((*KNOWN, 'auto'))}; got {level!r}"
        )
    have = available_isas()
    if level == "auto":
        level = have[len(have) - 1]
    if level not in have:
        raise RuntimeError(
            f"{ENV_VAR}={level}: this CPU has only {', '.join(have)} "
            f"(build levels: {', '.join(_compiled())})"
        )
    _active = dsp_levels[_compiled().index(level)]


_set_isa(os.environ.get(ENV_VAR, "auto").strip().lower() or "auto")
