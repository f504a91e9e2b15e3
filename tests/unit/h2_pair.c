/*
 * tests/unit/h2_pair: see tests/unit/h2_pair.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/h2_pair.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jvpn/log.h"
#include "quic/tls_identity.h"

struct h2_ids ids;

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

size_t make_packet(uint8_t *p, uint32_t i) {
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

const struct quic_conn_ops ops = {
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

int listener(struct sockaddr_in *addr) {
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

struct h2_conn *conn(struct pair *p, int server, int fd, int id) {
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
      .keylog = p->keylog,
  };

  assert_int_equal(h2_conn_new(&s->c, &cfg, fd, p->now), 0);
  return s->c;
}

void pair_start_keylog(struct pair *p, int sid, int cid, FILE *keylog) {
  struct sockaddr_in addr;
  int lfd = listener(&addr), cfd, afd;

  memset(p, 0, sizeof(*p));
  p->keylog = keylog;
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

void pair_start(struct pair *p, int sid, int cid) {
  pair_start_keylog(p, sid, cid, NULL);
}

void pair_end(struct pair *p) {
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

int run(struct pair *p, int (*done)(struct pair *)) {
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

int both_open(struct pair *p) {
  return h2_conn_tunnel_is_open(p->cli.c) && h2_conn_tunnel_is_open(p->srv.c) &&
         p->cli.opens == 1 && p->srv.ncap >= 1;
}

int both_closed(struct pair *p) {
  return p->cli.closed && p->srv.closed;
}

void open_pair(struct pair *p) {
  pair_start(p, SRV, CLI);
  assert_true(run(p, both_open));
}

/* --- identities ---------------------------------------------------------- */

int h2_pair_group_setup(void **state) {
  static const char *const names[NIDS] = {"server", "client", "stranger"};
  char sub[96], cert[128], key[128], err[256];
  int i;

  (void)state;
  jvpn_log_set_level(getenv("TEST_H2_LOG") ? JVPN_LOG_TRACE : JVPN_LOG_ERROR);
  snprintf(ids.dir, sizeof(ids.dir), "/tmp/h2_pair.XXXXXX");
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

int h2_pair_group_teardown(void **state) {
  char cmd[96];

  (void)state;
  for (int i = 0; i < NIDS; i++)
    tls_identity_cred_del(ids.cred[i]);
  tls_identity_global_deinit();
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ids.dir);
  return system(cmd) == 0 ? 0 : -1;
}

