#!/usr/bin/env bash
# tests/netns/interop.sh: jvpn-quic's QUIC against ngtcp2's own programs
# (gtls) and itself, over the quic-interop-runner cases that CI can afford.
#
# interop/run-local.sh builds the runner's three boxes as namespaces
# (tests/lab/lab.sh, lab_topo_interop):
#
#   iclient 198.18.0.100 ---- left [isim] right ---- 198.18.100.100 iserver
#                           15 ms each way, faults
#
# and runs, with --quick (small files), the pairs jvpn>jvpn, jvpn>gtls and
# gtls>jvpn over the cases below (about 60 s on 2 cores; each run has a
# --budget, so the whole stays under 90 s). One PASS/FAIL line per pair
# and case; a case a side cannot do is SKIPped with its reason (the
# runner's "unsupported"), as is a cell the budget left unrun. Fails when
# any cell fails.
#
# Not in the list: rebind-port (ngtcp2 0.12.1 servers, ours and gtls,
# send an ACK-only packet before the PATH_CHALLENGE on a port-only change:
# the runner fails that), connectionmigration (gtlsclient moves to a new
# port only, and an ngtcp2 server answers that the same way),
# transferloss, handshakeloss,
# amplificationlimit, blackhole (seconds each, covered by make interop),
# v2 (draft only in ngtcp2 0.12.1). See docs/interop.md.
#
# Exit 77 (skip) only without root, network namespaces, or a tool the
# runner needs (tshark, dumpcap, nft, conntrack, tc, iptables, openssl,
# nfq_delay, gtlsclient/gtlsserver). INTEROP_KEEP=1 keeps the pcaps and
# logs; INTEROP_CASES overrides the list.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

CASES=${INTEROP_CASES:-handshake,transfer,retry,http3,chacha20,keyupdate,multiconnect,resumption,zerortt,ecn,rebind-addr,datagram}

lab_require_netns
lab_test_init interop

for tool in tshark dumpcap nft conntrack tc iptables openssl jq \
            /usr/bin/gtlsclient /usr/sbin/gtlsserver; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is missing (scripts/deps.sh installs it)"
    exit 77
  fi
done
if ! lab_nfq_find 2>/dev/null; then
  echo "SKIP: no nfq_delay (make tests/tools/nfq_delay)"
  exit 77
fi
export JVPN_BUILDDIR=${top_builddir:-$top_srcdir}
if [ ! -x "$JVPN_BUILDDIR/interop/jvpn-interop" ]; then
  lab_setup_fail "no $JVPN_BUILDDIR/interop/jvpn-interop (make interop/jvpn-interop)"
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/interop-test.XXXXXX")
keep=()
if [ "${INTEROP_KEEP:-0}" = 1 ]; then
  keep=(--keep)
  lab_note "keeping $out"
else
  trap 'rm -rf -- "$out"' EXIT
fi

# jvpn>jvpn, jvpn>gtls, gtls>jvpn: two runs, as --clients x --servers is a
# full product and gtls>gtls is not ours to gate on.
rc=0
"$top_srcdir/interop/run-local.sh" --quick --budget 55 --clients jvpn \
  --servers jvpn,gtls --cases "$CASES" --out "$out/a.json" "${keep[@]}" >"$out/a.log" 2>&1 || rc=$?
if [ "$rc" = 77 ]; then
  echo "SKIP: $(grep -m1 'skip:' "$out/a.log")"
  exit 77
fi
"$top_srcdir/interop/run-local.sh" --quick --budget 30 --clients gtls \
  --servers jvpn --cases "$CASES" --out "$out/b.json" "${keep[@]}" >"$out/b.log" 2>&1 || true

for f in "$out/a.json" "$out/b.json"; do
  if [ ! -s "$f" ]; then
    lab_fail runner "no results in $f" "$out/a.log" "$out/b.log"
    continue
  fi
  while IFS=$'\t' read -r c s tc res secs why; do
    name="$c>$s $tc"
    case "$res" in
      pass) lab_pass "$name" "${secs}s, $why" ;;
      unsupported|notrun) lab_skip "$name" "$why" ;;
      *) lab_fail "$name" "$why" ;;
    esac
  done < <(jq -r '.results[] | [.client, .server, .case, .result,
                  (.seconds | tostring), .reason] | @tsv' "$f")
done

lab_test_summary
