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
#   u  UDP blocked mid-session: the router drops UDP to and from port 443
#      (lab_udp_block 1) for the rest of the run; jvpn-quic's session
#      should move to HTTP/2 over TCP 443 (issue 14; goal: gap <= 1 s)
#   q  UDP unblocked: before the run (not measured) UDP is blocked and the
#      session moves to TCP; in the run UDP is let through again and the
#      session should return to QUIC within one probe interval
#      (quic_probe_ms, 1 s, plus 50 ms for the probe's handshake and
#      reattach) with no gap (no gap beyond Q_GAP_MS, 100 ms); the runs unblock
#      at points spread over the probe cycle
#
# In u and q the comparison is OpenVPN 2.6 over TCP (a separate tunnel,
# lab_ovpn_pair ... tcp: static key, TCP 1194, its client started in TCP
# mode beforehand: 198.19.252.2 <-> 198.19.252.1), not wireguard-go: the
# block drops UDP port 443 only, so wireguard-go's UDP 51820 would measure
# an untouched path (and on a network that dropped all UDP it would have
# no way out). For both the client's and the server's [policy] gets
# max_switches_per_min = 64 (two switches per run: to TCP and back), as
# scripts/bench-failover.sh does; a..h keep the defaults. u and q also
# report how long after the change `status` showed the new transport,
# whether the session ID stayed the same from before the run to after it,
# and the transport at the run's end.
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
#   BENCH_SCENARIOS="a c"  run only these (default: a b c d e g h u q)
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
for tool in nft conntrack wireguard-go wg openvpn; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done

RUNS=${BENCH_RUNS:-5}
case "$RUNS" in ''|*[!0-9]*|0) die "BENCH_RUNS must be a positive number" ;; esac
lab_quic_idle_ms
IDLE_MS=$REPLY
SHORT_MS=$(( IDLE_MS - 1000 < 3000 ? IDLE_MS - 1000 : 3000 ))
SCENARIOS=(a b c d e g h u q)
declare -A BH_MS=([c]=$SHORT_MS [d]=3000 [e]=$(( IDLE_MS + 2000 ))
                  [f]=35000)
if [ "${BENCH_LONG:-0}" = 1 ]; then
  SCENARIOS=(a b c d e f g h u q)
fi
# The goals of u and q (issue 14): the gap when UDP goes (ms); the time
# to be back on QUIC after UDP returns (one quic_probe_ms, default) and
# the largest gap that still counts as none then (20 probe intervals).
U_GAP_MS=1000
Q_PROBE_MS=1000 # quic_probe_ms's default (include/jvpn/proto.h)
# one probe interval, plus the probe's handshake and reattach (50 ms)
Q_BACK_MS=$(( Q_PROBE_MS + 50 ))
Q_GAP_MS=100
# Probe streams' length (s) for u and q: long enough to see the session
# settle on its new transport.
declare -A UQ_SECS=([u]=6 [q]=8)
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
  [h]="h: uplink down, address removed"
  [u]="u: UDP 443 blocked mid-session"
  [q]="q: UDP 443 unblocked (session on TCP)")
UDP_SCEN=0
for s in "${SCENARIOS[@]}"; do
  [ -n "${TITLE[$s]:-}" ] || die "unknown scenario '$s' (a..h, u, q)"
  case "$s" in u|q) UDP_SCEN=1 ;; esac
done
# kinds_of S: the tunnels scenario S measures, in BENCH_KINDS.
kinds_of() {
  case "$1" in
    u|q) BENCH_KINDS=(j t) ;;
    *) BENCH_KINDS=(j w) ;;
  esac
}
POLICY="max_switches_per_min = 64"

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
if [ "$UDP_SCEN" = 1 ]; then
  printf '\n[policy]\n%s\n' "$POLICY" >>"$dir/server.conf"
  printf '\n[policy]\n%s\n' "$POLICY" >>"$dir/client1.conf"
fi
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
if [ "$UDP_SCEN" = 1 ]; then
  lab_ovpn_pair client1 "$dir/ovpn-tcp" tcp ||
    die "OpenVPN over TCP did not come up"
fi

tunnel_ok() { # NS ADDR
  ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1
}
# both_ok: jvpn-quic and wireguard-go work (and OpenVPN over TCP, when
# it runs).
both_ok() {
  tunnel_ok "$cl" "$LAB_SERVER_IN4" && tunnel_ok "$cl" "$LAB_WG_SERVER_IN4" &&
    { [ "$UDP_SCEN" = 0 ] || tunnel_ok "$cl" "$LAB_OVPN_TCP_SERVER_IN4"; }
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
  [ "$UDP_SCEN" = 0 ] || tunnel_ok "$cl" "$LAB_OVPN_TCP_SERVER_IN4" || {
    echo "OpenVPN (TCP) tunnel down"
    lab_tail "$dir/ovpn-tcp/ovpn-server.log" "$dir/ovpn-tcp/ovpn-client.log"
  }
  jvpn_status && echo "jvpn-quic session ${ST[session]}," \
    "transport ${ST[transport]}, ${ST[state]}"
  ip netns exec "${LAB_NS[router]}" nft list table inet lab_fault
  ip -n "$cl" -o addr show
  ip -n "$cl" route show
  lab_nat_mappings udp
} >&2

# Results: the streams' numbers in BENCH_R (scripts/bench-lib.sh);
# R[kind,scenario] a space-separated list per run, kind jconn (new jvpn
# connections during the run) or jstall (runs after which the jvpn client
# was restarted); for u and q also jmove (ms from the change to `status`
# showing the new transport, "-" when it did not within the wait), jsame
# (1: the same session ID before and after the run, else 0), jtr (the
# transport after the run) and jgoal (1: the run met the issue's goal).
declare -A R=()
nbad=0

# fault SCENARIO: applies the fault and undoes it (blackholes), setting
# T_OFF (probe time line, ms) when a blackhole ends; returns when done
# (u, q: when `status` shows the new transport, or after a wait, with the
# time in MOVE_MS; q has no outage to come back from, so no T_OFF).
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
    u) lab_udp_block 1 || return 1
       wait_transport tcp 4 ;;
    q) lab_udp_block 0 || return 1
       wait_transport quic 5 ;;
    *) lab_uplink_blackhole_on client1 || return 1
       n=$REPLY
       sleep "$(awk -v m="${BH_MS[$1]}" 'BEGIN { print m / 1000 }')"
       lab_probe_now
       T_OFF=$REPLY
       lab_uplink_blackhole_off client1 "$n" ;;
  esac
}

# restore SCENARIO: puts the path back as it was before the run and waits
# until both tunnels carry traffic again (u, q: UDP unblocked, jvpn-quic
# back on QUIC and past its switch cooldown). A jvpn-quic client whose tunnel
# stays down (its connection alive, its datagrams stuck) is counted in
# R[jstall,SCENARIO] and restarted, so the other runs still measure.
restore() {
  local n
  case "$1" in
    # Link up, addresses and default routes back at the uplink's metric.
    b|g|h) lab_fo_link_up "$MOVED_FROM" ;;
    u|q) lab_udp_block 0 ;;
  esac
  if lab_wait_for "both tunnels to work" 15 both_ok; then
    if [ "$UDP_SCEN" = 1 ]; then
      lab_wait_for "jvpn-quic on QUIC" 10 on_transport quic ||
        echo "bench-recovery: jvpn-quic not back on QUIC after" \
          "${TITLE[$1]} run $2" >&2
      sleep 2 # switch_cooldown_ms (1.5 s): each run from a settled session
    fi
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

# jvpn_status: the client's status (lab_cli_status) in ST.
declare -A ST=()
jvpn_status() { lab_cli_status "$dir/client1.sock" ST; }
# on_transport T: the jvpn-quic session goes over T (quic or tcp) now.
on_transport() { jvpn_status && [ "${ST[transport]}" = "$1" ]; }

# wait_transport T SECS: waits up to SECS for the session on T; MOVE_MS
# the ms from the call until the client switched (its log's time of the
# switch; else when `status`, polled every 50 ms, showed it), "-" when it
# did not.
wait_transport() {
  local t0 line hh mm ss ms day
  lab_now_ms
  t0=$REPLY
  MOVE_MS=-
  lab_wait_for "jvpn-quic on $1" "$2" on_transport "$1" || return 0
  lab_now_ms
  MOVE_MS=$(( REPLY - t0 ))
  # The client's own time of the switch (its log is in UTC, to the ms),
  # not the status poll's, which comes up to a poll later.
  line=$(grep " transport [a-z]* -> $1\$" "$clog" | tail -n 1)
  IFS=':.' read -r hh mm ss ms _ <<<"${line%% *}"
  [ -n "$ms" ] || return 0
  day=$(( ((10#$hh * 60 + 10#$mm) * 60 + 10#$ss) * 1000 + 10#$ms ))
  t0=$(( t0 % 86400000 ))
  (( day >= t0 && day - t0 <= MOVE_MS )) && MOVE_MS=$(( day - t0 ))
}

# prepare SCENARIO: the state the run starts from, before its streams: for
# q the session on TCP (UDP blocked), carrying traffic.
prepare() {
  [ "$1" = q ] || return 0
  lab_udp_block 1 || return 1
  lab_wait_for "jvpn-quic on TCP" 10 on_transport tcp || return 1
  lab_wait_for "jvpn-quic over TCP carrying traffic" 5 tunnel_ok "$cl" \
    "$LAB_SERVER_IN4"
}

# uq_result S SID0: the session and goal numbers of a u or q run that just
# ended (its streams in BENCH_R), SID0 the session before it.
uq_result() {
  local s=$1 sid0=$2 gap ok=1
  R[jmove,$s]+="$MOVE_MS "
  if jvpn_status; then
    R[jtr,$s]+="${ST[transport]} "
    R[jsame,$s]+="$([ "${ST[session]}" = "$sid0" ] && echo 1 || echo 0) "
  else
    R[jtr,$s]+="? "
    R[jsame,$s]+="0 "
  fi
  gap=${BENCH_R[j,worse,gap,$s]% }
  gap=${gap##* }
  [ -n "$gap" ] || ok=0
  case "$s" in
    u) lab_lt "$gap" $(( U_GAP_MS + 1 )) || ok=0 ;;
    q) { [ "$MOVE_MS" != - ] && [ "$MOVE_MS" -le "$Q_BACK_MS" ] &&
           lab_lt "$gap" $(( Q_GAP_MS + 1 )); } || ok=0 ;;
  esac
  R[jgoal,$s]+="$ok "
}

# run_one SCENARIO K
run_one() {
  local s=$1 k=$2 secs c0 sid0=""
  secs=${UQ_SECS[$s]:-$(( ${BH_MS[$s]:-0} / 1000 + 6 ))}
  if [ -n "${UQ_SECS[$s]:-}" ]; then
    jvpn_status && sid0=${ST[session]}
  fi
  prepare "$s" || return 1
  lab_count "connecting to" "$clog"
  c0=$REPLY
  bench_start "$s$k" "$secs" || return 1
  sleep 1.5
  # q: each run unblocks UDP at another point of the probe cycle (run k of
  # N (k-1)/N of an interval later), so the worst phase is measured too.
  [ "$s" != q ] || sleep "$(awk -v k="$k" -v n="$RUNS" -v p="$Q_PROBE_MS" \
                               'BEGIN { print (k - 1) * p / n / 1000 }')"
  fault "$s" || return 1
  bench_end "$s$k" "$s" "$k" "$T_OFF" || return 1
  lab_count "connecting to" "$clog"
  R[jconn,$s]+="$(( REPLY - c0 )) "
  [ -z "${UQ_SECS[$s]:-}" ] || uq_result "$s" "$sid0"
  restore "$s" "$k"
}

echo "bench-recovery: $RUNS runs of ${SCENARIOS[*]}; jvpn-quic idle" \
     "timeout $IDLE_MS ms" >&2
for s in "${SCENARIOS[@]}"; do
  kinds_of "$s"
  for ((k = 1; k <= RUNS; k++)); do
    printf 'bench-recovery: %s run %d/%d\n' "${TITLE[$s]}" "$k" "$RUNS" >&2
    if ! run_one "$s" "$k"; then
      nbad=$((nbad + 1))
      echo "bench-recovery: run failed" >&2
      why_down
      lab_udp_block 0
      lab_wait_for "both tunnels to work" 40 both_ok || {
        why_down
        die "the tunnels do not come back"
      }
    fi
  done
done
lab_pid_alive "$client_pid" || echo "bench-recovery: the jvpn client exited" >&2


# of_runs LIST WORD: "N of M runs", N the runs whose value is WORD, in
# REPLY ("-" for an empty list).
of_runs() {
  # shellcheck disable=SC2086 # a list of words
  REPLY=$(printf '%s\n' $1 | awk -v w="$2" '$1 == w { n++ } END {
    if (NR) printf "%d of %d runs", n, NR; else print "-" }')
}
# goal_text S: the issue's goal for scenario u or q, in REPLY.
goal_text() {
  case "$1" in
    u) REPLY="gap <= $U_GAP_MS ms" ;;
    q) REPLY="on QUIC <= $Q_BACK_MS ms after UDP returns, gap <= $Q_GAP_MS ms" ;;
  esac
}

# The a..h table (wireguard-go beside jvpn-quic) and the u, q table
# (OpenVPN over TCP beside it, with the session and goal columns).
ROWS=("$BENCH_HEADER|new jvpn-quic connections")
UQROWS=("$BENCH_HEADER|jvpn-quic on the new transport after (ms)|same session|transport after the run|goal|goal met")
for s in "${SCENARIOS[@]}"; do
  kinds_of "$s"
  for kind in "${BENCH_KINDS[@]}"; do
    bench_row "$s" "${TITLE[$s]}" "$kind"
    row=$REPLY
    if [ -n "${UQ_SECS[$s]:-}" ]; then
      if [ "$kind" = j ]; then
        bench_cell_of "${R[jmove,$s]//-/}"
        row+="|$REPLY"
        of_runs "${R[jsame,$s]:-}" 1
        row+="|$REPLY"
        # shellcheck disable=SC2086 # a list of words
        row+="|$(printf '%s\n' ${R[jtr,$s]:-} | sort | uniq -c |
          awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }') runs"
        goal_text "$s"
        row+="|$REPLY"
        of_runs "${R[jgoal,$s]:-}" 1
        row+="|$REPLY"
      else
        row+="|-|-|-|-|-"
      fi
    elif [ "$kind" = j ]; then
      # shellcheck disable=SC2086 # a list of words
      row+="|$(printf '%s\n' ${R[jconn,$s]:-} | awk '$1 > 0 { n++ } END {
        printf "%d of %d runs", n, NR }')"
    else
      row+="|-"
    fi
    bench_row_notes "$s" "$kind" "${R[jstall,$s]:-}"
    row+=$REPLY
    if [ -n "${UQ_SECS[$s]:-}" ]; then UQROWS+=("$row"); else ROWS+=("$row"); fi
  done
done

raw() {
  local s kind
  for s in "${SCENARIOS[@]}"; do
    kinds_of "$s"
    bench_raw "$s"
    for kind in jconn jstall jmove jsame jtr jgoal; do
      [ -n "${R[$kind,$s]:-}" ] && printf '%s %s: %s\n' "$s" "$kind" \
        "${R[$kind,$s]% }"
    done
  done
}

# uq_legend: what the u, q table adds to bench_legend.
uq_legend() {
  echo "u and q (issue 14): jvpn-quic next to OpenVPN over TCP (a separate" \
    "tunnel, static key, TCP 1194, its client in TCP mode from the start," \
    "untouched by the block by design); wireguard-go is left out of them:" \
    "its UDP 51820 is not blocked, it would measure an untouched path. On" \
    "the new transport after: ms from the block (u) or unblock (q) until" \
    "jvpn-quic switched to tcp (u) or quic (q), by its log's time stamp;" \
    "same session: the status session ID before the run equals the one" \
    "after it; goal met: runs within the goal (q: both conditions;" \
    "gaps are the worse direction's)."
}

# print_tables text|md: the tables that have rows.
print_tables() {
  [ "${#ROWS[@]}" -gt 1 ] && bench_print_table "$1" "${ROWS[@]}"
  if [ "${#UQROWS[@]}" -gt 1 ]; then
    [ "${#ROWS[@]}" -gt 1 ] && echo
    [ "$1" = md ] && { uq_legend; echo; }
    bench_print_table "$1" "${UQROWS[@]}"
  fi
  return 0
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "$RUNS runs each; load average at the end $LOADAVG."
bench_legend | fold -s -w 78
[ "${#UQROWS[@]}" -gt 1 ] && uq_legend | fold -s -w 78
print_tables text
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
    if [ "$UDP_SCEN" = 1 ]; then
      echo "u, q: [policy] $POLICY at both ends (else defaults:" \
        "tcp_fallback_ms 300, quic_probe_ms 2 s, switch_cooldown_ms 1.5 s);" \
        "$(openvpn --version 2>/dev/null | head -n1 | awk '{ print $1, $2 }')" \
        "over TCP, static key, --ping 1 --ping-restart 5."
    fi
    echo "$RUNS runs per scenario; load average at the end $LOADAVG."
    echo
    bench_legend
    echo
    print_tables md
    echo
    echo "Per run (S KIND DIR METRIC: one value per run; KIND j jvpn-quic," \
      "w wireguard-go, t OpenVPN over TCP; dead: the runs whose stream" \
      "never came back; jconn: new jvpn-quic connections (lines" \
      "'connecting to', QUIC probes and TCP attempts included); jstall:" \
      "jvpn-quic client restarted after the run; jmove, jsame, jtr, jgoal:" \
      "the u, q columns per run):"
    echo
    echo '```'
    raw
    echo '```'
  } >"$BENCH_OUT"
  echo "bench-recovery: wrote $BENCH_OUT" >&2
fi
[ "$nbad" -eq 0 ]
