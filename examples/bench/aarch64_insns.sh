#!/usr/bin/env bash
# NEON against the portable kernels on AArch64 without AArch64 hardware: builds the e2e test
# of one fixture for aarch64-unknown-linux-gnu and runs its single-threaded inference under
# qemu-aarch64 with a plugin that counts executed guest instructions, once per kernel table
# (GHOSTC_KERNELS=neon, then portable). Emulated time is no proxy for vector code (TCG runs
# every f32 lane of a NEON instruction through the same softfloat helper as a scalar one), an
# instruction count is a better one, and still only a proxy: real cores retire NEON and scalar
# instructions at different rates.
#
#   examples/bench/aarch64_insns.sh [FIXTURE]     (default ghostnet_050_dynamo)
#
# Installs the rustup target, the cross linker and qemu-user if missing, like .ci/aarch64.
# The counts include the test's startup and its file reads; the `startup` row (a test that
# reads no model) shows how much.
set -euo pipefail
cd "$(dirname "$0")/../.."
fixture=${1:-ghostnet_050_dynamo}
target=aarch64-unknown-linux-gnu

rustup target add "$target" >/dev/null
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    sudo_if_needed=()
    [ "$(id -u)" -eq 0 ] || sudo_if_needed=(sudo)
    "${sudo_if_needed[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -q \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
qemu_major=$(qemu-aarch64 --version | sed -n 's/^qemu-aarch64 version \([0-9]*\).*/\1/p')
if [ "${qemu_major:-0}" -ge 9 ]; then
    echo "qemu $qemu_major: its plugin API (version 2+) dropped the call insns.c uses" >&2
    exit 1
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export GHOSTC_E2E_ONLY=$fixture

out=${CARGO_TARGET_DIR:-target}
plugin=$out/qemu-insns.so
mkdir -p "$out"
gcc -shared -fPIC -O2 -Wall -Werror -o "$plugin" examples/bench/qemu/insns.c
bin=$(cargo test --release --target "$target" -p ghostc-e2e --lib --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ghostc_e2e":
        print(m["executable"])')

count() { # table, test name: prints the guest instructions, then the emulator's seconds
    local t0 n
    t0=$(date +%s.%N)
    n=$(GHOSTC_KERNELS=$1 qemu-aarch64 -L /usr/aarch64-linux-gnu -plugin "$plugin" "$bin" \
        --exact "$2" --test-threads 1 2>&1 >/dev/null | sed -n 's/^guest instructions: //p')
    echo "$n $(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")"
}
test="cases::${fixture}_b1_matches_onnxruntime"
read -r startup startup_s < <(count neon kernels_are_the_vector_table)
read -r neon neon_s < <(count neon "$test")
read -r portable portable_s < <(count portable "$test")
echo "qemu-aarch64 $(qemu-aarch64 --version | head -1 | awk '{print $3}'), $fixture, one inference at one thread"
echo "table     guest instructions   emulated seconds"
printf '%-9s %18s   %s\n' startup "$startup" "$startup_s" neon "$neon" "$neon_s" portable "$portable" "$portable_s"
python3 -c "s, n, p = $startup, $neon, $portable
print(f'portable / neon instructions: {p / n:.2f} (startup taken out of both: {(p - s) / (n - s):.2f})')"
