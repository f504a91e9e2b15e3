/* jvpn-quic: session policy knobs, their defaults and their checks. */
#include "jvpn/policy.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proof.h"
#include "jvpn/proto.h"
#include "src/errmsg.h"

#define MS_PER_S 1000ULL
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_H)

enum knob_type { KNOB_U32, KNOB_U64_MS };

struct knob {
  const char *name;
  size_t off;
  enum knob_type type;
  uint64_t min, max;
  uint64_t def;
};

#define U64(f, lo, hi, d)                                                      \
  { #f, offsetof(struct jvpn_policy, f), KNOB_U64_MS, (lo), (hi), (d) }
#define U32(f, lo, hi, d)                                                      \
  { #f, offsetof(struct jvpn_policy, f), KNOB_U32, (lo), (hi), (d) }

/* The order of this table is the order of the version hash: append new
 * knobs at the end so old policies keep their versions. */
static const struct knob knobs[] = {
    U64(session_lifetime_ms, MS_PER_S, 30 * MS_PER_DAY, 8 * MS_PER_H),
    U64(transport_loss_ttl_ms, MS_PER_S, MS_PER_DAY, 15 * MS_PER_S),
    U64(recovery_window_ms, 100, MS_PER_DAY, 8 * MS_PER_S),
    U64(heartbeat_ms, 50, MS_PER_MIN, 500),
    U64(silence_volatile_ms, 100, 10 * MS_PER_MIN, 2 * MS_PER_S),
    U32(loss_volatile_pct, 1, 100, 20),
    U64(loss_window_ms, 100, 10 * MS_PER_MIN, 2 * MS_PER_S),
    U32(probe_drops_volatile, 1, 1000, 3),
    U64(volatile_degraded_ms, 100, MS_PER_H, 4 * MS_PER_S),
    U64(stability_window_ms, 100, MS_PER_H, 3 * MS_PER_S),
    U32(max_switches_per_min, 1, JVPN_POLICY_MAX_SWITCHES_PER_MIN, 8),
    U64(switch_cooldown_ms, 0, 10 * MS_PER_MIN, 1500),
    U32(hysteresis_pct, 0, 100, 10),
    U32(max_candidates, 0, JVPN_POLICY_MAX_CANDIDATES, 3),
    U32(replay_window, 1, JVPN_REPLAY_WINDOW, JVPN_REPLAY_WINDOW),
    U64(proof_max_age_ms, 100, 10 * MS_PER_MIN, 5 * MS_PER_S),
    U32(attach_rate_per_s, 1, 1000000, 100),
    U32(attach_burst, 1, 1000000, 200),
    U32(session_attach_rate_per_s, 1, 1000, 5),
    U32(session_attach_burst, 1, 1000, 10),
    U32(pin_attach_rate_per_s, 1, 1000, 5),
    U32(pin_attach_burst, 1, 1000, 20),
    U32(birth_rate_per_s, 1, 1000000, 50),
    U32(birth_burst, 1, 1000000, 100),
    U32(pin_max_connections, 1, JVPN_MAX_CONNS, JVPN_CONNS_PER_PIN),
    U32(rx_silence_arrivals, 0, 64, JVPN_SILENCE_ARRIVALS),
    U64(rx_silence_floor_ms, 5, 10 * MS_PER_MIN, JVPN_SILENCE_FLOOR_MS),
    U64(rx_silence_probe_ms, 5, MS_PER_MIN, JVPN_SILENCE_PROBE_MS),
    U64(tcp_fallback_ms, 50, MS_PER_MIN, JVPN_TCP_FALLBACK_MS),
    U64(quic_probe_ms, 200, 10 * MS_PER_MIN, JVPN_QUIC_PROBE_MS),
};

#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

static uint64_t knob_get(const struct jvpn_policy *p, const struct knob *k) {
  const char *base = (const char *)p + k->off;
  uint32_t v32;
  uint64_t v64;

  if (k->type == KNOB_U32) {
    memcpy(&v32, base, sizeof(v32));
    return v32;
  }
  memcpy(&v64, base, sizeof(v64));
  return v64;
}

static void knob_put(struct jvpn_policy *p, const struct knob *k, uint64_t v) {
  char *base = (char *)p + k->off;
  uint32_t v32 = (uint32_t)v;

  if (k->type == KNOB_U32)
    memcpy(base, &v32, sizeof(v32));
  else
    memcpy(base, &v, sizeof(v));
}

void jvpn_policy_init(struct jvpn_policy *p) {
  size_t i;

  memset(p, 0, sizeof(*p));
  for (i = 0; i < NKNOBS; i++)
    knob_put(p, &knobs[i], knobs[i].def);
  p->version = jvpn_policy_hash(p);
}

uint32_t jvpn_policy_hash(const struct jvpn_policy *p) {
  uint32_t h = 2166136261u; /* FNV-1a offset basis */
  uint64_t v;
  size_t i, b;

  /* Values, not struct bytes: padding must not leak into the version. */
  for (i = 0; i < NKNOBS; i++) {
    v = knob_get(p, &knobs[i]);
    for (b = 0; b < 8; b++) {
      h ^= (uint8_t)(v >> (8 * b));
      h *= 16777619u;
    }
  }
  return h != 0 ? h : 1; /* 0 means "not validated" */
}

int jvpn_policy_parse_value(const char *s, int is_ms, uint64_t *out) {
  static const struct {
    const char *suffix;
    uint64_t mult;
  } units[] = {{"", 1},
               {"ms", 1},
               {"s", MS_PER_S},
               {"min", MS_PER_MIN},
               {"h", MS_PER_H}};
  uint64_t v = 0;
  size_t i;

  if (*s < '0' || *s > '9')
    return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(s, units[i].suffix) != 0)
      continue;
    if (i > 0 && !is_ms)
      return -1;
    if (v > UINT64_MAX / units[i].mult)
      return -1;
    *out = v * units[i].mult;
    return 0;
  }
  return -1;
}

int jvpn_policy_set(struct jvpn_policy *p, const char *key, const char *value,
                    char *err, size_t errlen) {
  const struct knob *k = NULL;
  uint64_t v;
  size_t i;

  if (p == NULL || key == NULL || value == NULL)
    return JVPN_ERR_INVAL;
  for (i = 0; i < NKNOBS; i++) {
    if (strcmp(knobs[i].name, key) == 0) {
      k = &knobs[i];
      break;
    }
  }
  if (k == NULL) {
    (void)jvpn_errmsg(err, errlen, "unknown policy key \"%.64s\"", key);
    return JVPN_ERR_NOTFOUND;
  }
  if (jvpn_policy_parse_value(value, k->type == KNOB_U64_MS, &v) < 0)
    return jvpn_errmsg(err, errlen,
                       k->type == KNOB_U64_MS
                           ? "%s: \"%.64s\" is not a duration (N, Nms, Ns, "
                             "Nmin or Nh)"
                           : "%s: \"%.64s\" is not a whole number",
                       key, value);
  if (v < k->min || v > k->max)
    return jvpn_errmsg(err, errlen, "%s: %llu out of range %llu..%llu", key,
                       (unsigned long long)v, (unsigned long long)k->min,
                       (unsigned long long)k->max);
  knob_put(p, k, v);
  p->version = 0;
  return 0;
}

int jvpn_policy_validate(struct jvpn_policy *p, char *err, size_t errlen) {
  uint64_t v;
  size_t i;

  if (p == NULL)
    return JVPN_ERR_INVAL;
  /* Ranges again: a policy may be built in code, not only from text. */
  for (i = 0; i < NKNOBS; i++) {
    v = knob_get(p, &knobs[i]);
    if (v < knobs[i].min || v > knobs[i].max)
      return jvpn_errmsg(err, errlen, "%s: %llu out of range %llu..%llu",
                         knobs[i].name, (unsigned long long)v,
                         (unsigned long long)knobs[i].min,
                         (unsigned long long)knobs[i].max);
  }
  /* ARCHITECTURE 3 rule 5: a session gives up recovering before its
   * addresses are reclaimed, and is reclaimed before it dies of age. */
  if (p->recovery_window_ms >= p->transport_loss_ttl_ms)
    return jvpn_errmsg(err, errlen,
                       "recovery_window_ms (%llu) must be less than "
                       "transport_loss_ttl_ms (%llu)",
                       (unsigned long long)p->recovery_window_ms,
                       (unsigned long long)p->transport_loss_ttl_ms);
  if (p->transport_loss_ttl_ms >= p->session_lifetime_ms)
    return jvpn_errmsg(err, errlen,
                       "transport_loss_ttl_ms (%llu) must be less than "
                       "session_lifetime_ms (%llu)",
                       (unsigned long long)p->transport_loss_ttl_ms,
                       (unsigned long long)p->session_lifetime_ms);
  /* Silence shorter than one heartbeat would flag every healthy path. */
  if (p->silence_volatile_ms <= p->heartbeat_ms)
    return jvpn_errmsg(err, errlen,
                       "silence_volatile_ms (%llu) must exceed heartbeat_ms "
                       "(%llu)",
                       (unsigned long long)p->silence_volatile_ms,
                       (unsigned long long)p->heartbeat_ms);
  if (p->switch_cooldown_ms >= JVPN_POLICY_SWITCH_WINDOW_MS)
    return jvpn_errmsg(err, errlen,
                       "switch_cooldown_ms (%llu) must be under a minute",
                       (unsigned long long)p->switch_cooldown_ms);
  if (p->session_attach_burst > p->attach_burst)
    return jvpn_errmsg(err, errlen,
                       "session_attach_burst (%u) must not exceed attach_burst "
                       "(%u)",
                       p->session_attach_burst, p->attach_burst);
  p->version = jvpn_policy_hash(p);
  return 0;
}

int jvpn_policy_health_volatile(const struct jvpn_policy *p,
                                const struct jvpn_health *h, char *detail,
                                size_t detaillen) {
  if (h->silence_ms >= p->silence_volatile_ms) {
    (void)jvpn_errmsg(detail, detaillen, "silence %llu ms",
                      (unsigned long long)h->silence_ms);
    return 1;
  }
  if (h->loss_pct > p->loss_volatile_pct) {
    (void)jvpn_errmsg(detail, detaillen, "loss %u%% over %llu ms", h->loss_pct,
                      (unsigned long long)p->loss_window_ms);
    return 1;
  }
  if (h->probe_drops >= p->probe_drops_volatile) {
    (void)jvpn_errmsg(detail, detaillen, "%u probe drops", h->probe_drops);
    return 1;
  }
  return 0;
}

int jvpn_policy_candidate_better(const struct jvpn_policy *p,
                                 uint64_t active_rtt_us, uint64_t cand_rtt_us) {
  /* cand * 100 < active * (100 - h); the guard keeps both products in
   * 64 bits (real RTTs in microseconds are far below it). */
  if (active_rtt_us > (UINT64_MAX / 100) || cand_rtt_us > (UINT64_MAX / 100))
    return 0;
  return cand_rtt_us * 100 < active_rtt_us * (100 - p->hysteresis_pct);
}
