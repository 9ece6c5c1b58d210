#!/usr/bin/env bash
# scripts/bench.sh - the memory manager against Linux on this machine, side by
# side, in one run.
#
# Host (always, unless --guest-only): builds kmm-bench natively at -O2 in
# build/bench and runs it: the generic layer on the host platform against the
# host kernel's system calls. Prints a table (min / median / max of ours and of
# Linux, ratio ours/Linux of the medians, spread per metric) and lines
# <metric>.ours=, <metric>.linux=, <metric>.ratio= (ns), <metric>.ours.min=,
# .ours.max=, .linux.min=, .linux.max=, .reps=, .steady= (repetitions double
# from 9 up to 64 while a median's spread is above 10%; see README); then
# the frame allocator alone with 1, 2 and 4 threads as CPUs allocating and
# freeing at once (pmm.alloc_free.threadsN.ours= wall ns per pair per thread,
# .ours_cpu= CPU ns per pair; host.cores= says how many cores ran them).
#
# Guest (--guest, minutes): boots the x86_64 kernel's bench mode
# (build/x86_64, kmm-bench.iso) and Debian's stock Linux kernel with a static
# benchmark init under the same QEMU (-accel tcg -cpu max -m 1G), and prints
# the fault paths, fork, protect and unmap side by side, whole and net of the
# page clear/copy each kernel measures: lines guest.<metric>.ours= ... and
# guest.<metric>.ours.min= ... (min / median / max over the boots); then
# both again on four CPUs (-smp 4, TCG with a host thread per CPU) for the
# TLB shootdown of a one-page munmap and zero-fill fault throughput with 1, 2
# and 4 CPUs (guest.shootdown.* and guest.faults.*; --no-smp leaves that out).
#
#   scripts/bench.sh                   host, full (64 and 256 MiB regions, 9 to 64 repetitions; seconds)
#   scripts/bench.sh --smoke           host, tiny sizes, every metric still printed (scripts/test.sh)
#   scripts/bench.sh --guest           host, then the two guests
#   scripts/bench.sh --guest-only      the two guests only
#   scripts/bench.sh --guest --kvm     guests under KVM if it really runs both, else TCG (said in the output)
#   scripts/bench.sh --guest --no-smp  the guests on one CPU only
#   --reps N --sizes A,B --geometry NAME   passed to kmm-bench
set -euo pipefail
cd "$(dirname "$0")/.."

host=1 guest=0 accel=tcg
args=() guest_args=()
for a in "$@"; do
  case "$a" in
    --guest) guest=1 ;;
    --guest-only) guest=1 host=0 ;;
    --kvm) accel=kvm ;;
    --no-smp) guest_args+=(--no-smp) ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

# configure DIR [meson setup args]: set up once, reconfigure afterwards.
configure() {
  local dir=$1; shift
  mkdir -p build
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
  else
    rm -rf "$dir"
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
  fi
}

if [ "$host" -eq 1 ]; then
  configure build/bench --buildtype=release -Doptimization=2 -Dbench=true
  ninja -C build/bench bench/kmm-bench >build/bench.build.log 2>&1 || { tail -40 build/bench.build.log; exit 1; }
  build/bench/bench/kmm-bench "${args[@]}"
fi
[ "$guest" -eq 1 ] || exit 0

# ---- guests
vmlinuz=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$vmlinuz" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench.sh: installing Debian's linux-image-amd64 for the Linux guest" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-image-amd64 >&2
    vmlinuz=$(ls /boot/vmlinuz-* | sort -V | tail -1)
  else
    echo "bench.sh: no /boot/vmlinuz-*: run as root, or: sudo apt-get install linux-image-amd64" >&2
    exit 1
  fi
fi
gdir=build/bench-guest
mkdir -p "$gdir"
gcc -static -O2 -Wall -Wextra -o "$gdir/init" bench/guest/linux_init.c
python3 bench/guest/mkcpio.py "$gdir/initrd.gz" "$gdir/init"
configure build/x86_64 --cross-file cross-files/x86_64-gcc.txt
# Link-time optimisation, as the cross file says (a build dir set up before it
# said so keeps b_lto=false through --reconfigure).
meson configure build/x86_64 -Db_lto=true >/dev/null
ninja -C build/x86_64 -j2 kernel/kmm-bench.iso >build/x86_64.bench.log 2>&1 || { tail -40 build/x86_64.bench.log; exit 1; }
echo
python3 bench/guest/run_guests.py --kmm-iso build/x86_64/kernel/kmm-bench.iso --linux-kernel "$vmlinuz" \
  --initrd "$gdir/initrd.gz" --accel "$accel" "${guest_args[@]}"
