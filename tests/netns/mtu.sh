#!/usr/bin/env bash
# tests/netns/mtu.sh: the tunnel on paths smaller than 1500 bytes.
#
# Each check builds a fresh standard topology (tests/lab/lab.sh,
# lab_topo_vpn, masquerade on) with one client, client1, whose TUN MTU is
# derived from the path (the client config's default, mtu = 0):
#
#   client1 eth0 198.18.1.2  --- c1  router  srv ---- eth0 server 198.18.3.2
#           2001:db8:1::2             (NAT)  [MTU]         2001:db8:3::2
#
#   v4       the router's srv and the server's eth0 at MTU 1280 (the client's
#            own link stays 1500: it learns the limit from the router's
#            ICMP "fragmentation needed"), IPv4 underlay (198.18.3.2:443).
#   v6       the same with an IPv6 underlay ([2001:db8:3::2]:443; ICMPv6
#            Packet Too Big from the router).
#   drop     every MTU 1500, but the router silently drops each packet
#            longer than 1300 bytes (lab_size_drop: no ICMP, a PMTU black
#            hole); the senders' links cut their GSO batches (lab_gso_off)
#            so the rule sees each datagram.
#   migrate  client1 also has uplink 2 (eth1 198.18.11.2, MTU 1280 at both
#            ends); once the first path has settled (PMTUD's settle time,
#            JVPN_QUIC_PMTUD_SETTLE_MS, + 1 s), uplink 1 (1500) loses its
#            address and the client migrates its QUIC connection to
#            uplink 2. Contract under test: the session ID stays, the
#            client lowers its TUN MTU once the new path's MTU has settled
#            and audits that as an "mtu_change" record (audit_log), and
#            transfers still complete.
#   shrink   every MTU 1500; once PMTUD has settled at full size, the
#            router starts dropping, without ICMP, each packet longer than
#            1300 bytes (the path's MTU shrinks mid-session, silently): the
#            ends notice the black hole (pmtu_black_hole audit record),
#            move to a path whose packets start at 1200 bytes again, and
#            both transfers complete; the TUN MTU goes down.
#
# Lines, each PASS or FAIL with its numbers (v4 shown; v6 and drop alike):
#   v4-up      the tunnel comes up (a ping to 198.18.200.1); the TUN MTU the
#              client chose, and how long it took
#   v4-c2s     50 MB client -> server over TCP through the tunnel (socat),
#              SHA-256 checked, in MTU_XFER_TIMEOUT_S (20) s
#   v4-s2c     the same server -> client
#   v4-fit     a ping of exactly the TUN MTU with DF set gets its 3 replies:
#              the MTU the client promised fits the path (or, with the TUN
#              at the 1280-byte IPv6 floor, a Packet Too Big names the size
#              that does, and a ping of that size gets through)
#   v4-fit6    an IPv6 ping of the TUN MTU through the tunnel, 3 replies
#   v4-toobig  a ping 1 byte over the TUN MTU with DF set is refused
#              ("message too long", or Packet Too Big from the tunnel)
#   m-migrate  the client logs "migrated: now sending from 198.18.11.2"
#   m-c2s, m-s2c  the transfers at once, while PMTUD probes the new path
#   m-mtu      the TUN MTU drops below the one before the move, with an
#              "mtu_change" record in the client's audit trail, within
#              MTU_SETTLE_S (20) s of the address change (every mtu_change
#              record after the move is printed)
#   m-mtu-once exactly one mtu_change record after the move: the MTU did
#              not move before the new path settled
#   m-c2s-settled, m-s2c-settled, m-fit, m-fit6  after that
#   m-session  the session ID (jvpn-quic status --json) is unchanged
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is bounded; the lab's trap removes
# every namespace and process. MTU_KEEP=1 keeps the logs, MTU_VERBOSE=1
# runs the daemons with -v, MTU_CHECKS="v4 drop" runs only those,
# MTU_XFER_MB sets the transfer size (50).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init mtu

PATH_MTU=1280                         # v4, v6, migrate: the small link
DROP_ABOVE=1300                       # drop: the silent limit
XFER_MB=${MTU_XFER_MB:-50}
XFER_S=${MTU_XFER_TIMEOUT_S:-20}
UP_S=10                               # the tunnel's first ping
MIGRATE_S=10                          # the address change -> "migrated"
SETTLE_S=${MTU_SETTLE_S:-20}          # address change -> TUN MTU lowered
CHECKS=${MTU_CHECKS:-v4 v6 drop migrate shrink}
# How long PMTUD has on a new path (at least) before the client sizes its
# MTU from it: include/jvpn/proto.h, else 2 s.
SETTLE0_MS=$(sed -n 's/^#define JVPN_QUIC_PMTUD_SETTLE_MS \([0-9]*\).*/\1/p' \
  "$top_srcdir/include/jvpn/proto.h" 2>/dev/null)
SETTLE0_MS=${SETTLE0_MS:-2000}

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_require_tools nft conntrack ping socat sha256sum timeout
lab_note "using $JVPN_BIN"

lab_test_logdir MTU_KEEP
dir=$REPLY
data=$dir/data.bin
head -c $((XFER_MB * 1024 * 1024)) /dev/urandom >"$data" ||
  lab_setup_fail "could not write $XFER_MB MB of test data"

# The check now running: its directory, namespaces, logs, sockets, PIDs.
d="" c1="" sv="" slog="" clog="" csock="" caudit="" server_pid="" client_pid=""
MTU=""                                # the client's TUN MTU, when up

# setup NAME UNDERLAY [uplink2]: a fresh lab and configs in $dir/NAME for
# client1 reaching the server over IPv UNDERLAY (4 or 6); with "uplink2",
# client1's second uplink too. Faults go in between setup and start.
setup() {
  d=$dir/$1
  mkdir -p "$d" || return 1
  lab_reset
  # shellcheck disable=SC2119 # no options: NAT on
  lab_topo_vpn || { REPLY="could not build the lab topology"; return 1; }
  if [ "${3:-}" = uplink2 ]; then
    lab_uplink2_add client1 ||
      { REPLY="could not add client1's second uplink"; return 1; }
  fi
  LAB_UNDERLAY[client1]=$2
  lab_gen_vpn_configs "$d" client1 ||
    { REPLY="genkey or config generation failed"; return 1; }
  c1=${LAB_NS[client1]}
  sv=${LAB_NS[server]}
  slog=$d/server.log
  clog=$d/client1.log
  csock=$d/client1.sock
  caudit=$d/client1-audit.jsonl
  # The client's audit trail (the conf ends in its [client] section).
  echo "audit_log = $caudit" >>"$d/client1.conf"
  server_pid="" client_pid="" MTU=""
}

# start NAME: the server, then client1 (IPv4 inner address only: a TUN
# MTU below 1280 takes IPv6 off the TUN), then a ping through the tunnel;
# PASS or FAIL NAME-up with the TUN MTU.
start() {
  local t0 t1 why
  if ! lab_vpn_server_start "$slog" -c "$d/server.conf" \
       ${MTU_VERBOSE:+-v} --control "$d/server.sock"; then
    why=$REPLY
    server_pid=$LAB_VPN_PID
    lab_fail "$1-up" "$why" "$slog"
    return 1
  fi
  server_pid=$LAB_VPN_PID
  lab_now_ms
  t0=$REPLY
  if ! lab_vpn_client_start "$c1" "$clog" "$LAB_CLIENT1_IN4" - \
         -c "$d/client1.conf" ${MTU_VERBOSE:+-v} --control "$csock"; then
    client_pid=$LAB_VPN_PID
    lab_fail "$1-up" "client1 did not get $LAB_CLIENT1_IN4 within 10 s" \
      "$slog" "$clog"
    return 1
  fi
  client_pid=$LAB_VPN_PID
  if ! lab_wait_tunnel "$c1" "$UP_S"; then
    lab_tun_mtu "$c1"
    lab_fail "$1-up" "no ping through the tunnel within $UP_S s (TUN MTU\
 ${REPLY:-?})" "$slog" "$clog"
    return 1
  fi
  lab_now_ms
  t1=$REPLY
  lab_tun_mtu "$c1"
  MTU=$REPLY
  status_mtu
  lab_pass "$1-up" "tunnel up in $(( t1 - t0 )) ms; client TUN MTU $MTU\
 (status: ${REPLY:-?}); inner IPv6 $(v6_state)"
}

# status_mtu: the client's tunnel MTU as its status reports it, in REPLY.
status_mtu() {
  REPLY=$("$JVPN_BIN" status --json -s "$csock" 2>/dev/null |
    grep -o '"mtu":[0-9]*' | head -n1 | cut -d: -f2)
}

# v6_state: whether client1's TUN still carries its inner IPv6 address.
v6_state() {
  if lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN6"; then
    echo "present"
  else
    echo "absent"
  fi
}

# ping_df SIZE COUNT: pings the server's inner IPv4 address from client1
# with SIZE bytes of payload and DF set; the output in REPLY, the number
# of replies in NREPLY.
NREPLY=0
ping_df() {
  REPLY=$(ip netns exec "$c1" ping -n -c "$2" -i 0.2 -W 1 -M "do" -s "$1" \
    "$LAB_SERVER_IN4" 2>&1)
  NREPLY=$(printf '%s\n' "$REPLY" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  NREPLY=${NREPLY:-0}
}

# errors_of OUTPUT: ping's error lines, one line, deduplicated.
errors_of() {
  REPLY=$(printf '%s\n' "$1" | grep -i -E 'too long|frag|too big|error' |
    sed 's/icmp_seq=[0-9]* //' | sort -u | head -n 3 | tr '\n' ';')
  REPLY=${REPLY%;}
}

# xfer NAME DIR: the 50 MB transfer client -> server (DIR c2s...) or back
# (s2c...); the line is NAME-DIR.
xfer() {
  local name=$1-$2 rc=0 why
  if [ "${2%%-*}" = c2s ]; then
    lab_xfer "$c1" "$sv" "$LAB_SERVER_IN4" 5001 "$data" "$XFER_S" || rc=1
  else
    lab_xfer "$sv" "$c1" "$LAB_CLIENT1_IN4" 5002 "$data" "$XFER_S" || rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    why=$REPLY
    lab_tun_mtu "$c1"
    lab_fail "$name" "$why; TUN MTU now ${REPLY:-?}" "${LAB_XFER_LOGS[@]}" \
      "$slog" "$clog"
    return 1
  fi
  lab_pass "$name" "$REPLY"
}

# fit NAME: a ping of exactly the TUN MTU, DF set, gets 3 replies of 3.
# One exception, by design (src/client.c, wanted_mtu): while the TUN has
# an IPv6 address its MTU stays at 1280 even where a datagram holds less;
# IPv4 packets that do not fit then get a Packet Too Big naming what does
# (ping: "mtu = N", then "mtu=N"), and a ping of N bytes must get through.
fit() {
  local mtu ptb
  lab_tun_mtu "$c1"
  mtu=$REPLY
  ping_df $(( mtu - 28 )) 3
  if [ "$NREPLY" -eq 3 ]; then
    lab_pass "$1-fit" "a $mtu-byte ping (the TUN MTU) with DF: 3 of 3\
 replies"
    return 0
  fi
  ptb=$(printf '%s\n' "$REPLY" |
    sed -n 's/.*mtu \{0,1\}= \{0,1\}\([0-9]*\).*/\1/p' | head -n1)
  errors_of "$REPLY"
  if [ -n "$ptb" ] && [ "$ptb" -lt "$mtu" ] && [ "$mtu" = 1280 ] &&
     lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN6"; then
    ping_df $(( ptb - 28 )) 3
    if [ "$NREPLY" -eq 3 ]; then
      lab_pass "$1-fit" "TUN MTU 1280 (the IPv6 floor) over the $ptb bytes a\
 datagram holds: a 1280-byte IPv4 ping with DF got Packet Too Big\
 (mtu $ptb), a $ptb-byte one 3 of 3 replies"
      return 0
    fi
    errors_of "$REPLY"
    lab_fail "$1-fit" "Packet Too Big said $ptb bytes fit, but a $ptb-byte\
 ping with DF got $NREPLY of 3 replies: ${REPLY:-no error reported}" "$clog"
    return 1
  fi
  lab_fail "$1-fit" "a $mtu-byte ping (the TUN MTU) with DF got $NREPLY of\
 3 replies: ${REPLY:-no error reported}" "$clog"
  return 1
}

# fit6 NAME: the same over the inner IPv6 (when the TUN has it): an IPv6
# packet of the TUN MTU, which Linux never fragments, gets 3 replies of 3
# (up to 1280 bytes the client carries what a datagram cannot hold on the
# request stream).
fit6() {
  local mtu out n
  lab_tun_mtu "$c1"
  mtu=$REPLY
  if ! lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN6"; then
    lab_note "$1: no inner IPv6 on the TUN (MTU $mtu): $1-fit6 not run"
    return 0
  fi
  out=$(ip netns exec "$c1" ping -6 -n -c 3 -i 0.2 -W 1 -M "do" \
    -s $(( mtu - 48 )) "$LAB_SERVER_IN6" 2>&1)
  n=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  if [ "${n:-0}" -ne 3 ]; then
    errors_of "$out"
    lab_fail "$1-fit6" "a $mtu-byte IPv6 ping (the TUN MTU) got ${n:-0} of 3\
 replies${REPLY:+: $REPLY}" "$clog"
    return 1
  fi
  lab_pass "$1-fit6" "a $mtu-byte IPv6 ping (the TUN MTU): 3 of 3 replies"
}

# toobig NAME: a ping 1 byte over the TUN MTU, DF set, is refused with
# "message too long" (the kernel's local error) or a Packet Too Big.
toobig() {
  local mtu size
  lab_tun_mtu "$c1"
  mtu=$REPLY
  size=$(( mtu - 28 + 1 ))
  ping_df "$size" 2
  local out=$REPLY
  errors_of "$out"
  if [ "$NREPLY" -ne 0 ]; then
    lab_fail "$1-toobig" "ping -M do -s $size ($(( size + 28 )) bytes, TUN MTU\
 $mtu) got $NREPLY replies"
    return 1
  fi
  if ! printf '%s\n' "$out" |
       grep -q -i -E 'message too long|frag needed|packet too big'; then
    lab_fail "$1-toobig" "ping -M do -s $size: no 'message too long' or\
 Packet Too Big: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)"
    return 1
  fi
  lab_pass "$1-toobig" "ping -M do -s $size ($(( size + 28 )) bytes, TUN MTU\
 $mtu): $REPLY"
}

# not_run NAME REASON LINES...: FAIL NAME-LINE for each line not run.
not_run() {
  local name=$1 why=$2 l
  shift 2
  for l in "$@"; do
    lab_fail "$name-$l" "not run: $why"
  done
}

# finish NAME: the daemons must still run; sanitizer reports fail.
finish() {
  if [ -n "$server_pid" ] && ! lab_pid_alive "$server_pid"; then
    lab_fail "$1-server" "the server exited" "$slog"
  fi
  if [ -n "$client_pid" ] && ! lab_pid_alive "$client_pid"; then
    lab_fail "$1-client" "the client exited" "$clog"
  fi
  lab_check_sanitizers "$d"
}

# path_check NAME: up, both transfers, fit, fit6, toobig.
path_check() {
  if ! start "$1"; then
    not_run "$1" "the tunnel did not come up" c2s s2c fit fit6 toobig
    finish "$1"
    return 1
  fi
  xfer "$1" c2s
  xfer "$1" s2c
  fit "$1"
  fit6 "$1"
  toobig "$1"
  lab_tun_mtu "$c1"
  if [ "$REPLY" != "$MTU" ]; then
    lab_note "$1: the TUN MTU went from $MTU to $REPLY during the check"
  fi
  finish "$1"
}

# --- v4 / v6: a 1280-byte link on the server's side -------------------------
check_small_link() {
  local name=$1 fam=$2
  if ! setup "$name" "$fam"; then
    lab_fail "$name-up" "$REPLY"
    not_run "$name" "no lab" c2s s2c fit fit6 toobig
    return 1
  fi
  if ! lab_server_mtu "$PATH_MTU"; then
    lab_fail "$name-up" "could not set the server link's MTU to $PATH_MTU"
    return 1
  fi
  lab_server_endpoint "$fam"
  lab_note "$name: router srv and server eth0 at MTU $PATH_MTU, client1 ->\
 $REPLY"
  path_check "$name"
}

# --- drop: a silent limit of 1300 bytes in the router ------------------------
check_drop() {
  if ! setup drop 4; then
    lab_fail drop-up "$REPLY"
    not_run drop "no lab" c2s s2c fit fit6 toobig
    return 1
  fi
  if ! lab_gso_off "$c1" eth0 || ! lab_gso_off "$sv" eth0 ||
     ! lab_size_drop "$DROP_ABOVE"; then
    lab_fail drop-up "could not install the size rule"
    return 1
  fi
  lab_note "drop: every MTU 1500; the router drops, without ICMP, each\
 packet over $DROP_ABOVE bytes"
  path_check drop
  lab_size_drops "${LAB_NS[router]}"
  lab_note "drop: the router dropped $REPLY packets over $DROP_ABOVE bytes"
}

# --- migrate: from a 1500-byte path to a 1280-byte one -----------------------

# mtu_lowered MTU0 MARK: the TUN MTU is below MTU0 and the client's audit
# trail has an mtu_change record after line MARK; a small ping keeps
# traffic on the path meanwhile.
mtu_lowered() {
  lab_ping "$c1" "$LAB_SERVER_IN4" || true
  lab_tun_mtu "$c1"
  [ -n "$REPLY" ] && [ "$REPLY" -lt "$1" ] &&
    tail -n "+$(( $2 + 1 ))" "$caudit" 2>/dev/null |
      grep -q '"event":"mtu_change"'
}

# mtu_changes MARK: the client's mtu_change records after line MARK of its
# audit trail, as "FROM->TO (REASON) ...", in REPLY.
mtu_changes() {
  REPLY=$(tail -n "+$(( $1 + 1 ))" "$caudit" 2>/dev/null |
    grep '"event":"mtu_change"' |
    sed -n -e 's/.*"reason":"\([A-Z_]*\)".*/\1 &/' \
      -e 's/^\([A-Z_]*\) .*MTU \([0-9]*\) -> \([0-9]*\).*/\2->\3 (\1)/p' |
    tr '\n' ' ')
  REPLY=${REPLY% }
}

check_migrate() {
  local sid0 ver0 mtu0 mtu1 nmig new rec t0 now left mark changes when=""
  local lines=(migrate c2s s2c mtu mtu-once c2s-settled s2c-settled fit fit6
               session)
  if ! setup migrate 4 uplink2; then
    lab_fail m-up "$REPLY"
    not_run m "no lab" "${lines[@]}"
    return 1
  fi
  if ! lab_uplink_mtu client1 2 "$PATH_MTU"; then
    lab_fail m-up "could not set uplink 2's MTU to $PATH_MTU"
    return 1
  fi
  lab_uplink_def client1 2
  new=$LAB_UL_A4
  lab_note "migrate: uplink 1 eth0 (MTU 1500) active, uplink 2 eth1 $new\
 (MTU $PATH_MTU) standby"
  if ! start m; then
    not_run m "the tunnel did not come up" "${lines[@]}"
    finish m
    return 1
  fi
  mtu0=$MTU
  if ! lab_fo_status "$csock"; then
    lab_fail m-session "the client's status has no session" "$clog"
    not_run m "no session" "${lines[@]}"
    finish m
    return 1
  fi
  sid0=${LAB_FO_ST[session]}
  ver0=${LAB_FO_ST[state_version]}
  # As a real client would, the first path has settled before the move.
  sleep "$(awk -v m="$SETTLE0_MS" 'BEGIN { print m / 1000 + 1 }')"
  lab_tun_mtu "$c1"
  mtu0=$REPLY
  lab_note "migrate: session $sid0, state_version $ver0, TUN MTU $mtu0\
 $(( SETTLE0_MS / 1000 + 1 )) s after the tunnel came up"

  # The address change: uplink 1 loses its address, uplink 2's standby
  # route takes over, the client migrates its connection.
  lab_count "migrated: now sending from $new" "$clog"
  nmig=$REPLY
  lab_count . "$caudit"
  mark=$REPLY
  lab_now_ms
  t0=$REPLY
  lab_uplink_addr_del client1 1
  if ! lab_wait_for "the client to migrate" "$MIGRATE_S" \
       lab_more_lines "migrated: now sending from $new" "$clog" "$nmig"; then
    lab_fail m-migrate "the client did not log 'migrated: now sending from\
 $new' within $MIGRATE_S s" "$clog" "$slog"
  else
    lab_now_ms
    lab_pass m-migrate "migrated to $new (MTU $PATH_MTU) in\
 $(( REPLY - t0 )) ms"
  fi

  # At once, while the new path is young (PMTUD still probing).
  xfer m c2s
  xfer m s2c

  # The contract: once the new path has settled, the TUN MTU comes down,
  # with an mtu_change audit record; within SETTLE_S of the change.
  lab_now_ms
  left=$(( SETTLE_S * 1000 - (REPLY - t0) ))
  if [ "$left" -lt 1000 ]; then left=1000; fi
  if lab_wait_for "the TUN MTU to drop below $mtu0" \
       "$(awk -v m="$left" 'BEGIN { print m / 1000 }')" \
       mtu_lowered "$mtu0" "$mark"; then
    lab_now_ms
    now=$REPLY
    when="$(( now - t0 )) ms after the address change"
  fi
  lab_tun_mtu "$c1"
  mtu1=$REPLY
  mtu_changes "$mark"
  changes=$REPLY
  rec=$(tail -n "+$(( mark + 1 ))" "$caudit" 2>/dev/null |
    grep '"event":"mtu_change"' | tail -n1)
  if [ -n "$when" ]; then
    status_mtu
    lab_pass m-mtu "TUN MTU $mtu0 -> $mtu1 (status: ${REPLY:-?}), $when;\
 audited mtu_change records: $changes; last: $rec"
    # More than one record: the MTU moved before the path settled.
    if [ "$(printf '%s\n' "$changes" | grep -o -- '->' | wc -l)" -gt 1 ]; then
      lab_fail m-mtu-once "the TUN MTU changed more than once after the\
 move: $changes (only the settled path's MTU should count)" "$caudit"
    else
      lab_pass m-mtu-once "one mtu_change after the move"
    fi
  elif [ "$mtu1" -lt "$mtu0" ]; then
    lab_fail m-mtu "TUN MTU $mtu0 -> $mtu1 but no \"mtu_change\" record in\
 the client's audit trail" "$caudit"
  elif [ -n "$rec" ]; then
    lab_fail m-mtu "TUN MTU still $mtu1 $SETTLE_S s after the move to the\
 $PATH_MTU-byte path; audited mtu_change records: $changes" "$caudit"
  else
    lab_fail m-mtu "TUN MTU still $mtu1 $SETTLE_S s after the move to the\
 $PATH_MTU-byte path and no \"mtu_change\" audit record: the client does\
 not lower its MTU after a migration (feature not implemented yet?)" \
      "$caudit"
  fi

  # Once settled (or given up on): traffic still flows.
  xfer m c2s-settled
  xfer m s2c-settled
  fit m
  fit6 m

  # The same session, before and after.
  if ! lab_fo_status "$csock"; then
    lab_fail m-session "the client does not answer its status" "$clog"
  elif [ "${LAB_FO_ST[session]}" != "$sid0" ]; then
    lab_fail m-session "session $sid0 became ${LAB_FO_ST[session]}\
 (state_version $ver0 -> ${LAB_FO_ST[state_version]})" "$clog" "$caudit"
  else
    lab_pass m-session "session $sid0 kept, ${LAB_FO_ST[session_state]},\
 state_version $ver0 -> ${LAB_FO_ST[state_version]}"
  fi
  finish m
}

# --- shrink: the path's MTU shrinks mid-session, silently -----------------
# The tunnel is up and PMTUD has settled at full size on a 1500-byte path;
# then the router starts dropping, without ICMP, every packet over
# DROP_ABOVE bytes. Full-size packets vanish while small ones pass: the
# ends must notice (a PMTU black hole, docs/decisions.md D20), move to a
# path whose packets start at 1200 bytes again, and carry both transfers.
check_shrink() {
  local t0 n
  if ! setup shrink 4 || ! start shrink; then
    lab_fail shrink-up "${REPLY:-the tunnel did not come up}"
    not_run shrink "no tunnel" c2s s2c mtu
    return 1
  fi
  sleep 3 # PMTUD settles at 1452-byte packets on the 1500-byte path
  if ! lab_gso_off "$c1" eth0 || ! lab_gso_off "$sv" eth0 ||
     ! lab_size_drop "$DROP_ABOVE"; then
    lab_fail shrink-up "could not install the size rule"
    return 1
  fi
  lab_note "shrink: from now on the router drops, without ICMP, each packet\
 over $DROP_ABOVE bytes"
  lab_now_ms
  t0=$REPLY
  xfer shrink c2s
  xfer shrink s2c
  lab_now_ms
  t0=$((REPLY - t0))
  n=$(grep -c '"event":"pmtu_black_hole"' "$caudit" 2>/dev/null)
  lab_tun_mtu "$c1"
  if [ "${n:-0}" -lt 1 ] || [ "${REPLY:-0}" -ge "$MTU" ]; then
    lab_fail shrink-mtu "TUN MTU $MTU -> ${REPLY:-?}, ${n:-0}\
 pmtu_black_hole audit records: the shrunken path was not noticed" \
      "$clog" "$slog"
  else
    lab_pass shrink-mtu "black hole noticed and left (${n} pmtu_black_hole\
 audit record); TUN MTU $MTU -> $REPLY; both transfers done ${t0} ms after\
 the MTU shrank"
  fi
  finish shrink
}

for c in $CHECKS; do
  case "$c" in
    v4) check_small_link v4 4 ;;
    v6) check_small_link v6 6 ;;
    drop) check_drop ;;
    migrate) check_migrate ;;
    shrink) check_shrink ;;
    *) lab_fail "$c" "no such check (MTU_CHECKS: v4 v6 drop migrate shrink)" ;;
  esac
done

lab_test_summary
