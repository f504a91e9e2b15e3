#!/usr/bin/env bash
# tests/netns/fairness.sh: one client that cannot keep up must not slow
# the server's other clients down (docs/decisions.md D28).
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn), both clients
# attached; the server sends (iperf3 TCP, server -> client: the download
# direction, where the server's TUN reads are shared by every client):
#
#   (a) client2 alone: its download rate is the reference.
#   (b) client1 downloads; after 2 s its link goes dead (blackhole at the
#       router) for 4 s; a 200 packets/s probe stream server -> client2
#       has no gap over GAP_MAX_MS and loses at most LOSS_MAX packets.
#   (c) both download, client1 blackholed as in (b): client2 keeps at
#       least FAIR_SHARE of its reference rate over the blackhole.
#   (d) client1's link is slow (token bucket SLOW_RATE at the router)
#       while both download: client2 again keeps FAIR_SHARE of its rate.
#   (e) client1 downloads over the slow link; client2's probe stream as
#       in (b).
#
# The test runs after the other netns tests under make -j (Makefile.am,
# FAIRNESS_AFTER), since it compares rates within its own run.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. FAIR_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init fairness

# A blocked peer used to pause every download (one global TUN pause): the
# bystander fell to a few per cent. Margins hold on a loaded 2-core box.
FAIR_SHARE=${FAIR_SHARE:-0.5}
GAP_MAX_MS=${FAIR_GAP_MAX_MS:-300}
# Probe packets lost: the kernel's TUN ring is one FIFO for every client,
# so when the server's CPU cannot keep up with a bulk download the
# bystander loses what the bulk flow loses there (about 1 %, more on a
# loaded machine); a stall would lose far more.
LOSS_MAX=${FAIR_LOSS_MAX:-80}  # of 1600 probe packets: 5 %
SLOW_RATE=${FAIR_SLOW_RATE:-20mbit}
PORT1=5201
PORT2=5202
PROBE_PORT=9100

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_require_tools iperf3 jq tc nft
lab_note "using $JVPN_BIN"

lab_test_logdir FAIR_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
rt=${LAB_NS[router]}

lab_vpn_server_start "$dir/server.log" -c "$dir/server.conf" \
  --control "$dir/server.sock" || lab_setup_fail "server: $REPLY"
lab_vpn_client_start "$c1" "$dir/client1.log" "$LAB_CLIENT1_IN4" - \
  -c "$dir/client1.conf" || lab_setup_fail "client1 did not attach"
lab_vpn_client_start "$c2" "$dir/client2.log" "$LAB_CLIENT2_IN4" - \
  -c "$dir/client2.conf" || lab_setup_fail "client2 did not attach"
if ! lab_wait_tunnel "$c1" 10 || ! lab_wait_tunnel "$c2" 10; then
  lab_setup_fail "a tunnel does not pass pings"
fi

# iperf_start NS ADDR PORT: an iperf3 server for one test, bound to ADDR.
iperf_start() {
  lab_spawn "$1" "$dir/iperf-s-$3.log" iperf3 -s -1 -B "$2" -p "$3"
  lab_wait_for "iperf3 on $3" 5 lab_tcp_listening "$1" "$3"
}

# download NS ADDR PORT SECONDS OUT: the server sends to ADDR (in NS) for
# SECONDS, with 1 s intervals, JSON into OUT; in the background, its PID
# in REPLY.
download() {
  iperf_start "$1" "$2" "$3" || return 1
  lab_spawn "$sv" "$5" timeout $(($4 + 15)) iperf3 -c "$2" -p "$3" \
    -t "$4" -i 1 -J
}

# rate_mbit OUT FROM TO: the mean of OUT's 1 s intervals FROM <= start <
# TO, in Mbit/s, in REPLY.
rate_mbit() {
  REPLY=$(jq -r --argjson a "$2" --argjson b "$3" \
    '[.intervals[].sum | select(.start >= $a - 0.01 and .start < $b - 0.01)
      | .bits_per_second] | if length == 0 then "none"
      else (add / length / 1e6 | floor) end' "$1" 2>/dev/null)
  [ -n "$REPLY" ] && [ "$REPLY" != none ] && [ "$REPLY" != null ]
}

# wait_download PID SECONDS: the iperf3 run ended well.
wait_download() {
  lab_wait_exit "$1" $(($2 + 20)) && [ "$REPLY" = 0 ]
}

# fair_enough RATE REF: RATE >= FAIR_SHARE * REF.
fair_enough() { ! lab_lt "$1" "$(awk -v r="$2" -v s="$FAIR_SHARE" \
  'BEGIN { print r * s }')"; }

# gate_refusals: how often a busy queue was kept from pausing TUN reads
# because the downlink was shared (the server's status), in REPLY.
gate_refusals() {
  REPLY=$("$JVPN_BIN" status --json -s "$dir/server.sock" 2>/dev/null |
    jq -r '.tun_pauses_refused')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# --- (a) client2 alone ------------------------------------------------------
ref=""
scenario_a() {
  local pid
  download "$c2" "$LAB_CLIENT2_IN4" "$PORT2" 4 "$dir/a.json" ||
    { lab_fail a "iperf3 did not start"; return 1; }
  pid=$REPLY
  if ! wait_download "$pid" 4 || ! rate_mbit "$dir/a.json" 1 4; then
    lab_fail a "client2's download failed" "$dir/a.json" "$dir/server.log"
    return 1
  fi
  ref=$REPLY
  lab_pass a "client2 alone: $ref Mbit/s (s 1-4)"
}

# blackhole_client1 SECONDS_BEFORE SECONDS: client1's link at the router
# goes dead after SECONDS_BEFORE, for SECONDS.
blackhole_client1() {
  sleep "$1"
  lab_blackhole_on "$rt" c1
  sleep "$2"
  lab_blackhole_off "$rt" c1
}

# probe_ok NAME OUT: the probe stream OUT ended with no gap over
# GAP_MAX_MS and at most LOSS_MAX of its packets lost; REPLY has its
# numbers.
probe_ok() {
  local -A pr=()
  if ! lab_probe_end "$2" pr; then
    lab_fail "$1" "probe to client2: $REPLY" "$dir/server.log"
    return 1
  fi
  REPLY+=", max delay ${pr[max_delay_ms]} ms"
  if lab_lt "$GAP_MAX_MS" "${pr[longest_gap_ms]}" ||
     [ "${pr[lost]}" -gt "$LOSS_MAX" ]; then
    lab_fail "$1" "client2's probe stream: $REPLY" "$dir/server.log"
    return 1
  fi
}

# --- (b) a light bystander next to a blackholed bulk download ---------------
scenario_b() {
  local p1
  download "$c1" "$LAB_CLIENT1_IN4" "$PORT1" 8 "$dir/b1.json" ||
    { lab_fail b "iperf3 to client1 did not start"; return 1; }
  p1=$REPLY
  lab_probe_start "$sv" "$c2" "$LAB_CLIENT2_IN4" "$PROBE_PORT" 8 \
    "$dir/b.probe" || { lab_fail b "probe did not start"; return 1; }
  blackhole_client1 2 4
  lab_wait_exit "$p1" 30 || lab_kill "$p1" KILL
  probe_ok b "$dir/b.probe" || return 1
  lab_pass b "client2's probe while client1's download was blackholed: $REPLY"
}

# --- (c) a bulk bystander next to a blackholed bulk download ----------------
scenario_c() {
  local p1 p2 rate refused0
  gate_refusals || { lab_fail c "no tun_pauses_refused in the status"; return 1; }
  refused0=$REPLY
  download "$c1" "$LAB_CLIENT1_IN4" "$PORT1" 9 "$dir/c1.json" ||
    { lab_fail c "iperf3 to client1 did not start"; return 1; }
  p1=$REPLY
  download "$c2" "$LAB_CLIENT2_IN4" "$PORT2" 8 "$dir/c2.json" ||
    { lab_fail c "iperf3 to client2 did not start"; return 1; }
  p2=$REPLY
  blackhole_client1 2 4
  if ! wait_download "$p2" 8 || ! rate_mbit "$dir/c2.json" 3 6; then
    lab_fail c "client2's download failed" "$dir/c2.json" "$dir/server.log"
    return 1
  fi
  rate=$REPLY
  lab_wait_exit "$p1" 30 || lab_kill "$p1" KILL
  if ! fair_enough "$rate" "$ref"; then
    lab_fail c "client2 fell to $rate Mbit/s (alone $ref) while client1 was blackholed" \
      "$dir/server.log"
    return 1
  fi
  # Reported, not judged: a queue only fills (and is refused a pause) when
  # the path, not the server's CPU, is the bottleneck.
  gate_refusals || { lab_fail c "no tun_pauses_refused in the status"; return 1; }
  lab_pass c "client2 kept $rate Mbit/s (alone $ref) while client1 was blackholed; $((REPLY - refused0)) pauses refused"
}

# --- (d) client1 slow while both download -----------------------------------
scenario_d() {
  local p1 p2 rate
  ip netns exec "$rt" tc qdisc add dev c1 root tbf rate "$SLOW_RATE" \
    burst 32kb latency 400ms ||
    { lab_fail d "could not shape client1's link"; return 1; }
  download "$c1" "$LAB_CLIENT1_IN4" "$PORT1" 6 "$dir/d1.json" ||
    { lab_fail d "iperf3 to client1 did not start"; return 1; }
  p1=$REPLY
  download "$c2" "$LAB_CLIENT2_IN4" "$PORT2" 6 "$dir/d2.json" ||
    { lab_fail d "iperf3 to client2 did not start"; return 1; }
  p2=$REPLY
  if ! wait_download "$p2" 6 || ! rate_mbit "$dir/d2.json" 1 6; then
    lab_fail d "client2's download failed" "$dir/d2.json" "$dir/server.log"
    return 1
  fi
  rate=$REPLY
  lab_wait_exit "$p1" 30 || lab_kill "$p1" KILL
  ip netns exec "$rt" tc qdisc del dev c1 root 2>/dev/null
  if ! fair_enough "$rate" "$ref"; then
    lab_fail d "client2 fell to $rate Mbit/s (alone $ref) next to a $SLOW_RATE client1" \
      "$dir/server.log"
    return 1
  fi
  rate_mbit "$dir/d1.json" 1 6 || REPLY="?"
  lab_pass d "client2 kept $rate Mbit/s (alone $ref) next to client1 at $REPLY Mbit/s ($SLOW_RATE link)"
}

# --- (e) a light bystander next to a slow bulk download ----------------------
scenario_e() {
  local p1
  ip netns exec "$rt" tc qdisc add dev c1 root tbf rate "$SLOW_RATE" \
    burst 32kb latency 400ms ||
    { lab_fail e "could not shape client1's link"; return 1; }
  download "$c1" "$LAB_CLIENT1_IN4" "$PORT1" 7 "$dir/e1.json" ||
    { lab_fail e "iperf3 to client1 did not start"; return 1; }
  p1=$REPLY
  sleep 1
  lab_probe_start "$sv" "$c2" "$LAB_CLIENT2_IN4" "$PROBE_PORT" 5 \
    "$dir/e.probe" || { lab_fail e "probe did not start"; return 1; }
  lab_wait_exit "$p1" 30 || lab_kill "$p1" KILL
  ip netns exec "$rt" tc qdisc del dev c1 root 2>/dev/null
  probe_ok e "$dir/e.probe" || return 1
  lab_pass e "client2's probe next to client1's $SLOW_RATE download: $REPLY"
}

if scenario_a; then
  scenario_b
  scenario_c
  scenario_d
  scenario_e
fi
lab_test_summary
