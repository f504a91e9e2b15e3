/* Unit tests for tun/ip_check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "tun/ip_check.h"

static void set_v4_csum(uint8_t *p, size_t hlen) {
  uint32_t sum = 0;
  size_t i;

  p[10] = p[11] = 0;
  for (i = 0; i < hlen; i += 2)
    sum += (uint32_t)p[i] << 8 | p[i + 1];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  sum = ~sum & 0xffff;
  p[10] = (uint8_t)(sum >> 8);
  p[11] = (uint8_t)sum;
}

/* A UDP-in-IPv4 packet 198.18.0.2 -> 198.18.0.1 of |total| bytes with
 * |ihl| header words (options zero-filled). */
static size_t make_v4(uint8_t *p, size_t total, unsigned ihl) {
  memset(p, 0, total);
  p[0] = (uint8_t)(0x40 | ihl);
  p[2] = (uint8_t)(total >> 8);
  p[3] = (uint8_t)total;
  p[6] = 0x40; /* DF */
  p[8] = 64;
  p[9] = 17;
  p[12] = 198, p[13] = 18, p[14] = 0, p[15] = 2;
  p[16] = 198, p[17] = 18, p[18] = 0, p[19] = 1;
  set_v4_csum(p, ihl * 4);
  return total;
}

static size_t make_v6(uint8_t *p, size_t payload) {
  memset(p, 0, 40 + payload);
  p[0] = 0x60;
  p[4] = (uint8_t)(payload >> 8);
  p[5] = (uint8_t)payload;
  p[6] = 58;
  p[7] = 64;
  p[8] = 0xfd, p[23] = 2;
  p[24] = 0xfd, p[39] = 1;
  return 40 + payload;
}

static void test_v4_valid(void **state) {
  uint8_t p[100];
  struct ip_info info;
  static const uint8_t src[4] = {198, 18, 0, 2}, other[4] = {198, 18, 0, 3};

  (void)state;
  assert_int_equal(ip_check(p, make_v4(p, 60, 5), &info), 0);
  assert_int_equal(info.family, AF_INET);
  assert_int_equal(info.proto, 17);
  assert_int_equal(info.hdr_len, 20);
  assert_int_equal(info.total_len, 60);
  assert_ptr_equal(info.src, p + 12);
  assert_ptr_equal(info.dst, p + 16);
  assert_true(ip_src_is(&info, AF_INET, src));
  assert_false(ip_src_is(&info, AF_INET, other));
  assert_false(ip_src_is(&info, AF_INET6, src));

  /* Options: a 24-byte header, checksum covering them. */
  make_v4(p, 60, 6);
  p[20] = 1, p[21] = 1, p[22] = 1, p[23] = 1; /* NOPs */
  set_v4_csum(p, 24);
  assert_int_equal(ip_check(p, 60, &info), 0);
  assert_int_equal(info.hdr_len, 24);

  /* The smallest packet: a bare header. */
  assert_int_equal(ip_check(p, make_v4(p, 20, 5), &info), 0);
}

static void test_v6_valid(void **state) {
  uint8_t p[200];
  struct ip_info info;
  uint8_t src[16] = {0xfd};

  (void)state;
  src[15] = 2;
  assert_int_equal(ip_check(p, make_v6(p, 100), &info), 0);
  assert_int_equal(info.family, AF_INET6);
  assert_int_equal(info.proto, 58);
  assert_int_equal(info.hdr_len, 40);
  assert_int_equal(info.total_len, 140);
  assert_ptr_equal(info.src, p + 8);
  assert_ptr_equal(info.dst, p + 24);
  assert_true(ip_src_is(&info, AF_INET6, src));
  src[15] = 1;
  assert_false(ip_src_is(&info, AF_INET6, src));

  assert_int_equal(ip_check(p, make_v6(p, 0), &info), 0);
  assert_int_equal(info.total_len, 40);
}

static void test_bad_version(void **state) {
  uint8_t p[60];
  struct ip_info info;

  (void)state;
  make_v4(p, 60, 5);
  p[0] = 0x55;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  p[0] = 0x05;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  /* A v6 header marked as v4 fails the v4 checks, not silently passes. */
  make_v6(p, 20);
  p[0] = 0x45;
  assert_int_not_equal(ip_check(p, 60, &info), 0);
}

static void test_short_header(void **state) {
  uint8_t p[60] = {0};
  struct ip_info info;

  (void)state;
  assert_int_equal(ip_check(p, 0, &info), JVPN_ERR_TRUNCATED);
  make_v4(p, 60, 5);
  assert_int_equal(ip_check(p, 19, &info), JVPN_ERR_TRUNCATED);
  assert_int_equal(ip_check(p, 1, &info), JVPN_ERR_TRUNCATED);
  make_v6(p, 20);
  assert_int_equal(ip_check(p, 39, &info), JVPN_ERR_TRUNCATED);
  /* IHL 15 (60 bytes) in a 40-byte packet. */
  make_v4(p, 40, 5);
  p[0] = 0x4f;
  assert_int_equal(ip_check(p, 40, &info), JVPN_ERR_TRUNCATED);
}

static void test_ihl_below_5(void **state) {
  uint8_t p[60];
  struct ip_info info;
  unsigned ihl;

  (void)state;
  for (ihl = 0; ihl < 5; ihl++) {
    make_v4(p, 60, 5);
    p[0] = (uint8_t)(0x40 | ihl);
    assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  }
}

static void test_total_length_mismatch(void **state) {
  uint8_t p[100];
  struct ip_info info;

  (void)state;
  /* Header says 60, buffer has 61: trailing bytes. */
  make_v4(p, 60, 5);
  assert_int_equal(ip_check(p, 61, &info), JVPN_ERR_MALFORMED);
  /* Header says 60, buffer has 59: cut short. */
  assert_int_equal(ip_check(p, 59, &info), JVPN_ERR_TRUNCATED);
  /* Total length smaller than the header itself. */
  make_v4(p, 60, 6);
  p[2] = 0, p[3] = 20;
  set_v4_csum(p, 24);
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);

  make_v6(p, 20);
  assert_int_equal(ip_check(p, 61, &info), JVPN_ERR_MALFORMED);
  assert_int_equal(ip_check(p, 59, &info), JVPN_ERR_TRUNCATED);
  /* A jumbogram's zero payload length cannot match a longer buffer. */
  make_v6(p, 20);
  p[4] = p[5] = 0;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
}

static void test_bad_checksum(void **state) {
  uint8_t p[60];
  struct ip_info info;

  (void)state;
  make_v4(p, 60, 5);
  p[11] ^= 1;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  /* A changed header byte with the old checksum. */
  make_v4(p, 60, 5);
  p[8] = 63;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  /* Option bytes are covered too. */
  make_v4(p, 60, 6);
  p[22] = 7;
  assert_int_equal(ip_check(p, 60, &info), JVPN_ERR_MALFORMED);
  /* The payload is not. */
  make_v4(p, 60, 5);
  p[40] = 0xaa;
  assert_int_equal(ip_check(p, 60, &info), 0);
}

static void test_truncated(void **state) {
  uint8_t p[1500];
  struct ip_info info;
  size_t cut;

  (void)state;
  make_v4(p, 1500, 5);
  for (cut = 0; cut < 1500; cut += 97)
    assert_int_equal(ip_check(p, cut, &info), JVPN_ERR_TRUNCATED);
  make_v6(p, 1460);
  for (cut = 0; cut < 1500; cut += 97)
    assert_int_equal(ip_check(p, cut, &info), JVPN_ERR_TRUNCATED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v4_valid),
      cmocka_unit_test(test_v6_valid),
      cmocka_unit_test(test_bad_version),
      cmocka_unit_test(test_short_header),
      cmocka_unit_test(test_ihl_below_5),
      cmocka_unit_test(test_total_length_mismatch),
      cmocka_unit_test(test_bad_checksum),
      cmocka_unit_test(test_truncated),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
