/*
 * quic/quic_silence: the receiving end of a path notices when packets stop.
 *
 * A sender learns that a path died only when its own packets go
 * unacknowledged; a receiver whose peer streams to it learns it sooner, and
 * can act: an ack-eliciting probe from it makes a NAT re-learn a forgotten
 * mapping, shows the peer the path it should use now, and, once a blackhole
 * ends, gets traffic flowing again within a round trip instead of at the
 * sender's backed-off probe timeout (docs/decisions.md D23).
 *
 * Sans-I/O: the caller reports each packet's arrival time and asks, with
 * the path's RTT, whether a probe is due and when to look again.
 */
#ifndef QUIC_QUIC_SILENCE_H
#define QUIC_QUIC_SILENCE_H

#include <stdint.h>

/* Knobs; zero fields take the defaults of include/jvpn/proto.h. */
struct quic_silence_policy {
  uint32_t arrivals;     /* silence = this many expected inter-arrivals */
  uint32_t floor_ms;     /* and never less than this */
  uint32_t probe_ms;     /* interval between probes while silent */
  uint32_t stream_gap_ms;/* arrivals further apart are no stream to watch */
  uint32_t giveup_ms;    /* stop probing after this much silence */
  uint32_t confirm_probes; /* unanswered probes that make it an outage */
  uint32_t stream_arrivals; /* arrivals in a row that make a stream */
  int disabled;          /* never probe (policy "silence_detect = off") */
};

struct quic_silence {
  struct quic_silence_policy pol;
  uint64_t last_rx;      /* ns: the latest arrival; 0 = none yet */
  uint64_t gap_avg;      /* ns: smoothed inter-arrival of the arrivals */
  uint32_t run;          /* arrivals in a row within stream_gap_ms */
  uint64_t next_probe;   /* ns: the next probe while silent; 0 = none */
  uint32_t probes;       /* probes in the current silence */
  uint64_t episodes;     /* outages confirmed, ever */
};

/* Sets |s| up with |pol| (copied; zero fields become defaults). */
void quic_silence_init(struct quic_silence *s,
                       const struct quic_silence_policy *pol);

/* A packet arrived at |now|. Returns the length of the silence it ended in
 * ns if that silence had been confirmed as an outage, else 0. */
uint64_t quic_silence_on_rx(struct quic_silence *s, uint64_t now);

/* The silence threshold for the current stream and an RTT of |srtt_ns|:
 * max(arrivals x inter-arrival, 2 x srtt, floor). */
uint64_t quic_silence_threshold(const struct quic_silence *s,
                                uint64_t srtt_ns);

/* When the caller must look again (ns), or UINT64_MAX: the end of the
 * threshold, or the next probe of a silence already noticed. */
uint64_t quic_silence_deadline(const struct quic_silence *s, uint64_t srtt_ns);

/* Nonzero when a probe is due at |now|; it is then counted and the next
 * one scheduled (|slow|: at twice the interval, when the sender's window
 * runs low). A live peer that merely stopped streaming answers the
 * first; when confirm_probes went unanswered the silence is an outage
 * (quic_silence_outage(), and quic_silence_outage_began() right then). */
int quic_silence_probe_due(struct quic_silence *s, uint64_t now,
                           uint64_t srtt_ns, int slow);

/* Nonzero while the silence is a confirmed outage. */
static inline int quic_silence_outage(const struct quic_silence *s) {
  return s->probes >= s->pol.confirm_probes;
}

/* Nonzero right after the probe that confirmed the outage. */
static inline int quic_silence_outage_began(const struct quic_silence *s) {
  return s->probes == s->pol.confirm_probes;
}

#endif /* QUIC_QUIC_SILENCE_H */
