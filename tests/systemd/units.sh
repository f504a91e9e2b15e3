#!/bin/bash
# tests/systemd/units.sh: systemd/jvpn-quic@.service.in, filled in for both
# roles with this build's binary, passes "systemd-analyze verify", and its
# offline security exposure stays at most JVPN_UNIT_EXPOSURE_MAX (3.0; 0 is
# the best, 10 the worst); the unit the build made for "make install" has
# its paths filled in, the client's --down after a stop and the
# resolv.conf it may write.
#
# Environment: top_srcdir, top_builddir (set by the automake harness).
# Exit 0 when both pass, 1 when one fails (systemd-analyze missing is a
# failure: scripts/deps.sh installs systemd).
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
top_srcdir=${top_srcdir:-$repo}
top_builddir=${top_builddir:-$repo/build}
max=${JVPN_UNIT_EXPOSURE_MAX:-3.0}
nfail=0

if ! command -v systemd-analyze >/dev/null; then
  echo "FAIL units: systemd-analyze not found (scripts/deps.sh installs it)"
  exit 1
fi
if [ ! -x "$top_builddir/jvpn-quic" ]; then
  echo "FAIL units: no $top_builddir/jvpn-quic (build it first)"
  exit 1
fi
tmp=$(mktemp -d /tmp/jvpn-units.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

for role in server client; do
  unit=$tmp/jvpn-quic@$role.service
  sed -e "s|@bindir@|$top_builddir|g" -e "s|@sysconfdir@|/etc|g" \
    "$top_srcdir/systemd/jvpn-quic@.service.in" >"$unit"
  if ! out=$(systemd-analyze verify --man=no "$unit" 2>&1) || [ -n "$out" ]; then
    echo "FAIL verify $role: $out"
    nfail=$((nfail + 1))
    continue
  fi
  echo "PASS verify $role"
  score=$(systemd-analyze security --offline=yes "$unit" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -z "$score" ]; then
    echo "FAIL security $role: no exposure level from systemd-analyze"
    nfail=$((nfail + 1))
  elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
    echo "FAIL security $role: exposure $score > $max"
    nfail=$((nfail + 1))
  else
    echo "PASS security $role: exposure $score (at most $max)"
  fi
done
# The unit "make" wrote for "make install": every placeholder filled in.
built=$top_builddir/systemd/jvpn-quic@.service
if [ ! -f "$built" ] || grep -q '@[a-z]*@' "$built" ||
   ! grep -q '^ExecStart=/.*/jvpn-quic %i -c /.*/jvpn-quic/%i.conf$' "$built"; then
  echo "FAIL built unit: $built missing or not filled in"
  nfail=$((nfail + 1))
else
  echo "PASS built unit: $(grep '^ExecStart=' "$built")"
fi
# The client's clean-up after any stop, and the one file it writes in /etc.
if ! grep -q '^ExecStopPost=.*jvpn-quic client --down .*-c /.*/jvpn-quic/%i.conf' "$built" ||
   ! grep -q '^ReadWritePaths=-/etc/resolv.conf' "$built"; then
  echo "FAIL built unit: no ExecStopPost with client --down or no ReadWritePaths"
  nfail=$((nfail + 1))
else
  echo "PASS built unit: ExecStopPost runs client --down; /etc/resolv.conf writable"
fi
[ "$nfail" -eq 0 ]
