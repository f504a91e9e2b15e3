/* tests/unit/quic_pair: a quic_conn pair over a fake network (see the
 * header). */
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
#include "quic/connect_ip.h"
#include "quic/quic_pkt.h"
#include "quic/tls_identity.h"
#include "tests/unit/quic_pair.h"

#include <ngtcp2/ngtcp2.h>

#define NET_DELAY_NS (1 * NGTCP2_MILLISECONDS) /* one-way latency */
#define SETTLE_NS (500 * NGTCP2_MILLISECONDS)  /* "nothing due soon" */
#define PUMP_MAX_STEPS 20000                   /* bounds a bug, never reached */
#define FNV_PRIME 0x100000001b3ULL

static const char *const id_names[ID_COUNT] = {"server", "client", "stranger"};

struct quic_pair_ids ids;

uint64_t fnv(uint64_t h, const uint8_t *d, size_t len) {
  size_t i;

  h = (h ^ (uint64_t)len) * FNV_PRIME;
  for (i = 0; i < len; i++)
    h = (h ^ d[i]) * FNV_PRIME;
  return h;
}

static void rec_put(struct rec *r, uint64_t type, const uint8_t *d,
                    size_t len) {
  r->type = type;
  r->len = len < sizeof(r->data) ? len : sizeof(r->data);
  memcpy(r->data, d, r->len);
}

void net_push(struct pair *p, int to_server, const uint8_t *d,
              size_t len) {
  struct net_pkt *m;

  if (len > sizeof(p->net[0].data)) {
    p->net_oversize++;
    return;
  }
  if (p->blackhole || (to_server && p->blackhole_up)) {
    p->net_dropped++;
    return;
  }
  if (p->tail - p->head >= NET_SLOTS) {
    p->net_overflow++; /* a lost packet, as on any network */
    return;
  }
  m = &p->net[p->tail++ % NET_SLOTS];
  m->to_server = to_server;
  m->len = len;
  memcpy(m->data, d, len);
}

static int same_addr(const struct sockaddr *a, socklen_t alen,
                     const struct sockaddr_in *b) {
  const struct sockaddr_in *sin = (const struct sockaddr_in *)a;

  return alen == sizeof(*b) && sin->sin_family == AF_INET &&
         sin->sin_port == b->sin_port &&
         sin->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* --- callbacks ----------------------------------------------------------- */

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct endpoint *ep = user;
  struct pair *p = ep->pair;

  (void)ecn;
  if (ep->refuse_sends > 0) {
    ep->refuse_sends--;
    return JVPN_ERR_AGAIN;
  }
  if (!same_addr(path->remote, path->remote_len,
                 ep->is_server ? &p->caddr : &p->saddr))
    p->bad_path++;
  if (seg == 0 || seg >= len)
    seg = len;
  while (len > 0) {
    size_t n = len < seg ? len : seg;

    net_push(p, !ep->is_server, data, n);
    data += n;
    len -= n;
  }
  return 0;
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct endpoint *ep = user;

  ep->verify_calls++;
  memcpy(ep->seen_pin, pin, JVPN_PIN_LEN);
  return memcmp(pin, ep->accept_pin, JVPN_PIN_LEN) == 0 ? 0 : -1;
}

static void on_cid_add(void *user, const struct quic_cid *cid) {
  struct endpoint *ep = user;

  if (ep->ncids >= CID_MAX) {
    ep->cid_errors++;
    return;
  }
  ep->cids[ep->ncids++] = *cid;
}

static void on_cid_remove(void *user, const struct quic_cid *cid) {
  struct endpoint *ep = user;
  size_t i;

  for (i = 0; i < ep->ncids; i++)
    if (ep->cids[i].len == cid->len &&
        memcmp(ep->cids[i].data, cid->data, cid->len) == 0) {
      ep->cids[i] = ep->cids[--ep->ncids];
      return;
    }
  ep->cid_errors++; /* removed twice, or never added */
}

static void on_tunnel_request(void *user, const struct quic_tunnel_req *req,
                              struct quic_tunnel_resp *resp) {
  struct endpoint *ep = user;

  ep->tunnel_requests++;
  ep->attach_seen = req->attach != NULL;
  ep->attach_len = req->attach_len < sizeof(ep->attach) ? req->attach_len : 0;
  if (req->attach)
    memcpy(ep->attach, req->attach, ep->attach_len);
  ep->req_version_len =
      req->version_len < sizeof(ep->req_version) ? req->version_len : 0;
  if (req->version)
    memcpy(ep->req_version, req->version, ep->req_version_len);
  resp->status = ep->tunnel_status;
  snprintf(resp->session, sizeof(resp->session), "%s", "test-session-id");
  snprintf(resp->version, sizeof(resp->version), "%s", "3");
}

static long on_attach_header(void *user, char *buf, size_t len, char *version,
                             size_t version_len) {
  struct endpoint *ep = user;

  if (!ep->send_attach)
    return 0;
  snprintf(version, version_len, "%s", "7");
  return snprintf(buf, len, "%s", "v=1; test");
}

static void on_tunnel_open(void *user, const char *session, size_t len,
                           const char *version, size_t version_len) {
  struct endpoint *ep = user;

  ep->tunnel_opens++;
  ep->session_len = len;
  ep->version_len = version_len;
  if (version && version_len < sizeof(ep->version)) {
    memcpy(ep->version, version, version_len);
    ep->version[version_len] = '\0';
  }
  if (session && len < sizeof(ep->session)) {
    memcpy(ep->session, session, len);
    ep->session[len] = '\0';
  }
}

static void on_tunnel_refused(void *user, int status) {
  struct endpoint *ep = user;

  ep->refused_status = status;
}

static void send_recorded(struct endpoint *ep, uint64_t type, const uint8_t *v,
                          size_t len) {
  int rv = quic_conn_send_capsule(ep->qc, type, v, len);

  if (rv != 0)
    ep->send_rv = rv;
  if (ep->nsent < REC_MAX)
    rec_put(&ep->sent[ep->nsent++], type, v, len);
}

/* As src/server.c: the address this client gets for each family it asked
 * for, then the routes. */
static int answer_address_request(struct endpoint *ep,
                                  const struct cip_addr *req, size_t n) {
  static const uint8_t v4[4] = {198, 18, 100, 2};
  static const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0,
                                 0,    0, 0, 0, 0, 0, 0, 2};
  struct cip_addr out[JVPN_CIP_MAX_ADDRS];
  struct cip_range routes[2];
  uint8_t val[512];
  size_t i;
  long len;

  memset(out, 0, sizeof(out));
  for (i = 0; i < n; i++) {
    out[i].request_id = req[i].request_id;
    out[i].ip_version = req[i].ip_version;
    out[i].prefix_len = req[i].ip_version == 4 ? 32 : 128;
    memcpy(out[i].addr, req[i].ip_version == 4 ? v4 : v6,
           req[i].ip_version == 4 ? 4 : 16);
  }
  len = cip_addrs_encode(val, sizeof(val), out, n);
  if (len < 0)
    return (int)len;
  send_recorded(ep, JVPN_CAPSULE_ADDRESS_ASSIGN, val, (size_t)len);
  cip_range_from_prefix(&routes[0], 4, v4, 0);
  cip_range_from_prefix(&routes[1], 6, v6, 0);
  len = cip_routes_encode(val, sizeof(val), routes, 2);
  if (len < 0)
    return (int)len;
  send_recorded(ep, JVPN_CAPSULE_ROUTE_ADVERTISEMENT, val, (size_t)len);
  return 0;
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct endpoint *ep = user;
  struct cip_addr req[JVPN_CIP_MAX_ADDRS];
  size_t n;

  if (ep->ncap < REC_MAX)
    rec_put(&ep->cap[ep->ncap], type, value, len);
  ep->ncap++;
  if (!ep->is_server || type != JVPN_CAPSULE_ADDRESS_REQUEST)
    return 0;
  /* As src/server.c: an undecodable request makes the message malformed. */
  if (cip_addrs_decode(value, len, req, JVPN_CIP_MAX_ADDRS, &n) != 0)
    return JVPN_ERR_MALFORMED;
  return ep->answer_requests ? answer_address_request(ep, req, n) : 0;
}

static void on_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct endpoint *ep = user;

  if (ep->nip < REC_MAX)
    rec_put(&ep->ip[ep->nip], 0, pkt, len);
  ep->nip++;
  ep->ip_hash = fnv(ep->ip_hash, pkt, len);
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct endpoint *ep = user;

  ep->closed_calls++;
  ep->why = why;
  snprintf(ep->detail, sizeof(ep->detail), "%s", detail ? detail : "(null)");
}

static const struct quic_conn_ops test_ops = {
    .send = on_send,
    .verify_peer = on_verify_peer,
    .cid_add = on_cid_add,
    .cid_remove = on_cid_remove,
    .tunnel_request = on_tunnel_request,
    .attach_header = on_attach_header,
    .tunnel_open = on_tunnel_open,
    .tunnel_refused = on_tunnel_refused,
    .capsule = on_capsule,
    .ip_packet = on_ip_packet,
    .closed = on_closed,
};

/* --- pair set-up and the pump -------------------------------------------- */

static void make_sin(struct sockaddr_in *sin, const char *ip, uint16_t port) {
  memset(sin, 0, sizeof(*sin));
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

/* Defaults: the client has the known identity and expects the server's;
 * the server admits the client's pin and answers address requests. */
void pair_init(struct pair *p) {
  memset(p, 0, sizeof(*p));
  p->net = calloc(NET_SLOTS, sizeof(*p->net));
  assert_non_null(p->net);
  p->now = 1 * NGTCP2_SECONDS;
  make_sin(&p->caddr, "198.18.0.2", 5000);
  make_sin(&p->saddr, "198.18.0.1", 443);
  p->cli_cred = ids.cred[ID_CLIENT];
  p->cli.pair = p->srv.pair = p;
  p->srv.is_server = 1;
  p->cli.accept_pin = ids.pin[ID_SERVER];
  p->srv.accept_pin = ids.pin[ID_CLIENT];
  p->srv.answer_requests = 1;
  p->cli.ip_hash = p->srv.ip_hash = FNV_OFFSET;
}

/* Frees both conns; returns nonzero if the server's CID bookkeeping (the
 * cid_add/cid_remove contract) went wrong. */
int pair_free(struct pair *p) {
  int bad;

  quic_conn_del(p->cli.qc);
  quic_conn_del(p->srv.qc);
  p->cli.qc = p->srv.qc = NULL;
  bad = p->srv.ncids != 0 || p->srv.cid_errors != 0;
  free(p->net);
  p->net = NULL;
  return bad;
}

void pair_start(struct pair *p) {
  struct quic_conn_config cfg;

  memset(&cfg, 0, sizeof(cfg));
  cfg.is_server = 0;
  cfg.cred = p->cli_cred;
  cfg.sni = "vpn.test";
  cfg.cc = JVPN_CC_CUBIC;
  cfg.ops = &test_ops;
  cfg.user = &p->cli;
  cfg.log_ctx = "test-client";
  cfg.silence.disabled = p->no_silence;
  cfg.keep_nghttp3 = p->keep_nghttp3;
  assert_int_equal(
      quic_conn_client_new(&p->cli.qc, &cfg, (const struct sockaddr *)&p->caddr,
                           sizeof(p->caddr), (const struct sockaddr *)&p->saddr,
                           sizeof(p->saddr), p->now),
      0);
}

/* As src/server.c: the first packet creates the server conn. */
static void server_accept(struct pair *p, const struct net_pkt *m) {
  struct quic_conn_config cfg;
  struct quic_initial in;

  if (quic_pkt_accept(&in, m->data, m->len) != 0)
    return;
  memset(&cfg, 0, sizeof(cfg));
  cfg.is_server = 1;
  cfg.cred = ids.cred[ID_SERVER];
  cfg.ops = &test_ops;
  cfg.user = &p->srv;
  cfg.log_ctx = "test-server";
  cfg.silence.disabled = p->no_silence;
  cfg.keep_nghttp3 = p->keep_nghttp3;
  assert_int_equal(quic_conn_server_new(&p->srv.qc, &cfg, &in,
                                        (const struct sockaddr *)&p->saddr,
                                        sizeof(p->saddr),
                                        (const struct sockaddr *)&p->caddr,
                                        sizeof(p->caddr), p->now),
                   0);
}

void net_deliver(struct pair *p, const struct net_pkt *m) {
  struct quic_conn *qc;
  const struct sockaddr_in *local, *remote;

  if (m->to_server) {
    if (p->srv.qc == NULL)
      server_accept(p, m);
    qc = p->srv.qc;
    local = &p->saddr;
    remote = &p->caddr;
  } else {
    qc = p->cli.qc;
    local = &p->caddr;
    remote = &p->saddr;
  }
  if (qc == NULL)
    return;
  /* A fatal result has already been reported through ops->closed, which
   * is what the tests look at. */
  (void)quic_conn_read(qc, (const struct sockaddr *)local, sizeof(*local),
                       (const struct sockaddr *)remote, sizeof(*remote), 0,
                       m->data, m->len, p->now);
}

void write_both(struct pair *p) {
  /* JVPN_ERR_AGAIN (refuse_sends) leaves the batch for the next write; a
   * fatal result is reported through ops->closed. */
  if (p->cli.qc)
    (void)quic_conn_write(p->cli.qc, p->now);
  if (p->srv.qc)
    (void)quic_conn_write(p->srv.qc, p->now);
}

static uint64_t expiry_of(struct quic_conn *qc) {
  return qc ? quic_conn_expiry(qc) : UINT64_MAX;
}

void run_timers(struct pair *p) {
  if (p->cli.qc && quic_conn_expiry(p->cli.qc) <= p->now)
    (void)quic_conn_handle_expiry(p->cli.qc, p->now);
  if (p->srv.qc && quic_conn_expiry(p->srv.qc) <= p->now)
    (void)quic_conn_handle_expiry(p->srv.qc, p->now);
}

/* Runs the network until |done| holds (NULL: until nothing is in flight
 * and no timer is due within SETTLE_NS). Returns whether it held. */
int pump(struct pair *p, pair_cond done) {
  int i;

  for (i = 0; i < PUMP_MAX_STEPS; i++) {
    uint64_t exp;

    if (done && done(p))
      break;
    write_both(p);
    if (p->head != p->tail) {
      size_t end = p->tail; /* what is queued now; replies wait a turn */

      p->now += NET_DELAY_NS;
      while (p->head != end)
        net_deliver(p, &p->net[p->head++ % NET_SLOTS]);
    } else {
      exp = expiry_of(p->cli.qc);
      if (expiry_of(p->srv.qc) < exp)
        exp = expiry_of(p->srv.qc);
      if (exp == UINT64_MAX)
        break; /* both closed: nothing can happen any more */
      if (done == NULL && exp > p->now + SETTLE_NS)
        break;
      if (exp > p->now)
        p->now = exp;
    }
    run_timers(p);
  }
  assert_int_equal(p->bad_path, 0);
  assert_int_equal(p->net_oversize, 0);
  return done ? done(p) : 1;
}

/* Handshake, CONNECT-IP, ADDRESS_REQUEST -> ADDRESS_ASSIGN + routes. */
int tunnel_ready(const struct pair *p) {
  return p->cli.tunnel_opens > 0 && p->cli.ncap >= 2;
}

int both_closed(const struct pair *p) {
  return p->cli.closed_calls > 0 && p->srv.closed_calls > 0;
}

int client_closed(const struct pair *p) {
  return p->cli.closed_calls > 0;
}

/* PMTUD finished on both ends. */
int both_settled(const struct pair *p) {
  return quic_conn_pmtu_settled(p->cli.qc) && quic_conn_pmtu_settled(p->srv.qc);
}

/* Opens the tunnel and lets PMTUD settle on both ends (the loop network
 * carries 1452-byte packets), so datagrams are full size. */
void pair_open(struct pair *p) {
  pair_start(p);
  assert_true(pump(p, tunnel_ready));
  assert_true(pump(p, both_settled));
  assert_int_equal(p->cli.closed_calls, 0);
  assert_int_equal(p->srv.closed_calls, 0);
  assert_int_equal(p->srv.send_rv, 0);
  /* Let the last ACKs through so later steps start from a quiet link. */
  pump(p, NULL);
  /* Both ends released nghttp3 once the request was answered (D49). */
  assert_int_equal(quic_conn_get_stats(p->cli.qc)->h3_released,
                   !p->keep_nghttp3);
  assert_int_equal(quic_conn_get_stats(p->srv.qc)->h3_released,
                   !p->keep_nghttp3);
}

/* A valid IPv4/UDP packet of |len| bytes whose payload depends on |seq|. */
void build_ipv4(uint8_t *pkt, size_t len, int upstream, uint32_t seq) {
  static const uint8_t client_ip[4] = {198, 18, 100, 2};
  static const uint8_t remote_ip[4] = {198, 18, 0, 1};
  uint32_t sum = 0;
  size_t i;

  assert_true(len >= 28 && len <= 0xffff);
  memset(pkt, 0, len);
  pkt[0] = 0x45;
  pkt[2] = (uint8_t)(len >> 8);
  pkt[3] = (uint8_t)len;
  pkt[4] = (uint8_t)(seq >> 8);
  pkt[5] = (uint8_t)seq;
  pkt[8] = 64;
  pkt[9] = 17;
  memcpy(pkt + 12, upstream ? client_ip : remote_ip, 4);
  memcpy(pkt + 16, upstream ? remote_ip : client_ip, 4);
  for (i = 0; i < 20; i += 2)
    sum += (uint32_t)pkt[i] << 8 | pkt[i + 1];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  pkt[10] = (uint8_t)(~sum >> 8);
  pkt[11] = (uint8_t)~sum;
  pkt[20] = 0x13; /* UDP 5000 -> 9, no checksum (allowed over IPv4) */
  pkt[21] = 0x88;
  pkt[23] = 9;
  pkt[24] = (uint8_t)((len - 20) >> 8);
  pkt[25] = (uint8_t)(len - 20);
  for (i = 28; i < len; i++)
    pkt[i] = (uint8_t)(seq * 31 + i);
}

/* --- fixtures ------------------------------------------------------------ */

static void rm_identity(const char *dir) {
  char path[160];

  snprintf(path, sizeof(path), "%s/key.pem", dir);
  (void)unlink(path); /* may not exist if generation failed */
  snprintf(path, sizeof(path), "%s/cert.pem", dir);
  (void)unlink(path);
  (void)rmdir(dir);
}

int quic_pair_group_setup(void **state) {
  char err[256], cert[160], key[160];
  int i;

  (void)state;
  jvpn_log_set_level(getenv("TEST_QUIC_LOG") ? JVPN_LOG_TRACE : JVPN_LOG_ERROR);
  if (tls_identity_global_init() != 0)
    return -1;
  snprintf(ids.base, sizeof(ids.base), "/tmp/test_quic_conn.XXXXXX");
  if (mkdtemp(ids.base) == NULL)
    return -1;
  for (i = 0; i < ID_COUNT; i++) {
    snprintf(ids.dir[i], sizeof(ids.dir[i]), "%s/%s", ids.base, id_names[i]);
    if (tls_identity_generate(ids.dir[i], id_names[i], ids.pin[i], err,
                              sizeof(err)) != 0) {
      fprintf(stderr, "identity %s: %s\n", id_names[i], err);
      return -1;
    }
    snprintf(cert, sizeof(cert), "%s/cert.pem", ids.dir[i]);
    snprintf(key, sizeof(key), "%s/key.pem", ids.dir[i]);
    if (tls_identity_cred_load(&ids.cred[i], cert, key, err, sizeof(err)) !=
        0)
      return -1;
  }
  return 0;
}

int quic_pair_group_teardown(void **state) {
  int i;

  (void)state;
  for (i = 0; i < ID_COUNT; i++) {
    tls_identity_cred_del(ids.cred[i]);
    ids.cred[i] = NULL;
    if (ids.dir[i][0])
      rm_identity(ids.dir[i]);
  }
  if (ids.base[0])
    (void)rmdir(ids.base);
  tls_identity_global_deinit();
  return 0;
}

int quic_pair_setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));

  if (f == NULL)
    return -1;
  pair_init(&f->p[0]);
  pair_init(&f->p[1]);
  *state = f;
  return 0;
}

int quic_pair_teardown(void **state) {
  struct fixture *f = *state;
  int bad = pair_free(&f->p[0]) | pair_free(&f->p[1]);

  free(f);
  if (bad)
    fprintf(stderr, "server CIDs not retired exactly once\n");
  return bad ? -1 : 0;
}
