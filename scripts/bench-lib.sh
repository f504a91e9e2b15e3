# shellcheck shell=bash
# scripts/bench-lib.sh: what the comparison benchmarks share (sourced by
# scripts/bench-recovery.sh and scripts/bench-failover.sh): statistics over
# the runs and the printing of their tables.

# bench_stat LIST median|max: in REPLY, "-" for an empty list.
bench_stat() {
  # shellcheck disable=SC2086 # a list of words
  REPLY=$(printf '%s\n' $1 | sort -n | awk -v w="$2" '
    NF { v[n++] = $1 }
    END {
      if (n == 0) { print "-"; exit }
      if (w == "max") { printf "%.0f", v[n - 1]; exit }
      if (n % 2) printf "%.0f", v[(n - 1) / 2]
      else printf "%.0f", (v[n / 2 - 1] + v[n / 2]) / 2
    }')
}

# bench_print_table text|md ROW...: the rows ("a|b|c", the first one the
# header) as aligned text or as a markdown table.
bench_print_table() {
  local fmt=$1 r i=0
  shift
  for r in "$@"; do
    if [ "$fmt" = md ]; then
      printf '| %s |\n' "${r//|/ | }"
      if [ "$i" = 0 ]; then
        printf '%s\n' "$r" | awk -F'|' '{ s = "|"; for (j = 1; j <= NF; j++)
          s = s (j == 1 ? "---|" : "---:|"); print s }'
      fi
    else
      printf '%s\n' "$r"
    fi
    i=$((i + 1))
  done | { if [ "$fmt" = md ]; then cat; else column -t -s'|'; fi; }
}

# bench_probe_result OUT: waits for probe stream OUT, then its longest gap
# (ms) in BENCH_GAP and its lost packets in BENCH_LOST. A stream that never
# came back lost its tail, which the receiver's own numbers (both up to
# the last packet received) do not show: BENCH_DEAD=1, its gap is then
# from the last arrival to the stream's end (a lower bound) and its loss
# everything not received.
# shellcheck disable=SC2004,SC2154 # the array's keys hold a comma
# shellcheck disable=SC2034 # BENCH_* are for the callers
bench_probe_result() {
  local out=$1
  lab_probe_wait "$out" || return 1
  BENCH_DEAD=0
  if [ "${LAB_PROBE[$out,sent]}" -lt \
       $(( LAB_PROBE[$out,expected] - LAB_PROBE_RATE / 2 )) ]; then
    BENCH_DEAD=1
    BENCH_GAP=$(awk -v f="${LAB_PROBE[$out,first_ms]}" \
      -v l="${LAB_PROBE[$out,last_ms]}" -v n="${LAB_PROBE[$out,expected]}" \
      -v r="$LAB_PROBE_RATE" 'BEGIN { printf "%.1f", f + n * 1000 / r - l }')
    BENCH_LOST=$(( LAB_PROBE[$out,expected] - LAB_PROBE[$out,received] ))
  else
    BENCH_GAP=${LAB_PROBE[$out,longest_gap_ms]}
    BENCH_LOST=${LAB_PROBE[$out,lost]}
  fi
}
