#!/usr/bin/env bash
# tests/netns/flood.sh: jvpn-quic's server under a flood of spoofed packets.
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn) with an
# attacker on the router (lab_attacker_add):
#
#   client1 198.18.1.2 -------.
#                              \
#   client2 2001:db8:2::2 ----- router ---- server 198.18.3.2, 2001:db8:3::2
#                              /   (masquerade      UDP 443, retry = auto
#   attacker 198.18.9.2 ------'     for clients)
#     sends as 198.19.0.0/17, 2001:db8:f1::/48 (routed back to it; it
#     drops the server's answers)
#
#   tunnel: server 198.18.200.1, client1 198.18.200.2, client2 198.18.200.3
#
# The attacker (tests/tools/flood) sends QUIC v1 Initials, each from a new
# spoofed address and port, that pass the server's first-packet checks and
# fail at decryption, or 1-RTT packets for connections that do not exist.
# Scenarios:
#   (a) server and both clients up (the server's default retry = auto)
#   (b) FLOOD_RATE (10000) Initials/s over IPv4 while each client carries
#       two probe streams, up and down: every stream's longest gap stays
#       under FLOOD_GAP_MAX_MS (500; scripts/bench-flood.sh measures it
#       closely)
#   (c) client2, started afresh while the flood goes on, has its tunnel
#       within FLOOD_ATTACH_MAX_MS (5000)
#   (d) the flood switched Retry on (retries rose by a tenth of the
#       packets at least) and left no connection behind once it ended
#   (e) unknown-CID short packets at FLOOD_RATE for 3 s: counted as
#       drop_unknown_cid, stateless resets held to their rate limit, the
#       tunnels still work
#   (f) Initials from spoofed IPv6 sources (2000/s for 3 s): Retry again
#   (g) the server and both clients lived through it all; the server
#       exits cleanly on SIGTERM
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. FLOOD_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init flood

FLOOD_RATE=${FLOOD_RATE:-10000}
GAP_MAX_MS=${FLOOD_GAP_MAX_MS:-500}
ATTACH_MAX_MS=${FLOOD_ATTACH_MAX_MS:-5000}
STREAM_SECS=10
# Long enough to outlast the streams and (d); (d) ends it early.
FLOOD_SECS=$((STREAM_SECS + 12))
SHORT_SECS=3
RESET_RATE=$(sed -n 's/^#define JVPN_RESET_RATE \([0-9]*\).*/\1/p' \
  "$top_srcdir/include/jvpn/proto.h")

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_tool_find flood LAB_FLOOD_BIN ||
  lab_setup_fail "no flood binary (make tests/tools/flood)"
lab_require_tools nft
[ -n "$RESET_RATE" ] || lab_setup_fail "no JVPN_RESET_RATE in proto.h"
lab_note "using $JVPN_BIN"

lab_test_logdir FLOOD_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_attacker_add || lab_setup_fail "could not add the attacker"
lab_gen_vpn_configs "$dir" ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
slog=$dir/server.log
server_pid=""
c1_pid=""
c2_pid=""
flood_pid=""

server_stat() { lab_server_stat "$slog" "$server_pid" "$1"; }

# stats_into ARRAY KEY...: each KEY's value in the server's stats into the
# associative array named ARRAY; returns 1 (REPLY says why) when one is
# missing.
# shellcheck disable=SC2004,SC2034 # a nameref to an associative array
stats_into() {
  local -n stats_arr=$1
  local k
  shift
  for k in "$@"; do
    server_stat "$k" || return 1
    stats_arr[$k]=$REPLY
  done
}

# tunnels_ok: both clients ping the server's tunnel address.
tunnels_ok() {
  lab_wait_tunnel "$c1" 5 && lab_wait_tunnel "$c2" 5
}

# --- (a) server and two clients come up -----------------------------------
scenario_a() {
  if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" \
       --control "$dir/server.sock"; then
    server_pid=$LAB_VPN_PID
    lab_fail a "$REPLY" "$slog"
    return 1
  fi
  server_pid=$LAB_VPN_PID
  lab_vpn_client_up "$dir" 1 || { lab_fail a "client1 did not come up" \
    "$slog" "$dir/client1.log"; return 1; }
  c1_pid=$LAB_VPN_PID
  lab_vpn_client_up "$dir" 2 || { lab_fail a "client2 did not come up" \
    "$slog" "$dir/client2.log"; return 1; }
  c2_pid=$LAB_VPN_PID
  if ! tunnels_ok; then
    lab_fail a "no ping through the tunnels" "$slog"
    return 1
  fi
  lab_pass a
}

# --- (b) the sessions keep flowing under the flood ------------------------
# stream_verdict NAME: waits for the two streams of one client that
# scenario_b started as NAME and judges their longest gaps; the worse in
# REPLY, or why it failed.
# shellcheck disable=SC2034 # up and down: filled through namerefs
stream_verdict() {
  local -A up=() down=() worse=()
  if ! lab_probe2_end "$dir/$1" up down worse; then
    REPLY="$1: $REPLY"
    return 1
  fi
  lab_note "$1: $REPLY"
  if ! lab_lt "${worse[gap]}" "$GAP_MAX_MS"; then
    REPLY="$1: ${worse[dir]} stream stopped for ${worse[gap]} ms"
    return 1
  fi
  REPLY="${worse[gap]} ms"
}

scenario_b() {
  local why="" g1 g2 rcv0
  lab_udp_stat "$sv" RcvbufErrors
  rcv0=$REPLY
  if ! server_stat retries; then
    lab_fail b "$REPLY" "$slog"
    return 1
  fi
  retries0=$REPLY
  if ! lab_probe2_start "$c1" "$sv" "$LAB_SERVER_IN4" "$LAB_CLIENT1_IN4" \
         9000 "$STREAM_SECS" "$dir/client1-streams" ||
     ! lab_probe2_start "$c2" "$sv" "$LAB_SERVER_IN4" "$LAB_CLIENT2_IN4" \
         9010 "$STREAM_SECS" "$dir/client2-streams"; then
    lab_fail b "the probe streams did not start"
    return 1
  fi
  sleep 0.5
  lab_flood_start "$dir/flood-initial.out" 4 "$FLOOD_RATE" "$FLOOD_SECS" ||
    { lab_fail b "the flood did not start"; return 1; }
  flood_pid=$REPLY
  stream_verdict client1-streams && g1=$REPLY || why=$REPLY
  stream_verdict client2-streams && g2=$REPLY || why+="${why:+; }$REPLY"
  lab_udp_stat "$sv" RcvbufErrors
  lab_note "the server's socket dropped $((REPLY - rcv0)) datagrams" \
    "(receive buffer full)"
  if ! lab_pid_alive "$flood_pid"; then
    lab_fail b "the flood ended before the streams" "$dir/flood-initial.out"
    return 1
  fi
  if [ -n "$why" ]; then
    lab_fail b "$why" "$slog" "$dir/client1.log" "$dir/client2.log"
    return 1
  fi
  lab_pass b "longest gap client1 $g1, client2 $g2 under $FLOOD_RATE\
 Initials/s"
}

# --- (c) a fresh client attaches while the flood goes on -----------------
scenario_c() {
  local t0 ms
  if ! lab_vpn_stop "$c2_pid" "$c2" client2; then
    lab_fail c "$REPLY" "$dir/client2.log"
    return 1
  fi
  mv "$dir/client2.log" "$dir/client2.first.log"
  lab_now_ms
  t0=$REPLY
  lab_vpn_client_up "$dir" 2
  c2_pid=$LAB_VPN_PID
  if ! lab_wait_tunnel "$c2" "$(( ATTACH_MAX_MS / 1000 ))"; then
    lab_fail c "client2 got no tunnel during the flood" "$dir/client2.log" \
      "$slog"
    return 1
  fi
  lab_now_ms
  ms=$((REPLY - t0))
  if ! lab_pid_alive "$flood_pid"; then
    lab_fail c "the flood had ended before client2 was up"
    return 1
  fi
  lab_vpn_attach_ms "$dir/client2.log" || REPLY="?"
  if [ "$ms" -gt "$ATTACH_MAX_MS" ]; then
    lab_fail c "client2's tunnel took $ms ms (attach $REPLY ms)" \
      "$dir/client2.log"
    return 1
  fi
  lab_pass c "client2 attached in $REPLY ms, tunnel passed a ping after\
 $ms ms"
}

# --- (d) Retry under the flood, nothing left behind ------------------------
# Ends the flood of (b).
server_clients_are() {
  server_stat clients && [ "$REPLY" = "$1" ]
}

scenario_d() {
  local rise
  lab_kill "$flood_pid" TERM || true
  if ! lab_flood_end "$flood_pid" "$dir/flood-initial.out" 5; then
    lab_fail d "$REPLY"
    return 1
  fi
  lab_note "${REPLY#flood: }"
  server_stat retries || { lab_fail d "$REPLY" "$slog"; return 1; }
  rise=$((REPLY - retries0))
  if [ "$rise" -lt $(( LAB_FLOOD[sent] / 10 )) ]; then
    lab_fail d "$rise Retry packets for ${LAB_FLOOD[sent]} Initials" "$slog"
    return 1
  fi
  # A spoofed Initial that got a connection (before Retry switched on)
  # fails to decrypt and is dropped at once; none may linger.
  if ! lab_wait_for "the server's connections back to 2" 15 \
       server_clients_are 2; then
    lab_fail d "the server still holds ${REPLY} connections after the flood" \
      "$slog"
    return 1
  fi
  lab_pass d "$rise Retry packets for ${LAB_FLOOD[sent]} Initials\
 (${LAB_FLOOD[pps]}/s sent); 2 connections left"
}

# --- (e) unknown connection IDs: stateless resets stay rate limited ------
short_flood() {
  local pid
  lab_flood_start "$dir/flood-short.out" 4 "$FLOOD_RATE" "$SHORT_SECS" \
    --short || return 1
  pid=$REPLY
  lab_flood_end "$pid" "$dir/flood-short.out" $((SHORT_SECS + 10))
}

scenario_e() {
  local -A s0=() s1=()
  local resets unknown max
  if ! stats_into s0 stateless_resets drop_unknown_cid || ! short_flood ||
     ! stats_into s1 stateless_resets drop_unknown_cid; then
    lab_fail e "$REPLY" "$slog" "$dir/flood-short.out"
    return 1
  fi
  resets=$(( s1[stateless_resets] - s0[stateless_resets] ))
  unknown=$(( s1[drop_unknown_cid] - s0[drop_unknown_cid] ))
  lab_note "${LAB_FLOOD[sent]} short packets: drop_unknown_cid +$unknown," \
    "stateless_resets +$resets"
  max=$(( RESET_RATE * (SHORT_SECS + 2) ))
  if [ "$resets" -gt "$max" ]; then
    lab_fail e "$resets stateless resets in $SHORT_SECS s (limit\
 $RESET_RATE/s)" "$slog"
    return 1
  fi
  if [ "$unknown" -lt $(( LAB_FLOOD[sent] / 10 )) ]; then
    lab_fail e "only $unknown of ${LAB_FLOOD[sent]} counted as unknown" "$slog"
    return 1
  fi
  if ! tunnels_ok; then
    lab_fail e "the tunnels stopped working" "$slog"
    return 1
  fi
  lab_pass e "$resets stateless resets for ${LAB_FLOOD[sent]} packets"
}

# --- (f) spoofed IPv6 sources ---------------------------------------------
v6_flood() {
  local pid
  lab_flood_start "$dir/flood-v6.out" 6 2000 "$SHORT_SECS" || return 1
  pid=$REPLY
  lab_flood_end "$pid" "$dir/flood-v6.out" $((SHORT_SECS + 10))
}

scenario_f() {
  local -A s0=() s1=()
  local rise
  if ! stats_into s0 retries || ! v6_flood || ! stats_into s1 retries; then
    lab_fail f "$REPLY" "$slog" "$dir/flood-v6.out"
    return 1
  fi
  rise=$(( s1[retries] - s0[retries] ))
  if [ "$rise" -lt $(( LAB_FLOOD[sent] / 10 )) ]; then
    lab_fail f "$rise Retry packets for ${LAB_FLOOD[sent]} IPv6 Initials" \
      "$slog"
    return 1
  fi
  if ! tunnels_ok; then
    lab_fail f "the tunnels stopped working" "$slog"
    return 1
  fi
  lab_attacker_replies
  lab_pass f "$rise Retry packets for ${LAB_FLOOD[sent]} IPv6 Initials;\
 $REPLY answers reached the attacker in all"
}

# --- (g) alive, and a clean exit ----------------------------------------
scenario_g() {
  if ! lab_pid_alive "$server_pid"; then
    lab_fail g "the server died" "$slog"
    return 1
  fi
  if ! lab_pid_alive "$c1_pid" || ! lab_pid_alive "$c2_pid"; then
    lab_fail g "a client exited" "$dir/client1.log" "$dir/client2.log"
    return 1
  fi
  if ! lab_vpn_stop "$server_pid" "$sv" server; then
    lab_fail g "$REPLY" "$slog"
    return 1
  fi
  lab_pass g
}

retries0=0
if scenario_a; then
  scenario_b
  if [ -n "$flood_pid" ]; then
    scenario_c
    scenario_d
  else
    lab_fail c "not run: no flood in (b)"
    lab_fail d "not run: no flood in (b)"
  fi
  scenario_e
  scenario_f
  scenario_g
else
  for s in b c d e f g; do
    lab_fail "$s" "not run: the server or a client did not come up in (a)"
  done
fi

lab_check_sanitizers "$dir"
lab_test_summary
