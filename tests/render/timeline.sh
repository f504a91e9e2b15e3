#!/usr/bin/env bash
# tests/render/timeline.sh: `jvpn-quic timeline` pictures rendered by a
# real SVG renderer, so that a broken SVG fails.
#
# Inputs: real audit logs (tests/render/audit-*.jsonl: the server's and
# the client's of scripts/demo.sh, the server's of tests/netns/
# tcp_fallback.sh) and a made-up day of 40 sessions (tests/render/
# day.awk), which must come out as an overview. Each picture must be
# valid XML (xmllint --noout) and render with rsvg-convert (librsvg, the
# renderer of GNOME and of many web pipelines) to a PNG 1200 px wide and
# of some size. Then the command line: --session in base64url, --since,
# skipped malformed lines reported, refusals of no session drawn in a lane
# of their own and reported, an empty selection refused with exit
# status 1, a bad argument with 2. A truncated SVG must fail the same
# checks (the checks check).
#
# Skips (77) without rsvg-convert (librsvg2-bin) or xmllint
# (libxml2-utils): scripts/deps.sh installs both. RENDER_KEEP=1 keeps the
# pictures.
set -uo pipefail

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${JVPN_BIN:-${top_builddir:-$srcdir}/jvpn-quic}
here=$srcdir/tests/render

for tool in rsvg-convert xmllint awk; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is missing (scripts/deps.sh installs it)"
    exit 77
  fi
done
[ -x "$bin" ] || { echo "FAIL: no jvpn-quic at $bin"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jvpn-render.XXXXXX") || exit 1
if [ "${RENDER_KEEP:-0}" = 1 ]; then
  echo "keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
passed=0
failed=0
pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# png_width FILE: the width in the PNG's IHDR (bytes 16-19, big-endian).
png_width() {
  od -An -tu1 -j16 -N4 "$1" | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }'
}

# rendered NAME SVG: empty when the SVG is valid XML and renders to a PNG
# 1200 px wide of at least 4 KB; otherwise what is wrong.
rendered() {
  local png=$tmp/$1.png size
  if ! xmllint --noout "$2" 2>"$tmp/$1.xmllint"; then
    echo "xmllint: $(head -n 2 "$tmp/$1.xmllint" | tr '\n' ' ')"
    return
  fi
  if ! rsvg-convert "$2" -o "$png" 2>"$tmp/$1.rsvg"; then
    echo "rsvg-convert: $(head -n 2 "$tmp/$1.rsvg" | tr '\n' ' ')"
    return
  fi
  size=$(stat -c %s "$png" 2>/dev/null || echo 0)
  if [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" != "211PNG" ]; then
    echo "not a PNG"
  elif [ "$size" -lt 4096 ]; then
    echo "a PNG of only $size bytes"
  elif [ "$(png_width "$png")" != 1200 ]; then
    echo "a PNG $(png_width "$png") px wide, not 1200"
  fi
}

# draw NAME LOG [OPTIONS...]: the timeline of LOG in $tmp/NAME.svg, its
# stderr in $tmp/NAME.err; the exit status in REPLY.
draw() {
  local name=$1 log=$2
  shift 2
  "$bin" timeline "$@" "$log" -o "$tmp/$name.svg" 2>"$tmp/$name.err"
  REPLY=$?
}

lanes() { grep -c '<g class="lane"' "$1"; }

# --- the real logs -----------------------------------------------------------
for log in "$here"/audit-*.jsonl; do
  name=$(basename "$log" .jsonl)
  draw "$name" "$log"
  if [ "$REPLY" -ne 0 ]; then
    fail "$name" "exit status $REPLY: $(cat "$tmp/$name.err")"
    continue
  fi
  why=$(rendered "$name" "$tmp/$name.svg")
  if [ -n "$why" ]; then
    fail "$name" "$why"
  else
    pass "$name" "$(lanes "$tmp/$name.svg") lanes, detailed, rendered"
  fi
done

# --- a day of 40 sessions: the overview ---------------------------------------
awk -v n=40 -f "$here/day.awk" | sort -t '"' -k4,4 >"$tmp/day.jsonl"
draw day "$tmp/day.jsonl"
why=$(rendered day "$tmp/day.svg")
if [ "$REPLY" -ne 0 ] || [ -n "$why" ]; then
  fail day "exit status $REPLY ${why:-}"
elif ! grep -q 'overview: nearby events merged' "$tmp/day.svg" ||
     [ "$(lanes "$tmp/day.svg")" -ne 40 ]; then
  fail day "not an overview of 40 lanes"
else
  pass day "40 lanes over a day, overview, rendered"
fi

# --- the command line ---------------------------------------------------------
log=$here/audit-tcp-fallback.jsonl
hex=$(grep -o '"session":"[0-9a-f]*"' "$log" | head -n 1 | cut -d '"' -f 4)
b64=$(printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64 |
      tr '+/' '-_' | tr -d '=')
draw session "$log" --session "$b64"
if [ "$REPLY" -eq 0 ] && [ "$(lanes "$tmp/session.svg")" -eq 1 ] &&
   grep -q "id=\"s-$hex\"" "$tmp/session.svg"; then
  pass session "--session $b64 draws session $hex alone"
else
  fail session "--session $b64: status $REPLY, $(cat "$tmp/session.err")"
fi

since=$(awk -F '"' 'NR == 1 { print $4 }' "$tmp/day.jsonl")
since=${since%%T*}T12:00:00Z
draw since "$tmp/day.jsonl" --since "$since" --detail full
if [ "$REPLY" -eq 0 ] && [ -z "$(rendered since "$tmp/since.svg")" ] &&
   [ "$(lanes "$tmp/since.svg")" -lt 40 ] &&
   ! grep -q overview "$tmp/since.svg"; then
  pass since "--since $since --detail full: $(lanes "$tmp/since.svg") lanes"
else
  fail since "status $REPLY, $(cat "$tmp/since.err")"
fi

{
  cat "$log"
  echo 'not json at all'
  echo '{"ts":"2026-12-07T09:21:00Z","kind":"transition"'
  echo "{\"ts\":\"2026-12-07T09:21:00Z\",\"kind\":\"gossip\",\"session\":\"$hex\"}"
  printf '\001\377{}\n'
} >"$tmp/bad.jsonl"
draw bad "$tmp/bad.jsonl"
if [ "$REPLY" -eq 0 ] && [ -z "$(rendered bad "$tmp/bad.svg")" ] &&
   grep -q 'skipped 3 malformed lines and 1 record of an unknown kind' \
     "$tmp/bad.err"; then
  pass malformed "skipped and counted: $(cat "$tmp/bad.err" | head -n 1)"
else
  fail malformed "status $REPLY, $(cat "$tmp/bad.err")"
fi

# Refusals of no session (as the server logs a malformed request or a
# birth over the rate limit): a lane of their own, and a line on stderr.
{
  cat "$log"
  echo '{"ts":"2026-12-07T09:20:35Z","node":"server","kind":"security","event":"attach_refused","reason":"MALFORMED_REQUEST","peer":"203.0.113.7:4444","detail":"malformed jvpn-attach or jvpn-version header"}'
  echo '{"ts":"2026-12-07T09:20:36Z","node":"server","kind":"security","event":"attach_refused","reason":"RATE_LIMITED","peer":"198.18.3.1:7000","detail":"birth: pin attach rate"}'
} >"$tmp/unbound.jsonl"
draw unbound "$tmp/unbound.jsonl"
if [ "$REPLY" -eq 0 ] && [ -z "$(rendered unbound "$tmp/unbound.svg")" ] &&
   grep -q 'id="unbound"' "$tmp/unbound.svg" &&
   grep -q '2 refusals without a session: MALFORMED_REQUEST 1, RATE_LIMITED 1' \
     "$tmp/unbound.err"; then
  pass unbound "a lane without a session, rendered; $(grep refusal \
    "$tmp/unbound.err")"
else
  fail unbound "status $REPLY, $(cat "$tmp/unbound.err")"
fi

draw empty "$log" --session ffffffff
if [ "$REPLY" -eq 1 ] && grep -q 'nothing to draw' "$tmp/empty.err" &&
   [ ! -e "$tmp/empty.svg" ]; then
  pass empty "no such session: status 1, no file"
else
  fail empty "status $REPLY, $(cat "$tmp/empty.err")"
fi

: >"$tmp/none.jsonl"
draw none "$tmp/none.jsonl"
[ "$REPLY" -eq 1 ] && pass none "an empty log: status 1" ||
  fail none "an empty log: status $REPLY"

draw usage "$log" --since yesterday
[ "$REPLY" -eq 2 ] && pass usage "--since yesterday: status 2" ||
  fail usage "--since yesterday: status $REPLY"

# --- the checks catch a broken picture ----------------------------------------
head -c 3000 "$tmp/session.svg" >"$tmp/broken.svg"
if [ -n "$(rendered broken "$tmp/broken.svg")" ]; then
  pass broken "a truncated SVG fails the checks"
else
  fail broken "a truncated SVG passed the checks"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
