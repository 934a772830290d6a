#!/usr/bin/env bash
# A/B of ghostc against an earlier commit: builds ghostc-bench at BASE (in a git worktree) and at
# the working tree, runs them alternately ROUNDS times each (ABBA order), and prints per row the median of the
# ghostc medians of each side and their ratio (onnxruntime's medians, timed in the same runs,
# are the control: they should not move).
#
# Usage: examples/bench/ab.sh BASE [ROUNDS] [ghostc-bench options, e.g. --filter ghostnet --runs 100]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
base="${1:?usage: ab.sh BASE [ROUNDS] [ghostc-bench options]}"
shift
rounds=3
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    rounds="$1"
    shift
fi

venv="target/bench-venv"
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p target
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check onnxruntime numpy

wt="target/ab-base"
rm -rf "$wt"
git worktree prune
git worktree add --detach "$wt" "$base" >/dev/null
trap 'git worktree remove --force "$wt" >/dev/null 2>&1 || true' EXIT
(cd "$wt" && CARGO_TARGET_DIR="$repo/target/ab-base-target" cargo build --release -q -p ghostc-bench)
cargo build --release -q -p ghostc-bench
a="$repo/target/ab-base-target/release/ghostc-bench"
b="$repo/target/release/ghostc-bench"

out="target/ab-runs"
rm -rf "$out"
mkdir -p "$out"
# Alternate which side goes first (a b, b a, ...), so a drift of the machine over the run lands on
# both sides alike.
for r in $(seq 1 "$rounds"); do
    order="a b"
    [ $((r % 2)) -eq 0 ] && order="b a"
    for side in $order; do
        bin="$a"
        [ "$side" = b ] && bin="$b"
        "$bin" --python "$venv/bin/python" --engines ort "$@" > "$out/$side.$r.md"
    done
done

python3 - "$out" "$rounds" "$base" <<'PY'
import re, statistics, sys
out, rounds, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def rows(path):
    res = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) < 5 or not re.match(r'^[0-9.]+ \(', cells[3]):
            continue
        key = (cells[0], cells[1], cells[2])
        res[key] = (float(cells[3].split()[0]), float(cells[4].split()[0]))
    return res
runs = {s: [rows(f"{out}/{s}.{r}.md") for r in range(1, rounds + 1)] for s in "ab"}
print(f"median over {rounds} alternating runs of each side's medians (ms); base = {base}")
print("| model | batch | threads | ghostc base | ghostc new | new / base | onnxruntime base | onnxruntime new |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for key in runs["a"][0]:
    med = {s: [statistics.median(r[key][i] for r in runs[s]) for i in (0, 1)] for s in "ab"}
    ga, gb = med["a"][0], med["b"][0]
    print(f"| {key[0]} | {key[1]} | {key[2]} | {ga:.3f} | {gb:.3f} | {gb / ga:.3f} | {med['a'][1]:.3f} | {med['b'][1]:.3f} |")
PY
