#!/usr/bin/env bash
# tests/netns/multinode.sh: three server nodes share sessions through
# Redis; BIRD redistributes each node's per-session routes over OSPF, so
# client-to-client traffic reaches whichever node serves the destination
# (issue 16 item 3; docs/operations.md, "Several nodes").
#
# The lab (tests/lab/lab_nodes.sh, lab_topo_nodes): nodes n1..n3, public
# 198.18.1.11..13 (UDP 443), backbone 198.19.254.1..3 with Redis at
# 198.19.254.100:6379; client1 198.18.21.2 and client2 198.18.22.2 behind
# the router "net". Every node runs BIRD (OSPFv2 + OSPFv3 on the
# backbone, hello 1 s, dead 4 s) and a jvpn-quic server with the same key,
# pool and [peer]s: client1 is 198.18.200.2, client2 198.18.200.3.
#
#   (r) routes, no VPN: a host route "proto 250" (LAB_NODE_RTPROTO, what
#       the server installs for each session) put on n1 reaches n2 and n3
#       through OSPF (IPv4 and IPv6), timed; traffic between two stand-in
#       clients behind n1 and n2 crosses the backbone (with strict and
#       loose rp_filter on it); the route moved from n1 to n3 follows
#       (timed); deleted, it is withdrawn everywhere (timed).
#   (b) client1 on n1, client2 on n2 (their server lists start there),
#       probe streams both ways between them; kill -9 of n1's server:
#       client1 goes on at another node with the same session and inner
#       address, client2 stays (same node, no reattach), traffic resumes;
#       the gap is printed.
#   (c) n2 cut from Redis (nft on n2's backbone, Redis's address only):
#       its clients keep working, its status says the store is
#       unreachable; then client2 is cut from n2 and moves to another
#       node. No session is ever ATTACHED at two nodes at once (audit
#       logs, per node and start, intervals compared).
#   (d) Redis killed and started again on the same append-only file: the
#       sessions are still in it, and client1, cut off for longer than the
#       QUIC idle timeout, reattaches to its session.
#
# MNODE_ROUTES_ONLY=1 runs the lab, BIRD and Redis and (r) only: no
# jvpn-quic needed. Exit 0 when all pass, 1 when one fails (also when the
# server has no multi-node mode), 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. MNODE_KEEP=1 keeps the logs.
# shellcheck disable=SC2016 # the eval'd conditions expand when run
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init multinode

# How long a route may take to reach (or leave) the other nodes: OSPF's
# flooding plus BIRD's 1 s tick and its kernel sync; generous for a loaded
# 2-core machine.
ROUTE_MAX_MS=${MNODE_ROUTE_MAX_MS:-5000}
# Client1's gap when its node dies: the QUIC idle timeout (3 s), the
# reconnect to the next address, the wait for the dead node's lease
# (lease_ms 3 s) and the route's move (above).
GAP_MAX_MS=${MNODE_GAP_MAX_MS:-12000}
LEASE_MS=3000
PORT=9200

lab_require_tools bird birdc redis-server redis-cli jq nft
lab_test_logdir MNODE_KEEP
dir=$REPLY

lab_topo_nodes || lab_setup_fail "could not build the lab topology"
lab_redis_start "$dir/redis" ||
  lab_setup_fail "Redis did not start: $(lab_tail "$dir/redis/redis.log")"
for k in $LAB_NODES; do
  lab_bird_start "$k" "$dir" ||
    lab_setup_fail "BIRD did not start on n$k: $(lab_tail "$dir/bird-n$k.log")"
done
lab_bird_wait_full 30 ||
  lab_setup_fail "OSPF did not come up: $(lab_birdc 1 show ospf neighbors)"
lab_note "OSPF (v2 and v3) Full between the 3 nodes $REPLY ms after start"

# --- (r) routes only -------------------------------------------------------
# Stand-ins for a client of n1 and one of n2: namespaces fc1 and fc2 whose
# eth0 is a veth to the node ("fk", where the server's TUN would be), with
# one inner address each. fc1 has a second link, to n3, for the move.
FC1_4=198.18.200.250 FC1_6=fd77:6a76:706e::fa
FC2_4=198.18.200.251

# fake_client NAME K IF: NAME's IF linked to node K's fk (gateway
# 198.18.250.K / fe80::K on fk).
fake_client() {
  local ns=${LAB_NS[$1]} nk=${LAB_NS[n$2]}
  lab_link "$ns" "$3" "$nk" fk || return 1
  lab_addr "$nk" fk "198.18.250.$2/32" || return 1
  lab_addr "$nk" fk "fe80::$2/64" || return 1
}

# route_on K ADDR add|del: node K's host route to ADDR into fk, as the
# server will put it (proto LAB_NODE_RTPROTO).
route_on() {
  local fam=-4 len=32
  case "$2" in *:*) fam=-6 len=128 ;; esac
  ip -n "${LAB_NS[n$1]}" "$fam" route "$3" "$2/$len" dev fk \
    proto "$LAB_NODE_RTPROTO"
}

# ms_since T0: ms from T0 (lab_now_ms) to now, in REPLY.
ms_since() { local t0=$1; lab_now_ms; REPLY=$((REPLY - t0)); }

# learned_by ADDR VIA K...: every node K routes ADDR via VIA (BIRD's route).
learned_by() {
  local a=$1 via=$2 k
  shift 2
  for k in "$@"; do lab_node_route_via "$k" "$a" "$via" || return 1; done
}

gone_from() {
  local a=$1 k
  shift
  for k in "$@"; do lab_node_no_route "$k" "$a" || return 1; done
}

scenario_r() {
  local t0 a via ms4 ms6 strict mv wd
  if ! lab_ns fc1 || ! lab_ns fc2; then
    lab_fail r "no stand-in namespaces"
    return 1
  fi
  if ! fake_client fc1 1 eth0 || ! fake_client fc2 2 eth0 ||
     ! fake_client fc1 3 eth1; then
    lab_fail r "could not link the stand-ins"
    return 1
  fi
  lab_addr "${LAB_NS[fc1]}" eth0 "$FC1_4/32"
  lab_addr "${LAB_NS[fc1]}" eth0 "$FC1_6/128"
  lab_addr "${LAB_NS[fc2]}" eth0 "$FC2_4/32"
  ip -n "${LAB_NS[fc1]}" route add default via 198.18.250.1 dev eth0 onlink
  ip -n "${LAB_NS[fc2]}" route add default via 198.18.250.2 dev eth0 onlink
  route_on 2 "$FC2_4" add

  # r1: a new /32 and /128 on n1 reach n2 and n3.
  lab_node_def 1
  lab_now_ms
  t0=$REPLY
  route_on 1 "$FC1_4" add
  if ! lab_wait_for "$FC1_4 at n2 and n3" "$((ROUTE_MAX_MS / 1000))" \
       learned_by "$FC1_4" "$LAB_ND_BB4" 2 3; then
    lab_fail r "$FC1_4/32 (proto $LAB_NODE_RTPROTO on n1) did not reach n2 and n3 within $ROUTE_MAX_MS ms" \
      "$dir/bird-n1.log" "$dir/bird-n2.log"
    return 1
  fi
  ms_since "$t0"
  ms4=$REPLY
  lab_now_ms
  t0=$REPLY
  route_on 1 "$FC1_6" add
  # OSPFv3's next hops are link-local addresses.
  if ! lab_wait_for "$FC1_6 at n2 and n3" "$((ROUTE_MAX_MS / 1000))" \
       eval 'lab_node_route 2 "$FC1_6" bird && lab_node_route 3 "$FC1_6" bird'
  then
    lab_fail r "$FC1_6/128 did not reach n2 and n3 within $ROUTE_MAX_MS ms" \
      "$dir/bird-n1.log"
    return 1
  fi
  ms_since "$t0"
  ms6=$REPLY
  lab_pass r1 "a host route on n1 reached n2 and n3 in $ms4 ms (IPv4) and $ms6 ms (IPv6)"

  # r2: stand-in to stand-in across the backbone, with strict then loose
  # reverse-path filtering on the backbone of every node.
  lab_wait_for "$FC2_4 at n1" 5 learned_by "$FC2_4" 198.19.254.2 1 ||
    { lab_fail r2 "$FC2_4 never reached n1"; return 1; }
  for k in $LAB_NODES; do lab_node_rp_filter "$k" 1; done
  if lab_wait_for "a ping fc1 -> fc2, strict rp_filter" 5 lab_ping \
       "${LAB_NS[fc1]}" "$FC2_4"; then
    strict="works in the steady state"
  else
    strict="FAILS"
  fi
  for k in $LAB_NODES; do lab_node_rp_filter "$k" 2; done
  if ! lab_wait_for "a ping fc1 -> fc2" 5 lab_ping "${LAB_NS[fc1]}" "$FC2_4"
  then
    lab_fail r2 "no ping from fc1 ($FC1_4, n1) to fc2 ($FC2_4, n2)"
    return 1
  fi
  if [ "$strict" = FAILS ]; then
    lab_fail r2 "client-to-client traffic between nodes fails with strict rp_filter on the backbone"
  else
    lab_pass r2 "fc1 (n1) <-> fc2 (n2) through the backbone; strict rp_filter on bb $strict, loose is the lab's setting"
  fi

  # r3: the route moves from n1 to n3 (a session changing nodes).
  lab_node_def 3
  via=$LAB_ND_BB4
  lab_now_ms
  t0=$REPLY
  route_on 1 "$FC1_4" del
  route_on 3 "$FC1_4" add
  ip -n "${LAB_NS[fc1]}" route replace default via 198.18.250.3 dev eth1 onlink
  if ! lab_wait_for "$FC1_4 via n3 at n1 and n2" "$((ROUTE_MAX_MS / 1000))" \
       learned_by "$FC1_4" "$via" 1 2; then
    lab_fail r3 "the moved route did not follow within $ROUTE_MAX_MS ms: n2 has '$(lab_node_route 2 "$FC1_4"; echo "$REPLY")'"
    return 1
  fi
  ms_since "$t0"
  mv=$REPLY
  if ! lab_wait_for "a ping fc1 -> fc2 via n3" 5 lab_ping "${LAB_NS[fc1]}" \
       "$FC2_4"; then
    lab_fail r3 "no ping from fc1 through n3"
    return 1
  fi
  lab_pass r3 "the route moved from n1 to n3: n1 and n2 route via n3 after $mv ms, traffic follows"

  # r4: withdrawn: a route announced long ago (FC1_6 on n1), and one
  # withdrawn as soon as it reached the others (FC1_4 on n3 again), which the
  # neighbours' MinLSArrival (1 s) makes wait for a retransmission.
  lab_now_ms
  t0=$REPLY
  route_on 1 "$FC1_6" del
  if ! lab_wait_for "$FC1_6 withdrawn" "$((ROUTE_MAX_MS / 1000))" \
       gone_from "$FC1_6" 2 3; then
    lab_fail r4 "$FC1_6 not withdrawn within $ROUTE_MAX_MS ms: n2 has '$(lab_node_route 2 "$FC1_6"; echo "$REPLY")'"
    return 1
  fi
  ms_since "$t0"
  wd=$REPLY
  route_on 3 "$FC1_4" del
  lab_wait_for "$FC1_4 withdrawn" "$((ROUTE_MAX_MS / 1000))" \
    gone_from "$FC1_4" 1 2
  route_on 3 "$FC1_4" add
  lab_wait_for "$FC1_4 back at n1 and n2" "$((ROUTE_MAX_MS / 1000))" \
    learned_by "$FC1_4" 198.19.254.3 1 2
  lab_now_ms
  t0=$REPLY
  route_on 3 "$FC1_4" del
  if ! lab_wait_for "$FC1_4 withdrawn" "$((ROUTE_MAX_MS / 1000))" \
       gone_from "$FC1_4" 1 2; then
    lab_fail r4 "$FC1_4, withdrawn as soon as it was announced, still at the others after $ROUTE_MAX_MS ms: n2 has '$(lab_node_route 2 "$FC1_4"; echo "$REPLY")'"
    return 1
  fi
  ms_since "$t0"
  lab_pass r4 "deleted, a route left the other nodes in $wd ms; one deleted as soon as it had reached them in $REPLY ms"
  route_on 2 "$FC2_4" del
  # The stand-ins go, with their links and addresses.
  for k in $LAB_NODES; do ip -n "${LAB_NS[n$k]}" link del fk 2>/dev/null; done
}
scenario_r

if [ "${MNODE_ROUTES_ONLY:-0}" = 1 ]; then
  lab_test_summary
  exit
fi

# --- the VPN ---------------------------------------------------------------
lab_find_bin || lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_note "using $JVPN_BIN"

# One key, one pin, one pool and the same [peer]s for every node; per node
# its listen addresses, node_id, state_dir and audit trail (one file per
# start, so that a killed run's intervals end at its kill).
lab_genkey "$dir" server || lab_setup_fail "genkey failed"
LAB_PIN[server]=$REPLY
for c in client1 client2; do
  lab_genkey "$dir" "$c" || lab_setup_fail "genkey failed"
  LAB_PIN[$c]=$REPLY
done

declare -A SPID=() SLOG=() SAUDIT=() NSTART=()
AUDIT_SPECS=()            # FILE:END_MS of the finished runs
SSOCKS=("$dir/n1.sock" "$dir/n2.sock" "$dir/n3.sock")

# node_conf K: DIR/nK.conf.
node_conf() {
  local k=$1 c
  lab_node_def "$k"
  {
    cat <<EOF
# jvpn-quic server of node n$k, written by tests/netns/multinode.sh
[server]
listen = $LAB_ND_PUB4:443
listen = [$LAB_ND_PUB6]:443
key = $dir/server/key.pem
cert = $dir/server/cert.pem
pool4 = 198.18.200.0/24
pool6 = fd77:6a76:706e::/64
route = 198.18.200.0/24
route = fd77:6a76:706e::/64
tun = $LAB_TUN
log_level = ${LAB_LOG_LEVEL:-info}
state_dir = $dir/state-n$k
store = redis
redis = $LAB_REDIS4:$LAB_REDIS_PORT
node_id = n$k
lease_ms = $LEASE_MS
audit_log = ${SAUDIT[n$k]}
EOF
    for c in 1 2; do
      lab_client_def "$c"
      printf '\n[peer]\nname = client%s\npin = %s\naddress4 = %s\naddress6 = %s\n' \
        "$c" "${LAB_PIN[client$c]}" "$LAB_CL_IN4" "$LAB_CL_IN6"
    done
  } >"$dir/n$k.conf"
}

# node_up K: node K's server (a new log and audit file per start).
node_up() {
  local k=$1 n
  n=$(( ${NSTART[n$k]:-0} + 1 ))
  NSTART[n$k]=$n
  SLOG[n$k]=$dir/server-n$k-$n.log
  SAUDIT[n$k]=$dir/audit-n$k-$n.jsonl
  node_conf "$k"
  if ! lab_node_server_start "$k" "${SLOG[n$k]}" -c "$dir/n$k.conf" \
       --control "$dir/n$k.sock"; then
    lab_setup_fail "$REPLY; the server lacks the multi-node mode (store = redis, redis, node_id, lease_ms)? $(lab_tail "${SLOG[n$k]}")"
  fi
  SPID[n$k]=$LAB_VPN_PID
}

# node_kill K SIG: node K's server gets SIG and exits; its audit run ends.
node_kill() {
  local k=$1
  lab_kill "${SPID[n$k]}" "$2"
  lab_wait_exit "${SPID[n$k]}" 5 || return 1
  lab_probe_now
  AUDIT_SPECS+=("${SAUDIT[n$k]}:$REPLY")
  SPID[n$k]=""
}

# store_kind K: what node K's status says of its store, in REPLY.
store_kind() {
  REPLY=$("$JVPN_BIN" status --json -s "$dir/n$1.sock" 2>/dev/null |
    jq -r '.store.kind // empty' 2>/dev/null)
}

# store_unreachable K / store_reachable K: what node K's status says of
# its shared store (.cluster.reachable).
store_unreachable() {
  "$JVPN_BIN" status --json -s "$dir/n$1.sock" 2>/dev/null |
    jq -e '.cluster.reachable == false' >/dev/null 2>&1
}

store_reachable() {
  "$JVPN_BIN" status --json -s "$dir/n$1.sock" 2>/dev/null |
    jq -e '.cluster.reachable == true' >/dev/null 2>&1
}

# client_conf N FIRST: clientN's config listing the nodes from FIRST on.
client_conf() {
  local n=$1 first=$2 list="" k i
  for i in 0 1 2; do
    k=$(( (first - 1 + i) % 3 + 1 ))
    lab_node_def "$k"
    list+="${list:+, }$LAB_ND_PUB4:443"
  done
  lab_write_client_conf "$dir/client$n.conf" "$list" "${LAB_PIN[server]}" \
    "$dir/client$n" "$LAB_TUN"
  printf 'audit_log = %s\n' "$dir/client$n-audit.jsonl" >>"$dir/client$n.conf"
}

declare -A CS=()
client_up() {
  local n=$1
  lab_client_def "$n"
  if ! lab_vpn_client_start "${LAB_NS[client$n]}" "$dir/client$n.log" \
       "$LAB_CL_IN4" "$LAB_CL_IN6" -c "$dir/client$n.conf" \
       --control "$dir/client$n.sock" ||
     ! lab_wait_tunnel "${LAB_NS[client$n]}" 10; then
    lab_setup_fail "client$n did not come up: $(lab_tail "$dir/client$n.log")"
  fi
}

# session_of N: clientN's session ID, in REPLY.
session_of() {
  lab_cli_status "$dir/client$1.sock" CS || return 1
  REPLY=${CS[session]}
}

# on_node ID K: session ID is ATTACHED at node K (and at no other listed
# before it).
on_node() { lab_node_of "$1" "${SSOCKS[@]}" && [ "$REPLY" = "$2" ]; }
on_other_than() { lab_node_of "$1" "${SSOCKS[@]}" && [ "$REPLY" != "$2" ]; }

# routes_for ADDR K: node K has the server's route for ADDR (proto
# LAB_NODE_RTPROTO, into the TUN) and the other nodes BIRD's, via K.
routes_for() {
  local a=$1 k=$2 o
  lab_node_route "$k" "$a" "$LAB_NODE_RTPROTO" || return 1
  [[ $REPLY == *" dev $LAB_TUN "* ]] || return 1
  lab_node_def "$k"
  for o in $LAB_NODES; do
    [ "$o" = "$k" ] || lab_node_route_via "$o" "$a" "$LAB_ND_BB4" || return 1
  done
}

for k in $LAB_NODES; do node_up "$k"; done
store_kind 1
if [ "$REPLY" != redis ]; then
  lab_setup_fail "n1's status names its store '${REPLY:-nothing}', not redis: the server lacks the multi-node mode"
fi
client_conf 1 1
client_conf 2 2
client_up 1
client_up 2
session_of 1 || lab_setup_fail "client1 has no session"
ID1=$REPLY
session_of 2 || lab_setup_fail "client2 has no session"
ID2=$REPLY
lab_note "client1 session $ID1, client2 session $ID2"

# --- (b) client1's node dies -----------------------------------------------
# shellcheck disable=SC2034 # filled through namerefs
declare -A P=() PU=() PD=()
scenario_b() {
  local r2_before nums
  if ! lab_wait_for "client1 on n1" 10 on_node "$ID1" 1 ||
     ! lab_wait_for "client2 on n2" 10 on_node "$ID2" 2; then
    lab_fail b "client1 is not on n1 or client2 not on n2" "$dir/client1.log" "$dir/client2.log"
    return 1
  fi
  if ! lab_wait_for "routes of client1" "$((ROUTE_MAX_MS / 1000))" \
       routes_for "$LAB_CLIENT1_IN4" 1 ||
     ! lab_wait_for "routes of client2" "$((ROUTE_MAX_MS / 1000))" \
       routes_for "$LAB_CLIENT2_IN4" 2; then
    lab_fail b "no proto $LAB_NODE_RTPROTO route into $LAB_TUN for the sessions, or BIRD did not spread it: n1 '$(ip -n "${LAB_NS[n1]}" route | tr '\n' ';')' n3 '$(ip -n "${LAB_NS[n3]}" route | tr '\n' ';')'" \
      "${SLOG[n1]}"
    return 1
  fi
  if ! lab_wait_for "client1 -> client2" 5 lab_ping "${LAB_NS[client1]}" \
       "$LAB_CLIENT2_IN4"; then
    lab_fail b "no ping from client1 to client2 through n1 and n2" "${SLOG[n1]}" "${SLOG[n2]}"
    return 1
  fi
  lab_cli_status "$dir/client2.sock" CS
  r2_before=${CS[reattaches]:-0}
  lab_probe2_start "${LAB_NS[client1]}" "${LAB_NS[client2]}" \
    "$LAB_CLIENT2_IN4" "$LAB_CLIENT1_IN4" "$PORT" 16 "$dir/b" ||
    { lab_fail b "the probe did not start"; return 1; }
  PORT=$((PORT + 2))
  sleep 2
  node_kill 1 KILL || { lab_fail b "n1's server did not die"; return 1; }
  if ! lab_wait_for "client1's session at another node" 15 on_other_than \
       "$ID1" 1; then
    lab_fail b "session $ID1 is ATTACHED nowhere else after n1 died" \
      "$dir/client1.log" "${SLOG[n2]}" "${SLOG[n3]}"
    return 1
  fi
  local moved=$REPLY
  if ! lab_probe2_end "$dir/b" PU PD P; then
    lab_fail b "$REPLY" "$dir/client1.log" "${SLOG[n$moved]}"
    return 1
  fi
  lab_probe2_numbers PU PD P
  nums=$REPLY
  lab_note "(b) client1 -> n$moved: $nums"
  session_of 1
  if [ "$REPLY" != "$ID1" ]; then
    lab_fail b "client1 has a new session $REPLY (was $ID1)" "$dir/client1.log"
    return 1
  fi
  if ! lab_has_addr "${LAB_NS[client1]}" "$LAB_TUN" "$LAB_CLIENT1_IN4"; then
    lab_fail b "client1 lost $LAB_CLIENT1_IN4" "$dir/client1.log"
    return 1
  fi
  lab_cli_status "$dir/client2.sock" CS
  if ! on_node "$ID2" 2 || [ "${CS[session]}" != "$ID2" ] ||
     [ "${CS[reattaches]:-0}" != "$r2_before" ]; then
    lab_fail b "client2 was disturbed: session ${CS[session]} (was $ID2), reattaches $r2_before -> ${CS[reattaches]:-?}" \
      "$dir/client2.log"
    return 1
  fi
  # the other surviving node learns the route through BIRD
  local other=$((moved == 2 ? 3 : 2))
  if ! lab_wait_for "routes of client1 from n$moved" "$((ROUTE_MAX_MS / 1000))" \
       eval 'lab_node_route "$moved" "$LAB_CLIENT1_IN4" "$LAB_NODE_RTPROTO" &&
             lab_node_def "$moved" &&
             lab_node_route_via "$other" "$LAB_CLIENT1_IN4" "$LAB_ND_BB4"'; then
    lab_fail b "client1's route did not move to n$moved" "${SLOG[n$moved]}"
    return 1
  fi
  if ! lab_lt "${P[longest_gap_ms]}" "$GAP_MAX_MS"; then
    lab_fail b "$nums (limit $GAP_MAX_MS ms)" "$dir/client1.log" "${SLOG[n$moved]}"
    return 1
  fi
  lab_pass b "n1 killed: client1 went on at n$moved in session $ID1 with $LAB_CLIENT1_IN4, client2 untouched on n2; client1<->client2 gap ${P[longest_gap_ms]} ms ($nums)"
}
scenario_b
# n1 back for the next scenarios.
[ -n "${SPID[n1]}" ] || node_up 1

# --- (c) n2 cut from Redis ---------------------------------------------------
scenario_c() {
  local now nums specs=() k
  if ! on_node "$ID2" 2; then
    lab_fail c "client2 is not on n2 before the partition"
    return 1
  fi
  lab_node_partition 2 on || { lab_fail c "could not cut n2 from Redis"; return 1; }
  lab_probe2_start "${LAB_NS[client1]}" "${LAB_NS[client2]}" \
    "$LAB_CLIENT2_IN4" "$LAB_CLIENT1_IN4" "$PORT" 8 "$dir/c" ||
    { lab_fail c "the probe did not start"; lab_node_partition 2 off; return 1; }
  PORT=$((PORT + 2))
  if ! lab_wait_for "n2's status: store unreachable" 10 store_unreachable 2
  then
    lab_fail c "n2's status does not say the store is unreachable: $("$JVPN_BIN" status --json -s "$dir/n2.sock" | jq -c .cluster)" \
      "${SLOG[n2]}"
  fi
  if ! lab_probe2_end "$dir/c" PU PD P; then
    lab_fail c "traffic through the cut-off node stopped: $REPLY" "${SLOG[n2]}"
    lab_node_partition 2 off
    return 1
  fi
  lab_probe2_numbers PU PD P
  nums=$REPLY
  if ! on_node "$ID2" 2; then
    lab_fail c "client2 left n2 during the partition" "$dir/client2.log"
  elif ! lab_lt "${P[longest_gap_ms]}" 1000; then
    lab_fail c "client1<->client2 through the cut-off n2: $nums" "${SLOG[n2]}"
  else
    lab_pass c1 "n2 cut from Redis: its status says so, client2 stays and client1<->client2 goes on ($nums)"
  fi

  # Client2 cut from n2 (still cut from Redis, its lease long gone): it
  # moves, another node takes the session.
  ip netns exec "${LAB_NS[net]}" nft -f - <<EOF
table inet mnode_cut {
  chain cut_forward {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr 198.18.22.2 ip daddr 198.18.1.12 drop
    ip saddr 198.18.1.12 ip daddr 198.18.22.2 drop
  }
}
EOF
  if ! lab_wait_for "client2's session at another node" 20 on_other_than \
       "$ID2" 2; then
    lab_fail c2 "session $ID2 did not move off the cut-off n2" \
      "$dir/client2.log" "${SLOG[n1]}" "${SLOG[n3]}"
  else
    lab_pass c2 "client2 cut from n2: session $ID2 now at n$REPLY"
  fi
  ip netns exec "${LAB_NS[net]}" nft delete table inet mnode_cut
  lab_node_partition 2 off
  lab_wait_for "n2 reaches the store again" 10 store_reachable 2 ||
    lab_fail c "n2 does not reach the store again after the partition" "${SLOG[n2]}"

  # No session ATTACHED at two nodes at once, over the whole run so far.
  lab_probe_now
  now=$REPLY
  specs=("${AUDIT_SPECS[@]}")
  for k in $LAB_NODES; do specs+=("${SAUDIT[n$k]}:$now"); done
  lab_audit_attached "${specs[@]}" >"$dir/attached.txt"
  if [ ! -s "$dir/attached.txt" ]; then
    lab_fail c3 "no ATTACHED interval in the audit logs" "${specs[@]%:*}"
  elif ! lab_audit_overlaps "${specs[@]}"; then
    lab_fail c3 "$REPLY overlapping ATTACHED intervals: $LAB_AUDIT_OVERLAPS"
  else
    lab_pass c3 "$(wc -l <"$dir/attached.txt") ATTACHED intervals in ${#specs[@]} node runs, none overlapping another node's for one session"
  fi
}
scenario_c

# --- (d) Redis restarted -----------------------------------------------------
scenario_d() {
  local before after k
  before=$(lab_redis_cli --scan | sort | tr '\n' ' ')
  if [ -z "$before" ]; then
    lab_fail d "Redis holds no key before the restart"
    return 1
  fi
  lab_redis_stop KILL
  lab_redis_start "$LAB_REDIS_DIR" ||
    { lab_fail d "Redis did not start again" "$LAB_REDIS_DIR/redis.log"; return 1; }
  after=$(lab_redis_cli --scan | sort | tr '\n' ' ')
  for k in $before; do
    case " $after " in
      *" $k "*) ;;
      *) case "$k" in
           *lease*|*node*) ;;   # leases may lapse meanwhile
           *) lab_fail d "key $k did not survive the restart"; return 1 ;;
         esac ;;
    esac
  done
  for k in $LAB_NODES; do
    lab_wait_for "n$k reaches the store" 10 store_reachable "$k" ||
      { lab_fail d "n$k does not reach Redis again" "${SLOG[n$k]}"; return 1; }
  done
  # Client1 cut off for longer than the QUIC idle timeout: it reattaches.
  lab_cli_status "$dir/client1.sock" CS
  # shellcheck disable=SC2034 # read by the eval below
  local r1=${CS[reattaches]:-0}
  lab_blackhole_on "${LAB_NS[net]}" c1
  sleep 5
  lab_blackhole_off "${LAB_NS[net]}" c1
  if ! lab_wait_for "client1 reattached" 20 eval \
       'lab_cli_status "$dir/client1.sock" CS &&
        [ "${CS[reattaches]:-0}" -gt "$r1" ] && lab_node_of "$ID1" "${SSOCKS[@]}"'
  then
    lab_fail d "client1 did not reattach after the Redis restart" "$dir/client1.log"
    return 1
  fi
  local at=$REPLY
  if [ "${CS[session]}" != "$ID1" ]; then
    lab_fail d "client1 got a new session ${CS[session]} (was $ID1)" "$dir/client1.log"
    return 1
  fi
  if ! lab_wait_for "client1 -> client2" 10 lab_ping "${LAB_NS[client1]}" \
       "$LAB_CLIENT2_IN4"; then
    lab_fail d "no client1 -> client2 traffic after the reattach"
    return 1
  fi
  lab_pass d "Redis killed and restarted: $(wc -w <<<"$before") keys kept, client1 reattached to $ID1 at n$at"
}
scenario_d

for k in $LAB_NODES; do
  if [ -n "${SPID[n$k]}" ] && ! lab_pid_alive "${SPID[n$k]}"; then
    lab_fail server "the server of n$k exited" "${SLOG[n$k]}"
  fi
done
lab_check_sanitizers "$dir"
lab_test_summary
