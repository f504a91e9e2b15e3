#!/usr/bin/env bash
# tests/netns/tcp_fallback.sh: when UDP is blocked, the same session goes
# over HTTP/2 on TCP 443, and back to QUIC when UDP returns
# (docs/decisions.md D39).
#
# The lab topology (tests/lab/lab.sh, lab_topo_vpn): client1 behind the
# masquerading router, the server on 198.18.3.2 with UDP and TCP 443. The
# router drops UDP to and from port 443 on demand (lab_udp_block), the
# way hotel and corporate networks block QUIC.
#
#   (a) UDP blocked from the start: the tunnel is up within 1 s of the
#       client's first attempt (its log's time stamps), over TCP, and a
#       20 MB transfer completes each way with matching SHA-256.
#   (c) UDP allowed again: the session returns to QUIC within a probe
#       interval (quic_probe_ms, 1 s) and a round trip: same session, same
#       inner address; the two 200 packets/s probe streams (up and down)
#       show no gap beyond GAP_BACK_MAX_MS (the TCP connection carries the
#       data until the new tunnel opens).
#   (b) UDP blocked mid-session: the same session (ID, inner address;
#       state_version + 2) continues over TCP; the longest gap of the
#       probe streams, the worse direction, is judged (goal: 1 s).
#   (d) only TCP passes and the router forgets idle TCP mappings after
#       5 s and tracks strictly (a forgotten mapping's segments are not
#       picked up again): 12 s without traffic, then the tunnel still works on the same
#       TCP connection (HTTP/2 PINGs every keep-alive interval keep the
#       mapping).
#   (e) a replayed attach request over TCP (a captured header, byte for
#       byte) and a forged one (random proof) are refused, as over QUIC,
#       and the victim session does not move.
#   (f) transport = tcp: the client never tries QUIC.
#   (g) everything (UDP and TCP) blackholed for 5 s, past QUIC's idle
#       timeout: the same session comes back, over whichever transport
#       wins the race, and stays up; (g2) the same from a session on TCP
#       with UDP still blocked (TCP must win).
#   (s) the server's `status` table: a row per session with its transport
#       and last switch.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. TCPFB_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init tcp_fallback

# Thresholds (ms), with margins for a loaded 2-core machine.
ATTACH_MAX_MS=${TCPFB_ATTACH_MAX_MS:-1000}  # (a) the issue's goal
FALLBACK_GAP_MAX_MS=${TCPFB_GAP_MAX_MS:-1000} # (b) the issue's goal
GAP_BACK_MAX_MS=${TCPFB_GAP_BACK_MAX_MS:-300} # (c) "no gap"
RETURN_MAX_S=${TCPFB_RETURN_MAX_S:-3}         # (c) a 1 s probe interval + margin
XFER_MB=${TCPFB_XFER_MB:-20}
PORT=9000

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
ATTACH_PROBE=${ATTACH_PROBE:-$top_builddir/tests/tools/attach_probe}
[ -x "$ATTACH_PROBE" ] ||
  lab_setup_fail "no attach_probe binary (make tests/tools/attach_probe)"
lab_require_tools nft conntrack socat sha256sum
lab_note "using $JVPN_BIN"

lab_test_logdir TCPFB_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" "client1 client2" ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
rt=${LAB_NS[router]}
slog=$dir/server.log
clog=$dir/client1.log
audit=$dir/audit.jsonl
ssock=$dir/server.sock
csock=$dir/client1.sock
dump=$dir/attach.dump

sed -i "0,/^log_level/s||audit_log = $audit\n&|" "$dir/server.conf"

if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" -v \
     --control "$ssock"; then
  lab_setup_fail "the server did not come up: $(lab_tail "$slog")"
fi
server_pid=$LAB_VPN_PID
lab_tcp_listening "$sv" 443 ||
  lab_setup_fail "the server does not listen on TCP 443: $(lab_tail "$slog")"

declare -A C=() S=() P=() PU=() PD=()
cli_status() { lab_cli_status "$csock" C; }
srv_session() { lab_srv_session "$ssock" "$1" S; }
measure_start() {
  lab_probe2_start "$c1" "$sv" "$LAB_SERVER_IN4" "$LAB_CLIENT1_IN4" "$PORT" \
    "$2" "$dir/$1"
}
measure_end() { lab_probe2_end "$dir/$1" PU PD P "${2:-}"; }
numbers() { lab_probe2_numbers PU PD P; }

# on_transport T: the client's session goes over T (quic or tcp) now.
on_transport() { cli_status && [ "${C[transport]}" = "$1" ]; }

# same_session SID VERSION: the client still has session SID, with its
# inner address, at state_version VERSION + 2 (one transport switch is two
# transitions: RECOVERY_START, then REATTACH_ACCEPT on the new
# attachment, docs/state-machine.md); else REPLY says why.
same_session() {
  if ! cli_status || [ "${C[session]}" != "$1" ]; then
    REPLY="the session changed: $1 -> ${C[session]:-none}"
    return 1
  fi
  if ! lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN4"; then
    REPLY="the client lost its inner address $LAB_CLIENT1_IN4"
    return 1
  fi
  if [ "${C[version]:-0}" != $(( $2 + 2 )) ]; then
    REPLY="state_version $2 -> ${C[version]:-?}, not one switch (+2)"
    return 1
  fi
}

# --- (a) UDP blocked from the start ------------------------------------------
scenario_a() {
  local ms up down
  lab_udp_block 1 || { lab_fail a "cannot block UDP in the router"; return 1; }
  if ! JVPN_TEST_DUMP_ATTACH=$dump lab_vpn_client_start "$c1" "$clog" \
         "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" -c "$dir/client1.conf" -v \
         --control "$csock" || ! lab_wait_tunnel "$c1" 5; then
    lab_fail a "client1 did not come up over TCP" "$slog" "$clog"
    return 1
  fi
  client_pid=$LAB_VPN_PID
  if ! lab_vpn_attach_ms "$clog"; then
    lab_fail a "no 'connecting to' / 'tunnel up' in the client's log" "$clog"
    return 1
  fi
  ms=$REPLY
  if ! on_transport tcp; then
    lab_fail a "the session is not on TCP (${C[transport]:-?})" "$clog"
    return 1
  fi
  if ! lab_lt "$ms" "$ATTACH_MAX_MS"; then
    lab_fail a "tunnel up $ms ms after the first attempt (limit" \
      "$ATTACH_MAX_MS ms)" "$clog"
    return 1
  fi
  head -c $((XFER_MB * 1048576)) /dev/urandom >"$dir/xfer.bin"
  if ! lab_xfer "$c1" "$sv" "$LAB_SERVER_IN4" 5001 "$dir/xfer.bin" 60; then
    lab_fail a "upload over TCP: $REPLY" "$clog" "$slog"
    return 1
  fi
  up=$REPLY
  if ! lab_xfer "$sv" "$c1" "$LAB_CLIENT1_IN4" 5002 "$dir/xfer.bin" 60; then
    lab_fail a "download over TCP: $REPLY" "$clog" "$slog"
    return 1
  fi
  down=$REPLY
  lab_pass a "UDP blocked: tunnel up over TCP in $ms ms; up: $up; down: $down"
}

# --- (c) UDP allowed again: back to QUIC ------------------------------------
scenario_c() {
  local name=$1 sid ver t0 nums
  cli_status || { lab_fail "$name" "no client status"; return 1; }
  sid=${C[session]}
  ver=${C[version]}
  measure_start "$name" $(( RETURN_MAX_S + 3 )) ||
    { lab_fail "$name" "probe did not start"; return 1; }
  sleep 1
  lab_now_ms
  t0=$REPLY
  lab_udp_block 0
  if ! lab_wait_for "the session back on QUIC" "$RETURN_MAX_S" \
       on_transport quic; then
    lab_fail "$name" "still on ${C[transport]:-?} $RETURN_MAX_S s after UDP" \
      "returned" "$clog" "$slog"
    return 1
  fi
  lab_now_ms
  t0=$(( REPLY - t0 ))
  if ! measure_end "$name"; then
    lab_fail "$name" "$REPLY" "$clog" "$slog"
    return 1
  fi
  numbers
  nums=$REPLY
  if ! same_session "$sid" "$ver"; then
    lab_fail "$name" "$REPLY" "$clog"
    return 1
  fi
  if ! lab_lt "${P[longest_gap_ms]}" "$GAP_BACK_MAX_MS"; then
    lab_fail "$name" "$nums (limit $GAP_BACK_MAX_MS ms)" "$clog" "$slog"
    return 1
  fi
  lab_pass "$name" "UDP back: on QUIC again within $t0 ms, same session \
(v$ver -> v${C[version]}); $nums"
}

# --- (b) UDP blocked mid-session --------------------------------------------
scenario_b() {
  local sid ver nums
  cli_status || { lab_fail b "no client status"; return 1; }
  sid=${C[session]}
  ver=${C[version]}
  if [ "${C[transport]}" != quic ]; then
    lab_fail b "the session is not on QUIC before the block"
    return 1
  fi
  measure_start b 6 || { lab_fail b "probe did not start"; return 1; }
  sleep 1.5
  lab_udp_block 1
  if ! lab_wait_for "the session on TCP" 4 on_transport tcp; then
    lab_fail b "not on TCP 4 s after UDP was blocked" "$clog" "$slog"
    return 1
  fi
  if ! measure_end b; then
    lab_fail b "$REPLY" "$clog" "$slog"
    return 1
  fi
  numbers
  nums=$REPLY
  if ! same_session "$sid" "$ver"; then
    lab_fail b "$REPLY" "$clog"
    return 1
  fi
  if ! lab_lt "${P[longest_gap_ms]}" "$FALLBACK_GAP_MAX_MS"; then
    lab_fail b "$nums (limit $FALLBACK_GAP_MAX_MS ms)" "$clog" "$slog"
    return 1
  fi
  lab_pass b "UDP blocked mid-session: same session over TCP \
(v$ver -> v${C[version]}); $nums"
}

# --- (g) everything blackholed past the idle timeout, then back ---------------
# Both transports race the reattach when the path returns; whichever wins
# must carry the session on (a second ping 5 s later), with the same ID.
scenario_g() {
  local g=$1 sid
  cli_status || { lab_fail "$g" "no client status"; return 1; }
  sid=${C[session]}
  lab_blackhole_on || { lab_fail "$g" "nft failed"; return 1; }
  sleep 5
  lab_blackhole_off
  if ! lab_wait_for "the tunnel back" 10 lab_ping "$c1" "$LAB_SERVER_IN4"; then
    lab_fail "$g" "no ping through the tunnel 10 s after the blackhole" \
      "$clog" "$slog"
    return 1
  fi
  sleep 5
  if ! lab_ping "$c1" "$LAB_SERVER_IN4"; then
    lab_fail "$g" "the tunnel stopped again 5 s after it came back" "$clog" \
      "$slog"
    return 1
  fi
  if ! cli_status || [ "${C[session]}" != "$sid" ]; then
    lab_fail "$g" "the session changed: $sid -> ${C[session]:-none}" "$clog"
    return 1
  fi
  lab_pass "$g" "5 s blackhole of everything: the session came back over \
${C[transport]} and stayed up"
}

# --- (d) TCP only, short NAT timeouts ----------------------------------------
scenario_d() {
  local old loose n
  old=$(ip netns exec "$rt" sysctl -n \
    net.netfilter.nf_conntrack_tcp_timeout_established 2>/dev/null)
  if [ -z "$old" ]; then
    lab_fail d "the router has no conntrack TCP timeout to shorten"
    return 1
  fi
  # Strict tracking: a mid-stream segment of a forgotten mapping is
  # INVALID, not picked up again (as many home routers and firewalls do),
  # so an expired mapping breaks the connection.
  loose=$(ip netns exec "$rt" sysctl -n net.netfilter.nf_conntrack_tcp_loose)
  ip netns exec "$rt" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0 \
    net.netfilter.nf_conntrack_tcp_timeout_established=5
  lab_count "over TCP (TLS, HTTP/2)" "$clog"
  n=$REPLY
  sleep 12
  if ! lab_ping "$c1" "$LAB_SERVER_IN4"; then
    lab_fail d "no ping through the tunnel after 12 s idle" "$clog" "$slog"
    return 1
  fi
  ip netns exec "$rt" sysctl -qw \
    net.netfilter.nf_conntrack_tcp_timeout_established="$old" \
    net.netfilter.nf_conntrack_tcp_loose="$loose"
  if lab_more_lines "over TCP (TLS, HTTP/2)" "$clog" "$n"; then
    lab_fail d "the client needed a new TCP connection" "$clog"
    return 1
  fi
  lab_pass d "router TCP mappings time out after 5 s: 12 s idle, the same \
TCP connection still carries the tunnel"
}

# --- (e) replayed and forged attach requests over TCP ------------------------
# attack ARGS...: attach_probe over TCP from client2's namespace with
# client1's stolen key; its answer line in REPLY.
attack() {
  REPLY=$(ip netns exec "$c2" timeout 15 "$ATTACH_PROBE" --tcp \
    --server 198.18.3.2:443 --key "$dir/client1/key.pem" \
    --cert "$dir/client1/cert.pem" --server-pin "${LAB_PIN[server]}" \
    --timeout 5 "$@" 2>>"$dir/attack.log")
}

scenario_e() {
  local sid ver attach version r1 r2 n
  cli_status || { lab_fail e "no client status"; return 1; }
  sid=${C[session]}
  srv_session "$sid" || { lab_fail e "the server does not list $sid"; return 1; }
  ver=${S[version]}
  # The client's last reattach request: its attach and version lines.
  attach=$(tail -n 2 "$dump" 2>/dev/null | head -n1)
  version=$(tail -n 1 "$dump" 2>/dev/null)
  if [ -z "$attach" ] || [ -z "$version" ]; then
    lab_fail e "no captured attach request in $dump"
    return 1
  fi
  lab_count '"kind":"security".*"reason":"\(BAD_PROOF\|REPLAY\)"' "$audit"
  n=$REPLY
  attack --attach "$attach" --version "$version"
  r1=$REPLY
  attack --forge "$sid"
  r2=$REPLY
  case "$r1" in "status 403"*) ;; *)
    lab_fail e "the replayed request got '$r1' (want 403, as over QUIC)" "$dir/attack.log"
    return 1 ;;
  esac
  case "$r2" in "status 403"*) ;; *)
    lab_fail e "the forged request got '$r2' (want 403, as over QUIC)" "$dir/attack.log"
    return 1 ;;
  esac
  if ! srv_session "$sid" || [ "${S[version]}" != "$ver" ]; then
    lab_fail e "the victim session moved: v$ver -> v${S[version]:-gone}"
    return 1
  fi
  # A replayed proof is bound to another TLS channel: BAD_PROOF (or REPLAY
  # when its nonce is checked first), like over QUIC.
  if ! lab_wait_for "two security records" 2 lab_more_lines \
       '"kind":"security".*"reason":"\(BAD_PROOF\|REPLAY\)"' "$audit" \
       $((n + 1)); then
    lab_fail e "no BAD_PROOF or REPLAY security record for each" "$audit"
    return 1
  fi
  lab_pass e "over TCP: replay -> '$r1', forgery -> '$r2'; victim at v$ver"
}

# --- (f) transport = tcp -----------------------------------------------------
scenario_f() {
  local log=$dir/client2.log
  lab_udp_block 0
  printf 'transport = tcp\n' >>"$dir/client2.conf"
  if ! lab_vpn_client_up "$dir" 2 -v || ! lab_wait_tunnel "$c2" 5; then
    lab_fail f "client2 (transport = tcp) did not come up" "$log" "$slog"
    return 1
  fi
  if grep -q "connecting to [^ ]* (" "$log" ||
     ! grep -q "over TCP (TLS, HTTP/2)" "$log"; then
    lab_fail f "client2 tried QUIC or not TCP" "$log"
    return 1
  fi
  lab_pass f "transport = tcp: up over TCP without a QUIC attempt"
}

# --- (s) the server's status table -------------------------------------------
# One line per session like `wg show`: client1 on QUIC again (f let UDP
# through), client2 on TCP (transport = tcp), each with its last switch.
scenario_s() {
  local out row1 row2
  out=$("$JVPN_BIN" status -s "$ssock" 2>&1) ||
    { lab_fail s "status failed: $out"; return 1; }
  printf '%s\n' "$out" | sed 's/^/  | /'
  row1=$(printf '%s\n' "$out" | grep "^client1 ")
  row2=$(printf '%s\n' "$out" | grep "^client2 ")
  if ! printf '%s\n' "$out" | grep -q "^peer .*inner address .*state .*transport .*endpoint .*rtt .*last switch .*rx .*tx$"; then
    lab_fail s "no table header in the status"
    return 1
  fi
  case "$row1" in *" $LAB_CLIENT1_IN4 "*" ATTACHED "*" quic "*"QUIC_RETURN"*) ;;
    *) lab_fail s "client1's row: '$row1'"; return 1 ;;
  esac
  case "$row2" in *" $LAB_CLIENT2_IN4 "*" ATTACHED "*" tcp "*) ;;
    *) lab_fail s "client2's row: '$row2'"; return 1 ;;
  esac
  lab_pass s "status table: one row per session with transport and last switch"
}

scenario_a && scenario_c c
scenario_b
scenario_c c2
scenario_g g
# (d) starts on TCP: with no traffic the client notices the blocked path
# at QUIC's idle timeout (3 s), then falls back.
lab_udp_block 1
lab_wait_for "the session on TCP" 8 on_transport tcp ||
  lab_fail d "not on TCP 8 s after UDP was blocked (idle)" "$clog"
scenario_d
scenario_g g2 # from TCP, UDP still blocked: TCP must win the reattach
scenario_e
scenario_f
lab_wait_for "client1 back on QUIC" 5 on_transport quic
scenario_s

if ! lab_pid_alive "$server_pid"; then
  lab_fail server "the server exited" "$slog"
fi
lab_check_sanitizers "$dir"

lab_test_summary
