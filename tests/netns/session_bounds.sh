#!/usr/bin/env bash
# tests/netns/session_bounds.sh: the session's bounds and its gate, end to
# end (ARCHITECTURE 3 rules 4 and 5, docs/state-machine.md).
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn):
#
#   client1 198.18.1.2 ---- c1 .                        victim: jvpn-quic client
#                               router ---- server 198.18.3.2, UDP 443
#   client2 198.18.2.2 ---- c2 '  (masquerade,   audit_log, --control
#                                  random ports)
#
#   tunnel: server jvpn0 198.18.200.1, client1 jvpn0 198.18.200.2
#   client2 runs no client: it is the attacker's host, with its own key in
#   the server's [peer] list (so its TLS handshakes succeed), and later
#   with client1's stolen key. Its tool is tests/tools/attach_probe.
#
# Defaults under test: QUIC idle timeout 3 s, transport-loss TTL 15 s,
# recovery window 8 s, 8 switches per minute.
#
#   (e) 6 s blackhole of client1's link (idle timeout < 6 s < TTL): the
#       connection dies, the session lives (RECOVERING), and the client
#       reattaches to the SAME session; the time from the path's return to
#       the first probe packet through is measured.
#   (f) the reattach request of (e), captured with JVPN_TEST_DUMP_ATTACH,
#       replayed from client2 with client2's key (PIN_MISMATCH) and with
#       client1's stolen key (BAD_PROOF or REPLAY): both 403, the victim's
#       state and state_version unchanged, its traffic without a gap.
#   (g) a forged proof for the known session ID with the stolen key:
#       403 BAD_PROOF, victim unchanged, traffic unaffected.
#   (j) 10 connections at once with the stolen key, held: past
#       pin_max_connections (set to 4 here; 32 by default) live
#       connections of that pin the server refuses the handshake ("pin
#       connection limit", audited); the victim is untouched.
#   (h) 20 NAT rebindings (conntrack -F every 0.5 s) under traffic: the
#       session goes DEGRADED (POLICY_FLAP_LIMIT) and is not terminated.
#   (d) 20 s blackhole (> 3 s idle + 15 s TTL): the server terminates the
#       session (TTL_TRANSPORT_LOSS_EXPIRED); when the path returns the
#       client starts a new session and says why; the inner address stays.
#   (i) a warm standby and its activation, on the new session of (d): with
#       the secret the client dumps (JVPN_TEST_DUMP_SECRET), attach_probe
#       opens a standby from client1's namespace (the server lists it, the
#       session does not move), then activates it with the ACTIVATE
#       capsule: result 0, TRANSPORT_SWITCH_OK, the active attachment is
#       the probe's, state_version + 2. When the probe leaves, the session
#       goes RECOVERING (+ 1), not TERMINATED.
#
# (d) runs after (e)-(h) because it ends the session they use; (i) runs
# last because it takes the data away from the client's connection.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. BOUNDS_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init session_bounds

# Thresholds (ms), generous for a loaded 2-core machine.
GAP_MAX_MS=${BOUNDS_GAP_MAX_MS:-1000}      # (f)-(h): traffic unaffected
REATTACH_MAX_MS=${BOUNDS_REATTACH_MAX_MS:-3000} # (e): path back -> traffic
TTL_S=15           # policy default transport_loss_ttl_ms
IDLE_S=3           # QUIC idle timeout (3 keep-alives of 1 s)
SHORT_HOLE_S=6     # (e): > IDLE_S, < TTL_S
# (d): > IDLE_S + TTL_S. The server notices the death up to ~5.5 s in:
# its idle timer restarts at its first keep-alive after the last packet
# received, and it pings only when the client's keep-alives stop (2.5 s,
# JVPN_QUIC_SERVER_KEEPALIVE_MS); so the session ends ~20.5 s in at the
# latest, and the path must stay dead past that.
LONG_HOLE_S=${BOUNDS_LONG_HOLE_S:-23}
FLUSHES=20         # (h)
JOBS=20            # (j): connections at once with the stolen key ...
PIN_MAX=2          # ... past the server's pin_max_connections
PORT=9000

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
ATTACH_PROBE=${ATTACH_PROBE:-$top_builddir/tests/tools/attach_probe}
[ -x "$ATTACH_PROBE" ] ||
  lab_setup_fail "no attach_probe binary (make tests/tools/attach_probe)"
lab_require_tools nft conntrack base64 od
lab_note "using $JVPN_BIN"

lab_test_logdir BOUNDS_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" "client1 client2" ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
tun=$LAB_TUN
slog=$dir/server.log
clog=$dir/client1.log
audit=$dir/audit.jsonl
ssock=$dir/server.sock
csock=$dir/client.sock
dump=$dir/attach.dump
sdump=$dir/secret.dump

# The audit log goes in [server] (its first section), after log_level.
sed -i "0,/^log_level/s||audit_log = $audit\n&|" "$dir/server.conf"
# (j): a small per-pin connection limit, so a few held connections pass it.
printf '\n[policy]\npin_max_connections = %d\n' "$PIN_MAX" >>"$dir/server.conf"
grep -q "^audit_log = $audit" "$dir/server.conf" ||
  lab_setup_fail "could not add audit_log to the server's config"

if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" -v \
     --control "$ssock"; then
  lab_setup_fail "the server did not come up: $(lab_tail "$slog")"
fi
server_pid=$LAB_VPN_PID
# The client writes each attach request it sends to $dump, for (f).
if ! JVPN_TEST_DUMP_ATTACH=$dump JVPN_TEST_DUMP_SECRET=$sdump \
     lab_vpn_client_start "$c1" "$clog" \
       "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" -c "$dir/client1.conf" -v \
       --control "$csock" ||
   ! lab_wait_tunnel "$c1" 5; then
  lab_setup_fail "client1 did not come up: $(lab_tail "$slog" "$clog")"
fi
client_pid=$LAB_VPN_PID

# --- helpers ----------------------------------------------------------------

# Client status (lab_cli_status) in C, a session at the server
# (lab_srv_session) in S.
declare -A C=() S=()
cli_status() { lab_cli_status "$csock" C; }
srv_session() { lab_srv_session "$ssock" "$1" S; }

# hex_id ID: the base64url session ID as the audit log spells it (hex).
hex_id() {
  REPLY=$(printf '%s==' "$1" | tr -- '-_' '+/' | base64 -d 2>/dev/null |
    od -An -tx1 | tr -d ' \n')
}

# audit_since MARK: the audit lines after line MARK, on stdout.
audit_since() { tail -n "+$(($1 + 1))" "$audit" 2>/dev/null; }
audit_mark() {
  REPLY=$(wc -l <"$audit" 2>/dev/null)
  REPLY=${REPLY:-0}
}
# audit_find MARK HEX KIND REASON [TO]: the first line after MARK for
# session HEX with that kind, reason (and "to" state), in REPLY.
audit_find() {
  local pat to=${5:-}
  pat="\"session\":\"$2\".*\"kind\":\"$3\".*"
  [ -n "$to" ] && pat+="\"to\":\"$to\".*"
  pat+="\"reason\":\"$4\""
  REPLY=$(audit_since "$1" | grep -m1 -- "$pat")
  [ -n "$REPLY" ]
}
# audit_wait ARGS...: audit_find, polled for up to 2 s.
audit_wait() { lab_wait_for "an audit record ($4)" 2 audit_find "$@"; }
mono_of() { REPLY=$(printf '%s' "$1" | grep -o '"mono_ms":[0-9]*' | cut -d: -f2); }

# measure_start NAME SECONDS / measure_end NAME: the probe stream client1
# -> server through the tunnel; numbers in P[key]. measure_end fails when
# the stream did not come back by its end.
declare -A P=()
measure_start() {
  lab_probe_start "$c1" "$sv" "$LAB_SERVER_IN4" "$PORT" "$2" "$dir/$1"
}
measure_end() { lab_probe_end "$dir/$1" P; }

# ms_since A B: B - A in whole ms (probe times are fractional), in REPLY.
ms_since() { REPLY=$(awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'); }

# attack NAME KEYDIR ARGS...: runs attach_probe in client2's namespace
# with the key pair in KEYDIR; its output line in REPLY.
attack() {
  local name=$1 keys=$2
  shift 2
  REPLY=$(ip netns exec "$c2" timeout 15 "$ATTACH_PROBE" \
    --server 198.18.3.2:443 --key "$keys/key.pem" --cert "$keys/cert.pem" \
    --server-pin "${LAB_PIN[server]}" --timeout 5 "$@" \
    2>>"$dir/attack-$name.log")
}

victim_unchanged() { # SID STATE VERSION -> REPLY reason on failure
  if ! cli_status || [ "${C[session]}" != "$1" ] ||
     [ "${C[state]}" != ATTACHED ]; then
    REPLY="the victim client is now ${C[session]:-none} ${C[state]:-}"
    return 1
  fi
  if ! srv_session "$1"; then
    REPLY="the server no longer lists the victim session"
    return 1
  fi
  if [ "${S[state]}" != "$2" ] || [ "${S[version]}" != "$3" ]; then
    REPLY="victim moved: $2 v$3 -> ${S[state]} v${S[version]}"
    return 1
  fi
}

# hole SECONDS: blackholes client1's uplink 1 for SECONDS; the probe's
# times of its start and end in T_ON and T_OFF.
hole() {
  lab_probe_now
  T_ON=$REPLY
  lab_uplink_blackhole_on client1 1 || return 1
  sleep "$1"
  lab_uplink_blackhole_off client1 1
  lab_probe_now
  T_OFF=$REPLY
}

# victim_ok NAME STATE VERSION NUMS: after an attack on the victim's
# session, it is unchanged (victim_unchanged) and its traffic went on
# without a gap (NUMS are the probe's); else fails NAME.
victim_ok() {
  if ! victim_unchanged "$sid" "$2" "$3"; then
    lab_fail "$1" "$REPLY" "$audit"
    return 1
  fi
  if ! lab_lt "${P[longest_gap_ms]}" "$GAP_MAX_MS"; then
    lab_fail "$1" "$4 (limit $GAP_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
}

cli_status || lab_setup_fail "no session in the client's status"
sid=${C[session]}
hex_id "$sid"
hex=$REPLY
lab_note "session $sid (audit $hex)"

# --- (e) blackhole longer than the idle timeout, shorter than the TTL -----
scenario_e() {
  local mark nidle reatt0 births0 t_on t_off rec line nums
  cli_status
  reatt0=${C[reattaches]}
  births0=${C[births]}
  lab_count "connection ended: idle timeout" "$slog"
  nidle=$REPLY
  audit_mark
  mark=$REPLY
  measure_start e $((SHORT_HOLE_S + 6)) ||
    { lab_fail e "probe did not start"; return 1; }
  sleep 1.5
  hole "$SHORT_HOLE_S" || { lab_fail e "nft blackhole failed"; return 1; }
  t_on=$T_ON
  t_off=$T_OFF
  if ! measure_end e; then
    lab_fail e "$REPLY" "$slog" "$clog"
    return 1
  fi
  nums=$REPLY
  ms_since "$t_off" "${P[gap_end_ms]}"
  rec=$REPLY
  if ! lab_more_lines "connection ended: idle timeout" "$slog" "$nidle"; then
    lab_fail e "the server did not log 'connection ended: idle timeout'" "$slog"
    return 1
  fi
  if ! audit_find "$mark" "$hex" transition '[A-Z_]*' RECOVERING; then
    lab_fail e "no transition to RECOVERING in the audit log" "$audit"
    return 1
  fi
  line=$REPLY
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  local t_rec=$REPLY
  # The connection must have died of the idle timeout, inside the hole.
  if lab_lt "$t_rec" $((IDLE_S * 1000 - 250)) ||
     ! lab_lt "$t_rec" $((SHORT_HOLE_S * 1000)); then
    lab_fail e "RECOVERING ${t_rec} ms after the blackhole began (want\
 ${IDLE_S}..${SHORT_HOLE_S} s)" "$audit" "$slog"
    return 1
  fi
  if ! audit_find "$mark" "$hex" transition REATTACH_ACCEPT ATTACHED; then
    lab_fail e "no REATTACH_ACCEPT -> ATTACHED in the audit log" "$audit" \
      "$slog"
    return 1
  fi
  if audit_since "$mark" | grep -q "\"session\":\"$hex\".*\"to\":\"TERMINATED\""
  then
    lab_fail e "the session was terminated" "$audit"
    return 1
  fi
  cli_status
  if [ "${C[session]}" != "$sid" ] || [ "${C[state]}" != ATTACHED ] ||
     [ "${C[reattaches]}" != $((reatt0 + 1)) ] ||
     [ "${C[births]}" != "$births0" ]; then
    lab_fail e "client: session ${C[session]} ${C[state]} reattaches\
 ${C[reattaches]} births ${C[births]} (want $sid ATTACHED $((reatt0 + 1))\
 $births0)" "$clog"
    return 1
  fi
  if ! srv_session "$sid" || [ "${S[state]}" != ATTACHED ]; then
    lab_fail e "server: session $sid is ${S[state]:-gone}" "$slog"
    return 1
  fi
  if ! lab_has_addr "$c1" "$tun" "$LAB_CLIENT1_IN4"; then
    lab_fail e "client1 lost its inner address" "$clog"
    return 1
  fi
  if ! lab_lt "$rec" "$REATTACH_MAX_MS"; then
    lab_fail e "$nums, traffic back $rec ms after the path returned (limit\
 $REATTACH_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  lab_pass e "${SHORT_HOLE_S} s blackhole: server saw the connection die and\
 went RECOVERING ${t_rec} ms after it began; same session $sid, ATTACHED,\
 reattaches $reatt0 -> ${C[reattaches]} (server v${S[version]}); traffic\
 back $rec ms after the path returned; $nums"
}

# --- (f) a captured reattach request replayed from another host -----------
scenario_f() {
  local attach version st ver mark a1 a2 r1 r2 nums
  if [ ! -s "$dump" ] || [ "$(wc -l <"$dump")" -lt 2 ]; then
    lab_fail f "no reattach request was captured in $dump" "$clog"
    return 1
  fi
  attach=$(tail -n 2 "$dump" | head -n 1)
  version=$(tail -n 1 "$dump")
  srv_session "$sid" || { lab_fail f "victim session not listed"; return 1; }
  st=${S[state]}
  ver=${S[version]}
  audit_mark
  mark=$REPLY
  measure_start f 5 || { lab_fail f "probe did not start"; return 1; }
  sleep 1
  attack f-own "$dir/client2" --attach "$attach" --version "$version"
  a1=$REPLY
  # The record is written before the answer leaves; the wait only covers
  # the audit writer's ring.
  audit_wait "$mark" "$hex" security PIN_MISMATCH && r1=PIN_MISMATCH ||
    r1=""
  # The stolen identity: client1's own key pair, on client2's host.
  mkdir -p "$dir/stolen" && cp "$dir/client1/key.pem" "$dir/client1/cert.pem" \
    "$dir/stolen/"
  attack f-stolen "$dir/stolen" --attach "$attach" --version "$version"
  a2=$REPLY
  if audit_wait "$mark" "$hex" security '\(BAD_PROOF\|REPLAY\)'; then
    r2=$(printf '%s' "$REPLY" | grep -o '"reason":"[A-Z_]*"' | cut -d'"' -f4)
  else
    r2=""
  fi
  if ! measure_end f; then
    lab_fail f "$REPLY" "$slog" "$clog"
    return 1
  fi
  nums=$REPLY
  if [ "$a1" != "status 403" ] || [ "$r1" != PIN_MISMATCH ]; then
    lab_fail f "replay with the attacker's own key: '$a1', audit '${r1:-none}'\
 (want 'status 403', PIN_MISMATCH)" "$audit" "$dir/attack-f-own.log" "$slog"
    return 1
  fi
  if [ "$a2" != "status 403" ] || [ -z "$r2" ]; then
    lab_fail f "replay with the stolen key: '$a2', audit '${r2:-none}' (want\
 'status 403', BAD_PROOF or REPLAY)" "$audit" "$dir/attack-f-stolen.log" \
      "$slog"
    return 1
  fi
  victim_ok f "$st" "$ver" "$nums" || return 1
  lab_pass f "replayed reattach: own key -> 403 $r1, stolen key -> 403 $r2;\
 victim still $st v$ver; $nums"
}

# --- (g) a forged proof for the known session ID --------------------------
scenario_g() {
  local st ver mark a r nums
  srv_session "$sid" || { lab_fail g "victim session not listed"; return 1; }
  st=${S[state]}
  ver=${S[version]}
  audit_mark
  mark=$REPLY
  measure_start g 4 || { lab_fail g "probe did not start"; return 1; }
  sleep 1
  # A nonce far above the client's: only the MAC can refuse it.
  attack g "$dir/stolen" --forge "$sid" --nonce 1000 --version "$ver"
  a=$REPLY
  audit_wait "$mark" "$hex" security BAD_PROOF && r=BAD_PROOF || r=""
  if ! measure_end g; then
    lab_fail g "$REPLY" "$slog" "$clog"
    return 1
  fi
  nums=$REPLY
  if [ "$a" != "status 403" ] || [ "$r" != BAD_PROOF ]; then
    lab_fail g "forged proof: '$a', audit '${r:-none}' (want 'status 403',\
 BAD_PROOF)" "$audit" "$dir/attack-g.log" "$slog"
    return 1
  fi
  victim_ok g "$st" "$ver" "$nums" || return 1
  lab_pass g "forged proof -> 403 $r; victim still $st v$ver; $nums"
}

# --- (j) one stolen key, many connections ---------------------------------
# JOBS connections at once with the stolen key, each asking a forged
# reattach: past PIN_MAX (the policy's pin_max_connections, 32 by
# default, 2 here) live connections of that pin the server refuses the
# handshake ("pin connection limit", audited); the victim is untouched.
# A refused request ends its connection (the client's transport closes
# on a non-2xx answer, so --hold cannot keep it): each lives a few tens
# of ms, and twenty started at once are what makes three overlap.
scenario_j() {
  local st ver i pids=() n429 ncap nums
  srv_session "$sid" || { lab_fail j "victim session not listed"; return 1; }
  st=${S[state]}
  ver=${S[version]}
  measure_start j 4 || { lab_fail j "probe did not start"; return 1; }
  sleep 1
  for ((i = 1; i <= JOBS; i++)); do
    ip netns exec "$c2" timeout 20 "$ATTACH_PROBE" \
      --server 198.18.3.2:443 --key "$dir/stolen/key.pem" \
      --cert "$dir/stolen/cert.pem" --server-pin "${LAB_PIN[server]}" \
      --timeout 5 --forge "$sid" --nonce $((2000 + i)) --version "$ver" \
      --hold 8000 >"$dir/j.$i.out" 2>>"$dir/attack-j.log" &
    pids+=("$!")
  done
  wait "${pids[@]}"
  n429=$(cat "$dir"/j.*.out | grep -c '^status [0-9]' || true)
  if ! measure_end j; then
    lab_fail j "$REPLY" "$slog" "$clog"
    return 1
  fi
  nums=$REPLY
  if ! grep -q 'pin connection limit' "$audit" ||
     ! grep -q "over $PIN_MAX connections for this client pin" "$slog"; then
    lab_fail j "no pin connection limit after $JOBS connections ($n429 answered)" \
      "$slog" "$dir/attack-j.log"
    return 1
  fi
  victim_ok j "$st" "$ver" "$nums" || return 1
  ncap=$(grep -c 'pin connection limit' "$audit" || true)
  lab_pass j "$JOBS connections held with one stolen pin: $n429 got an answer, $ncap refused at the limit; victim still $st v$ver; $nums"
}

# --- (h) NAT rebinding past the switch limit ------------------------------
scenario_h() {
  local mark i nreb ndeny line t0 t_deg nums
  audit_mark
  mark=$REPLY
  measure_start h $((FLUSHES / 2 + 4)) ||
    { lab_fail h "probe did not start"; return 1; }
  sleep 1
  lab_probe_now
  t0=$REPLY
  for ((i = 0; i < FLUSHES; i++)); do
    lab_nat_flush
    sleep 0.5
  done
  if ! measure_end h; then
    lab_fail h "$REPLY" "$slog" "$clog"
    return 1
  fi
  nums=$REPLY
  nreb=$(audit_since "$mark" | grep "\"session\":\"$hex\"" |
    grep -c '"reason":"NAT_REBIND"')
  ndeny=$(audit_since "$mark" | grep "\"session\":\"$hex\"" |
    grep -c '"kind":"denial".*"reason":"POLICY_FLAP_LIMIT"')
  if ! audit_find "$mark" "$hex" transition POLICY_FLAP_LIMIT DEGRADED; then
    lab_fail h "no transition to DEGRADED with POLICY_FLAP_LIMIT after $nreb\
 NAT_REBIND records; $nums" "$audit" "$slog"
    return 1
  fi
  line=$REPLY
  mono_of "$line"
  ms_since "$t0" "$REPLY"
  t_deg=$REPLY
  if audit_since "$mark" | grep -q "\"session\":\"$hex\".*\"to\":\"TERMINATED\""
  then
    lab_fail h "the session was terminated" "$audit"
    return 1
  fi
  if ! srv_session "$sid" || [ "${S[state]}" = TERMINATED ]; then
    lab_fail h "server: session $sid is ${S[state]:-gone}" "$slog"
    return 1
  fi
  cli_status
  if [ "${C[session]}" != "$sid" ]; then
    lab_fail h "the client changed session: ${C[session]}" "$clog"
    return 1
  fi
  lab_pass h "$FLUSHES NAT flushes: $nreb NAT_REBIND switches accepted, then\
 DEGRADED (POLICY_FLAP_LIMIT) ${t_deg} ms after the first flush and\
 $ndeny later rebindings denied; session alive (${S[state]} v${S[version]});\
 traffic flowed: $nums"
}

# --- (d) blackhole past the transport-loss TTL ----------------------------
new_session() {
  cli_status && [ "${C[session]}" != "$sid" ] && [ "${C[state]}" = ATTACHED ]
}
scenario_d() {
  local mark births0 t_on t_off t_term t_dead t_new line why
  cli_status
  births0=${C[births]}
  audit_mark
  mark=$REPLY
  hole "$LONG_HOLE_S" || { lab_fail d "nft blackhole failed"; return 1; }
  t_on=$T_ON
  t_off=$T_OFF
  if ! lab_wait_for "a new session at the client" 20 new_session; then
    lab_fail d "no new session within 20 s of the path's return (client:\
 ${C[session]:-none} ${C[state]:-})" "$clog" "$slog"
    return 1
  fi
  lab_probe_now
  ms_since "$t_off" "$REPLY"
  t_new=$REPLY
  if ! lab_wait_for "a ping through the new session" 5 lab_ping "$c1" \
       "$LAB_SERVER_IN4"; then
    lab_fail d "no traffic through the new session" "$clog" "$slog"
    return 1
  fi
  lab_probe_now
  ms_since "$t_off" "$REPLY"
  local t_ping=$REPLY
  if ! audit_find "$mark" "$hex" transition TTL_TRANSPORT_LOSS_EXPIRED \
       TERMINATED; then
    lab_fail d "no TERMINATED (TTL_TRANSPORT_LOSS_EXPIRED) for $sid in the audit\
 log" "$audit" "$slog"
    return 1
  fi
  line=$REPLY
  mono_of "$line"
  ms_since "$t_on" "$REPLY"
  t_term=$REPLY
  t_dead="?"
  if audit_find "$mark" "$hex" transition TRANSPORT_DEAD RECOVERING; then
    mono_of "$REPLY"
    ms_since "$t_on" "$REPLY"
    t_dead=$REPLY
  fi
  if ! lab_lt "$t_term" $(((LONG_HOLE_S) * 1000)) ||
     lab_lt "$t_term" $((TTL_S * 1000)); then
    lab_fail d "terminated ${t_term} ms after the blackhole began (want\
 ${TTL_S}..${LONG_HOLE_S} s)" "$audit"
    return 1
  fi
  if srv_session "$sid"; then
    lab_fail d "the server still lists the old session ($sid ${S[state]})"
    return 1
  fi
  if ! lab_more_lines "session $sid is over" "$clog" 0; then
    lab_fail d "the client did not say why the session is over" "$clog"
    return 1
  fi
  why=$(grep -m1 "session $sid is over" "$clog" | sed 's/.*is over (\(.*\)):.*/\1/')
  if [ "${C[births]}" != $((births0 + 1)) ]; then
    lab_fail d "births ${C[births]} (want $((births0 + 1)))" "$clog"
    return 1
  fi
  if ! lab_has_addr "$c1" "$tun" "$LAB_CLIENT1_IN4" ||
     ! srv_session "${C[session]}"; then
    lab_fail d "inner address or server session missing after the new birth" \
      "$clog" "$slog"
    return 1
  fi
  lab_pass d "${LONG_HOLE_S} s blackhole: old session terminated\
 (TTL_TRANSPORT_LOSS_EXPIRED) ${t_term} ms after it began (connection\
 seen dead at ${t_dead} ms, + TTL ${TTL_S} s); new session ${C[session]} (births $births0 ->\
 ${C[births]}) ${t_new} ms after the path returned, ping through at\
 ${t_ping} ms; client: \"$why\"; inner address $LAB_CLIENT1_IN4 kept"
}

# --- (i) a warm standby, then activated ------------------------------------
# srv_field ID KEY: a number from session ID's object in the server's
# status, in REPLY.
srv_field() {
  local j
  j=$("$JVPN_BIN" status --json -s "$ssock" 2>/dev/null) || return 1
  REPLY=$(printf '%s' "$j" | grep -o "\"session\":\"$1\"[^}]*" |
    grep -o "\"$2\":[0-9]*" | head -n1 | cut -d: -f2)
  [ -n "$REPLY" ]
}
standby_listed() { srv_field "$1" standbys && [ "$REPLY" = "$2" ]; }
probe_said() { grep -q "$1" "$dir/standby.out" 2>/dev/null; }
srv_state_is() { srv_session "$1" && [ "${S[state]}" = "$2" ]; }
scenario_i() {
  local sid2 hex2 v0 a0 a1 mark pid line res nver
  if ! cli_status || [ "${C[state]}" != ATTACHED ] ||
     ! grep -q "^sid ${C[session]}\$" "$sdump" 2>/dev/null; then
    lab_fail i "no attached session with a dumped secret (client:\
 ${C[session]:-none} ${C[state]:-})" "$clog"
    return 1
  fi
  sid2=${C[session]}
  hex_id "$sid2"
  hex2=$REPLY
  srv_session "$sid2" || { lab_fail i "server does not list $sid2"; return 1; }
  v0=${S[version]}
  srv_field "$sid2" attachment
  a0=$REPLY
  audit_mark
  mark=$REPLY
  ip netns exec "$c1" timeout 20 "$ATTACH_PROBE" \
    --server 198.18.3.2:443 --key "$dir/client1/key.pem" \
    --cert "$dir/client1/cert.pem" --server-pin "${LAB_PIN[server]}" \
    --timeout 5 --secret-file "$sdump" --standby --activate-after 2000 \
    --hold 2000 >"$dir/standby.out" 2>"$dir/standby.log" &
  pid=$!
  if ! lab_wait_for "the standby answer" 5 probe_said '^status'; then
    kill "$pid" 2>/dev/null
    lab_fail i "no answer to the standby request" "$dir/standby.log" "$slog"
    return 1
  fi
  line=$(head -n1 "$dir/standby.out")
  if ! printf '%s' "$line" | grep -q "^status 200 session $sid2 "; then
    kill "$pid" 2>/dev/null
    lab_fail i "standby request: '$line' (want status 200 session $sid2)" \
      "$dir/standby.log" "$audit" "$slog"
    return 1
  fi
  if ! standby_listed "$sid2" 1 || ! srv_session "$sid2" ||
     [ "${S[version]}" != "$v0" ] || ! srv_field "$sid2" attachment ||
     [ "$REPLY" != "$a0" ]; then
    kill "$pid" 2>/dev/null
    lab_fail i "after the standby: standbys/attachment/version moved (v$v0 ->\
 ${S[version]:-?}, attachment $a0 -> ${REPLY:-?})" "$slog"
    return 1
  fi
  if ! audit_find "$mark" "$hex2" '[a-z]*' STANDBY_ADDED; then
    kill "$pid" 2>/dev/null
    lab_fail i "no STANDBY_ADDED record" "$audit"
    return 1
  fi
  if ! lab_wait_for "the activate result" 6 probe_said '^activate'; then
    kill "$pid" 2>/dev/null
    lab_fail i "no ACTIVATE_RESULT" "$dir/standby.log" "$slog"
    return 1
  fi
  res=$(grep -m1 '^activate' "$dir/standby.out")
  nver=${res##* }
  if [ "${res% version *}" != "activate status 0" ]; then
    kill "$pid" 2>/dev/null
    lab_fail i "activation: '$res' (want status 0)" "$audit" "$slog"
    return 1
  fi
  if ! audit_wait "$mark" "$hex2" '[a-z]*' TRANSPORT_SWITCH_OK; then
    kill "$pid" 2>/dev/null
    lab_fail i "no TRANSPORT_SWITCH_OK record" "$audit"
    return 1
  fi
  srv_session "$sid2"
  srv_field "$sid2" attachment
  a1=$REPLY
  if [ "${S[state]}" != ATTACHED ] || [ "${S[version]}" != $((v0 + 2)) ] ||
     [ "$a1" = "$a0" ] || ! standby_listed "$sid2" 1 ||
     ! srv_field "$sid2" attach_version || [ "$REPLY" != "$nver" ]; then
    kill "$pid" 2>/dev/null
    lab_fail i "after activation: ${S[state]} v${S[version]} (want ATTACHED\
 v$((v0 + 2))), attachment $a0 -> $a1, attach_version ${REPLY:-?} (result\
 $nver)" "$slog"
    return 1
  fi
  wait "$pid"
  if ! lab_wait_for "RECOVERING after the probe left" 5 srv_state_is \
       "$sid2" RECOVERING || [ "${S[version]}" != $((v0 + 3)) ]; then
    lab_fail i "after the probe left: ${S[state]:-gone} v${S[version]:-?}\
 (want RECOVERING v$((v0 + 3)))" "$slog" "$audit"
    return 1
  fi
  if audit_since "$mark" |
     grep -q "\"session\":\"$hex2\".*\"to\":\"TERMINATED\""; then
    lab_fail i "the session was terminated" "$audit"
    return 1
  fi
  lab_pass i "standby for $sid2 from a second socket: 200, listed, session\
 unmoved (v$v0, attachment $a0); ACTIVATE -> result 0, TRANSPORT_SWITCH_OK,\
 attachment $a0 -> $a1, v$((v0 + 2)), attach version $nver; probe gone ->\
 RECOVERING v$((v0 + 3)), not terminated"
}

scenario_e
scenario_f
scenario_g
scenario_j
scenario_h
scenario_d
scenario_i

if ! lab_pid_alive "$server_pid"; then
  lab_fail server "the server exited" "$slog"
fi
if ! lab_pid_alive "$client_pid"; then
  lab_fail client "the client exited" "$clog"
fi
lab_check_sanitizers "$dir"

lab_test_summary
