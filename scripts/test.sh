#!/usr/bin/env bash
# The test command: builds jvpn-quic and runs every test.
#
#   1. build/       scripts/build.sh with the test hooks (the netns tests
#                   use them), then 'make check' (unit tests, fuzz
#                   smoke runs, the netns end-to-end suite)
#   2. build-asan/  the same sources with ASan+UBSan, unit tests only;
#                   configured without the test hooks, as a user's build
#                   is, and its binary checked to contain none
#
# Both are VPATH builds, so the source tree itself is never configured.
# Every test log is printed (cmocka writes its report there), then each
# suite's summary, then one closing line "N passed, N failed" over both.
# Exits non-zero when any build or test failed.
set -uo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir" || exit 1

total_pass=0
total_fail=0
total_skip=0
status=0

# print_logs DIR: every test log under DIR/tests, the harness's own last.
print_logs() {
  local f
  while IFS= read -r f; do
    printf '\n===== %s =====\n' "${f#"$1"/}"
    cat "$f"
  done < <(find "$1/tests" -name '*.log' -type f 2>/dev/null | sort)
}

# tally DIR NAME: adds DIR/test-suite.log's counts to the totals and prints
# its summary.
tally() {
  local log=$1/test-suite.log
  if [ ! -f "$log" ]; then
    echo "$2: no test-suite.log (the build or the harness failed)"
    total_fail=$((total_fail + 1))
    return
  fi
  printf '\n===== %s summary =====\n' "$2"
  sed -n '/^# TOTAL:/,/^# ERROR:/p' "$log"
  total_pass=$((total_pass + $(count "$log" PASS) + $(count "$log" XFAIL)))
  total_fail=$((total_fail + $(count "$log" FAIL) + $(count "$log" XPASS)
                + $(count "$log" ERROR)))
  total_skip=$((total_skip + $(count "$log" SKIP)))
}

# count LOG KEY: the "# KEY: n" number of an automake test-suite.log.
count() {
  local n
  n=$(sed -n "s/^# $2: *\([0-9]*\)$/\1/p" "$1")
  echo "${n:-0}"
}

# --- 1. the lab build (with the test hooks) and every test ----------------
if JVPN_TEST_HOOKS=1 scripts/build.sh; then
  builddir=$(scripts/build.sh --builddir)
  rm -f "$builddir/test-suite.log"
  make -C "$builddir" -j2 -k check
  check_status=$?
  print_logs "$builddir"
  tally "$builddir" "make check"
  [ "$check_status" -eq 0 ] || status=$check_status
else
  echo "test: the build failed"
  total_fail=$((total_fail + 1))
  status=1
fi

# --- 2. sanitizers: the unit tests under ASan+UBSan -----------------------
asan_dir=$srcdir/build-asan
if JVPN_SKIP_DEPS=1 JVPN_BUILD_DIR=build-asan \
   JVPN_CONFIGURE_ARGS="--enable-sanitizers ${JVPN_CONFIGURE_ARGS:-}" \
   scripts/build.sh; then
  # UNIT_TESTS as automake evaluated it, so this list never goes stale.
  # shellcheck disable=SC2016 # a make variable, not a shell one
  unit_tests=$(printf 'print-unit-tests:\n\t@echo $(UNIT_TESTS)\n' |
    make -s -C "$asan_dir" -f Makefile -f - print-unit-tests)
  rm -f "$asan_dir/test-suite.log"
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    make -C "$asan_dir" -j2 -k check TESTS="$unit_tests"
  asan_status=$?
  print_logs "$asan_dir"
  tally "$asan_dir" "sanitizer unit tests"
  [ "$asan_status" -eq 0 ] || status=$asan_status
  # That build is configured as a user's is (no --enable-test-hooks): its
  # binary must not contain the hooks that hand a session's secret away.
  printf '\n===== default build: no test hooks =====\n'
  if [ ! -x "$asan_dir/jvpn-quic" ]; then
    echo "FAIL: $asan_dir/jvpn-quic was not built"
    total_fail=$((total_fail + 1))
  elif grep -aq 'JVPN_TEST_DUMP' "$asan_dir/jvpn-quic"; then
    echo "FAIL: $asan_dir/jvpn-quic contains the JVPN_TEST_DUMP_* hooks"
    total_fail=$((total_fail + 1))
  else
    echo "PASS: $asan_dir/jvpn-quic contains no JVPN_TEST_DUMP_* hook"
    total_pass=$((total_pass + 1))
  fi
else
  echo "test: the sanitizer build failed"
  total_fail=$((total_fail + 1))
  status=1
fi

if [ "$total_fail" -gt 0 ] && [ "$status" -eq 0 ]; then
  status=1
fi
echo
if [ "$total_skip" -gt 0 ]; then
  echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
  echo "$total_pass passed, $total_fail failed"
fi
exit "$status"
