#!/usr/bin/env bash
# tests/netns/fulltunnel.sh: full-tunnel mode (docs/decisions.md D35).
#
# lab_topo_vpn plus an "internet" namespace behind the server
# (lab_internet_add: 198.18.60.2, 2001:db8:60::2), which the server NATs
# its clients out to; the router knows no route to it. The server
# advertises 0.0.0.0/0 and ::/0. client1 runs with strict reverse-path
# filtering on its uplink; an nft chain on its uplink counts every packet
# that is not QUIC to the server (or IPv6 neighbour discovery and MLD,
# or the kernel's port-unreachable to the server for a killed client's
# port): a leak.
#
#   (a) client1 turns full-tunnel mode on for both families: its status
#       says so, rules at 27250-27252 (the server's address, over IPv4,
#       keeps the main table), a default route via jvpn0 in table 27254.
#   (b) it pings the internet host over IPv4 and IPv6 and downloads 2 MB
#       from it (SHA-256 checked); "www" resolves (search internet.test)
#       through the DNS server the server gave (dnsmasq in the internet
#       namespace, reached through the tunnel and the server's NAT);
#       nothing leaked on the uplink; its
#       `exclude = 198.18.2.1/32` (the router's far side) goes over the
#       uplink, not the tunnel.
#   (c) a NAT rebinding, then a blackhole longer than the idle timeout (the
#       session reattaches on a new connection): the internet host is
#       still reached, "www" still resolves through the tunnel's DNS (a
#       new query in dnsmasq's log), and nothing leaked.
#   (j) client1 has a second uplink (eth1, standby routes); eth0 loses its
#       addresses: the connection migrates, QUIC leaves through eth1, the
#       internet host is reached as in (b), nothing leaked.
#   (d) kill -9 leaves the rules behind; a restarted client removes them,
#       puts its own back (none twice) and works.
#   (e) SIGTERM removes every rule and the table's routes; the audit
#       trail has a full_tunnel_off record per family and a dns_removed
#       one (/etc/resolv.conf restored).
#   (f) client2 with full_tunnel = off ignores the default routes: it
#       cannot reach the internet host, and installs no rule.
#   (g) client1 again, with kill_switch = on: its table is in place; while
#       its path is blackholed (the session RECOVERING) pings to the
#       internet host fail and nothing gets past the kill switch, and pings
#       to the uplink's router (198.18.1.1, on-link: the main table sends
#       them out the uplink) are dropped by the kill switch (counted); the
#       path back, traffic flows.
#   (h) kill -9: the kill switch stays (and the rules); with the TUN gone
#       the pings reach the uplink, where the kill switch drops them (its
#       counter counts them) and nothing gets past; `jvpn-quic client
#       --down --keep-kill-switch` (the systemd unit's ExecStopPost after
#       a failure) removes the rules and keeps the table; `jvpn-quic
#       client --down` removes the table.
#   (i) started again and stopped with SIGTERM: no table, no rule.
#   (k) client1 with `include = 198.18.60.0/24` (and no exclude): the
#       server's default routes do not turn the full tunnel on (no rule,
#       no route in table 27254); only the included prefix is routed via
#       jvpn0 (not 198.18.200.0/24 either): the internet host answers
#       through the tunnel with nothing on the uplink, while the router's
#       far side (198.18.2.1) is reached over the uplink.
#   (l) the server by name (vpn.lab.test, from a dnsmasq on the router's
#       198.18.1.1, client1's resolver now; dns = off so that nothing
#       else changes the file) and kill_switch = on: up, the internet
#       host reached (the rule for the server has the name's address);
#       kill -9; the table left drops the name's lookup (getent fails,
#       the drops counted), yet a restart comes up with the addresses
#       that table admits (docs/decisions.md D45), reaches the internet
#       host, and SIGTERM removes table and rules.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. FULL_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init fulltunnel

TABLE=27254
PREF=27250
PORT=8080

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_require_tools jq socat nft sha256sum dnsmasq getent
lab_note "using $JVPN_BIN"

lab_test_logdir FULL_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_internet_add || lab_setup_fail "could not add the internet namespace"
lab_gen_vpn_configs "$dir" ||
  lab_setup_fail "genkey or config generation failed"
sed -i 's|^route = 198.18.200.0/24$|&\nroute = 0.0.0.0/0\nroute = ::/0|' \
  "$dir/server.conf"
# The internet's DNS server is the clients' (reached through the tunnel).
sed -i "s|^\\[server\\]\$|&\\ndns = $LAB_INET4\\ndns_search = internet.test|" \
  "$dir/server.conf"
grep -q '^route = ::/0$' "$dir/server.conf" ||
  lab_setup_fail "could not add default routes to the server's config"
sed -i 's/^\[client\]$/[client]\nuser = nobody/' "$dir/client1.conf"
# Split tunnelling: the router's far address stays outside the tunnel.
sed -i 's|^\[client\]$|[client]\nexclude = 198.18.2.1/32|' "$dir/client1.conf"
sed -i "s|^\\[client\\]\$|&\\naudit_log = $dir/client1-audit.log|" \
  "$dir/client1.conf"
sed -i 's/^\[client\]$/[client]\nfull_tunnel = off/' "$dir/client2.conf"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
inet=${LAB_NS[inet]}
slog=$dir/server.log
c1log=$dir/client1.log
c1_pid=""

lab_uplink2_add client1 || lab_setup_fail "could not give client1 a second uplink"
ip netns exec "$c1" sysctl -qw net.ipv4.conf.all.rp_filter=1 \
  net.ipv4.conf.eth0.rp_filter=1 net.ipv4.conf.eth1.rp_filter=1 >/dev/null ||
  lab_setup_fail "could not turn on strict rp_filter in client1"
# The leak counter: what leaves client1's uplink other than the VPN's own
# traffic to the server (QUIC, or the HTTP/2 fallback on TCP 443 when a
# fault makes QUIC late) and neighbour discovery.
ip netns exec "$c1" nft -f - <<'NFT' || lab_setup_fail "no leak counter"
table inet fulltunnel_leak {
  chain out {
    type filter hook output priority filter; policy accept;
    oifname != { "eth0", "eth1" } accept
    oifname "eth1" ip daddr 198.18.3.2 udp dport 443 counter name quic_eth1 accept
    ip daddr 198.18.3.2 udp dport 443 accept
    ip6 daddr 2001:db8:3::2 udp dport 443 accept
    ip daddr 198.18.3.2 tcp dport 443 accept
    ip6 daddr 2001:db8:3::2 tcp dport 443 accept
    ip daddr 198.18.3.2 icmp type destination-unreachable accept
    ip daddr 198.18.2.1 counter name excluded accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, mld2-listener-report } accept
    counter name leaks
  }
  counter leaks { }
  counter excluded { }
  counter quic_eth1 { }
}
NFT

# leaks: packets that left client1's uplink outside the tunnel, in REPLY.
leaks() {
  REPLY=$(ip netns exec "$c1" nft -j list counter inet fulltunnel_leak leaks |
    jq -r '.nftables[] | select(.counter) | .counter.packets')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# rules_at FAMILY NS: the rules at PREF..PREF+2, one per line, in REPLY.
rules_at() {
  REPLY=$(ip -n "$2" "$1" rule list | grep -E "^($PREF|$((PREF + 1))|$((PREF + 2))):")
}

# rules_ok FAMILY: client1 has exactly its rules of FAMILY: the two that
# send everything but the main table's specific routes to TABLE, and for
# IPv4 (the family it reaches the server in) the server's own and the
# exclude's before them.
rules_ok() {
  local want=2
  rules_at "$1" "$c1"
  if [ "$1" = -4 ]; then
    want=4
    grep -q "^$PREF:.*to 198.18.3.2 lookup main" <<<"$REPLY" || return 1
    grep -q "^$PREF:.*to 198.18.2.1 lookup main" <<<"$REPLY" || return 1
  fi
  [ "$(grep -c . <<<"$REPLY")" = "$want" ] &&
    grep -q "^$((PREF + 1)):.*lookup main suppress_prefixlength 0" <<<"$REPLY" &&
    grep -q "^$((PREF + 2)):.*lookup $TABLE" <<<"$REPLY"
}

ping_inet() {
  ip netns exec "$1" ping -n -q -c 3 -i 0.2 -w 5 "$2" >/dev/null 2>&1
}

# download: 2 MB from the internet host to client1, checksummed.
download() {
  local src=$dir/blob dst=$dir/blob.recv spid
  [ -f "$src" ] || head -c 2097152 /dev/urandom >"$src"
  rm -f "$dst"
  lab_spawn "$inet" "$dir/serve.log" socat -u "OPEN:$src" \
    "TCP-LISTEN:$PORT,reuseaddr,bind=$LAB_INET4"
  spid=$REPLY
  lab_wait_for "socat on $PORT" 5 lab_tcp_listening "$inet" "$PORT" ||
    { lab_kill "$spid" KILL; REPLY="no server"; return 1; }
  if ! timeout 30 ip netns exec "$c1" socat -u \
       "TCP:$LAB_INET4:$PORT,connect-timeout=5" "OPEN:$dst,creat,trunc" \
       2>"$dir/fetch.log"; then
    lab_kill "$spid" KILL
    REPLY="the download failed: $(cat "$dir/fetch.log")"
    return 1
  fi
  lab_wait_exit "$spid" 5 || lab_kill "$spid" KILL
  if [ "$(sha256sum <"$src")" != "$(sha256sum <"$dst")" ]; then
    REPLY="SHA-256 mismatch"
    return 1
  fi
  REPLY="2 MB, SHA-256 verified"
}

# reaches_inet WHAT: pings both ways and a download work, and nothing
# leaked; else fails scenario WHAT.
reaches_inet() {
  local s=$1
  if ! ping_inet "$c1" "$LAB_INET4" || ! ping_inet "$c1" "$LAB_INET6"; then
    lab_fail "$s" "client1 cannot ping the internet host" "$c1log" "$slog"
    return 1
  fi
  if ! download; then
    lab_fail "$s" "$REPLY" "$c1log"
    return 1
  fi
  local got=$REPLY
  if ! leaks || [ "$REPLY" != 0 ]; then
    lab_fail "$s" "$REPLY packets left client1's uplink outside the tunnel"
    return 1
  fi
  REPLY=$got
}

# start_client1 [CONF]: client1 with CONF (default client1.conf).
start_client1() {
  lab_vpn_client_start "$c1" "$c1log" "$LAB_CLIENT1_IN4" "$LAB_CLIENT1_IN6" \
    -c "${1:-$dir/client1.conf}" --control "$dir/client1.sock"
  c1_pid=$LAB_VPN_PID
}

KS=jvpn_killswitch

# ks_present: client1's namespace has the kill switch's table.
ks_present() { ip netns exec "$c1" nft list table inet "$KS" >/dev/null 2>&1; }

# ks_dropped: packets the kill switch dropped, in REPLY.
ks_dropped() {
  REPLY=$(ip netns exec "$c1" nft -j list counter inet "$KS" dropped |
    jq -r '.nftables[] | select(.counter) | .counter.packets')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# blocked WHAT any|drops [DEST]: DEST (default the internet host) is
# unreachable and nothing got past the kill switch (the leak counter
# stays); with "drops", the kill switch itself dropped the attempts (no TUN
# to take them, or a destination the main table sends out the uplink). The
# drops in REPLY.
blocked() {
  local d0 l0 dest=${3:-$LAB_INET4}
  if ! ks_dropped; then lab_fail "$1" "no kill switch counter"; return 1; fi
  d0=$REPLY
  if ! leaks; then lab_fail "$1" "no leak counter"; return 1; fi
  l0=$REPLY
  if ip netns exec "$c1" ping -n -q -c 3 -i 0.2 -W 1 "$dest" >/dev/null 2>&1; then
    lab_fail "$1" "$dest answered"
    return 1
  fi
  ks_dropped
  if [ "$2" = drops ] && [ "$REPLY" -le "$d0" ]; then
    lab_fail "$1" "the kill switch dropped nothing to $dest (so this checks nothing)"
    return 1
  fi
  REPLY=$((REPLY - d0))
  local dropped=$REPLY
  leaks
  if [ "$REPLY" != "$l0" ]; then
    lab_fail "$1" "$((REPLY - l0)) packets got past the kill switch"
    return 1
  fi
  REPLY=$dropped
}

# The internet namespace's DNS server: www.internet.test is its web host.
lab_spawn "$inet" "$dir/dnsmasq.log" dnsmasq --keep-in-foreground \
  --no-resolv --no-hosts --listen-address="$LAB_INET4" --bind-interfaces \
  --port=53 --address="/www.internet.test/$LAB_INET4" --log-queries \
  --log-facility=- --pid-file="$dir/dnsmasq.pid" ||
  lab_setup_fail "dnsmasq did not start"
lab_wait_for "dnsmasq" 5 lab_udp_bound "$inet" 53 ||
  lab_setup_fail "dnsmasq is not listening" "$dir/dnsmasq.log"

# --- (a) -------------------------------------------------------------------
scenario_a() {
  local ft
  lab_vpn_server_start "$slog" -c "$dir/server.conf" ||
    { lab_fail a "server: $REPLY" "$slog"; return 1; }
  if ! start_client1; then
    lab_fail a "client1 did not come up" "$c1log" "$slog"
    return 1
  fi
  if ! lab_wait_for "client1's rules" 5 rules_ok -4 ||
     ! rules_ok -6; then
    lab_fail a "client1's rules: $(ip -n "$c1" rule list; ip -n "$c1" -6 rule list)" \
      "$c1log"
    return 1
  fi
  if ! ip -n "$c1" route show table "$TABLE" | grep -q '^default dev jvpn0' ||
     ! ip -n "$c1" -6 route show table "$TABLE" | grep -q '^default dev jvpn0'; then
    lab_fail a "no default route via jvpn0 in table $TABLE" "$c1log"
    return 1
  fi
  ft=$("$JVPN_BIN" status --json -s "$dir/client1.sock" | jq -r .full_tunnel)
  if [ "$ft" != "ipv4,ipv6" ]; then
    lab_fail a "client1's status says full_tunnel=$ft" "$c1log"
    return 1
  fi
  if ! grep -q '"event":"full_tunnel_on"' "$dir/client1-audit.log"; then
    lab_fail a "no full_tunnel_on record in client1's audit log"
    return 1
  fi
  lab_pass a "full tunnel on for IPv4 and IPv6 (rules $PREF-$((PREF + 2)), table $TABLE), as nobody"
}

# excluded: packets to the excluded address that left the uplink, in REPLY.
excluded() {
  REPLY=$(ip netns exec "$c1" nft -j list counter inet fulltunnel_leak excluded |
    jq -r '.nftables[] | select(.counter) | .counter.packets')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# A query of client1's through the tunnel, as the internet's dnsmasq logs
# it (from the server's NAT address).
DNS_QUERY='query\[A\] www.internet.test from 198.18.60.1'

# resolves NAME: client1 resolves NAME to the internet host (through the
# tunnel's DNS: the lab's own resolver address answers nothing).
resolves() {
  [ "$(ip netns exec "$c1" getent ahostsv4 "$1" 2>/dev/null |
    awk 'NR == 1 { print $1 }')" = "$LAB_INET4" ]
}

# --- (b) -------------------------------------------------------------------
scenario_b() {
  local got
  reaches_inet b || return 1
  got=$REPLY
  if ! lab_wait_for "the name" 5 resolves www ||
     ! grep -q "$DNS_QUERY" "$dir/dnsmasq.log"; then
    lab_fail b "www (search internet.test) did not resolve through the tunnel" \
      "$dir/dnsmasq.log" "$c1log"
    return 1
  fi
  got+="; www resolved by the tunnel's DNS"
  if ! leaks || [ "$REPLY" != 0 ]; then
    lab_fail b "$REPLY packets leaked while resolving"
    return 1
  fi
  if ! ip netns exec "$c1" ping -n -q -c 2 -i 0.2 -w 3 198.18.2.1 >/dev/null 2>&1 ||
     ! excluded || [ "$REPLY" -lt 2 ]; then
    lab_fail b "the excluded 198.18.2.1 was not reached over the uplink (${REPLY:-?} packets)"
    return 1
  fi
  lab_pass b "the internet host answers through the tunnel ($got); nothing leaked; excluded 198.18.2.1 went over the uplink"
}

# --- (c) -------------------------------------------------------------------
scenario_c() {
  local idle
  lab_nat_flush
  reaches_inet c || return 1
  lab_quic_idle_ms
  idle=$REPLY
  lab_blackhole_on "${LAB_NS[router]}" c1
  sleep "$(awk -v ms="$idle" 'BEGIN { print ms / 1000 + 1.5 }')"
  lab_blackhole_off "${LAB_NS[router]}" c1
  if ! lab_wait_for "client1 reattached" 15 lab_more_lines \
       'reattached\|session .* reattach' "$c1log" 0; then
    lab_fail c "client1 did not reattach after the blackhole" "$c1log"
    return 1
  fi
  reaches_inet c || return 1
  local got=$REPLY q0
  lab_count "$DNS_QUERY" "$dir/dnsmasq.log"
  q0=$REPLY
  if ! lab_wait_for "the name" 5 resolves www ||
     ! lab_more_lines "$DNS_QUERY" "$dir/dnsmasq.log" "$q0"; then
    lab_fail c "www did not resolve through the tunnel after the reattach" \
      "$dir/dnsmasq.log" "$c1log"
    return 1
  fi
  if ! leaks || [ "$REPLY" != 0 ]; then
    lab_fail c "$REPLY packets leaked while resolving"
    return 1
  fi
  lab_pass c "after a NAT rebinding and a reattach: $got; www resolved by the tunnel's DNS; nothing leaked"
}

# quic_eth1: QUIC packets to the server that left through eth1, in REPLY.
quic_eth1() {
  REPLY=$(ip netns exec "$c1" nft -j list counter inet fulltunnel_leak quic_eth1 |
    jq -r '.nftables[] | select(.counter) | .counter.packets')
  [[ $REPLY =~ ^[0-9]+$ ]]
}

# eth1_carries: QUIC to the server leaves through eth1 now.
eth1_carries() {
  local q0
  quic_eth1 && q0=$REPLY || return 1
  ping_inet "$c1" "$LAB_INET4" && quic_eth1 && [ "$REPLY" -gt "$q0" ]
}

# --- (j) -------------------------------------------------------------------
scenario_j() {
  if ! lab_uplink_addr_del client1 1; then
    lab_fail j "could not take eth0's addresses away"
    return 1
  fi
  if ! lab_wait_for "QUIC over eth1" 10 eth1_carries; then
    lab_uplink_addr_add client1 1
    lab_fail j "the tunnel did not move to eth1" "$c1log"
    return 1
  fi
  if ! reaches_inet j; then
    lab_uplink_addr_add client1 1
    return 1
  fi
  local got=$REPLY
  lab_uplink_addr_add client1 1 || { lab_fail j "eth0 not restored"; return 1; }
  if ! lab_wait_for "the internet host" 10 ping_inet "$c1" "$LAB_INET4"; then
    lab_fail j "no traffic after eth0 came back" "$c1log"
    return 1
  fi
  lab_pass j "eth0 lost its addresses: the tunnel moved to eth1 (strict rp_filter), $got; nothing leaked"
}

# --- (d) -------------------------------------------------------------------
scenario_d() {
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || { lab_fail d "client1 did not die"; return 1; }
  rules_at -4 "$c1"
  if [ -z "$REPLY" ]; then
    lab_fail d "kill -9 left no rule behind (so this checks nothing)"
    return 1
  fi
  lab_wait_no_dev "$c1" jvpn0 5 || true
  if ! start_client1 || ! lab_wait_for "client1's rules" 5 rules_ok -4 ||
     ! rules_ok -6; then
    lab_fail d "after a restart: $(ip -n "$c1" rule list)" "$c1log"
    return 1
  fi
  if ! grep -q 'removed [0-9]* stale policy routing rules' "$c1log"; then
    lab_fail d "the restarted client did not say it removed stale rules" "$c1log"
    return 1
  fi
  reaches_inet d || return 1
  lab_pass d "kill -9, restart: stale rules replaced, none twice; $REPLY"
}

# audited EVENT DETAIL: client1's audit trail's EVENT records whose detail
# starts with DETAIL, counted in REPLY.
audited() {
  REPLY=$(grep -F "\"event\":\"$1\"" "$dir/client1-audit.log" |
    grep -cF "\"detail\":\"$2")
}

# --- (e) -------------------------------------------------------------------
scenario_e() {
  local off4 off6 dns0
  audited full_tunnel_off IPv4
  off4=$REPLY
  audited full_tunnel_off IPv6
  off6=$REPLY
  audited dns_removed /etc/resolv.conf
  dns0=$REPLY
  if ! lab_vpn_stop "$c1_pid" "$c1" client1; then
    lab_fail e "$REPLY" "$c1log"
    return 1
  fi
  audited full_tunnel_off IPv4
  if [ "$REPLY" != $((off4 + 1)) ]; then
    lab_fail e "$((REPLY - off4)) IPv4 full_tunnel_off records on exit" \
      "$dir/client1-audit.log"
    return 1
  fi
  audited full_tunnel_off IPv6
  if [ "$REPLY" != $((off6 + 1)) ]; then
    lab_fail e "$((REPLY - off6)) IPv6 full_tunnel_off records on exit" \
      "$dir/client1-audit.log"
    return 1
  fi
  audited dns_removed "/etc/resolv.conf restored"
  if [ "$REPLY" != $((dns0 + 1)) ]; then
    lab_fail e "no dns_removed record (/etc/resolv.conf restored) on exit" \
      "$dir/client1-audit.log"
    return 1
  fi
  rules_at -4 "$c1"
  local r4=$REPLY
  rules_at -6 "$c1"
  if [ -n "$r4$REPLY" ]; then
    lab_fail e "rules left after exit: $r4 $REPLY"
    return 1
  fi
  if [ -n "$(ip -n "$c1" route show table "$TABLE" 2>/dev/null)" ]; then
    lab_fail e "routes left in table $TABLE"
    return 1
  fi
  lab_pass e "SIGTERM removed every rule and route; audited full_tunnel_off (IPv4, IPv6) and dns_removed"
}

# --- (f) -------------------------------------------------------------------
scenario_f() {
  if ! lab_vpn_client_start "$c2" "$dir/client2.log" "$LAB_CLIENT2_IN4" - \
       -c "$dir/client2.conf"; then
    lab_fail f "client2 did not come up" "$dir/client2.log"
    return 1
  fi
  if ! lab_wait_for "client2's warning" 5 grep -q \
       'ignoring advertised default route' "$dir/client2.log"; then
    lab_fail f "client2 did not say it ignores the default routes" \
      "$dir/client2.log"
    return 1
  fi
  rules_at -4 "$c2"
  if [ -n "$REPLY" ] || ping_inet "$c2" "$LAB_INET4"; then
    lab_fail f "client2 (full_tunnel = off) has rules or reaches the internet host"
    return 1
  fi
  lab_pass f "full_tunnel = off: default routes ignored, no rule"
}

# --- (g) -------------------------------------------------------------------
scenario_g() {
  local idle ks=$dir/client1-ks.conf st
  sed 's/^\[client\]$/[client]\nkill_switch = on/' "$dir/client1.conf" >"$ks"
  if ! start_client1 "$ks" || ! ks_present; then
    lab_fail g "client1 with kill_switch = on: no table inet $KS" "$c1log"
    return 1
  fi
  st=$("$JVPN_BIN" status --json -s "$dir/client1.sock" | jq -r .kill_switch)
  [ "$st" = on ] || { lab_fail g "status says kill_switch=$st"; return 1; }
  lab_quic_idle_ms
  idle=$REPLY
  lab_blackhole_on "${LAB_NS[router]}" c1
  sleep "$(awk -v ms="$idle" 'BEGIN { print ms / 1000 + 0.5 }')"
  # The TUN still takes the traffic (full tunnel): it goes nowhere. The
  # uplink's router is on-link (the main table's own route, outside the
  # full tunnel): only the kill switch keeps pings to it in.
  if ! blocked g any || ! blocked g drops 198.18.1.1; then
    lab_blackhole_off "${LAB_NS[router]}" c1
    return 1
  fi
  local dropped=$REPLY
  lab_blackhole_off "${LAB_NS[router]}" c1
  if ! lab_wait_for "the path back" 15 ping_inet "$c1" "$LAB_INET4"; then
    lab_fail g "no traffic after the blackhole" "$c1log"
    return 1
  fi
  reaches_inet g || return 1
  lab_pass g "kill switch on; blackholed and recovering: nothing out (pings to the uplink's router: $dropped dropped by the kill switch); then $REPLY"
}

# --- (h) -------------------------------------------------------------------
scenario_h() {
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || { lab_fail h "client1 did not die"; return 1; }
  ks_present || { lab_fail h "kill -9 took the kill switch away"; return 1; }
  blocked h drops || return 1
  local dropped=$REPLY
  # What the systemd unit runs after a failure: the rules go, the table
  # stays.
  if ! ip netns exec "$c1" "$JVPN_BIN" client --down --keep-kill-switch \
       -c "$dir/client1.conf" >"$dir/down.log" 2>&1; then
    lab_fail h "client --down --keep-kill-switch failed" "$dir/down.log"
    return 1
  fi
  rules_at -4 "$c1"
  if ! ks_present || [ -n "$REPLY" ]; then
    lab_fail h "--keep-kill-switch: table gone or rules left" "$dir/down.log"
    return 1
  fi
  if ! ip netns exec "$c1" "$JVPN_BIN" client --down -c "$dir/client1.conf" \
       >"$dir/down.log" 2>&1; then
    lab_fail h "client --down failed" "$dir/down.log"
    return 1
  fi
  rules_at -4 "$c1"
  if ks_present || [ -n "$REPLY" ]; then
    lab_fail h "client --down left the table or rules" "$dir/down.log"
    return 1
  fi
  lab_pass h "after kill -9: $dropped packets dropped, none past it; client --down --keep-kill-switch removed the rules only, client --down the table"
}

# --- (i) -------------------------------------------------------------------
scenario_i() {
  if ! start_client1 "$dir/client1-ks.conf" || ! ks_present; then
    lab_fail i "client1 did not come back with its kill switch" "$c1log"
    return 1
  fi
  if ! lab_vpn_stop "$c1_pid" "$c1" client1; then
    lab_fail i "$REPLY" "$c1log"
    return 1
  fi
  rules_at -4 "$c1"
  if ks_present || [ -n "$REPLY" ]; then
    lab_fail i "SIGTERM left the kill switch or rules"
    return 1
  fi
  if ! grep -q '"event":"kill_switch_off"' "$dir/client1-audit.log"; then
    lab_fail i "no kill_switch_off record in client1's audit log"
    return 1
  fi
  lab_pass i "SIGTERM removed the kill switch and the rules (audited)"
}

# routed_via PREFIX: client1's main table routes PREFIX via jvpn0.
routed_via() { ip -n "$c1" route show "$1" | grep -q 'dev jvpn0'; }

# --- (k) -------------------------------------------------------------------
scenario_k() {
  local inc=$dir/client1-include.conf r4 r6 e0
  sed -e '/^exclude = /d' \
    -e 's|^\[client\]$|[client]\ninclude = 198.18.60.0/24|' \
    "$dir/client1.conf" >"$inc"
  if ! start_client1 "$inc"; then
    lab_fail k "client1 with include did not come up" "$c1log"
    return 1
  fi
  if ! lab_wait_for "the included route" 5 routed_via 198.18.60.0/24; then
    lab_fail k "no route to 198.18.60.0/24 via jvpn0: $(ip -n "$c1" route)" \
      "$c1log"
    return 1
  fi
  rules_at -4 "$c1"
  r4=$REPLY
  rules_at -6 "$c1"
  r6=$REPLY
  if [ -n "$r4$r6" ] ||
     [ -n "$(ip -n "$c1" route show table "$TABLE" 2>/dev/null)" ]; then
    lab_fail k "full tunnel on despite include: $r4 $r6" "$c1log"
    return 1
  fi
  if routed_via 198.18.200.0/24; then
    lab_fail k "198.18.200.0/24 (outside include) routed via jvpn0"
    return 1
  fi
  if ! leaks; then lab_fail k "no leak counter"; return 1; fi
  local l0=$REPLY
  if ! ping_inet "$c1" "$LAB_INET4" || ! leaks || [ "$REPLY" != "$l0" ]; then
    lab_fail k "the included internet host not reached through the tunnel" \
      "$c1log" "$slog"
    return 1
  fi
  excluded
  e0=$REPLY
  if ! ip netns exec "$c1" ping -n -q -c 2 -i 0.2 -w 3 198.18.2.1 >/dev/null 2>&1 ||
     ! excluded || [ "$REPLY" -lt $((e0 + 2)) ]; then
    lab_fail k "198.18.2.1 (not included) was not reached over the uplink"
    return 1
  fi
  if ! lab_vpn_stop "$c1_pid" "$c1" client1; then
    lab_fail k "$REPLY" "$c1log"
    return 1
  fi
  lab_pass k "include = 198.18.60.0/24 beside advertised default routes: no full tunnel, only the included prefix via jvpn0 (internet host reached, nothing leaked), 198.18.2.1 over the uplink"
}

# --- (l) -------------------------------------------------------------------
scenario_l() {
  local named=$dir/client1-named.conf dns_pid d0
  sed -e 's/^server = 198\.18\.3\.2/server = vpn.lab.test/' \
    -e 's/^\[client\]$/[client]\nkill_switch = on\ndns = off/' \
    "$dir/client1.conf" >"$named"
  grep -q '^server = vpn.lab.test' "$named" ||
    { lab_fail l "could not name the server in $named"; return 1; }
  lab_spawn "${LAB_NS[router]}" "$dir/dnsmasq-router.log" dnsmasq \
    --keep-in-foreground --no-resolv --no-hosts --listen-address=198.18.1.1 \
    --bind-interfaces --port=53 --address=/vpn.lab.test/198.18.3.2 \
    --log-queries --log-facility=- --pid-file="$dir/dnsmasq-router.pid"
  dns_pid=$REPLY
  printf 'nameserver 198.18.1.1\noptions timeout:1 attempts:1\n' \
    >"/etc/netns/$c1/resolv.conf"
  if ! lab_wait_for "dnsmasq on the router" 5 lab_udp_bound \
       "${LAB_NS[router]}" 53 || ! start_client1 "$named" || ! ks_present ||
     ! lab_wait_for "the internet host" 10 ping_inet "$c1" "$LAB_INET4"; then
    lab_fail l "client1 by name with its kill switch did not come up" \
      "$c1log" "$dir/dnsmasq-router.log"
    lab_kill "$dns_pid" KILL
    return 1
  fi
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || { lab_fail l "client1 did not die"; return 1; }
  ks_dropped
  d0=$REPLY
  if ip netns exec "$c1" getent ahostsv4 vpn.lab.test >/dev/null ||
     ! ks_dropped || [ "$REPLY" -le "$d0" ]; then
    lab_fail l "the stale kill switch did not drop the lookup (checks nothing)"
    lab_kill "$dns_pid" KILL
    return 1
  fi
  if ! start_client1 "$named" ||
     ! grep -q 'the kill switch left by an earlier run admits' "$c1log" ||
     ! lab_wait_for "the internet host" 10 ping_inet "$c1" "$LAB_INET4"; then
    lab_fail l "the restart by name behind the stale kill switch failed" \
      "$c1log"
    lab_kill "$dns_pid" KILL
    return 1
  fi
  lab_kill "$dns_pid" KILL
  if ! lab_vpn_stop "$c1_pid" "$c1" client1; then
    lab_fail l "$REPLY" "$c1log"
    return 1
  fi
  rules_at -4 "$c1"
  if ks_present || [ -n "$REPLY" ]; then
    lab_fail l "SIGTERM left the kill switch or rules"
    return 1
  fi
  lab_pass l "server by name, kill switch, kill -9: the lookup blocked, the restart used the addresses the stale table admits and reached the internet host; SIGTERM removed table and rules"
}

if scenario_a; then
  scenario_b
  scenario_c
  scenario_j
  scenario_d && scenario_e && scenario_g && scenario_h && scenario_i &&
    scenario_k && scenario_l
fi
scenario_f
lab_test_summary
