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

# iop_verdict CASE FACTS NFILES ALPN HAVE_KEYS
iop_verdict() {
  local tc=$1 n=$3 alpn=$4 keys=${5:-0}
  local ce se
  iop_read_facts "$2"
  VERDICT=pass
  REASON=""
  case "$tc" in
    handshake)
      iop_common 1 "$alpn" || return 0
      if [ "${F[retries]}" -gt 0 ]; then iop_fail "unexpected Retry"; return 0; fi
      REASON="1 handshake, v1, ALPN $alpn" ;;
    transfer|transferloss|blackhole|http3)
      iop_common 1 "$alpn" || return 0
      REASON="1 handshake, v1, ALPN $alpn" ;;
    multiconnect|handshakeloss)
      iop_common "$n" "$alpn" || return 0
      REASON="$n handshakes, one per file" ;;
    retry)
      iop_common 1 "$alpn" || return 0
      if [ "${F[retries]}" -eq 0 ]; then iop_fail "no Retry from the server"; return 0; fi
      if [ "${F[retry_token_used]}" -eq 0 ]; then
        iop_fail "no client Initial carried the Retry's token"; return 0
      fi
      REASON="Retry seen, its token echoed in the next Initial" ;;
    resumption)
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
      iop_common 2 "$alpn" || return 0
      if [ "${F[zrtt_pkts]}" -eq 0 ]; then iop_fail "client sent no 0-RTT packets"; return 0; fi
      # The runner's bound: the requests must not go in 1-RTT.
      if [ "${F[c1rtt_bytes]}" -gt 5000 ] && [ "$n" -ge 40 ]; then
        iop_fail "client sent ${F[c1rtt_bytes]} bytes in 1-RTT (> 5000)"; return 0
      fi
      REASON="${F[zrtt_pkts]} 0-RTT packets (${F[zrtt_bytes]} bytes)" ;;
    chacha20)
      iop_common 1 "$alpn" || return 0
      if [ "${F[ch_suites]}" != 0x1303 ]; then
        iop_fail "ClientHello offered '${F[ch_suites]}', not only 0x1303"; return 0
      fi
      if [ "${F[sh_suites]}" != 0x1303 ]; then
        iop_fail "ServerHello chose '${F[sh_suites]}'"; return 0
      fi
      REASON="TLS_CHACHA20_POLY1305_SHA256 offered alone and chosen" ;;
    keyupdate)
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      if [ "${F[c_kp1]}" -eq 0 ] || [ "${F[s_kp1]}" -eq 0 ]; then
        iop_fail "key phase 1: client ${F[c_kp1]}, server ${F[s_kp1]} packets (both must be > 0)"
        return 0
      fi
      REASON="key phase 1: client ${F[c_kp1]}, server ${F[s_kp1]} packets" ;;
    v2)
      case " ${F[versions]} " in
        *" 0x6b3343cf "*) REASON="server Initials in QUIC v2 (0x6b3343cf)" ;;
        *" 0x709a50c4 "*)
          iop_unsup "negotiated draft v2 (0x709a50c4) only: ngtcp2 0.12.1 has no RFC 9369 v2" ;;
        *) iop_fail "no v2 Initial from the server (versions '${F[versions]}')" ;;
      esac ;;
    rebind-port|rebind-addr|connectionmigration)
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      if [ "${F[ctuples]}" -le 1 ]; then
        iop_fail "the server saw one client address:port only (no rebinding took effect)"
        return 0
      fi
      if [ "$tc" = rebind-addr ] && [ "${F[caddrs]}" -le 1 ]; then
        iop_fail "the server saw one client address only"; return 0
      fi
      if [ "${F[no_challenge]}" -gt 0 ]; then
        iop_fail "${F[no_challenge]} of ${F[migrations]} new paths: the server's first ack-eliciting packet there had no PATH_CHALLENGE"
        return 0
      fi
      if [ "${F[challenges]}" -lt "${F[migrations]}" ]; then
        iop_fail "${F[migrations]} new paths but ${F[challenges]} distinct PATH_CHALLENGEs"; return 0
      fi
      if [ "${F[unresponded]}" -gt 0 ]; then
        iop_fail "${F[unresponded]} PATH_CHALLENGE(s) on a live path without PATH_RESPONSE"; return 0
      fi
      if [ "$tc" = connectionmigration ] && [ "${F[cm_same_dcid]}" -gt 0 ]; then
        iop_fail "the client kept its DCID on a new path"; return 0
      fi
      REASON="${F[migrations]} new client path(s), each challenged and answered"
      if [ "${F[ack_first]}" -gt 0 ]; then
        REASON+=" (on ${F[ack_first]} an ACK-only packet went before the PATH_CHALLENGE: the runner's stricter rule would fail it)"
      fi
      if [ "${F[unresponded_old_path]}" -gt 0 ]; then
        REASON+="; ${F[unresponded_old_path]} challenge(s) to abandoned paths unanswered"
      fi ;;
    amplificationlimit)
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
      iop_need_keys "$keys" || return 0
      iop_common 1 "$alpn" || return 0
      ce=${F[c_ecn]}
      se=${F[s_ecn]}
      # Counts are not-ECT/ECT(1)/ECT(0)/CE; all of one ECT kind, acked.
      if ! iop_ecn_ok "$ce"; then
        iop_fail "client's IP ECN marks (none/ect1/ect0/ce) $ce$(iop_probe_note "${F[c_noecn_probe]}")"; return 0
      fi
      if ! iop_ecn_ok "$se"; then
        iop_fail "server's IP ECN marks (none/ect1/ect0/ce) $se$(iop_probe_note "${F[s_noecn_probe]}")"; return 0
      fi
      if [ "${F[c_ackecn]}" -eq 0 ] || [ "${F[s_ackecn]}" -eq 0 ]; then
        iop_fail "ACK frames with ECN counts: client ${F[c_ackecn]}, server ${F[s_ackecn]}"; return 0
      fi
      REASON="ECN marks client $ce, server $se (none/ect1/ect0/ce); ACK-ECN both ways" ;;
    *) iop_unsup "no check for test case '$tc'" ;;
  esac
}

iop_probe_note() {
  [ "$1" -gt 0 ] && printf '; %s unmarked are PING+PADDING only (PMTU probes)' "$1"
  return 0
}

# iop_ecn_ok N0/N1/N2/N3: no unmarked or CE packets, one ECT kind only.
iop_ecn_ok() {
  local n0 n1 n2 n3
  IFS=/ read -r n0 n1 n2 n3 <<<"$1"
  [ "$n0" -eq 0 ] && [ "$n3" -eq 0 ] && { [ "$n1" -eq 0 ] || [ "$n2" -eq 0 ]; } &&
    [ $((n1 + n2)) -gt 0 ]
}
