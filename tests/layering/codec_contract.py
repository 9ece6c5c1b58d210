#!/usr/bin/env python3
"""tests/layering/codec_contract.py SOURCE_ROOT CC... - the codec contract of
hal/hal.h is code (TAP): every arch's hal_arch.h compiles against it, and a
copy of x86_64's with a wrong signature, or with a function missing, does
not."""
import os
import re
import subprocess
import sys
import tempfile

root, cc = sys.argv[1], sys.argv[2:]
arches = sorted(n for n in os.listdir(os.path.join(root, 'hal'))
                if os.path.isfile(os.path.join(root, 'hal', n, 'hal_arch.h')))


def compiles(header_text):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, 'hal_arch.h'), 'w') as f:
            f.write(header_text)
        src = os.path.join(d, 't.c')
        with open(src, 'w') as f:
            f.write('#include "hal/hal.h"\n')
        r = subprocess.run(cc + ['-std=gnu11', '-fsyntax-only', '-I', root, '-I', d, src],
                           capture_output=True, text=True)
        return r.returncode == 0, r.stderr


cases = []
for a in arches:
    with open(os.path.join(root, 'hal', a, 'hal_arch.h')) as f:
        cases.append(('%s\'s hal_arch.h compiles against the contract' % a, f.read(), True))
with open(os.path.join(root, 'hal', 'x86_64', 'hal_arch.h')) as f:
    x86 = f.read()
wrong = x86.replace('hal_pte_make_table(pfn_t table, bool user_half)', 'hal_pte_make_table(pfn_t table, int user_half)')
missing = re.sub(r'static inline vm_flags hal_pte_table_allows\(pte_t e\)\n\{.*?\n\}\n', '', x86, flags=re.S)
assert wrong != x86 and missing != x86, 'the x86_64 codec changed: update the mutations'
cases.append(('a codec with a wrong signature (hal_pte_make_table taking an int) does not compile', wrong, False))
cases.append(('a codec without hal_pte_table_allows does not compile', missing, False))

print('1..%d' % len(cases))
failed = 0
for i, (name, text, want) in enumerate(cases, 1):
    ok, err = compiles(text)
    good = ok == want
    failed += not good
    print('%sok %d - %s' % ('' if good else 'not ', i, name))
    if not good:
        for line in err.splitlines()[:5]:
            print('# ' + line)
sys.exit(1 if failed else 0)
