/*
 * src/session_table: the server's sessions, and the gate every attach
 * request passes (ARCHITECTURE 3 rule 4, 7).
 *
 * Lookup by session ID is O(1) (open addressing, linear probing, at most
 * half full); the number of sessions is fixed when the table is made.
 * Sessions live in one array allocated up front, so a pointer from
 * jvpn_session_table_find() stays valid until that session is deleted or
 * swept.
 *
 * jvpn_session_table_attach() checks, in this order, stopping at the first
 * failure:
 *   0. the client pin's rate limit (bucket)     RATE_LIMITED
 *   1. table rate limit (token bucket)          RATE_LIMITED
 *   2. the session exists                       UNKNOWN_SESSION
 *      and its own rate limit                   RATE_LIMITED
 *   3. it is not TERMINATED                     SESSION_TERMINATED
 *   4. lifetime, transport-loss TTL, proof age  TTL_EXPIRED
 *   5. client pin equals the owner's            PIN_MISMATCH
 *   6. MAC (jvpn_proof_verify)                  BAD_PROOF
 *   7. nonce fresh (replay window, policy's)    REPLAY
 *   8. attach version current                   STALE_VERSION
 *   9. policy (the session core)                POLICY_* (DENIAL)
 * The pin's bucket comes first, so a client over its own budget spends
 * nobody else's; births pass the same pin bucket and a table-wide birth
 * bucket (jvpn_session_table_admit_birth).
 * A failure in 0-8 leaves the session byte for byte as it was (the rate
 * buckets live beside it, not in it) and yields one SECURITY record. Only
 * after 8 is the nonce recorded and the event handed to the core.
 */
#ifndef SRC_SESSION_TABLE_H
#define SRC_SESSION_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/policy.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"

#define JVPN_SESSION_TABLE_MAX 65536 /* sessions per table */

/* Injectable allocator (tests fail each allocation in turn). NULL members
 * or a NULL struct mean calloc()/free(). */
struct jvpn_mem {
  void *(*calloc)(void *user, size_t n, size_t size);
  void (*free)(void *user, void *ptr);
  void *user;
};

/* An attach request as the wire parser and the QUIC layer deliver it. */
struct jvpn_attach_req {
  uint8_t session_id[JVPN_SESSION_ID_LEN];
  uint64_t nonce;
  enum jvpn_proof_role role;
  uint8_t proof[JVPN_PROOF_LEN];
  uint8_t bind[JVPN_BIND_LEN];    /* this connection's bind exporter */
  uint8_t peer_pin[JVPN_PIN_LEN]; /* this connection's client pin */
  uint64_t attachment;   /* REATTACH/STANDBY: the new attachment's ID (the
                            caller's, strictly increasing); ACTIVATE: the
                            standby to activate */
  uint64_t version;      /* attach_version the client was last given */
  uint64_t handshake_ms; /* when this connection's handshake completed;
                            0 = unknown (no proof-age check) */
  int failover;          /* ACTIVATE: the client judged the active dead
                            (the cooldown does not apply) */
  const char *peer;      /* peer address for audit records; may be NULL */
};

struct jvpn_session_table;

/* Makes a table for at most |max_sessions| (1..JVPN_SESSION_TABLE_MAX).
 * |mem| may be NULL. Returns 0, JVPN_ERR_INVAL or JVPN_ERR_NOMEM. */
int jvpn_session_table_new(struct jvpn_session_table **pt, size_t max_sessions,
                           const struct jvpn_mem *mem);
/* Wipes every session (secrets included) and frees the table. NULL ok. */
void jvpn_session_table_del(struct jvpn_session_table *t);

size_t jvpn_session_table_count(const struct jvpn_session_table *t);

/* The session with |id|, or NULL. */
struct jvpn_session *
jvpn_session_table_find(struct jvpn_session_table *t,
                        const uint8_t id[JVPN_SESSION_ID_LEN]);

/* Births a session in BIRTH (the caller then confirms its first
 * attachment with JVPN_EV_ATTACH_CONFIRMED). |id| comes from the caller's
 * RNG, |secret| from the birth connection's exporter. Writes the
 * SESSION_BORN record to |out|; |*ps| (may be NULL) gets the session.
 * Returns 0, JVPN_ERR_EXISTS or JVPN_ERR_FULL. */
int jvpn_session_table_create(struct jvpn_session_table *t,
                              const uint8_t id[JVPN_SESSION_ID_LEN],
                              const uint8_t secret[JVPN_SECRET_LEN],
                              const uint8_t owner_pin[JVPN_PIN_LEN],
                              const struct jvpn_policy *p, uint64_t now_ms,
                              struct jvpn_session_out *out,
                              struct jvpn_session **ps);

/* Puts |src|, a session loaded from the store (src/store_record.h), into
 * the table as it is (copied; the caller wipes its own copy). Returns 0,
 * JVPN_ERR_INVAL, JVPN_ERR_EXISTS or JVPN_ERR_FULL. */
int jvpn_session_table_restore(struct jvpn_session_table *t,
                               const struct jvpn_session *src,
                               struct jvpn_session **ps);

/* Whether client |pin| may birth a session now: its pin bucket, then the
 * table's birth bucket. Returns 0, or JVPN_ERR_DENIED with one SECURITY
 * record (RATE_LIMITED) in |out|; |peer| (may be NULL) goes into it. */
int jvpn_session_table_admit_birth(struct jvpn_session_table *t,
                                   const uint8_t pin[JVPN_PIN_LEN],
                                   uint64_t now_ms,
                                   const struct jvpn_policy *p,
                                   const char *peer,
                                   struct jvpn_session_out *out);

/* Validates |req| as described above and, if it passes, applies it to
 * its session. Returns 0 if accepted; JVPN_ERR_DENIED if refused
 * (out->verdict says why: a security reason when the session is
 * untouched, a policy reason otherwise); JVPN_ERR_INVAL for a request
 * the caller built wrong (bad role, zero or reused attachment ID); a fatal
 * code if the MAC could not be computed. */
int jvpn_session_table_attach(struct jvpn_session_table *t,
                              const struct jvpn_attach_req *req,
                              uint64_t now_ms, const struct jvpn_policy *p,
                              struct jvpn_session_out *out);

/* Removes the session (wiping it). Returns 0 or JVPN_ERR_NOTFOUND. */
int jvpn_session_table_delete(struct jvpn_session_table *t,
                              const uint8_t id[JVPN_SESSION_ID_LEN]);

/* Called by the sweep for every session it ticked, with what the tick
 * produced. |released| is 1 when the session is TERMINATED: it is deleted
 * as soon as the callback returns, and its addresses go back to the pool
 * (the out then holds RELEASE_ADDRESSES unless it was terminated earlier,
 * by an event). |s| is valid during the call only. */
typedef void (*jvpn_session_sweep_fn)(void *arg, const struct jvpn_session *s,
                                      const struct jvpn_session_out *out,
                                      int released);

/* Ticks every session at |now_ms| (transport-loss TTL, lifetime and the
 * state timers) and removes the TERMINATED ones, in table order. |fn| may
 * be NULL. Returns the number of sessions released. */
size_t jvpn_session_table_sweep(struct jvpn_session_table *t,
                                const struct jvpn_policy *p, uint64_t now_ms,
                                jvpn_session_sweep_fn fn, void *arg);

/* The earliest deadline of any session (a TERMINATED one awaiting the
 * sweep counts as due now), or JVPN_NO_DEADLINE. */
uint64_t jvpn_session_table_next_deadline(const struct jvpn_session_table *t,
                                          const struct jvpn_policy *p);

#endif /* SRC_SESSION_TABLE_H */
