#!/usr/bin/env bash
# scripts/bench-flood.sh: what a flood of spoofed packets costs jvpn-quic's
# server and the sessions it carries (tests/lab/lab.sh, lab_topo_vpn with
# NAT, plus lab_attacker_add):
#
#   client1 198.18.1.2 -------.
#                              \
#   client2 2001:db8:2::2 ----- router ---- server 198.18.3.2 (UDP 443,
#     (BENCH_RTT_MS, 40, of   /                    retry = auto)
#      delay in the router)  /
#   attacker 198.18.9.2 ------'  sends as 198.19.0.0/17 (tests/tools/flood)
#
# Scenarios, BENCH_SECS (10) seconds each:
#   base     no flood
#   i1k      QUIC v1 Initials from spoofed sources and ports, 1000/s
#   i10k     the same, 10000/s
#   i50k     the same, 50000/s
#   s10k     1-RTT packets for unknown connection IDs, 10000/s
#   c10k     the Initials of i10k to a UDP port nothing listens on (444):
#            the control, what the flood costs the path and the machine
#            without the server's part
# and, only when BENCH_SCENARIOS names them, i100k and i200k: Initials at
# 100000/s and 200000/s, the second past what the server takes on a
# 2-core machine that also runs the attacker.
#
# Throughout each run client1's established tunnel carries two 200
# packets/s probe streams, up (client -> server) and down (server ->
# client), and client2 is started afresh BENCH_ATTACHES (3) times, 1 s
# apart, once the flood is under way. Per run:
#   gap      each stream's longest gap between arrivals (ms); the worse
#            direction is the headline
#   attach   a fresh client2's time from "connecting to" to "tunnel up"
#            (its log's time stamps, ms): a QUIC handshake, through a
#            Retry once the flood has switched Retry on, and the CONNECT-IP
#            exchange; client2's path has a round trip of BENCH_RTT_MS, so
#            the table can say how many round trips the flood added
#   CPU      the server's utime + stime over the flood, % of one core
#   RSS      the server's peak resident memory during the run (VmHWM,
#            reset at the run's start through /proc/PID/clear_refs)
#   in, drop what the server's UDP sockets received and dropped because
#            their buffer was full (RcvbufErrors), per second
#   answers  what came back to the spoofed addresses (Retry, stateless
#            resets), per second
#   sent     the rate the attacker reached (it may fall short of the goal
#            on a busy machine)
#   host     the whole machine's CPU time (all processes, softirqs: the
#            attacker and the router too), % of all its cores
# Cells are median / worst over the runs (CPU, RSS, rates: the median);
# "x base" is the median against the no-flood row's.
#
# Environment:
#   BENCH_RUNS=N        runs per scenario (default 3)
#   BENCH_SECS=N        seconds of flood per run (default 10)
#   BENCH_ATTACHES=N    fresh attaches of client2 per run (default 3)
#   BENCH_RTT_MS=N      client2's round trip (default 40; 0: none)
#   BENCH_SCENARIOS="base i10k"  run only these (base is always run first)
#   BENCH_OUT=FILE      also write the results as Markdown to FILE
#   BENCH_PERF=1        profile the server (perf record -g) in the first run
#                       of each flood scenario (sampling costs it a little)
#   BENCH_PERF_OUT=FILE where the profiles go (default: BENCH_OUT with
#                       .perf.txt, else $TMPDIR/jvpn-bench-flood-perf.txt)
#   JVPN_BIN, LAB_PROBE_BIN, LAB_FLOOD_BIN  the binaries (as tests/lab/lab.sh)
#
# Exit 0 when every run measured something, 1 when one or the setup
# failed, 77 (skip) without root, /dev/net/tun or 'ip netns'.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"
bench_env bench-flood
die() {
  echo "bench-flood: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}
lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
lab_probe_find || die "no probe binary (make tests/tools/probe)"
lab_tool_find flood LAB_FLOOD_BIN || die "no flood binary (make tests/tools/flood)"
command -v nft >/dev/null 2>&1 || die "nft is missing"

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-10}
ATTACHES=${BENCH_ATTACHES:-3}
RTT_MS=${BENCH_RTT_MS:-40}
for v in "$RUNS" "$SECS" "$ATTACHES"; do
  case "$v" in ''|*[!0-9]*|0) die "BENCH_RUNS, BENCH_SECS and BENCH_ATTACHES" \
    "are positive whole numbers" ;; esac
done
case "$RTT_MS" in ''|*[!0-9]*) die "BENCH_RTT_MS is a whole number" ;; esac
if [ "$RTT_MS" != 0 ]; then
  lab_nfq_find || die "no nfq_delay for BENCH_RTT_MS (make tests/tools/nfq_delay)"
fi
CLK_TCK=$(getconf CLK_TCK)
SCENARIOS=(base i1k i10k i50k s10k c10k)
if [ -n "${BENCH_SCENARIOS:-}" ]; then
  read -r -a SCENARIOS <<<"base ${BENCH_SCENARIOS//base/}"
fi
# What the attacker sends in each scenario: "RATE [FLOOD_ARGS]".
declare -A FLOOD=([i1k]="1000" [i10k]="10000" [i50k]="50000"
                  [i100k]="100000" [i200k]="200000"
                  [s10k]="10000 --short" [c10k]="10000 --port 444")
declare -A TITLE=([base]="no flood" [i1k]="Initials 1k/s"
                  [i10k]="Initials 10k/s" [i50k]="Initials 50k/s"
                  [i100k]="Initials 100k/s" [i200k]="Initials 200k/s"
                  [s10k]="unknown-CID short 10k/s"
                  [c10k]="control: Initials 10k/s to a closed port")
for s in "${SCENARIOS[@]}"; do
  [ -n "${TITLE[$s]:-}" ] || die "unknown scenario '$s' (${!TITLE[*]})"
done
BENCH_KINDS=(j)

lab_init
lab_tmpdir
dir=$REPLY
BENCH_DIR=$dir
# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || die "could not build the lab topology"
lab_attacker_add || die "could not add the attacker"
# Half the round trip each way, in the router, on client2's link only.
if [ "$RTT_MS" != 0 ]; then
  if ! lab_delay "${LAB_NS[router]}" c2 $((RTT_MS / 2)) ||
     ! lab_delay_in "${LAB_NS[router]}" c2 $((RTT_MS / 2)); then
    die "could not delay client2's link"
  fi
fi
lab_gen_vpn_configs "$dir" || die "jvpn-quic key generation"
cl=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
slog=$dir/server.log

lab_vpn_server_start "$slog" -c "$dir/server.conf" \
  --control "$dir/server.sock" || die "server: $REPLY" "$slog"
server_pid=$LAB_VPN_PID
lab_vpn_client_up "$dir" 1 || die "client1 did not come up" "$slog" \
  "$dir/client1.log"
client1_pid=$LAB_VPN_PID
lab_wait_tunnel "$cl" 10 || die "no ping through client1's tunnel" "$slog"

PERF_OUT=""
if [ "${BENCH_PERF:-0}" = 1 ]; then
  bench_perf_ok "$dir" || die "perf is unavailable here (perf stat/record)"
  PERF_OUT=${BENCH_PERF_OUT:-}
  if [ -z "$PERF_OUT" ]; then
    if [ -n "${BENCH_OUT:-}" ]; then
      PERF_OUT=${BENCH_OUT%.md}.perf.txt
    else
      PERF_OUT=${TMPDIR:-/tmp}/jvpn-bench-flood-perf.txt
    fi
  fi
  : >"$PERF_OUT"
fi

# perf_start S K: with BENCH_PERF=1, perf records the server through the
# first run of a flood scenario; its PID in REPLY (empty when not).
perf_start() {
  REPLY=""
  [ -n "$PERF_OUT" ] && [ "$1" != base ] && [ "$2" = 1 ] || return 0
  lab_spawn "$sv" "$dir/perf-$1.log" perf record -g -q \
    -o "$dir/perf-$1.data" -p "$server_pid" -- sleep "$SECS"
}

# perf_end S PID: waits for perf and appends its summary to PERF_OUT.
perf_end() {
  [ -n "$2" ] || return 0
  lab_wait_exit "$2" 20 || { lab_kill "$2" KILL || true; }
  {
    printf '=== jvpn-quic server, %s ===\n' "${TITLE[$1]}"
    bench_perf_top "$dir/perf-$1.data"
    echo
  } >>"$PERF_OUT"
}

# Results: the streams' numbers in BENCH_R (scripts/bench-lib.sh), the rest
# in R[metric,scenario], one word per run (attach: one per attach).
declare -A R=()
nbad=0

# attach_once N: starts client2 afresh, waits for its tunnel, adds its
# attach time to R[attach,S] and stops it again.
attach_once() {
  local s=$1 n=$2 log=$dir/client2.log pid rc=0
  lab_vpn_client_up "$dir" 2
  pid=$LAB_VPN_PID
  if lab_wait_tunnel "$c2" 10 && lab_vpn_attach_ms "$log"; then
    R[attach,$s]+="$REPLY "
  else
    echo "bench-flood: ${TITLE[$s]}: client2 got no tunnel" >&2
    lab_tail "$log" >&2
    rc=1
  fi
  lab_vpn_stop "$pid" "$c2" client2 || { lab_kill "$pid" KILL || true; }
  mv "$log" "$dir/client2.$s.$n.log"
  return "$rc"
}

# attaches S UNTIL_MS: BENCH_ATTACHES fresh attaches of client2, 1 s
# apart, as long as the time (lab_now_ms) is before UNTIL_MS.
attaches() {
  local s=$1 until=$2 i rc=0
  for ((i = 1; i <= ATTACHES; i++)); do
    sleep 1
    lab_now_ms
    [ "$REPLY" -lt "$until" ] || break
    attach_once "$s" "$i" || rc=1
  done
  return "$rc"
}

# host_ticks: the machine's busy and total CPU ticks (all cores), "BUSY
# TOTAL" in REPLY.
host_ticks() {
  local f busy
  read -r -a f </proc/stat
  # cpu user nice system idle iowait irq softirq steal (guest is in user)
  busy=$(( f[1] + f[2] + f[3] + f[6] + f[7] + f[8] ))
  REPLY="$busy $(( busy + f[4] + f[5] ))"
}

# server_counters: the server's CPU ticks, UDP counters and the answers
# the attacker got so far, and the machine's CPU ticks, in C[...].
declare -A C=()
server_counters() {
  host_ticks
  read -r "C[hbusy]" "C[htotal]" <<<"$REPLY"
  lab_cpu_ticks "$server_pid"
  C[cpu]=$REPLY
  lab_udp_stat "$sv" InDatagrams
  C[in]=$REPLY
  lab_udp_stat "$sv" RcvbufErrors
  C[drop]=$REPLY
  lab_attacker_replies
  C[answers]=$REPLY
  lab_now_ms
  C[ms]=$REPLY
}

# flood_run S K: scenario S's flood (none for base) for SECS from C[ms] on,
# with client2's fresh attaches meanwhile; with BENCH_PERF=1 the first run
# is profiled. Returns 1 when the flood or an attach failed.
flood_run() {
  local s=$1 k=$2 pid="" perf rate extra rc=0 end=$(( C[ms] + SECS * 1000 ))
  if [ "$s" != base ]; then
    read -r rate extra <<<"${FLOOD[$s]}"
    # shellcheck disable=SC2086 # no option, or one: split on purpose
    lab_flood_start "$dir/flood-$s$k.out" 4 "$rate" "$SECS" $extra ||
      return 1
    pid=$REPLY
  fi
  perf_start "$s" "$k"
  perf=$REPLY
  attaches "$s" $(( end - 500 )) || rc=1
  if [ -n "$pid" ]; then
    lab_flood_end "$pid" "$dir/flood-$s$k.out" $((SECS + 10)) ||
      { echo "bench-flood: $REPLY" >&2; return 1; }
    R[sent,$s]+="${LAB_FLOOD[pps]} "
  else
    lab_now_ms
    if [ "$REPLY" -lt "$end" ]; then
      sleep "$(awk -v d=$(( end - REPLY )) 'BEGIN { print d / 1000 }')"
    fi
  fi
  perf_end "$s" "$perf"
  return "$rc"
}

# record S: the server's numbers between C0 (before the flood) and C
# (after it) into R[...,S].
declare -A C0=()
record() {
  local s=$1 m wall=$(( C[ms] - C0[ms] ))
  R[cpu,$s]+="$(awk -v t=$(( C[cpu] - C0[cpu] )) -v hz="$CLK_TCK" \
    -v w="$wall" 'BEGIN { printf "%.1f", t * 100000 / hz / w }') "
  for m in in drop answers; do
    R[$m,$s]+="$(( (C[$m] - C0[$m]) * 1000 / wall )) "
  done
  R[host,$s]+="$(awk -v b=$(( C[hbusy] - C0[hbusy] )) \
    -v t=$(( C[htotal] - C0[htotal] )) 'BEGIN { printf "%.0f", b * 100 / t }') "
  R[rss,$s]+="$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' \
    "/proc/$server_pid/status") "
}

# run_one S K: run K of scenario S.
run_one() {
  local s=$1 k=$2 m rc=0
  # The peak RSS from here on (5: reset VmHWM to the current RSS).
  echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null ||
    echo "bench-flood: cannot reset the server's peak RSS" >&2
  bench_start "$s$k" $((SECS + 1)) || return 1
  sleep 0.5
  server_counters
  for m in "${!C[@]}"; do C0[$m]=${C[$m]}; done
  flood_run "$s" "$k" || rc=1
  server_counters
  record "$s"
  bench_end "$s$k" "$s" "$k" || rc=1
  if ! lab_wait_tunnel "$cl" 10; then
    echo "bench-flood: client1's tunnel is down after ${TITLE[$s]} run $k" >&2
    return 1
  fi
  return "$rc"
}

# ratio S METRIC_MEDIAN BASE_MEDIAN: " (N.Nx)" against the baseline, in
# REPLY; empty for the baseline itself or without numbers.
ratio() {
  REPLY=""
  [ "$1" = base ] && return 0
  REPLY=$(awk -v a="$2" -v b="$3" 'BEGIN {
    if (a == "-" || b == "-" || b + 0 == 0) exit
    printf " (%.1fx)", a / b }')
}

# median_of METRIC S: R[METRIC,S]'s median with one decimal, in REPLY.
median_of() {
  # shellcheck disable=SC2086 # a list of words
  REPLY=$(printf '%s\n' ${R[$1,$2]:-} | sort -n | awk '
    NF { v[n++] = $1 }
    END { if (n == 0) { print "-"; exit }
          m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
          printf "%.1f", m }')
}

# cell_vs_base S LIST BASE_LIST: "median / worst (N.Nx)" of LIST, the
# ratio of its median to BASE_LIST's, in REPLY.
cell_vs_base() {
  local cell med
  bench_cell_of "$2"
  cell=$REPLY
  bench_stat "$2" median
  med=$REPLY
  bench_stat "$3" median
  ratio "$1" "$med" "$REPLY"
  REPLY="$cell$REPLY"
}

# median_cell METRIC S: "median (N.Nx)" of R[METRIC,S], in REPLY.
median_cell() {
  local med
  median_of "$1" "$2"
  med=$REPLY
  median_of "$1" base
  ratio "$2" "$med" "$REPLY"
  REPLY="$med$REPLY"
}

# extra_rtts S: how many of client2's round trips the median attach of S
# took longer than the no-flood one's, in REPLY ("-" without a delay).
extra_rtts() {
  local med
  REPLY="-"
  [ "$RTT_MS" != 0 ] && [ "$1" != base ] || return 0
  bench_stat "${R[attach,$1]:-}" median
  med=$REPLY
  bench_stat "${R[attach,base]:-}" median
  REPLY=$(awk -v a="$med" -v b="$REPLY" -v r="$RTT_MS" 'BEGIN {
    if (a == "-" || b == "-") print "-"; else printf "%+.1f", (a - b) / r }')
}

echo "bench-flood: $RUNS runs of ${SCENARIOS[*]}, $SECS s each" >&2
for s in "${SCENARIOS[@]}"; do
  for ((k = 1; k <= RUNS; k++)); do
    printf 'bench-flood: %s run %d/%d\n' "${TITLE[$s]}" "$k" "$RUNS" >&2
    if ! run_one "$s" "$k"; then
      nbad=$((nbad + 1))
      echo "bench-flood: run failed" >&2
      lab_wait_tunnel "$cl" 20 || die "client1's tunnel does not come back" \
        "$slog" "$dir/client1.log"
    fi
  done
done
lab_pid_alive "$server_pid" || die "the server died" "$slog"
lab_pid_alive "$client1_pid" || die "client1 exited" "$dir/client1.log"

BENCH_LEFT_COLS=1
ROWS=("scenario|sent/s|gap, worse direction (ms)|gap up|gap down|lost up|lost down|fresh attach (ms)|attach - base (RTTs)|server CPU (% of a core)|server peak RSS (MB)|server in/s|dropped/s (buffer full)|answers/s|host CPU (%)")
for s in "${SCENARIOS[@]}"; do
  row="${TITLE[$s]}"
  median_of sent "$s"
  row+="|${REPLY%.0}"
  cell_vs_base "$s" "${BENCH_R[j,worse,gap,$s]:-}" \
    "${BENCH_R[j,worse,gap,base]:-}"
  row+="|$REPLY"
  for c in up,gap down,gap up,lost down,lost; do
    bench_cell j "${c%,*}" "${c#*,}" "$s"
    row+="|$REPLY"
  done
  cell_vs_base "$s" "${R[attach,$s]:-}" "${R[attach,base]:-}"
  row+="|$REPLY"
  extra_rtts "$s"
  row+="|$REPLY"
  for m in cpu rss; do
    median_cell "$m" "$s"
    row+="|$REPLY"
  done
  for m in in drop answers host; do
    median_of "$m" "$s"
    row+="|${REPLY%.0}"
  done
  bench_dead_note "$s" j
  row+=$REPLY
  ROWS+=("$row")
done

raw() {
  local s m
  for s in "${SCENARIOS[@]}"; do
    bench_raw "$s"
    for m in sent attach cpu rss in drop answers host; do
      [ -n "${R[$m,$s]:-}" ] && printf '%s %s: %s\n' "$s" "$m" "${R[$m,$s]% }"
    done
  done
}

legend() {
  echo "client1's established tunnel carries two ${LAB_PROBE_RATE} packets/s" \
    "probe streams (up: client -> server, down: server -> client) through" \
    "each run; gap and attach cells are median / worst over the runs, the" \
    "others medians; (N.Nx): the median against the no-flood row's. sent/s:" \
    "the attacker's achieved rate; fresh attach: client2 started afresh" \
    "during the flood, 'connecting to' to 'tunnel up', over a path with a" \
    "round trip of $RTT_MS ms; attach - base: the difference of the medians" \
    "in those round trips; in/s and dropped/s: the server namespace's UDP" \
    "InDatagrams and RcvbufErrors; answers/s: Retry or stateless reset" \
    "packets (or ICMP errors) back at the spoofed addresses; host CPU: the" \
    "whole machine's busy time, % of its $(nproc) cores."
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "$RUNS runs of $SECS s each; load average at the end $LOADAVG."
legend | fold -s -w 78
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
      echo '(no git)'), retry = auto; $RUNS runs of $SECS s per scenario;" \
      "load average at the end $LOADAVG."
    echo
    legend
    echo
    bench_print_table md "${ROWS[@]}"
    echo
    echo "Per run (S METRIC: one value per run; attach: one per attach):"
    echo
    echo '```'
    raw
    echo '```'
  } >"$BENCH_OUT"
  echo "bench-flood: wrote $BENCH_OUT" >&2
fi
[ -z "$PERF_OUT" ] || echo "bench-flood: profiles in $PERF_OUT" >&2
[ "$nbad" -eq 0 ]
