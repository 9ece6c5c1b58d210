#!/usr/bin/env bash
# scripts/deps.sh - make sure the Debian 12 packages this project needs are
# installed. As root it installs what is missing (apt-get, Debian's archive
# only); otherwise it names exactly what is missing and fails.
# Usage: scripts/deps.sh [host|x86_64|riscv64|aarch64|all]...
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(all)

pkgs=(meson ninja-build gcc pkg-config python3 libcriterion-dev doxygen)
for w in "${want[@]}"; do
  case "$w" in
    host) ;;
    x86_64) pkgs+=(clang lld qemu-system-x86 grub-pc-bin grub-common xorriso mtools) ;;
    riscv64) pkgs+=(clang lld llvm gcc-riscv64-unknown-elf qemu-system-misc qemu-system-data device-tree-compiler) ;;
    aarch64) pkgs+=(clang lld llvm gcc-aarch64-linux-gnu qemu-system-arm) ;;
    all) pkgs+=(clang lld llvm libclang-rt-14-dev qemu-system-x86 grub-pc-bin grub-common xorriso mtools
               gcc-riscv64-unknown-elf qemu-system-misc qemu-system-data device-tree-compiler
               gcc-aarch64-linux-gnu qemu-system-arm) ;;
    *) echo "deps.sh: unknown target '$w' (host, x86_64, riscv64, aarch64, all)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
