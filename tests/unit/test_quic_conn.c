/*
 * tests/unit/test_quic_conn: quic/quic_conn, through a real client and a
 * real server connection over the fake network of tests/unit/quic_pair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proof.h"
#include "jvpn/proto.h"
#include "quic/connect_ip.h"
#include "quic/quic_conn.h"
#include "quic/quic_conn_int.h" /* the module's own test looks inside */
#include "quic/quic_pkt.h"
#include "quic/tls_identity.h"
#include "src/config.h"
#include "tests/unit/quic_pair.h"

/* --- tests --------------------------------------------------------------- */

/* Both pins are checked, the request is admitted once, and the first
 * capsules cross intact in both directions. */
static void test_handshake_connect_ip(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  struct cip_addr a[JVPN_CIP_MAX_ADDRS];
  uint8_t pkt[100];
  size_t n, i;

  pair_start(p);
  /* Nothing can be sent before the tunnel is open. */
  build_ipv4(pkt, sizeof(pkt), 1, 0);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)),
                   JVPN_ERR_AGAIN);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->drop_not_ready, 1);
  assert_int_equal(
      quic_conn_send_capsule(p->cli.qc, JVPN_CAPSULE_ADDRESS_REQUEST, pkt, 4),
      JVPN_ERR_AGAIN);

  assert_true(pump(p, tunnel_ready));
  assert_int_equal(p->srv.verify_calls, 1);
  assert_memory_equal(p->srv.seen_pin, ids.pin[ID_CLIENT], JVPN_PIN_LEN);
  assert_int_equal(p->cli.verify_calls, 1);
  assert_memory_equal(p->cli.seen_pin, ids.pin[ID_SERVER], JVPN_PIN_LEN);
  assert_int_equal(p->srv.tunnel_requests, 1);
  assert_int_equal(p->cli.tunnel_opens, 1);
  assert_true(p->srv.ncids >= 1);
  /* A birth request carries no jvpn-attach; the response names the
   * session. */
  assert_int_equal(p->srv.attach_seen, 0);
  assert_string_equal(p->cli.session, "test-session-id");
  assert_string_equal(p->cli.version, "3");

  /* The client's ADDRESS_REQUEST: one address of each family. */
  assert_int_equal(p->srv.ncap, 1);
  assert_int_equal(p->srv.cap[0].type, JVPN_CAPSULE_ADDRESS_REQUEST);
  assert_int_equal(cip_addrs_decode(p->srv.cap[0].data, p->srv.cap[0].len, a,
                                    JVPN_CIP_MAX_ADDRS, &n),
                   0);
  assert_int_equal(n, 2);
  assert_int_equal(a[0].ip_version, 4);
  assert_int_equal(a[0].prefix_len, 32);
  assert_int_equal(a[1].ip_version, 6);
  assert_int_equal(a[1].prefix_len, 128);
  assert_true(a[0].request_id != 0 && a[1].request_id != 0);
  assert_true(a[0].request_id != a[1].request_id);
  for (i = 0; i < 16; i++) {
    assert_int_equal(a[0].addr[i], 0);
    assert_int_equal(a[1].addr[i], 0);
  }

  /* ADDRESS_ASSIGN and ROUTE_ADVERTISEMENT, byte for byte. */
  assert_int_equal(p->srv.send_rv, 0);
  assert_int_equal(p->srv.nsent, 2);
  assert_int_equal(p->cli.ncap, 2);
  for (i = 0; i < 2; i++) {
    assert_int_equal(p->cli.cap[i].type, p->srv.sent[i].type);
    assert_int_equal(p->cli.cap[i].len, p->srv.sent[i].len);
    assert_memory_equal(p->cli.cap[i].data, p->srv.sent[i].data,
                        p->srv.sent[i].len);
  }
  assert_int_equal(p->cli.cap[0].type, JVPN_CAPSULE_ADDRESS_ASSIGN);
  assert_int_equal(p->cli.cap[1].type, JVPN_CAPSULE_ROUTE_ADVERTISEMENT);
  assert_int_equal(cip_addrs_decode(p->cli.cap[0].data, p->cli.cap[0].len, a,
                                    JVPN_CIP_MAX_ADDRS, &n),
                   0);
  assert_int_equal(n, 2);
  assert_int_equal(a[0].ip_version, 4);
  assert_int_equal(a[0].prefix_len, 32);
  assert_int_equal(a[0].addr[0], 198);
  assert_int_equal(a[0].addr[3], 2);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->capsules_rx, 1);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->capsules_rx, 2);
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
}

static int ip_both_two(const struct pair *p) {
  return p->cli.nip >= 2 && p->srv.nip >= 2;
}

#define BURST 64 /* full-size packets each way */

static int ip_burst_done(const struct pair *p) {
  return p->srv.nip >= 2 + BURST && p->cli.nip >= 2 + BURST;
}

static int ip_flood_done(const struct pair *p) {
  return p->srv.nip >= 2 + BURST + QUIC_TXQ_LEN;
}

/* Full-size and small packets both ways, the size limit, and the queue
 * bound with every accepted packet arriving in order. */
static void test_ip_datagrams(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  static uint8_t up[2][QUIC_TXQ_SLOT + 1], down[2][QUIC_TXQ_SLOT + 1];
  size_t up_len[2], down_len[2], max_c, max_s, i;
  uint64_t want, want_down;

  pair_open(p);
  /* The issue: an inner MTU of 1380 from the first packet on a 1500-byte
   * underlay, with no PMTUD round trips needed. */
  max_c = quic_conn_max_ip_packet(p->cli.qc);
  max_s = quic_conn_max_ip_packet(p->srv.qc);
  assert_true(max_c >= 1380);
  assert_true(max_s >= 1380);
  assert_true(max_c <= QUIC_TXQ_SLOT && max_s <= QUIC_TXQ_SLOT);

  up_len[0] = down_len[0] = 100;
  up_len[1] = max_c;
  down_len[1] = max_s;
  for (i = 0; i < 2; i++) {
    build_ipv4(up[i], up_len[i], 1, (uint32_t)i);
    build_ipv4(down[i], down_len[i], 0, (uint32_t)i + 7);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, up[i], up_len[i]), 0);
    assert_int_equal(quic_conn_queue_ip(p->srv.qc, down[i], down_len[i]), 0);
  }
  assert_true(pump(p, ip_both_two));
  for (i = 0; i < 2; i++) {
    assert_int_equal(p->srv.ip[i].len, up_len[i]);
    assert_memory_equal(p->srv.ip[i].data, up[i], up_len[i]);
    assert_int_equal(p->cli.ip[i].len, down_len[i]);
    assert_memory_equal(p->cli.ip[i].data, down[i], down_len[i]);
  }
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->tx_datagrams, 2);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->rx_datagrams, 2);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->tx_datagrams, 2);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->rx_datagrams, 2);

  /* Full-size packets both ways at once, so ACKs compete for room in
   * the same QUIC packets. */
  p->cli.ip_hash = p->srv.ip_hash = FNV_OFFSET;
  want = want_down = FNV_OFFSET;
  for (i = 0; i < BURST; i++) {
    build_ipv4(up[0], max_c, 1, (uint32_t)i + 500);
    build_ipv4(down[0], max_s, 0, (uint32_t)i + 600);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, up[0], max_c), 0);
    assert_int_equal(quic_conn_queue_ip(p->srv.qc, down[0], max_s), 0);
    want = fnv(want, up[0], max_c);
    want_down = fnv(want_down, down[0], max_s);
  }
  assert_true(pump(p, ip_burst_done));
  assert_int_equal(p->srv.nip, 2 + BURST);
  assert_int_equal(p->cli.nip, 2 + BURST);
  assert_true(p->srv.ip_hash == want);
  assert_true(p->cli.ip_hash == want_down);

  /* One byte over the limit: refused for ICMP Packet Too Big. */
  build_ipv4(up[0], max_c + 1, 1, 99);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, up[0], max_c + 1),
                   JVPN_ERR_OVERSIZE);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->drop_too_big, 1);

  /* Fill the queue without giving it a chance to drain. */
  p->srv.ip_hash = want = FNV_OFFSET;
  for (i = 0; i < QUIC_TXQ_LEN; i++) {
    size_t len = 60 + (i * 37) % 1200;

    build_ipv4(up[0], len, 1, (uint32_t)i + 1000);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, up[0], len), 0);
    want = fnv(want, up[0], len);
  }
  assert_true(quic_conn_txq_busy(p->cli.qc));
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, up[0], 100), JVPN_ERR_FULL);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->drop_queue, 1);
  assert_true(pump(p, ip_flood_done));
  assert_int_equal(p->srv.nip, 2 + BURST + QUIC_TXQ_LEN);
  assert_true(p->srv.ip_hash == want); /* all of them, in order */
  assert_false(quic_conn_txq_busy(p->cli.qc));
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->drop_too_big, 1);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->drop_malformed, 0);
  assert_int_equal(p->net_overflow, 0);
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
}

/* A client whose pin the server does not know. */
static void test_unknown_client_pin(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  p->cli_cred = ids.cred[ID_STRANGER];
  pair_start(p);
  assert_true(pump(p, both_closed));
  assert_int_equal(p->srv.verify_calls, 1);
  assert_memory_equal(p->srv.seen_pin, ids.pin[ID_STRANGER], JVPN_PIN_LEN);
  assert_int_equal(p->srv.closed_calls, 1);
  assert_int_equal(p->srv.why, QUIC_END_AUTH);
  assert_int_equal(p->cli.closed_calls, 1);
  assert_int_equal(p->cli.why, QUIC_END_AUTH);
  assert_non_null(strstr(p->cli.detail, "peer refused"));
  assert_int_equal(p->srv.tunnel_requests, 0);
  assert_int_equal(p->cli.tunnel_opens, 0);
}

/* A server whose pin is not the one the client expects. */
static void test_wrong_server_pin(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  p->cli.accept_pin = ids.pin[ID_STRANGER];
  pair_start(p);
  assert_true(pump(p, client_closed));
  assert_int_equal(p->cli.verify_calls, 1);
  assert_memory_equal(p->cli.seen_pin, ids.pin[ID_SERVER], JVPN_PIN_LEN);
  assert_int_equal(p->cli.closed_calls, 1);
  assert_int_equal(p->cli.why, QUIC_END_AUTH);
  pump(p, both_closed);
  /* The client left before presenting its certificate. */
  assert_int_equal(p->srv.verify_calls, 0);
  assert_int_equal(p->srv.tunnel_requests, 0);
  assert_int_equal(p->srv.closed_calls, 1);
  assert_int_equal(p->srv.why, QUIC_END_AUTH);
}

static int ip_one_each(const struct pair *p) {
  return p->cli.nip >= 1 && p->srv.nip >= 1;
}

/* A malformed ADDRESS_REQUEST ends that client's tunnel with
 * H3_MESSAGE_ERROR; another client of the same process carries on. */
/* The server lets its TLS session go once attached: the bind exporter
 * stays (the same value), nothing else is exported, the client cannot,
 * and datagrams and a key update still work both ways. */
static void test_release_tls(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t before[JVPN_BIND_LEN], after[JVPN_BIND_LEN], other[JVPN_BIND_LEN];
  uint8_t up[200], down[200];

  pair_open(p);
  assert_int_equal(quic_conn_export(p->srv.qc, JVPN_EXPORTER_BIND_LABEL, NULL,
                                    0, before, sizeof(before)),
                   0);
  assert_int_equal(quic_conn_release_tls(p->cli.qc, JVPN_EXPORTER_BIND_LABEL,
                                         JVPN_BIND_LEN),
                   JVPN_ERR_TLS);
  assert_int_equal(quic_conn_release_tls(p->srv.qc, JVPN_EXPORTER_BIND_LABEL,
                                         JVPN_BIND_LEN),
                   0);
  assert_null(p->srv.qc->tls);
  assert_int_equal(quic_conn_release_tls(p->srv.qc, JVPN_EXPORTER_BIND_LABEL,
                                         JVPN_BIND_LEN),
                   0); /* again: nothing to do */
  assert_int_equal(quic_conn_export(p->srv.qc, JVPN_EXPORTER_BIND_LABEL, NULL,
                                    0, after, sizeof(after)),
                   0);
  assert_memory_equal(before, after, sizeof(before));
  assert_int_equal(quic_conn_export(p->srv.qc, JVPN_EXPORTER_SESSION_LABEL,
                                    after, 4, other, sizeof(other)),
                   JVPN_ERR_TLS);
  assert_int_equal(quic_conn_export(p->srv.qc, JVPN_EXPORTER_BIND_LABEL, NULL,
                                    0, other, 16),
                   JVPN_ERR_TLS);

  build_ipv4(up, sizeof(up), 1, 1);
  build_ipv4(down, sizeof(down), 0, 2);
  assert_int_equal(quic_conn_key_update(p->srv.qc, p->now), 0);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, up, sizeof(up)), 0);
  assert_int_equal(quic_conn_queue_ip(p->srv.qc, down, sizeof(down)), 0);
  assert_true(pump(p, ip_one_each));
  assert_memory_equal(p->srv.ip[0].data, up, sizeof(up));
  assert_memory_equal(p->cli.ip[0].data, down, sizeof(down));
}

static void test_malformed_capsule(void **state) {
  struct fixture *f = *state;
  struct pair *a = &f->p[0], *b = &f->p[1];
  /* Request ID 1, IP version 5, a 4-byte address, prefix 32. */
  static const uint8_t bad[] = {0x01, 0x05, 198, 18, 0, 0, 32};
  uint8_t up[100], down[100];

  pair_open(a);
  pair_open(b);
  build_ipv4(up, sizeof(up), 1, 1);
  build_ipv4(down, sizeof(down), 0, 2);
  assert_int_equal(quic_conn_send_capsule(a->cli.qc,
                                          JVPN_CAPSULE_ADDRESS_REQUEST, bad,
                                          sizeof(bad)),
                   0);
  assert_true(pump(a, both_closed));
  assert_int_equal(a->srv.ncap, 2);
  assert_int_equal(a->srv.cap[1].type, JVPN_CAPSULE_ADDRESS_REQUEST);
  assert_int_equal(a->srv.cap[1].len, sizeof(bad));
  assert_memory_equal(a->srv.cap[1].data, bad, sizeof(bad));
  assert_int_equal(a->srv.closed_calls, 1);
  assert_int_equal(a->srv.why, QUIC_END_PROTOCOL);
  assert_int_equal(a->cli.closed_calls, 1);
  assert_int_equal(a->cli.why, QUIC_END_PEER_CLOSE);
  assert_non_null(strstr(a->cli.detail, "0x10e"));
  assert_int_equal(quic_conn_queue_ip(a->cli.qc, up, sizeof(up)),
                   JVPN_ERR_AGAIN);

  /* The other pair never noticed. */
  assert_int_equal(quic_conn_queue_ip(b->cli.qc, up, sizeof(up)), 0);
  assert_int_equal(quic_conn_queue_ip(b->srv.qc, down, sizeof(down)), 0);
  assert_true(pump(b, ip_one_each));
  assert_int_equal(b->srv.ip[0].len, sizeof(up));
  assert_memory_equal(b->srv.ip[0].data, up, sizeof(up));
  assert_int_equal(b->cli.ip[0].len, sizeof(down));
  assert_memory_equal(b->cli.ip[0].data, down, sizeof(down));
  assert_int_equal(b->cli.closed_calls, 0);
  assert_int_equal(b->srv.closed_calls, 0);
}

/* Writes one raw QUIC DATAGRAM frame from the client, bypassing
 * quic_conn's framing. */
static void raw_datagram(struct pair *p, const uint8_t *d, size_t len) {
  uint8_t buf[JVPN_QUIC_MAX_UDP_PAYLOAD];
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_vec v = {(uint8_t *)d, len};
  ngtcp2_ssize n;
  int accepted = 0;

  ngtcp2_path_storage_zero(&ps);
  n = ngtcp2_conn_writev_datagram(
      p->cli.qc->conn, &ps.path, &pi, buf, sizeof(buf), &accepted,
      NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, &v, len ? 1 : 0, p->now);
  assert_true(n > 0);
  assert_true(accepted);
  net_push(p, 1, buf, (size_t)n);
}

static int srv_dropped_three(const struct pair *p) {
  const struct quic_conn_stats *st = quic_conn_get_stats(p->srv.qc);

  return st->drop_malformed + st->drop_context + st->drop_stream >= 3;
}

static int srv_got_one(const struct pair *p) {
  return p->srv.nip >= 1;
}

/* HTTP Datagrams that parse but carry nothing for us are dropped and
 * counted; the tunnel goes on (RFC 9297 2.1, RFC 9484 6). */
static void test_dropped_datagrams(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  static const uint8_t other_stream[] = {0x01, 0x00, 0x45}; /* stream 4 */
  static const uint8_t ctx5[] = {0x00, 0x05, 0x45, 0x00};   /* context 5 */
  static const uint8_t no_payload[] = {0x00, 0x00};         /* context 0 */
  uint8_t pkt[100];

  pair_open(p);
  /* The frames above assume the request stream is stream 0. */
  assert_int_equal(p->cli.qc->tunnel_stream, 0);
  raw_datagram(p, other_stream, sizeof(other_stream));
  raw_datagram(p, ctx5, sizeof(ctx5));
  raw_datagram(p, no_payload, sizeof(no_payload));
  assert_true(pump(p, srv_dropped_three));
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->drop_stream, 1);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->drop_context, 1);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->drop_malformed, 1);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->rx_datagrams, 0);
  assert_int_equal(p->srv.nip, 0);
  assert_int_equal(p->srv.closed_calls, 0);
  assert_int_equal(p->cli.closed_calls, 0);

  build_ipv4(pkt, sizeof(pkt), 1, 5);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
  assert_true(pump(p, srv_got_one));
  assert_memory_equal(p->srv.ip[0].data, pkt, sizeof(pkt));
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->rx_datagrams, 1);
}

/* Packets start at 1200 bytes and PMTUD raises them. Until it has had its
 * time, an IP packet too big for a datagram rides the request stream as a
 * DATAGRAM capsule (RFC 9297 3.5) instead of earning a Packet Too Big;
 * afterwards the datagram room is the path's and a larger IPv4 packet is
 * refused for ICMP. */
static void test_young_path_capsules(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t pkt[1600];
  size_t room, len;

  pair_start(p);
  assert_true(pump(p, tunnel_ready));
  assert_false(quic_conn_pmtu_settled(p->cli.qc));
  /* A packet over what one datagram holds now (PMTUD may have raised it
   * already on this loss-free loop). */
  len = quic_conn_max_ip_packet(p->cli.qc) + 40;
  build_ipv4(pkt, len, 1, 1);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, len), 0);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->tx_capsule_datagrams, 1);
  assert_true(pump(p, srv_got_one));
  assert_int_equal(p->srv.ip[0].len, len);
  assert_memory_equal(p->srv.ip[0].data, pkt, len);

  assert_true(pump(p, both_settled));
  room = quic_conn_max_ip_packet(p->cli.qc);
  assert_true(room > 1300 && room < sizeof(pkt)); /* PMTUD found 1452 */
  build_ipv4(pkt, room + 1, 1, 2);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, room + 1),
                   JVPN_ERR_OVERSIZE);
  build_ipv4(pkt, room, 1, 3);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, room), 0);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->tx_capsule_datagrams, 1);
}

/* Runs both ends for |ms| of simulated time with an IP packet each way
 * every 5 ms (200 packets/s, as the netns probe streams), delivering what
 * the network carries at once and firing due timers. */
static void stream_both(struct pair *p, uint64_t ms, uint32_t *seq) {
  uint64_t end = p->now + ms * NGTCP2_MILLISECONDS;
  uint8_t pkt[200];

  while (p->now < end) {
    p->now += 5 * NGTCP2_MILLISECONDS;
    build_ipv4(pkt, sizeof(pkt), 1, *seq);
    (void)quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt));
    build_ipv4(pkt, sizeof(pkt), 0, (*seq)++);
    (void)quic_conn_queue_ip(p->srv.qc, pkt, sizeof(pkt));
    run_timers(p);
    write_both(p);
    while (p->head != p->tail)
      net_deliver(p, &p->net[p->head++ % NET_SLOTS]);
  }
}

/* The recovery logic of docs/decisions.md D23, both ways: a blackhole
 * under two 200 packets/s streams is noticed by each receiving end, which
 * probes, confirms the outage and stops feeding it; once the path returns,
 * each direction is back within a probe interval (25 ms) and a little. */
static void test_outage_recovery(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  const struct quic_conn_stats *cs, *ss;
  uint64_t cli_n, srv_n, t0, back_up = 0, back_down = 0;
  uint32_t seq = 1;

  pair_open(p);
  stream_both(p, 300, &seq);
  assert_true(p->cli.nip > 40 && p->srv.nip > 40);
  p->blackhole = 1;
  stream_both(p, 1000, &seq);
  cs = quic_conn_get_stats(p->cli.qc);
  ss = quic_conn_get_stats(p->srv.qc);
  assert_int_equal(cs->silences, 1);
  assert_int_equal(ss->silences, 1);
  assert_true(cs->silence_probes >= 3 && ss->silence_probes >= 3);
  assert_true(cs->drop_silent > 100 && ss->drop_silent > 100);
  p->blackhole = 0;
  cli_n = p->cli.nip;
  srv_n = p->srv.nip;
  t0 = p->now;
  while (p->now - t0 < 500 * NGTCP2_MILLISECONDS && (!back_up || !back_down)) {
    stream_both(p, 5, &seq);
    if (!back_up && p->srv.nip > srv_n)
      back_up = p->now - t0;
    if (!back_down && p->cli.nip > cli_n)
      back_down = p->now - t0;
  }
  assert_true(back_up > 0 && back_up <= 40 * NGTCP2_MILLISECONDS);
  assert_true(back_down > 0 && back_down <= 40 * NGTCP2_MILLISECONDS);
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
}

static int cli_closed(const struct pair *p) {
  return p->cli.closed_calls > 0;
}

/* The stall watchdog (docs/decisions.md D17), made to fire: every packet
 * of the client vanishes while the server's keep-alive PINGs still arrive,
 * so the client's idle timer never runs out and its IP packets wait for a
 * window that never opens. With silence detection off (D23 would call this
 * an outage and stop feeding the void) the watchdog closes the connection
 * as QUIC_END_STALLED before any idle timeout. */
static void test_stall_watchdog(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t pkt[1000];
  uint64_t start;
  int i;

  p->no_silence = 1;
  pair_open(p);
  p->blackhole_up = 1;
  start = p->now;
  for (i = 0; i < QUIC_TXQ_LEN / 2; i++) {
    build_ipv4(pkt, sizeof(pkt), 1, (uint32_t)i);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
  }
  assert_true(pump(p, cli_closed));
  assert_int_equal(p->cli.why, QUIC_END_STALLED);
  assert_non_null(strstr(p->cli.detail, "congestion window"));
  assert_true(p->now - start >= JVPN_QUIC_STALL_MS * NGTCP2_MILLISECONDS);
}

static uint64_t quiet_until;

static int quiet_time_passed(const struct pair *p) {
  return p->now >= quiet_until;
}

/* A quiet tunnel's longer idle timeout (quic_conn_set_keepalive, D47) is
 * honoured, and the usual one restored counts from the restoring: the
 * client, back to 3 s after 5 s of outage, ends at 8 s; the server, with
 * 15 s and no keep-alive of its own, at 15 s. */
static void test_idle_timeout_quiet(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint64_t start;

  pair_open(p);
  quic_conn_set_keepalive(p->cli.qc, 5000, 15000, p->now);
  quic_conn_set_keepalive(p->srv.qc, QUIC_KEEPALIVE_OFF, 15000, p->now);
  p->blackhole = 1;
  start = p->now;
  quiet_until = start + 5000 * NGTCP2_MILLISECONDS;
  assert_true(pump(p, quiet_time_passed));
  assert_int_equal(p->cli.closed_calls + p->srv.closed_calls, 0);
  quic_conn_set_keepalive(p->cli.qc, 0, 0, p->now);
  assert_true(pump(p, client_closed));
  assert_int_equal(p->cli.why, QUIC_END_IDLE);
  assert_true(p->now - start >= 8000 * NGTCP2_MILLISECONDS);
  assert_true(p->now - start < 8500 * NGTCP2_MILLISECONDS);
  assert_int_equal(p->srv.closed_calls, 0);
  assert_true(pump(p, both_closed));
  assert_int_equal(p->srv.why, QUIC_END_IDLE);
  assert_true(p->now - start >= 15000 * NGTCP2_MILLISECONDS);
  assert_true(p->now - start < 15500 * NGTCP2_MILLISECONDS);
}

static int both_ended(const struct pair *p) {
  return p->srv.closed_calls > 0 && p->cli.closed_calls > 0;
}

/* An HTTP Datagram that cannot be parsed (empty, a cut varint, a quarter
 * stream ID beyond 2^60) is a connection error H3_DATAGRAM_ERROR (RFC
 * 9297 2.1): counted, the connection closed with that code, no crash. */
static void test_unparseable_datagram(void **state) {
  static const uint8_t trunc[] = {0x40}; /* 2-byte varint cut */
  static const uint8_t huge_qsid[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0x00, 0x45};
  static const struct {
    const uint8_t *d;
    size_t len;
  } bad[] = {{NULL, 0}, {trunc, sizeof(trunc)}, {huge_qsid, sizeof(huge_qsid)}};
  size_t k;

  for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    struct pair *p = &((struct fixture *)*state)->p[0];

    if (k > 0)
      pair_init(p);
    pair_open(p);
    raw_datagram(p, bad[k].d, bad[k].len);
    assert_true(pump(p, both_ended));
    assert_int_equal(quic_conn_get_stats(p->srv.qc)->drop_malformed, 1);
    assert_int_equal(p->cli.why, QUIC_END_PEER_CLOSE);
    assert_non_null(strstr(p->cli.detail, "H3 error 0x33"));
    pair_free(p);
  }
}

static int srv_closed(const struct pair *p) {
  return p->srv.closed_calls > 0;
}

/* quic_conn_close with H3_NO_ERROR is a clean close for the peer. */
static void test_clean_close(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t pkt[100];

  pair_open(p);
  quic_conn_close(p->cli.qc, JVPN_H3_NO_ERROR, QUIC_END_LOCAL_CLOSE,
                  "test shutdown", p->now);
  assert_int_equal(p->cli.closed_calls, 1);
  assert_int_equal(p->cli.why, QUIC_END_LOCAL_CLOSE);
  assert_string_equal(p->cli.detail, "test shutdown");
  assert_true(quic_conn_expiry(p->cli.qc) == UINT64_MAX);
  build_ipv4(pkt, sizeof(pkt), 1, 0);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)),
                   JVPN_ERR_AGAIN);
  /* Once only: a second close neither sends nor reports. */
  quic_conn_close(p->cli.qc, JVPN_H3_INTERNAL_ERROR, QUIC_END_INTERNAL, "x",
                  p->now);
  assert_int_equal(p->cli.closed_calls, 1);
  assert_int_equal(p->tail - p->head, 1); /* one CONNECTION_CLOSE packet */

  assert_true(pump(p, srv_closed));
  assert_int_equal(p->srv.closed_calls, 1);
  assert_int_equal(p->srv.why, QUIC_END_PEER_CLOSE);
  assert_non_null(strstr(p->srv.detail, "0x100"));
}

/* nghttp3 put SETTINGS_H3_DATAGRAM=1 on the wire both ways (each side saw
 * the other's), and both ends landed on QUIC v2 by compatible version
 * negotiation. */
static void test_settings_and_version(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  pair_open(p);
  assert_true(p->cli.qc->peer_settings.seen);
  assert_true(p->srv.qc->peer_settings.seen);
  assert_int_equal(p->cli.qc->peer_settings.h3_datagram, 1);
  assert_int_equal(p->srv.qc->peer_settings.h3_datagram, 1);
  /* RFC 9220 3: only a server sends ENABLE_CONNECT_PROTOCOL (nghttp3 1.8
   * drops it on the client: docs/decisions.md D21). */
  assert_int_equal(p->srv.qc->peer_settings.connect_protocol, 0);
  assert_int_equal(quic_conn_version(p->cli.qc), JVPN_QUIC_V2);
  assert_int_equal(quic_conn_version(p->srv.qc), JVPN_QUIC_V2);
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->drop_settings, 0);
}

static int capsules_later_done(const struct pair *p) {
  return p->srv.nip >= 1 && p->cli.ncap >= 6;
}

/* Capsules after the first flight, in both directions: back-to-back ones
 * share the send buffer, a later one reuses it once all was acknowledged;
 * an unknown type is skipped and a DATAGRAM capsule carries an IP packet. */
static void capsules_later(struct pair *p) {
  static const size_t lens[4] = {50, 300, 1000, 1400};
  static uint8_t val[4][1400], pkt[1 + 100];
  size_t i, j;

  pair_open(p);
  for (i = 0; i < 4; i++)
    for (j = 0; j < lens[i]; j++)
      val[i][j] = (uint8_t)(i * 17 + j);
  pkt[0] = JVPN_CIP_CONTEXT_IP;
  build_ipv4(pkt + 1, sizeof(pkt) - 1, 1, 3);
  /* 0x2a: no capsule type this tunnel knows. */
  assert_int_equal(quic_conn_send_capsule(p->cli.qc, 0x2a, val[1], 300), 0);
  assert_int_equal(quic_conn_send_capsule(p->cli.qc, JVPN_CAPSULE_DATAGRAM, pkt,
                                          sizeof(pkt)),
                   0);
  for (i = 0; i < 3; i++)
    assert_int_equal(quic_conn_send_capsule(p->srv.qc,
                                            JVPN_CAPSULE_ADDRESS_ASSIGN, val[i],
                                            lens[i]),
                     0);
  pump(p, NULL);
  assert_int_equal(p->cli.ncap, 5);
  assert_int_equal(quic_conn_send_capsule(p->srv.qc,
                                          JVPN_CAPSULE_ROUTE_ADVERTISEMENT,
                                          val[3], lens[3]),
                   0);
  assert_true(pump(p, capsules_later_done));
  assert_int_equal(p->cli.ncap, 6);
  for (i = 0; i < 4; i++) {
    assert_int_equal(p->cli.cap[2 + i].len, lens[i]);
    assert_memory_equal(p->cli.cap[2 + i].data, val[i], lens[i]);
  }
  assert_int_equal(p->cli.cap[5].type, JVPN_CAPSULE_ROUTE_ADVERTISEMENT);
  assert_int_equal(p->srv.nip, 1);
  assert_int_equal(p->srv.ip[0].len, sizeof(pkt) - 1);
  assert_memory_equal(p->srv.ip[0].data, pkt + 1, sizeof(pkt) - 1);
  assert_int_equal(p->srv.ncap, 1); /* neither reached the program */
  assert_int_equal(p->srv.qc->capsules->parser.stats.skipped, 1);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->rx_datagrams, 1);
}

static void test_capsules_later(void **state) {
  capsules_later(&((struct fixture *)*state)->p[0]);
}

/* The same with nghttp3 kept for the tunnel's life (D49 off). */
static void test_capsules_later_nghttp3(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  p->keep_nghttp3 = 1;
  capsules_later(p);
}

/* Writes |len| bytes on the client's stream |sid| in one raw packet,
 * bypassing quic_conn (|d| must outlive the pair: ngtcp2 may resend it). */
static void raw_stream_fin(struct pair *p, int64_t sid, const uint8_t *d,
                           size_t len, int fin) {
  uint8_t buf[JVPN_QUIC_MAX_UDP_PAYLOAD];
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_vec v = {(uint8_t *)d, len};
  ngtcp2_ssize n, taken = -1;

  ngtcp2_path_storage_zero(&ps);
  n = ngtcp2_conn_writev_stream(p->cli.qc->conn, &ps.path, &pi, buf,
                                sizeof(buf), &taken,
                                fin ? NGTCP2_WRITE_STREAM_FLAG_FIN
                                    : NGTCP2_WRITE_STREAM_FLAG_NONE,
                                sid, &v, len ? 1 : 0, p->now);
  assert_true(n > 0);
  assert_int_equal(taken, (ngtcp2_ssize)len);
  net_push(p, 1, buf, (size_t)n);
}

static void raw_stream(struct pair *p, int64_t sid, const uint8_t *d,
                       size_t len) {
  raw_stream_fin(p, sid, d, len, 0);
}

static int srv_refused_one(const struct pair *p) {
  return quic_conn_get_stats(p->srv.qc)->drop_h3_frames >= 1;
}

/* After nghttp3's release the server still keeps HTTP/3's rules: a
 * second request stream is refused (the tunnel goes on), a second SETTINGS
 * on the control stream closes the connection with H3_FRAME_UNEXPECTED,
 * and a capsule split between DATA frames and packets arrives whole. */
static void test_released_h3_rules(void **state) {
  struct fixture *f = *state;
  struct pair *a = &f->p[0], *b = &f->p[1];
  static const uint8_t empty_headers[] = {0x01, 0x00};
  static const uint8_t settings[] = {0x04, 0x00};
  /* DATA frames on stream 0 carrying one ADDRESS_ASSIGN capsule (type 1,
   * length 4) in three pieces, with an unknown frame (0x21) between. */
  static const uint8_t part1[] = {0x00, 0x02, 0x01, 0x04};
  static const uint8_t part2[] = {0x21, 0x01, 0xff, 0x00, 0x01, 0xaa};
  static const uint8_t part3[] = {0x00, 0x03, 0xbb, 0xcc, 0xdd};
  static const uint8_t value[] = {0xaa, 0xbb, 0xcc, 0xdd};
  uint8_t pkt[100];
  int64_t sid;

  pair_open(a);
  assert_int_equal(a->cli.qc->tunnel_stream, 0);
  raw_stream(a, 0, part1, sizeof(part1));
  raw_stream(a, 0, part2, sizeof(part2));
  raw_stream(a, 0, part3, sizeof(part3));
  assert_int_equal(ngtcp2_conn_open_bidi_stream(a->cli.qc->conn, &sid, NULL),
                   0);
  raw_stream(a, sid, empty_headers, sizeof(empty_headers));
  assert_true(pump(a, srv_refused_one));
  assert_int_equal(a->srv.ncap, 2);
  assert_int_equal(a->srv.cap[1].type, JVPN_CAPSULE_ADDRESS_ASSIGN);
  assert_int_equal(a->srv.cap[1].len, sizeof(value));
  assert_memory_equal(a->srv.cap[1].data, value, sizeof(value));
  build_ipv4(pkt, sizeof(pkt), 1, 7);
  assert_int_equal(quic_conn_queue_ip(a->cli.qc, pkt, sizeof(pkt)), 0);
  assert_true(pump(a, srv_got_one));
  assert_int_equal(a->srv.closed_calls, 0);
  assert_int_equal(a->cli.closed_calls, 0);

  pair_open(b);
  raw_stream(b, b->cli.qc->ctrl_stream, settings, sizeof(settings));
  assert_true(pump(b, both_closed));
  assert_int_equal(b->srv.why, QUIC_END_PROTOCOL);
  assert_int_equal(b->cli.why, QUIC_END_PEER_CLOSE);
  assert_non_null(strstr(b->cli.detail, "0x105"));
}

/* The client's control stream ends (a FIN after its frames): a critical
 * stream closed, H3_CLOSED_CRITICAL_STREAM, also without nghttp3. */
static void test_released_critical_stream(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  pair_open(p);
  raw_stream_fin(p, p->cli.qc->ctrl_stream, NULL, 0, 1);
  assert_true(pump(p, both_closed));
  assert_int_equal(p->srv.why, QUIC_END_PROTOCOL);
  assert_non_null(strstr(p->cli.detail, "0x104"));
}

/* The server refuses the CONNECT-IP request with an HTTP status. */
static void test_tunnel_refused(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  p->srv.tunnel_status = 403;
  pair_start(p);
  assert_true(pump(p, both_closed));
  assert_int_equal(p->srv.tunnel_requests, 1);
  assert_int_equal(p->cli.tunnel_opens, 0);
  assert_int_equal(p->cli.refused_status, 403);
  assert_int_equal(p->srv.ncap, 0);
  assert_int_equal(p->cli.ncap, 0);
  /* The client resets its request stream and closes with
   * H3_REQUEST_REJECTED. */
  assert_int_equal(p->cli.why, QUIC_END_PROTOCOL);
  assert_int_equal(p->srv.why, QUIC_END_PEER_CLOSE);
  assert_non_null(strstr(p->srv.detail, "0x10b"));
}

/* A reattach request carries "jvpn-attach"; the server sees its value. */
static void test_attach_header(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];

  p->cli.send_attach = 1;
  pair_start(p);
  assert_true(pump(p, tunnel_ready));
  assert_int_equal(p->srv.tunnel_requests, 1);
  assert_int_equal(p->srv.attach_seen, 1);
  assert_int_equal(p->srv.attach_len, strlen("v=1; test"));
  assert_memory_equal(p->srv.attach, "v=1; test", 9);
  assert_int_equal(p->srv.req_version_len, 1);
  assert_memory_equal(p->srv.req_version, "7", 1);
  /* The fields were kept only until answered (both ends). */
  assert_null(p->srv.qc->hdr);
  assert_null(p->cli.qc->hdr);
}

static int srv_got_ten(const struct pair *p) {
  return p->srv.nip >= 10;
}

/* A full socket: the refused batch is kept and sent on the next write. */
static void test_socket_full(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t pkt[1000];
  uint64_t want = FNV_OFFSET;
  uint32_t i;

  pair_open(p);
  for (i = 0; i < 10; i++) {
    build_ipv4(pkt, sizeof(pkt), 1, i);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
    want = fnv(want, pkt, sizeof(pkt));
  }
  p->cli.refuse_sends = 1;
  assert_int_equal(quic_conn_write(p->cli.qc, p->now), JVPN_ERR_AGAIN);
  assert_int_equal(p->cli.refuse_sends, 0);
  assert_true(p->head == p->tail);
  assert_true(pump(p, srv_got_ten));
  assert_int_equal(p->srv.nip, 10);
  assert_true(p->srv.ip_hash == want);
  assert_int_equal(p->cli.closed_calls, 0);
}

static int srv_got_twenty(const struct pair *p) { return p->srv.nip >= 20; }
static int ip_cli_one(const struct pair *p) { return p->cli.nip >= 1; }

/* Keep-alives carry the pair through |ms| of quiet. */
static int quiet_until_ms;
static uint64_t quiet_t0;
static int quiet_over(const struct pair *p) {
  return p->now - quiet_t0 >= (uint64_t)quiet_until_ms * NGTCP2_MILLISECONDS;
}

/* The per-connection buffers come when used and go when idle: no IP
 * queue, refused batch or capsule ring on an idle connection; a queue
 * that grows from QUIC_TXQ_MIN slots keeps every packet in order, a
 * refused batch gets its buffer, and all of it is freed once the
 * connection has been quiet for QUIC_BUF_IDLE_MS. */
static void test_buffers_when_used(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint8_t pkt[1000];
  uint64_t want = FNV_OFFSET;
  uint32_t i;

  pair_open(p);
  assert_true(quic_conn_sizeof() < 4096);
  assert_null(p->cli.qc->txq.slot);
  assert_null(p->srv.qc->txq.slot);
  assert_null(p->cli.qc->pending);
  /* The capsules of the attach went out: the rings wait to be idle. */
  quiet_t0 = p->now;
  quiet_until_ms = QUIC_BUF_IDLE_MS + 2 * JVPN_QUIC_KEEPALIVE_MS;
  assert_true(pump(p, quiet_over));
  assert_int_equal(quic_conn_buffer_bytes(p->cli.qc), 0);
  assert_int_equal(quic_conn_buffer_bytes(p->srv.qc), 0);
  /* The cipher contexts (D51): 1-RTT rx, tx and header protection both
   * ways made; the next key phase's two keys held, their contexts not. */
  assert_int_equal(pp_keys_taken(&p->srv.qc->pp), 6);
  assert_int_equal(pp_keys_live(&p->srv.qc->pp), 4);
  assert_int_equal(pp_keys_taken(&p->cli.qc->pp), 6);
  assert_int_equal(pp_keys_live(&p->cli.qc->pp), 4);

  /* One packet: the smallest queue. */
  build_ipv4(pkt, sizeof(pkt), 1, 0);
  assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
  want = fnv(want, pkt, sizeof(pkt));
  assert_int_equal(p->cli.qc->txq.cap, QUIC_TXQ_MIN);
  /* Wrap the ring, then grow it twice with packets waiting. */
  p->cli.refuse_sends = 1;
  assert_int_equal(quic_conn_write(p->cli.qc, p->now), JVPN_ERR_AGAIN);
  assert_non_null(p->cli.qc->pending); /* the refused batch is kept */
  for (i = 1; i < 20; i++) {
    build_ipv4(pkt, sizeof(pkt), 1, i);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
    want = fnv(want, pkt, sizeof(pkt));
  }
  assert_int_equal(p->cli.qc->txq.cap, 4 * QUIC_TXQ_MIN);
  assert_true(quic_conn_buffer_bytes(p->cli.qc) >=
              4 * QUIC_TXQ_MIN * sizeof(struct quic_txq_slot));
  assert_true(pump(p, srv_got_twenty));
  assert_int_equal(p->srv.nip, 20);
  assert_true(p->srv.ip_hash == want); /* all of them, in order */

  /* Quiet again: everything goes, on both ends. */
  quiet_t0 = p->now;
  assert_true(pump(p, quiet_over));
  assert_null(p->cli.qc->txq.slot);
  assert_int_equal(p->cli.qc->txq.cap, 0);
  assert_null(p->cli.qc->pending);
  assert_int_equal(quic_conn_buffer_bytes(p->cli.qc), 0);
  assert_int_equal(quic_conn_buffer_bytes(p->srv.qc), 0);
  /* ... and comes back when needed. */
  build_ipv4(pkt, sizeof(pkt), 0, 77);
  assert_int_equal(quic_conn_queue_ip(p->srv.qc, pkt, sizeof(pkt)), 0);
  assert_true(pump(p, ip_cli_one));
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
}

/* Decrypt slots whose key has not been used yet: the next key phase. */
static size_t unused_rx_keys(const struct quic_conn *qc) {
  size_t i, n = 0;

  for (i = 0; i < PP_SLOTS; i++)
    n += qc->pp.slot[i].use == PP_DECRYPT && qc->pp.slot[i].made == 0;
  return n;
}

static int srv_got_all(const struct pair *p) {
  return p->srv.nip >= (size_t)quiet_until_ms;
}

static int cli_got_all(const struct pair *p) {
  return p->cli.nip >= (size_t)quiet_until_ms;
}

/* Key updates (RFC 9001 6) with keys held as bytes (D51): the client, then
 * the server, then the client again moves to the next key phase, whose
 * keys waited without contexts; every packet arrives both ways, each
 * update is confirmed (ngtcp2 refuses a new one before), and the slots
 * hold no more than the keys of three phases. */
static void test_key_update(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  struct quic_conn *who;
  uint8_t pkt[600];
  int round;

  pair_open(p);
  for (round = 0; round < 3; round++) {
    who = round == 1 ? p->srv.qc : p->cli.qc;
    quiet_t0 = p->now;
    quiet_until_ms = 1500; /* past 3 PTOs: the last update confirmed */
    assert_true(pump(p, quiet_over));
    assert_int_equal(unused_rx_keys(p->cli.qc), 1);
    assert_int_equal(unused_rx_keys(p->srv.qc), 1);
    assert_int_equal(ngtcp2_conn_initiate_key_update(who->conn, p->now), 0);
    build_ipv4(pkt, sizeof(pkt), 1, (uint32_t)round);
    assert_int_equal(quic_conn_queue_ip(p->cli.qc, pkt, sizeof(pkt)), 0);
    build_ipv4(pkt, sizeof(pkt), 0, (uint32_t)round);
    assert_int_equal(quic_conn_queue_ip(p->srv.qc, pkt, sizeof(pkt)), 0);
    quiet_until_ms = round + 1; /* packets expected each way */
    assert_true(pump(p, srv_got_all));
    assert_true(pump(p, cli_got_all));
    assert_true(pp_keys_taken(&p->cli.qc->pp) <= 7);
    assert_true(pp_keys_taken(&p->srv.qc->pp) <= 7);
  }
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
}

/* Silence ends an open connection on both sides after the idle timeout,
 * despite the client's keep-alives. */
static void test_idle_timeout(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint64_t t0;

  pair_open(p);
  t0 = p->now;
  p->blackhole = 1;
  assert_true(pump(p, both_closed));
  assert_int_equal(p->cli.why, QUIC_END_IDLE);
  assert_int_equal(p->srv.why, QUIC_END_IDLE);
  assert_true(p->now - t0 >= (uint64_t)JVPN_QUIC_KEEPALIVE_MS *
                                 JVPN_QUIC_IDLE_KEEPALIVES *
                                 NGTCP2_MILLISECONDS);
  /* ... and not much later: a dead path is noticed within the idle
   * timeout (plus a probe timeout), well inside the session's TTL. */
  assert_true(p->now - t0 <= (uint64_t)2 * JVPN_QUIC_KEEPALIVE_MS *
                                 JVPN_QUIC_IDLE_KEEPALIVES *
                                 NGTCP2_MILLISECONDS);
  assert_true(p->net_dropped > 0);
}

/* A server that never answers. */
static void test_handshake_timeout(void **state) {
  struct pair *p = &((struct fixture *)*state)->p[0];
  uint64_t t0 = p->now;

  p->blackhole = 1;
  pair_start(p);
  assert_true(pump(p, client_closed));
  /* Whichever is shorter ends the attempt: the handshake timeout or the
   * idle timeout (3 keep-alive intervals), which ngtcp2 also applies
   * during the handshake. */
  assert_true(p->cli.why == QUIC_END_HANDSHAKE_TIMEOUT ||
              p->cli.why == QUIC_END_IDLE);
  assert_null(p->srv.qc);
  assert_true(p->now - t0 >= (uint64_t)JVPN_QUIC_KEEPALIVE_MS *
                                 JVPN_QUIC_IDLE_KEEPALIVES *
                                 NGTCP2_MILLISECONDS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handshake_connect_ip, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_ip_datagrams, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_unknown_client_pin, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_wrong_server_pin, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_malformed_capsule, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_dropped_datagrams, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_unparseable_datagram, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_young_path_capsules, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_stall_watchdog, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout_quiet, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_outage_recovery, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_clean_close, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_settings_and_version, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_capsules_later, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_capsules_later_nghttp3, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_released_h3_rules, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_released_critical_stream, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_tunnel_refused, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_attach_header, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_socket_full, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_buffers_when_used, quic_pair_setup,
                                      quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_key_update, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_release_tls, quic_pair_setup, quic_pair_teardown),
      cmocka_unit_test_setup_teardown(test_handshake_timeout, quic_pair_setup, quic_pair_teardown),
  };

  return cmocka_run_group_tests(tests, quic_pair_group_setup, quic_pair_group_teardown);
}
