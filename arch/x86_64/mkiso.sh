#!/bin/sh
# arch/x86_64/mkiso.sh KERNEL.elf OUT.iso "COMMAND LINE"
# Checks the kernel's multiboot2 header and makes a BIOS-bootable GRUB ISO
# whose menu boots the kernel at once with that command line.
set -eu
elf=$1
out=$2
cmdline=${3:-}

if ! grub-file --is-x86-multiboot2 "$elf"; then
    echo "mkiso: $elf has no valid multiboot2 header" >&2
    exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/boot/grub"
cp "$elf" "$dir/boot/kmm.elf"
cat > "$dir/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry "kmm" {
    multiboot2 /boot/kmm.elf $cmdline
    boot
}
CFG
if ! grub-mkrescue -o "$out" "$dir" >"$dir.log" 2>&1; then
    cat "$dir.log" >&2
    rm -f "$dir.log"
    exit 1
fi
rm -f "$dir.log"
