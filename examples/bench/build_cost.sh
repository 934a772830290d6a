#!/usr/bin/env bash
# Build cost of the bundled GhostNet 1.0x: ghostc's own compile time for the model (median of 5),
# the release build time of the example crate (its generated code alone, and everything from an
# empty target directory: ghostc and its dependencies, the runtime, the generated code), and the
# binary size.
# Usage: examples/bench/build_cost.sh   (prints a markdown table; run.sh appends it to RESULTS.md)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
model=examples/models/ghostnet_100_ts13/model.onnx
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

cargo build --release --quiet -p ghostc -p ghostnet-example
now() { date +%s.%N; }

times=()
for _ in 1 2 3 4 5; do
    t0=$(now)
    "$target/release/ghostc" "$model" -o "$out/ghostnet.rs" 2>/dev/null
    times+=("$(awk -v a="$(now)" -v b="$t0" 'BEGIN{print a-b}')")
done
ghostc_s=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)

# Rebuild only the example crate: its build.rs runs ghostc, then rustc compiles the generated code.
touch examples/ghostnet/build.rs
t0=$(now)
cargo build --release --quiet -p ghostnet-example
crate_s=$(awk -v a="$(now)" -v b="$t0" 'BEGIN{print a-b}')
size=$(stat -c %s "$target/release/ghostnet-example")

# The same from nothing, as a user's first build: a fresh target directory.
fresh="$(mktemp -d)"
t0=$(now)
CARGO_TARGET_DIR="$fresh" cargo build --release --quiet -p ghostnet-example
fresh_s=$(awk -v a="$(now)" -v b="$t0" 'BEGIN{print a-b}')
rm -rf "$fresh"
lines=$(wc -l < "$out/ghostnet.rs")

printf '| build cost (GhostNet 1.0x) | value |\n|---|---:|\n'
printf '| ghostc compile of the model (median of 5) | %.3f s |\n' "$ghostc_s"
printf '| release build of the example crate (build.rs + generated code) | %.1f s |\n' "$crate_s"
printf '| release build of the example crate from an empty target directory (all dependencies) | %.1f s |\n' "$fresh_s"
printf '| example binary size (weights included) | %.1f MiB |\n' "$(awk -v s="$size" 'BEGIN{print s/1048576}')"
printf '| generated source | %s lines |\n' "$lines"
