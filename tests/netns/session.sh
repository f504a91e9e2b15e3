#!/usr/bin/env bash
# tests/netns/session.sh: the tunnel survives changes of the path under it.
#
# The lab topology (tests/lab/lab.sh, lab_topo_vpn + lab_uplink2_add):
#
#   client1 eth0 198.18.1.2  ---- c1  router  srv ---- server 198.18.3.2
#           eth1 198.18.11.2 ---- c1b   (masquerade,        UDP 443
#                (standby: default      random ports)
#                 route metric 100)
#
#   tunnel: server jvpn0 198.18.200.1, client1 jvpn0 198.18.200.2
#
# Each scenario runs a 200 packets/s probe stream (tests/tools/probe)
# from client1 to the server's tunnel address through a fault, reports
# the longest gap between arrivals, and checks that the client kept its
# process, its connection (no reconnect) and its inner address:
#
#   (a) NAT rebinding: the router forgets its mappings (conntrack -F); the
#       server validates the new path ("path validated and in use").
#   (b) address change: uplink 1 loses its address, uplink 2's standby
#       route takes over; the client migrates its QUIC connection.
#   (c) a blackhole of the active uplink (in the router; the link stays
#       up) shorter than the QUIC idle timeout (3 s, or idle - 1 s when
#       that is less): traffic resumes on the same connection; the time
#       from the end of the blackhole to the first packet through is
#       reported.
#   (d) a blackhole 2 s longer than the idle timeout: the connection dies,
#       the session reattaches on a new one with the same inner address.
#
# More scenarios of the session layer (TTL expiry, policy, failover) slot
# in beside these with the same measure_* helpers.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. SESSION_KEEP=1 keeps the logs;
# SESSION_BLACKHOLES=N repeats (c) N times on the same connection (as
# c, c2, c3...; 2 shows the stall described in docs/recovery.md).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

if ! why=$(lab_check_env); then
  echo "SKIP: $why"
  exit 77
fi

# Thresholds (ms), generous for a loaded 2-core machine: a NAT rebinding
# or an address change costs a path validation (one RTT here) plus the
# netlink debounce; recovery after a blackhole costs up to one QUIC probe
# timeout (PTO), which backs off while the path is dead.
GAP_MAX_MS=${SESSION_GAP_MAX_MS:-1000}
RECOVERY_MAX_MS=${SESSION_RECOVERY_MAX_MS:-1500}
# A reattach costs a handshake that may have been sent into the blackhole
# and retried.
REATTACH_MAX_MS=${SESSION_REATTACH_MAX_MS:-3000}
lab_quic_idle_ms
IDLE_MS=$REPLY
SHORT_MS=$(( IDLE_MS - 1000 < 3000 ? IDLE_MS - 1000 : 3000 ))
LONG_MS=$(( IDLE_MS + 2000 ))
PORT=9000

npass=0
nfail=0
pass() {
  echo "PASS $1"
  npass=$((npass + 1))
}
# fail NAME REASON [LOG...]: reports and prints the tails of the logs.
fail() {
  local name=$1 reason=$2
  shift 2
  echo "FAIL $name: $reason"
  nfail=$((nfail + 1))
  lab_tail "$@"
}
summary() {
  echo "$npass passed, $nfail failed"
  [ "$nfail" -eq 0 ]
}
setup_fail() {
  fail setup "$1"
  summary
  exit 1
}

lab_find_bin || setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || setup_fail "no probe binary (make tests/tools/probe)"
for tool in nft conntrack; do
  command -v "$tool" >/dev/null 2>&1 ||
    setup_fail "$tool is missing (scripts/deps.sh installs it)"
done
echo "session: using $JVPN_BIN"

lab_init
lab_tmpdir
dir=$REPLY
if [ "${SESSION_KEEP:-0}" = 1 ]; then
  # shellcheck disable=SC2034 # read by lab_cleanup
  LAB_TMPDIRS=()
  echo "session: keeping $dir"
fi

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || setup_fail "could not build the lab topology"
lab_uplink2_add client1 || setup_fail "could not add client1's second uplink"
lab_gen_vpn_configs "$dir" client1 ||
  setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
sv=${LAB_NS[server]}
tun=$LAB_TUN
slog=$dir/server.log
clog=$dir/client1.log

# -v: the server's path validations are logged at DEBUG. The control
# sockets go to our directory: /run/jvpn-quic is shared by every run.
lab_spawn "$sv" "$slog" "$JVPN_BIN" server -c "$dir/server.conf" -v \
  --control "$dir/server.sock"
server_pid=$REPLY
if ! lab_wait_addr "$sv" "$tun" "$LAB_SERVER_IN4" 10 ||
   ! lab_wait_udp_listen "$sv" 443 5; then
  setup_fail "the server did not come up: $(lab_tail "$slog")"
fi
lab_spawn "$c1" "$clog" "$JVPN_BIN" client -c "$dir/client1.conf" -v \
  --control "$dir/client1.sock"
client_pid=$REPLY
if ! lab_wait_addr "$c1" "$tun" "$LAB_CLIENT1_IN4" 10 ||
   ! lab_wait_for "a ping through the tunnel" 5 ip netns exec "$c1" \
       ping -n -q -c 1 -W 1 "$LAB_SERVER_IN4"; then
  setup_fail "client1 did not come up: $(lab_tail "$slog" "$clog")"
fi

# count PATTERN FILE: lines of FILE matching PATTERN, in REPLY.
count() {
  REPLY=$(grep -c -- "$1" "$2" 2>/dev/null)
  REPLY=${REPLY:-0}
}
# baseline: the client's connection attempts so far, for same_client.
baseline() {
  count "connecting to" "$clog"
  connects=$REPLY
  count "reconnecting" "$clog"
  reconnects=$REPLY
}
baseline

# more_lines PATTERN FILE N: FILE has more than N lines matching PATTERN.
more_lines() {
  count "$1" "$2"
  [ "$REPLY" -gt "$3" ]
}

# same_client: the client process still runs, on its first connection,
# with its inner address; else the reason in REPLY.
same_client() {
  if ! lab_pid_alive "$client_pid"; then
    REPLY="the client exited"
    return 1
  fi
  count "connecting to" "$clog"
  if [ "$REPLY" -ne "$connects" ] || more_lines reconnecting "$clog" \
       "$reconnects"; then
    REPLY="the client reconnected (a new connection)"
    return 1
  fi
  if ! lab_has_addr "$c1" "$tun" "$LAB_CLIENT1_IN4"; then
    REPLY="the client lost its inner address $LAB_CLIENT1_IN4"
    return 1
  fi
  return 0
}

# measure_start NAME SECONDS: the probe stream client1 -> server through
# the tunnel, for SECONDS; its report goes to $dir/NAME.json.
measure_start() {
  lab_probe_start "$c1" "$sv" "$LAB_SERVER_IN4" "$PORT" "$2" "$dir/$1"
}

# measure_end NAME: waits for the stream; its numbers in P[key]. Fails
# when the stream did not reach its end (traffic never came back).
declare -A P=()
measure_end() {
  local k out=$dir/$1
  if ! lab_probe_wait "$out"; then
    REPLY="the probe stream did not finish: $(cat "$out.json" "$out.send")"
    return 1
  fi
  P=()
  for k in sent received lost longest_gap_ms gap_start_ms gap_end_ms \
           missing_run_ms max_delay_ms expected; do
    P[$k]=${LAB_PROBE[$out,$k]}
  done
  # The last half second of the stream must have come through.
  if [ "${P[sent]}" -lt $((P[expected] - LAB_PROBE_RATE / 2)) ]; then
    REPLY="traffic did not resume: last packet received $((P[sent] - 1))"
    REPLY+=" of ${P[expected]}"
    return 1
  fi
}

# lt A B: A < B for decimal numbers.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

numbers() {
  REPLY="longest gap ${P[longest_gap_ms]} ms, ${P[lost]} of ${P[sent]} lost"
}

# --- (a) NAT rebinding -----------------------------------------------------
scenario_a() {
  local nval
  count "path validated and in use" "$slog"
  nval=$REPLY
  measure_start a 4 || { fail a "probe did not start"; return 1; }
  sleep 1.5
  lab_nat_flush
  if ! lab_wait_for "path validation at the server" 5 \
       more_lines "path validated and in use" "$slog" "$nval"; then
    fail a "the server did not validate a new path" "$slog"
    return 1
  fi
  if ! measure_end a; then
    fail a "$REPLY" "$slog" "$clog"
    return 1
  fi
  numbers
  local nums=$REPLY
  if ! lt "${P[longest_gap_ms]}" "$GAP_MAX_MS"; then
    fail a "$nums (limit $GAP_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  if ! same_client; then
    fail a "$REPLY" "$clog"
    return 1
  fi
  pass "a: NAT rebinding: $nums; path validated by the server"
}

# --- (b) the client moves to its second uplink ---------------------------
scenario_b() {
  local nmig
  lab_uplink_def client1 2
  local new=$LAB_UL_A4
  count "migrated: now sending from" "$clog"
  nmig=$REPLY
  measure_start b 4 || { fail b "probe did not start"; return 1; }
  sleep 1.5
  lab_uplink_addr_del client1 1
  if ! lab_wait_for "the client to migrate" 5 \
       more_lines "migrated: now sending from $new" "$clog" "$nmig"; then
    fail b "the client did not log 'migrated: now sending from $new'" \
      "$clog" "$slog"
    return 1
  fi
  if ! measure_end b; then
    fail b "$REPLY" "$slog" "$clog"
    return 1
  fi
  numbers
  local nums=$REPLY
  if ! lab_nat_mappings udp | grep -q "src=$new dst=198\.18\.3\.2 .*dport=443"; then
    fail b "no NAT mapping from $new to the server in the router" "$clog"
    return 1
  fi
  if ! lt "${P[longest_gap_ms]}" "$GAP_MAX_MS"; then
    fail b "$nums (limit $GAP_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  if ! same_client; then
    fail b "$REPLY" "$clog"
    return 1
  fi
  pass "b: address change (uplink 1 -> 2): $nums; QUIC migrated"
}

# blackhole NAME MS: a blackhole of MS ms of client1's active uplink
# during a probe stream; P[recovery_ms] is how long after its end the
# first packet came through, P[uplink] the uplink blackholed.
blackhole() {
  local name=$1 ms=$2 n t_off
  measure_start "$name" $(( ms / 1000 + 6 )) || {
    REPLY="probe did not start"
    return 1
  }
  sleep 1.5
  lab_uplink_blackhole_on client1 || { REPLY="nft blackhole failed"; return 1; }
  n=$REPLY
  sleep "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')"
  # Timed before the rule goes: the recovery may include nft's run time,
  # never less than the truth.
  lab_probe_now
  t_off=$REPLY
  lab_uplink_blackhole_off client1 "$n"
  measure_end "$name" || return 1
  P[uplink]=$n
  P[recovery_ms]=$(awk -v e="${P[gap_end_ms]}" -v o="$t_off" \
    'BEGIN { printf "%.0f", e - o }')
  # The longest gap must be the blackhole's, or the fault did not bite.
  if lt "${P[longest_gap_ms]}" $(( ms - 500 )); then
    numbers
    REPLY="$REPLY: shorter than the $ms ms blackhole"
    return 1
  fi
}

# --- (c) a blackhole shorter than the idle timeout -------------------------
# scenario_c [NAME]
scenario_c() {
  local nums c=${1:-c}
  if ! blackhole "$c" "$SHORT_MS"; then
    fail "$c" "$REPLY" "$slog" "$clog"
    return 1
  fi
  numbers
  nums="$REPLY, back ${P[recovery_ms]} ms after the blackhole's end"
  if ! lt "${P[recovery_ms]}" "$RECOVERY_MAX_MS"; then
    fail "$c" "$nums (limit $RECOVERY_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  if ! same_client; then
    fail "$c" "$REPLY" "$clog"
    return 1
  fi
  pass "$c: $SHORT_MS ms blackhole of uplink ${P[uplink]}: $nums;\
 same connection"
}

# --- (d) a blackhole longer than the idle timeout --------------------------
scenario_d() {
  local nums nre
  count "reattached (same addresses)" "$clog"
  nre=$REPLY
  if ! blackhole d "$LONG_MS"; then
    fail d "$REPLY" "$slog" "$clog"
    return 1
  fi
  numbers
  nums="$REPLY, back ${P[recovery_ms]} ms after the blackhole's end"
  if ! more_lines "reattached (same addresses)" "$clog" "$nre"; then
    fail d "$nums; the client did not log 'reattached (same addresses)'" \
      "$clog" "$slog"
    return 1
  fi
  if ! lt "${P[recovery_ms]}" "$REATTACH_MAX_MS"; then
    fail d "$nums (limit $REATTACH_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  if ! lab_pid_alive "$client_pid" ||
     ! lab_has_addr "$c1" "$tun" "$LAB_CLIENT1_IN4"; then
    fail d "the client exited or lost $LAB_CLIENT1_IN4" "$clog"
    return 1
  fi
  # Later scenarios compare against the new connection.
  baseline
  pass "d: $LONG_MS ms blackhole (idle timeout $IDLE_MS ms): $nums;\
 session reattached, same inner address"
}

scenario_a
scenario_b
scenario_c
for ((i = 2; i <= ${SESSION_BLACKHOLES:-1}; i++)); do
  # A stuck tunnel would fail every later scenario for the same reason.
  lab_wait_for "the tunnel" 10 ip netns exec "$c1" \
    ping -n -q -c 1 -W 1 "$LAB_SERVER_IN4" || break
  scenario_c "c$i"
done
scenario_d

if ! lab_pid_alive "$server_pid"; then
  fail server "the server exited" "$slog"
fi
mapfile -t bad_logs < <(grep -l -E \
  'AddressSanitizer|LeakSanitizer|runtime error:' "$dir"/*.log 2>/dev/null)
if [ "${#bad_logs[@]}" -gt 0 ]; then
  fail sanitizers "sanitizer reports in the logs" "${bad_logs[@]}"
fi

summary
