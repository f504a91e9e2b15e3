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
