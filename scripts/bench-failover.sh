#!/usr/bin/env bash
# scripts/bench-failover.sh: how long traffic stops when the client's
# active uplink fails, for jvpn-quic with two [uplink]s next to
# wireguard-go and OpenVPN 2.6 on the same two-uplink lab, in the same run
# (tests/lab/lab.sh, lab_fo_topo):
#
#   client1 eth0 198.18.1.2  --- c1  [~10 ms RTT]  router  srv --- server
#           eth1 198.18.11.2 --- c1b [~40 ms RTT]  (masquerade) 198.18.3.2
#     jvpn-quic:    [uplink] eth0 priority 1, eth1 priority 2 (one QUIC
#                   connection each, eth1 a warm standby), UDP 443;
#                   tunnel 198.18.200.2 <-> 198.18.200.1
#     wireguard-go: persistent-keepalive 25 s, UDP 51820; tunnel
#                   198.19.250.2 <-> 198.19.250.1
#     OpenVPN 2.6:  p2p, static key, UDP 1194, --float, --ping 1
#                   --ping-restart 5, client --nobind; tunnel
#                   198.19.251.2 <-> 198.19.251.1
#
# wireguard-go and OpenVPN have one socket, not bound to an interface, and
# follow the routing table: eth0's default routes (metric 0), else eth1's
# (metric 2000), as lab_uplink2_add makes them. All three run at once and
# each fault hits all three. Each tunnel carries two 200 packets/s probe
# streams (tests/tools/probe) at once, client -> server (up) and server ->
# client (down); each direction's longest gap between arrivals, packets
# lost and, for a and b, how long after the fault's end traffic came back
# are reported, and the headline is the worse direction
# (scripts/bench-lib.sh). Scenarios (the issue's letters):
#
#   a  silent blackhole of eth0 for BENCH_HOLE_MS (2000): nft drop in the
#      router, the link and its routes stay up
#   b  carrier loss: client1's eth0 down for 2 s (its routes go with it),
#      then up with its routes back
#   d  eth0 flaps: down 500 ms, up 500 ms, for BENCH_FLAP_S (30) s
#   f  30 % random loss each way on eth0 for 5 s
#
# After each run the lab is put back and the script waits until all three
# tunnels carry traffic and jvpn-quic is back on eth0 with eth1 a READY
# standby (after its stability window): every run starts from the same
# state. jvpn-quic's client runs with the default failover policy except
# max_switches_per_min = 64 (the maximum), so that the benchmark's own
# pace (two switches per run) never meets the flap limit. "switches" is
# the number of activations the server accepted (TRANSPORT_SWITCH_OK) in
# the run, the return to eth0 included; the other two have no such thing.
# The server's [policy] gets the same limit (it enforces its own).
#
# Usage: scripts/bench-failover.sh [-n RUNS] [-s "a b d f"] [-o FILE]
# Environment (the flags win):
#   BENCH_RUNS=N (or RUNS=N)  runs per scenario (default 10)
#   BENCH_SCENARIOS="a f"     run only these
#   BENCH_OUT=FILE            also write the results as Markdown to FILE
#   BENCH_HOLE_MS, BENCH_FLAP_S  the fault lengths above
#   BENCH_JVPN=0              only the references (wireguard-go, OpenVPN)
#   JVPN_BIN, LAB_PROBE_BIN, NFQ_DELAY_BIN  the binaries (as tests/lab/lab.sh)
#
# Exit 0 when every run measured something, 1 when the setup failed or a
# run did not, 77 (skip) without root, /dev/net/tun or 'ip netns'.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$srcdir/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
. "$srcdir/scripts/bench-lib.sh"

RUNS=${BENCH_RUNS:-${RUNS:-10}}
SCEN=${BENCH_SCENARIOS:-a b d f}
OUT=${BENCH_OUT:-}
while getopts 'n:s:o:h' opt; do
  case "$opt" in
    n) RUNS=$OPTARG ;;
    s) SCEN=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
       exit 2 ;;
  esac
done

bench_env bench-failover
die() {
  echo "bench-failover: FAILED: $1" >&2
  shift
  lab_tail "$@" >&2
  exit 1
}
case "$RUNS" in ''|*[!0-9]*|0) die "RUNS must be a positive number" ;; esac
lab_find_bin || die "no jvpn-quic binary (build it, or set JVPN_BIN)"
lab_probe_find || die "no probe binary (make tests/tools/probe)"
lab_nfq_find || die "no nfq_delay (make tests/tools/nfq_delay)"
for tool in nft conntrack iptables wireguard-go wg openvpn; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/deps.sh)"
done

HOLE_MS=${BENCH_HOLE_MS:-2000}
DOWN_MS=2000
FLAP_HALF_MS=500
FLAP_S=${BENCH_FLAP_S:-30}
LOSS_PCT=30
LOSS_S=5
read -r -a SCENARIOS <<<"$SCEN"
declare -A TITLE=(
  [a]="a: silent blackhole of eth0, $HOLE_MS ms"
  [b]="b: carrier loss (eth0 down), $DOWN_MS ms"
  [d]="d: eth0 flaps ${FLAP_HALF_MS}/${FLAP_HALF_MS} ms for $FLAP_S s"
  [f]="f: $LOSS_PCT % loss each way on eth0 for $LOSS_S s")
declare -A SECS=([a]=$(( HOLE_MS / 1000 + 4 )) [b]=$(( DOWN_MS / 1000 + 4 ))
                 [d]=$(( FLAP_S + 4 )) [f]=$(( LOSS_S + 4 )))
for s in "${SCENARIOS[@]}"; do
  [ -n "${TITLE[$s]:-}" ] || die "unknown scenario '$s' (a b d f)"
done
# The tunnels (scripts/bench-lib.sh): j(vpn-quic), w(ireguard-go), o(penvpn).
BENCH_KINDS=(j w o)
JVPN=${BENCH_JVPN:-1}
if [ "$JVPN" = 0 ]; then BENCH_KINDS=(w o); fi

lab_init
lab_tmpdir
dir=$REPLY
BENCH_DIR=$dir
lab_fo_topo || die "the failover lab: $REPLY"
echo "bench-failover: uplink RTTs: eth0 ${LAB_FO_RTT[1]} ms, eth1" \
  "${LAB_FO_RTT[2]} ms" >&2
lab_gen_vpn_configs "$dir" client1 || die "jvpn-quic key generation"
cl=${LAB_NS[client1]}
sv=${LAB_NS[server]}
slog=$dir/jvpn-server.log
clog=$dir/jvpn-client.log
saudit=$dir/server-audit.jsonl
csock=$dir/client1.sock
POLICY="max_switches_per_min = 64"

sed -i "0,/^log_level/s||audit_log = $saudit\n&|" "$dir/server.conf"
# The server enforces its own limits on each activation: the same.
printf '\n[policy]\n%s\n' "$POLICY" >>"$dir/server.conf"
lab_fo_write_client_conf "$dir/client1.conf" "$dir/client1" \
  "$dir/client-audit.jsonl" "$POLICY" || die "writing the client config"
lab_fo_conf_get "$dir/client1.conf" policy stability_window_ms 3s
lab_fo_ms "$REPLY"
STAB_MS=$REPLY

lab_vpn_server_start "$slog" -c "$dir/server.conf" \
  --control "$dir/server.sock" || die "jvpn-quic server: $REPLY" "$slog"
at_rest() {
  [ "$JVPN" = 0 ] && return 0
  lab_fo_status "$csock" && [ "${LAB_FO_ST[active]}" = eth0 ] &&
    [[ " ${LAB_FO_ST[uplinks]} " == *" eth1:standby:READY "* ]]
}
start_client() {
  lab_vpn_client_start "$cl" "$clog" "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" \
    -c "$dir/client1.conf" --control "$csock" || return 1
  client_pid=$LAB_VPN_PID
  lab_wait_for "jvpn-quic at rest on eth0 with a standby" 15 at_rest
}
if [ "$JVPN" = 1 ]; then
  start_client || die "jvpn-quic client did not come up" "$slog" "$clog"
fi
lab_wg_pair client1 "$dir/wg" 25 || die "wireguard-go did not come up"
lab_ovpn_pair client1 "$dir/ovpn" || die "OpenVPN did not come up"

tunnel_ok() {
  if [ "$1" = j ] && [ "$JVPN" = 0 ]; then return 0; fi
  lab_ping "$cl" "${BENCH_SADDR[$1]}"
}
all_ok() { tunnel_ok j && tunnel_ok w && tunnel_ok o && at_rest; }
# why_down: which tunnel does not work, with its state, on stderr.
why_down() {
  tunnel_ok j || { echo "jvpn-quic tunnel down"; lab_tail "$slog" "$clog"; }
  lab_fo_status "$csock" &&
    echo "jvpn-quic: active '${LAB_FO_ST[active]}', uplinks" \
      "${LAB_FO_ST[uplinks]}, ${LAB_FO_ST[session_state]}"
  tunnel_ok w || { echo "wireguard-go tunnel down"
                   ip netns exec "$cl" wg show "${LAB_WG_IF[client]}"; }
  tunnel_ok o || { echo "OpenVPN tunnel down"
                   lab_tail "$dir/ovpn/ovpn-client.log"; }
  ip -n "$cl" -o link show
  ip -n "$cl" route show
} >&2

SID0=""
if [ "$JVPN" = 1 ]; then
  lab_fo_status "$csock" || die "no jvpn-quic status" "$clog"
  SID0=${LAB_FO_ST[session]}
fi
# nswitch: the activations the server accepted so far, in REPLY; every
# session counts (a restarted client has a new one).
nswitch() {
  REPLY=$(grep '"event":"switch"' "$saudit" 2>/dev/null |
    grep -c '"reason":"TRANSPORT_SWITCH_OK"')
}

# fault SCENARIO: applies the fault and takes it away; returns when done,
# with T_OFF (probe time line) set to just before the end of a and b.
fault() {
  T_OFF=""
  case "$1" in
    a) lab_fo_blackhole_on 1 || return 1
       sleep "$(awk -v m="$HOLE_MS" 'BEGIN { print m / 1000 }')"
       lab_probe_now
       T_OFF=$REPLY
       lab_fo_blackhole_off 1 ;;
    b) lab_fo_link_down 1 || return 1
       sleep "$(awk -v m="$DOWN_MS" 'BEGIN { print m / 1000 }')"
       lab_probe_now
       T_OFF=$REPLY
       lab_fo_link_up 1 ;;
    d) lab_fo_flap 1 "$FLAP_HALF_MS" "$FLAP_S" ;;
    f) lab_fo_loss 1 "$LOSS_PCT" || return 1
       sleep "$LOSS_S"
       lab_fo_loss 1 0 ;;
  esac
}

# Results: the streams' numbers in BENCH_R (scripts/bench-lib.sh);
# R[kind,scenario] a space-separated list per run, kind jsw (jvpn-quic
# activations) or jstall (runs after which the jvpn client was restarted).
declare -A R=()
nbad=0
RESTARTS=()

# restore SCENARIO K: waits until everything is back at rest; a jvpn-quic
# client that does not get there is counted and restarted, so the other
# runs still measure.
restore() {
  local n
  lab_fo_link_up 1 >/dev/null 2>&1
  lab_wait_for "all tunnels at rest" $(( STAB_MS / 1000 + 15 )) all_ok &&
    return 0
  if ! tunnel_ok j || ! at_rest; then
    echo "bench-failover: jvpn-quic not at rest after ${TITLE[$1]} run $2;" \
      "restarting the client" >&2
    why_down
    R[jstall,$1]+="$2 "
    n=$(( ${#RESTARTS[@]} + 1 ))
    lab_kill "$client_pid" TERM
    lab_wait_exit "$client_pid" 5 || { lab_kill "$client_pid" KILL
                                       lab_wait_exit "$client_pid" 2; }
    mv "$clog" "$dir/jvpn-client.$n.log"
    RESTARTS+=("$dir/jvpn-client.$n.log")
    start_client || return 1
  fi
  lab_wait_for "all tunnels at rest" 40 all_ok
}

# run_one SCENARIO K
run_one() {
  local s=$1 k=$2 sw0
  nswitch
  sw0=$REPLY
  bench_start "$s$k" "${SECS[$s]}" || return 1
  sleep 1.5
  fault "$s" || return 1
  bench_end "$s$k" "$s" "$k" "$T_OFF" || return 1
  restore "$s" "$k" || return 1
  nswitch
  R[jsw,$s]+="$(( REPLY - sw0 )) "
}

echo "bench-failover: $RUNS runs of ${SCENARIOS[*]}; jvpn-quic [policy]" \
  "$POLICY, stability window $STAB_MS ms" >&2
for s in "${SCENARIOS[@]}"; do
  for ((k = 1; k <= RUNS; k++)); do
    printf 'bench-failover: %s run %d/%d\n' "${TITLE[$s]}" "$k" "$RUNS" >&2
    if ! run_one "$s" "$k"; then
      nbad=$((nbad + 1))
      echo "bench-failover: run failed" >&2
      why_down
      lab_fo_link_up 1 >/dev/null 2>&1
      lab_wait_for "the tunnels to work" 40 all_ok || {
        why_down
        die "the tunnels do not come back"
      }
    fi
  done
done
SID_NOTE="jvpn-quic not run"
if [ "$JVPN" = 1 ]; then
  lab_pid_alive "$client_pid" ||
    echo "bench-failover: the jvpn client exited" >&2
  lab_fo_status "$csock"
  SID_NOTE="jvpn-quic session ${LAB_FO_ST[session]:-?}"
  if [ "${LAB_FO_ST[session]:-}" = "$SID0" ] &&
     [ "${#RESTARTS[@]}" -eq 0 ]; then
    SID_NOTE+=" throughout (never terminated, never replaced)"
  else
    SID_NOTE+=" at the end, $SID0 at the start"
  fi
fi


ROWS=("$BENCH_HEADER|jvpn-quic switches")
for s in "${SCENARIOS[@]}"; do
  for kind in "${BENCH_KINDS[@]}"; do
    bench_row "$s" "${TITLE[$s]}" "$kind"
    row=$REPLY
    if [ "$kind" = j ]; then
      bench_stat "${R[jsw,$s]:-}" median
      row+="|$REPLY"
      bench_stat "${R[jsw,$s]:-}" max
      row+=" / $REPLY"
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
    for kind in jsw jstall; do
      if [ -n "${R[$kind,$s]:-}" ]; then
        printf '%s %s: %s\n' "$s" "$kind" "${R[$kind,$s]% }"
      fi
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
echo "$SID_NOTE"

if [ -n "$OUT" ]; then
  {
    echo "## Results: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(uname -srm), $(nproc) CPUs" \
      "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))."
    echo "jvpn-quic $(git -C "$srcdir" describe --always --dirty 2>/dev/null ||
      echo '(no git)'), [policy] $POLICY (else defaults: detect_k 4, floor" \
      "150 ms, stability $STAB_MS ms, cooldown 1.5 s);" \
      "wireguard-go $(wireguard-go --version 2>/dev/null | head -n1 |
      awk '{ print $NF }'), persistent-keepalive 25 s;" \
      "$(openvpn --version 2>/dev/null | head -n1 | awk '{ print $1, $2 }')," \
      "static key, --float --ping 1 --ping-restart 5."
    echo "Uplink RTTs: eth0 ${LAB_FO_RTT[1]} ms, eth1 ${LAB_FO_RTT[2]} ms." \
      "$RUNS runs per scenario; load average at the end $LOADAVG;" \
      "$SID_NOTE."
    echo
    bench_legend
    echo
    bench_print_table md "${ROWS[@]}"
    echo
    echo "Per run (S KIND DIR METRIC: one value per run; KIND j jvpn-quic," \
      "w wireguard-go, o OpenVPN; dead: the runs whose stream never came" \
      "back; jsw: activations accepted by the server, the return included;" \
      "jstall: jvpn-quic client restarted after the run):"
    echo
    echo '```'
    raw
    echo '```'
  } >"$OUT"
  echo "bench-failover: wrote $OUT" >&2
fi
[ "$nbad" -eq 0 ]
