#!/usr/bin/env bash
# scripts/bench-recovery.sh: how long traffic through jvpn-quic stops when
# the path under it changes, next to wireguard-go on the same path, in the
# same run (tests/lab/lab.sh, lab_topo_vpn + lab_uplink2_add, NAT on):
#
#   client1 eth0 198.18.1.2  --- c1  router  srv --- server 198.18.3.2
#           eth1 198.18.11.2 --- c1b (masquerade,     jvpn-quic UDP 443
#                                random ports)        wireguard-go UDP 51820
#     jvpn:  198.18.200.2 <-> 198.18.200.1 (jvpn0; one uplink: no [uplink]
#            sections, the client follows the routing table)
#     wg-go: 198.19.250.2 <-> 198.19.250.1 (persistent-keepalive 25, MTU
#            1420)
#
# Both tunnels run at once and each fault hits both. Each tunnel carries
# two 200 packets/s probe streams (tests/tools/probe) at once, client ->
# server (up) and server -> client (down); each direction's longest gap
# between arrivals, packets lost and, when the fault has an end, how long
# after it traffic came back are reported, and the headline is the worse
# direction (scripts/bench-lib.sh). Scenarios:
#
#   a  NAT rebinding: the router forgets its mappings (conntrack -F)
#   b  address change: the active uplink loses its address (its link stays
#      up), the standby uplink's route takes over (restored after each run)
#   c  blackhole of the active uplink shorter than jvpn-quic's QUIC idle
#      timeout (idle - 1 s, at most 3 s: 2 s with the default 3 s)
#   d  3 s blackhole
#   e  blackhole 2 s longer than the idle timeout (the connection dies, the
#      session reattaches)
#   f  (BENCH_LONG=1) 35 s blackhole: past the session's transport-loss
#      TTL (15 s by default) and WireGuard's 25 s keepalive
#   g  the active uplink goes down (carrier loss) and keeps its addresses
#      (keep_addr_on_down): its default routes go, the other uplink's take
#      over (restored after each run)
#   h  the active uplink goes down and loses its addresses
#
# Blackholes are nft drops in the router; the client's link stays up. For
# c..f "back" is the time from the end of the blackhole (the path's
# return) to the end of the longest gap; a..b and g..h have no end within
# the run (the path does not return before the streams end).
#
# Environment:
#   BENCH_RUNS=N     runs per scenario (default 5)
#   BENCH_LONG=1     add scenario f (about 45 s per run)
#   BENCH_OUT=FILE   also write the results as Markdown to FILE
#   BENCH_SCENARIOS="a c"  run only these
#   JVPN_BIN=PATH    the jvpn-quic binary (default: as tests/lab/lab.sh)
#   LAB_PROBE_BIN    the probe binary (default: tests/tools/probe)
#
# Exit 0 when every run measured something, 1 when the setup failed, 77
# (skip) without root, /dev/net/tun or 'ip netns'.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"
bench_env bench-recovery
die() {
  echo "bench-recovery: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}
lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
lab_probe_find || die "no probe binary (make tests/tools/probe)"
for tool in nft conntrack wireguard-go wg; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done

RUNS=${BENCH_RUNS:-5}
case "$RUNS" in ''|*[!0-9]*|0) die "BENCH_RUNS must be a positive number" ;; esac
lab_quic_idle_ms
IDLE_MS=$REPLY
SHORT_MS=$(( IDLE_MS - 1000 < 3000 ? IDLE_MS - 1000 : 3000 ))
SCENARIOS=(a b c d e g h)
declare -A BH_MS=([c]=$SHORT_MS [d]=3000 [e]=$(( IDLE_MS + 2000 ))
                  [f]=35000)
if [ "${BENCH_LONG:-0}" = 1 ]; then
  SCENARIOS=(a b c d e f g h)
fi
if [ -n "${BENCH_SCENARIOS:-}" ]; then
  read -r -a SCENARIOS <<<"$BENCH_SCENARIOS"
fi
declare -A TITLE=(
  [a]="a: NAT rebinding (conntrack flushed)"
  [b]="b: address change (uplink loses its address, link up)"
  [c]="c: ${BH_MS[c]} ms blackhole of the active uplink"
  [d]="d: ${BH_MS[d]} ms blackhole"
  [e]="e: ${BH_MS[e]} ms blackhole"
  [f]="f: ${BH_MS[f]} ms blackhole"
  [g]="g: uplink down, address kept, route to the other uplink"
  [h]="h: uplink down, address removed")
for s in "${SCENARIOS[@]}"; do
  [ -n "${TITLE[$s]:-}" ] || die "unknown scenario '$s' (a..h)"
done
BENCH_KINDS=(j w)

lab_init
lab_tmpdir
dir=$REPLY
BENCH_DIR=$dir
# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || die "could not build the lab topology"
lab_uplink2_add client1 || die "could not add the second uplink"
# A link taken down keeps its IPv6 addresses too (g), as IPv4 does.
for dev in eth0 eth1; do
  ip netns exec "${LAB_NS[client1]}" sysctl -qw \
    "net.ipv6.conf.$dev.keep_addr_on_down=1" >/dev/null ||
    die "keep_addr_on_down on $dev"
done
lab_gen_vpn_configs "$dir" client1 || die "jvpn-quic key generation"
cl=${LAB_NS[client1]}
sv=${LAB_NS[server]}
slog=$dir/jvpn-server.log
clog=$dir/jvpn-client.log

# Control sockets inside our directory: the default /run/jvpn-quic is
# shared with every other run on this machine.
lab_spawn "$sv" "$slog" "$JVPN_BIN" server -c "$dir/server.conf" \
  --control "$dir/server.sock"
if ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN4" 10 ||
   ! lab_wait_udp_listen "$sv" 443 5; then
  die "jvpn-quic server did not start" "$slog"
fi
start_client() {
  lab_spawn "$cl" "$clog" "$JVPN_BIN" client -c "$dir/client1.conf" \
    --control "$dir/client1.sock"
  client_pid=$REPLY
  lab_wait_addr "$cl" "$LAB_TUN" "$LAB_CLIENT1_IN4" 10
}
start_client || die "jvpn-quic client did not come up" "$slog" "$clog"
lab_wg_pair client1 "$dir/wg" 25 || die "wireguard-go did not come up"

tunnel_ok() { # NS ADDR
  ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1
}
both_ok() {
  tunnel_ok "$cl" "$LAB_SERVER_IN4" && tunnel_ok "$cl" "$LAB_WG_SERVER_IN4"
}
# why_down: which tunnel does not work, with its state, on stderr.
why_down() {
  tunnel_ok "$cl" "$LAB_SERVER_IN4" ||
    { echo "jvpn-quic tunnel down"; lab_tail "$slog" "$clog"; }
  tunnel_ok "$cl" "$LAB_WG_SERVER_IN4" || {
    echo "wireguard-go tunnel down"
    ip netns exec "$cl" wg show "${LAB_WG_IF[client]}"
    ip netns exec "$sv" wg show "${LAB_WG_IF[server]}"
  }
  ip netns exec "${LAB_NS[router]}" nft list table inet lab_fault
  ip -n "$cl" -o addr show
  ip -n "$cl" route show
  lab_nat_mappings udp
} >&2

# Results: the streams' numbers in BENCH_R (scripts/bench-lib.sh);
# R[kind,scenario] a space-separated list per run, kind jconn (new jvpn
# connections during the run) or jstall (runs after which the jvpn client
# was restarted).
declare -A R=()
nbad=0

# fault SCENARIO: applies the fault and undoes it (blackholes), setting
# T_OFF (probe time line, ms) when a blackhole ends; returns when done.
# MOVED_FROM is the uplink a..b and g..h took away (restore brings it
# back).
fault() {
  local n
  T_OFF=""
  case "$1" in
    a) lab_nat_flush ;;
    b) lab_uplink_active client1
       MOVED_FROM=$REPLY
       lab_uplink_addr_del client1 "$MOVED_FROM" ;;
    g) lab_uplink_active client1
       MOVED_FROM=$REPLY
       lab_fo_link_down "$MOVED_FROM" ;;
    h) lab_uplink_active client1
       MOVED_FROM=$REPLY
       lab_fo_link_down "$MOVED_FROM" &&
         lab_uplink_addr_del client1 "$MOVED_FROM" ;;
    *) lab_uplink_blackhole_on client1 || return 1
       n=$REPLY
       sleep "$(awk -v m="${BH_MS[$1]}" 'BEGIN { print m / 1000 }')"
       lab_probe_now
       T_OFF=$REPLY
       lab_uplink_blackhole_off client1 "$n" ;;
  esac
}

# restore SCENARIO: puts the path back as it was before the run and waits
# until both tunnels carry traffic again. A jvpn-quic client whose tunnel
# stays down (its connection alive, its datagrams stuck) is counted in
# R[jstall,SCENARIO] and restarted, so the other runs still measure.
restore() {
  local n
  case "$1" in
    # Link up, addresses and default routes back at the uplink's metric.
    b|g|h) lab_fo_link_up "$MOVED_FROM" ;;
  esac
  if lab_wait_for "both tunnels to work" 15 both_ok; then
    # The single-path client follows the routing table back; the next
    # run's fault must find it where the kernel's route is.
    lab_wait_for "jvpn-quic on the kernel's uplink" 10 jvpn_on_route ||
      echo "bench-recovery: jvpn-quic not back on the kernel's uplink" \
        "after ${TITLE[$1]} run $2" >&2
    return 0
  fi
  if ! tunnel_ok "$cl" "$LAB_SERVER_IN4"; then
    echo "bench-recovery: jvpn-quic tunnel stuck after ${TITLE[$1]};" \
      "restarting the client" >&2
    ip netns exec "$cl" "$JVPN_BIN" status -s "$dir/client1.sock" >&2
    R[jstall,$1]+="$2 "
    n=$(( ${#RESTARTS[@]} + 1 ))
    lab_kill "$client_pid" TERM
    lab_wait_exit "$client_pid" 5 || { lab_kill "$client_pid" KILL;
                                       lab_wait_exit "$client_pid" 2; }
    mv "$clog" "$dir/jvpn-client.$n.log"
    RESTARTS+=("$dir/jvpn-client.$n.log")
    start_client || return 1
  fi
  lab_wait_for "both tunnels to work" 40 both_ok
}
RESTARTS=()

# jvpn_on_route: the jvpn-quic client sends from the address of the
# uplink the kernel routes the server through.
jvpn_on_route() {
  local j
  lab_uplink_active client1 || return 1
  lab_uplink_def client1 "$REPLY" || return 1
  j=$("$JVPN_BIN" status --json -s "$dir/client1.sock" 2>/dev/null) ||
    return 1
  [[ $j == *"\"local\":\"$LAB_UL_A4:"* ]]
}

# run_one SCENARIO K
run_one() {
  local s=$1 k=$2 secs c0
  secs=$(( ${BH_MS[$s]:-0} / 1000 + 6 ))
  lab_count "connecting to" "$clog"
  c0=$REPLY
  bench_start "$s$k" "$secs" || return 1
  sleep 1.5
  fault "$s" || return 1
  bench_end "$s$k" "$s" "$k" "$T_OFF" || return 1
  lab_count "connecting to" "$clog"
  R[jconn,$s]+="$(( REPLY - c0 )) "
  restore "$s" "$k"
}

echo "bench-recovery: $RUNS runs of ${SCENARIOS[*]}; jvpn-quic idle" \
     "timeout $IDLE_MS ms" >&2
for s in "${SCENARIOS[@]}"; do
  for ((k = 1; k <= RUNS; k++)); do
    printf 'bench-recovery: %s run %d/%d\n' "${TITLE[$s]}" "$k" "$RUNS" >&2
    if ! run_one "$s" "$k"; then
      nbad=$((nbad + 1))
      echo "bench-recovery: run failed" >&2
      why_down
      lab_wait_for "both tunnels to work" 40 both_ok || {
        why_down
        die "the tunnels do not come back"
      }
    fi
  done
done
lab_pid_alive "$client_pid" || echo "bench-recovery: the jvpn client exited" >&2


ROWS=("$BENCH_HEADER|new jvpn-quic connections")
for s in "${SCENARIOS[@]}"; do
  for kind in "${BENCH_KINDS[@]}"; do
    bench_row "$s" "${TITLE[$s]}" "$kind"
    row=$REPLY
    if [ "$kind" = j ]; then
      # shellcheck disable=SC2086 # a list of words
      row+="|$(printf '%s\n' ${R[jconn,$s]:-} | awk '$1 > 0 { n++ } END {
        printf "%d of %d runs", n, NR }')"
    else
      row+="|-"
    fi
    bench_row_notes "$s" "$kind" "${R[jstall,$s]:-}"
    row+=$REPLY
    ROWS+=("$row")
  done
done

raw() {
  local s kind
  for s in "${SCENARIOS[@]}"; do
    bench_raw "$s"
    for kind in jconn jstall; do
      [ -n "${R[$kind,$s]:-}" ] && printf '%s %s: %s\n' "$s" "$kind" \
        "${R[$kind,$s]% }"
    done
  done
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "$RUNS runs each; load average at the end $LOADAVG."
bench_legend | fold -s -w 78
bench_print_table text "${ROWS[@]}"
echo
raw

if [ -n "${BENCH_OUT:-}" ]; then
  {
    echo "## Results: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(uname -srm), $(nproc) CPUs" \
      "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))."
    echo "jvpn-quic $(git -C "$srcdir" describe --always --dirty 2>/dev/null ||
      echo '(no git)'), QUIC idle timeout $IDLE_MS ms;" \
      "wireguard-go $(wireguard-go --version 2>/dev/null | head -n1 |
      awk '{ print $NF }'), persistent-keepalive 25 s."
    echo "$RUNS runs per scenario; load average at the end $LOADAVG."
    echo
    bench_legend
    echo
    bench_print_table md "${ROWS[@]}"
    echo
    echo "Per run (S KIND DIR METRIC: one value per run; KIND j jvpn-quic," \
      "w wireguard-go; dead: the runs whose stream never came back; jconn:" \
      "new jvpn-quic connections; jstall: jvpn-quic client restarted after" \
      "the run):"
    echo
    echo '```'
    raw
    echo '```'
  } >"$BENCH_OUT"
  echo "bench-recovery: wrote $BENCH_OUT" >&2
fi
[ "$nbad" -eq 0 ]
