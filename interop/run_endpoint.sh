#!/usr/bin/env bash
# interop/run_endpoint.sh: jvpn-quic's entry point in quic-interop-runner's
# Docker image (interop/Dockerfile), after the runner's endpoint contract:
#
#   ROLE       server | client
#   TESTCASE   the test case; an unknown one exits 127
#   REQUESTS   (client) the URLs to fetch, space separated
#   SSLKEYLOGFILE, QLOGDIR   where the key log and the qlogs go
#   /www       (server) the files to serve;  /downloads  (client) where
#              fetched files go, under their own names
#   /certs     (server) cert.pem and priv.key; the server listens on 443
#
# As the base image (martenseemann/quic-network-simulator-endpoint) asks,
# /setup.sh sets up the routes through the simulator first, and a client
# waits for the simulator with /wait-for-it.sh sim:57832 before it starts.
# The work is done by interop/jvpn-interop with the local runner's command
# line (interop/README.md), so the two runners exercise the same program.
set -euo pipefail

BIN=${JVPN_INTEROP_BIN:-/usr/local/bin/jvpn-interop}
CASES=" handshake transfer retry resumption zerortt http3 multiconnect
  chacha20 keyupdate v2 rebind-port rebind-addr connectionmigration
  transferloss handshakeloss amplificationlimit blackhole ecn datagram "

log() { printf 'run_endpoint: %s\n' "$*" >&2; }

main() {
  local role=${ROLE:-} tc=${TESTCASE:-} opts=()
  case " ${CASES//$'\n'/ } " in
    *" $tc "*) ;;
    *) log "unsupported test case '$tc'"; exit 127 ;;
  esac
  # The base image's routes via the simulator.
  if [ -x /setup.sh ]; then
    /setup.sh
  fi
  [ -n "${QLOGDIR:-}" ] && { mkdir -p "$QLOGDIR"; opts+=(--qlog-dir "$QLOGDIR"); }
  [ -n "${SSLKEYLOGFILE:-}" ] && opts+=(--keylog "$SSLKEYLOGFILE")
  case "$role" in
    server)
      log "server, test case $tc"
      # The runner gives the server "connectionmigration" and expects a
      # preferred address (its other address, here of both families).
      if [ "$tc" = connectionmigration ]; then
        opts+=(--preferred 193.167.100.100:4433
               --preferred "[fd00:cafe:cafe:100::100]:443")
      fi
      # The contract's server exits 0 on SIGTERM, which docker stop sends.
      # Our sockets are single-family: IPv4 here, as the runner's clients
      # reach "server4"; the preferred IPv6 address above covers the rest.
      exec "$BIN" server --listen "0.0.0.0:443" --cert /certs/cert.pem \
        --key /certs/priv.key --www /www --testcase "$tc" "${opts[@]}" ;;
    client)
      /wait-for-it.sh sim:57832 -s -t 30
      log "client, test case $tc, requests: ${REQUESTS:-}"
      mkdir -p /downloads
      # shellcheck disable=SC2086 # REQUESTS is a space-separated list
      exec "$BIN" client --testcase "$tc" --downloads /downloads \
        "${opts[@]}" ${REQUESTS:-} ;;
    *)
      log "ROLE must be server or client, not '$role'"
      exit 1 ;;
  esac
}

main "$@"
