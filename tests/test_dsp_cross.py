"""The C kernels without Python: natively on every level this CPU has, and on aarch64.

aarch64 needs Debian's `gcc-aarch64-linux-gnu` and `qemu-user` (scripts/ci_dsp_levels.sh
installs them); without them those tests skip and say so. The package check cythonizes
every module and cross-compiles the C, so the aarch64 build breaks here, not on a user's
machine; it takes ~10 s, so it runs only with BRIDGE_DSP_CROSS=1 (as the CI script sets).
aarch64 speed is not measured by any of this (qemu emulates).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from _background import background

import _dsp

ROOT = Path(__file__).resolve().parents[1]
DSP = ROOT / "src" / "_dsp"
DRIVER = Path(__file__).with_name("test_dsp_kernels.c")
CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
SYSROOT = Path("/usr/aarch64-linux-gnu")
CFLAGS = ["-O2", "-Wall", "-Wextra", "-fno-math-errno", f"-I{DSP}"]


def build_driver(cc: str, exe: Path, *extra: str) -> None:
    cmd = [cc, *CFLAGS, *extra, str(DRIVER), str(DSP / "_kernels.c"), "-lm", "-o", str(exe)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"


def run_driver(cmd: list[str]) -> list[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split("\n")


def need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (Debian: apt-get install "
            "gcc-aarch64-linux-gnu qemu-user; scripts/ci_dsp_levels.sh does it)"
        )


Run = list[str] | str | AssertionError
"""A driver's output lines, why it could not run (skipped), or how it failed."""


def native_run(workdir: Path) -> list[str]:
    cc = sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc"
    need(cc)
    build_driver(cc, workdir / "kernels")
    return run_driver([str(workdir / "kernels")])


def aarch64_run(workdir: Path) -> list[str]:
    need(CROSS_CC, QEMU)
    exe = workdir / "kernels-aarch64"
    build_driver(CROSS_CC, exe, "-Werror")  # a known compiler: its warnings are bugs
    return run_driver([QEMU, "-L", str(SYSROOT), str(exe)])


@background
def kernel_runs(workdir: Path) -> dict[str, Run]:
    """The driver built and run natively and on aarch64 under qemu, started with the
    session: compiling takes a second or two, which overlaps other tests."""
    workdir.mkdir(parents=True)
    runs: dict[str, Run] = {}
    for name, driver in (("native", native_run), ("aarch64", aarch64_run)):
        try:
            runs[name] = driver(workdir)
        except pytest.skip.Exception as skipped:
            runs[name] = skipped.msg
        except AssertionError as failed:
            runs[name] = failed
    return runs


def lines_of(run: Run) -> list[str]:
    if isinstance(run, AssertionError):
        raise run
    if isinstance(run, str):
        pytest.skip(run)
    return run


def test_kernels_match_scalar_references_on_every_level_of_this_cpu(
    kernel_runs: dict[str, Run],
) -> None:
    lines = lines_of(kernel_runs["native"])
    assert [f"ok {level}" for level in _dsp.available_isas()] == [
        line for line in lines if line.startswith("ok ")
    ]


def test_kernels_match_scalar_references_on_aarch64_under_qemu(
    kernel_runs: dict[str, Run],
) -> None:
    assert "ok neon" in lines_of(kernel_runs["aarch64"])


def test_package_c_code_compiles_for_aarch64(tmp_path: Path) -> None:
    """Every extension module, cythonized here, compiles for aarch64 (no link: no libpython)."""
    if os.environ.get("BRIDGE_DSP_CROSS") != "1":
        pytest.skip("the aarch64 build check (~10 s) runs with BRIDGE_DSP_CROSS=1, as in CI")
    need(CROSS_CC)
    includes = [f"-I{DSP}", f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}"]
    modules = sorted(DSP.glob("*.pyx"))
    assert modules
    for pyx in modules:
        c_file = tmp_path / f"{pyx.stem}.c"
        cythonize = [sys.executable, "-m", "cython", "-3", str(pyx), "-o", str(c_file)]
        done = subprocess.run(cythonize, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        cmd = [CROSS_CC, "-O1", "-fsyntax-only", "-DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION",
               *includes, str(c_file)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{pyx.name}:\n{done.stderr}"
    done = subprocess.run(
        [CROSS_CC, *CFLAGS, "-Werror", "-c", str(DSP / "_kernels.c"), "-o", str(tmp_path / "k.o")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
