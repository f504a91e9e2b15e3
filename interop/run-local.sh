#!/usr/bin/env bash
# interop/run-local.sh: quic-interop-runner's test cases between every
# pair of stacks in interop/peers/, locally, in network namespaces
# (no Docker). `make interop` runs it with the defaults.
#
#   interop/run-local.sh [--clients LIST] [--servers LIST] [--cases LIST]
#                        [--timeout S] [--budget S] [--out FILE] [--quick]
#                        [--keep]
#
#   LIST        comma- or space-separated; default: every stack with an
#               executable interop/peers/<stack>/endpoint, every case
#   --timeout   per test case, seconds (default: the runner's, 60; 300
#               for handshakeloss)
#   --budget    the whole run, seconds (default 5400; 1800 with --quick):
#               cells not started by then are "notrun", with that reason
#   --out       the JSON results (default interop/results/latest.json);
#               the text matrix goes beside it as .txt
#   --quick     CI size: files a tenth of the runner's (at least 1 KB), no
#               10 Mbit/s bottleneck except where a case needs time for
#               its fault (rebind-*, blackhole), fewer handshakes for
#               handshakeloss
#   --keep      keep the work directory (pcaps, key logs, qlogs, logs)
#
# Random loss draws a fresh seed per cell, as the runner's simulator does;
# the seed is logged, and INTEROP_SEED=N repeats a cell's loss pattern.
#
# The topology (tests/lab/lab.sh, lab_topo_interop):
#
#   iclient 198.18.0.100 --- left [isim] right --- 198.18.100.100 iserver
#
# isim plays the runner's ns-3 simulator: 15 ms each way (nfq_delay), a
# 10 Mbit/s, 25-packet bottleneck (tbf), and each case's fault; the
# capture for the checks is taken on its right link (trace_node_right).
# What each case applies and checks: docs/interop.md; the checks are in
# interop/lib/checks.sh and interop/lib/trace.awk.
#
# Stacks with an interop/peers/<stack>/build.sh are built (bounded, 300 s)
# before the first cell, not inside one: a server that builds on first use
# would miss the 10 s it is given to bind.
#
# Exit status: 0 when no cell failed for the pairs jvpn-jvpn, jvpn-gtls
# and gtls-jvpn (unsupported cells, which always carry their reason, are
# not failures), 1 otherwise, 77 when the lab cannot run here (not root,
# no netns, a tool missing), 2 on a usage error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab.sh
. "$top/tests/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=lib/checks.sh
. "$here/lib/checks.sh"

ALL_CASES="handshake transfer retry resumption zerortt http3 multiconnect
chacha20 keyupdate v2 rebind-port rebind-addr connectionmigration
transferloss handshakeloss amplificationlimit blackhole ecn datagram"
# The pairs whose failures decide the exit status.
GATE_PAIRS=" jvpn>jvpn jvpn>gtls gtls>jvpn "
KB=1024
MB=$((1024 * 1024))

CLIENTS=""
SERVERS=""
CASES=""
TIMEOUT=""
BUDGET=""
OUT="$here/results/latest.json"
QUICK=0
KEEP=0

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' \
    -e 's/^# \{0,1\}//' >&2
  exit 2
}

log() { printf 'interop: %s\n' "$*" >&2; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --clients) CLIENTS=${2//,/ }; shift 2 ;;
      --servers) SERVERS=${2//,/ }; shift 2 ;;
      --cases) CASES=${2//,/ }; shift 2 ;;
      --timeout) TIMEOUT=$2; shift 2 ;;
      --budget) BUDGET=$2; shift 2 ;;
      --out) OUT=$2; shift 2 ;;
      --quick) QUICK=1; shift ;;
      --keep) KEEP=1; shift ;;
      -h|--help) usage ;;
      *) log "unknown argument '$1'"; usage ;;
    esac
  done
  case "$TIMEOUT" in
    ''|*[!0-9]*) [ -z "$TIMEOUT" ] || { log "--timeout wants seconds"; exit 2; } ;;
  esac
  case "$BUDGET" in
    ''|*[!0-9]*) [ -z "$BUDGET" ] || { log "--budget wants seconds"; exit 2; } ;;
  esac
}

# The stacks: every interop/peers/<stack>/endpoint that can be run.
discover_stacks() {
  local ep found=""
  for ep in "$here"/peers/*/endpoint; do
    [ -x "$ep" ] || continue
    ep=${ep%/endpoint}
    found+=" ${ep##*/}"
  done
  STACKS=${found# }
  [ -n "$CLIENTS" ] || CLIENTS=$STACKS
  [ -n "$SERVERS" ] || SERVERS=$STACKS
  [ -n "$CASES" ] || CASES=$ALL_CASES
}

# check_env: exits 77 with the reason when the lab cannot run here.
check_env() {
  local why tool
  if [ "$(id -u)" -ne 0 ]; then
    log "skip: needs root (network namespaces)"; exit 77
  fi
  for tool in ip nft conntrack tc iptables tshark dumpcap openssl sha256sum ss; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      log "skip: $tool is missing"; exit 77
    fi
  done
  if ! why=$(lab_check_env); then
    log "skip: $why"; exit 77
  fi
  if ! lab_nfq_find; then
    log "skip: no nfq_delay (make tests/tools/nfq_delay)"; exit 77
  fi
}

# --- certificates ------------------------------------------------------------

# make_chain DIR N: a CA and a chain of N certificates below it (N-1
# intermediates and the leaf, RSA 2048) for the server's address, as the
# runner's certs.sh: DIR/cert.pem holds the leaf and the intermediates,
# DIR/priv.key the leaf's key.
make_chain() {
  local dir=$1 n=$2 i prev=ca
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=interop-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || return 1
  : >"$dir/chain.pem"
  for ((i = 1; i < n; i++)); do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=interop-intermediate-$i" \
      -keyout "$dir/int$i.key" -out "$dir/int$i.csr" >/dev/null 2>&1 || return 1
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n' \
      >"$dir/ext"
    openssl x509 -req -in "$dir/int$i.csr" -CA "$dir/$prev.pem" \
      -CAkey "$dir/$prev.key" -CAcreateserial -days 2 -extfile "$dir/ext" \
      -out "$dir/int$i.pem" >/dev/null 2>&1 || return 1
    cat "$dir/int$i.pem" "$dir/chain.pem" >"$dir/chain.new"
    mv "$dir/chain.new" "$dir/chain.pem"
    prev=int$i
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=server" \
    -keyout "$dir/priv.key" -out "$dir/leaf.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=DNS:server,DNS:server4,IP:%s\n' "$LAB_IOP_SERVER4" \
    >"$dir/ext"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/$prev.pem" \
    -CAkey "$dir/$prev.key" -CAcreateserial -days 2 -extfile "$dir/ext" \
    -out "$dir/leaf.pem" >/dev/null 2>&1 || return 1
  cat "$dir/leaf.pem" "$dir/chain.pem" >"$dir/cert.pem"
}

# --- test cases --------------------------------------------------------------

# case_setup TC: what the case needs, in globals:
#   SIZES      the file sizes (bytes) to serve and fetch
#   NAMELEN    length of the random file names
#   STC, CTC   the test case names given to server and client (the
#              runner's testname(): several cases reuse "transfer")
#   DELAY, LOSS, RATE   the sim's one-way delay (ms), loss (%), bottleneck
#              (Mbit/s, "off")
#   DROPS      client->server packets of the connection to drop ("2-7")
#   FAULT      none | rebind-port | rebind-addr | blackhole
#   CASE_TIMEOUT, CHAIN (1 or 9 certificates)
case_setup() {
  local tc=$1 q=$QUICK i n
  SIZES=()
  NAMELEN=10
  STC=$tc
  CTC=$tc
  DELAY=15
  LOSS=0
  RATE=10
  [ "$q" = 1 ] && RATE=off
  DROPS=""
  FAULT=none
  CASE_TIMEOUT=60
  CHAIN=1
  case "$tc" in
    handshake|v2) SIZES=("$KB") ;;
    ecn) SIZES=($((100 * KB))) ;;
    transfer) SIZES=($((2 * MB)) $((3 * MB)) $((5 * MB))) ;;
    retry) SIZES=($((10 * KB))) ;;
    resumption) SIZES=($((5 * KB)) $((10 * KB))) ;;
    zerortt) NAMELEN=250
             for ((i = 0; i < 40; i++)); do SIZES+=(32); done ;;
    http3) SIZES=($((5 * KB)) $((10 * KB)) $((500 * KB))) ;;
    multiconnect) n=5
                  [ "$q" = 1 ] && n=3
                  for ((i = 0; i < n; i++)); do SIZES+=("$KB"); done ;;
    chacha20|keyupdate) SIZES=($((3 * MB))) ;;
    rebind-port|rebind-addr) SIZES=($((10 * MB))); STC=transfer; CTC=transfer
                             FAULT=$tc; RATE=10 ;;
    connectionmigration) SIZES=($((2 * MB))); STC=transfer ;;
    transferloss) SIZES=($((2 * MB))); STC=transfer; CTC=transfer; LOSS=2 ;;
    handshakeloss) n=50; CASE_TIMEOUT=300
                   [ "$q" = 1 ] && { n=10; CASE_TIMEOUT=120; }
                   for ((i = 0; i < n; i++)); do SIZES+=("$KB"); done
                   STC=multiconnect; CTC=multiconnect; LOSS=30 ;;
    amplificationlimit) SIZES=($((5 * KB))); STC=transfer; CTC=transfer
                        DROPS=2-7; CHAIN=9 ;;
    blackhole) SIZES=($((10 * MB))); STC=transfer; CTC=transfer
               FAULT=blackhole; RATE=10 ;;
    datagram) SIZES=($((10 * KB))) ;; # ours: RFC 9221 echo (README)
    *) return 1 ;;
  esac
  [ "$tc" = keyupdate ] && STC=transfer
  if [ "$q" = 1 ]; then
    # A tenth, at least 1 KB; a fault case keeps enough to last ~2 s at
    # 10 Mbit/s, so that the fault lands mid-transfer.
    for i in "${!SIZES[@]}"; do
      n=$(( SIZES[i] / 10 ))
      [ "$n" -ge $KB ] || n=${SIZES[i]}
      [ "${SIZES[i]}" -lt $((10 * KB)) ] && n=${SIZES[i]}
      SIZES[i]=$n
    done
    case "$tc" in
      rebind-*|blackhole) SIZES=($((5 * MB / 2))) ;;
      connectionmigration) SIZES=($((2 * MB))) ;;
      keyupdate) SIZES=("$MB") ;;
    esac
  fi
  [ -n "$TIMEOUT" ] && CASE_TIMEOUT=$TIMEOUT
  return 0
}

# gen_files DIR: random files of SIZES with random names in DIR; the
# names in FILES.
gen_files() {
  local dir=$1 s name
  FILES=()
  for s in "${SIZES[@]}"; do
    name=$(LC_ALL=C tr -dc '[:lower:]' </dev/urandom | head -c "$NAMELEN") || true
    head -c "$s" /dev/urandom >"$dir/$name"
    FILES+=("$name")
  done
}

# --- the simulator -------------------------------------------------------------

SIM_DELAY=""
# sim_apply: the case's network conditions in isim.
sim_apply() {
  local r=${LAB_NS[isim]} want="$DELAY/$LOSS"
  # One seed is one loss pattern: each lossy cell gets its own.
  if [ "$LOSS" != 0 ]; then
    LAB_NFQ_SEED=${INTEROP_SEED:-$(( RANDOM * 32768 + RANDOM ))}
    log "loss $LOSS % each way, seed $LAB_NFQ_SEED (INTEROP_SEED repeats it)"
    want+="/$LAB_NFQ_SEED"
  fi
  # The injectors outlive a cell when the next one wants the same.
  if [ "$SIM_DELAY" != "$want" ]; then
    if ! lab_delay_in "$r" left "$DELAY" "$LOSS" >/dev/null ||
       ! lab_delay_in "$r" right "$DELAY" "$LOSS" >/dev/null; then
      log "nfq_delay did not start"
      return 1
    fi
    SIM_DELAY=$want
  fi
  lab_iop_rate "$RATE" || return 1
  if [ -n "$DROPS" ]; then
    ip netns exec "$r" sysctl -qw net.netfilter.nf_conntrack_acct=1 || return 1
    ip netns exec "$r" nft -f - <<NFT || return 1
table inet lab_iop_drop {
  chain through {
    type filter hook forward priority filter - 5; policy accept;
    iifname "left" udp dport 443 ct original packets $DROPS counter drop
  }
}
NFT
  fi
  ip netns exec "$r" conntrack -F >/dev/null 2>&1 || true
}

sim_clear() {
  local r=${LAB_NS[isim]}
  lab_iop_rebind off || true
  lab_iop_blackhole off || true
  ip netns exec "$r" nft delete table inet lab_iop_drop 2>/dev/null || true
}

# --- one cell ------------------------------------------------------------------

declare -A RES_STATUS=() RES_REASON=() RES_SECS=()
CELLS=()

record() {
  local cell=$1 status=$2 reason=$3 secs=$4
  RES_STATUS[$cell]=$status
  RES_REASON[$cell]=$reason
  RES_SECS[$cell]=$secs
  CELLS+=("$cell")
  printf 'interop: %-34s %-11s %5ss  %s\n' "$cell" "$status" "$secs" "$reason" >&2
}

# last_words LOG: its last non-empty line, for reasons.
last_words() {
  REPLY=$(grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-200) || true
  REPLY=${REPLY:-(no output)}
}

bound_or_exited() { lab_udp_bound "$1" 443 || lab_pid_exited "$2"; }

# flow_seen: the sim has seen the client's QUIC flow both ways.
# (Not ASSURED: Linux sets that on UDP only after 2 s of replies.)
flow_seen() {
  ip netns exec "${LAB_NS[isim]}" conntrack -L -p udp 2>/dev/null |
    grep -v UNREPLIED | grep -q 'dport=443 '
}

# drive_client PID: waits for the client, applying FAULT on its schedule,
# killing it at CASE_TIMEOUT. Its exit status in CLIENT_RC ("timeout" if
# killed).
drive_client() {
  local pid=$1 t0 now el next=0 count=0 bh_on=0 first every on_ms off_ms
  lab_now_ms; t0=$REPLY
  # The runner's schedules (rebind: first at 1 s, then every 5 s;
  # blackhole: 5 s on, 2 s off), shortened by --quick.
  if [ "$QUICK" = 1 ]; then first=500; every=1500; on_ms=600; off_ms=1000
  else first=1000; every=5000; on_ms=5000; off_ms=2000; fi
  # The schedule starts when the connection does (both directions seen
  # by the sim's conntrack), not when the client process does.
  next=-1
  CLIENT_RC=""
  while lab_pid_alive "$pid"; do
    lab_now_ms; now=$REPLY; el=$((now - t0))
    if [ "$el" -ge $((CASE_TIMEOUT * 1000)) ]; then
      lab_kill "$pid" TERM || true
      lab_wait_exit "$pid" 2 || { lab_kill "$pid" KILL || true; lab_wait_exit "$pid" 2 || true; }
      CLIENT_RC=timeout
      return 0
    fi
    if [ "$next" -lt 0 ] && [ "$FAULT" != none ] && flow_seen; then
      next=$((el + first))
      [ "$FAULT" = blackhole ] && next=$((el + on_ms))
    fi
    [ "$next" -ge 0 ] &&
    case "$FAULT" in
      rebind-port|rebind-addr)
        if [ "$el" -ge "$next" ] && [ "$count" -lt 50 ]; then
          lab_iop_rebind "${FAULT#rebind-}" || log "rebind failed"
          count=$((count + 1)); next=$((el + every))
        fi ;;
      blackhole)
        if [ "$bh_on" = 0 ] && [ "$el" -ge "$next" ] && [ "$count" -lt 20 ]; then
          lab_iop_blackhole on || log "blackhole failed"
          bh_on=1; next=$((el + off_ms))
        elif [ "$bh_on" = 1 ] && [ "$el" -ge "$next" ]; then
          lab_iop_blackhole off || true
          bh_on=0; count=$((count + 1)); next=$((el + on_ms))
          [ "$QUICK" = 1 ] && next=$((CASE_TIMEOUT * 1000 + 1))
        fi ;;
    esac
    sleep 0.05
  done
  if lab_wait_exit "$pid" 5; then CLIENT_RC=$REPLY; else CLIENT_RC=timeout; fi
}

# verify_files WWW DL: every file arrived whole (SHA-256), nothing else;
# else the reason in REPLY.
verify_files() {
  local www=$1 dl=$2 f got extra
  for f in "${FILES[@]}"; do
    if [ ! -f "$dl/$f" ]; then REPLY="missing download ${f:0:24}"; return 1; fi
    got=$(sha256sum <"$dl/$f")
    if [ "$got" != "$(sha256sum <"$www/$f")" ]; then
      REPLY="${f:0:24}: SHA-256 differs ($(stat -c %s "$dl/$f") of $(stat -c %s "$www/$f") bytes)"
      return 1
    fi
  done
  extra=$(find "$dl" -type f | wc -l)
  if [ "$extra" -ne "${#FILES[@]}" ]; then
    REPLY="$extra files downloaded, ${#FILES[@]} requested"
    return 1
  fi
  REPLY="${#FILES[@]} file(s) verified by SHA-256"
}

run_cell() {
  local c=$1 s=$2 tc=$3 cell d t0 t1 secs spid cpid cap rc alpn_env="" alpn
  local urls=() f certdir have_keys=0 filesmsg why
  cell="$c>$s $tc"
  d="$WORK/$c-$s-$tc"
  mkdir -p "$d/www" "$d/dl" "$d/qlog-client" "$d/qlog-server"
  lab_now_ms; t0=$REPLY
  case_setup "$tc" || { record "$cell" unsupported "unknown test case" 0; return 0; }
  alpn=hq-interop
  [ "$tc" = http3 ] && alpn=h3
  if [ -e "$here/peers/$c/h3-only" ] || [ -e "$here/peers/$s/h3-only" ]; then
    alpn_env=h3
    alpn=h3
  fi
  gen_files "$d/www"
  for f in "${FILES[@]}"; do urls+=("https://$LAB_IOP_SERVER4:443/$f"); done
  certdir=$CERTS1
  [ "$CHAIN" = 9 ] && certdir=$CERTS9

  sim_apply || { record "$cell" fail "could not apply the sim's conditions" 0; return 0; }
  if ! lab_capture_start "${LAB_NS[isim]}" right "$d/trace.pcap"; then
    sim_clear
    record "$cell" fail "dumpcap did not start" 0
    return 0
  fi
  cap=$REPLY
  lab_spawn "${LAB_NS[iserver]}" "$d/server.log" env "INTEROP_ALPN=$alpn_env" \
    "$here/peers/$s/endpoint" server --listen "$LAB_IOP_SERVER4:443" \
    --cert "$certdir/cert.pem" --key "$certdir/priv.key" --www "$d/www" \
    --testcase "$STC" --qlog-dir "$d/qlog-server" --keylog "$d/server.keys"
  spid=$REPLY
  lab_wait_for "server on 443" 10 bound_or_exited "${LAB_NS[iserver]}" "$spid" || true
  if lab_pid_exited "$spid"; then
    rc=1
    if lab_wait_exit "$spid" 1; then rc=$REPLY; fi
    last_words "$d/server.log"
    why=$REPLY
    lab_capture_stop "$cap"; sim_clear
    lab_now_ms; secs=$(awk -v a="$t0" -v b="$REPLY" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
    if [ "$rc" = 127 ]; then
      record "$cell" unsupported "server: $why" "$secs"
    else
      record "$cell" fail "server exited $rc at start: $why" "$secs"
    fi
    return 0
  fi
  if ! lab_udp_bound "${LAB_NS[iserver]}" 443; then
    lab_kill "$spid" KILL || true; lab_capture_stop "$cap"; sim_clear
    record "$cell" fail "server did not bind UDP 443 within 10 s" 10
    return 0
  fi

  lab_spawn "${LAB_NS[iclient]}" "$d/client.log" env "INTEROP_ALPN=$alpn_env" \
    "$here/peers/$c/endpoint" client --testcase "$CTC" --downloads "$d/dl" \
    --qlog-dir "$d/qlog-client" --keylog "$d/client.keys" "${urls[@]}"
  cpid=$REPLY
  drive_client "$cpid"
  sim_clear
  lab_kill "$spid" TERM || true
  rc=timeout
  if lab_wait_exit "$spid" 5; then rc=$REPLY; else lab_kill "$spid" KILL || true; fi
  lab_capture_sync "${LAB_NS[isim]}" "$LAB_IOP_SERVER4" "$d/trace.pcap" ||
    log "$cell: the capture may miss its last packets"
  lab_capture_stop "$cap"
  lab_now_ms; t1=$REPLY
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')

  if [ "$CLIENT_RC" = 127 ]; then
    last_words "$d/client.log"
    record "$cell" unsupported "client: $REPLY" "$secs"
    return 0
  fi
  if [ "$CLIENT_RC" = timeout ]; then
    last_words "$d/client.log"
    record "$cell" fail "client timed out after ${CASE_TIMEOUT}s: $REPLY" "$secs"
    return 0
  fi
  if [ "$CLIENT_RC" != 0 ]; then
    last_words "$d/client.log"
    record "$cell" fail "client exited $CLIENT_RC: $REPLY" "$secs"
    return 0
  fi
  if [ "$rc" != 0 ]; then
    last_words "$d/server.log"
    record "$cell" fail "server exited $rc on SIGTERM: $REPLY" "$secs"
    return 0
  fi
  if ! verify_files "$d/www" "$d/dl"; then
    record "$cell" fail "$REPLY" "$secs"
    return 0
  fi
  filesmsg=$REPLY
  cat "$d/client.keys" "$d/server.keys" >"$d/keys.log" 2>/dev/null || true
  grep -q '^SERVER_HANDSHAKE_TRAFFIC_SECRET' "$d/keys.log" && have_keys=1
  if ! iop_trace_facts "$d/trace.pcap" "$d/keys.log" "$LAB_IOP_SERVER4" \
       "$d/facts"; then
    record "$cell" fail "tshark could not read the capture" "$secs"
    return 0
  fi
  [ "$tc" = zerortt ] &&
    iop_zrtt_facts "$d/trace.pcap" "$d/keys.log" "$LAB_IOP_SERVER4" >>"$d/facts"
  iop_verdict "$tc" "$d/facts" "${#FILES[@]}" "$alpn" "$have_keys"
  if [ "$VERDICT" = pass ]; then
    REASON="$filesmsg; $REASON"
  fi
  record "$cell" "$VERDICT" "$REASON" "$secs"
}

# build_peers: each stack's build.sh, once, before the cells (bounded).
build_peers() {
  local st b
  # shellcheck disable=SC2086 # the lists split on purpose
  for st in $(printf '%s\n' $CLIENTS $SERVERS | sort -u); do
    b="$here/peers/$st/build.sh"
    [ -x "$b" ] || continue
    log "building the $st peer (at most 300 s)"
    # The endpoint builds when its binary is missing or stale; with no
    # arguments it then only prints its usage.
    timeout 300 "$here/peers/$st/endpoint" >"$WORK/build-$st.log" 2>&1 || true
  done
}

# --- results -------------------------------------------------------------------

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/ }
  s=${s//$'\n'/ }
  REPLY="\"$s\""
}

write_results() {
  local json=$1 txt=${1%.json}.txt cell c s tc pair sep="" first=1 w
  local pairs=()
  mkdir -p "$(dirname "$json")"
  QUICK_NOTE=""
  [ "$QUICK" = 1 ] && QUICK_NOTE=", --quick"
  for c in $CLIENTS; do for s in $SERVERS; do pairs+=("$c>$s"); done; done
  {
    printf '{\n  "runner": "interop/run-local.sh",\n'
    printf '  "date": "%s",\n  "quick": %s,\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      "$([ "$QUICK" = 1 ] && echo true || echo false)"
    printf '  "results": ['
    for cell in "${CELLS[@]}"; do
      pair=${cell% *}; tc=${cell#* }
      c=${pair%>*}; s=${pair#*>}
      json_str "${RES_REASON[$cell]}"
      printf '%s\n    {"client": "%s", "server": "%s", "case": "%s", "result": "%s", "seconds": %s, "reason": %s}' \
        "$sep" "$c" "$s" "$tc" "${RES_STATUS[$cell]}" "${RES_SECS[$cell]}" "$REPLY"
      sep=,
    done
    printf '\n  ]\n}\n'
  } >"$json"
  {
    printf 'interop matrix (client>server), %s%s\n\n' "$(date -u +%Y-%m-%d)" \
      "${QUICK_NOTE:-}"
    w=12
    for pair in "${pairs[@]}"; do [ $(( ${#pair} + 2 )) -le "$w" ] || w=$(( ${#pair} + 2 )); done
    printf '%-20s' case
    for pair in "${pairs[@]}"; do printf "%-${w}s" "$pair"; done
    printf '\n'
    for tc in $CASES; do
      printf '%-20s' "$tc"
      for pair in "${pairs[@]}"; do
        cell="$pair $tc"
        case "${RES_STATUS[$cell]:-}" in
          pass) printf "%-${w}s" pass ;;
          fail) printf "%-${w}s" FAIL ;;
          unsupported) printf "%-${w}s" unsup ;;
          notrun) printf "%-${w}s" notrun ;;
          *) printf "%-${w}s" '?' ;;
        esac
      done
      printf '\n'
    done
    printf '\nwhy (every cell; seconds in brackets):\n'
    for cell in "${CELLS[@]}"; do
      printf '  %-32s %-11s [%s] %s\n' "$cell" "${RES_STATUS[$cell]}" \
        "${RES_SECS[$cell]}" "${RES_REASON[$cell]}"
    done
    first=0
  } >"$txt"
  cat "$txt"
  return "$first"
}

gate() {
  local cell pair failed=0
  for cell in "${CELLS[@]}"; do
    pair=${cell% *}
    case "$GATE_PAIRS" in
      *" $pair "*) [ "${RES_STATUS[$cell]}" = fail ] && failed=1 ;;
    esac
  done
  return "$failed"
}

main() {
  local tc c s t_end
  parse_args "$@"
  discover_stacks
  if [ -z "$STACKS" ]; then log "no interop/peers/*/endpoint"; exit 2; fi
  check_env
  lab_init
  if [ "$KEEP" = 1 ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/interop.XXXXXX")
    log "keeping $WORK"
  else
    lab_tmpdir
    WORK=$REPLY
  fi
  log "stacks: $STACKS; clients: $CLIENTS; servers: $SERVERS"
  CERTS1="$WORK/certs1"
  CERTS9="$WORK/certs9"
  make_chain "$CERTS1" 1 || { log "openssl failed"; exit 1; }
  case " $(echo "$CASES" | tr '\n' ' ') " in
    *" amplificationlimit "*) make_chain "$CERTS9" 9 || { log "openssl failed"; exit 1; } ;;
  esac
  build_peers
  lab_topo_interop || { log "could not build the topology"; exit 1; }
  [ -n "$BUDGET" ] || { BUDGET=5400; [ "$QUICK" = 1 ] && BUDGET=1800; }
  lab_now_ms; t_end=$((REPLY + BUDGET * 1000))
  for tc in $CASES; do
    for c in $CLIENTS; do
      for s in $SERVERS; do
        lab_now_ms
        if [ "$REPLY" -ge "$t_end" ]; then
          record "$c>$s $tc" notrun "the run's budget (--budget $BUDGET s) was spent" 0
          continue
        fi
        run_cell "$c" "$s" "$tc"
      done
    done
  done
  write_results "$OUT"
  gate
}

main "$@"
