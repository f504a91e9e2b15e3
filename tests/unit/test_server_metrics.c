/* Unit tests for src/server_metrics: the whole scrape of a server that
 * never ran. A struct server holds a real session table with two sessions
 * (one attached with a standby connection, one in BIRTH), the counters
 * the session layer's records move, and connections without a transport
 * (no handshake: no RTT, no loss); the text is searched for each family's
 * samples, and every sample must belong to a family announced before it
 * (what promtool checks first). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/metrics.h"
#include "src/server_int.h"
#include "src/server_metrics.h"
#include "src/session_table.h"

#define T0 1000000

struct fixture {
  struct server *srv;
  struct srv_session ss[2];
  struct sclient sc[2];
  struct jvpn_peer_conf peer;
  struct metrics_buf b;
};

static struct fixture fx;

/* Feeds what the core wrote to the counters, as server_session.c does. */
static void record_all(const struct jvpn_session_out *out) {
  size_t i;

  for (i = 0; i < out->nrecords; i++)
    srv_metrics_record(fx.srv, &out->records[i]);
}

static void session_new(size_t i, int attach) {
  uint8_t secret[JVPN_SECRET_LEN] = {0}, pin[JVPN_PIN_LEN] = {0};
  struct jvpn_session_out out;
  struct jvpn_session_event ev;
  struct jvpn_session *s;
  struct srv_session *ss = &fx.ss[i];

  memset(ss->id, 0x10 + (int)i, sizeof(ss->id));
  snprintf(ss->idstr, sizeof(ss->idstr), "session%zu", i);
  ss->peer = &fx.peer;
  jvpn_session_out_reset(&out);
  assert_int_equal(jvpn_session_table_create(fx.srv->sessions, ss->id, secret,
                                             pin, &fx.srv->conf.policy, T0,
                                             &out, &s),
                   0);
  record_all(&out);
  if (attach) {
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_ATTACH_CONFIRMED;
    ev.attachment = 1;
    jvpn_session_out_reset(&out);
    assert_int_equal(
        jvpn_session_handle(s, &ev, &fx.srv->conf.policy, T0, &out), 0);
    record_all(&out);
  }
  ss->next = fx.srv->sess_list;
  if (ss->next)
    ss->next->prev = ss;
  fx.srv->sess_list = ss;
}

static void client_add(size_t i, struct srv_session *ss, uint64_t att) {
  struct sclient *sc = &fx.sc[i];

  sc->srv = fx.srv;
  sc->sess = ss;
  sc->att = att;
  sc->peer = &fx.peer;
  sc->next = fx.srv->clients;
  fx.srv->clients = sc;
  fx.srv->nclients++;
}

static int setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  fx.srv = calloc(1, sizeof(*fx.srv));
  assert_non_null(fx.srv);
  jvpn_policy_init(&fx.srv->conf.policy);
  assert_int_equal(jvpn_session_table_new(&fx.srv->sessions, 8, NULL), 0);
  snprintf(fx.peer.name, sizeof(fx.peer.name), "alice");
  fx.srv->metrics.start_s = 1796650000.25;
  session_new(0, 1); /* ATTACHED, on sc[0], a standby on sc[1] */
  session_new(1, 0); /* BIRTH, no connection */
  client_add(0, &fx.ss[0], 1);
  client_add(1, &fx.ss[0], 2);
  fx.ss[0].active = &fx.sc[0];
  return 0;
}

static int teardown(void **state) {
  (void)state;
  metrics_buf_free(&fx.b);
  jvpn_session_table_del(fx.srv->sessions);
  free(fx.srv);
  return 0;
}

static const char *scrape(void) {
  metrics_buf_free(&fx.b);
  srv_metrics_render(fx.srv, &fx.b);
  assert_false(fx.b.failed);
  assert_non_null(fx.b.p);
  return fx.b.p;
}

/* |line| is one whole line of the scrape. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  const char *p;

  for (p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n')
      return 1;
  return 0;
}

#define assert_line(text, line)                                                \
  do {                                                                         \
    if (!has_line((text), (line)))                                             \
      fail_msg("no line \"%s\" in:\n%s", (line), (text));                      \
  } while (0)

/* A switch or transport record of |reason|, as the core writes them. */
static void record_switch(const char *event, const char *reason) {
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = strcmp(event, "switch") == 0 ? JVPN_AUDIT_SWITCH : JVPN_AUDIT_INFO;
  r.event = event;
  r.reason = reason;
  srv_metrics_record(fx.srv, &r);
}

static void test_sessions_and_events(void **state) {
  const char *t;

  (void)state;
  record_switch("switch", "NAT_REBIND");
  record_switch("switch", "REATTACH_ACCEPT");
  record_switch("transport_switch", "TCP_FALLBACK");
  record_switch("rx_silence", "RX_SILENCE"); /* not a switch */
  srv_metrics_refused(fx.srv, JVPN_R_BAD_PROOF);
  srv_metrics_refused(fx.srv, JVPN_R_BAD_PROOF);
  t = scrape();
  assert_line(t, "jvpn_process_start_time_seconds 1796650000.25");
  assert_line(t, "jvpn_sessions{state=\"ATTACHED\"} 1");
  assert_line(t, "jvpn_sessions{state=\"BIRTH\"} 1");
  assert_line(t, "jvpn_sessions{state=\"RECOVERING\"} 0");
  assert_line(t, "jvpn_session_births_total 2");
  assert_line(t, "jvpn_reattaches_total 1");
  assert_line(t, "jvpn_switches_total{reason=\"NAT_REBIND\"} 1");
  assert_line(t, "jvpn_switches_total{reason=\"TCP_FALLBACK\"} 1");
  assert_line(t, "jvpn_switches_total{reason=\"QUIC_RETURN\"} 0");
  assert_null(strstr(t, "jvpn_switches_total{reason=\"REATTACH_ACCEPT\"}"));
  assert_null(strstr(t, "RX_SILENCE"));
  assert_line(t, "jvpn_attach_refusals_total{reason=\"BAD_PROOF\"} 2");
  assert_line(t, "jvpn_attach_refusals_total{reason=\"REPLAY\"} 0");
  assert_int_equal(fx.srv->sess_refused, 2);
  /* no audit log configured: nothing written, nothing dropped */
  assert_line(t, "jvpn_audit_records_written_total 0");
  assert_line(t, "jvpn_audit_records_dropped_total 0");
}

static void test_attachments_and_traffic(void **state) {
  const char *t;

  (void)state;
  fx.sc[0].ctr.rx_bytes = 1000;
  fx.sc[0].ctr.tx_bytes = 2000;
  fx.sc[0].ctr.rx_packets = 10;
  fx.sc[0].ctr.tx_packets = 20;
  fx.sc[0].ctr.drop_spoofed = 3;
  fx.sc[1].ctr.drop_no_route = 4; /* uplink on the standby */
  /* what ended connections and sessions carried is kept */
  fx.srv->metrics.gone.rx_bytes = 500;
  fx.srv->metrics.gone.drop[SRV_DROP_SPOOFED] = 1;
  fx.srv->metrics.drop_unattached_gone = 6;
  fx.ss[1].drop_unattached = 1;
  fx.srv->drop_unknown_cid = 7;
  fx.srv->metrics.gone.h3_refused = 2;
  t = scrape();
  /* no handshake: the kind is none, counted with QUIC's */
  assert_line(t, "jvpn_attachments{role=\"active\",transport=\"quic\"} 1");
  assert_line(t, "jvpn_attachments{role=\"standby\",transport=\"quic\"} 1");
  assert_line(t, "jvpn_attachments{role=\"active\",transport=\"tcp\"} 0");
  assert_line(t, "jvpn_connections 2");
  /* no handshake, so nghttp3 was never released; refusals of gone ones */
  assert_line(t, "jvpn_connections_without_nghttp3 0");
  assert_line(t, "jvpn_h3_refusals_total 2");
  assert_line(t, "jvpn_ip_bytes_total{direction=\"uplink\"} 1500");
  assert_line(t, "jvpn_ip_bytes_total{direction=\"downlink\"} 2000");
  assert_line(t, "jvpn_ip_packets_total{direction=\"downlink\"} 20");
  assert_line(t, "jvpn_drops_total{cause=\"spoofed_source\"} 4");
  assert_line(t, "jvpn_drops_total{cause=\"not_active\"} 4");
  assert_line(t, "jvpn_drops_total{cause=\"unknown_cid\"} 7");
  assert_line(t, "jvpn_drops_total{cause=\"unattached\"} 7");
  /* no path measured yet: empty summaries, no per-session series */
  assert_line(t, "jvpn_path_rtt_seconds_count 0");
  assert_line(t, "jvpn_path_loss_ratio_count 0");
  assert_line(t, "jvpn_path_rtt_seconds{quantile=\"0.5\"} NaN");
  assert_null(strstr(t, "jvpn_session_info"));
  /* a connection that ended is no attachment */
  fx.sc[1].dead = 1;
  t = scrape();
  assert_line(t, "jvpn_attachments{role=\"standby\",transport=\"quic\"} 0");
}

static void test_per_session(void **state) {
  const char *t;

  (void)state;
  fx.srv->conf.metrics_per_session = 1;
  t = scrape();
  assert_line(t, "jvpn_session_info{session=\"session0\",peer=\"alice\","
                 "state=\"ATTACHED\",transport=\"none\"} 1");
  assert_line(t, "jvpn_session_info{session=\"session1\",peer=\"alice\","
                 "state=\"BIRTH\",transport=\"none\"} 1");
  assert_line(t, "jvpn_metrics_sessions_omitted 0");
}

/* The family a sample line belongs to: its name, less a summary's _sum
 * or _count. */
static size_t family_len(const char *line) {
  size_t n = strcspn(line, "{ \n");

  if (strncmp(line, "jvpn_path_", 10) != 0)
    return n;
  if (n > 4 && strncmp(line + n - 4, "_sum", 4) == 0)
    return n - 4;
  if (n > 6 && strncmp(line + n - 6, "_count", 6) == 0)
    return n - 6;
  return n;
}

/* Every sample's family has a # TYPE line before it, and only one. */
static void test_families(void **state) {
  char fam[64][64];
  size_t nfam = 0, n, k;
  const char *t, *line;
  int found;

  (void)state;
  fx.srv->conf.metrics_per_session = 1;
  t = scrape();
  for (line = t; *line != '\0'; line += strcspn(line, "\n") + 1) {
    if (strncmp(line, "# TYPE ", 7) == 0) {
      n = strcspn(line + 7, " ");
      for (k = 0; k < nfam; k++)
        assert_false(strlen(fam[k]) == n && strncmp(fam[k], line + 7, n) == 0);
      assert_true(nfam < 64 && n < sizeof(fam[0]));
      memcpy(fam[nfam], line + 7, n);
      fam[nfam++][n] = '\0';
      continue;
    }
    if (line[0] == '#')
      continue;
    n = family_len(line);
    found = 0;
    for (k = 0; k < nfam; k++)
      found |= strlen(fam[k]) == n && strncmp(fam[k], line, n) == 0;
    if (!found)
      fail_msg("sample before its family: %.*s", (int)strcspn(line, "\n"),
               line);
  }
  assert_true(nfam >= 20);
  assert_non_null(strstr(t, "# HELP jvpn_path_loss_ratio "));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_sessions_and_events, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_attachments_and_traffic, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_per_session, setup, teardown),
      cmocka_unit_test_setup_teardown(test_families, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
