#!/usr/bin/env bash
# tests/netns/resolved.sh: the client hands the server's DNS configuration
# to systemd-resolved (docs/decisions.md D38), a real one.
#
# lab_topo_vpn plus the internet namespace behind the server (as in
# fulltunnel.sh), where dnsmasq answers www.internet.test. The server
# advertises default routes and names that dnsmasq (dns = 198.18.60.2,
# dns_search = internet.test). In client1's namespace run a private
# dbus-daemon and systemd-resolved, unpacked by scripts/deps.sh, never
# installed (lab_resolved_start: a tmpfs on /run/systemd in a mount
# namespace of its own); the client finds them through
# DBUS_SYSTEM_BUS_ADDRESS. client1 runs as nobody under its seccomp
# allow-list. Everything is read back from resolved's own D-Bus API
# (busctl):
#
#   (a) full tunnel: the TUN's link has DNS 198.18.60.2, domains
#       internet.test (search) and "~." (routing only), DefaultRoute true;
#       status (text and JSON) and the audit record name systemd-resolved;
#       the namespace's /etc/resolv.conf is untouched.
#   (b) resolved's ResolveHostname answers www.internet.test, and "www"
#       (the search domain), with 198.18.60.2 from the TUN's link, and
#       dnsmasq saw the queries come through the tunnel (from the server's
#       NAT address).
#   (c) SIGTERM: the client exits 0 after its RevertLink call (resolved's
#       log has it), the TUN is gone, resolved holds nothing of the
#       server's configuration, and the audit trail has a dns_removed
#       record (the link reverted).
#   (d) kill -9: no RevertLink, but the TUN is gone and so are its
#       settings in resolved.
#   (e) dns = off: the tunnel comes up and resolved is not touched.
#   (f) full_tunnel = off: internet.test is searched but "~." is not set.
#   (g) dns_backend = file beside a running resolved: the namespace's
#       /etc/resolv.conf gets the server, resolved nothing.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) without root, /dev/net/tun
# or 'ip netns', or when no systemd-resolved is unpacked (the reason is
# printed). A resolved that is there but cannot be run is a failure. Every
# wait is bounded; the lab's trap ends every process (the bus and resolved
# included) by PID and removes every namespace. RESOLVED_KEEP=1 keeps the
# logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init resolved

DNS4=$LAB_INET4
SEARCH=internet.test
NAME=www.internet.test

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_require_tools nft jq busctl dbus-daemon dnsmasq unshare
if ! lab_resolved_find; then
  echo "SKIP: $REPLY"
  exit 77
fi
getent passwd systemd-resolve >/dev/null ||
  lab_setup_fail "no systemd-resolve user (scripts/deps.sh makes it)"
lab_note "using $JVPN_BIN and $LAB_RESOLVED_BIN"

lab_test_logdir RESOLVED_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_internet_add || lab_setup_fail "could not add the internet namespace"
lab_gen_vpn_configs "$dir" client1 ||
  lab_setup_fail "genkey or config generation failed"
sed -i 's|^route = 198.18.200.0/24$|&\nroute = 0.0.0.0/0\nroute = ::/0|' \
  "$dir/server.conf"
sed -i "s|^\\[server\\]\$|&\\ndns = $DNS4\\ndns_search = $SEARCH|" \
  "$dir/server.conf"
# [client] is the file's last section: variants append to it.
printf 'user = nobody\naudit_log = %s\n' "$dir/client1-audit.jsonl" \
  >>"$dir/client1.conf"
cp "$dir/client1.conf" "$dir/base.conf"
c1=${LAB_NS[client1]}
c1log=$dir/client1.log
slog=$dir/server.log
rlog=$dir/resolved.log

lab_spawn "${LAB_NS[inet]}" "$dir/dnsmasq.log" dnsmasq --keep-in-foreground \
  --no-resolv --no-hosts --listen-address="$DNS4" --bind-interfaces \
  --port=53 --address="/$NAME/$DNS4" --log-queries --log-facility=- \
  --pid-file="$dir/dnsmasq.pid" || lab_setup_fail "dnsmasq did not start"
lab_wait_for "dnsmasq" 5 lab_udp_bound "${LAB_NS[inet]}" 53 ||
  lab_setup_fail "dnsmasq is not listening" "$dir/dnsmasq.log"
lab_vpn_server_start "$slog" -c "$dir/server.conf" ||
  lab_setup_fail "the server did not come up: $REPLY $(lab_tail "$slog")"
lab_resolved_start "$c1" "$dir" ||
  lab_setup_fail "systemd-resolved: $REPLY" "$rlog" "$dir/dbus.log"
lab_note "systemd-resolved (pid $REPLY) on $LAB_BUS in $c1"
export DBUS_SYSTEM_BUS_ADDRESS=$LAB_BUS

# --- reading resolved back ---------------------------------------------------

# rbus ARGS...: busctl on the private bus, JSON out; the data in REPLY.
rbus() {
  REPLY=$(busctl --address="$LAB_BUS" --json=short "$@" 2>&1 | jq -c .data)
}

# mgr_prop PROP: a property of resolved's manager, in REPLY.
mgr_prop() {
  rbus get-property org.freedesktop.resolve1 /org/freedesktop/resolve1 \
    org.freedesktop.resolve1.Manager "$1"
}

# link_prop PROP: a property of the TUN's link in resolved, in REPLY.
link_prop() {
  local path
  TUN_INDEX=$(ip -n "$c1" -o link show dev "$LAB_TUN" 2>/dev/null | cut -d: -f1)
  [ -n "$TUN_INDEX" ] || { REPLY="no $LAB_TUN"; return 1; }
  rbus call org.freedesktop.resolve1 /org/freedesktop/resolve1 \
    org.freedesktop.resolve1.Manager GetLink i "$TUN_INDEX"
  path=$(jq -r '.[0]' <<<"$REPLY")
  rbus get-property org.freedesktop.resolve1 "$path" \
    org.freedesktop.resolve1.Link "$1"
}

# link_is PROP WANT: the TUN's link has PROP = WANT (compact JSON).
link_is() { link_prop "$1" && [ "$REPLY" = "$2" ]; }

# nothing_of_ours: resolved's manager lists no server and no domain of the
# server's configuration on any link.
nothing_of_ours() {
  local dns doms
  mgr_prop DNS && dns=$REPLY
  mgr_prop Domains && doms=$REPLY
  REPLY="DNS $dns, Domains $doms"
  ! grep -q '\[198,18,60,2\]' <<<"$dns" && ! grep -q "$SEARCH" <<<"$doms"
}

# resolv_is_lab: the namespace's resolv.conf is the lab's, as made.
resolv_is_lab() {
  REPLY=$(ip netns exec "$c1" cat /etc/resolv.conf)
  [ "$REPLY" = "$(printf '# lab namespace %s\nnameserver %s' "$c1" \
    "$LAB_NS_RESOLVER")" ]
}

# status_json KEY: clientN's status JSON, jq KEY of it, in REPLY.
status_json() {
  REPLY=$("$JVPN_BIN" status --json -s "$dir/client1.sock" 2>/dev/null |
    jq -c "$1")
}

applied_by_resolved() {
  status_json '.dns | [.applied, .backend]' &&
    [ "$REPLY" = '[true,"systemd-resolved"]' ]
}

# start VARIANT LINES: client1 with base.conf plus LINES; waits until it
# took a DNS_ASSIGN (or ignored it).
start() {
  { cat "$dir/base.conf"; printf '%s' "$1"; } >"$dir/client1.conf"
  lab_vpn_client_up "$dir" 1 || return 1
  c1_pid=$LAB_VPN_PID
  lab_wait_for "a DNS_ASSIGN" 5 received
}

received() { status_json '.dns.received' && [ "${REPLY:-0}" -gt 0 ]; }

# stop_clean: SIGTERM, exit 0, TUN gone.
stop_clean() { lab_vpn_stop "$c1_pid" "$c1" client1; }

count_reverts() { lab_count 'member=RevertLink' "$rlog"; }

FULL_DOMAINS="[[\"$SEARCH\",false],[\".\",true]]"

# --- (a) full tunnel --------------------------------------------------------
scenario_a() {
  local text rec
  if ! start ""; then
    lab_fail a "client1 did not come up" "$c1log" "$slog"
    return 1
  fi
  if ! lab_wait_for "resolved applied" 5 applied_by_resolved; then
    lab_fail a "status says $REPLY" "$c1log"
    return 1
  fi
  if ! link_is DNS "[[2,[198,18,60,2]]]"; then
    lab_fail a "the link's DNS: $REPLY" "$c1log" "$rlog"
    return 1
  fi
  if ! link_is Domains "$FULL_DOMAINS" || ! link_is DefaultRoute true; then
    lab_fail a "the link's Domains/DefaultRoute: $REPLY" "$c1log"
    return 1
  fi
  text=$("$JVPN_BIN" status -s "$dir/client1.sock" | grep -o ' dns_applied=[^ ]*')
  if [ "$text" != " dns_applied=systemd-resolved" ]; then
    lab_fail a "text status: '$text'"
    return 1
  fi
  lab_wait_for "the audit record" 5 grep -q '"event":"dns_applied"' \
    "$dir/client1-audit.jsonl"
  rec=$(grep -o '"event":"dns_applied".*' "$dir/client1-audit.jsonl" |
    grep -o '"detail":"[^"]*"' | head -n 1)
  if [ "$rec" != "\"detail\":\"systemd-resolved link $LAB_TUN (ifindex $TUN_INDEX)\"" ]; then
    lab_fail a "audit record: $rec"
    return 1
  fi
  if ! resolv_is_lab; then
    lab_fail a "the namespace's resolv.conf changed: $REPLY"
    return 1
  fi
  lab_pass a "link $TUN_INDEX: DNS $DNS4, Domains $FULL_DOMAINS, DefaultRoute true; resolv.conf untouched; as nobody, seccomp on"
}

# resolves NAME: resolved answers NAME (IPv4) with DNS4, from the TUN's
# link.
resolves() {
  rbus call org.freedesktop.resolve1 /org/freedesktop/resolve1 \
    org.freedesktop.resolve1.Manager ResolveHostname isit 0 "$1" 2 0
  [ "$(jq -c '.[0][0]' <<<"$REPLY")" = "[$TUN_INDEX,2,[198,18,60,2]]" ]
}

# --- (b) names resolve through resolved and the tunnel ----------------------
scenario_b() {
  local n
  if ! lab_wait_for "$NAME through resolved" 5 resolves "$NAME"; then
    lab_fail b "ResolveHostname $NAME: $REPLY" "$rlog" "$dir/dnsmasq.log"
    return 1
  fi
  if ! resolves www; then
    lab_fail b "ResolveHostname www: $REPLY" "$rlog"
    return 1
  fi
  lab_count "query\\[A\\] $NAME from 198.18.60.1" "$dir/dnsmasq.log"
  n=$REPLY
  if [ "$n" -lt 1 ]; then
    lab_fail b "dnsmasq saw no query from the server's NAT" "$dir/dnsmasq.log"
    return 1
  fi
  lab_pass b "$NAME and www -> $DNS4 on link $TUN_INDEX; dnsmasq: $n queries through the tunnel"
}

# --- (c) SIGTERM --------------------------------------------------------------
scenario_c() {
  local before
  count_reverts
  before=$REPLY
  if ! stop_clean; then
    lab_fail c "$REPLY" "$c1log"
    return 1
  fi
  count_reverts
  if [ "$REPLY" -le "$before" ] || ! grep -q "link $LAB_TUN reverted" "$c1log"; then
    lab_fail c "no RevertLink on the stop" "$c1log" "$rlog"
    return 1
  fi
  if ! nothing_of_ours; then
    lab_fail c "resolved still holds: $REPLY"
    return 1
  fi
  if ! grep -F '"event":"dns_removed"' "$dir/client1-audit.jsonl" |
       grep -qF "\"detail\":\"systemd-resolved link $LAB_TUN reverted\""; then
    lab_fail c "no dns_removed record in the audit trail" \
      "$dir/client1-audit.jsonl"
    return 1
  fi
  lab_pass c "RevertLink, exit 0, TUN gone, audited dns_removed; resolved: $REPLY"
}

# --- (d) kill -9 --------------------------------------------------------------
scenario_d() {
  local before
  if ! start "" || ! lab_wait_for "resolved applied" 5 applied_by_resolved; then
    lab_fail d "client1 did not come up with DNS: $REPLY" "$c1log"
    return 1
  fi
  count_reverts
  before=$REPLY
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || { lab_fail d "client1 did not die"; return 1; }
  if ! lab_wait_no_dev "$c1" "$LAB_TUN" 2; then
    lab_fail d "the TUN outlived the process"
    return 1
  fi
  if ! lab_wait_for "resolved to forget" 5 nothing_of_ours; then
    lab_fail d "resolved still holds: $REPLY" "$rlog"
    return 1
  fi
  nothing_of_ours
  local held=$REPLY
  count_reverts
  if [ "$REPLY" != "$before" ]; then
    lab_fail d "a RevertLink came from a killed client?"
    return 1
  fi
  lab_pass d "no RevertLink; TUN gone, and its settings with it: $held"
}

# --- (e) dns = off --------------------------------------------------------------
scenario_e() {
  if ! start "dns = off
"; then
    lab_fail e "client1 (dns = off) did not come up" "$c1log"
    return 1
  fi
  sleep 0.5
  if ! nothing_of_ours || ! link_is DNS "[]" || ! link_is Domains "[]"; then
    lab_fail e "resolved was touched: $REPLY" "$c1log"
    return 1
  fi
  status_json '.dns | [.enabled, .applied, .backend]'
  local st=$REPLY
  if [ "$st" != '[false,false,"none"]' ] || ! resolv_is_lab; then
    lab_fail e "status $st, or resolv.conf changed"
    return 1
  fi
  stop_clean || { lab_fail e "$REPLY" "$c1log"; return 1; }
  lab_pass e "resolved untouched (link DNS [], Domains []), status dns $st"
}

# --- (f) full_tunnel = off --------------------------------------------------
scenario_f() {
  if ! start "full_tunnel = off
" || ! lab_wait_for "resolved applied" 5 applied_by_resolved; then
    lab_fail f "client1 did not come up with DNS: $REPLY" "$c1log"
    return 1
  fi
  if ! link_is DNS "[[2,[198,18,60,2]]]" ||
     ! link_is Domains "[[\"$SEARCH\",false]]" ||
     ! link_is DefaultRoute true; then
    lab_fail f "the link: $REPLY" "$c1log"
    return 1
  fi
  stop_clean || { lab_fail f "$REPLY" "$c1log"; return 1; }
  lab_pass f "Domains [[\"$SEARCH\",false]], no \"~.\""
}

# --- (g) dns_backend = file -------------------------------------------------
scenario_g() {
  local conf
  if ! start "dns_backend = file
"; then
    lab_fail g "client1 did not come up" "$c1log"
    return 1
  fi
  status_json '.dns | [.applied, .backend]'
  conf=$(ip netns exec "$c1" cat /etc/resolv.conf)
  if [ "$REPLY" != '[true,"resolv.conf"]' ] ||
     ! grep -q "^nameserver $DNS4\$" <<<"$conf" || ! nothing_of_ours; then
    lab_fail g "status $REPLY; resolv.conf: $conf" "$c1log"
    return 1
  fi
  stop_clean || { lab_fail g "$REPLY" "$c1log"; return 1; }
  if ! resolv_is_lab; then
    lab_fail g "resolv.conf not restored: $REPLY"
    return 1
  fi
  lab_pass g "resolv.conf written and restored, resolved untouched"
}

scenario_a && scenario_b
[ -n "${c1_pid:-}" ] && lab_pid_alive "$c1_pid" && scenario_c
scenario_d
scenario_e
scenario_f
scenario_g

if ! resolv_is_lab; then
  lab_fail end "the namespace's resolv.conf at the end: $REPLY"
fi
lab_check_sanitizers "$dir"
lab_test_summary
