#!/usr/bin/env bash
# The Python wheel as a user gets it (CI, issue 31): build it, install it into a fresh virtual
# environment, and with cargo off PATH run `mira demo` through it, the quickstart's
# attack-and-plot part on the committed ONNX export, and the package's tests.
#   bash scripts/wheel_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c "import ensurepip" >/dev/null 2>&1; then
    apt-get install -y -q python3-venv >/dev/null 2>&1 \
        || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q python3-venv >/dev/null)
fi
bash scripts/build_wheel.sh
VENV=target/wheel-test
rm -rf "$VENV" target/wheel-runs
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q dist/mira_robustness-*.whl pandas matplotlib pytest
# A user's shell: the venv first, the system's tools, no cargo and no target/ on PATH.
clean_env=(env -i HOME="$HOME" LANG=C.UTF-8 PATH="$PWD/$VENV/bin:/usr/local/bin:/usr/bin:/bin"
           MIRA_WHEEL_TEST=1)
if "${clean_env[@]}" bash -c 'command -v cargo' >/dev/null; then
    echo "cargo is on the clean PATH ($("${clean_env[@]}" bash -c 'command -v cargo')): the check would not show the wheel stands alone" >&2
    exit 1
fi
echo "-- mira demo through the wheel"
"${clean_env[@]}" mira demo --out target/wheel-runs/demo | tail -3
echo "-- quickstart: attack and plot on the committed ONNX export"
"${clean_env[@]}" python examples/python/quickstart.py --work target/wheel-runs/quickstart \
    --model examples/python/monai_unet2d_phantom.onnx | tail -9
test -s target/wheel-runs/quickstart/dice_vs_eps.png
echo "-- the package's tests"
"${clean_env[@]}" python -m pytest -q python/tests
