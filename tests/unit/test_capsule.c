/* tests/unit/test_capsule: streaming Capsule Protocol codec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/capsule.h"

#define REC_MAX 16

/* Linked with --wrap=malloc: the code under test allocates through this,
 * which fails while |malloc_fails| is set. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static int malloc_fails;

void *__wrap_malloc(size_t n) {
  return malloc_fails ? NULL : __real_malloc(n);
}

/* What the callback saw, in order. */
struct rec {
  size_t n;
  uint64_t type[REC_MAX];
  size_t len[REC_MAX];
  uint8_t buf[3 * JVPN_CAPSULE_MAX_VALUE];
  size_t off[REC_MAX];
  size_t used;
  int fail_at; /* return an error on this delivery (1-based); 0 = never */
};

static int rec_cb(void *user, uint64_t type, const uint8_t *value, size_t len) {
  struct rec *r = user;

  assert_true(r->n < REC_MAX);
  assert_true(r->used + len <= sizeof(r->buf));
  r->type[r->n] = type;
  r->len[r->n] = len;
  r->off[r->n] = r->used;
  memcpy(r->buf + r->used, value, len);
  r->used += len;
  r->n++;
  if (r->fail_at != 0 && (size_t)r->fail_at == r->n)
    return JVPN_ERR_PROTO;
  return 0;
}

/* Only the RFC 9484 capsules; everything else is skipped. */
static int cip_known(uint64_t type) {
  return type == JVPN_CAPSULE_ADDRESS_ASSIGN ||
         type == JVPN_CAPSULE_ADDRESS_REQUEST ||
         type == JVPN_CAPSULE_ROUTE_ADVERTISEMENT;
}

static struct capsule_parser parser;
static struct rec rec;

static void reset(capsule_known_fn known) {
  memset(&rec, 0, sizeof(rec));
  capsule_parser_free(&parser);
  capsule_parser_init(&parser, known, rec_cb, &rec);
}

/* A stream of five capsules exercising every header shape: a 2-byte type,
 * a 4-byte type, a 2-byte length, a zero-length value, an unknown type
 * with a non-minimal length, and a GREASE-like 8-byte type. */
static size_t build_stream(uint8_t *s, size_t cap) {
  uint8_t val[300];
  size_t off = 0;
  long n;
  size_t i;

  for (i = 0; i < sizeof(val); i++)
    val[i] = (uint8_t)(i * 7 + 1);
  n = capsule_encode(s + off, cap - off, JVPN_CAPSULE_ADDRESS_ASSIGN, val, 5);
  assert_true(n > 0);
  off += (size_t)n;
  /* unknown type 0x1234 with length 3 encoded in 4 bytes */
  memcpy(s + off, "\x52\x34\x80\x00\x00\x03zzz", 9);
  off += 9;
  n = capsule_encode(s + off, cap - off, JVPN_CAPSULE_ROUTE_ADVERTISEMENT, val,
                     300);
  assert_true(n == 2 + 1 + 300 + 1 || n == 1 + 2 + 300);
  off += (size_t)n;
  n = capsule_encode(s + off, cap - off, JVPN_CAPSULE_ADDRESS_REQUEST, NULL, 0);
  assert_int_equal(n, 2);
  off += (size_t)n;
  n = capsule_encode(s + off, cap - off, 0x2a3b4c5d6eULL, val, 2);
  assert_int_equal(n, 8 + 1 + 2);
  off += (size_t)n;
  return off;
}

static void check_stream_result(void) {
  size_t i;

  assert_int_equal(rec.n, 3);
  assert_true(rec.type[0] == JVPN_CAPSULE_ADDRESS_ASSIGN);
  assert_int_equal(rec.len[0], 5);
  assert_true(rec.type[1] == JVPN_CAPSULE_ROUTE_ADVERTISEMENT);
  assert_int_equal(rec.len[1], 300);
  for (i = 0; i < 300; i++)
    assert_int_equal(rec.buf[rec.off[1] + i], (uint8_t)(i * 7 + 1));
  assert_true(rec.type[2] == JVPN_CAPSULE_ADDRESS_REQUEST);
  assert_int_equal(rec.len[2], 0);
  assert_true(parser.stats.delivered == 3);
  assert_true(parser.stats.skipped == 2);
  assert_true(parser.stats.skipped_bytes == 5);
  assert_false(capsule_parser_mid_capsule(&parser));
}

static void test_whole_feed(void **state) {
  uint8_t s[512];
  size_t len = build_stream(s, sizeof(s));

  (void)state;
  reset(cip_known);
  assert_int_equal(capsule_parser_feed(&parser, s, len), 0);
  check_stream_result();
}

/* Two pieces, cut at every byte offset. */
static void test_split_every_point(void **state) {
  uint8_t s[512];
  size_t len = build_stream(s, sizeof(s)), cut;

  (void)state;
  for (cut = 0; cut <= len; cut++) {
    reset(cip_known);
    assert_int_equal(capsule_parser_feed(&parser, s, cut), 0);
    assert_int_equal(capsule_parser_feed(&parser, s + cut, len - cut), 0);
    check_stream_result();
  }
}

/* Three pieces, both cuts anywhere in the first capsules' headers. */
static void test_split_three_ways(void **state) {
  uint8_t s[512];
  size_t len = build_stream(s, sizeof(s)), a, b;

  (void)state;
  for (a = 0; a < 24; a++) {
    for (b = a; b < 40; b++) {
      reset(cip_known);
      assert_int_equal(capsule_parser_feed(&parser, s, a), 0);
      assert_int_equal(capsule_parser_feed(&parser, s + a, b - a), 0);
      assert_int_equal(capsule_parser_feed(&parser, s + b, len - b), 0);
      check_stream_result();
    }
  }
}

static void test_byte_at_a_time(void **state) {
  uint8_t s[512];
  size_t len = build_stream(s, sizeof(s)), i;

  (void)state;
  reset(cip_known);
  for (i = 0; i < len; i++)
    assert_int_equal(capsule_parser_feed(&parser, s + i, 1), 0);
  check_stream_result();
}

/* An unknown capsule far larger than the buffer is skipped as it streams
 * past; its length alone (2^62-1) would never fit in memory. */
static void test_unknown_huge_skipped(void **state) {
  static const uint8_t hdr[] = {0x7f, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff};
  uint8_t junk[4096];
  int i;

  (void)state;
  memset(junk, 0xab, sizeof(junk));
  reset(cip_known);
  assert_int_equal(capsule_parser_feed(&parser, hdr, sizeof(hdr)), 0);
  for (i = 0; i < 64; i++)
    assert_int_equal(capsule_parser_feed(&parser, junk, sizeof(junk)), 0);
  assert_int_equal(rec.n, 0);
  assert_true(parser.stats.skipped == 1);
  assert_true(parser.stats.skipped_bytes == 64 * sizeof(junk));
  assert_true(capsule_parser_mid_capsule(&parser));
}

static void test_every_type_known_with_null(void **state) {
  static const uint8_t s[] = {0x21, 0x01, 0x99, 0x00, 0x00};

  (void)state;
  reset(NULL);
  assert_int_equal(capsule_parser_feed(&parser, s, sizeof(s)), 0);
  assert_int_equal(rec.n, 2);
  assert_true(rec.type[0] == 0x21);
  assert_int_equal(rec.len[0], 1);
  assert_int_equal(rec.buf[0], 0x99);
  assert_true(rec.type[1] == JVPN_CAPSULE_DATAGRAM);
  assert_int_equal(rec.len[1], 0);
  assert_true(parser.stats.skipped == 0);
}

static void test_mid_capsule(void **state) {
  uint8_t s[64];
  long n;
  size_t cut;

  (void)state;
  n = capsule_encode(s, sizeof(s), 0x4000, (const uint8_t *)"abcdef", 6);
  assert_int_equal(n, 4 + 1 + 6);
  reset(NULL);
  assert_false(capsule_parser_mid_capsule(&parser));
  for (cut = 1; cut < (size_t)n; cut++) {
    reset(NULL);
    assert_int_equal(capsule_parser_feed(&parser, s, cut), 0);
    assert_true(capsule_parser_mid_capsule(&parser));
    assert_int_equal(rec.n, 0);
  }
  reset(NULL);
  assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n), 0);
  assert_false(capsule_parser_mid_capsule(&parser));
  assert_int_equal(rec.n, 1);
}

/* Only a value split across pieces holds a buffer, and only until it is
 * delivered: an idle stream's parser holds none (issue 15). */
/* A fresh parser and, in |s|, a capsule of unknown type 0x21 with the
 * value "abcdef"; returns its length. */
static long abcdef_capsule(uint8_t s[64]) {
  long n = capsule_encode(s, 64, 0x21, (const uint8_t *)"abcdef", 6);

  assert_true(n > 0);
  reset(NULL);
  return n;
}

static void test_buffer_only_while_split(void **state) {
  uint8_t s[64];
  long n;

  (void)state;
  n = abcdef_capsule(s);
  assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n), 0);
  assert_null(parser.value);
  assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n - 2), 0);
  assert_non_null(parser.value);
  assert_int_equal(capsule_parser_feed(&parser, s + n - 2, 2), 0);
  assert_null(parser.value);
  assert_int_equal(rec.n, 2);
  assert_memory_equal(rec.buf + 6, "abcdef", 6);
  assert_int_equal(capsule_parser_feed(&parser, s, 4), 0);
  capsule_parser_free(&parser);
  assert_null(parser.value);
}

/* A split value whose buffer cannot be allocated fails the parser for
 * good, like any other error; one that arrives whole needs no buffer. */
static void test_buffer_alloc_failure(void **state) {
  uint8_t s[64];
  long n;

  (void)state;
  n = abcdef_capsule(s);
  malloc_fails = 1;
  assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n), 0);
  assert_int_equal(rec.n, 1);
  assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n - 2),
                   JVPN_ERR_NOMEM);
  malloc_fails = 0;
  assert_null(parser.value);
  assert_true(capsule_parser_feed(&parser, s, (size_t)n) < 0);
  assert_int_equal(rec.n, 1);
}

static void test_oversize_fails_for_good(void **state) {
  uint8_t s[8];
  size_t n = 0;
  static const uint8_t ok[] = {0x01, 0x00};

  (void)state;
  /* the limit itself is fine */
  s[n++] = 0x01;
  s[n++] = 0x40 | (JVPN_CAPSULE_MAX_VALUE >> 8);
  s[n++] = JVPN_CAPSULE_MAX_VALUE & 0xff;
  reset(cip_known);
  assert_int_equal(capsule_parser_feed(&parser, s, n), 0);
  assert_true(capsule_parser_mid_capsule(&parser));

  /* one byte over, detected from the header alone */
  s[2] = (JVPN_CAPSULE_MAX_VALUE + 1) & 0xff;
  reset(cip_known);
  assert_int_equal(capsule_parser_feed(&parser, s, n), JVPN_ERR_OVERSIZE);
  assert_true(capsule_parser_feed(&parser, ok, sizeof(ok)) < 0);
  assert_true(capsule_parser_feed(&parser, ok, 0) < 0);
  assert_int_equal(rec.n, 0);

  /* the same length on an unknown type is only skipped */
  s[0] = 0x3e;
  reset(cip_known);
  assert_int_equal(capsule_parser_feed(&parser, s, n), 0);
  assert_true(parser.stats.skipped == 1);
}

static void test_max_value_delivered(void **state) {
  static uint8_t s[JVPN_CAPSULE_MAX_VALUE + 8];
  static uint8_t v[JVPN_CAPSULE_MAX_VALUE];
  long n;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(v); i++)
    v[i] = (uint8_t)(i ^ (i >> 8));
  n = capsule_encode(s, sizeof(s), JVPN_CAPSULE_ROUTE_ADVERTISEMENT, v,
                     sizeof(v));
  assert_int_equal(n, 1 + 2 + JVPN_CAPSULE_MAX_VALUE);
  reset(cip_known);
  /* pieces of 1000 bytes: the value is reassembled from five feeds */
  for (i = 0; i < (size_t)n; i += 1000)
    assert_int_equal(
        capsule_parser_feed(&parser, s + i,
                            (size_t)n - i < 1000 ? (size_t)n - i : 1000),
        0);
  assert_int_equal(rec.n, 1);
  assert_int_equal(rec.len[0], sizeof(v));
  assert_memory_equal(rec.buf, v, sizeof(v));
}

static void test_callback_error_propagates(void **state) {
  static const uint8_t s[] = {0x01, 0x01, 0xaa, 0x02, 0x00, 0x03, 0x00};

  (void)state;
  reset(cip_known);
  rec.fail_at = 2;
  assert_int_equal(capsule_parser_feed(&parser, s, sizeof(s)), JVPN_ERR_PROTO);
  /* parsing stopped at the failing capsule */
  assert_int_equal(rec.n, 2);
  assert_true(capsule_parser_feed(&parser, s, sizeof(s)) < 0);
  assert_int_equal(rec.n, 2);
}

static void test_encode(void **state) {
  uint8_t d[16], v[70];

  (void)state;
  memset(v, 0x5a, sizeof(v));
  assert_int_equal(capsule_encode(d, sizeof(d), 1, v, 3), 5);
  assert_memory_equal(d, "\x01\x03\x5a\x5a\x5a", 5);
  /* exactly enough room, then one byte short */
  assert_int_equal(capsule_encode(d, 5, 1, v, 3), 5);
  assert_int_equal(capsule_encode(d, 4, 1, v, 3), JVPN_ERR_NOSPACE);
  assert_int_equal(capsule_encode(d, 0, 1, NULL, 0), JVPN_ERR_NOSPACE);
  assert_int_equal(capsule_encode(d, 2, 1, NULL, 0), 2);
  assert_int_equal(capsule_encode(d, sizeof(d), 1, v, sizeof(v)),
                   JVPN_ERR_NOSPACE);
  assert_true(capsule_encode(d, sizeof(d), 1ULL << 62, v, 1) < 0);
}

/* encode -> feed gives back each value; lengths on both sides of every
 * varint boundary the header can have. */
static void test_round_trip(void **state) {
  static uint8_t s[JVPN_CAPSULE_MAX_VALUE + 16];
  static uint8_t v[JVPN_CAPSULE_MAX_VALUE];
  static const size_t lens[] = {0, 1, 63, 64, 1000, JVPN_CAPSULE_MAX_VALUE};
  static const uint64_t types[] = {0, 63, 64, 16383, 16384, 1ULL << 30};
  long n;
  size_t i, j;

  (void)state;
  for (i = 0; i < sizeof(v); i++)
    v[i] = (uint8_t)(i * 31);
  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    for (j = 0; j < sizeof(types) / sizeof(types[0]); j++) {
      n = capsule_encode(s, sizeof(s), types[j], v, lens[i]);
      assert_true(n > 0);
      reset(NULL);
      assert_int_equal(capsule_parser_feed(&parser, s, (size_t)n), 0);
      assert_int_equal(rec.n, 1);
      assert_true(rec.type[0] == types[j]);
      assert_int_equal(rec.len[0], lens[i]);
      assert_memory_equal(rec.buf, v, lens[i]);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_feed),
      cmocka_unit_test(test_split_every_point),
      cmocka_unit_test(test_split_three_ways),
      cmocka_unit_test(test_byte_at_a_time),
      cmocka_unit_test(test_unknown_huge_skipped),
      cmocka_unit_test(test_every_type_known_with_null),
      cmocka_unit_test(test_mid_capsule),
      cmocka_unit_test(test_buffer_only_while_split),
      cmocka_unit_test(test_buffer_alloc_failure),
      cmocka_unit_test(test_oversize_fails_for_good),
      cmocka_unit_test(test_max_value_delivered),
      cmocka_unit_test(test_callback_error_propagates),
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
