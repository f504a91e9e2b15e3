#!/usr/bin/env bash
# Installs the Debian packages jvpn-quic needs to build and to run its
# tests, demo and lab. Idempotent: when every package is already installed
# at a sufficient version it does not touch apt at all (no 'apt-get
# update', no network).
#
# The QUIC libraries must be ngtcp2 >= 1.11 and nghttp3 >= 1.8. Debian 12
# (bookworm) ships them, with ngtcp2's example programs and a wireguard-go
# with TUN offloads, only in its backports suite: on bookworm this script
# adds a 'bookworm-backports' source that reuses the mirror URI of the
# machine's own Debian source (read from the apt configuration; no host is
# named here) and installs those packages from it. Debian 13 and later
# have them in their main suite and get them plainly.
#
# Usage: scripts/deps.sh            (as root, or with sudo available)
set -euo pipefail

# Build: the compiler and autotools, the libraries, clang for the
# libFuzzer harnesses.
build_pkgs=(
  build-essential autoconf automake libtool pkg-config
  libgnutls28-dev libnghttp2-dev libwolfssl-dev libuv1-dev libcmocka-dev libcap-ng-dev
  libseccomp-dev libnftables-dev libsystemd-dev libmicrohttpd-dev liblmdb-dev
  libhiredis-dev
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
#   iperf3, wireguard-tools
#                 scripts/bench.sh (throughput, and WireGuard to compare)
#   openvpn       scripts/bench-failover.sh (OpenVPN to compare)
#   systemd       systemd-analyze: tests/systemd/units.sh checks the unit
#   dnsmasq-base  tests/netns/fulltunnel.sh: the "internet" DNS server
#   dbus-daemon   tests/netns/resolved.sh: a private system bus (busctl,
#                 from systemd, talks to it)
#   jq            the netns tests read JSON status with it
#   redis-server  tests/unit/test_store_redis: the store of several server
#                 nodes (src/store_redis.c) against a real Redis
#   librsvg2-bin, libxml2-utils
#                 tests/render/timeline.sh: rsvg-convert renders the
#                 timeline pictures, xmllint checks them
#   curl, prometheus
#                 tests/netns/metrics.sh scrapes the server's endpoint and
#                 checks the text with promtool (prometheus's; the test
#                 needs no Prometheus server running)
#   ngtcp2-client, ngtcp2-server, tshark
#                 interop/run-local.sh: ngtcp2's gtlsclient/gtlsserver as
#                 peers, tshark to check captures
#   golang-go, golang-github-lucas-clemente-quic-go-dev, cargo,
#   librust-quinn-dev
#                 the quic-go and quinn interop peers (interop/peers/)
#   bird2         tests/netns/multinode.sh: BIRD carries the per-session
#                 routes between server nodes (OSPF); Redis (above) is their
#                 shared session store
test_pkgs=(
  iproute2 nftables conntrack iptables iputils-ping socat procps
  iperf3 wireguard-tools openvpn systemd
  tshark dnsmasq-base jq redis-server dbus-daemon librsvg2-bin libxml2-utils
  curl prometheus
  golang-go golang-github-lucas-clemente-quic-go-dev cargo librust-quinn-dev
  bird2
)

# The packages that must come at a minimum version (backports on bookworm):
#   libngtcp2-dev, libngtcp2-crypto-gnutls-dev  ngtcp2 >= 1.11 (QUIC v2, PMTUD)
#   libnghttp3-dev                              nghttp3 >= 1.8 (H3_DATAGRAM)
#   ngtcp2-client, ngtcp2-server                the 1.x gtlsclient/gtlsserver
#   wireguard-go                                0.0.20231211 (TUN offloads),
#                                               the bench's comparison peer
versioned_pkgs=(
  libngtcp2-dev:1.11 libngtcp2-crypto-gnutls-dev:1.11 libnghttp3-dev:1.8
  ngtcp2-client:1.11 ngtcp2-server:1.11 wireguard-go:0.0.20231211
)

# installed_at_least PKG MINVER: true when PKG is installed at >= MINVER.
installed_at_least() {
  local status version
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  case "$status" in
    *" installed") ;;
    *) return 1 ;;
  esac
  version=$(dpkg-query -W -f='${Version}' "$1")
  dpkg --compare-versions "$version" ge "$2"
}

# systemd-resolved for tests/netns/resolved.sh, never installed: the
# package would take over the host's /etc/resolv.conf. Its .deb (the
# version of the installed libsystemd-shared, which it needs exactly) is
# fetched with 'apt-get download' from whatever apt is configured with
# and unpacked under $resolved_cache/VERSION/root; the test runs it there.
# It drops root to the "systemd-resolve" system user, made here (as its
# sysusers.d file would) when missing.
resolved_cache=${JVPN_RESOLVED_CACHE:-/var/cache/jvpn-quic/systemd-resolved}

# unpack_resolved: the above; idempotent, no network when it is there.
unpack_resolved() {
  local ver dir deb
  ver=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null || true)
  [ -n "$ver" ] || { echo "deps: no libsystemd-shared: no systemd-resolved"; return 0; }
  dir=$resolved_cache/$ver
  if ! getent passwd systemd-resolve >/dev/null; then
    "${sudo_cmd[@]}" useradd --system --no-create-home --home-dir / \
      --shell /usr/sbin/nologin --comment "systemd Resolver" systemd-resolve
  fi
  [ -x "$dir/root/lib/systemd/systemd-resolved" ] && return 0
  "${sudo_cmd[@]}" mkdir -p "$dir"
  # (as root, apt notes that its sandbox user cannot write here: harmless)
  (cd "$dir" && "${sudo_cmd[@]}" apt-get download -q "systemd-resolved=$ver") ||
    { echo "deps: systemd-resolved $ver is not available from apt" >&2; return 1; }
  deb=$(find "$dir" -maxdepth 1 -name 'systemd-resolved_*.deb' | head -n 1)
  "${sudo_cmd[@]}" dpkg-deb -x "$deb" "$dir/root"
  echo "deps: systemd-resolved $ver unpacked in $dir/root"
}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
  installed_at_least "$p" 0 || missing+=("$p")
done
missing_versioned=()
for pv in "${versioned_pkgs[@]}"; do
  installed_at_least "${pv%%:*}" "${pv#*:}" || missing_versioned+=("${pv%%:*}")
done

if [ "${#missing[@]}" -eq 0 ] && [ "${#missing_versioned[@]}" -eq 0 ]; then
  echo "deps: all $(( ${#build_pkgs[@]} + ${#test_pkgs[@]} + \
${#versioned_pkgs[@]} )) packages already installed"
  unpack_resolved
  exit 0
fi

echo "deps: installing ${missing[*]} ${missing_versioned[*]}"
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

# debian_mirror_uri: the URI of the machine's own Debian archive source
# (not the security archive), from deb822 .sources files or one-line
# sources.list entries. Prints nothing when there is none.
debian_mirror_uri() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      /^[[:space:]]*$/ { if (uri != "" && suites ~ /(^| )bookworm( |$)/) { print uri; exit }
                         uri = ""; suites = ""; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
      END { if (uri != "" && suites ~ /(^| )bookworm( |$)/) print uri }
    ' "$f"
  done | head -n 1
  if [ -f /etc/apt/sources.list ]; then
    awk '$1 == "deb" && $0 !~ /\[/ && $3 == "bookworm" { print $2; exit }
         $1 == "deb" && $0 ~ /\]/ { for (i = 2; i <= NF; i++) if ($i ~ /\]$/) break;
                                     if ($(i + 2) == "bookworm") { print $(i + 1); exit } }' \
      /etc/apt/sources.list
  fi
}

# enable_backports: adds bookworm-backports with the Debian mirror the
# machine already uses. Idempotent.
enable_backports() {
  local list=/etc/apt/sources.list.d/jvpn-bookworm-backports.sources uri
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  uri=$(debian_mirror_uri | head -n 1)
  if [ -z "$uri" ]; then
    echo "deps: no Debian bookworm source in the apt configuration to reuse" \
         "for bookworm-backports; add one, then rerun" >&2
    exit 1
  fi
  echo "deps: enabling bookworm-backports from $uri"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" | "${sudo_cmd[@]}" tee "$list" >/dev/null
}

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
export DEBIAN_FRONTEND=noninteractive
backports=()
if [ "${#missing_versioned[@]}" -gt 0 ] && [ "$codename" = bookworm ]; then
  enable_backports
  backports=(-t bookworm-backports)
fi
"${sudo_cmd[@]}" apt-get update -q
if [ "${#missing[@]}" -gt 0 ]; then
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${#missing_versioned[@]}" -gt 0 ]; then
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${backports[@]}" \
    "${missing_versioned[@]}"
fi
for pv in "${versioned_pkgs[@]}"; do
  if ! installed_at_least "${pv%%:*}" "${pv#*:}"; then
    echo "deps: ${pv%%:*} >= ${pv#*:} is not available from apt" >&2
    exit 1
  fi
done
unpack_resolved
echo "deps: done"
