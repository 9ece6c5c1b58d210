#!/usr/bin/env python3
"""scripts/qemu-ktap.py - boot a kmm kernel in QEMU and hand its KTAP to meson.

Boots the image (x86_64: a GRUB ISO; riscv64: the kernel ELF through
OpenSBI) with the command line --append (x86_64: QEMU's fw_cfg file
opt/kmm/cmdline, which replaces the ISO's grub.cfg command line; riscv64:
-append), keeps only the kernel's lines from "KTAP version 1" on (what
firmware and the boot loader print before is dropped), and prints them as TAP
for meson 1.0.1: "TAP version 13" first, then the plan, the results and the
"#" diagnostics, unindented. Exits non-zero, with a "not ok" line or a "Bail
out!" meson counts as a failure, on a panic, a timeout, a missing or short
plan, or an exit status other than the arch's success status. Indented
lines (a nested KTAP block: a user program's own checks) become "#"
diagnostics; --expect-line REGEX also requires a console line to match, and
--expect-results N exactly N results in the plan.

  qemu-ktap.py --arch x86_64 --image build/x86_64/kernel/kmm.iso --append "ktest paging=4"
  qemu-ktap.py --arch riscv64 --image kmm.elf --append "ktest paging=sv48"
  qemu-ktap.py --arch riscv64 --image kmm.elf --smp 4 --append "ktest ktest.filter=smp_ smp.expect=4"
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time


def qemu_command(args):
    """The QEMU command line and the exit statuses that mean success."""
    if args.arch == "x86_64":
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", args.memory,
               "-cdrom", args.image, "-boot", "d",
               "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
        if args.append:
            cmd += ["-fw_cfg", "name=opt/kmm/cmdline,string=" + fw_cfg_string(args.append)]
        # isa-debug-exit: the kernel writes 0x10 (success) -> (0x10 << 1) | 1.
        return cmd, {33}
    if args.arch == "riscv64":
        cmd = ["qemu-system-riscv64", "-machine", "virt", "-bios", "default", "-m", args.memory,
               "-kernel", args.image, "-display", "none", "-serial", "stdio", "-monitor", "none",
               "-no-reboot"]
        if args.append:
            cmd += ["-append", args.append]
        # sifive_test: 0x5555 exits QEMU with status 0.
        return cmd, {0}
    if args.arch == "aarch64":
        # --el2: QEMU enters at EL2 (virtualization=on); the kernel drops to EL1.
        # --cpu: e.g. "max,lpa2=off", a CPU without FEAT_LPA2.
        cmd = ["qemu-system-aarch64", "-machine", "virt,virtualization=on" if args.el2 else "virt", "-cpu", args.cpu, "-m", args.memory,
               "-kernel", args.image, "-semihosting", "-display", "none", "-serial", "stdio", "-monitor", "none",
               "-no-reboot"]
        if args.append:
            cmd += ["-append", args.append]
        # Semihosting SYS_EXIT: QEMU exits with the kernel's status.
        return cmd, {0}
    raise SystemExit(f"qemu-ktap: unknown arch {args.arch}")


def fw_cfg_string(text):
    """text as a QEMU option value: a comma is written twice."""
    return text.replace(",", ",,")


def with_smp(args, cmd):
    """--smp N: N CPUs, each a host thread of its own (MTTCG, replacing a plain -accel tcg)."""
    if not args.smp:
        return cmd
    if "-accel" in cmd:
        at = cmd.index("-accel")
        cmd = cmd[:at] + cmd[at + 2:]
    return cmd + ["-smp", str(args.smp), "-accel", "tcg,thread=multi"]


PANIC = re.compile(r"\bPANIC\b|kmm panic")
PLAN = re.compile(r"^1\.\.(\d+)\s*$")
RESULT = re.compile(r"^(not )?ok (\d+)\b")


def run(args):
    cmd, success = qemu_command(args)
    cmd = with_smp(args, cmd)
    if args.gdb:
        cmd += ["-s", "-S"]
    if args.verbose:
        print("# " + " ".join(cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    lines, timed_out = [], False
    try:
        out, _ = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    elapsed = time.monotonic() - start
    text = out.decode("utf-8", errors="replace").replace("\r", "")
    lines = text.split("\n")
    return lines, proc.returncode, timed_out, elapsed, success


def check_panic(args, lines, status, timed_out, elapsed, success):
    """--expect-panic: one TAP result per expectation on the crash report."""
    print("TAP version 13")
    at = next((i for i, l in enumerate(lines) if PANIC.search(l)), None)
    report = lines[at:] if at is not None else []
    checks = [("the kernel panicked", at is not None),
              ("it stopped by itself (no hang)", not timed_out),
              ("QEMU exit status says failure", not timed_out and status not in success and status != 0)]
    for rx in args.expect_panic:
        checks.append((f"report matches /{rx}/", any(re.search(rx, l) for l in report)))
    print(f"1..{len(checks)}")
    for i, (name, ok) in enumerate(checks, 1):
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
    for l in (report or lines[-30:])[:60]:
        print("# " + l)
    print(f"# ran {elapsed:.1f} s, QEMU status {status}")
    return 0 if all(ok for _, ok in checks) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="x86_64")
    ap.add_argument("--image", required=True)
    ap.add_argument("--append", default="")
    ap.add_argument("--memory", default="3G")
    ap.add_argument("--smp", type=int, default=0, help="CPUs (-smp N -accel tcg,thread=multi); 0: QEMU's default")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--expect-paging", default="", help="fail unless the kernel reports this paging mode")
    ap.add_argument("--log", default="", help="write the whole console output here")
    ap.add_argument("--expect-panic", action="append", default=[], metavar="REGEX",
                    help="the run must stop with a panic whose report matches every REGEX (repeatable)")
    ap.add_argument("--expect-line", action="append", default=[], metavar="REGEX",
                    help="fail unless some console line matches REGEX (repeatable)")
    ap.add_argument("--expect-results", type=int, default=None, metavar="N",
                    help="fail unless the plan (and the run) has exactly N results")
    ap.add_argument("--el2", action="store_true", help="aarch64: enter the kernel at EL2 (virtualization=on)")
    ap.add_argument("--cpu", default="max", help="aarch64: QEMU's -cpu (default max; max,lpa2=off has no FEAT_LPA2)")
    ap.add_argument("--gdb", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    lines, status, timed_out, elapsed, success = run(args)
    if args.log:
        with open(args.log, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    if args.expect_panic:
        return check_panic(args, lines, status, timed_out, elapsed, success)

    problems = []
    start = next((i for i, l in enumerate(lines) if l.strip() == "KTAP version 1"), None)
    banner = next((l for l in lines if l.startswith("kmm: ") and " paging " in l), "")
    print("TAP version 13")
    planned, results, failed = None, 0, 0
    if start is None:
        problems.append("no 'KTAP version 1' line on the console")
    else:
        for l in lines[start + 1:]:
            s = l.strip()
            if not s:
                continue
            if l[0] in " \t":
                # A nested KTAP block (a user program's own checks): meson
                # 1.0.1 reads indented lines as unknown, so they become
                # diagnostics; the parent result line carries the verdict.
                print(s if s.startswith("#") else "#   " + s)
                continue
            m = PLAN.match(s)
            if m and planned is None:
                planned = int(m.group(1))
                print(s)
                continue
            m = RESULT.match(s)
            if m:
                results += 1
                failed += bool(m.group(1))
                print(s)
            elif s.startswith("#"):
                print(s)
            else:
                print("# console: " + s)
    if banner:
        print("# " + banner)
    if args.expect_paging and f"paging {args.expect_paging}," not in banner:
        problems.append(f"expected paging {args.expect_paging}, kernel said: {banner or 'nothing'}")
    panics = [l for l in lines if PANIC.search(l)]
    if panics:
        problems.append("kernel panic: " + panics[0].strip())
        for l in lines[lines.index(panics[0]):][:40]:
            print("# " + l)
    for rx in args.expect_line:
        if not any(re.search(rx, l) for l in lines):
            problems.append(f"no console line matches /{rx}/")
    if timed_out:
        problems.append(f"timeout after {args.timeout:.0f} s")
    if start is not None and planned is None:
        problems.append("no KTAP plan")
    elif planned is not None and results != planned:
        problems.append(f"plan says {planned} tests, {results} reported")
    if args.expect_results is not None and planned != args.expect_results:
        problems.append(f"expected a plan of {args.expect_results} tests, the kernel planned {planned}")
    if not timed_out and status not in success:
        problems.append(f"QEMU exit status {status} (success is {sorted(success)})")
    print(f"# booted and ran in {elapsed:.1f} s, QEMU status {status}")
    if start is None:
        for l in lines[-30:]:
            print("# console: " + l)
    if problems:
        for p in problems:
            print("# harness: " + p)
        print("Bail out! " + problems[0])
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
