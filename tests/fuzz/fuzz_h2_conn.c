/*
 * tests/fuzz/fuzz_h2_conn: either side of the HTTP/2 fallback as the
 * peer's decrypted bytes reach it: nghttp2, the CONNECT-IP request's
 * checks or its response's, and the capsule stream (quic/h2_tunnel,
 * quic/cip_request, quic/cip_stream), without TLS or a socket.
 *
 * The first byte picks the role and a start, and is not fed:
 *  - bit 1 clear, the server: with bit 0 set, the input follows a
 *    well-formed client start (preface, SETTINGS and an accepted
 *    CONNECT-IP request on stream 1), so it reaches the request stream's
 *    DATA (the seeds hold DATA frames with capsules);
 *  - bit 1 set, the client (after its preface and SETTINGS): with bit 0
 *    set, the input follows the server's SETTINGS (extended CONNECT on
 *    offer), so it reaches the answer to the request it sent; with bits
 *    0 and 2 set, it follows a 200 answer too and reaches the capsules
 *    (IP packets, ADDRESS_ASSIGN, ROUTE_ADVERTISEMENT, DNS_ASSIGN), which
 *    the client decodes as src/client.c does.
 * Without bit 0 the input is fed alone. Input goes in pieces whose sizes
 * come from its own bytes, and after each piece everything our side wants
 * to send is pulled, as h2_conn does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/cip_request.h"
#include "quic/connect_ip.h"
#include "quic/connect_ip_dns.h"
#include "quic/h2_conn_int.h"
#include "quic/h2_tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* client: what the program has heard so far */
static struct { int opened, refused; } heard;

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

static long attach_header(void *user, char *buf, size_t len, char *version,
                          size_t version_len) {
  (void)user;
  if (len < 3 || version_len < 2)
    abort();
  memcpy(buf, "a.b", 3);
  memcpy(version, "1", 2);
  return 3;
}

static void tunnel_open(void *user, const char *session, size_t len,
                        const char *version, size_t version_len) {
  (void)user;
  if (heard.opened++ || heard.refused || (session == NULL) != (len == 0) ||
      (version == NULL) != (version_len == 0))
    abort(); /* one answer, and what it says is consistent */
}

static void tunnel_refused(void *user, int status) {
  (void)user;
  if (heard.opened || heard.refused++ || status == 200)
    abort();
}

static int capsule(void *user, uint64_t type, const uint8_t *value,
                   size_t len) {
  (void)user;
  (void)value;
  /* the program refuses some, as a strict one would */
  return type == JVPN_CAPSULE_ACTIVATE && len == 0 ? JVPN_ERR_MALFORMED : 0;
}

/* The client decodes what the server assigns (src/client.c on_capsule);
 * nothing may arrive on a tunnel the server did not accept. */
static int client_capsule(void *user, uint64_t type, const uint8_t *value,
                          size_t len) {
  struct cip_addr a[JVPN_CIP_MAX_ADDRS];
  struct cip_range r[JVPN_CIP_MAX_ROUTES];
  struct cip_dns_config dns;
  size_t n;

  (void)user;
  if (!heard.opened || heard.refused)
    abort();
  switch (type) {
  case JVPN_CAPSULE_ADDRESS_ASSIGN:
    return cip_addrs_decode(value, len, a, JVPN_CIP_MAX_ADDRS, &n) == 0
               ? 0
               : JVPN_ERR_MALFORMED;
  case JVPN_CAPSULE_ROUTE_ADVERTISEMENT:
    return cip_routes_decode(value, len, r, JVPN_CIP_MAX_ROUTES, &n) == 0
               ? 0
               : JVPN_ERR_MALFORMED;
  case JVPN_CAPSULE_DNS_ASSIGN:
    return cip_dns_decode(value, len, &dns, NULL) == 0 ? 0 : JVPN_ERR_MALFORMED;
  default: return 0;
  }
}

static void ip_packet(void *user, const uint8_t *pkt, size_t len) {
  (void)user;
  if (len == 0 || pkt == NULL)
    abort(); /* empty datagrams are dropped before */
}

static void client_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  if (!heard.opened || heard.refused)
    abort();
  ip_packet(user, pkt, len);
}

static void closed(void *user, enum quic_conn_end why, const char *detail) {
  (void)user;
  (void)why;
  (void)detail;
}

static const struct quic_conn_ops server_ops = {
    .verify_peer = verify_peer,
    .tunnel_request = tunnel_request,
    .capsule = capsule,
    .ip_packet = ip_packet,
    .closed = closed,
};

static const struct quic_conn_ops client_ops = {
    .verify_peer = verify_peer,
    .attach_header = attach_header,
    .tunnel_open = tunnel_open,
    .tunnel_refused = tunnel_refused,
    .capsule = client_capsule,
    .ip_packet = client_ip_packet,
    .closed = closed,
};

static size_t to_nv(nghttp2_nv *out, const struct cip_nv *in, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    out[i] = (nghttp2_nv){(uint8_t *)in[i].name, (uint8_t *)in[i].value,
                          in[i].name_len, in[i].value_len, 0};
  return n;
}

/* A client's first bytes: preface, SETTINGS, the CONNECT-IP request. */
static size_t client_start(uint8_t *out, size_t room) {
  nghttp2_session_callbacks *cb;
  nghttp2_session *s;
  struct cip_attach a;
  struct cip_nv cnv[CIP_REQUEST_MAX_NV];
  nghttp2_nv nv[CIP_REQUEST_MAX_NV];
  const uint8_t *d;
  size_t n, len = 0;
  ssize_t k;

  memset(&a, 0, sizeof(a));
  n = to_nv(nv, cnv, cip_request_nv(cnv, "fuzz", &a));
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

static size_t frame_header(uint8_t *out, size_t len, uint8_t type,
                           uint8_t flags, uint32_t stream) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  out[5] = (uint8_t)(stream >> 24);
  out[6] = (uint8_t)(stream >> 16);
  out[7] = (uint8_t)(stream >> 8);
  out[8] = (uint8_t)stream;
  return 9;
}

/* A server's first bytes: SETTINGS with extended CONNECT and the ACK of
 * the client's (|*settings_len| bytes), then the 200 answer to the
 * request on stream 1 (the rest). */
static size_t server_start(uint8_t *out, size_t room, size_t *settings_len) {
  static const uint8_t settings[] = {
      0x00, 0x08, 0x00, 0x00, 0x00, 0x01, /* ENABLE_CONNECT_PROTOCOL 1 */
      0x00, 0x04, 0x7f, 0xff, 0xff, 0xff, /* INITIAL_WINDOW_SIZE max */
  };
  struct quic_tunnel_resp resp;
  struct cip_nv cnv[CIP_RESPONSE_MAX_NV];
  nghttp2_nv nv[CIP_RESPONSE_MAX_NV];
  nghttp2_hd_deflater *hd;
  char code[4];
  size_t n, len;
  ssize_t k;

  memset(&resp, 0, sizeof(resp));
  memcpy(resp.session, "s", 2);
  memcpy(resp.version, "1", 2);
  n = to_nv(nv, cnv, cip_response_nv(cnv, code, 200, &resp));
  len = frame_header(out, sizeof(settings), NGHTTP2_SETTINGS, 0, 0);
  memcpy(out + len, settings, sizeof(settings));
  len += sizeof(settings);
  len += frame_header(out + len, 0, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0);
  *settings_len = len;
  if (nghttp2_hd_deflate_new(&hd, 4096) != 0)
    abort();
  k = nghttp2_hd_deflate_hd(hd, out + len + 9, room - len - 9, nv, n);
  nghttp2_hd_deflate_del(hd);
  if (k < 0)
    abort();
  len += frame_header(out + len, (size_t)k, NGHTTP2_HEADERS,
                      NGHTTP2_FLAG_END_HEADERS, 1);
  return len + (size_t)k;
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
  static uint8_t cstart[1024], sstart[1024];
  static size_t cstart_len, sstart_len, settings_len;
  static const uint8_t caps[] = {0x00, 0x03, 0x00, 0x45, 0x00};
  struct h2_conn *c = calloc(1, sizeof(*c));
  uint8_t mode = size > 0 ? data[0] : 0;
  int client = (mode & 2) != 0;

  if (cstart_len == 0) {
    jvpn_log_set_level(JVPN_LOG_ERROR); /* a warning per input: slow */
    cstart_len = client_start(cstart, sizeof(cstart));
    sstart_len = server_start(sstart, sizeof(sstart), &settings_len);
  }
  if (c == NULL || (c->cap = malloc(H2_CONN_CAPSULE_CAP)) == NULL)
    abort();
  memset(&heard, 0, sizeof(heard));
  c->cfg.is_server = !client;
  c->cfg.ops = client ? &client_ops : &server_ops;
  c->stream = -1;
  if (h2_tunnel_start(c) != 0)
    abort();
  drain(c); /* our preface and SETTINGS */
  if (size > 0) {
    data++;
    size--;
  }
  if ((mode & 1) && !client) {
    feed(c, cstart, cstart_len);
  } else if (mode & 1) {
    /* the request goes out on the SETTINGS, before its answer arrives */
    feed(c, sstart, settings_len);
    if (mode & 4)
      feed(c, sstart + settings_len, sstart_len - settings_len);
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
