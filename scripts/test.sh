#!/usr/bin/env bash
# scripts/test.sh - the one test command. Installs what it needs (as root) or
# names what is missing, configures every build dir, runs every suite, and
# ends with one line `N passed, N failed` totalling all of them.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh all || exit 1

extra_failed=0
tested=()

# setup_dir DIR [meson setup args...]: configure DIR once, reconfigure after.
setup_dir() {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  else
    rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
}

# run_suite DIR [setup args]: build and test; a failed setup or build is one failure.
run_suite() {
  local dir=$1; shift
  echo "=== $dir"
  if ! setup_dir "$dir" "$@"; then
    echo "test.sh: meson setup failed for $dir"; extra_failed=$((extra_failed + 1)); return
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    tail -50 "$dir.build.log"; echo "test.sh: build failed in $dir"; extra_failed=$((extra_failed + 1)); return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs --num-processes 2 || true
  tested+=("$dir")
}

# build_only DIR [setup args]: must build warning-free; counts as one test.
build_only() {
  local dir=$1; shift
  echo "=== $dir (build only)"
  if setup_dir "$dir" "$@" && ninja -C "$dir" >"$dir.build.log" 2>&1 && ! grep -q 'warning:' "$dir.build.log"; then
    echo "ok: $dir builds warning-free"; build_ok=$((build_ok + 1))
  else
    tail -50 "$dir.build.log" 2>/dev/null; echo "not ok: $dir build"; extra_failed=$((extra_failed + 1))
  fi
}
build_ok=0

mkdir -p build
run_suite build/host
run_suite build/x86_64 --cross-file cross-files/x86_64-gcc.txt
build_only build/x86_64-clang --cross-file cross-files/x86_64-clang.txt
run_suite build/riscv64 --cross-file cross-files/riscv64-gcc.txt
build_only build/riscv64-clang --cross-file cross-files/riscv64-clang.txt

python3 scripts/summarize.py "$extra_failed" "${tested[@]}" > build/summary.txt
status=$?
total_line=$(tail -1 build/summary.txt)
p=${total_line%% passed*}; rest=${total_line#* passed, }; f=${rest%% failed*}
head -n -1 build/summary.txt
[ "$build_ok" -gt 0 ] && echo "summary: $build_ok build-only checks passed"
echo "$((p + build_ok)) passed, $f failed"
[ "$status" -eq 0 ] && [ "$f" -eq 0 ]
