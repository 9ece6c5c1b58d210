#!/usr/bin/env bash
# scripts/run.sh [ARCH] [--gdb] [--tests] - build the kernel and boot it in
# QEMU on this terminal. It shows the memory map it was given, a page-table
# dump of the kernel address space, frame statistics and a guided walk
# through the paging API, then powers off.
#   ARCH      x86_64 (default) or riscv64
#   --gdb     QEMU waits for a debugger on localhost:1234 before the first instruction
#   --tests   boot the boot-test suite instead of the walk-through
# Installs what it needs (scripts/deps.sh, as root) and builds in build/ARCH.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=x86_64
gdb=0
tests=0
for a in "$@"; do
  case "$a" in
    x86_64|riscv64) arch=$a ;;
    --gdb) gdb=1 ;;
    --tests) tests=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done

bash scripts/deps.sh "$arch"
dir=build/$arch
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --cross-file "cross-files/$arch-gcc.txt" >/dev/null
fi
ninja -C "$dir" -j2 >/dev/null || { ninja -C "$dir" -j1; exit 1; }

limit=120
qemu_gdb=()
if [ "$gdb" -eq 1 ]; then
  limit=3600
  qemu_gdb=(-s -S)
  echo "run.sh: QEMU waits for a debugger on localhost:1234, e.g." >&2
  echo "  gdb $dir/kernel/kmm.elf -ex 'target remote :1234' -ex 'hbreak kmain' -ex continue" >&2
fi

case "$arch" in
  x86_64)
    iso=$dir/kernel/kmm.iso
    [ "$tests" -eq 1 ] && iso=$dir/kernel/kmm-test-5level.iso
    # isa-debug-exit: the kernel's power-off writes 0x10 -> QEMU exits with 33.
    set +e
    timeout --foreground "$limit" qemu-system-x86_64 -accel tcg -cpu max -m 3G -cdrom "$iso" -boot d \
      -display none -serial mon:stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 "${qemu_gdb[@]}"
    status=$?
    set -e
    ok=33
    ;;
  riscv64)
    append=""
    [ "$tests" -eq 1 ] && append="ktest"
    set +e
    timeout --foreground "$limit" qemu-system-riscv64 -machine virt -bios default -m 1G \
      -kernel "$dir/kernel/kmm.elf" -append "$append" -display none -serial mon:stdio -no-reboot "${qemu_gdb[@]}"
    status=$?
    set -e
    ok=0
    ;;
esac

if [ "$status" -eq "$ok" ]; then
  echo "run.sh: the kernel powered off normally"
  exit 0
fi
[ "$status" -eq 124 ] && echo "run.sh: QEMU stopped after ${limit} s" >&2
echo "run.sh: QEMU exited with status $status (the kernel reported a failure or stopped)" >&2
exit 1
