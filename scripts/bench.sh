#!/usr/bin/env bash
# scripts/bench.sh (make bench): jvpn-quic's TCP throughput and CPU cost
# next to the bare path and wireguard-go, all measured in one run over the
# same lab path (tests/lab/lab.sh, lab_topo_vpn without NAT):
#
#   client1 ns 198.18.1.2 --- router ns --- server ns 198.18.3.2
#     bare:  iperf3 -> 198.18.3.2
#     jvpn:  iperf3 -> 198.18.200.1  (jvpn0, QUIC on UDP 443), with TUN
#            offloads (the default) and again without (tun_offload = off)
#     wg-go: iperf3 -> 198.19.250.1  (wireguard-go, UDP 51820, MTU 1420)
#     jvpn full: iperf3 -> 198.18.60.2 (an "internet" namespace behind the
#            server, which NATs the tunnel out; the client in full-tunnel
#            mode: default route by policy routing)
#     jvpn TCP: iperf3 -> 198.18.200.1 (the client with transport = tcp:
#            HTTP/2 over TLS over TCP 443, the fallback of issue 14)
#     OpenVPN TCP: iperf3 -> 198.19.252.1 (OpenVPN 2.6, static key,
#            --proto tcp-server / tcp-client on 1194, lab_ovpn_pair ... tcp)
#
# Each of the first four gets the same four iperf3 TCP tests: 1 and 4
# streams, client->server (up) and server->client (down, -R); the two TCP
# tunnels get the single-stream ones, in a table of their own with the
# ratio jvpn TCP / OpenVPN TCP. For the VPNs the CPU time (utime+stime
# from /proc/PID/stat) of both ends' VPN processes is read around each
# test and divided by the bytes moved.
#
# Environment:
#   BENCH_OUT=FILE      also write the results as Markdown to FILE
#   BENCH_SECONDS=N     measured seconds per test (default 8)
#   BENCH_OMIT=N        seconds of slow start left out (default 1)
#   BENCH_PERF=1        profile jvpn-quic (both ends) with perf during an
#                       extra single-stream run in each direction
#   BENCH_PERF_OUT=FILE where the profile goes (default: BENCH_OUT with
#                       .perf.txt, else $TMPDIR/jvpn-bench-perf.txt)
#   BENCH_NO_OFFLOAD=0  leave out the jvpn-quic run with tun_offload = off
#   BENCH_PARSER=P      read iperf3's output with jq, python3 or text (awk)
#                       instead of the first of those that is installed
#   JVPN_BIN=PATH       the jvpn-quic binary (default: as tests/lab/lab.sh)
#
# Exit 0 when every test ran, 1 when one failed or the setup failed, 77
# (skip) without root, /dev/net/tun, 'ip netns' or iperf3. Without
# openvpn the OpenVPN TCP column says n/a.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)

# 'make bench' runs in the build directory, which holds the binary.
if [ -z "${JVPN_BIN:-}" ] && [ -x "$PWD/jvpn-quic" ] &&
   [ ! -d "$PWD/jvpn-quic" ]; then
  JVPN_BIN=$PWD/jvpn-quic
fi

# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"

if ! why=$(lab_check_env); then
  echo "bench: SKIP: $why (run as root)" >&2
  exit 77
fi
if ! command -v iperf3 >/dev/null 2>&1; then
  echo "bench: SKIP: iperf3 is missing (apt-get install iperf3)" >&2
  exit 77
fi
bench_jvpn_bin bench

SECS=${BENCH_SECONDS:-8}
OMIT=${BENCH_OMIT:-1}
case "$SECS$OMIT" in
  *[!0-9]*) echo "bench: BENCH_SECONDS and BENCH_OMIT are whole seconds" >&2
            exit 1 ;;
esac
# Room for connection setup and a slow end; a hung test must not hang us.
TEST_TIMEOUT=$((SECS + OMIT + 20))
PORT=5201
CLK_TCK=$(getconf CLK_TCK)

# Whatever parses iperf3's results: JSON with jq or python3, else the plain
# text output with awk, so that a bare Debian still works. BENCH_PARSER
# (jq, python3 or text) forces one, to test the others.
if [ -n "${BENCH_PARSER:-}" ]; then
  case "$BENCH_PARSER" in
    jq|python3|text) PARSER=$BENCH_PARSER ;;
    *) echo "bench: BENCH_PARSER is jq, python3 or text" >&2; exit 1 ;;
  esac
elif command -v jq >/dev/null 2>&1; then
  PARSER=jq
elif command -v python3 >/dev/null 2>&1; then
  PARSER=python3
else
  PARSER=text
fi

HAVE_WG=1
WG_WHY=""
if ! command -v wireguard-go >/dev/null 2>&1; then
  HAVE_WG=0
  WG_WHY="wireguard-go is missing (apt-get install wireguard-go)"
elif ! command -v wg >/dev/null 2>&1; then
  HAVE_WG=0
  WG_WHY="wg is missing (apt-get install wireguard-tools)"
fi

die() {
  echo "bench: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}

WG_SOCKS=()
# wireguard-go's control sockets live in the shared /var/run, outside the
# namespaces; a killed daemon leaves its own behind.
# shellcheck disable=SC2317 # called from the EXIT trap
bench_cleanup() {
  local s
  for s in "${WG_SOCKS[@]}"; do
    rm -f -- "$s"
  done
}

lab_init
trap 'lab_cleanup; bench_cleanup' EXIT
lab_tmpdir
dir=$REPLY

lab_topo_vpn --no-nat || die "could not build the lab topology"
# No NAT: conntrack and masquerade cost the router per packet, and that
# cost would differ between bare TCP and tunnelled UDP. Off (even if the
# topology ever defaults to on), all three cross plain forwarding.
lab_nat_off || true
cl=${LAB_NS[client1]}
sv=${LAB_NS[server]}

TESTS=(up1 down1 up4 down4)
# The TCP tunnels' tests (HTTP/2 fallback against OpenVPN over TCP).
TCP_TESTS=(up1 down1)
declare -A TEST_NAME=([up1]="1 stream up" [down1]="1 stream down"
                      [up4]="4 streams up" [down4]="4 streams down")
declare -A TEST_ARGS=([up1]="" [down1]="-R" [up4]="-P 4" [down4]="-P 4 -R")
declare -A TEST_PAR=([up1]=1 [down1]=1 [up4]=4 [down4]=4)

# Results, keyed "kind,test": kind is bare, wg or jvpn.
declare -A BPS=() BYTES=() CPU_C=() CPU_S=() WALL=()
nfail=0

# iperf_parse FILE PARALLEL: "BITS_PER_S BYTES" in REPLY, where BYTES counts
# every interval (the omitted ones too, since the CPU was read around them).
iperf_parse() {
  local file=$1 par=$2
  case "$PARSER" in
    jq)
      REPLY=$(jq -r 'if .error then "error" else
        "\(.end.sum_received.bits_per_second) \(
           [.intervals[].sum.bytes] | add)" end' "$file" 2>/dev/null) ||
        REPLY=error ;;
    python3)
      REPLY=$(python3 - "$file" 2>/dev/null <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    print("error")
else:
    print(d["end"]["sum_received"]["bits_per_second"],
          sum(i["sum"]["bytes"] for i in d["intervals"]))
EOF
) || REPLY=error ;;
    text)
      REPLY=$(awk -v par="$par" '
        function bytes(v, u) {
          if (u == "KBytes") return v * 1024
          if (u == "MBytes") return v * 1048576
          if (u == "GBytes") return v * 1073741824
          if (u == "TBytes") return v * 1099511627776
          return v
        }
        function bits(v, u) {
          if (u == "Kbits/sec") return v * 1e3
          if (u == "Mbits/sec") return v * 1e6
          if (u == "Gbits/sec") return v * 1e9
          if (u == "Tbits/sec") return v * 1e12
          return v
        }
        {
          sum = ($1 == "[SUM]")
          if ((par > 1) != sum) next
          for (i = 1; i <= NF && $i != "sec"; i++) ;
          if (i > NF) next
          if ($NF == "receiver") bps = bits($(i + 3), $(i + 4))
          else if ($NF != "sender") total += bytes($(i + 1), $(i + 2))
        }
        END {
          if (bps == "" || total == 0) print "error"
          else printf "%.0f %.0f\n", bps, total
        }' "$file") || REPLY=error ;;
  esac
  [ -n "$REPLY" ] && [ "$REPLY" != error ] && [ "$REPLY" != null ]
}

# run_test KIND TEST DST PIDS...: one iperf3 run from client1 to DST in the
# server namespace (or IPERF_NS), with the CPU of PIDS read around it. Results go to the
# arrays above; returns 1 (logged) when the run failed.
run_test() {
  local kind=$1 t=$2 dst=$3 srv out t0 t1 c0=() c1=() pid fmt=-J
  shift 3
  out="$dir/$kind-$t.out"
  [ "$PARSER" = text ] && fmt="--forceflush"
  lab_spawn "${IPERF_NS:-$sv}" "$dir/$kind-$t.srv.log" iperf3 -s -1 -p "$PORT"
  srv=$REPLY
  if ! lab_wait_for "iperf3 server" 5 lab_tcp_listening "${IPERF_NS:-$sv}" \
       "$PORT"; then
    echo "bench: $kind ${TEST_NAME[$t]}: iperf3 server did not start" >&2
    lab_kill "$srv" KILL || true
    lab_wait_exit "$srv" 2 || true
    return 1
  fi
  for pid in "$@"; do lab_cpu_ticks "$pid" || true; c0+=("$REPLY"); done
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086 # TEST_ARGS holds several words on purpose
  timeout --kill-after=5 "$TEST_TIMEOUT" ip netns exec "$cl" \
    iperf3 -c "$dst" -p "$PORT" -t "$SECS" -O "$OMIT" $fmt \
    ${TEST_ARGS[$t]} >"$out" 2>&1 || true
  t1=$EPOCHREALTIME
  for pid in "$@"; do lab_cpu_ticks "$pid" || true; c1+=("$REPLY"); done
  if ! lab_wait_exit "$srv" 5; then
    lab_kill "$srv" KILL || true
    lab_wait_exit "$srv" 2 || true
  fi
  if ! iperf_parse "$out" "${TEST_PAR[$t]}"; then
    echo "bench: $kind ${TEST_NAME[$t]}: iperf3 failed:" >&2
    tail -n 5 "$out" >&2
    return 1
  fi
  read -r "BPS[$kind,$t]" "BYTES[$kind,$t]" <<<"$REPLY"
  WALL[$kind,$t]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  # The first PID is the client end, the second the server end.
  if [ $# -ge 1 ]; then
    CPU_C[$kind,$t]=$(awk -v d=$(( c1[0] - c0[0] )) -v hz="$CLK_TCK" \
      'BEGIN { printf "%.2f", d / hz }')
  fi
  if [ $# -ge 2 ]; then
    CPU_S[$kind,$t]=$(awk -v d=$(( c1[1] - c0[1] )) -v hz="$CLK_TCK" \
      'BEGIN { printf "%.2f", d / hz }')
  fi
  printf 'bench: %-5s %-15s %6.2f Gbit/s\n' "$kind" "${TEST_NAME[$t]}" \
    "$(awk -v b="${BPS[$kind,$t]}" 'BEGIN { printf "%.2f", b / 1e9 }')" >&2
  return 0
}

# run_list KIND "TEST..." DST PIDS...: run_test for each of the TESTs.
run_list() {
  local kind=$1 tests=$2 dst=$3 t
  shift 3
  for t in $tests; do
    run_test "$kind" "$t" "$dst" "$@" || nfail=$((nfail + 1))
  done
}
run_all() {
  local kind=$1 dst=$2
  shift 2
  run_list "$kind" "${TESTS[*]}" "$dst" "$@"
}

# jvpn_client LOG CONF: the jvpn-quic client in client1's namespace from
# CONF, its PID in jcli; returns 1 unless its tunnel answers pings.
jvpn_client() {
  lab_spawn "$cl" "$1" "$JVPN_BIN" client -c "$2"
  jcli=$REPLY
  lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" 10 &&
    lab_wait_for "tunnel ping" 10 bench_ping_ok "$cl" "$LAB_SERVER_IN4"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. the bare underlay --------------------------------------------------
echo "bench: bare underlay, client1 -> 198.18.3.2" >&2
lab_wait_for "underlay" 5 bench_ping_ok "$cl" 198.18.3.2 ||
  die "the underlay does not answer pings"
run_all bare 198.18.3.2

# --- 2. jvpn-quic ----------------------------------------------------------
echo "bench: jvpn-quic, client1 -> $LAB_SERVER_IN4" >&2
JVPN_MTU_C="" JVPN_MTU_S=""
PERF_STATE="not requested (set BENCH_PERF=1)"
lab_gen_vpn_configs "$dir/jvpn" client1 || die "jvpn-quic key generation"

# jvpn_server_up NAME CONF: the server from CONF, logging to DIR/NAME-
# server.log, up with its addresses and listening; its PID in jsrv.
jvpn_server_up() {
  lab_spawn "$sv" "$dir/$1-server.log" "$JVPN_BIN" server -c "$2"
  jsrv=$REPLY
  if ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN4" 10 ||
     ! lab_wait_udp_listen "$sv" 443 5; then
    die "jvpn-quic server ($1) did not come up" "$dir/$1-server.log"
  fi
}
# jvpn_client_up NAME CONF: client1 from CONF, attached and answering a
# ping through the tunnel; its PID in jcli.
jvpn_client_up() {
  lab_spawn "$cl" "$dir/$1-client.log" "$JVPN_BIN" client -c "$2"
  jcli=$REPLY
  if ! lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" 10 ||
     ! lab_wait_for "tunnel ping" 10 bench_ping_ok "$cl" "$LAB_SERVER_IN4"; then
    die "jvpn-quic client ($1) did not connect" "$dir/$1-server.log" \
      "$dir/$1-client.log"
  fi
}

jvpn_server_up jvpn "$dir/jvpn/server.conf"
jvpn_client_up jvpn "$dir/jvpn/client1.conf"
JVPN_MTU_C=$(ip -n "$cl" -o link show dev "$LAB_TUN" |
  sed -n 's/.* mtu \([0-9]*\).*/\1/p')
JVPN_MTU_S=$(ip -n "$sv" -o link show dev "$LAB_TUN" |
  sed -n 's/.* mtu \([0-9]*\).*/\1/p')
run_all jvpn "$LAB_SERVER_IN4" "$jcli" "$jsrv"

# The endpoints' own counters (drops) belong with the numbers.
kill -USR1 "$jsrv" "$jcli" 2>/dev/null || true
sleep 0.3
JVPN_STATS_S=$(grep ' stats ' "$dir/jvpn-server.log" | tail -n 1 || true)
JVPN_STATS_C=$(grep ' stats ' "$dir/jvpn-client.log" | tail -n 1 || true)

if [ "${BENCH_PERF:-0}" = 1 ]; then
  if bench_perf_ok "$dir"; then
    pout=${BENCH_PERF_OUT:-}
    if [ -z "$pout" ]; then
      if [ -n "${BENCH_OUT:-}" ]; then
        pout=${BENCH_OUT%.md}.perf.txt
      else
        pout=${TMPDIR:-/tmp}/jvpn-bench-perf.txt
      fi
    fi
    : >"$pout"
    for t in up1 down1; do
      echo "bench: perf: jvpn ${TEST_NAME[$t]} (extra run, not in table)" >&2
      lab_spawn "$sv" "$dir/perf-s.log" perf record -g -q \
        -o "$dir/perf-$t-server.data" -p "$jsrv" -- sleep $((SECS + OMIT))
      ps_pid=$REPLY
      lab_spawn "$cl" "$dir/perf-c.log" perf record -g -q \
        -o "$dir/perf-$t-client.data" -p "$jcli" -- sleep $((SECS + OMIT))
      pc_pid=$REPLY
      run_test jvpnperf "$t" "$LAB_SERVER_IN4" "$jcli" "$jsrv" || true
      lab_wait_exit "$ps_pid" 20 || lab_kill "$ps_pid" KILL || true
      lab_wait_exit "$pc_pid" 20 || lab_kill "$pc_pid" KILL || true
      for end in server client; do
        {
          printf '=== jvpn-quic %s, %s, %s Gbit/s under perf ===\n' \
            "$end" "${TEST_NAME[$t]}" "$(awk -v b="${BPS[jvpnperf,$t]:-0}" \
              'BEGIN { printf "%.2f", b / 1e9 }')"
          bench_perf_top "$dir/perf-$t-$end.data"
          echo
        } >>"$pout"
      done
    done
    PERF_STATE="written to $pout"
    cat "$pout"
  else
    PERF_STATE="perf is unavailable here"
    echo "bench: perf is unavailable (perf stat/record failed); no profile" >&2
  fi
fi

bench_stop_pid "$jcli"

# --- 2a. jvpn-quic over HTTP/2 over TCP (the fallback, issue 14) ----------
# The same server; the client pinned to TCP (transport = tcp), as one
# whose network blocks UDP ends up after its fallback.
echo "bench: jvpn-quic over TCP (transport = tcp), client1 ->" \
  "$LAB_SERVER_IN4" >&2
{ cat "$dir/jvpn/client1.conf"; printf 'transport = tcp\n'; } \
  >"$dir/jvpn/client1-tcp.conf"
if ! jvpn_client "$dir/jvpn-tcp-client.log" "$dir/jvpn/client1-tcp.conf" ||
   ! grep -q 'tunnel up .*transport=tcp' "$dir/jvpn-tcp-client.log"; then
  die "jvpn-quic client (transport = tcp) did not connect over TCP" \
    "$dir/jvpn-server.log" "$dir/jvpn-tcp-client.log"
fi
run_list jvpntcp "${TCP_TESTS[*]}" "$LAB_SERVER_IN4" "$jcli" "$jsrv"
bench_stop_pid "$jcli"
bench_stop_pid "$jsrv"

# --- 2a. jvpn-quic without TUN offloads -------------------------------------
# The same pair with tun_offload = off, one packet per TUN read and write
# (docs/decisions.md D42): what the offloads are worth, in the same run.
if [ "${BENCH_NO_OFFLOAD:-1}" = 1 ]; then
  echo "bench: jvpn-quic, TUN offloads off, client1 -> $LAB_SERVER_IN4" >&2
  for f in server client1; do
    sed 's/^tun_offload = .*/tun_offload = off/' "$dir/jvpn/$f.conf" \
      >"$dir/jvpn/$f-nooff.conf"
  done
  jvpn_server_up jvpn-nooff "$dir/jvpn/server-nooff.conf"
  jvpn_client_up jvpn-nooff "$dir/jvpn/client1-nooff.conf"
  run_all jvpnoff "$LAB_SERVER_IN4" "$jcli" "$jsrv"
  bench_stop_pid "$jcli"
  bench_stop_pid "$jsrv"
fi

# --- 2b. jvpn-quic in full-tunnel mode -------------------------------------
# The server advertises default routes and NATs its clients out to an
# "internet" namespace behind it (lab_internet_add); the client sends all
# its traffic through the tunnel by policy routing (docs/decisions.md
# D35). Measured next to the split-tunnel row above: the cost of the rules
# and of the server's NAT.
echo "bench: jvpn-quic full tunnel, client1 -> $LAB_INET4 (server NAT)" >&2
lab_internet_add || die "could not add the internet namespace"
sed -i 's|^route = 198.18.200.0/24$|&\nroute = 0.0.0.0/0|' \
  "$dir/jvpn/server.conf"
jvpn_server_up jvpn-full "$dir/jvpn/server.conf"
lab_spawn "$cl" "$dir/jvpn-full-client.log" "$JVPN_BIN" client \
  -c "$dir/jvpn/client1.conf"
jcli=$REPLY
if ! lab_wait_for "full tunnel" 10 grep -q 'full tunnel on for IPv4' \
       "$dir/jvpn-full-client.log" ||
   ! lab_wait_for "internet ping" 10 bench_ping_ok "$cl" "$LAB_INET4"; then
  die "jvpn-quic full tunnel did not come up" "$dir/jvpn-full-server.log" \
    "$dir/jvpn-full-client.log"
fi
IPERF_NS=${LAB_NS[inet]}
run_all jvpnfull "$LAB_INET4" "$jcli" "$jsrv"
IPERF_NS=""
bench_stop_pid "$jcli"
bench_stop_pid "$jsrv"

# --- 3. wireguard-go -------------------------------------------------------
# One VPN at a time, so neither steals the other's CPU.
if [ "$HAVE_WG" = 1 ]; then
  echo "bench: wireguard-go, client1 -> 198.19.250.1" >&2
  # Both daemons name their socket /var/run/wireguard/IF.sock in the one
  # file system the namespaces share: the names must differ.
  wgc="$LAB_PREFIX-wgc"
  wgs="$LAB_PREFIX-wgs"
  WG_SOCKS+=("/var/run/wireguard/$wgc.sock" "/var/run/wireguard/$wgs.sock")
  umask_old=$(umask)
  umask 077
  wg genkey >"$dir/wgc.key"
  wg genkey >"$dir/wgs.key"
  umask "$umask_old"
  wgc_pub=$(wg pubkey <"$dir/wgc.key")
  wgs_pub=$(wg pubkey <"$dir/wgs.key")
  lab_spawn "$sv" "$dir/wg-server.log" wireguard-go -f "$wgs"
  wsrv=$REPLY
  lab_spawn "$cl" "$dir/wg-client.log" wireguard-go -f "$wgc"
  wcli=$REPLY
  if ! lab_wait_for "wireguard-go server" 5 \
         test -S "/var/run/wireguard/$wgs.sock" ||
     ! lab_wait_for "wireguard-go client" 5 \
         test -S "/var/run/wireguard/$wgc.sock"; then
    die "wireguard-go did not start" "$dir/wg-server.log" "$dir/wg-client.log"
  fi
  ip netns exec "$sv" wg set "$wgs" private-key "$dir/wgs.key" \
    listen-port 51820 peer "$wgc_pub" allowed-ips 198.19.250.2/32 ||
    die "wg set (server)"
  ip netns exec "$cl" wg set "$wgc" private-key "$dir/wgc.key" \
    peer "$wgs_pub" allowed-ips 198.19.250.1/32 endpoint 198.18.3.2:51820 ||
    die "wg set (client)"
  lab_addr "$sv" "$wgs" 198.19.250.1/24
  lab_addr "$cl" "$wgc" 198.19.250.2/24
  ip -n "$sv" link set "$wgs" mtu 1420 up
  ip -n "$cl" link set "$wgc" mtu 1420 up
  lab_wait_for "wireguard handshake" 10 bench_ping_ok "$cl" 198.19.250.1 ||
    die "no ping through wireguard-go" "$dir/wg-server.log" \
      "$dir/wg-client.log"
  run_all wg 198.19.250.1 "$wcli" "$wsrv"
  bench_stop_pid "$wcli"
  bench_stop_pid "$wsrv"
else
  echo "bench: wireguard-go column skipped: $WG_WHY" >&2
fi

# --- 4. OpenVPN over TCP, the reference for the HTTP/2 fallback -----------
OVPN_VER=""
if command -v openvpn >/dev/null 2>&1; then
  echo "bench: OpenVPN over TCP, client1 -> $LAB_OVPN_TCP_SERVER_IN4" >&2
  OVPN_VER=$(openvpn --version 2>/dev/null | head -n 1 |
    awk '{ print $1, $2 }')
  lab_ovpn_pair client1 "$dir/ovpn-tcp" tcp ||
    die "OpenVPN over TCP did not come up"
  run_list ovpntcp "${TCP_TESTS[*]}" "$LAB_OVPN_TCP_SERVER_IN4" \
    "${LAB_OVPN_PID[tcp-client]}" "${LAB_OVPN_PID[tcp-server]}"
  bench_stop_pid "${LAB_OVPN_PID[tcp-client]}"
  bench_stop_pid "${LAB_OVPN_PID[tcp-server]}"
else
  echo "bench: OpenVPN TCP column skipped: openvpn is missing" >&2
fi

# --- results ---------------------------------------------------------------

# fmt_gbps KIND TEST / fmt_ratio A B / fmt_cpu KIND TEST: table cells in
# REPLY, "n/a" where a number is missing.
# shellcheck disable=SC2317 # called through cells
fmt_gbps() {
  local b=${BPS[$1,$2]:-}
  if [ -z "$b" ]; then REPLY=n/a; return; fi
  REPLY=$(awk -v b="$b" 'BEGIN { printf "%.2f", b / 1e9 }')
}
# shellcheck disable=SC2317 # called through cells
fmt_ratio() {
  local a=${BPS[$1,$3]:-} b=${BPS[$2,$3]:-}
  if [ -z "$a" ] || [ -z "$b" ]; then REPLY=n/a; return; fi
  REPLY=$(awk -v a="$a" -v b="$b" 'BEGIN {
    if (b > 0) printf "%.2f", a / b; else printf "n/a" }')
}
# shellcheck disable=SC2317 # called through cells
fmt_cpu() {
  local c=${CPU_C[$1,$2]:-} s=${CPU_S[$1,$2]:-} n=${BYTES[$1,$2]:-}
  if [ -z "$c" ] || [ -z "$s" ] || [ -z "$n" ]; then REPLY=n/a; return; fi
  REPLY=$(awk -v c="$c" -v s="$s" -v n="$n" 'BEGIN {
    if (n > 0) printf "%.2f", (c + s) / (n / 1e9); else printf "n/a" }')
}
# fmt_cores KIND TEST: "client/server" CPU cores busy during the test.
# shellcheck disable=SC2317 # called through cells
fmt_cores() {
  local c=${CPU_C[$1,$2]:-} s=${CPU_S[$1,$2]:-} w=${WALL[$1,$2]:-}
  if [ -z "$c" ] || [ -z "$s" ] || [ -z "$w" ]; then REPLY=n/a; return; fi
  REPLY=$(awk -v c="$c" -v s="$s" -v w="$w" \
    'BEGIN { printf "%.2f/%.2f", c / w, s / w }')
}

# cells TEST SPEC...: TEST's name, then per SPEC ("gbps KIND", "ratio A
# B", "cpu KIND" or "cores KIND") the fmt_ function's cell, '|'-separated,
# in REPLY.
cells() {
  local t=$1 row=${TEST_NAME[$1]} spec a
  shift
  for spec in "$@"; do
    read -r -a a <<<"$spec"
    "fmt_${a[0]}" "${a[@]:1}" "$t"
    row+="|$REPLY"
  done
  REPLY=$row
}

# Rows of '|'-separated cells, the first one the header.
hdr="test|bare Gbit/s|wg-go Gbit/s|jvpn Gbit/s|jvpn/wg|jvpn/bare|wg/bare"
hdr+="|jvpn no-offload Gbit/s|jvpn/no-offload|jvpn full Gbit/s|full/jvpn"
MAIN=("$hdr|wg CPU s/GB|jvpn CPU s/GB|jvpn no-offload CPU s/GB|jvpn full CPU s/GB")
CORES=("test|wg cores client/server|jvpn cores client/server|jvpn no-offload cores client/server")
for t in "${TESTS[@]}"; do
  cells "$t" "gbps bare" "gbps wg" "gbps jvpn" "ratio jvpn wg" \
    "ratio jvpn bare" "ratio wg bare" "gbps jvpnoff" "ratio jvpn jvpnoff" \
    "gbps jvpnfull" "ratio jvpnfull jvpn" "cpu wg" "cpu jvpn" "cpu jvpnoff" \
    "cpu jvpnfull"
  MAIN+=("$REPLY")
  cells "$t" "cores wg" "cores jvpn" "cores jvpnoff"
  CORES+=("$REPLY")
done

# The HTTP/2 fallback against OpenVPN over TCP (and jvpn-quic's QUIC of
# the same run, for what the fallback costs).
thdr="test|jvpn QUIC Gbit/s|jvpn TCP Gbit/s|OpenVPN TCP Gbit/s"
thdr+="|jvpn TCP/OpenVPN TCP|jvpn TCP/QUIC|jvpn TCP CPU s/GB"
thdr+="|OpenVPN TCP CPU s/GB|jvpn TCP cores c/s|OpenVPN TCP cores c/s"
TCPT=("$thdr")
for t in "${TCP_TESTS[@]}"; do
  cells "$t" "gbps jvpn" "gbps jvpntcp" "gbps ovpntcp" \
    "ratio jvpntcp ovpntcp" "ratio jvpntcp jvpn" "cpu jvpntcp" \
    "cpu ovpntcp" "cores jvpntcp" "cores ovpntcp"
  TCPT+=("$REPLY")
done

# print_table text|md ROWS...: aligned columns (text) or a Markdown table.
print_table() {
  local how=$1
  shift
  printf '%s\n' "$@" | awk -F'|' -v how="$how" '
    { n = NR; for (i = 1; i <= NF; i++) {
        cell[NR, i] = $i
        if (length($i) > w[i]) w[i] = length($i)
      }
      if (NF > nf) nf = NF }
    END {
      for (r = 1; r <= n; r++) {
        line = ""
        for (i = 1; i <= nf; i++) {
          if (how == "md") line = line "| " cell[r, i] " "
          else if (i == 1) line = sprintf("%-" w[i] "s", cell[r, i])
          else line = line sprintf("  %" w[i] "s", cell[r, i])
        }
        if (how == "md") line = line "|"
        print line
        if (how == "md" && r == 1) {
          line = "|---"
          for (i = 2; i <= nf; i++) line = line "|---:"
          print line "|"
        }
      }
    }'
}

iperf_ver=$(iperf3 --version 2>/dev/null | head -n 1 || true)
jvpn_ver=$("$JVPN_BIN" --version 2>/dev/null | head -n 1 || true)
jvpn_mtu="tunnel MTU client ${JVPN_MTU_C:-?} / server ${JVPN_MTU_S:-?}"
wg_ver=$(wireguard-go --version 2>/dev/null | head -n 1 || true)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
INFO=(
  "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  "machine: $(nproc) CPUs (${cpu_model:-unknown}), kernel $(uname -r)"
  "load average before the run: $load_before"
  "iperf3: $iperf_ver, TCP, ${SECS} s per test after ${OMIT} s omitted"
  "jvpn-quic: $jvpn_ver, $jvpn_mtu, default config (cubic)"
  "wireguard-go: ${wg_ver:-not run}${WG_WHY:+ ($WG_WHY)}, MTU 1420"
  "jvpn TCP: the same server, client with transport = tcp (HTTP/2 over TLS over TCP 443)"
  "OpenVPN TCP: ${OVPN_VER:-not run (openvpn is missing)}, static key, AES-256-CBC/SHA256, TCP 1194, MTU 1500"
  "CPU s/GB: utime+stime of the VPN processes of both ends per 10^9 bytes moved"
  "cores c/s: CPU seconds per wall second of the client / server VPN process"
  "perf: $PERF_STATE"
)

echo
printf '%s\n' "${INFO[@]}"
echo
print_table text "${MAIN[@]}"
echo
print_table text "${CORES[@]}"
echo
print_table text "${TCPT[@]}"
if [ -n "$JVPN_STATS_S" ]; then
  echo
  echo "jvpn-quic server counters after its tests: ${JVPN_STATS_S#* stats }"
fi
if [ -n "$JVPN_STATS_C" ]; then
  echo "jvpn-quic client counters after its tests: ${JVPN_STATS_C#* stats }"
fi

if [ -n "${BENCH_OUT:-}" ]; then
  {
    printf -- '- %s\n' "${INFO[@]}"
    echo
    print_table md "${MAIN[@]}"
    echo
    print_table md "${CORES[@]}"
    echo
    print_table md "${TCPT[@]}"
  } >"$BENCH_OUT"
  echo
  echo "bench: Markdown table written to $BENCH_OUT"
fi

if [ "$nfail" -gt 0 ]; then
  echo "bench: $nfail test(s) failed" >&2
  exit 1
fi
exit 0
