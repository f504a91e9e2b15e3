# shellcheck shell=bash
# interop/lib/checks.sh: what each test case must show on the wire, after
# quic-interop-runner's testcases.py (read for its rules, written anew).
# Sourced by interop/run-local.sh.
#
#   iop_trace_facts PCAP KEYLOG SERVER_ADDR OUT   one tshark pass -> OUT
#   iop_verdict CASE FACTS NFILES ALPN [HAVE_KEYS]
#       VERDICT=pass|fail|unsupported, REASON=why (and, on pass, what was
#       seen)
# shellcheck disable=SC2034 # VERDICT and REASON are for the caller

# Datagrams the client of the datagram case sends (and wants back).
IOP_DGRAMS=${JVPN_INTEROP_DATAGRAMS:-50}

# The order is trace.awk's column numbers.
IOP_TSHARK_FIELDS=(
  frame.number frame.time_relative ip.src ip.dst udp.srcport udp.dstport
  udp.length ip.dsfield.ecn quic.long.packet_type quic.version quic.scid
  quic.dcid quic.token_length quic.token quic.retry_token quic.key_phase
  quic.header_form tls.handshake.type tls.handshake.ciphersuites
  tls.handshake.ciphersuite tls.handshake.certificates_length
  tls.handshake.extensions.psk.identity.selected
  tls.handshake.extensions_alpn_str quic.path_challenge.data
  quic.path_response.data quic.ack.ect0_count quic.ack.ect1_count
  quic.crypto.offset quic.crypto.length quic.long.packet_type_v2
  quic.frame_type
)
IOP_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

iop_trace_facts() {
  local pcap=$1 keylog=$2 server=$3 out=$4 f args=()
  for f in "${IOP_TSHARK_FIELDS[@]}"; do args+=(-e "$f"); done
  if [ -s "$keylog" ]; then
    args+=(-o "tls.keylog_file:$keylog")
  fi
  # QUIC only: not the ICMP errors that quote it, nor capture markers.
  tshark -n -r "$pcap" -d udp.port==443,quic -Y "udp.port == 443 && !icmp" \
    -T fields \
    -E separator=/t -E occurrence=a -E aggregator=, "${args[@]}" \
    2>"$out.tshark.err" |
    awk -v server="$server" -f "$IOP_LIB/trace.awk" >"$out"
}

# Facts are read into the associative array F.
declare -gA F=()
iop_read_facts() {
  local k v
  F=()
  while IFS='=' read -r k v; do
    F[$k]=$v
  done <"$1"
}

iop_fail() { VERDICT=fail; REASON=$1; }
iop_unsup() { VERDICT=unsupported; REASON=$1; }

# The checks most cases share: the number of handshakes, QUIC v1 only,
# the ALPN offered, and no Retry unless asked for.
iop_common() {
  local want_hs=$1 alpn=$2
  if [ "${F[handshakes]}" != "$want_hs" ]; then
    iop_fail "expected $want_hs handshake(s), saw ${F[handshakes]}"
    return 1
  fi
  if [ "${F[versions]}" != 0x00000001 ]; then
    iop_fail "expected QUIC v1 (0x00000001) only, server Initials had '${F[versions]}'"
    return 1
  fi
  case " ${F[alpn]} " in
    *" $alpn "*) ;;
    *) iop_fail "client did not offer ALPN $alpn (offered '${F[alpn]}')"
       return 1 ;;
  esac
  return 0
}

iop_need_keys() {
  if [ "$1" != 1 ]; then
    iop_unsup "cannot check: no SSLKEYLOGFILE lines from either endpoint"
    return 1
  fi
}

# iop_zrtt_facts PCAP KEYLOG SERVER_ADDR >>FACTS: the runner's zerortt
# sizes, "c1rtt_payload=N": the bytes of protected payload of the
# client's short-header (1-RTT) packets, coalesced ones included (the
# runner's _payload_size over get_1rtt(FROM_CLIENT)). A pass of its own:
# the payload bytes are only worth printing for this case.
iop_zrtt_facts() {
  local pcap=$1 keylog=$2 server=$3 args=()
  [ -s "$keylog" ] && args+=(-o "tls.keylog_file:$keylog")
  tshark -n -r "$pcap" -d udp.port==443,quic \
    -Y "udp.port == 443 && !icmp && ip.src != $server && quic.header_form == 0" \
    -T fields -E occurrence=a -E aggregator=, -e quic.header_form \
    -e quic.protected_payload "${args[@]}" 2>/dev/null |
    awk -F'\t' '{
      nh = split($1, h, ","); np = split($2, pl, ",")
      # protected_payload exists for short headers only, in order.
      for (i = 1; i <= np; i++) n += length(pl[i]) / 2
    } END { print "c1rtt_payload=" n + 0 }'
}

# iop_verdict CASE FACTS NFILES ALPN HAVE_KEYS
#
# Each case quotes the condition of quic-interop-runner's testcases.py
# (master, with the path-based rebinding checks; "f7fecbc" is the older
# upstream version that still had the per-change rule and disabled the
# rebind and migration cases) that it implements. Common to all: the
# client's files arrived whole (run-local.sh), _check_version_and_files
# ("len(versions) != 1" or "QUIC_VERSION not in versions" fails, over the
# server's Initials) and _count_handshakes (distinct SCIDs of the server's
# Initials).
iop_verdict() {
  local tc=$1 n=$3 alpn=$4 keys=${5:-0}
  local ce se
  iop_read_facts "$2"
  VERDICT=pass
  REASON=""
  case "$tc" in
    handshake)
      # "if self._retry_sent(): FAILED"; "if num_handshakes != 1: FAILED"
      iop_common 1 "$alpn" || return 0
      if [ "${F[retries]}" -gt 0 ]; then iop_fail "unexpected Retry"; return 0; fi
      REASON="1 handshake, v1, ALPN $alpn" ;;
    transfer|transferloss|blackhole|http3)
      # "if num_handshakes != 1: FAILED"
      iop_common 1 "$alpn" || return 0
      REASON="1 handshake, v1, ALPN $alpn" ;;
    datagram)
      # Ours, not the runner's (RFC 9221): the client exits 0 only when
      # every datagram came back (run-local.sh); on the wire both sides
      # must have sent DATAGRAM frames, at least one per datagram.
      iop_common 1 "$alpn" || return 0
      if [ "${F[c_dgram]:-0}" -lt "$IOP_DGRAMS" ] ||
         [ "${F[s_dgram]:-0}" -lt "$IOP_DGRAMS" ]; then
        iop_fail "DATAGRAM frames client ${F[c_dgram]:-0}, server ${F[s_dgram]:-0}, want >= $IOP_DGRAMS each way"
        return 0
      fi
      REASON="$IOP_DGRAMS datagrams echoed; DATAGRAM frames client ${F[c_dgram]}, server ${F[s_dgram]}" ;;
    multiconnect|handshakeloss)
      # "if num_handshakes != self._num_runs: FAILED" (one per file)
      iop_common "$n" "$alpn" || return 0
      REASON="$n handshakes, one per file" ;;
    retry)
      # "if len(tokens) == 0: ... Didn't find any Retry packets"; an
      # Initial "token in tokens" must follow (and no packet number reset).
      iop_common 1 "$alpn" || return 0
      if [ "${F[retries]}" -eq 0 ]; then iop_fail "no Retry from the server"; return 0; fi
      if [ "${F[retry_token_used]}" -eq 0 ]; then
        iop_fail "no client Initial carried the Retry's token"; return 0
      fi
      REASON="Retry seen, its token echoed in the next Initial" ;;
    resumption)
      # "if not self._keylog_file(): UNSUPPORTED"; "num_handshakes != 2";
      # a Certificate in the first handshake, none in the second. Without
      # keys we still judge by the PSK the second ServerHello selects.
      iop_common 2 "$alpn" || return 0
      if [ "${F[psk_selected]}" -lt 1 ]; then
        iop_fail "the second ServerHello selected no PSK (not resumed)"; return 0
      fi
      if [ "$keys" = 1 ] && [ "${F[cert_msgs]}" -ne 1 ]; then
        iop_fail "expected a Certificate in the first handshake only, saw ${F[cert_msgs]}"
        return 0
      fi
      REASON="2 handshakes, the second resumed (PSK selected"
      [ "$keys" = 1 ] && REASON+=", no Certificate"
      REASON+=")" ;;
    zerortt)
      # "num_handshakes != 2"; "if zeroRTTSize == 0: FAILED"; "if
      # oneRTTSize > 0.5 * self.FILENAMELEN * self.NUM_FILES: FAILED", the
      # sizes being payload bytes (_payload_size), 0.5 * 250 * 40 = 5000.
      iop_common 2 "$alpn" || return 0
      if [ "${F[zrtt_pkts]}" -eq 0 ]; then iop_fail "client sent no 0-RTT packets"; return 0; fi
      if [ "${F[c1rtt_payload]:-0}" -gt 5000 ]; then
        iop_fail "client sent ${F[c1rtt_payload]} bytes of 1-RTT payload (the runner allows 0.5 x 250 x 40 = 5000); ${F[zrtt_pkts]} 0-RTT packets"
        return 0
      fi
      REASON="${F[zrtt_pkts]} 0-RTT packets (${F[zrtt_bytes]} bytes), ${F[c1rtt_payload]:-0} bytes of client 1-RTT payload (<= 5000)" ;;
    chacha20)
      # "if len(set(ciphersuites)) != 1 or ciphersuites[0] != '4867'"
      # over the client's Initials (4867 = 0x1303). pyshark's attribute is
      # the first suite of each ClientHello; we read them all, but leave
      # out the signalling values that are not ciphers (0x00ff, the
      # renegotiation SCSV rustls sends, and GREASE 0x?a?a). We also want
      # the ServerHello to pick it.
      iop_common 1 "$alpn" || return 0
      # shellcheck disable=SC2086 # one suite a word
      ce=$(printf '%s\n' ${F[ch_suites]} |
        grep -Eiv '^0x(00ff|[0-9a-f]a[0-9a-f]a)$' | tr '\n' ' ')
      ce=${ce% }
      if [ "$ce" != 0x1303 ]; then
        iop_fail "ClientHello offered '${F[ch_suites]}', not only 0x1303"; return 0
      fi
      if [ "${F[sh_suites]}" != 0x1303 ]; then
        iop_fail "ServerHello chose '${F[sh_suites]}'"; return 0
      fi
      REASON="TLS_CHACHA20_POLY1305_SHA256 offered alone and chosen" ;;
    keyupdate)
      # "if not self._keylog_file(): UNSUPPORTED"; "succeeded =
      # client[1] * server[1] > 0" (1-RTT packets with key phase 1).
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      if [ "${F[c_kp1]}" -eq 0 ] || [ "${F[s_kp1]}" -eq 0 ]; then
        iop_fail "key phase 1: client ${F[c_kp1]}, server ${F[s_kp1]} packets (both must be > 0)"
        return 0
      fi
      REASON="key phase 1: client ${F[c_kp1]}, server ${F[s_kp1]} packets" ;;
    v2)
      # "if QUIC_V2 not in versions" of the server's Initials (QUIC_V2 =
      # 0x6b3343cf), v1 in the client's first Initial, v2 only in both
      # sides' Handshake packets. quic-go 0.29 (and ngtcp2 before 1.0)
      # know only draft v2 (0x709a50c4): that is not the runner's v2, so
      # such a cell is unsupported, with that reason.
      case " ${F[versions]} " in
        *" 0x6b3343cf "*) REASON="server Initials in QUIC v2 (0x6b3343cf)" ;;
        *" 0x709a50c4 "*)
          iop_unsup "negotiated draft v2 (0x709a50c4) only, not RFC 9369 v2" ;;
        *) iop_fail "no v2 Initial from the server (versions '${F[versions]}')" ;;
      esac ;;
    rebind-port|rebind-addr|connectionmigration)
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      # rebind-addr: "if len(ips) <= 1: ... Server saw only a single
      # client IP address in use" (destinations of the server's packets).
      if [ "$tc" = rebind-addr ] && [ "${F[caddrs]}" -le 1 ]; then
        iop_fail "the server saw one client address only"; return 0
      fi
      # "if last != cur and cur not in paths: ... if hasattr(p['quic'],
      # 'path_challenge.data') is False: FAILED" (trace.awk's paths).
      if [ "${F[no_challenge]}" -gt 0 ]; then
        REASON="${F[no_challenge]} of ${F[migrations]} moves to a new path: the server's first packet there had no PATH_CHALLENGE"
        [ "${F[ack_first]}" -gt 0 ] &&
          REASON+=" (${F[ack_first]} of them ACK-only, which RFC 9000 9.3 allows but the runner does not)"
        [ "${F[undecrypted]:-0}" -gt 0 ] &&
          REASON+=" (${F[undecrypted]} of them not decryptable by tshark: a zero-length DCID on a new address; check the server's qlog)"
        iop_fail "$REASON"
        return 0
      fi
      # "if len(paths) <= 1: ... Server saw only a single path in use"
      if [ "${F[paths]}" -le 1 ]; then
        iop_fail "the server saw a single path only (no rebinding or migration took effect)"
        return 0
      fi
      # "unresponded = [c for c in challenges if c not in responses]",
      # challenges being those of the first packets on new paths.
      if [ "${F[unresponded]}" -gt 0 ]; then
        iop_fail "${F[unresponded]} PATH_CHALLENGE(s) opening a new path without PATH_RESPONSE"; return 0
      fi
      # connectionmigration: "if dcid == getattr(p['quic'], 'dcid'):
      # ... used previous DCID" on the client's first packet on a new path.
      if [ "$tc" = connectionmigration ] && [ "${F[cm_same_dcid]}" -gt 0 ]; then
        iop_fail "the client kept its DCID on a new path"; return 0
      fi
      REASON="${F[paths]} paths, ${F[migrations]} move(s), each opened by a PATH_CHALLENGE that was answered"
      if [ "${F[unanswered_other]}" -gt 0 ]; then
        REASON+="; ${F[unanswered_other]} other challenge(s) unanswered (to paths no longer in use; the runner ignores them)"
      fi
      if [ "$tc" = connectionmigration ] && [ "${F[cm_kept_dcid]}" -gt 0 ]; then
        REASON+="; NOTE: the client's first packet on a new path had the DCID of its packet before (RFC 9000 9.5 wants a new one; the runner compares with the DCID of the previous move)"
      fi ;;
    amplificationlimit)
      # "if not self._keylog_file(): UNSUPPORTED"; "if max_handshake_offset
      # < 7500: FAILED"; "if packet_size >= allowed_with_tolerance: ...
      # violated" until the client's first Handshake packet.
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      if [ "${F[max_crypto]}" -lt 7500 ]; then
        iop_fail "server sent only ${F[max_crypto]} bytes of CRYPTO (the 9-certificate chain not used?)"
        return 0
      fi
      if [ "${F[amp]}" != ok ]; then
        iop_fail "amplification ${F[amp]}: server sent ${F[amp_server_sent]} bytes for ${F[amp_client_initial]} from the client before validation"
        return 0
      fi
      REASON="server sent ${F[amp_server_sent]} bytes for ${F[amp_client_initial]} before validation (<= 3x+1 pkt)" ;;
    ecn)
      # TestCaseECN(TestCaseHandshake): "if not self._keylog_file():
      # UNSUPPORTED"; the handshake checks (no Retry, 1 handshake); per
      # direction "_check_ecn_marks: e[ECN.CE] == 0 and (e[ECN.ECT0] != 0
      # or e[ECN.ECT1] != 0)" over the IP ECN field of all its QUIC
      # datagrams, and "_check_ack_ecn": any ACK frame with ECN counts
      # (ack.ect0_count) from each side. (f7fecbc also wanted
      # e[ECN.NONE] == 0 and one ECT kind only; the unmarked count is
      # reported.)
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      if [ "${F[retries]}" -gt 0 ]; then iop_fail "unexpected Retry"; return 0; fi
      ce=${F[c_ecn]}
      se=${F[s_ecn]}
      if ! iop_ecn_ok "$ce"; then
        iop_fail "client's IP ECN marks (none/ect1/ect0/ce) $ce: no ECT or some CE"; return 0
      fi
      if ! iop_ecn_ok "$se"; then
        iop_fail "server's IP ECN marks (none/ect1/ect0/ce) $se: no ECT or some CE"; return 0
      fi
      if [ "${F[c_ackecn]}" -eq 0 ] || [ "${F[s_ackecn]}" -eq 0 ]; then
        iop_fail "ACK frames with ECN counts: client ${F[c_ackecn]}, server ${F[s_ackecn]} (both must be > 0)"; return 0
      fi
      REASON="ECN marks (none/ect1/ect0/ce) client $ce, server $se; ACK-ECN both ways"
      if [ "${ce%%/*}" -gt 0 ] || [ "${se%%/*}" -gt 0 ]; then
        REASON+=" (unmarked: client ${F[c_noecn_probe]}, server ${F[s_noecn_probe]} of them PING+PADDING probes; f7fecbc would fail any)"
      fi ;;
    *) iop_unsup "no check for test case '$tc'" ;;
  esac
}

# iop_ecn_ok N0/N1/N2/N3: no CE, some ECT(0) or ECT(1).
iop_ecn_ok() {
  local n0 n1 n2 n3
  IFS=/ read -r n0 n1 n2 n3 <<<"$1"
  [ "$n3" -eq 0 ] && [ $((n1 + n2)) -gt 0 ]
}
