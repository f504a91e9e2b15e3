/*
 * tests/fuzz/fuzz_h2_conn: the server side of the HTTP/2 fallback as the
 * peer's decrypted bytes reach it: nghttp2, the CONNECT-IP request's
 * checks and the capsule stream (quic/h2_tunnel, quic/cip_request,
 * quic/cip_stream), without TLS or a socket.
 *
 * An input whose first byte is odd is fed after a well-formed client
 * start (preface, SETTINGS and an accepted CONNECT-IP request on stream
 * 1) and without that first byte, so the rest reaches the request stream's DATA
 * (the seeds hold DATA frames with capsules); an even one is fed alone. Input
 * goes in pieces whose sizes come from its own bytes, and after each piece
 * everything the server wants to send is pulled, as h2_conn does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "quic/cip_request.h"
#include "quic/h2_conn_int.h"
#include "quic/h2_tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  (void)user;
  (void)pin;
  return 0;
}

static void tunnel_request(void *user, const struct quic_tunnel_req *req,
                           struct quic_tunnel_resp *resp) {
  (void)user;
  resp->status = req->attach_len > 3 ? 403 : 0;
  memcpy(resp->session, "s", 2);
}

static int capsule(void *user, uint64_t type, const uint8_t *value,
                   size_t len) {
  (void)user;
  (void)value;
  /* the program refuses some, as a strict one would */
  return type == JVPN_CAPSULE_ACTIVATE && len == 0 ? JVPN_ERR_MALFORMED : 0;
}

static void ip_packet(void *user, const uint8_t *pkt, size_t len) {
  (void)user;
  if (len == 0 || pkt == NULL)
    abort(); /* empty datagrams are dropped before */
}

static void closed(void *user, enum quic_conn_end why, const char *detail) {
  (void)user;
  (void)why;
  (void)detail;
}

static const struct quic_conn_ops ops = {
    .verify_peer = verify_peer,
    .tunnel_request = tunnel_request,
    .capsule = capsule,
    .ip_packet = ip_packet,
    .closed = closed,
};

/* A client's first bytes: preface, SETTINGS, the CONNECT-IP request. */
static size_t client_start(uint8_t *out, size_t room) {
  nghttp2_session_callbacks *cb;
  nghttp2_session *s;
  struct cip_attach a;
  struct cip_nv cnv[CIP_REQUEST_MAX_NV];
  nghttp2_nv nv[CIP_REQUEST_MAX_NV];
  const uint8_t *d;
  size_t n, i, len = 0;
  ssize_t k;

  memset(&a, 0, sizeof(a));
  n = cip_request_nv(cnv, "fuzz", &a);
  for (i = 0; i < n; i++)
    nv[i] = (nghttp2_nv){(uint8_t *)cnv[i].name, (uint8_t *)cnv[i].value,
                         cnv[i].name_len, cnv[i].value_len, 0};
  if (nghttp2_session_callbacks_new(&cb) != 0 ||
      nghttp2_session_client_new(&s, cb, NULL) != 0)
    abort();
  nghttp2_session_callbacks_del(cb);
  if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
      nghttp2_submit_headers(s, NGHTTP2_FLAG_NONE, -1, NULL, nv, n, NULL) != 1)
    abort();
  while ((k = nghttp2_session_mem_send(s, &d)) > 0) {
    if ((size_t)k > room - len)
      abort();
    memcpy(out + len, d, (size_t)k);
    len += (size_t)k;
  }
  nghttp2_session_del(s);
  return len;
}

static void drain(struct h2_conn *c) {
  const uint8_t *d;
  int i;

  /* bounded: a stream of output ends when the capsule buffer is empty */
  for (i = 0; i < 4096 && h2_tunnel_pull(c, &d) > 0; i++)
    ;
}

static void feed(struct h2_conn *c, const uint8_t *data, size_t size) {
  size_t off = 0, k = 0, piece;

  while (off < size && c->fail == QUIC_END_NONE) {
    piece = 1 + data[k++ % size] % 256;
    if (piece > size - off)
      piece = size - off;
    (void)h2_tunnel_recv(c, data + off, piece);
    off += piece;
    drain(c);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t start[1024];
  static size_t start_len;
  static const uint8_t caps[] = {0x00, 0x03, 0x00, 0x45, 0x00};
  struct h2_conn *c = calloc(1, sizeof(*c));

  if (start_len == 0)
    start_len = client_start(start, sizeof(start));
  if (c == NULL || (c->cap = malloc(H2_CONN_CAPSULE_CAP)) == NULL)
    abort();
  c->cfg.is_server = 1;
  c->cfg.ops = &ops;
  c->stream = -1;
  if (h2_tunnel_start(c) != 0)
    abort();
  if (size > 0 && (data[0] & 1)) {
    feed(c, start, start_len);
    data++;
    size--;
  }
  feed(c, data, size);
  /* what the program may do next must not crash either */
  if (c->rx && c->fail == QUIC_END_NONE)
    (void)h2_tunnel_append(c, caps, sizeof(caps), H2_CONN_CAPSULE_CAP);
  drain(c);
  h2_tunnel_free(c);
  free(c->cap);
  free(c);
  return 0;
}
