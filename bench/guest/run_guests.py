#!/usr/bin/env python3
"""bench/guest/run_guests.py - boots our kernel's bench mode and a stock Linux
kernel with the benchmark init under the same QEMU machine (accelerator, CPU
model, memory), and prints the six fault-path metrics side by side: a table
and lines guest.<metric>.ours= / .linux= / .ratio= (ns). Ours are measured by
a user program (tests/user/ubench.c), like Linux's; our kernel also prints
them measured from kernel mode (keys kmode.<metric>), shown in a column and
as guest.<metric>.ours_kmode= lines.

  run_guests.py --kmm-iso ISO --linux-kernel VMLINUZ --initrd INITRD [--accel tcg|kvm]
  run_guests.py --kmm-iso ISO --check     boot our kernel only; fail unless it prints
                                          every metric (a smoke test, never timed)

--accel kvm is used only if /dev/kvm opens and both guests finish under it;
otherwise both run under TCG, and the output says which ran and why."""
import argparse
import os
import re
import subprocess
import sys
import time

METRICS = [  # key, unit, what
    ("clear_page", "ns/page", "page clear as the kernel does it"),
    ("copy_page", "ns/page", "page copy as the kernel does it"),
    ("fault.zero_fill", "ns/fault", "first write to an untouched anonymous page"),
    ("fault.zero_fill.net", "ns/fault", "  the same minus clear_page"),
    ("fault.zero_read", "ns/fault", "first read of one (zero page mapped)"),
    ("fault.cow", "ns/fault", "write to a private page shared with a fork"),
    ("fault.cow.net", "ns/fault", "  the same minus copy_page"),
    ("fork", "ns/page", "fork of resident private memory (slope)"),
    ("protect", "ns/page", "mprotect RW->RO and back, per change (slope)"),
    ("unmap", "ns/page", "munmap of resident memory (slope)"),
]
LINUX_APPEND = "console=ttyS0 quiet panic=-1 mitigations=off init_on_alloc=0 transparent_hugepage=never"
LINE = re.compile(r"kmmbench: (info )?(.*)")
PAIR = re.compile(r"([a-z_.0-9]+)=(\S+)")


def qemu_base(accel):
    return ["qemu-system-x86_64", "-accel", accel, "-cpu", "max", "-m", "1G", "-nographic", "-no-reboot"]


def boot(cmd, timeout):
    """Runs one guest; returns (values, info, error or None, seconds)."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return {}, {}, f"timed out after {timeout} s; last output: {out[-400:]!r}", time.time() - t0
    values, info = {}, {}
    for line in out.splitlines():
        m = LINE.search(line)
        if m:
            for k, v in PAIR.findall(m.group(2)):
                (info if m.group(1) else values)[k] = v
    err = None
    if "error" in values:
        err = "guest reported: " + "; ".join(l.strip() for l in out.splitlines() if "kmmbench: error=" in l)
    elif "kmmbench: done" not in out:
        err = f"no 'kmmbench: done' (exit {p.returncode}); last output: {out[-600:]!r}"
    num = {}
    for k, v in values.items():
        try:
            num[k] = float(v)
        except ValueError:
            pass
    return num, info, err, time.time() - t0


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def merge(runs):
    """One result from several boots: per metric, the median over the boots."""
    values = {k: median([r[0][k] for r in runs if k in r[0]]) for k in runs[0][0]}
    return values, runs[0][1], None, sum(r[3] for r in runs)


def run_pair(args, accel):
    """Boots the two guests alternately (ours, Linux, ours, ...), args.boots
    times each, so that a slow spell of the machine hits both alike."""
    kmm = qemu_base(accel) + ["-cdrom", args.kmm_iso, "-boot", "d",
                              "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    lin = qemu_base(accel) + ["-kernel", args.linux_kernel, "-initrd", args.initrd, "-append", LINUX_APPEND]
    ours, linux = [], []
    # A guest KVM cannot run (emulation failures in nested KVM) may hang:
    # give KVM a short leash before falling back to TCG.
    timeout = min(args.timeout, 180) if accel == "kvm" else args.timeout
    for _ in range(args.boots):
        o = boot(kmm, timeout)
        if o[2]:
            return None, None, "our kernel: " + o[2]
        l = boot(lin, timeout)
        if l[2]:
            return None, None, "linux guest: " + l[2]
        ours.append(o)
        linux.append(l)
    return merge(ours), merge(linux), None


def check(args):
    """Boots our kernel's bench mode once (TCG); 0 if it ran to the end and
    printed every metric with a positive value."""
    cmd = qemu_base("tcg") + ["-cdrom", args.kmm_iso, "-boot", "d", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    values, _, err, sec = boot(cmd, args.timeout)
    bad = [err] if err else []
    for key in [m[0] for m in METRICS] + ["kmode." + m[0] for m in METRICS]:
        v = values.get(key)
        print(f"{key}={v}")
        if v is None or not v > 0:
            bad.append(f"{key} missing or not positive")
    print(f"bench mode: {'; '.join(bad) if bad else 'every metric present and positive'} ({sec:.1f} s)")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kmm-iso", required=True)
    ap.add_argument("--linux-kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--accel", choices=["tcg", "kvm"], default="tcg")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--boots", type=int, default=5, help="boots of each guest, alternating; medians over them")
    args = ap.parse_args()
    if args.check:
        return check(args)
    if not args.linux_kernel or not args.initrd:
        ap.error("--linux-kernel and --initrd are needed (or --check)")

    accel, why = args.accel, ""
    if accel == "kvm":
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR))
        except OSError as e:
            accel, why = "tcg", f"/dev/kvm unusable ({e.strerror})"
    ours, linux, err = run_pair(args, accel)
    if err and accel == "kvm":
        why = "KVM did not run both guests (" + err[:200] + ")"
        accel = "tcg"
        ours, linux, err = run_pair(args, accel)
    if err:
        print("guest bench: " + err, file=sys.stderr)
        return 1

    o, oi, _, osec = ours
    l, li, _, lsec = linux
    print(f"guest bench: qemu-system-x86_64 -accel {accel} -cpu max -m 1G" + (f"  [{why}; TCG ran]" if why else "") +
          f"; {args.boots} boots of each guest, alternating, medians")
    print(f"  ours:  kmm kernel, bench mode, paging {oi.get('paging', '?')}, TSC {oi.get('tsc_mhz', '?')} MHz, "
          f"clear/copy {oi.get('clear_page', '?')}/{oi.get('copy_page', '?')} ({osec:.0f} s in all)")
    print(f"         a refused kernel-mode fault (trap round trip + exception-table fixup) costs "
          f"{oi.get('kmode.refused_fault_ns', '?')} ns here:\n         most of a zero-page read fault under TCG is the trap itself")
    print(f"  linux: {os.path.basename(args.linux_kernel)}, static init, paging {li.get('paging', '?')}, "
          f"TSC {li.get('tsc_mhz', '?')} MHz, clear/copy {li.get('clear_page', '?')}/{li.get('copy_page', '?')} "
          f"({lsec:.0f} s in all)")
    print(f"         append: {LINUX_APPEND}")
    print("  both: user-mode accesses and system calls from a user program (ours: tests/user/ubench.c);\n"
          "  'ours kmode': our kernel measuring the same from kernel mode (no system call, kernel-mode faults)\n")
    print(f"{'metric':<22} {'unit':<9} {'ours':>10} {'ours kmode':>10} {'linux':>10} {'ratio':>7}  what")
    for key, unit, what in METRICS:
        a, k, b = o.get(key), o.get("kmode." + key), l.get(key)
        if a is None or b is None:
            print(f"guest bench: metric {key} missing (ours {a}, linux {b})", file=sys.stderr)
            return 1
        ks = f"{k:>10.1f}" if k is not None else f"{'-':>10}"
        print(f"{key:<22} {unit:<9} {a:>10.1f} {ks} {b:>10.1f} {a / b if b else float('nan'):>7.2f}  {what}")
    print()
    for key, _, _ in METRICS:
        a, b = o[key], l[key]
        print(f"guest.{key}.ours={a:.1f}\nguest.{key}.linux={b:.1f}\nguest.{key}.ratio={a / b if b else float('nan'):.3f}")
        if "kmode." + key in o:
            print(f"guest.{key}.ours_kmode={o['kmode.' + key]:.1f}")
    print(f"guest.accel={accel}")
    return 0


sys.exit(main())
