#!/usr/bin/env bash
# Builds the Python wheel (the `mira` binary as a script plus the `mira` package, python/mira)
# into dist/ with maturin, as ruff and uv ship theirs. Needs a Rust toolchain and network
# access to PyPI for maturin the first time; the wheel itself needs neither.
#   bash scripts/build_wheel.sh            # -> dist/mira_robustness-<version>-py3-none-<platform>.whl
#   pip install dist/mira_robustness-*.whl # `mira` on PATH, `import mira`
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${MIRA_WHEEL_VENV:-target/wheel-venv}
if [ ! -x "$VENV/bin/maturin" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q "maturin>=1.5,<2"
fi
rm -rf dist
"$VENV/bin/maturin" build --release --out dist "$@"
ls dist/*.whl
