#!/bin/sh
# Build the quinn interop peer offline against Debian's crate sources
# (/usr/share/cargo/registry, see .cargo/config.toml).
# Output: build/quinn-peer (build/ is git-ignored).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v cargo >/dev/null 2>&1 || { echo "build.sh: cargo not found (apt install cargo)" >&2; exit 127; }
[ -d /usr/share/cargo/registry/quinn-0.9.3 ] || [ -n "$(ls -d /usr/share/cargo/registry/quinn-0.9.* 2>/dev/null)" ] || {
	echo "build.sh: quinn 0.9 sources missing (apt install librust-quinn-dev)" >&2; exit 127; }
cd "$here"
mkdir -p build
# Cargo.lock (git-ignored) is resolved offline from what Debian ships.
CARGO_HOME="$here/build/cargo-home" cargo build --release --offline --locked 2>/dev/null ||
	CARGO_HOME="$here/build/cargo-home" cargo build --release --offline
cp build/target/release/quinn-peer build/quinn-peer.tmp
mv build/quinn-peer.tmp build/quinn-peer
echo "built $here/build/quinn-peer"
