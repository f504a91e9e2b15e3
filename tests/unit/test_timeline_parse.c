/* Unit tests for src/timeline_parse: times and session IDs as the
 * timeline's command line and the audit log spell them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "jvpn/errors.h"
#include "src/timeline_parse.h"

#define SID "fc051b9e61224bd994db23c7128a735b"
#define SID_B64 "_AUbnmEiS9mU2yPHEopzWw"
#define T0 1795629209994LL /* 2026-11-25T17:53:29.994Z */

static void test_times(void **state) {
  int64_t t;

  (void)state;
  assert_int_equal(tl_parse_time("2026-11-25T17:53:29.994Z", 0, &t), 0);
  assert_true(t == T0);
  assert_int_equal(tl_parse_time("2026-11-25t18:53:29.9945+01:00", 0, &t), 0);
  assert_true(t == T0);
  assert_int_equal(tl_parse_time("2026-11-25 17:53:30z", 0, &t), 0);
  assert_true(t == T0 + 6);
  assert_int_equal(tl_parse_time("-10m", 1000000, &t), 0);
  assert_true(t == 1000000 - 600000);
  assert_int_equal(tl_parse_time("-2h", 0, &t), 0);
  assert_true(t == -7200000);
  assert_int_equal(tl_parse_time("-1d", 0, &t), 0);
  assert_true(t == -86400000);
  assert_int_equal(tl_parse_time("-90s", 100000, &t), 0);
  assert_true(t == 10000);
  assert_int_equal(tl_parse_time("now", 42, &t), 0);
  assert_true(t == 42);
  assert_int_equal(tl_parse_time("2026-11-25", 0, &t), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("2026-13-25T00:00:00Z", 0, &t),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("2026-11-25T00:00:00", 0, &t),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("-10", 0, &t), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("-10y", 0, &t), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("-m", 0, &t), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_parse_time("10m", 0, &t), JVPN_ERR_MALFORMED);
}

static void test_session_filter(void **state) {
  char hex[33];

  (void)state;
  assert_int_equal(tl_session_filter(SID_B64, hex), 0);
  assert_string_equal(hex, SID);
  assert_int_equal(tl_session_filter("FC051B9E", hex), 0);
  assert_string_equal(hex, "fc051b9e");
  assert_int_equal(tl_session_filter(SID, hex), 0);
  assert_string_equal(hex, SID);
  assert_int_equal(tl_session_filter("fc0", hex), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_session_filter("fc05-b9e", hex), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_session_filter(SID "0", hex), JVPN_ERR_MALFORMED);
  /* base64url whose unused bits are not zero has no session behind it */
  assert_int_equal(tl_session_filter("_AUbnmEiS9mU2yPHEopzWx", hex),
                   JVPN_ERR_MALFORMED);
}

static void test_session_b64(void **state) {
  char b64[23];

  (void)state;
  assert_int_equal(tl_session_b64(SID, b64), 0);
  assert_string_equal(b64, SID_B64);
  assert_int_equal(tl_session_b64("FC051B9E61224BD994DB23C7128A735B", b64),
                   JVPN_ERR_MALFORMED); /* the log writes lowercase */
  assert_int_equal(tl_session_b64("fc05", b64), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_session_b64(SID "00", b64), JVPN_ERR_MALFORMED);
  assert_int_equal(tl_session_b64("zc051b9e61224bd994db23c7128a735b", b64),
                   JVPN_ERR_MALFORMED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_session_filter),
      cmocka_unit_test(test_session_b64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
