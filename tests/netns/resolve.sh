#!/usr/bin/env bash
# tests/netns/resolve.sh: the client finds its server by name without
# blocking its loop, and races the name's addresses (RFC 8305;
# docs/decisions.md D34).
#
# The lab topology (tests/lab/lab.sh, lab_topo_vpn), plus a blackhole:
#
#   client1 198.18.1.2, 2001:db8:1::2 --+
#     (e) + 198.18.11.2 (no IPv6) ------+
#                                     router ------- server 198.18.3.2
#   client2 198.18.2.2, 2001:db8:2::2 --+   |                2001:db8:3::2
#                                           |                UDP 443
#                  198.18.77.0/24: blackhole (nothing answers, no ICMP)
#
# Names come from files that 'ip netns exec' mounts over /etc/hosts and
# /etc/resolv.conf in one namespace (/etc/netns/NS/..., lab_ns_etc):
#
#   client1 hosts        vpn.test  -> 198.18.77.1, 198.18.77.2, 198.18.3.2
#                        dual.test -> 198.18.3.2, 2001:db8:3::2
#   client2 resolv.conf  nameserver 198.18.77.53, 3 s x 2 tries
#
#   (a) vpn.test: the first attempt goes to 198.18.77.1 and gets no
#       answer; after the attempt delay (250 ms) 198.18.77.2 races it,
#       after another 198.18.3.2, which wins. The tunnel is up within
#       RESOLVE_RACE_MAX_MS of the first attempt, where trying one address
#       at a time would wait for a handshake timeout (10 s) twice.
#   (b) dual.test: the client tries IPv6 first, although the hosts file
#       lists IPv4 first, and its tunnel runs over [2001:db8:3::2]:443.
#   (c) slow.test, asked of a DNS server that never answers: while the
#       lookup runs, the control socket answers `status` within
#       RESOLVE_STATUS_MAX_MS every time; the client stops waiting after
#       5 s, says so, and goes on answering.
#   (d) dual.test again, then a blackhole of the server side (router)
#       2 s longer than the QUIC idle timeout: the connection dies, the
#       recovery's attempts race both addresses, the name is looked up
#       again at most once a second, and once the blackhole ends the
#       session reattaches with the same inner address.
#   (e) multi-path, dual.test: client1 gets a second uplink, eth1
#       198.18.11.2, with no IPv6 address. The session starts on eth0 over
#       IPv6; eth1's standby connects over IPv4 (198.18.3.2).
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. RESOLVE_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init resolve

# ms, with room for a loaded 2-core machine: the attempt delay (250 ms)
# plus a handshake of a few ms, and a status answer of about 10 ms.
RACE_MAX_MS=${RESOLVE_RACE_MAX_MS:-1000}
STATUS_MAX_MS=${RESOLVE_STATUS_MAX_MS:-200}

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_note "using $JVPN_BIN"

lab_test_logdir RESOLVE_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" ||
  lab_setup_fail "genkey or config generation failed"
c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
slog=$dir/server.log
ip -n "${LAB_NS[router]}" route add blackhole 198.18.77.0/24 ||
  lab_setup_fail "could not add the blackhole route"
lab_ns_etc "$c1" hosts <<EOF ||
127.0.0.1 localhost
198.18.77.1 vpn.test
198.18.77.2 vpn.test
198.18.3.2 vpn.test
198.18.3.2 dual.test
2001:db8:3::2 dual.test
EOF
  lab_setup_fail "could not write client1's hosts file"
lab_ns_etc "$c2" resolv.conf <<EOF ||
nameserver 198.18.77.53
options timeout:3 attempts:2
EOF
  lab_setup_fail "could not write client2's resolv.conf"

if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" \
     --control "$dir/server.sock"; then
  lab_setup_fail "the server did not come up: $(lab_tail "$slog")"
fi

# conf NAME SERVER CLIENT: DIR/NAME.conf, CLIENT's keys, naming SERVER.
conf() {
  lab_write_client_conf "$dir/$1.conf" "$2" "${LAB_PIN[server]}" \
    "$dir/$3" "$LAB_TUN"
}

# status SOCK: the client's status (JSON) in REPLY.
status() {
  REPLY=$("$JVPN_BIN" status --json -s "$1" 2>&1)
}

# status_has SOCK TEXT: the status holds TEXT.
status_has() {
  status "$1"
  [[ $REPLY == *"$2"* ]]
}

# first_attempt LOG: the address of the client's first attempt, in REPLY.
first_attempt() {
  REPLY=$(grep -m1 -o 'connecting to [^ ]* ([^)]*)' "$1" | sed 's/.*(//;s/)//')
}

# stop PID NS WHO LOG: lab_vpn_stop, a failure named "stop" if it fails.
stop() {
  lab_vpn_stop "$1" "$2" "$3" || lab_fail stop "$REPLY" "$4"
}

# --- (a) the second address wins the race ------------------------------------
conf race vpn.test:443 client1
log=$dir/race.log
if ! lab_vpn_client_start "$c1" "$log" "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" \
     -c "$dir/race.conf" --control "$dir/race.sock"; then
  lab_fail a "no tunnel through vpn.test" "$log" "$slog"
else
  pid=$LAB_VPN_PID
  first_attempt "$log"
  first=$REPLY
  if [ "$first" != 198.18.77.1:443 ]; then
    lab_fail a "the first attempt went to $first, not 198.18.77.1:443" "$log"
  elif ! grep -q "198.18.3.2:443 answered first" "$log"; then
    lab_fail a "198.18.3.2 did not win a race" "$log"
  elif ! lab_vpn_attach_ms "$log"; then
    lab_fail a "no 'connecting to' and 'tunnel up' lines" "$log"
  elif [ "$REPLY" -gt "$RACE_MAX_MS" ]; then
    lab_fail a "tunnel up $REPLY ms after the first attempt (limit \
$RACE_MAX_MS ms)" "$log"
  else
    lab_pass a "tunnel up $REPLY ms after the first attempt (to \
198.18.77.1; 198.18.77.2 raced it, unanswered too), via 198.18.3.2"
  fi
  stop "$pid" "$c1" "the client of (a)" "$log"
fi

# --- (b) IPv6 first ------------------------------------------------------------
conf dual dual.test:443 client1
log=$dir/dual.log
if ! lab_vpn_client_start "$c1" "$log" "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" \
     -c "$dir/dual.conf" --control "$dir/dual.sock"; then
  lab_fail b "no tunnel through dual.test" "$log" "$slog"
else
  pid=$LAB_VPN_PID
  first_attempt "$log"
  first=$REPLY
  status "$dir/dual.sock"
  if [ "$first" != "[2001:db8:3::2]:443" ]; then
    lab_fail b "the first attempt went to $first, not [2001:db8:3::2]:443" \
      "$log"
  elif [[ $REPLY != *'"remote":"[2001:db8:3::2]:443"'* ]]; then
    lab_fail b "the tunnel does not run over IPv6: $REPLY" "$log"
  elif [[ $REPLY != *'"server_addresses":["[2001:db8:3::2]:443","198.18.3.2:443"]'* ]]; then
    lab_fail b "unexpected address order: $REPLY" "$log"
  else
    lab_pass b "IPv6 first: the tunnel runs over [2001:db8:3::2]:443"
  fi
  stop "$pid" "$c1" "the client of (b)" "$log"
fi

# --- (c) the loop runs on while a lookup hangs ---------------------------------
conf slow slow.test:443 client2
log=$dir/slow.log
sock=$dir/slow.sock
lab_spawn "$c2" "$log" "$JVPN_BIN" client -c "$dir/slow.conf" \
  --control "$sock"
pid=$REPLY
lab_now_ms
t0=$REPLY
if ! lab_wait_for "a lookup of slow.test" 5 status_has "$sock" \
     '"lookup":"running"'; then
  lab_fail c "no lookup of slow.test in progress: $REPLY" "$log"
else
  # Ask until the client gives up waiting (5 s; 8 s at most), one
  # question every 100 ms, each timed.
  n=0
  worst=0
  while ! grep -q "no answer for slow.test within" "$log"; do
    lab_now_ms
    [ $((REPLY - t0)) -gt 8000 ] && break
    a=$REPLY
    status "$sock"
    answer=$REPLY
    lab_now_ms
    ms=$((REPLY - a))
    [[ $answer == *'"role":"client"'* ]] || ms=99999
    n=$((n + 1))
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 0.1
  done
  lab_now_ms
  gave_up=$((REPLY - t0))
  if ! grep -q "no answer for slow.test within 5000 ms" "$log"; then
    lab_fail c "the client did not give up waiting for the lookup" "$log"
  elif [ "$n" -lt 10 ] || [ "$worst" -gt "$STATUS_MAX_MS" ]; then
    lab_fail c "$n status answers during the lookup, the slowest in \
$worst ms (limit $STATUS_MAX_MS ms)" "$log"
  elif ! status_has "$sock" '"lookup_timeouts":1'; then
    lab_fail c "no answer after the lookup timed out: $REPLY" "$log"
  else
    lab_pass c "$n status answers while slow.test hung, the slowest in \
$worst ms; gave up waiting after ~$gave_up ms"
  fi
fi
lab_now_ms
a=$REPLY
stop "$pid" "$c2" "the client of (c)" "$log"
lab_now_ms
lab_note "(c)'s client exited $((REPLY - a)) ms after SIGTERM (its lookup" \
  "ends when the system resolver gives up)"

# --- (d) recovery by name --------------------------------------------------------
log=$dir/recover.log
sock=$dir/recover.sock
lab_quic_idle_ms
long=$((REPLY + 2000))
if ! lab_vpn_client_start "$c1" "$log" "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" \
     -c "$dir/dual.conf" --control "$sock"; then
  lab_fail d "no tunnel through dual.test" "$log" "$slog"
else
  pid=$LAB_VPN_PID
  lab_blackhole_on || lab_setup_fail "nft blackhole failed"
  sleep "$(awk -v m="$long" 'BEGIN { print m / 1000 }')"
  lab_blackhole_off
  lab_count "racing the attempt still unanswered" "$log"
  raced=$REPLY
  status "$sock"
  lookups=$(grep -o '"lookups":[0-9]*' <<<"$REPLY" | cut -d: -f2)
  if ! grep -q "connection ended" "$log"; then
    lab_fail d "the connection survived a $long ms blackhole" "$log"
  elif ! lab_wait_for "a reattach" 10 grep -q "reattached (same addresses)" \
       "$log"; then
    lab_fail d "no reattach after the blackhole" "$log" "$slog"
  elif ! lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN4"; then
    lab_fail d "the client lost $LAB_CLIENT1_IN4" "$log"
  elif [ "$raced" -lt 1 ]; then
    lab_fail d "no attempt raced another during the recovery" "$log"
  elif [ -z "$lookups" ] || [ "$lookups" -gt $((long / 1000 + 2)) ]; then
    lab_fail d "${lookups:-no} lookups in a $long ms outage" "$log"
  else
    lab_pass d "session reattached after a $long ms blackhole; $raced \
attempts raced another, $lookups lookups of dual.test"
  fi
  stop "$pid" "$c1" "the client of (d)" "$log"
fi

# --- (e) an uplink without IPv6 picks an IPv4 address ----------------------------
log=$dir/multi.log
sock=$dir/multi.sock
conf multi dual.test:443 client1
printf '\n[uplink]\ninterface = eth0\npriority = 1\n' >>"$dir/multi.conf"
printf '\n[uplink]\ninterface = eth1\npriority = 2\n' >>"$dir/multi.conf"
if ! lab_uplink2_add client1 ||
   ! ip -n "$c1" -6 route del default dev eth1 ||
   ! ip -n "$c1" addr del 2001:db8:11::2/64 dev eth1; then
  lab_fail e "could not give client1 an IPv4-only second uplink"
elif ! lab_vpn_client_start "$c1" "$log" "$LAB_CLIENT1_IN4" \
       "$LAB_CLIENT1_IN6" -c "$dir/multi.conf" --control "$sock"; then
  lab_fail e "no tunnel through dual.test with two uplinks" "$log" "$slog"
else
  pid=$LAB_VPN_PID
  if ! lab_wait_for "eth1's standby" 10 grep -q "standby via eth1 ready" \
       "$log"; then
    lab_fail e "no standby on eth1" "$log" "$slog"
  elif ! grep -q "connecting to dual.test (\[2001:db8:3::2\]:443) via eth0" \
         "$log"; then
    lab_fail e "eth0 did not connect over IPv6" "$log"
  elif ! grep -q "connecting to dual.test (198.18.3.2:443) via eth1" \
         "$log" ||
       grep -q "connecting to dual.test ([^)]*:[^)]*:[^)]*) via eth1" \
         "$log"; then
    lab_fail e "eth1 did not connect over IPv4 only" "$log"
  elif ! status_has "$sock" '"interface":"eth1"' ||
       [[ $REPLY != *'"local":"198.18.11.2:'* ]]; then
    lab_fail e "eth1's connection is not from 198.18.11.2: $REPLY" "$log"
  else
    lab_pass e "eth0 over [2001:db8:3::2]:443, eth1 (IPv4 only) over \
198.18.3.2:443"
  fi
  stop "$pid" "$c1" "the client of (e)" "$log"
fi

lab_check_sanitizers "$dir"
lab_test_summary
