# shellcheck shell=bash
# tests/lab/lab.sh: the one place jvpn-quic test namespaces are built.
#
# Sourced (never run) by the tests in tests/netns, scripts/demo.sh, the
# benchmarks and the interop runner, so that every topology and every fault
# is made the same way; the tests also share their harness (PASS/FAIL
# lines, the closing count, exit 77) from the end of this file. Needs root,
# iproute2, nftables and conntrack.
#
#   . tests/lab/lab.sh
#   lab_init                  # unique prefix, cleanup trap
#   lab_topo_vpn              # the standard topology below
#   lab_spawn "${LAB_NS[server]}" "$dir/server.log" "$JVPN_BIN" server -c ..
#   server_pid=$REPLY
#
# Everything made here is named after a prefix unique to this run
# (LAB_PREFIX, "jv" + the shell's PID) and removed by name or PID by the
# trap that lab_init installs: processes started with lab_spawn, then any
# other process left inside our namespaces, then the namespaces (which
# takes their veths, TUNs and nft rules along), then temporary directories.
# lab_reset does the same but for the directories, so that a test may build
# a fresh topology for each of its scenarios.
#
# Functions return values in REPLY (bash's convention) so that callers never
# run them in a subshell, where the bookkeeping would be lost.
#
# Addresses are test addresses only: 198.18.0.0/15 and 2001:db8::/32, inside
# namespaces created here.

LAB_PREFIX=""
declare -gA LAB_NS=()     # short name -> namespace name
LAB_NAMESPACES=()         # created namespaces, in creation order
LAB_PIDS=()               # processes started with lab_spawn
LAB_TMPDIRS=()
LAB_FILES=()              # files outside our namespaces and tmpdirs
LAB_DIRS=()               # directories made for them, innermost first
LAB_CLEANED=0
# Where the router of lab_topo_vpn faces the server side (for NAT, faults).
LAB_ROUTER_UPLINK="srv"

lab_log() { printf 'lab: %s\n' "$*" >&2; }

# Picks the jvpn-quic binary: $JVPN_BIN, else the automake build directory,
# else the usual build directories of this tree, else PATH.
lab_find_bin() {
  local here top cand
  if [ -n "${JVPN_BIN:-}" ]; then
    REPLY=$JVPN_BIN
    return 0
  fi
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  top=$(cd "$here/../.." && pwd)
  for cand in "${top_builddir:+$top_builddir/jvpn-quic}" \
              "$top/build/jvpn-quic" "$top/jvpn-quic"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then
      JVPN_BIN=$cand
      REPLY=$cand
      return 0
    fi
  done
  if cand=$(command -v jvpn-quic 2>/dev/null); then
    JVPN_BIN=$cand
    REPLY=$cand
    return 0
  fi
  REPLY=""
  return 1
}

# Prints why the lab cannot run here and returns 1; returns 0 when it can.
# Callers that are automake tests turn a 1 into exit 77 (skip).
lab_check_env() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "lab: needs root (network namespaces, TUN)"
    return 1
  fi
  if [ ! -c /dev/net/tun ]; then
    echo "lab: /dev/net/tun is missing"
    return 1
  fi
  if ! command -v ip >/dev/null 2>&1; then
    echo "lab: 'ip' (iproute2) is missing"
    return 1
  fi
  local probe="jvprobe$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "lab: 'ip netns add' does not work here"
    return 1
  fi
  ip netns del "$probe"
  return 0
}

# lab_init: sets LAB_PREFIX and installs the cleanup trap. Call once.
lab_init() {
  # "jv" + up to 7 digits keeps "<prefix>-<name>" short and unique per run.
  LAB_PREFIX="jv$(( $$ % 10000000 ))"
  LAB_CLEANED=0
  # What runs in our namespaces never reaches the host's system bus (a
  # client would hand its TUN's ifindex, which means nothing there, to
  # the host's systemd-resolved); lab_bus_start gives a test its own.
  export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/jvpn-lab-no-bus
  trap 'lab_cleanup' EXIT
  trap 'lab_cleanup; trap - INT; kill -INT $$' INT
  trap 'lab_cleanup; trap - TERM; kill -TERM $$' TERM
  lab_find_bin || true
}

lab_pid_alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  # Field 3 is the state; a zombie has exited and only waits to be reaped.
  state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

lab_cleanup() {
  local i
  [ "$LAB_CLEANED" = 1 ] && return 0
  LAB_CLEANED=1
  lab_reset
  for i in "${LAB_TMPDIRS[@]}"; do
    if [ -n "$i" ] && [ -d "$i" ]; then rm -rf -- "$i"; fi
  done
  for i in "${LAB_FILES[@]}"; do
    if [ -n "$i" ]; then rm -f -- "$i"; fi
  done
  # Only when empty: another run may have put its own files there.
  for i in "${LAB_DIRS[@]}"; do
    if [ -n "$i" ]; then rmdir -- "$i" 2>/dev/null || true; fi
  done
  LAB_FILES=()
  LAB_DIRS=()
  LAB_TMPDIRS=()
  return 0
}

# lab_reset: ends every process started here and removes every namespace
# made here (with their veths, TUNs and nft rules), as the cleanup does,
# but keeps the prefix, the trap and the temporary directories: a test
# can then build a fresh topology under the same names (lab_topo_vpn
# again) for its next scenario.
lab_reset() {
  local pid ns i
  for pid in "${LAB_PIDS[@]}"; do
    lab_pid_alive "$pid" && { kill -TERM "$pid" 2>/dev/null || true; }
  done
  # Give them 2 s to remove their TUNs the clean way, then force.
  for ((i = 0; i < 40; i++)); do
    local any=0
    for pid in "${LAB_PIDS[@]}"; do
      if lab_pid_alive "$pid"; then any=1; break; fi
    done
    [ "$any" = 0 ] && break
    sleep 0.05
  done
  for pid in "${LAB_PIDS[@]}"; do
    lab_pid_alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
  done
  # Anything else still running inside our namespaces was started by us
  # too (a ping, a socat); it would keep the namespace alive.
  for ns in "${LAB_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for pid in "${LAB_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for ns in "${LAB_NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
    # Its private /etc files (lab_ns): ours, under our prefix.
    if [ -n "$ns" ] && [ -d "/etc/netns/$ns" ]; then
      rm -rf -- "/etc/netns/$ns"
    fi
  done
  LAB_PIDS=()
  LAB_NAMESPACES=()
  LAB_NS=()
  # The injectors went with their namespaces.
  LAB_NFQ_QUEUE=()
  LAB_NFQ_PID=()
  LAB_NFQ_LOG=()
  return 0
}

# lab_tmpdir: a temporary directory removed at cleanup; path in REPLY.
lab_tmpdir() {
  REPLY=$(mktemp -d "${TMPDIR:-/tmp}/${LAB_PREFIX:-jv}.XXXXXX")
  LAB_TMPDIRS+=("$REPLY")
}

# lab_ns NAME: creates namespace "$LAB_PREFIX-NAME" with loopback up and
# IPv6 DAD off (so addresses, including those on TUNs made later, are
# usable at once). Its name goes to LAB_NS[NAME] and REPLY. It gets a
# resolv.conf of its own (/etc/netns/NS/resolv.conf, which 'ip netns exec'
# mounts over /etc/resolv.conf), so a client that applies the server's
# DNS changes that one and never the host's; it names a lab address where
# no DNS server listens (LAB_NS_RESOLVER).
LAB_NS_RESOLVER=198.18.0.53
lab_ns() {
  local ns="$LAB_PREFIX-$1"
  ip netns add "$ns" || return 1
  LAB_NAMESPACES+=("$ns")
  mkdir -p "/etc/netns/$ns" &&
    printf '# lab namespace %s\nnameserver %s\n' "$ns" "$LAB_NS_RESOLVER" \
      >"/etc/netns/$ns/resolv.conf" || return 1
  LAB_NS[$1]=$ns
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 >/dev/null
  REPLY=$ns
}

# lab_ns_etc NS FILE: writes stdin to /etc/netns/NS/FILE, which 'ip netns
# exec NS' (lab_spawn) mounts over /etc/FILE for what it starts: a hosts
# file or a resolv.conf of that namespace's own. Write it before starting
# the program that reads it. The file, and the directories made for it,
# are removed at cleanup.
lab_ns_etc() {
  local d
  for d in /etc/netns "/etc/netns/$1"; do
    [ -d "$d" ] && continue
    mkdir -p "$d" || return 1
    LAB_DIRS=("$d" "${LAB_DIRS[@]}")
  done
  LAB_FILES+=("/etc/netns/$1/$2")
  cat >"/etc/netns/$1/$2"
}

# lab_link NS1 IF1 NS2 IF2: a veth pair, both ends up, DAD off. The ends
# are created directly inside the namespaces, so names only need to be
# unique there.
lab_link() {
  local ns1=$1 if1=$2 ns2=$3 if2=$4
  ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2" \
    || return 1
  ip netns exec "$ns1" sysctl -qw "net.ipv6.conf.$if1.accept_dad=0" >/dev/null
  ip netns exec "$ns2" sysctl -qw "net.ipv6.conf.$if2.accept_dad=0" >/dev/null
  ip -n "$ns1" link set "$if1" up
  ip -n "$ns2" link set "$if2" up
}

# lab_addr NS IF ADDR/PLEN
lab_addr() {
  case "$3" in
    *:*) ip -n "$1" addr add "$3" dev "$2" nodad ;;
    *) ip -n "$1" addr add "$3" dev "$2" ;;
  esac
}

# lab_spawn NS LOGFILE CMD...: runs CMD inside NS in the background, its
# stdout and stderr to LOGFILE. The PID (which is CMD's own: 'ip netns
# exec' execs it) is recorded for cleanup and returned in REPLY.
lab_spawn() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
  REPLY=$!
  LAB_PIDS+=("$REPLY")
}

# lab_kill PID [SIG]: signals a process started with lab_spawn (default
# TERM). Returns 1 if it had already exited.
lab_kill() {
  lab_pid_alive "$1" || return 1
  kill "-${2:-TERM}" "$1" 2>/dev/null
}

# lab_wait_exit PID TIMEOUT_S: waits for a process started with lab_spawn
# to exit. Returns 0 with its exit status in REPLY, or 1 on timeout.
lab_wait_exit() {
  local pid=$1
  if ! lab_wait_for "exit of pid $pid" "$2" lab_pid_exited "$pid"; then
    REPLY=""
    return 1
  fi
  wait "$pid" 2>/dev/null
  REPLY=$?
  lab_forget_pid "$pid"
  return 0
}

# Once reaped, a PID may be reused by a process that is not ours: forget it.
lab_forget_pid() {
  local p keep=()
  for p in "${LAB_PIDS[@]}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  LAB_PIDS=("${keep[@]}")
}

lab_pid_exited() { ! lab_pid_alive "$1"; }

lab_now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  REPLY=$(( t / 1000 ))
}

# lab_wait_for DESC TIMEOUT_S CMD...: runs CMD every 50 ms until it
# succeeds (return 0) or TIMEOUT_S seconds (may be fractional) have passed
# (return 1, with a message naming DESC).
lab_wait_for() {
  local desc=$1 timeout=$2 deadline
  shift 2
  lab_now_ms
  deadline=$(( REPLY + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }') ))
  while :; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    lab_now_ms
    if [ "$REPLY" -ge "$deadline" ]; then
      lab_log "timed out after ${timeout}s waiting for $desc"
      return 1
    fi
    sleep 0.05
  done
}

lab_has_addr() {
  ip -n "$1" -o addr show dev "$2" 2>/dev/null | grep -qF " $3/"
}

lab_has_dev() {
  ip -n "$1" link show dev "$2" >/dev/null 2>&1
}

lab_no_dev() { ! lab_has_dev "$@"; }

# lab_wait_addr NS DEV ADDR TIMEOUT_S: waits until DEV in NS carries ADDR
# (IPv6 in ip's compressed form).
lab_wait_addr() {
  lab_wait_for "$3 on $2 in $1" "$4" lab_has_addr "$1" "$2" "$3"
}

# lab_wait_no_dev NS DEV TIMEOUT_S: waits until DEV has gone from NS.
lab_wait_no_dev() {
  lab_wait_for "$2 to disappear from $1" "$3" lab_no_dev "$1" "$2"
}

# lab_wait_udp_listen NS PORT TIMEOUT_S: waits until something in NS has a
# UDP socket bound to PORT.
lab_wait_udp_listen() {
  lab_wait_for "UDP port $2 bound in $1" "$3" lab_udp_bound "$1" "$2"
}

lab_udp_bound() {
  ip netns exec "$1" ss -Hlun "sport = :$2" 2>/dev/null | grep -q .
}

lab_tcp_listening() {
  ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q .
}

# The standard topology:
#
#   client1 ns                        router ns                    server ns
#   eth0 198.18.1.2/24  ---veth--- c1  198.18.1.1/24
#        2001:db8:1::2/64              2001:db8:1::1/64
#                                   srv 198.18.3.1/24  ---veth--- eth0 198.18.3.2/24
#                                       2001:db8:3::1/64               2001:db8:3::2/64
#   client2 ns                     c2  198.18.2.1/24
#   eth0 198.18.2.2/24  ---veth---     2001:db8:2::1/64
#        2001:db8:2::2/64
#
# Clients and server route by default via the router, which forwards IPv4
# and IPv6 and masquerades (nft, random ports) everything leaving on srv:
# the server sees both clients as 198.18.3.1 / 2001:db8:3::1 at random
# ports, as users behind NAT look. "--no-nat" leaves the addresses alone.
#
# lab_topo_vpn [--no-nat]: builds it; the namespaces are LAB_NS[client1],
# LAB_NS[client2], LAB_NS[router] and LAB_NS[server].
lab_topo_vpn() {
  local nat=1 c1 c2 r s ns
  if [ "${1:-}" = "--no-nat" ]; then nat=0; fi
  lab_ns client1 && c1=$REPLY || return 1
  lab_ns client2 && c2=$REPLY || return 1
  lab_ns router && r=$REPLY || return 1
  lab_ns server && s=$REPLY || return 1

  lab_link "$c1" eth0 "$r" c1 || return 1
  lab_link "$c2" eth0 "$r" c2 || return 1
  lab_link "$s" eth0 "$r" "$LAB_ROUTER_UPLINK" || return 1

  lab_addr "$c1" eth0 198.18.1.2/24
  lab_addr "$c1" eth0 2001:db8:1::2/64
  lab_addr "$c2" eth0 198.18.2.2/24
  lab_addr "$c2" eth0 2001:db8:2::2/64
  lab_addr "$s" eth0 198.18.3.2/24
  lab_addr "$s" eth0 2001:db8:3::2/64
  lab_addr "$r" c1 198.18.1.1/24
  lab_addr "$r" c1 2001:db8:1::1/64
  lab_addr "$r" c2 198.18.2.1/24
  lab_addr "$r" c2 2001:db8:2::1/64
  lab_addr "$r" "$LAB_ROUTER_UPLINK" 198.18.3.1/24
  lab_addr "$r" "$LAB_ROUTER_UPLINK" 2001:db8:3::1/64

  ip -n "$c1" route add default via 198.18.1.1
  ip -n "$c1" -6 route add default via 2001:db8:1::1
  ip -n "$c2" route add default via 198.18.2.1
  ip -n "$c2" -6 route add default via 2001:db8:2::1
  ip -n "$s" route add default via 198.18.3.1
  ip -n "$s" -6 route add default via 2001:db8:3::1

  # The server namespace forwards too, as a VPN gateway host does, so
  # tunnel traffic may leave through the kernel as well as the program.
  for ns in "$r" "$s"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 \
      net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
  done

  if [ "$nat" = 1 ]; then
    lab_nat_on || return 1
  fi
}

# lab_nat_on / lab_nat_off: the router's masquerade toward the server side.
# "random" makes the NAT pick a fresh random port for each new mapping, so
# a flushed mapping (lab_nat_flush) comes back on a different port.
lab_nat_on() {
  ip netns exec "${LAB_NS[router]}" nft -f - <<EOF
table inet lab_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "$LAB_ROUTER_UPLINK" masquerade random
  }
}
EOF
}

lab_nat_off() {
  ip netns exec "${LAB_NS[router]}" nft delete table inet lab_nat 2>/dev/null
  lab_nat_flush
}

# lab_nat_flush: forgets every NAT mapping in the router, as a home router
# does on reboot; the clients' next packets leave from new ports.
lab_nat_flush() {
  ip netns exec "${LAB_NS[router]}" conntrack -F -f ipv4 >/dev/null 2>&1
  ip netns exec "${LAB_NS[router]}" conntrack -F -f ipv6 >/dev/null 2>&1
  return 0
}

# lab_nat_forget ADDR: forgets the router's NAT mappings of one inside
# host (ADDR, IPv4 or IPv6), as when that host's own home router reboots:
# its next packets leave from new ports, the other clients keep theirs.
lab_nat_forget() {
  local fam=ipv4
  case "$1" in *:*) fam=ipv6 ;; esac
  ip netns exec "${LAB_NS[router]}" conntrack -D -f "$fam" -s "$1" \
    >/dev/null 2>&1
  return 0
}

# lab_nat_mappings [PROTO]: the router's conntrack entries (default udp),
# printed on stdout.
lab_nat_mappings() {
  ip netns exec "${LAB_NS[router]}" conntrack -L -f ipv4 -p "${1:-udp}" \
    2>/dev/null
  ip netns exec "${LAB_NS[router]}" conntrack -L -f ipv6 -p "${1:-udp}" \
    2>/dev/null
  return 0
}

# --- more clients behind the router ---------------------------------------
#
#   clientK eth0 198.18.(20+K).2/24  ---veth--- cK 198.18.(20+K).1/24
#                2001:db8:(20+K)::2/64             2001:db8:(20+K)::1/64
#
# For K = 3..LAB_MAX_CLIENTS, next to lab_topo_vpn's client1 and client2
# (whose subnets are 198.18.K.0/24: 3 is the server's). Behind the same
# router and masquerade; the router's link to clientK is cK, as c1 and c2.
# Their inner addresses are fixed in the server's config
# (lab_gen_vpn_configs): 198.18.200.(K+1) and fd77:6a76:706e::(K+1), the
# ones client1 and client2 get from the pool when they attach first.
LAB_MAX_CLIENTS=16

# lab_client_def K: clientK's names and addresses (K = 1..LAB_MAX_CLIENTS)
# in LAB_CL_RIF (the router's side of its link), LAB_CL_A4/LAB_CL_GW4 and
# LAB_CL_A6/LAB_CL_GW6 (its underlay address and gateway, /24 and /64, no
# prefix length), LAB_CL_IN4/LAB_CL_IN6 (its inner addresses, as ip
# prints them).
# shellcheck disable=SC2034 # for the callers
lab_client_def() {
  local k=$1 n
  case "$k" in
    ''|*[!0-9]*) lab_log "lab_client_def: no client '$k'"; return 1 ;;
  esac
  if [ "$k" -lt 1 ] || [ "$k" -gt "$LAB_MAX_CLIENTS" ]; then
    lab_log "lab_client_def: client $k not in 1..$LAB_MAX_CLIENTS"
    return 1
  fi
  n=$k
  [ "$k" -le 2 ] || n=$(( 20 + k ))
  LAB_CL_RIF=c$k
  LAB_CL_A4=198.18.$n.2
  LAB_CL_GW4=198.18.$n.1
  LAB_CL_A6=2001:db8:$n::2
  LAB_CL_GW6=2001:db8:$n::1
  LAB_CL_IN4=198.18.200.$(( k + 1 ))
  LAB_CL_IN6=fd77:6a76:706e::$(printf %x $(( k + 1 )))
}

# lab_client_ns_add K: clientK (K >= 3) on the router of lab_topo_vpn, its
# namespace in LAB_NS[clientK].
lab_client_ns_add() {
  local k=$1 cns r=${LAB_NS[router]:-}
  if [ -z "$r" ]; then
    lab_log "lab_client_ns_add: build lab_topo_vpn first"
    return 1
  fi
  lab_client_def "$k" || return 1
  if [ "$k" -le 2 ]; then
    lab_log "lab_client_ns_add: client$k is lab_topo_vpn's own"
    return 1
  fi
  lab_ns "client$k" && cns=$REPLY || return 1
  lab_link "$cns" eth0 "$r" "$LAB_CL_RIF" || return 1
  lab_addr "$cns" eth0 "$LAB_CL_A4/24" || return 1
  lab_addr "$cns" eth0 "$LAB_CL_A6/64" || return 1
  lab_addr "$r" "$LAB_CL_RIF" "$LAB_CL_GW4/24" || return 1
  lab_addr "$r" "$LAB_CL_RIF" "$LAB_CL_GW6/64" || return 1
  ip -n "$cns" route add default via "$LAB_CL_GW4" || return 1
  ip -n "$cns" -6 route add default via "$LAB_CL_GW6"
}

# The fault rules of one namespace, made on first use.
lab_fault_table() {
  ip netns exec "$1" nft list table inet lab_fault >/dev/null 2>&1 && return 0
  ip netns exec "$1" nft -f - <<'EOF'
table inet lab_fault {
  set blackhole { type ifname; }
  set noudp_ifs { type ifname; }
  chain in {
    type filter hook input priority filter - 10; policy accept;
    iifname @blackhole drop
  }
  chain out {
    type filter hook output priority filter - 10; policy accept;
    oifname @blackhole drop
  }
  chain through {
    type filter hook forward priority filter - 10; policy accept;
    iifname @blackhole drop
    oifname @blackhole drop
  }
  chain loss {
    type filter hook forward priority filter - 20; policy accept;
  }
  chain oversize {
    type filter hook forward priority filter - 30; policy accept;
  }
  chain noudp {
    type filter hook forward priority filter - 40; policy accept;
  }
  chain noudp_if {
    type filter hook forward priority filter - 45; policy accept;
    iifname @noudp_ifs udp dport 443 counter drop
    oifname @noudp_ifs udp sport 443 counter drop
  }
}
EOF
}

# lab_udp_block 1|0 [NS]: the router (or NS) drops every UDP datagram to
# or from port 443 it forwards (a network that blocks QUIC), counted; 0
# lets them through again. TCP passes either way.
lab_udp_block() {
  local ns=${2:-${LAB_NS[router]}}
  lab_fault_table "$ns" || return 1
  ip netns exec "$ns" nft flush chain inet lab_fault noudp || return 1
  [ "$1" = 1 ] || return 0
  ip netns exec "$ns" nft add rule inet lab_fault noudp udp dport 443 \
    counter drop &&
    ip netns exec "$ns" nft add rule inet lab_fault noudp udp sport 443 \
      counter drop
}

# lab_udp_block_if 1|0 IF [NS]: the router (or NS) drops the UDP
# datagrams to or from port 443 it forwards in or out of IF only (one
# uplink's network blocks QUIC, the others do not), counted; 0 lets them
# through again. TCP passes either way, and lab_udp_block is independent.
lab_udp_block_if() {
  local ns=${3:-${LAB_NS[router]}}
  lab_fault_table "$ns" || return 1
  if [ "$1" = 1 ]; then
    ip netns exec "$ns" nft add element inet lab_fault noudp_ifs "{ \"$2\" }"
  else
    ip netns exec "$ns" nft delete element inet lab_fault noudp_ifs \
      "{ \"$2\" }" 2>/dev/null
    return 0
  fi
}

# lab_blackhole_on [NS IF]: silently drops everything in or out of IF in
# NS (default: the router's server-side link), as a dead path does; the
# link itself stays up. lab_blackhole_off [NS IF] undoes it.
lab_blackhole_on() {
  local ns=${1:-${LAB_NS[router]}} dev=${2:-$LAB_ROUTER_UPLINK}
  lab_fault_table "$ns" || return 1
  ip netns exec "$ns" nft add element inet lab_fault blackhole "{ \"$dev\" }"
}

lab_blackhole_off() {
  local ns=${1:-${LAB_NS[router]}} dev=${2:-$LAB_ROUTER_UPLINK}
  ip netns exec "$ns" nft delete element inet lab_fault blackhole \
    "{ \"$dev\" }" 2>/dev/null
  return 0
}

# lab_loss PERCENT [NS]: drops PERCENT % (0..100, integer) of the packets
# the router (or NS) forwards, at random; 0 removes the loss. A GSO batch
# crosses the router as one packet, so the sender should disable GSO when
# per-datagram loss matters.
lab_loss() {
  lab_fault_rule loss "$1" "${2:-${LAB_NS[router]}}" "a whole percentage" \
    numgen random mod 100 "<" "$1" counter drop
}

# lab_fault_rule CHAIN N NS WHAT RULE...: the one rule of lab_fault's CHAIN
# in NS becomes RULE, or none when N (a whole number, described as WHAT in
# errors) is 0.
lab_fault_rule() {
  local chain=$1 n=$2 ns=$3 what=$4
  shift 4
  case "$n" in
    ''|*[!0-9]*) lab_log "lab_$chain: '$n' is not $what"
                 return 1 ;;
  esac
  lab_fault_table "$ns" || return 1
  ip netns exec "$ns" nft flush chain inet lab_fault "$chain" || return 1
  if [ "$n" -gt 0 ]; then
    ip netns exec "$ns" nft add rule inet lab_fault "$chain" "$@"
  fi
}

# lab_size_drop BYTES [NS]: silently drops every packet longer than BYTES
# (IP header included) that the router (or NS) forwards, with no ICMP
# error, as a path with a smaller MTU behind a filter that eats the
# errors does (a PMTU black hole); 0 removes the rule. The drops are
# counted (lab_size_drops). A GSO batch crosses a router as one long
# packet and would be dropped whole: the senders' links must cut their
# batches first (lab_gso_off).
lab_size_drop() {
  lab_fault_rule oversize "$1" "${2:-${LAB_NS[router]}}" "a byte count" \
    meta length ">" "$1" counter drop
}

# lab_size_drops [NS]: the packets lab_size_drop has dropped so far in the
# router (or NS), in REPLY (0 without the rule).
lab_size_drops() {
  local ns=${1:-${LAB_NS[router]}}
  REPLY=$(ip netns exec "$ns" nft list chain inet lab_fault oversize \
    2>/dev/null | sed -n 's/.*meta length > [0-9]* counter packets \([0-9]*\) .*/\1/p')
  REPLY=${REPLY:-0}
}

# lab_gso_off NS IF: IF in NS takes at most one segment per packet, so UDP
# GSO batches (which jvpn-quic sends) are cut into datagrams before they
# leave, and the next hop's rules see each datagram.
lab_gso_off() { ip -n "$1" link set dev "$2" gso_max_segs 1; }

# lab_mtu NS IF MTU: IF's MTU in NS. A router forwarding onto a link with
# a smaller MTU answers with ICMP "fragmentation needed" / Packet Too Big,
# as real ones do.
lab_mtu() { ip -n "$1" link set dev "$2" mtu "$3"; }

# lab_server_mtu MTU: both ends of the router-server link of lab_topo_vpn.
lab_server_mtu() {
  lab_mtu "${LAB_NS[router]}" "$LAB_ROUTER_UPLINK" "$1" &&
    lab_mtu "${LAB_NS[server]}" eth0 "$1"
}

# lab_uplink_mtu CLIENT N MTU: both ends of uplink N (lab_uplink_def) of
# CLIENT.
lab_uplink_mtu() {
  lab_uplink_def "$1" "$2" || return 1
  lab_mtu "${LAB_NS[$1]}" "$LAB_UL_IF" "$3" &&
    lab_mtu "${LAB_NS[router]}" "$LAB_UL_RIF" "$3"
}

# lab_link_mtu NS IF: IF's MTU in NS, in REPLY (empty when IF is missing).
lab_link_mtu() {
  REPLY=$(ip -n "$1" -o link show dev "$2" 2>/dev/null |
    sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  [ -n "$REPLY" ]
}

# lab_link_down NS IF / lab_link_up NS IF
lab_link_down() { ip -n "$1" link set "$2" down; }
lab_link_up() { ip -n "$1" link set "$2" up; }

# --- a second uplink for a client -----------------------------------------
#
#   client1 eth0 198.18.1.2/24   ---veth--- c1  198.18.1.1/24    (uplink 1)
#           eth1 198.18.11.2/24  ---veth--- c1b 198.18.11.1/24   (uplink 2)
#                2001:db8:11::2/64              2001:db8:11::1/64
#   client2 eth1 198.18.12.2/24  ---veth--- c2b 198.18.12.1/24   (uplink 2)
#
# Uplink 1's default routes have the default metric (0 for IPv4, 1024 for
# IPv6), uplink 2's LAB_UPLINK2_METRIC, above both: uplink 2 is the standby that takes over when uplink 1
# loses its address, as a phone's LTE takes over from a Wi-Fi that went
# away. The router masquerades whatever leaves on srv, so both uplinks are
# behind the same NAT, each with its own mappings.
LAB_UPLINK2_METRIC=2000

# lab_uplink_def CLIENT N: the names and addresses of uplink N (1 or 2) of
# CLIENT (client1 or client2), in LAB_UL_IF (client side), LAB_UL_RIF
# (router side), LAB_UL_A4/LAB_UL_GW4, LAB_UL_A6/LAB_UL_GW6 (addresses
# without prefix length: /24 and /64) and LAB_UL_METRIC.
lab_uplink_def() {
  local n
  case "$1" in
    client1) n=1 ;;
    client2) n=2 ;;
    *) lab_log "lab_uplink_def: unknown client '$1'"; return 1 ;;
  esac
  case "$2" in
    1) LAB_UL_IF=eth0; LAB_UL_RIF=c$n; LAB_UL_METRIC=0 ;;
    2) LAB_UL_IF=eth1; LAB_UL_RIF=c${n}b; LAB_UL_METRIC=$LAB_UPLINK2_METRIC
       n=1$n ;;
    *) lab_log "lab_uplink_def: no uplink '$2'"; return 1 ;;
  esac
  LAB_UL_A4=198.18.$n.2
  LAB_UL_GW4=198.18.$n.1
  LAB_UL_A6=2001:db8:$n::2
  LAB_UL_GW6=2001:db8:$n::1
}

# lab_uplink2_add [CLIENT]: gives CLIENT (default client1) of lab_topo_vpn
# its second uplink, with standby default routes.
lab_uplink2_add() {
  local c=${1:-client1} cns r
  cns=${LAB_NS[$c]:-}
  r=${LAB_NS[router]:-}
  if [ -z "$cns" ] || [ -z "$r" ]; then
    lab_log "lab_uplink2_add: build lab_topo_vpn first"
    return 1
  fi
  lab_uplink_def "$c" 2 || return 1
  lab_link "$cns" "$LAB_UL_IF" "$r" "$LAB_UL_RIF" || return 1
  lab_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A4/24" || return 1
  lab_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A6/64" || return 1
  lab_addr "$r" "$LAB_UL_RIF" "$LAB_UL_GW4/24" || return 1
  lab_addr "$r" "$LAB_UL_RIF" "$LAB_UL_GW6/64" || return 1
  lab_uplink_routes_add "$c" 2
}

# lab_uplink_routes_add CLIENT N: uplink N's default routes, at its metric.
lab_uplink_routes_add() {
  local cns=${LAB_NS[$1]}
  lab_uplink_def "$1" "$2" || return 1
  ip -n "$cns" route replace default via "$LAB_UL_GW4" dev "$LAB_UL_IF" \
    metric "$LAB_UL_METRIC" || return 1
  ip -n "$cns" -6 route replace default via "$LAB_UL_GW6" dev "$LAB_UL_IF" \
    metric "$LAB_UL_METRIC" || return 1
}

# lab_uplink_addr_del CLIENT N: uplink N loses its addresses (and with
# them its default routes) while the link stays up, as when a DHCP lease
# ends or a Wi-Fi association is lost: the client's source address
# changes to the other uplink's.
lab_uplink_addr_del() {
  local cns=${LAB_NS[$1]}
  lab_uplink_def "$1" "$2" || return 1
  ip -n "$cns" route del default via "$LAB_UL_GW4" dev "$LAB_UL_IF" \
    2>/dev/null
  ip -n "$cns" -6 route del default via "$LAB_UL_GW6" dev "$LAB_UL_IF" \
    2>/dev/null
  ip -n "$cns" addr del "$LAB_UL_A4/24" dev "$LAB_UL_IF" || return 1
  ip -n "$cns" addr del "$LAB_UL_A6/64" dev "$LAB_UL_IF" || return 1
}

# lab_uplink_addr_add CLIENT N: undoes lab_uplink_addr_del.
lab_uplink_addr_add() {
  local cns=${LAB_NS[$1]}
  lab_uplink_def "$1" "$2" || return 1
  lab_has_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A4" ||
    lab_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A4/24" || return 1
  lab_has_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A6" ||
    lab_addr "$cns" "$LAB_UL_IF" "$LAB_UL_A6/64" || return 1
  lab_uplink_routes_add "$1" "$2"
}

# lab_uplink_prefer CLIENT N: moves the default routes to uplink N
# (default metric) and the other uplink's to standby, addresses untouched.
lab_uplink_prefer() {
  local cns=${LAB_NS[$1]} other=$(( $2 == 1 ? 2 : 1 )) fam
  lab_uplink_def "$1" "$other" || return 1
  for fam in -4 -6; do
    ip -n "$cns" "$fam" route flush exact default 2>/dev/null
  done
  if lab_has_dev "$cns" "$LAB_UL_IF"; then
    ip -n "$cns" route add default via "$LAB_UL_GW4" dev "$LAB_UL_IF" \
      metric "$LAB_UPLINK2_METRIC" 2>/dev/null
    ip -n "$cns" -6 route add default via "$LAB_UL_GW6" dev "$LAB_UL_IF" \
      metric "$LAB_UPLINK2_METRIC" 2>/dev/null
  fi
  lab_uplink_def "$1" "$2" || return 1
  ip -n "$cns" route replace default via "$LAB_UL_GW4" dev "$LAB_UL_IF" \
    metric 0 || return 1
  ip -n "$cns" -6 route replace default via "$LAB_UL_GW6" dev "$LAB_UL_IF" \
    metric 0
}

# lab_uplink_active CLIENT [DEST]: the uplink (1 or 2) the kernel uses now
# to reach DEST (default the server, 198.18.3.2), in REPLY; 1 if none.
lab_uplink_active() {
  local dev
  dev=$(ip -n "${LAB_NS[$1]}" route get "${2:-198.18.3.2}" 2>/dev/null |
    sed -n 's/.* dev \([^ ]*\).*/\1/p')
  lab_uplink_def "$1" 2 || return 1
  if [ "$dev" = "$LAB_UL_IF" ]; then REPLY=2; else REPLY=1; fi
}

# lab_uplink_blackhole_on CLIENT [N] / lab_uplink_blackhole_off CLIENT N:
# drops everything on uplink N (default: the active one) in the router,
# beyond the client's sight: its link stays up, its routes stay, only the
# packets vanish. The uplink blackholed is returned in REPLY.
lab_uplink_blackhole_on() {
  local n=${2:-}
  if [ -z "$n" ]; then
    lab_uplink_active "$1" || return 1
    n=$REPLY
  fi
  lab_uplink_def "$1" "$n" || return 1
  lab_blackhole_on "${LAB_NS[router]}" "$LAB_UL_RIF" || return 1
  REPLY=$n
}

lab_uplink_blackhole_off() {
  lab_uplink_def "$1" "$2" || return 1
  lab_blackhole_off "${LAB_NS[router]}" "$LAB_UL_RIF"
}

# --- an attacker on the router (tests/tools/flood) --------------------------
#
#   attacker ns                        router ns
#   eth0 198.18.9.2/24   ---veth--- atk 198.18.9.1/24
#        2001:db8:9::2/64               2001:db8:9::1/64
#   sends from any address of LAB_SPOOF4 (198.19.0.0/17) and LAB_SPOOF6
#   (2001:db8:f1::/48), none of which it owns
#
# The router routes both spoof prefixes to the attacker: a packet from them
# passes its strict reverse-path check (rp_filter 1 on atk), and whatever
# the server answers goes back to the attacker, which counts and drops it
# (lab_attacker_replies). The router neither tracks nor masquerades the
# attacker's packets or the answers: each spoofed source would cost a
# conntrack entry in the router, and leave masqueraded as the router's own
# address, so the server would see one source instead of thousands.
# shellcheck disable=SC2034 # for the callers
{
LAB_SPOOF4=198.19.0.0/17
LAB_SPOOF6=2001:db8:f1::/48
}

# lab_attacker_add: the attacker namespace (LAB_NS[attacker]) on the router
# of lab_topo_vpn.
lab_attacker_add() {
  local a r=${LAB_NS[router]:-}
  if [ -z "$r" ]; then
    lab_log "lab_attacker_add: build lab_topo_vpn first"
    return 1
  fi
  lab_ns attacker && a=$REPLY || return 1
  lab_link "$a" eth0 "$r" atk || return 1
  lab_addr "$a" eth0 198.18.9.2/24 || return 1
  lab_addr "$a" eth0 2001:db8:9::2/64 || return 1
  lab_addr "$r" atk 198.18.9.1/24 || return 1
  lab_addr "$r" atk 2001:db8:9::1/64 || return 1
  ip -n "$a" route add default via 198.18.9.1 || return 1
  ip -n "$a" -6 route add default via 2001:db8:9::1 || return 1
  ip -n "$r" route add "$LAB_SPOOF4" via 198.18.9.2 || return 1
  ip -n "$r" -6 route add "$LAB_SPOOF6" via 2001:db8:9::2 || return 1
  ip netns exec "$r" sysctl -qw net.ipv4.conf.atk.rp_filter=1 >/dev/null ||
    return 1
  ip netns exec "$r" nft -f - <<NFT || return 1
table inet lab_attacker {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    iifname "atk" notrack
    ip daddr $LAB_SPOOF4 notrack
    ip6 daddr $LAB_SPOOF6 notrack
  }
}
NFT
  ip netns exec "$a" nft -f - <<NFT
table inet lab_attacker {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    ip daddr $LAB_SPOOF4 counter drop
    ip6 daddr $LAB_SPOOF6 counter drop
  }
}
NFT
}

# lab_internet_add: an "internet" namespace behind the server of
# lab_topo_vpn (198.18.60.2, 2001:db8:60::2, LAB_INET4/6), reachable only
# through the server, which NATs the tunnel's pools out to it as a
# full-tunnel VPN gateway does. The router knows no route to it, so a
# client reaches it through the tunnel or not at all.
LAB_INET4=198.18.60.2
LAB_INET6=2001:db8:60::2
lab_internet_add() {
  local i s=${LAB_NS[server]:-}
  if [ -z "$s" ]; then
    lab_log "lab_internet_add: build lab_topo_vpn first"
    return 1
  fi
  lab_ns inet && i=$REPLY || return 1
  lab_link "$i" eth0 "$s" inet || return 1
  lab_addr "$i" eth0 "$LAB_INET4/24" || return 1
  lab_addr "$i" eth0 "$LAB_INET6/64" || return 1
  lab_addr "$s" inet 198.18.60.1/24 || return 1
  lab_addr "$s" inet 2001:db8:60::1/64 || return 1
  ip -n "$i" route add default via 198.18.60.1 || return 1
  ip -n "$i" -6 route add default via 2001:db8:60::1 || return 1
  ip netns exec "$s" nft -f - <<NFT
table inet lab_inet {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "inet" ip saddr 198.18.200.0/24 masquerade
    oifname "inet" ip6 saddr fd77:6a76:706e::/64 masquerade
  }
}
NFT
}

# lab_attacker_replies: the packets that came back to the spoof prefixes so
# far (the server's answers to the attacker's packets), in REPLY.
lab_attacker_replies() {
  REPLY=$(ip netns exec "${LAB_NS[attacker]}" nft list chain inet \
    lab_attacker pre 2>/dev/null |
    awk '/counter packets/ { for (i = 1; i < NF; i++)
           if ($i == "packets") n += $(i + 1) } END { print n + 0 }')
}

# lab_flood_start OUT 4|6 RATE SECONDS [FLOOD_ARGS...]: tests/tools/flood
# in the attacker namespace at the server of lab_topo_vpn (198.18.3.2 or
# 2001:db8:3::2, UDP 443) from LAB_SPOOF4 or LAB_SPOOF6, RATE packets/s for
# SECONDS (spoofed Initials unless FLOOD_ARGS says --short); its report to
# OUT, its PID in REPLY.
lab_flood_start() {
  local out=$1 fam=$2 rate=$3 secs=$4 to=198.18.3.2 src=$LAB_SPOOF4
  shift 4
  lab_tool_find flood LAB_FLOOD_BIN || return 1
  if [ "$fam" = 6 ]; then
    to=2001:db8:3::2
    src=$LAB_SPOOF6
  fi
  lab_spawn "${LAB_NS[attacker]}" "$out" "$LAB_FLOOD_BIN" --to "$to" \
    --port 443 --src-prefix "$src" --rate "$rate" --duration "$secs" "$@"
}

# lab_flood_end PID OUT TIMEOUT_S: waits for the flood of lab_flood_start
# (SIGTERM after TIMEOUT_S, then 5 s more) and loads its report into
# LAB_FLOOD[key] (mode, family, sent, errors, seconds, pps, target).
# Returns 1 (REPLY says why) when it gave none.
declare -gA LAB_FLOOD=()
# shellcheck disable=SC2034 # LAB_FLOOD is for the callers
lab_flood_end() {
  local pid=$1 out=$2 kv line
  if ! lab_wait_exit "$pid" "$3"; then
    lab_kill "$pid" TERM || true
    lab_wait_exit "$pid" 5 || { lab_kill "$pid" KILL || true; }
  fi
  LAB_FLOOD=()
  line=$(grep -m1 '^flood: ' "$out" 2>/dev/null)
  if [ -z "$line" ]; then
    REPLY="the flood reported nothing: $(head -c 300 "$out" 2>/dev/null)"
    return 1
  fi
  for kv in ${line#flood: }; do
    LAB_FLOOD[${kv%%=*}]=${kv#*=}
  done
  REPLY=$line
}

# --- wireguard-go beside jvpn-quic, the reference for comparisons ---------
#
# lab_wg_pair CLIENT DIR [KEEPALIVE_S]: wireguard-go in CLIENT's namespace
# and the server's, keys in DIR, the server listening on UDP 51820 at
# 198.18.3.2 (as jvpn-quic's server on 443, so both cross the same router
# and NAT), MTU 1420, persistent keepalive KEEPALIVE_S (default 25, 0 off).
# Tunnel addresses: LAB_WG_SERVER_IN4 and LAB_WG_CLIENT_IN4. The daemons'
# PIDs go to LAB_WG_PID[client] and LAB_WG_PID[server], their interface
# names to LAB_WG_IF[client] and LAB_WG_IF[server]. Returns 1 (with a
# message) when wireguard-go or wg is missing or the tunnel does not work.
# shellcheck disable=SC2034
{
LAB_WG_SERVER_IN4=198.19.250.1
LAB_WG_CLIENT_IN4=198.19.250.2
LAB_WG_PORT=51820
}
declare -gA LAB_WG_PID=() LAB_WG_IF=()
# shellcheck disable=SC2034 # LAB_WG_PID is for the callers
lab_wg_pair() {
  local c=$1 dir=$2 ka=${3:-25} cns sns wgc cpub spub um side
  cns=${LAB_NS[$c]:-}
  sns=${LAB_NS[server]:-}
  if [ -z "$cns" ] || [ -z "$sns" ]; then
    lab_log "lab_wg_pair: build lab_topo_vpn first"
    return 1
  fi
  for side in wireguard-go wg; do
    if ! command -v "$side" >/dev/null 2>&1; then
      lab_log "lab_wg_pair: $side is missing (apt-get install wireguard-go" \
        "wireguard-tools)"
      return 1
    fi
  done
  mkdir -p "$dir" || return 1
  # The daemons' control sockets, /var/run/wireguard/IF.sock, live in the
  # one file system all namespaces share: the names must be unique, and
  # a killed daemon leaves its socket behind for the cleanup to remove.
  wgc="$LAB_PREFIX-wgc"
  LAB_FILES+=("/var/run/wireguard/$wgc.sock")
  um=$(umask)
  umask 077
  wg genkey >"$dir/wgc.key" && wg genkey >"$dir/wgs.key"
  umask "$um"
  cpub=$(wg pubkey <"$dir/wgc.key") || return 1
  spub=$(wg pubkey <"$dir/wgs.key") || return 1
  lab_wg_server_up "$dir" || return 1
  lab_spawn "$cns" "$dir/wg-client.log" wireguard-go -f "$wgc"
  LAB_WG_PID[client]=$REPLY
  LAB_WG_IF[client]=$wgc
  if ! lab_wait_for "wireguard-go client" 5 \
         test -S "/var/run/wireguard/$wgc.sock"; then
    lab_tail "$dir/wg-server.log" "$dir/wg-client.log" >&2
    return 1
  fi
  ip netns exec "$cns" wg set "$wgc" private-key "$dir/wgc.key" \
    peer "$spub" allowed-ips "$LAB_WG_SERVER_IN4/32" \
    endpoint "198.18.3.2:$LAB_WG_PORT" persistent-keepalive "$ka" || return 1
  lab_addr "$cns" "$wgc" "$LAB_WG_CLIENT_IN4/24" || return 1
  ip -n "$cns" link set "$wgc" mtu 1420 up || return 1
  if ! lab_wait_for "a ping through wireguard-go" 10 ip netns exec "$cns" \
         ping -n -q -c 1 -W 1 "$LAB_WG_SERVER_IN4"; then
    lab_tail "$dir/wg-server.log" "$dir/wg-client.log" >&2
    return 1
  fi
}

# lab_wg_server_up DIR [LOG]: the server half of lab_wg_pair DIR (its keys
# DIR/wgs.key and DIR/wgc.key): wireguard-go in the server's namespace,
# log LOG (default DIR/wg-server.log), configured with its key, UDP
# LAB_WG_PORT and the client as its peer (no endpoint: it learns it from
# the client's handshake), interface up with LAB_WG_SERVER_IN4 and MTU
# 1420; its PID in LAB_WG_PID[server]. Also a restart: after the old
# daemon has exited, the same server comes back (a killed daemon's stale
# control socket, ours by name, is removed first). Returns 1 when it does
# not come up.
# shellcheck disable=SC2034 # LAB_WG_PID is for the callers
lab_wg_server_up() {
  local dir=$1 log=${2:-$1/wg-server.log} sns=${LAB_NS[server]:-} wgs cpub
  wgs="$LAB_PREFIX-wgs"
  LAB_WG_IF[server]=$wgs
  LAB_FILES+=("/var/run/wireguard/$wgs.sock")
  cpub=$(wg pubkey <"$dir/wgc.key") || return 1
  rm -f -- "/var/run/wireguard/$wgs.sock"
  lab_spawn "$sns" "$log" wireguard-go -f "$wgs"
  LAB_WG_PID[server]=$REPLY
  if ! lab_wait_for "wireguard-go server" 5 \
         test -S "/var/run/wireguard/$wgs.sock"; then
    lab_tail "$log" >&2
    return 1
  fi
  ip netns exec "$sns" wg set "$wgs" private-key "$dir/wgs.key" \
    listen-port "$LAB_WG_PORT" peer "$cpub" \
    allowed-ips "$LAB_WG_CLIENT_IN4/32" || return 1
  lab_addr "$sns" "$wgs" "$LAB_WG_SERVER_IN4/24" || return 1
  ip -n "$sns" link set "$wgs" mtu 1420 up
}

# lab_wg_endpoint: the client's address and port as wireguard-go's server
# last saw them (its roaming state), in REPLY.
lab_wg_endpoint() {
  REPLY=$(ip netns exec "${LAB_NS[server]}" wg show "${LAB_WG_IF[server]}" \
    endpoints 2>/dev/null | awk '{ print $2; exit }')
}

# --- the probe stream (tests/tools/probe) ---------------------------------
#
# A fixed-rate UDP stream from one namespace to another whose receiver
# reports the longest gap between arrivals; several may run at once (one
# per tunnel), each known by its OUT prefix.

LAB_PROBE_RATE=${LAB_PROBE_RATE:-200}
declare -gA LAB_PROBE=() LAB_PROBE_RPID=() LAB_PROBE_SPID=() LAB_PROBE_SECS=()

# lab_tool_find NAME VAR [PATH...]: a test tool's binary in the variable
# named VAR: VAR's value if it is executable, else the build directory's
# or the source tree's tests/tools/NAME, else the first executable PATH.
lab_tool_find() {
  local name=$1 var=$2 top cand
  shift 2
  if [ -n "${!var:-}" ] && [ -x "${!var}" ]; then
    return 0
  fi
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  for cand in "${top_builddir:+$top_builddir/tests/tools/$name}" \
              "$top/build/tests/tools/$name" "$top/tests/tools/$name" "$@"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && [ ! -d "$cand" ]; then
      printf -v "$var" '%s' "$cand"
      return 0
    fi
  done
  lab_log "no $name binary: make tests/tools/$name (or set $var)"
  return 1
}

# lab_probe_find: the probe binary ($LAB_PROBE_BIN, else the build
# directory's or the source tree's tests/tools/probe) in LAB_PROBE_BIN.
lab_probe_find() { lab_tool_find probe LAB_PROBE_BIN; }

# lab_probe_now: CLOCK_MONOTONIC in ms, the time line of the probe's
# reports (shared by all namespaces), in REPLY.
lab_probe_now() {
  REPLY=$("$LAB_PROBE_BIN" now)
}

# lab_probe_start FROM_NS TO_NS TO_ADDR PORT SECONDS OUT: a receiver bound
# to TO_ADDR:PORT in TO_NS, then a LAB_PROBE_RATE pps sender in FROM_NS for
# SECONDS. The receiver stops 2 s after the sender, so late packets count.
# Reports go to OUT.json (receiver) and OUT.send (sender).
lab_probe_start() {
  local from=$1 to=$2 addr=$3 port=$4 secs=$5 out=$6
  lab_probe_find || return 1
  lab_spawn "$to" "$out.json" "$LAB_PROBE_BIN" recv --bind "$addr" \
    --port "$port" --duration "$(awk -v s="$secs" 'BEGIN { print s + 2 }')" \
    --json
  LAB_PROBE_RPID[$out]=$REPLY
  if ! lab_wait_udp_listen "$to" "$port" 5; then
    lab_kill "${LAB_PROBE_RPID[$out]}" || true
    return 1
  fi
  lab_spawn "$from" "$out.send" "$LAB_PROBE_BIN" send --to "$addr" \
    --port "$port" --rate "$LAB_PROBE_RATE" --duration "$secs"
  LAB_PROBE_SPID[$out]=$REPLY
  LAB_PROBE_SECS[$out]=$secs
}

# lab_probe_wait OUT: waits for both ends, then loads the receiver's
# report into LAB_PROBE[OUT,key] (sent, received, lost, longest_gap_ms,
# gap_start_ms, gap_end_ms, missing_run_ms, max_delay_ms, ...) and
# LAB_PROBE[OUT,expected] (the packets the sender was to send).
lab_probe_wait() {
  local out=$1 t kv secs=${LAB_PROBE_SECS[$1]:-0}
  t=$(awk -v s="$secs" 'BEGIN { print s + 8 }')
  lab_wait_exit "${LAB_PROBE_SPID[$out]}" "$t" || return 1
  lab_wait_exit "${LAB_PROBE_RPID[$out]}" 5 || return 1
  [ "$REPLY" = 0 ] || return 1
  for kv in $(tr -d '{}"' <"$out.json" | tr ',' ' '); do
    LAB_PROBE[$out,${kv%%:*}]=${kv#*:}
  done
  LAB_PROBE[$out,expected]=$(awk -v s="$secs" -v r="$LAB_PROBE_RATE" \
    'BEGIN { printf "%d", s * r }')
  [ -n "${LAB_PROBE[$out,longest_gap_ms]:-}" ]
}

# lab_quic_idle_ms: jvpn-quic's default QUIC idle timeout in ms (keep-alive
# interval times the keep-alives it may miss, from include/jvpn/proto.h),
# in REPLY; a blackhole shorter than this is survived by the connection,
# a longer one by the session (reattach).
lab_quic_idle_ms() {
  local h ka n
  h="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/include/jvpn/proto.h"
  ka=$(sed -n 's/^#define JVPN_QUIC_KEEPALIVE_MS \([0-9]*\).*/\1/p' "$h" \
    2>/dev/null)
  n=$(sed -n 's/^#define JVPN_QUIC_IDLE_KEEPALIVES \([0-9]*\).*/\1/p' "$h" \
    2>/dev/null)
  if [ -n "$ka" ] && [ -n "$n" ]; then
    REPLY=$((ka * n))
  else
    REPLY=$(sed -n 's/^#define JVPN_QUIC_IDLE_TIMEOUT_MS \([0-9]*\).*/\1/p' \
      "$h" 2>/dev/null)
    REPLY=${REPLY:-30000}
  fi
}

# --- jvpn-quic keys and configs for the standard topology -----------------

# lab_genkey DIR NAME: a key pair in DIR/NAME; its pin in REPLY.
lab_genkey() {
  local out
  mkdir -p "$1/$2" || return 1
  # genkey narrates on stderr; keep that out of test output unless it fails.
  out=$("$JVPN_BIN" genkey --name "$2" "$1/$2" 2>"$1/$2/genkey.log") || {
    lab_log "genkey $2 failed: $(cat "$1/$2/genkey.log")"
    return 1
  }
  REPLY=$(printf '%s\n' "$out" | grep -m1 '^sha256//' || true)
  if [ -z "$REPLY" ]; then
    lab_log "genkey $2 printed no pin: $out"
    return 1
  fi
}

# lab_write_client_conf FILE SERVER SERVER_PIN KEYDIR TUN: a client config.
lab_write_client_conf() {
  cat >"$1" <<EOF
# jvpn-quic client, written by tests/lab/lab.sh
[client]
server = $2
server_pin = $3
key = $4/key.pem
cert = $4/cert.pem
tun = $5
log_level = ${LAB_LOG_LEVEL:-info}
tun_offload = ${LAB_TUN_OFFLOAD:-on}
EOF
}

# Inner addresses of the standard configs, as ip prints them (used by the
# scripts that source this file).
# shellcheck disable=SC2034
{
LAB_TUN=jvpn0
LAB_SERVER_IN4=198.18.200.1
LAB_SERVER_IN6=fd77:6a76:706e::1
LAB_CLIENT1_IN4=198.18.200.2
LAB_CLIENT1_IN6=fd77:6a76:706e::2
LAB_CLIENT2_IN4=198.18.200.3
LAB_CLIENT2_IN6=fd77:6a76:706e::3
}
declare -gA LAB_PIN=()
# The underlay each client of lab_gen_vpn_configs reaches the server over:
# 4 (198.18.3.2) or 6 (2001:db8:3::2). Set an entry before the call to
# change it.
declare -gA LAB_UNDERLAY=([client1]=4 [client2]=6)

# lab_server_endpoint 4|6: the server's UDP endpoint in the standard
# topology, as a client config names it, in REPLY.
lab_server_endpoint() {
  if [ "$1" = 6 ]; then
    REPLY="[2001:db8:3::2]:443"
  else
    REPLY="198.18.3.2:443"
  fi
}

# lab_gen_vpn_configs DIR [CLIENTS]: keys for the server and CLIENTS
# (default "client1 client2"; clientK for K >= 3 needs lab_client_ns_add),
# and DIR/server.conf plus DIR/<client>.conf for the standard topology.
# client1 reaches the server over IPv4, client2 over IPv6, any other over
# IPv4 unless LAB_UNDERLAY says otherwise; all are [peer]s of the server,
# in that order, so client1 and client2 get .2 and .3 of the pools when
# they attach first, and clientK its fixed addresses (lab_client_def).
# Pins land in LAB_PIN[name]. LAB_TUN_OFFLOAD (on, the default, or off)
# sets every config's tun_offload; LAB_LOG_LEVEL its log_level.
lab_gen_vpn_configs() {
  local dir=$1 clients=${2:-client1 client2} c server
  [ -n "${JVPN_BIN:-}" ] || { lab_log "no jvpn-quic binary"; return 1; }
  mkdir -p "$dir" || return 1
  lab_genkey "$dir" server || return 1
  LAB_PIN[server]=$REPLY
  for c in $clients; do
    lab_genkey "$dir" "$c" || return 1
    LAB_PIN[$c]=$REPLY
  done

  {
    cat <<EOF
# jvpn-quic server, written by tests/lab/lab.sh
[server]
listen = 198.18.3.2:443
listen = [2001:db8:3::2]:443
key = $dir/server/key.pem
cert = $dir/server/cert.pem
pool4 = 198.18.200.0/24
pool6 = fd77:6a76:706e::/64
route = 198.18.200.0/24
route = fd77:6a76:706e::/64
tun = $LAB_TUN
log_level = ${LAB_LOG_LEVEL:-info}
state_dir = $dir/state
tun_offload = ${LAB_TUN_OFFLOAD:-on}
EOF
    for c in $clients; do
      printf '\n[peer]\nname = %s\npin = %s\n' "$c" "${LAB_PIN[$c]}"
      case "$c" in
        client[1-2]) ;;
        client[0-9]*)
          lab_client_def "${c#client}" || return 1
          printf 'address4 = %s\naddress6 = %s\n' "$LAB_CL_IN4" "$LAB_CL_IN6"
          ;;
      esac
    done
  } >"$dir/server.conf"

  for c in $clients; do
    lab_server_endpoint "${LAB_UNDERLAY[$c]:-4}"
    server=$REPLY
    lab_write_client_conf "$dir/$c.conf" "$server" "${LAB_PIN[server]}" \
      "$dir/$c" "$LAB_TUN"
  done
}

# lab_tail FILE...: the last lines of logs, for failure reports.
lab_tail() {
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    printf -- '--- last lines of %s ---\n' "$f"
    tail -n "${LAB_TAIL_LINES:-25}" "$f"
  done
}

# --- delay and loss through the NFQUEUE injector (tests/tools/nfq_delay) ---
#
#   ... --> [NS: FORWARD -o IFACE -j NFQUEUE --queue-num Q --queue-bypass]
#                     |                               ^
#                     v                               | verdict after MS
#                nfq_delay --queue Q --delay MS ... --+
#
# This kernel has no netem, so a namespace's packets are handed to an
# NFQUEUE whose verdicts nfq_delay holds back. The injector binds its
# queue before the rules go in, and --queue-bypass lets packets through
# undelayed whenever no one is bound (the injector died or was stopped).
# One injector per NS, IFACE and direction; queue numbers are unique in
# this run. The kernel segments GSO batches for the queue, so delay and
# loss are per packet.
#
# Conntrack caveat: lab_delay queues in FORWARD, where a new flow's
# conntrack entry is not yet confirmed. When a namespace NATs (the router
# of lab_topo_vpn, with "masquerade random"), the packets of a NEW flow
# sent while its first packet is still held each get their own mapping,
# and all but the first are dropped at confirmation (conntrack -S counts
# them as insert_failed): a flow starting at R pps loses about R * MS /
# 1000 packets once, at its start or after lab_nat_flush. lab_delay_in
# queues in the raw table's PREROUTING instead, before conntrack, which
# then sees packets in release order: no such loss. Use it where that
# matters; IFACE is then where the packets come in.

LAB_NFQ_NEXT=${LAB_NFQ_NEXT:-100}
declare -gA LAB_NFQ_QUEUE=() LAB_NFQ_PID=() LAB_NFQ_LOG=()

# lab_nfq_find: the injector in NFQ_DELAY_BIN: $NFQ_DELAY_BIN if set, else
# the build directory's or the source tree's tests/tools/nfq_delay, else
# /tmp/nfq_delay (a manual build, see the file's header).
lab_nfq_find() { lab_tool_find nfq_delay NFQ_DELAY_BIN /tmp/nfq_delay; }

# lab_nfq_bound NS Q: true once a process in NS is bound to queue Q.
# shellcheck disable=SC2016 # awk's own variables
lab_nfq_bound() {
  ip netns exec "$1" awk -v q="$2" '$1 == q { f = 1 } END { exit !f }' \
    /proc/net/netfilter/nfnetlink_queue
}

# lab_nfq_rules OP NS DIR IFACE Q: adds (OP=A) or deletes (OP=D) the IPv4
# and IPv6 rules that queue to Q what NS forwards out of IFACE (DIR=out)
# or what comes in on IFACE (DIR=in).
lab_nfq_rules() {
  local op=$1 ns=$2 dir=$3 dev=$4 q=$5 cmd rc=0 table chain match
  case "$dir" in
    out) table=filter chain=FORWARD match=-o ;;
    *) table=raw chain=PREROUTING match=-i ;;
  esac
  for cmd in iptables ip6tables; do
    # -w: other callers may hold the xtables lock.
    ip netns exec "$ns" "$cmd" -w -t "$table" -"$op" "$chain" "$match" \
      "$dev" -j NFQUEUE --queue-num "$q" --queue-bypass || rc=1
  done
  return "$rc"
}

# lab_nfq_start DIR NS IFACE MS LOSS JITTER: lab_delay and lab_delay_in.
lab_nfq_start() {
  local dir=$1 ns=$2 dev=$3 ms=$4 loss=$5 jitter=$6 key q pid log
  key="$ns/$dev/$dir"
  if [ -n "${LAB_NFQ_PID[$key]:-}" ]; then
    lab_nfq_stop "$dir" "$ns" "$dev" || return 1
  fi
  command -v iptables >/dev/null 2>&1 || {
    lab_log "lab_delay: iptables is missing"; return 1; }
  lab_nfq_find || return 1
  q=$LAB_NFQ_NEXT
  LAB_NFQ_NEXT=$(( q + 1 ))
  lab_tmpdir
  log="$REPLY/nfq_delay.log"
  lab_spawn "$ns" "$log" "$NFQ_DELAY_BIN" --queue "$q" --delay "$ms" \
    --jitter "$jitter" --loss "$loss" --seed "${LAB_NFQ_SEED:-$q}"
  pid=$REPLY
  if ! lab_wait_for "nfq_delay on queue $q in $ns" 5 lab_nfq_bound "$ns" "$q"
  then
    lab_kill "$pid" KILL || true
    lab_tail "$log" >&2
    return 1
  fi
  LAB_NFQ_QUEUE[$key]=$q
  LAB_NFQ_PID[$key]=$pid
  LAB_NFQ_LOG[$key]=$log
  if ! lab_nfq_rules A "$ns" "$dir" "$dev" "$q"; then
    lab_nfq_stop "$dir" "$ns" "$dev"
    return 1
  fi
  REPLY=$pid
}

lab_nfq_stop() {
  local dir=$1 ns=$2 dev=$3 key q pid log
  key="$ns/$dev/$dir"
  q=${LAB_NFQ_QUEUE[$key]:-}
  pid=${LAB_NFQ_PID[$key]:-}
  log=${LAB_NFQ_LOG[$key]:-}
  REPLY=""
  [ -n "$pid" ] || return 0
  lab_nfq_rules D "$ns" "$dir" "$dev" "$q" 2>/dev/null || true
  unset "LAB_NFQ_QUEUE[$key]" "LAB_NFQ_PID[$key]" "LAB_NFQ_LOG[$key]"
  lab_kill "$pid" TERM || true
  lab_wait_exit "$pid" 5 || { lab_kill "$pid" KILL || true; return 1; }
  REPLY=$(grep -m1 '^nfq_delay: queue=' "$log" 2>/dev/null || true)
}

# lab_delay NS IFACE MS [LOSS] [JITTER]: delays by MS ms (+- JITTER ms,
# uniform) and drops LOSS % (default 0, may be fractional) of the packets
# NS forwards out of IFACE; replaces an earlier lab_delay on the same NS
# and IFACE. The injector's PID in REPLY. LAB_NFQ_SEED fixes the loss and
# jitter draws (default: the queue number, so reruns repeat). See the
# conntrack caveat above.
lab_delay() {
  lab_nfq_start out "$1" "$2" "$3" "${4:-0}" "${5:-0}"
}

# lab_delay_in NS IFACE MS [LOSS] [JITTER]: the same for every packet that
# comes in on IFACE (forwarded or local), queued before conntrack.
lab_delay_in() {
  lab_nfq_start in "$1" "$2" "$3" "${4:-0}" "${5:-0}"
}

# lab_delay_off NS IFACE / lab_delay_in_off NS IFACE: remove the rules,
# stop the injector (which releases what it holds at once) and put its
# counters line ("nfq_delay: queue=Q packets=N delayed=N dropped=N
# overflow=N ...") in REPLY.
lab_delay_off() { lab_nfq_stop out "$1" "$2"; }
lab_delay_in_off() { lab_nfq_stop in "$1" "$2"; }

# --- systemd-resolved in a namespace, on a private system bus -------------
#
# systemd is not PID 1 in the lab, and installing systemd-resolved would
# take over the host's /etc/resolv.conf, so scripts/deps.sh only unpacks
# the package (the version of the installed libsystemd-shared) under
# LAB_RESOLVED_CACHE and creates its "systemd-resolve" user. Here a
# dbus-daemon of our own (a socket in the test's directory, a policy that
# lets anything through: for the test only) and that systemd-resolved run
# in a namespace; resolved gets a private mount namespace with a tmpfs on
# /run/systemd, which is all it writes (its resolv.conf files, its
# varlink sockets), so nothing of the host changes. Both are lab_spawn'ed:
# the cleanup ends them by PID.

LAB_RESOLVED_CACHE=${LAB_RESOLVED_CACHE:-/var/cache/jvpn-quic/systemd-resolved}
LAB_BUS=""                # the private bus's address (lab_bus_start)

# lab_resolved_find: the unpacked systemd-resolved in LAB_RESOLVED_BIN:
# $LAB_RESOLVED_BIN if set, else the cache's for the installed
# libsystemd-shared's version. Returns 1 (the reason in REPLY) when there
# is none.
lab_resolved_find() {
  local ver
  if [ -n "${LAB_RESOLVED_BIN:-}" ] && [ -x "$LAB_RESOLVED_BIN" ]; then
    return 0
  fi
  ver=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null)
  LAB_RESOLVED_BIN=$LAB_RESOLVED_CACHE/$ver/root/lib/systemd/systemd-resolved
  [ -n "$ver" ] && [ -x "$LAB_RESOLVED_BIN" ] && return 0
  REPLY="no systemd-resolved unpacked for libsystemd-shared ${ver:-?} in"
  REPLY+=" $LAB_RESOLVED_CACHE (scripts/deps.sh unpacks it)"
  return 1
}

# lab_bus_start NS DIR: a dbus-daemon in NS for a private system bus, its
# config DIR/bus.conf and log DIR/dbus.log; its socket in a directory of
# its own that every user may reach (resolved connects as its user);
# address in LAB_BUS.
lab_bus_start() {
  local ns=$1 dir=$2 sockdir
  lab_tmpdir
  sockdir=$REPLY
  chmod 755 "$sockdir" || return 1
  cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- written by tests/lab/lab.sh: a test's private system bus -->
<busconfig>
  <type>system</type>
  <listen>unix:path=$sockdir/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
  lab_spawn "$ns" "$dir/dbus.log" dbus-daemon --nofork \
    --config-file="$dir/bus.conf"
  LAB_BUS="unix:path=$sockdir/bus.sock"
  lab_wait_for "the private bus" 5 test -S "$sockdir/bus.sock"
}

# lab_bus_has NAME: NAME has an owner on the private bus.
lab_bus_has() {
  busctl --address="$LAB_BUS" call org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus NameHasOwner s "$1" 2>/dev/null | grep -q '^b true'
}

# lab_resolved_start NS DIR: the private bus (lab_bus_start) and
# systemd-resolved on it in NS, its log DIR/resolved.log; its PID in
# REPLY. Returns 1 (the reason in REPLY) when it did not take its bus
# name within 10 s.
lab_resolved_start() {
  local ns=$1 dir=$2 pid
  lab_resolved_find || return 1
  lab_bus_start "$ns" "$dir" || { REPLY="dbus-daemon did not start"; return 1; }
  # shellcheck disable=SC2016 # for the inner shell
  lab_spawn "$ns" "$dir/resolved.log" unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0755 lab-resolved /run/systemd &&
      exec env DBUS_SYSTEM_BUS_ADDRESS="$1" SYSTEMD_LOG_LEVEL=debug "$2"' \
    sh "$LAB_BUS" "$LAB_RESOLVED_BIN"
  pid=$REPLY
  if ! lab_wait_for "systemd-resolved on the bus" 10 lab_bus_has \
       org.freedesktop.resolve1; then
    REPLY="systemd-resolved did not take its bus name"
    return 1
  fi
  REPLY=$pid
}

# --- the harness of the automake tests (tests/netns/*.sh) ------------------
#
#   lab_require_netns              # exit 77 here without root, TUN, netns
#   lab_test_init e2e              # counters; "e2e:" prefixes our notes
#   lab_find_bin || lab_setup_fail "no jvpn-quic binary"
#   lab_test_logdir E2E_KEEP       # lab_init + a log directory, in REPLY
#   ...
#   lab_pass a                     # "PASS a"
#   lab_pass b "4 s, no loss"      # "PASS b: 4 s, no loss"
#   lab_fail c "no reply" "$log"   # "FAIL c: no reply", then the log's tail
#   lab_skip d "socat is missing"  # "SKIP d: socat is missing"
#   lab_check_sanitizers "$dir"
#   lab_test_summary               # "N passed, N failed[, N skipped]"; the
#                                  # status is the script's exit status
#
# The closing line is what the test logs are read for: its format is fixed.

LAB_TEST_NAME=lab
LAB_NPASS=0
LAB_NFAIL=0
LAB_NSKIP=0
LAB_VPN_PID=""            # the last lab_vpn_server_start/lab_vpn_client_start

# lab_require_netns: exits 77 (automake's skip) with the reason when the
# lab cannot run here (lab_check_env); returns when it can.
lab_require_netns() {
  local why
  if ! why=$(lab_check_env); then
    echo "SKIP: $why"
    exit 77
  fi
}

# lab_test_init NAME: zeroes the counters; NAME prefixes lab_note's lines.
lab_test_init() {
  LAB_TEST_NAME=$1
  LAB_NPASS=0
  LAB_NFAIL=0
  LAB_NSKIP=0
}

# lab_note MSG...: a line of information, "NAME: MSG".
lab_note() { printf '%s: %s\n' "$LAB_TEST_NAME" "$*"; }

# lab_pass NAME [MSG]: "PASS NAME" or "PASS NAME: MSG", counted.
lab_pass() {
  if [ $# -gt 1 ]; then
    echo "PASS $1: $2"
  else
    echo "PASS $1"
  fi
  LAB_NPASS=$((LAB_NPASS + 1))
}

# lab_fail NAME REASON [LOG...]: "FAIL NAME: REASON", counted, then the
# tails of the LOGs (lab_tail) so that the failure explains itself.
lab_fail() {
  local name=$1 reason=$2
  shift 2
  echo "FAIL $name: $reason"
  LAB_NFAIL=$((LAB_NFAIL + 1))
  lab_tail "$@"
}

# lab_skip NAME REASON: "SKIP NAME: REASON", counted.
lab_skip() {
  echo "SKIP $1: $2"
  LAB_NSKIP=$((LAB_NSKIP + 1))
}

# lab_test_summary: the closing line, "N passed, N failed" (", N skipped"
# only when something was skipped); returns 0 when nothing failed.
lab_test_summary() {
  if [ "$LAB_NSKIP" -gt 0 ]; then
    echo "$LAB_NPASS passed, $LAB_NFAIL failed, $LAB_NSKIP skipped"
  else
    echo "$LAB_NPASS passed, $LAB_NFAIL failed"
  fi
  [ "$LAB_NFAIL" -eq 0 ]
}

# lab_setup_fail REASON: "FAIL setup: REASON", the closing line, exit 1;
# for what the scenarios cannot run without.
lab_setup_fail() {
  lab_fail setup "$1"
  lab_test_summary
  exit 1
}

# lab_require_tools TOOL...: lab_setup_fail unless every TOOL is in PATH.
lab_require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      lab_setup_fail "$tool is missing (scripts/deps.sh installs it)"
  done
}

# lab_test_logdir KEEP_VAR: lab_init, then a temporary directory for the
# test's configs and logs, in REPLY. When the variable named KEEP_VAR is 1
# the directory outlives the run (and lab_note says where it is).
lab_test_logdir() {
  local d p keep=()
  lab_init
  lab_tmpdir
  d=$REPLY
  if [ "${!1:-0}" = 1 ]; then
    for p in "${LAB_TMPDIRS[@]}"; do
      [ "$p" = "$d" ] || keep+=("$p")
    done
    LAB_TMPDIRS=("${keep[@]}")
    lab_note "keeping $d"
  fi
  REPLY=$d
}

# lab_check_sanitizers DIR: a failure ("sanitizers", with the logs' tails)
# when any DIR/*.log holds a sanitizer report.
lab_check_sanitizers() {
  local bad
  mapfile -t bad < <(grep -l -E \
    'AddressSanitizer|LeakSanitizer|runtime error:' "$1"/*.log 2>/dev/null)
  if [ "${#bad[@]}" -gt 0 ]; then
    lab_fail sanitizers "sanitizer reports in the logs" "${bad[@]}"
  fi
}

# lab_count PATTERN FILE: the lines of FILE matching PATTERN, in REPLY
# (0 when FILE is missing).
lab_count() {
  REPLY=$(grep -c -- "$1" "$2" 2>/dev/null)
  REPLY=${REPLY:-0}
}

# lab_more_lines PATTERN FILE N: FILE has more than N lines matching
# PATTERN (for lab_wait_for, against a count taken before).
lab_more_lines() {
  lab_count "$1" "$2"
  [ "$REPLY" -gt "$3" ]
}

# lab_lt A B: A < B, for decimal numbers (the probe's times are fractional).
lab_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# lab_ping NS ADDR: one echo reply from ADDR within 1 s.
lab_ping() {
  ip netns exec "$1" ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1
}

# lab_wait_tunnel NS TIMEOUT_S: waits until NS gets a ping through the
# tunnel to the server's inner IPv4 address.
lab_wait_tunnel() {
  lab_wait_for "a ping through the tunnel" "$2" lab_ping "$1" \
    "$LAB_SERVER_IN4"
}

# lab_xfer FROM_NS TO_NS ADDR PORT FILE TIMEOUT_S: sends FILE over TCP
# (socat) from FROM_NS to ADDR:PORT, where a receiver in TO_NS writes it
# to FILE.PORT.recv; checks its SHA-256 against FILE's. The sender may
# take TIMEOUT_S seconds, the receiver 10 s more to finish. On success the
# time in ms (connect to the receiver's end) is in LAB_XFER_MS and REPLY
# says "N MB in N ms (N Mbit/s)"; on failure REPLY says why. The logs go
# to FILE.PORT.{send,recv}.log (LAB_XFER_LOGS), the received file is
# removed.
LAB_XFER_MS=""
LAB_XFER_LOGS=()
lab_xfer() {
  local from=$1 to=$2 addr=$3 port=$4 src=$5 t=$6
  local dst="$5.$4.recv" slog="$5.$4.send.log" rlog="$5.$4.recv.log"
  local listen connect rpid want got t0 bytes
  LAB_XFER_MS=""
  # shellcheck disable=SC2034 # for the callers
  LAB_XFER_LOGS=("$slog" "$rlog")
  case "$addr" in
    *:*) listen="TCP6-LISTEN:$port,reuseaddr,bind=[$addr]"
         connect="TCP6:[$addr]:$port,connect-timeout=5" ;;
    *) listen="TCP-LISTEN:$port,reuseaddr,bind=$addr"
       connect="TCP:$addr:$port,connect-timeout=5" ;;
  esac
  command -v socat >/dev/null 2>&1 ||
    { REPLY="socat is missing (scripts/deps.sh installs it)"; return 1; }
  want=$(sha256sum <"$src" | cut -d' ' -f1)
  bytes=$(stat -c %s "$src")
  rm -f "$dst"
  lab_spawn "$to" "$rlog" socat -u "$listen" "OPEN:$dst,creat,trunc"
  rpid=$REPLY
  if ! lab_wait_for "socat listening on $port" 5 lab_tcp_listening "$to" \
       "$port"; then
    lab_kill "$rpid" KILL || true
    REPLY="the receiver did not start"
    return 1
  fi
  lab_now_ms
  t0=$REPLY
  if ! timeout "$t" ip netns exec "$from" socat -u "OPEN:$src" "$connect" \
       2>"$slog"; then
    lab_kill "$rpid" KILL || true
    lab_wait_exit "$rpid" 2 || true
    got=$(stat -c %s "$dst" 2>/dev/null || echo 0)
    rm -f "$dst"
    REPLY="the sender failed or took over $t s ($got of $bytes bytes"
    REPLY+=" received)"
    return 1
  fi
  if ! lab_wait_exit "$rpid" 10; then
    lab_kill "$rpid" KILL || true
    rm -f "$dst"
    REPLY="the receiver did not finish within 10 s of the sender"
    return 1
  fi
  lab_now_ms
  LAB_XFER_MS=$(( REPLY - t0 > 0 ? REPLY - t0 : 1 ))
  got=$(sha256sum <"$dst" | cut -d' ' -f1)
  rm -f "$dst"
  if [ "$got" != "$want" ]; then
    REPLY="SHA-256 mismatch: sent $want, received $got"
    return 1
  fi
  REPLY="$(( bytes / 1048576 )) MB in $LAB_XFER_MS ms"
  REPLY+=" ($(( bytes * 8 / 1000 / LAB_XFER_MS )) Mbit/s), SHA-256 verified"
}

# lab_tun_mtu NS: the MTU of the TUN (LAB_TUN) in NS, in REPLY.
lab_tun_mtu() { lab_link_mtu "$1" "$LAB_TUN"; }

# --- jvpn-quic processes in the standard topology --------------------------

# lab_vpn_server_start LOG ARGS...: "jvpn-quic server ARGS" in the server
# namespace of lab_topo_vpn, output to LOG; its PID in LAB_VPN_PID. Waits
# until its TUN carries both inner addresses and it is bound to UDP 443;
# else returns 1 with the reason in REPLY.
# shellcheck disable=SC2034 # LAB_VPN_PID is for the callers
lab_vpn_server_start() {
  local log=$1 sv=${LAB_NS[server]}
  shift
  lab_spawn "$sv" "$log" "$JVPN_BIN" server "$@"
  LAB_VPN_PID=$REPLY
  if ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN4" 10 ||
     ! lab_wait_addr "$sv" "$LAB_TUN" "$LAB_SERVER_IN6" 5; then
    REPLY="server TUN did not get $LAB_SERVER_IN4 and $LAB_SERVER_IN6"
    return 1
  fi
  if ! lab_wait_udp_listen "$sv" 443 5; then
    REPLY="server is not bound to UDP 443"
    return 1
  fi
}

# ADDR is on the TUN in NS, or PID has exited (no point in waiting longer).
lab_addr_or_exit() {
  lab_has_addr "$1" "$LAB_TUN" "$2" || lab_pid_exited "$3"
}

# lab_vpn_client_start NS LOG ADDR4 ADDR6 ARGS...: "jvpn-quic client ARGS"
# in NS, output to LOG; its PID in LAB_VPN_PID. Waits until its TUN
# carries ADDR4 (10 s, less if the client exits) and ADDR6 (5 s more;
# ADDR6 "-" does not wait for it: Linux takes IPv6 off a link whose MTU
# is below 1280); returns 1 when it does not. Environment for the client:
# put assignments before the call (VAR=value lab_vpn_client_start ...).
# shellcheck disable=SC2034 # LAB_VPN_PID is for the callers
lab_vpn_client_start() {
  local ns=$1 log=$2 a4=$3 a6=$4 pid
  shift 4
  lab_spawn "$ns" "$log" "$JVPN_BIN" client "$@"
  pid=$REPLY
  LAB_VPN_PID=$pid
  lab_wait_for "$a4 on $LAB_TUN in $ns" 10 lab_addr_or_exit "$ns" "$a4" \
    "$pid" && lab_has_addr "$ns" "$LAB_TUN" "$a4" &&
    { [ "$a6" = - ] || lab_wait_addr "$ns" "$LAB_TUN" "$a6" 5; }
}

# lab_vpn_stop PID NS WHO: SIGTERM to a jvpn-quic server or client (WHO
# names it in messages), which must exit 0 within 5 s and have removed its
# TUN from NS within 2 s more; else returns 1 with the reason in REPLY.
lab_vpn_stop() {
  local pid=$1 ns=$2 who=$3
  lab_kill "$pid" TERM
  if ! lab_wait_exit "$pid" 5; then
    REPLY="$who did not exit within 5 s of SIGTERM"
    return 1
  fi
  if [ "$REPLY" -ne 0 ]; then
    REPLY="$who exited $REPLY on SIGTERM"
    return 1
  fi
  if ! lab_wait_no_dev "$ns" "$LAB_TUN" 2; then
    REPLY="$who's $LAB_TUN is still there after exit"
    return 1
  fi
}

# lab_vpn_client_up DIR N [ARGS...]: clientN (1 or 2) of lab_gen_vpn_configs
# DIR in its namespace, with config DIR/clientN.conf, log DIR/clientN.log
# and control socket DIR/clientN.sock, plus ARGS; waits for its inner
# addresses (lab_vpn_client_start, whose status it returns); its PID in
# LAB_VPN_PID.
lab_vpn_client_up() {
  local dir=$1 n=$2 a4 a6
  shift 2
  a4=LAB_CLIENT${n}_IN4
  a6=LAB_CLIENT${n}_IN6
  lab_vpn_client_start "${LAB_NS[client$n]}" "$dir/client$n.log" "${!a4}" \
    "${!a6}" -c "$dir/client$n.conf" --control "$dir/client$n.sock" "$@"
}

# lab_cli_status SOCK ARRAY: a jvpn-quic client's status from its control
# socket SOCK into the associative ARRAY: [session], [state] (the session
# state), [version] (state_version), [births], [reattaches], [transport]
# (quic, tcp, none), [tcp_fallbacks], [quic_returns], [nat_refresh_ms]
# and [nat_refreshes] (D52); returns 1 without a session.
lab_cli_status() {
  local j k
  local -n st=$2
  j=$("$JVPN_BIN" status --json -s "$1" 2>/dev/null) || return 1
  st=()
  st[session]=$(printf '%s' "$j" | grep -o '"session":"[^"]*"' | cut -d'"' -f4)
  st[state]=$(printf '%s' "$j" | grep -o '"session_state":"[^"]*"' |
    cut -d'"' -f4)
  st[transport]=$(printf '%s' "$j" | grep -o '"transport":"[^"]*"' |
    head -n1 | cut -d'"' -f4)
  for k in state_version births reattaches tcp_fallbacks quic_returns \
    nat_refresh_ms nat_refreshes; do
    st[$k]=$(printf '%s' "$j" | grep -o "\"$k\":[0-9]*" | head -n1 |
      cut -d: -f2)
  done
  st[version]=${st[state_version]}
  [ -n "${st[session]}" ]
}

# lab_srv_session SOCK ID ARRAY: session ID's state and state_version at
# the server whose control socket is SOCK, in ARRAY[state] and
# ARRAY[version]; returns 1 if the server does not list it.
lab_srv_session() {
  local j m
  local -n st=$3
  st=()
  j=$("$JVPN_BIN" status --json -s "$1" 2>/dev/null) || return 1
  m=$(printf '%s' "$j" |
    grep -o "\"session\":\"$2\",\"state\":\"[A-Z]*\",\"state_version\":[0-9]*")
  [ -n "$m" ] || return 1
  st[state]=$(printf '%s' "$m" | cut -d'"' -f8)
  st[version]=${m##*:}
}

# lab_vpn_attach_ms LOG: how long the jvpn-quic client whose log is LOG took
# from its first "connecting to" to its first "tunnel up" (the log's own
# time stamps, ms), in REPLY; returns 1 when either line is missing.
# shellcheck disable=SC2016 # awk's own variables
lab_vpn_attach_ms() {
  REPLY=$(awk '
    function ms(t, a) { split(t, a, /[:.]/)
      return ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 + a[4] }
    / connecting to / && c == "" { c = ms($1) }
    / tunnel up / && c != "" { u = ms($1); exit }
    END { if (u != "") print (u - c + 86400000) % 86400000 }' "$1")
  [ -n "$REPLY" ]
}

# lab_udp_stat NS KEY: KEY (InDatagrams, NoPorts, InErrors, RcvbufErrors,
# ...) of NS's IPv4 and IPv6 UDP counters together, in REPLY.
# shellcheck disable=SC2016 # awk's own variables
lab_udp_stat() {
  REPLY=$(ip netns exec "$1" cat /proc/net/snmp /proc/net/snmp6 2>/dev/null |
    awk -v k="$2" '
      $1 == "Udp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
      $1 == "Udp:" && h && (k in col) { n += $col[k] }
      $1 == "Udp6" k { n += $2 }
      END { print n + 0 }')
}

# lab_server_stat LOG PID KEY: SIGUSR1 to the jvpn-quic server PID, then
# KEY's value in the "stats server" line it logs to LOG (clients, retries,
# tokens_accepted, drop_unknown_cid, stateless_resets, ...), in REPLY;
# returns 1 with the reason in REPLY when no such line came within 5 s.
lab_server_stat() {
  local log=$1 from nstats
  from=$(wc -l <"$log")
  lab_count 'stats server ' "$log"
  nstats=$REPLY
  kill -USR1 "$2"
  if ! lab_wait_for "the server's stats line" 5 lab_more_lines \
       "stats server " "$log" "$nstats"; then
    REPLY="no 'stats server' line after SIGUSR1"
    return 1
  fi
  REPLY=$(tail -n "+$((from + 1))" "$log" | grep -m1 'stats server ' |
    sed -n "s/.* $3=\([0-9][0-9]*\).*/\1/p")
  [ -n "$REPLY" ] || { REPLY="no $3 in the server's stats"; return 1; }
}

# lab_cpu_ticks PID: the CPU time (utime + stime, all threads) PID has
# used, in clock ticks (getconf CLK_TCK a second), in REPLY.
lab_cpu_ticks() {
  local s f
  REPLY=0
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # The command name may hold spaces; fields count from after its ')'.
  s=${s##*) }
  read -r -a f <<<"$s"
  REPLY=$(( f[11] + f[12] ))
}

# lab_probe_end OUT ARRAY: lab_probe_wait OUT, then copies its report into
# the associative array named ARRAY (emptied first: sent, received, lost,
# longest_gap_ms, gap_start_ms, gap_end_ms, missing_run_ms, max_delay_ms,
# expected) and checks that traffic came back by the stream's end (its
# last half second got through). On success REPLY has the numbers ("longest
# gap N ms, N of N lost"); on failure, the reason.
lab_probe_end() {
  local out=$1 k sent expected
  local -n lab_probe_arr=$2
  if ! lab_probe_wait "$out"; then
    REPLY="the probe stream did not finish: $(cat "$out.json" "$out.send")"
    return 1
  fi
  lab_probe_arr=()
  for k in sent received lost longest_gap_ms gap_start_ms gap_end_ms \
           missing_run_ms max_delay_ms expected; do
    # shellcheck disable=SC2004,SC2034 # a nameref to an associative array
    lab_probe_arr[$k]=${LAB_PROBE[$out,$k]:-}
  done
  sent=${LAB_PROBE[$out,sent]}
  expected=${LAB_PROBE[$out,expected]}
  if [ "$sent" -lt $((expected - LAB_PROBE_RATE / 2)) ]; then
    REPLY="traffic did not resume: last packet received $((sent - 1))"
    REPLY+=" of $expected"
    return 1
  fi
  REPLY="longest gap ${LAB_PROBE[$out,longest_gap_ms]} ms,"
  REPLY+=" ${LAB_PROBE[$out,lost]} of $sent lost"
}

# --- two probe streams at once, one each way --------------------------------
#
# A tunnel is measured both ways at once and judged by the worse
# direction: "up" is client -> server (CLIENT_NS to the server's tunnel
# address), "down" server -> client (SERVER_NS to the client's), each
# LAB_PROBE_RATE packets/s. Used by tests/netns/session.sh and failover.sh
# and by the benchmarks (scripts/bench-lib.sh).

# lab_probe2_start CLIENT_NS SERVER_NS SERVER_ADDR CLIENT_ADDR PORT SECONDS
# OUT: up to SERVER_ADDR:PORT (reports OUT.up.json, OUT.up.send), down to
# CLIENT_ADDR:PORT+1 (OUT.down.*). Ports must not collide with another
# stream's in the same namespace.
lab_probe2_start() {
  local cns=$1 sns=$2 saddr=$3 caddr=$4 port=$5 secs=$6 out=$7
  lab_probe_start "$cns" "$sns" "$saddr" "$port" "$secs" "$out.up" &&
    lab_probe_start "$sns" "$cns" "$caddr" $((port + 1)) "$secs" "$out.down"
}

# lab_probe_result OUT ARRAY [T_OFF]: lab_probe_wait OUT, then its report
# into the associative array named ARRAY (emptied first), with the keys of
# lab_probe_end and:
#   dead  1 when the stream did not reach its end (its last half second
#         did not get through: traffic never came back), else 0
#   gap   the longest gap (ms); for a dead stream, from its last arrival
#         to its end (a lower bound)
#   lost  for a dead stream, every packet not received (the receiver's own
#         count stops at the last packet it saw)
#   back  with T_OFF (the probe time line, lab_probe_now, of the fault's
#         end): how long after it the longest gap ended, in whole ms
#         (negative: before the fault ended); empty for a dead stream
# Returns 1 (REPLY says why) only when the stream did not finish.
# shellcheck disable=SC2004,SC2034,SC2154 # namerefs to associative arrays
lab_probe_result() {
  local out=$1 toff=${3:-} k
  local -n lab_pr_arr=$2
  lab_pr_arr=()
  if ! lab_probe_wait "$out"; then
    REPLY="the probe stream did not finish: $(cat "$out.json" "$out.send" \
      2>/dev/null)"
    return 1
  fi
  for k in sent received lost longest_gap_ms gap_start_ms gap_end_ms \
           missing_run_ms max_delay_ms first_ms last_ms expected; do
    lab_pr_arr[$k]=${LAB_PROBE[$out,$k]:-}
  done
  lab_pr_arr[back]=""
  if [ "${lab_pr_arr[sent]}" -lt \
       $(( lab_pr_arr[expected] - LAB_PROBE_RATE / 2 )) ]; then
    lab_pr_arr[dead]=1
    lab_pr_arr[gap]=$(awk -v f="${lab_pr_arr[first_ms]}" \
      -v l="${lab_pr_arr[last_ms]}" -v n="${lab_pr_arr[expected]}" \
      -v r="$LAB_PROBE_RATE" 'BEGIN { printf "%.1f", f + n * 1000 / r - l }')
    lab_pr_arr[lost]=$(( lab_pr_arr[expected] - lab_pr_arr[received] ))
  else
    lab_pr_arr[dead]=0
    lab_pr_arr[gap]=${lab_pr_arr[longest_gap_ms]}
    if [ -n "$toff" ]; then
      lab_pr_arr[back]=$(awk -v e="${lab_pr_arr[gap_end_ms]}" -v o="$toff" \
        'BEGIN { printf "%.0f", e - o }')
    fi
  fi
  REPLY=""
}

# lab_probe2_end OUT UP DOWN WORSE [T_OFF]: waits for both streams of
# lab_probe2_start OUT and loads them (lab_probe_result, with T_OFF) into
# the associative arrays named UP and DOWN. WORSE gets a copy of the worse
# direction's (a dead stream before a live one, else the longer gap, up
# on a tie) plus [dir] (up or down) and, from both directions, [back] (the
# later one, empty when a stream is dead) and [lost] (the larger).
# Returns 0 with lab_probe2_numbers in REPLY when both came back; 1 when
# one did not finish or did not come back ("up: traffic did not resume:
# ..."; the arrays are filled whenever both finished).
# shellcheck disable=SC2004,SC2034,SC2154 # namerefs to associative arrays
lab_probe2_end() {
  local out=$1 toff=${5:-} k rc=0 why="" d
  local -n lab_p2_up=$2 lab_p2_down=$3 lab_p2_worse=$4
  lab_probe_result "$out.up" "$2" "$toff" || { why="up: $REPLY"; rc=1; }
  lab_probe_result "$out.down" "$3" "$toff" ||
    { why+="${why:+; }down: $REPLY"; rc=1; }
  lab_p2_worse=()
  if [ "$rc" -ne 0 ]; then
    REPLY=$why
    return 1
  fi
  if [ "${lab_p2_down[dead]}" -gt "${lab_p2_up[dead]}" ] ||
     { [ "${lab_p2_down[dead]}" = "${lab_p2_up[dead]}" ] &&
       lab_lt "${lab_p2_up[gap]}" "${lab_p2_down[gap]}"; }; then
    d=down
    for k in "${!lab_p2_down[@]}"; do lab_p2_worse[$k]=${lab_p2_down[$k]}; done
  else
    d=up
    for k in "${!lab_p2_up[@]}"; do lab_p2_worse[$k]=${lab_p2_up[$k]}; done
  fi
  lab_p2_worse[dir]=$d
  if [ -n "${lab_p2_up[back]}" ] && [ -n "${lab_p2_down[back]}" ]; then
    lab_p2_worse[back]=$(( lab_p2_up[back] > lab_p2_down[back] ?
                           lab_p2_up[back] : lab_p2_down[back] ))
  else
    lab_p2_worse[back]=""
  fi
  lab_p2_worse[lost]=$(( lab_p2_up[lost] > lab_p2_down[lost] ?
                         lab_p2_up[lost] : lab_p2_down[lost] ))
  if [ "${lab_p2_up[dead]}" = 1 ]; then
    why="up: traffic did not resume: last packet received"
    why+=" $(( lab_p2_up[sent] - 1 )) of ${lab_p2_up[expected]}"
    rc=1
  fi
  if [ "${lab_p2_down[dead]}" = 1 ]; then
    why+="${why:+; }down: traffic did not resume: last packet received"
    why+=" $(( lab_p2_down[sent] - 1 )) of ${lab_p2_down[expected]}"
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    REPLY=$why
    return 1
  fi
  lab_probe2_numbers "$2" "$3" "$4"
}

# lab_probe2_numbers UP DOWN WORSE: both directions' numbers, the worse
# (WORSE[dir]) first, in REPLY: "down: longest gap N ms, N of N lost[,
# back N ms after the fault's end]; up: ..." ("before the fault's end"
# when the tunnel moved away from the fault; a dead stream: "never came
# back, silent for the last N ms, N of N lost").
lab_probe2_numbers() {
  local -n lab_p2n_worse=$3
  REPLY=""
  if [ "${lab_p2n_worse[dir]:-up}" = down ]; then
    lab_probe_dir_numbers down "$2"
    lab_probe_dir_numbers up "$1"
  else
    lab_probe_dir_numbers up "$1"
    lab_probe_dir_numbers down "$2"
  fi
}

# lab_probe_dir_numbers NAME ARRAY: appends "NAME: ..." for the stream
# whose lab_probe_result is in ARRAY to REPLY ("; " between).
lab_probe_dir_numbers() {
  local -n lab_pdn=$2
  REPLY+="${REPLY:+; }$1: "
  if [ "${lab_pdn[dead]:-0}" = 1 ]; then
    REPLY+="never came back, silent for the last ${lab_pdn[gap]} ms,"
    REPLY+=" ${lab_pdn[lost]} of ${lab_pdn[expected]} lost"
    return 0
  fi
  REPLY+="longest gap ${lab_pdn[longest_gap_ms]} ms, ${lab_pdn[lost]} of"
  REPLY+=" ${lab_pdn[sent]} lost"
  case "${lab_pdn[back]:-}" in
    '') ;;
    -*) REPLY+=", back ${lab_pdn[back]#-} ms before the fault's end" ;;
    *) REPLY+=", back ${lab_pdn[back]} ms after the fault's end" ;;
  esac
}
# --- interop topology ------------------------------------------------------
#
# The quic-interop-runner's three boxes, as namespaces (interop/run-local.sh):
#
#   iclient ns                      isim ns (the runner's "sim")        iserver ns
#   eth0 198.18.0.100/24 ---veth--- left  198.18.0.1/24
#        2001:db8:a::100/64               2001:db8:a::1/64
#                                   right 198.18.100.1/24  ---veth--- eth0 198.18.100.100/24
#                                         2001:db8:b::1/64                 2001:db8:b::100/64
#
# The sim forwards and rewrites nothing until lab_iop_rebind. The endpoints'
# eth0 have gso_max_segs 1, so UDP GSO batches are cut into datagrams
# before they leave: captures then see one QUIC datagram per frame, as
# the runner's pcaps do. Captures are taken on the sim's "right" link
# (the runner's trace_node_right: what the server sends and receives).
# shellcheck disable=SC2034 # used by interop/run-local.sh
{
LAB_IOP_CLIENT4=198.18.0.100
LAB_IOP_CLIENT6=2001:db8:a::100
LAB_IOP_SERVER4=198.18.100.100
LAB_IOP_SERVER6=2001:db8:b::100
}

# lab_topo_interop: builds the topology above; the namespaces are
# LAB_NS[iclient], LAB_NS[isim] and LAB_NS[iserver].
lab_topo_interop() {
  local c r s
  lab_ns iclient && c=$REPLY || return 1
  lab_ns isim && r=$REPLY || return 1
  lab_ns iserver && s=$REPLY || return 1
  lab_link "$c" eth0 "$r" left || return 1
  lab_link "$s" eth0 "$r" right || return 1
  lab_addr "$c" eth0 "$LAB_IOP_CLIENT4/24"
  lab_addr "$c" eth0 "$LAB_IOP_CLIENT6/64"
  lab_addr "$s" eth0 "$LAB_IOP_SERVER4/24"
  lab_addr "$s" eth0 "$LAB_IOP_SERVER6/64"
  lab_addr "$r" left 198.18.0.1/24
  lab_addr "$r" left 2001:db8:a::1/64
  lab_addr "$r" right 198.18.100.1/24
  lab_addr "$r" right 2001:db8:b::1/64
  ip -n "$c" route add default via 198.18.0.1 || return 1
  ip -n "$c" -6 route add default via 2001:db8:a::1 || return 1
  ip -n "$s" route add default via 198.18.100.1 || return 1
  ip -n "$s" -6 route add default via 2001:db8:b::1 || return 1
  lab_gso_off "$c" eth0 || return 1
  lab_gso_off "$s" eth0 || return 1
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 \
    net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
  # Conntrack runs in a namespace only once a rule needs it; the sim's
  # faults (rebinding, drop lists) need it from the first packet.
  ip netns exec "$r" nft -f - <<'NFT'
table inet lab_iop_ct {
  chain through {
    type filter hook forward priority filter; policy accept;
    ct state established,related counter
  }
}
NFT
}

# lab_iop_rate MBIT [QUEUE_PKTS]: a token bucket of MBIT Mbit/s with a
# QUEUE_PKTS-packet queue (default 25, the runner's --queue) on both of
# the sim's links, as the runner's "--bandwidth=10Mbps --queue=25";
# lab_iop_rate off removes it.
lab_iop_rate() {
  local r=${LAB_NS[isim]} dev q=${2:-25}
  for dev in left right; do
    ip netns exec "$r" tc qdisc del dev "$dev" root 2>/dev/null || true
    [ "$1" = off ] && continue
    ip netns exec "$r" tc qdisc add dev "$dev" root tbf rate "${1}mbit" \
      burst 15000 limit $((q * 1500)) || return 1
  done
}

# lab_iop_rebind MODE: the sim's "rebind" scenario (quic-network-simulator
# sim/scenarios/rebind): from now on every client UDP port is rewritten,
# toward the server, to a fresh random port (MODE=port) and also the
# client's address to a fresh one in its /24 (MODE=addr); toward the
# client, a packet whose destination port is a current mapping is
# rewritten back, and any other one from the server (an old mapping) is
# dropped, as the sim does. Like the sim it keeps no connection state:
# the rewrite is stateless (nft maps in prerouting, after the delay
# injector and before conntrack), so nothing ever slips through
# unrewritten while the mapping changes (one nft transaction). The new
# address:ports in REPLY. lab_iop_rebind off removes it.
LAB_IOP_NAT_ADDR=""
lab_iop_rebind() {
  local r=${LAB_NS[isim]} c=$LAB_IOP_CLIENT4 s=$LAB_IOP_SERVER4
  local addr ports p n i fwd="" rev="" used=" "
  if [ "$1" = off ]; then
    ip netns exec "$r" nft delete table ip lab_iop_nat 2>/dev/null || true
    LAB_IOP_NAT_ADDR=""
    return 0
  fi
  # The client's ports: its namespace's UDP sockets (the sim learns them
  # from the packets; the client runs alone in its namespace).
  ports=$(ip netns exec "${LAB_NS[iclient]}" ss -Huan 2>/dev/null |
    awk '{ n = split($4, a, ":"); print a[n] }' | sort -un)
  [ -n "$ports" ] || return 1
  addr=${LAB_IOP_NAT_ADDR:-$c}
  if [ "$1" = addr ]; then
    # Any host of the client's /24 but the client, the sim and the last.
    for ((i = 0; i < 20; i++)); do
      n="${c%.*}.$(( 2 + RANDOM % 253 ))"
      [ "$n" != "$c" ] && [ "$n" != "$addr" ] && break
    done
    addr=$n
  fi
  for p in $ports; do
    for ((i = 0; i < 20; i++)); do
      n=$(( 1024 + RANDOM % 64000 ))
      case "$used" in *" $n "*) ;; *) break ;; esac
    done
    used+="$n "
    fwd+="${fwd:+, }$p : $n"
    rev+="${rev:+, }$n : $p"
  done
  ip netns exec "$r" nft -f - <<NFT || return 1
table ip lab_iop_nat {}
delete table ip lab_iop_nat
table ip lab_iop_nat {
  map out_ports { type inet_service : inet_service; elements = { $fwd } }
  map back_ports { type inet_service : inet_service; elements = { $rev } }
  chain pre {
    type filter hook prerouting priority -250; policy accept;
    iifname "left" ip saddr $c udp sport set udp sport map @out_ports ip saddr set $addr
    iifname "right" ip saddr $s udp dport set udp dport map @back_ports ip daddr set $c accept
    iifname "right" ip saddr $s meta l4proto udp drop
  }
}
NFT
  LAB_IOP_NAT_ADDR=$addr
  REPLY="$addr:${used# }"
}

# lab_iop_blackhole on|off: the sim drops everything it would forward.
lab_iop_blackhole() {
  local r=${LAB_NS[isim]}
  if [ "$1" = on ]; then
    lab_blackhole_on "$r" left && lab_blackhole_on "$r" right
  else
    lab_blackhole_off "$r" left || true
    lab_blackhole_off "$r" right || true
  fi
}

# lab_capture_start NS IF FILE: dumpcap on IF in NS into FILE (pcap); waits
# until it captures. Its PID in REPLY. lab_capture_stop PID ends it.
lab_capture_start() {
  local pid
  lab_spawn "$1" "$3.log" dumpcap -q -P -i "$2" -w "$3"
  pid=$REPLY
  # dumpcap writes the pcap header once its socket is open.
  if ! lab_wait_for "dumpcap on $2 in $1" 5 test -s "$3"; then
    lab_kill "$pid" KILL || true
    return 1
  fi
  REPLY=$pid
}

lab_capture_stop() {
  lab_kill "$1" TERM || true
  lab_wait_exit "$1" 5 || { lab_kill "$1" KILL || true; }
}

# lab_capture_sync NS ADDR FILE: returns once the capture into FILE has
# written everything sent before the call. dumpcap reads the kernel's ring
# in blocks that a timer retires, and a SIGTERM loses the block in hand:
# so a marker datagram is sent from NS to ADDR (UDP port 9, which IF must
# carry) until it shows up in FILE (3 s at most).
lab_capture_sync() {
  LAB_CAPTURE_MARK="labmark-$$-$RANDOM"
  lab_wait_for "the capture to catch up" 3 lab_capture_mark "$@"
}

lab_capture_mark() {
  ip netns exec "$1" bash -c "printf %s '$LAB_CAPTURE_MARK' >/dev/udp/$2/9" \
    2>/dev/null || true
  grep -qaF "$LAB_CAPTURE_MARK" "$3"
}

# --- multi-uplink failover ---------------------------------------------
#
# The lab of tests/netns/failover.sh and scripts/bench-failover.sh: the
# standard topology with client1's second uplink (lab_topo_vpn +
# lab_uplink2_add), each uplink with its own RTT, made by the NFQUEUE
# injector in the router, half of it each way (lab_delay on the router's
# egress toward the client, lab_delay_in on its ingress from the client):
#
#   client1 eth0 198.18.1.2  --- c1  [5 ms each way]  router  srv --- server
#           eth1 198.18.11.2 --- c1b [20 ms each way] (masquerade)  198.18.3.2
#
# Uplink 1 (eth0, ~10 ms RTT, default routes at metric 0) is preferred;
# uplink 2 (eth1, ~40 ms RTT, metric LAB_UPLINK2_METRIC) is the standby.
# jvpn-quic's client lists both as [uplink] sections
# (lab_fo_write_client_conf) and binds a socket to each; wireguard-go and
# OpenVPN (lab_ovpn_pair) follow the routing table.
#
# Faults, on uplink N (1 or 2) of client1:
#   lab_fo_blackhole_on N / _off N  silent: the router drops everything on
#                                   the uplink; link and routes stay up
#   lab_fo_link_down N / _up N      carrier loss: client1's interface goes
#                                   down, its routes with it; _up puts the
#                                   routes back (IPv6 addresses are kept)
#   lab_fo_flap N HALF_MS SECS      down HALF_MS, up HALF_MS, for SECS
#   lab_fo_loss N PCT               PCT % random loss each way (0: none),
#                                   the uplink's delay kept
#   lab_fo_udp_block N 1|0          UDP 443 dropped on the uplink only
#                                   (its network blocks QUIC), TCP passes

# One-way delays (ms) of uplink 1 and 2, and how far a measured RTT may
# lie above twice that (the injector's wake-ups, a loaded 2-core host).
declare -gA LAB_FO_DELAY=([1]=5 [2]=20)
LAB_FO_RTT_SLACK_MS=${LAB_FO_RTT_SLACK_MS:-15}
# Measured RTTs (ms) by lab_fo_topo.
declare -gA LAB_FO_RTT=()
# The uplinks lab_fo_write_client_conf lists: interface:priority[:metered].
LAB_FO_UPLINKS="eth0:1 eth1:2"

# lab_fo_delay N [LOSS]: uplink N's delay both ways, with LOSS % random
# loss each way (default 0); replaces what was there.
lab_fo_delay() {
  local r=${LAB_NS[router]} ms=${LAB_FO_DELAY[$1]:-}
  [ -n "$ms" ] || { lab_log "lab_fo_delay: no uplink '$1'"; return 1; }
  lab_uplink_def client1 "$1" || return 1
  lab_delay "$r" "$LAB_UL_RIF" "$ms" "${2:-0}" || return 1
  lab_delay_in "$r" "$LAB_UL_RIF" "$ms" "${2:-0}"
}

# lab_fo_rtt N: the mean RTT (ms, fractional) from client1 to the server
# through uplink N (ping bound to its interface), in REPLY.
lab_fo_rtt() {
  local out
  lab_uplink_def client1 "$1" || return 1
  out=$(ip netns exec "${LAB_NS[client1]}" ping -n -q -c 5 -i 0.2 -W 1 \
    -I "$LAB_UL_IF" 198.18.3.2 2>/dev/null)
  REPLY=$(printf '%s\n' "$out" | sed -n 's|^rtt [^=]*= [^/]*/\([^/]*\)/.*|\1|p')
  [ -n "$REPLY" ]
}

# lab_fo_topo: builds the lab above and checks each uplink's RTT against
# its delay (LAB_FO_RTT[N] has the measurements). On failure REPLY says
# why.
lab_fo_topo() {
  local n c1 want dev
  # shellcheck disable=SC2119 # no options: NAT on
  lab_topo_vpn || { REPLY="lab_topo_vpn failed"; return 1; }
  lab_uplink2_add client1 || { REPLY="lab_uplink2_add failed"; return 1; }
  c1=${LAB_NS[client1]}
  # A link taken down keeps its IPv6 addresses, as IPv4 keeps its own:
  # only the routes go.
  for dev in eth0 eth1; do
    ip netns exec "$c1" sysctl -qw "net.ipv6.conf.$dev.keep_addr_on_down=1" \
      >/dev/null || { REPLY="keep_addr_on_down on $dev"; return 1; }
  done
  for n in 1 2; do
    lab_fo_delay "$n" || { REPLY="the delay of uplink $n"; return 1; }
  done
  for n in 1 2; do
    want=$(( 2 * LAB_FO_DELAY[$n] ))
    if ! lab_fo_rtt "$n"; then
      REPLY="no ping reply from the server through uplink $n"
      return 1
    fi
    LAB_FO_RTT[$n]=$REPLY
    if lab_lt "$REPLY" $(( want - 1 )) ||
       ! lab_lt "$REPLY" $(( want + LAB_FO_RTT_SLACK_MS )); then
      REPLY="uplink $n: RTT ${LAB_FO_RTT[$n]} ms, want $want ms (+$LAB_FO_RTT_SLACK_MS)"
      return 1
    fi
  done
}

# lab_fo_write_client_conf FILE KEYDIR AUDIT POLICY: a jvpn-quic client
# config for client1 with one [uplink] per LAB_FO_UPLINKS entry, its audit
# trail to AUDIT (none when empty) and POLICY ("key = value" lines) as its
# [policy] section.
lab_fo_write_client_conf() {
  local u if pr cost
  lab_write_client_conf "$1" 198.18.3.2:443 "${LAB_PIN[server]}" "$2" \
    "$LAB_TUN" || return 1
  {
    if [ -n "$3" ]; then echo "audit_log = $3"; fi
    for u in $LAB_FO_UPLINKS; do
      IFS=: read -r if pr cost <<<"$u"
      printf '\n[uplink]\ninterface = %s\npriority = %s\n' "$if" "$pr"
      if [ -n "$cost" ]; then printf 'cost = %s\n' "$cost"; fi
    done
    if [ -n "$4" ]; then printf '\n[policy]\n%s\n' "$4"; fi
  } >>"$1"
}

# lab_fo_conf_get FILE SECTION KEY [DEFAULT]: KEY's value in the first
# [SECTION] of a config file that sets it (comments stripped), else
# DEFAULT, in REPLY.
# shellcheck disable=SC2016 # awk's own variables
lab_fo_conf_get() {
  REPLY=$(awk -v s="[$2]" -v k="$3" '
    /^[ \t]*\[/ { sec = $1; next }
    sec == s {
      line = $0
      sub(/[ \t][#;].*$/, "", line)
      n = index(line, "=")
      if (n == 0) next
      key = substr(line, 1, n - 1); val = substr(line, n + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", val)
      if (key == k) { print val; exit }
    }' "$1" 2>/dev/null)
  REPLY=${REPLY:-${4:-}}
}

# lab_fo_ms VALUE: a [policy] duration ("1500", "1500ms", "2s", "1min") in
# whole ms, in REPLY.
lab_fo_ms() {
  case "$1" in
    *ms) REPLY=${1%ms} ;;
    *min) REPLY=$(( ${1%min} * 60000 )) ;;
    *s) REPLY=$(( ${1%s} * 1000 )) ;;
    *h) REPLY=$(( ${1%h} * 3600000 )) ;;
    *) REPLY=$1 ;;
  esac
}

# lab_fo_status SOCK: the client's status through its control socket, in
# LAB_FO_ST: session, session_state, state_version, switches,
# last_switch_reason, active (the interface whose uplink role is
# "active", empty when none), uplinks ("IF:ROLE:STATUS ...") and
# transports ("IF:quic|tcp|none ..."). Returns
# 1 when the client does not answer.
declare -gA LAB_FO_ST=()
lab_fo_status() {
  local j o k if role st tp
  LAB_FO_ST=()
  j=$("$JVPN_BIN" status --json -s "$1" 2>/dev/null) || return 1
  for k in session session_state last_switch_reason; do
    LAB_FO_ST[$k]=$(printf '%s' "$j" | grep -o "\"$k\":\"[^\"]*\"" |
      head -n1 | cut -d'"' -f4)
  done
  for k in state_version switches; do
    LAB_FO_ST[$k]=$(printf '%s' "$j" | grep -o "\"$k\":[0-9]*" | head -n1 |
      cut -d: -f2)
  done
  LAB_FO_ST[active]=""
  LAB_FO_ST[uplinks]=""
  LAB_FO_ST[transports]=""
  # One uplink object per line; its keys in any order.
  while IFS= read -r o; do
    if=$(printf '%s' "$o" | grep -o '"interface":"[^"]*"' | cut -d'"' -f4)
    [ -n "$if" ] || continue
    role=$(printf '%s' "$o" | grep -o '"role":"[^"]*"' | cut -d'"' -f4)
    st=$(printf '%s' "$o" | grep -o '"status":"[^"]*"' | cut -d'"' -f4)
    LAB_FO_ST[uplinks]+="$if:$role:$st "
    tp=$(printf '%s' "$o" | grep -o '"transport":"[^"]*"' | cut -d'"' -f4)
    LAB_FO_ST[transports]+="$if:${tp:-none} "
    if [ "$role" = active ]; then LAB_FO_ST[active]=$if; fi
  done < <(printf '%s' "$j" | sed -n 's/.*"uplinks":\[\([^]]*\)\].*/\1/p' |
           tr '}' '\n')
  LAB_FO_ST[uplinks]=${LAB_FO_ST[uplinks]% }
  LAB_FO_ST[transports]=${LAB_FO_ST[transports]% }
  [ -n "${LAB_FO_ST[session]}" ]
}

# lab_fo_active_is SOCK IF: the client's active uplink is IF (for
# lab_wait_for).
lab_fo_active_is() {
  lab_fo_status "$1" && [ "${LAB_FO_ST[active]}" = "$2" ]
}

lab_fo_blackhole_on() {
  lab_uplink_blackhole_on client1 "$1"
}

lab_fo_blackhole_off() {
  lab_uplink_blackhole_off client1 "$1"
}

# lab_fo_udp_block N 1|0: the router drops UDP 443 on uplink N of client1
# only (1), or no longer (0): that uplink's network blocks QUIC.
lab_fo_udp_block() {
  lab_uplink_def client1 "$1" || return 1
  lab_udp_block_if "$2" "$LAB_UL_RIF"
}

lab_fo_link_down() {
  lab_uplink_def client1 "$1" || return 1
  lab_link_down "${LAB_NS[client1]}" "$LAB_UL_IF"
}

# lab_fo_link_up N: the interface up again, with its addresses (should
# any have gone) and its default routes at their metric.
lab_fo_link_up() {
  local cns=${LAB_NS[client1]} have a
  lab_uplink_def client1 "$1" || return 1
  lab_link_up "$cns" "$LAB_UL_IF" || return 1
  # Not lab_has_addr: under "set -o pipefail" its grep -q can make ip die
  # of SIGPIPE and a present address look missing.
  have=$(ip -n "$cns" -o addr show dev "$LAB_UL_IF" 2>/dev/null)
  for a in "$LAB_UL_A4/24" "$LAB_UL_A6/64"; do
    if [[ $have != *" $a "* ]]; then
      lab_addr "$cns" "$LAB_UL_IF" "$a" || return 1
    fi
  done
  lab_uplink_routes_add client1 "$1"
}

# lab_fo_flap N HALF_MS SECS: uplink N's link down for HALF_MS, up for
# HALF_MS, repeated for SECS seconds (at most SECS * 1000 / (2 * HALF_MS)
# cycles, paced on the clock so the ip commands' own time does not
# stretch it); the link is up at the end. REPLY: "CYCLES cycles in MS ms".
lab_fo_flap() {
  local n=$1 half=$2 secs=$3 cycles i t0 next now
  cycles=$(( secs * 1000 / (2 * half) ))
  lab_now_ms
  t0=$REPLY
  next=$t0
  for ((i = 0; i < cycles; i++)); do
    lab_fo_link_down "$n" || break
    next=$(( next + half ))
    lab_now_ms
    now=$REPLY
    if [ "$now" -lt "$next" ]; then
      sleep "$(awk -v d=$(( next - now )) 'BEGIN { print d / 1000 }')"
    fi
    # A failed "up" is retried at the next cycle and at the end.
    lab_fo_link_up "$n"
    next=$(( next + half ))
    lab_now_ms
    now=$REPLY
    # Bounded in time too: a loaded host gives up rather than overrun.
    if [ $(( now - t0 )) -gt $(( secs * 1000 + 5000 )) ]; then
      i=$(( i + 1 ))
      break
    fi
    if [ "$now" -lt "$next" ]; then
      sleep "$(awk -v d=$(( next - now )) 'BEGIN { print d / 1000 }')"
    fi
  done
  lab_fo_link_up "$n"
  lab_now_ms
  REPLY="$i cycles in $(( REPLY - t0 )) ms"
}

# lab_fo_loss N PCT: PCT % random loss each way on uplink N, on top of its
# delay; 0 takes the loss away. The injectors are replaced, so for a few
# ms the uplink's packets pass undelayed.
lab_fo_loss() {
  lab_fo_delay "$1" "$2"
}

# --- OpenVPN beside jvpn-quic (scripts/bench-failover.sh) -------------------
#
# lab_ovpn_pair CLIENT DIR [tcp]: OpenVPN 2.6 in point-to-point mode with a
# static key (DIR/ovpn.key), UDP: the server in the server namespace on
# 198.18.3.2:1194, the client in CLIENT's namespace with no fixed local
# address or port (--nobind), so its packets leave as the routing table
# says, like wireguard-go's. Both ends --float (accept the peer's new
# address once a packet from it authenticates), --ping 1 --ping-restart 5
# (a restart re-opens the socket). Tunnel addresses LAB_OVPN_SERVER_IN4 and
# LAB_OVPN_CLIENT_IN4, devices LAB_OVPN_IF[client|server], PIDs
# LAB_OVPN_PID[client|server]. With "tcp", a second, separate tunnel over
# TCP instead (--proto tcp-server / tcp-client, port 1194, no --float),
# which may run beside the UDP one: addresses LAB_OVPN_TCP_SERVER_IN4 and
# LAB_OVPN_TCP_CLIENT_IN4, keys LAB_OVPN_IF and LAB_OVPN_PID tcp-client and
# tcp-server. Returns 1 (with a message) when openvpn is missing or the
# tunnel does not work.
# shellcheck disable=SC2034
{
LAB_OVPN_SERVER_IN4=198.19.251.1
LAB_OVPN_CLIENT_IN4=198.19.251.2
LAB_OVPN_TCP_SERVER_IN4=198.19.252.1
LAB_OVPN_TCP_CLIENT_IN4=198.19.252.2
LAB_OVPN_PORT=1194
}
declare -gA LAB_OVPN_PID=() LAB_OVPN_IF=()
# shellcheck disable=SC2034 # LAB_OVPN_PID is for the callers
lab_ovpn_pair() {
  local c=$1 dir=$2 mode=${3:-udp} cns sns um k="" tag=v
  local sin=$LAB_OVPN_SERVER_IN4 cin=$LAB_OVPN_CLIENT_IN4 cproto=()
  cns=${LAB_NS[$c]:-}
  sns=${LAB_NS[server]:-}
  if [ -z "$cns" ] || [ -z "$sns" ]; then
    lab_log "lab_ovpn_pair: build lab_topo_vpn first"
    return 1
  fi
  command -v openvpn >/dev/null 2>&1 ||
    { lab_log "lab_ovpn_pair: openvpn is missing (apt-get install openvpn)"
      return 1; }
  case "$mode" in
    udp) cproto=(--proto udp --float) ;;
    tcp) k=tcp- tag=t
         sin=$LAB_OVPN_TCP_SERVER_IN4
         cin=$LAB_OVPN_TCP_CLIENT_IN4
         cproto=(--proto tcp-client --connect-retry 1 1) ;;
    *) lab_log "lab_ovpn_pair: mode is udp or tcp, not '$mode'"
       return 1 ;;
  esac
  mkdir -p "$dir" || return 1
  um=$(umask)
  umask 077
  openvpn --genkey secret "$dir/ovpn.key" >/dev/null 2>&1
  umask "$um"
  [ -s "$dir/ovpn.key" ] || { lab_log "openvpn --genkey failed"; return 1; }
  LAB_OVPN_IF[${k}client]="$LAB_PREFIX-o${tag}c"
  lab_ovpn_server_up "$dir" "$mode" || return 1
  lab_spawn "$cns" "$dir/ovpn-client.log" openvpn "${LAB_OVPN_COMMON[@]}" \
    "${cproto[@]}" --dev "${LAB_OVPN_IF[${k}client]}" --nobind \
    --remote 198.18.3.2 "$LAB_OVPN_PORT" --secret "$dir/ovpn.key" 1 \
    --ifconfig "$cin" "$sin"
  LAB_OVPN_PID[${k}client]=$REPLY
  if ! lab_wait_for "a ping through OpenVPN" 15 ip netns exec "$cns" \
         ping -n -q -c 1 -W 1 "$sin"; then
    lab_tail "$dir/ovpn-server.log" "$dir/ovpn-client.log" >&2
    return 1
  fi
}

# What both ends of lab_ovpn_pair run with (the benchmarks print it: the
# ping settings decide how OpenVPN notices a dead peer).
LAB_OVPN_COMMON=(--dev-type tun --cipher AES-256-CBC --auth SHA256
                 --ping 1 --ping-restart 5 --persist-tun --persist-key --verb 3)

# lab_ovpn_server_up DIR [udp|tcp] [LOG]: the server half of lab_ovpn_pair
# DIR (its key DIR/ovpn.key) in the server's namespace, log LOG (default
# DIR/ovpn-server.log); its PID in LAB_OVPN_PID[server] (tcp-server).
# Also a restart: after the old process has exited, the same server comes
# back. Returns once it was started (tcp: once it listens); 1 when it
# does not listen.
# shellcheck disable=SC2034 # LAB_OVPN_PID is for the callers
lab_ovpn_server_up() {
  local dir=$1 mode=${2:-udp} log=${3:-$1/ovpn-server.log} k="" tag=v
  local sin=$LAB_OVPN_SERVER_IN4 cin=$LAB_OVPN_CLIENT_IN4 sproto=()
  local sns=${LAB_NS[server]:-}
  case "$mode" in
    udp) sproto=(--proto udp --float) ;;
    tcp) k=tcp- tag=t
         sin=$LAB_OVPN_TCP_SERVER_IN4
         cin=$LAB_OVPN_TCP_CLIENT_IN4
         sproto=(--proto tcp-server) ;;
  esac
  LAB_OVPN_IF[${k}server]="$LAB_PREFIX-o${tag}s"
  lab_spawn "$sns" "$log" openvpn "${LAB_OVPN_COMMON[@]}" \
    "${sproto[@]}" --dev "${LAB_OVPN_IF[${k}server]}" --local 198.18.3.2 \
    --lport "$LAB_OVPN_PORT" --secret "$dir/ovpn.key" 0 \
    --ifconfig "$sin" "$cin"
  LAB_OVPN_PID[${k}server]=$REPLY
  if [ "$mode" = tcp ] &&
     ! lab_wait_for "OpenVPN listening on TCP" 10 lab_tcp_listening "$sns" \
         "$LAB_OVPN_PORT"; then
    lab_tail "$log" >&2
    return 1
  fi
}

# lab_fo_hex ID: a base64url session ID (status) as the audit trail spells
# it (hex), in REPLY.
lab_fo_hex() {
  REPLY=$(printf '%s==' "$1" | tr -- '-_' '+/' | base64 -d 2>/dev/null |
    od -An -tx1 | tr -d ' \n')
}

# Several server nodes, BIRD and Redis (tests/netns/multinode.sh): in a
# file of its own, sourced here so that every test gets it.
# shellcheck source-path=SCRIPTDIR source=lab_nodes.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab_nodes.sh"
