/*
 * quic/pp_keys: the packet protection keys of a connection's Handshake and
 * 1-RTT levels, held as bytes; a key's GnuTLS cipher context is made when a
 * packet first needs it (docs/decisions.md D51). ngtcp2 derives the next
 * key phase as soon as the handshake is confirmed, and ngtcp2_crypto made
 * its two AES-GCM contexts (1.5 KB with their handles) at once, for a key
 * update that most tunnels never see; here they are 64 bytes until used.
 *
 * ngtcp2 knows a context only by its native_handle, and its encrypt,
 * decrypt and hp_mask callbacks carry no connection. The levels kept here
 * are told apart by a mark on the algorithm handles of the connection's
 * crypto context (pp_keys_mark_ctx), which ngtcp2 passes to every call;
 * the Initial and 0-RTT levels and the Retry tag keep ngtcp2_crypto's own
 * contexts and go to its functions unchanged.
 */
#ifndef QUIC_PP_KEYS_H
#define QUIC_PP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

#define PP_KEY_MAX 32 /* bytes: AES-256 and ChaCha20 keys */
/* The Handshake level's four keys while the first 1-RTT four arrive; after
 * the handshake at most seven: 1-RTT rx and tx, their next key phase, the
 * old rx phase, header protection both ways. */
#define PP_SLOTS 10

enum pp_use { PP_FREE, PP_ENCRYPT, PP_DECRYPT, PP_HP };

struct pp_slot {
  void *hd;                /* GnuTLS context; NULL while cold */
  uint8_t key[PP_KEY_MAX];
  uint32_t made;           /* contexts made from this key */
  uint8_t use;             /* enum pp_use */
};

struct pp_keys {
  struct pp_slot slot[PP_SLOTS];
};

/* Marks |ctx|'s AEAD and header protection ciphers as kept here. */
void pp_keys_mark_ctx(ngtcp2_crypto_ctx *ctx);

/* Key, IV and header protection key of |secret| (RFC 9001 5.1; RFC 9369's
 * labels for QUIC v2). |key| and |hp| take the AEAD's key length, |iv|
 * ngtcp2_crypto_packet_protection_ivlen(). 0 or -1. */
int pp_keys_derive(uint8_t *key, uint8_t *iv, uint8_t *hp,
                   const ngtcp2_crypto_ctx *ctx, uint32_t version,
                   const uint8_t *secret, size_t secretlen);

/* The next key phase's secret (RFC 9001 6.1). 0 or -1. */
int pp_keys_next_secret(uint8_t *dest, const ngtcp2_crypto_md *md,
                        uint32_t version, const uint8_t *secret,
                        size_t secretlen);

/* A free slot holding |key| for |use|, as the native_handle ngtcp2 will
 * carry; NULL when every slot is taken. */
void *pp_keys_take(struct pp_keys *k, enum pp_use use, const uint8_t *key,
                   size_t keylen);

/* Derives and installs the keys of |secret| for |level| (Handshake or
 * 1-RTT), |rx| or tx, on |conn|. 0 or -1 (nothing installed). */
int pp_keys_install(struct pp_keys *k, ngtcp2_conn *conn,
                    ngtcp2_encryption_level level, int rx,
                    const uint8_t *secret, size_t secretlen);

/* ngtcp2's update_key, for the connection that owns |k|. */
int pp_keys_update(struct pp_keys *k, ngtcp2_conn *conn, uint8_t *rx_secret,
                   uint8_t *tx_secret, ngtcp2_crypto_aead_ctx *rx_aead_ctx,
                   uint8_t *rx_iv, ngtcp2_crypto_aead_ctx *tx_aead_ctx,
                   uint8_t *tx_iv, const uint8_t *current_rx_secret,
                   const uint8_t *current_tx_secret, size_t secretlen);

/* ngtcp2's encrypt, decrypt and hp_mask callbacks, for every level. */
int pp_keys_encrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       const uint8_t *plaintext, size_t plaintextlen,
                       const uint8_t *nonce, size_t noncelen,
                       const uint8_t *aad, size_t aadlen);
int pp_keys_decrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                       const ngtcp2_crypto_aead_ctx *aead_ctx,
                       const uint8_t *ciphertext, size_t ciphertextlen,
                       const uint8_t *nonce, size_t noncelen,
                       const uint8_t *aad, size_t aadlen);
int pp_keys_hp_mask_cb(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
                       const ngtcp2_crypto_cipher_ctx *hp_ctx,
                       const uint8_t *sample);

/* ngtcp2's delete callbacks: a slot of |k| is wiped, anything else is
 * ngtcp2_crypto's and freed by it. */
void pp_keys_delete_aead(struct pp_keys *k, ngtcp2_conn *conn,
                         ngtcp2_crypto_aead_ctx *ctx);
void pp_keys_delete_cipher(struct pp_keys *k, ngtcp2_conn *conn,
                           ngtcp2_crypto_cipher_ctx *ctx);

size_t pp_keys_live(const struct pp_keys *k);   /* contexts held now */
uint32_t pp_keys_made(const struct pp_keys *k); /* by the keys held now */
size_t pp_keys_taken(const struct pp_keys *k);  /* slots in use */

/* Frees every context and wipes every key. */
void pp_keys_clear(struct pp_keys *k);

#endif /* QUIC_PP_KEYS_H */
