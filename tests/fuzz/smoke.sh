#!/usr/bin/env bash
# tests/fuzz/smoke.sh: builds every libFuzzer harness and runs each for a
# short while on a copy of its seed corpus (the `make check` fuzz smoke
# test; `make fuzz` runs it longer).
#
# Environment: top_srcdir, top_builddir (set by the automake harness; the
# repository holding this script otherwise), CLANG (a clang with
# libFuzzer; else the one on PATH), FUZZ_SECONDS (per harness, default 10).
# Exits 77 (skip) without clang, 1 if any harness fails to build or finds a
# crash, leak or timeout. Crash inputs are kept in
# $top_builddir/tests/fuzz/build/artifacts/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
top_srcdir=${top_srcdir:-$repo}
top_builddir=${top_builddir:-$repo}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

# harness -> the module sources it links (everything else comes from the
# harness file itself).
harness_sources() {
  case "$1" in
  fuzz_capsule)
    echo "quic/capsule.c quic/connect_ip.c quic/connect_ip_dns.c" \
      "src/varint.c src/errors.c" ;;
  fuzz_h3_datagram)
    echo "quic/h3_datagram.c src/varint.c src/errors.c" ;;
  fuzz_h3_frame)
    echo "quic/h3_frame.c src/varint.c src/errors.c" ;;
  fuzz_config)
    echo "src/config.c src/pin.c src/b64.c src/policy.c src/errmsg.c" \
      "src/uplink.c src/session.c src/proof.c src/session_table.c" \
      "src/errors.c src/log.c src/varint.c quic/connect_ip_dns.c" ;;
  fuzz_session_wire)
    echo "src/session_wire.c src/b64.c src/varint.c src/errors.c" \
      "src/log.c" ;;
  fuzz_interop_parse)
    echo "interop/interop_parse.c" ;;
  fuzz_store_record)
    echo "src/store_record.c src/session.c src/policy.c src/proof.c" \
      "src/errmsg.c src/errors.c src/log.c" ;;
  fuzz_quic_pkt)
    echo "quic/quic_pkt.c quic/quic_lb.c src/errors.c" ;;
  fuzz_vnet)
    echo "tun/vnet.c tun/inet_csum.c" ;;
  fuzz_h2_conn)
    echo "quic/h2_tunnel.c quic/cip_request.c quic/cip_stream.c" \
      "quic/capsule.c quic/connect_ip.c quic/connect_ip_dns.c" \
      "src/varint.c src/errors.c src/log.c" ;;
  *)
    return 1 ;;
  esac
}
# harness_libs NAME: the libraries a harness links besides libFuzzer.
harness_libs() {
  case "$1" in
  fuzz_config) echo "-lwolfssl" ;; # the uplink knobs' checks (src/uplink.c)
  fuzz_quic_pkt) echo "-lngtcp2 -lngtcp2_crypto_gnutls -lgnutls" ;;
  fuzz_h2_conn) echo "-lnghttp2" ;;
  fuzz_store_record) echo "-lwolfssl" ;;
  *) ;;
  esac
}
HARNESSES="fuzz_capsule fuzz_h3_datagram fuzz_h3_frame fuzz_config fuzz_session_wire
  fuzz_interop_parse fuzz_quic_pkt fuzz_h2_conn fuzz_store_record
  fuzz_vnet"

clang=${CLANG:-}
if [ -z "$clang" ]; then
  clang=$(command -v clang || true)
fi
if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
  echo "SKIP: clang not found, fuzz harnesses not built"
  exit 77
fi

# A harness in the tree that this script does not know would silently never
# run: refuse instead.
for f in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .c)
  if ! harness_sources "$name" >/dev/null; then
    echo "FAIL: $name has no entry in tests/fuzz/smoke.sh's source table"
    exit 1
  fi
done

build="$top_builddir/tests/fuzz/build"
artifacts="$build/artifacts"
mkdir -p "$build" "$artifacts"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jvpn-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cflags=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -g -O1 -std=gnu11 -Wall -Wextra -Werror
        "-I$top_srcdir/include" "-I$top_srcdir" -D_GNU_SOURCE)

failed=0
ran=0
for name in $HARNESSES; do
  src="$top_srcdir/tests/fuzz/$name.c"
  if [ ! -e "$src" ]; then
    echo "$name: skipped, tests/fuzz/$name.c not present"
    continue
  fi
  srcs=()
  missing=""
  for s in $(harness_sources "$name"); do
    if [ -e "$top_srcdir/$s" ]; then
      srcs+=("$top_srcdir/$s")
    else
      missing="$missing $s"
    fi
  done
  if [ -n "$missing" ]; then
    echo "$name: skipped, module sources not present:$missing"
    continue
  fi

  bin="$build/$name"
  # shellcheck disable=SC2046 # the libraries are words
  if ! "$clang" "${cflags[@]}" -o "$bin" "$src" "${srcs[@]}" \
      $(harness_libs "$name") >"$tmp/$name.build.log" 2>&1; then
    echo "$name: FAIL, build failed:"
    cat "$tmp/$name.build.log"
    failed=1
    continue
  fi

  # The run works on a copy: what libFuzzer finds is not committed.
  corpus="$tmp/corpus-$name"
  mkdir -p "$corpus"
  if [ -d "$top_srcdir/tests/fuzz/corpus/$name" ]; then
    cp -R "$top_srcdir/tests/fuzz/corpus/$name/." "$corpus/"
  fi
  seeds=$(find "$corpus" -type f | wc -l)

  log="$tmp/$name.log"
  rc=0
  "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
    "$corpus" >"$log" 2>&1 || rc=$?
  ran=$((ran + 1))

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  files=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    echo "$name: FAIL (exit $rc) after ${execs:-?} executions; log tail:"
    tail -n 40 "$log"
    echo "$name: crash inputs, if any, are in $artifacts/"
    failed=1
    continue
  fi
  echo "$name: ok, ${execs:-?} executions in ${FUZZ_SECONDS}s" \
    "(${rate:-?}/s), corpus $seeds -> $files inputs"
done

if [ "$failed" -ne 0 ]; then
  exit 1
fi
if [ "$ran" -eq 0 ]; then
  echo "SKIP: no fuzz harness could be built"
  exit 77
fi
exit 0
