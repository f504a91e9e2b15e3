/*
 * tests/unit/test_transport: the program's calls through a struct
 * transport reach the HTTP/2 connection it holds (real h2_conn pairs over
 * the loopback, tests/unit/h2_pair), and a transport holding nothing gives
 * the harmless answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/h2_conn.h"
#include "quic/h2_conn_int.h" /* the log prefix */
#include "quic/transport.h"
#include "tests/unit/h2_pair.h"

/* --- nothing held -------------------------------------------------------- */

static int called;

static void closed_never(void *user, enum quic_conn_end why,
                         const char *detail) {
  (void)user;
  (void)why;
  (void)detail;
  called++;
}

static void test_none(void **state) {
  static const struct quic_conn_ops none_ops = {.closed = closed_never};
  struct transport t = {NULL, NULL};
  struct quic_conn_info info;
  struct quic_path path;
  const struct quic_conn_stats *st, zero = {0};
  uint8_t pkt[20] = {0x45}, out[32];

  (void)state;
  assert_int_equal(transport_kind(&t), TRANSPORT_NONE);
  assert_int_equal(transport_queue_ip(&t, pkt, sizeof(pkt)), JVPN_ERR_AGAIN);
  assert_int_equal(
      transport_send_capsule(&t, JVPN_CAPSULE_ACTIVATE, pkt, sizeof(pkt)),
      JVPN_ERR_AGAIN);
  assert_int_equal(transport_txq_busy(&t), 0);
  assert_int_equal(transport_tun_pause(&t), 0);
  assert_int_equal(transport_max_ip_packet(&t), 0);
  assert_int_equal(transport_export(&t, "EXPORTER-x", NULL, 0, out, 32),
                   JVPN_ERR_TLS);
  assert_int_equal(transport_expiry(&t), UINT64_MAX);
  assert_int_equal(transport_handle_expiry(&t, 5), 0);
  transport_set_log_ctx(&t, "x");
  transport_set_owner(&t, &none_ops, NULL);
  transport_close(&t, QUIC_END_LOCAL_CLOSE, "bye", 5);
  assert_int_equal(called, 0);
  memset(&info, 0xff, sizeof(info));
  transport_get_info(&t, &info);
  assert_int_equal(info.srtt_ns, 0);
  assert_int_equal(info.handshake_done, 0);
  assert_int_equal(info.cwnd, 0);
  memset(&path, 0xff, sizeof(path));
  transport_get_path(&t, &path);
  assert_null(path.local);
  assert_null(path.remote);
  assert_int_equal(path.local_len + path.remote_len, 0);
  st = transport_get_stats(&t);
  assert_non_null(st);
  assert_memory_equal(st, &zero, sizeof(zero));
  assert_ptr_equal(transport_get_stats(&t), st);
  assert_int_equal(transport_tunnel_is_open(&t), 0);
  assert_null(transport_peer_pin(&t));
  transport_del(&t); /* nothing to free */
  assert_null(t.qc);
  assert_null(t.h2);
}

static void test_kind_names(void **state) {
  (void)state;
  assert_string_equal(transport_kind_name(TRANSPORT_QUIC), "quic");
  assert_string_equal(transport_kind_name(TRANSPORT_TCP), "tcp");
  assert_string_equal(transport_kind_name(TRANSPORT_NONE), "none");
  assert_string_equal(transport_kind_name((enum transport_kind)99), "none");
}

/* --- an HTTP/2 connection held ------------------------------------------- */

static struct {
  struct transport cli, srv;
  uint32_t sent;
} tp;

static void open_transports(struct pair *p) {
  open_pair(p);
  memset(&tp, 0, sizeof(tp));
  tp.cli.h2 = p->cli.c;
  tp.srv.h2 = p->srv.c;
}

static int packets_in(struct pair *p) {
  return p->srv.nip == tp.sent && p->srv.ncap >= 2;
}

/* Packets and capsules through the transport arrive; the readings are
 * the connection's. */
static void test_h2_dispatch(void **state) {
  static const uint8_t act[] = {1, 2, 3};
  uint8_t pkt[H2_CONN_MAX_IP_PACKET], ec[32], es[32], direct[32];
  struct quic_conn_info info;
  struct quic_path pc, ps;
  struct pair p;
  uint32_t i;

  (void)state;
  open_transports(&p);
  assert_int_equal(transport_kind(&tp.cli), TRANSPORT_TCP);
  assert_string_equal(transport_kind_name(transport_kind(&tp.cli)), "tcp");
  assert_true(transport_tunnel_is_open(&tp.cli));
  assert_true(transport_tunnel_is_open(&tp.srv));
  assert_int_equal(transport_max_ip_packet(&tp.cli), H2_CONN_MAX_IP_PACKET);
  assert_memory_equal(transport_peer_pin(&tp.cli), ids.pin[SRV], JVPN_PIN_LEN);
  assert_memory_equal(transport_peer_pin(&tp.srv), ids.pin[CLI], JVPN_PIN_LEN);
  assert_ptr_equal(transport_get_stats(&tp.cli), h2_conn_get_stats(p.cli.c));
  assert_int_equal(transport_expiry(&tp.cli), h2_conn_expiry(p.cli.c));
  assert_true(transport_expiry(&tp.cli) != UINT64_MAX);

  for (i = 0; i < 10; i++)
    assert_int_equal(transport_queue_ip(&tp.cli, pkt, make_packet(pkt, i)), 0);
  tp.sent = 10;
  assert_int_equal(transport_queue_ip(&tp.cli, pkt, H2_CONN_MAX_IP_PACKET + 1),
                   JVPN_ERR_OVERSIZE);
  assert_int_equal(
      transport_send_capsule(&tp.cli, JVPN_CAPSULE_ACTIVATE, act, sizeof(act)),
      0);
  assert_false(transport_txq_busy(&tp.cli));
  assert_true(run(&p, packets_in));
  assert_int_equal(p.srv.ip_bad, 0);
  assert_int_equal(p.srv.cap_type[1], JVPN_CAPSULE_ACTIVATE);
  assert_memory_equal(p.srv.cap_val[1], act, sizeof(act));
  assert_int_equal(transport_get_stats(&tp.cli)->tx_datagrams, 10);
  assert_int_equal(transport_get_stats(&tp.srv)->rx_datagrams, 10);
  assert_int_equal(transport_get_stats(&tp.cli)->drop_too_big, 1);

  /* the same channel binding on both ends, and the connection's own */
  assert_int_equal(transport_export(&tp.cli, "EXPORTER-t", act, 3, ec, 32), 0);
  assert_int_equal(transport_export(&tp.srv, "EXPORTER-t", act, 3, es, 32), 0);
  assert_int_equal(h2_conn_export(p.cli.c, "EXPORTER-t", act, 3, direct, 32),
                   0);
  assert_memory_equal(ec, es, 32);
  assert_memory_equal(ec, direct, 32);

  transport_get_info(&tp.cli, &info);
  assert_int_equal(info.handshake_done, 1);
  assert_int_equal(info.max_udp_payload, 0);
  assert_true(info.cwnd > 0);
  /* the client's remote end is the server's local one, and back */
  transport_get_path(&tp.cli, &pc);
  transport_get_path(&tp.srv, &ps);
  assert_int_equal(pc.remote_len, sizeof(struct sockaddr_in));
  assert_int_equal(pc.remote_len, ps.local_len);
  assert_memory_equal(pc.remote, ps.local, pc.remote_len);
  assert_memory_equal(pc.local, ps.remote, pc.local_len);

  transport_set_log_ctx(&tp.cli, "tp-client");
  assert_string_equal(p.cli.c->ctx, "tp-client");
  pair_end(&p);
}

static int other_got_packet(struct pair *p) {
  (void)p;
  return tp.sent == 1;
}

static struct side other;

static void other_ip(void *user, const uint8_t *pkt, size_t len) {
  (void)pkt;
  (void)len;
  assert_ptr_equal(user, &other);
  tp.sent = 1;
}

static void other_closed(void *user, enum quic_conn_end why,
                         const char *detail) {
  struct side *s = user;

  s->closed++;
  s->why = why;
  snprintf(s->detail, sizeof(s->detail), "%s", detail);
}

/* A new owner gets what arrives next; a close reaches it with the reason,
 * the peer sees the connection end; del frees and clears. */
static void test_h2_owner_close(void **state) {
  struct quic_conn_ops ops2 = ops;
  uint8_t pkt[64];
  struct pair p;

  (void)state;
  ops2.ip_packet = other_ip;
  ops2.closed = other_closed;
  memset(&other, 0, sizeof(other));
  open_transports(&p);
  transport_set_owner(&tp.srv, &ops2, &other);
  assert_int_equal(transport_queue_ip(&tp.cli, pkt, make_packet(pkt, 0)), 0);
  assert_true(run(&p, other_got_packet));
  assert_int_equal(p.srv.nip, 0); /* not the old owner */

  transport_close(&tp.srv, QUIC_END_LOCAL_CLOSE, "shutting down", p.now);
  assert_int_equal(other.closed, 1);
  assert_int_equal(other.why, QUIC_END_LOCAL_CLOSE);
  assert_string_equal(other.detail, "shutting down");
  assert_int_equal(p.srv.closed, 0);
  assert_false(transport_tunnel_is_open(&tp.srv));
  assert_int_equal(transport_expiry(&tp.srv), UINT64_MAX);
  /* a second close is no second report */
  transport_close(&tp.srv, QUIC_END_LOCAL_CLOSE, "again", p.now);
  assert_int_equal(other.closed, 1);
  p.srv.closed = 1; /* run() leaves it alone now */
  assert_true(run(&p, both_closed));
  assert_int_equal(p.cli.why, QUIC_END_PEER_CLOSE);
  transport_del(&tp.srv);
  transport_del(&tp.cli);
  assert_null(tp.srv.h2);
  assert_null(tp.cli.h2);
  assert_int_equal(transport_kind(&tp.cli), TRANSPORT_NONE);
}

/* Timers go through: nothing heard for the idle time ends it. */
static void test_h2_expiry(void **state) {
  struct pair p;
  uint64_t e;

  (void)state;
  open_transports(&p);
  p.srv.paused = 1;
  e = transport_expiry(&tp.cli);
  assert_int_equal(transport_handle_expiry(&tp.cli, e - 1), 0);
  assert_int_equal(p.cli.closed, 0);
  assert_int_not_equal(transport_handle_expiry(&tp.cli, p.now + 60000 * TICK_NS),
                       0);
  assert_int_equal(p.cli.closed, 1);
  assert_int_equal(p.cli.why, QUIC_END_IDLE);
  pair_end(&p);
}

/* A peer that stops reading: the queue fills, txq_busy says so, and IP
 * packets are dropped while a capsule still goes. */
static void test_h2_busy(void **state) {
  uint8_t pkt[H2_CONN_MAX_IP_PACKET];
  struct pair p;
  int i, rv = 0;

  (void)state;
  open_transports(&p);
  p.srv.paused = 1;
  memset(pkt, 0x45, sizeof(pkt));
  for (i = 0; i < 100000 && rv != JVPN_ERR_FULL; i++) {
    rv = transport_queue_ip(&tp.cli, pkt, sizeof(pkt));
    (void)h2_conn_io(p.cli.c, 0, p.now);
  }
  assert_int_equal(rv, JVPN_ERR_FULL);
  assert_true(transport_txq_busy(&tp.cli));
  assert_false(transport_tun_pause(&tp.cli)); /* TCP: read on and drop */
  assert_int_equal(transport_get_stats(&tp.cli)->drop_queue, 1);
  assert_int_equal(
      transport_send_capsule(&tp.cli, JVPN_CAPSULE_ACTIVATE, pkt, 8), 0);
  pair_end(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_h2_dispatch),
      cmocka_unit_test(test_h2_owner_close),
      cmocka_unit_test(test_h2_expiry),
      cmocka_unit_test(test_h2_busy),
  };

  return cmocka_run_group_tests(tests, h2_pair_group_setup,
                                h2_pair_group_teardown);
}
