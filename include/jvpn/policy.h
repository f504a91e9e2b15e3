/*
 * jvpn-quic: the session policy (ARCHITECTURE 3, docs/state-machine.md).
 *
 * Every bound the session core enforces, with its unit in its name. The
 * defaults are the seed's policy schema; a [policy] section of either
 * config file overrides them (docs/config.md). A policy is only used after
 * jvpn_policy_validate() accepted it: the core trusts its invariants
 * (recovery window < transport-loss TTL < session lifetime, nonzero
 * rates) and does not check them again.
 *
 * The policy version is a 32-bit FNV-1a hash of every value in a fixed
 * order, computed by jvpn_policy_validate(). It needs no counter that an
 * operator could forget to bump: two nodes with the same values carry the
 * same version, and any change shows in the audit trail.
 */
#ifndef JVPN_POLICY_H
#define JVPN_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* Hard bounds on the knobs, so every table sized by a knob has a bound. */
#define JVPN_POLICY_MAX_SWITCHES_PER_MIN 64 /* size of the switch ring */
#define JVPN_POLICY_MAX_CANDIDATES 3        /* standby attachments */
#define JVPN_POLICY_SWITCH_WINDOW_MS 60000  /* "per minute" */
/* ms: path changes of one attachment this soon after one that was
 * counted are the same network event (a NAT that rebinds a flow gives it
 * a port, then often another while packets raced the new mapping), so
 * they are audited but not counted again (docs/decisions.md D53). */
#define JVPN_POLICY_PATH_BURST_MS 1000

struct jvpn_policy {
  uint32_t version; /* set by jvpn_policy_validate(); 0 = not validated */

  /* lifetimes */
  uint64_t session_lifetime_ms;   /* 8 h: absolute, from birth */
  uint64_t transport_loss_ttl_ms; /* 15 s without an active attachment */
  uint64_t recovery_window_ms;    /* 8 s in RECOVERING, then DEGRADED */

  /* health (VOLATILE detection; the heartbeat itself is the adapter's) */
  uint64_t heartbeat_ms;         /* 500 ms between heartbeats */
  uint64_t silence_volatile_ms;  /* 2 s without a reply -> VOLATILE */
  uint32_t loss_volatile_pct;    /* > 20 % loss ... */
  uint64_t loss_window_ms;       /* ... measured over 2 s -> VOLATILE */
  uint32_t probe_drops_volatile; /* 3 consecutive drops -> VOLATILE */
  uint64_t volatile_degraded_ms; /* 4 s in VOLATILE -> DEGRADED */
  uint64_t stability_window_ms;  /* 3 s healthy -> back to ATTACHED */

  /* switching */
  uint32_t max_switches_per_min; /* 8 accepted switches per 60 s */
  uint64_t switch_cooldown_ms;   /* 1.5 s after a switch before another
                                    voluntary one */
  uint32_t hysteresis_pct;       /* a candidate must beat the active path
                                    by 10 % */
  uint32_t max_candidates;       /* 3 standby attachments */

  /* proofs */
  uint32_t replay_window;    /* 128 nonces (at most JVPN_REPLAY_WINDOW) */
  uint64_t proof_max_age_ms; /* 5 s from the carrying connection's
                                handshake to its proof */

  /* attach rate limits (server): token buckets */
  uint32_t attach_rate_per_s;         /* 100 attempts/s per table */
  uint32_t attach_burst;              /* 200 attempts */
  uint32_t session_attach_rate_per_s; /* 5 attempts/s per session */
  uint32_t session_attach_burst;      /* 10 attempts */
  uint32_t pin_attach_rate_per_s;     /* 5 births or attaches/s per client
                                         pin, checked first: one client
                                         cannot drain the others' budget */
  uint32_t pin_attach_burst;          /* 20 */
  uint32_t birth_rate_per_s;          /* 50 births/s per table */
  uint32_t birth_burst;               /* 100 births */
  uint32_t pin_max_connections;       /* 32 live connections per client
                                         pin; past it handshakes fail */

  /* receive silence (quic/quic_silence, docs/decisions.md D23): a
   * receiving end whose peer streamed and went quiet probes the path */
  uint32_t rx_silence_arrivals;  /* 4 inter-arrivals of the stream (0 = off)
                                    make a silence ... */
  uint64_t rx_silence_floor_ms;  /* ... of at least 20 ms */
  uint64_t rx_silence_probe_ms;  /* a PING every 25 ms while silent */

  /* the HTTP/2 fallback (client, transport = auto; docs/decisions.md D39) */
  uint64_t tcp_fallback_ms;      /* 300 ms without a QUIC handshake, or of
                                    receive silence, start a TCP attempt
                                    (at least 3 RTTs of the last path) */
  uint64_t quic_probe_ms;        /* 2 s between QUIC attempts while on TCP */
};

/* Fills |p| with the defaults above and sets its version. */
void jvpn_policy_init(struct jvpn_policy *p);

/* Sets one knob from config text. |key| is the config key (the field name;
 * see docs/config.md), |value| a decimal integer in the key's unit, or for
 * _ms keys optionally with a suffix "ms", "s", "min" or "h" ("1.5s" is
 * not accepted: write "1500ms"). Clears p->version: call
 * jvpn_policy_validate() after the last key. Returns 0, JVPN_ERR_NOTFOUND
 * for an unknown key, or JVPN_ERR_INVAL for a bad or out-of-range value;
 * on error a message (without file or line) goes to |err| if not NULL. */
int jvpn_policy_set(struct jvpn_policy *p, const char *key, const char *value,
                    char *err, size_t errlen);

/* A knob's value: decimal, and for a duration (|is_ms|) an optional unit
 * ms, s, min or h ("1500", "1500ms", "15s"). Returns 0 or -1. */
int jvpn_policy_parse_value(const char *s, int is_ms, uint64_t *out);

/* Checks the relations between knobs (recovery window < transport-loss
 * TTL < session lifetime, silence and loss windows under the volatile
 * bound, ...) and sets p->version. Returns 0 or JVPN_ERR_INVAL with a
 * message in |err|. */
int jvpn_policy_validate(struct jvpn_policy *p, char *err, size_t errlen);

/* The version hash of the current values (what validate stores). */
uint32_t jvpn_policy_hash(const struct jvpn_policy *p);

/* Link health as an adapter measures it on one attachment. */
struct jvpn_health {
  uint64_t silence_ms;  /* since the last heartbeat reply */
  uint32_t loss_pct;    /* over the last loss_window_ms */
  uint32_t probe_drops; /* consecutive probes lost */
};

/* Returns 1 if |h| crosses a VOLATILE threshold and writes which one to
 * |detail| (may be NULL), else 0. */
int jvpn_policy_health_volatile(const struct jvpn_policy *p,
                                const struct jvpn_health *h, char *detail,
                                size_t detaillen);

/* Returns 1 if a candidate path with smoothed RTT |cand_rtt_us| beats the
 * active one (|active_rtt_us|) by the hysteresis margin. */
int jvpn_policy_candidate_better(const struct jvpn_policy *p,
                                 uint64_t active_rtt_us, uint64_t cand_rtt_us);

#endif /* JVPN_POLICY_H */
