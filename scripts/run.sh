#!/usr/bin/env bash
# scripts/run.sh [ARCH] [--gdb] [--tests|--user] [--programs A,B] [--append "ARGS"] [--memory SIZE] [--cpus N]
# Builds the kernel and boots it in QEMU on this terminal. It shows the memory
# map it was given, a page-table dump of the kernel address space, frame
# statistics and a guided walk through the paging API, then powers off.
#   ARCH            x86_64 (default), riscv64 or aarch64
#   --gdb           QEMU waits for a debugger on localhost:1234 before the first instruction
#   --tests         boot the boot-test suite instead of the walk-through
#   --user          run the user programs (tests/user) as processes, on 128 MiB
#   --programs A,B  run only these user programs (names in tests/user/meson.build), one boot each
#   --append ARGS   add ARGS to the kernel command line, after the mode's own (a key the mode
#                   sets keeps the mode's value): e.g. "paging=4", "ktest ktest.filter=^tlb"
#   --memory SIZE   guest RAM, QEMU's -m (512M, 2G); default 3G (x86_64), 1G (riscv64), 512M (aarch64), 128M (--user)
#   --cpus N        N CPUs (QEMU's -smp N, 1 to 8, multi-threaded TCG above 1); default 1. The
#                   scheduler runs user processes and threads on every one of them
# The command line reaches x86_64 through QEMU's fw_cfg (file opt/kmm/cmdline),
# riscv64 and aarch64 through -append (aarch64: QEMU virt -cpu max, exit
# status through semihosting). Installs what it needs (scripts/deps.sh, as root)
# and builds in build/ARCH.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

arch=x86_64
gdb=0
mode=demo
programs=""
append=""
mem=""
cpus=1
while [ $# -gt 0 ]; do
  case "$1" in
    x86_64|riscv64|aarch64) arch=$1 ;;
    --gdb) gdb=1 ;;
    --tests) mode=tests ;;
    --user) mode=user ;;
    --programs|--append|--memory|--cpus)
      [ $# -ge 2 ] || { echo "run.sh: $1 needs a value (try --help)" >&2; exit 2; }
      case "$1" in
        --programs) programs=$2; mode=user ;;
        --append) append=$2 ;;
        --memory) mem=$2 ;;
        --cpus) cpus=$2 ;;
      esac
      shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$mem" ] && ! [[ "$mem" =~ ^[0-9]+[MG]?$ ]]; then
  echo "run.sh: --memory takes a size such as 512M or 2G, not '$mem'" >&2
  exit 2
fi

if ! [[ "$cpus" =~ ^[1-8]$ ]]; then
  echo "run.sh: --cpus takes a CPU count from 1 to 8, not '$cpus'" >&2
  exit 2
fi
# Several CPUs: one host thread per CPU (QEMU's multi-threaded TCG).
qemu_smp=(-smp "$cpus")
accel=tcg
[ "$cpus" -gt 1 ] && accel=tcg,thread=multi

bash scripts/deps.sh "$arch"
dir=build/$arch
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --cross-file "cross-files/$arch-gcc.txt" >/dev/null
fi
ninja -C "$dir" -j2 >/dev/null || { ninja -C "$dir" -j1; exit 1; }

# The command line of each boot.
cmdlines=()
case "$mode" in
  demo) cmdlines=("") ;;
  tests) cmdlines=("ktest ktest.exclude=userprog_") ;;
  user)
    if [ -z "$programs" ]; then
      cmdlines=("ktest ktest.filter=^userprog_")
    else
      map=$dir/tests/user/user_program_tests.txt # "NAME KTEST" per program with a boot test
      IFS=, read -r -a names <<<"$programs"
      for name in "${names[@]}"; do
        test=$(awk -v n="$name" '$1 == n { print $2 }' "$map")
        if [ -z "$test" ]; then
          echo "run.sh: no user program '$name' with a boot test; there are: $(cut -d' ' -f1 "$map" | tr '\n' ' ')" >&2
          exit 2
        fi
        cmdlines+=("ktest ktest.filter=^$test")
      done
    fi
    ;;
esac
if [ -z "$mem" ]; then
  # aarch64: 512M keeps the direct map in 2 MiB leaves; from 1 GiB on, a 1 GiB leaf
  # holds the page tables, which the boot test that splits it cannot break
  # before make (docs/porting.md)
  case "$arch" in x86_64) mem=3G ;; riscv64) mem=1G ;; aarch64) mem=512M ;; esac
  [ "$mode" = user ] && mem=128M
fi

limit=120
qemu_gdb=()
if [ "$gdb" -eq 1 ]; then
  limit=3600
  qemu_gdb=(-s -S)
  echo "run.sh: QEMU waits for a debugger on localhost:1234, e.g." >&2
  echo "  gdb $dir/kernel/kmm.elf -ex 'target remote :1234' -ex 'hbreak kmain' -ex continue" >&2
fi

# boot CMDLINE: one QEMU run; returns 0 if the kernel powered off normally.
boot() {
  local cmdline=$1 status ok
  set +e
  case "$arch" in
    x86_64)
      local fw_cfg=()
      # A comma in a QEMU option value is written twice.
      [ -n "$cmdline" ] && fw_cfg=(-fw_cfg "name=opt/kmm/cmdline,string=${cmdline//,/,,}")
      # isa-debug-exit: the kernel's power-off writes 0x10 -> QEMU exits with 33.
      timeout --foreground "$limit" qemu-system-x86_64 -accel "$accel" -cpu max -m "$mem" "${qemu_smp[@]}" \
        -cdrom "$dir/kernel/kmm.iso" \
        -boot d "${fw_cfg[@]}" -display none -serial mon:stdio -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 "${qemu_gdb[@]}"
      status=$?
      ok=33
      ;;
    riscv64)
      timeout --foreground "$limit" qemu-system-riscv64 -machine virt -accel "$accel" -bios default -m "$mem" "${qemu_smp[@]}" \
        -kernel "$dir/kernel/kmm.elf" -append "$cmdline" -display none -serial mon:stdio -no-reboot \
        "${qemu_gdb[@]}"
      status=$?
      ok=0
      ;;
    aarch64)
      # Semihosting SYS_EXIT: QEMU exits with the kernel's status (0: success).
      timeout --foreground "$limit" qemu-system-aarch64 -machine virt -cpu max -accel "$accel" -m "$mem" "${qemu_smp[@]}" \
        -kernel "$dir/kernel/kmm.elf" -append "$cmdline" -semihosting -display none -serial mon:stdio -no-reboot \
        "${qemu_gdb[@]}"
      status=$?
      ok=0
      ;;
  esac
  set -e
  if [ "$status" -eq "$ok" ]; then
    echo "run.sh: the kernel powered off normally"
    return 0
  fi
  [ "$status" -eq 124 ] && echo "run.sh: QEMU stopped after ${limit} s" >&2
  echo "run.sh: QEMU exited with status $status (the kernel reported a failure or stopped)" >&2
  return 1
}

failed=0
for cmdline in "${cmdlines[@]}"; do
  cmdline="$cmdline${append:+${cmdline:+ }$append}"
  echo "run.sh: $arch, $mem, $cpus CPU(s), command line '$cmdline'" >&2
  boot "$cmdline" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || { [ "${#cmdlines[@]}" -gt 1 ] && echo "run.sh: $failed of ${#cmdlines[@]} boots failed" >&2; exit 1; }
