/* Unit tests for src/timeline_svg and src/timeline_lane: small audit logs
 * with known events drawn, and the SVG searched for the lanes, the state
 * colours, the markers with their reason codes, the peer labels, the
 * shaded stretches without a transport and the overview of many
 * sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/timeline_svg.h"

#define SID "fc051b9e61224bd994db23c7128a735b"

/* A server's records, trimmed to the keys the picture reads. The birth's
 * transition names the client's address as the server writes it
 * (src/server_session.c birth); the session_born record before it has no
 * connection yet, so no peer. */
static const char *const life[] = {
    "{\"ts\":\"2026-11-25T17:53:29.994Z\",\"node\":\"server\","
    "\"session\":\"" SID "\",\"kind\":\"info\",\"event\":\"session_born\","
    "\"reason\":\"SESSION_BORN\",\"detail\":\"server\"}",
    "{\"ts\":\"2026-11-25T17:53:29.994Z\",\"node\":\"server\","
    "\"session\":\"" SID "\",\"kind\":\"transition\",\"event\":"
    "\"transition\",\"from\":\"BIRTH\",\"to\":\"ATTACHED\",\"reason\":"
    "\"HANDSHAKE_OK\",\"to_attachment\":1,\"peer\":\"198.18.3.1:4000\","
    "\"detail\":\"birth\"}",
    "{\"ts\":\"2026-11-25T17:53:42.000Z\",\"session\":\"" SID
    "\",\"kind\":\"switch\",\"event\":\"switch\",\"reason\":\"NAT_REBIND\","
    "\"from_attachment\":1,\"to_attachment\":1,\"peer\":\"198.18.3.1:31059\"}",
    "{\"ts\":\"2026-11-25T17:53:55.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"from\":\"ATTACHED\",\"to\":\"RECOVERING\","
    "\"reason\":\"TRANSPORT_DEAD\"}",
    "{\"ts\":\"2026-11-25T17:53:58.000Z\",\"session\":\"" SID
    "\",\"kind\":\"security\",\"event\":\"attach_refused\",\"reason\":"
    "\"BAD_PROOF\",\"peer\":\"203.0.113.9:999\",\"detail\":\"<script>&\"}",
    "{\"ts\":\"2026-11-25T17:54:03.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"from\":\"RECOVERING\",\"to\":\"ATTACHED\","
    "\"reason\":\"REATTACH_ACCEPT\",\"to_attachment\":2,\"peer\":"
    "\"198.18.3.1:5000\"}",
    "{\"ts\":\"2026-11-25T17:54:03.000Z\",\"session\":\"" SID
    "\",\"kind\":\"info\",\"event\":\"transport_switch\",\"reason\":"
    "\"TCP_FALLBACK\",\"to_attachment\":2,\"detail\":\"quic -> tcp\"}",
    "{\"ts\":\"2026-11-25T17:54:20.000Z\",\"session\":\"" SID
    "\",\"kind\":\"denial\",\"event\":\"denied\",\"reason\":\"POLICY_DENY\"}",
    "{\"ts\":\"2026-11-25T17:54:40.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"from\":\"ATTACHED\",\"to\":\"TERMINATED\","
    "\"reason\":\"OPERATOR_TERMINATED\"}",
};
#define N_LIFE (sizeof(life) / sizeof(life[0]))

static struct tl_model model;
static struct tl_view view;

static void load(const char *const *lines, size_t n) {
  size_t i;

  tl_model_init(&model);
  for (i = 0; i < n; i++)
    assert_int_equal(tl_model_add_line(&model, lines[i], strlen(lines[i])),
                     0);
  tl_model_finish(&model);
  assert_true(tl_view_select(&model, "", INT64_MIN, TL_OPEN, &view) > 0);
}

static void unload(void) {
  free(view.s);
  tl_model_free(&model);
}

/* The document, NUL-terminated; free() it. */
static char *draw(enum tl_detail detail) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);

  assert_non_null(f);
  assert_int_equal(tl_svg_write(f, &view, "audit.jsonl", detail), 0);
  fclose(f);
  return buf;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;

  for (; (hay = strstr(hay, needle)) != NULL; hay++)
    n++;
  return n;
}

static void test_document(void **state) {
  char *svg;

  (void)state;
  load(life, N_LIFE);
  assert_int_equal(tl_svg_detail(&view), TL_DETAIL_FULL);
  svg = draw(TL_DETAIL_AUTO);
  assert_true(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0);
  assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  assert_non_null(strstr(svg, "<title>jvpn-quic session timeline: "
                              "audit.jsonl</title>"));
  assert_non_null(strstr(svg, "server audit log audit.jsonl"));
  assert_true(strstr(svg, "</svg>\n") == svg + strlen(svg) - 7);
  /* no script, no external resource */
  assert_null(strstr(svg, "<script"));
  assert_null(strstr(svg, "href"));
  assert_null(strstr(svg, "@import"));
  /* the axis: 10 s ticks over 70 s, in UTC */
  assert_non_null(strstr(svg, ">17:53:30</text>"));
  assert_non_null(strstr(svg, ">17:54:30</text>"));
  assert_non_null(strstr(svg, "time in UTC"));
  free(svg);
  unload();
}

static void test_lane_states(void **state) {
  char *svg;

  (void)state;
  load(life, N_LIFE);
  svg = draw(TL_DETAIL_AUTO);
  assert_int_equal(count(svg, "<g class=\"lane\""), 1);
  assert_non_null(strstr(svg, "id=\"s-" SID "\""));
  assert_non_null(strstr(svg, ">fc051b9e6122\xe2\x80\xa6</text>"));
  assert_non_null(strstr(svg, "status: _AUbnmEiS9m\xe2\x80\xa6"));
  /* legend plus the spans: BIRTH is zero-wide but drawn, ATTACHED twice,
   * RECOVERING once, TERMINATED as the end cap */
  assert_int_equal(count(svg, "fill=\"#31a354\""), 1 + 2);
  assert_int_equal(count(svg, "fill=\"#9e9ac8\""), 1 + 1);
  assert_int_equal(count(svg, "fill=\"#9ecae1\""), 1 + 1);
  assert_non_null(strstr(svg, "<title>RECOVERING 2026-11-25 17:53:55.000 "
                              "\xe2\x80\x93 17:54:03.000 UTC (8.0 s)\n"
                              "entered by TRANSPORT_DEAD</title>"));
  assert_non_null(strstr(svg, "TERMINATED OPERATOR_TERMINATED</text>"));
  free(svg);
  unload();
}

static void test_bars_and_gaps(void **state) {
  char *svg;

  (void)state;
  load(life, N_LIFE);
  svg = draw(TL_DETAIL_FULL);
  /* the peer labels, one bar per address, TCP marked */
  assert_non_null(strstr(svg, ">#1 198.18.3.1:4000</text>"));
  assert_non_null(strstr(svg, ">#1 198.18.3.1:31059</text>"));
  assert_non_null(strstr(svg, ">#2 198.18.3.1:5000 tcp</text>"));
  assert_non_null(strstr(svg, "fill=\"#b07d1a\""));
  /* the RECOVERING stretch is shaded */
  assert_int_equal(count(svg, "class=\"gap\""), 1);
  assert_non_null(strstr(svg, "<title>no transport 2026-11-25 "
                              "17:53:55.000 \xe2\x80\x93 17:54:03.000 UTC"));
  assert_non_null(strstr(svg, "<pattern id=\"gap\""));
  free(svg);
  unload();
}

static void test_markers(void **state) {
  char *svg;

  (void)state;
  load(life, N_LIFE);
  svg = draw(TL_DETAIL_FULL);
  assert_int_equal(count(svg, "<g class=\"mark\">"), 4);
  assert_non_null(strstr(svg, ">NAT_REBIND</text>"));
  assert_non_null(strstr(svg, ">TCP_FALLBACK</text>"));
  assert_non_null(strstr(svg, ">POLICY_DENY</text>"));
  assert_non_null(strstr(svg, ">BAD_PROOF</text>"));
  /* security in red, with its peer and detail escaped in the tooltip */
  assert_non_null(strstr(svg, "fill=\"#d62728\""));
  assert_non_null(strstr(svg, "attach_refused BAD_PROOF peer "
                              "203.0.113.9:999: &lt;script&gt;&amp;"));
  assert_null(strstr(svg, "<script>"));
  free(svg);
  unload();
}

/* 30 sessions over a day, each with a burst of 40 rebindings within a
 * second: an overview with thin lanes and clustered ticks. */
static void test_overview(void **state) {
  char **lines = calloc(30 * 42, sizeof(char *));
  size_t n = 0, i, k;
  char *svg;

  (void)state;
  assert_non_null(lines);
  for (i = 0; i < 30; i++) {
    assert_true(asprintf(&lines[n++],
                         "{\"ts\":\"2026-11-25T%02zu:%02zu:00Z\",\"session\":"
                         "\"%032zx\",\"kind\":\"transition\",\"from\":"
                         "\"BIRTH\",\"to\":\"ATTACHED\",\"reason\":"
                         "\"HANDSHAKE_OK\",\"to_attachment\":1}",
                         i * 3 % 24, i, i + 1) > 0);
    for (k = 0; k < 40; k++)
      assert_true(asprintf(&lines[n++],
                           "{\"ts\":\"2026-11-25T%02zu:%02zu:10.%03zuZ\","
                           "\"session\":\"%032zx\",\"kind\":\"switch\","
                           "\"reason\":\"NAT_REBIND\",\"to_attachment\":1,"
                           "\"peer\":\"10.0.0.%zu:1\"}",
                           i * 3 % 24, i, k * 20, i + 1, k) > 0);
  }
  load((const char *const *)lines, n);
  assert_int_equal(view.n, 30);
  assert_int_equal(tl_svg_detail(&view), TL_DETAIL_OVERVIEW);
  svg = draw(TL_DETAIL_AUTO);
  assert_int_equal(count(svg, "<g class=\"lane\""), 30);
  assert_non_null(strstr(svg, "overview: nearby events merged"));
  /* each burst is one tick, its label says how many */
  assert_int_equal(count(svg, "<g class=\"mark\">"), 30);
  assert_int_equal(count(svg, ">NAT_REBIND \xc3\x97" "40</text>"), 30);
  assert_int_equal(count(svg, "\xe2\x80\xa6 and 28 more"), 30);
  /* ticks every 3 hours, labelled HH:MM */
  assert_non_null(strstr(svg, ">03:00</text>"));
  assert_null(strstr(svg, ">02:00</text>"));
  free(svg);
  /* the same as a detailed picture keeps the bars' rows */
  svg = draw(TL_DETAIL_FULL);
  assert_null(strstr(svg, "overview"));
  free(svg);
  unload();
  for (i = 0; i < n; i++)
    free(lines[i]);
  free(lines);
}

/* A session seen only through a refused reattach: a lane with a marker. */
static void test_refusal_only(void **state) {
  static const char *const lines[] = {
      "{\"ts\":\"2026-11-25T17:53:36.895Z\",\"session\":\"" SID "\",\"kind\":"
      "\"security\",\"event\":\"attach_refused\",\"reason\":"
      "\"UNKNOWN_SESSION\",\"peer\":\"198.18.3.1:55202\"}",
  };
  char *svg;

  (void)state;
  load(lines, 1);
  svg = draw(TL_DETAIL_AUTO);
  assert_int_equal(count(svg, "<g class=\"lane\""), 1);
  assert_non_null(strstr(svg, ">UNKNOWN_SESSION</text>"));
  free(svg);
  unload();
}

/* Refusals of no session (a malformed request, a birth over the rate
 * limit: the server has no ID to name) get a lane of their own, markers
 * by reason, and a footer line; the one outside the sessions' time range
 * is only counted. */
static void test_refusals_without_session(void **state) {
  static const char *const lines[] = {
      "{\"ts\":\"2026-11-25T17:53:10.000Z\",\"node\":\"server\",\"kind\":"
      "\"security\",\"event\":\"attach_refused\",\"reason\":"
      "\"RATE_LIMITED\",\"peer\":\"198.18.3.1:7000\",\"detail\":"
      "\"birth: pin attach rate\"}",
      "{\"ts\":\"2026-11-25T17:53:35.000Z\",\"node\":\"server\",\"kind\":"
      "\"security\",\"event\":\"attach_refused\",\"reason\":"
      "\"MALFORMED_REQUEST\",\"peer\":\"203.0.113.7:4444\",\"detail\":"
      "\"malformed jvpn-attach or jvpn-version header\"}",
      /* the zero ID older servers wrote for a refused birth */
      "{\"ts\":\"2026-11-25T17:53:50.000Z\",\"node\":\"server\","
      "\"session\":\"00000000000000000000000000000000\",\"kind\":"
      "\"security\",\"event\":\"attach_refused\",\"reason\":"
      "\"RATE_LIMITED\",\"peer\":\"198.18.3.1:7001\",\"detail\":"
      "\"birth: table birth rate\"}",
      /* the daemon's own info: counted, not drawn */
      "{\"ts\":\"2026-11-25T17:53:51.000Z\",\"node\":\"server\",\"kind\":"
      "\"info\",\"event\":\"store_loaded\",\"reason\":\"STORE\"}",
  };
  char *lines2[N_LIFE + 4];
  char *svg;
  size_t i;

  (void)state;
  for (i = 0; i < N_LIFE; i++)
    lines2[i] = (char *)life[i];
  for (i = 0; i < 4; i++)
    lines2[N_LIFE + i] = (char *)lines[i];
  load((const char *const *)lines2, N_LIFE + 4);
  assert_int_equal(model.no_session, 4);
  assert_int_equal(model.unbound.nmarks, 3);
  assert_int_equal(model.n, 1); /* no lane for the zero ID */
  svg = draw(TL_DETAIL_FULL);
  assert_int_equal(count(svg, "<g class=\"lane\""), 2);
  assert_non_null(strstr(svg, "id=\"unbound\""));
  assert_non_null(strstr(svg, ">without a session</text>"));
  assert_non_null(strstr(svg, "2 refusals without a session (no ID yet, or "
                              "none that parsed): MALFORMED_REQUEST 1, "
                              "RATE_LIMITED 1</title>"));
  /* one marker each, labelled with its reason; the peer in the tooltip */
  assert_int_equal(count(svg, "<g class=\"mark\">"), 4 + 2);
  assert_int_equal(count(svg, ">MALFORMED_REQUEST</text>"), 1);
  assert_int_equal(count(svg, ">RATE_LIMITED</text>"), 1);
  assert_non_null(strstr(svg, "attach_refused MALFORMED_REQUEST peer "
                              "203.0.113.7:4444: malformed jvpn-attach"));
  assert_non_null(strstr(svg, "refusals without a session: 2 in this time "
                              "range (MALFORMED_REQUEST 1, RATE_LIMITED 1), "
                              "1 outside it</text>"));
  free(svg);
  /* a log with no such refusal has neither lane nor footer line */
  unload();
  load(life, N_LIFE);
  svg = draw(TL_DETAIL_FULL);
  assert_null(strstr(svg, "without a session"));
  free(svg);
  unload();
}

static void test_unbound_summary(void **state) {
  static const char *const reasons[] = {
      "A", "B", "B", "C", "D", "E", "F", "G", "H", "I", "J", "B", "J",
  };
  char buf[256], line[256];
  size_t i;

  (void)state;
  tl_model_init(&model);
  for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
    snprintf(line, sizeof(line),
             "{\"ts\":\"2026-11-25T10:00:%02zuZ\",\"kind\":\"denial\","
             "\"event\":\"denied\",\"reason\":\"%s\"}",
             i, reasons[i]);
    assert_int_equal(tl_model_add_line(&model, line, strlen(line)), 0);
  }
  assert_int_equal(model.unbound.marks[0].kind, TL_MK_DENIAL);
  /* the most frequent first, then in order of appearance; past eight
   * reasons the rest are "other" */
  assert_int_equal(tl_unbound_summary(&model, 0, 13, buf, sizeof(buf)), 13);
  assert_string_equal(buf, "B 3, A 1, C 1, D 1, E 1, F 1, G 1, H 1, other 3");
  assert_int_equal(tl_unbound_summary(&model, 1, 3, buf, sizeof(buf)), 2);
  assert_string_equal(buf, "B 2");
  assert_int_equal(tl_unbound_summary(&model, 5, 5, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "");
  /* a short buffer: cut, still a string */
  assert_int_equal(tl_unbound_summary(&model, 0, 13, buf, 8), 13);
  assert_true(strlen(buf) < 8);
  tl_model_free(&model);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_document),
      cmocka_unit_test(test_lane_states),
      cmocka_unit_test(test_bars_and_gaps),
      cmocka_unit_test(test_markers),
      cmocka_unit_test(test_overview),
      cmocka_unit_test(test_refusal_only),
      cmocka_unit_test(test_refusals_without_session),
      cmocka_unit_test(test_unbound_summary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
