#!/bin/sh
# Build the quic-go interop peer offline, in GOPATH mode, against Debian's
# golang-github-lucas-clemente-quic-go-dev (quic-go 0.29) in /usr/share/gocode.
# Output: build/quicgo-peer (build/ is git-ignored).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null 2>&1 || { echo "build.sh: go not found (apt install golang-go)" >&2; exit 127; }
[ -d /usr/share/gocode/src/github.com/lucas-clemente/quic-go ] || {
	echo "build.sh: quic-go sources missing (apt install golang-github-lucas-clemente-quic-go-dev)" >&2; exit 127; }
mkdir -p "$here/build"
export GO111MODULE=off GOFLAGS= GOPROXY=off
export GOPATH="$here/build/gopath:/usr/share/gocode"
export GOCACHE="$here/build/gocache"
cd "$here"
go build -o build/quicgo-peer.tmp .
mv build/quicgo-peer.tmp build/quicgo-peer
echo "built $here/build/quicgo-peer"
