#!/usr/bin/env bash
# tests/netns/failover.sh: the session moves between the client's uplinks
# when the active one fails (docs/multipath.md, issue 4).
#
# The failover lab (tests/lab/lab.sh, lab_fo_topo): client1 has two
# uplinks behind the same NAT router, with their RTTs made by the NFQUEUE
# injector (tests/tools/nfq_delay) in the router:
#
#   client1 eth0 198.18.1.2  --- c1  [~10 ms RTT]  router  srv --- server
#           eth1 198.18.11.2 --- c1b [~40 ms RTT]  (masquerade)  198.18.3.2
#                                                                UDP 443
#   [uplink] eth0 priority 1, [uplink] eth1 priority 2: one QUIC connection
#   on each, eth0's active, eth1's a warm standby (r=standby)
#
#   tunnel: server jvpn0 198.18.200.1, client1 jvpn0 198.18.200.2
#
# Each scenario runs two 200 packets/s probe streams (tests/tools/probe)
# at once through a fault, client1 -> the server's tunnel address (up) and
# the server -> client1's (down); it reports each direction's longest gap
# between arrivals, the packets lost and (where the fault has an end that
# traffic waits for) when it came back after that end, the worse direction
# first, and judges the worse direction. It checks that the session ID
# never changed and was never terminated, and the audit trails (client and
# server, audit_log) for the records the fault must leave:
#
#   (a) silent blackhole of the active uplink (nft drop in the router for
#       FAILOVER_HOLE_MS, the link stays up): uplink_switch ACTIVE_SILENT
#       (or ACTIVE_PTO), TRANSPORT_SWITCH_OK at the server; gap target
#       300 ms both ways, asserted <= FAILOVER_A_MAX_MS (600).
#   (c) after (a), the preferred uplink returns: traffic moves back once
#       its stability window (stability_window_ms of the config) has
#       passed, exactly once (one RETURN_PREFERRED, no other switch).
#   (b) carrier loss of the active uplink (client1's eth0 down for 2 s):
#       uplink_switch LINK_DOWN; gap target 100 ms both ways, asserted <=
#       FAILOVER_B_MAX_MS (300).
#   (e) both uplinks blackholed for FAILOVER_BOTH_MS (< recovery_window_ms),
#       then uplink 2 returns, uplink 1 2 s later: traffic comes back
#       both ways through uplink 2 before uplink 1 returns, same session.
#   (f) 30 % random loss each way on the active uplink for 5 s: a switch
#       to the standby (ACTIVE_LOSS expected), fewer packets lost than
#       staying would cost (in either direction); then (f-return) the loss gone, eth0 is active
#       again within its stability window + 8 s.
#   (t) uplink 2's network blocks UDP 443 (lab_fo_udp_block, in the
#       router, on its link only): its standby comes back over HTTP/2 on
#       TCP, bound to eth1 (transport_switch TCP_FALLBACK, status
#       transport tcp); then eth0 is blackholed: the session fails over to
#       that TCP standby (same session; gap target 300 ms both ways,
#       asserted <= FAILOVER_T_MAX_MS (600)); then UDP passes on eth1
#       again: eth1 returns to QUIC (QUIC_RETURN) within the probe
#       interval and some (FAILOVER_T_BACK_MAX_S), its gap asserted <=
#       FAILOVER_C_MAX_MS; eth0's blackhole ends after it.
#   (d) the active uplink flaps, down 500 ms / up 500 ms for
#       FAILOVER_FLAP_S (30) s, on a fresh client whose [policy] makes
#       ping-pong possible (stability_window_ms 200 ms, cooldown 500 ms)
#       and sets a small budget (max_switches_per_min 5): the accepted
#       switches in any 60 s stay within the budget, the audit trail shows
#       the denials, the session is never terminated, traffic flows at the
#       end. The budget is odd on purpose: switches alternate failover
#       (to eth1) and return (to eth0), so the last one allowed lands on
#       the uplink that does not flap.
#
# (d) runs last on its own client (a new session) because the budget it
# exhausts would refuse the other scenarios' failovers; the others run
# with max_switches_per_min 30 so that their own switches never do.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) without root,
# /dev/net/tun, 'ip netns' or the nfq_delay injector. FAILOVER_KEEP=1
# keeps the logs; FAILOVER_SCENARIOS="a c b" runs only those (c needs a).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
if ! lab_nfq_find 2>/dev/null; then
  echo "SKIP: no nfq_delay injector (make tests/tools/nfq_delay)"
  exit 77
fi
lab_test_init failover

# Thresholds (ms), with margin over the targets for a loaded 2-core host;
# each is held by the worse of the two directions.
A_MAX_MS=${FAILOVER_A_MAX_MS:-600}     # (a) target 300
B_MAX_MS=${FAILOVER_B_MAX_MS:-300}     # (b) target 100
C_MAX_MS=${FAILOVER_C_MAX_MS:-300}     # (c) gap of a voluntary return
T_MAX_MS=${FAILOVER_T_MAX_MS:-600}     # (t) failover to a TCP standby
T_BACK_MAX_S=${FAILOVER_T_BACK_MAX_S:-4} # (t) 1 s probe interval + margin
E_REC_MAX_MS=${FAILOVER_E_REC_MAX_MS:-2500} # (e) path back -> traffic
F_LOST_MAX=${FAILOVER_F_LOST_MAX:-200} # (f) ~300 lost when staying
HOLE_MS=${FAILOVER_HOLE_MS:-2000}      # (a): below the 3 s idle timeout
DOWN_MS=2000                           # (b)
BOTH_MS=${FAILOVER_BOTH_MS:-4000}      # (e): idle timeout < this < window
LOSS_PCT=30                            # (f)
LOSS_S=5
FLAP_HALF_MS=500                       # (d)
FLAP_S=${FAILOVER_FLAP_S:-30}
PORT=9000
SCENARIOS=${FAILOVER_SCENARIOS:-a c b e f t d}

# The [policy] of the main client and of (d)'s; the scenarios read their
# numbers back from the files written (lab_fo_conf_get).
MAIN_POLICY="max_switches_per_min = 30
switch_cooldown_ms = 1500
stability_window_ms = 2s
failover_detect_k = 4
failover_detect_floor_ms = 150
failover_return = after_stability"
FLAP_POLICY="max_switches_per_min = 5
switch_cooldown_ms = 500
stability_window_ms = 200
failover_detect_k = 4
failover_detect_floor_ms = 150
failover_return = after_stability"

SERVER_POLICY="max_switches_per_min = 30
switch_cooldown_ms = 500"

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_require_tools nft conntrack iptables ping
lab_note "using $JVPN_BIN"

lab_test_logdir FAILOVER_KEEP
dir=$REPLY

lab_fo_topo || lab_setup_fail "failover lab: $REPLY"
lab_note "uplink RTTs: eth0 ${LAB_FO_RTT[1]} ms, eth1 ${LAB_FO_RTT[2]} ms"
lab_gen_vpn_configs "$dir" client1 ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
sv=${LAB_NS[server]}
slog=$dir/server.log
saudit=$dir/server-audit.jsonl
ssock=$dir/server.sock

sed -i "0,/^log_level/s||audit_log = $saudit\n&|" "$dir/server.conf"
grep -q "^audit_log = $saudit" "$dir/server.conf" ||
  lab_setup_fail "could not add audit_log to the server's config"
# The server enforces its own [policy] on every activation: its limits
# must not be tighter than the clients' (else it answers 429 where the
# client's core agreed), so it gets the loosest of both.
printf '\n[policy]\n%s\n' "$SERVER_POLICY" >>"$dir/server.conf"
if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" -v \
     --control "$ssock"; then
  lab_setup_fail "the server did not come up: $REPLY $(lab_tail "$slog")"
fi
server_pid=$LAB_VPN_PID

# --- the client and what we know of it --------------------------------------

# The client now running: its config, log, audit trail, control socket,
# PID, session (base64url and the audit's hex) and policy numbers.
CONF="" clog="" caudit="" csock="" client_pid="" sid="" hex=""
BUDGET="" STAB_MS="" COOLDOWN_MS=""

# client_start NAME POLICY: writes $dir/NAME.conf and starts the client
# with it; waits for the tunnel, the session and a standby on eth1.
client_start() {
  CONF=$dir/$1.conf
  clog=$dir/$1.log
  caudit=$dir/$1-audit.jsonl
  csock=$dir/$1.sock
  lab_fo_write_client_conf "$CONF" "$dir/client1" "$caudit" "$2" ||
    { REPLY="could not write $CONF"; return 1; }
  lab_fo_conf_get "$CONF" policy max_switches_per_min 8
  BUDGET=$REPLY
  lab_fo_conf_get "$CONF" policy stability_window_ms 3s
  lab_fo_ms "$REPLY"
  STAB_MS=$REPLY
  lab_fo_conf_get "$CONF" policy switch_cooldown_ms 1500
  lab_fo_ms "$REPLY"
  COOLDOWN_MS=$REPLY
  if ! lab_vpn_client_start "$c1" "$clog" "$LAB_CLIENT1_IN4" \
         "$LAB_CLIENT1_IN6" -c "$CONF" -v --control "$csock" ||
     ! lab_wait_tunnel "$c1" 5; then
    REPLY="the client did not come up: $(lab_tail "$clog" "$slog")"
    return 1
  fi
  client_pid=$LAB_VPN_PID
  if ! lab_wait_for "a session and a standby on eth1" 10 standby_ready; then
    REPLY="no standby on eth1 (uplinks: ${LAB_FO_ST[uplinks]:-none},\
 session ${LAB_FO_ST[session]:-none})"
    return 1
  fi
  sid=${LAB_FO_ST[session]}
  lab_fo_hex "$sid"
  hex=$REPLY
  lab_note "$1: session $sid (audit $hex), uplinks ${LAB_FO_ST[uplinks]};\
 budget $BUDGET/min, stability $STAB_MS ms, cooldown $COOLDOWN_MS ms"
}

# standby_ready: eth0 carries the data and eth1 is a READY standby.
standby_ready() {
  lab_fo_status "$csock" && [ "${LAB_FO_ST[active]}" = eth0 ] &&
    [[ " ${LAB_FO_ST[uplinks]} " == *" eth1:standby:READY "* ]]
}

# settle NAME: before a scenario, the client is back at rest (standby_ready)
# within the stability window and some; else fails NAME.
settle() {
  if ! lab_wait_for "eth0 active, eth1 a READY standby" \
       $(( STAB_MS / 1000 + 10 )) standby_ready; then
    lab_fail "$1" "not at rest before the scenario: active\
 '${LAB_FO_ST[active]:-none}', uplinks ${LAB_FO_ST[uplinks]:-none}" \
      "$clog" "$caudit"
    return 1
  fi
}

# audit_since FILE MARK: FILE's lines after line MARK, on stdout.
audit_since() { tail -n "+$(($2 + 1))" "$1" 2>/dev/null; }
# marks: the current lengths of both audit trails, in CMARK and SMARK.
marks() {
  CMARK=$(wc -l <"$caudit" 2>/dev/null || echo 0)
  SMARK=$(wc -l <"$saudit" 2>/dev/null || echo 0)
}
# crecords EVENT [REASON_RE]: the client's EVENT records since CMARK (for
# the reasons matching REASON_RE), on stdout.
crecords() {
  audit_since "$caudit" "$CMARK" | grep "\"event\":\"$1\"" |
    grep "\"reason\":\"${2:-[A-Z_]*}\""
}
# sswitches: the server's accepted activations of our session since SMARK.
sswitches() {
  audit_since "$saudit" "$SMARK" | grep "\"session\":\"$hex\"" |
    grep '"event":"switch"' | grep -c '"reason":"TRANSPORT_SWITCH_OK"'
}
mono_of() {
  REPLY=$(printf '%s' "$1" | grep -o '"mono_ms":[0-9]*' | head -n1 |
    cut -d: -f2)
}
reason_of() {
  REPLY=$(printf '%s' "$1" | grep -o '"reason":"[A-Z_]*"' | head -n1 |
    cut -d'"' -f4)
}
# ms_since A B: B - A in whole ms, in REPLY.
ms_since() { REPLY=$(awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'); }

# same_session NAME: the client runs, on session $sid, and neither audit
# trail terminated it; else fails NAME.
same_session() {
  if ! lab_pid_alive "$client_pid"; then
    lab_fail "$1" "the client exited" "$clog"
    return 1
  fi
  if ! lab_fo_status "$csock" || [ "${LAB_FO_ST[session]}" != "$sid" ]; then
    lab_fail "$1" "session changed: $sid -> ${LAB_FO_ST[session]:-none}" \
      "$clog" "$caudit"
    return 1
  fi
  if grep -h "\"session\":\"$hex\"" "$caudit" "$saudit" 2>/dev/null |
     grep -q '"to":"TERMINATED"'; then
    lab_fail "$1" "session $sid was terminated" "$caudit" "$saudit"
    return 1
  fi
  if grep -h '"event":"session_born"' "$caudit" 2>/dev/null |
     grep -vq "\"session\":\"$hex\""; then
    lab_fail "$1" "the client audited the birth of another session" "$caudit"
    return 1
  fi
}

# measure_start NAME SECONDS [PORT]: two probe streams at once through
# the tunnel (lab_probe2_start), client1 -> server (up, to PORT) and
# server -> client1 (down, to PORT+1). measure_end NAME [T_OFF]: waits for
# both (lab_probe2_end); each direction's numbers in PU[key] and PD[key]
# (with [back], the return after T_OFF, the fault's end), the worse
# direction's in P[key] (P[lost] the larger loss, P[back] the later
# return), both directions in REPLY; fails when one never came back.
# shellcheck disable=SC2034 # PU and PD are filled through namerefs
declare -A P=() PU=() PD=()
measure_start() {
  lab_probe2_start "$c1" "$sv" "$LAB_SERVER_IN4" "$LAB_CLIENT1_IN4" \
    "${3:-$PORT}" "$2" "$dir/$1"
}
measure_end() { lab_probe2_end "$dir/$1" PU PD P "${2:-}"; }

sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { print m / 1000 }')"; }

# --- (a) silent blackhole of the active uplink -------------------------------
T_OFF_A=""
scenario_a() {
  local nums line t_on t_sw n
  settle a || return 1
  marks
  AMARK_C=$CMARK AMARK_S=$SMARK
  measure_start a $(( HOLE_MS / 1000 + 3 )) ||
    { lab_fail a "probe did not start"; return 1; }
  sleep 1.5
  lab_probe_now
  t_on=$REPLY
  lab_fo_blackhole_on 1 || { lab_fail a "nft blackhole failed"; return 1; }
  sleep_ms "$HOLE_MS"
  lab_probe_now
  T_OFF_A=$REPLY
  lab_fo_blackhole_off 1
  # (c)'s stream: the return, which comes a stability window later.
  measure_start c $(( STAB_MS / 1000 + 4 )) $(( PORT + 2 )) || T_OFF_A=""
  if ! measure_end a "$T_OFF_A"; then
    lab_fail a "$REPLY" "$clog" "$caudit"
    return 1
  fi
  nums=$REPLY
  lab_note "a: $nums"
  line=$(crecords uplink_switch 'ACTIVE_\(SILENT\|PTO\)' | head -n1)
  if [ -z "$line" ]; then
    lab_fail a "$nums; no uplink_switch ACTIVE_SILENT/ACTIVE_PTO in the\
 client's audit" "$caudit" "$clog"
    return 1
  fi
  reason_of "$line"
  local why=$REPLY
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  t_sw=$REPLY
  n=$(sswitches)
  if [ "$n" -lt 1 ]; then
    lab_fail a "$nums; no TRANSPORT_SWITCH_OK at the server" "$saudit" "$slog"
    return 1
  fi
  same_session a || return 1
  if ! lab_lt "${P[longest_gap_ms]}" "$A_MAX_MS"; then
    lab_fail a "$nums (worse: ${P[dir]}; limit $A_MAX_MS ms, target 300);\
 $why after $t_sw ms" \
      "$caudit" "$clog"
    return 1
  fi
  lab_pass a "$HOLE_MS ms silent blackhole of eth0: $nums (target 300 ms);\
 uplink_switch $why $t_sw ms after it began, TRANSPORT_SWITCH_OK at the\
 server; session $sid kept"
}

# --- (c) the preferred uplink returns, once ----------------------------------
scenario_c() {
  local nums line t_ret nret nsw
  if [ -z "$T_OFF_A" ]; then
    lab_fail c "needs (a) and its second probe stream"
    return 1
  fi
  if ! lab_wait_for "eth0 active again" $(( STAB_MS / 1000 + 6 )) \
       lab_fo_active_is "$csock" eth0; then
    lab_fail c "eth0 not active again $(( STAB_MS / 1000 + 6 )) s after the\
 blackhole ended (uplinks ${LAB_FO_ST[uplinks]:-?})" "$caudit" "$clog"
    return 1
  fi
  if ! measure_end c; then
    lab_fail c "$REPLY" "$clog" "$caudit"
    return 1
  fi
  nums=$REPLY
  CMARK=$AMARK_C SMARK=$AMARK_S
  nret=$(crecords uplink_switch RETURN_PREFERRED | wc -l)
  nsw=$(crecords uplink_switch | wc -l)
  line=$(crecords uplink_switch RETURN_PREFERRED | head -n1)
  if [ "$nret" -ne 1 ] || [ "$nsw" -ne 2 ] || [ "$(sswitches)" -ne 2 ]; then
    lab_fail c "since (a): $nret RETURN_PREFERRED, $nsw uplink_switch, $(sswitches)\
 TRANSPORT_SWITCH_OK at the server (want 1, 2, 2)" "$caudit" "$saudit"
    return 1
  fi
  mono_of "$line"
  ms_since "$T_OFF_A" "$REPLY"
  t_ret=$REPLY
  # The stability clock starts at the first health judgement after the
  # path's return: never before the window, at most a few s after.
  if lab_lt "$t_ret" $(( STAB_MS - 50 )) ||
     ! lab_lt "$t_ret" $(( STAB_MS + 4000 )); then
    lab_fail c "RETURN_PREFERRED $t_ret ms after the blackhole ended (want\
 $STAB_MS ms .. +4 s)" "$caudit"
    return 1
  fi
  same_session c || return 1
  if ! lab_lt "${P[longest_gap_ms]}" "$C_MAX_MS"; then
    lab_fail c "$nums during the return (limit $C_MAX_MS ms)" "$caudit" "$clog"
    return 1
  fi
  lab_pass c "eth0 back: RETURN_PREFERRED once, $t_ret ms after the blackhole\
 ended (stability window $STAB_MS ms), no other switch; during the\
 return: $nums"
}

# --- (b) carrier loss of the active uplink -----------------------------------
scenario_b() {
  local nums line t_on t_sw t_off
  settle b || return 1
  marks
  measure_start b $(( DOWN_MS / 1000 + 3 )) ||
    { lab_fail b "probe did not start"; return 1; }
  sleep 1.5
  lab_probe_now
  t_on=$REPLY
  lab_fo_link_down 1 || { lab_fail b "ip link set eth0 down failed"; return 1; }
  sleep_ms "$DOWN_MS"
  lab_probe_now
  t_off=$REPLY
  lab_fo_link_up 1 || { lab_fail b "eth0 did not come back up"; return 1; }
  if ! measure_end b "$t_off"; then
    lab_fail b "$REPLY" "$clog" "$caudit"
    return 1
  fi
  nums=$REPLY
  lab_note "b: $nums"
  line=$(crecords uplink_switch LINK_DOWN | head -n1)
  if [ -z "$line" ]; then
    lab_fail b "$nums; no uplink_switch LINK_DOWN in the client's audit" \
      "$caudit" "$clog"
    return 1
  fi
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  t_sw=$REPLY
  if [ "$(sswitches)" -lt 1 ]; then
    lab_fail b "$nums; no TRANSPORT_SWITCH_OK at the server" "$saudit"
    return 1
  fi
  same_session b || return 1
  if ! lab_lt "${P[longest_gap_ms]}" "$B_MAX_MS"; then
    lab_fail b "$nums (limit $B_MAX_MS ms, target 100); LINK_DOWN after\
 $t_sw ms" "$caudit" "$clog"
    return 1
  fi
  lab_pass b "eth0 down for $DOWN_MS ms: $nums (target 100 ms); uplink_switch\
 LINK_DOWN $t_sw ms after the link went down; session $sid kept"
}

# --- (e) both uplinks die, uplink 2 returns first ----------------------------
scenario_e() {
  local nums t_off2 t_off1 rec n on2=""
  settle e || return 1
  marks
  measure_start e $(( BOTH_MS / 1000 + 5 )) ||
    { lab_fail e "probe did not start"; return 1; }
  sleep 1.5
  if ! lab_fo_blackhole_on 1 || ! lab_fo_blackhole_on 2; then
    lab_fail e "nft blackhole failed"
    return 1
  fi
  sleep_ms "$BOTH_MS"
  lab_probe_now
  t_off2=$REPLY
  lab_fo_blackhole_off 2
  # Recovery must pick uplink 2 while uplink 1 is still dead.
  if lab_wait_for "eth1 active" 2 lab_fo_active_is "$csock" eth1; then
    on2=1
  fi
  lab_probe_now
  ms_since "$t_off2" "$REPLY"
  sleep_ms $(( 2000 - REPLY > 0 ? 2000 - REPLY : 0 ))
  lab_probe_now
  t_off1=$REPLY
  lab_fo_blackhole_off 1
  # "back" after uplink 2's return, the later of the two directions.
  if ! measure_end e "$t_off2"; then
    lab_fail e "$REPLY" "$clog" "$caudit" "$slog"
    return 1
  fi
  nums=$REPLY
  lab_note "e: $nums"
  rec=${P[back]}
  ms_since "$t_off2" "$t_off1"
  local at1=$REPLY
  same_session e || return 1
  if [ -z "$on2" ] || ! lab_lt "$rec" "$at1"; then
    lab_fail e "$nums; traffic back $rec ms after uplink 2 returned, uplink 1\
 returned at $at1 ms; eth1 active: ${on2:-no}" "$caudit" "$clog" "$slog"
    return 1
  fi
  if ! lab_lt "$rec" "$E_REC_MAX_MS"; then
    lab_fail e "$nums; traffic back $rec ms after uplink 2 returned (limit\
 $E_REC_MAX_MS ms)" "$caudit" "$clog"
    return 1
  fi
  n=$(audit_since "$caudit" "$CMARK" | grep -c '"event":"transition"')
  lab_pass e "both uplinks dead for $BOTH_MS ms, eth1 back first: traffic\
 back on eth1 $rec ms later, before eth0 returned; $nums; $n session\
 transitions, session $sid kept (state ${LAB_FO_ST[session_state]})"
}

# --- (f) random loss on the active uplink ------------------------------------
scenario_f() {
  local nums line t_on t_sw why
  settle f || return 1
  marks
  measure_start f $(( LOSS_S + 3 )) ||
    { lab_fail f "probe did not start"; return 1; }
  sleep 1.5
  lab_probe_now
  t_on=$REPLY
  lab_fo_loss 1 "$LOSS_PCT" || { lab_fail f "loss injector failed"; return 1; }
  sleep "$LOSS_S"
  lab_fo_loss 1 0
  if ! measure_end f; then
    lab_fail f "$REPLY" "$clog" "$caudit"
    return 1
  fi
  nums=$REPLY
  lab_note "f: $nums"
  line=$(crecords uplink_switch | head -n1)
  if [ -z "$line" ]; then
    lab_fail f "$nums; no uplink_switch during $LOSS_PCT % loss" "$caudit" \
      "$clog"
    return 1
  fi
  reason_of "$line"
  why=$REPLY
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  t_sw=$REPLY
  if ! printf '%s' "$line" | grep -q 'eth1'; then
    lab_fail f "$nums; the switch did not go to eth1: $line" "$caudit"
    return 1
  fi
  same_session f || return 1
  if lab_lt "$(( LOSS_S * 1000 ))" "$t_sw" ||
     ! lab_lt "${P[lost]}" "$F_LOST_MAX"; then
    lab_fail f "$nums (limit $F_LOST_MAX lost); $why after $t_sw ms" \
      "$caudit" "$clog"
    return 1
  fi
  lab_pass f "$LOSS_PCT % loss each way on eth0 for $LOSS_S s: uplink_switch\
 $why to eth1 $t_sw ms after it began; $nums (staying: ~$(( LOSS_S * 200 *
 LOSS_PCT / 100 )) lost)"
  # The loss is gone: eth0, now a standby, must be judged healthy again
  # and preferred once its stability window has passed.
  if ! lab_wait_for "eth0 active again" $(( STAB_MS / 1000 + 8 )) \
       lab_fo_active_is "$csock" eth0; then
    lab_fail f-return "eth0 not active $(( STAB_MS / 1000 + 8 )) s after its\
 loss ended: uplinks ${LAB_FO_ST[uplinks]:-?}; last judgement of eth0:\
 $(grep '"event":"uplink_candidate"' "$caudit" | grep '"detail":"eth0' |
   tail -n1 | grep -o '"detail":"[^"]*"')" "$caudit"
    return 1
  fi
  lab_pass f-return "eth0 preferred again after the loss ended"
}

# --- (t) a TCP standby where the uplink blocks UDP ----------------------------
# eth1_is TRANSPORT [ROLE]: eth1 is a READY attachment (standby by
# default) over TRANSPORT.
eth1_is() {
  lab_fo_status "$csock" &&
    [[ " ${LAB_FO_ST[uplinks]} " == *" eth1:${2:-standby}:READY "* ]] &&
    [[ " ${LAB_FO_ST[transports]} " == *" eth1:$1 "* ]]
}

scenario_t() {
  local nums t0 t_tcp line t_on t_sw t_back n why
  settle t || return 1
  marks
  lab_probe_now
  t0=$REPLY
  lab_fo_udp_block 2 1 || { lab_fail t "UDP block on eth1 failed"; return 1; }
  if ! lab_wait_for "eth1 a READY standby over TCP" 20 eth1_is tcp; then
    lab_fail t "eth1 not a TCP standby 20 s after UDP was blocked on it:\
 uplinks ${LAB_FO_ST[uplinks]:-?}, transports ${LAB_FO_ST[transports]:-?}" \
      "$clog" "$caudit"
    lab_fo_udp_block 2 0
    return 1
  fi
  line=$(crecords transport_switch TCP_FALLBACK | grep 'via eth1' | head -n1)
  mono_of "$line"
  ms_since "$t0" "${REPLY:-0}"
  t_tcp=$REPLY
  if [ -z "$line" ] || [ "${LAB_FO_ST[active]}" != eth0 ]; then
    lab_fail t "no transport_switch TCP_FALLBACK via eth1 in the client's\
 audit, or eth0 not active (${LAB_FO_ST[uplinks]})" "$caudit" "$clog"
    lab_fo_udp_block 2 0
    return 1
  fi
  # The failover: eth0 dies silently, eth1's TCP standby takes over.
  marks
  measure_start t $(( HOLE_MS / 1000 + 3 )) ||
    { lab_fail t "probe did not start"; lab_fo_udp_block 2 0; return 1; }
  sleep 1.5
  lab_probe_now
  t_on=$REPLY
  lab_fo_blackhole_on 1 || { lab_fail t "nft blackhole failed"; return 1; }
  if ! measure_end t; then
    lab_fail t "$REPLY" "$clog" "$caudit"
    lab_fo_blackhole_off 1
    lab_fo_udp_block 2 0
    return 1
  fi
  nums=$REPLY
  lab_note "t: $nums"
  line=$(crecords uplink_switch | head -n1)
  reason_of "$line"
  why=$REPLY
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  t_sw=$REPLY
  n=$(sswitches)
  if [ -z "$line" ] || [ "$n" -lt 1 ] || ! eth1_is tcp active; then
    lab_fail t "$nums; uplink_switch '${why:-none}', $n TRANSPORT_SWITCH_OK\
 at the server, uplinks ${LAB_FO_ST[uplinks]:-?} transports\
 ${LAB_FO_ST[transports]:-?} (want eth1 active over tcp)" "$caudit" "$clog"
    lab_fo_blackhole_off 1
    lab_fo_udp_block 2 0
    return 1
  fi
  same_session t || { lab_fo_blackhole_off 1; lab_fo_udp_block 2 0; return 1; }
  if ! lab_lt "${P[longest_gap_ms]}" "$T_MAX_MS"; then
    lab_fail t "$nums (worse: ${P[dir]}; limit $T_MAX_MS ms, target 300);\
 $why after $t_sw ms" "$caudit" "$clog"
    lab_fo_blackhole_off 1
    lab_fo_udp_block 2 0
    return 1
  fi
  lab_pass t "UDP blocked on eth1: a TCP standby there after $t_tcp ms; a\
 $HOLE_MS ms silent blackhole of eth0 then: failover to it, $nums (target\
 300 ms); uplink_switch $why $t_sw ms after the blackhole began,\
 TRANSPORT_SWITCH_OK at the server; session $sid kept"
  # The way back: UDP passes on eth1 again, eth0 still dead.
  marks
  measure_start t-back $(( T_BACK_MAX_S + 3 )) $(( PORT + 2 )) ||
    { lab_fail t-back "probe did not start"; return 1; }
  sleep 1.5
  lab_probe_now
  t_on=$REPLY
  lab_fo_udp_block 2 0
  if ! lab_wait_for "eth1 active over QUIC" "$T_BACK_MAX_S" eth1_is quic \
       active; then
    lab_fail t-back "eth1 not back on QUIC $T_BACK_MAX_S s after UDP passed\
 again: uplinks ${LAB_FO_ST[uplinks]:-?}, transports\
 ${LAB_FO_ST[transports]:-?}" "$clog" "$caudit"
    lab_fo_blackhole_off 1
    return 1
  fi
  line=$(crecords transport_switch QUIC_RETURN | grep 'via eth1' | head -n1)
  mono_of "$line"
  ms_since "$t_on" "${REPLY:-0}"
  t_back=$REPLY
  if ! measure_end t-back; then
    lab_fail t-back "$REPLY" "$clog" "$caudit"
    lab_fo_blackhole_off 1
    return 1
  fi
  nums=$REPLY
  lab_fo_blackhole_off 1
  if [ -z "$line" ]; then
    lab_fail t-back "$nums; no transport_switch QUIC_RETURN via eth1" \
      "$caudit" "$clog"
    return 1
  fi
  same_session t-back || return 1
  if ! lab_lt "${P[longest_gap_ms]}" "$C_MAX_MS"; then
    lab_fail t-back "$nums during the return to QUIC (limit $C_MAX_MS ms)" \
      "$caudit" "$clog"
    return 1
  fi
  lab_pass t-back "UDP passes on eth1 again: back on QUIC (QUIC_RETURN)\
 $t_back ms later, eth1 still active; during the return: $nums; session\
 $sid kept"
}

# max_in_window MS: the largest number of the mono_ms times on stdin that
# fall in any MS-long window, in REPLY.
max_in_window() {
  REPLY=$(sort -n | awk -v w="$1" '
    { t[n++] = $1 }
    END {
      best = 0; j = 0
      for (i = 0; i < n; i++) {
        while (t[i] - t[j] >= w) j++
        if (i - j + 1 > best) best = i - j + 1
      }
      print best
    }')
}

# --- (d) the active uplink flaps ---------------------------------------------
scenario_d() {
  local nums flap nsw maxw nden nref dens state
  if ! lab_vpn_stop "$client_pid" "$c1" client; then
    lab_fail d "stopping the main client: $REPLY" "$clog"
    return 1
  fi
  if ! client_start flap "$FLAP_POLICY"; then
    lab_fail d "$REPLY"
    return 1
  fi
  marks
  measure_start d $(( FLAP_S + 4 )) ||
    { lab_fail d "probe did not start"; return 1; }
  sleep 1
  lab_fo_flap 1 "$FLAP_HALF_MS" "$FLAP_S"
  flap=$REPLY
  if ! measure_end d; then
    lab_fail d "$REPLY (flap: $flap)" "$clog" "$caudit" "$slog"
    return 1
  fi
  nums=$REPLY
  lab_note "d: $nums; flap $flap"
  # Every switch the server accepted counts against the budget, whatever
  # its reason (activation, NAT rebinding, migration).
  nsw=$(audit_since "$saudit" "$SMARK" | grep "\"session\":\"$hex\"" |
    grep -c '"event":"switch"')
  max_in_window 60000 < <(audit_since "$saudit" "$SMARK" |
    grep "\"session\":\"$hex\"" | grep '"event":"switch"' |
    grep -o '"mono_ms":[0-9]*' | cut -d: -f2)
  maxw=$REPLY
  nden=$(crecords uplink_denied | wc -l)
  # Activations the client sent and the server refused (429).
  nref=$(crecords uplink_activate_refused | wc -l)
  dens=$(crecords uplink_denied | grep -o '"detail":"[A-Z_]*' | cut -d'"' -f4 |
    sort | uniq -c | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }')
  [ -n "$dens" ] || dens=$(crecords uplink_denied |
    grep -o '"reason":"[A-Z_]*"' | cut -d'"' -f4 | sort | uniq -c |
    awk '{ printf "%s%s %s", s, $1, $2; s = ", " }')
  same_session d || return 1
  state=${LAB_FO_ST[session_state]}
  if [ "$maxw" -gt "$BUDGET" ]; then
    lab_fail d "$maxw switches in 60 s (budget $BUDGET/min); $nums" \
      "$saudit" "$caudit"
    return 1
  fi
  if [ "$nden" -lt 1 ] &&
     ! audit_since "$caudit" "$CMARK" | grep -q '"reason":"POLICY_FLAP_LIMIT"'
  then
    lab_fail d "$nsw switches accepted and no denial in the client's audit\
 ($flap); $nums" "$caudit"
    return 1
  fi
  lab_pass d "eth0 flapping (${FLAP_HALF_MS} ms down/up, $flap): $nsw\
 switches accepted, at most $maxw in 60 s (budget $BUDGET); $nden\
 uplink_denied records (${dens:-none}), $nref activations refused by the\
 server; session $sid kept ($state); traffic at the end; $nums"
}

if ! client_start client1 "$MAIN_POLICY"; then
  lab_setup_fail "$REPLY"
fi
for s in $SCENARIOS; do
  case "$s" in
    a|b|c|d|e|f|t) "scenario_$s" ;;
    *) lab_setup_fail "unknown scenario '$s' in FAILOVER_SCENARIOS" ;;
  esac
done

if ! lab_pid_alive "$server_pid"; then
  lab_fail server "the server exited" "$slog"
fi
lab_check_sanitizers "$dir"

lab_test_summary
