/* jvpn-quic: attach proofs with wolfCrypt, and the replay window. */

/* options.h carries wolfSSL's build macros; it must precede every other
 * wolfSSL header or struct layouts disagree with the library. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proof.h"

#define PROOF_MAC_LABEL "jvpn-attach-v1"
#define PROOF_KEY_INFO "jvpn proof key"
#define PROOF_KEY_LEN 32 /* bytes: one SHA-256 output */

_Static_assert(JVPN_PROOF_LEN == WC_SHA256_DIGEST_SIZE,
               "the proof is one HMAC-SHA256 output");
_Static_assert(JVPN_REPLAY_WINDOW % 64 == 0 && JVPN_REPLAY_WINDOW >= 64,
               "the replay bitmap is whole 64-bit words");

#define REPLAY_WORDS (JVPN_REPLAY_WINDOW / 64)

static int role_valid(enum jvpn_proof_role role) {
  return role == JVPN_ROLE_REATTACH || role == JVPN_ROLE_STANDBY ||
         role == JVPN_ROLE_ACTIVATE;
}

int jvpn_proof_compute(const uint8_t secret[JVPN_SECRET_LEN],
                       const uint8_t session_id[JVPN_SESSION_ID_LEN],
                       uint64_t nonce, enum jvpn_proof_role role,
                       const uint8_t bind[JVPN_BIND_LEN],
                       uint8_t out[JVPN_PROOF_LEN]) {
  uint8_t key[PROOF_KEY_LEN];
  uint8_t tail[8 + 1]; /* nonce (big-endian) || role */
  Hmac hmac;
  int i, rv = JVPN_ERR_FATAL;

  if (!role_valid(role))
    return JVPN_ERR_INVAL;

  /* A per-purpose key: S may serve other derivations later, and HKDF keeps
   * them independent. */
  if (wc_HKDF(WC_SHA256, secret, JVPN_SECRET_LEN, session_id,
              JVPN_SESSION_ID_LEN, (const byte *)PROOF_KEY_INFO,
              (word32)(sizeof(PROOF_KEY_INFO) - 1), key, PROOF_KEY_LEN) != 0)
    goto out_key;

  for (i = 0; i < 8; i++)
    tail[i] = (uint8_t)(nonce >> (56 - 8 * i));
  tail[8] = (uint8_t)role;

  if (wc_HmacInit(&hmac, NULL, INVALID_DEVID) != 0)
    goto out_key;
  if (wc_HmacSetKey(&hmac, WC_SHA256, key, PROOF_KEY_LEN) != 0 ||
      wc_HmacUpdate(&hmac, (const byte *)PROOF_MAC_LABEL,
                    (word32)(sizeof(PROOF_MAC_LABEL) - 1)) != 0 ||
      wc_HmacUpdate(&hmac, session_id, JVPN_SESSION_ID_LEN) != 0 ||
      wc_HmacUpdate(&hmac, tail, sizeof(tail)) != 0 ||
      wc_HmacUpdate(&hmac, bind, JVPN_BIND_LEN) != 0 ||
      wc_HmacFinal(&hmac, out) != 0)
    goto out_hmac;
  rv = 0;

out_hmac:
  wc_HmacFree(&hmac);
  /* wc_HmacFree does not clear the padded key blocks in every build. */
  jvpn_wipe(&hmac, sizeof(hmac));
out_key:
  jvpn_wipe(key, sizeof(key));
  if (rv != 0)
    jvpn_wipe(out, JVPN_PROOF_LEN);
  return rv;
}

int jvpn_proof_verify(const uint8_t secret[JVPN_SECRET_LEN],
                      const uint8_t session_id[JVPN_SESSION_ID_LEN],
                      uint64_t nonce, enum jvpn_proof_role role,
                      const uint8_t bind[JVPN_BIND_LEN],
                      const uint8_t proof[JVPN_PROOF_LEN]) {
  uint8_t expect[JVPN_PROOF_LEN];
  int rv;

  rv = jvpn_proof_compute(secret, session_id, nonce, role, bind, expect);
  if (rv == 0 && !jvpn_ct_equal(expect, proof, JVPN_PROOF_LEN))
    rv = JVPN_ERR_DENIED;
  /* The expected MAC is a valid proof for this channel: never leave it. */
  jvpn_wipe(expect, sizeof(expect));
  return rv;
}

int jvpn_ct_equal(const void *a, const void *b, size_t len) {
  const volatile uint8_t *pa = a, *pb = b;
  unsigned diff = 0;
  size_t i;

  for (i = 0; i < len; i++)
    diff |= (unsigned)(pa[i] ^ pb[i]);
  /* diff is 0..255: diff - 1 underflows into bit 8 only when diff is 0,
   * so the result needs no data-dependent branch. */
  return (int)(1u & ((diff - 1u) >> 8));
}

void jvpn_wipe(void *p, size_t len) {
  if (p != NULL && len > 0)
    explicit_bzero(p, len);
}

/* Bit i of the window stands for nonce top - i (i < JVPN_REPLAY_WINDOW). */
static int replay_bit(const struct jvpn_replay *r, uint64_t i) {
  return (int)(r->bits[i / 64] >> (i % 64) & 1u);
}

void jvpn_replay_init(struct jvpn_replay *r) {
  memset(r, 0, sizeof(*r));
}

int jvpn_replay_check(const struct jvpn_replay *r, uint64_t nonce) {
  uint64_t age;

  if (nonce == 0)
    return 0;
  if (nonce > r->top)
    return 1;
  age = r->top - nonce;
  if (age >= JVPN_REPLAY_WINDOW)
    return 0; /* too old to tell, so treated as seen */
  return !replay_bit(r, age);
}

/* Ages every remembered nonce by |shift| positions (top moved up). */
static void replay_shift(struct jvpn_replay *r, uint64_t shift) {
  unsigned words, bits;
  int k;

  if (shift >= JVPN_REPLAY_WINDOW) {
    memset(r->bits, 0, sizeof(r->bits));
    return;
  }
  words = (unsigned)(shift / 64);
  bits = (unsigned)(shift % 64);
  /* Higher words hold older nonces: fill from the top down so each source
   * word is read before it is overwritten. */
  for (k = REPLAY_WORDS - 1; k >= 0; k--) {
    uint64_t v = 0;
    int src = k - (int)words;

    if (src >= 0) {
      v = r->bits[src] << bits;
      if (bits != 0 && src > 0)
        v |= r->bits[src - 1] >> (64 - bits);
    }
    r->bits[k] = v;
  }
}

int jvpn_replay_commit(struct jvpn_replay *r, uint64_t nonce) {
  uint64_t age;

  if (!jvpn_replay_check(r, nonce))
    return JVPN_ERR_DENIED;
  if (nonce > r->top) {
    replay_shift(r, nonce - r->top);
    r->top = nonce;
    r->bits[0] |= 1u;
    return 0;
  }
  age = r->top - nonce;
  r->bits[age / 64] |= (uint64_t)1 << (age % 64);
  return 0;
}
