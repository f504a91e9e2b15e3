/* Unit tests for src/timeline_model: audit lines with known events read
 * back into spans, bars and marks; the view a command line selects; bad
 * lines counted, never fatal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/timeline_model.h"
#include "src/timeline_parse.h"

#define SID "fc051b9e61224bd994db23c7128a735b"
#define SID_B64 "_AUbnmEiS9mU2yPHEopzWw"
#define T0 1795629209994LL /* 2026-11-25T17:53:29.994Z */

/* A session's life on the server: birth, a NAT rebinding, a dead path, a
 * reattach over TCP, a refused forged reattach, the return to QUIC and
 * the end by TTL. */
static const char *const life[] = {
    "{\"ts\":\"2026-11-25T17:53:29.994Z\",\"node\":\"server\",\"session\":\"" SID
    "\",\"kind\":\"info\",\"event\":\"session_born\",\"reason\":\"SESSION_BORN\"}",
    "{\"ts\":\"2026-11-25T17:53:29.994Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"event\":\"transition\",\"from\":\"BIRTH\","
    "\"to\":\"ATTACHED\",\"reason\":\"HANDSHAKE_OK\",\"to_attachment\":1,"
    "\"peer\":\"198.18.3.1:4000\"}",
    "{\"ts\":\"2026-11-25T17:53:32.533Z\",\"session\":\"" SID
    "\",\"kind\":\"switch\",\"event\":\"switch\",\"reason\":\"NAT_REBIND\","
    "\"from_attachment\":1,\"to_attachment\":1,\"peer\":\"198.18.3.1:31059\"}",
    "{\"ts\":\"2026-11-25T17:53:40.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"event\":\"transition\",\"from\":\"ATTACHED\","
    "\"to\":\"RECOVERING\",\"reason\":\"TRANSPORT_DEAD\"}",
    "{\"ts\":\"2026-11-25T17:53:42.000Z\",\"session\":\"" SID
    "\",\"kind\":\"security\",\"event\":\"attach_refused\","
    "\"reason\":\"BAD_PROOF\",\"peer\":\"203.0.113.9:999\"}",
    "{\"ts\":\"2026-11-25T17:53:43.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"event\":\"transition\",\"from\":"
    "\"RECOVERING\",\"to\":\"ATTACHED\",\"reason\":\"REATTACH_ACCEPT\","
    "\"to_attachment\":2,\"peer\":\"198.18.3.1:5000\"}",
    "{\"ts\":\"2026-11-25T17:53:43.000Z\",\"session\":\"" SID
    "\",\"kind\":\"switch\",\"event\":\"switch\",\"reason\":"
    "\"REATTACH_ACCEPT\",\"from_attachment\":1,\"to_attachment\":2,"
    "\"peer\":\"198.18.3.1:5000\"}",
    "{\"ts\":\"2026-11-25T17:53:43.000Z\",\"session\":\"" SID
    "\",\"kind\":\"info\",\"event\":\"transport_switch\",\"reason\":"
    "\"TCP_FALLBACK\",\"to_attachment\":2,\"peer\":\"198.18.3.1:5000\","
    "\"detail\":\"quic -> tcp\"}",
    "{\"ts\":\"2026-11-25T17:53:50.000Z\",\"session\":\"" SID
    "\",\"kind\":\"info\",\"event\":\"transport_switch\",\"reason\":"
    "\"QUIC_RETURN\",\"to_attachment\":2,\"detail\":\"tcp -> quic\"}",
    "{\"ts\":\"2026-11-25T17:54:00.000Z\",\"session\":\"" SID
    "\",\"kind\":\"transition\",\"event\":\"transition\",\"from\":\"ATTACHED\","
    "\"to\":\"TERMINATED\",\"reason\":\"TTL_SESSION_EXPIRED\"}",
};
#define N_LIFE (sizeof(life) / sizeof(life[0]))

static void load(struct tl_model *m, const char *const *lines, size_t n) {
  size_t i;

  tl_model_init(m);
  for (i = 0; i < n; i++)
    assert_int_equal(tl_model_add_line(m, lines[i], strlen(lines[i])), 0);
  tl_model_finish(m);
}

static void test_spans(void **state) {
  static const enum tl_state want[] = {TL_BIRTH, TL_ATTACHED, TL_RECOVERING,
                                       TL_ATTACHED, TL_TERMINATED};
  struct tl_model m;
  const struct tl_session *s;
  size_t i;

  (void)state;
  load(&m, life, N_LIFE);
  assert_int_equal(m.n, 1);
  assert_int_equal(m.records, N_LIFE);
  assert_string_equal(m.node, "server");
  s = m.s[0];
  assert_string_equal(s->hex, SID);
  assert_string_equal(s->b64, SID_B64);
  assert_int_equal(s->nspans, 5);
  for (i = 0; i < 5; i++)
    assert_int_equal(s->spans[i].state, want[i]);
  assert_true(s->spans[2].t0 == T0 + 10006);
  assert_true(s->spans[2].t1 == T0 + 13006);
  assert_string_equal(s->spans[2].reason, "TRANSPORT_DEAD");
  assert_true(s->terminated);
  assert_string_equal(s->end_reason, "TTL_SESSION_EXPIRED");
  assert_true(s->t1 == T0 + 30006);
  tl_model_free(&m);
}

static void test_bars(void **state) {
  struct tl_model m;
  const struct tl_session *s;

  (void)state;
  load(&m, life, N_LIFE);
  s = m.s[0];
  /* #1 at :4000, #1 at :31059 after the rebinding, #2 over TCP, #2 back
   * over QUIC */
  assert_int_equal(s->nbars, 4);
  assert_true(s->bars[0].att == 1 && s->bars[1].att == 1);
  assert_string_equal(s->bars[0].peer, "198.18.3.1:4000");
  assert_string_equal(s->bars[1].peer, "198.18.3.1:31059");
  assert_true(s->bars[0].t1 == T0 + 2539 && s->bars[1].t0 == T0 + 2539);
  assert_true(s->bars[1].t1 == T0 + 10006); /* TRANSPORT_DEAD */
  assert_true(s->bars[2].att == 2 && s->bars[2].tcp);
  assert_string_equal(s->bars[2].peer, "198.18.3.1:5000");
  assert_true(s->bars[3].att == 2 && !s->bars[3].tcp);
  assert_string_equal(s->bars[3].peer, "198.18.3.1:5000"); /* inherited */
  assert_true(s->bars[3].t1 == T0 + 30006);                /* TERMINATED */
  tl_model_free(&m);
}

static void test_marks(void **state) {
  /* session_born is the BIRTH span, not a mark */
  static const enum tl_mark_kind want[] = {TL_MK_SWITCH, TL_MK_SECURITY,
                                           TL_MK_SWITCH, TL_MK_TRANSPORT,
                                           TL_MK_TRANSPORT};
  struct tl_model m;
  const struct tl_session *s;
  size_t i;

  (void)state;
  load(&m, life, N_LIFE);
  s = m.s[0];
  assert_int_equal(s->nmarks, 5);
  for (i = 0; i < 5; i++)
    assert_int_equal(s->marks[i].kind, want[i]);
  assert_string_equal(s->marks[1].reason, "BAD_PROOF");
  assert_string_equal(s->marks[1].peer, "203.0.113.9:999");
  assert_string_equal(s->marks[3].reason, "TCP_FALLBACK");
  tl_model_free(&m);
}

/* Standbys, and an activation that demotes the active one. The birth and
 * the standby name their connection's remote address, as both daemons
 * write them. */
static void test_standby(void **state) {
  static const char *const lines[] = {
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"BIRTH\",\"to\":\"ATTACHED\",\"reason\":"
      "\"HANDSHAKE_OK\",\"to_attachment\":1,\"peer\":\"198.18.3.1:4000\","
      "\"detail\":\"birth\"}",
      "{\"ts\":\"2026-11-25T10:00:01Z\",\"session\":\"" SID "\",\"kind\":"
      "\"info\",\"event\":\"standby_added\",\"reason\":\"STANDBY_ADDED\","
      "\"to_attachment\":2,\"peer\":\"198.18.4.1:4001\",\"detail\":\"eth1\"}",
      "{\"ts\":\"2026-11-25T10:00:05Z\",\"session\":\"" SID "\",\"kind\":"
      "\"switch\",\"event\":\"switch\",\"reason\":\"TRANSPORT_SWITCH_OK\","
      "\"from_attachment\":1,\"to_attachment\":2}",
      "{\"ts\":\"2026-11-25T10:00:09Z\",\"session\":\"" SID "\",\"kind\":"
      "\"info\",\"event\":\"standby_lost\",\"reason\":\"STANDBY_LOST\","
      "\"to_attachment\":1}",
  };
  struct tl_model m;
  const struct tl_session *s;

  (void)state;
  load(&m, lines, 4);
  s = m.s[0];
  assert_int_equal(s->nbars, 4);
  assert_true(s->bars[0].att == 1 && !s->bars[0].standby);
  assert_string_equal(s->bars[0].peer, "198.18.3.1:4000");
  assert_true(s->bars[1].att == 2 && s->bars[1].standby);
  assert_string_equal(s->bars[1].peer, "198.18.4.1:4001");
  assert_string_equal(s->bars[1].via, "eth1");
  assert_true(s->bars[1].t1 == s->bars[3].t0); /* 2 becomes active */
  assert_true(s->bars[2].att == 1 && s->bars[2].standby);
  assert_true(s->bars[2].t1 - s->bars[2].t0 == 4000);
  assert_true(s->bars[3].att == 2 && !s->bars[3].standby);
  /* each keeps its address across the change of role */
  assert_string_equal(s->bars[2].peer, "198.18.3.1:4000");
  assert_string_equal(s->bars[3].peer, "198.18.4.1:4001");
  assert_false(s->terminated);
  assert_true(s->bars[3].t1 == m.t_max);
  tl_model_free(&m);
}

/* A session first seen mid-life starts in its first "from" state. */
static void test_mid_life(void **state) {
  static const char *const lines[] = {
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"session\":\"" SID "\",\"kind\":"
      "\"switch\",\"reason\":\"NAT_REBIND\",\"to_attachment\":3}",
      "{\"ts\":\"2026-11-25T10:00:04Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"VOLATILE\",\"to\":\"DEGRADED\",\"reason\":"
      "\"VOLATILE_PERSISTED\",\"to_attachment\":3}",
      /* the clock stepped back: the record keeps its session's order */
      "{\"ts\":\"2026-11-25T09:59:00Z\",\"session\":\"" SID "\",\"kind\":"
      "\"denial\",\"event\":\"denied\",\"reason\":\"POLICY_DENY\"}",
  };
  struct tl_model m;
  const struct tl_session *s;

  (void)state;
  load(&m, lines, 3);
  s = m.s[0];
  assert_int_equal(s->nspans, 2);
  assert_int_equal(s->spans[0].state, TL_VOLATILE);
  assert_string_equal(s->spans[0].reason, "");
  assert_true(s->spans[0].t1 - s->spans[0].t0 == 4000);
  assert_int_equal(s->spans[1].state, TL_DEGRADED);
  assert_int_equal(s->nmarks, 2);
  assert_true(s->marks[1].t == s->spans[1].t0);
  tl_model_free(&m);
}

/* From a real server log (tests/netns/tcp_fallback.sh): born over TCP,
 * reattached over QUIC (RECOVERY_START names the new peer, not the old
 * one's), a silence record naming the peer. */
static void test_tcp_birth(void **state) {
  static const char *const lines[] = {
      "{\"ts\":\"2026-12-07T09:20:27.669Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"event\":\"transition\",\"from\":\"BIRTH\",\"to\":"
      "\"ATTACHED\",\"reason\":\"HANDSHAKE_OK\",\"to_attachment\":1,"
      "\"detail\":\"birth\"}",
      "{\"ts\":\"2026-12-07T09:20:30.672Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"ATTACHED\",\"to\":\"RECOVERING\","
      "\"reason\":\"RECOVERY_START\",\"to_attachment\":1,\"peer\":"
      "\"198.18.3.1:50596\"}",
      "{\"ts\":\"2026-12-07T09:20:30.672Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"RECOVERING\",\"to\":\"ATTACHED\","
      "\"reason\":\"REATTACH_ACCEPT\",\"to_attachment\":2,\"peer\":"
      "\"198.18.3.1:50596\"}",
      "{\"ts\":\"2026-12-07T09:20:30.672Z\",\"session\":\"" SID "\",\"kind\":"
      "\"info\",\"event\":\"transport_switch\",\"reason\":\"QUIC_RETURN\","
      "\"to_attachment\":2,\"peer\":\"198.18.3.1:50596\",\"detail\":"
      "\"tcp -> quic\"}",
      "{\"ts\":\"2026-12-07T09:21:01.032Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"ATTACHED\",\"to\":\"RECOVERING\","
      "\"reason\":\"TRANSPORT_DEAD\",\"detail\":\"connection ended\"}",
      "{\"ts\":\"2026-12-07T09:21:02.237Z\",\"session\":\"" SID "\",\"kind\":"
      "\"transition\",\"from\":\"RECOVERING\",\"to\":\"ATTACHED\","
      "\"reason\":\"REATTACH_ACCEPT\",\"to_attachment\":5}",
      "{\"ts\":\"2026-12-07T09:21:03.000Z\",\"session\":\"" SID "\",\"kind\":"
      "\"info\",\"event\":\"rx_silence\",\"reason\":\"RX_SILENCE\","
      "\"to_attachment\":5,\"peer\":\"198.18.3.1:52605\"}",
  };
  struct tl_model m;
  const struct tl_session *s;

  (void)state;
  load(&m, lines, sizeof(lines) / sizeof(lines[0]));
  s = m.s[0];
  assert_int_equal(s->nbars, 3);
  assert_true(s->bars[0].att == 1 && s->bars[0].tcp);
  assert_string_equal(s->bars[0].peer, "");
  assert_true(s->bars[0].t1 == s->bars[1].t0);
  assert_true(s->bars[1].att == 2 && !s->bars[1].tcp);
  assert_string_equal(s->bars[1].peer, "198.18.3.1:50596");
  assert_true(s->bars[2].att == 5 && !s->bars[2].tcp);
  assert_string_equal(s->bars[2].peer, "198.18.3.1:52605");
  assert_int_equal(s->nmarks, 2); /* the transport switch, the silence */
  tl_model_free(&m);
}

static void test_bad_lines(void **state) {
  static const char *const lines[] = {
      "not json",
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"kind\":\"transition\"",
      "{\"kind\":\"info\",\"session\":\"" SID "\"}",       /* no ts */
      "{\"ts\":\"yesterday\",\"kind\":\"info\",\"session\":\"" SID "\"}",
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"session\":\"" SID "\"}", /* kind */
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"kind\":\"info\",\"session\":\"xyz\"}",
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"kind\":\"gossip\",\"session\":\"" SID
      "\"}",
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"kind\":\"transition\",\"session\":"
      "\"" SID "\",\"from\":\"BIRTH\",\"to\":\"ASLEEP\"}",
      "{\"ts\":\"2026-11-25T10:00:00Z\",\"kind\":\"info\",\"event\":"
      "\"config_reload\"}",
      "",
  };
  struct tl_model m;

  (void)state;
  load(&m, lines, sizeof(lines) / sizeof(lines[0]));
  assert_int_equal(m.lines, 10);
  assert_int_equal(m.malformed, 6);
  assert_int_equal(m.unknown_kind, 2);
  assert_int_equal(m.no_session, 1);
  /* the unknown state's record still made its session known */
  assert_int_equal(m.n, 1);
  tl_model_free(&m);
}

static void test_read_file(void **state) {
  struct tl_model m;
  FILE *f = tmpfile();
  size_t i;

  (void)state;
  assert_non_null(f);
  for (i = 0; i < N_LIFE; i++)
    fprintf(f, "%s\n", life[i]);
  fputs("{\"truncated\":", f); /* a line cut by a crash, no '\n' */
  rewind(f);
  tl_model_init(&m);
  assert_int_equal(tl_model_read(&m, f), 0);
  tl_model_finish(&m);
  assert_int_equal(m.lines, N_LIFE + 1);
  assert_int_equal(m.malformed, 1);
  assert_int_equal(m.s[0]->nspans, 5);
  tl_model_free(&m);
  fclose(f);
}

static void test_view(void **state) {
  static const char *const other =
      "{\"ts\":\"2026-11-25T18:30:00Z\",\"session\":"
      "\"0108bd790fc81242a5cfa6e17ec099ac\",\"kind\":\"info\",\"event\":"
      "\"session_born\",\"reason\":\"SESSION_BORN\"}";
  struct tl_model m;
  struct tl_view v;
  int64_t t;
  size_t i;

  (void)state;
  tl_model_init(&m);
  for (i = 0; i < N_LIFE; i++)
    assert_int_equal(tl_model_add_line(&m, life[i], strlen(life[i])), 0);
  assert_int_equal(tl_model_add_line(&m, other, strlen(other)), 0);
  tl_model_finish(&m);
  assert_int_equal(tl_view_select(&m, "", INT64_MIN, TL_OPEN, &v), 2);
  assert_true(v.t0 == T0);
  free(v.s);
  assert_int_equal(tl_view_select(&m, "0108", INT64_MIN, TL_OPEN, &v), 1);
  assert_string_equal(v.s[0]->hex, "0108bd790fc81242a5cfa6e17ec099ac");
  free(v.s);
  /* after the first session ended */
  assert_int_equal(tl_parse_time("2026-11-25T18:00:00Z", 0, &t), 0);
  assert_int_equal(tl_view_select(&m, "", t, TL_OPEN, &v), 1);
  assert_true(v.t0 == t);
  free(v.s);
  assert_int_equal(tl_view_select(&m, "ffff", INT64_MIN, TL_OPEN, &v), 0);
  free(v.s);
  tl_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spans),     cmocka_unit_test(test_bars),
      cmocka_unit_test(test_marks),     cmocka_unit_test(test_standby),
      cmocka_unit_test(test_mid_life),
      cmocka_unit_test(test_tcp_birth),  cmocka_unit_test(test_bad_lines),
      cmocka_unit_test(test_read_file), cmocka_unit_test(test_view),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
