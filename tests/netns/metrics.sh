#!/usr/bin/env bash
# tests/netns/metrics.sh: the server's Prometheus endpoint (issue 17 item 1,
# docs/operations.md "Metrics"), scraped with curl from inside the server
# namespace while the lab moves its counters.
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn), NAT on:
#
#   client1 198.18.1.2 ---- c1 .                        server 198.18.3.2
#                               router ---- server      metrics on
#   client2 198.18.2.2 ---- c2 '  (masquerade,          127.0.0.1:9587,
#                                  random ports)        user nobody, seccomp on
#
#   (a) the first scrape: 200, the 0.0.4 content type, and promtool's
#       "check metrics" finds nothing to say about the text
#   (b) jvpn_sessions{state="ATTACHED"} is 2 (one per client), the active
#       QUIC attachments 2, jvpn_session_births_total 2, and
#       jvpn_process_start_time_seconds within START_SLACK s of the
#       server's launch
#   Attachments by role "standby" need [uplink] sections (tests/netns/
#   session.sh's topology): left to tests/unit/test_server_metrics.
#   (c) a ping flood through client1's tunnel: the IP byte and packet
#       counters grow each way by at least what it carried
#   (d) a NAT rebinding (lab_nat_flush) under traffic:
#       jvpn_switches_total{reason="NAT_REBIND"} goes up by at least 1
#   (e) a forged reattach for client1's session (tests/tools/attach_probe
#       --forge with client1's stolen key, from client2's host): 403, and
#       jvpn_attach_refusals_total{reason="BAD_PROOF"} goes up by 1
#   (r) the RTT and loss summaries of the active paths count both
#       sessions' paths (after (c)'s traffic)
#   (s) pings from a source client1 was not given (an extra address on its
#       TUN device): jvpn_drops_total{cause="spoofed_source"} grows by them
#   (t) the router blocks UDP (lab_udp_block): both sessions fall back to
#       TCP, each a reattach on the server, so jvpn_reattaches_total and
#       jvpn_switches_total{reason="TCP_FALLBACK"} go up by 2 and two
#       active TCP attachments are listed; UDP allowed again: back on
#       QUIC, jvpn_switches_total{reason="QUIC_RETURN"} and the reattaches
#       up by 2 more. Every end gets "max_switches_per_min = 64" (as
#       scripts/bench-recovery.sh) so that (d)'s rebindings leave budget.
#   (f) the last scrape passes promtool too; audit records were counted;
#       another path is 404
#   (p) "metrics_per_session = on" and SIGHUP: one jvpn_session_info and
#       one jvpn_session_path_rtt_seconds per session, promtool still quiet
#   (g) the server is alive (a call seccomp refused would have killed it);
#       on SIGTERM it exits 0 and the endpoint closes
#
# Exit 0 when all pass, 1 when one fails, 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. METRICS_KEEP=1 keeps the logs.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init metrics

PORT=9587
URL=http://127.0.0.1:$PORT/metrics
FLOOD=400          # (c): echo requests ...
SIZE=1000          # ... of this many payload bytes
START_SLACK=5      # (b): s between the launch and the start time shown
SPOOF=198.18.200.99 # (s): a source outside client1's inner addresses

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it)"
lab_tool_find attach_probe ATTACH_PROBE ||
  lab_setup_fail "no attach_probe binary (make tests/tools/attach_probe)"
lab_require_tools nft conntrack curl promtool
lab_note "using $JVPN_BIN, promtool $(promtool --version 2>&1 | head -n1 |
  awk '{ print $3 }')"

lab_test_logdir METRICS_KEEP
dir=$REPLY

# shellcheck disable=SC2119 # no options: NAT on
lab_topo_vpn || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" "client1 client2" ||
  lab_setup_fail "genkey or config generation failed"

c1=${LAB_NS[client1]}
c2=${LAB_NS[client2]}
sv=${LAB_NS[server]}
slog=$dir/server.log
audit=$dir/audit.jsonl

# In [server], the first section: the endpoint, an audit log, and a
# privilege drop (the listener is opened before it).
sed -i "s|^\[server\]\$|[server]\nmetrics = 127.0.0.1:$PORT\nuser = nobody\naudit_log = $audit|" \
  "$dir/server.conf"
grep -q "^metrics = 127.0.0.1:$PORT\$" "$dir/server.conf" ||
  lab_setup_fail "could not add metrics to the server's config"
# (t) switches twice more than (d) alone would: room in every budget.
for f in server client1 client2; do
  printf '\n[policy]\nmax_switches_per_min = 64\n' >>"$dir/$f.conf"
done

launched=$(date +%s.%N)
if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" -v \
     --control "$dir/server.sock"; then
  lab_setup_fail "the server did not come up: $REPLY $(lab_tail "$slog")"
fi
server_pid=$LAB_VPN_PID
for n in 1 2; do
  if ! lab_vpn_client_up "$dir" "$n" ||
     ! lab_wait_tunnel "${LAB_NS[client$n]}" 5; then
    lab_setup_fail "client$n did not come up: $(lab_tail "$slog" \
      "$dir/client$n.log")"
  fi
done

# --- helpers ----------------------------------------------------------------

# scrape NAME: the endpoint's answer into $dir/NAME.prom, its headers into
# $dir/NAME.hdr; fails when curl does (not 200, no answer in 5 s).
scrape() {
  ip netns exec "$sv" curl -sS -f --max-time 5 -D "$dir/$1.hdr" \
    -o "$dir/$1.prom" "$URL" 2>"$dir/$1.err"
}

# value NAME SERIES: the value of SERIES (name and labels exactly as the
# server writes them) in the scrape NAME, in REPLY; fails without it.
value() {
  REPLY=$(awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $2 }' \
    "$dir/$1.prom")
  [ -n "$REPLY" ]
}

# promtool_ok NAME: promtool check metrics has nothing to say about the
# scrape NAME; its words in REPLY.
promtool_ok() {
  REPLY=$(promtool check metrics <"$dir/$1.prom" 2>&1)
  local rc=$?
  [ "$rc" = 0 ] && [ -z "$REPLY" ]
}

# grown NAME SERIES BEFORE MIN: a fresh scrape NAME shows SERIES at least
# MIN above BEFORE (for lab_wait_for).
grown() {
  scrape "$1" && value "$1" "$2" &&
    awk -v a="$3" -v b="$REPLY" -v m="$4" 'BEGIN { exit !(b - a >= m) }'
}

# --- (a) the first scrape ---------------------------------------------------
if ! lab_wait_for "the metrics endpoint" 5 scrape s0; then
  lab_setup_fail "no answer from $URL: $(cat "$dir/s0.err") $(lab_tail "$slog")"
fi
ctype=$(grep -i '^content-type:' "$dir/s0.hdr" | tr -d '\r')
if ! grep -qi '^content-type: text/plain; version=0.0.4' <<<"$ctype"; then
  lab_fail a "content type '$ctype'" "$dir/s0.hdr"
elif ! promtool_ok s0; then
  lab_fail a "promtool check metrics: $REPLY" "$dir/s0.prom"
else
  lab_pass a "200, $ctype, $(grep -c -v '^#' "$dir/s0.prom") samples;\
 promtool check metrics: no problems"
fi

# --- (b) sessions by state ---------------------------------------------------
scenario_b() {
  local att act born start lean
  scrape s1 || { lab_fail b "scrape failed"; return 1; }
  value s1 jvpn_connections_without_nghttp3 && lean=$REPLY || lean=none
  value s1 'jvpn_sessions{state="ATTACHED"}' && att=$REPLY || att=none
  value s1 'jvpn_attachments{role="active",transport="quic"}' && act=$REPLY ||
    act=none
  value s1 jvpn_session_births_total && born=$REPLY || born=none
  value s1 jvpn_process_start_time_seconds && start=$REPLY || start=none
  if [ "$att" != 2 ] || [ "$act" != 2 ] || [ "$born" != 2 ]; then
    lab_fail b "ATTACHED sessions $att, active QUIC attachments $act, births\
 $born (want 2, 2 and 2)" "$dir/s1.prom"
    return 1
  fi
  # Both tunnels answered long ago: nghttp3 released on both (D49).
  if [ "$lean" != 2 ]; then
    lab_fail b "jvpn_connections_without_nghttp3 $lean (want 2)" "$dir/s1.prom"
    return 1
  fi
  if ! awk -v s="$start" -v l="$launched" -v m="$START_SLACK" \
       'BEGIN { d = s - l; exit !(s != "none" && d > -1 && d < m) }'; then
    lab_fail b "jvpn_process_start_time_seconds $start, launched at\
 $launched (want within $START_SLACK s after)" "$dir/s1.prom"
    return 1
  fi
  lab_pass b "jvpn_sessions{state=\"ATTACHED\"} 2, active QUIC attachments 2,\
 births 2, 2 connections without nghttp3; start time $start, $(awk -v s="$start" -v l="$launched" \
 'BEGIN { printf "%.2f", s - l }') s after the launch"
}
scenario_b

# --- (c) bytes and packets through a ping flood -----------------------------
# traffic NAME: a fresh scrape NAME's IP byte and packet counters, uplink
# then downlink, in T (bytes up, bytes down, packets up, packets down).
T=()
traffic() {
  local k d
  T=()
  scrape "$1" || return 1
  for k in bytes packets; do
    for d in uplink downlink; do
      value "$1" "jvpn_ip_${k}_total{direction=\"$d\"}" || return 1
      T+=("$REPLY")
    done
  done
}
scenario_c() {
  local min i
  local -a a=() b=() g=() want=()
  traffic c0 || { lab_fail c "no IP byte or packet counters" "$dir/c0.prom"; return 1; }
  a=("${T[@]}")
  ip netns exec "$c1" ping -n -q -f -c "$FLOOD" -s "$SIZE" -W 1 \
    "$LAB_SERVER_IN4" >"$dir/flood.log" 2>&1
  traffic c1 || { lab_fail c "no IP byte or packet counters" "$dir/c1.prom"; return 1; }
  b=("${T[@]}")
  # Most of the flood's echoes and replies: each is SIZE + 28 bytes.
  min=$((FLOOD * 9 / 10))
  want=("$((min * (SIZE + 28)))" "$((min * (SIZE + 28)))" "$min" "$min")
  for i in 0 1 2 3; do
    g[i]=$((b[i] - a[i]))
  done
  for i in 0 1 2 3; do
    if (( g[i] < want[i] )); then
      lab_fail c "counters grew by uplink ${g[0]} B/${g[2]} packets, downlink\
 ${g[1]} B/${g[3]} packets (want >= ${want[0]} B/$min each way)" \
        "$dir/flood.log" "$dir/c1.prom"
      return 1
    fi
  done
  lab_pass c "$FLOOD pings of $SIZE B: uplink +${g[0]} B +${g[2]} packets,\
 downlink +${g[1]} B +${g[3]} packets"
}
scenario_c

# --- (d) a NAT rebinding ------------------------------------------------------
scenario_d() {
  local s='jvpn_switches_total{reason="NAT_REBIND"}' n0 pid
  if ! scrape d0 || ! value d0 "$s"; then
    lab_fail d "no $s" "$dir/d0.prom"
    return 1
  fi
  n0=$REPLY
  # Traffic carries each client to its new NAT port.
  ip netns exec "$c1" ping -n -q -i 0.2 -c 30 "$LAB_SERVER_IN4" \
    >"$dir/rebind-ping.log" 2>&1 &
  pid=$!
  sleep 0.5
  lab_nat_flush
  if ! lab_wait_for "$s to grow" 10 grown d1 "$s" "$n0" 1; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    lab_fail d "$s stayed at $n0 after the NAT flush" "$slog" "$dir/d1.prom"
    return 1
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  lab_pass d "$s $n0 -> $REPLY"
}
scenario_d

# --- (e) a forged reattach -----------------------------------------------------
scenario_e() {
  local s='jvpn_attach_refusals_total{reason="BAD_PROOF"}' n0 a sid ver
  declare -A C=() S=()
  lab_cli_status "$dir/client1.sock" C || { lab_fail e "no client1 session"; return 1; }
  sid=${C[session]}
  lab_srv_session "$dir/server.sock" "$sid" S ||
    { lab_fail e "the server does not list $sid"; return 1; }
  ver=${S[version]}
  if ! scrape e0 || ! value e0 "$s"; then
    lab_fail e "no $s" "$dir/e0.prom"
    return 1
  fi
  n0=$REPLY
  # The stolen identity: client1's own key pair, on client2's host.
  mkdir -p "$dir/stolen" &&
    cp "$dir/client1/key.pem" "$dir/client1/cert.pem" "$dir/stolen/"
  a=$(ip netns exec "$c2" timeout 15 "$ATTACH_PROBE" \
    --server 198.18.3.2:443 --key "$dir/stolen/key.pem" \
    --cert "$dir/stolen/cert.pem" --server-pin "${LAB_PIN[server]}" \
    --timeout 5 --forge "$sid" --nonce 1000 --version "$ver" \
    2>>"$dir/attack.log")
  if [ "$a" != "status 403" ]; then
    lab_fail e "forged reattach: '$a' (want 'status 403')" "$dir/attack.log"
    return 1
  fi
  if ! scrape e1 || ! value e1 "$s" || [ "$REPLY" != $((n0 + 1)) ]; then
    lab_fail e "$s $n0 -> ${REPLY:-none} (want $((n0 + 1)))" "$dir/e1.prom"
    return 1
  fi
  lab_pass e "forged reattach -> 403; $s $n0 -> $REPLY"
}
scenario_e

# --- (r) RTT and loss of the active paths --------------------------------------
scenario_r() {
  local rtt loss
  scrape r0 || { lab_fail r "scrape failed"; return 1; }
  value r0 jvpn_path_rtt_seconds_count && rtt=$REPLY || rtt=none
  value r0 jvpn_path_loss_ratio_count && loss=$REPLY || loss=none
  if [ "$rtt" != 2 ] || [ "$loss" = none ] || [ "$loss" -lt 1 ]; then
    lab_fail r "jvpn_path_rtt_seconds_count $rtt (want 2),\
 jvpn_path_loss_ratio_count $loss (want >= 1)" "$dir/r0.prom"
    return 1
  fi
  value r0 'jvpn_path_rtt_seconds{quantile="0.5"}'
  lab_pass r "jvpn_path_rtt_seconds_count 2 (median ${REPLY} s),\
 jvpn_path_loss_ratio_count $loss"
}
scenario_r

# --- (s) a spoofed inner source -------------------------------------------------
scenario_s() {
  local s='jvpn_drops_total{cause="spoofed_source"}' n0 npings=3
  if ! scrape sp0 || ! value sp0 "$s"; then
    lab_fail s "no $s" "$dir/sp0.prom"
    return 1
  fi
  n0=$REPLY
  ip -n "$c1" addr add "$SPOOF/32" dev "$LAB_TUN" ||
    { lab_fail s "could not add $SPOOF to client1's $LAB_TUN"; return 1; }
  ip netns exec "$c1" ping -n -q -c "$npings" -i 0.2 -w 3 -I "$SPOOF" \
    "$LAB_SERVER_IN4" >"$dir/spoof.log" 2>&1
  ip -n "$c1" addr del "$SPOOF/32" dev "$LAB_TUN"
  if ! lab_wait_for "$s to grow" 5 grown sp1 "$s" "$n0" "$npings"; then
    lab_fail s "$s $n0 -> ${REPLY:-none} after $npings pings from $SPOOF" \
      "$dir/sp1.prom" "$slog"
    return 1
  fi
  lab_pass s "$npings pings from $SPOOF: $s $n0 -> $REPLY"
}
scenario_s

# --- (t) TCP fallback and the return to QUIC ----------------------------------
# on_transport T: both clients' sessions go over T (quic or tcp) now.
on_transport() {
  local n
  declare -A C=()
  for n in 1 2; do
    lab_cli_status "$dir/client$n.sock" C && [ "${C[transport]}" = "$1" ] ||
      return 1
  done
}
# moved NAME REASON R0 S0: a fresh scrape NAME shows jvpn_reattaches_total
# at R0 + 2 or more and the switches of REASON at S0 + 2 (lab_wait_for).
moved() {
  grown "$1" jvpn_reattaches_total "$3" 2 &&
    value "$1" "jvpn_switches_total{reason=\"$2\"}" && [ "$REPLY" = $(($4 + 2)) ]
}
# scenario_t_step NAME REASON TRANSPORT: UDP blocked (TRANSPORT tcp) or
# allowed again (quic), both clients' sessions move there (the router
# carries both), and the scrapes NAME0 (before) and NAME1 (after) show two
# more reattaches and two more switches of REASON; what moved in STEP.
STEP=
scenario_t_step() {
  local name=$1 why=$2 to=$3 r0 s0
  if ! scrape "${name}0" || ! value "${name}0" jvpn_reattaches_total; then
    lab_fail t "no jvpn_reattaches_total" "$dir/${name}0.prom"
    return 1
  fi
  r0=$REPLY
  value "${name}0" "jvpn_switches_total{reason=\"$why\"}" ||
    { lab_fail t "no $why switches" "$dir/${name}0.prom"; return 1; }
  s0=$REPLY
  if [ "$to" = tcp ]; then
    lab_udp_block 1 || { lab_fail t "cannot block UDP in the router"; return 1; }
  else
    lab_udp_block 0
  fi
  if ! lab_wait_for "both clients on $to" 10 on_transport "$to"; then
    lab_fail t "the clients not on $to 10 s after the router's change" \
      "$dir/client1.log" "$dir/client2.log" "$slog"
    return 1
  fi
  if ! lab_wait_for "the counters" 5 moved "${name}1" "$why" "$r0" "$s0"; then
    value "${name}1" jvpn_reattaches_total
    lab_fail t "$why: reattaches $r0 -> ${REPLY:-none}, switches $s0 ->\
 $(value "${name}1" "jvpn_switches_total{reason=\"$why\"}"; echo "$REPLY")\
 (want +2 each)" "$dir/${name}1.prom" "$slog"
    return 1
  fi
  value "${name}1" jvpn_reattaches_total
  STEP="jvpn_reattaches_total $r0 -> $REPLY,\
 jvpn_switches_total{reason=\"$why\"} $s0 -> $((s0 + 2))"
}
scenario_t() {
  local s='jvpn_attachments{role="active",transport="tcp"}' fall
  scenario_t_step tf TCP_FALLBACK tcp || { lab_udp_block 0; return 1; }
  fall=$STEP
  if ! value tf1 "$s" || [ "$REPLY" != 2 ]; then
    lab_udp_block 0
    lab_fail t "$s ${REPLY:-none} on TCP (want 2)" "$dir/tf1.prom"
    return 1
  fi
  scenario_t_step tq QUIC_RETURN quic || return 1
  lab_pass t "UDP blocked: $fall, $s 2; UDP back: $STEP"
}
scenario_t
# --- (f) the last scrape -------------------------------------------------------
scenario_f() {
  local code written
  if ! scrape f0; then
    lab_fail f "scrape failed: $(cat "$dir/f0.err")" "$slog"
    return 1
  fi
  if ! promtool_ok f0; then
    lab_fail f "promtool check metrics: $REPLY" "$dir/f0.prom"
    return 1
  fi
  value f0 jvpn_audit_records_written_total && written=$REPLY || written=0
  if [ "$written" -lt 1 ]; then
    lab_fail f "jvpn_audit_records_written_total $written" "$dir/f0.prom"
    return 1
  fi
  code=$(ip netns exec "$sv" curl -s -o /dev/null -w '%{http_code}' \
    --max-time 5 "http://127.0.0.1:$PORT/other")
  if [ "$code" != 404 ]; then
    lab_fail f "/other answered $code (want 404)"
    return 1
  fi
  lab_pass f "promtool check metrics: no problems; $written audit records;\
 /other 404"
}
scenario_f

# --- (p) per-session series, turned on by a reload ----------------------------
# per_session_listed NAME: a fresh scrape NAME has one jvpn_session_info
# line per client (for lab_wait_for).
per_session_listed() {
  scrape "$1" &&
    [ "$(grep -c '^jvpn_session_info{session="' "$dir/$1.prom")" = 2 ]
}
scenario_p() {
  if grep -q '^jvpn_session_info' "$dir/f0.prom"; then
    lab_fail p "per-session series before metrics_per_session = on" \
      "$dir/f0.prom"
    return 1
  fi
  sed -i 's|^\[server\]$|[server]\nmetrics_per_session = on|' \
    "$dir/server.conf"
  # The server reads it again as nobody: the file holds no secret (the
  # keys stay 0600 in their own directories).
  chmod o+x "$dir" && chmod o+r "$dir/server.conf"
  lab_kill "$server_pid" HUP
  if ! lab_wait_for "per-session series" 5 per_session_listed p0; then
    lab_fail p "no jvpn_session_info per client after the reload" \
      "$dir/p0.prom" "$slog"
    return 1
  fi
  if ! grep -q '^jvpn_session_info{.*peer="client1",state="ATTACHED",transport="quic"} 1$' \
       "$dir/p0.prom" ||
     ! grep -q '^jvpn_session_path_rtt_seconds{session="[^"]*",peer="client2"} ' \
       "$dir/p0.prom"; then
    lab_fail p "per-session lines not as expected" "$dir/p0.prom"
    return 1
  fi
  if ! promtool_ok p0; then
    lab_fail p "promtool check metrics: $REPLY" "$dir/p0.prom"
    return 1
  fi
  lab_pass p "after SIGHUP with metrics_per_session = on: jvpn_session_info\
 and jvpn_session_path_rtt_seconds for both sessions; promtool: no problems"
}
scenario_p

# (g) the endpoint goes with the server: SIGTERM, exit 0 (a sanitizer
# build checks the shutdown for leaks), nothing listens any more.
if ! lab_pid_alive "$server_pid"; then
  lab_fail g "the server exited (a call seccomp refused?)" "$slog"
elif ! lab_vpn_stop "$server_pid" "$sv" server; then
  lab_fail g "$REPLY" "$slog"
elif ip netns exec "$sv" curl -s -o /dev/null --max-time 2 "$URL"; then
  lab_fail g "$URL still answers after the server exited"
else
  lab_pass g "SIGTERM: exit 0, the endpoint closed"
fi
lab_check_sanitizers "$dir"

lab_test_summary
