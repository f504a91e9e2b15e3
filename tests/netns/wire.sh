#!/usr/bin/env bash
# tests/netns/wire.sh: a Retry round trip, read off the wire by tshark.
#
# The standard lab topology (tests/lab/lab.sh, lab_topo_vpn --no-nat),
# captured on the server's eth0 (dumpcap):
#
#   client1 198.18.1.2 ---- router ---- server 198.18.3.2 UDP 443
#                                        retry = always   ^ capture
#
#   tunnel: server jvpn0 198.18.200.1, client1 jvpn0 198.18.200.2
#
# The server proves every new address with a Retry (docs/decisions.md
# D25). Client1 attaches, pings through the tunnel, then loses its path
# for longer than the QUIC idle timeout and reattaches. The client writes
# its TLS secrets to a key log (JVPN_TEST_DUMP_KEYLOG, a test hook of
# --enable-test-hooks builds, D16), with which tshark decrypts the
# capture. In order, from client1's address:
#
#   (a) a QUIC v1 Initial without a token;
#   (b) the server's Retry: v1, to the Initial's SCID, its SCID naming the
#       server (QUIC-LB plaintext: 0x0f, server ID c0ffee), its integrity tag
#       verified by tshark (RFC 9001 5.8);
#   (c) an Initial carrying the Retry's token, to the Retry's SCID;
#   (d) the server answers in QUIC v2 (compatible version negotiation,
#       RFC 9368/9369: the client offers v2 in its version_information)
#       and its transport parameters name the first DCID
#       (original_destination_connection_id) and the Retry's SCID
#       (retry_source_connection_id); both Finished messages,
#       HANDSHAKE_DONE;
#   (e) HTTP/3 over 1-RTT: the server's SETTINGS allow extended CONNECT
#       and H3_DATAGRAM; the client's HEADERS are CONNECT with :protocol
#       connect-ip, the server's :status 200 (tshark 4.0 has no QPACK
#       decoder: the field sections are read here, see qpack_*), then
#       DATAGRAM frames both ways (the pings);
#   (f) the reattach: a v1 Initial carrying a token the server sent in a
#       NEW_TOKEN frame, no Retry, no retry_source_connection_id, and the
#       handshake completes.
#
# Exit 0 when all pass, 1 when one fails (tshark or dumpcap missing
# included: scripts/deps.sh installs them), 77 (skip) only without root,
# /dev/net/tun or 'ip netns'. Every wait is polled and bounded; the lab's
# trap removes every namespace and process. WIRE_KEEP=1 keeps the logs,
# the capture and the key log.
# shellcheck disable=SC2154 # the R_* arrays are assigned by name (COLS)
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
# shellcheck source-path=SCRIPTDIR source=../lab/lab.sh
. "$top_srcdir/tests/lab/lab.sh"

lab_require_netns
lab_test_init wire

C=198.18.1.2     # client1, not masqueraded (--no-nat)
S=198.18.3.2     # the server
V1=0x00000001
V2=0x6b3343cf
lab_quic_idle_ms
HOLE_S=$(( REPLY / 1000 + 2 )) # past the idle timeout: the connection dies

lab_find_bin ||
  lab_setup_fail "no jvpn-quic binary (set JVPN_BIN or build it first)"
lab_require_tools tshark dumpcap nft
lab_note "using $JVPN_BIN, $(tshark --version 2>/dev/null | head -n1)"

lab_test_logdir WIRE_KEEP
dir=$REPLY
slog=$dir/server.log
c1log=$dir/client1.log
cap=$dir/server-eth0.pcap
keys=$dir/client1.keys
rows=$dir/rows.txt

lab_topo_vpn --no-nat || lab_setup_fail "could not build the lab topology"
lab_gen_vpn_configs "$dir" client1 ||
  lab_setup_fail "genkey or config generation failed"
# The server's connection IDs name it (QUIC-LB plaintext, server ID c0ffee,
# configuration 0): (b) checks the Retry's SCID, the client's next DCID.
sed -i 's/^\[server\]$/[server]\nretry = always\nquic_lb_server_id = c0ffee/' \
  "$dir/server.conf"
grep -q '^retry = always$' "$dir/server.conf" ||
  lab_setup_fail "could not set retry = always in the server's config"
c1=${LAB_NS[client1]}
sv=${LAB_NS[server]}
# One datagram per captured packet: jvpn-quic sends GSO batches, which a
# capture would show as one packet.
if ! lab_gso_off "$c1" eth0 || ! lab_gso_off "$sv" eth0; then
  lab_setup_fail "could not turn GSO off"
fi

if ! lab_vpn_server_start "$slog" -c "$dir/server.conf" \
     --control "$dir/server.sock"; then
  lab_setup_fail "the server did not come up: $REPLY"
fi
lab_capture_start "$sv" eth0 "$cap" ||
  lab_setup_fail "dumpcap did not start on the server's eth0"
cap_pid=$REPLY
if ! JVPN_TEST_DUMP_KEYLOG=$keys lab_vpn_client_up "$dir" 1 ||
   ! lab_wait_tunnel "$c1" 5; then
  lab_setup_fail "client1 did not come up: $(lab_tail "$slog" "$c1log")"
fi
[ -s "$keys" ] || lab_setup_fail "client1 wrote no key log\
 (JVPN_TEST_DUMP_KEYLOG: is $JVPN_BIN built with --enable-test-hooks?)"

# The reattach: the path dies for longer than the idle timeout.
lab_count "reattached (same addresses)" "$c1log"
nre=$REPLY
lab_uplink_blackhole_on client1 1 || lab_setup_fail "nft failed"
sleep "$HOLE_S" # the fault itself, not a wait for something
lab_uplink_blackhole_off client1 1
if ! lab_wait_for "client1 to reattach" 10 lab_more_lines \
     "reattached (same addresses)" "$c1log" "$nre" ||
   ! lab_wait_tunnel "$c1" 5; then
  lab_setup_fail "client1 did not reattach: $(lab_tail "$slog" "$c1log")"
fi
lab_capture_sync "$sv" "$C" "$cap" ||
  lab_setup_fail "the capture did not catch up"
lab_capture_stop "$cap_pid"

# --- the decoded capture ---------------------------------------------------
# One row per datagram, fields separated by '|' (none holds one); a field
# that occurs more than once in a datagram (coalesced packets, several
# frames) lists its values with ','. Row i's fields land in R_<name>[i].
COLS=(
  num=frame.number src=ip.src ver=quic.version
  pt1=quic.long.packet_type pt2=quic.long.packet_type_v2
  dcid=quic.dcid scid=quic.scid toklen=quic.token_length tok=quic.token
  rtok=quic.retry_token tag=quic.retry_integrity_tag ft=quic.frame_type
  hs=tls.handshake.type chosen=tls.quic.parameter.vi.chosen_version
  other=tls.quic.parameter.vi.other_version
  odcid=tls.quic.parameter.original_destination_connection_id
  rscid=tls.quic.parameter.retry_source_connection_id
  h3=http3.frame_type h3pay=http3.frame_payload setid=http3.settings.id
  extc=http3.settings.extended_connect nt=quic.nt.token
)
TSHARK=(tshark -n -r "$cap" -o "tls.keylog_file:$keys" -d "udp.port==443,quic")
args=()
for c in "${COLS[@]}"; do
  args+=(-e "${c#*=}")
  declare -a "R_${c%%=*}=()"
done
"${TSHARK[@]}" -Y "quic && !icmp" -T fields -E separator='|' \
  -E occurrence=a -E aggregator=, "${args[@]}" >"$rows" 2>"$rows.err" ||
  lab_setup_fail "tshark could not read the capture: $(head -n3 "$rows.err")"
[ -s "$rows" ] || lab_setup_fail "tshark found no QUIC in the capture"
NROWS=0
while IFS='|' read -r -a f; do
  for k in "${!COLS[@]}"; do
    printf -v "R_${COLS[k]%%=*}[$NROWS]" '%s' "${f[k]:-}"
  done
  NROWS=$((NROWS + 1))
done <"$rows"

# has LIST VALUE: the ','-list holds VALUE.
has() { case ",$1," in *",$2,"*) return 0 ;; esac; return 1; }
first() { REPLY=${1%%,*}; }

# A long-header packet type in row i, whatever the version: v1 numbers
# Initial 0, Handshake 2, Retry 3; v2 (RFC 9369 3.2) Initial 1,
# Handshake 3, Retry 0.
is_initial() { has "${R_pt1[$1]}" 0 || has "${R_pt2[$1]}" 1; }
is_retry() { has "${R_pt1[$1]}" 3 || has "${R_pt2[$1]}" 0; }
is_v1_initial() { has "${R_ver[$1]}" "$V1" && has "${R_pt1[$1]}" 0; }

# next_row FROM SRC PRED: the first row after FROM sent by SRC for which
# "PRED row" holds, in REPLY; returns 1 when there is none.
next_row() {
  local i
  for ((i = $1 + 1; i < NROWS; i++)); do
    [ "${R_src[i]}" = "$2" ] || continue
    if "$3" "$i"; then REPLY=$i; return 0; fi
  done
  return 1
}
any() { return 0; }
finished() { has "${R_hs[$1]}" 20; }
hs_done() { has "${R_ft[$1]}" 30; }   # HANDSHAKE_DONE
datagram() { has "${R_ft[$1]}" 48 || has "${R_ft[$1]}" 49; }
new_token() { has "${R_ft[$1]}" 7; }
h3_settings() { has "${R_h3[$1]}" 4; }
h3_headers() { has "${R_h3[$1]}" 1; }

# summary I: a line of what row i is, for the log.
summary() {
  local i=$1 what="" v
  v=${R_ver[i]%%,*}
  if [ -n "$v" ]; then
    case "$v" in "$V1") what=v1 ;; "$V2") what=v2 ;; *) what=$v ;; esac
    is_retry "$i" && what+=" Retry"
    is_initial "$i" && what+=" Initial token_length=${R_toklen[i]%%,*}"
    { has "${R_pt1[i]}" 2 || has "${R_pt2[i]}" 3; } && what+=" +Handshake"
    what+=" DCID=${R_dcid[i]%%,*} SCID=${R_scid[i]%%,*}"
  else
    what="1-RTT DCID=${R_dcid[i]%%,*}"
  fi
  [ -n "${R_ft[i]}" ] && what+=" frames=${R_ft[i]}"
  [ -n "${R_hs[i]}" ] && what+=" tls=${R_hs[i]}"
  [ -n "${R_h3[i]}" ] && what+=" h3=${R_h3[i]}"
  printf 'frame %s from %s: %s' "${R_num[i]}" "${R_src[i]}" "$what"
}
show() { lab_note "$(summary "$1")"; }

# --- QPACK, the little of it needed here (RFC 9204) -------------------------
# tshark 4.0 shows HTTP/3 frames but cannot decode their field sections
# (no nghttp3 in Debian's build). jvpn-quic's QPACK uses no dynamic table,
# so a field section is: the prefix 0000, then field lines; the strings
# are Huffman-coded when that is shorter (nghttp3), with RFC 7541
# Appendix B's code.

# qpack_huff STR: STR's Huffman code in hex, in REPLY; only the characters
# of the names and values checked here are in this table.
declare -A HUFF=([:]=1011100 [-]=010110 [c]=00100 [e]=00101 [i]=00110
  [l]=101000 [n]=101010 [o]=00111 [p]=101011 [r]=101100 [t]=01001)
qpack_huff() {
  local s=$1 bits="" i
  for ((i = 0; i < ${#s}; i++)); do bits+=${HUFF[${s:i:1}]}; done
  while (( ${#bits} % 8 )); do bits+=1; done # EOS padding
  REPLY=""
  for ((i = 0; i < ${#bits}; i += 8)); do
    REPLY+=$(printf '%02x' "$((2#${bits:i:8}))")
  done
}

# qpack_has PAYLOAD NAME VALUE: the field section holds a literal field
# line NAME: VALUE, both strings Huffman-coded (NAME 3-bit length prefix,
# VALUE 7-bit; short strings only).
qpack_has() {
  local n v
  qpack_huff "$2"; n=$REPLY
  qpack_huff "$3"; v=$REPLY
  # 001 N=0 H=1 + the name's length (< 7 fits the prefix, else 7 + rest)
  local nl=$(( ${#n} / 2 )) vl=$(( ${#v} / 2 )) line
  if [ "$nl" -lt 7 ]; then
    line=$(printf '%02x' $(( 0x28 | nl )))
  else
    line=$(printf '2f%02x' $(( nl - 7 )))
  fi
  line+=$n$(printf '%02x' $(( 0x80 | vl )))$v
  case "$1" in *"$line"*) return 0 ;; esac
  return 1
}

# --- (a) - (c): the Retry round trip ---------------------------------------
check_retry() {
  local a b c tag
  if ! next_row -1 "$C" is_initial; then
    lab_fail a "no Initial from client1 ($C) in the capture" "$rows"
    return 1
  fi
  a=$REPLY
  show "$a"
  if ! is_v1_initial "$a" || [ "${R_toklen[a]%%,*}" != 0 ]; then
    lab_fail a "the first Initial is not v1 without a token: $(summary "$a")"
    return 1
  fi
  HELLO=$a
  ODCID=${R_dcid[a]%%,*}
  CSCID=${R_scid[a]%%,*}
  lab_pass a "client1's first Initial: v1, no token, DCID $ODCID"

  if ! next_row "$a" "$S" any || ! is_retry "$REPLY"; then
    lab_fail b "the server's first answer is not a Retry" "$rows"
    return 1
  fi
  b=$REPLY
  show "$b"
  RSCID=${R_scid[b]%%,*}
  RTOKEN=${R_rtok[b]}
  # first octet: config 0 << 5 | length 16 - 1; then the server ID
  if [[ $RSCID != 0fc0ffee* ]] || [ "${#RSCID}" -ne 32 ]; then
    lab_fail b "the Retry's SCID $RSCID does not name the server (want" \
      "0f c0ffee + 12 random bytes)"
    return 1
  fi
  if ! has "${R_ver[b]}" "$V1" || [ "${R_dcid[b]}" != "$CSCID" ] ||
     [ -z "$RTOKEN" ] || [ -z "${R_tag[b]}" ]; then
    lab_fail b "Retry not v1, not to the Initial's SCID $CSCID or without\
 token or tag: $(summary "$b")"
    return 1
  fi
  # tshark recomputes the tag from the first DCID; it says "[verified]"
  # or raises the expert item quic.bad_retry.
  tag=$("${TSHARK[@]}" -Y "frame.number == ${R_num[b]}" -O quic -V \
    2>/dev/null | grep 'Retry Integrity Tag:')
  if [[ $tag != *"[verified]"* ]] ||
     [ -n "$("${TSHARK[@]}" -Y quic.bad_retry -T fields -e frame.number \
       2>/dev/null)" ]; then
    lab_fail b "tshark did not verify the Retry's integrity tag: '$tag'"
    return 1
  fi
  lab_pass b "Retry v1 to $CSCID, SCID $RSCID, token ${#RTOKEN} hex digits,\
 ${tag#"${tag%%Retry*}"}"

  if ! next_row "$b" "$C" is_initial; then
    lab_fail c "no Initial from client1 after the Retry" "$rows"
    return 1
  fi
  c=$REPLY
  show "$c"
  if ! is_v1_initial "$c" || [ "${R_toklen[c]%%,*}" -eq 0 ] ||
     [ "${R_tok[c]%%,*}" != "$RTOKEN" ] || [ "${R_dcid[c]%%,*}" != "$RSCID" ]
  then
    lab_fail c "the second Initial is not v1 with the Retry's token to the\
 Retry's SCID $RSCID: $(summary "$c")"
    return 1
  fi
  lab_pass c "Initial v1 with the Retry's token (${R_toklen[c]%%,*} bytes)\
 to the Retry's SCID"
  ROW=$c
}

# --- (d) the handshake, in QUIC v2 -----------------------------------------
# handshake_v2 HELLO FROM TAG RETRY_SCID: the client's ClientHello (row
# HELLO; tshark decodes a resent one only once) offered v2 in its
# version_information; after row FROM the server answers in v2, choosing
# it, with the connection IDs expected (no retry_source_connection_id
# when RETRY_SCID is empty), then both Finished and HANDSHAKE_DONE. On
# success REPLY says what was seen and ROW is the last row looked at; on
# failure TAG fails.
handshake_v2() {
  local hello=$1 from=$2 t=$3 rscid=$4 s f d
  if ! next_row "$from" "$S" is_initial; then
    lab_fail "$t" "no Initial from the server" "$rows"
    return 1
  fi
  s=$REPLY
  show "$s"
  if ! has "${R_ver[s]}" "$V2" || ! has "${R_chosen[s]}" "$V2" ||
     ! has "${R_chosen[hello]}" "$V1" || ! has "${R_other[hello]}" "$V2"
  then
    lab_fail "$t" "not v1 (offering v2) then v2: client chose\
 '${R_chosen[hello]}' of '${R_other[hello]}', server sent '${R_ver[s]}'\
 choosing '${R_chosen[s]}'"
    return 1
  fi
  if [ "${R_odcid[s]}" != "$ODCID" ] || [ "${R_rscid[s]}" != "$rscid" ]; then
    lab_fail "$t" "transport parameters: original_destination_connection_id\
 '${R_odcid[s]}' (want $ODCID), retry_source_connection_id '${R_rscid[s]}'\
 (want '$rscid')"
    return 1
  fi
  if ! finished "$s" && ! { next_row "$s" "$S" finished && s=$REPLY; }; then
    lab_fail "$t" "no server Finished decrypted (key log?)" "$rows"
    return 1
  fi
  if ! next_row "$s" "$C" finished; then
    lab_fail "$t" "no client Finished decrypted" "$rows"
    return 1
  fi
  f=$REPLY
  show "$f"
  if ! next_row "$s" "$S" hs_done; then
    lab_fail "$t" "no HANDSHAKE_DONE from the server" "$rows"
    return 1
  fi
  d=$REPLY
  show "$d"
  ROW=$(( f > d ? f : d ))
  REPLY="client v1 offering v2 (versions ${R_other[hello]}), server v2;\
 original_dcid $ODCID, retry_scid ${rscid:-none}; Finished both ways,\
 HANDSHAKE_DONE"
}

# --- (e) HTTP/3 and CONNECT-IP ----------------------------------------------
check_h3() {
  local from=$1 s q r pay
  if ! next_row "$from" "$S" h3_settings; then
    lab_fail e "no SETTINGS from the server" "$rows"
    return 1
  fi
  s=$REPLY
  # ENABLE_CONNECT_PROTOCOL (0x08, RFC 8441/9220), H3_DATAGRAM (0x33)
  if [ "${R_extc[s]}" != 1 ] || ! has "${R_setid[s]}" 51; then
    lab_fail e "server SETTINGS without extended CONNECT or H3_DATAGRAM:\
 ids '${R_setid[s]}', extended_connect '${R_extc[s]}'"
    return 1
  fi
  if ! next_row "$from" "$C" h3_headers; then
    lab_fail e "no HEADERS from client1" "$rows"
    return 1
  fi
  q=$REPLY
  show "$q"
  first "${R_h3pay[q]}"
  pay=$REPLY
  # 0000: no dynamic table; cf: static entry 15, ":method: CONNECT"
  if [[ $pay != 0000cf* ]] || ! qpack_has "$pay" :protocol connect-ip; then
    lab_fail e "client1's HEADERS are not CONNECT :protocol connect-ip: $pay"
    return 1
  fi
  if ! next_row "$q" "$S" h3_headers; then
    lab_fail e "no HEADERS from the server" "$rows"
    return 1
  fi
  r=$REPLY
  show "$r"
  first "${R_h3pay[r]}"
  # d9: static entry 25, ":status: 200"
  if [[ $REPLY != 0000d9* ]]; then
    lab_fail e "the server's HEADERS are not :status 200: $REPLY"
    return 1
  fi
  if ! next_row "$r" "$C" datagram || ! next_row "$r" "$S" datagram; then
    lab_fail e "no DATAGRAM frames both ways after the CONNECT" "$rows"
    return 1
  fi
  lab_pass e "SETTINGS extended CONNECT + H3_DATAGRAM; HEADERS :method\
 CONNECT :protocol connect-ip -> :status 200; DATAGRAM frames both ways"
}

# --- (f) the reattach: a NEW_TOKEN instead of a Retry -------------------------
check_token() {
  local from=$1 i n tokens="" nretry=0
  for ((i = 0; i < NROWS; i++)); do
    is_retry "$i" && nretry=$((nretry + 1))
    if [ "${R_src[i]}" = "$S" ] && new_token "$i"; then
      tokens+=",${R_nt[i]}"
    fi
  done
  if ! next_row "$from" "$C" is_v1_initial; then
    lab_fail f "no new Initial from client1 after the blackhole" "$rows"
    return 1
  fi
  n=$REPLY
  show "$n"
  if [ "${R_toklen[n]%%,*}" -eq 0 ] || ! has "$tokens" "${R_tok[n]%%,*}"; then
    lab_fail f "the reattach's Initial does not carry a NEW_TOKEN of the\
 server: $(summary "$n")"
    return 1
  fi
  if [ "$nretry" -ne 1 ]; then
    lab_fail f "$nretry Retry packets in the capture, want the first one only"
    return 1
  fi
  ODCID=${R_dcid[n]%%,*}
  handshake_v2 "$n" "$n" f "" || return 1
  lab_pass f "reattach: Initial v1 with a NEW_TOKEN (${R_toklen[n]%%,*}\
 bytes), no Retry; $REPLY"
}

ROW=0
if check_retry && handshake_v2 "$HELLO" "$ROW" d "$RSCID"; then
  lab_pass d "$REPLY"
  check_h3 "$ROW"
  check_token "$ROW"
fi

lab_test_summary
