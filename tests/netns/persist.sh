#!/usr/bin/env bash
# tests/netns/persist.sh: sessions outlive the server (docs/decisions.md
# D41): the server keeps them in LMDB in its state directory and loads
# them back when it starts again.
#
# The lab topology (tests/lab/lab.sh, lab_topo_vpn): client1 198.18.1.2
# behind the NAT router, the server 198.18.3.2 (UDP 443); tunnel: server
# jvpn0 198.18.200.1, client1 jvpn0 198.18.200.2. The server's state
# directory is the run's DIR/state (lab_gen_vpn_configs).
#
#   (a) SIGTERM and a restart of the server under two 200 packets/s probe
#       streams (up and down): client1 reattaches to the SAME session (same
#       ID, same inner address, state_version grows) and traffic resumes;
#       the longest gap in each direction is reported.
#   (b) the same with kill -9: the client learns of the restart from a
#       stateless reset (the reset key comes from the server key, D15).
#   (c) with [policy] transport_loss_ttl_ms = 3s on the server: client1
#       stopped, the server stopped, 5 s later started again: the stored
#       session is terminated on load (TTL_TRANSPORT_LOSS_EXPIRED in the
#       audit log), the server lists no session, and a new client1 gets a
#       new session (with its sticky address, nobody else's).
#   (d) store = off: today's behaviour, a restart ends the session and the
#       client starts a new one.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. PERSIST_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init persist

# The restart gap: the server's start (TUN, sockets, store) plus the
# client's reconnect and one handshake with its reattach; generous for a
# loaded 2-core machine.
GAP_MAX_MS=${PERSIST_GAP_MAX_MS:-5000}
PORT=9100

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_probe_find || lab_setup_fail "no probe binary (make tests/tools/probe)"
lab_require_tools jq
lab_note "using $JVPN_BIN"

lab_test_logdir PERSIST_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" client1 ||
  lab_setup_fail "genkey or config generation failed"
saudit=$dir/server-audit.jsonl
sed -i "s|^\[server\]\$|&\naudit_log = $saudit|" "$dir/server.conf"

c1=${LAB_NS[client1]}
sv=${LAB_NS[server]}
ssock=$dir/server.sock
csock=$dir/client1.sock
clog=$dir/client1.log
nstart=0

# server_up: starts the server (log DIR/server-N.log); its PID in spid.
server_up() {
  nstart=$((nstart + 1))
  slog=$dir/server-$nstart.log
  if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" --control "$ssock"
  then
    lab_setup_fail "the server did not come up: $REPLY $(lab_tail "$slog")"
  fi
  spid=$LAB_VPN_PID
}

client_up() {
  if ! lab_vpn_client_up "$dir" 1 || ! lab_wait_tunnel "$c1" 10; then
    lab_setup_fail "client1 did not come up: $(lab_tail "$slog" "$clog")"
  fi
  cpid=$LAB_VPN_PID
}

# note NAME: client1's session ID and state_version into NAME_id and
# NAME_ver (from the client), and the server's version into NAME_sver.
declare -A CS=() SS=()
note() {
  lab_cli_status "$csock" CS || return 1
  printf -v "$1_id" '%s' "${CS[session]}"
  printf -v "$1_ver" '%s' "${CS[version]}"
  lab_srv_session "$ssock" "${CS[session]}" SS || return 1
  printf -v "$1_sver" '%s' "${SS[version]}"
  printf -v "$1_sstate" '%s' "${SS[state]}"
}

# attached_again ID: the server lists session ID as ATTACHED.
attached_again() {
  lab_srv_session "$ssock" "$1" SS && [ "${SS[state]}" = ATTACHED ]
}

declare -A P=() PU=() PD=()

# restart NAME SIGNAL: under the probe streams, the server gets SIGNAL and
# starts again at once; the client must come back to the same session.
restart() {
  local name=$1 sig=$2
  local before_id before_ver before_sver before_sstate after_id after_ver
  local after_sver after_sstate
  note before || { lab_fail "$name" "no session before the restart"; return 1; }
  lab_probe2_start "$c1" "$sv" "$LAB_SERVER_IN4" "$LAB_CLIENT1_IN4" \
    "$PORT" 8 "$dir/$name" || { lab_fail "$name" "probe did not start"; return 1; }
  PORT=$((PORT + 2))
  sleep 2
  lab_kill "$spid" "$sig"
  if ! lab_wait_exit "$spid" 5; then
    lab_fail "$name" "the server did not exit on SIG$sig" "$slog"
    return 1
  fi
  [ "$sig" = KILL ] && ip -n "$sv" link del "$LAB_TUN" 2>/dev/null
  server_up
  if ! lab_wait_for "session $before_id attached again" 10 \
       attached_again "$before_id"; then
    lab_fail "$name" "session $before_id is not ATTACHED again at the server" \
      "$slog" "$clog"
    return 1
  fi
  if ! lab_probe2_end "$dir/$name" PU PD P; then
    lab_fail "$name" "$REPLY" "$slog" "$clog"
    return 1
  fi
  local nums
  lab_probe2_numbers PU PD P
  nums=$REPLY
  note after || { lab_fail "$name" "no session after the restart" "$clog"; return 1; }
  if [ "$after_id" != "$before_id" ]; then
    lab_fail "$name" "a new session $after_id (was $before_id)" "$slog" "$clog"
    return 1
  fi
  if [ "$after_sver" -le "$before_sver" ] || [ "$after_ver" -le "$before_ver" ]
  then
    lab_fail "$name" "state_version did not grow: server $before_sver -> $after_sver, client $before_ver -> $after_ver" "$slog"
    return 1
  fi
  if ! lab_has_addr "$c1" "$LAB_TUN" "$LAB_CLIENT1_IN4"; then
    lab_fail "$name" "client1 lost $LAB_CLIENT1_IN4" "$clog"
    return 1
  fi
  if ! grep -q "restored" "$slog"; then
    lab_fail "$name" "the server log does not say it restored the session" "$slog"
    return 1
  fi
  if ! lab_lt "${P[longest_gap_ms]}" "$GAP_MAX_MS"; then
    lab_fail "$name" "$nums (limit $GAP_MAX_MS ms)" "$slog" "$clog"
    return 1
  fi
  lab_pass "$name" "SIG$sig: same session $after_id and $LAB_CLIENT1_IN4, server state_version $before_sver -> $after_sver; $nums"
}

server_up
client_up
restart a TERM
restart b KILL

# --- (c) the transport-loss TTL passes while the server is down ----------
scenario_c() {
  local id n js
  lab_kill "$spid" TERM
  lab_wait_exit "$spid" 5
  printf '\n[policy]\ntransport_loss_ttl_ms = 3s\nrecovery_window_ms = 1s\n' \
    >>"$dir/server.conf"
  server_up
  if ! lab_wait_for "session attached again" 10 attached_again \
       "$(lab_cli_status "$csock" CS && echo "${CS[session]}")"; then
    lab_fail c "the session did not come back after a restart" "$slog" "$clog"
    return 1
  fi
  lab_cli_status "$csock" CS
  id=${CS[session]}
  if ! lab_vpn_stop "$cpid" "$c1" client1; then
    lab_fail c "$REPLY" "$clog"
    return 1
  fi
  lab_kill "$spid" TERM
  lab_wait_exit "$spid" 5
  sleep 5
  n=$(grep -c TTL_TRANSPORT_LOSS_EXPIRED "$saudit" 2>/dev/null)
  server_up
  js=$("$JVPN_BIN" status --json -s "$ssock")
  if [ "$(grep -c TTL_TRANSPORT_LOSS_EXPIRED "$saudit")" -le "${n:-0}" ]; then
    lab_fail c "no TTL_TRANSPORT_LOSS_EXPIRED record after the restart" \
      "$slog" "$saudit"
    return 1
  fi
  if [ "$(printf '%s' "$js" | jq '.sessions | length')" != 0 ] ||
     [ "$(printf '%s' "$js" | jq '.store.expired')" != 1 ]; then
    lab_fail c "the server still lists a session or counted no expiry: $js" \
      "$slog"
    return 1
  fi
  client_up
  lab_cli_status "$csock" CS
  if [ "${CS[session]}" = "$id" ]; then
    lab_fail c "the expired session $id came back" "$slog" "$clog"
    return 1
  fi
  lab_pass c "session $id terminated on load (TTL_TRANSPORT_LOSS_EXPIRED audited, address released); client1 now in ${CS[session]} with $LAB_CLIENT1_IN4"
}
scenario_c

# --- (d) store = off ------------------------------------------------------
scenario_d() {
  local before
  lab_kill "$spid" TERM
  lab_wait_exit "$spid" 5
  sed -i "s|^\[server\]\$|&\nstore = off|" "$dir/server.conf"
  server_up
  if ! lab_wait_for "a tunnel" 15 lab_cli_status "$csock" CS ||
     ! lab_wait_tunnel "$c1" 10; then
    lab_fail d "client1 did not come back" "$slog" "$clog"
    return 1
  fi
  sleep 1
  lab_cli_status "$csock" CS
  before=${CS[session]}
  lab_kill "$spid" TERM
  lab_wait_exit "$spid" 5
  server_up
  if ! lab_wait_for "a new session" 15 eval \
       'lab_cli_status "$csock" CS && [ "${CS[session]}" != "$before" ] &&
        attached_again "${CS[session]}"'; then
    lab_fail d "client1 did not get a new session" "$slog" "$clog"
    return 1
  fi
  if ! grep -q "store=off" <("$JVPN_BIN" status -s "$ssock"); then
    lab_fail d "status does not say store=off" "$slog"
    return 1
  fi
  lab_pass d "store = off: a restart ended $before, client1 is in the new session ${CS[session]}"
}
scenario_d

if ! lab_pid_alive "$spid"; then
  lab_fail server "the server exited" "$slog"
fi
lab_check_sanitizers "$dir"
lab_test_summary
