/*
 * jvpn-quic: session secrets and attach proofs (ARCHITECTURE 4), with
 * wolfCrypt (HKDF, HMAC-SHA256). Pure functions of their inputs: no clock,
 * no I/O; the TLS exporter values are computed by the QUIC layer and passed
 * in as bytes.
 *
 *   S     = TLS-Exporter("EXPORTER-jvpn-session", session_id, 32) of the
 *           birth connection (computed by the caller; never on the wire)
 *   bind  = TLS-Exporter("EXPORTER-jvpn-bind", "", 32) of the connection
 *           carrying the proof
 *   proof = HMAC-SHA256(K, "jvpn-attach-v1" || session_id || nonce (u64,
 *           big-endian) || role (u8) || bind)
 *   K     = HKDF-SHA256(salt = session_id, ikm = S, info = "jvpn proof key")
 *
 * The nonce is strictly increasing per session and sender; the receiver
 * keeps a bounded replay window and records a nonce only after the MAC has
 * verified (ARCHITECTURE 3 rule 4).
 */
#ifndef JVPN_PROOF_H
#define JVPN_PROOF_H

#include <stddef.h>
#include <stdint.h>

#define JVPN_SESSION_ID_LEN 16  /* bytes */
#define JVPN_SECRET_LEN 32      /* bytes */
#define JVPN_BIND_LEN 32        /* bytes: channel binding exporter */
#define JVPN_PROOF_LEN 32       /* bytes: HMAC-SHA256 */
#define JVPN_REPLAY_WINDOW 128  /* nonces remembered below the highest */
#define JVPN_EXPORTER_SESSION_LABEL "EXPORTER-jvpn-session"
#define JVPN_EXPORTER_BIND_LABEL "EXPORTER-jvpn-bind"

/* What the proof is for; part of the MAC so one cannot stand for another. */
enum jvpn_proof_role {
  JVPN_ROLE_REATTACH = 1, /* new connection replaces a dead one */
  JVPN_ROLE_STANDBY = 2,  /* warm standby attachment (multi-path) */
  JVPN_ROLE_ACTIVATE = 3, /* standby becomes the active attachment */
};

/* Computes the proof. Returns 0, or JVPN_ERR_INVAL for a bad role, or
 * JVPN_ERR_FATAL if wolfCrypt fails. Intermediate keys are wiped. */
int jvpn_proof_compute(const uint8_t secret[JVPN_SECRET_LEN],
                       const uint8_t session_id[JVPN_SESSION_ID_LEN],
                       uint64_t nonce, enum jvpn_proof_role role,
                       const uint8_t bind[JVPN_BIND_LEN],
                       uint8_t out[JVPN_PROOF_LEN]);

/* Recomputes and compares in constant time. Returns 0 if |proof| is valid,
 * JVPN_ERR_DENIED if not, or another JVPN_ERR_* on failure. */
int jvpn_proof_verify(const uint8_t secret[JVPN_SECRET_LEN],
                      const uint8_t session_id[JVPN_SESSION_ID_LEN],
                      uint64_t nonce, enum jvpn_proof_role role,
                      const uint8_t bind[JVPN_BIND_LEN],
                      const uint8_t proof[JVPN_PROOF_LEN]);

/* Constant-time comparison of |len| bytes; returns 1 if equal. */
int jvpn_ct_equal(const void *a, const void *b, size_t len);

/* Wipes |len| bytes so the compiler cannot elide it. */
void jvpn_wipe(void *p, size_t len);

/* Sliding replay window over 64-bit nonces (RFC 4303 3.4.3 style). */
struct jvpn_replay {
  uint64_t top;                        /* highest nonce accepted; 0 none */
  uint64_t bits[JVPN_REPLAY_WINDOW / 64]; /* bit i: top - i seen */
};

void jvpn_replay_init(struct jvpn_replay *r);
/* Returns 1 if |nonce| is fresh (nonzero, not seen, not below the window),
 * without recording it. */
int jvpn_replay_check(const struct jvpn_replay *r, uint64_t nonce);
/* Records |nonce| (call only after the proof verified). Returns 0, or
 * JVPN_ERR_DENIED if it is not fresh. */
int jvpn_replay_commit(struct jvpn_replay *r, uint64_t nonce);

#endif /* JVPN_PROOF_H */
