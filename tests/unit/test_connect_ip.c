/* tests/unit/test_connect_ip: CONNECT-IP capsule payloads (RFC 9484 4.7). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/connect_ip.h"

static struct cip_addr v4addr(uint64_t id, uint8_t a, uint8_t b, uint8_t c,
                              uint8_t d, uint8_t plen) {
  struct cip_addr x;

  memset(&x, 0, sizeof(x));
  x.request_id = id;
  x.ip_version = 4;
  x.prefix_len = plen;
  x.addr[0] = a;
  x.addr[1] = b;
  x.addr[2] = c;
  x.addr[3] = d;
  return x;
}

/* 2001:db8::<last> */
static struct cip_addr v6addr(uint64_t id, uint8_t last, uint8_t plen) {
  struct cip_addr x;

  memset(&x, 0, sizeof(x));
  x.request_id = id;
  x.ip_version = 6;
  x.prefix_len = plen;
  x.addr[0] = 0x20;
  x.addr[1] = 0x01;
  x.addr[2] = 0x0d;
  x.addr[3] = 0xb8;
  x.addr[15] = last;
  return x;
}

static struct cip_range v4range(uint8_t proto, uint8_t s2, uint8_t s3,
                                uint8_t e2, uint8_t e3) {
  struct cip_range r;

  memset(&r, 0, sizeof(r));
  r.ip_version = 4;
  r.ipproto = proto;
  r.start[0] = r.end[0] = 198;
  r.start[1] = r.end[1] = 18;
  r.start[2] = s2;
  r.start[3] = s3;
  r.end[2] = e2;
  r.end[3] = e3;
  return r;
}

static void test_addrs_round_trip(void **state) {
  struct cip_addr in[4], out[JVPN_CIP_MAX_ADDRS];
  uint8_t buf[128];
  long n;
  size_t cnt = 99;

  (void)state;
  in[0] = v4addr(0, 198, 18, 0, 7, 32);
  in[1] = v6addr(1, 0x07, 128);
  in[2] = v4addr(16384, 198, 18, 0, 0, 15); /* 4-byte request ID */
  in[3] = v6addr(0x3fffffffffffffffULL, 0, 64);
  n = cip_addrs_encode(buf, sizeof(buf), in, 4);
  assert_int_equal(n, (1 + 1 + 4 + 1) + (1 + 1 + 16 + 1) + (4 + 1 + 4 + 1) +
                          (8 + 1 + 16 + 1));
  /* wire layout of the first entry */
  assert_memory_equal(buf, "\x00\x04\xc6\x12\x00\x07\x20", 7);
  assert_int_equal(
      cip_addrs_decode(buf, (size_t)n, out, JVPN_CIP_MAX_ADDRS, &cnt), 0);
  assert_int_equal(cnt, 4);
  assert_memory_equal(out, in, sizeof(in));
}

static void test_addrs_empty(void **state) {
  struct cip_addr out[1];
  size_t cnt = 99;

  (void)state;
  /* an empty ADDRESS_ASSIGN is valid: it withdraws all addresses */
  assert_int_equal(cip_addrs_decode((const uint8_t *)"", 0, out, 1, &cnt), 0);
  assert_int_equal(cnt, 0);
  assert_int_equal(cip_addrs_encode(NULL, 0, NULL, 0), 0);
}

static void test_addrs_request_any(void **state) {
  /* ADDRESS_REQUEST for "any IPv6 /64": all-zero address */
  static const uint8_t v[] = {0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,
                              0,    0,    0, 0, 0, 0, 0, 0, 64};
  struct cip_addr out[1];
  size_t cnt;

  (void)state;
  assert_int_equal(cip_addrs_decode(v, sizeof(v), out, 1, &cnt), 0);
  assert_int_equal(cnt, 1);
  assert_true(out[0].request_id == 5);
  assert_int_equal(out[0].prefix_len, 64);
}

static void test_addrs_bad(void **state) {
  struct cip_addr out[2];
  size_t cnt;
  /* version 5 */
  static const uint8_t badver[] = {0x01, 0x05, 1, 2, 3, 4, 32};
  /* prefix 33 on IPv4 */
  static const uint8_t longv4[] = {0x01, 0x04, 198, 18, 0, 1, 33};
  /* /24 with host bits in the last byte */
  static const uint8_t host4[] = {0x01, 0x04, 198, 18, 0, 1, 24};
  /* /23 with the bit just past the prefix set */
  static const uint8_t host4b[] = {0x01, 0x04, 198, 18, 1, 0, 23};
  /* IPv6 /129 */
  static const uint8_t longv6[] = {0x01, 0x06, 0, 0, 0, 0, 0, 0, 0,  0,
                                   0,    0,    0, 0, 0, 0, 0, 0, 129};
  /* a valid entry, then a bad one: the whole value is rejected */
  static const uint8_t second[] = {0x01, 0x04, 198, 18, 0, 1, 32,
                                   0x02, 0x04, 198, 18, 0, 3, 31};

  (void)state;
  assert_int_equal(cip_addrs_decode(badver, sizeof(badver), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cip_addrs_decode(longv4, sizeof(longv4), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cip_addrs_decode(host4, sizeof(host4), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cip_addrs_decode(host4b, sizeof(host4b), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cip_addrs_decode(longv6, sizeof(longv6), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  cnt = 99;
  assert_int_equal(cip_addrs_decode(second, sizeof(second), out, 2, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cnt, 0);
}

static void test_addrs_truncated_everywhere(void **state) {
  struct cip_addr in[2], out[2];
  uint8_t buf[64];
  long n;
  size_t cut, cnt;
  int rv;

  (void)state;
  in[0] = v6addr(300, 9, 128);
  in[1] = v4addr(70000, 198, 19, 255, 255, 32);
  n = cip_addrs_encode(buf, sizeof(buf), in, 2);
  assert_true(n > 0);
  for (cut = 0; cut < (size_t)n; cut++) {
    rv = cip_addrs_decode(buf, cut, out, 2, &cnt);
    /* cutting exactly between entries leaves a valid shorter list */
    if (cut == 0 || cut == 2 + 1 + 16 + 1)
      assert_int_equal(rv, 0);
    else
      assert_int_equal(rv, JVPN_ERR_TRUNCATED);
  }
}

static void test_addrs_too_many(void **state) {
  struct cip_addr in[JVPN_CIP_MAX_ADDRS + 1], out[JVPN_CIP_MAX_ADDRS];
  uint8_t buf[512];
  long n;
  size_t i, cnt;

  (void)state;
  for (i = 0; i < JVPN_CIP_MAX_ADDRS + 1; i++)
    in[i] = v4addr(i + 1, 198, 18, 0, (uint8_t)i, 32);
  n = cip_addrs_encode(buf, sizeof(buf), in, JVPN_CIP_MAX_ADDRS + 1);
  assert_true(n > 0);
  assert_int_equal(
      cip_addrs_decode(buf, (size_t)n, out, JVPN_CIP_MAX_ADDRS, &cnt),
      JVPN_ERR_OVERSIZE);
  /* exactly the limit is fine */
  n = cip_addrs_encode(buf, sizeof(buf), in, JVPN_CIP_MAX_ADDRS);
  assert_int_equal(
      cip_addrs_decode(buf, (size_t)n, out, JVPN_CIP_MAX_ADDRS, &cnt), 0);
  assert_int_equal(cnt, JVPN_CIP_MAX_ADDRS);
}

static void test_addrs_encode_refuses(void **state) {
  struct cip_addr a;
  uint8_t buf[32];

  (void)state;
  a = v4addr(1, 198, 18, 0, 1, 32);
  assert_int_equal(cip_addrs_encode(buf, 6, &a, 1), JVPN_ERR_NOSPACE);
  assert_int_equal(cip_addrs_encode(buf, 7, &a, 1), 7);
  a.ip_version = 5;
  assert_int_equal(cip_addrs_encode(buf, sizeof(buf), &a, 1), JVPN_ERR_INVAL);
  a = v4addr(1, 198, 18, 0, 1, 33);
  assert_int_equal(cip_addrs_encode(buf, sizeof(buf), &a, 1), JVPN_ERR_INVAL);
  a = v4addr(1, 198, 18, 0, 1, 24);
  assert_int_equal(cip_addrs_encode(buf, sizeof(buf), &a, 1), JVPN_ERR_INVAL);
  a = v4addr(1ULL << 62, 198, 18, 0, 1, 32);
  assert_int_equal(cip_addrs_encode(buf, sizeof(buf), &a, 1), JVPN_ERR_INVAL);
}

static void test_routes_round_trip(void **state) {
  struct cip_range in[4], out[JVPN_CIP_MAX_ROUTES];
  uint8_t buf[256];
  long n;
  size_t cnt;

  (void)state;
  /* RFC 9484 order: version, then protocol, then address */
  in[0] = v4range(0, 0, 0, 0, 255);
  in[1] = v4range(0, 1, 0, 1, 0); /* a single address */
  in[2] = v4range(17, 2, 0, 255, 255);
  memset(&in[3], 0, sizeof(in[3]));
  in[3].ip_version = 6;
  memset(in[3].end, 0xff, 16); /* ::/0 */
  n = cip_routes_encode(buf, sizeof(buf), in, 4);
  assert_int_equal(n, 3 * 10 + 34);
  assert_memory_equal(buf, "\x04\xc6\x12\x00\x00\xc6\x12\x00\xff\x00", 10);
  assert_int_equal(
      cip_routes_decode(buf, (size_t)n, out, JVPN_CIP_MAX_ROUTES, &cnt), 0);
  assert_int_equal(cnt, 4);
  assert_memory_equal(out, in, sizeof(in));
}

static long enc_raw(uint8_t *buf, const struct cip_range *r, size_t n) {
  size_t i, off = 0, alen;

  /* written by hand: the encoder refuses these lists */
  for (i = 0; i < n; i++) {
    alen = r[i].ip_version == 6 ? 16 : 4;
    buf[off++] = r[i].ip_version;
    memcpy(buf + off, r[i].start, alen);
    off += alen;
    memcpy(buf + off, r[i].end, alen);
    off += alen;
    buf[off++] = r[i].ipproto;
  }
  return (long)off;
}

static void expect_bad_routes(const struct cip_range *r, size_t n) {
  uint8_t buf[256];
  struct cip_range out[8];
  size_t cnt;
  long len = enc_raw(buf, r, n);

  assert_int_equal(cip_routes_decode(buf, (size_t)len, out, 8, &cnt),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(cip_routes_encode(buf, sizeof(buf), r, n), JVPN_ERR_INVAL);
}

static void test_routes_bad(void **state) {
  struct cip_range r[2];

  (void)state;
  /* start > end */
  r[0] = v4range(0, 0, 2, 0, 1);
  expect_bad_routes(r, 1);
  /* bad version */
  r[0] = v4range(0, 0, 0, 0, 1);
  r[0].ip_version = 7;
  expect_bad_routes(r, 1);
  /* unordered by address */
  r[0] = v4range(0, 1, 0, 1, 255);
  r[1] = v4range(0, 0, 0, 0, 255);
  expect_bad_routes(r, 2);
  /* overlapping */
  r[0] = v4range(0, 0, 0, 0, 255);
  r[1] = v4range(0, 0, 255, 1, 0);
  expect_bad_routes(r, 2);
  /* identical */
  r[1] = r[0];
  expect_bad_routes(r, 2);
  /* protocol decreasing */
  r[0] = v4range(17, 0, 0, 0, 255);
  r[1] = v4range(6, 1, 0, 1, 255);
  expect_bad_routes(r, 2);
  /* a one-protocol range inside an all-protocols range (RFC 9484 4.7.3
   * forbids sending it; receivers may check, and we do) */
  r[0] = v4range(0, 0, 0, 1, 255);
  r[1] = v4range(6, 1, 0, 1, 0);
  expect_bad_routes(r, 2);
  /* the same, touching only at the last address */
  r[1] = v4range(6, 1, 255, 2, 0);
  expect_bad_routes(r, 2);
  /* version decreasing: IPv6 before IPv4 */
  memset(&r[0], 0, sizeof(r[0]));
  r[0].ip_version = 6;
  r[1] = v4range(0, 0, 0, 0, 255);
  expect_bad_routes(r, 2);
}

static void test_routes_overlap_other_proto_ok(void **state) {
  struct cip_range r[3], out[3];
  uint8_t buf[64];
  long n;
  size_t cnt;

  (void)state;
  /* the same addresses for two protocols do not overlap; adjacent ranges
   * of one protocol are fine */
  r[0] = v4range(6, 0, 0, 0, 255);
  r[1] = v4range(6, 1, 0, 1, 255);
  r[2] = v4range(17, 0, 0, 1, 255);
  n = cip_routes_encode(buf, sizeof(buf), r, 3);
  assert_int_equal(n, 30);
  assert_int_equal(cip_routes_decode(buf, (size_t)n, out, 3, &cnt), 0);
  assert_int_equal(cnt, 3);
  /* next to an all-protocols range, not inside it */
  r[0] = v4range(0, 0, 0, 0, 255);
  r[1] = v4range(6, 1, 0, 1, 255);
  n = cip_routes_encode(buf, sizeof(buf), r, 2);
  assert_int_equal(cip_routes_decode(buf, (size_t)n, out, 3, &cnt), 0);
  assert_int_equal(cnt, 2);
}

static void test_routes_truncated_everywhere(void **state) {
  struct cip_range in[2], out[2];
  uint8_t buf[64];
  long n;
  size_t cut, cnt;
  int rv;

  (void)state;
  in[0] = v4range(0, 0, 0, 0, 255);
  memset(&in[1], 0, sizeof(in[1]));
  in[1].ip_version = 6;
  in[1].end[15] = 1;
  n = cip_routes_encode(buf, sizeof(buf), in, 2);
  assert_int_equal(n, 10 + 34);
  for (cut = 0; cut < (size_t)n; cut++) {
    rv = cip_routes_decode(buf, cut, out, 2, &cnt);
    if (cut == 0 || cut == 10)
      assert_int_equal(rv, 0);
    else
      assert_int_equal(rv, JVPN_ERR_TRUNCATED);
  }
}

static void test_routes_too_many(void **state) {
  static struct cip_range in[JVPN_CIP_MAX_ROUTES + 1];
  static struct cip_range out[JVPN_CIP_MAX_ROUTES];
  static uint8_t buf[(JVPN_CIP_MAX_ROUTES + 1) * 10];
  long n;
  size_t i, cnt;

  (void)state;
  for (i = 0; i < JVPN_CIP_MAX_ROUTES + 1; i++)
    in[i] = v4range(0, (uint8_t)i, 0, (uint8_t)i, 255);
  n = cip_routes_encode(buf, sizeof(buf), in, JVPN_CIP_MAX_ROUTES + 1);
  assert_int_equal(n, sizeof(buf));
  assert_int_equal(
      cip_routes_decode(buf, (size_t)n, out, JVPN_CIP_MAX_ROUTES, &cnt),
      JVPN_ERR_OVERSIZE);
  assert_int_equal(
      cip_routes_decode(buf, (size_t)n - 10, out, JVPN_CIP_MAX_ROUTES, &cnt),
      0);
  assert_int_equal(cnt, JVPN_CIP_MAX_ROUTES);
  assert_int_equal(cip_routes_encode(buf, 9, in, 1), JVPN_ERR_NOSPACE);
}

static void test_range_prefix_conversion(void **state) {
  static const uint8_t a4[16] = {198, 18, 77, 1};
  static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
  struct cip_range r;
  uint8_t addr[16], plen;
  unsigned p;

  (void)state;
  cip_range_from_prefix(&r, 4, a4, 15);
  assert_memory_equal(r.start, "\xc6\x12\x00\x00", 4);
  assert_memory_equal(r.end, "\xc6\x13\xff\xff", 4);
  assert_int_equal(r.ipproto, 0);
  assert_int_equal(cip_range_to_prefix(&r, addr, &plen), 0);
  assert_int_equal(plen, 15);
  assert_memory_equal(addr, "\xc6\x12\x00\x00", 4);

  /* every IPv4 and IPv6 prefix length converts both ways */
  for (p = 0; p <= 32; p++) {
    cip_range_from_prefix(&r, 4, a4, (uint8_t)p);
    assert_int_equal(cip_range_to_prefix(&r, addr, &plen), 0);
    assert_int_equal(plen, p);
  }
  for (p = 0; p <= 128; p++) {
    cip_range_from_prefix(&r, 6, a6, (uint8_t)p);
    assert_int_equal(cip_range_to_prefix(&r, addr, &plen), 0);
    assert_int_equal(plen, p);
    assert_true(memcmp(r.start, r.end, 16) <= 0);
  }
  cip_range_from_prefix(&r, 6, a6, 0);
  assert_memory_equal(r.start, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);

  /* ranges that are not one prefix */
  r = v4range(0, 0, 0, 0, 2); /* 3 addresses */
  assert_int_equal(cip_range_to_prefix(&r, addr, &plen), JVPN_ERR_UNSUPPORTED);
  r = v4range(0, 0, 1, 0, 2); /* misaligned pair */
  assert_int_equal(cip_range_to_prefix(&r, addr, &plen), JVPN_ERR_UNSUPPORTED);
  r = v4range(0, 0, 128, 1, 127); /* /24-sized but misaligned */
  assert_int_equal(cip_range_to_prefix(&r, addr, &plen), JVPN_ERR_UNSUPPORTED);
  r = v4range(0, 0, 0, 0, 255);
  r.ip_version = 5;
  assert_int_equal(cip_range_to_prefix(&r, addr, &plen), JVPN_ERR_UNSUPPORTED);
}

static void test_range_contains(void **state) {
  static const uint8_t net4[16] = {198, 18, 200, 0};
  static const uint8_t net6[16] = {0xfd, 0x77, 0x6a, 0x76, 0x70, 0x6e};
  static const uint8_t in4[4] = {198, 18, 200, 99}, first4[4] = {198, 18, 200, 0};
  static const uint8_t last4[4] = {198, 18, 200, 255};
  static const uint8_t below4[4] = {198, 18, 199, 255};
  static const uint8_t above4[4] = {198, 18, 201, 0};
  uint8_t in6[16], out6[16];
  struct cip_range r4, r6, odd;

  (void)state;
  cip_range_from_prefix(&r4, 4, net4, 24);
  assert_true(cip_range_contains(&r4, 4, in4));
  assert_true(cip_range_contains(&r4, 4, first4));
  assert_true(cip_range_contains(&r4, 4, last4));
  assert_false(cip_range_contains(&r4, 4, below4));
  assert_false(cip_range_contains(&r4, 4, above4));
  /* another family never matches, whatever its bytes */
  memcpy(in6, net4, 16);
  assert_false(cip_range_contains(&r4, 6, in6));

  cip_range_from_prefix(&r6, 6, net6, 64);
  memcpy(in6, net6, 16);
  in6[15] = 0x10;
  memcpy(out6, net6, 16);
  out6[7] = 1;
  assert_true(cip_range_contains(&r6, 6, in6));
  assert_false(cip_range_contains(&r6, 6, out6));
  assert_false(cip_range_contains(&r6, 4, in4));

  /* a range that is not one prefix, ends included */
  odd = v4range(0, 0, 0, 3, 5);
  assert_true(cip_range_contains(&odd, 4, odd.start));
  assert_true(cip_range_contains(&odd, 4, odd.end));
  assert_false(cip_range_contains(&odd, 4, last4));
  odd.ip_version = 5;
  assert_false(cip_range_contains(&odd, 5, in4));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addrs_round_trip),
      cmocka_unit_test(test_addrs_empty),
      cmocka_unit_test(test_addrs_request_any),
      cmocka_unit_test(test_addrs_bad),
      cmocka_unit_test(test_addrs_truncated_everywhere),
      cmocka_unit_test(test_addrs_too_many),
      cmocka_unit_test(test_addrs_encode_refuses),
      cmocka_unit_test(test_routes_round_trip),
      cmocka_unit_test(test_routes_bad),
      cmocka_unit_test(test_routes_overlap_other_proto_ok),
      cmocka_unit_test(test_routes_truncated_everywhere),
      cmocka_unit_test(test_routes_too_many),
      cmocka_unit_test(test_range_prefix_conversion),
      cmocka_unit_test(test_range_contains),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
