/* quic/quic_silence: silence on a receiving path, and when to probe. */
#include "quic/quic_silence.h"

#include <string.h>

#include "jvpn/proto.h"

#define MS 1000000ull /* ns */

static uint32_t or_default(uint32_t v, uint32_t def) { return v ? v : def; }

void quic_silence_init(struct quic_silence *s,
                       const struct quic_silence_policy *pol) {
  memset(s, 0, sizeof(*s));
  if (pol)
    s->pol = *pol;
  s->pol.arrivals = or_default(s->pol.arrivals, JVPN_SILENCE_ARRIVALS);
  s->pol.floor_ms = or_default(s->pol.floor_ms, JVPN_SILENCE_FLOOR_MS);
  s->pol.probe_ms = or_default(s->pol.probe_ms, JVPN_SILENCE_PROBE_MS);
  s->pol.stream_gap_ms =
      or_default(s->pol.stream_gap_ms, JVPN_SILENCE_STREAM_GAP_MS);
  s->pol.giveup_ms = or_default(s->pol.giveup_ms, JVPN_SILENCE_GIVEUP_MS);
  s->pol.confirm_probes =
      or_default(s->pol.confirm_probes, JVPN_SILENCE_CONFIRM_PROBES);
  s->pol.stream_arrivals =
      or_default(s->pol.stream_arrivals, JVPN_SILENCE_STREAM_ARRIVALS);
}

/* Nonzero when the arrivals form a stream whose silence means something. */
static int streaming(const struct quic_silence *s) {
  return !s->pol.disabled && s->last_rx && s->run >= s->pol.stream_arrivals;
}

uint64_t quic_silence_on_rx(struct quic_silence *s, uint64_t now) {
  uint64_t gap = s->last_rx && now > s->last_rx ? now - s->last_rx : 0;
  uint64_t ended = quic_silence_outage(s) ? gap : 0;

  if (s->probes && !quic_silence_outage(s)) {
    /* Our probe was answered: the peer had merely stopped streaming. */
    s->run = 0;
  } else if (s->last_rx && !s->probes &&
             gap <= (uint64_t)s->pol.stream_gap_ms * MS) {
    /* Only the gaps of a stream shape its rhythm; the gap that ends an
     * outage leaves it as it was. */
    s->gap_avg = s->gap_avg ? (7 * s->gap_avg + gap) / 8 : gap;
    if (s->run < UINT32_MAX)
      s->run++;
  } else if (!s->probes) {
    s->run = 0; /* a pause, not a stream: nothing to miss */
    s->gap_avg = 0;
  }
  s->last_rx = now;
  s->next_probe = 0;
  s->probes = 0;
  return ended;
}

uint64_t quic_silence_threshold(const struct quic_silence *s,
                                uint64_t srtt_ns) {
  uint64_t t = (uint64_t)s->pol.arrivals * s->gap_avg;

  if (t < 2 * srtt_ns)
    t = 2 * srtt_ns;
  if (t < (uint64_t)s->pol.floor_ms * MS)
    t = (uint64_t)s->pol.floor_ms * MS;
  return t;
}

uint64_t quic_silence_deadline(const struct quic_silence *s,
                               uint64_t srtt_ns) {
  if (!streaming(s))
    return UINT64_MAX;
  if (s->next_probe)
    return s->next_probe < s->last_rx + (uint64_t)s->pol.giveup_ms * MS
               ? s->next_probe
               : UINT64_MAX;
  return s->last_rx + quic_silence_threshold(s, srtt_ns);
}

int quic_silence_probe_due(struct quic_silence *s, uint64_t now,
                           uint64_t srtt_ns, int slow) {
  uint64_t due = quic_silence_deadline(s, srtt_ns);

  if (due == UINT64_MAX || now < due)
    return 0;
  if (++s->probes == s->pol.confirm_probes)
    s->episodes++;
  s->next_probe = now + (uint64_t)s->pol.probe_ms * MS * (slow ? 2 : 1);
  return 1;
}
