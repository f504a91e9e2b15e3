#!/usr/bin/env bash
# scripts/bench-restart.sh: what a server restart costs (issue 16, the
# single-node part), jvpn-quic next to wireguard-go and OpenVPN 2.6
# restarting their servers in the same lab, in the same run.
#
# Part 1, the restart gap (tests/lab/lab.sh, lab_topo_vpn, NAT on, as
# scripts/bench-recovery.sh):
#
#   client1 198.18.1.2 --- router (masquerade) --- server 198.18.3.2
#     jvpn-quic:    UDP 443, store = lmdb (the default) in the run's
#                   state_dir; tunnel 198.18.200.2 <-> 198.18.200.1
#     wireguard-go: UDP 51820, client persistent-keepalive 25 s, MTU 1420;
#                   tunnel 198.19.250.2 <-> 198.19.250.1
#     OpenVPN 2.6:  p2p, static key, UDP 1194, --float, --ping 1
#                   --ping-restart 5, client --nobind (lab_ovpn_pair);
#                   tunnel 198.19.251.2 <-> 198.19.251.1
#
# One tunnel at a time carries two 200 packets/s probe streams
# (tests/tools/probe), client -> server (up) and server -> client (down),
# while its server process is restarted:
#
#   r1  SIGTERM, and a new server started as soon as the old one exited
#   r2  kill -9, and the same
#
# For jvpn-quic the new server is the same binary and config (its stored
# sessions load back, the client reattaches to the same session); for
# wireguard-go the daemon is killed and started again with the same key,
# port and peer (lab_wg_server_up; its client re-handshakes); for OpenVPN
# the server process is killed and started again with the same arguments
# (lab_ovpn_server_up; static key: there is no handshake, the client's
# next packet re-teaches the server its address). Per run and tunnel:
# restart (ms from the new process's start to ready: UDP port bound and
# the tunnel interface carrying its address, polled every 50 ms), down
# (ms from the signal to ready), each direction's longest gap and lost
# packets and "back" (ms from ready to the end of the longest gap). The
# ratios compare each tunnel's gap (median / worst) with the best
# reference's (wireguard-go or OpenVPN, smallest median) in the same run.
# jvpn-quic's goal (issue 16): gap (worse direction) <= down + 1 underlay
# RTT (ping, measured at the start) + one handshake (the client's first
# "connecting to" to "tunnel up", from its log).
#
# Part 2, the store's cost (the loadgen lab of scripts/bench-lib.sh,
# tests/tools/loadgen: real sessions without TUN devices), per back end
# (off, lmdb; redis when the binary accepts `store = redis`) and run, a
# fresh server and an empty store:
#
#   births/s      BENCH_STORE_SESSIONS (10000) sessions born through the
#                 store (loadgen births_per_s)
#   reattaches/s  every connection dropped at once and every session
#                 reattached with its proof (loadgen's storm: sessions /
#                 storm time)
#   load          the server is stopped (SIGTERM) with the sessions stored
#                 and started again: status' store.load_ms (the server's
#                 own timing of srv_store_start's load), sessions restored,
#                 and ms from the process's start to UDP 443 bound
#   goal          10,000 sessions load in <= 1 s
#
# The server's policy there raises the table-wide birth and attach rates
# (the defaults, 50 and 100 per second, would measure the policy) and
# transport_loss_ttl_ms to 1 h (loadgen's sessions end their connections
# when it exits; they must still be alive when the server starts again).
#
# Environment:
#   BENCH_RUNS=N             runs per scenario and back end (default 3)
#   BENCH_QUICK=1            a short functional check: 1 run, 1000 sessions
#   BENCH_SCENARIOS="r1 r2"  the restart scenarios
#   BENCH_STORES="off lmdb redis"  the store back ends of part 2
#   BENCH_STORE_SESSIONS=N   sessions of part 2 (default 10000)
#   BENCH_PARTS="restart store"  which parts run
#   BENCH_REDIS_CONF=LINES   [server] lines for store = redis (e.g. its
#                            address); see redis_hook below
#   BENCH_OUT=FILE           also write the results as Markdown to FILE
#   JVPN_BIN, LAB_PROBE_BIN, LAB_LOADGEN_BIN  the binaries
#
# Exit 0 when every run measured something, 1 when the setup or a run
# failed, 77 (skip) without root, /dev/net/tun or 'ip netns'.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"
bench_env bench-restart
die() {
  echo "bench-restart: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}
note() { echo "bench-restart: $*" >&2; }

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  RUNS=${BENCH_RUNS:-1}
  NSTORE=${BENCH_STORE_SESSIONS:-1000}
else
  RUNS=${BENCH_RUNS:-3}
  NSTORE=${BENCH_STORE_SESSIONS:-10000}
fi
read -r -a SCENARIOS <<<"${BENCH_SCENARIOS:-r1 r2}"
read -r -a STORES <<<"${BENCH_STORES:-off lmdb redis}"
PARTS=" ${BENCH_PARTS:-restart store} "
for v in "$RUNS" "$NSTORE"; do
  case "$v" in ''|*[!0-9]*|0) die "BENCH_RUNS and BENCH_STORE_SESSIONS are positive numbers" ;; esac
done
declare -A TITLE=([r1]="r1: SIGTERM + start" [r2]="r2: kill -9 + start")
declare -A SIG=([r1]=TERM [r2]=KILL)
for s in "${SCENARIOS[@]}"; do
  [ -n "${TITLE[$s]:-}" ] || die "unknown scenario '$s' (r1 r2)"
done
for b in "${STORES[@]}"; do
  case "$b" in off|lmdb|redis) ;; *) die "unknown store '$b' (off lmdb redis)" ;; esac
done

lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
if [[ $PARTS == *" restart "* ]]; then
  lab_probe_find || die "no probe binary (make tests/tools/probe)"
  for tool in wireguard-go wg openvpn; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "$tool is missing (scripts/deps.sh)"
  done
fi
if [[ $PARTS == *" store "* ]]; then
  lab_tool_find loadgen LAB_LOADGEN_BIN ||
    die "no loadgen binary (make tests/tools/loadgen)"
fi

# Each stream's length (s): the restart comes PRE_S into it; wireguard-go's
# client re-handshakes only after its data went unanswered for 15 s
# (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), so its streams are longer.
PRE_S=2
declare -A SECS=([j]=8 [w]=24 [o]=10)
KINDS=(j w o)
PEERS="w o"

lab_init
lab_tmpdir
dir=$REPLY
BENCH_DIR=$dir
nbad=0
# Results besides BENCH_R (scripts/bench-lib.sh): R[what,S] one word per
# run: restart/down (ms, per kind: restart,KIND), budget (jvpn-quic's goal
# in ms), goal (1 met, 0 not), same (1: same session after), jstall (runs
# after which the jvpn-quic client was restarted).
declare -A R=()

# ============================================================================
# Part 1: restarts under probe streams
# ============================================================================
cl="" sv="" slog="" spid="" nstart=0 RTT_MS=- HS_MS=-
declare -A ST=()

# jvpn_server_up: the jvpn-quic server (log DIR/server-N.log), PID in spid.
jvpn_server_up() {
  nstart=$((nstart + 1))
  slog=$dir/server-$nstart.log
  lab_vpn_server_start "$slog" -c "$dir/server.conf" \
    --control "$dir/server.sock" || return 1
  spid=$LAB_VPN_PID
}

jvpn_client_up() {
  lab_vpn_client_up "$dir" 1 || return 1
  client_pid=$LAB_VPN_PID
}

# ovpn_ready: OpenVPN's server is bound to UDP 1194 and its TUN carries
# its address (point-to-point: "inet A peer B/32").
ovpn_ready() {
  lab_udp_bound "$sv" "$LAB_OVPN_PORT" &&
    ip -n "$sv" -o addr show dev "${LAB_OVPN_IF[server]}" 2>/dev/null |
      grep -qF " $LAB_OVPN_SERVER_IN4 peer "
}

tunnel_ok() { lab_ping "$cl" "${BENCH_SADDR[$1]}"; }

# why_down KIND: the tunnel's state, on stderr.
why_down() {
  case "$1" in
    j) lab_tail "$slog" "$dir/client1.log"
       "$JVPN_BIN" status -s "$dir/client1.sock" ;;
    w) ip netns exec "$cl" wg show "${LAB_WG_IF[client]}"
       ip netns exec "$sv" wg show "${LAB_WG_IF[server]}"
       lab_tail "$dir/wg/wg-server-$nstart.log" ;;
    o) lab_tail "$dir/ovpn/ovpn-client.log" \
         "$dir/ovpn/ovpn-server-$nstart.log" ;;
  esac
} >&2

# restart KIND SIGNAL N: the tunnel's server gets SIGNAL and, once it has
# exited, starts again (log suffix N). Probe time line: T_SIG, T_READY;
# RESTART_MS (start to ready), DOWN_MS (signal to ready).
restart() {
  local kind=$1 sig=$2 n=$3 pid dev t_spawn
  case "$kind" in
    j) pid=$spid dev=$LAB_TUN ;;
    w) pid=${LAB_WG_PID[server]} dev=${LAB_WG_IF[server]} ;;
    o) pid=${LAB_OVPN_PID[server]} dev=${LAB_OVPN_IF[server]} ;;
  esac
  lab_probe_now
  T_SIG=$REPLY
  lab_kill "$pid" "$sig" || { note "the $kind server had exited"; return 1; }
  lab_wait_exit "$pid" 10 || { note "the $kind server did not exit"; return 1; }
  # A killed jvpn-quic leaves its TUN (tests/netns/persist.sh); the
  # others' go with their file descriptors.
  if [ "$kind" = j ] && [ "$sig" = KILL ]; then
    ip -n "$sv" link del "$dev" 2>/dev/null
  fi
  lab_wait_no_dev "$sv" "$dev" 5 || return 1
  lab_probe_now
  t_spawn=$REPLY
  case "$kind" in
    j) jvpn_server_up || { note "jvpn-quic server: $REPLY"; return 1; } ;;
    w) nstart=$((nstart + 1))
       lab_wg_server_up "$dir/wg" "$dir/wg/wg-server-$nstart.log" ||
         return 1 ;;
    o) nstart=$((nstart + 1))
       lab_ovpn_server_up "$dir/ovpn" udp "$dir/ovpn/ovpn-server-$nstart.log"
       lab_wait_for "OpenVPN's server ready" 10 ovpn_ready || return 1 ;;
  esac
  lab_probe_now
  T_READY=$REPLY
  # The probe's time line has tenths of ms.
  RESTART_MS=$(awk -v a="$T_READY" -v b="$t_spawn" \
    'BEGIN { printf "%.0f", a - b }')
  DOWN_MS=$(awk -v a="$T_READY" -v b="$T_SIG" 'BEGIN { printf "%.0f", a - b }')
}

# settle KIND S K: waits until the tunnel carries traffic again; a
# jvpn-quic client that stays down is restarted (R[jstall,S]).
settle() {
  local kind=$1
  lab_wait_for "${BENCH_NAME[$kind]} to carry traffic" 30 tunnel_ok "$kind" &&
    return 0
  why_down "$kind"
  [ "$kind" = j ] || return 1
  note "jvpn-quic tunnel stuck after ${TITLE[$2]} run $3; restarting the client"
  R[jstall,$2]+="$3 "
  lab_kill "$client_pid" TERM
  lab_wait_exit "$client_pid" 5 || { lab_kill "$client_pid" KILL
                                     lab_wait_exit "$client_pid" 2; }
  mv "$dir/client1.log" "$dir/client1.$2$3.log"
  jvpn_client_up && lab_wait_tunnel "$cl" 15
}

# run_one S K KIND
run_one() {
  local s=$1 k=$2 kind=$3 sid0="" budget
  BENCH_KINDS=("$kind")
  if [ "$kind" = j ] && lab_cli_status "$dir/client1.sock" ST; then
    sid0=${ST[session]}
  fi
  bench_start "$s$k" "${SECS[$kind]}" || return 1
  sleep "$PRE_S"
  restart "$kind" "${SIG[$s]}" "$s$k" || return 1
  R[restart,$kind,$s]+="$RESTART_MS "
  R[down,$kind,$s]+="$DOWN_MS "
  bench_end "$s$k" "$s" "$k" "$T_READY" || return 1
  if [ "$kind" = j ]; then
    budget=$(awk -v d="$DOWN_MS" -v r="$RTT_MS" -v h="$HS_MS" \
      'BEGIN { printf "%.0f", d + (r == "-" ? 0 : r) + (h == "-" ? 0 : h) }')
    R[budget,$s]+="$budget "
    local g=${BENCH_R[j,worse,gap,$s]% }
    g=${g##* }
    R[goal,$s]+="$(lab_lt "$g" "$(( budget + 1 ))" && echo 1 || echo 0) "
  fi
  settle "$kind" "$s" "$k" || return 1
  if [ "$kind" = j ]; then
    if lab_cli_status "$dir/client1.sock" ST && [ -n "$sid0" ] &&
       [ "${ST[session]}" = "$sid0" ]; then
      R[same,$s]+="1 "
    else
      R[same,$s]+="0 "
    fi
  fi
}

part_restart() {
  local s k kind
  # shellcheck disable=SC2119 # no options: NAT on
  lab_topo_vpn || die "could not build the lab topology"
  lab_gen_vpn_configs "$dir" client1 || die "jvpn-quic key generation"
  cl=${LAB_NS[client1]}
  sv=${LAB_NS[server]}
  jvpn_server_up || die "jvpn-quic server: $REPLY" "$slog"
  jvpn_client_up || die "jvpn-quic client did not come up" "$slog" \
    "$dir/client1.log"
  lab_wait_tunnel "$cl" 10 || die "no traffic through jvpn-quic" "$slog"
  lab_wg_pair client1 "$dir/wg" 25 || die "wireguard-go did not come up"
  lab_ovpn_pair client1 "$dir/ovpn" || die "OpenVPN did not come up"
  RTT_MS=$(ip netns exec "$cl" ping -n -q -c 5 -i 0.2 -W 1 198.18.3.2 \
    2>/dev/null | awk -F/ '/^rtt|^round-trip/ { printf "%.1f", $5 }')
  RTT_MS=${RTT_MS:--}
  if lab_vpn_attach_ms "$dir/client1.log"; then HS_MS=$REPLY; fi
  note "underlay RTT $RTT_MS ms, jvpn-quic handshake (connect to" \
    "tunnel up) $HS_MS ms; $RUNS runs of ${SCENARIOS[*]}"
  for s in "${SCENARIOS[@]}"; do
    for ((k = 1; k <= RUNS; k++)); do
      for kind in "${KINDS[@]}"; do
        note "${TITLE[$s]} run $k/$RUNS: ${BENCH_NAME[$kind]}"
        if ! run_one "$s" "$k" "$kind"; then
          nbad=$((nbad + 1))
          note "run failed"
          why_down "$kind"
          settle "$kind" "$s" "$k" ||
            die "${BENCH_NAME[$kind]} does not come back"
        fi
      done
    done
  done
  BENCH_KINDS=("${KINDS[@]}")
  lab_pid_alive "$client_pid" || note "the jvpn-quic client exited"
}

# The restart table: BENCH_HEADER's columns (bench-lib.sh), then ours.
RROWS=("$BENCH_HEADER|restart: start to ready (ms)|down: signal to ready (ms)|gap vs best reference, worse|up|down|jvpn-quic goal: gap <= down + RTT + handshake (ms)|goal met")
restart_rows() {
  local s kind row d best
  for s in "${SCENARIOS[@]}"; do
    for kind in "${KINDS[@]}"; do
      bench_row "$s" "${TITLE[$s]}" "$kind"
      row=$REPLY
      bench_cell_of "${R[restart,$kind,$s]:-}"
      row+="|$REPLY"
      bench_cell_of "${R[down,$kind,$s]:-}"
      row+="|$REPLY"
      for d in worse up down; do
        bench_best "$PEERS" "$d" gap "$s"
        best=$REPLY
        bench_ratio_cell "$kind" "$best" "$d" gap "$s"
        row+="|$REPLY${best:+ (${BENCH_NAME[$best]})}"
      done
      if [ "$kind" = j ]; then
        bench_cell_of "${R[budget,$s]:-}"
        row+="|$REPLY"
        row+="|$(of_runs "${R[goal,$s]:-}")"
        bench_row_notes "$s" "$kind" "${R[jstall,$s]:-}"
        row+="$REPLY; same session after: $(of_runs "${R[same,$s]:-}")"
      else
        row+="|-|-"
        bench_row_notes "$s" "$kind" ""
        row+=$REPLY
      fi
      RROWS+=("$row")
    done
  done
}

# of_runs LIST: "N of M runs" with value 1, "-" for an empty list.
of_runs() {
  [ -n "${1// /}" ] || { echo -; return 0; }
  # shellcheck disable=SC2086 # a list of words
  printf '%s\n' $1 | awk '$1 == 1 { n++ } END {
    if (NR) printf "%d of %d runs", n, NR; else print "-" }'
}

# ============================================================================
# Part 2: the store's cost with loadgen's sessions
# ============================================================================
SD=$dir/store
STORE_POLICY="birth_rate_per_s = 100000
birth_burst = 100000
attach_rate_per_s = 100000
attach_burst = 100000
transport_loss_ttl_ms = 1h"
declare -A SR=() SNOTE=()

# --- the Redis back end (store = redis, D44) ---------------------------------
# redis_hook: what store = redis needs besides `store = redis`: the
# [server] lines (BENCH_REDIS_CONF overrides them) in REDIS_LINES, and a
# redis-server in the server's namespace (one on 127.0.0.1:6379 without
# persistence: the cost measured is the store's round trips). Returns 1,
# with the reason in REPLY, when it cannot run.
REDIS_LINES=${BENCH_REDIS_CONF:-$'redis = 127.0.0.1:6379\nnode_id = bench'}
redis_hook() {
  if ! command -v redis-server >/dev/null 2>&1; then
    REPLY="redis-server is not installed"
    return 1
  fi
  if ! lab_tcp_listening "${LAB_NS[server]}" 6379; then
    lab_spawn "${LAB_NS[server]}" "$SD/redis.log" redis-server --port 6379 \
      --bind 127.0.0.1 --save '' --appendonly no --dir "$SD"
    lab_wait_for "redis-server" 5 lab_tcp_listening "${LAB_NS[server]}" 6379 ||
      { REPLY="redis-server did not start"; return 1; }
  fi
}
# redis_flush: an empty Redis store before each run.
redis_flush() {
  command -v redis-cli >/dev/null 2>&1 &&
    ip netns exec "${LAB_NS[server]}" redis-cli -p 6379 flushall >/dev/null
}
# ---------------------------------------------------------------------------

# store_lines B: the [server] lines of back end B, in REPLY.
store_lines() {
  case "$1" in
    off) REPLY="store = off" ;;
    lmdb) REPLY="store = lmdb
state_dir = $SD/state-lmdb" ;;
    redis) REPLY="store = redis
state_dir = $SD/state-redis${REDIS_LINES:+
$REDIS_LINES}" ;;
  esac
}

# store_accepted B: the binary's server config takes `store = B`: a server
# started in our server namespace with it does not exit within 2 s with
# a complaint about the store (today's binary: 'store "redis" is not one
# of lmdb, off', exit 2); it is stopped at once.
store_accepted() {
  local conf=$SD/check-$1.conf log=$SD/check-$1.log pid
  store_lines "$1"
  bench_lg_conf "$conf" "$SD" "$SD/keys" scripts/bench-restart.sh \
    "$STORE_POLICY" "$REPLY"
  lab_spawn "${LAB_NS[server]}" "$log" "$JVPN_BIN" server -c "$conf" \
    --control "$SD/check.sock"
  pid=$REPLY
  if lab_wait_exit "$pid" 2; then
    # Exited at once: refused when it names the store.
    ! grep -qi 'store' "$log"
    return
  fi
  lab_kill "$pid" TERM
  lab_wait_exit "$pid" 5 || { lab_kill "$pid" KILL; lab_wait_exit "$pid" 2; }
  ip -n "${LAB_NS[server]}" link del "$LAB_TUN" 2>/dev/null
  return 0
}

# store_server_up B N: a server of back end B (log SD/B-N.log), PID in
# SPID; START_MS from its start to UDP 443 bound.
store_server_up() {
  local t0
  lab_now_ms
  t0=$REPLY
  lab_spawn "${LAB_NS[server]}" "$SD/$1-$2.log" "$JVPN_BIN" server \
    -c "$SD/server-$1.conf" --control "$SD/server.sock"
  SPID=$REPLY
  lab_wait_udp_listen "${LAB_NS[server]}" 443 60 || return 1
  lab_now_ms
  START_MS=$(( REPLY - t0 ))
  # The control socket opens after the sockets, and with store = redis
  # after the sessions' routes went in (one netlink request each).
  lab_wait_for "the server's status" 60 store_status_ok
}

store_status_ok() {
  "$JVPN_BIN" status --json -s "$SD/server.sock" >/dev/null 2>&1
}

store_server_down() {
  lab_kill "$SPID" TERM
  lab_wait_exit "$SPID" 30 || { lab_kill "$SPID" KILL
                                lab_wait_exit "$SPID" 5; }
  lab_wait_no_dev "${LAB_NS[server]}" "$LAB_TUN" 5 ||
    ip -n "${LAB_NS[server]}" link del "$LAB_TUN" 2>/dev/null
}

# json_num JSON KEY: the first "KEY":N of the store's part, in REPLY.
json_num() {
  REPLY=$(printf '%s' "$1" | grep -o '"store":{[^}]*}' |
    grep -o "\"$2\":[0-9]*" | head -n1 | cut -d: -f2)
}

# store_run B K: one run of back end B: births, storm, restart and load.
store_run() {
  local b=$1 k=$2 gout=$SD/loadgen-$1-$2.out glog=$SD/loadgen-$1-$2.log
  local gpid line st js v
  rm -rf -- "$SD/state-$b"
  [ "$b" = redis ] && redis_flush
  store_server_up "$b" "$k" || { note "$b: the server did not start"
                                 lab_tail "$SD/$b-$k.log" >&2; return 1; }
  sleep 1
  ip netns exec "${LAB_NS[gen]}" "$LAB_LOADGEN_BIN" --server 198.18.3.2:443 \
    --server-pin "$SPIN" --key-dir "$SD/keys" --sessions "$NSTORE" \
    --rate 100000 --inflight 256 --sockets "$SOCKETS" --bind 198.19.0.1 \
    --duration 1 --reattach-storm --timeout 120 >"$gout" 2>"$glog" &
  gpid=$!
  LAB_PIDS+=("$gpid")
  if ! lab_wait_exit "$gpid" $(( NSTORE / 20 + 300 )); then
    note "$b: loadgen did not finish"
    lab_kill "$gpid" KILL
    lab_wait_exit "$gpid" 5
    return 1
  fi
  line=$(grep '^loadgen: sessions=' "$gout" || true)
  [ -n "$line" ] || { note "$b: no loadgen summary"
                      lab_tail "$glog" "$SD/$b-$k.log" >&2; return 1; }
  note "  $line"
  kv() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  SR[births,$b]+="$(kv births_per_s) "
  st=$(kv storm_ms)
  if [ -n "$st" ] && [ "$st" -gt 0 ]; then
    SR[reattach,$b]+="$(awk -v n="$(kv storm_up)" -v ms="$st" \
      'BEGIN { printf "%.0f", n * 1000 / ms }') "
  fi
  v=$(kv failures)
  [ "$v" = none ] || SNOTE[$b]+="run $k failures $v; "
  if [ "$b" = off ]; then
    store_server_down
    return 0
  fi
  # The stored sessions back: a restart, the load timed by the server.
  store_server_down
  store_server_up "$b" "$k-restart" || { note "$b: no restart"
    lab_tail "$SD/$b-$k-restart.log" >&2; return 1; }
  js=$("$JVPN_BIN" status --json -s "$SD/server.sock" 2>/dev/null)
  json_num "$js" restored
  SR[restored,$b]+="${REPLY:--} "
  json_num "$js" writes
  SR[writes,$b]+="${REPLY:--} "
  json_num "$js" load_ms
  if [ -z "$REPLY" ]; then
    note "$b: status has no store.load_ms (an older binary?)"
  else
    SR[load,$b]+="$REPLY "
    SR[goal,$b]+="$(lab_lt "$REPLY" 1001 && echo 1 || echo 0) "
  fi
  SR[start,$b]+="$START_MS "
  store_server_down
}

part_store() {
  local b k
  lab_reset
  bench_lg_topo || die "the loadgen lab (namespaces, veth, routes)"
  mkdir -p "$SD" || die "mkdir $SD"
  SOCKETS=$(( NSTORE < 254 ? NSTORE : 254 ))
  note "store: $NSTORE client keys"
  "$LAB_LOADGEN_BIN" --gen-keys "$NSTORE" --key-dir "$SD/keys" \
    >/dev/null 2>"$SD/gen-keys.log" || die "loadgen --gen-keys" \
    "$SD/gen-keys.log"
  lab_genkey "$SD" server || die "server key"
  SPIN=$REPLY
  SB=()
  for b in "${STORES[@]}"; do
    if [ "$b" = redis ]; then
      # A binary built without the Redis back end says so in its row.
      if ! store_accepted redis; then
        SNOTE[redis]="redis: not built (the server config rejects store = redis: $(
          grep -m1 -i 'store' "$SD/check-redis.log" 2>/dev/null |
          sed 's/^[^ ]*: //' | cut -c1-100))"
        note "${SNOTE[redis]}"
        continue
      fi
      if ! redis_hook; then
        SNOTE[redis]="redis: not run ($REPLY)"
        note "${SNOTE[redis]}"
        continue
      fi
    fi
    store_lines "$b"
    bench_lg_conf "$SD/server-$b.conf" "$SD" "$SD/keys" \
      scripts/bench-restart.sh "$STORE_POLICY" "$REPLY"
    SB+=("$b")
    for ((k = 1; k <= RUNS; k++)); do
      note "store = $b, run $k/$RUNS: $NSTORE sessions"
      if ! store_run "$b" "$k"; then
        nbad=$((nbad + 1))
        SNOTE[$b]+="run $k failed; "
        lab_pid_alive "${SPID:-0}" && store_server_down
      fi
    done
  done
}

# best_rate METRIC: the back end with the highest median METRIC, in REPLY.
best_rate() {
  local b best="" bm="" m
  for b in "${SB[@]}"; do
    bench_stat "${SR[$1,$b]:-}" median
    m=$REPLY
    [ "$m" = - ] && continue
    if [ -z "$best" ] || lab_lt "$bm" "$m"; then best=$b; bm=$m; fi
  done
  REPLY=$best
}

# rate_cell METRIC B: "median / worst (lowest)" and, against the best back
# end, "N.NNx / N.NNx", '|'-separated, in REPLY.
rate_cell() {
  local cell a b c d best
  bench_stat "${SR[$1,$2]:-}" median; a=$REPLY
  bench_stat "${SR[$1,$2]:-}" min; c=$REPLY
  cell=$a
  [ "$a" = - ] || cell="$a / $c"
  best_rate "$1"
  best=$REPLY
  bench_stat "${SR[$1,$best]:-}" median; b=$REPLY
  bench_stat "${SR[$1,$best]:-}" min; d=$REPLY
  REPLY="$cell|$(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v n="$best" '
    BEGIN { if (a == "-" || b == "-" || b + 0 == 0 || d + 0 == 0) print "-"
            else printf "%.2fx / %.2fx (%s)", a / b, c / d, n }')"
}

SROWS=("store|sessions|births/s|vs best|reattaches/s|vs best|restored|store writes at load|load (ms)|start with load (ms)|load goal (10,000 <= 1000 ms)|notes")
store_rows() {
  local b row goal
  for b in "${STORES[@]}"; do
    if [[ " ${SB[*]:-} " != *" $b "* ]]; then
      SROWS+=("$b|-|-|-|-|-|-|-|-|-|-|${SNOTE[$b]:-not run}")
      continue
    fi
    row="$b|$NSTORE"
    rate_cell births "$b"
    row+="|$REPLY"
    rate_cell reattach "$b"
    row+="|$REPLY"
    bench_stat "${SR[restored,$b]:-}" min
    row+="|$REPLY"
    bench_stat "${SR[writes,$b]:-}" median
    row+="|$REPLY"
    bench_cell_of "${SR[load,$b]:-}"
    row+="|$REPLY"
    bench_cell_of "${SR[start,$b]:-}"
    row+="|$REPLY"
    if [ "$b" = off ]; then
      goal="-"
    elif [ "$NSTORE" -ne 10000 ]; then
      goal="- ($NSTORE sessions)"
    else
      goal=$(of_runs "${SR[goal,$b]:-}")
    fi
    row+="|$goal|${SNOTE[$b]:-}"
    SROWS+=("${row%; }")
  done
}

# ============================================================================
[[ $PARTS == *" restart "* ]] && part_restart
[[ $PARTS == *" store "* ]] && part_store
lab_reset

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
OVPN_NOTE="OpenVPN $(openvpn --version 2>/dev/null | head -n1 |
  awk '{ print $2 }'): p2p static key (no handshake), UDP, --float, client --nobind; keepalive: ${LAB_OVPN_COMMON[*]} (both ends): --ping-restart 5 decides when a client gives up on a silent server"
WG_NOTE="wireguard-go $(wireguard-go --version 2>/dev/null | head -n1 |
  awk '{ print $NF }'): client persistent-keepalive 25 s; after a server restart its client re-handshakes only when its data went unanswered for 15 s (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT)"
restart_legend() {
  bench_legend
  echo "back: ms from the restarted server being ready to the end of the" \
    "longest gap. restart: ms from the new process's start to ready (UDP" \
    "port bound, tunnel interface carrying its address; polled every 50" \
    "ms); down: ms from the signal to ready. Ratios: the tunnel's gap" \
    "(median / worst) over the best reference's (wireguard-go or OpenVPN," \
    "smallest median gap in that direction, named), lower is better." \
    "Underlay RTT $RTT_MS ms; jvpn-quic handshake $HS_MS ms (connect to" \
    "tunnel up, its first attach); jvpn-quic's store = lmdb."
}
store_legend() {
  echo "Store cost with loadgen's $NSTORE sessions (a fresh server and an" \
    "empty store per run; median / worst of $RUNS runs, worst = lowest for" \
    "rates, highest for times): births/s and reattaches/s (all sessions" \
    "reattached at once after their connections dropped) with their" \
    "ratio to the best back end of this run; restored and load (ms): the" \
    "restarted server's status (store.restored, store.load_ms; store" \
    "writes at load: store.writes just after the start, median); start with" \
    "load: ms from the process's start to UDP 443 bound."
}

echo
echo "bench-restart ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
  "$RUNS runs, load average at the end $LOADAVG)"
if [[ $PARTS == *" restart "* ]]; then
  restart_rows
  echo
  restart_legend | fold -s -w 78
  echo "$OVPN_NOTE." | fold -s -w 78
  echo "$WG_NOTE." | fold -s -w 78
  BENCH_LEFT_COLS=2 bench_print_table text "${RROWS[@]}"
  echo
  for s in "${SCENARIOS[@]}"; do
    BENCH_KINDS=("${KINDS[@]}")
    bench_raw "$s"
    for kind in "${KINDS[@]}"; do
      for m in restart down; do
        [ -n "${R[$m,$kind,$s]:-}" ] &&
          printf '%s %s %s: %s\n' "$s" "$kind" "$m" "${R[$m,$kind,$s]% }"
      done
    done
    for m in budget goal same jstall; do
      [ -n "${R[$m,$s]:-}" ] && printf '%s j %s: %s\n' "$s" "$m" "${R[$m,$s]% }"
    done
  done
fi
if [[ $PARTS == *" store "* ]]; then
  store_rows
  echo
  store_legend | fold -s -w 78
  BENCH_LEFT_COLS=1 bench_print_table text "${SROWS[@]}"
fi

if [ -n "${BENCH_OUT:-}" ]; then
  {
    echo "## Results: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(uname -srm), $(nproc) CPUs" \
      "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))."
    echo "jvpn-quic $(git -C "$srcdir" describe --always --dirty 2>/dev/null ||
      echo '(no git)'); $RUNS runs; load average at the end $LOADAVG."
    if [[ $PARTS == *" restart "* ]]; then
      echo
      echo "$WG_NOTE. $OVPN_NOTE."
      echo
      restart_legend
      echo
      BENCH_LEFT_COLS=2 bench_print_table md "${RROWS[@]}"
    fi
    if [[ $PARTS == *" store "* ]]; then
      echo
      store_legend
      echo
      BENCH_LEFT_COLS=1 bench_print_table md "${SROWS[@]}"
    fi
  } >"$BENCH_OUT"
  note "wrote $BENCH_OUT"
fi
[ "$nbad" -eq 0 ]
