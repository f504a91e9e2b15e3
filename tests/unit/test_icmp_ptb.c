/* Unit tests for tun/icmp_ptb. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "tun/icmp_ptb.h"
#include "tun/ip_check.h"

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len) {
  size_t i;

  for (i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (len & 1)
    sum += (uint32_t)p[len - 1] << 8;
  return sum;
}

/* A checksummed region verifies when it folds to 0xffff. */
static int sum_verifies(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

static void set_v4_csum(uint8_t *p) {
  uint32_t sum;

  p[10] = p[11] = 0;
  sum = sum16(0, p, 20);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  sum = ~sum & 0xffff;
  p[10] = (uint8_t)(sum >> 8);
  p[11] = (uint8_t)sum;
}

/* 198.18.0.2 -> 198.18.0.1, |proto| with a first payload byte |type|. */
static size_t make_v4(uint8_t *p, size_t total, int df, uint8_t proto,
                      uint8_t type) {
  size_t i;

  for (i = 0; i < total; i++)
    p[i] = (uint8_t)i;
  memset(p, 0, 20);
  p[0] = 0x45;
  p[2] = (uint8_t)(total >> 8);
  p[3] = (uint8_t)total;
  p[6] = df ? 0x40 : 0;
  p[8] = 64;
  p[9] = proto;
  p[12] = 198, p[13] = 18, p[14] = 0, p[15] = 2;
  p[16] = 198, p[17] = 18, p[18] = 0, p[19] = 1;
  if (total > 20)
    p[20] = type;
  set_v4_csum(p);
  return total;
}

/* fd00::2 -> fd00::1, next header |nh| with a first payload byte |type|. */
static size_t make_v6(uint8_t *p, size_t total, uint8_t nh, uint8_t type) {
  size_t i;

  for (i = 0; i < total; i++)
    p[i] = (uint8_t)(i * 7);
  memset(p, 0, 40);
  p[0] = 0x60;
  p[4] = (uint8_t)((total - 40) >> 8);
  p[5] = (uint8_t)(total - 40);
  p[6] = nh;
  p[7] = 64;
  p[8] = 0xfd, p[23] = 2;
  p[24] = 0xfd, p[39] = 1;
  if (total > 40)
    p[40] = type;
  return total;
}

static void test_v4_df(void **state) {
  uint8_t pkt[1400], out[1280];
  struct ip_info info;
  long n;

  (void)state;
  make_v4(pkt, sizeof(pkt), 1, 17, 0);
  n = icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300);
  assert_int_equal(n, 576);
  /* A well-formed IPv4 packet, header checksum included. */
  assert_int_equal(ip_check(out, (size_t)n, &info), 0);
  assert_int_equal(info.proto, 1);
  assert_int_equal(out[8], 64);
  assert_memory_equal(info.src, pkt + 16, 4);
  assert_memory_equal(info.dst, pkt + 12, 4);
  assert_int_equal(out[20], 3);
  assert_int_equal(out[21], 4);
  assert_int_equal(out[26] << 8 | out[27], 1300);
  assert_int_equal(out[24] | out[25], 0);
  assert_true(sum_verifies(sum16(0, out + 20, (size_t)n - 20)));
  assert_memory_equal(out + 28, pkt, 548);

  /* A small packet is quoted whole. */
  make_v4(pkt, 100, 1, 6, 0);
  n = icmp_ptb_build(out, sizeof(out), pkt, 100, 68);
  assert_int_equal(n, 128);
  assert_int_equal(ip_check(out, (size_t)n, &info), 0);
  assert_memory_equal(out + 28, pkt, 100);
  assert_true(sum_verifies(sum16(0, out + 20, (size_t)n - 20)));

  /* The 16-bit MTU field saturates instead of wrapping. */
  n = icmp_ptb_build(out, sizeof(out), pkt, 100, 70000);
  assert_int_equal(out[26] << 8 | out[27], 0xffff);
}

static void test_v4_no_df(void **state) {
  uint8_t pkt[1400], out[1280];

  (void)state;
  make_v4(pkt, sizeof(pkt), 0, 17, 0);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                   JVPN_ERR_DENIED);
}

static void test_v4_icmp(void **state) {
  static const uint8_t errors[] = {3, 4, 5, 11, 12};
  uint8_t pkt[1400], out[1280];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(errors); i++) {
    make_v4(pkt, sizeof(pkt), 1, 1, errors[i]);
    assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                     JVPN_ERR_DENIED);
  }
  /* An echo request is not an error and gets one. */
  make_v4(pkt, sizeof(pkt), 1, 1, 8);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                   576);
  /* A non-first fragment: nothing to tell what it carries. */
  make_v4(pkt, sizeof(pkt), 1, 17, 0);
  pkt[7] = 10;
  set_v4_csum(pkt);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                   JVPN_ERR_DENIED);
}

static void test_v4_bad_source(void **state) {
  static const uint8_t srcs[][4] = {
      {0, 0, 0, 0}, {224, 0, 0, 1}, {239, 1, 2, 3}, {255, 255, 255, 255}};
  uint8_t pkt[1400], out[1280];
  size_t i;

  (void)state;
  for (i = 0; i < 4; i++) {
    make_v4(pkt, sizeof(pkt), 1, 17, 0);
    memcpy(pkt + 12, srcs[i], 4);
    set_v4_csum(pkt);
    assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                     JVPN_ERR_DENIED);
  }
  /* A multicast destination would become the error's source. */
  make_v4(pkt, sizeof(pkt), 1, 17, 0);
  pkt[16] = 225;
  set_v4_csum(pkt);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                   JVPN_ERR_DENIED);
}

static void test_v6(void **state) {
  uint8_t pkt[2000], out[1280], pseudo[40];
  struct ip_info info;
  uint32_t sum;
  long n;

  (void)state;
  make_v6(pkt, sizeof(pkt), 17, 0);
  n = icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1400);
  assert_int_equal(n, 1280);
  assert_int_equal(ip_check(out, (size_t)n, &info), 0);
  assert_int_equal(info.proto, 58);
  assert_int_equal(out[7], 64);
  assert_memory_equal(info.src, pkt + 24, 16);
  assert_memory_equal(info.dst, pkt + 8, 16);
  assert_int_equal(out[40], 2);
  assert_int_equal(out[41], 0);
  assert_int_equal((uint32_t)out[44] << 24 | (uint32_t)out[45] << 16 |
                       (uint32_t)out[46] << 8 | out[47],
                   1400);
  assert_memory_equal(out + 48, pkt, 1232);

  /* Checksum over the pseudo-header (RFC 8200 8.1) and the message. */
  memcpy(pseudo, out + 8, 32);
  pseudo[32] = 0, pseudo[33] = 0;
  pseudo[34] = (uint8_t)((n - 40) >> 8);
  pseudo[35] = (uint8_t)(n - 40);
  pseudo[36] = pseudo[37] = pseudo[38] = 0;
  pseudo[39] = 58;
  sum = sum16(0, pseudo, 40);
  assert_true(sum_verifies(sum16(sum, out + 40, (size_t)n - 40)));
  /* The same sum without the pseudo-header must not verify by chance. */
  assert_false(sum_verifies(sum16(0, out + 40, (size_t)n - 40)));

  /* An odd-length quote still sums right. */
  make_v6(pkt, 101, 6, 0);
  n = icmp_ptb_build(out, sizeof(out), pkt, 101, 1280);
  assert_int_equal(n, 149);
  pseudo[34] = 0, pseudo[35] = 109;
  sum = sum16(0, pseudo, 40);
  assert_true(sum_verifies(sum16(sum, out + 40, 109)));
  assert_memory_equal(out + 48, pkt, 101);
}

static void test_v6_denied(void **state) {
  uint8_t pkt[1500], out[1280];
  uint8_t type;

  (void)state;
  /* Every ICMPv6 error type (< 128). */
  for (type = 0; type < 128; type += 9) {
    make_v6(pkt, sizeof(pkt), 58, type);
    assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1280),
                     JVPN_ERR_DENIED);
  }
  /* Echo request: informational, answered. */
  make_v6(pkt, sizeof(pkt), 58, 128);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1280),
                   1280);
  /* Multicast source. */
  make_v6(pkt, sizeof(pkt), 17, 0);
  pkt[8] = 0xff, pkt[9] = 0x02;
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1280),
                   JVPN_ERR_DENIED);
  /* Unspecified source. */
  make_v6(pkt, sizeof(pkt), 17, 0);
  memset(pkt + 8, 0, 16);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1280),
                   JVPN_ERR_DENIED);
  /* Multicast destination: no valid address to send the error from. */
  make_v6(pkt, sizeof(pkt), 17, 0);
  pkt[24] = 0xff;
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1280),
                   JVPN_ERR_DENIED);
}

static void test_nospace(void **state) {
  uint8_t pkt[1500], out[1280];

  (void)state;
  make_v4(pkt, sizeof(pkt), 1, 17, 0);
  assert_int_equal(icmp_ptb_build(out, 575, pkt, sizeof(pkt), 1300),
                   JVPN_ERR_NOSPACE);
  assert_int_equal(icmp_ptb_build(out, 0, pkt, sizeof(pkt), 1300),
                   JVPN_ERR_NOSPACE);
  assert_int_equal(icmp_ptb_build(out, 576, pkt, sizeof(pkt), 1300), 576);
  make_v6(pkt, sizeof(pkt), 17, 0);
  assert_int_equal(icmp_ptb_build(out, 1279, pkt, sizeof(pkt), 1280),
                   JVPN_ERR_NOSPACE);
  make_v6(pkt, 100, 17, 0);
  assert_int_equal(icmp_ptb_build(out, 147, pkt, 100, 1280), JVPN_ERR_NOSPACE);
  assert_int_equal(icmp_ptb_build(out, 148, pkt, 100, 1280), 148);
}

static void test_malformed(void **state) {
  uint8_t pkt[1500], out[1280];

  (void)state;
  make_v4(pkt, sizeof(pkt), 1, 17, 0);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, 1000, 1300),
                   JVPN_ERR_MALFORMED);
  pkt[0] = 0x75;
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, sizeof(pkt), 1300),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(icmp_ptb_build(out, sizeof(out), pkt, 0, 1300),
                   JVPN_ERR_MALFORMED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v4_df),   cmocka_unit_test(test_v4_no_df),
      cmocka_unit_test(test_v4_icmp), cmocka_unit_test(test_v4_bad_source),
      cmocka_unit_test(test_v6),      cmocka_unit_test(test_v6_denied),
      cmocka_unit_test(test_nospace), cmocka_unit_test(test_malformed),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
