#!/usr/bin/env bash
# The one benchmark command: ghostc vs onnxruntime and OpenVINO on every fixture model, table in examples/bench/RESULTS.md.
#
# Usage: examples/bench/run.sh [--runs N] [--warmup N] [--threads 1,2] [--engines ort,openvino] [--filter SUBSTR] [--out PATH]
#
# Creates a Python venv with onnxruntime, OpenVINO and numpy (the versions ../shared/bench/peers pins) in the repository's target/bench-venv (even
# when CARGO_TARGET_DIR points elsewhere), then runs the ghostc-bench program in release mode.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

venv="target/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p target
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    onnxruntime==1.32.0 openvino==2026.4.1 numpy==2.4.6

# The table goes to examples/bench/RESULTS.md unless --out says otherwise.
out=examples/bench/RESULTS.md
prev=""
profile=""
for a in "$@"; do
    if [ "$prev" = "--out" ]; then out="$a"; fi
    case "$a" in --profile|--profile=*) profile=1 ;; esac
    prev="$a"
done

cargo run --release -p ghostc-bench -- \
    --python "$venv/bin/python" --out "$out" "$@"

# A profile (--profile) is a table of layers, not a comparison: no build cost under it.
if [ -z "$profile" ]; then
    { echo; echo "## Build cost"; echo; examples/bench/build_cost.sh; } | tee -a "$out"
fi
