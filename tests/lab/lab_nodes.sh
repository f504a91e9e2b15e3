# shellcheck shell=bash
# tests/lab/lab_nodes.sh: several jvpn-quic server nodes sharing sessions
# through Redis, with BIRD carrying the per-session routes between them
# (tests/netns/multinode.sh). Sourced by tests/lab/lab.sh, whose
# bookkeeping (lab_ns, lab_spawn, the cleanup trap) it uses: every
# namespace and process made here goes when the lab is cleaned up.
#
#   client1 eth0 198.18.21.2/24 ---- c1 198.18.21.1 \
#                2001:db8:21::2/64                   \   net (router)
#   client2 eth0 198.18.22.2/24 ---- c2 198.18.22.1  +- bridge lan 198.18.1.1/24
#                2001:db8:22::2/64                   /   2001:db8:1::1/64
#                                         p1 p2 p3 (ports)
#                                          |  |  |
#   nK (K = 1..3)  pub 198.18.1.1K/24, 2001:db8:1::1K/64 (the node's public
#                  address, UDP 443; default routes via net)
#                  bb  198.19.254.K/24, 2001:db8:fe::K/64 (the backbone)
#                  jvpn0: the server's TUN
#                                          |  |  |
#   bb (switch)    bridge sw, ports n1 n2 n3 rds (no address of its own)
#                                          |
#   rds            eth0 198.19.254.100/24, 2001:db8:fe::100/64: Redis
#
# Each node forwards (IPv4 and IPv6). Reverse-path filtering is strict
# (rp_filter 1) on pub and on the TUN, loose (2) on bb: a packet between
# two clients comes in on bb from a client of another node, and while a
# session moves between nodes (or a client's /32 has not reached every
# node yet) the best route back to its source may still point elsewhere;
# strict filtering on bb would drop those packets for the time OSPF takes
# to converge, and buys nothing on a backbone of our own.
#
# Routing between nodes (docs/operations.md, "Several nodes"): the jvpn
# server puts a host route (/32, /128) "dev TUN proto LAB_NODE_RTPROTO" in
# the main table for the inner addresses of every session it serves; BIRD
# on every node learns those (protocol kernel, "learn") and floods them as
# OSPF external routes on bb (OSPFv2 for IPv4, OSPFv3 for IPv6); the other
# nodes' BIRDs put them into their kernels ("proto bird", metric 32).

# The route protocol number the jvpn server marks its per-session routes
# with, and the only one BIRD here redistributes (see lab_bird_conf).
LAB_NODE_RTPROTO=250
LAB_NODES="1 2 3"
# shellcheck disable=SC2034 # for the callers
{
LAB_REDIS4=198.19.254.100
LAB_REDIS6=2001:db8:fe::100
LAB_REDIS_PORT=6379
LAB_NODE_HELLO=1          # OSPF hello interval (s)
LAB_NODE_DEAD=4           # OSPF dead interval (s)
}
declare -gA LAB_BIRD_PID=() LAB_BIRD_SOCK=()
LAB_REDIS_PID=""
LAB_REDIS_DIR=""

# lab_node_def K: node K's addresses in LAB_ND_PUB4/LAB_ND_PUB6 (public),
# LAB_ND_BB4/LAB_ND_BB6 (backbone), without prefix lengths (/24, /64).
# shellcheck disable=SC2034 # for the callers
lab_node_def() {
  case "$1" in
    1|2|3) ;;
    *) lab_log "lab_node_def: no node '$1'"; return 1 ;;
  esac
  LAB_ND_PUB4=198.18.1.1$1
  LAB_ND_PUB6=2001:db8:1::1$1
  LAB_ND_BB4=198.19.254.$1
  LAB_ND_BB6=2001:db8:fe::$1
}

# lab_bridge NS NAME: a bridge in NS, up, with neither STP nor multicast
# snooping (OSPF's hellos are multicast).
lab_bridge() {
  ip -n "$1" link add "$2" type bridge stp_state 0 mcast_snooping 0 \
    forward_delay 0 || return 1
  ip -n "$1" link set "$2" up
}

# lab_topo_nodes: builds the topology above; namespaces LAB_NS[n1..n3],
# LAB_NS[net], LAB_NS[bb], LAB_NS[rds], LAB_NS[client1], LAB_NS[client2].
lab_topo_nodes() {
  local net bb rds ns k c
  lab_ns net && net=$REPLY || return 1
  lab_ns bb && bb=$REPLY || return 1
  lab_ns rds && rds=$REPLY || return 1
  lab_bridge "$net" lan || return 1
  lab_bridge "$bb" sw || return 1
  lab_addr "$net" lan 198.18.1.1/24 || return 1
  lab_addr "$net" lan 2001:db8:1::1/64 || return 1
  ip netns exec "$net" sysctl -qw net.ipv4.ip_forward=1 \
    net.ipv6.conf.all.forwarding=1 >/dev/null || return 1

  for c in 1 2; do
    lab_ns "client$c" && ns=$REPLY || return 1
    lab_link "$ns" eth0 "$net" "c$c" || return 1
    lab_addr "$ns" eth0 "198.18.2$c.2/24" || return 1
    lab_addr "$ns" eth0 "2001:db8:2$c::2/64" || return 1
    lab_addr "$net" "c$c" "198.18.2$c.1/24" || return 1
    lab_addr "$net" "c$c" "2001:db8:2$c::1/64" || return 1
    ip -n "$ns" route add default via "198.18.2$c.1" || return 1
    ip -n "$ns" -6 route add default via "2001:db8:2$c::1" || return 1
  done

  for k in $LAB_NODES; do
    lab_node_def "$k" || return 1
    lab_ns "n$k" && ns=$REPLY || return 1
    lab_link "$ns" pub "$net" "p$k" || return 1
    ip -n "$net" link set "p$k" master lan || return 1
    lab_link "$ns" bb "$bb" "n$k" || return 1
    ip -n "$bb" link set "n$k" master sw || return 1
    lab_addr "$ns" pub "$LAB_ND_PUB4/24" || return 1
    lab_addr "$ns" pub "$LAB_ND_PUB6/64" || return 1
    lab_addr "$ns" bb "$LAB_ND_BB4/24" || return 1
    lab_addr "$ns" bb "$LAB_ND_BB6/64" || return 1
    ip -n "$ns" route add default via 198.18.1.1 || return 1
    ip -n "$ns" -6 route add default via 2001:db8:1::1 || return 1
    # "all" is the floor of every interface's rp_filter (the kernel takes
    # the larger), so bb's 2 wins over all's 1 and the rest are strict.
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
      net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=1 \
      net.ipv4.conf.default.rp_filter=1 net.ipv4.conf.pub.rp_filter=1 \
      net.ipv4.conf.bb.rp_filter=2 >/dev/null || return 1
  done

  lab_link "$rds" eth0 "$bb" rds || return 1
  ip -n "$bb" link set rds master sw || return 1
  lab_addr "$rds" eth0 "$LAB_REDIS4/24" || return 1
  lab_addr "$rds" eth0 "$LAB_REDIS6/64"
}

# lab_node_rp_filter K VALUE: the backbone's rp_filter of node K (0, 1
# strict, 2 loose); "all" is lowered to VALUE too when VALUE is 0.
lab_node_rp_filter() {
  local ns=${LAB_NS[n$1]}
  ip netns exec "$ns" sysctl -qw "net.ipv4.conf.bb.rp_filter=$2" >/dev/null
}

# --- BIRD on the nodes -----------------------------------------------------

# lab_bird_conf K FILE: node K's bird.conf. Router ID: its backbone IPv4
# address. Kernel protocols (IPv4, IPv6) learn the routes other programs
# put in the main table ("learn": any protocol but "kernel" and BIRD's own
# "bird"; routes of "proto kernel", the connected ones, never) with a
# preference above OSPF's, so a node's own session route stays its best
# (and stays announced) even when another node announces the same
# address. OSPF exports only those learned routes whose protocol is
# LAB_NODE_RTPROTO (krt_source), as external type 2 routes, so no other
# route of a node leaks onto the backbone; the kernel protocols take only
# those external routes back into the kernel (the backbone's own prefix
# is connected already). "retransmit 2" (its least): a neighbour discards an LSA that comes
# less than MinLSArrival (1 s) after the last one of the same LSA, so a
# route withdrawn within 1 s of its announcement waits for the
# retransmission, 5 s by default, 2 s here.
lab_bird_conf() {
  local k=$1 file=$2 fam
  lab_node_def "$k" || return 1
  {
    printf '# bird.conf of node n%s, written by tests/lab/lab_nodes.sh\n' "$k"
    printf 'router id %s;\nlog stderr all;\n\n' "$LAB_ND_BB4"
    printf 'protocol device {\n  scan time 10;\n}\n'
    for fam in 4 6; do
      lab_bird_family "$fam"
    done
  } >"$file"
}

# lab_bird_family 4|6: the kernel and OSPF (v2 for IPv4, v3 for IPv6)
# protocols of one address family, on stdout.
lab_bird_family() {
  local f=$1 v=2
  [ "$f" = 4 ] || v=3
  cat <<EOF

protocol kernel k$f {
  learn;
  scan time 10;
  ipv$f {
    preference 200;
    import all;
    export where source = RTS_OSPF_EXT2;
  };
}

protocol ospf v$v o$f {
  tick 1;
  ipv$f {
    import all;
    export where source = RTS_INHERIT && krt_source = $LAB_NODE_RTPROTO;
  };
  area 0 {
    interface "bb" {
      type broadcast;
      hello $LAB_NODE_HELLO;
      dead $LAB_NODE_DEAD;
      wait $LAB_NODE_DEAD;
      retransmit 2;
    };
  };
}
EOF
}

# lab_bird_start K DIR: BIRD in node K's namespace in the foreground (so
# the PID is its own), config DIR/bird-nK.conf (lab_bird_conf), control
# socket DIR/bird-nK.ctl, log DIR/bird-nK.log; PID in LAB_BIRD_PID[nK].
# Waits until birdc answers.
lab_bird_start() {
  local k=$1 dir=$2 ns=${LAB_NS[n$1]:-}
  [ -n "$ns" ] || { lab_log "lab_bird_start: build lab_topo_nodes first"; return 1; }
  command -v bird >/dev/null 2>&1 ||
    { lab_log "bird is missing (apt-get install bird2)"; return 1; }
  lab_bird_conf "$k" "$dir/bird-n$k.conf" || return 1
  if ! bird -p -c "$dir/bird-n$k.conf" >"$dir/bird-n$k.log" 2>&1; then
    lab_log "bird.conf of n$k: $(cat "$dir/bird-n$k.log")"
    return 1
  fi
  LAB_BIRD_SOCK[n$k]=$dir/bird-n$k.ctl
  lab_spawn "$ns" "$dir/bird-n$k.log" bird -f -c "$dir/bird-n$k.conf" \
    -s "${LAB_BIRD_SOCK[n$k]}"
  LAB_BIRD_PID[n$k]=$REPLY
  lab_wait_for "BIRD on n$k" 5 lab_birdc "$k" show status
}

# lab_bird_stop K: SIGTERM to node K's BIRD (it takes its routes out of
# the kernel), SIGKILL after 3 s.
lab_bird_stop() {
  local pid=${LAB_BIRD_PID[n$1]:-}
  [ -n "$pid" ] || return 0
  lab_kill "$pid" TERM || true
  lab_wait_exit "$pid" 3 || { lab_kill "$pid" KILL || true; lab_wait_exit "$pid" 2; }
  LAB_BIRD_PID[n$1]=""
}

# lab_birdc K CMD...: birdc on node K's control socket.
lab_birdc() {
  local sock=${LAB_BIRD_SOCK[n$1]}
  shift
  birdc -s "$sock" "$@"
}

# lab_ospf_full K PROTO N: node K's OSPF instance PROTO (o4, o6) has N
# neighbours in state Full.
lab_ospf_full() {
  local n
  n=$(lab_birdc "$1" show ospf neighbors "$2" 2>/dev/null | grep -c 'Full/')
  [ "$n" -ge "$3" ]
}

# lab_bird_wait_full TIMEOUT_S: every node's o4 and o6 are Full with the
# other nodes; REPLY has how long that took (ms).
lab_bird_wait_full() {
  local t0 k p others
  lab_now_ms
  t0=$REPLY
  others=$(( $(wc -w <<<"$LAB_NODES") - 1 ))
  for k in $LAB_NODES; do
    for p in o4 o6; do
      lab_wait_for "OSPF $p of n$k Full with $others nodes" "$1" \
        lab_ospf_full "$k" "$p" "$others" || return 1
    done
  done
  lab_now_ms
  REPLY=$(( REPLY - t0 ))
}

# lab_node_route K PREFIX [PROTO]: node K's main table has a route for
# exactly PREFIX (an address: /32 or /128), of PROTO when given
# ("bird", "250", ...). The route line is in REPLY.
lab_node_route() {
  local fam=-4
  case "$2" in *:*) fam=-6 ;; esac
  REPLY=$(ip -n "${LAB_NS[n$1]}" "$fam" route show exact "$2" 2>/dev/null |
    head -n1)
  [ -n "$REPLY" ] || return 1
  [ -z "${3:-}" ] || [[ $REPLY == *" proto $3 "* || $REPLY == *" proto $3" ]]
}

lab_node_no_route() { ! lab_node_route "$@"; }

# lab_node_route_via K ADDR VIA: node K routes ADDR via VIA (a backbone
# address of another node) and BIRD put that route there.
lab_node_route_via() {
  lab_node_route "$1" "$2" bird && [[ $REPLY == *" via $3 "* ]]
}

# --- Redis -----------------------------------------------------------------

# lab_redis_start DIR: redis-server in the rds namespace, bound to
# LAB_REDIS4 and LAB_REDIS6, append-only file in DIR fsynced on every
# write (so a SIGKILL loses nothing acknowledged), in the foreground; its
# PID in LAB_REDIS_PID, log DIR/redis.log (appended: one file across
# restarts). Waits until it answers PING.
# shellcheck disable=SC2034 # LAB_REDIS_DIR is for the callers
lab_redis_start() {
  local dir=$1
  command -v redis-server >/dev/null 2>&1 ||
    { lab_log "redis-server is missing (apt-get install redis-server)"; return 1; }
  mkdir -p "$dir" || return 1
  LAB_REDIS_DIR=$dir
  ip netns exec "${LAB_NS[rds]}" redis-server --bind "$LAB_REDIS4 $LAB_REDIS6" \
    --port "$LAB_REDIS_PORT" --appendonly yes --appendfsync always \
    --dir "$dir" --daemonize no --protected-mode no --save '' \
    </dev/null >>"$dir/redis.log" 2>&1 &
  LAB_REDIS_PID=$!
  LAB_PIDS+=("$LAB_REDIS_PID")
  lab_wait_for "Redis to answer" 10 lab_redis_ping
}

lab_redis_ping() {
  [ "$(lab_redis_cli PING 2>/dev/null)" = PONG ]
}

# lab_redis_cli ARGS...: redis-cli against the lab's Redis, from rds.
lab_redis_cli() {
  ip netns exec "${LAB_NS[rds]}" redis-cli -h "$LAB_REDIS4" \
    -p "$LAB_REDIS_PORT" "$@"
}

# lab_redis_stop [SIG]: SIG (default TERM) to Redis, waits for its exit.
lab_redis_stop() {
  [ -n "$LAB_REDIS_PID" ] || return 0
  lab_kill "$LAB_REDIS_PID" "${1:-TERM}" || true
  lab_wait_exit "$LAB_REDIS_PID" 5 ||
    { lab_kill "$LAB_REDIS_PID" KILL || true; lab_wait_exit "$LAB_REDIS_PID" 2; }
  LAB_REDIS_PID=""
}

# lab_node_partition K on|off: node K's backbone drops everything to and
# from Redis (both families), and only that: OSPF and the other nodes
# stay reachable.
lab_node_partition() {
  local ns=${LAB_NS[n$1]}
  if [ "$2" = on ]; then
    ip netns exec "$ns" nft -f - <<EOF
table inet lab_partition {
  chain out {
    type filter hook output priority filter - 10; policy accept;
    oifname "bb" ip daddr $LAB_REDIS4 counter drop
    oifname "bb" ip6 daddr $LAB_REDIS6 counter drop
  }
  chain in {
    type filter hook input priority filter - 10; policy accept;
    iifname "bb" ip saddr $LAB_REDIS4 counter drop
    iifname "bb" ip6 saddr $LAB_REDIS6 counter drop
  }
}
EOF
  else
    ip netns exec "$ns" nft delete table inet lab_partition 2>/dev/null
    return 0
  fi
}

# --- audit logs of several nodes -------------------------------------------

# lab_audit_attached FILE:END_MS...: the ATTACHED intervals of every
# session in each node's audit log FILE (transition records: one begins
# with "to":"ATTACHED", ends with "from":"ATTACHED"; one still open ends at
# END_MS, the CLOCK_MONOTONIC ms the node was killed or the check runs:
# lab_probe_now), printed as "SESSION NODE START END" lines (mono_ms,
# one time line for every namespace of this host). Needs jq.
lab_audit_attached() {
  local spec file end
  for spec in "$@"; do
    file=${spec%:*}
    end=${spec##*:}
    [ -r "$file" ] || continue
    jq -r --arg f "$file" 'select(.kind == "transition" and .session != null)
        | [.session, (.from // "-"), (.to // "-"), (.mono_ms | tostring)]
        | join(" ")' "$file" 2>/dev/null |
      awk -v node="$(basename "$file")" -v end="$end" '
        $3 == "ATTACHED" && $2 != "ATTACHED" { if (!($1 in open)) open[$1] = $4 }
        $2 == "ATTACHED" && $3 != "ATTACHED" {
          if ($1 in open) { print $1, node, open[$1], $4; delete open[$1] } }
        END { for (s in open) print s, node, open[s], end }'
  done
}

# lab_audit_overlaps FILE:END_MS...: the ATTACHED intervals (above) of one
# session at two different nodes that overlap, one line each ("SESSION
# NODE_A START-END NODE_B START-END"); REPLY has how many, and the lines
# are in LAB_AUDIT_OVERLAPS. Returns 0 when there are none.
LAB_AUDIT_OVERLAPS=""
lab_audit_overlaps() {
  LAB_AUDIT_OVERLAPS=$(lab_audit_attached "$@" | sort -k1,1 -k3,3n |
    awk '{ s[NR] = $1; n[NR] = $2; a[NR] = $3; b[NR] = $4 }
      END { for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++)
        if (s[i] == s[j] && n[i] != n[j] && a[j] < b[i] && a[i] < b[j])
          printf "%s %s %d-%d %s %d-%d\n", s[i], n[i], a[i], b[i], n[j], a[j], b[j] }')
  REPLY=$(printf '%s' "$LAB_AUDIT_OVERLAPS" | grep -c .)
  [ "$REPLY" = 0 ]
}

# --- jvpn-quic servers on the nodes ----------------------------------------

# lab_node_server_start K LOG ARGS...: "jvpn-quic server ARGS" in node K,
# output to LOG; PID in LAB_VPN_PID. Waits until its TUN has the server's
# inner IPv4 address and it is bound to UDP 443 (10 s, less when it exits
# first); else returns 1 with the reason in REPLY.
# shellcheck disable=SC2034 # LAB_VPN_PID is for the callers
lab_node_server_start() {
  local k=$1 log=$2 ns=${LAB_NS[n$1]} pid
  shift 2
  lab_spawn "$ns" "$log" "$JVPN_BIN" server "$@"
  pid=$REPLY
  LAB_VPN_PID=$pid
  lab_wait_for "the server of n$k" 10 lab_addr_or_exit "$ns" \
    "$LAB_SERVER_IN4" "$pid"
  if ! lab_pid_alive "$pid"; then
    REPLY="the server of n$k exited at start"
    return 1
  fi
  if ! lab_has_addr "$ns" "$LAB_TUN" "$LAB_SERVER_IN4" ||
     ! lab_wait_udp_listen "$ns" 443 5; then
    REPLY="the server of n$k did not get its TUN address or UDP 443"
    return 1
  fi
}

# lab_node_of ID SOCK...: the index (1-based) of the control socket among
# SOCK... whose server lists session ID as ATTACHED, in REPLY; returns 1
# when none does.
lab_node_of() {
  local id=$1 i=0 s
  local -A lab_no_st=()
  shift
  for s in "$@"; do
    i=$((i + 1))
    if lab_srv_session "$s" "$id" lab_no_st &&
       [ "${lab_no_st[state]}" = ATTACHED ]; then
      REPLY=$i
      return 0
    fi
  done
  REPLY=""
  return 1
}
