#!/usr/bin/env bash
# tests/netns/e2e.sh: jvpn-quic end to end, in network namespaces.
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn):
#
#   client1 198.18.1.2 -------.                        (masquerade, random ports)
#           2001:db8:1::2      \
#                               router ---- server 198.18.3.2, 2001:db8:3::2
#   client2 198.18.2.2 --------/              listens on UDP 443 (v4 and v6)
#           2001:db8:2::2
#
#   tunnel: server jvpn0 198.18.200.1/24 fd77:6a76:706e::1/64
#           client1 jvpn0 198.18.200.2, fd77:6a76:706e::2 (over IPv4)
#           client2 jvpn0 198.18.200.3, fd77:6a76:706e::3 (over IPv6)
#
# Scenarios: (a) up, every client through a Retry (retry = always), with
# every thread of the server and client1 unprivileged and their audit
# writers writing, (b)
# ping, (c) 50 MB TCP with SHA-256, (d) unknown pin refused, (e) spoofed
# inner source (IPv4 and IPv6) dropped and counted, (i) a downlink packet from outside the
# advertised routes dropped and counted by the client, (j) no route over the
# server's own address, allow_route limits a client's routes, (h) a reattach skips the Retry with the
# server's NEW_TOKEN, (f) client restart keeps its addresses, (k) a killed and restarted
# server resets the clients' connections at once, (l) every daemon still
# alive under its seccomp filter (a call outside its allow-list would have
# killed it), (g) client2 and the server exit cleanly on SIGTERM.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. E2E_KEEP=1 keeps the logs,
# E2E_VERBOSE=1 runs server and clients with -v.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init e2e

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_require_tools jq
lab_note "using $JVPN_BIN"

lab_test_logdir E2E_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" ||
  lab_setup_fail "genkey or config generation failed"
# Every client first proves its address with a Retry round trip (RFC 9000
# 8.1.2), so each scenario below runs through it; (a) checks it happened.
sed -i 's/^\[server\]$/[server]\nretry = always/' "$dir/server.conf"
grep -q '^retry = always$' "$dir/server.conf" ||
  lab_setup_fail "could not set retry = always in the server's config"
# (j): a route beyond the pools, and one that covers the server's own
# underlay address (198.18.3.2); client2 installs only what its allow_route
# lines admit.
sed -i 's|^route = 198.18.200.0/24$|&\nroute = 198.18.201.0/24\nroute = 198.18.3.0/24|' \
  "$dir/server.conf"
grep -q '^route = 198.18.3.0/24$' "$dir/server.conf" ||
  lab_setup_fail "could not add routes to the server's config"
printf 'allow_route = 198.18.200.0/24\nallow_route = fd77:6a76:706e::/64\n' \
  >>"$dir/client2.conf"
# The server and client1 drop root after start-up; (a) checks how far.
sed -i 's/^\[server\]$/[server]\nuser = nobody/' "$dir/server.conf"
sed -i 's/^\[client\]$/[client]\nuser = nobody/' "$dir/client1.conf"
grep -q '^user = nobody$' "$dir/server.conf" &&
  grep -q '^user = nobody$' "$dir/client1.conf" ||
  lab_setup_fail "could not set user = nobody in the configs"
# (l): the server, running as nobody, re-reads its config on SIGHUP.
if ! chmod o+x "$dir" || ! chmod o+r "$dir/server.conf"; then
  lab_setup_fail "could not make the server's config readable to nobody"
fi
# Both audit: the file is opened as root, and written after the drop by
# the audit writer's own thread, which (a) checks with the others.
saudit=$dir/server-audit.log
c1audit=$dir/client1-audit.log
sed -i "s|^\[server\]\$|&\naudit_log = $saudit|" "$dir/server.conf"
sed -i "s|^\[client\]\$|&\naudit_log = $c1audit|" "$dir/client1.conf"
grep -q "^audit_log = $saudit\$" "$dir/server.conf" &&
  grep -q "^audit_log = $c1audit\$" "$dir/client1.conf" ||
  lab_setup_fail "could not set audit_log in the configs"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
tun=$LAB_TUN
slog=$dir/server.log
c1log=$dir/client1.log
c2log=$dir/client2.log
server_pid=""
stats=""
c1_pid=""
c2_pid=""

# ping_ok NS ARGS...: three replies within 5 s.
ping_ok() {
  local ns=$1
  shift
  ip netns exec "$ns" ping -n -q -c 3 -i 0.2 -w 5 "$@" >/dev/null 2>&1
}

# start_client N: starts clientN with its config and log here, and waits
# for its inner addresses; its PID in cN_pid (also when it fails).
start_client() {
  local n=$1 rc=0
  lab_vpn_client_up "$dir" "$n" ${E2E_VERBOSE:+-v} || rc=1
  printf -v "c${n}_pid" '%s' "$LAB_VPN_PID"
  return "$rc"
}

# filtered PID: the process runs under its seccomp filter (mode 2 in
# /proc); REPLY says otherwise.
filtered() {
  local st
  st=$(cat "/proc/$1/status" 2>/dev/null) || { REPLY="pid $1 is gone"; return 1; }
  if ! grep -qP '^Seccomp:\t2$' <<<"$st"; then
    REPLY="pid $1: $(grep '^Seccomp:' <<<"$st" | tr '\t' ' ')"
    return 1
  fi
}

# dropped_root PID CAPEFF: every thread of the process (credentials,
# capabilities, no-new-privs and seccomp are per thread) runs as nobody
# with exactly CAPEFF (hex, as /proc prints it) as its effective and
# permitted capabilities, no new privileges and its seccomp filter; REPLY
# says what differs.
dropped_root() {
  local st uid task
  uid=$(id -u nobody)
  for task in /proc/"$1"/task/*; do
    st=$(cat "$task/status" 2>/dev/null) || { REPLY="pid $1 is gone"; return 1; }
    if ! grep -qP "^Uid:\t$uid\t$uid\t$uid\t$uid\$" <<<"$st" ||
       ! grep -qP "^CapEff:\t$2\$" <<<"$st" ||
       ! grep -qP "^CapPrm:\t$2\$" <<<"$st" ||
       ! grep -qP "^CapBnd:\t0{16}\$" <<<"$st" ||
       ! grep -qP "^NoNewPrivs:\t1\$" <<<"$st"; then
      REPLY="pid $1 thread ${task##*/}: $(grep -E '^(Uid|CapEff|CapPrm|CapBnd|NoNewPrivs):' <<<"$st" | tr '\t\n' '  ')"
      return 1
    fi
    filtered "$1/task/${task##*/}" || return 1
  done
}

# --- (a) server and two clients come up -----------------------------------
scenario_a() {
  local rc=0
  lab_vpn_server_start "$slog" -c "$dir/server.conf" \
    --control "$dir/server.sock" ${E2E_VERBOSE:+-v} ||
    rc=1
  server_pid=$LAB_VPN_PID
  if [ "$rc" -ne 0 ]; then
    lab_fail a "$REPLY" "$slog"
    return 1
  fi
  # One at a time, so the pool order is the order of the [peer]s.
  if ! start_client 1; then
    lab_fail a "client1 (IPv4 underlay) did not get $LAB_CLIENT1_IN4 and" \
      "$LAB_CLIENT1_IN6" "$slog" "$c1log"
    return 1
  fi
  if ! start_client 2; then
    lab_fail a "client2 (IPv6 underlay) did not get $LAB_CLIENT2_IN4 and" \
      "$LAB_CLIENT2_IN6" "$slog" "$c2log"
    return 1
  fi
  # Both ends offer QUIC v2 and v1: compatible version negotiation (RFC
  # 9368) lands on v2 (RFC 9369).
  if ! grep -q 'tunnel up .* transport=quic-v2' "$c1log"; then
    lab_fail a "client1 did not negotiate QUIC v2" "$c1log"
    return 1
  fi
  # The router's NAT table shows which underlay each client took.
  if ! lab_nat_mappings udp | grep -q 'src=198\.18\.1\.2 dst=198\.18\.3\.2 .*dport=443'; then
    lab_fail a "no IPv4 NAT mapping client1 -> server:443 in the router"
    return 1
  fi
  if ! lab_nat_mappings udp | grep -q 'src=2001:db8:2::2 dst=2001:db8:3::2 .*dport=443'; then
    lab_fail a "no IPv6 NAT mapping client2 -> server:443 in the router"
    return 1
  fi
  # Both clients went through a Retry: the server counted them.
  local retries
  if ! server_stat retries; then
    lab_fail a "$REPLY" "$slog"
    return 1
  fi
  retries=$REPLY
  if [ "${retries:-0}" -lt 2 ]; then
    lab_fail a "the server sent ${retries:-no} Retry packets for 2 clients" \
      "$slog"
    return 1
  fi
  # Both daemons run as nobody: the server with no capability at all,
  # client1 with CAP_NET_ADMIN (bit 12) alone. Client2 stays root (no
  # "user") but is filtered all the same.
  if ! dropped_root "$server_pid" 0000000000000000 ||
     ! dropped_root "$c1_pid" 0000000000001000; then
    lab_fail a "not unprivileged: $REPLY" "$slog" "$c1log"
    return 1
  fi
  # Their audit threads wrote the sessions' births, as nobody.
  if ! lab_wait_for "2 births in the server's audit log" 5 lab_more_lines \
       '"event":"session_born"' "$saudit" 1 ||
     ! lab_wait_for "a birth in client1's audit log" 5 lab_more_lines \
       '"event":"session_born"' "$c1audit" 0; then
    lab_fail a "session births missing from the audit logs" "$saudit" \
      "$c1audit" "$slog" "$c1log"
    return 1
  fi
  if ! filtered "$c2_pid"; then
    lab_fail a "client2 has no seccomp filter: $REPLY" "$c2log"
    return 1
  fi
  lab_pass a "both clients up through a Retry round trip ($retries Retry\
 packets); server and client1 run as nobody, every thread, and audit; all\
 three under seccomp"
}

# --- (b) pings over IPv4 and IPv6 inner addresses, every direction --------
scenario_b() {
  local bad=() t
  # "namespace destination" pairs.
  for t in "$c1 $LAB_SERVER_IN4" "$c1 $LAB_SERVER_IN6" \
           "$c2 $LAB_SERVER_IN4" "$c2 $LAB_SERVER_IN6" \
           "$sv $LAB_CLIENT1_IN4" "$sv $LAB_CLIENT1_IN6" \
           "$sv $LAB_CLIENT2_IN4" "$sv $LAB_CLIENT2_IN6" \
           "$c1 $LAB_CLIENT2_IN4" "$c1 $LAB_CLIENT2_IN6" \
           "$c2 $LAB_CLIENT1_IN4" "$c2 $LAB_CLIENT1_IN6"; do
    # shellcheck disable=SC2086 # split "ns dst" on purpose
    ping_ok $t || bad+=("${t#"$LAB_PREFIX"-}")
  done
  if [ "${#bad[@]}" -gt 0 ]; then
    lab_fail b "no reply: $(printf '[%s] ' "${bad[@]}")" "$slog" "$c1log" \
      "$c2log"
    return 1
  fi
  lab_pass b
}

# --- (c) 50 MB over TCP through the tunnel, checksummed -------------------
scenario_c() {
  local port=5001 src=$dir/send.bin dst=$dir/recv.bin rpid want got
  local t0 t1 ms
  if ! command -v socat >/dev/null 2>&1; then
    lab_skip c "socat is not installed (scripts/deps.sh installs it)"
    return 0
  fi
  head -c $((50 * 1024 * 1024)) /dev/urandom >"$src"
  want=$(sha256sum <"$src" | cut -d' ' -f1)
  lab_spawn "$sv" "$dir/socat-recv.log" socat -u \
    "TCP-LISTEN:$port,reuseaddr,bind=$LAB_SERVER_IN4" \
    "OPEN:$dst,creat,trunc"
  rpid=$REPLY
  if ! lab_wait_for "socat listening" 5 lab_tcp_listening "$sv" "$port"; then
    lab_fail c "receiver did not start" "$dir/socat-recv.log"
    return 1
  fi
  lab_now_ms
  t0=$REPLY
  if ! timeout 90 ip netns exec "$c1" socat -u "OPEN:$src" \
       "TCP:$LAB_SERVER_IN4:$port,connect-timeout=5" \
       2>"$dir/socat-send.log"; then
    lab_kill "$rpid"
    lab_fail c "sender failed or took over 90 s" "$dir/socat-send.log" \
      "$slog" "$c1log"
    return 1
  fi
  if ! lab_wait_exit "$rpid" 10; then
    lab_fail c "receiver did not finish" "$dir/socat-recv.log"
    return 1
  fi
  lab_now_ms
  t1=$REPLY
  got=$(sha256sum <"$dst" | cut -d' ' -f1)
  rm -f "$src" "$dst"
  if [ "$got" != "$want" ]; then
    lab_fail c "SHA-256 mismatch: sent $want, received $got"
    return 1
  fi
  ms=$((t1 - t0 > 0 ? t1 - t0 : 1))
  lab_note "50 MB in $ms ms ($(( 50 * 8 * 1000 / ms )) Mbit/s)," \
    "SHA-256 verified"
  lab_pass c
}

# --- (d) a key the server does not know is refused -------------------------
scenario_d() {
  local rlog=$dir/rogue.log rpid
  if ! lab_genkey "$dir" rogue; then
    lab_fail d "genkey for the rogue client failed"
    return 1
  fi
  lab_write_client_conf "$dir/rogue.conf" "198.18.3.2:443" \
    "${LAB_PIN[server]}" "$dir/rogue" jvpn9
  lab_spawn "$c1" "$rlog" "$JVPN_BIN" client -c "$dir/rogue.conf"
  rpid=$REPLY
  if ! lab_wait_exit "$rpid" 15; then
    lab_fail d "the rogue client still runs after 15 s" "$rlog" "$slog"
    return 1
  fi
  if [ "$REPLY" -eq 0 ]; then
    lab_fail d "the rogue client exited 0" "$rlog" "$slog"
    return 1
  fi
  if ! lab_wait_for "'unknown client pin' in the server log" 5 \
       grep -q "unknown client pin" "$slog"; then
    lab_fail d "the server log does not say 'unknown client pin'" "$slog"
    return 1
  fi
  if lab_has_dev "$c1" jvpn9; then
    lab_fail d "the rogue client left its TUN jvpn9" "$rlog"
    return 1
  fi
  # A first packet in a version we do not speak (the QUIC v2 draft
  # 0x709a50c4, which ngtcp2 0.12.1 aborted on) gets Version Negotiation
  # listing v2 and v1, and the server lives. scripts/deps.sh installs
  # gtlsclient; without it this check fails rather than skips.
  if ! command -v gtlsclient >/dev/null 2>&1; then
    lab_fail d "gtlsclient (ngtcp2-client) is missing: run scripts/deps.sh"
    return 1
  fi
  timeout 5 ip netns exec "$c1" gtlsclient -v 0x709a50c4 \
    --exit-on-first-stream-close 198.18.3.2 443 \
    >"$dir/v2draft.log" 2>&1
  if ! grep -q "type=VN" "$dir/v2draft.log"; then
    lab_fail d "a v2-draft Initial got no Version Negotiation" \
      "$dir/v2draft.log" "$slog"
    return 1
  fi
  if ! grep -q "6b3343cf" "$dir/v2draft.log"; then
    lab_fail d "Version Negotiation did not offer QUIC v2 (0x6b3343cf)" \
      "$dir/v2draft.log"
    return 1
  fi
  if ! lab_pid_alive "$server_pid"; then
    lab_fail d "the server died on a v2-draft Initial" "$slog"
    return 1
  fi
  if ! lab_pid_alive "$c1_pid" || ! lab_pid_alive "$c2_pid"; then
    lab_fail d "a legitimate client exited meanwhile" "$c1log" "$c2log"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! ping_ok "$c2" "$LAB_SERVER_IN6"; then
    lab_fail d "the other clients stopped working" "$slog" "$c1log" "$c2log"
    return 1
  fi
  lab_pass d
}

# stats_line PEER FROM_LINE: the first stats line for PEER after FROM_LINE
# of the server log, in REPLY.
stats_line() {
  REPLY=$(tail -n "+$(($2 + 1))" "$slog" | grep -m1 "stats peer=$1 ")
  [ -n "$REPLY" ]
}

# server_stat KEY: KEY's value in the server's stats (lab_server_stat), in
# REPLY.
server_stat() { lab_server_stat "$slog" "$server_pid" "$1"; }

# spoofed_count PEER: SIGUSR1 to the server, then that peer's drop_spoofed
# from the stats line it logs, in REPLY.
spoofed_count() {
  local from
  from=$(wc -l <"$slog")
  kill -USR1 "$server_pid"
  if ! lab_wait_for "stats line for $1" 5 stats_line "$1" "$from"; then
    REPLY="no 'stats peer=$1' line after SIGUSR1"
    return 1
  fi
  stats=$REPLY
  REPLY=$(printf '%s\n' "$stats" |
    sed -n 's/.* drop_spoofed=\([0-9][0-9]*\).*/\1/p')
  if [ -z "$REPLY" ]; then
    REPLY="no drop_spoofed in: $stats"
    return 1
  fi
}

# --- (e) a spoofed inner source is dropped and counted ---------------------
# The client's kernel may send packets of its own from other sources (IPv6
# link-local ones), so the test counts what its own pings add.
# spoof_uplink SRC/PLEN DST: pings from client1 with the extra source SRC
# on its TUN device to DST; fails (reason in REPLY) if one got a reply or
# the server's drop_spoofed for client1 grew by less than the pings.
spoof_uplink() {
  local spoof=${1%/*} n0 npings=3 replied=0
  spoofed_count client1 || return 1
  n0=$REPLY
  if ! ip -n "$c1" addr add "$1" dev "$tun" nodad; then
    REPLY="could not add $1 to client1's $tun"
    return 1
  fi
  ip netns exec "$c1" ping -n -q -c "$npings" -i 0.2 -w 3 -I "$spoof" "$2" \
    >/dev/null 2>&1 && replied=1
  ip -n "$c1" addr del "$1" dev "$tun"
  if [ "$replied" -eq 1 ]; then
    REPLY="the spoofed ping from $spoof got a reply"
    return 1
  fi
  spoofed_count client1 || return 1
  lab_note "$stats"
  if [ $((REPLY - n0)) -lt "$npings" ]; then
    REPLY="drop_spoofed went from $n0 to $REPLY after $npings pings from $spoof"
    return 1
  fi
}

scenario_e() {
  if ! spoof_uplink 198.18.200.99/32 "$LAB_SERVER_IN4" ||
     ! spoof_uplink fd77:6a76:706e::99/128 "$LAB_SERVER_IN6"; then
    lab_fail e "$REPLY" "$slog"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! ping_ok "$c1" "$LAB_SERVER_IN6"; then
    lab_fail e "client1's real addresses stopped working" "$slog" "$c1log"
    return 1
  fi
  lab_pass e "IPv4 and IPv6 spoofed sources dropped and counted"
}

# client_spoofed N: SIGUSR1 to clientN, then drop_spoofed from the stats
# line it logs (downlink packets from outside the advertised routes), in
# REPLY.
client_spoofed() {
  local pid=c${1}_pid log=$dir/client$1.log n0 line
  lab_count ' stats rx_packets=' "$log"
  n0=$REPLY
  kill -USR1 "${!pid}"
  if ! lab_wait_for "client$1's stats line" 5 lab_more_lines \
       ' stats rx_packets=' "$log" "$n0"; then
    REPLY="no stats line from client$1 after SIGUSR1"
    return 1
  fi
  line=$(grep ' stats rx_packets=' "$log" | tail -n 1)
  REPLY=$(printf '%s\n' "$line" |
    sed -n 's/.* drop_spoofed=\([0-9][0-9]*\).*/\1/p')
  [ -n "$REPLY" ] || { REPLY="no drop_spoofed in: $line"; return 1; }
}

# spoof_pings N SRC COUNT: COUNT pings from the server's SRC (on its lo) to
# clientN; REPLY is how much clientN's drop_spoofed grew. Returns 1 when
# a step failed (REPLY says which), 2 when the pings got replies.
spoof_pings() {
  local a=LAB_CLIENT${1}_IN4 n0 rc=0
  client_spoofed "$1" || return 1
  n0=$REPLY
  if ! ip -n "$sv" addr add "$2/32" dev lo; then
    REPLY="could not add $2 to the server's lo"
    return 1
  fi
  ip netns exec "$sv" ping -n -q -c "$3" -i 0.2 -w 3 -I "$2" "${!a}" \
    >/dev/null 2>&1 && rc=2
  ip -n "$sv" addr del "$2/32" dev lo
  client_spoofed "$1" || return 1
  REPLY=$((REPLY - n0))
  return "$rc"
}

# --- (i) the client drops downlink packets from unadvertised sources -------
# The server's kernel sends pings to client1 from an address outside the
# routes it advertises; the server forwards them (it routes by destination)
# and client1 must drop and count every one, like WireGuard's AllowedIPs.
scenario_i() {
  local spoof=198.18.77.1 npings=3 rc=0
  spoof_pings 1 "$spoof" "$npings" || rc=$?
  [ "$rc" -eq 1 ] && { lab_fail i "$REPLY" "$c1log"; return 1; }
  lab_note "client1 drop_spoofed +$REPLY after $npings pings from $spoof"
  if [ "$rc" -eq 2 ] || [ "$REPLY" -lt "$npings" ]; then
    lab_fail i "client1 dropped $REPLY of $npings pings from $spoof" "$c1log"
    return 1
  fi
  # The client's status shows the same count.
  local st
  st=$("$JVPN_BIN" status --json -s "$dir/client1.sock" 2>&1 |
    grep -o '"drop_spoofed":[0-9]*' | cut -d: -f2)
  if [ -z "$st" ] || [ "$st" -lt "$npings" ]; then
    lab_fail i "client1's status shows drop_spoofed '${st}'" "$c1log"
    return 1
  fi
  if ! ping_ok "$sv" "$LAB_CLIENT1_IN4"; then
    lab_fail i "pings from the server's own tunnel address stopped" \
      "$slog" "$c1log"
    return 1
  fi
  lab_pass i
}

# --- (j) routes: covering the server, and the client's allow_route -------
# Client1 installs 198.18.201.0/24 but not 198.18.3.0/24 (it holds the
# server's address: the QUIC packets would enter the tunnel), and takes
# pings from 198.18.201.1; client2's allow_route admits only the pools, so
# it installs neither and drops pings from 198.18.201.1.
scenario_j() {
  local far=198.18.201.1 npings=3 rc=0
  if ! grep -q "ignoring advertised route 198.18.3.0/24: it covers the server's own address" "$c1log" ||
     [ -n "$(ip -n "$c1" route show 198.18.3.0/24 dev "$tun")" ] ||
     [ -z "$(ip -n "$c1" route show 198.18.201.0/24 dev "$tun")" ]; then
    lab_fail j "client1's routes: want 198.18.201.0/24 via $tun, not 198.18.3.0/24" \
      "$c1log"
    return 1
  fi
  if ! grep -q 'ignoring advertised route 198.18.201.0/24: outside include (allow_route)' "$c2log" ||
     [ -n "$(ip -n "$c2" route show 198.18.201.0/24 dev "$tun")" ] ||
     [ -z "$(ip -n "$c2" route show 198.18.200.0/24 dev "$tun")" ]; then
    lab_fail j "client2's routes: want only the pools via $tun" "$c2log"
    return 1
  fi
  spoof_pings 1 "$far" "$npings" || rc=$?
  if [ "$rc" -ne 2 ] || [ "$REPLY" -ne 0 ]; then
    lab_fail j "pings from $far to client1: rc $rc, $REPLY dropped" "$c1log"
    return 1
  fi
  rc=0
  spoof_pings 2 "$far" "$npings" || rc=$?
  [ "$rc" -eq 1 ] && { lab_fail j "$REPLY" "$c2log"; return 1; }
  if [ "$rc" -eq 2 ] || [ "$REPLY" -lt "$npings" ]; then
    lab_fail j "client2 dropped $REPLY of $npings pings from $far" "$c2log"
    return 1
  fi
  lab_pass j "client1 took pings from $far; client2 dropped $REPLY"
}

# --- (h) a reattach skips the Retry with the server's NEW_TOKEN ------------
# Client1's path is blackholed for longer than the idle timeout: its
# connection dies and it reattaches on a new one, whose Initial carries the
# NEW_TOKEN the server gave the first one: no Retry this time.
scenario_h() {
  local retries0 tokens0 nre
  server_stat retries && retries0=$REPLY &&
    server_stat tokens_accepted && tokens0=$REPLY || {
    lab_fail h "$REPLY" "$slog"
    return 1
  }
  lab_count "reattached (same addresses)" "$c1log"
  nre=$REPLY
  lab_uplink_blackhole_on client1 1 || { lab_fail h "nft failed"; return 1; }
  sleep 4.5 # longer than the 3 s idle timeout
  lab_uplink_blackhole_off client1 1
  if ! lab_wait_for "client1 to reattach" 10 lab_more_lines \
       "reattached (same addresses)" "$c1log" "$nre"; then
    lab_fail h "client1 did not reattach after the blackhole" "$c1log" "$slog"
    return 1
  fi
  server_stat tokens_accepted || { lab_fail h "$REPLY"; return 1; }
  if [ "$REPLY" -le "$tokens0" ]; then
    lab_fail h "no NEW_TOKEN accepted for the reattach" "$c1log" "$slog"
    return 1
  fi
  server_stat retries || { lab_fail h "$REPLY"; return 1; }
  if [ "$REPLY" -ne "$retries0" ]; then
    lab_fail h "the reattach went through a Retry ($retries0 -> $REPLY)" \
      "$slog"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4"; then
    lab_fail h "no traffic after the reattach" "$c1log"
    return 1
  fi
  lab_pass h "reattached with the server's NEW_TOKEN, no Retry (retries\
 stay $retries0)"
}

# --- (f) a restarted client keeps its inner addresses ----------------------
scenario_f() {
  if ! lab_vpn_stop "$c1_pid" "$c1" client1; then
    lab_fail f "$REPLY" "$c1log"
    return 1
  fi
  mv "$c1log" "$dir/client1.first.log"
  if ! start_client 1; then
    lab_fail f "restarted client1 did not get $LAB_CLIENT1_IN4 and" \
      "$LAB_CLIENT1_IN6: $(ip -n "$c1" -o addr show dev "$tun" 2>&1 |
      awk '{print $4}' | tr '\n' ' ')" "$slog" "$c1log"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! ping_ok "$c1" "$LAB_SERVER_IN6"; then
    lab_fail f "restarted client1 cannot reach the server" "$slog" "$c1log"
    return 1
  fi
  lab_pass f
}

# --- (g) client2 and the server exit cleanly on SIGTERM -------------------
# Client2 first: it runs as root, so on its way out it removes its control
# socket (the daemons running as nobody cannot: root owns the directories);
# its seccomp filter must let it.
scenario_g() {
  if [ -n "$c2_pid" ] && lab_pid_alive "$c2_pid" &&
     ! lab_vpn_stop "$c2_pid" "$c2" client2; then
    lab_fail g "$REPLY" "$c2log"
    return 1
  fi
  if [ -e "$dir/client2.sock" ]; then
    lab_fail g "client2 left its control socket behind" "$c2log"
    return 1
  fi
  if ! lab_vpn_stop "$server_pid" "$sv" server; then
    lab_fail g "$REPLY" "$slog"
    return 1
  fi
  lab_pass g
}

# --- (l) a reload that revokes a peer -------------------------------------
# client2's [peer] section leaves the server's config and the server gets
# SIGHUP: client2's session ends (OPERATOR_TERMINATED) and its tunnel goes,
# client1's session stays as it was (same ID, same state_version) and its
# traffic flows; client2's reconnect is refused and it stops, saying why.
# With the section back and another SIGHUP, client2 starts again and gets
# a new session.

# session_of PEER: "ID VERSION" of PEER's session in the server's status.
session_of() {
  REPLY=$("$JVPN_BIN" status --json -s "$dir/server.sock" 2>/dev/null |
    jq -r --arg p "$1" '.sessions[] | select(.peer == $p and .state != "TERMINATED")
      | "\(.session) \(.state_version)"' | head -n 1)
  [ -n "$REPLY" ]
}

# reload_server: SIGHUP, then waits for the "reloaded:" line.
reload_server() {
  local n
  lab_count 'reloaded: ' "$slog"
  n=$REPLY
  kill -HUP "$server_pid"
  lab_wait_for "the server's reload" 5 lab_more_lines 'reloaded: ' "$slog" "$n"
}

scenario_l() {
  local before after conf=$dir/server.conf
  session_of client1 || { lab_fail l "no session of client1 in the status"; return 1; }
  before=$REPLY
  cp "$conf" "$conf.full"
  awk 'function flush() { if (peer && !drop) printf "%s", buf; peer = drop = 0; buf = "" }
       /^\[/ { flush() }
       /^\[peer\]$/ { peer = 1 }
       peer { buf = buf $0 "\n"; if ($0 == "name = client2") drop = 1; next }
       { print }
       END { flush() }' "$conf.full" >"$conf"
  if grep -q '^name = client2$' "$conf"; then
    lab_fail l "could not take client2 out of the config"
    return 1
  fi
  if ! reload_server; then
    lab_fail l "the server did not reload" "$slog"
    return 1
  fi
  if ! grep -q 'of client2 ended: peer removed' "$slog"; then
    lab_fail l "client2's session did not end" "$slog"
    return 1
  fi
  if ! lab_wait_for "the reload's audit record" 3 grep -q \
       '"event":"config_reload".*"detail":"peers 2 -> 1, sessions ended 1"' \
       "$saudit"; then
    lab_fail l "no config_reload record in the server's audit log" "$saudit"
    return 1
  fi
  if ! lab_wait_exit "$c2_pid" 10 ||
     ! grep -q 'authentication failed' "$c2log"; then
    lab_fail l "client2 did not stop on its refused reconnect" "$slog" "$c2log"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! session_of client1 ||
     [ "$REPLY" != "$before" ]; then
    lab_fail l "client1's session changed: '$before' -> '$REPLY'" "$slog"
    return 1
  fi
  # Back with its old addresses fixed: a removed peer's addresses are
  # never handed out again, so it would get the next free ones.
  sed "s|^name = client2\$|&\naddress4 = $LAB_CLIENT2_IN4\naddress6 = $LAB_CLIENT2_IN6|" \
    "$conf.full" >"$conf"
  if ! reload_server; then
    lab_fail l "the server did not reload the second time" "$slog"
    return 1
  fi
  if ! start_client 2 || ! lab_wait_tunnel "$c2" 10; then
    lab_fail l "client2 was refused after the second reload" "$slog" "$c2log"
    return 1
  fi
  session_of client1
  after=$REPLY
  if [ "$after" != "$before" ]; then
    lab_fail l "client1's session changed: '$before' -> '$after'"
    return 1
  fi
  lab_pass l "client2 revoked and readmitted by reloads; client1's session $before untouched"
}

# --- (m) half-open connections per source --------------------------------
# client2's namespace starts HALF_TRIES QUIC handshakes (ngtcp2's
# gtlsclient, through the Retry) whose flows its own nft rule cuts after
# two datagrams (the Initial, then the Initial with the Retry token), so
# each stays half-open on the server until its idle timeout (3 s). They leave through the
# router's NAT with client1's address, as a crowd behind one NAT would:
# the server holds at most JVPN_HALFOPEN_PER_SOURCE (32) of them, forgets
# the oldest for each newer one, and client1's established session keeps
# passing traffic.
HALF_TRIES=48
HALF_LIMIT=32

# server_json KEY: KEY's value in the server's status, in REPLY.
server_json() {
  REPLY=$("$JVPN_BIN" status --json -s "$dir/server.sock" 2>/dev/null |
    jq -r --arg k "$1" '.[$k]')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# half_open_burst: the handshakes, all at once, each given 2 s: it
# cannot finish (its Handshake packets are dropped); the time lets a loaded
# machine start the process and send its Initials at all. Started
# together, their Initials arrive within the process start-up's spread,
# well inside the server's 3 s handshake idle timeout, so the first ones
# are still held when the last arrive (three waves of 0.8 s spread them
# over 2.6 s on a loaded machine: too few overlapped to evict).
half_open_burst() {
  local i pids=()
  for ((i = 0; i < HALF_TRIES; i++)); do
    timeout -s KILL 2 ip netns exec "$c2" gtlsclient -q \
      198.18.3.2 443 >/dev/null 2>&1 &
    pids+=("$!")
  done
  wait "${pids[@]}"
}

scenario_m() {
  local ev0 held
  server_json halfopen_evicted || { lab_fail m "no halfopen_evicted in the status"; return 1; }
  ev0=$REPLY
  ip netns exec "$c2" nft -f - <<'EOF2' ||
table inet e2e_halfopen {
  chain out {
    type filter hook output priority filter; policy accept;
    udp dport 443 ct original packets > 2 drop
  }
}
EOF2
    { lab_fail m "could not install the Handshake drop rule"; return 1; }
  half_open_burst
  server_json halfopen
  held=$REPLY
  ip netns exec "$c2" nft delete table inet e2e_halfopen
  if [ "$held" -gt "$HALF_LIMIT" ] || [ "$held" -lt $((HALF_LIMIT / 2)) ]; then
    lab_fail m "the server holds $held half-open connections (limit $HALF_LIMIT)" "$slog"
    return 1
  fi
  server_json halfopen_evicted
  if [ "$((REPLY - ev0))" -lt $((HALF_TRIES - HALF_LIMIT - 4)) ]; then
    lab_fail m "only $((REPLY - ev0)) half-open connections forgotten" "$slog"
    return 1
  fi
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! lab_pid_alive "$server_pid"; then
    lab_fail m "client1's tunnel suffered" "$slog" "$c1log"
    return 1
  fi
  lab_pass m "$HALF_TRIES abandoned handshakes from one source: $held held, $((REPLY - ev0)) forgotten, client1 unaffected"
}

# --- (k) a server restart: clients notice at once and start over ---------
# The server is killed (no CONNECTION_CLOSE) and started again with the same
# key. The clients' next packets carry connection IDs the new process does
# not know; it answers with stateless resets (tokens derived from its key),
# and each client ends its connection at once and gets a new session.
ping_once() { ip netns exec "$1" ping -n -q -c 1 -W 0.2 "$2" >/dev/null 2>&1; }

scenario_k() {
  local t0 n resets
  lab_kill "$server_pid" KILL
  lab_wait_exit "$server_pid" 5 || { lab_fail k "the server did not die"; return 1; }
  slog=$dir/server-restarted.log
  if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" \
       --control "$dir/server.sock" ${E2E_VERBOSE:+-v}; then
    server_pid=$LAB_VPN_PID
    lab_fail k "restart: $REPLY" "$slog"
    return 1
  fi
  server_pid=$LAB_VPN_PID
  lab_now_ms
  t0=$REPLY
  for n in 1 2; do
    if ! lab_wait_for "client$n back" 10 ping_once "${LAB_NS[client$n]}" \
         "$LAB_SERVER_IN4"; then
      lab_fail k "client$n got no tunnel within 10 s of the restart" \
        "$slog" "$dir/client$n.log"
      return 1
    fi
    lab_now_ms
    lab_note "client$n pings the restarted server after $((REPLY - t0)) ms"
    if ! grep -q 'connection ended: stateless reset' "$dir/client$n.log"; then
      lab_fail k "client$n did not see a stateless reset" "$dir/client$n.log"
      return 1
    fi
  done
  if ! server_stat stateless_resets; then
    lab_fail k "$REPLY" "$slog"
    return 1
  fi
  resets=$REPLY
  if [ "$resets" -lt 2 ]; then
    lab_fail k "the restarted server sent $resets stateless resets" "$slog"
    return 1
  fi
  lab_now_ms
  lab_pass k "both clients back within $((REPLY - t0)) ms ($resets resets)"
}

# --- (n) after all of that, every daemon lives under its filter ----------
# A call outside a daemon's seccomp allow-list kills it with SIGSYS (the
# kernel logs "audit: type=1326 ... sig=31 syscall=N"); (a)-(k) took them
# through rebinding, reattach, reloads, restarts and the control socket.
seccomp_kills() {
  dmesg 2>/dev/null | grep 'type=1326' | grep 'comm="jvpn-quic"' | tail -n 3
}

scenario_n() {
  local d who pid log
  local on='seccomp filter on: [0-9]* system calls allowed, any other kills'
  for d in "server $server_pid $slog" "client1 $c1_pid $c1log" \
           "client2 $c2_pid $c2log"; do
    read -r who pid log <<<"$d"
    if ! lab_pid_alive "$pid"; then
      lab_fail n "$who (pid $pid) is gone; kernel: $(seccomp_kills)" "$log"
      return 1
    fi
    if ! filtered "$pid"; then
      lab_fail n "$who is not filtered: $REPLY" "$log"
      return 1
    fi
    if ! grep -q "$on" "$log"; then
      lab_fail n "$who did not log its seccomp filter" "$log"
      return 1
    fi
  done
  if ! ping_ok "$c1" "$LAB_SERVER_IN4" || ! ping_ok "$c1" "$LAB_SERVER_IN6" ||
     ! ping_ok "$c2" "$LAB_SERVER_IN4" || ! ping_ok "$c2" "$LAB_SERVER_IN6"; then
    lab_fail n "no traffic at the end" "$slog" "$c1log" "$c2log"
    return 1
  fi
  lab_pass n "server, client1 and client2 alive and carrying traffic under\
 their seccomp filters"
}

# The later scenarios need the server and client1; when only client2 failed
# in (a) they still run, and report what depends on client2.
scenario_a
if lab_pid_alive "${server_pid:-0}" && lab_pid_alive "${c1_pid:-0}" &&
   lab_has_addr "$c1" "$tun" "$LAB_CLIENT1_IN4"; then
  scenario_b
  scenario_c
  scenario_d
  scenario_e
  scenario_i
  scenario_j
  scenario_h
  scenario_f
  scenario_l
  scenario_m
  scenario_k
  scenario_n
else
  for s in b c d e i j h f l m k n; do
    lab_fail "$s" "not run: the server or client1 did not come up in (a)"
  done
fi
if [ -n "$server_pid" ]; then
  scenario_g
else
  lab_fail g "not run: no server"
fi

# Anything the program wrote about sanitizers or crashes is a failure too.
lab_check_sanitizers "$dir"

lab_test_summary
