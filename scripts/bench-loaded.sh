#!/usr/bin/env bash
# scripts/bench-loaded.sh: latency under load through the tunnel, the
# HTTP/2 fallback next to QUIC (and OpenVPN over TCP), with and without
# random loss on the router: what inner TCP over outer TCP costs (issue 14).
#
#   client1 ns --- router ns (loss: lab_loss) --- server ns
#     ping -i 0.1 client1 -> the server's tunnel address, during an iperf3
#     TCP upload (up) and download (down, -R) through the same tunnel
#
# For each transport, loss and direction, RUNS runs: the throughput, the
# ping RTTs (median of all samples, the worst run's median and maximum,
# the lost pings) and, before each transport's loaded runs, the idle RTT.
#
# Environment:
#   LOADED_TRANSPORTS="quic tcp ovpn"  what is measured (ovpn: OpenVPN 2.6
#                       over TCP, lab_ovpn_pair; skipped without openvpn)
#   LOADED_LOSS="0 1"   router loss percentages
#   LOADED_RUNS=3       runs per cell
#   LOADED_SECONDS=8    seconds per run (the first second's pings, slow
#                       start, are left out)
#   LOADED_RATE=RATE    a bottleneck: the router sends at most RATE (tc
#                       tbf, e.g. 50mbit) each way, queueing up to 50 ms;
#                       default none (the CPU is the bottleneck)
#   LOADED_TXQLEN=N     the TUN devices' txqueuelen while on TCP
#   LOADED_LAN=1        ping and iperf3 from a "lan" namespace behind
#                       client1 (198.18.250.2, masqueraded into the tunnel),
#                       whose packets client1 forwards: TCP Small Queues,
#                       which keep a local sender's TUN queue short, do
#                       not limit them
#   LOADED_TCP_CONF=..  extra lines for the transport = tcp client's config
#   BENCH_OUT=FILE      also write the table as Markdown to FILE
#   JVPN_BIN=PATH       the jvpn-quic binary (default: as tests/lab/lab.sh)
# Exit 0, 1 on a failed setup or run, 77 without root, TUN or iperf3.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"

if ! why=$(lab_check_env); then
  echo "bench-loaded: SKIP: $why (run as root)" >&2
  exit 77
fi
for t in iperf3 jq; do
  if ! command -v "$t" >/dev/null 2>&1; then
    echo "bench-loaded: SKIP: $t is missing" >&2
    exit 77
  fi
done
bench_jvpn_bin bench-loaded
SECS=${LOADED_SECONDS:-8}
RUNS=${LOADED_RUNS:-3}
PORT=5201

die() {
  echo "bench-loaded: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}

lab_init
trap lab_cleanup EXIT
lab_tmpdir
dir=$REPLY
lab_topo_vpn --no-nat || die "could not build the lab topology"
lab_nat_off || true
cl=${LAB_NS[client1]}
sv=${LAB_NS[server]}
if [ -n "${LOADED_RATE:-}" ]; then
  for i in c1 "$LAB_ROUTER_UPLINK"; do
    ip netns exec "${LAB_NS[router]}" tc qdisc add dev "$i" root tbf \
      rate "$LOADED_RATE" burst 32kb latency 50ms ||
      die "tc tbf (LOADED_RATE=$LOADED_RATE)"
  done
fi
src=$cl
if [ "${LOADED_LAN:-0}" = 1 ]; then
  lab_ns lan || die "lan namespace"
  src=$REPLY
  lab_link "$src" eth0 "$cl" lan0 || die "lan link"
  lab_addr "$cl" lan0 198.18.250.1/30
  lab_addr "$src" eth0 198.18.250.2/30
  ip -n "$src" route add default via 198.18.250.1
  ip netns exec "$cl" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$cl" nft -f - <<EOF || die "lan masquerade"
table ip loaded_lan { chain post { type nat hook postrouting priority 100;
  oifname "$LAB_TUN" masquerade; }; }
EOF
fi
lab_gen_vpn_configs "$dir/jvpn" client1 || die "jvpn-quic key generation"
{ cat "$dir/jvpn/client1.conf"; printf 'transport = tcp\n'
  printf '%b' "${LOADED_TCP_CONF:-}"; } >"$dir/jvpn/client1-tcp.conf"


# rtts FILE: ping's RTTs in ms, one a line, the first second left out.
rtts() { sed -n 's/.*icmp_seq=\([0-9]*\) .*time=\([0-9.]*\) ms.*/\1 \2/p' \
  "$1" | awk '$1 > 10 { print $2 }'; }
# rstat WHAT: median|max of the numbers on stdin, one decimal.
rstat() { sort -n | awk -v w="$1" '{ v[n++] = $1 } END {
  if (n == 0) { print "-"; exit }
  if (w == "max") printf "%.1f\n", v[n - 1]
  else printf "%.1f\n", n % 2 ? v[(n - 1) / 2] : (v[n/2 - 1] + v[n/2]) / 2 }'; }

# measure KIND DST LOSS DIR RUN: one iperf3 run with pings beside it.
# The results go to files named after the arguments in $dir/res.
measure() {
  local kind=$1 dst=$2 loss=$3 d=$4 run=$5 srv png out arg=""
  out="$dir/res/$kind-$loss-$d-$run"
  [ "$d" = down ] && arg=-R
  lab_spawn "$sv" "$out.srv.log" iperf3 -s -1 -p "$PORT"
  srv=$REPLY
  lab_wait_for "iperf3 server" 5 lab_tcp_listening "$sv" "$PORT" ||
    die "iperf3 server did not start"
  lab_spawn "$src" "$out.ping" ping -n -i 0.1 -w "$SECS" "$dst"
  png=$REPLY
  timeout --kill-after=5 $((SECS + 20)) ip netns exec "$src" \
    iperf3 -c "$dst" -p "$PORT" -t "$SECS" -J $arg >"$out.json" 2>&1 || true
  lab_wait_exit "$png" 10 || bench_stop_pid "$png"
  lab_wait_exit "$srv" 5 || bench_stop_pid "$srv"
  jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$out.json" \
    >"$out.mbps" 2>/dev/null || echo 0 >"$out.mbps"
  rtts "$out.ping" >"$out.rtt"
  sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$out.ping" >"$out.lost"
  printf 'bench-loaded: %-5s loss %s%% %-4s run %s: %s Mbit/s, RTT median %s max %s ms\n' \
    "$kind" "$loss" "$d" "$run" "$(cat "$out.mbps")" \
    "$(rstat median <"$out.rtt")" "$(rstat max <"$out.rtt")" >&2
}

# cell KIND LOSS DIR: a table row from the runs' files.
ROWS=("transport|loss %|direction|Mbit/s median (min)|RTT idle ms|RTT median ms|worst run: median / max ms|pings lost %")
cell() {
  local kind=$1 loss=$2 d=$3 p="$dir/res/$1-$2-$3" r worst="" wm=-1 m
  local mb lost
  for r in $(seq "$RUNS"); do
    m=$(rstat median <"$p-$r.rtt")
    if [ "$m" != - ] && awk -v a="$m" -v b="$wm" 'BEGIN { exit !(a > b) }'
    then wm=$m; worst="$m / $(rstat max <"$p-$r.rtt")"; fi
  done
  mb="$(cat "$p"-*.mbps | rstat median) ($(cat "$p"-*.mbps | sort -n |
    head -n 1))"
  lost=$(cat "$p"-*.lost | rstat max)
  ROWS+=("$kind|$loss|$d|$mb|$(rstat median <"$dir/res/$kind-$loss-idle.rtt")|$(cat "$p"-*.rtt | rstat median)|${worst:--}|$lost")
}

# run_kind KIND DST: idle pings, then the loaded runs, per loss.
run_kind() {
  local kind=$1 dst=$2 loss d r
  for loss in ${LOADED_LOSS:-0 1}; do
    lab_loss "$loss" || die "lab_loss $loss"
    ip netns exec "$src" ping -n -i 0.1 -c 30 "$dst" \
      >"$dir/res/$kind-$loss-idle.ping" 2>&1 || true
    rtts "$dir/res/$kind-$loss-idle.ping" >"$dir/res/$kind-$loss-idle.rtt"
    for d in up down; do
      for r in $(seq "$RUNS"); do measure "$kind" "$dst" "$loss" "$d" "$r"; done
      cell "$kind" "$loss" "$d"
    done
  done
  lab_loss 0 || true
}

mkdir -p "$dir/res"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
lab_spawn "$sv" "$dir/server.log" "$JVPN_BIN" server -c "$dir/jvpn/server.conf"
jsrv=$REPLY
if ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN4" 10 ||
   ! lab_wait_udp_listen "$sv" 443 5; then
  die "jvpn-quic server did not come up" "$dir/server.log"
fi
for kind in ${LOADED_TRANSPORTS:-quic tcp ovpn}; do
  case "$kind" in
    quic|tcp)
      conf="$dir/jvpn/client1.conf"
      [ "$kind" = tcp ] && conf="$dir/jvpn/client1-tcp.conf"
      lab_spawn "$cl" "$dir/$kind-client.log" "$JVPN_BIN" client -c "$conf"
      jcli=$REPLY
      if ! lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" 10 ||
         ! lab_wait_for "tunnel ping" 10 bench_ping_ok "$cl" "$LAB_SERVER_IN4" ||
         ! grep -q "tunnel up .*transport=$kind" "$dir/$kind-client.log"; then
        die "jvpn-quic client ($kind) did not connect" "$dir/server.log" \
          "$dir/$kind-client.log"
      fi
      if [ -n "${LOADED_TXQLEN:-}" ] && [ "$kind" = tcp ]; then
        ip -n "$cl" link set dev "$LAB_TUN" txqueuelen "$LOADED_TXQLEN"
        ip -n "$sv" link set dev "$LAB_TUN" txqueuelen "$LOADED_TXQLEN"
      fi
      run_kind "$kind" "$LAB_SERVER_IN4"
      ip -n "$sv" link set dev "$LAB_TUN" txqueuelen 500
      kill -USR1 "$jsrv" "$jcli" 2>/dev/null || true
      lab_wait_for "stats" 5 grep -q ' stats ' "$dir/$kind-client.log" || true
      grep ' stats ' "$dir/$kind-client.log" | tail -n 1 |
        sed "s/^/bench-loaded: $kind client: /" >&2 || true
      bench_stop_pid "$jcli" ;;
    ovpn)
      if ! command -v openvpn >/dev/null 2>&1; then
        echo "bench-loaded: OpenVPN skipped: openvpn is missing" >&2
        continue
      fi
      lab_ovpn_pair client1 "$dir/ovpn" tcp ||
        die "OpenVPN over TCP did not come up"
      run_kind ovpn "$LAB_OVPN_TCP_SERVER_IN4"
      bench_stop_pid "${LAB_OVPN_PID[tcp-client]}"
      bench_stop_pid "${LAB_OVPN_PID[tcp-server]}" ;;
    *) die "unknown transport '$kind'" ;;
  esac
done
grep ' stats ' "$dir/server.log" | tail -n 1 |
  sed 's/^/bench-loaded: server: /' >&2 || true

INFO="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, bottleneck ${LOADED_RATE:-none}, sender $([ "$src" = "$cl" ] && echo client1 || echo "behind client1 (forwarded)"), TUN txqueuelen on TCP ${LOADED_TXQLEN:-500}, load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs of $SECS s per row, ping -i 0.1"
echo "$INFO"
bench_print_table text "${ROWS[@]}"
if [ -n "${BENCH_OUT:-}" ]; then
  { echo "- $INFO"; echo; BENCH_LEFT_COLS=3 bench_print_table md "${ROWS[@]}"; } \
    >"$BENCH_OUT"
fi
