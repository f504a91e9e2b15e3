/* Unit tests for src/jsonl: the audit log's lines read back, and every
 * way a line can fail to be one flat JSON object. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/audit.h"
#include "jvpn/errors.h"
#include "src/jsonl.h"

static struct jsonl_obj obj;

static int parse(const char *s) {
  return jsonl_parse(&obj, s, strlen(s));
}

static void test_audit_line(void **state) {
  uint64_t v;

  (void)state;
  assert_int_equal(
      parse("{\"ts\":\"2026-11-25T17:53:32.533Z\",\"mono_ms\":3283374,"
            "\"kind\":\"switch\",\"reason\":\"NAT_REBIND\","
            "\"from_attachment\":1,\"to_attachment\":1,"
            "\"peer\":\"198.18.3.1:31059\",\"detail\":\"client port "
            "changed\"}\n"),
      0);
  assert_int_equal(obj.n, 8);
  assert_string_equal(jsonl_str(&obj, "kind"), "switch");
  assert_string_equal(jsonl_str(&obj, "peer"), "198.18.3.1:31059");
  assert_int_equal(jsonl_u64(&obj, "mono_ms", &v), 0);
  assert_int_equal(v, 3283374);
  /* a number is not a string, nor a string a number */
  assert_null(jsonl_str(&obj, "to_attachment"));
  assert_int_equal(jsonl_u64(&obj, "kind", &v), JVPN_ERR_NOTFOUND);
  assert_null(jsonl_str(&obj, "absent"));
}

/* What the audit writer escapes comes back as the text it was. */
static void test_round_trip(void **state) {
  struct jvpn_audit_record r;
  char line[JSONL_LINE_MAX];
  long n;

  (void)state;
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.event = "session_born";
  strcpy(r.detail, "say \"hi\"\\ \x01\ttab caf\xc3\xa9 \xff");
  strcpy(r.peer, "[fd00::1]:443");
  n = jvpn_audit_format(line, sizeof(line), "server", &r);
  assert_true(n > 0);
  assert_int_equal(jsonl_parse(&obj, line, (size_t)n), 0);
  /* \xff was not UTF-8: the writer kept it as \u00ff, U+00FF */
  assert_string_equal(jsonl_str(&obj, "detail"),
                      "say \"hi\"\\ \x01\ttab caf\xc3\xa9 \xc3\xbf");
  assert_string_equal(jsonl_str(&obj, "peer"), "[fd00::1]:443");
  assert_string_equal(jsonl_str(&obj, "node"), "server");
}

static void test_escapes(void **state) {
  (void)state;
  assert_int_equal(parse("{\"a\":\"\\ud83d\\ude00 \\u20ac \\/\\b\\f\\n\\r\"}"),
                   0);
  assert_string_equal(jsonl_str(&obj, "a"),
                      "\xf0\x9f\x98\x80 \xe2\x82\xac /\b\f\n\r");
  /* lone surrogates and NUL become U+FFFD */
  assert_int_equal(parse("{\"a\":\"\\ud800x\\udc00\\u0000\"}"), 0);
  assert_string_equal(jsonl_str(&obj, "a"),
                      "\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_scalars(void **state) {
  uint64_t v;

  (void)state;
  assert_int_equal(parse(" { \"a\" : -1.5e3 , \"b\":true,\"c\":null,"
                         "\"d\":false,\"e\":0,\"f\":18446744073709551615,"
                         "\"g\":18446744073709551616} \r\n"),
                   0);
  assert_int_equal(jsonl_u64(&obj, "a", &v), JVPN_ERR_NOTFOUND);
  assert_int_equal(jsonl_u64(&obj, "b", &v), JVPN_ERR_NOTFOUND);
  assert_int_equal(jsonl_u64(&obj, "e", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(jsonl_u64(&obj, "f", &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(jsonl_u64(&obj, "g", &v), JVPN_ERR_NOTFOUND);
  assert_int_equal(parse("{}"), 0);
  assert_int_equal(obj.n, 0);
}

static void test_malformed(void **state) {
  static const char *const bad[] = {
      "", "   ", "[]", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
      "{\"a\":1 \"b\":2}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}",
      "{\"a\":1e}", "{\"a\":tru}", "{\"a\":{\"b\":1}}", "{\"a\":[1]}",
      "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}",
      "{\"a\":\"\x01\"}", "{\"a\":\"\xc3(\"}", "{\"a\":\"\xed\xa0\x80\"}",
      "{\"a\":1} x", "{\"a\":1}{", "{a:1}", "{'a':1}", "not json at all",
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(parse(bad[i]), JVPN_ERR_MALFORMED);
}

static void test_limits(void **state) {
  char *big = malloc(JSONL_LINE_MAX + 64);
  size_t i, n = 0;

  (void)state;
  assert_non_null(big);
  /* JSONL_FIELDS_MAX fields fit, one more does not */
  n += (size_t)sprintf(big, "{");
  for (i = 0; i < JSONL_FIELDS_MAX; i++)
    n += (size_t)sprintf(big + n, "%s\"k%zu\":%zu", i ? "," : "", i, i);
  strcpy(big + n, "}");
  assert_int_equal(parse(big), 0);
  strcpy(big + n, ",\"x\":1}");
  assert_int_equal(parse(big), JVPN_ERR_OVERSIZE);
  /* a line past the writer's longest */
  memset(big, ' ', JSONL_LINE_MAX + 1);
  big[0] = '{';
  big[JSONL_LINE_MAX] = '}';
  assert_int_equal(jsonl_parse(&obj, big, JSONL_LINE_MAX), JVPN_ERR_MALFORMED);
  assert_int_equal(jsonl_parse(&obj, big, JSONL_LINE_MAX + 1),
                   JVPN_ERR_OVERSIZE);
  free(big);
}

/* The first of two equal keys wins. */
static void test_duplicate_key(void **state) {
  (void)state;
  assert_int_equal(parse("{\"a\":\"1\",\"a\":\"2\"}"), 0);
  assert_string_equal(jsonl_str(&obj, "a"), "1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_audit_line),  cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_escapes),     cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_malformed),   cmocka_unit_test(test_limits),
      cmocka_unit_test(test_duplicate_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
