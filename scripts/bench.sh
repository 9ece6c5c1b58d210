#!/usr/bin/env bash
# scripts/bench.sh - the memory manager against Linux on this machine, side by
# side, in one run: builds kmm-bench natively at -O2 in build/bench and runs it.
# Prints a table (ours, Linux, ratio ours/Linux per metric) and the lines
# <metric>.ours=, <metric>.linux=, <metric>.ratio= (ns).
#
#   scripts/bench.sh            full run (64 and 256 MiB regions, 7 repetitions; seconds)
#   scripts/bench.sh --smoke    tiny sizes, every metric still printed (what scripts/test.sh runs)
#   scripts/bench.sh --reps N --sizes A,B --geometry NAME   passed to kmm-bench
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build/bench
mkdir -p build
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" --buildtype=release -Doptimization=2 -Dbench=true >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; exit 1; }
else
  rm -rf "$dir"
  meson setup "$dir" --buildtype=release -Doptimization=2 -Dbench=true >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" bench/kmm-bench >"$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; exit 1; }

exec "$dir/bench/kmm-bench" "$@"
