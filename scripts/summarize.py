#!/usr/bin/env python3
"""Totals every test case of every meson build dir given, from meson's
testlog.json: TAP tests count each top-level `ok` / `not ok` line (a
`# SKIP` directive counts as skipped), other tests count once. A TAP test
that failed without a `not ok` line (crash, timeout, bad plan) adds one
failure. Prints per build dir and ends with `N passed, N failed`."""
import json
import re
import sys

OK = re.compile(r"^(not )?ok\b(.*)$")


def count(logfile):
    passed = failed = skipped = 0
    try:
        lines = open(logfile, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return None
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        result = t.get("result", "")
        out = t.get("stdout", t.get("stdo", "")) or ""
        if t.get("protocol") == "tap" or re.search(r"^TAP version", out, re.M):
            p = f = s = 0
            for l in out.splitlines():
                m = OK.match(l)
                if not m:
                    continue
                if re.search(r"#\s*SKIP", m.group(2), re.I):
                    s += 1
                elif m.group(1):
                    f += 1
                else:
                    p += 1
            if result not in ("OK", "SKIP", "EXPECTEDFAIL") and f == 0:
                f += 1
            passed, failed, skipped = passed + p, failed + f, skipped + s
        elif result == "SKIP":
            skipped += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def main():
    tp = tf = ts = 0
    extra_failed = int(sys.argv[1])
    for d in sys.argv[2:]:
        r = count(f"{d}/meson-logs/testlog.json")
        if r is None:
            print(f"summary: {d}: no test log (build or setup failed)")
            tf += 1
            continue
        p, f, s = r
        print(f"summary: {d}: {p} passed, {f} failed, {s} skipped")
        tp, tf, ts = tp + p, tf + f, ts + s
    tf += extra_failed
    print(f"{tp} passed, {tf} failed" + (f", {ts} skipped" if ts else ""))
    return 1 if tf else 0


if __name__ == "__main__":
    sys.exit(main())
