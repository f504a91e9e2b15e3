/*
 * src/store_record: the on-disk form of a stored session (D41), and its
 * conversion from and to the session core's struct.
 *
 * Version 1, big-endian, one record per session, keyed by its ID:
 *
 *   "JVS" 0x01        magic and format version
 *   id[16] pin[32]    session ID, owner pin
 *   state, flags      1 byte each (flags: bit 0 IPv4, bit 1 IPv6)
 *   addr4[4] addr6[16]
 *   state_version attach_version active_attachment last_attachment_id
 *   replay_top replay_bits[2]                               8 bytes each
 *   n_transitions n_switches                                8 bytes each
 *   policy_version                                          4 bytes
 *   born state_entered last_attached last_switch
 *   lifetime_deadline loss_deadline               8 bytes each, wall ms
 *   nswitches (1 byte, <= JVPN_SWITCH_RING), then that many wall ms
 *   nonce[12] sealed_secret[32] tag[16]
 *
 * The secret is sealed with ChaCha20-Poly1305 (wolfCrypt) under the key
 * the caller derives from the server's key file; everything before the
 * nonce is the additional data, so the tag covers the whole record. The
 * decoder treats its input as untrusted (tests/fuzz/fuzz_store_record.c).
 * Pure: no clock, no randomness (the nonce is the caller's).
 */
#ifndef SRC_STORE_RECORD_H
#define SRC_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/policy.h"
#include "jvpn/session.h"
#include "jvpn/store.h"

#define STORE_RECORD_VERSION 1
#define STORE_RECORD_NONCE_LEN 12
#define STORE_RECORD_TAG_LEN 16
#define STORE_RECORD_FIXED 199 /* bytes before the switch times */
#define STORE_RECORD_MIN                                                       \
  (STORE_RECORD_FIXED + STORE_RECORD_NONCE_LEN + JVPN_SECRET_LEN +             \
   STORE_RECORD_TAG_LEN)
#define STORE_RECORD_MAX (STORE_RECORD_MIN + 8 * JVPN_SWITCH_RING)

/* Encodes |r| into |out| (at least STORE_RECORD_MAX bytes), sealing its
 * secret with |key| and |nonce|. Returns the length, or JVPN_ERR_INVAL /
 * JVPN_ERR_NOSPACE / JVPN_ERR_FATAL (the cipher failed). */
long store_record_encode(uint8_t *out, size_t cap,
                         const struct jvpn_store_record *r,
                         const uint8_t key[JVPN_STORE_KEY_LEN],
                         const uint8_t nonce[STORE_RECORD_NONCE_LEN]);

/* Decodes and opens |len| bytes into |r|. Returns 0, or -1 with |*why|
 * (the skip reason) and |*detail| (a static phrase) set; |r| then holds
 * no secret. */
int store_record_decode(const uint8_t *in, size_t len,
                        const uint8_t key[JVPN_STORE_KEY_LEN],
                        struct jvpn_store_record *r,
                        enum jvpn_store_skip *why, const char **detail);

/* The record of |s| at this moment: |now_mono| is the caller's monotonic
 * clock (the session's), |now_wall| CLOCK_REALTIME, both ms. */
void store_record_from_session(struct jvpn_store_record *r,
                               const struct jvpn_session *s,
                               const struct jvpn_policy *p, uint64_t now_mono,
                               uint64_t now_wall);

/* The server-side session |r| describes, on this run's monotonic clock
 * (a wall time older than the clock's origin becomes 1). Its active
 * attachment, if any, is back in slot 0: the caller reports it dead. */
void store_record_to_session(struct jvpn_session *s,
                             const struct jvpn_store_record *r,
                             uint64_t now_mono, uint64_t now_wall);

/* A monotonic "now" on which every time of |r| is representable: |now_mono|,
 * or later when the session is older than this run's monotonic clock
 * (after a reboot). A session converted on that clock and ticked at it
 * meets its TTLs exactly as the wall clock says; the loader uses it to
 * decide whether a stored session expired while the server was down. */
uint64_t store_record_clock(const struct jvpn_store_record *r,
                            uint64_t now_mono, uint64_t now_wall);

#endif /* SRC_STORE_RECORD_H */
