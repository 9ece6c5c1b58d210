#!/usr/bin/env python3
"""tests/layering/check.py - the layering docs/design.md states, as a test (TAP).

  check.py SOURCE_ROOT [LIBRARY.a ...]

1. The memory manager's part of every arch (hal/<arch>/) and hal/ itself
   include nothing above hal/hal.h and mm/types.h: system headers, those two,
   and headers of the same folder only.
2. mm/ includes only mm/ headers and hal/hal.h (never an arch folder, never
   kernel/ or arch/).
3. kernel/ includes no header of arch/ (its arch services are kernel/arch.h).
4. For each static library given (the host libraries, kmm-host-<arch>.a):
   no file of mm/ calls into a file that calls back into it, directly or
   through others (the symbol graph of its objects has no cycle).
"""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
root = sys.argv[1]
libs = sys.argv[2:]
results = []


def includes(path):
    with open(path, encoding='utf-8') as f:
        return [(kind, name) for kind, name in INCLUDE.findall(f.read())]


def sources(folder, exts=('.c', '.h', '.S')):
    d = os.path.join(root, folder)
    return sorted(os.path.join(folder, n) for n in os.listdir(d) if n.endswith(exts))


def check(name, bad):
    results.append((name, bad))


arches = sorted(n for n in os.listdir(os.path.join(root, 'hal'))
                if os.path.isfile(os.path.join(root, 'hal', n, 'hal_arch.h')))
for arch in arches:
    folder = 'hal/' + arch
    local = set(os.listdir(os.path.join(root, folder)))
    bad = []
    for src in sources(folder):
        for kind, name in includes(os.path.join(root, src)):
            ok = kind == '<' or name in ('hal/hal.h', 'mm/types.h') or name in local or \
                (name.startswith(folder + '/') and name[len(folder) + 1:] in local)
            if not ok:
                bad.append('%s includes "%s"' % (src, name))
    check('hal/%s (the memory manager\'s part of %s) includes nothing above hal/hal.h and mm/types.h' % (arch, arch), bad)

bad = []
for src in sources('hal', ('.c', '.h')):
    for kind, name in includes(os.path.join(root, src)):
        if kind == '"' and name not in ('hal/hal.h', 'mm/types.h', 'hal_arch.h'):
            bad.append('%s includes "%s"' % (src, name))
check('hal/hal.h and hal/*.c include nothing above mm/types.h (but the arch\'s hal_arch.h)', bad)

bad = []
for src in sources('mm', ('.c', '.h')):
    for kind, name in includes(os.path.join(root, src)):
        if kind == '"' and not (name.startswith('mm/') or name == 'hal/hal.h' or name == 'vmap_tree.h'):
            bad.append('%s includes "%s"' % (src, name))
check('mm/ includes only mm/ headers and hal/hal.h', bad)

arch_headers = set()
for arch in os.listdir(os.path.join(root, 'arch')):
    d = os.path.join(root, 'arch', arch)
    if os.path.isdir(d):
        arch_headers |= {n for n in os.listdir(d) if n.endswith('.h')}
        arch_headers |= {'arch/%s/%s' % (arch, n) for n in os.listdir(d) if n.endswith('.h')}
bad = []
for src in sources('kernel', ('.c', '.h')) + sources('kernel/lib', ('.c', '.h')):
    for kind, name in includes(os.path.join(root, src)):
        if kind == '"' and (name.startswith('arch/') or name in arch_headers):
            bad.append('%s includes "%s"' % (src, name))
check('kernel/ includes no header of arch/<arch>/', bad)


def cycles(lib):
    out = subprocess.run(['nm', lib], capture_output=True, text=True, check=True).stdout
    defs, undefs, cur = {}, {}, None
    for line in out.splitlines():
        if line.endswith('.o:'):
            cur = re.sub(r'^.*?mm_', 'mm/', line[:-3]).replace('.c.o', '.c')
            if not cur.startswith('mm/'):
                cur = None
            else:
                defs[cur], undefs[cur] = set(), set()
            continue
        if cur is None:
            continue
        parts = line.split()
        if len(parts) == 3 and parts[1] in 'TDBRCG':
            defs[cur].add(parts[2])
        elif len(parts) == 2 and parts[0] == 'U':
            undefs[cur].add(parts[1])
    edges = {a: {b for b in defs if b != a and undefs[a] & defs[b]} for a in defs}
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sccs, len(defs)


for lib in libs:
    sccs, n = cycles(lib)
    bad = ['files that depend on each other: ' + ' <-> '.join(c) for c in sccs]
    if n < 10:
        bad.append('only %d mm/ objects found in %s' % (n, lib))
    check('no dependency circle between the files of mm/ (%s)' % os.path.basename(lib), bad)

print('1..%d' % len(results))
for i, (name, bad) in enumerate(results, 1):
    print('%sok %d - %s' % ('not ' if bad else '', i, name))
    for b in bad:
        print('# ' + b)
sys.exit(1 if any(bad for _, bad in results) else 0)
