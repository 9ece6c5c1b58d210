#!/usr/bin/env bash
# tests/unit/install/check.sh BUILD_DIR OUTSIDE_C SANITIZE ARCHES CC... - the host library
# as another project sees it. Checks that `ninja -C BUILD_DIR kmm-host-<arch>`
# names a target, installs the build into a scratch DESTDIR, and for each
# arch compiles tests/unit/install/outside.c (which includes "paging.h" by the
# seed's name) with nothing but the installed pkg-config file's cflags and
# libs, and runs it in every geometry of that arch. ARCHES is one argument,
# "ARCH=GEOMETRY,GEOMETRY... ARCH=..." (from hal/<arch>/meson.build). TAP
# output, one point per arch and step.
set -uo pipefail
build=$1 outside=$2 sanitize=$3 arch_specs=$4
shift 4
cc=("$@")
declare -A geometries=()
arches=()
for spec in $arch_specs; do
  arches+=("${spec%%=*}")
  geometries[${spec%%=*}]=$(echo "${spec#*=}" | tr , ' ')
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "$tmp/log" ] && sed 's/^/# /' "$tmp/log"; }

echo "TAP version 13"
echo "1..$((3 * ${#arches[@]} + 1))"
for a in "${arches[@]}"; do
  if ninja -C "$build" -n "kmm-host-$a" >"$tmp/log" 2>&1; then ok "ninja target kmm-host-$a"; else not_ok "ninja target kmm-host-$a"; fi
done
if meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/log" 2>&1; then
  ok "meson install into a DESTDIR"
else
  not_ok "meson install into a DESTDIR"
  exit 1
fi
extra=()
[ "$sanitize" != none ] && extra=("-fsanitize=$sanitize")
for a in "${arches[@]}"; do
  pc=$(find "$tmp/root" -name "kmm-host-$a.pc" | head -1)
  if [ -z "$pc" ]; then
    echo "no kmm-host-$a.pc under the DESTDIR" >"$tmp/log"
    not_ok "an outside program builds with kmm-host-$a.pc"; not_ok "it runs in every $a geometry"; continue
  fi
  # The .pc names the install prefix; the sysroot puts the DESTDIR in front.
  export PKG_CONFIG_LIBDIR=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$tmp/root
  if flags=$(pkg-config --cflags --libs "kmm-host-$a" 2>"$tmp/log") &&
     "${cc[@]}" -std=gnu11 -Wall -Wextra -Werror "${extra[@]}" -o "$tmp/outside-$a" "$outside" $flags >"$tmp/log" 2>&1; then
    ok "an outside program builds with \`pkg-config --cflags --libs kmm-host-$a\` and #include \"paging.h\""
  else
    not_ok "an outside program builds with \`pkg-config --cflags --libs kmm-host-$a\` and #include \"paging.h\""
    rm -f "$tmp/log"; not_ok "it runs in every $a geometry (not built)"; continue
  fi
  rm -f "$tmp/log"
  all=1
  for g in ${geometries[$a]}; do
    if ! "$tmp/outside-$a" "$g" >>"$tmp/log" 2>&1; then all=0; fi
  done
  if [ $all = 1 ]; then sed 's/^/# /' "$tmp/log"; ok "it runs in every $a geometry (init, map, fork, fini, 3 times)"; else not_ok "it runs in every $a geometry"; fi
done
exit $failed
