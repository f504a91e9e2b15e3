#!/usr/bin/env bash
# tests/netns/dns.sh: the server's DNS configuration reaches its clients
# in a DNS_ASSIGN capsule (docs/protocol.md 4.1).
#
# The lab topology (tests/lab/lab.sh, lab_topo_vpn):
#
#   client1 eth0 198.18.1.2  --- c1  router  srv --- eth0 server 198.18.3.2
#   client2 eth0 198.18.2.2  --- c2  (NAT)              UDP 443, also IPv6
#
#   tunnel: server jvpn0 198.18.200.1; client1 .2 (IPv4 underlay),
#           client2 .3 (IPv6 underlay)
#   server.conf [server]: dns = 198.18.200.1, dns_search = vpn.test
#   client2.conf: dns = off; both clients keep an audit trail
#
#   (a) client1's status (--json and text) shows the server 198.18.200.1,
#       the search domain vpn.test, the root as internal domain, and that
#       it applied them: its resolv.conf names them above the original,
#       which it keeps behind its marker; client2's is untouched.
#   (b) client1's audit trail holds one "dns_config" record naming both.
#   (c) client2 (dns = off) shows no DNS configuration ("enabled":false,
#       empty lists; "dns=off" in text), says once that it ignores it, and
#       audits none.
#   (d) a reattach (the router's server link dead for the QUIC idle
#       timeout + 2 s): the server sends the capsule again, client1 keeps
#       its configuration and audits nothing new (it did not change).
#   (e) a reload (SIGHUP) adds "dns = fd77:6a76:706e::1"; at the next
#       reattach client1 shows both servers and audits the change.
#   (f) a reload removes every dns and dns_search line; at the next
#       reattach the server sends an empty DNS_ASSIGN and client1 shows
#       and audits an empty configuration.
#   (g) DNS back (a reload and a reattach): kill -9 leaves the client's
#       resolv.conf; `client --down` puts the original back; after
#       another kill -9 a restarted client takes the original from under
#       its own marker (so it is wrapped once, never twice).
#   Then both clients and the server stop cleanly (exit 0), client1's
#   resolv.conf is the lab's original again and its audit trail says so
#   (dns_removed). Each namespace's
#   /etc/resolv.conf is its own (lab_ns): the host's is never touched.
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is bounded; the lab's trap removes
# every namespace and process. DNS_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init dns

DNS4=$LAB_SERVER_IN4                  # the server's own tunnel address
DNS6=$LAB_SERVER_IN6                  # added by the reload in (e)
SEARCH=vpn.test
lab_quic_idle_ms
DEAD_MS=$(( REPLY + 2000 ))           # a blackhole the connection dies of
REATTACH_S=15                         # the blackhole's end -> reattached
AUDIT_S=5                             # a record reaches the file (200 ms)

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_require_tools nft
lab_note "using $JVPN_BIN"

lab_test_logdir DNS_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" "client1 client2" ||
  lab_setup_fail "genkey or config generation failed"
# The DNS lines go into [server], the first section (the [peer]s follow).
sed -i "/^\[server\]\$/a dns = $DNS4\ndns_search = $SEARCH" \
  "$dir/server.conf" || lab_setup_fail "could not edit server.conf"
# Each client conf ends in its [client] section.
echo "audit_log = $dir/client1-audit.jsonl" >>"$dir/client1.conf"
printf 'audit_log = %s\ndns = off\n' "$dir/client2-audit.jsonl" \
  >>"$dir/client2.conf"

c1log=$dir/client1.log
c2log=$dir/client2.log
slog=$dir/server.log
c1audit=$dir/client1-audit.jsonl
c2audit=$dir/client2-audit.jsonl

if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" \
     --control "$dir/server.sock"; then
  lab_setup_fail "the server did not come up: $REPLY $(lab_tail "$slog")"
fi
server_pid=$LAB_VPN_PID
lab_vpn_client_up "$dir" 1 ||
  lab_setup_fail "client1 did not come up: $(lab_tail "$slog" "$c1log")"
c1_pid=$LAB_VPN_PID
lab_vpn_client_up "$dir" 2 ||
  lab_setup_fail "client2 did not come up: $(lab_tail "$slog" "$c2log")"
c2_pid=$LAB_VPN_PID

# status_dns N [--json]: clientN's status: the "dns" object (JSON) or the
# dns* words (text) without the count of capsules received (a reattach
# attempt may bring one more), in REPLY; that count in RECEIVED.
status_dns() {
  local out
  out=$("$JVPN_BIN" status ${2:+"$2"} -s "$dir/client$1.sock" 2>&1) ||
    { REPLY="status failed: $out"; return 1; }
  RECEIVED=$(printf '%s' "$out" |
    grep -o -E '"dns":\{[^}]*\}|dns_received=[0-9]+' |
    grep -o -E '"received":[0-9]+|dns_received=[0-9]+' | grep -o -E '[0-9]+$')
  if [ -n "${2:-}" ]; then
    REPLY=$(printf '%s' "$out" | grep -o '"dns":{[^}]*}' |
      sed 's/,"received":[0-9]*//')
  else
    REPLY=$(printf '%s' "$out" | grep -o ' dns[a-z_]*=[^ ]*' | tr -d '\n' |
      sed 's/ dns_received=[0-9]*//')
  fi
}

# want_json ENABLED SERVERS SEARCH DOMAINS [APPLIED]: the "dns" object
# status_dns should see (lists of quoted words; APPLIED true or false, the
# default; the back end is resolv.conf when enabled: the lab has no
# systemd-resolved), in REPLY.
want_json() {
  local backend=none
  [ "$1" = true ] && backend=resolv.conf
  REPLY="\"dns\":{\"enabled\":$1,\"servers\":[$2],\"search\":[$3]"
  REPLY+=",\"domains\":[$4],\"applied\":${5:-false}"
  REPLY+=",\"backend\":\"$backend\",\"rejected\":0}"
}

# resolv NS: /etc/resolv.conf as processes in namespace NS see it (the
# lab's /etc/netns/NS/resolv.conf), in REPLY.
resolv() { REPLY=$(ip netns exec "$1" cat /etc/resolv.conf); }

# resolv_is_lab NS: NS's resolv.conf is the lab's original again.
resolv_is_lab() {
  resolv "$1"
  [ "$REPLY" = "$(printf '# lab namespace %s\nnameserver %s' "$1" \
    "$LAB_NS_RESOLVER")" ]
}

# resolv_applied NS: NS's resolv.conf names the server's DNS and search
# domain above the original, kept behind the client's marker.
resolv_applied() {
  resolv "$1"
  grep -q '^# jvpn-quic: DNS through the VPN' <<<"$REPLY" &&
    grep -q "^nameserver $DNS4\$" <<<"$REPLY" &&
    grep -q "^search $SEARCH\$" <<<"$REPLY" &&
    grep -q "^#jvpn-orig: nameserver $LAB_NS_RESOLVER\$" <<<"$REPLY" &&
    ! grep -q "^nameserver $LAB_NS_RESOLVER" <<<"$REPLY"
}

# status_has N WANT: clientN's JSON "dns" object equals WANT (for
# lab_wait_for: the capsule follows the addresses by a moment).
status_has() {
  status_dns "$1" --json && [ "$REPLY" = "$2" ]
}

# received_more N COUNT: clientN received more than COUNT DNS_ASSIGNs.
received_more() {
  status_dns "$1" --json && [ "${RECEIVED:-0}" -gt "$2" ]
}

# audit_records FILE: the dns_config records of an audit trail, in REPLY
# (their count in NREC).
audit_records() {
  REPLY=$(grep '"event":"dns_config"' "$1" 2>/dev/null)
  NREC=$(printf '%s' "$REPLY" | grep -c . || true)
}

audit_count_is() {
  audit_records "$1"
  [ "$NREC" -eq "$2" ]
}

# reattach_all: the router's server link is dead until both connections
# died, then back; waits until client1 has reattached once more.
reattach_all() {
  local before
  lab_count "reattached" "$c1log"
  before=$REPLY
  lab_blackhole_on || { REPLY="nft failed"; return 1; }
  sleep "$(awk -v ms="$DEAD_MS" 'BEGIN { print ms / 1000 }')"
  lab_blackhole_off
  if ! lab_wait_for "client1 reattached" "$REATTACH_S" lab_more_lines \
       "reattached" "$c1log" "$before"; then
    REPLY="client1 did not reattach within $REATTACH_S s"
    return 1
  fi
}

want_json true "\"$DNS4\"" "\"$SEARCH\"" '"."' true
want1=$REPLY
want_json false "" "" ""
want_off=$REPLY

# --- (a) client1's status --------------------------------------------------
scenario_a() {
  local text line
  if ! lab_wait_for "client1's DNS status" 5 status_has 1 "$want1"; then
    lab_fail a "client1's status: $REPLY (want $want1)" "$c1log"
    return 1
  fi
  status_dns 1
  text=" dns=$DNS4 dns_search=$SEARCH dns_domains=. dns_applied=/etc/resolv.conf"
  text+=" dns_rejected=0"
  if [ "$REPLY" != "$text" ]; then
    lab_fail a "client1's text status: '$REPLY' (want '$text')" "$c1log"
    return 1
  fi
  line="DNS configuration from the server: servers=$DNS4 search=$SEARCH"
  line+=" domains=."
  if ! grep -q -F "$line" "$c1log"; then
    lab_fail a "client1 did not log the configuration" "$c1log"
    return 1
  fi
  local st=$REPLY
  if ! resolv_applied "${LAB_NS[client1]}"; then
    lab_fail a "client1's resolv.conf: $REPLY" "$c1log"
    return 1
  fi
  if ! resolv_is_lab "${LAB_NS[client2]}"; then
    lab_fail a "client2 (dns = off) changed its resolv.conf: $REPLY"
    return 1
  fi
  lab_pass a "${st# }; resolv.conf: nameserver $DNS4, search $SEARCH, the original kept below"
}

# --- (b) client1's audit record --------------------------------------------
scenario_b() {
  if ! lab_wait_for "client1's dns_config record" "$AUDIT_S" \
       audit_count_is "$c1audit" 1; then
    lab_fail b "$NREC dns_config records in client1's audit trail" "$c1log"
    return 1
  fi
  case "$REPLY" in
    *"\"detail\":\"servers=$DNS4 search=$SEARCH domains=.\""*) ;;
    *) lab_fail b "unexpected record: $REPLY"; return 1 ;;
  esac
  lab_pass b "$(printf '%s' "$REPLY" | grep -o '"detail":"[^"]*"')"
}

# --- (c) client2, dns = off --------------------------------------------------
scenario_c() {
  local n
  if ! lab_wait_for "client2's DNS status" 5 status_has 2 "$want_off"; then
    lab_fail c "client2's status: $REPLY (want $want_off)" "$c2log"
    return 1
  fi
  status_dns 2
  if [ "$REPLY" != " dns=off" ]; then
    lab_fail c "client2's text status: '$REPLY'" "$c2log"
    return 1
  fi
  lab_count "ignoring the server's DNS configuration (dns = off)" "$c2log"
  n=$REPLY
  audit_records "$c2audit"
  if [ "$n" -ne 1 ] || [ "$NREC" -ne 0 ]; then
    lab_fail c "client2 logged the refusal $n times, audited $NREC records" \
      "$c2log"
    return 1
  fi
  lab_pass c
}

# --- (d) a reattach: the same configuration, nothing new -------------------
scenario_d() {
  local before
  status_dns 1 --json
  before=${RECEIVED:-0}
  if ! reattach_all; then
    lab_fail d "$REPLY" "$slog" "$c1log"
    return 1
  fi
  if ! lab_wait_for "the capsule again" 5 received_more 1 "$before"; then
    lab_fail d "client1 got no DNS_ASSIGN on the reattach" "$slog" "$c1log"
    return 1
  fi
  if ! status_has 1 "$want1"; then
    lab_fail d "client1's status after the reattach: $REPLY" "$c1log"
    return 1
  fi
  sleep 0.5 # one audit writer tick and more: a record would be there
  if ! audit_count_is "$c1audit" 1; then
    lab_fail d "$NREC dns_config records after the reattach" "$c1log"
    return 1
  fi
  lab_pass d
}

# --- (e) a reload adds a server; the next reattach brings it --------------
scenario_e() {
  local before want
  lab_count "reloaded:" "$slog"
  before=$REPLY
  sed -i "/^dns = $DNS4\$/a dns = $DNS6" "$dir/server.conf"
  kill -HUP "$server_pid"
  if ! lab_wait_for "the server's reload" 5 lab_more_lines "reloaded:" \
       "$slog" "$before"; then
    lab_fail e "the server did not reload" "$slog"
    return 1
  fi
  if ! reattach_all; then
    lab_fail e "$REPLY" "$slog" "$c1log"
    return 1
  fi
  want_json true "\"$DNS4\",\"$DNS6\"" "\"$SEARCH\"" '"."' true
  want=$REPLY
  if ! lab_wait_for "client1's DNS status" 5 status_has 1 "$want"; then
    lab_fail e "client1's status after the reload: $REPLY (want $want)" \
      "$c1log"
    return 1
  fi
  if ! lab_wait_for "client1's second dns_config record" "$AUDIT_S" \
       audit_count_is "$c1audit" 2; then
    lab_fail e "$NREC dns_config records after the change" "$c1log"
    return 1
  fi
  case "$REPLY" in
    *"servers=$DNS4,$DNS6 search=$SEARCH"*) ;;
    *) lab_fail e "unexpected records: $REPLY"; return 1 ;;
  esac
  lab_pass e
}

# --- (f) a reload removes the DNS lines; the next reattach clears them ----
scenario_f() {
  local before want
  lab_count "reloaded:" "$slog"
  before=$REPLY
  sed -i '/^dns/d' "$dir/server.conf"
  kill -HUP "$server_pid"
  if ! lab_wait_for "the server's reload" 5 lab_more_lines "reloaded:" \
       "$slog" "$before"; then
    lab_fail f "the server did not reload" "$slog"
    return 1
  fi
  if ! reattach_all; then
    lab_fail f "$REPLY" "$slog" "$c1log"
    return 1
  fi
  want_json true "" "" ""
  want=$REPLY
  if ! lab_wait_for "client1's DNS status" 5 status_has 1 "$want"; then
    lab_fail f "client1's status after the reload: $REPLY (want $want)" \
      "$c1log"
    return 1
  fi
  if ! lab_wait_for "client1's third dns_config record" "$AUDIT_S" \
       audit_count_is "$c1audit" 3; then
    lab_fail f "$NREC dns_config records after the removal" "$c1log"
    return 1
  fi
  case "$REPLY" in
    *'"detail":"servers=- search=- domains=-"'*) ;;
    *) lab_fail f "unexpected records: $REPLY"; return 1 ;;
  esac
  if ! resolv_is_lab "${LAB_NS[client1]}"; then
    lab_fail f "client1's resolv.conf without servers: $REPLY" "$c1log"
    return 1
  fi
  lab_pass f "empty configuration: resolv.conf as it was"
}

# --- (g) a crash leaves the file; --down and a restart undo it -------------
scenario_g() {
  local before c1=${LAB_NS[client1]}
  lab_count "reloaded:" "$slog"
  before=$REPLY
  sed -i "/^\[server\]\$/a dns = $DNS4\ndns_search = $SEARCH" "$dir/server.conf"
  kill -HUP "$server_pid"
  if ! lab_wait_for "the server's reload" 5 lab_more_lines "reloaded:" \
       "$slog" "$before" || ! reattach_all ||
     ! lab_wait_for "client1's resolv.conf" 5 resolv_applied "$c1"; then
    lab_fail g "DNS not applied again: $REPLY" "$slog" "$c1log"
    return 1
  fi
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || { lab_fail g "client1 did not die"; return 1; }
  if ! resolv_applied "$c1"; then
    lab_fail g "after kill -9 the file is not the client's: $REPLY"
    return 1
  fi
  if ! ip netns exec "$c1" "$JVPN_BIN" client --down -c "$dir/client1.conf" \
       >"$dir/down.log" 2>&1 || ! resolv_is_lab "$c1"; then
    lab_fail g "client --down did not restore resolv.conf: $REPLY" \
      "$dir/down.log"
    return 1
  fi
  # Again, and this time a restart undoes it.
  lab_vpn_client_up "$dir" 1 || { lab_fail g "client1 did not restart"; return 1; }
  c1_pid=$LAB_VPN_PID
  if ! lab_wait_for "client1's resolv.conf" 5 resolv_applied "$c1"; then
    lab_fail g "the restarted client1 did not apply DNS: $REPLY" "$c1log"
    return 1
  fi
  lab_kill "$c1_pid" KILL
  lab_wait_exit "$c1_pid" 5 || true
  lab_vpn_client_up "$dir" 1 || { lab_fail g "client1 did not restart"; return 1; }
  c1_pid=$LAB_VPN_PID
  resolv "$c1"
  if [ "$(grep -c '^# jvpn-quic' <<<"$REPLY")" != 1 ] ||
     [ "$(grep -c "^#jvpn-orig: nameserver $LAB_NS_RESOLVER" <<<"$REPLY")" != 1 ] ||
     ! lab_wait_for "client1's resolv.conf" 5 resolv_applied "$c1"; then
    lab_fail g "after kill -9 and a restart: $REPLY" "$c1log"
    return 1
  fi
  lab_pass g "kill -9 leaves the file; client --down restores it; a restart wraps the original once, not twice"
}

scenario_a
scenario_b
scenario_c
scenario_d
scenario_e
scenario_f
scenario_g

for who in client1:"$c1_pid":client1 client2:"$c2_pid":client2 \
           server:"$server_pid":server; do
  IFS=: read -r name pid ns <<<"$who"
  if ! lab_vpn_stop "$pid" "${LAB_NS[$ns]}" "$name"; then
    lab_fail stop "$REPLY" "$dir/$name.log"
  fi
done
if ! resolv_is_lab "${LAB_NS[client1]}"; then
  lab_fail stop "client1's resolv.conf after its exit: $REPLY"
elif ! grep -F '"event":"dns_removed"' "$c1audit" |
     grep -qF '"detail":"/etc/resolv.conf restored"'; then
  lab_fail stop "no dns_removed record in client1's audit trail" "$c1audit"
else
  lab_pass stop "every daemon exited 0; client1's resolv.conf as it was (audited dns_removed)"
fi
lab_check_sanitizers "$dir"
lab_test_summary
