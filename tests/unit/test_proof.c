/* Unit tests for src/proof: wolfCrypt known answers, the attach proof, the
 * replay window and constant-time comparison. */

/* options.h first: it fixes wolfSSL's struct layouts (DEPENDENCIES 4). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proof.h"

/* --- wolfCrypt as src/proof.c calls it ------------------------------------
 * The contract exposes only the composed proof, so these check the library
 * primitives with the same types and flags proof.c passes. */

static void test_hmac_rfc4231_case2(void **state) {
  static const uint8_t expect[32] = {
      0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
      0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
      0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
  static const char data[] = "what do ya want for nothing?";
  uint8_t out[32];
  Hmac h;

  (void)state;
  assert_int_equal(wc_HmacInit(&h, NULL, INVALID_DEVID), 0);
  assert_int_equal(wc_HmacSetKey(&h, WC_SHA256, (const byte *)"Jefe", 4), 0);
  /* in two pieces, as proof.c feeds its message */
  assert_int_equal(wc_HmacUpdate(&h, (const byte *)data, 10), 0);
  assert_int_equal(
      wc_HmacUpdate(&h, (const byte *)data + 10, sizeof(data) - 1 - 10), 0);
  assert_int_equal(wc_HmacFinal(&h, out), 0);
  wc_HmacFree(&h);
  assert_memory_equal(out, expect, sizeof(expect));
}

static void test_hkdf_rfc5869_case1(void **state) {
  static const uint8_t expect[42] = {
      0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
      0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
      0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34,
      0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
  uint8_t ikm[22], salt[13], info[10], out[42];
  size_t i;

  (void)state;
  memset(ikm, 0x0b, sizeof(ikm));
  for (i = 0; i < sizeof(salt); i++)
    salt[i] = (uint8_t)i;
  for (i = 0; i < sizeof(info); i++)
    info[i] = (uint8_t)(0xf0 + i);
  assert_int_equal(wc_HKDF(WC_SHA256, ikm, sizeof(ikm), salt, sizeof(salt),
                           info, sizeof(info), out, sizeof(out)),
                   0);
  assert_memory_equal(out, expect, sizeof(expect));
}

/* --- the attach proof ----------------------------------------------------- */

struct proof_in {
  uint8_t secret[JVPN_SECRET_LEN];
  uint8_t sid[JVPN_SESSION_ID_LEN];
  uint64_t nonce;
  enum jvpn_proof_role role;
  uint8_t bind[JVPN_BIND_LEN];
};

static void fixed_inputs(struct proof_in *in) {
  size_t i;

  for (i = 0; i < JVPN_SECRET_LEN; i++)
    in->secret[i] = (uint8_t)i;
  for (i = 0; i < JVPN_SESSION_ID_LEN; i++)
    in->sid[i] = (uint8_t)(0xa0 + i);
  in->nonce = 0x0102030405060708ull;
  in->role = JVPN_ROLE_STANDBY;
  for (i = 0; i < JVPN_BIND_LEN; i++)
    in->bind[i] = (uint8_t)(0x40 + i);
}

/*
 * Derived outside wolfSSL, once, for fixed_inputs():
 *   python3: prk = hmac(sid, secret, sha256); K = hmac(prk, b"jvpn proof
 *            key" + b"\x01", sha256); proof = hmac(K, b"jvpn-attach-v1" +
 *            sid + nonce.to_bytes(8, "big") + bytes([role]) + bind, sha256)
 *   cross-checked with OpenSSL 3: `openssl kdf -keylen 32 -kdfopt
 *   digest:SHA256 -kdfopt hexkey:<secret> -kdfopt hexsalt:<sid> -kdfopt
 *   info:"jvpn proof key" HKDF` (K = 0bb15dc4...41418236) and `openssl mac
 *   -digest SHA256 -macopt hexkey:<K> -in <message> HMAC`.
 */
static const uint8_t fixed_proof[JVPN_PROOF_LEN] = {
    0x1a, 0xcb, 0xf4, 0x30, 0x98, 0x47, 0x1f, 0x83, 0xd7, 0x79, 0x39,
    0xba, 0x80, 0xb1, 0x54, 0xf1, 0x95, 0xe8, 0x1f, 0x6a, 0x57, 0x8e,
    0xfe, 0xac, 0xc4, 0x56, 0x8e, 0x49, 0x41, 0x75, 0xf0, 0x5f};
/* Same K, nonce 1, role REATTACH (python3 as above). */
static const uint8_t fixed_proof_n1[JVPN_PROOF_LEN] = {
    0x64, 0x32, 0x8a, 0x28, 0x02, 0x5d, 0x7c, 0xa2, 0xb0, 0x3f, 0x1b,
    0x9a, 0x28, 0x05, 0x40, 0xbe, 0xdf, 0xd9, 0xaf, 0x92, 0x13, 0x45,
    0x7b, 0xc8, 0x74, 0x69, 0x74, 0xae, 0x73, 0xcd, 0xa1, 0xa5};

static void test_proof_known_answer(void **state) {
  struct proof_in in;
  uint8_t out[JVPN_PROOF_LEN];

  (void)state;
  fixed_inputs(&in);
  assert_int_equal(
      jvpn_proof_compute(in.secret, in.sid, in.nonce, in.role, in.bind, out),
      0);
  assert_memory_equal(out, fixed_proof, JVPN_PROOF_LEN);

  /* the nonce is big-endian and the role a single byte */
  assert_int_equal(jvpn_proof_compute(in.secret, in.sid, 1, JVPN_ROLE_REATTACH,
                                      in.bind, out),
                   0);
  assert_memory_equal(out, fixed_proof_n1, JVPN_PROOF_LEN);
}

static void test_proof_bad_role(void **state) {
  struct proof_in in;
  uint8_t out[JVPN_PROOF_LEN];

  (void)state;
  fixed_inputs(&in);
  assert_int_equal(jvpn_proof_compute(in.secret, in.sid, 1,
                                      (enum jvpn_proof_role)0, in.bind, out),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_proof_compute(in.secret, in.sid, 1,
                                      (enum jvpn_proof_role)4, in.bind, out),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_proof_verify(in.secret, in.sid, 1,
                                     (enum jvpn_proof_role)0, in.bind,
                                     fixed_proof),
                   JVPN_ERR_INVAL);
}

static int verify_in(const struct proof_in *in,
                     const uint8_t proof[JVPN_PROOF_LEN]) {
  return jvpn_proof_verify(in->secret, in->sid, in->nonce, in->role, in->bind,
                           proof);
}

/* Every single-bit change of every input must turn the verdict. */
static void test_verify_rejects_every_bit(void **state) {
  struct proof_in in, bad;
  uint8_t proof[JVPN_PROOF_LEN];
  size_t byte;
  int bit;

  (void)state;
  fixed_inputs(&in);
  assert_int_equal(verify_in(&in, fixed_proof), 0);

  for (byte = 0; byte < JVPN_SECRET_LEN; byte++)
    for (bit = 0; bit < 8; bit++) {
      bad = in;
      bad.secret[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
    }
  for (byte = 0; byte < JVPN_SESSION_ID_LEN; byte++)
    for (bit = 0; bit < 8; bit++) {
      bad = in;
      bad.sid[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
    }
  for (bit = 0; bit < 64; bit++) {
    bad = in;
    bad.nonce ^= (uint64_t)1 << bit;
    assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
  }
  /* a proof for one role never stands for another */
  bad = in;
  bad.role = JVPN_ROLE_REATTACH;
  assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
  bad.role = JVPN_ROLE_ACTIVATE;
  assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
  for (byte = 0; byte < JVPN_BIND_LEN; byte++)
    for (bit = 0; bit < 8; bit++) {
      bad = in;
      bad.bind[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(verify_in(&bad, fixed_proof), JVPN_ERR_DENIED);
    }
  for (byte = 0; byte < JVPN_PROOF_LEN; byte++)
    for (bit = 0; bit < 8; bit++) {
      memcpy(proof, fixed_proof, sizeof(proof));
      proof[byte] ^= (uint8_t)(1u << bit);
      assert_int_equal(verify_in(&in, proof), JVPN_ERR_DENIED);
    }
  /* the inputs were not consumed: the original still verifies */
  assert_int_equal(verify_in(&in, fixed_proof), 0);
}

/* --- replay window -------------------------------------------------------- */

static void test_replay_in_order(void **state) {
  struct jvpn_replay r;
  uint64_t n;

  (void)state;
  jvpn_replay_init(&r);
  for (n = 1; n <= 300; n++) {
    assert_true(jvpn_replay_check(&r, n));
    assert_int_equal(jvpn_replay_commit(&r, n), 0);
    assert_false(jvpn_replay_check(&r, n));
    assert_int_equal(r.top, n);
  }
  /* everything inside the window is remembered, below it is refused */
  for (n = 1; n <= 300; n++)
    assert_false(jvpn_replay_check(&r, n));
  assert_true(jvpn_replay_check(&r, 301));
}

static void test_replay_zero_never_fresh(void **state) {
  struct jvpn_replay r;

  (void)state;
  jvpn_replay_init(&r);
  assert_false(jvpn_replay_check(&r, 0));
  assert_int_equal(jvpn_replay_commit(&r, 0), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 5), 0);
  assert_false(jvpn_replay_check(&r, 0));
  assert_int_equal(jvpn_replay_commit(&r, 0), JVPN_ERR_DENIED);
  assert_int_equal(r.top, 5);
}

static void test_replay_out_of_order_and_duplicates(void **state) {
  struct jvpn_replay r;

  (void)state;
  jvpn_replay_init(&r);
  assert_int_equal(jvpn_replay_commit(&r, 10), 0);
  assert_int_equal(jvpn_replay_commit(&r, 7), 0);
  assert_int_equal(jvpn_replay_commit(&r, 9), 0);
  assert_int_equal(r.top, 10);
  assert_true(jvpn_replay_check(&r, 8));
  assert_true(jvpn_replay_check(&r, 1));
  assert_int_equal(jvpn_replay_commit(&r, 7), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 9), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 10), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 8), 0);
  assert_int_equal(jvpn_replay_commit(&r, 8), JVPN_ERR_DENIED);

  /* an old nonce stays remembered while top moves across word borders */
  assert_int_equal(jvpn_replay_commit(&r, 75), 0); /* 7 is now at bit 68 */
  assert_false(jvpn_replay_check(&r, 7));
  assert_true(jvpn_replay_check(&r, 6));
  assert_int_equal(jvpn_replay_commit(&r, 134), 0); /* 7 at bit 127 */
  assert_false(jvpn_replay_check(&r, 7));
  assert_false(jvpn_replay_check(&r, 75));
  assert_true(jvpn_replay_check(&r, 11));
  assert_int_equal(jvpn_replay_commit(&r, 135), 0); /* 7 falls out */
  assert_false(jvpn_replay_check(&r, 7));           /* too old now */
  assert_false(jvpn_replay_check(&r, 8));           /* bit 127: seen */
  assert_true(jvpn_replay_check(&r, 11));
}

static void test_replay_window_edge(void **state) {
  struct jvpn_replay r;
  uint64_t top = 1000;

  (void)state;
  jvpn_replay_init(&r);
  assert_int_equal(jvpn_replay_commit(&r, top), 0);
  /* the window holds top and the JVPN_REPLAY_WINDOW - 1 below it */
  assert_true(jvpn_replay_check(&r, top - (JVPN_REPLAY_WINDOW - 1)));
  assert_false(jvpn_replay_check(&r, top - JVPN_REPLAY_WINDOW));
  assert_int_equal(jvpn_replay_commit(&r, top - JVPN_REPLAY_WINDOW),
                   JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, top - (JVPN_REPLAY_WINDOW - 1)), 0);
  assert_false(jvpn_replay_check(&r, top - (JVPN_REPLAY_WINDOW - 1)));

  /* a first nonce below the window size: nothing underflows */
  jvpn_replay_init(&r);
  assert_int_equal(jvpn_replay_commit(&r, 3), 0);
  assert_true(jvpn_replay_check(&r, 1));
  assert_true(jvpn_replay_check(&r, 2));
  assert_false(jvpn_replay_check(&r, 3));
}

static void test_replay_huge_jumps(void **state) {
  struct jvpn_replay r;
  uint64_t n;

  (void)state;
  jvpn_replay_init(&r);
  for (n = 1; n <= 10; n++)
    assert_int_equal(jvpn_replay_commit(&r, n), 0);
  /* top advances by exactly the window: all old bits leave */
  assert_int_equal(jvpn_replay_commit(&r, 10 + JVPN_REPLAY_WINDOW), 0);
  assert_int_equal(r.bits[0], 1);
  for (n = 1; n < sizeof(r.bits) / sizeof(r.bits[0]); n++)
    assert_int_equal(r.bits[n], 0);
  assert_false(jvpn_replay_check(&r, 10));
  assert_true(jvpn_replay_check(&r, 11));

  /* far beyond: a 2^63 jump */
  assert_int_equal(jvpn_replay_commit(&r, (uint64_t)1 << 63), 0);
  assert_false(jvpn_replay_check(&r, 10 + JVPN_REPLAY_WINDOW));
  assert_true(jvpn_replay_check(&r, ((uint64_t)1 << 63) - 1));

  /* the largest nonce works and then nothing above it is fresh */
  assert_int_equal(jvpn_replay_commit(&r, UINT64_MAX), 0);
  assert_false(jvpn_replay_check(&r, UINT64_MAX));
  assert_true(jvpn_replay_check(&r, UINT64_MAX - 1));
  assert_int_equal(jvpn_replay_commit(&r, UINT64_MAX - 1), 0);
  assert_false(jvpn_replay_check(&r, ((uint64_t)1 << 63)));
}

static void test_replay_check_is_pure(void **state) {
  struct jvpn_replay r, before;
  uint64_t probes[] = {0, 1, 49, 50, 51, 100, 200, UINT64_MAX};
  size_t i;

  (void)state;
  jvpn_replay_init(&r);
  assert_int_equal(jvpn_replay_commit(&r, 100), 0);
  assert_int_equal(jvpn_replay_commit(&r, 50), 0);
  before = r;
  for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
    (void)jvpn_replay_check(&r, probes[i]); /* only the state matters */
  assert_memory_equal(&r, &before, sizeof(r));

  /* a refused commit changes nothing either */
  assert_int_equal(jvpn_replay_commit(&r, 50), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 0), JVPN_ERR_DENIED);
  assert_memory_equal(&r, &before, sizeof(r));
}

/* Commit without a prior check: commit decides on its own. */
static void test_replay_commit_without_check(void **state) {
  struct jvpn_replay r;

  (void)state;
  jvpn_replay_init(&r);
  assert_int_equal(jvpn_replay_commit(&r, 42), 0);
  assert_int_equal(jvpn_replay_commit(&r, 42), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_replay_commit(&r, 41), 0);
  assert_int_equal(jvpn_replay_commit(&r, 500), 0);
  assert_int_equal(jvpn_replay_commit(&r, 42), JVPN_ERR_DENIED); /* old */
  assert_int_equal(r.top, 500);
}

/* A slow model (a table of everything seen) against the bitmap, over a
 * jittery sequence with jumps, duplicates and stragglers. */
#define MODEL_MAX 300000
static void test_replay_against_model(void **state) {
  static uint8_t seen[MODEL_MAX + 1];
  struct jvpn_replay r;
  uint64_t top = 0, x = 0x9e3779b97f4a7c15ull;
  int step;

  (void)state;
  memset(seen, 0, sizeof(seen));
  jvpn_replay_init(&r);
  for (step = 0; step < 20000; step++) {
    uint64_t n;
    int fresh;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    switch (x % 8) {
    case 0: n = top + 1 + (x >> 8) % 200; break;  /* jump */
    case 1: n = top; break;                       /* duplicate */
    default: n = top + 3 - (x >> 8) % 140; break; /* near top */
    }
    if (n > MODEL_MAX || (int64_t)n < 0)
      n = 0;
    fresh = n != 0 && !seen[n] && n + JVPN_REPLAY_WINDOW > top;
    assert_int_equal(jvpn_replay_check(&r, n), fresh);
    assert_int_equal(jvpn_replay_commit(&r, n), fresh ? 0 : JVPN_ERR_DENIED);
    if (fresh) {
      seen[n] = 1;
      if (n > top)
        top = n;
    }
    assert_int_equal(r.top, top);
  }
  assert_true(top > 1000); /* the sequence did move */
}

/* --- constant-time helpers ------------------------------------------------ */

static void test_ct_equal(void **state) {
  uint8_t a[64], b[64];
  size_t i;
  int bit;

  (void)state;
  for (i = 0; i < sizeof(a); i++)
    a[i] = b[i] = (uint8_t)(i * 7 + 3);
  assert_int_equal(jvpn_ct_equal(a, b, sizeof(a)), 1);
  assert_int_equal(jvpn_ct_equal(a, b, 0), 1);
  for (i = 0; i < sizeof(a); i++)
    for (bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      assert_int_equal(jvpn_ct_equal(a, b, sizeof(a)), 0);
      b[i] ^= (uint8_t)(1u << bit);
    }
  /* a difference past len is not looked at */
  b[63] ^= 0xff;
  assert_int_equal(jvpn_ct_equal(a, b, 63), 1);
  /* every byte differing maximally still yields exactly 0, not garbage */
  memset(a, 0x00, sizeof(a));
  memset(b, 0xff, sizeof(b));
  assert_int_equal(jvpn_ct_equal(a, b, sizeof(a)), 0);
}

static void test_wipe(void **state) {
  uint8_t buf[40];
  size_t i;

  (void)state;
  memset(buf, 0xa5, sizeof(buf));
  jvpn_wipe(buf + 4, 32);
  for (i = 0; i < sizeof(buf); i++)
    assert_int_equal(buf[i], (i >= 4 && i < 36) ? 0 : 0xa5);
  jvpn_wipe(NULL, 0); /* allowed, does nothing */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hmac_rfc4231_case2),
      cmocka_unit_test(test_hkdf_rfc5869_case1),
      cmocka_unit_test(test_proof_known_answer),
      cmocka_unit_test(test_proof_bad_role),
      cmocka_unit_test(test_verify_rejects_every_bit),
      cmocka_unit_test(test_replay_in_order),
      cmocka_unit_test(test_replay_zero_never_fresh),
      cmocka_unit_test(test_replay_out_of_order_and_duplicates),
      cmocka_unit_test(test_replay_window_edge),
      cmocka_unit_test(test_replay_huge_jumps),
      cmocka_unit_test(test_replay_check_is_pure),
      cmocka_unit_test(test_replay_commit_without_check),
      cmocka_unit_test(test_replay_against_model),
      cmocka_unit_test(test_ct_equal),
      cmocka_unit_test(test_wipe),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
