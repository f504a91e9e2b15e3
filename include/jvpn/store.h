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
  /* Writes |r| durably (crash-consistent: all of it or none). In a
   * cluster, JVPN_ERR_DENIED: another node owns the session now. */
  int (*put)(void *impl, const struct jvpn_store_record *r);
  /* Removes the record of |id|; a missing one is not an error. */
  int (*del)(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN]);
  /* Reads every record (in a cluster: every record this node owned
   * under any epoch, taking each for this start). Returns 0 or a
   * JVPN_ERR_* (nothing read). */
  int (*load)(void *impl, jvpn_store_load_fn fn, jvpn_store_skip_fn skip,
              void *arg);
  const struct jvpn_store_stats *(*stats)(void *impl);
  void (*close)(void *impl);
  /* Optional (NULL: each put and del is durable on return). Between
   * begin and commit, puts and dels go into one transaction that commit
   * makes durable with one flush to disk (group commit,
   * docs/decisions.md D48); a failed put or del in it fails the rest and
   * commit, and then none of them is stored. Return 0 or a JVPN_ERR_*. */
  int (*begin)(void *impl);
  int (*commit)(void *impl);
};

/* Several server nodes sharing one store (Redis, D44). A store of one
 * node (LMDB) has none of these (jvpn_store.cluster == NULL).
 *
 * Ownership: every record names the node that serves it (node ID and
 * that node's epoch, a number fresh at every start). A node holds a lease
 * (its node key, renewed well within lease_ms); a record whose owner's
 * lease is gone, or names an older epoch of a node that restarted, may be
 * taken by another node. Taking it changes the owner: from then on the
 * old owner's put and del fail with JVPN_ERR_DENIED (the fence), so two
 * nodes never both write one session, and the old owner learns that the
 * session moved. A put of a record that does not exist yet creates it
 * (births; and a node re-writing what a restarted store lost). */
struct jvpn_store_cluster_ops {
  /* Renews this node's lease for |lease_ms|. Returns 0, or JVPN_ERR_AGAIN
   * while the store is unreachable (the node keeps serving what it owns
   * and refuses births and takeovers meanwhile), or JVPN_ERR_DENIED when
   * the lease names a later start of this node (another process serves
   * it: this one must stop). Never blocks longer than the store's
   * command timeout. */
  int (*renew)(void *impl, uint64_t lease_ms);
  /* Takes session |id| for this node and reads its record into |r| (the
   * caller wipes it). Returns 0 when this node owns it now (it did
   * already, or the owner's lease was gone: the owner changed),
   * JVPN_ERR_NOTFOUND when there is no such record, JVPN_ERR_EXISTS when
   * a live node holds it (*held_ms: what is left of that lease),
   * JVPN_ERR_MALFORMED (r's decoding failed: the record is skipped),
   * JVPN_ERR_AGAIN when the store is unreachable. */
  int (*take)(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN],
              struct jvpn_store_record *r, uint64_t *held_ms);
  /* The inner address of |pin| in |family| (AF_INET: 4 bytes, AF_INET6:
   * 16), one for the whole cluster and for good: when |pin| has one
   * already it is written to |got|; else |want| becomes it unless another
   * pin holds |want| (JVPN_ERR_EXISTS: the caller tries another). Returns
   * 0, JVPN_ERR_EXISTS or JVPN_ERR_AGAIN (unreachable). */
  int (*claim_addr)(void *impl, const uint8_t pin[JVPN_PIN_LEN], int family,
                    const uint8_t *want, uint8_t *got);
  /* 1 while the store answers (the last command or renewal succeeded). */
  int (*reachable)(void *impl);
};

struct jvpn_store {
  const struct jvpn_store_ops *ops;
  void *impl;
  const struct jvpn_store_cluster_ops *cluster; /* NULL: one node */
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
/* Nonzero if |s| can group writes (jvpn_store_begin .. _commit). */
static inline int jvpn_store_batches(const struct jvpn_store *s) {
  return s->ops->begin != NULL && s->ops->commit != NULL;
}
static inline int jvpn_store_begin(struct jvpn_store *s) {
  return s->ops->begin(s->impl);
}
static inline int jvpn_store_commit(struct jvpn_store *s) {
  return s->ops->commit(s->impl);
}
/* Closes and frees |s|; NULL is accepted. */
static inline void jvpn_store_close(struct jvpn_store *s) {
  if (s != NULL)
    s->ops->close(s->impl);
}

#endif /* JVPN_STORE_H */
