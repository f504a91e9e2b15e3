/* tests/unit/test_h3_datagram: HTTP Datagram framing (RFC 9297 2.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/varint.h"
#include "quic/h3_datagram.h"

static void test_typical_connect_stream(void **state) {
  /* request stream 0 and 4: quarter IDs 0 and 1, context 0 */
  static const uint8_t d[] = {0x01, 0x00, 0x45, 0x00, 0x00, 0x14};
  uint8_t hdr[H3_DATAGRAM_MAX_HEADER];
  uint64_t sid, ctx;
  const uint8_t *p;
  size_t plen;

  (void)state;
  assert_int_equal(h3_datagram_parse(d, sizeof(d), &sid, &ctx, &p, &plen), 0);
  assert_true(sid == 4);
  assert_true(ctx == 0);
  assert_ptr_equal(p, d + 2);
  assert_int_equal(plen, 4);
  assert_int_equal(h3_datagram_header(hdr, 4, 0), 2);
  assert_memory_equal(hdr, d, 2);
  assert_int_equal(h3_datagram_header(hdr, 0, 0), 2);
  assert_memory_equal(hdr, "\x00\x00", 2);
}

static void test_empty_payload(void **state) {
  static const uint8_t d[] = {0x02, 0x05};
  uint64_t sid, ctx;
  const uint8_t *p;
  size_t plen = 99;

  (void)state;
  assert_int_equal(h3_datagram_parse(d, sizeof(d), &sid, &ctx, &p, &plen), 0);
  assert_true(sid == 8 && ctx == 5);
  assert_int_equal(plen, 0);
}

static void test_truncated(void **state) {
  /* a 2-byte quarter ID and a 4-byte context ID */
  static const uint8_t d[] = {0x40, 0x41, 0x80, 0x00, 0x01, 0x00};
  uint64_t sid, ctx;
  const uint8_t *p;
  size_t plen, cut;

  (void)state;
  for (cut = 0; cut < sizeof(d); cut++)
    assert_int_equal(h3_datagram_parse(d, cut, &sid, &ctx, &p, &plen),
                     JVPN_ERR_TRUNCATED);
  assert_int_equal(h3_datagram_parse(d, sizeof(d), &sid, &ctx, &p, &plen), 0);
  assert_true(sid == 0x41 * 4);
  assert_true(ctx == 256);
  assert_int_equal(plen, 0);
}

static void test_quarter_id_bound(void **state) {
  uint8_t d[16];
  uint64_t sid, ctx;
  const uint8_t *p;
  size_t plen, n;

  (void)state;
  /* 2^60-1 is the largest quarter ID: stream 2^62-4 */
  n = jvpn_varint_encode(d, sizeof(d), (1ULL << 60) - 1);
  d[n++] = 0x00;
  assert_int_equal(h3_datagram_parse(d, n, &sid, &ctx, &p, &plen), 0);
  assert_true(sid == (1ULL << 62) - 4);
  n = jvpn_varint_encode(d, sizeof(d), 1ULL << 60);
  d[n++] = 0x00;
  assert_int_equal(h3_datagram_parse(d, n, &sid, &ctx, &p, &plen),
                   JVPN_ERR_MALFORMED);
  /* the largest varint, and the error wins over the truncated context */
  memset(d, 0xff, 8);
  assert_int_equal(h3_datagram_parse(d, 8, &sid, &ctx, &p, &plen),
                   JVPN_ERR_MALFORMED);
}

static void test_header_round_trip(void **state) {
  static const uint64_t sids[] = {
      0, 4, 252, 256, 65532, 65536, (1ULL << 62) - 4};
  static const uint64_t ctxs[] = {0, 2, 63, 64, 16384, 0x3fffffffffffffffULL};
  uint8_t buf[H3_DATAGRAM_MAX_HEADER + 3];
  uint64_t sid, ctx;
  const uint8_t *p;
  size_t plen, i, j, n;

  (void)state;
  for (i = 0; i < sizeof(sids) / sizeof(sids[0]); i++) {
    for (j = 0; j < sizeof(ctxs) / sizeof(ctxs[0]); j++) {
      n = h3_datagram_header(buf, sids[i], ctxs[j]);
      assert_int_equal(n,
                       jvpn_varint_len(sids[i] / 4) + jvpn_varint_len(ctxs[j]));
      memcpy(buf + n, "abc", 3);
      assert_int_equal(h3_datagram_parse(buf, n + 3, &sid, &ctx, &p, &plen), 0);
      assert_true(sid == sids[i]);
      assert_true(ctx == ctxs[j]);
      assert_int_equal(plen, 3);
      assert_memory_equal(p, "abc", 3);
    }
  }
}

static void test_header_refuses(void **state) {
  uint8_t hdr[H3_DATAGRAM_MAX_HEADER];

  (void)state;
  /* not client-initiated bidirectional */
  assert_int_equal(h3_datagram_header(hdr, 1, 0), 0);
  assert_int_equal(h3_datagram_header(hdr, 2, 0), 0);
  assert_int_equal(h3_datagram_header(hdr, 7, 0), 0);
  /* out of the varint range */
  assert_int_equal(h3_datagram_header(hdr, 1ULL << 62, 0), 0);
  assert_int_equal(h3_datagram_header(hdr, 4, 1ULL << 62), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typical_connect_stream),
      cmocka_unit_test(test_empty_payload),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_quarter_id_bound),
      cmocka_unit_test(test_header_round_trip),
      cmocka_unit_test(test_header_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
