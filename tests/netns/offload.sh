#!/usr/bin/env bash
# tests/netns/offload.sh: TCP through the tunnel, byte-exact, with TUN
# offloads on and off (docs/decisions.md D42, tun/vnet.h).
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn --no-nat):
#
#   client1 198.18.1.2 ---- router ---- server 198.18.3.2 UDP 443
#
#   tunnel: server jvpn0 198.18.200.1 fd77:6a76:706e::1
#           client1 jvpn0 198.18.200.2 fd77:6a76:706e::2
#
# For each mode (tun_offload = on, then off, then on with a kernel that
# refuses TUNSETOFFLOAD, acted out by the JVPN_TEST_TUN_REFUSE_OFFLOAD
# hook of --enable-test-hooks builds: a skip without it), the server and
# client1 come up from fresh configs and:
#   (a) the log says which mode the device runs in (on: the kernel took
#       IFF_VNET_HDR and TSO, a kernel that refuses is a skip of (d);
#       refused: the refusal and the fallback are logged);
#   (b) 20 MB go client1 -> server over IPv4 (uplink: the client cuts the
#       kernel's super-packets, the server coalesces), SHA-256 checked;
#   (c) 20 MB go server -> client1 over IPv6 (downlink), SHA-256 checked;
#   (d) with offloads on, both ends' stats (SIGUSR1) show super-packets
#       read and cut (tso_reads > 0) and coalesced writes (gro_segs > 0),
#       and no failed TUN write.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. OFFLOAD_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init offload

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_require_tools socat sha256sum
lab_note "using $JVPN_BIN"

lab_test_logdir OFFLOAD_KEEP
dir=$REPLY
lab_topo_vpn --no-nat || lab_setup_fail "could not build the lab topology"
c1=${LAB_NS[client1]}
sv=${LAB_NS[server]}
MB=20

# transfer TAG FROM_NS TO_NS TO_ADDR PORT: MB random megabytes from FROM_NS
# to a listener at TO_ADDR in TO_NS; REPLY says what went wrong.
transfer() {
  local tag=$1 from=$2 to=$3 addr=$4 port=$5 rpid want got
  local src=$dir/$tag.send dst=$dir/$tag.recv
  head -c $((MB * 1024 * 1024)) /dev/urandom >"$src"
  want=$(sha256sum <"$src" | cut -d' ' -f1)
  lab_spawn "$to" "$dir/$tag.socat.log" socat -u \
    "TCP6-LISTEN:$port,reuseaddr,ipv6only=0" "OPEN:$dst,creat,trunc"
  rpid=$REPLY
  if ! lab_wait_for "socat listening" 5 lab_tcp_listening "$to" "$port"; then
    REPLY="receiver did not start"
    return 1
  fi
  if ! timeout 60 ip netns exec "$from" socat -u "OPEN:$src" \
       "TCP:$addr:$port,connect-timeout=5" 2>"$dir/$tag.send.log"; then
    lab_kill "$rpid"
    REPLY="sender failed or took over 60 s: $(tail -n1 "$dir/$tag.send.log")"
    return 1
  fi
  if ! lab_wait_exit "$rpid" 10; then
    REPLY="receiver did not finish"
    return 1
  fi
  got=$(sha256sum <"$dst" | cut -d' ' -f1)
  rm -f "$src" "$dst"
  if [ "$got" != "$want" ]; then
    REPLY="SHA-256 mismatch: sent $want, received $got"
    return 1
  fi
}

# has_tun_stats LOG: LOG has a stats line with the TUN counters (SIGUSR1).
has_tun_stats() { grep -q 'stats .*gro_segs=' "$1"; }

# tun_counter LOG NAME: NAME's value in LOG's last TUN stats line.
tun_counter() {
  grep 'stats .*gro_segs=' "$1" | tail -n1 | grep -o "$2=[0-9]*" | cut -d= -f2
}

run_mode() {
  local mode=$1 slog=$dir/server-$1.log c1log=$dir/client1-$1.log spid cpid
  local refused=0 k v c conf=$mode hook=""
  if [ "$mode" = refused ]; then
    conf=on
    hook=1
  fi
  LAB_TUN_OFFLOAD=$conf lab_gen_vpn_configs "$dir/$mode" client1 ||
    lab_setup_fail "genkey or config generation failed"
  export JVPN_TEST_TUN_REFUSE_OFFLOAD=$hook
  if ! lab_vpn_server_start "$slog" -c "$dir/$mode/server.conf"; then
    lab_fail "a-$mode" "$REPLY" "$slog"
    return 1
  fi
  spid=$LAB_VPN_PID
  if ! lab_vpn_client_start "$c1" "$c1log" "$LAB_CLIENT1_IN4" \
       "$LAB_CLIENT1_IN6" -c "$dir/$mode/client1.conf"; then
    lab_fail "a-$mode" "client1 did not come up" "$slog" "$c1log"
    return 1
  fi
  cpid=$LAB_VPN_PID
  unset JVPN_TEST_TUN_REFUSE_OFFLOAD
  if [ "$mode" = refused ]; then
    if grep -q 'offloads on' "$slog" "$c1log"; then
      lab_skip "a-$mode" "no JVPN_TEST_TUN_REFUSE_OFFLOAD hook: is $JVPN_BIN\
 built with --enable-test-hooks?"
      lab_vpn_stop "$cpid" "$c1" client1 || lab_fail "e-$mode" "$REPLY"
      lab_vpn_stop "$spid" "$sv" server || lab_fail "e-$mode" "$REPLY"
      return 0
    elif grep -q 'offloads off, the kernel refused them: TUNSETOFFLOAD' \
           "$slog" && grep -q 'offloads off, the kernel refused them' \
           "$c1log"; then
      lab_pass "a-$mode" "$(grep -o 'offloads off, the kernel.*' "$slog" |
        head -n1), fell back"
    else
      lab_fail "a-$mode" "no fallback line in the logs" "$slog" "$c1log"
    fi
  elif [ "$mode" = on ]; then
    if grep -q 'offloads off, the kernel refused' "$slog" "$c1log"; then
      refused=1
      lab_note "the kernel refused TUN offloads: $(grep -h 'offloads off' \
"$slog" | head -n1)"
      lab_pass "a-$mode" "offloads refused by the kernel, running without"
    elif grep -q 'offloads on' "$slog" && grep -q 'offloads on' "$c1log"; then
      lab_pass "a-$mode" "$(grep -o 'offloads on.*' "$slog" | head -n1)"
    else
      lab_fail "a-$mode" "no offload line in the logs" "$slog" "$c1log"
    fi
  elif grep -q 'offloads off (tun_offload = off)' "$slog" &&
       grep -q 'offloads off (tun_offload = off)' "$c1log"; then
    lab_pass "a-$mode" "offloads off as configured"
  else
    lab_fail "a-$mode" "offloads not reported off" "$slog" "$c1log"
  fi

  if transfer "up-$mode" "$c1" "$sv" "$LAB_SERVER_IN4" 5001; then
    lab_pass "b-$mode" "$MB MB client1 -> server (IPv4), SHA-256 verified"
  else
    lab_fail "b-$mode" "$REPLY" "$slog" "$c1log"
  fi
  if transfer "down-$mode" "$sv" "$c1" "[$LAB_CLIENT1_IN6]" 5002; then
    lab_pass "c-$mode" "$MB MB server -> client1 (IPv6), SHA-256 verified"
  else
    lab_fail "c-$mode" "$REPLY" "$slog" "$c1log"
  fi

  if [ "$mode" = on ]; then
    lab_kill "$spid" USR1
    lab_kill "$cpid" USR1
    if ! lab_wait_for "stats lines" 5 has_tun_stats "$slog" ||
       ! lab_wait_for "stats lines" 5 has_tun_stats "$c1log"; then
      lab_fail "d-$mode" "no stats line with TUN counters" "$slog" "$c1log"
    elif [ "$refused" = 1 ]; then
      lab_skip "d-$mode" "the kernel refused the offloads"
    else
      local bad=""
      for k in "$slog" "$c1log"; do
        for c in tso_reads gro_segs; do
          v=$(tun_counter "$k" "$c")
          [ "${v:-0}" -gt 0 ] || bad="$bad ${k##*/}: $c=${v:-?}"
        done
        v=$(tun_counter "$k" drop_tun_write)
        [ "${v:-1}" -eq 0 ] || bad="$bad ${k##*/}: drop_tun_write=${v:-?}"
      done
      if [ -n "$bad" ]; then
        lab_fail "d-$mode" "offloads not seen at work:$bad" "$slog" "$c1log"
      else
        lab_pass "d-$mode" "server tso_reads=$(tun_counter "$slog" tso_reads)\
 gro_segs=$(tun_counter "$slog" gro_segs) in\
 $(tun_counter "$slog" gro_writes) writes; client1\
 tso_reads=$(tun_counter "$c1log" tso_reads)\
 gro_segs=$(tun_counter "$c1log" gro_segs) in\
 $(tun_counter "$c1log" gro_writes) writes"
      fi
    fi
  fi
  lab_vpn_stop "$cpid" "$c1" client1 || lab_fail "e-$mode" "$REPLY"
  lab_vpn_stop "$spid" "$sv" server || lab_fail "e-$mode" "$REPLY"
}

run_mode on
run_mode off
run_mode refused

lab_check_sanitizers "$dir"
lab_test_summary
