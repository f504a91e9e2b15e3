/*
 * tests/unit/test_h2_conn: a real client h2_conn and a real server h2_conn
 * over a TCP connection on 127.0.0.1, with identities made for the run
 * (tests/unit/h2_pair).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/h2_conn.h"
#include "quic/h2_conn_int.h" /* the module's own test looks inside */
#include "quic/h2_tunnel.h"
#include "quic/tls_identity.h"
#include "tests/unit/h2_pair.h"

#define NPKT 1000 /* IP packets each way */

/* --- tests --------------------------------------------------------------- */

/* Handshake, pins, the birth request and its answer, the exporter. */
static void test_handshake(void **state) {
  struct pair p;
  uint8_t ec[32], es[32];

  (void)state;
  open_pair(&p);
  assert_memory_equal(p.cli.seen_pin, ids.pin[SRV], JVPN_PIN_LEN);
  assert_memory_equal(p.srv.seen_pin, ids.pin[CLI], JVPN_PIN_LEN);
  assert_memory_equal(h2_conn_peer_pin(p.srv.c), ids.pin[CLI], JVPN_PIN_LEN);
  assert_int_equal(p.srv.requests, 1);
  assert_string_equal(p.srv.attach, ""); /* birth: no jvpn-attach */
  assert_string_equal(p.cli.session, "sess-1");
  /* the client asked for addresses, as over QUIC */
  assert_int_equal(p.srv.cap_type[0], JVPN_CAPSULE_ADDRESS_REQUEST);
  assert_true(h2_conn_handshake_done(p.cli.c));
  assert_int_equal(
      h2_conn_export(p.cli.c, "EXPORTER-jvpn-test", NULL, 0, ec, sizeof(ec)),
      0);
  assert_int_equal(
      h2_conn_export(p.srv.c, "EXPORTER-jvpn-test", NULL, 0, es, sizeof(es)),
      0);
  assert_memory_equal(ec, es, sizeof(ec));
  pair_end(&p);
}

static void test_attach_header(void **state) {
  struct pair p;

  (void)state;
  pair_start(&p, SRV, CLI);
  p.cli.send_attach = 1;
  assert_true(run(&p, both_open));
  assert_string_equal(p.srv.attach, "proof-xyz");
  pair_end(&p);
}

/* A handshake between |sid| and |cid| where one pin is refused: both
 * sides end with QUIC_END_AUTH and no request reaches the server. */
static void refused_pin(int sid, int cid) {
  struct pair p;

  pair_start(&p, sid, cid);
  assert_true(run(&p, both_closed));
  assert_int_equal(p.cli.why, QUIC_END_AUTH);
  assert_int_equal(p.srv.why, QUIC_END_AUTH);
  assert_int_equal(p.srv.requests, 0);
  assert_int_equal(p.cli.opens, 0);
  pair_end(&p);
}

/* The client refuses the server's pin; then the server the client's. */
static void test_wrong_pin(void **state) {
  (void)state;
  refused_pin(STRANGER, CLI);
  refused_pin(SRV, STRANGER);
}

static void test_refused(void **state) {
  struct pair p;

  (void)state;
  pair_start(&p, SRV, CLI);
  p.srv.refuse_with = 403;
  assert_true(run(&p, NULL));
  assert_int_equal(p.cli.refused_status, 403);
  assert_int_equal(p.cli.closed, 1);
  assert_int_equal(p.cli.why, QUIC_END_PROTOCOL);
  assert_false(h2_conn_tunnel_is_open(p.srv.c));
  pair_end(&p);
}

static int capsules_arrived(struct pair *p) {
  return p->cli.ncap >= 1 && p->srv.ncap >= 2;
}

static void test_capsules(void **state) {
  static const uint8_t a[] = {1, 4, 10, 0, 0, 2, 32}; /* ADDRESS_ASSIGN */
  static const uint8_t b[] = {0xde, 0xad, 0xbe, 0xef};
  struct pair p;

  (void)state;
  open_pair(&p);
  assert_int_equal(
      h2_conn_send_capsule(p.srv.c, JVPN_CAPSULE_ADDRESS_ASSIGN, a, sizeof(a)),
      0);
  assert_int_equal(
      h2_conn_send_capsule(p.cli.c, JVPN_CAPSULE_ACTIVATE, b, sizeof(b)), 0);
  assert_true(run(&p, capsules_arrived));
  assert_int_equal(p.cli.cap_type[0], JVPN_CAPSULE_ADDRESS_ASSIGN);
  assert_int_equal(p.cli.cap_len[0], sizeof(a));
  assert_memory_equal(p.cli.cap_val[0], a, sizeof(a));
  assert_int_equal(p.srv.cap_type[1], JVPN_CAPSULE_ACTIVATE);
  assert_memory_equal(p.srv.cap_val[1], b, sizeof(b));
  assert_int_equal(h2_conn_get_stats(p.cli.c)->capsules_rx, 1);
  pair_end(&p);
}

static struct { uint32_t sent[2]; } flow;

/* Keeps both directions fed, as a program's TUN reader would. */
static int packets_done(struct pair *p) {
  uint8_t pkt[H2_CONN_MAX_IP_PACKET];
  struct h2_conn *c[2] = {p->cli.c, p->srv.c};
  int i;

  for (i = 0; i < 2; i++)
    while (flow.sent[i] < NPKT && !h2_conn_txq_busy(c[i]) &&
           h2_conn_queue_ip(c[i], pkt, make_packet(pkt, flow.sent[i])) == 0)
      flow.sent[i]++;
  return p->cli.nip == NPKT && p->srv.nip == NPKT;
}

static void test_ip_packets(void **state) {
  struct pair p;

  (void)state;
  open_pair(&p);
  memset(&flow, 0, sizeof(flow));
  assert_true(run(&p, packets_done));
  assert_int_equal(p.cli.ip_bad, 0);
  assert_int_equal(p.srv.ip_bad, 0);
  assert_int_equal(h2_conn_get_stats(p.cli.c)->tx_datagrams, NPKT);
  assert_int_equal(h2_conn_get_stats(p.srv.c)->rx_datagrams, NPKT);
  assert_int_equal(h2_conn_get_stats(p.srv.c)->drop_queue, 0);
  /* The server just read and ACKed them: the client heard it within the
   * last real second (TCP_INFO's ACK age, against this clock). */
  assert_true(h2_conn_last_heard(p.cli.c, p.now) <= p.now);
  assert_true(h2_conn_last_heard(p.cli.c, p.now) + 1000 * TICK_NS > p.now);
  pair_end(&p);
}

/* The server stops reading: the client's output fills and IP packets are
 * dropped, counted, while a capsule still goes. */
static void test_queue_full(void **state) {
  uint8_t pkt[H2_CONN_MAX_IP_PACKET];
  struct pair p;
  int i, rv = 0, full = 0;

  (void)state;
  open_pair(&p);
  p.srv.paused = 1;
  memset(pkt, 0x45, sizeof(pkt));
  for (i = 0; i < 100000 && !full; i++) {
    rv = h2_conn_queue_ip(p.cli.c, pkt, sizeof(pkt));
    full = rv == JVPN_ERR_FULL;
    (void)h2_conn_io(p.cli.c, 0, p.now);
  }
  assert_int_equal(rv, JVPN_ERR_FULL);
  assert_int_equal(h2_conn_get_stats(p.cli.c)->drop_queue, 1);
  assert_true(h2_conn_txq_busy(p.cli.c));
  assert_true(h2_conn_want_write(p.cli.c));
  assert_int_equal(
      h2_conn_send_capsule(p.cli.c, JVPN_CAPSULE_ACTIVATE, pkt, 16), 0);
  assert_int_equal(h2_conn_queue_ip(p.cli.c, pkt, sizeof(pkt) + 1),
                   JVPN_ERR_OVERSIZE);
  pair_end(&p);
}

static void test_idle_timeout(void **state) {
  struct pair p;
  uint64_t e;

  (void)state;
  open_pair(&p);
  p.srv.paused = 1;
  /* keep-alives go out, nothing comes back */
  e = h2_conn_expiry(p.cli.c);
  assert_true(e < p.now + 60000 * TICK_NS);
  p.now += 60000 * TICK_NS;
  assert_int_not_equal(h2_conn_handle_expiry(p.cli.c, p.now), 0);
  assert_int_equal(p.cli.closed, 1);
  assert_int_equal(p.cli.why, QUIC_END_IDLE);
  assert_int_equal(h2_conn_expiry(p.cli.c), UINT64_MAX);
  pair_end(&p);
}

static void test_handshake_timeout(void **state) {
  struct pair p;

  (void)state;
  pair_start(&p, SRV, CLI);
  p.srv.paused = 1; /* the client's ClientHello goes unanswered */
  assert_false(run(&p, NULL) == 1 && p.now < START_NS + 50 * TICK_NS);
  assert_int_equal(p.cli.closed, 1);
  assert_int_equal(p.cli.why, QUIC_END_HANDSHAKE_TIMEOUT);
  assert_true(p.now >=
              START_NS + (uint64_t)JVPN_QUIC_HANDSHAKE_TIMEOUT_MS * TICK_NS);
  pair_end(&p);
}

/* A capsule stream that cannot be framed: an ADDRESS_ASSIGN longer than
 * any accepted, written into the client's request stream as raw bytes. */
static void test_malformed_capsule(void **state) {
  static const uint8_t bad[] = {0x01, 0x7f, 0xff, 1, 2, 3};
  struct pair p;

  (void)state;
  open_pair(&p);
  assert_int_equal(
      h2_tunnel_append(p.cli.c, bad, sizeof(bad), H2_CONN_CAPSULE_CAP), 0);
  assert_true(run(&p, both_closed));
  assert_int_equal(p.srv.why, QUIC_END_PROTOCOL);
  assert_int_equal(h2_conn_get_stats(p.srv.c)->drop_malformed, 1);
  assert_int_equal(p.cli.why, QUIC_END_PEER_CLOSE);
  pair_end(&p);
}

/* A peer that speaks no TLS at all. */
static void test_garbage_peer(void **state) {
  static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  struct sockaddr_in addr;
  struct pair p;
  int lfd = listener(&addr), cfd, afd;

  (void)state;
  memset(&p, 0, sizeof(p));
  p.now = START_NS;
  p.srv.accept_pin = ids.pin[CLI];
  cfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
  close(lfd);
  conn(&p, 1, afd, SRV);
  assert_int_equal(write(cfd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
  p.cli.closed = 1; /* no client conn */
  assert_true(run(&p, both_closed));
  assert_int_equal(p.srv.why, QUIC_END_PROTOCOL);
  close(cfd);
  h2_conn_del(p.srv.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_attach_header),
      cmocka_unit_test(test_wrong_pin),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_capsules),
      cmocka_unit_test(test_ip_packets),
      cmocka_unit_test(test_queue_full),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_handshake_timeout),
      cmocka_unit_test(test_malformed_capsule),
      cmocka_unit_test(test_garbage_peer),
  };

  return cmocka_run_group_tests(tests, h2_pair_group_setup,
                                h2_pair_group_teardown);
}
