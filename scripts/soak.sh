#!/usr/bin/env bash
# scripts/soak.sh: sessions under churn for a long time (issue 12). One
# server and N clients behind a NAT router (tests/lab/lab.sh: lab_topo_vpn
# plus lab_client_ns_add for client3..N):
#
#   client1 198.18.1.2 ------ c1 .
#   client2 2001:db8:2::2 --- c2  \   router          server 198.18.3.2,
#   client3 198.18.23.2 ----- c3 --- (masquerade, --- 2001:db8:3::2
#   client4 2001:db8:24::2 -- c4  /   random ports)   UDP 443, audit log
#   ...                           '                   and status socket
#
#   tunnel: server 198.18.200.1, clientK 198.18.200.(K+1); odd clients
#   reach the server over IPv4, even ones over IPv6
#
# Each client carries a probe stream each way (server <-> client inner
# addresses, SOAK_PROBE_RATE packets/s), in rounds of SOAK_ROUND_S seconds;
# each round's longest gap between arrivals is one sample. For the given
# time a schedule drawn from a seeded generator injects faults, each one
# bounded:
#
#   rebind     the router forgets one client's NAT mappings (conntrack):
#              its packets arrive from a new port (NAT_REBIND)
#   blackhole  one client's link drops everything for 1-5 s: shorter or
#              longer than the QUIC idle timeout (3 s), never near the
#              transport-loss TTL (15 s): the connection lives or the
#              session is reattached
#   loss       the router drops 1-10 % of what it forwards (every client)
#              for 3-10 s
#   restart    one client gets SIGTERM, must exit 0, and is started again
#              after up to 2 s: it begins a new session by its own choice,
#              and the server ends the old one (superseded:
#              POLICY_TERMINATION, or PEER_CLOSED)
#
# A client takes one fault at a time and at most SOAK_CLIENT_FAULTS_PER_MIN
# (4) a minute, SOAK_CLIENT_GAP_S (6) s apart: each fault costs a session
# at most one switch, so the schedule stays inside max_switches_per_min
# (8); a flap-limited session that lost its path could otherwise wait for
# its budget past the TTL, and that would be the schedule's doing.
#
# Then the churn stops and the run is judged (exit 1 on any failure):
#   - sessions lost outside policy: 0. From the server's audit log (each
#     session mapped to its client through the clients' own audit logs): a
#     session may end only for a restart of its client, with PEER_CLOSED
#     or POLICY_TERMINATION, one per restart; every other end (above all
#     TTL_TRANSPORT_LOSS_EXPIRED) is a loss. Births per client must be
#     1 + its restarts, and no session may belong to no client.
#   - every client's session ATTACHED at both ends, one per client at the
#     server, no connection left over, and traffic through every tunnel
#     both ways (a last 5 s probe round).
#   - the server lived, every client exited 0 on SIGTERM and came back,
#     no audit record was dropped, no sanitizer report.
#   - the server's memory did not grow: its allocated address space
#     (VmData, sampled every SOAK_SAMPLE_S s with VmRSS): the mean of the
#     last window against the first one after the warm-up (windows of up
#     to a minute) by at most max(20 %, 4 MB). RSS is reported beside it
#     (why it is not the measure: MEM_GROW_PCT below).
# A Markdown table says what happened (faults by kind, reattaches,
# switches, births, terminations by reason, losses, probe gaps, memory).
#
#   scripts/soak.sh [--clients N] [--seconds S] [--seed X]
#
# Environment: SOAK_CLIENTS (4, 1..16), SOAK_SECONDS (120, >= 30),
# SOAK_SEED (random; printed, and replays the same draws: which fault, on
# which client, when, how long; what the machine's timing makes of them
# may differ), SOAK_OUT=FILE (the table also to FILE), SOAK_KEEP=1 (keep
# the logs; they are kept anyway when the run fails), SOAK_PROBE_RATE
# (50), SOAK_ROUND_S (20), SOAK_SAMPLE_S (5), SOAK_CLIENT_GAP_S,
# SOAK_CLIENT_FAULTS_PER_MIN; JVPN_BIN, LAB_PROBE_BIN as tests/lab/lab.sh.
#
# Exit 0 when the run passed, 1 when it failed, 2 on a usage error, 77
# (skip) without root, /dev/net/tun or 'ip netns'. Every loop is bounded
# in count and time; the lab's trap removes every namespace and process.
set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"

usage() {
  echo "usage: scripts/soak.sh [--clients N] [--seconds S] [--seed X]" >&2
  exit 2
}

NCLIENTS=${SOAK_CLIENTS:-4}
SECONDS_RUN=${SOAK_SECONDS:-120}
SEED=${SOAK_SEED:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) [ $# -ge 2 ] || usage; NCLIENTS=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; SECONDS_RUN=$2; shift 2 ;;
    --seed) [ $# -ge 2 ] || usage; SEED=$2; shift 2 ;;
    *) usage ;;
  esac
done

PROBE_RATE=${SOAK_PROBE_RATE:-50}
ROUND_S=${SOAK_ROUND_S:-20}
SAMPLE_S=${SOAK_SAMPLE_S:-5}
CLIENT_GAP_S=${SOAK_CLIENT_GAP_S:-6}
CLIENT_PER_MIN=${SOAK_CLIENT_FAULTS_PER_MIN:-4}
for v in "$NCLIENTS" "$SECONDS_RUN" "$PROBE_RATE" "$ROUND_S" "$SAMPLE_S" \
         "$CLIENT_GAP_S" "$CLIENT_PER_MIN"; do
  case "$v" in ''|*[!0-9]*) echo "soak: '$v' is not a whole number" >&2
                            usage ;; esac
done
[ -z "$SEED" ] || case "$SEED" in *[!0-9]*) usage ;; esac
if [ "$NCLIENTS" -lt 1 ] || [ "$NCLIENTS" -gt "$LAB_MAX_CLIENTS" ] ||
   [ "$SECONDS_RUN" -lt 30 ] || [ "$ROUND_S" -lt 5 ] ||
   [ "$PROBE_RATE" -lt 1 ] || [ "$SAMPLE_S" -lt 1 ] ||
   [ "$CLIENT_PER_MIN" -lt 1 ]; then
  echo "soak: clients 1..$LAB_MAX_CLIENTS, seconds >= 30, rounds >= 5 s" >&2
  usage
fi
[ -n "$SEED" ] || SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')

if ! why=$(lab_check_env); then
  echo "soak: SKIP: $why (run as root)" >&2
  exit 77
fi
lab_test_init soak
dir=""
logdir_kept=${SOAK_KEEP:-0}
# keep_logs: the log directory outlives the run (a failed one).
keep_logs() {
  local p keep=()
  [ -n "$dir" ] && [ "$logdir_kept" != 1 ] || return 0
  for p in "${LAB_TMPDIRS[@]}"; do
    [ "$p" = "$dir" ] || keep+=("$p")
  done
  LAB_TMPDIRS=("${keep[@]}")
  logdir_kept=1
  lab_note "logs kept in $dir"
}
die() {
  echo "soak: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  keep_logs
  exit 1
}
lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
lab_probe_find || die "no probe binary (make tests/tools/probe)"
for t in nft conntrack jq; do
  command -v "$t" >/dev/null 2>&1 ||
    die "$t is missing (scripts/deps.sh installs it)"
done

# Fault bounds (ms). The QUIC idle timeout splits the blackholes into
# those the connection survives and those the session must.
BH_MIN_MS=1000
BH_MAX_MS=5000
LOSS_MIN_S=3
LOSS_MAX_S=10
RESTART_DELAY_MAX_MS=2000
# Time between two fault draws, all clients together (ms).
DRAW_MIN_MS=1500
DRAW_MAX_MS=4000
lab_quic_idle_ms
IDLE_MS=$REPLY
TICK=0.2
# Memory: the growth allowed from the first window's mean to the last
# one's, of VmData. RSS is no measure of a leak here: the server's fixed
# tables (the session table, the connection-ID and peer hash tables,
# sized for JVPN_MAX_SESSIONS and JVPN_MAX_CONNS, some 17 MB) are
# calloc'd at start as zero pages that are not resident, and each new
# session ID or connection ID writes a slot at a random place, which makes
# its page resident. So RSS climbs under churn, about 28 kB per client
# restart at first and less and less as the pages fill (measured, one
# client: +1.4, +1.5, +0.6, +0.4 MB over four rounds of 50 restarts),
# towards the tables' size, while VmData does not move at all. A leak, or
# a heap that fragments and keeps growing, grows VmData. The bound leaves
# room for a thread's malloc arena or the audit ring (256 KiB) to fill
# once; in two minutes only a gross leak (a connection per fault) passes
# it, in an hour one of a few kB per fault.
MEM_GROW_PCT=20
MEM_GROW_MIN_KB=4096
MEM_WARMUP_S=$(( SECONDS_RUN / 4 < 60 ? SECONDS_RUN / 4 : 60 ))

LAB_PROBE_RATE=$PROBE_RATE
lab_test_logdir SOAK_KEEP
dir=$REPLY
# The binaries under test, copied: a rebuild during a long run must not
# change what the restarted clients run.
BUILD="$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo '?'),"
BUILD+=" binary of $(date -u -r "$JVPN_BIN" '+%Y-%m-%d %H:%M UTC')"
if ! { mkdir -p "$dir/bin" && cp "$JVPN_BIN" "$dir/bin/jvpn-quic" &&
        cp "$LAB_PROBE_BIN" "$dir/bin/probe"; }; then
  die "could not copy the binaries"
fi
JVPN_BIN=$dir/bin/jvpn-quic
LAB_PROBE_BIN=$dir/bin/probe

lab_note "seed $SEED (SOAK_SEED=$SEED replays it), $NCLIENTS clients," \
  "$SECONDS_RUN s, logs in $dir"
lab_note "using $JVPN_BIN ($BUILD)"

# --- the generator ----------------------------------------------------------
#
# A 64-bit LCG (Knuth's MMIX constants) in shell arithmetic, so a seed
# means the same draws on every machine; the high bits are used.
RNG=$SEED
# rnd N: a draw in [0, N), in REPLY.
rnd() {
  RNG=$(( RNG * 6364136223846793005 + 1442695040888963407 ))
  REPLY=$(( ((RNG >> 33) & 0x7fffffff) % $1 ))
}
# rnd_in A B: a draw in [A, B], in REPLY.
rnd_in() {
  rnd $(( $2 - $1 + 1 ))
  REPLY=$(( $1 + REPLY ))
}

# alive PID: PID runs and is not a zombie (no fork: this is polled).
alive() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

# has_in4 K: clientK's TUN carries its inner IPv4 address. (Not through
# a pipe into grep -q, whose early exit could make ip fail.)
has_in4() {
  local out
  out=$(ip -n "${CNS[$1]}" -o addr show dev "$LAB_TUN" 2>/dev/null)
  [[ $out == *" ${IN4[$1]}/"* ]]
}

# --- the lab ----------------------------------------------------------------

# Per client K: namespace, underlay address, router link, inner
# addresses, state (up, stopping, gone, starting), PID, incarnation.
declare -A CNS=() UL=() RIF=() IN4=() ST=() PID=() GEN=()
# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || die "could not build the lab topology"
clients=""
for ((k = 1; k <= NCLIENTS; k++)); do
  if [ "$k" -gt 2 ]; then
    lab_client_ns_add "$k" || die "could not add client$k"
  fi
  lab_client_def "$k"
  LAB_UNDERLAY[client$k]=$(( k % 2 ? 4 : 6 ))
  CNS[$k]=${LAB_NS[client$k]}
  RIF[$k]=$LAB_CL_RIF
  IN4[$k]=$LAB_CL_IN4
  if [ "${LAB_UNDERLAY[client$k]}" = 6 ]; then
    UL[$k]=$LAB_CL_A6
  else
    UL[$k]=$LAB_CL_A4
  fi
  clients+=" client$k"
done
lab_gen_vpn_configs "$dir" "${clients# }" ||
  die "genkey or config generation failed"

sv=${LAB_NS[server]}
rt=${LAB_NS[router]}
slog=$dir/server.log
ssock=$dir/server.sock
saudit=$dir/server.audit.jsonl
# The audit log goes in [server] (its first section), after log_level.
sed -i "0,/^log_level/s||audit_log = $saudit\n&|" "$dir/server.conf"
grep -q "^audit_log = $saudit" "$dir/server.conf" ||
  die "could not add audit_log to the server's config"
for ((k = 1; k <= NCLIENTS; k++)); do
  echo "audit_log = $dir/client$k.audit.jsonl" >>"$dir/client$k.conf"
done

lab_vpn_server_start "$slog" -c "$dir/server.conf" --control "$ssock" ||
  die "the server did not start: $REPLY" "$slog"
server_pid=$LAB_VPN_PID

# client_spawn K: starts clientK's next incarnation (log clientK.N.log).
client_spawn() {
  local k=$1
  GEN[$k]=$(( ${GEN[$k]:-0} + 1 ))
  lab_spawn "${CNS[$k]}" "$dir/client$k.${GEN[$k]}.log" "$JVPN_BIN" client \
    -c "$dir/client$k.conf" --control "$dir/client$k.sock"
  PID[$k]=$REPLY
}

# Started one after the other, so client1 and client2 take .2 and .3.
for ((k = 1; k <= NCLIENTS; k++)); do
  client_spawn "$k"
  lab_wait_for "client$k's tunnel address" 15 lab_addr_or_exit \
    "${CNS[$k]}" "${IN4[$k]}" "${PID[$k]}"
  has_in4 "$k" ||
    die "client$k did not come up" "$dir/client$k.1.log" "$slog"
  ST[$k]=up
done
for ((k = 1; k <= NCLIENTS; k++)); do
  lab_wait_tunnel "${CNS[$k]}" 10 ||
    die "client$k's tunnel passes no ping" "$dir/client$k.1.log" "$slog"
done
lab_note "server and $NCLIENTS clients up"

# --- bookkeeping --------------------------------------------------------------

PROBLEMS=()
problem() {
  PROBLEMS+=("$*")
  lab_note "PROBLEM: $*"
}

lab_now_ms
T0=$REPLY
T_END=$(( T0 + SECONDS_RUN * 1000 ))
# tsec MS: MS as seconds since the start ("12.3"), in REPLY.
tsec() {
  local d=$(( $1 - T0 ))
  REPLY="$(( d / 1000 )).$(( d % 1000 / 100 ))"
}
faults=$dir/faults.txt
: >"$faults"
# log_fault NOW TEXT: one line of the schedule, on stdout and in faults.txt.
log_fault() {
  tsec "$1"
  printf 't=%ss %s\n' "$REPLY" "$2" | tee -a "$faults"
}

declare -A NF=([rebind]=0 [bh_short]=0 [bh_long]=0 [loss]=0 [restart]=0
               [skipped]=0)
declare -A RESTARTS=() BH_OFF=() LAST_END=() FTIMES=() DEADLINE=()
declare -A RESTART_T0=() RESTART_DELAY=()
BH_LONGEST=0
LOSS_OFF=0
LOSS_TOTAL_MS=0
LOSS_PCTS=""
RESTART_MAX_MS=0
for ((k = 1; k <= NCLIENTS; k++)); do
  RESTARTS[$k]=0
  BH_OFF[$k]=0
  LAST_END[$k]=0
  FTIMES[$k]=""
done

# eligible K NOW: clientK is up, free of faults, and within its budget.
eligible() {
  local k=$1 now=$2 t n=0 recent=""
  [ "${ST[$k]}" = up ] && [ "${BH_OFF[$k]}" = 0 ] || return 1
  [ $(( now - LAST_END[$k] )) -ge $(( CLIENT_GAP_S * 1000 )) ] || return 1
  for t in ${FTIMES[$k]}; do
    if [ $(( now - t )) -lt 60000 ]; then
      recent+=" $t"
      n=$(( n + 1 ))
    fi
  done
  FTIMES[$k]=$recent
  [ "$n" -lt "$CLIENT_PER_MIN" ]
}

# fault_draw NOW: the next fault of the schedule. Every draw is made
# whether or not it can be applied, so a seed keeps its sequence.
fault_draw() {
  local now=$1 kind k ms pct
  rnd 100
  if [ "$REPLY" -lt 30 ]; then kind=rebind
  elif [ "$REPLY" -lt 65 ]; then kind=blackhole
  elif [ "$REPLY" -lt 80 ]; then kind=loss
  else kind=restart
  fi
  rnd "$NCLIENTS"
  k=$(( REPLY + 1 ))
  rnd_in "$BH_MIN_MS" "$BH_MAX_MS"
  ms=$REPLY
  rnd_in 1 10
  pct=$REPLY
  rnd_in "$LOSS_MIN_S" "$LOSS_MAX_S"
  [ "$kind" = loss ] && ms=$(( REPLY * 1000 ))
  rnd_in 0 "$RESTART_DELAY_MAX_MS"
  [ "$kind" = restart ] && ms=$REPLY
  if [ "$kind" = loss ]; then
    if [ "$LOSS_OFF" != 0 ]; then
      NF[skipped]=$(( NF[skipped] + 1 ))
      return 0
    fi
    lab_loss "$pct" "$rt" || { problem "lab_loss $pct failed"; return 0; }
    LOSS_OFF=$(( now + ms ))
    LOSS_TOTAL_MS=$(( LOSS_TOTAL_MS + ms ))
    LOSS_PCTS+=" $pct"
    NF[loss]=$(( NF[loss] + 1 ))
    log_fault "$now" "loss $pct % for $(( ms / 1000 )) s (all clients)"
    return 0
  fi
  if ! eligible "$k" "$now"; then
    NF[skipped]=$(( NF[skipped] + 1 ))
    return 0
  fi
  FTIMES[$k]+=" $now"
  case "$kind" in
    rebind)
      lab_nat_forget "${UL[$k]}"
      LAST_END[$k]=$now
      NF[rebind]=$(( NF[rebind] + 1 ))
      log_fault "$now" "client$k rebind (NAT mappings of ${UL[$k]} forgotten)"
      ;;
    blackhole)
      lab_blackhole_on "$rt" "${RIF[$k]}" ||
        { problem "blackhole of client$k failed"; return 0; }
      BH_OFF[$k]=$(( now + ms ))
      if [ "$ms" -lt "$IDLE_MS" ]; then
        NF[bh_short]=$(( NF[bh_short] + 1 ))
      else
        NF[bh_long]=$(( NF[bh_long] + 1 ))
      fi
      [ "$ms" -le "$BH_LONGEST" ] || BH_LONGEST=$ms
      log_fault "$now" "client$k blackhole $ms ms"
      ;;
    restart)
      lab_kill "${PID[$k]}" TERM ||
        problem "client$k (pid ${PID[$k]}) had exited before its restart"
      ST[$k]=stopping
      DEADLINE[$k]=$(( now + 5000 ))
      RESTART_T0[$k]=$now
      RESTART_DELAY[$k]=$ms
      RESTARTS[$k]=$(( RESTARTS[$k] + 1 ))
      NF[restart]=$(( NF[restart] + 1 ))
      log_fault "$now" "client$k restart (SIGTERM, start again after $ms ms)"
      ;;
  esac
}

# faults_undo NOW: ends the blackholes and the loss that are due.
faults_undo() {
  local now=$1 k
  for ((k = 1; k <= NCLIENTS; k++)); do
    if [ "${BH_OFF[$k]}" != 0 ] && [ "$now" -ge "${BH_OFF[$k]}" ]; then
      lab_blackhole_off "$rt" "${RIF[$k]}"
      BH_OFF[$k]=0
      LAST_END[$k]=$now
    fi
  done
  if [ "$LOSS_OFF" != 0 ] && [ "$now" -ge "$LOSS_OFF" ]; then
    lab_loss 0 "$rt" || problem "could not end the loss"
    LOSS_OFF=0
  fi
}

# restarts_step NOW: moves each restarting client on: stopping -> gone
# (exited 0, its TUN removed) -> starting (after its delay) -> up (its
# inner address is back). Each step has a deadline.
restarts_step() {
  local now=$1 k rc d
  for ((k = 1; k <= NCLIENTS; k++)); do
    case "${ST[$k]}" in
      stopping)
        if ! alive "${PID[$k]}"; then
          wait "${PID[$k]}" 2>/dev/null
          rc=$?
          lab_forget_pid "${PID[$k]}"
          [ "$rc" = 0 ] ||
            problem "client$k exited $rc on SIGTERM (client$k.${GEN[$k]}.log)"
          ST[$k]=gone
          DEADLINE[$k]=$(( now + RESTART_DELAY[$k] ))
        elif [ "$now" -ge "${DEADLINE[$k]}" ]; then
          problem "client$k did not exit within 5 s of SIGTERM"
          lab_kill "${PID[$k]}" KILL || true
          DEADLINE[$k]=$(( now + 5000 ))
        fi
        ;;
      gone)
        [ "$now" -ge "${DEADLINE[$k]}" ] || continue
        if lab_has_dev "${CNS[$k]}" "$LAB_TUN"; then
          if [ "$now" -ge $(( DEADLINE[$k] + 3000 )) ]; then
            problem "client$k's $LAB_TUN outlived it by 3 s"
            DEADLINE[$k]=$(( now + 60000 ))
          fi
          continue
        fi
        client_spawn "$k"
        ST[$k]=starting
        DEADLINE[$k]=$(( now + 15000 ))
        ;;
      starting)
        if has_in4 "$k"; then
          ST[$k]=up
          LAST_END[$k]=$now
          d=$(( now - RESTART_T0[$k] ))
          [ "$d" -le "$RESTART_MAX_MS" ] || RESTART_MAX_MS=$d
        elif ! alive "${PID[$k]}"; then
          problem "client$k exited while starting (client$k.${GEN[$k]}.log)"
          ST[$k]=dead
        elif [ "$now" -ge "${DEADLINE[$k]}" ]; then
          problem "client$k not up 15 s after its restart"
          ST[$k]=dead
        fi
        ;;
    esac
  done
}

# --- probe rounds -------------------------------------------------------------
#
# Client K's rounds use ports 9000 + 10K + 2S (up, in the server) and + 1
# (down, in the client), S alternating 0 and 1, so a round starts as soon
# as the previous one's senders stop, while its receivers wait 2 s for
# late packets. Each direction of each round is one line of rounds.txt:
# "K DIR GAP_MS LOST EXPECTED DEAD". GAP is the longest time without
# traffic: between two arrivals, or the longest run of packets missing
# (which catches a round that began in a fault), or with DEAD 1 (traffic
# had not come back by the round's end) the silence at its end, a lower
# bound.
rounds=$dir/rounds.txt
: >"$rounds"
declare -A PR_OUT=() PR_END=() PR_SLOT=() PR_N=()
PENDING=()  # "K OUT RECV_END_MS" of rounds whose receivers may still run

# probe_round_start K NOW SECS [TAG]: starts clientK's next round.
probe_round_start() {
  local k=$1 now=$2 secs=$3 slot out
  slot=$(( 1 - ${PR_SLOT[$k]:-1} ))
  PR_N[$k]=$(( ${PR_N[$k]:-0} + 1 ))
  out=$dir/probe.c$k.${4:-r${PR_N[$k]}}
  if ! lab_probe2_start "${CNS[$k]}" "$sv" "$LAB_SERVER_IN4" "${IN4[$k]}" \
       $(( 9000 + 10 * k + 2 * slot )) "$secs" "$out"; then
    problem "client$k's probe round could not start"
    return 1
  fi
  PR_SLOT[$k]=$slot
  PR_OUT[$k]=$out
  PR_END[$k]=$(( now + secs * 1000 ))
  PENDING+=("$k $out $(( now + secs * 1000 + 2000 ))")
}

# probe_collect NOW: records every round whose receivers are done.
probe_collect() {
  local now=$1 e k out end keep=() d key gap
  local -A r=()
  for e in "${PENDING[@]}"; do
    read -r k out end <<<"$e"
    if [ "$now" -lt "$end" ] ||
       alive "${LAB_PROBE_RPID[$out.up]}" ||
       alive "${LAB_PROBE_RPID[$out.down]}"; then
      keep+=("$e")
      continue
    fi
    for d in up down; do
      if lab_probe_result "$out.$d" r; then
        gap=$(awk -v g="${r[gap]}" -v m="${r[missing_run_ms]:-0}" \
          'BEGIN { printf "%.1f", (m > g ? m : g) }')
        echo "$k $d $gap ${r[lost]} ${r[expected]} ${r[dead]}" >>"$rounds"
      else
        problem "client$k's probe round $out.$d: $REPLY"
      fi
      for key in "${!LAB_PROBE[@]}"; do
        [[ $key == "$out.$d,"* ]] && unset "LAB_PROBE[$key]"
      done
      unset "LAB_PROBE_RPID[$out.$d]" "LAB_PROBE_SPID[$out.$d]" \
        "LAB_PROBE_SECS[$out.$d]"
    done
  done
  PENDING=("${keep[@]}")
}

# probes_step NOW: a new round for each client whose round has ended, as
# long as one of at least 5 s fits before the end of the churn.
probes_step() {
  local now=$1 k left secs
  probe_collect "$now"
  left=$(( (T_END - now) / 1000 ))
  for ((k = 1; k <= NCLIENTS; k++)); do
    [ "${ST[$k]}" = up ] || continue
    if [ -n "${PR_OUT[$k]:-}" ]; then
      [ "$now" -ge "${PR_END[$k]}" ] || continue
      alive "${LAB_PROBE_SPID[${PR_OUT[$k]}.up]}" && continue
      alive "${LAB_PROBE_SPID[${PR_OUT[$k]}.down]}" && continue
      PR_OUT[$k]=""
    fi
    secs=$(( left < ROUND_S ? left : ROUND_S ))
    [ "$secs" -ge 5 ] || continue
    probe_round_start "$k" "$now" "$secs"
  done
}

# --- samples --------------------------------------------------------------------

samples=$dir/samples.txt  # "T_S RSS_KB SESSIONS CONNECTIONS DATA_KB"
: >"$samples"
NEXT_SAMPLE=$T0
NEXT_PROGRESS=$(( T0 + 60000 ))
# server_status: the server's status as JSON, in REPLY.
server_status() {
  REPLY=$("$JVPN_BIN" status --json -s "$ssock" 2>/dev/null) && [ -n "$REPLY" ]
}
sample() {
  local now=$1 rss data st
  read -r rss data < <(awk '$1 == "VmRSS:" { r = $2 } $1 == "VmData:" { d = $2 }
    END { print r, d }' "/proc/$server_pid/status" 2>/dev/null)
  [ -n "$rss" ] && [ -n "$data" ] || return 0
  if server_status; then
    st=$(printf '%s' "$REPLY" |
      jq -r '"\(.sessions | length) \(.connections)"' 2>/dev/null)
  fi
  echo "$(( (now - T0) / 1000 )) $rss ${st:-? ?} $data" >>"$samples"
  if [ "$now" -ge "$NEXT_PROGRESS" ]; then
    tsec "$now"
    lab_note "t=${REPLY}s: server RSS $rss kB, VmData $data kB, sessions" \
      "and connections" \
      "${st:-?}, faults so far: rebind ${NF[rebind]}, blackhole" \
      "$(( NF[bh_short] + NF[bh_long] )), loss ${NF[loss]}, restart" \
      "${NF[restart]}, problems ${#PROBLEMS[@]}"
    NEXT_PROGRESS=$(( NEXT_PROGRESS + 60000 ))
  fi
}

# --- the churn --------------------------------------------------------------------

lab_note "churn for $SECONDS_RUN s"
for ((k = 1; k <= NCLIENTS; k++)); do
  probe_round_start "$k" "$T0" "$ROUND_S" || die "probe rounds do not start"
done
# The first fault after one round of undisturbed traffic at most.
rnd_in 2000 5000
NEXT_DRAW=$(( T0 + REPLY ))
# Bounded: the churn's time, then the winding down (a blackhole, a loss,
# a restart: 30 s at most) and the last probe rounds (ROUND_S + 2 s).
HARD_END=$(( T_END + 30000 + (ROUND_S + 5) * 1000 ))
while :; do
  lab_now_ms
  now=$REPLY
  if ! alive "$server_pid"; then
    problem "the server exited during the churn"
    break
  fi
  faults_undo "$now"
  restarts_step "$now"
  probes_step "$now"
  if [ "$now" -ge "$NEXT_SAMPLE" ]; then
    sample "$now"
    NEXT_SAMPLE=$(( NEXT_SAMPLE + SAMPLE_S * 1000 ))
  fi
  if [ "$now" -lt "$T_END" ]; then
    if [ "$now" -ge "$NEXT_DRAW" ]; then
      fault_draw "$now"
      rnd_in "$DRAW_MIN_MS" "$DRAW_MAX_MS"
      NEXT_DRAW=$(( now + REPLY ))
    fi
  else
    busy=0
    [ "$LOSS_OFF" = 0 ] && [ "${#PENDING[@]}" = 0 ] || busy=1
    for ((k = 1; k <= NCLIENTS; k++)); do
      case "${ST[$k]}" in up|dead) ;; *) busy=1 ;; esac
      [ "${BH_OFF[$k]}" = 0 ] || busy=1
    done
    [ "$busy" = 0 ] && break
    if [ "$now" -ge "$HARD_END" ]; then
      problem "the churn did not wind down within $(( (HARD_END - T_END) / 1000 )) s"
      break
    fi
  fi
  sleep "$TICK"
done
lab_now_ms
T_CHURN_END=$REPLY
# Whatever is left (a failed wind-down) goes now.
lab_loss 0 "$rt" || true
for ((k = 1; k <= NCLIENTS; k++)); do lab_blackhole_off "$rt" "${RIF[$k]}"; done
lab_note "churn over after $(( (T_CHURN_END - T0) / 1000 )) s"

# --- the end state --------------------------------------------------------------

# shellcheck disable=SC2317 # called through lab_wait_for
# settled: the server lists one session per client, each ATTACHED, and
# each client says ATTACHED too.
settled() {
  local k st
  server_status || return 1
  [ "$(printf '%s' "$REPLY" | jq -r --argjson n "$NCLIENTS" \
    '(.sessions | length) == $n and ([.sessions[]
      | select(.state == "ATTACHED") | .peer] | unique | length) == $n' \
    2>/dev/null)" = true ] || return 1
  for ((k = 1; k <= NCLIENTS; k++)); do
    st=$("$JVPN_BIN" status --json -s "$dir/client$k.sock" 2>/dev/null |
      jq -r '.session_state' 2>/dev/null)
    [ "$st" = ATTACHED ] || return 1
  done
}
end_ok=1
if ! alive "$server_pid"; then
  end_ok=0
elif ! lab_wait_for "every session ATTACHED" 45 settled; then
  server_status
  problem "not every client's session is ATTACHED 45 s after the churn: $(
    printf '%s' "$REPLY" | jq -c '[.sessions[] | [.peer, .state]]' 2>/dev/null)"
  end_ok=0
fi

# Each client's audit file names its current session (the writer is a
# thread of its own): the accounting below maps sessions by them.
# shellcheck disable=SC2317 # called through lab_wait_for
client_audits_ok() {
  local k id
  for ((k = 1; k <= NCLIENTS; k++)); do
    id=$("$JVPN_BIN" status --json -s "$dir/client$k.sock" 2>/dev/null |
      jq -r '.session' 2>/dev/null)
    lab_fo_hex "$id"
    [ -n "$REPLY" ] &&
      grep -q "\"session\":\"$REPLY\"" "$dir/client$k.audit.jsonl" ||
      return 1
  done
}
if [ "$end_ok" = 1 ] &&
   ! lab_wait_for "the clients' audit files" 5 client_audits_ok; then
  problem "a client's audit file does not name its current session"
fi

# A last round of 5 s on every client at once: traffic both ways.
declare -A FINAL=()
if [ "$end_ok" = 1 ]; then
  lab_now_ms
  for ((k = 1; k <= NCLIENTS; k++)); do
    [ "${ST[$k]}" = up ] || continue
    probe_round_start "$k" "$REPLY" 5 final || true
  done
  for ((k = 1; k <= NCLIENTS; k++)); do
    [[ ${PR_OUT[$k]:-} == *.final ]] || continue
    # shellcheck disable=SC2034 # fw: lab_probe2_end's worse direction
    declare -A fu=() fd=() fw=()
    if lab_probe2_end "${PR_OUT[$k]}" fu fd fw; then
      FINAL[$k]="up ${fu[longest_gap_ms]} ms / down ${fd[longest_gap_ms]} ms"
    else
      problem "client$k's tunnel does not pass traffic at the end: $REPLY"
      FINAL[$k]="none"
    fi
  done
fi

# No connection left over once the dead ones have timed out.
# shellcheck disable=SC2317 # called through lab_wait_for
connections_n() {
  server_status || return 1
  [ "$(printf '%s' "$REPLY" | jq -r '.connections')" = "$NCLIENTS" ]
}
if alive "$server_pid" &&
   ! lab_wait_for "one connection per client" 20 connections_n; then
  server_status
  problem "the server holds $(printf '%s' "$REPLY" | jq -r '.connections') \
connections for $NCLIENTS clients"
fi
lab_now_ms
sample "$REPLY"

# Every audit record on disk before it is read: the file has as many
# lines as the server says it wrote.
# shellcheck disable=SC2317 # called through lab_wait_for
audit_flushed() {
  server_status || return 1
  [ "$(wc -l <"$saudit")" -ge "$(printf '%s' "$REPLY" |
    jq -r '.audit_written')" ]
}
if alive "$server_pid"; then
  lab_wait_for "the audit file" 5 audit_flushed ||
    problem "the audit file lags behind audit_written"
  server_status
  AUDIT_DROPPED=$(printf '%s' "$REPLY" | jq -r '.audit_dropped')
  [ "$AUDIT_DROPPED" = 0 ] ||
    problem "$AUDIT_DROPPED audit records dropped: the accounting is incomplete"
else
  problem "the server is gone ($(tail -n 3 "$slog" | tr '\n' ' '))"
fi

# --- the accounting ---------------------------------------------------------------
#
# Which client each session belongs to: the clients' own audit logs name
# every session they were born into.
owners=$dir/owners.txt   # "HEX K"
: >"$owners"
for ((k = 1; k <= NCLIENTS; k++)); do
  jq -r --arg k "$k" 'select(.event == "session_born") | "\(.session) \($k)"' \
    "$dir/client$k.audit.jsonl" 2>/dev/null >>"$owners"
done
# The server's records, one line each: "HEX KIND EVENT REASON TO".
events=$dir/events.txt
jq -r '"\(.session // "-") \(.kind) \(.event) \(.reason // "-") \(.to // "-")"' \
  "$saudit" >"$events" 2>/dev/null ||
  problem "the server's audit log does not parse"

# count_by KIND [TO]: the server's records of KIND (ending in state TO),
# by reason, "REASON n, ...", most first, in REPLY.
# shellcheck disable=SC2016 # awk's own variables
count_by() {
  REPLY=$(awk -v kind="$1" -v to="${2:-}" '
    $2 == kind && (to == "" || $5 == to) { n[$4]++ }
    END { for (r in n) print n[r], r }' "$events" | sort -k1,1nr -k2 |
    awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
  REPLY=${REPLY:-none}
}
count_by transition TERMINATED
TERMS=$REPLY
count_by switch
SWITCHES=$REPLY
count_by transition
TRANSITIONS=$REPLY
count_by denial
DENIALS=$REPLY
count_by security
SECURITY=$REPLY
REATTACHES=$(awk '$2 == "transition" && $4 == "REATTACH_ACCEPT"' "$events" |
  wc -l)
NSWITCH=$(awk '$2 == "switch"' "$events" | wc -l)

# Per client: births, terminations within policy (a restart's), others.
# shellcheck disable=SC2016 # awk's own variables
awk -v n="$NCLIENTS" '
  FNR == NR { owner[$1] = $2; next }
  $3 == "session_born" {
    k = ($1 in owner) ? owner[$1] : 0; born[k]++ }
  $2 == "transition" && $5 == "TERMINATED" {
    k = ($1 in owner) ? owner[$1] : 0
    if ($4 == "PEER_CLOSED" || $4 == "POLICY_TERMINATION") ok[k]++
    else { bad[k]++; badr[k] = badr[k] " " $1 ":" $4 } }
  END { for (k = 0; k <= n; k++)
          printf "%d %d %d %d%s\n", k, born[k], ok[k], bad[k], badr[k] }
' "$owners" "$events" >"$dir/accounts.txt"

LOST=0
UNEXPECTED_BIRTHS=0
declare -A ACC=()
while read -r k born ok bad rest; do
  restarts=0
  [ "$k" = 0 ] || restarts=${RESTARTS[$k]}
  # A restart explains one end (with a restart's reason) and one birth.
  lost=$(( bad + (ok > restarts ? ok - restarts : 0) ))
  extra=$(( born - 1 - restarts ))
  [ "$k" != 0 ] || extra=$born
  if [ "$lost" -gt 0 ]; then
    LOST=$(( LOST + lost ))
    problem "client$k: $lost session(s) lost outside policy (ended:$rest;" \
      "$ok ended by restarts' reasons for $restarts restarts)"
  fi
  if [ "$extra" -ne 0 ]; then
    UNEXPECTED_BIRTHS=$(( UNEXPECTED_BIRTHS + (extra > 0 ? extra : -extra) ))
    if [ "$k" = 0 ]; then
      problem "$born session(s) born at the server that no client started"
    else
      problem "client$k: $born births for $restarts restarts (want $(( restarts + 1 )))"
    fi
  fi
  ACC[$k]="$born $(( ok + bad ))"
done <"$dir/accounts.txt"

# --- memory --------------------------------------------------------------------------

# mem_stats COL ARRAY: of the samples' column COL (2: VmRSS, 5: VmData),
# the first, max and last values, the first and last windows' means
# after the warm-up (a, b; "-" when too few samples), the window (win,
# s), the drift (b - a), its limit, and ok (0: over the limit), into the
# associative array named ARRAY.
# shellcheck disable=SC2034,SC2154 # a nameref
mem_stats() {
  local line f m l a b w
  local -n mem_st=$2
  line=$(awk -v c="$1" -v w="$MEM_WARMUP_S" '
    { t[NR] = $1; r[NR] = $c; if ($c > max) max = $c }
    END {
      if (NR == 0) exit
      n = 0
      for (i = 1; i <= NR; i++) if (t[i] >= w) { n++; s[n] = i }
      if (n < 2) { print r[1], max, r[NR], "-", "-", 0; exit }
      span = t[s[n]] - t[s[1]]
      win = span / 3 < 60 ? span / 3 : 60
      for (j = 1; j <= n; j++) {
        i = s[j]
        if (t[i] <= t[s[1]] + win) { a += r[i]; na++ }
        if (t[i] >= t[s[n]] - win) { b += r[i]; nb++ }
      }
      printf "%d %d %d %.0f %.0f %d\n", r[1], max, r[NR], a / na, b / nb,
        win
    }' "$samples")
  read -r f m l a b w <<<"$line"
  mem_st=([first]=${f:-0} [max]=${m:-0} [last]=${l:-0} [a]=${a:--}
          [b]=${b:--} [win]=${w:-0} [drift]=- [limit]=0 [ok]=1)
  [ "${mem_st[a]}" != - ] || return 0
  mem_st[drift]=$(( mem_st[b] - mem_st[a] ))
  mem_st[limit]=$(( mem_st[a] * MEM_GROW_PCT / 100 ))
  [ "${mem_st[limit]}" -ge "$MEM_GROW_MIN_KB" ] ||
    mem_st[limit]=$MEM_GROW_MIN_KB
  [ "${mem_st[drift]}" -le "${mem_st[limit]}" ] || mem_st[ok]=0
}
# shellcheck disable=SC2034 # read through a nameref in the table
declare -A RSS=() DATA=()
mem_stats 2 RSS
mem_stats 5 DATA
if [ "${DATA[ok]}" = 0 ]; then
  problem "the server's allocated memory (VmData) grew by ${DATA[drift]} kB" \
    "(limit ${DATA[limit]} kB)"
fi

# --- logs -----------------------------------------------------------------------------

mapfile -t bad < <(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' \
  "$dir"/*.log 2>/dev/null)
[ "${#bad[@]}" = 0 ] || problem "sanitizer reports in ${bad[*]}"

# --- the table ------------------------------------------------------------------------

# gaps DIR: "worst / median ms (N rounds, D dead), loss P %" of the rounds.
gaps() {
  REPLY=$(awk -v d="$1" '$2 == d { g[++n] = $3; lost += $4; want += $5;
      dead += $6 }
    END {
      if (n == 0) { print "no rounds"; exit }
      for (i = 2; i <= n; i++) { v = g[i]; j = i - 1
        while (j > 0 && g[j] > v) { g[j + 1] = g[j]; j-- } g[j + 1] = v }
      med = n % 2 ? g[(n + 1) / 2] : (g[n / 2] + g[n / 2 + 1]) / 2
      printf "%.0f / %.0f ms (%d rounds, %d ended in a fault), loss %.2f %%",
        g[n], med, n, dead, want ? 100 * lost / want : 0 }' "$rounds")
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

table=$dir/summary.md
lab_now_ms
{
  echo "### Soak: $NCLIENTS clients, $SECONDS_RUN s, seed $SEED"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| churn | $(( (T_CHURN_END - T0) / 1000 )) s, then $(( (REPLY - T_CHURN_END) / 1000 )) s of checks; \`SOAK_SEED=$SEED\`; build $BUILD |"
  echo "| faults | rebind ${NF[rebind]}, blackhole < ${IDLE_MS} ms ${NF[bh_short]}, blackhole >= ${IDLE_MS} ms ${NF[bh_long]} (longest $BH_LONGEST ms), loss ${NF[loss]} (${LOSS_PCTS# } %; $(( LOSS_TOTAL_MS / 1000 )) s in all), restart ${NF[restart]} (longest $RESTART_MAX_MS ms to the tunnel back); ${NF[skipped]} draws skipped (client busy or over its budget) |"
  echo "| reattaches | $REATTACHES |"
  echo "| switches | $NSWITCH: $SWITCHES |"
  echo "| transitions | $TRANSITIONS |"
  echo "| terminations | $TERMS |"
  echo "| denials | $DENIALS |"
  echo "| refused attaches | $SECURITY |"
  echo "| births | $(awk '{ s += $2 } END { print s + 0 }' "$dir/accounts.txt") (clients started + restarts: $(( NCLIENTS + NF[restart] ))) |"
  echo "| **sessions lost outside policy** | **$LOST** (unexpected births: $UNEXPECTED_BIRTHS) |"
  gaps up
  echo "| probe gaps up (worst / median of rounds) | $REPLY |"
  gaps down
  echo "| probe gaps down (worst / median of rounds) | $REPLY |"
  for m in RSS DATA; do
    declare -n ms=$m
    label=VmRSS
    [ "$m" = RSS ] || label=VmData
    echo "| server $label | first $(mb "${ms[first]}"), max $(mb "${ms[max]}"), last $(mb "${ms[last]}") |"
    [ "${ms[drift]}" != - ] || continue
    printf '| %s drift | %d kB: %s s windows after %s s, %s -> %s' "$label" \
      "${ms[drift]}" "${ms[win]}" "$MEM_WARMUP_S" "$(mb "${ms[a]}")" \
      "$(mb "${ms[b]}")"
    if [ "$m" = DATA ]; then
      echo " (limit ${ms[limit]} kB) |"
    else
      echo " (not judged: fixed tables filling, MEM_GROW_PCT) |"
    fi
  done
  unset -n ms
  echo "| samples | $(wc -l <"$samples") every $SAMPLE_S s; sessions at the server max $(awk '$3 != "?" && $3 > m { m = $3 } END { print m + 0 }' "$samples"), connections max $(awk '$4 != "?" && $4 > m { m = $4 } END { print m + 0 }' "$samples") |"
  echo
  echo "| client | underlay | restarts | births | ended | final traffic (longest gap) |"
  echo "|---|---|---|---|---|---|"
  for ((k = 1; k <= NCLIENTS; k++)); do
    read -r b e <<<"${ACC[$k]:-0 0}"
    echo "| client$k | IPv${LAB_UNDERLAY[client$k]} | ${RESTARTS[$k]} | $b | $e | ${FINAL[$k]:-none} |"
  done
  echo
  if [ "${#PROBLEMS[@]}" = 0 ]; then
    echo "Result: **PASS**"
  else
    echo "Result: **FAIL**"
    echo
    for p in "${PROBLEMS[@]}"; do echo "- $p"; done
  fi
} >"$table"
cat "$table"
if [ -n "${SOAK_OUT:-}" ]; then
  cp "$table" "$SOAK_OUT" || lab_note "could not write $SOAK_OUT"
fi

if [ "${#PROBLEMS[@]}" != 0 ]; then
  keep_logs
  exit 1
fi
exit 0
