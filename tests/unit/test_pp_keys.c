/*
 * tests/unit/test_pp_keys: packet protection keys held as bytes
 * (quic/pp_keys, D51): derivation against RFC 9001's and RFC 9369's test
 * vectors, the next key phase, contexts made on first use giving the same
 * bytes as ngtcp2_crypto's own contexts, the slots running out, and
 * foreign contexts passed through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/pp_keys.h"

static size_t unhex(uint8_t *out, const char *hex) {
  size_t n = 0;
  unsigned v;

  while (hex[0] && hex[1] && sscanf(hex, "%2x", &v) == 1) {
    out[n++] = (uint8_t)v;
    hex += 2;
  }
  return n;
}

static void assert_hex(const uint8_t *got, const char *hex) {
  uint8_t want[64];
  size_t n = unhex(want, hex);

  assert_memory_equal(got, want, n);
}

static ngtcp2_crypto_ctx ctx_of(gnutls_cipher_algorithm_t aead,
                                gnutls_cipher_algorithm_t hp,
                                gnutls_digest_algorithm_t md, int mark) {
  ngtcp2_crypto_ctx c;

  memset(&c, 0, sizeof(c));
  c.aead.native_handle = (void *)(intptr_t)aead;
  c.aead.max_overhead = 16;
  c.hp.native_handle = (void *)(intptr_t)hp;
  c.md.native_handle = (void *)(intptr_t)md;
  if (mark)
    pp_keys_mark_ctx(&c);
  return c;
}

/* A secret and the key, IV and header protection key it gives. */
struct vector {
  uint32_t version;
  const char *secret, *key, *iv, *hp;
};

static void check_vector(const struct vector *v, int mark) {
  ngtcp2_crypto_ctx c = ctx_of(GNUTLS_CIPHER_AES_128_GCM,
                               GNUTLS_CIPHER_AES_128_CBC, GNUTLS_DIG_SHA256,
                               mark);
  uint8_t secret[32], key[32], iv[12], hp[32];

  unhex(secret, v->secret);
  assert_int_equal(pp_keys_derive(key, iv, hp, &c, v->version, secret,
                                  sizeof(secret)),
                   0);
  assert_hex(key, v->key);
  assert_hex(iv, v->iv);
  assert_hex(hp, v->hp);
}

/* RFC 9001 A.1 (QUIC v1) and RFC 9369 A.1 (v2's labels): the client's
 * Initial secret gives these keys, with the mark on the context or not. */
static void test_derive_vectors(void **state) {
  static const struct vector v[] = {
      {NGTCP2_PROTO_VER_V1,
       "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
       "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
       "9f50449e04a0e810283a1e9933adedd2"},
      {NGTCP2_PROTO_VER_V2,
       "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
       "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
       "45b95e15235d6f45a6b19cbcb0294ba9"},
  };

  (void)state;
  check_vector(&v[0], 1);
  check_vector(&v[0], 0);
  check_vector(&v[1], 1);
}

/* RFC 9001 A.5: ChaCha20-Poly1305 keys and the next key phase's secret. */
static void test_chacha_and_key_update(void **state) {
  ngtcp2_crypto_ctx c = ctx_of(GNUTLS_CIPHER_CHACHA20_POLY1305,
                               GNUTLS_CIPHER_CHACHA20_32, GNUTLS_DIG_SHA256,
                               1);
  uint8_t secret[32], key[32], iv[12], hp[32], next[32];

  (void)state;
  unhex(secret, "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f"
                "21632b");
  assert_int_equal(pp_keys_derive(key, iv, hp, &c, NGTCP2_PROTO_VER_V1,
                                  secret, sizeof(secret)),
                   0);
  assert_hex(key, "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb"
                  "23e1c8");
  assert_hex(iv, "e0459b3474bdd0e44a41c144");
  assert_hex(hp, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0a"
                 "b7a7a4");
  assert_int_equal(pp_keys_next_secret(next, &c.md, NGTCP2_PROTO_VER_V1,
                                       secret, sizeof(secret)),
                   0);
  assert_hex(next, "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b"
                   "714881f9");
}

/* A slot makes its context at first use, once, and encrypts, decrypts and
 * masks as ngtcp2_crypto's own contexts do. */
static void test_slots_match_ngtcp2(void **state) {
  ngtcp2_crypto_ctx m = ctx_of(GNUTLS_CIPHER_AES_128_GCM,
                               GNUTLS_CIPHER_AES_128_CBC, GNUTLS_DIG_SHA256,
                               1);
  ngtcp2_crypto_ctx p = ctx_of(GNUTLS_CIPHER_AES_128_GCM,
                               GNUTLS_CIPHER_AES_128_CBC, GNUTLS_DIG_SHA256,
                               0);
  static struct pp_keys k;
  uint8_t key[16], nonce[12] = {1, 2, 3}, aad[8] = {9}, msg[40];
  uint8_t ours[56], theirs[56], back[40], sample[16] = {7}, m1[5], m2[5];
  ngtcp2_crypto_aead_ctx enc, dec, ref = {NULL};
  ngtcp2_crypto_cipher_ctx hp, refhp = {NULL};
  gnutls_datum_t hpkey = {key, 16};
  int round;

  (void)state;
  memset(key, 0x42, sizeof(key));
  memset(msg, 0x17, sizeof(msg));
  enc.native_handle = pp_keys_take(&k, PP_ENCRYPT, key, sizeof(key));
  dec.native_handle = pp_keys_take(&k, PP_DECRYPT, key, sizeof(key));
  hp.native_handle = pp_keys_take(&k, PP_HP, key, sizeof(key));
  assert_non_null(hp.native_handle);
  assert_int_equal(pp_keys_live(&k), 0); /* nothing made before use */
  assert_int_equal(ngtcp2_crypto_aead_ctx_encrypt_init(&ref, &p.aead, key,
                                                       12),
                   0);
  assert_int_equal(gnutls_cipher_init((gnutls_cipher_hd_t *)&refhp.native_handle,
                                     GNUTLS_CIPHER_AES_128_CBC, &hpkey, NULL),
                   0);
  assert_int_equal(ngtcp2_crypto_encrypt(theirs, &p.aead, &ref, msg,
                                         sizeof(msg), nonce, 12, aad, 8),
                   0);
  assert_int_equal(ngtcp2_crypto_hp_mask(m2, &p.hp, &refhp, sample), 0);
  for (round = 0; round < 2; round++) {
    assert_int_equal(pp_keys_encrypt_cb(ours, &m.aead, &enc, msg, sizeof(msg),
                                        nonce, 12, aad, 8),
                     0);
    assert_memory_equal(ours, theirs, sizeof(ours));
    assert_int_equal(pp_keys_decrypt_cb(back, &m.aead, &dec, ours,
                                        sizeof(ours), nonce, 12, aad, 8),
                     0);
    assert_memory_equal(back, msg, sizeof(msg));
    assert_int_equal(pp_keys_hp_mask_cb(m1, &m.hp, &hp, sample), 0);
    assert_memory_equal(m1, m2, sizeof(m1));
    assert_int_equal(pp_keys_live(&k), 3);
    assert_int_equal(pp_keys_made(&k), 3); /* made once, then kept */
  }
  ours[3] ^= 1; /* a forged packet is a decryption failure, not an error */
  assert_int_equal(pp_keys_decrypt_cb(back, &m.aead, &dec, ours, sizeof(ours),
                                      nonce, 12, aad, 8),
                   NGTCP2_ERR_DECRYPT);
  /* unmarked: ngtcp2_crypto's own context, unchanged */
  assert_int_equal(pp_keys_encrypt_cb(ours, &p.aead, &ref, msg, sizeof(msg),
                                      nonce, 12, aad, 8),
                   0);
  assert_memory_equal(ours, theirs, sizeof(ours));
  pp_keys_delete_aead(&k, NULL, &ref); /* not ours: freed by ngtcp2_crypto */
  pp_keys_delete_cipher(&k, NULL, &refhp);
  assert_null(ref.native_handle);
  pp_keys_delete_aead(&k, NULL, &enc);
  pp_keys_delete_aead(&k, NULL, &dec);
  pp_keys_delete_cipher(&k, NULL, &hp);
  assert_int_equal(pp_keys_taken(&k), 0);
}

/* Every slot taken: the next key is refused, not written past the end. */
static void test_slots_run_out(void **state) {
  static struct pp_keys k;
  uint8_t key[32] = {1};
  size_t i;

  (void)state;
  for (i = 0; i < PP_SLOTS; i++)
    assert_non_null(pp_keys_take(&k, PP_DECRYPT, key, sizeof(key)));
  assert_null(pp_keys_take(&k, PP_DECRYPT, key, sizeof(key)));
  assert_null(pp_keys_take(&k, PP_ENCRYPT, key, PP_KEY_MAX + 1));
  assert_int_equal(pp_keys_taken(&k), PP_SLOTS);
  pp_keys_clear(&k);
  assert_int_equal(pp_keys_taken(&k), 0);
  assert_non_null(pp_keys_take(&k, PP_HP, key, 16));
  pp_keys_clear(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_derive_vectors),
      cmocka_unit_test(test_chacha_and_key_update),
      cmocka_unit_test(test_slots_match_ngtcp2),
      cmocka_unit_test(test_slots_run_out),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
