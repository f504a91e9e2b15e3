/* Unit tests for src/metrics: the Prometheus text exposition format
 * 0.0.4, rendered exactly: HELP and TYPE lines, label formatting, the
 * escaping rules of HELP text and label values, names refused, numbers,
 * summaries by nearest rank, and a known snapshot byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/metrics.h"

static void test_family_lines(void **state) {
  struct metrics_buf b = {0};

  (void)state;
  metrics_family(&b, "jvpn_x_total", "counter", "Things counted.");
  metrics_u64(&b, "jvpn_x_total", NULL, 0, 7);
  assert_false(b.failed);
  assert_string_equal(b.p, "# HELP jvpn_x_total Things counted.\n"
                           "# TYPE jvpn_x_total counter\n"
                           "jvpn_x_total 7\n");
  assert_int_equal(b.len, strlen(b.p));
  metrics_buf_free(&b);
  assert_null(b.p);
  assert_int_equal(b.len, 0);
}

static void test_help_escaping(void **state) {
  struct metrics_buf b = {0};

  (void)state;
  /* HELP escapes backslash and newline, not the double quote. */
  metrics_family(&b, "a", "gauge", "back\\slash \"quoted\"\nsecond line");
  assert_string_equal(b.p, "# HELP a back\\\\slash \"quoted\"\\nsecond line\n"
                           "# TYPE a gauge\n");
  metrics_buf_free(&b);
}

static void test_label_escaping(void **state) {
  struct metrics_buf b = {0};
  struct metrics_label l[3] = {
      {"peer", "a\"b"}, {"path", "c:\\d"}, {"note", "x\ny"}};

  (void)state;
  metrics_u64(&b, "m", l, 3, 1);
  assert_string_equal(b.p,
                      "m{peer=\"a\\\"b\",path=\"c:\\\\d\",note=\"x\\ny\"} 1\n");
  metrics_buf_free(&b);
}

static void test_label_formatting(void **state) {
  struct metrics_buf b = {0};
  struct metrics_label one = {"state", "ATTACHED"};
  struct metrics_label empty = {"reason", ""};
  struct metrics_label null = {"reason", NULL};

  (void)state;
  metrics_u64(&b, "jvpn_sessions", &one, 1, 0);
  metrics_u64(&b, "jvpn_y", &empty, 1, UINT64_MAX);
  metrics_u64(&b, "jvpn_y", &null, 1, 2);
  assert_string_equal(b.p, "jvpn_sessions{state=\"ATTACHED\"} 0\n"
                           "jvpn_y{reason=\"\"} 18446744073709551615\n"
                           "jvpn_y{reason=\"\"} 2\n");
  metrics_buf_free(&b);
}

static void test_names(void **state) {
  struct metrics_buf b = {0};
  struct metrics_label colon = {"a:b", "v"};
  struct metrics_label reserved = {"__name__", "v"};

  (void)state;
  assert_true(metrics_name_ok("jvpn_a:b_total", 0));
  assert_true(metrics_name_ok("_x9", 1));
  assert_false(metrics_name_ok("9x", 0));
  assert_false(metrics_name_ok("a-b", 0));
  assert_false(metrics_name_ok("", 0));
  assert_false(metrics_name_ok(NULL, 0));
  assert_false(metrics_name_ok("a:b", 1));
  assert_false(metrics_name_ok("__name__", 1));
  assert_true(metrics_name_ok("__x", 0)); /* metric names may */

  metrics_family(&b, "bad name", "gauge", "h");
  assert_true(b.failed);
  metrics_buf_free(&b);
  metrics_u64(&b, "ok", &colon, 1, 1);
  assert_true(b.failed);
  metrics_buf_free(&b);
  metrics_u64(&b, "ok", &reserved, 1, 1);
  assert_true(b.failed);
  metrics_buf_free(&b);
  /* after a failure nothing more is written */
  b.failed = 1;
  metrics_u64(&b, "ok", NULL, 0, 1);
  assert_null(b.p);
}

static void test_floats(void **state) {
  struct metrics_buf b = {0};

  (void)state;
  metrics_f64(&b, "f", NULL, 0, 0.1);
  metrics_f64(&b, "f", NULL, 0, 0.025);
  metrics_f64(&b, "f", NULL, 0, 1e-9);
  metrics_f64(&b, "f", NULL, 0, 1733562000.5);
  metrics_f64(&b, "f", NULL, 0, 3);
  metrics_f64(&b, "f", NULL, 0, -0.5);
  metrics_f64(&b, "f", NULL, 0, NAN);
  metrics_f64(&b, "f", NULL, 0, INFINITY);
  metrics_f64(&b, "f", NULL, 0, -INFINITY);
  metrics_f64(&b, "f", NULL, 0, 1.0 / 3.0);
  assert_string_equal(b.p, "f 0.1\nf 0.025\nf 1e-09\nf 1733562000.5\nf 3\n"
                           "f -0.5\nf NaN\nf +Inf\nf -Inf\n"
                           "f 0.3333333333333333\n");
  metrics_buf_free(&b);
}

static void test_summary(void **state) {
  struct metrics_buf b = {0};
  double v[4] = {0.040, 0.010, 0.030, 0.020};
  struct metrics_label l = {"transport", "quic"};

  (void)state;
  metrics_summary(&b, "jvpn_rtt_seconds", "RTT.", &l, 1, v, 4);
  assert_false(b.failed);
  assert_string_equal(
      b.p, "# HELP jvpn_rtt_seconds RTT.\n"
           "# TYPE jvpn_rtt_seconds summary\n"
           "jvpn_rtt_seconds{transport=\"quic\",quantile=\"0\"} 0.01\n"
           "jvpn_rtt_seconds{transport=\"quic\",quantile=\"0.5\"} 0.02\n"
           "jvpn_rtt_seconds{transport=\"quic\",quantile=\"0.9\"} 0.04\n"
           "jvpn_rtt_seconds{transport=\"quic\",quantile=\"0.99\"} 0.04\n"
           "jvpn_rtt_seconds{transport=\"quic\",quantile=\"1\"} 0.04\n"
           "jvpn_rtt_seconds_sum{transport=\"quic\"} 0.1\n"
           "jvpn_rtt_seconds_count{transport=\"quic\"} 4\n");
  metrics_buf_free(&b);
}

static void test_summary_empty(void **state) {
  struct metrics_buf b = {0};

  (void)state;
  metrics_summary(&b, "s", "none yet", NULL, 0, NULL, 0);
  assert_string_equal(b.p, "# HELP s none yet\n# TYPE s summary\n"
                           "s{quantile=\"0\"} NaN\ns{quantile=\"0.5\"} NaN\n"
                           "s{quantile=\"0.9\"} NaN\ns{quantile=\"0.99\"} NaN\n"
                           "s{quantile=\"1\"} NaN\ns_sum 0\ns_count 0\n");
  metrics_buf_free(&b);
}

/* A snapshot as the server renders one: families in order, several
 * labels, a summary of one path. */
static void test_snapshot(void **state) {
  static const char want[] =
      "# HELP jvpn_build_info The jvpn-quic build (value 1).\n"
      "# TYPE jvpn_build_info gauge\n"
      "jvpn_build_info{version=\"0.1.0\"} 1\n"
      "# HELP jvpn_sessions Sessions by state.\n"
      "# TYPE jvpn_sessions gauge\n"
      "jvpn_sessions{state=\"ATTACHED\"} 2\n"
      "jvpn_sessions{state=\"RECOVERING\"} 0\n"
      "# HELP jvpn_attach_refusals_total Refusals, by reason code.\n"
      "# TYPE jvpn_attach_refusals_total counter\n"
      "jvpn_attach_refusals_total{reason=\"BAD_PROOF\"} 1\n"
      "# HELP jvpn_attachments Live attachments by role and transport.\n"
      "# TYPE jvpn_attachments gauge\n"
      "jvpn_attachments{role=\"active\",transport=\"quic\"} 2\n"
      "jvpn_attachments{role=\"standby\",transport=\"tcp\"} 0\n"
      "# HELP jvpn_path_rtt_seconds RTT of the active paths.\n"
      "# TYPE jvpn_path_rtt_seconds summary\n"
      "jvpn_path_rtt_seconds{quantile=\"0\"} 0.0015\n"
      "jvpn_path_rtt_seconds{quantile=\"0.5\"} 0.0015\n"
      "jvpn_path_rtt_seconds{quantile=\"0.9\"} 0.0015\n"
      "jvpn_path_rtt_seconds{quantile=\"0.99\"} 0.0015\n"
      "jvpn_path_rtt_seconds{quantile=\"1\"} 0.0015\n"
      "jvpn_path_rtt_seconds_sum 0.0015\n"
      "jvpn_path_rtt_seconds_count 1\n"
      "# HELP jvpn_process_start_time_seconds Start time.\n"
      "# TYPE jvpn_process_start_time_seconds gauge\n"
      "jvpn_process_start_time_seconds 1796637600.25\n";
  struct metrics_buf b = {0};
  struct metrics_label l[2] = {{"version", "0.1.0"}, {NULL, NULL}};
  double rtt[1] = {0.0015};

  (void)state;
  metrics_family(&b, "jvpn_build_info", "gauge",
                 "The jvpn-quic build (value 1).");
  metrics_u64(&b, "jvpn_build_info", l, 1, 1);
  metrics_family(&b, "jvpn_sessions", "gauge", "Sessions by state.");
  l[0].name = "state";
  l[0].value = "ATTACHED";
  metrics_u64(&b, "jvpn_sessions", l, 1, 2);
  l[0].value = "RECOVERING";
  metrics_u64(&b, "jvpn_sessions", l, 1, 0);
  metrics_family(&b, "jvpn_attach_refusals_total", "counter",
                 "Refusals, by reason code.");
  l[0].name = "reason";
  l[0].value = "BAD_PROOF";
  metrics_u64(&b, "jvpn_attach_refusals_total", l, 1, 1);
  metrics_family(&b, "jvpn_attachments", "gauge",
                 "Live attachments by role and transport.");
  l[0].name = "role";
  l[0].value = "active";
  l[1].name = "transport";
  l[1].value = "quic";
  metrics_u64(&b, "jvpn_attachments", l, 2, 2);
  l[0].value = "standby";
  l[1].value = "tcp";
  metrics_u64(&b, "jvpn_attachments", l, 2, 0);
  metrics_summary(&b, "jvpn_path_rtt_seconds", "RTT of the active paths.", NULL,
                  0, rtt, 1);
  metrics_family(&b, "jvpn_process_start_time_seconds", "gauge", "Start time.");
  metrics_f64(&b, "jvpn_process_start_time_seconds", NULL, 0, 1796637600.25);
  assert_false(b.failed);
  assert_string_equal(b.p, want);
  metrics_buf_free(&b);
}

/* Growth past the first allocation keeps every byte. */
static void test_growth(void **state) {
  struct metrics_buf b = {0};
  struct metrics_label l = {"i", NULL};
  char num[16];
  int i;

  (void)state;
  for (i = 0; i < 2000; i++) {
    snprintf(num, sizeof(num), "%d", i);
    l.value = num;
    metrics_u64(&b, "jvpn_many", &l, 1, (uint64_t)i);
  }
  assert_false(b.failed);
  assert_non_null(strstr(b.p, "jvpn_many{i=\"0\"} 0\n"));
  assert_non_null(strstr(b.p, "jvpn_many{i=\"1999\"} 1999\n"));
  assert_int_equal(b.len, strlen(b.p));
  metrics_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_family_lines),
      cmocka_unit_test(test_help_escaping),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test(test_label_formatting),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_floats),
      cmocka_unit_test(test_summary),
      cmocka_unit_test(test_summary_empty),
      cmocka_unit_test(test_snapshot),
      cmocka_unit_test(test_growth),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
