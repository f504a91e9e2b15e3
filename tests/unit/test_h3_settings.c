/* tests/unit/test_h3_settings: the SETTINGS shim for nghttp3 0.8. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/h3_settings.h"

/* What nghttp3 0.8 writes first on its control stream: stream type,
 * SETTINGS { MAX_FIELD_SECTION_SIZE = 2^62-1 (8-byte varint),
 * QPACK_MAX_TABLE_CAPACITY = 0, QPACK_BLOCKED_STREAMS = 0 }, followed here
 * by the start of a later frame that must not be consumed. */
static const uint8_t nghttp3_prefix[] = {0x00, 0x04, 0x0d, 0x06, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0x01, 0x00, 0x07, 0x00, 0x07, 0x01};
#define NGHTTP3_PREFIX_LEN 16 /* bytes of stream type + SETTINGS */

static struct h3_settings_shim shim;

static void test_rewrite_appends_datagram(void **state) {
  static const uint8_t want[] = {0x00, 0x04, 0x0f, 0x06, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0x01, 0x00, 0x07, 0x00, 0x33, 0x01};
  const uint8_t *p;
  size_t len;

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(
      h3_settings_rewrite(&shim, nghttp3_prefix, sizeof(nghttp3_prefix)),
      NGHTTP3_PREFIX_LEN);
  assert_int_equal(shim.orig_len, NGHTTP3_PREFIX_LEN);
  assert_int_equal(shim.out_len, sizeof(want));
  p = h3_settings_pending(&shim, &len);
  assert_non_null(p);
  assert_int_equal(len, sizeof(want));
  assert_memory_equal(p, want, sizeof(want));
  /* a second rewrite is the glue's bug */
  assert_true(
      h3_settings_rewrite(&shim, nghttp3_prefix, sizeof(nghttp3_prefix)) < 0);
}

static void test_rewrite_keeps_existing_datagram(void **state) {
  static const uint8_t in[] = {0x00, 0x04, 0x06, 0x33, 0x01,
                               0x08, 0x01, 0x01, 0x00};
  const uint8_t *p;
  size_t len;

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, in, sizeof(in)), sizeof(in));
  p = h3_settings_pending(&shim, &len);
  assert_int_equal(len, sizeof(in));
  assert_memory_equal(p, in, sizeof(in));
}

/* Builds a control stream prefix whose SETTINGS payload is |plen| bytes
 * of 1-byte pairs (ids 0x10.., none of them 0x33). */
static size_t build_prefix(uint8_t *d, size_t plen) {
  size_t i, n = 0;

  d[n++] = 0x00;
  d[n++] = 0x04;
  d[n++] = (uint8_t)plen;
  for (i = 0; i < plen / 2; i++) {
    d[n++] = (uint8_t)(0x10 + i);
    d[n++] = (uint8_t)i;
  }
  return n;
}

static void test_rewrite_length_varint_grows(void **state) {
  uint8_t in[80];
  const uint8_t *p;
  size_t n, len;

  (void)state;
  /* 60 + 2 = 62 still fits a 1-byte length */
  n = build_prefix(in, 60);
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, in, n), n);
  p = h3_settings_pending(&shim, &len);
  assert_int_equal(len, n + 2);
  assert_int_equal(p[2], 62);

  /* 62 + 2 = 64 needs two bytes */
  n = build_prefix(in, 62);
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, in, n), n);
  p = h3_settings_pending(&shim, &len);
  assert_int_equal(len, n + 3);
  assert_memory_equal(p, "\x00\x04\x40\x40", 4);
  assert_memory_equal(p + 4, in + 3, 62);
  assert_memory_equal(p + 66, "\x33\x01", 2);
}

static void test_rewrite_non_minimal_input(void **state) {
  /* type, frame type and length each as 2-byte varints */
  static const uint8_t in[] = {0x40, 0x00, 0x40, 0x04, 0x40, 0x02, 0x01, 0x00};
  const uint8_t *p;
  size_t len;

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, in, sizeof(in)), sizeof(in));
  p = h3_settings_pending(&shim, &len);
  assert_int_equal(len, 7);
  assert_memory_equal(p, "\x00\x04\x04\x01\x00\x33\x01", 7);
  /* the wire is shorter than nghttp3's bytes: offsets shift back */
  assert_int_equal(h3_settings_sent(&shim, 9), 2);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 7, 2), 2);
}

static void test_rewrite_truncated(void **state) {
  size_t cut;

  (void)state;
  for (cut = 0; cut < NGHTTP3_PREFIX_LEN; cut++) {
    h3_settings_init(&shim);
    assert_int_equal(h3_settings_rewrite(&shim, nghttp3_prefix, cut),
                     JVPN_ERR_TRUNCATED);
    assert_false(shim.rewritten);
  }
}

static void test_rewrite_malformed(void **state) {
  static const uint8_t not_ctrl[] = {0x02, 0x04, 0x00};
  static const uint8_t not_settings[] = {0x00, 0x07, 0x01, 0x00};
  static const uint8_t half_pair[] = {0x00, 0x04, 0x03, 0x06, 0x01, 0x07};
  static const uint8_t cut_varint[] = {0x00, 0x04, 0x02, 0x06, 0x80};
  static const uint8_t huge[] = {0x00, 0x04, 0x41, 0x2c};

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, not_ctrl, sizeof(not_ctrl)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(
      h3_settings_rewrite(&shim, not_settings, sizeof(not_settings)),
      JVPN_ERR_MALFORMED);
  assert_int_equal(h3_settings_rewrite(&shim, half_pair, sizeof(half_pair)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(h3_settings_rewrite(&shim, cut_varint, sizeof(cut_varint)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(h3_settings_rewrite(&shim, huge, sizeof(huge)),
                   JVPN_ERR_OVERSIZE);
  assert_false(shim.rewritten);
  assert_null(h3_settings_pending(&shim, &(size_t){0}));
}

/* With H3_DATAGRAM appended the payload must stay within H3_SETTINGS_MAX,
 * the limit our own peek holds peers to. */
static void test_rewrite_size_limit(void **state) {
  static uint8_t in[4 + H3_SETTINGS_MAX];
  const uint8_t *p;
  size_t plen, len;

  (void)state;
  for (plen = H3_SETTINGS_MAX - 4; plen <= H3_SETTINGS_MAX; plen += 2) {
    memset(in, 0, sizeof(in));
    in[1] = 0x04;
    in[2] = (uint8_t)(0x40 | (plen >> 8));
    in[3] = (uint8_t)plen;
    h3_settings_init(&shim);
    if (plen + 2 <= H3_SETTINGS_MAX) {
      assert_int_equal(h3_settings_rewrite(&shim, in, 4 + plen), 4 + plen);
      p = h3_settings_pending(&shim, &len);
      assert_int_equal(len, 4 + plen + 2);
      assert_memory_equal(p + len - 2, "\x33\x01", 2);
    } else {
      assert_int_equal(h3_settings_rewrite(&shim, in, 4 + plen),
                       JVPN_ERR_OVERSIZE);
    }
  }
  /* already carrying H3_DATAGRAM, the full size fits */
  in[4] = 0x33;
  in[5] = 0x01;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_rewrite(&shim, in, 4 + H3_SETTINGS_MAX),
                   4 + H3_SETTINGS_MAX);
}

static void test_accounting_without_rewrite(void **state) {
  size_t len = 5;

  (void)state;
  h3_settings_init(&shim);
  assert_null(h3_settings_pending(&shim, &len));
  assert_int_equal(len, 0);
  assert_int_equal(h3_settings_sent(&shim, 100), 100);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 0, 100), 100);
}

static void test_accounting_partial_sends(void **state) {
  const uint8_t *p;
  size_t len;

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(
      h3_settings_rewrite(&shim, nghttp3_prefix, sizeof(nghttp3_prefix)), 16);
  /* QUIC takes 5 bytes: all the shim's */
  assert_int_equal(h3_settings_sent(&shim, 5), 0);
  p = h3_settings_pending(&shim, &len);
  assert_int_equal(len, 13);
  assert_int_equal(p[0], 0xff);
  /* then 0 bytes */
  assert_int_equal(h3_settings_sent(&shim, 0), 0);
  /* then 20: 13 finish the prefix, 7 are nghttp3's */
  assert_int_equal(h3_settings_sent(&shim, 20), 7);
  assert_null(h3_settings_pending(&shim, &len));
  assert_int_equal(len, 0);
  assert_int_equal(h3_settings_sent(&shim, 4), 4);

  /* acks: wire [0,18) is the prefix, already acked to nghttp3 */
  assert_int_equal(h3_settings_wire_to_h3(&shim, 0, 10), 0);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 0, 18), 0);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 17, 1), 0);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 17, 2), 1);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 10, 20), 12);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 18, 5), 5);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 1000, 7), 7);
  assert_int_equal(h3_settings_wire_to_h3(&shim, 3, 0), 0);
}

/* A peer's control stream: type, SETTINGS { QPACK_MAX_TABLE_CAPACITY=4096,
 * ENABLE_CONNECT_PROTOCOL=1, H3_DATAGRAM=1, a GREASE id with an 8-byte
 * value }, then a GOAWAY that the shim must not look at. */
static const uint8_t peer_ctrl[] = {0x00, 0x04, 0x13, 0x01, 0x50, 0x00, 0x08,
                                    0x01, 0x33, 0x01, 0x80, 0x00, 0x1f, 0x3a,
                                    0xc0, 0,    0,    0,    0,    0,    0,
                                    0x09, 0x07, 0x01, 0x00};
#define PEER_CTRL_SETTINGS_END 22

static void check_peer_settings(int64_t sid) {
  assert_int_equal(shim.peer_ctrl_stream, sid);
  assert_true(shim.peer_settings_seen);
  assert_int_equal(shim.peer_h3_datagram, 1);
  assert_int_equal(shim.peer_connect_protocol, 1);
}

static void test_peek_whole(void **state) {
  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 3, 0, peer_ctrl, sizeof(peer_ctrl)),
                   0);
  check_peer_settings(3);
  /* later bytes are nghttp3's business, even bad ones */
  assert_int_equal(h3_settings_peek(&shim, 3, sizeof(peer_ctrl),
                                    (const uint8_t *)"\x04\x00", 2),
                   0);
}

static void test_peek_split_every_point(void **state) {
  size_t cut, b;

  (void)state;
  for (cut = 0; cut <= sizeof(peer_ctrl); cut++) {
    h3_settings_init(&shim);
    assert_int_equal(h3_settings_peek(&shim, 7, 0, peer_ctrl, cut), 0);
    assert_int_equal(shim.peer_settings_seen, cut >= PEER_CTRL_SETTINGS_END);
    assert_int_equal(h3_settings_peek(&shim, 7, cut, peer_ctrl + cut,
                                      sizeof(peer_ctrl) - cut),
                     0);
    check_peer_settings(7);
  }
  h3_settings_init(&shim);
  for (b = 0; b < sizeof(peer_ctrl); b++)
    assert_int_equal(h3_settings_peek(&shim, 11, b, peer_ctrl + b, 1), 0);
  check_peer_settings(11);
}

static void test_peek_overlap_and_gap(void **state) {
  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 3, 0, peer_ctrl, 8), 0);
  /* bytes seen before are skipped, the new tail is used */
  assert_int_equal(h3_settings_peek(&shim, 3, 4, peer_ctrl + 4, 10), 0);
  assert_int_equal(h3_settings_peek(&shim, 3, 2, peer_ctrl + 2, 3), 0);
  assert_int_equal(h3_settings_peek(&shim, 3, 14, peer_ctrl + 14, 11), 0);
  check_peer_settings(3);

  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 3, 0, peer_ctrl, 8), 0);
  assert_int_equal(h3_settings_peek(&shim, 3, 9, peer_ctrl + 9, 5),
                   JVPN_ERR_INVAL);
  assert_false(shim.peer_settings_seen);
}

static void test_peek_other_uni_streams(void **state) {
  /* QPACK encoder and decoder streams, a GREASE stream type with a 2-byte
   * varint and a push stream: none is the control stream */
  static const uint8_t enc[] = {0x02, 0x3f, 0xe1, 0x1f};
  static const uint8_t dec[] = {0x03, 0x00};
  static const uint8_t grease[] = {0x40, 0x21, 0x00, 0x04, 0x00};
  static const uint8_t push[] = {0x01, 0x00, 0x04};

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 2, 0, enc, sizeof(enc)), 0);
  assert_int_equal(h3_settings_peek(&shim, 6, 0, dec, 1), 0);
  assert_int_equal(h3_settings_peek(&shim, 6, 1, dec + 1, 1), 0);
  assert_int_equal(h3_settings_peek(&shim, 10, 0, grease, 1), 0);
  assert_int_equal(h3_settings_peek(&shim, 10, 1, grease + 1, 4), 0);
  assert_int_equal(h3_settings_peek(&shim, 14, 0, push, sizeof(push)), 0);
  assert_int_equal(shim.peer_ctrl_stream, -1);
  assert_false(shim.peer_settings_seen);
  assert_int_equal(shim.nuni, 4);
  /* interleaved with them, the control stream is still found */
  assert_int_equal(h3_settings_peek(&shim, 18, 0, peer_ctrl, 5), 0);
  assert_int_equal(h3_settings_peek(&shim, 2, 4, enc, 2), 0);
  assert_int_equal(
      h3_settings_peek(&shim, 18, 5, peer_ctrl + 5, sizeof(peer_ctrl) - 5), 0);
  check_peer_settings(18);
}

static void test_peek_non_minimal_stream_type(void **state) {
  /* stream type 0 as an 8-byte varint, split twice */
  static const uint8_t s[] = {0xc0, 0, 0,    0,    0,    0,
                              0,    0, 0x04, 0x02, 0x33, 0x01};
  /* stream type 0x21 as 4 bytes whose first byte looks like zero */
  static const uint8_t g[] = {0x80, 0x00, 0x00, 0x21, 0x04, 0x00};

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 2, 0, g, 2), 0);
  assert_int_equal(h3_settings_peek(&shim, 3, 0, s, 3), 0);
  assert_int_equal(h3_settings_peek(&shim, 2, 2, g + 2, 4), 0);
  assert_int_equal(shim.peer_ctrl_stream, -1);
  assert_int_equal(h3_settings_peek(&shim, 3, 3, s + 3, 6), 0);
  assert_int_equal(shim.peer_ctrl_stream, 3);
  assert_int_equal(h3_settings_peek(&shim, 3, 9, s + 9, 3), 0);
  assert_true(shim.peer_settings_seen);
  assert_int_equal(shim.peer_h3_datagram, 1);
  assert_int_equal(shim.peer_connect_protocol, 0);
}

static void test_peek_absent_settings_default_zero(void **state) {
  static const uint8_t s[] = {0x00, 0x04, 0x00};

  (void)state;
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 3, 0, s, sizeof(s)), 0);
  assert_true(shim.peer_settings_seen);
  assert_int_equal(shim.peer_h3_datagram, 0);
  assert_int_equal(shim.peer_connect_protocol, 0);
}

static int peek_ctrl(const uint8_t *s, size_t len) {
  h3_settings_init(&shim);
  return h3_settings_peek(&shim, 3, 0, s, len);
}

static void test_peek_bad_settings(void **state) {
  static const uint8_t dup[] = {0x00, 0x04, 0x06, 0x33, 0x01,
                                0x01, 0x00, 0x33, 0x01};
  static const uint8_t dup_nonmin[] = {0x00, 0x04, 0x05, 0x08,
                                       0x01, 0x40, 0x08, 0x01};
  static const uint8_t dgram2[] = {0x00, 0x04, 0x02, 0x33, 0x02};
  static const uint8_t connect2[] = {0x00, 0x04, 0x02, 0x08, 0x02};
  static const uint8_t half[] = {0x00, 0x04, 0x03, 0x33, 0x01, 0x06};
  static const uint8_t cut[] = {0x00, 0x04, 0x02, 0x06, 0x40};
  static const uint8_t goaway[] = {0x00, 0x07, 0x01, 0x00};
  static const uint8_t grease[] = {0x00, 0x21, 0x00, 0x04, 0x00};
  static const uint8_t huge[] = {0x00, 0x04, 0x41, 0x01};
  uint8_t reserved[] = {0x00, 0x04, 0x02, 0x00, 0x00};
  uint8_t id;

  (void)state;
  assert_int_equal(peek_ctrl(dup, sizeof(dup)), JVPN_ERR_MALFORMED);
  assert_false(shim.peer_settings_seen);
  assert_int_equal(shim.peer_h3_datagram, 0);
  assert_int_equal(peek_ctrl(dup_nonmin, sizeof(dup_nonmin)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(peek_ctrl(dgram2, sizeof(dgram2)), JVPN_ERR_MALFORMED);
  assert_int_equal(peek_ctrl(connect2, sizeof(connect2)), JVPN_ERR_MALFORMED);
  assert_int_equal(peek_ctrl(half, sizeof(half)), JVPN_ERR_MALFORMED);
  assert_int_equal(peek_ctrl(cut, sizeof(cut)), JVPN_ERR_MALFORMED);
  /* the first frame must be SETTINGS; known from the type alone */
  assert_int_equal(peek_ctrl(goaway, 2), JVPN_ERR_MALFORMED);
  assert_int_equal(peek_ctrl(grease, sizeof(grease)), JVPN_ERR_MALFORMED);
  /* 257 bytes announced: refused before any payload arrives */
  assert_int_equal(peek_ctrl(huge, sizeof(huge)), JVPN_ERR_OVERSIZE);
  /* HTTP/2 identifiers 0x02..0x05 are reserved; 0x01 and 0x06 are not */
  for (id = 0x01; id <= 0x06; id++) {
    reserved[3] = id;
    assert_int_equal(peek_ctrl(reserved, sizeof(reserved)),
                     id >= 0x02 && id <= 0x05 ? JVPN_ERR_MALFORMED : 0);
  }
  /* after an error the stream is no longer peeked */
  assert_int_equal(peek_ctrl(dup, sizeof(dup)), JVPN_ERR_MALFORMED);
  assert_int_equal(h3_settings_peek(&shim, 3, sizeof(dup), dup, 3), 0);
}

static void test_peek_largest_settings(void **state) {
  /* 8-byte frame type and length, H3_SETTINGS_MAX bytes of payload made
   * of distinct 2-byte ids, delivered in 7-byte pieces */
  static uint8_t s[1 + 8 + 8 + H3_SETTINGS_MAX];
  size_t n = 0, i, off;

  (void)state;
  s[n++] = 0x00;
  memcpy(s + n, "\xc0\0\0\0\0\0\0\x04", 8);
  n += 8;
  memcpy(s + n, "\xc0\0\0\0\0\0\x01\x00", 8);
  n += 8;
  for (i = 0; i < H3_SETTINGS_MAX / 4; i++) {
    s[n++] = (uint8_t)(0x40 | (i >> 8));
    s[n++] = (uint8_t)(0x40 + i);
    s[n++] = 0x40;
    s[n++] = 0x01;
  }
  h3_settings_init(&shim);
  for (off = 0; off < n; off += 7)
    assert_int_equal(
        h3_settings_peek(&shim, 3, off, s + off, n - off < 7 ? n - off : 7), 0);
  assert_true(shim.peer_settings_seen);
}

static void test_peek_uni_bound(void **state) {
  int64_t sid;

  (void)state;
  h3_settings_init(&shim);
  /* H3_SETTINGS_MAX_UNI unknown streams fill the table */
  for (sid = 0; sid < H3_SETTINGS_MAX_UNI; sid++)
    assert_int_equal(
        h3_settings_peek(&shim, 4 * sid + 3, 0, (const uint8_t *)"\x21", 1), 0);
  assert_int_equal(shim.nuni, H3_SETTINGS_MAX_UNI);
  /* the next stream is ignored, even a control stream */
  assert_int_equal(
      h3_settings_peek(&shim, 1003, 0, peer_ctrl, sizeof(peer_ctrl)), 0);
  assert_int_equal(shim.peer_ctrl_stream, -1);
  assert_int_equal(shim.nuni, H3_SETTINGS_MAX_UNI);
  /* a stream first seen past offset 0 is not tracked either */
  h3_settings_init(&shim);
  assert_int_equal(h3_settings_peek(&shim, 3, 5, peer_ctrl + 5, 4), 0);
  assert_int_equal(shim.nuni, 0);
}

/* The shim's own output, read back by a peer's shim. */
static void test_rewrite_then_peek(void **state) {
  static struct h3_settings_shim peer;
  const uint8_t *p;
  size_t len;

  (void)state;
  h3_settings_init(&shim);
  assert_true(
      h3_settings_rewrite(&shim, nghttp3_prefix, sizeof(nghttp3_prefix)) > 0);
  p = h3_settings_pending(&shim, &len);
  h3_settings_init(&peer);
  assert_int_equal(h3_settings_peek(&peer, 3, 0, p, len), 0);
  assert_true(peer.peer_settings_seen);
  assert_int_equal(peer.peer_h3_datagram, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rewrite_appends_datagram),
      cmocka_unit_test(test_rewrite_keeps_existing_datagram),
      cmocka_unit_test(test_rewrite_length_varint_grows),
      cmocka_unit_test(test_rewrite_non_minimal_input),
      cmocka_unit_test(test_rewrite_truncated),
      cmocka_unit_test(test_rewrite_malformed),
      cmocka_unit_test(test_rewrite_size_limit),
      cmocka_unit_test(test_accounting_without_rewrite),
      cmocka_unit_test(test_accounting_partial_sends),
      cmocka_unit_test(test_peek_whole),
      cmocka_unit_test(test_peek_split_every_point),
      cmocka_unit_test(test_peek_overlap_and_gap),
      cmocka_unit_test(test_peek_other_uni_streams),
      cmocka_unit_test(test_peek_non_minimal_stream_type),
      cmocka_unit_test(test_peek_absent_settings_default_zero),
      cmocka_unit_test(test_peek_bad_settings),
      cmocka_unit_test(test_peek_largest_settings),
      cmocka_unit_test(test_peek_uni_bound),
      cmocka_unit_test(test_rewrite_then_peek),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
