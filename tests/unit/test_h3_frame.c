/*
 * tests/unit/test_h3_frame: HTTP/3 frames read at their boundaries
 * (quic/h3_frame): hand-built streams fed whole and byte by byte, the
 * frame types each stream may carry, the DATA header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/proto.h"
#include "quic/h3_frame.h"

#define SEEN_MAX 8

/* What a sink saw: frame headers and the payload bytes, in order. */
struct seen {
  size_t nframes;
  uint64_t type[SEEN_MAX], len[SEEN_MAX];
  uint8_t payload[256];
  size_t npayload;
  uint64_t refuse_type; /* answered with FRAME_UNEXPECTED */
};

static uint64_t on_frame(void *ud, uint64_t type, uint64_t len) {
  struct seen *s = ud;

  if (s->nframes < SEEN_MAX) {
    s->type[s->nframes] = type;
    s->len[s->nframes] = len;
  }
  s->nframes++;
  return type == s->refuse_type ? JVPN_H3_FRAME_UNEXPECTED : 0;
}

static void on_payload(void *ud, uint64_t type, const uint8_t *p, size_t n) {
  struct seen *s = ud;

  (void)type;
  assert_true(s->npayload + n <= sizeof(s->payload));
  memcpy(s->payload + s->npayload, p, n);
  s->npayload += n;
}

/* DATA (3 bytes), an unknown frame 0x21 with a 2-byte length encoding
 * (1 byte), an empty HEADERS, DATA (1 byte) with a 4-byte length. */
static const uint8_t stream[] = {0x00, 0x03, 'a', 'b', 'c',
                                 0x21, 0x40, 0x01, 'x',
                                 0x01, 0x00,
                                 0x00, 0x80, 0x00, 0x00, 0x01, 'd'};

static void check_seen(const struct seen *s) {
  assert_int_equal(s->nframes, 4);
  assert_int_equal(s->type[0], H3_FRAME_DATA);
  assert_int_equal(s->len[0], 3);
  assert_int_equal(s->type[1], 0x21);
  assert_int_equal(s->len[1], 1);
  assert_int_equal(s->type[2], H3_FRAME_HEADERS);
  assert_int_equal(s->len[2], 0);
  assert_int_equal(s->type[3], H3_FRAME_DATA);
  assert_int_equal(s->len[3], 1);
  assert_int_equal(s->npayload, 5);
  assert_memory_equal(s->payload, "abcxd", 5);
}

static void test_whole_and_bytewise(void **state) {
  struct h3_frame_reader r;
  struct seen s;
  struct h3_frame_sink sink = {on_frame, on_payload, &s};
  size_t i;

  (void)state;
  memset(&s, 0, sizeof(s));
  s.refuse_type = UINT64_MAX;
  h3_frame_reader_init(&r);
  assert_int_equal(h3_frame_read(&r, &sink, stream, sizeof(stream)), 0);
  assert_true(h3_frame_at_boundary(&r));
  check_seen(&s);

  memset(&s, 0, sizeof(s));
  s.refuse_type = UINT64_MAX;
  h3_frame_reader_init(&r);
  for (i = 0; i < sizeof(stream); i++) {
    assert_int_equal(h3_frame_read(&r, &sink, stream + i, 1), 0);
    /* Between frames exactly after bytes 4, 8, 10 and 16. */
    assert_int_equal(h3_frame_at_boundary(&r),
                     i == 4 || i == 8 || i == 10 || i == 16);
  }
  check_seen(&s);
}

/* Without a sink the reader only follows the boundaries. */
static void test_boundaries_only(void **state) {
  struct h3_frame_reader r;

  (void)state;
  h3_frame_reader_init(&r);
  assert_true(h3_frame_at_boundary(&r));
  assert_int_equal(h3_frame_read(&r, NULL, stream, 3), 0);
  assert_false(h3_frame_at_boundary(&r));
  assert_int_equal(h3_frame_read(&r, NULL, stream + 3, 2), 0);
  assert_true(h3_frame_at_boundary(&r));
  assert_int_equal(h3_frame_read(&r, NULL, stream + 5, 1), 0);
  assert_false(h3_frame_at_boundary(&r)); /* a type read, no length */
  assert_int_equal(h3_frame_read(&r, NULL, stream + 6, 1), 0);
  assert_false(h3_frame_at_boundary(&r)); /* half a length */
}

/* A refused frame stops the reading; its payload is not delivered. */
static void test_refusal_stops(void **state) {
  struct h3_frame_reader r;
  struct seen s;
  struct h3_frame_sink sink = {on_frame, on_payload, &s};

  (void)state;
  memset(&s, 0, sizeof(s));
  s.refuse_type = 0x21;
  h3_frame_reader_init(&r);
  assert_int_equal(h3_frame_read(&r, &sink, stream, sizeof(stream)),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(s.nframes, 2);
  assert_int_equal(s.npayload, 3);
}

static void test_varint_take(void **state) {
  static const uint8_t eight[] = {0xc0, 0, 0, 0, 0, 0, 0x01, 0x02};
  struct h3_varint_acc a;
  const uint8_t *p = eight;
  size_t left = 3;
  uint64_t v = 0;

  (void)state;
  memset(&a, 0, sizeof(a));
  assert_int_equal(h3_varint_take(&a, &p, &left, &v), 0);
  assert_int_equal(left, 0);
  left = 5;
  assert_int_equal(h3_varint_take(&a, &p, &left, &v), 1);
  assert_int_equal(v, 0x0102);
  assert_int_equal(left, 0);
  assert_int_equal(h3_varint_take(&a, &p, &left, &v), 0); /* nothing left */
}

static void test_allowed(void **state) {
  (void)state;
  /* Request stream. */
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 1, H3_FRAME_DATA, 100), 0);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 0, H3_FRAME_HEADERS, 9), 0);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 1, 0x21, 5), 0);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 1, H3_FRAME_SETTINGS, 0),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 0, H3_FRAME_GOAWAY, 1),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 0, H3_FRAME_PUSH_PROMISE,
                                    9),
                   JVPN_H3_ID_ERROR);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 1, H3_FRAME_PUSH_PROMISE,
                                    9),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_REQUEST, 1, 0x06, 8),
                   JVPN_H3_FRAME_UNEXPECTED); /* HTTP/2 PING */
  /* Control stream. */
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 0, H3_FRAME_GOAWAY, 1), 0);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 0, H3_FRAME_GOAWAY, 0),
                   JVPN_H3_FRAME_ERROR);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 1, H3_FRAME_SETTINGS, 6),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 1, H3_FRAME_DATA, 1),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 1, H3_FRAME_MAX_PUSH_ID, 1),
                   0);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 0, H3_FRAME_MAX_PUSH_ID, 1),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 0, H3_FRAME_CANCEL_PUSH, 1),
                   JVPN_H3_ID_ERROR);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 1,
                                    H3_FRAME_PRIORITY_UPDATE, 3),
                   0);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 0,
                                    H3_FRAME_PRIORITY_UPDATE, 3),
                   JVPN_H3_FRAME_UNEXPECTED);
  assert_int_equal(h3_frame_allowed(H3_ON_CONTROL, 1, 0x1f * 7 + 0x21, 40),
                   0); /* a reserved (greasing) type */
}

static void test_data_header(void **state) {
  uint8_t h[9];

  (void)state;
  assert_int_equal(h3_frame_data_header(h, sizeof(h), 5), 2);
  assert_int_equal(h[0], 0x00);
  assert_int_equal(h[1], 0x05);
  assert_int_equal(h3_frame_data_header(h, sizeof(h), 1400), 3);
  assert_int_equal(h[1], 0x45);
  assert_int_equal(h[2], 0x78);
  assert_int_equal(h3_frame_data_header(h, 2, 1400), 0);
  assert_int_equal(h3_frame_data_header(h, sizeof(h), UINT64_MAX), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_and_bytewise),
      cmocka_unit_test(test_boundaries_only),
      cmocka_unit_test(test_refusal_stops),
      cmocka_unit_test(test_varint_take),
      cmocka_unit_test(test_allowed),
      cmocka_unit_test(test_data_header),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
