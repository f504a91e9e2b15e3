#!/usr/bin/env bash
# tests/netns/soak.sh: sessions under churn, the CI run of scripts/soak.sh
# (issue 12): SOAK_SECONDS (120) s of NAT rebindings, blackholes (1-5 s),
# loss (1-10 %) and client restarts on SOAK_CLIENTS (4) clients, with
# probe streams both ways through every tunnel.
#
# scripts/soak.sh builds the lab (tests/lab/lab.sh: lab_topo_vpn plus
# lab_client_ns_add), draws its seeded schedule, and judges the run: no
# session lost outside policy (the server's audit log), every client's
# session ATTACHED with traffic both ways at the end, the server's RSS
# flat. Its table goes into this test's log; a failure prints the seed
# (SOAK_SEED replays the schedule) and keeps the run's logs.
#
# The test runs after the other netns tests, fairness.sh last before it
# (Makefile.am, SOAK_AFTER), since churn on a loaded machine would
# disturb their timing and theirs its own.
#
# Exit 0 when the run passed, 1 when it failed, 77 (skip) only without
# root, /dev/net/tun or 'ip netns'.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init soak

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_require_tools nft conntrack jq

secs=${SOAK_SECONDS:-120}
n=${SOAK_CLIENTS:-4}
JVPN_BIN=$JVPN_BIN LAB_PROBE_BIN=$LAB_PROBE_BIN \
  "$top_srcdir/scripts/soak.sh" --clients "$n" --seconds "$secs"
rc=$?
case "$rc" in
  0) lab_pass churn "$n clients, $secs s: no session lost outside policy" ;;
  77) lab_skip churn "scripts/soak.sh skipped" ;;
  *) lab_fail churn "scripts/soak.sh exited $rc (the table and the seed above)" ;;
esac
lab_test_summary
