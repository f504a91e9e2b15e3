/*
 * src/store_common: what every session store back end does the same way
 * (D41, D44): seal a record with a fresh random nonce, time its writes
 * into struct jvpn_store_stats, and read records back at load (decode,
 * check that a record is the one its key names, count and report the
 * ones skipped, hold the good ones until the read is over).
 */
#ifndef SRC_STORE_COMMON_H
#define SRC_STORE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/store.h"

/* CLOCK_MONOTONIC in ns: the start of a timed write. */
uint64_t store_common_now_ns(void);

/* Ends the write timed from |t0|: counts an error, or adds its time to
 * the totals (the caller counts the write or delete itself). */
void store_common_note_write(struct jvpn_store_stats *st, uint64_t t0, int ok);

/* Encodes |r| into |out| (STORE_RECORD_MAX bytes) sealed with |key| under
 * a random nonce: the key lives as long as the server key, across
 * restarts, so a counter would need storing too. Returns the length, or
 * JVPN_ERR_SYSTEM (no randomness) or store_record_encode's error. */
long store_common_seal(uint8_t *out, size_t cap,
                       const struct jvpn_store_record *r,
                       const uint8_t key[JVPN_STORE_KEY_LEN]);

/* Decodes the |len| bytes stored under |id| (NULL when the key is not a
 * session ID) into |r|. A record that does not decode, or is not the
 * one its key names, is counted in st->skipped and reported to |sk|
 * (may be NULL). Returns 0, or -1 when skipped (|r| holds no secret). */
int store_common_read(const uint8_t *in, size_t len, const uint8_t *id,
                      const uint8_t key[JVPN_STORE_KEY_LEN],
                      struct jvpn_store_record *r, struct jvpn_store_stats *st,
                      jvpn_store_skip_fn sk, void *arg);

/* Records read by a load, handed out after the store's read ended (so a
 * callback may write) and only when all of it succeeded. Zero it first. */
struct store_common_list {
  struct jvpn_store_record *v;
  size_t n, cap;
};

/* Appends a copy of |r|. Returns 0 or JVPN_ERR_NOMEM. */
int store_common_list_push(struct store_common_list *l,
                           const struct jvpn_store_record *r);

/* When |err| is 0, gives every record to |fn| (may be NULL) and counts it
 * in st->loaded; then wipes and frees them all. Returns |err|. */
int store_common_list_deliver(struct store_common_list *l, int err,
                              struct jvpn_store_stats *st,
                              jvpn_store_load_fn fn, void *arg);

#endif /* SRC_STORE_COMMON_H */
