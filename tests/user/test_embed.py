#!/usr/bin/env python3
"""tests/user/test_embed.py - embed.py turns tests/user/meson.build's list
into the embedded-program table, one boot test per tested program and the
name map for scripts/run.sh, and refuses a list it cannot turn into them.
Prints TAP.

  test_embed.py EMBED.py
"""
import os
import subprocess
import sys
import tempfile


def run_embed(embed, tmp, args):
    outs = [os.path.join(tmp, n) for n in ("p.S", "p.c", "p.txt")]
    r = subprocess.run([sys.executable, embed] + outs + args, capture_output=True, text=True)
    texts = []
    for o in outs:
        texts.append(open(o, encoding="utf-8").read() if r.returncode == 0 and os.path.exists(o) else "")
    return r, texts


def main():
    embed = sys.argv[1]
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        elfs = []
        for name in ("alpha", "beta", "gamma"):
            path = os.path.join(tmp, name + ".elf")
            with open(path, "wb") as f:
                f.write(b"\x7fELF" + name.encode())
            elfs.append(path)
        tests = ["--test", "alpha=alpha_does_a", "--test", "beta=", "--test", "gamma=gamma_does_c"]

        r, (asm, c, txt) = run_embed(embed, tmp, tests + elfs)
        checks.append(("a good list is accepted", r.returncode == 0))
        ktests = [l for l in c.splitlines() if l.startswith("KTEST(")]
        checks.append(("one boot test per program with a test name, in list order, running it with run_program",
                       ktests == ['KTEST(userprog_alpha_does_a) { run_program(t, "alpha"); }',
                                  'KTEST(userprog_gamma_does_c) { run_program(t, "gamma"); }']))
        checks.append(("the boot tests include run_program's header",
                       '#include "tests/boot/user_program.h"' in c.splitlines()))
        checks.append(("the map names each tested program's boot test",
                       txt == "alpha userprog_alpha_does_a\ngamma userprog_gamma_does_c\n"))
        names = [l.split('"')[1] for l in asm.splitlines() if ".asciz" in l]
        incbins = [l.split('"')[1] for l in asm.splitlines() if ".incbin" in l]
        checks.append(("every program, tested or not, is embedded under its name",
                       names == ["alpha", "beta", "gamma"] and incbins == [os.path.abspath(p) for p in elfs]))
        checks.append(("the table has one entry per program and a NULL end",
                       asm.count("    .8byte user_prog_") == 3 and "    .8byte 0, 0, 0" in asm))

        for what, args, message in [
            ("a program without --test", tests[:4] + elfs, "gamma has no --test entry"),
            ("a --test for no program", tests + ["--test", "delta=d"] + elfs, "--test delta=... names no program"),
            ("two programs with one test name", ["--test", "alpha=same", "--test", "beta=", "--test", "gamma=same"] + elfs,
             "programs alpha and gamma both have the test name same"),
            ("a test name that is not a C identifier", ["--test", "alpha=a-b"] + tests[2:] + elfs,
             "test name 'a-b' of program alpha is not a C identifier"),
            ("a program listed twice", tests + ["--test", "beta="] + elfs, "program beta listed twice"),
        ]:
            r, _ = run_embed(embed, tmp, args)
            checks.append((f"{what} stops the build with a message", r.returncode != 0 and message in r.stderr))

    print("TAP version 13")
    print(f"1..{len(checks)}")
    for i, (name, ok) in enumerate(checks, 1):
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
