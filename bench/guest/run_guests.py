#!/usr/bin/env python3
"""bench/guest/run_guests.py - boots our kernel's bench mode and a stock Linux
kernel with the benchmark init under the same QEMU machine (accelerator, CPU
model, memory), and prints the six fault-path metrics side by side: a table
and lines guest.<metric>.ours= / .linux= / .ratio= (ns; medians over the
boots, the ratio median/median) with guest.<metric>.ours.min= / .ours.max= /
.linux.min= / .linux.max= (the range over the boots). Ours are measured by
a user program (tests/user/ubench.c), like Linux's; our kernel also prints
them measured from kernel mode (keys kmode.<metric>), shown in a column and
as guest.<metric>.ours_kmode= lines.

  run_guests.py --kmm-iso ISO --linux-kernel VMLINUZ --initrd INITRD [--accel tcg|kvm] [--no-smp]
  run_guests.py --kmm-iso ISO --check     boot our kernel only (both runs); fail unless it
                                          prints every metric (a smoke test, never timed)
  run_guests.py --kmm-aarch64-elf ELF --check --no-smp
                                          the same for the aarch64 kernel (QEMU virt,
                                          -cpu max, semihosting); --check only

Then, unless --no-smp, a second pair of runs on four CPUs (-smp 4, TCG with a
host thread per CPU; command line `bench bench.smp` for ours, `kmmbench.smp`
for Linux) measures the SMP figures: a one-page munmap while the process's
other threads spin on 0, 1 or 3 other CPUs (the TLB shootdown), and zero-fill
fault throughput of 1, 2 and 4 processes and of 1, 2 and 4 threads of one
process, each worker on a CPU of its own. The single-CPU figures stay on a
single-CPU machine as before, so they remain comparable with earlier runs.

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
SMP_COUNTS = (1, 2, 4)
SMP_METRICS = (  # key, unit, what: measured on a 4-CPU machine (-smp 4)
    [(f"shootdown.munmap_1page.cpus{n}", "ns/call", f"munmap of 1 resident page, process on {n} CPU{'s' if n > 1 else ''}")
     for n in SMP_COUNTS] +
    [(f"faults.zero_fill.procs{n}", "faults/s", f"zero-fill faults/s of {n} process{'es' if n > 1 else ''}, 1 per CPU")
     for n in SMP_COUNTS] +
    [(f"faults.zero_fill.threads{n}", "faults/s", f"the same, {n} thread{'s' if n > 1 else ''} of 1 process")
     for n in SMP_COUNTS])
KMODE_SMP = [f"kmode.pmm.alloc_free.cpus{n}" for n in SMP_COUNTS]  # ours only: frame allocator, ns per pair
SMP_QEMU = ["-smp", "4", "-accel", "tcg,thread=multi"]
LINUX_APPEND = "console=ttyS0 quiet panic=-1 mitigations=off init_on_alloc=0 transparent_hugepage=never"
LINE = re.compile(r"kmmbench: (info )?(.*)")
PAIR = re.compile(r"([a-z_.0-9]+)=(\S+)")


def qemu_base(accel, smp=False):
    """The machine both guests run on; smp: four CPUs, a host thread each
    (KVM keeps its own accelerator)."""
    cmd = ["qemu-system-x86_64", "-accel", accel, "-cpu", "max", "-m", "1G", "-nographic", "-no-reboot"]
    if smp:
        cmd += ["-smp", "4"] + (["-accel", "tcg,thread=multi"] if accel == "tcg" else [])
        if accel == "tcg":
            del cmd[1:3]
    return cmd


def kmm_cmd(iso, accel, smp=False):
    cmd = qemu_base(accel, smp) + ["-cdrom", iso, "-boot", "d", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if smp:  # the ISO's grub.cfg says `bench`; QEMU's fw_cfg command line replaces it
        cmd += ["-fw_cfg", "name=opt/kmm/cmdline,string=bench bench.smp"]
    return cmd


def kmm_aarch64_cmd(elf):
    """Our aarch64 kernel's bench mode on QEMU virt (one CPU)."""
    return ["qemu-system-aarch64", "-machine", "virt", "-cpu", "max", "-m", "1G", "-nographic", "-no-reboot",
            "-semihosting", "-kernel", elf, "-append", "bench"]


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
    """One result from several boots: per metric, the median over the boots,
    and (the fifth element) per metric the (min, max) over the boots."""
    values, ranges = {}, {}
    for k in runs[0][0]:
        v = [r[0][k] for r in runs if k in r[0]]
        values[k], ranges[k] = median(v), (min(v), max(v))
    return values, runs[0][1], None, sum(r[3] for r in runs), ranges


def range_lines(key, o, orng, l, lrng):
    """The guest.<key>.ours.min= / .ours.max= / .linux.min= / .linux.max= lines."""
    omin, omax = orng.get(key, (o[key], o[key]))
    lmin, lmax = lrng.get(key, (l[key], l[key]))
    return (f"guest.{key}.ours.min={omin:.1f}\nguest.{key}.ours.max={omax:.1f}\n"
            f"guest.{key}.linux.min={lmin:.1f}\nguest.{key}.linux.max={lmax:.1f}")


def span(rng, key, v, w):
    """min / median / max of one side as three columns of width w."""
    lo, hi = rng.get(key, (v, v))
    return f"{lo:>{w}.1f} {v:>{w}.1f} {hi:>{w}.1f}"


def run_pair(args, accel, smp=False):
    """Boots the two guests alternately (ours, Linux, ours, ...), args.boots
    times each, so that a slow spell of the machine hits both alike."""
    kmm = kmm_cmd(args.kmm_iso, accel, smp)
    lin = qemu_base(accel, smp) + ["-kernel", args.linux_kernel, "-initrd", args.initrd,
                                   "-append", LINUX_APPEND + (" kmmbench.smp" if smp else "")]
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
    """Boots our kernel's bench mode once on one CPU and, unless --no-smp,
    once on four (TCG); 0 if each ran to the end and printed every metric
    with a positive value."""
    runs = [(False, [m[0] for m in METRICS] + ["kmode." + m[0] for m in METRICS])]
    if not args.no_smp:
        runs.append((True, [m[0] for m in SMP_METRICS] + KMODE_SMP))
    bad = []
    for smp, keys in runs:
        cmd = kmm_aarch64_cmd(args.kmm_aarch64_elf) if args.kmm_aarch64_elf else kmm_cmd(args.kmm_iso, "tcg", smp)
        values, _, err, sec = boot(cmd, args.timeout)
        what = "bench mode" + (" on 4 CPUs (bench.smp)" if smp else "")
        mine = [f"{what}: {err}"] if err else []
        for key in keys:
            v = values.get(key)
            print(f"{key}={v}")
            if v is None or not v > 0:
                mine.append(f"{key} missing or not positive")
        print(f"{what}: {'; '.join(mine) if mine else 'every metric present and positive'} ({sec:.1f} s)")
        bad += mine
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kmm-iso")
    ap.add_argument("--kmm-aarch64-elf", help="check the aarch64 kernel's bench mode instead (with --check --no-smp)")
    ap.add_argument("--linux-kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--accel", choices=["tcg", "kvm"], default="tcg")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--boots", type=int, default=5, help="boots of each guest, alternating; medians over them")
    ap.add_argument("--smp-boots", type=int, default=3, help="boots of each guest on 4 CPUs")
    ap.add_argument("--no-smp", action="store_true", help="leave out the runs on 4 CPUs")
    args = ap.parse_args()
    if args.kmm_aarch64_elf and not (args.check and args.no_smp):
        ap.error("--kmm-aarch64-elf goes with --check --no-smp (one CPU, no Linux guest)")
    if not args.kmm_aarch64_elf and not args.kmm_iso:
        ap.error("--kmm-iso is needed")
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
    smp_ours = smp_linux = None
    if not args.no_smp:
        boots, args.boots = args.boots, args.smp_boots
        smp_ours, smp_linux, err = run_pair(args, accel, smp=True)
        args.boots = boots
        if err:
            print("guest bench (4 CPUs): " + err, file=sys.stderr)
            return 1

    o, oi, _, osec, orng = ours
    l, li, _, lsec, lrng = linux
    print(f"guest bench: qemu-system-x86_64 -accel {accel} -cpu max -m 1G" + (f"  [{why}; TCG ran]" if why else "") +
          f"; {args.boots} boots of each guest, alternating, min / median / max over the boots")
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
    print(f"{'metric':<22} {'unit':<9} {'ours.min':>9} {'ours':>9} {'ours.max':>9} {'ours kmode':>10} "
          f"{'linux.min':>9} {'linux':>9} {'linux.max':>9} {'ratio':>7}  what")
    for key, unit, what in METRICS:
        a, k, b = o.get(key), o.get("kmode." + key), l.get(key)
        if a is None or b is None:
            print(f"guest bench: metric {key} missing (ours {a}, linux {b})", file=sys.stderr)
            return 1
        ks = f"{k:>10.1f}" if k is not None else f"{'-':>10}"
        print(f"{key:<22} {unit:<9} {span(orng, key, a, 9)} {ks} {span(lrng, key, b, 9)} "
              f"{a / b if b else float('nan'):>7.2f}  {what}")
    print()
    for key, _, _ in METRICS:
        a, b = o[key], l[key]
        print(f"guest.{key}.ours={a:.1f}\nguest.{key}.linux={b:.1f}\nguest.{key}.ratio={a / b if b else float('nan'):.3f}")
        print(range_lines(key, o, orng, l, lrng))
        if "kmode." + key in o:
            print(f"guest.{key}.ours_kmode={o['kmode.' + key]:.1f}")
    if smp_ours:
        print_smp(args, accel, smp_ours, smp_linux)
    print(f"guest.accel={accel}")
    return 0


def print_smp(args, accel, ours, linux):
    o, oi, _, osec, orng = ours
    l, li, _, lsec, lrng = linux
    cores = os.cpu_count()
    print(f"\nguest bench on 4 CPUs: qemu-system-x86_64 -accel {accel}{',thread=multi' if accel == 'tcg' else ''} "
          f"-smp 4 -cpu max -m 1G; {args.smp_boots} boots of each guest, alternating, min / median / max "
          f"({osec:.0f} s ours, {lsec:.0f} s linux)")
    print(f"  this host has {cores} core{'s' if cores != 1 else ''}: " +
          ("4 virtual CPUs oversubscribe it, so figures for 4 CPUs (and 2, when other work runs) measure\n"
           "  sharing of host cores as well as the kernels" if cores < 4 else "one per virtual CPU"))
    print("  every worker pinned to a CPU of its own (ours: checked with getcpu; linux: sched_setaffinity,\n"
          "  checked with sched_getcpu); ratio ours/linux: below 1 is better for ns, above 1 for faults/s\n")
    print(f"{'metric':<34} {'unit':<9} {'ours.min':>11} {'ours':>11} {'ours.max':>11} "
          f"{'linux.min':>11} {'linux':>11} {'linux.max':>11} {'ratio':>7}  what")
    for key, unit, what in SMP_METRICS:
        a, b = o.get(key), l.get(key)
        if a is None or b is None:
            print(f"guest bench: metric {key} missing (ours {a}, linux {b})", file=sys.stderr)
            return
        print(f"{key:<34} {unit:<9} {span(orng, key, a, 11)} {span(lrng, key, b, 11)} "
              f"{a / b if b else float('nan'):>7.2f}  {what}")
    for key in KMODE_SMP:
        if key in o:
            print(f"{key:<34} {'ns/pair':<9} {span(orng, key, o[key], 11)} {'-':>11} {'-':>11} {'-':>11} {'-':>7}  "
                  f"ours only: kernel-mode pmm_alloc/pmm_free bursts on {key[-1]} CPU(s) at once")
    print()
    for key, _, _ in SMP_METRICS:
        a, b = o[key], l[key]
        print(f"guest.{key}.ours={a:.1f}\nguest.{key}.linux={b:.1f}\nguest.{key}.ratio={a / b if b else float('nan'):.3f}")
        print(range_lines(key, o, orng, l, lrng))
    for key in KMODE_SMP:
        if key in o:
            print(f"guest.{key[len('kmode.'):]}.ours_kmode={o[key]:.1f}")


sys.exit(main())
