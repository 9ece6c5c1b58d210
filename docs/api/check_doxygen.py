#!/usr/bin/env python3
"""docs/api/check_doxygen.py - build the API reference and require zero warnings (TAP).

  check_doxygen.py DOXYGEN DOXYFILE WARNLOG INDEX

Runs doxygen on DOXYFILE (whose WARN_LOGFILE is WARNLOG), then reports one
result: the run succeeded, wrote INDEX (the HTML index), and WARNLOG is
empty; otherwise the warnings are printed as diagnostics.
"""
import os
import subprocess
import sys

doxygen, doxyfile, warnlog, index = sys.argv[1:5]
if os.path.exists(warnlog):
    os.remove(warnlog)
run = subprocess.run([doxygen, doxyfile], capture_output=True, text=True)
warnings = []
if os.path.exists(warnlog):
    with open(warnlog, encoding='utf-8') as f:
        warnings = [line.rstrip() for line in f if line.strip()]
problems = []
if run.returncode != 0:
    problems.append('doxygen exited with %d: %s' % (run.returncode, run.stderr.strip()))
if not os.path.exists(index):
    problems.append('no %s written' % index)
print('TAP version 13')
print('1..1')
if problems or warnings:
    print('not ok 1 - the API reference builds with zero doxygen warnings (%d warnings)' % len(warnings))
    for line in problems + warnings:
        print('# ' + line)
    sys.exit(1)
print('ok 1 - the API reference builds with zero doxygen warnings')
