#!/usr/bin/env bash
# Installs the Debian 12 packages jvpn-quic needs to build and to run its
# tests, demo and lab. Idempotent: when every package is already installed
# it does not touch apt at all (no 'apt-get update', no network).
#
# Usage: scripts/deps.sh            (as root, or with sudo available)
set -euo pipefail

# Build: the compiler and autotools, the six libraries, clang for the
# libFuzzer harnesses.
build_pkgs=(
  build-essential autoconf automake libtool pkg-config
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev
  libgnutls28-dev libwolfssl-dev libuv1-dev libcmocka-dev
  libnetfilter-queue-dev clang
)

# Run and test: what tests/lab/lab.sh, tests/netns/e2e.sh, scripts/demo.sh
# and scripts/bench.sh call.
#   iproute2      ip netns / link / addr / route
#   nftables      NAT, blackhole and loss rules in the lab router
#   conntrack     NAT rebinding (conntrack -F) and NAT inspection
#   iputils-ping  reachability checks through the tunnel
#   socat         checksummed TCP transfers through the tunnel
#   procps        sysctl inside namespaces
#   iptables      the NFQUEUE target of the lab's delay injector
#   iperf3, wireguard-go, wireguard-tools
#                 scripts/bench.sh (throughput, and WireGuard to compare)
#   openvpn       scripts/bench-failover.sh (OpenVPN to compare)
#   ngtcp2-client, ngtcp2-server, tshark
#                 interop/run-local.sh: ngtcp2's gtlsclient/gtlsserver as
#                 peers, tshark to check captures
#   golang-go, golang-github-lucas-clemente-quic-go-dev, cargo,
#   librust-quinn-dev
#                 the quic-go and quinn interop peers (interop/peers/)
test_pkgs=(
  iproute2 nftables conntrack iptables iputils-ping socat procps
  iperf3 wireguard-go wireguard-tools openvpn
  ngtcp2-client ngtcp2-server tshark
  golang-go golang-github-lucas-clemente-quic-go-dev cargo librust-quinn-dev
)

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *" installed") ;;
    *) missing+=("$p") ;;
  esac
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all $(( ${#build_pkgs[@]} + ${#test_pkgs[@]} )) packages" \
       "already installed"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "deps: not root and no sudo; install as root:" \
         "apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: done"
