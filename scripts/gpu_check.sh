#!/usr/bin/env bash
# The GPU check (issue 29): Mira's attack-contract, model and ONNX tests and `mira bench` on a
# GPU backend, with PyTorch on the same GPU where it is installed, written to one JSON file.
#
# GPU nodes often have no network, so the check has two phases:
#
#   scripts/gpu_check.sh build          # anywhere with crates.io: fetch and build everything
#   scripts/gpu_check.sh run [OUT.json] # on the GPU node, offline (cargo --offline --frozen)
#   scripts/gpu_check.sh all [OUT.json] # both, on a node with network and a GPU
#
# Settings (environment):
#   MIRA_GPU_BACKEND  wgpu (default; Vulkan, no LLVM, builds offline once fetched) or cuda
#                     (burn's CUDA backend: cubecl downloads an LLVM bundle while *building*,
#                     so `build` needs network access; the run does not)
#   MIRA_GPU_PYTHON   a Python with torch built for CUDA (default: python3 if it has one)
#   MIRA_GPU_ITERS    timed iterations per bench workload (default 20)
#
# The JSON holds the card, the build, each test target's pass/fail counts and the bench rows of
# Mira on the GPU (and PyTorch on the GPU). Its numbers go into BENCHMARKS.md with the card's
# name. Exit status: 0 when every test passed, 1 otherwise (the JSON is written either way).
set -uo pipefail
cd "$(dirname "$0")/.."

phase=${1:-all}
out=${2:-gpu_check.json}
backend=${MIRA_GPU_BACKEND:-wgpu}
iters=${MIRA_GPU_ITERS:-20}
case "$backend" in
    wgpu | cuda) ;;
    *) echo "MIRA_GPU_BACKEND=$backend: use wgpu or cuda" >&2; exit 2 ;;
esac
# The crates whose tests run on the GPU: the attack contract (budgets, projections, every
# attack's gradients), the networks and kernels (with their fallbacks to burn's ops off the
# CPU), the ONNX interpreter against ONNX Runtime's fixtures.
crates=(mira-attack mira-nn mira-onnx)
features="mira-nn/$backend"

build() {
    cargo fetch --locked
    cargo build --release --locked -p mira-cli --features "$backend"
    for c in "${crates[@]}"; do
        cargo test --release --locked -p "$c" --features "$features" --no-run
    done
}

run() {
    local offline=(--offline --frozen)
    local tmp
    tmp=$(mktemp -d)
    local failed=0
    local card="unknown"
    if command -v nvidia-smi > /dev/null; then
        card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
    fi
    # The device must work before anything is timed: a clean error otherwise.
    if ! ./target/release/mira --device "$backend" bench --iters 1 --warmup 0 --only reg3d \
        > /dev/null 2> "$tmp/probe.err"; then
        echo "mira cannot use the $backend device here:" >&2
        cat "$tmp/probe.err" >&2
        failed=1
    fi
    local tests="[]"
    for c in "${crates[@]}"; do
        MIRA_DEVICE=$backend cargo test "${offline[@]}" --release -p "$c" --features "$features" \
            > "$tmp/$c.log" 2>&1 || failed=1
        local passed fails
        passed=$(grep -o '[0-9]* passed' "$tmp/$c.log" | awk '{s += $1} END {print s + 0}')
        fails=$(grep -o '[0-9]* failed' "$tmp/$c.log" | awk '{s += $1} END {print s + 0}')
        tests=$(printf '%s' "$tests" | sed "s/]\$//")
        [ "$tests" != "[" ] && tests="$tests,"
        tests="$tests{\"crate\":\"$c\",\"passed\":$passed,\"failed\":$fails}]"
        echo "$c on $backend: $passed passed, $fails failed (log: $tmp/$c.log)"
    done
    local py=${MIRA_GPU_PYTHON:-python3}
    local reference=()
    if "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null; then
        reference=(--reference "$py" --reference-device cuda)
    fi
    local bench="null"
    if ./target/release/mira --device "$backend" bench --json --iters "$iters" "${reference[@]}" \
        > "$tmp/bench.json" 2> "$tmp/bench.err"; then
        bench=$(cat "$tmp/bench.json")
    else
        echo "mira bench on $backend failed: $(tail -1 "$tmp/bench.err")" >&2
        failed=1
    fi
    cat > "$out" << EOF
{"card": "$card", "backend": "$backend", "date": "$(date -u +%FT%TZ)",
 "commit": "$(git rev-parse HEAD 2> /dev/null || echo unknown)",
 "tests": $tests,
 "bench": $bench}
EOF
    echo "wrote $out"
    return $failed
}

case "$phase" in
    build) build ;;
    run) run ;;
    all) build && run ;;
    *) echo "usage: scripts/gpu_check.sh build|run|all [OUT.json]" >&2; exit 2 ;;
esac
