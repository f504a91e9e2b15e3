/* tests/unit/test_varint: QUIC variable-length integers (RFC 9000 16). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/varint.h"

struct vcase {
  uint64_t v;
  size_t len;
  uint8_t enc[8];
};

/* Each boundary of the four encodings, with its RFC 9000 byte form. */
static const struct vcase cases[] = {
    {0, 1, {0x00}},
    {63, 1, {0x3f}},
    {64, 2, {0x40, 0x40}},
    {16383, 2, {0x7f, 0xff}},
    {16384, 4, {0x80, 0x00, 0x40, 0x00}},
    {1073741823, 4, {0xbf, 0xff, 0xff, 0xff}},
    {1073741824, 8, {0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}},
    {0x3fffffffffffffffULL,
     8,
     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    /* RFC 9000 A.1 examples */
    {151288809941952652ULL,
     8,
     {0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}},
    {494878333, 4, {0x9d, 0x7f, 0x3e, 0x7d}},
    {15293, 2, {0x7b, 0xbd}},
    {37, 1, {0x25}},
};

static void test_len_boundaries(void **state) {
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(jvpn_varint_len(cases[i].v), cases[i].len);
  assert_int_equal(jvpn_varint_len(1ULL << 62), 0);
  assert_int_equal(jvpn_varint_len(UINT64_MAX), 0);
}

static void test_encode_exact_bytes(void **state) {
  uint8_t buf[9];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(jvpn_varint_encode(buf, sizeof(buf), cases[i].v),
                     cases[i].len);
    assert_memory_equal(buf, cases[i].enc, cases[i].len);
    /* nothing written past the encoding */
    assert_int_equal(buf[cases[i].len], 0xee);
  }
}

static void test_encode_refuses(void **state) {
  uint8_t buf[8];

  (void)state;
  assert_int_equal(jvpn_varint_encode(buf, sizeof(buf), 1ULL << 62), 0);
  /* a buffer one byte short of each length */
  assert_int_equal(jvpn_varint_encode(buf, 0, 0), 0);
  assert_int_equal(jvpn_varint_encode(buf, 1, 64), 0);
  assert_int_equal(jvpn_varint_encode(buf, 3, 16384), 0);
  assert_int_equal(jvpn_varint_encode(buf, 7, 1073741824), 0);
  assert_int_equal(jvpn_varint_encode(buf, 8, 1073741824), 8);
}

static void test_decode_round_trip(void **state) {
  uint64_t v;
  size_t i, used;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    v = 0;
    used = 0;
    assert_int_equal(jvpn_varint_decode(cases[i].enc, cases[i].len, &v, &used),
                     0);
    assert_true(v == cases[i].v);
    assert_int_equal(used, cases[i].len);
  }
}

static void test_decode_truncated(void **state) {
  uint64_t v = 77;
  size_t i, cut, used = 77;

  (void)state;
  assert_int_equal(jvpn_varint_decode(NULL, 0, &v, &used), JVPN_ERR_TRUNCATED);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    for (cut = 0; cut < cases[i].len; cut++)
      assert_int_equal(jvpn_varint_decode(cases[i].enc, cut, &v, &used),
                       JVPN_ERR_TRUNCATED);
  /* outputs untouched on failure */
  assert_true(v == 77);
  assert_int_equal(used, 77);
}

static void test_decode_non_minimal(void **state) {
  /* RFC 9000 16 allows longer encodings; A.1 gives 0x4025 for 37. */
  static const uint8_t two[] = {0x40, 0x25};
  static const uint8_t four[] = {0x80, 0x00, 0x00, 0x25};
  static const uint8_t eight[] = {0xc0, 0, 0, 0, 0, 0, 0, 0};
  uint64_t v;
  size_t used;

  (void)state;
  assert_int_equal(jvpn_varint_decode(two, sizeof(two), &v, &used), 0);
  assert_true(v == 37 && used == 2);
  assert_int_equal(jvpn_varint_decode(four, sizeof(four), &v, &used), 0);
  assert_true(v == 37 && used == 4);
  assert_int_equal(jvpn_varint_decode(eight, sizeof(eight), &v, &used), 0);
  assert_true(v == 0 && used == 8);
}

static void test_decode_ignores_trailing(void **state) {
  static const uint8_t d[] = {0x7b, 0xbd, 0xff, 0xff};
  uint64_t v;
  size_t used;

  (void)state;
  assert_int_equal(jvpn_varint_decode(d, sizeof(d), &v, &used), 0);
  assert_true(v == 15293);
  assert_int_equal(used, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_len_boundaries),
      cmocka_unit_test(test_encode_exact_bytes),
      cmocka_unit_test(test_encode_refuses),
      cmocka_unit_test(test_decode_round_trip),
      cmocka_unit_test(test_decode_truncated),
      cmocka_unit_test(test_decode_non_minimal),
      cmocka_unit_test(test_decode_ignores_trailing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
