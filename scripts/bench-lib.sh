# shellcheck shell=bash
# scripts/bench-lib.sh: what the benchmarks share (sourced by
# scripts/bench-recovery.sh, bench-failover.sh, bench-flood.sh,
# bench-scale.sh, bench-restart.sh, bench-loaded.sh and bench.sh): statistics over the runs,
# the printing of their tables, the probe streams of the comparisons and
# their ratios, the session load generator's lab and perf profiles.

# bench_stat LIST median|max|min: in REPLY, "-" for an empty list.
bench_stat() {
  # shellcheck disable=SC2086 # a list of words
  REPLY=$(printf '%s\n' $1 | sort -n | awk -v w="$2" '
    NF { v[n++] = $1 }
    END {
      if (n == 0) { print "-"; exit }
      if (w == "max") { printf "%.0f", v[n - 1]; exit }
      if (w == "min") { printf "%.0f", v[0]; exit }
      if (n % 2) printf "%.0f", v[(n - 1) / 2]
      else printf "%.0f", (v[n / 2 - 1] + v[n / 2]) / 2
    }')
}

# bench_print_table text|md ROW...: the rows ("a|b|c", the first one the
# header) as aligned text or as a markdown table, whose first
# BENCH_LEFT_COLS columns (default 1) are left-aligned, the others right.
bench_print_table() {
  local fmt=$1 r i=0
  shift
  for r in "$@"; do
    if [ "$fmt" = md ]; then
      printf '| %s |\n' "${r//|/ | }"
      if [ "$i" = 0 ]; then
        printf '%s\n' "$r" | awk -F'|' -v l="${BENCH_LEFT_COLS:-1}" '{
          s = "|"; for (j = 1; j <= NF; j++)
          s = s (j <= l ? "---|" : "---:|"); print s }'
      fi
    else
      printf '%s\n' "$r"
    fi
    i=$((i + 1))
  done | { if [ "$fmt" = md ]; then cat; else column -t -s'|'; fi; }
}

# --- every tunnel measured both ways at once --------------------------------
#
# Each tunnel of BENCH_KINDS (j: jvpn-quic, w: wireguard-go, o: OpenVPN,
# t: OpenVPN over TCP, lab_ovpn_pair ... tcp; the scripts set the list) between client1 and the server carries two
# probe streams at once (lab_probe2_start): client -> server ("up") and
# server -> client ("down"), LAB_PROBE_RATE packets/s each, reports in
# BENCH_DIR. The numbers of every run go to BENCH_R["KIND,DIR,METRIC,S"]
# (S the scenario), one word per run: DIR is up, down or worse (the worse
# of both in that run, the headline), METRIC gap (longest gap, ms; for a
# stream that never came back, from its last packet to its end, a lower
# bound), lost (packets), back (ms from the fault's end to the end of the
# longest gap; negative: before the fault ended; only for streams that
# came back, only when the run has a fault's end) and dead (the run's
# number when the stream never came back).

# shellcheck disable=SC2034 # BENCH_* are for the callers too
{
declare -gA BENCH_NAME=([j]=jvpn-quic [w]=wireguard-go [o]=OpenVPN
                        [t]="OpenVPN TCP")
declare -gA BENCH_SADDR=([j]=$LAB_SERVER_IN4 [w]=$LAB_WG_SERVER_IN4
                         [o]=$LAB_OVPN_SERVER_IN4 [t]=$LAB_OVPN_TCP_SERVER_IN4)
declare -gA BENCH_CADDR=([j]=$LAB_CLIENT1_IN4 [w]=$LAB_WG_CLIENT_IN4
                         [o]=$LAB_OVPN_CLIENT_IN4 [t]=$LAB_OVPN_TCP_CLIENT_IN4)
# The up stream's port; the down stream's is one more.
declare -gA BENCH_PORT=([j]=9000 [w]=9010 [o]=9020 [t]=9030)
BENCH_KINDS=(j w o)
BENCH_DIR=${BENCH_DIR:-}
declare -gA BENCH_R=() BENCH_UP=() BENCH_DOWN=() BENCH_WORSE=()
}

# bench_start TAG SECS: the two streams through every tunnel, for SECS.
bench_start() {
  local k
  for k in "${BENCH_KINDS[@]}"; do
    lab_probe2_start "${LAB_NS[client1]}" "${LAB_NS[server]}" \
      "${BENCH_SADDR[$k]}" "${BENCH_CADDR[$k]}" "${BENCH_PORT[$k]}" "$2" \
      "$BENCH_DIR/$1-$k" || return 1
  done
}

# bench_end TAG S K [T_OFF]: waits for the streams of bench_start TAG and
# adds their numbers to BENCH_R as run K of scenario S ("back" after
# T_OFF, the fault's end on the probe time line). Returns 1 when a stream
# did not finish at all (a probe failure, not a tunnel's).
bench_end() {
  local tag=$1 s=$2 k=$3 toff=${4:-} kind d m rc=0 v
  for kind in "${BENCH_KINDS[@]}"; do
    lab_probe2_end "$BENCH_DIR/$tag-$kind" BENCH_UP BENCH_DOWN BENCH_WORSE \
      "$toff"
    if [ -z "${BENCH_UP[dead]:-}" ] || [ -z "${BENCH_DOWN[dead]:-}" ]; then
      echo "bench: ${BENCH_NAME[$kind]}: $REPLY" >&2
      rc=1
      continue
    fi
    for d in up down; do
      local -n bench_one=BENCH_${d^^}
      for m in gap lost back; do
        if [ -n "${bench_one[$m]}" ]; then
          BENCH_R[$kind,$d,$m,$s]+="${bench_one[$m]} "
        fi
      done
      if [ "${bench_one[dead]}" = 1 ]; then
        BENCH_R[$kind,$d,dead,$s]+="$k "
      fi
    done
    for m in gap lost back; do
      if [ -z "${BENCH_UP[$m]}" ] || [ -z "${BENCH_DOWN[$m]}" ]; then
        continue
      fi
      v=$(awk -v a="${BENCH_UP[$m]}" -v b="${BENCH_DOWN[$m]}" \
        'BEGIN { print (a + 0 > b + 0) ? a : b }')
      BENCH_R[$kind,worse,$m,$s]+="$v "
    done
    if [ "${BENCH_UP[dead]}" = 1 ] || [ "${BENCH_DOWN[dead]}" = 1 ]; then
      BENCH_R[$kind,worse,dead,$s]+="$k "
    fi
  done
  return "$rc"
}

# bench_cell KIND DIR METRIC S: "median / worst" of the runs, in REPLY
# ("-" without any).
bench_cell() { bench_cell_of "${BENCH_R[$1,$2,$3,$4]:-}"; }

# bench_cell_of LIST: "median / worst" of a list of numbers, in REPLY ("-"
# for an empty one).
bench_cell_of() {
  local med
  bench_stat "$1" median
  med=$REPLY
  [ "$med" = - ] && return 0
  bench_stat "$1" max
  REPLY="$med / $REPLY"
}

# The columns bench_row fills, after "scenario" and "tunnel".
# shellcheck disable=SC2034 # for the callers
BENCH_LEFT_COLS=2
# shellcheck disable=SC2034 # for the callers
BENCH_HEADER="scenario|tunnel|gap, worse direction|gap up|gap down|lost up|lost down|back, worse direction|back up|back down"

# bench_row S TITLE KIND: the row of KIND in scenario S (BENCH_HEADER's
# columns; each cell "median / worst"), in REPLY.
bench_row() {
  local row="$2|${BENCH_NAME[$3]}" c
  for c in worse,gap up,gap down,gap up,lost down,lost worse,back up,back \
           down,back; do
    bench_cell "$3" "${c%,*}" "${c#*,}" "$1"
    row+="|$REPLY"
  done
  REPLY=$row
}

# bench_row_notes S KIND STALLED: what a table row adds after its cells,
# in REPLY: the dead streams (bench_dead_note) and, for jvpn-quic (KIND j),
# the runs after which its client was restarted (STALLED, "2 4 ").
bench_row_notes() {
  local notes
  bench_dead_note "$1" "$2"
  notes=$REPLY
  if [ "$2" = j ] && [ -n "$3" ]; then
    notes+="; client restarted after runs ${3% }"
  fi
  REPLY=$notes
}

# bench_dead_note S KIND: "; up stuck (no recovery) in runs 2 4" and the
# same for down, when any, in REPLY.
bench_dead_note() {
  local d
  REPLY=""
  for d in up down; do
    if [ -n "${BENCH_R[$2,$d,dead,$1]:-}" ]; then
      REPLY+="; $d stuck (no recovery) in runs ${BENCH_R[$2,$d,dead,$1]% }"
    fi
  done
}

# bench_raw S: every per-run list of scenario S, "S KIND DIR METRIC: ...".
bench_raw() {
  local kind d m
  for kind in "${BENCH_KINDS[@]}"; do
    for d in worse up down; do
      for m in gap lost back dead; do
        if [ -n "${BENCH_R[$kind,$d,$m,$1]:-}" ]; then
          printf '%s %s %s %s: %s\n' "$1" "$kind" "$d" "$m" \
            "${BENCH_R[$kind,$d,$m,$1]% }"
        fi
      done
    done
  done
}

# bench_legend: what the tables' cells and the per-run lines mean.
bench_legend() {
  echo "Each tunnel carries two ${LAB_PROBE_RATE} packets/s probe streams at" \
    "once, client -> server (up) and server -> client (down); every cell is" \
    "median / worst over the runs. gap: longest gap between arrivals (ms;" \
    "a stream that never came back: from its last packet to its end);" \
    "lost: packets; back: ms from the fault's end to the end of the longest" \
    "gap (negative: before the fault ended, the tunnel had moved away from" \
    "it; '-': no fault's end to wait for, or never came back); worse" \
    "direction: per run, the larger gap, loss or back of the two."
}

# bench_best KINDS DIR METRIC S: of the tunnels KINDS ("w o"), the one with
# the smallest median METRIC in direction DIR of scenario S (a dead stream
# counts as its lower bound), in REPLY; empty when none has numbers.
bench_best() {
  local kind best="" bmed="" med
  for kind in $1; do
    bench_stat "${BENCH_R[$kind,$2,$3,$4]:-}" median
    med=$REPLY
    [ "$med" = - ] && continue
    if [ -z "$best" ] || lab_lt "$med" "$bmed"; then
      best=$kind
      bmed=$med
    fi
  done
  REPLY=$best
}

# bench_ratio_cell KIND BEST DIR METRIC S: KIND's median and worst METRIC
# over BEST's ("0.25x / 0.40x"; lower is better for gaps and losses), in
# REPLY; "-" without numbers or when BEST's is 0.
bench_ratio_cell() {
  local a b c d
  REPLY=-
  [ -n "$2" ] || return 0
  bench_stat "${BENCH_R[$1,$3,$4,$5]:-}" median; a=$REPLY
  bench_stat "${BENCH_R[$2,$3,$4,$5]:-}" median; b=$REPLY
  bench_stat "${BENCH_R[$1,$3,$4,$5]:-}" max; c=$REPLY
  bench_stat "${BENCH_R[$2,$3,$4,$5]:-}" max; d=$REPLY
  REPLY=$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN {
    if (a == "-" || b == "-" || b + 0 == 0 || d + 0 == 0) { print "-"; exit }
    printf "%.2fx / %.2fx", a / b, c / d }')
}

# --- the session load generator's lab -----------------------------------------
#
# tests/tools/loadgen against one jvpn-quic server, in two namespaces
# (scripts/bench-scale.sh, bench-restart.sh):
#
#   gen ns                                      server ns
#   eth0 198.18.3.1/24  ----------veth-------- eth0 198.18.3.2/24 (UDP 443)
#   local 198.19.0.0/24 on lo: loadgen's        route 198.19.0.0/24 via
#   sockets bind 198.19.0.1, .2, ...            198.18.3.1; TUN jvpn0 with
#                                               pool4 198.19.64.0/18

# bench_lg_topo: builds it; LAB_NS[gen] and LAB_NS[server].
bench_lg_topo() {
  local gen sv
  lab_ns gen || return 1
  gen=$REPLY
  lab_ns server || return 1
  sv=$REPLY
  lab_link "$gen" eth0 "$sv" eth0 || return 1
  lab_addr "$gen" eth0 198.18.3.1/24 || return 1
  lab_addr "$sv" eth0 198.18.3.2/24 || return 1
  # Any address of 198.19.0.0/24 is local in gen (loadgen binds them).
  ip -n "$gen" route add local 198.19.0.0/24 dev lo || return 1
  ip -n "$sv" route add 198.19.0.0/24 via 198.18.3.1
}

# bench_lg_conf FILE DIR KEYS TITLE POLICY [SERVER_LINES]: the server's
# config for loadgen's sessions: key DIR/server (lab_genkey DIR server),
# log_level warn (one line per birth at info), the session store in
# DIR/state (a fresh one per run), SERVER_LINES (newline
# separated) added to [server], POLICY (lines) as its [policy] and one
# [peer] per client key of KEYS/peers.conf (loadgen --gen-keys).
bench_lg_conf() {
  {
    cat <<EOF
# jvpn-quic server of $4
[server]
listen = 198.18.3.2:443
tcp = off
key = $2/server/key.pem
cert = $2/server/cert.pem
pool4 = 198.19.64.0/18
route = 198.19.64.0/18
tun = $LAB_TUN
log_level = warn
state_dir = $2/state
EOF
    [ -z "${6:-}" ] || printf '%s\n' "$6"
    printf '\n[policy]\n%s\n\n' "$5"
    cat "$3/peers.conf"
  } >"$1"
}

# bench_jvpn_bin NAME: JVPN_BIN is the jvpn-quic binary (lab_find_bin);
# without one, NAME says so and the script exits 1.
bench_jvpn_bin() {
  if ! lab_find_bin || [ ! -x "$REPLY" ]; then
    echo "$1: no jvpn-quic binary (build it, or set JVPN_BIN)" >&2
    exit 1
  fi
  JVPN_BIN=$REPLY
}

# bench_wait_line FILE PATTERN SECS PID: until FILE has a line matching
# PATTERN (or PID exits, or SECS pass).
bench_wait_line() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    lab_pid_alive "$4" || return 1
    sleep 0.1
  done
  return 1
}

# --- profiles ----------------------------------------------------------------

# bench_perf_ok DIR: perf can count and can sample here (a VM without
# hardware counters still samples cpu-clock, which is all a profile needs);
# its trial file goes to DIR.
bench_perf_ok() {
  command -v perf >/dev/null 2>&1 || return 1
  perf stat -e instructions true >/dev/null 2>&1 || return 1
  perf record -q -o "$1/probe.data" -- true >/dev/null 2>&1 || return 1
}

# bench_perf_top FILE: the 25 symbols with the most self time, the 15 first of
# user space, and the time grouped by shared object.
# (head closes the pipe early, which pipefail would count as a failure.)
bench_perf_top() {
  { perf report -i "$1" --stdio --no-children -g none --sort dso,sym \
      2>/dev/null | grep -v -e '^#' -e '^$' | head -n 25; } || true
  echo
  echo "outside the kernel:"
  { perf report -i "$1" --stdio --no-children -g none --sort dso,sym \
      2>/dev/null | grep -v -e '^#' -e '^$' -e 'kernel' | head -n 15; } ||
    true
  echo
  echo "grouped:"
  { perf report -i "$1" --stdio --no-children -g none --sort dso \
      2>/dev/null | grep -v -e '^#' -e '^$' | awk '
    { p = $1; sub(/%/, "", p); d = $2
      if (d ~ /^lib(gnutls|nettle|hogweed|ngtcp2_crypto)/)
        g = "crypto (gnutls, nettle)"
      else if (d ~ /^libngtcp2/) g = "ngtcp2"
      else if (d ~ /^libnghttp3/) g = "nghttp3"
      else if (d ~ /kernel/) g = "kernel (UDP, TUN, TCP delivery)"
      else if (d == "jvpn-quic") g = "jvpn-quic (our code)"
      else if (d ~ /^libc[.-]/ || d == "[vdso]") g = "libc (memcpy, syscalls)"
      else if (d ~ /^libuv/) g = "libuv"
      else g = "other"
      sum[g] += p }
    END { for (g in sum) printf "  %6.2f%%  %s\n", sum[g], g }' |
      sort -rn; } || true
}

# bench_env NAME: JVPN_BIN defaults to ./jvpn-quic when 'make bench*' runs
# in the build directory; exits 77 (skip, said on stderr as NAME) where
# the lab cannot run (no root, /dev/net/tun or 'ip netns').
bench_env() {
  local why
  if [ -z "${JVPN_BIN:-}" ] && [ -x "$PWD/jvpn-quic" ] &&
     [ ! -d "$PWD/jvpn-quic" ]; then
    JVPN_BIN=$PWD/jvpn-quic
  fi
  if ! why=$(lab_check_env); then
    echo "$1: SKIP: $why (run as root)" >&2
    exit 77
  fi
}

# bench_ping_ok NS DST: one ping answered.
# shellcheck disable=SC2317 # called through lab_wait_for
bench_ping_ok() { ip netns exec "$1" ping -n -c 1 -W 1 "$2" >/dev/null 2>&1; }

# bench_stop_pid PID: TERM, then KILL if it lingers.
bench_stop_pid() {
  lab_kill "$1" TERM || true
  lab_wait_exit "$1" 5 && return 0
  lab_kill "$1" KILL || true
  lab_wait_exit "$1" 2 || true
}
