#!/usr/bin/env bash
# scripts/fuzz.sh - a libFuzzer campaign on the model-based tester.
#   scripts/fuzz.sh [x86_64|riscv64|aarch64] [SECONDS] [extra libFuzzer flags...]
# Builds build/fuzz with clang (-fsanitize=fuzzer,address,undefined), then
# fuzzes with the corpus in build/fuzz/corpus-<arch> (kept between runs).
# Crashes land in build/fuzz/artifacts-<arch>/; replay one with
#   KMM_FUZZ_VERBOSE=1 build/fuzz/tests/model/fuzz-model-<arch> <crash file>
# See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-x86_64}
secs=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
case "$arch" in x86_64|riscv64|aarch64) ;; *) echo "fuzz.sh: arch is x86_64, riscv64 or aarch64" >&2; exit 2 ;; esac
if [ ! -f build/fuzz/build.ninja ]; then
  CC=clang meson setup build/fuzz -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzer=enabled >/dev/null
fi
ninja -C build/fuzz "tests/model/fuzz-model-$arch" >/dev/null
mkdir -p "build/fuzz/corpus-$arch" "build/fuzz/artifacts-$arch"
exec "build/fuzz/tests/model/fuzz-model-$arch" -max_total_time="$secs" -max_len=8192 -timeout=30 \
  -artifact_prefix="build/fuzz/artifacts-$arch/" "$@" "build/fuzz/corpus-$arch"
