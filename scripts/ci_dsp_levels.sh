#!/usr/bin/env bash
# DSP checks beyond the default test run, for CI:
#  1. the DSP tests once per ISA level this CPU has (BRIDGE_DSP_ISA), so every kernel
#     width is proven here, not only the widest one "auto" picks;
#  2. the stubs against the runtime (stubtest) and the int16-only signatures (mypy with
#     --warn-unused-ignores over tests/test_dsp_typing.py);
#  3. the kernels and the package's C code for aarch64: cross-compiled, the kernel tests
#     run under qemu-user (the cross tools are installed with apt-get when missing and
#     this runs as root).
# Run from an environment where the package is installed (e.g. after .ci/run's pip install).
set -euo pipefail
cd "$(dirname "$0")/.."

levels=$(BRIDGE_DSP_ISA=auto python -c 'import _dsp; print(*_dsp.available_isas())')
echo "DSP levels on this CPU: $levels"
# test_dsp_cross.py builds every level itself; it runs once, below.
files=()
for f in tests/test_dsp*.py; do
    [ "$f" = tests/test_dsp_cross.py ] || files+=("$f")
done
for level in $levels; do
    echo "== BRIDGE_DSP_ISA=$level"
    BRIDGE_DSP_ISA=$level python -m pytest -q -p no:cacheprovider "${files[@]}"
done

echo "== stubs"
python -m mypy --strict --warn-unused-ignores tests/test_dsp_typing.py src/_dsp/*.pyi src/_dsp/*.py
# From outside the tree, so stubtest checks the installed package against its stubs.
(cd /tmp && python -m mypy.stubtest _dsp --allowlist "$OLDPWD/src/_dsp/stubtest-allowlist.txt")

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing gcc-aarch64-linux-gnu and qemu-user"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user
    else
        echo "aarch64 cross tools missing and not installable here (needs root and apt-get):" \
            "the aarch64 tests will skip" >&2
    fi
fi
echo "== aarch64: kernels under qemu, package C code cross-compiled"
BRIDGE_DSP_CROSS=1 python -m pytest -q -p no:cacheprovider -rs tests/test_dsp_cross.py
