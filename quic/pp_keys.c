/*
 * quic/pp_keys: Handshake and 1-RTT keys held as bytes, their GnuTLS
 * contexts made on first use (D51). See pp_keys.h.
 */
#include "quic/pp_keys.h"

#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

/* Set on the cipher handles (small GnuTLS algorithm numbers) of a crypto
 * context whose contexts are slots of a struct pp_keys. */
#define PP_MARK ((intptr_t)1 << 24)

static int marked(const void *native_handle) {
  return ((intptr_t)native_handle & PP_MARK) != 0;
}

static void *unmark(const void *native_handle) {
  return (void *)((intptr_t)native_handle & ~PP_MARK);
}

/* |aead| without the mark, as ngtcp2_crypto's functions take it. */
static ngtcp2_crypto_aead plain_aead(const ngtcp2_crypto_aead *aead) {
  ngtcp2_crypto_aead plain = *aead;

  plain.native_handle = unmark(aead->native_handle);
  return plain;
}

void pp_keys_mark_ctx(ngtcp2_crypto_ctx *ctx) {
  ctx->aead.native_handle =
      (void *)((intptr_t)ctx->aead.native_handle | PP_MARK);
  ctx->hp.native_handle = (void *)((intptr_t)ctx->hp.native_handle | PP_MARK);
}

/* HKDF-Expand-Label with an empty context (RFC 8446 7.1). */
static int expand_label(uint8_t *dest, size_t destlen,
                        const ngtcp2_crypto_md *md, const uint8_t *secret,
                        size_t secretlen, const char *label) {
  static const char prefix[] = "tls13 ";
  uint8_t info[2 + 1 + sizeof(prefix) + 16 + 1];
  size_t plen = sizeof(prefix) - 1, llen = strlen(label), n = 0;

  if (llen > 16)
    return -1;
  info[n++] = (uint8_t)(destlen >> 8);
  info[n++] = (uint8_t)destlen;
  info[n++] = (uint8_t)(plen + llen);
  memcpy(info + n, prefix, plen);
  n += plen;
  memcpy(info + n, label, llen);
  n += llen;
  info[n++] = 0;
  return ngtcp2_crypto_hkdf_expand(dest, destlen, md, secret, secretlen, info,
                                   n);
}

static const char *label_of(uint32_t version, const char *v1,
                            const char *v2) {
  return version == NGTCP2_PROTO_VER_V2 ? v2 : v1;
}

int pp_keys_derive(uint8_t *key, uint8_t *iv, uint8_t *hp,
                   const ngtcp2_crypto_ctx *ctx, uint32_t version,
                   const uint8_t *secret, size_t secretlen) {
  ngtcp2_crypto_aead aead = plain_aead(&ctx->aead);
  size_t keylen = ngtcp2_crypto_aead_keylen(&aead);
  size_t ivlen = ngtcp2_crypto_packet_protection_ivlen(&aead);

  if (keylen > PP_KEY_MAX)
    return -1;
  if (expand_label(key, keylen, &ctx->md, secret, secretlen,
                   label_of(version, "quic key", "quicv2 key")) != 0 ||
      expand_label(iv, ivlen, &ctx->md, secret, secretlen,
                   label_of(version, "quic iv", "quicv2 iv")) != 0)
    return -1;
  if (hp && expand_label(hp, keylen, &ctx->md, secret, secretlen,
                         label_of(version, "quic hp", "quicv2 hp")) != 0)
    return -1;
  return 0;
}

int pp_keys_next_secret(uint8_t *dest, const ngtcp2_crypto_md *md,
                        uint32_t version, const uint8_t *secret,
                        size_t secretlen) {
  return expand_label(dest, secretlen, md, secret, secretlen,
                      label_of(version, "quic ku", "quicv2 ku"));
}

/* --- slots ----------------------------------------------------------------- */

static struct pp_slot *slot_of(const void *native_handle) {
  return (struct pp_slot *)native_handle;
}

static int owns(const struct pp_keys *k, const void *native_handle) {
  const struct pp_slot *s = native_handle;

  return s >= k->slot && s < k->slot + PP_SLOTS;
}

static void slot_free_context(struct pp_slot *s) {
  if (s->hd == NULL)
    return;
  if (s->use == PP_HP) {
    gnutls_cipher_deinit(s->hd);
  } else {
    ngtcp2_crypto_aead_ctx c = {s->hd};
    ngtcp2_crypto_aead_ctx_free(&c);
  }
  s->hd = NULL;
}

static void slot_wipe(struct pp_slot *s) {
  slot_free_context(s);
  gnutls_memset(s, 0, sizeof(*s));
}

void *pp_keys_take(struct pp_keys *k, enum pp_use use, const uint8_t *key,
                   size_t keylen) {
  size_t i;

  if (keylen > PP_KEY_MAX || use == PP_FREE)
    return NULL;
  for (i = 0; i < PP_SLOTS; i++) {
    struct pp_slot *s = &k->slot[i];

    if (s->use != PP_FREE)
      continue;
    memcpy(s->key, key, keylen);
    s->use = (uint8_t)use;
    s->made = 0;
    return s;
  }
  return NULL;
}

/* The slot's AEAD context, made now if cold; NULL if GnuTLS refuses. */
static void *aead_warm(struct pp_slot *s, const ngtcp2_crypto_aead *aead) {
  ngtcp2_crypto_aead_ctx c = {NULL};
  size_t ivlen;
  int rv;

  if (s->hd)
    return s->hd;
  ivlen = ngtcp2_crypto_packet_protection_ivlen(aead);
  rv = s->use == PP_ENCRYPT
           ? ngtcp2_crypto_aead_ctx_encrypt_init(&c, aead, s->key, ivlen)
           : ngtcp2_crypto_aead_ctx_decrypt_init(&c, aead, s->key, ivlen);
  if (rv != 0)
    return NULL;
  s->made++;
  return s->hd = c.native_handle;
}

/* Header protection: the one-block cipher ngtcp2_crypto_hp_mask() runs
 * (AES-CBC with a zero IV, or ChaCha20), as ngtcp2_crypto makes it. */
static void *hp_warm(struct pp_slot *s, const ngtcp2_crypto_cipher *hp) {
  gnutls_cipher_algorithm_t alg =
      (gnutls_cipher_algorithm_t)(intptr_t)hp->native_handle;
  gnutls_datum_t key = {s->key, (unsigned)gnutls_cipher_get_key_size(alg)};
  gnutls_cipher_hd_t hd;

  if (s->hd)
    return s->hd;
  if (key.size > PP_KEY_MAX || gnutls_cipher_init(&hd, alg, &key, NULL) != 0)
    return NULL;
  s->made++;
  return s->hd = hd;
}

/* --- installing ------------------------------------------------------------ */

/* The connection's crypto context, set and marked at its first key. */
static const ngtcp2_crypto_ctx *conn_ctx(ngtcp2_conn *conn) {
  const ngtcp2_crypto_ctx *ctx = ngtcp2_conn_get_crypto_ctx(conn);
  ngtcp2_crypto_ctx cctx;

  if (ctx->aead.native_handle)
    return ctx;
  if (ngtcp2_crypto_ctx_tls(&cctx, ngtcp2_conn_get_tls_native_handle(conn)) ==
      NULL)
    return NULL;
  pp_keys_mark_ctx(&cctx);
  ngtcp2_conn_set_crypto_ctx(conn, &cctx);
  return ngtcp2_conn_get_crypto_ctx(conn);
}

static int install(ngtcp2_conn *conn, ngtcp2_encryption_level level, int rx,
                   const uint8_t *secret, size_t secretlen,
                   const ngtcp2_crypto_aead_ctx *a, const uint8_t *iv,
                   size_t ivlen, const ngtcp2_crypto_cipher_ctx *hp) {
  if (level == NGTCP2_ENCRYPTION_LEVEL_HANDSHAKE)
    return rx ? ngtcp2_conn_install_rx_handshake_key(conn, a, iv, ivlen, hp)
              : ngtcp2_conn_install_tx_handshake_key(conn, a, iv, ivlen, hp);
  return rx ? ngtcp2_conn_install_rx_key(conn, secret, secretlen, a, iv, ivlen,
                                         hp)
            : ngtcp2_conn_install_tx_key(conn, secret, secretlen, a, iv, ivlen,
                                         hp);
}

int pp_keys_install(struct pp_keys *k, ngtcp2_conn *conn,
                    ngtcp2_encryption_level level, int rx,
                    const uint8_t *secret, size_t secretlen) {
  const ngtcp2_crypto_ctx *ctx = conn_ctx(conn);
  uint8_t key[PP_KEY_MAX], iv[64], hpkey[PP_KEY_MAX];
  ngtcp2_crypto_aead_ctx a = {NULL};
  ngtcp2_crypto_cipher_ctx hp = {NULL};
  ngtcp2_crypto_aead plain;
  int rv = -1;

  if (ctx == NULL ||
      pp_keys_derive(key, iv, hpkey, ctx,
                     ngtcp2_conn_get_negotiated_version(conn), secret,
                     secretlen) != 0)
    goto out;
  plain = plain_aead(&ctx->aead);
  a.native_handle = pp_keys_take(k, rx ? PP_DECRYPT : PP_ENCRYPT, key,
                                 ngtcp2_crypto_aead_keylen(&plain));
  hp.native_handle =
      pp_keys_take(k, PP_HP, hpkey, ngtcp2_crypto_aead_keylen(&plain));
  if (a.native_handle && hp.native_handle &&
      install(conn, level, rx, secret, secretlen, &a, iv,
              ngtcp2_crypto_packet_protection_ivlen(&plain), &hp) == 0)
    rv = 0;
  if (rv != 0) {
    if (a.native_handle)
      slot_wipe(slot_of(a.native_handle));
    if (hp.native_handle)
      slot_wipe(slot_of(hp.native_handle));
  }
out:
  gnutls_memset(key, 0, sizeof(key));
  gnutls_memset(hpkey, 0, sizeof(hpkey));
  return rv;
}

/* One direction of a key update: the next secret, its key into a slot. */
static int update_one(struct pp_keys *k, const ngtcp2_crypto_ctx *ctx,
                      uint32_t version, enum pp_use use, uint8_t *secret,
                      const uint8_t *current, size_t secretlen,
                      ngtcp2_crypto_aead_ctx *a, uint8_t *iv) {
  uint8_t key[PP_KEY_MAX];
  ngtcp2_crypto_aead plain = plain_aead(&ctx->aead);
  int rv = -1;

  if (pp_keys_next_secret(secret, &ctx->md, version, current, secretlen) ==
          0 &&
      pp_keys_derive(key, iv, NULL, ctx, version, secret, secretlen) == 0 &&
      (a->native_handle = pp_keys_take(
           k, use, key, ngtcp2_crypto_aead_keylen(&plain))) != NULL)
    rv = 0;
  gnutls_memset(key, 0, sizeof(key));
  return rv;
}

int pp_keys_update(struct pp_keys *k, ngtcp2_conn *conn, uint8_t *rx_secret,
                   uint8_t *tx_secret, ngtcp2_crypto_aead_ctx *rx_aead_ctx,
                   uint8_t *rx_iv, ngtcp2_crypto_aead_ctx *tx_aead_ctx,
                   uint8_t *tx_iv, const uint8_t *current_rx_secret,
                   const uint8_t *current_tx_secret, size_t secretlen) {
  const ngtcp2_crypto_ctx *ctx = ngtcp2_conn_get_crypto_ctx(conn);
  uint32_t version = ngtcp2_conn_get_negotiated_version(conn);

  if (!marked(ctx->aead.native_handle))
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (update_one(k, ctx, version, PP_DECRYPT, rx_secret, current_rx_secret,
                 secretlen, rx_aead_ctx, rx_iv) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (update_one(k, ctx, version, PP_ENCRYPT, tx_secret, current_tx_secret,
                 secretlen, tx_aead_ctx, tx_iv) != 0) {
    slot_wipe(slot_of(rx_aead_ctx->native_handle));
    rx_aead_ctx->native_handle = NULL;
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

/* --- ngtcp2's callbacks ---------------------------------------------------- */

/* The context of the slot behind a marked AEAD, made now if cold; |plain|
 * gets the algorithm without the mark. NULL if GnuTLS refuses. */
static void *slot_aead(const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       ngtcp2_crypto_aead *plain) {
  *plain = plain_aead(aead);
  return aead_warm(slot_of(aead_ctx->native_handle), plain);
}

typedef int (*aead_fn)(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       const uint8_t *in, size_t inlen, const uint8_t *nonce,
                       size_t noncelen, const uint8_t *aad, size_t aadlen);

/* Runs |op| with a slot's context (its failure is |op_error|), or
 * ngtcp2_crypto's own callback |theirs| on an unmarked level. */
static int aead_run(aead_fn op, aead_fn theirs, int op_error, uint8_t *dest,
                    const ngtcp2_crypto_aead *aead,
                    const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *in,
                    size_t inlen, const uint8_t *nonce, size_t noncelen,
                    const uint8_t *aad, size_t aadlen) {
  ngtcp2_crypto_aead plain;
  ngtcp2_crypto_aead_ctx c;

  if (!marked(aead->native_handle))
    return theirs(dest, aead, aead_ctx, in, inlen, nonce, noncelen, aad,
                  aadlen);
  c.native_handle = slot_aead(aead, aead_ctx, &plain);
  if (c.native_handle == NULL)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return op(dest, &plain, &c, in, inlen, nonce, noncelen, aad, aadlen) == 0
             ? 0
             : op_error;
}

int pp_keys_encrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       const uint8_t *plaintext, size_t plaintextlen,
                       const uint8_t *nonce, size_t noncelen,
                       const uint8_t *aad, size_t aadlen) {
  return aead_run(ngtcp2_crypto_encrypt, ngtcp2_crypto_encrypt_cb,
                  NGTCP2_ERR_CALLBACK_FAILURE, dest, aead, aead_ctx, plaintext,
                  plaintextlen, nonce, noncelen, aad, aadlen);
}

/* A packet that does not decrypt is NGTCP2_ERR_DECRYPT: ngtcp2 drops it. */
int pp_keys_decrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       const uint8_t *ciphertext, size_t ciphertextlen,
                       const uint8_t *nonce, size_t noncelen,
                       const uint8_t *aad, size_t aadlen) {
  return aead_run(ngtcp2_crypto_decrypt, ngtcp2_crypto_decrypt_cb,
                  NGTCP2_ERR_DECRYPT, dest, aead, aead_ctx, ciphertext,
                  ciphertextlen, nonce, noncelen, aad, aadlen);
}

int pp_keys_hp_mask_cb(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
                       const ngtcp2_crypto_cipher_ctx *hp_ctx,
                       const uint8_t *sample) {
  ngtcp2_crypto_cipher plain;
  ngtcp2_crypto_cipher_ctx c;

  if (!marked(hp->native_handle))
    return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
  plain.native_handle = unmark(hp->native_handle);
  c.native_handle = hp_warm(slot_of(hp_ctx->native_handle), &plain);
  if (c.native_handle == NULL ||
      ngtcp2_crypto_hp_mask(dest, &plain, &c, sample) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

/* Wipes the slot |native_handle| names if it is one of |k|'s; 0 if it is
 * ngtcp2_crypto's. */
static int release_slot(struct pp_keys *k, void *native_handle) {
  if (native_handle == NULL || !owns(k, native_handle))
    return 0;
  slot_wipe(slot_of(native_handle));
  return 1;
}

void pp_keys_delete_aead(struct pp_keys *k, ngtcp2_conn *conn,
                         ngtcp2_crypto_aead_ctx *ctx) {
  if (!release_slot(k, ctx->native_handle))
    ngtcp2_crypto_delete_crypto_aead_ctx_cb(conn, ctx, NULL);
  ctx->native_handle = NULL;
}

void pp_keys_delete_cipher(struct pp_keys *k, ngtcp2_conn *conn,
                           ngtcp2_crypto_cipher_ctx *ctx) {
  if (!release_slot(k, ctx->native_handle))
    ngtcp2_crypto_delete_crypto_cipher_ctx_cb(conn, ctx, NULL);
  ctx->native_handle = NULL;
}

/* --- the connection's view ------------------------------------------------- */

size_t pp_keys_live(const struct pp_keys *k) {
  size_t i, n = 0;

  for (i = 0; i < PP_SLOTS; i++)
    n += k->slot[i].hd != NULL;
  return n;
}

uint32_t pp_keys_made(const struct pp_keys *k) {
  uint32_t n = 0;
  size_t i;

  for (i = 0; i < PP_SLOTS; i++)
    n += k->slot[i].made;
  return n;
}

size_t pp_keys_taken(const struct pp_keys *k) {
  size_t i, n = 0;

  for (i = 0; i < PP_SLOTS; i++)
    n += k->slot[i].use != PP_FREE;
  return n;
}

void pp_keys_clear(struct pp_keys *k) {
  size_t i;

  for (i = 0; i < PP_SLOTS; i++)
    slot_wipe(&k->slot[i]);
}
