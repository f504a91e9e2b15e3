/*
 * tests/unit/test_h2_tunnel: h2_tunnel without TLS or a socket, against a
 * raw nghttp2 peer that does what an h2_conn peer never does (so
 * test_h2_conn cannot): a second request on the connection, a server
 * without extended CONNECT, an interim response, malformed or scoped
 * requests, a request stream that ends early or inside a capsule. And the
 * capsule buffer's bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/cip_request.h"
#include "quic/h2_conn_int.h"
#include "quic/h2_tunnel.h"

/* --- the program --------------------------------------------------------- */

static struct {
  int requests, opens, refused, capsules;
  int refuse_with;
} prog;

static void tunnel_request(void *user, const struct quic_tunnel_req *req,
                           struct quic_tunnel_resp *resp) {
  (void)user;
  (void)req;
  prog.requests++;
  resp->status = prog.refuse_with;
}

static void tunnel_open(void *user, const char *session, size_t len,
                        const char *version, size_t version_len) {
  (void)user;
  (void)session;
  (void)len;
  (void)version;
  (void)version_len;
  prog.opens++;
}

static void tunnel_refused(void *user, int status) {
  (void)user;
  prog.refused = status;
}

static int capsule(void *user, uint64_t type, const uint8_t *value,
                   size_t len) {
  (void)user;
  (void)type;
  (void)value;
  (void)len;
  prog.capsules++;
  return 0;
}

static void ip_packet(void *user, const uint8_t *pkt, size_t len) {
  (void)user;
  (void)pkt;
  (void)len;
}

static const struct quic_conn_ops ops = {
    .tunnel_request = tunnel_request,
    .tunnel_open = tunnel_open,
    .tunnel_refused = tunnel_refused,
    .capsule = capsule,
    .ip_packet = ip_packet,
};

/* --- the raw peer -------------------------------------------------------- */

struct peer {
  nghttp2_session *s;
  int32_t rst_stream;
  uint32_t rst_code;
  int status[4];
  int nstatus;
  int goaway;
};

static int peer_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  struct peer *p = ud;

  (void)s;
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    p->rst_stream = f->hd.stream_id;
    p->rst_code = f->rst_stream.error_code;
  } else if (f->hd.type == NGHTTP2_GOAWAY) {
    p->goaway = 1;
  }
  return 0;
}

static int peer_header(nghttp2_session *s, const nghttp2_frame *f,
                       const uint8_t *name, size_t namelen,
                       const uint8_t *value, size_t valuelen, uint8_t flags,
                       void *ud) {
  struct peer *p = ud;

  (void)s;
  (void)f;
  (void)flags;
  if (namelen == 7 && memcmp(name, ":status", 7) == 0 && p->nstatus < 4)
    p->status[p->nstatus++] = valuelen == 3 ? atoi((const char *)value) : -1;
  return 0;
}

static void peer_new(struct peer *p, int server) {
  nghttp2_session_callbacks *cb;

  memset(p, 0, sizeof(*p));
  assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, peer_frame);
  nghttp2_session_callbacks_set_on_header_callback(cb, peer_header);
  assert_int_equal(server ? nghttp2_session_server_new(&p->s, cb, p)
                          : nghttp2_session_client_new(&p->s, cb, p),
                   0);
  nghttp2_session_callbacks_del(cb);
}

/* A tunnel end: server (the peer is a client) or client. */
static struct h2_conn *tunnel_new(int server) {
  struct h2_conn *c = calloc(1, sizeof(*c));

  assert_non_null(c);
  c->cap = malloc(H2_CONN_CAPSULE_CAP);
  assert_non_null(c->cap);
  c->cfg.is_server = server;
  c->cfg.ops = &ops;
  c->cfg.authority = "vpn.example";
  c->stream = -1;
  assert_int_equal(h2_tunnel_start(c), 0);
  return c;
}

static void tunnel_del(struct h2_conn *c) {
  h2_tunnel_free(c);
  free(c->cap);
  free(c);
}

/* Moves bytes both ways until neither side has more. */
static void exchange(struct h2_conn *c, struct peer *p) {
  const uint8_t *d;
  ssize_t n;
  long m;
  int round, moved;

  for (round = 0; round < 50; round++) {
    moved = 0;
    while ((n = nghttp2_session_mem_send(p->s, &d)) > 0) {
      moved = 1;
      (void)h2_tunnel_recv(c, d, (size_t)n);
    }
    assert_true(n == 0);
    while ((m = h2_tunnel_pull(c, &d)) > 0) {
      moved = 1;
      assert_int_equal(nghttp2_session_mem_recv(p->s, d, (size_t)m), m);
    }
    if (!moved)
      return;
  }
  fail_msg("the exchange does not settle");
}

/* A client peer's request: the module's own fields, with |name| replaced
 * by |value| (NULL: removed). Returns the stream ID. */
static int32_t request(struct peer *p, const char *name, const char *value,
                       int end_stream) {
  struct cip_attach a;
  struct cip_nv cnv[CIP_REQUEST_MAX_NV];
  nghttp2_nv nv[CIP_REQUEST_MAX_NV];
  size_t n, i, k = 0;
  int32_t sid;

  memset(&a, 0, sizeof(a));
  n = cip_request_nv(cnv, "vpn.example", &a);
  for (i = 0; i < n; i++) {
    const char *v = cnv[i].value;
    size_t vlen = cnv[i].value_len;

    if (name && strcmp(cnv[i].name, name) == 0) {
      if (value == NULL)
        continue;
      v = value;
      vlen = strlen(value);
    }
    nv[k++] = (nghttp2_nv){(uint8_t *)cnv[i].name, (uint8_t *)v,
                           cnv[i].name_len, vlen, NGHTTP2_NV_FLAG_NONE};
  }
  sid = nghttp2_submit_headers(
      p->s, end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE, -1,
      NULL, nv, k, NULL);
  assert_true(sid > 0);
  return sid;
}

/* A server end and a client peer that has its SETTINGS. */
static struct h2_conn *server_with_client(struct peer *p) {
  struct h2_conn *c = tunnel_new(1);

  peer_new(p, 0);
  assert_int_equal(nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, NULL, 0),
                   0);
  exchange(c, p);
  assert_int_equal(nghttp2_session_get_remote_settings(
                       p->s, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL),
                   1);
  return c;
}

static void end(struct h2_conn *c, struct peer *p) {
  nghttp2_session_del(p->s);
  tunnel_del(c);
}

static int reset(void **state) {
  (void)state;
  memset(&prog, 0, sizeof(prog));
  return 0;
}

/* --- the server ---------------------------------------------------------- */

/* One tunnel per connection: a second request is refused, the first one
 * stays open. */
static void test_second_request_refused(void **state) {
  struct peer p;
  struct h2_conn *c = server_with_client(&p);
  int32_t s1, s2;

  (void)state;
  s1 = request(&p, NULL, NULL, 0);
  exchange(c, &p);
  assert_int_equal(p.nstatus, 1);
  assert_int_equal(p.status[0], 200);
  assert_true(c->tunnel_open);
  s2 = request(&p, NULL, NULL, 0);
  exchange(c, &p);
  assert_int_equal(p.rst_stream, s2);
  assert_int_equal(p.rst_code, NGHTTP2_REFUSED_STREAM);
  assert_int_equal(prog.requests, 1);
  assert_int_equal(c->stream, s1);
  assert_true(c->tunnel_open);
  assert_int_equal(c->fail, QUIC_END_NONE);
  end(c, &p);
}

/* A request the checks refuse: the stream is reset with PROTOCOL_ERROR
 * and the tunnel fails; the program is never asked. */
static void test_malformed_request(void **state) {
  struct peer p;
  struct h2_conn *c = server_with_client(&p);
  int32_t sid;

  (void)state;
  sid = request(&p, "capsule-protocol", NULL, 0);
  exchange(c, &p);
  assert_int_equal(p.rst_stream, sid);
  assert_int_equal(p.rst_code, NGHTTP2_PROTOCOL_ERROR);
  assert_int_equal(c->fail, QUIC_END_PROTOCOL);
  assert_string_equal(c->fail_why,
                      "malformed CONNECT-IP request (RFC 9484 3)");
  assert_false(c->tunnel_open);
  assert_int_equal(prog.requests, 0);
  end(c, &p);
}

/* A request answered without a tunnel: a scoped target (404, the
 * program not asked) or the program's refusal (403); nothing failed. */
static void answered(const char *path, int refuse, int want, int asked) {
  struct peer p;
  struct h2_conn *c = server_with_client(&p);

  prog.refuse_with = refuse;
  request(&p, path ? ":path" : NULL, path, 0);
  exchange(c, &p);
  assert_int_equal(p.nstatus, 1);
  assert_int_equal(p.status[0], want);
  assert_false(c->tunnel_open);
  assert_null(c->rx);
  assert_int_equal(c->fail, QUIC_END_NONE);
  assert_int_equal(prog.requests, asked);
  end(c, &p);
}

static void test_answered_without_tunnel(void **state) {
  (void)state;
  answered("/.well-known/masque/ip/10.0.0.1/*/", 0, 404, 0);
  answered(NULL, 403, 403, 1);
}

/* A CONNECT whose stream ends with its headers has no tunnel to carry. */
static void test_request_ends_early(void **state) {
  struct peer p;
  struct h2_conn *c = server_with_client(&p);

  (void)state;
  request(&p, NULL, NULL, 1);
  exchange(c, &p);
  assert_int_equal(c->fail, QUIC_END_PROTOCOL);
  assert_string_equal(c->fail_why, "CONNECT request ended early");
  assert_int_equal(prog.requests, 0);
  end(c, &p);
}

static ssize_t peer_data(nghttp2_session *s, int32_t sid, uint8_t *buf,
                         size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  const uint8_t *bytes = src->ptr;

  (void)s;
  (void)sid;
  (void)ud;
  assert_true(length >= bytes[0]);
  memcpy(buf, bytes + 1, bytes[0]);
  *flags = NGHTTP2_DATA_FLAG_EOF;
  return bytes[0];
}

/* The client ends the request stream: cleanly between capsules (the
 * peer closed), or inside one (malformed, RFC 9297 3.3). */
static void stream_end(const uint8_t *bytes, enum quic_conn_end want,
                       const char *why) {
  nghttp2_data_provider dp = {{.ptr = (void *)bytes}, peer_data};
  struct peer p;
  struct h2_conn *c = server_with_client(&p);
  int32_t sid;

  sid = request(&p, NULL, NULL, 0);
  exchange(c, &p);
  assert_true(c->tunnel_open);
  assert_int_equal(nghttp2_submit_data(p.s, NGHTTP2_FLAG_END_STREAM, sid, &dp),
                   0);
  exchange(c, &p);
  assert_int_equal(c->fail, want);
  assert_string_equal(c->fail_why, why);
  end(c, &p);
}

static void test_stream_end(void **state) {
  /* length-prefixed: an ADDRESS_REQUEST with an empty value */
  static const uint8_t whole[] = {2, 0x02, 0x00};
  /* an ADDRESS_ASSIGN announcing 4 bytes, with 1 */
  static const uint8_t partial[] = {3, 0x01, 0x04, 0x01};

  (void)state;
  stream_end(whole, QUIC_END_PEER_CLOSE, "peer ended the request stream");
  assert_int_equal(prog.capsules, 1);
  stream_end(partial, QUIC_END_PROTOCOL,
             "request stream ended inside a capsule");
}

/* --- the client ---------------------------------------------------------- */

/* A client end whose request went out to a server peer offering extended
 * CONNECT (|ext|), or not. */
static struct h2_conn *client_with_server(struct peer *p, int ext) {
  nghttp2_settings_entry e = {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
  struct h2_conn *c = tunnel_new(0);

  peer_new(p, 1);
  assert_int_equal(
      nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, &e, ext ? 1 : 0), 0);
  exchange(c, p);
  return c;
}

/* RFC 8441 4: no request to a server that does not offer it. */
static void test_no_extended_connect(void **state) {
  struct peer p;
  struct h2_conn *c = client_with_server(&p, 0);

  (void)state;
  assert_int_equal(c->fail, QUIC_END_PROTOCOL);
  assert_string_equal(c->fail_why,
                      "server offers no extended CONNECT (RFC 8441)");
  assert_int_equal(c->stream, -1);
  assert_null(c->rx);
  end(c, &p);
}

static void respond(struct peer *p, int32_t sid, const char *status,
                    int final) {
  nghttp2_nv nv[] = {
      {(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"capsule-protocol", (uint8_t *)"?1", 16, 2,
       NGHTTP2_NV_FLAG_NONE},
  };

  assert_int_equal(nghttp2_submit_headers(p->s, NGHTTP2_FLAG_NONE, sid, NULL,
                                          nv, final ? 2 : 1, NULL),
                   0);
}

/* An interim answer (1xx) is passed over; the final one opens. */
static void test_interim_response(void **state) {
  struct peer p;
  struct h2_conn *c = client_with_server(&p, 1);

  (void)state;
  assert_int_equal(c->stream, 1);
  assert_int_equal(c->fail, QUIC_END_NONE);
  respond(&p, c->stream, "103", 0);
  exchange(c, &p);
  assert_false(c->tunnel_open);
  assert_int_equal(prog.opens + prog.refused, 0);
  respond(&p, c->stream, "200", 1);
  exchange(c, &p);
  assert_true(c->tunnel_open);
  assert_int_equal(prog.opens, 1);
  assert_int_equal(c->fail, QUIC_END_NONE);
  end(c, &p);
}

/* A refusal ends the tunnel with the status reported. */
static void test_refused_response(void **state) {
  struct peer p;
  struct h2_conn *c = client_with_server(&p, 1);

  (void)state;
  respond(&p, c->stream, "403", 1);
  exchange(c, &p);
  assert_int_equal(prog.refused, 403);
  assert_false(c->tunnel_open);
  assert_int_equal(c->fail, QUIC_END_PROTOCOL);
  assert_int_equal(p.rst_stream, 1);
  end(c, &p);
}

/* --- the capsule buffer -------------------------------------------------- */

static void test_append_bounds(void **state) {
  static uint8_t big[H2_CONN_CAPSULE_CAP + 1];
  struct h2_conn *c = tunnel_new(1);

  (void)state;
  /* more than the cap at once, or on top of what waits: refused whole */
  assert_int_equal(h2_tunnel_append(c, big, 101, 100), JVPN_ERR_FULL);
  assert_int_equal(h2_tunnel_append(c, big, 60, 100), 0);
  assert_int_equal(h2_tunnel_append(c, big, 41, 100), JVPN_ERR_FULL);
  assert_int_equal(h2_tunnel_append(c, big, 40, 100), 0);
  assert_int_equal(c->cap_len, 100);
  /* a cap above the buffer's size is the buffer's size */
  c->cap_len = 0;
  assert_int_equal(
      h2_tunnel_append(c, big, sizeof(big), 2 * H2_CONN_CAPSULE_CAP),
      JVPN_ERR_FULL);
  assert_int_equal(
      h2_tunnel_append(c, big, H2_CONN_CAPSULE_CAP, SIZE_MAX), 0);
  assert_int_equal(h2_tunnel_append(c, big, 1, SIZE_MAX), JVPN_ERR_FULL);
  tunnel_del(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_second_request_refused, reset),
      cmocka_unit_test_setup(test_malformed_request, reset),
      cmocka_unit_test_setup(test_answered_without_tunnel, reset),
      cmocka_unit_test_setup(test_request_ends_early, reset),
      cmocka_unit_test_setup(test_stream_end, reset),
      cmocka_unit_test_setup(test_no_extended_connect, reset),
      cmocka_unit_test_setup(test_interim_response, reset),
      cmocka_unit_test_setup(test_refused_response, reset),
      cmocka_unit_test_setup(test_append_bounds, reset),
  };

  jvpn_log_set_level(JVPN_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
