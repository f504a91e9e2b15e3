/*
 * jvpn-quic: the session store (docs/decisions.md D41).
 *
 * One small interface between the server's session layer and whatever
 * keeps its sessions across restarts: LMDB in the state directory
 * (src/store_lmdb.c) by default. The session core stays sans-I/O: the
 * server's session layer (src/server_store.c) calls the store when the
 * core's output changed a session (its state_version, attach version,
 * replay window, switch budget), and loads the sessions back at start.
 *
 * A record holds what a restarted server needs to accept the client's
 * reattach and to keep the session's bounds honest: ID, owner pin, the
 * secret (sealed with AEAD under a key derived from the server's key
 * file), inner addresses, state and versions, the replay window, the
 * switch budget and the TTL anchors and deadlines as wall-clock times
 * (CLOCK_REALTIME ms: monotonic clocks do not survive a reboot).
 */
#ifndef JVPN_STORE_H
#define JVPN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proof.h"
#include "jvpn/proto.h"
#include "jvpn/session.h"

#define JVPN_STORE_KEY_LEN 32 /* the sealing key (ChaCha20-Poly1305) */

/* One session as stored. Times are wall-clock ms; 0 = never (switch
 * times), JVPN_NO_DEADLINE = no deadline. */
struct jvpn_store_record {
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint8_t owner_pin[JVPN_PIN_LEN];
  uint8_t secret[JVPN_SECRET_LEN];
  uint8_t state; /* enum jvpn_session_state */
  uint8_t has4, has6;
  uint8_t addr4[4];
  uint8_t addr6[16];
  uint64_t state_version, attach_version;
  uint64_t active_attachment; /* 0: none (RECOVERING) */
  uint64_t last_attachment_id;
  struct jvpn_replay replay;
  uint64_t n_transitions, n_switches;
  uint32_t policy_version;
  uint64_t born_wall_ms, state_entered_wall_ms, last_attached_wall_ms;
  uint64_t last_switch_wall_ms;
  uint64_t lifetime_deadline_wall_ms; /* born + session_lifetime_ms */
  uint64_t loss_deadline_wall_ms;     /* RECOVERING: last_attached + TTL */
  uint32_t nswitches;                 /* switch budget, oldest first */
  uint64_t switch_wall_ms[JVPN_SWITCH_RING];
};

/* Why a stored record was not loaded. */
enum jvpn_store_skip {
  JVPN_STORE_SKIP_MALFORMED = 0, /* length, magic or a field out of range */
  JVPN_STORE_SKIP_VERSION,       /* a record format this build does not know */
  JVPN_STORE_SKIP_SEAL,          /* the AEAD tag does not verify (tampered,
                                    or sealed under another server key) */
  JVPN_STORE_SKIP_COUNT
};

const char *jvpn_store_skip_name(enum jvpn_store_skip why);

struct jvpn_store_stats {
  uint64_t writes, write_errors, deletes;
  uint64_t loaded;
  uint64_t skipped[JVPN_STORE_SKIP_COUNT];
  uint64_t write_ns_total, write_ns_max; /* put and delete, commit included */
};

/* Called by load for each record that decoded and verified; |r| is valid
 * during the call only (its secret is wiped after). */
typedef void (*jvpn_store_load_fn)(void *arg, const struct jvpn_store_record *r);
/* ... and for each record skipped; |id| is the record's key when it has
 * the length of a session ID, else NULL. */
typedef void (*jvpn_store_skip_fn)(void *arg, const uint8_t *id,
                                   enum jvpn_store_skip why,
                                   const char *detail);

struct jvpn_store_ops {
  const char *name;
  /* Writes |r| durably (crash-consistent: all of it or none). */
  int (*put)(void *impl, const struct jvpn_store_record *r);
  /* Removes the record of |id|; a missing one is not an error. */
  int (*del)(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN]);
  /* Reads every record. Returns 0 or a JVPN_ERR_* (nothing read). */
  int (*load)(void *impl, jvpn_store_load_fn fn, jvpn_store_skip_fn skip,
              void *arg);
  const struct jvpn_store_stats *(*stats)(void *impl);
  void (*close)(void *impl);
};

struct jvpn_store {
  const struct jvpn_store_ops *ops;
  void *impl;
};

static inline int jvpn_store_put(struct jvpn_store *s,
                                 const struct jvpn_store_record *r) {
  return s->ops->put(s->impl, r);
}
static inline int jvpn_store_del(struct jvpn_store *s,
                                 const uint8_t id[JVPN_SESSION_ID_LEN]) {
  return s->ops->del(s->impl, id);
}
static inline int jvpn_store_load(struct jvpn_store *s, jvpn_store_load_fn fn,
                                  jvpn_store_skip_fn skip, void *arg) {
  return s->ops->load(s->impl, fn, skip, arg);
}
static inline const struct jvpn_store_stats *
jvpn_store_stats(const struct jvpn_store *s) {
  return s->ops->stats(s->impl);
}
/* Closes and frees |s|; NULL is accepted. */
static inline void jvpn_store_close(struct jvpn_store *s) {
  if (s != NULL)
    s->ops->close(s->impl);
}

#endif /* JVPN_STORE_H */
