#!/usr/bin/env bash
# The demo: builds jvpn-quic, then runs one server and one client in a
# small virtual network on this machine and tells, step by step, what
# happens, up to the path changing and going dark under a running tunnel
# (steps 7 and 8, about 10 s of the run) and a second uplink taking over
# a silent one (step 9), and draws the audit trails as timelines (step
# 10). Needs root (it makes network namespaces and TUN devices); it
# touches nothing outside the namespaces it makes, and removes them, but
# for the two pictures it leaves, jvpn-demo-timeline-server.svg and
# jvpn-demo-timeline-client1.svg, and the audit trails they show,
# jvpn-demo-audit-server.jsonl and jvpn-demo-audit-client1.jsonl.
#
#   client ns  ---  router ns (NAT)  ---  server ns
#   198.18.1.2      198.18.1.1 | 198.18.3.1     198.18.3.2 UDP 443
#
# Environment: JVPN_BIN=PATH uses that binary instead of building;
# JVPN_SKIP_DEPS=1 as for scripts/build.sh; JVPN_DEMO_OUT=DIR where the
# pictures go (default $TMPDIR, or /tmp).
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)

# say TEXT: one paragraph, re-flowed to 76 columns.
say() {
  printf '\n'
  printf '%s\n' "$*" | tr '\n' ' ' | tr -s ' ' | fold -s -w 76 | sed 's/ *$//'
  printf '\n'
}
die() {
  printf '\ndemo FAILED: %s\n' "$1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}

if [ -z "${JVPN_BIN:-}" ]; then
  say "Building jvpn-quic (scripts/build.sh)..."
  "$srcdir/scripts/build.sh" >"${TMPDIR:-/tmp}/jvpn-demo-build.log" 2>&1 || {
    tail -n 30 "${TMPDIR:-/tmp}/jvpn-demo-build.log" >&2
    echo "demo FAILED: the build failed (log above)" >&2
    exit 1
  }
  JVPN_BIN=$("$srcdir/scripts/build.sh" --builddir)/jvpn-quic
fi
export JVPN_BIN

# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
if ! why=$(lab_check_env); then
  echo "demo FAILED: $why (run the demo as root)" >&2
  exit 1
fi
[ -x "$JVPN_BIN" ] || { echo "demo FAILED: no binary at $JVPN_BIN" >&2; exit 1; }
for tool in socat nft conntrack ping; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "demo FAILED: $tool is missing (scripts/deps.sh)" >&2; exit 1; }
done

lab_init
lab_tmpdir
dir=$REPLY

say "1. A small network. Four network namespaces (isolated copies of the
Linux network stack) stand in for machines: a client at 198.18.1.2, a home
router doing NAT, and a server at 198.18.3.2 (and a second client we leave
off). The client can reach the server only through the router, which
rewrites its address and port, as every home router does."
# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || die "could not build the network"
cl=${LAB_NS[client1]}
sv=${LAB_NS[server]}

say "2. Keys. Server and client each get a key pair; each side is known to
the other only by its key's pin (a SHA-256 of the public key):"
lab_gen_vpn_configs "$dir" client1 || die "key or config generation failed"
# Both ends keep an audit trail (steps 7 and 8 read them); the key goes in
# the first section, before log_level.
for f in server client1; do
  sed -i "0,/^log_level/s||audit_log = $dir/audit-$f.jsonl\n&|" \
    "$dir/$f.conf"
  grep -q '^audit_log' "$dir/$f.conf" || die "could not set audit_log"
done
printf '   server  %s\n   client  %s\n' "${LAB_PIN[server]}" \
  "${LAB_PIN[client1]}"
say "The server's config lists the client's pin as an allowed [peer]; the
client's config names the server's pin, so neither accepts an impostor."

lab_spawn "$sv" "$dir/server.log" "$JVPN_BIN" server -c "$dir/server.conf" \
  --control "$dir/server.sock"
server_pid=$REPLY
if ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN4" 10 ||
   ! lab_wait_udp_listen "$sv" 443 5; then
  die "the server did not come up" "$dir/server.log"
fi
say "3. The server is listening on 198.18.3.2 and [2001:db8:3::2], UDP port
443. On the wire this is QUIC carrying HTTP/3, so it looks like a web
server. Its tunnel device $LAB_TUN has $LAB_SERVER_IN4 and
$LAB_SERVER_IN6; it hands out addresses from 198.18.200.0/24 and
fd77:6a76:706e::/64."

lab_spawn "$cl" "$dir/client.log" "$JVPN_BIN" client -c "$dir/client1.conf" \
  --control "$dir/client.sock"
client_pid=$REPLY
if ! lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" 10 ||
   ! lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN6" 5; then
  die "the client did not connect" "$dir/server.log" "$dir/client.log"
fi
mapping=$(lab_nat_mappings udp | grep -m1 'dport=443' |
  sed -n 's/.*sport=\([0-9]*\) dport=443 .*dst=\([0-9.]*\) sport=443 dport=\([0-9]*\).*/198.18.1.2 port \1 -> \2 port \3/p')
say "4. The client connected through the NAT router (${mapping:-mapping not
shown}), opened an HTTP/3 CONNECT-IP request (RFC 9484), was authenticated
by its key pin, and was given $LAB_CLIENT1_IN4 and $LAB_CLIENT1_IN6 on
its own tunnel device. IP packets now travel inside QUIC DATAGRAM frames."

# ping_stats DST: "received avg_rtt" of 5 pings from the client.
ping_stats() {
  ip netns exec "$cl" ping -n -c 5 -i 0.2 -w 10 "$1" 2>/dev/null | awk '
    / received/ { for (i = 1; i <= NF; i++) if ($i ~ /^received/) r = $(i-1) }
    /^rtt/ { split($4, a, "/"); avg = a[2] }
    END { printf "%d %s\n", r, avg }'
}
read -r got4 rtt < <(ping_stats "$LAB_SERVER_IN4")
read -r got6 rtt6 < <(ping_stats "$LAB_SERVER_IN6")
[ "${got4:-0}" -gt 0 ] || die "ping through the tunnel failed" "$dir/client.log"
[ "${got6:-0}" -gt 0 ] ||
  die "IPv6 ping through the tunnel failed" "$dir/client.log"
say "5. Ping from the client to the server's tunnel address: $got4 of 5
answered over IPv4 (average round trip $rtt ms), $got6 of 5 over IPv6
($rtt6 ms)."

mb=20
head -c $((mb * 1024 * 1024)) /dev/urandom >"$dir/send.bin"
want=$(sha256sum <"$dir/send.bin" | cut -d' ' -f1)
lab_spawn "$sv" "$dir/recv.log" socat -u \
  "TCP-LISTEN:5001,reuseaddr,bind=$LAB_SERVER_IN4" \
  "OPEN:$dir/recv.bin,creat,trunc"
recv_pid=$REPLY
lab_wait_for "receiver" 5 lab_tcp_listening "$sv" 5001 ||
  die "the receiver did not start" "$dir/recv.log"
lab_now_ms
t0=$REPLY
timeout 60 ip netns exec "$cl" socat -u "OPEN:$dir/send.bin" \
  "TCP:$LAB_SERVER_IN4:5001,connect-timeout=5" ||
  die "the TCP transfer failed" "$dir/client.log" "$dir/server.log"
lab_wait_exit "$recv_pid" 10 || die "the receiver did not finish"
lab_now_ms
ms=$((REPLY - t0 > 0 ? REPLY - t0 : 1))
got=$(sha256sum <"$dir/recv.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || die "the received file differs (SHA-256 $got)"
say "6. A $mb MB file of random bytes went from the client to the server over
TCP inside the tunnel in $ms ms ($((mb * 8 * 1000 / ms)) Mbit/s). Its
SHA-256 matches on both ends: ${want:0:16}..."

# status SOCK: "jvpn-quic status --json" of the daemon at SOCK, in ST.
# get KEY: the first value of KEY in ST, without quotes, in REPLY.
status() { ST=$("$JVPN_BIN" status --json -s "$1" 2>/dev/null); }
get() {
  REPLY=$(printf '%s' "$ST" | grep -o "\"$1\":[^,}]*" | head -n 1 |
    cut -d: -f2- | tr -d '"')
}
# audit_line WHO PATTERN: the last line of WHO's (server, client1) audit
# trail matching PATTERN, in REPLY; empty if none.
audit_line() {
  REPLY=$(grep -- "$2" "$dir/audit-$1.jsonl" 2>/dev/null | tail -n 1)
}
# audit_ms LINE: the epoch ms of an audit line's "ts", in REPLY.
audit_ms() {
  REPLY=$(printf '%s' "$1" | grep -o '"ts":"[^"]*"' | cut -d'"' -f4)
  REPLY=$(date -d "$REPLY" +%s%3N 2>/dev/null)
}
# show_audit LINE: the line without time, node, session and policy
# version, wrapped at commas to fit the page.
show_audit() {
  local noise='ts|mono_ms|node|session|event|policy_version'
  printf '%s\n' "$1" | sed -E "s/\"($noise)\":(\"[^\"]*\"|[0-9]+),?//g" |
    awk '{ n = split($0, f, ","); line = "   "
           for (i = 1; i <= n; i++) {
             p = f[i] (i < n ? "," : "")
             if (length(line p) > 76 && line != "   ") {
               print line; line = "     " }
             line = line p }
           print line }'
}
# pings_start LOG [COUNT]: pings from the client to the server's tunnel
# address every 10 ms or so (COUNT of them, else until stopped; 20 s at
# most), each reply stamped with the time; the PID in REPLY.
pings_start() {
  local n=()
  [ -n "${2:-}" ] && n=(-c "$2")
  lab_spawn "$cl" "$1" ping -n -D -i 0.01 -w 20 "${n[@]}" "$LAB_SERVER_IN4"
}
# pings_read LOG [T_MS]: "sent received longest_gap_ms back_ms every_ms":
# the longest wait between two replies, how long after T_MS (epoch ms) the
# first reply came (-1: none), and the real interval (timers are coarse).
pings_read() {
  awk -v t="${2:-0}" 'BEGIN { back = -1 }
    /bytes from/ { ms = substr($1, 2, length($1) - 2) * 1000
      if (n++ > 0 && ms - prev > gap) gap = ms - prev
      if (t > 0 && back < 0 && ms >= t) back = ms - t
      prev = ms }
    /packets transmitted/ { sent = $1; recv = $4; took = $NF + 0 }
    END { printf "%d %d %.0f %.0f %.0f\n", sent, recv, gap, back,
            (sent > 1 ? took / (sent - 1) : 0) }' "$1"
}

status "$dir/client.sock" || die "no status from the client" "$dir/client.log"
get session
sid=$REPLY
[ -n "$sid" ] || die "the client reports no session" "$dir/client.log"
status "$dir/server.sock" || die "no status from the server" "$dir/server.log"
get remote
seen0=$REPLY
pings_start "$dir/ping-nat.log" 125
ping_pid=$REPLY
sleep 1
lab_nat_flush
lab_wait_exit "$ping_pid" 10 || die "the pings did not finish"
read -r sent recv gap _ every < <(pings_read "$dir/ping-nat.log")
status "$dir/server.sock"
get remote
seen1=$REPLY
get session
[ "$REPLY" = "$sid" ] || die "the session changed on a NAT rebinding"
[ "$seen1" != "$seen0" ] ||
  die "the server still sees the client at $seen0" "$dir/server.log"
[ "${recv:-0}" -gt 0 ] || die "no ping came back" "$dir/client.log"
say "7. Now the router forgets its NAT mappings (conntrack -F), as home
routers do when they reboot or drop a quiet flow. The client's packets
suddenly arrive from another port: the server saw $seen0 before and
$seen1 now. QUIC checks the new path and carries on with the same
connection and the same session; the server's audit trail records it as
a switch:"
audit_line server '"reason":"NAT_REBIND"'
[ -n "$REPLY" ] && show_audit "$REPLY"
say "Of $sent pings sent across it, one every $every ms, $recv came back;
the longest wait between two replies was $gap ms. Nothing on the client
noticed."

lab_quic_idle_ms
idle=$REPLY
dark_s=5
status "$dir/client.sock"
get ipv4
addr0=$REPLY
get local
local0=$REPLY
get reattaches
reatt0=$REPLY
status "$dir/server.sock"
get attachment
att0=$REPLY
pings_start "$dir/ping-dark.log"
ping_pid=$REPLY
sleep 1
lab_now_ms
t_on=$REPLY
lab_uplink_blackhole_on client1 1 || die "could not blackhole the path"
sleep "$dark_s"
# Whether the tunnel device kept its address while the session waited.
kept=no
lab_has_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" && kept=yes
# Timed before the rule goes, so the recovery is never understated.
lab_now_ms
t_off=$REPLY
lab_uplink_blackhole_off client1 1
reattached() {
  status "$dir/client.sock" && get reattaches &&
    [ "${REPLY:-0}" -gt "$reatt0" ] && get session_state &&
    [ "$REPLY" = ATTACHED ]
}
lab_wait_for "the session to reattach" 10 reattached ||
  die "the client did not reattach its session" "$dir/client.log" \
    "$dir/server.log"
sleep 0.3
lab_kill "$ping_pid" INT
lab_wait_exit "$ping_pid" 5 || die "the pings did not stop"
read -r sent recv gap back every < \
  <(pings_read "$dir/ping-dark.log" "$t_off")
[ "${back:--1}" -ge 0 ] ||
  die "no ping came back after the path returned" "$dir/client.log"
status "$dir/client.sock"
get session
sid1=$REPLY
get ipv4
addr1=$REPLY
get local
local1=$REPLY
get session_state
state1=$REPLY
get state_version
ver1=$REPLY
get reattaches
reatt1=$REPLY
[ "$sid1" = "$sid" ] || die "the session changed: $sid -> $sid1"
[ "$addr1" = "$addr0" ] || die "the inner address changed: $addr1"
status "$dir/server.sock"
get attachment
att1=$REPLY
audit_line server '"to":"RECOVERING"'
dead_s=$REPLY
audit_ms "$dead_s"
srv_ms=$((REPLY - t_on))
audit_line client1 '"to":"RECOVERING"'
dead_c=$REPLY
audit_ms "$dead_c"
cli_ms=$((REPLY - t_on))
audit_line server '"from":"RECOVERING","to":"ATTACHED"'
back_s=$REPLY
if [ -z "$dead_s" ] || [ -z "$back_s" ] || [ -z "$dead_c" ]; then
  die "the audit trails lack the transitions" "$dir/audit-server.jsonl" \
    "$dir/audit-client1.jsonl"
fi
say "8. Now the client's path goes dark for $dark_s seconds: the router
drops every packet to and from it while the links stay up, as on a train
in a tunnel. That is longer than QUIC's idle timeout ($((idle / 1000)) s),
so the QUIC connection dies: the client gave it up $cli_ms ms into the
dark, the server (whose idle clock restarts at its own last keep-alive)
$srv_ms ms in. A plain VPN would start over now. But
jvpn-quic keeps a session above its connections, and the session did not
die: the server holds it, with its addresses, in state RECOVERING:"
show_audit "$dead_s"
say "When the path came back, the client opened a NEW QUIC connection (its
port changed from ${local0##*:} to ${local1##*:}, and the server lists it as
the session's attachment $att1, after $att0) and asked for its session
back. Its request carried a proof:
an HMAC keyed with the session's secret, which never crosses the wire,
over a value unique to this new connection's TLS channel, so a recorded
request is worthless on any other connection. The server checked it and
let the session continue:"
show_audit "$back_s"
printf '\n   session ID     before %s\n' "$sid"
printf '                  after  %s (the same)\n' "$sid1"
printf '   inner address  before %s, after %s\n' "$addr0" "$addr1"
printf '   state          %s, state_version %s (its transitions so far),\n' \
  "$state1" "$ver1"
printf '                  reattaches %s -> %s\n' "$reatt0" "$reatt1"
if [ "$kept" = yes ]; then
  kept="The tunnel device kept its address all the while, so programs on
the client saw nothing but a pause."
else
  kept=""
fi
say "Pings, one every $every ms, got answers again $back ms after the
path returned; $((sent - recv)) of $sent were lost in the dark. $kept"

lab_kill "$client_pid" TERM
if ! lab_wait_exit "$client_pid" 5 || [ "$REPLY" -ne 0 ]; then
  die "the client did not stop cleanly (status ${REPLY:-none})" \
    "$dir/client.log"
fi

# --- 9. two uplinks: a warm standby takes over a silent path -------------
lab_uplink2_add client1 || die "could not give the client a second uplink"
cp "$dir/client1.conf" "$dir/client-mp.conf"
printf '\n[uplink]\ninterface = eth0\npriority = 1\n\n[uplink]\ninterface = eth1\npriority = 2\n' \
  >>"$dir/client-mp.conf"
lab_spawn "$cl" "$dir/client-mp.log" "$JVPN_BIN" client \
  -c "$dir/client-mp.conf" --control "$dir/client.sock"
client_pid=$REPLY
# uplink_role IF ROLE: the status in ST lists uplink IF in ROLE.
uplink_role() {
  printf '%s' "$ST" | grep -q "\"interface\":\"$1\"[^}]*\"role\":\"$2\""
}
mp_ready() {
  status "$dir/client.sock" && uplink_role eth0 active &&
    uplink_role eth1 standby
}
lab_wait_for "eth0 active and eth1 standby" 10 mp_ready ||
  die "the client did not bring up both uplinks" "$dir/client-mp.log"
get session
sid_mp=$REPLY
pings_start "$dir/ping-mp.log"
ping_pid=$REPLY
sleep 1
lab_uplink_blackhole_on client1 1 || die "could not blackhole uplink 1"
mp_moved() { status "$dir/client.sock" && uplink_role eth1 active; }
lab_wait_for "the session on eth1" 5 mp_moved ||
  die "the session did not move to eth1" "$dir/client-mp.log"
sleep 1
lab_kill "$ping_pid" INT
lab_wait_exit "$ping_pid" 5 || die "the pings did not stop"
read -r sent recv gap _ every < <(pings_read "$dir/ping-mp.log")
audit_line client1 '"event":"uplink_switch"'
switch_line=$REPLY
[ -n "$switch_line" ] || die "no uplink_switch in the client's audit trail"
say "9. Phones and branch routers often have two uplinks. The client
restarts with two [uplink] sections: eth0 (priority 1) and a second link,
eth1 (priority 2), on another router port. It started session
${sid_mp:0:8}... on eth0 and at once opened a second QUIC connection on
eth1, proved it belongs to the same session, and keeps it warm as a
standby. Now eth0 goes silent, its link still up. The client does not wait
for a timeout: with data outstanding and nothing back for 4 round trips
(150 ms at least), eth0 is judged dead, and one ACTIVATE capsule on the
standby moves the session there, no handshake needed. Its audit trail says
why, with the numbers:"
show_audit "$switch_line"
say "Of $sent pings, one every $every ms, $recv came back; the longest wait
between two replies was $gap ms."
lab_uplink_blackhole_off client1 1
lab_wait_for "the session back on eth0" 15 mp_ready ||
  die "the session did not return to eth0" "$dir/client-mp.log"
get switches
switches=$REPLY
get last_switch_reason
why_back=$REPLY
get session
[ "$REPLY" = "$sid_mp" ] || die "the session changed: $sid_mp -> $REPLY"
say "When eth0 worked again it came back as a standby, had to stay healthy
for the stability window (3 s) so that a flapping link cannot pull the
session to and fro, and then took the session back ($why_back): $switches
switches in all, the same session throughout."

lab_kill "$client_pid" TERM
if ! lab_wait_exit "$client_pid" 5 || [ "$REPLY" -ne 0 ]; then
  die "the client did not stop cleanly (status ${REPLY:-none})" \
    "$dir/client-mp.log"
fi
lab_kill "$server_pid" TERM
if ! lab_wait_exit "$server_pid" 5 || [ "$REPLY" -ne 0 ]; then
  die "the server did not stop cleanly (status ${REPLY:-none})" \
    "$dir/server.log"
fi
# --- 10. the audit trails as pictures -------------------------------------
out=${JVPN_DEMO_OUT:-${TMPDIR:-/tmp}}
for f in server client1; do
  cp "$dir/audit-$f.jsonl" "$out/jvpn-demo-audit-$f.jsonl" ||
    die "could not copy the $f's audit trail to $out"
  (cd "$out" && "$JVPN_BIN" timeline "jvpn-demo-audit-$f.jsonl" \
     -o "jvpn-demo-timeline-$f.svg") 2>"$dir/timeline-$f.log" ||
    die "could not draw the $f's timeline" "$dir/timeline-$f.log"
done
say "10. Everything above is in the audit trails, one JSON line per
transition, switch and refusal. \`jvpn-quic timeline\` draws them: one lane
per session, its state in colour, each connection as a bar with the peer's
address, the switches with their reasons, the dark stretches hatched. The
server's and the client's views of this demo are in
$out/jvpn-demo-timeline-server.svg and
$out/jvpn-demo-timeline-client1.svg (open them in a browser; hover for
the records), beside the trails they were drawn from
(jvpn-demo-audit-*.jsonl)."
prefix=$LAB_PREFIX
lab_cleanup
if ip netns list | grep -q "^$prefix-"; then
  die "namespaces $prefix-* are still there"
fi
say "11. Client and server stopped on SIGTERM and removed their tunnel
devices; the namespaces, keys and files of this demo are deleted. Nothing
is left behind."
echo
echo "demo OK"
