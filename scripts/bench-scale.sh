#!/usr/bin/env bash
# scripts/bench-scale.sh: what many sessions cost one jvpn-quic server
# (issue 15), measured with tests/tools/loadgen in two namespaces this
# script makes (tests/lab/lab.sh):
#
#   gen ns                                      server ns
#   eth0 198.18.3.1/24  ----------veth-------- eth0 198.18.3.2/24 (UDP 443)
#   local 198.19.0.0/24 on lo: loadgen's        route 198.19.0.0/24 via
#   sockets bind 198.19.0.1, .2, ...            198.18.3.1; TUN jvpn0 with
#                                               pool4 198.19.64.0/18
#
# For each size N of BENCH_SIZES ("1000 10000"), a fresh server and one
# loadgen process with N sessions (N client keys, one [peer] each: the
# server keeps one session per client pin, a new birth supersedes the old
# one). The loadgen spreads them over BENCH_SOCKETS (256) UDP sockets on
# as many source addresses, so that the server's half-open limit per
# source (32) bounds nothing but itself. Per size:
#
#   RSS/session  the server's VmRSS with N idle sessions (3 s after the
#                last came up, when idle buffers are freed) minus its VmRSS
#                before the first, divided by N (KB)
#   RSS          the server's VmRSS with N idle sessions (MB)
#   idle CPU     the server's utime + stime over BENCH_IDLE_SECS (30) with
#                the N sessions idle (QUIC keep-alives only), % of one core
#   births/s     sessions up (address assigned) per second of the births
#                phase, at a loadgen pace of BENCH_RATE (1000) per second
#                and at most BENCH_INFLIGHT (256) handshakes at once
#   storm        every connection dropped at once (no CONNECTION_CLOSE, new
#                client ports) and every session reattached with its proof:
#                ms until all N have their address again
#   storm CPU    the server's and the loadgen's CPU time (user + system)
#                during the storm, s: a side near the storm's length was
#                the bound (the scrape after the idle window is in the
#                server's)
#   RSS after    the server's VmRSS after the storm (MB)
#   scrape       one GET of the Prometheus endpoint (metrics =
#                127.0.0.1:9109) with the N sessions idle, after the idle
#                window: ms (curl's total time) and the answer's size (KB)
#
# The server's config raises the session policy's table-wide rates
# (birth_rate_per_s 50 and attach_rate_per_s 100 by default would make
# 10,000 births take 200 s and a 10,000-session storm 100 s); the per-pin
# and per-session limits stay at their defaults, since every session has
# its own pin. log_level is warn (one line per birth at info).
#
# Environment:
#   BENCH_SIZES="1000 10000"  session counts
#   BENCH_IDLE_SECS=N         idle CPU window (default 30)
#   BENCH_RATE=N              loadgen births per second (default 1000)
#   BENCH_INFLIGHT=N          loadgen handshakes at once (default 256)
#   BENCH_SOCKETS=N           loadgen sockets and source addresses (256)
#   BENCH_TRAFFIC=PPS         small packets per second during the hold,
#                             over all sessions (default 0: idle)
#   BENCH_KEYS=DIR            keep the client keys there between runs
#                             (default: a temporary directory)
#   BENCH_QUIET=on|off|nat    the loadgen's quiet tunnels (D47): ask for
#                             a longer keep-alive after 30 s without IP
#                             packets like the client (on, the default),
#                             never (off), or as if behind a NAT (nat:
#                             4 s instead of 25 s). With on or nat the
#                             idle window starts 33 s after the births,
#                             once every tunnel is quiet; the quiet column
#                             shows the mode and the grants taken
#   BENCH_OUT=FILE            also write the table as Markdown to FILE
#   BENCH_PERF=1              profile the server over each idle window
#   BENCH_PERF=storm          ... over each reattach storm instead
#                             (perf record -g) into BENCH_OUT's .perf.txt
#                             or $TMPDIR/jvpn-bench-scale-perf.txt
#   JVPN_BIN, LAB_LOADGEN_BIN the binaries
#
# Exit 0 when every size measured something, 1 when one failed, 77 (skip)
# without root, /dev/net/tun or 'ip netns'.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"
bench_env bench-scale
die() {
  echo "bench-scale: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}
lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
lab_tool_find loadgen LAB_LOADGEN_BIN ||
  die "no loadgen binary (make tests/tools/loadgen)"

read -r -a SIZES <<<"${BENCH_SIZES:-1000 10000}"
IDLE_SECS=${BENCH_IDLE_SECS:-30}
RATE=${BENCH_RATE:-1000}
INFLIGHT=${BENCH_INFLIGHT:-256}
SOCKETS=${BENCH_SOCKETS:-256}
TRAFFIC=${BENCH_TRAFFIC:-0}
QUIET=${BENCH_QUIET:-on}
case $QUIET in
  on | nat) QUIET_SETTLE=33 ;;
  off) QUIET_SETTLE=0 ;;
  *) echo "bench-scale: BENCH_QUIET=on, off or nat" >&2; exit 2 ;;
esac
for v in "${SIZES[@]}" "$IDLE_SECS" "$RATE" "$INFLIGHT" "$SOCKETS"; do
  case "$v" in ''|*[!0-9]*|0) die "BENCH_* are positive whole numbers" ;; esac
done
case "$TRAFFIC" in ''|*[!0-9]*) die "BENCH_TRAFFIC is a whole number" ;; esac
[ "$SOCKETS" -le 254 ] || SOCKETS=254 # 198.19.0.1 .. .254
MAX=0
for n in "${SIZES[@]}"; do [ "$n" -gt "$MAX" ] && MAX=$n; done
CLK_TCK=$(getconf CLK_TCK)
SERVER_IN4=198.19.64.1

lab_init
lab_tmpdir
dir=$REPLY
keys=${BENCH_KEYS:-$dir/keys}
PERF_OUT=""
if [ "${BENCH_PERF:-0}" != 0 ]; then
  bench_perf_ok "$dir" || die "perf is unavailable here (perf stat/record)"
  PERF_OUT=${BENCH_OUT:+${BENCH_OUT%.md}.perf.txt}
  PERF_OUT=${PERF_OUT:-${TMPDIR:-/tmp}/jvpn-bench-scale-perf.txt}
  : >"$PERF_OUT"
fi

# --- the two namespaces (scripts/bench-lib.sh) ---------------------------
bench_lg_topo || die "the loadgen lab (namespaces, veth, routes)"
gen=${LAB_NS[gen]}
sv=${LAB_NS[server]}

# --- identities and the server's config ---------------------------------
echo "bench-scale: $MAX client keys in $keys" >&2
"$LAB_LOADGEN_BIN" --gen-keys "$MAX" --key-dir "$keys" ||
  die "loadgen --gen-keys"
lab_genkey "$dir" server || die "server key"
spin=$REPLY
conf=$dir/server.conf
METRICS_PORT=9109
bench_lg_conf "$conf" "$dir" "$keys" scripts/bench-scale.sh \
  "birth_rate_per_s = 2000
birth_burst = 2000
attach_rate_per_s = 20000
attach_burst = 20000" "metrics = 127.0.0.1:$METRICS_PORT"

# rss PID: VmRSS in KB in REPLY.
rss() {
  REPLY=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
  [ -n "$REPLY" ]
}

# cpu_ticks PID: utime + stime in clock ticks in REPLY.
cpu_ticks() {
  REPLY=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
    awk '{ print $12 + $13 }')
  [ -n "$REPLY" ]
}

# softirq_ticks: the machine's softirq time (/proc/stat), where the kernel's
# packet work is billed when no process is (both ends of the lab's).
softirq_ticks() {
  REPLY=$(awk '$1 == "cpu" { print $8 }' /proc/stat)
}

ROWS=("sessions|quiet|RSS before (MB)|RSS idle (MB)|RSS/session (KB)|idle CPU (% core)|host softirq idle (% core)|births/s|storm (ms)|storm CPU server, loadgen (s)|RSS after storm (MB)|scrape (ms, KB)|failures")

# scrape: one GET of the metrics endpoint; "MS, KB" in REPLY ("-" if none).
scrape() {
  local t
  REPLY=-
  command -v curl >/dev/null 2>&1 || return 0
  t=$(ip netns exec "$sv" curl -s -o "$dir/scrape.txt" -w '%{time_total}' \
    --max-time 10 "http://127.0.0.1:$METRICS_PORT/metrics") || return 0
  REPLY=$(awk -v t="$t" -v b="$(wc -c <"$dir/scrape.txt")" \
    'BEGIN { printf "%.1f, %.1f", t * 1000, b / 1024 }')
}
nbad=0
for n in "${SIZES[@]}"; do
  slog=$dir/server.$n.log
  glog=$dir/loadgen.$n.log
  gout=$dir/loadgen.$n.out
  lab_spawn "$sv" "$slog" "$JVPN_BIN" server -c "$conf"
  spid=$REPLY
  if ! lab_wait_udp_listen "$sv" 443 30; then
    die "server did not bind UDP 443" "$slog"
  fi
  sleep 1
  rss "$spid" || die "no server RSS" "$slog"
  rss0=$REPLY
  # The hold covers the settling and the idle window, then the storm.
  hold=$((IDLE_SECS + 8 + QUIET_SETTLE))
  args=(--server 198.18.3.2:443 --server-pin "$spin" --key-dir "$keys"
        --sessions "$n" --rate "$RATE" --inflight "$INFLIGHT"
        --sockets "$SOCKETS" --bind 198.19.0.1 --duration "$hold"
        --reattach-storm --timeout 120 --quiet "$QUIET")
  if [ "$TRAFFIC" != 0 ]; then
    args+=(--traffic "$TRAFFIC" --inner "$SERVER_IN4")
  fi
  ip netns exec "$gen" "$LAB_LOADGEN_BIN" "${args[@]}" >"$gout" 2>"$glog" &
  gpid=$!
  LAB_PIDS+=("$gpid")
  echo "bench-scale: $n sessions: births" >&2
  if ! bench_wait_line "$glog" '^loadgen: up ' 200 "$gpid"; then
    die "$n sessions: loadgen did not finish its births" "$glog" "$slog"
  fi
  sed -n 's/^loadgen: up /  up /p' "$glog" >&2
  sleep 3 # idle buffers go after QUIC_BUF_IDLE_MS
  rss "$spid" || die "server died" "$slog"
  rss1=$REPLY
  if [ "$QUIET_SETTLE" -gt 0 ]; then
    echo "bench-scale: $n sessions: $QUIET_SETTLE s until every tunnel is quiet" >&2
    sleep "$QUIET_SETTLE"
  fi
  cpu_ticks "$spid"
  c1=$REPLY
  softirq_ticks
  q1=$REPLY
  lab_now_ms
  t1=$REPLY
  echo "bench-scale: $n sessions: idle for $IDLE_SECS s" >&2
  ppid=""
  if [ "${BENCH_PERF:-0}" = 1 ]; then
    perf record -g -q -o "$dir/perf.$n.data" -p "$spid" -- \
      sleep "$IDLE_SECS" >/dev/null 2>&1 &
    ppid=$!
    LAB_PIDS+=("$ppid")
  fi
  sleep "$IDLE_SECS"
  if [ -n "$ppid" ]; then
    wait "$ppid"
    {
      printf '=== jvpn-quic server, %s idle sessions ===\n' "$n"
      bench_perf_top "$dir/perf.$n.data"
      echo
    } >>"$PERF_OUT"
  fi
  cpu_ticks "$spid" || die "server died" "$slog"
  c2=$REPLY
  softirq_ticks
  q2=$REPLY
  lab_now_ms
  t2=$REPLY
  scrape
  scr=$REPLY
  echo "bench-scale: $n sessions: reattach storm" >&2
  ppid=""
  if [ "${BENCH_PERF:-0}" = storm ]; then
    # Attached before the loadgen's hold ends; it stops with the storm.
    perf record -g -q -o "$dir/perf.$n.data" -p "$spid" -- \
      sleep 150 >/dev/null 2>&1 &
    ppid=$!
    LAB_PIDS+=("$ppid")
  fi
  wait "$gpid"
  grc=$?
  if [ -n "$ppid" ]; then
    kill -INT "$ppid" 2>/dev/null || true
    wait "$ppid"
    {
      printf '=== jvpn-quic server, %s-session reattach storm ===\n' "$n"
      bench_perf_top "$dir/perf.$n.data"
      echo
    } >>"$PERF_OUT"
  fi
  rss "$spid" || die "server died" "$slog"
  rss3=$REPLY
  cpu_ticks "$spid" || die "server died" "$slog"
  c3=$REPLY
  line=$(grep '^loadgen: sessions=' "$gout" || true)
  [ -n "$line" ] || die "$n sessions: no loadgen summary" "$glog" "$slog"
  echo "  $line" >&2
  [ "$grc" = 0 ] || nbad=$((nbad + 1))
  kv() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  cpu=$(awk -v c=$((c2 - c1)) -v hz="$CLK_TCK" -v ms=$((t2 - t1)) \
    'BEGIN { printf "%.2f", 100 * c / hz / (ms / 1000) }')
  sirq=$(awk -v c=$((q2 - q1)) -v hz="$CLK_TCK" -v ms=$((t2 - t1)) \
    'BEGIN { printf "%.2f", 100 * c / hz / (ms / 1000) }')
  per=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" \
    'BEGIN { printf "%.1f", (b - a) / n }')
  mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
  ROWS+=("$n|$QUIET ($(kv quiet_grants))|$(mb "$rss0")|$(mb "$rss1")|$per|$cpu|$sirq|$(kv births_per_s)|$(kv storm_ms)|$(awk -v c=$((c3 - c2)) -v hz="$CLK_TCK" -v g="$(kv storm_cpu_ms)" 'BEGIN { printf "%.1f, %.1f", c / hz, g / 1000 }')|$(mb "$rss3")|$scr|$(kv failures)")
  lab_kill "$spid" TERM
  lab_wait_exit "$spid" 10 || { lab_kill "$spid" KILL || true; }
done

echo
echo "jvpn-quic server at scale ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
bench_print_table text "${ROWS[@]}"
echo "goals (issue 15): 10,000 idle sessions <= 320 MB RSS and <= 5 % of one core; storm <= 10000 ms"
if [ -n "${BENCH_OUT:-}" ]; then
  BENCH_LEFT_COLS=1 bench_print_table md "${ROWS[@]}" >"$BENCH_OUT"
fi
[ "$nbad" = 0 ]
