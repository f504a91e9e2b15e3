/* Unit tests for src/pin. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/pin.h"

/* SHA-256 of the empty string. */
static const uint8_t empty_sha256[JVPN_PIN_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
    0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
    0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
static const char empty_pin[] =
    "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

static void test_format_known_vector(void **state) {
  char out[JVPN_PIN_STR_LEN];

  (void)state;
  memset(out, 'x', sizeof(out));
  jvpn_pin_format(empty_sha256, out);
  assert_string_equal(out, empty_pin);
  assert_int_equal(strlen(out), JVPN_PIN_STR_LEN - 1);
}

static void test_parse_known_vector(void **state) {
  uint8_t pin[JVPN_PIN_LEN];

  (void)state;
  assert_int_equal(jvpn_pin_parse(empty_pin, pin), 0);
  assert_memory_equal(pin, empty_sha256, JVPN_PIN_LEN);
  /* bare base64 without the prefix */
  memset(pin, 0, sizeof(pin));
  assert_int_equal(jvpn_pin_parse(empty_pin + 8, pin), 0);
  assert_memory_equal(pin, empty_sha256, JVPN_PIN_LEN);
}

static void test_round_trip(void **state) {
  uint8_t in[JVPN_PIN_LEN], out[JVPN_PIN_LEN];
  char text[JVPN_PIN_STR_LEN];
  int round, i;

  (void)state;
  /* all-zero, all-ones and patterns exercising every alphabet index */
  for (round = 0; round < 64; round++) {
    for (i = 0; i < JVPN_PIN_LEN; i++)
      in[i] = (uint8_t)(round * 37 + i * 11 + (round == 1 ? 0xff : 0));
    if (round == 0)
      memset(in, 0, sizeof(in));
    if (round == 1)
      memset(in, 0xff, sizeof(in));
    jvpn_pin_format(in, text);
    assert_int_equal(jvpn_pin_parse(text, out), 0);
    assert_memory_equal(in, out, JVPN_PIN_LEN);
  }
  memset(in, 0xff, sizeof(in));
  jvpn_pin_format(in, text);
  /* 0xff.. is 42 '/' (63) and a last digit '8' (111000: padding bits 0) */
  assert_int_equal(strspn(text + 8, "/"), 42);
  assert_string_equal(text + 50, "8=");
}

static void test_parse_rejects(void **state) {
  uint8_t pin[JVPN_PIN_LEN];
  char buf[80];

  (void)state;
  memset(pin, 0xaa, sizeof(pin));
  assert_int_equal(jvpn_pin_parse(NULL, pin), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_pin_parse("", pin), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_pin_parse("sha256//", pin), JVPN_ERR_MALFORMED);
  /* one character short, one too long */
  snprintf(buf, sizeof(buf), "%.43s", empty_pin + 8);
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  snprintf(buf, sizeof(buf), "%sA", empty_pin);
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  /* missing padding: 44 chars but the last is data */
  snprintf(buf, sizeof(buf), "%.43sA", empty_pin + 8);
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  /* a character outside the alphabet (url-safe '-' is not accepted) */
  snprintf(buf, sizeof(buf), "%s", empty_pin);
  buf[10] = '-';
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  buf[10] = ' ';
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  buf[10] = '=';
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  buf[10] = (char)0xc3;
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  /* non-canonical: padding bits set ('U' -> 'V' sets the lowest bit) */
  snprintf(buf, sizeof(buf), "%s", empty_pin);
  assert_int_equal(buf[50], 'U');
  buf[50] = 'V';
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  /* wrong or differently cased prefix */
  snprintf(buf, sizeof(buf), "sha1//%s", empty_pin + 8);
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  snprintf(buf, sizeof(buf), "SHA256//%s", empty_pin + 8);
  assert_int_equal(jvpn_pin_parse(buf, pin), JVPN_ERR_MALFORMED);
  /* a failed parse leaves the output untouched */
  for (size_t i = 0; i < JVPN_PIN_LEN; i++)
    assert_int_equal(pin[i], 0xaa);
}

static void test_equal(void **state) {
  uint8_t a[JVPN_PIN_LEN], b[JVPN_PIN_LEN];
  int i;

  (void)state;
  memcpy(a, empty_sha256, sizeof(a));
  memcpy(b, empty_sha256, sizeof(b));
  assert_int_equal(jvpn_pin_equal(a, b), 1);
  /* a difference in any single byte, including first and last */
  for (i = 0; i < JVPN_PIN_LEN; i++) {
    b[i] ^= 0x01;
    assert_int_equal(jvpn_pin_equal(a, b), 0);
    b[i] ^= 0x01;
  }
  b[JVPN_PIN_LEN - 1] ^= 0x80;
  assert_int_equal(jvpn_pin_equal(a, b), 0);
}

static void test_short(void **state) {
  char out[9];

  (void)state;
  memset(out, 'x', sizeof(out));
  jvpn_pin_short(empty_sha256, out);
  assert_string_equal(out, "47DEQpj8");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_known_vector),
      cmocka_unit_test(test_parse_known_vector),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_equal),
      cmocka_unit_test(test_short),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
