/* Unit tests for tun/inet_csum, against RFC 1071 summed a byte at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tun/inet_csum.h"

static uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t seed) {
  uint32_t sum = seed;
  size_t i;

  for (i = 0; i < len; i++)
    sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Every length up to 300 at every alignment, patterned and all-ones. */
static void test_matches_reference(void **state) {
  static uint8_t buf[512];
  size_t len, off, i;
  int fill;

  (void)state;
  for (fill = 0; fill < 3; fill++) {
    for (i = 0; i < sizeof(buf); i++)
      buf[i] = fill == 0 ? (uint8_t)(i * 131 + 7) : fill == 1 ? 0xff : 0;
    for (off = 0; off < 8; off++)
      for (len = 0; len <= 300; len++)
        assert_int_equal(inet_csum_fold(inet_csum_add(0x1234, buf + off, len)),
                         ref_csum(buf + off, len, 0x1234));
  }
}

/* Chunks of even length chain like one call. */
static void test_chunks(void **state) {
  static uint8_t buf[65535];
  uint32_t sum;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i ^ (i >> 8));
  sum = inet_csum_add(0, buf, 40);
  sum = inet_csum_add(sum, buf + 40, 1000);
  sum = inet_csum_add(sum, buf + 1040, sizeof(buf) - 1040);
  assert_int_equal(inet_csum_fold(sum), ref_csum(buf, sizeof(buf), 0));
  assert_int_equal(inet_csum_fold(inet_csum_add(0, buf, sizeof(buf))),
                   ref_csum(buf, sizeof(buf), 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_reference),
      cmocka_unit_test(test_chunks),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
