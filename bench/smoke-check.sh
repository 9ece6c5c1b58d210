#!/bin/sh
# bench/smoke-check.sh KMM_BENCH: runs the benchmark with tiny sizes and
# fails unless every metric has a positive .ours, .linux and .ratio line,
# .ours.min <= .ours <= .ours.max (and so for .linux), a .reps and a .steady.
# A smoke test: it checks that the benchmark works, never how fast.
set -u
out=$("$1" --smoke) || { echo "$out"; echo "smoke-check: kmm-bench failed"; exit 1; }
echo "$out"
bad=0
for m in map unmap protect fork getfree.10 getfree.1000 getfree.100000 lookup.10 lookup.1000 lookup.100000; do
  for side in ours linux ratio; do
    v=$(printf '%s\n' "$out" | sed -n "s/^$m\.$side=//p")
    if [ -z "$v" ]; then
      echo "smoke-check: missing $m.$side"; bad=1
    elif ! awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'; then
      echo "smoke-check: $m.$side=$v is not positive"; bad=1
    fi
  done
  for side in ours linux; do
    med=$(printf '%s\n' "$out" | sed -n "s/^$m\.$side=//p")
    lo=$(printf '%s\n' "$out" | sed -n "s/^$m\.$side\.min=//p")
    hi=$(printf '%s\n' "$out" | sed -n "s/^$m\.$side\.max=//p")
    if [ -z "$lo" ] || [ -z "$hi" ]; then
      echo "smoke-check: missing $m.$side.min or .max"; bad=1
    elif ! awk -v lo="$lo" -v m="$med" -v hi="$hi" 'BEGIN { exit !(lo + 0 <= m + 0 && m + 0 <= hi + 0) }'; then
      echo "smoke-check: $m.$side: min $lo, median $med, max $hi out of order"; bad=1
    fi
  done
  printf '%s\n' "$out" | grep -q "^$m\.reps=[1-9]" || { echo "smoke-check: missing $m.reps"; bad=1; }
  printf '%s\n' "$out" | grep -Eq "^$m\.steady=(yes|no)\$" || { echo "smoke-check: missing $m.steady"; bad=1; }
done
for m in pmm.alloc_free.threads1 pmm.alloc_free.threads2 pmm.alloc_free.threads4; do
  v=$(printf '%s\n' "$out" | sed -n "s/^$m\.ours=//p")
  if [ -z "$v" ]; then
    echo "smoke-check: missing $m.ours"; bad=1
  elif ! awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'; then
    echo "smoke-check: $m.ours=$v is not positive"; bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "smoke-check: every metric present and positive"
exit "$bad"
