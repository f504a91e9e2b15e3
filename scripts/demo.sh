#!/usr/bin/env bash
# The demo: builds jvpn-quic, then runs one server and one client in a
# small virtual network on this machine and tells, step by step, what
# happens. Needs root (it makes network namespaces and TUN devices); it
# touches nothing outside the namespaces it makes, and removes them.
#
#   client ns  ---  router ns (NAT)  ---  server ns
#   198.18.1.2      198.18.1.1 | 198.18.3.1     198.18.3.2 UDP 443
#
# Environment: JVPN_BIN=PATH uses that binary instead of building;
# JVPN_SKIP_DEPS=1 as for scripts/build.sh.
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
command -v socat >/dev/null 2>&1 ||
  { echo "demo FAILED: socat is missing (scripts/deps.sh)" >&2; exit 1; }

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
printf '   server  %s\n   client  %s\n' "${LAB_PIN[server]}" \
  "${LAB_PIN[client1]}"
say "The server's config lists the client's pin as an allowed [peer]; the
client's config names the server's pin, so neither accepts an impostor."

lab_spawn "$sv" "$dir/server.log" "$JVPN_BIN" server -c "$dir/server.conf"
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

lab_spawn "$cl" "$dir/client.log" "$JVPN_BIN" client -c "$dir/client1.conf"
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

lab_kill "$client_pid" TERM
if ! lab_wait_exit "$client_pid" 5 || [ "$REPLY" -ne 0 ]; then
  die "the client did not stop cleanly (status ${REPLY:-none})" \
    "$dir/client.log"
fi
lab_kill "$server_pid" TERM
if ! lab_wait_exit "$server_pid" 5 || [ "$REPLY" -ne 0 ]; then
  die "the server did not stop cleanly (status ${REPLY:-none})" \
    "$dir/server.log"
fi
prefix=$LAB_PREFIX
lab_cleanup
if ip netns list | grep -q "^$prefix-"; then
  die "namespaces $prefix-* are still there"
fi
say "7. Client and server stopped on SIGTERM and removed their tunnel
devices; the namespaces, keys and files of this demo are deleted. Nothing
is left behind."
echo
echo "demo OK"
