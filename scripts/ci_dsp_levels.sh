#!/usr/bin/env bash
# The DSP tests once per ISA level this CPU has (BRIDGE_DSP_ISA), so every kernel width
# is proven on the CI machine, not only the widest one "auto" picks.
# Run from an environment where the package is installed (e.g. after .ci/run's pip install).
set -euo pipefail
cd "$(dirname "$0")/.."
levels=$(BRIDGE_DSP_ISA=auto python -c 'import _dsp; print(*_dsp.available_isas())')
echo "DSP levels on this CPU: $levels"
for level in $levels; do
    echo "== BRIDGE_DSP_ISA=$level"
    BRIDGE_DSP_ISA=$level python -m pytest -q -p no:cacheprovider tests/test_dsp*.py
done
