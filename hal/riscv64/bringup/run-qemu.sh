#!/bin/sh
# run-qemu.sh QEMU KERNEL APPEND - boot the bring-up kernel on QEMU virt and
# hand meson its KTAP as TAP: drop what OpenSBI prints before "KTAP version 1",
# put "TAP version 13" first, and fail (exit 1) unless QEMU exits 0 through
# sifive_test. Prints everything to stderr too for the log.
qemu=$1 kernel=$2 append=$3
out=$(mktemp)
timeout 50 "$qemu" -machine virt -bios default -m 256M -nographic -no-reboot \
  -kernel "$kernel" -append "$append" >"$out" 2>&1
status=$?
cat "$out" >&2
echo "TAP version 13"
sed -n '/^KTAP version 1/,$p' "$out" | sed '1d'
rm -f "$out"
if [ "$status" -ne 0 ]; then
  echo "Bail out! QEMU exited with status $status"
  exit 1
fi
