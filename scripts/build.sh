#!/usr/bin/env bash
# Builds jvpn-quic out of tree; shared by scripts/test.sh and scripts/demo.sh.
#
#   scripts/build.sh              deps, autoreconf, configure, make -j2
#   scripts/build.sh --builddir   only prints the build directory it uses
#
# Environment:
#   JVPN_SKIP_DEPS=1        do not run scripts/deps.sh
#   JVPN_BUILD_DIR=DIR      build directory (default: build, under the tree)
#   JVPN_CONFIGURE_ARGS=..  extra ./configure arguments (split on spaces)
#   JVPN_TEST_HOOKS=1       configure with --enable-test-hooks (the test
#                           lab's build; never a build to install)
#
# Each step runs only when needed: autoreconf when configure is missing or
# older than configure.ac / Makefile.am, configure when the build directory
# has no Makefile, config.status is older than configure, or the arguments
# changed. Builds are VPATH builds; a source tree someone configured in
# place cannot have one, so the default build then happens in place.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)

builddir=${JVPN_BUILD_DIR:-build}
case "$builddir" in
  /*) ;;
  *) builddir=$srcdir/$builddir ;;
esac
if [ -f "$srcdir/config.status" ]; then
  if [ -n "${JVPN_BUILD_DIR:-}" ]; then
    echo "build: $srcdir is configured in place, so no separate build in" \
         "$builddir is possible; run 'make distclean' in $srcdir first" >&2
    exit 1
  fi
  builddir=$srcdir
fi

if [ "${1:-}" = "--builddir" ]; then
  printf '%s\n' "$builddir"
  exit 0
fi

if [ "${JVPN_SKIP_DEPS:-0}" != 1 ]; then
  "$srcdir/scripts/deps.sh"
fi

cd "$srcdir"
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
   [ ! -f Makefile.in ] || [ Makefile.am -nt Makefile.in ]; then
  echo "build: autoreconf -fi"
  autoreconf -fi
fi

# shellcheck disable=SC2206 # extra arguments are split on purpose
conf_args=(--enable-werror ${JVPN_CONFIGURE_ARGS:-})
if [ "${JVPN_TEST_HOOKS:-0}" = 1 ]; then
  conf_args+=(--enable-test-hooks)
fi
mkdir -p "$builddir"
cd "$builddir"
stamp=.jvpn-configure-args
if [ "$builddir" != "$srcdir" ]; then
  if [ ! -f Makefile ] || [ ! -f config.status ] ||
     [ config.status -ot "$srcdir/configure" ] ||
     [ "$(cat "$stamp" 2>/dev/null)" != "${conf_args[*]}" ]; then
    echo "build: configure ${conf_args[*]} (in $builddir)"
    "$srcdir/configure" "${conf_args[@]}"
    printf '%s\n' "${conf_args[*]}" >"$stamp"
  fi
else
  echo "build: building in place in $srcdir (configured there already)"
fi

echo "build: make -j2 (in $builddir)"
make -j2
