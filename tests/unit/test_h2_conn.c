/*
 * tests/unit/test_h2_conn: a real client h2_conn and a real server h2_conn
 * over a TCP connection on 127.0.0.1, with identities made for the run.
 *
 *   client h2_conn --TLS 1.3 / HTTP/2 / CONNECT-IP--> server h2_conn
 *        (connect(), nonblocking)      (accept())
 *
 * run() polls both sockets and calls h2_conn_io(), advancing a hand-kept
 * clock by 1 ms per round (to the next timer when nothing arrived within
 * a real millisecond) and running the timers when due, until a condition
 * holds or a bound on rounds is reached (a failure).
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

#define ROUNDS 20000       /* poll rounds before run() gives up */
#define TICK_NS 1000000ULL /* the clock's step per round: 1 ms */
#define NPKT 1000          /* IP packets each way */
#define MAXREC 8           /* capsules recorded per side */
#define START_NS 1000000000000ULL

enum { SRV, CLI, STRANGER, NIDS };

static struct {
  char dir[64];
  struct quic_cred *cred[NIDS];
  uint8_t pin[NIDS][JVPN_PIN_LEN];
} ids;

struct side {
  struct h2_conn *c;
  const uint8_t *accept_pin;
  uint8_t seen_pin[JVPN_PIN_LEN];
  int refuse_with; /* server: tunnel_request's status */
  int send_attach; /* client */
  int requests, opens, refused_status, closed;
  char attach[64], session[64];
  enum quic_conn_end why;
  char detail[160];
  size_t ncap;
  uint64_t cap_type[MAXREC];
  uint8_t cap_val[MAXREC][64];
  size_t cap_len[MAXREC];
  uint32_t nip, ip_bad; /* packets received; out of order or corrupt */
  int paused;           /* run() leaves this side alone */
};

struct pair {
  struct side srv, cli;
  uint64_t now;
};

/* --- callbacks ----------------------------------------------------------- */

static int verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct side *s = user;

  memcpy(s->seen_pin, pin, JVPN_PIN_LEN);
  return memcmp(pin, s->accept_pin, JVPN_PIN_LEN) == 0 ? 0 : -1;
}

static void tunnel_request(void *user, const struct quic_tunnel_req *req,
                           struct quic_tunnel_resp *resp) {
  struct side *s = user;

  s->requests++;
  if (req->attach)
    snprintf(s->attach, sizeof(s->attach), "%.*s", (int)req->attach_len,
             req->attach);
  resp->status = s->refuse_with;
  snprintf(resp->session, sizeof(resp->session), "sess-1");
  snprintf(resp->version, sizeof(resp->version), "1");
}

static long attach_header(void *user, char *buf, size_t len, char *version,
                          size_t version_len) {
  struct side *s = user;

  if (!s->send_attach)
    return 0;
  snprintf(version, version_len, "1");
  return snprintf(buf, len, "proof-xyz");
}

static void tunnel_open(void *user, const char *session, size_t len,
                        const char *version, size_t version_len) {
  struct side *s = user;

  (void)version;
  (void)version_len;
  s->opens++;
  snprintf(s->session, sizeof(s->session), "%.*s", (int)len,
           session ? session : "");
}

static void tunnel_refused(void *user, int status) {
  ((struct side *)user)->refused_status = status;
}

static int capsule(void *user, uint64_t type, const uint8_t *value,
                   size_t len) {
  struct side *s = user;

  if (s->ncap < MAXREC) {
    s->cap_type[s->ncap] = type;
    s->cap_len[s->ncap] = len;
    memcpy(s->cap_val[s->ncap], value, len < 64 ? len : 64);
    s->ncap++;
  }
  return 0;
}

/* Packet i: its number in the first 4 bytes, then bytes derived from it. */
static size_t make_packet(uint8_t *p, uint32_t i) {
  size_t len = 20 + (i * 37) % (H2_CONN_MAX_IP_PACKET - 19), k;

  memcpy(p, &i, 4);
  for (k = 4; k < len; k++)
    p[k] = (uint8_t)(i + k);
  return len;
}

static void ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct side *s = user;
  uint8_t want[H2_CONN_MAX_IP_PACKET];

  if (len < 4 || make_packet(want, s->nip) != len ||
      memcmp(want, pkt, len) != 0)
    s->ip_bad++;
  s->nip++;
}

static void closed(void *user, enum quic_conn_end why, const char *detail) {
  struct side *s = user;

  s->closed++;
  s->why = why;
  snprintf(s->detail, sizeof(s->detail), "%s", detail);
}

static const struct quic_conn_ops ops = {
    .verify_peer = verify_peer,
    .tunnel_request = tunnel_request,
    .attach_header = attach_header,
    .tunnel_open = tunnel_open,
    .tunnel_refused = tunnel_refused,
    .capsule = capsule,
    .ip_packet = ip_packet,
    .closed = closed,
};

/* --- the pair ------------------------------------------------------------ */

static int listener(struct sockaddr_in *addr) {
  socklen_t len = sizeof(*addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
  assert_int_equal(listen(fd, 4), 0);
  return fd;
}

/* A nonblocking client socket connecting to |addr| (in progress). */
static int connecting(const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rv = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));

  assert_true(rv == 0 || errno == EINPROGRESS);
  return fd;
}

static struct h2_conn *conn(struct pair *p, int server, int fd, int id) {
  struct side *s = server ? &p->srv : &p->cli;
  struct h2_conn_config cfg = {
      .is_server = server,
      .cred = ids.cred[id],
      .sni = "vpn.example",
      .authority = "vpn.example:443",
      .ops = &ops,
      .user = s,
      .log_ctx = server ? "srv" : "cli",
      .idle_ms = 60000,
  };

  assert_int_equal(h2_conn_new(&s->c, &cfg, fd, p->now), 0);
  return s->c;
}

/* Client |cid| and server |sid| identities; each side accepts the other's
 * real pin unless the test changes accept_pin afterwards. */
static void pair_start(struct pair *p, int sid, int cid) {
  struct sockaddr_in addr;
  int lfd = listener(&addr), cfd, afd;

  memset(p, 0, sizeof(*p));
  p->now = START_NS;
  p->srv.accept_pin = ids.pin[CLI];
  p->cli.accept_pin = ids.pin[SRV];
  cfd = connecting(&addr);
  afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
  assert_true(afd >= 0);
  close(lfd);
  conn(p, 0, cfd, cid);
  conn(p, 1, afd, sid);
}

static void pair_end(struct pair *p) {
  h2_conn_del(p->cli.c);
  h2_conn_del(p->srv.c);
}

static void step(struct pair *p, struct side *s, short revents) {
  if (s->c == NULL || s->closed || s->paused)
    return;
  (void)h2_conn_io(s->c, (revents & (POLLIN | POLLHUP | POLLERR)) != 0, p->now);
  if (!s->closed && h2_conn_expiry(s->c) <= p->now)
    (void)h2_conn_handle_expiry(s->c, p->now);
}

/* Moves the clock to the earlier expiry of the live sides. */
static void jump(struct pair *p) {
  struct side *s[2] = {&p->cli, &p->srv};
  uint64_t e = UINT64_MAX, x;
  int i;

  for (i = 0; i < 2; i++) {
    if (s[i]->c == NULL || s[i]->closed || s[i]->paused)
      continue;
    x = h2_conn_expiry(s[i]->c);
    e = x < e ? x : e;
  }
  if (e != UINT64_MAX && e > p->now)
    p->now = e;
}

/* Runs both sides until |done| (or any side closes, if |done| is NULL).
 * Returns nonzero if it held within the bound. */
static int run(struct pair *p, int (*done)(struct pair *)) {
  struct pollfd pfd[2];
  struct side *s[2] = {&p->cli, &p->srv};
  int i, r;

  for (r = 0; r < ROUNDS; r++) {
    if (done ? done(p) : (p->cli.closed || p->srv.closed))
      return 1;
    for (i = 0; i < 2; i++) {
      pfd[i].fd = s[i]->closed || s[i]->paused ? -1 : h2_conn_fd(s[i]->c);
      pfd[i].events = POLLIN;
      if (pfd[i].fd >= 0 && h2_conn_want_write(s[i]->c))
        pfd[i].events |= POLLOUT;
      pfd[i].revents = 0;
    }
    if (poll(pfd, 2, 1) == 0)
      jump(p); /* nothing on the wire: on to the next timer */
    for (i = 0; i < 2; i++)
      step(p, s[i], pfd[i].revents);
    p->now += TICK_NS;
  }
  return 0;
}

static int both_open(struct pair *p) {
  return h2_conn_tunnel_is_open(p->cli.c) && h2_conn_tunnel_is_open(p->srv.c) &&
         p->cli.opens == 1 && p->srv.ncap >= 1;
}

static int both_closed(struct pair *p) {
  return p->cli.closed && p->srv.closed;
}

static void open_pair(struct pair *p) {
  pair_start(p, SRV, CLI);
  assert_true(run(p, both_open));
}

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

/* --- identities ---------------------------------------------------------- */

static int group_setup(void **state) {
  static const char *const names[NIDS] = {"server", "client", "stranger"};
  char sub[96], cert[128], key[128], err[256];
  int i;

  (void)state;
  jvpn_log_set_level(getenv("TEST_H2_LOG") ? JVPN_LOG_TRACE : JVPN_LOG_ERROR);
  snprintf(ids.dir, sizeof(ids.dir), "/tmp/test_h2_conn.XXXXXX");
  if (tls_identity_global_init() != 0 || mkdtemp(ids.dir) == NULL)
    return -1;
  for (i = 0; i < NIDS; i++) {
    snprintf(sub, sizeof(sub), "%s/%s", ids.dir, names[i]);
    snprintf(cert, sizeof(cert), "%s/cert.pem", sub);
    snprintf(key, sizeof(key), "%s/key.pem", sub);
    if (tls_identity_generate(sub, names[i], ids.pin[i], err, sizeof(err)) ||
        tls_identity_cred_load(&ids.cred[i], cert, key, err, sizeof(err))) {
      fprintf(stderr, "%s: %s\n", names[i], err);
      return -1;
    }
  }
  return 0;
}

static int group_teardown(void **state) {
  char cmd[96];

  (void)state;
  for (int i = 0; i < NIDS; i++)
    tls_identity_cred_del(ids.cred[i]);
  tls_identity_global_deinit();
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ids.dir);
  return system(cmd) == 0 ? 0 : -1;
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

  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
