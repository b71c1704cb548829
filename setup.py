"""Extension modules only; metadata lives in pyproject.toml.

Environment switches:
  BRIDGE_NATIVE=1  compile with -march=native (not portable; every ISA level then uses the
                   build machine's instructions, so BRIDGE_DSP_ISA only changes widths)
  BRIDGE_DEBUG=1   bounds checks, line tracing and -O0 -g (for debugging and coverage)
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

import numpy
from Cython.Build import cythonize

NATIVE = os.environ.get("BRIDGE_NATIVE") == "1"
DEBUG = os.environ.get("BRIDGE_DEBUG") == "1"

if sys.platform == "win32":
    compile_args = ["/O2"]
else:
    compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
    if NATIVE:
        compile_args.append("-march=native")

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

# The kernels are compiled into _isa once per ISA level (_kernels.c); the other modules
# reach them through _isa's table.
extra_sources = {"_isa": ["src/_dsp/_kernels.c"]}

extensions = [
    Extension(
        f"_dsp.{pyx.stem}",
        [str(pyx), *extra_sources.get(pyx.stem, [])],
        depends=[str(h) for h in Path("src/_dsp").glob("*.h")],
        extra_compile_args=compile_args,
        define_macros=macros,
        include_dirs=[numpy.get_include(), "src/_dsp"],
    )
    for pyx in sorted(Path("src/_dsp").glob("*.pyx"))
]

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "linetrace": DEBUG,
    "embedsignature": True,
}

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
