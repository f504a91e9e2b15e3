/*
 * quic/h2_tunnel: nghttp2 under an h2_conn, the extended CONNECT request
 * and the capsule stream in its DATA frames.
 */
#include "quic/h2_tunnel.h"

#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/h2_conn_int.h"

/* --- the capsules we send: a ring feeding the data provider ------------ */

static ssize_t read_capsules(nghttp2_session *s, int32_t sid, uint8_t *buf,
                             size_t length, uint32_t *flags,
                             nghttp2_data_source *src, void *ud) {
  struct h2_conn *c = ud;
  size_t n = length < c->cap_len ? length : c->cap_len;
  size_t first = H2_CONN_CAPSULE_CAP - c->cap_head;

  (void)s;
  (void)sid;
  (void)src;
  *flags = NGHTTP2_DATA_FLAG_NONE; /* never EOF: the stream is the tunnel */
  if (n == 0)
    return NGHTTP2_ERR_DEFERRED; /* h2_tunnel_append resumes it */
  if (first > n)
    first = n;
  memcpy(buf, c->cap + c->cap_head, first);
  memcpy(buf + first, c->cap, n - first);
  c->cap_head = (c->cap_head + n) % H2_CONN_CAPSULE_CAP;
  c->cap_len -= n;
  return (ssize_t)n;
}

int h2_tunnel_append(struct h2_conn *c, const uint8_t *data, size_t len,
                     size_t cap) {
  size_t tail, first;

  if (cap > H2_CONN_CAPSULE_CAP)
    cap = H2_CONN_CAPSULE_CAP;
  if (len > cap || c->cap_len > cap - len)
    return JVPN_ERR_FULL;
  tail = (c->cap_head + c->cap_len) % H2_CONN_CAPSULE_CAP;
  first = H2_CONN_CAPSULE_CAP - tail < len ? H2_CONN_CAPSULE_CAP - tail : len;
  memcpy(c->cap + tail, data, first);
  memcpy(c->cap, data + first, len - first);
  c->cap_len += len;
  if (c->h2 && c->stream >= 0)
    (void)nghttp2_session_resume_data(c->h2, c->stream); /* may not wait */
  return 0;
}

/* The request stream carries capsules from now on (both directions). */
static int tunnel_setup(struct h2_conn *c) {
  c->rx = malloc(sizeof(*c->rx));
  if (c->rx == NULL)
    return JVPN_ERR_NOMEM;
  cip_rx_init(c->rx, &c->stats, &c->cfg.ops, &c->cfg.user);
  return 0;
}

/* Ends the tunnel: RST_STREAM on the request stream, the connection
 * closes with |why|. */
static void tunnel_abort(struct h2_conn *c, enum quic_conn_end why,
                         uint32_t h2_error, const char *detail) {
  LOG_WARN(c->ctx, "CONNECT-IP stream aborted (HTTP/2 error %s): %s",
           nghttp2_http2_strerror(h2_error), detail);
  if (c->stream >= 0)
    (void)nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, c->stream,
                                    h2_error); /* the stream may be gone */
  c->tunnel_open = 0;
  h2_conn_fail(c, why, h2_error, detail);
}

/* --- the request (client) and its answer (server) ---------------------- */

static size_t to_nv(nghttp2_nv *out, const struct cip_nv *in, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    out[i] =
        (nghttp2_nv){(uint8_t *)in[i].name, (uint8_t *)in[i].value,
                     in[i].name_len, in[i].value_len, NGHTTP2_NV_FLAG_NONE};
  return n;
}

static int submit_status(struct h2_conn *c, int status) {
  char code[4];
  struct cip_nv cnv[CIP_RESPONSE_MAX_NV];
  nghttp2_nv nv[CIP_RESPONSE_MAX_NV];
  nghttp2_data_provider dp = {{.ptr = c}, read_capsules};
  size_t n = to_nv(nv, cnv, cip_response_nv(cnv, code, status, &c->resp));

  return nghttp2_submit_response(c->h2, c->stream, nv, n,
                                 status == 200 ? &dp : NULL);
}

static int server_answer(struct h2_conn *c, int end_stream) {
  int status;

  if (end_stream) {
    tunnel_abort(c, QUIC_END_PROTOCOL, NGHTTP2_PROTOCOL_ERROR,
                 "CONNECT request ended early");
    return 0;
  }
  status =
      cip_request_answer(&c->hdr, c->cfg.ops, c->cfg.user, &c->resp, c->ctx);
  if (status == 0) {
    tunnel_abort(c, QUIC_END_PROTOCOL, NGHTTP2_PROTOCOL_ERROR,
                 "malformed CONNECT-IP request (RFC 9484 3)");
    return 0;
  }
  c->answered = 1;
  if (status == 200) {
    if (tunnel_setup(c) != 0)
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->tunnel_open = 1;
  }
  return submit_status(c, status) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static void client_response(struct h2_conn *c) {
  char why[96];

  if (c->hdr.status >= 100 && c->hdr.status < 200) {
    cip_fields_reset(&c->hdr); /* interim: the final answer follows */
    return;
  }
  c->answered = 1;
  c->tunnel_open = c->hdr.status == 200; /* before tunnel_open's capsules */
  if (cip_response_report(&c->hdr, c->cfg.ops, c->cfg.user, why, sizeof(why),
                          c->ctx) != 0)
    tunnel_abort(c, QUIC_END_PROTOCOL, NGHTTP2_NO_ERROR, why);
}

static int client_request(struct h2_conn *c) {
  struct cip_attach a;
  struct cip_nv cnv[CIP_REQUEST_MAX_NV];
  nghttp2_nv nv[CIP_REQUEST_MAX_NV];
  nghttp2_data_provider dp = {{.ptr = c}, read_capsules};
  uint8_t val[64], caps[96];
  long n, m;
  int rv;

  if ((rv = cip_request_attach(c->cfg.ops, c->cfg.user, &a)) != 0)
    return rv;
  n = (long)to_nv(nv, cnv, cip_request_nv(cnv, c->cfg.authority, &a));
  rv = nghttp2_submit_request(c->h2, NULL, nv, (size_t)n, &dp, NULL);
  if (rv < 0)
    return JVPN_ERR_NOMEM;
  c->stream = rv;
  if ((rv = tunnel_setup(c)) != 0)
    return rv;
  n = cip_request_addresses(val, sizeof(val));
  m = n < 0 ? n
            : capsule_encode(caps, sizeof(caps), JVPN_CAPSULE_ADDRESS_REQUEST,
                             val, (size_t)n);
  if (m < 0)
    return (int)m;
  return h2_tunnel_append(c, caps, (size_t)m, H2_CONN_CAPSULE_CAP);
}

/* The server's SETTINGS: extended CONNECT must be on offer (RFC 8441 4)
 * before the request goes out. */
static void client_settings(struct h2_conn *c) {
  char why[96];
  int rv;

  if (c->stream >= 0 || c->fail != QUIC_END_NONE)
    return;
  if (!nghttp2_session_get_remote_settings(
          c->h2, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL)) {
    h2_conn_fail(c, QUIC_END_PROTOCOL, NGHTTP2_NO_ERROR,
                 "server offers no extended CONNECT (RFC 8441)");
    return;
  }
  if ((rv = client_request(c)) != 0) {
    snprintf(why, sizeof(why), "cannot send the CONNECT-IP request: %s",
             jvpn_strerror(rv));
    h2_conn_fail(c, QUIC_END_INTERNAL, NGHTTP2_INTERNAL_ERROR, why);
  }
}

/* --- nghttp2 callbacks -------------------------------------------------- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                            void *ud) {
  struct h2_conn *c = ud;

  if (!c->cfg.is_server || f->hd.type != NGHTTP2_HEADERS ||
      f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (c->stream < 0) {
    c->stream = f->hd.stream_id;
    cip_fields_reset(&c->hdr);
    return 0;
  }
  /* One tunnel per connection. */
  LOG_WARN(c->ctx, "second request on the connection refused");
  (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *ud) {
  struct h2_conn *c = ud;

  (void)s;
  (void)flags;
  if (f->hd.stream_id == c->stream && !c->answered)
    cip_fields_add(&c->hdr, c->cfg.is_server, name, namelen, value, valuelen);
  return 0;
}

static void stream_ended(struct h2_conn *c) {
  if (c->rx && cip_rx_mid_capsule(c->rx))
    tunnel_abort(c, QUIC_END_PROTOCOL, NGHTTP2_PROTOCOL_ERROR,
                 "request stream ended inside a capsule");
  else
    h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR,
                 "peer ended the request stream");
}

static int on_headers(struct h2_conn *c, const nghttp2_frame *f) {
  int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

  if (f->hd.stream_id != c->stream)
    return 0;
  if (c->answered) {
    if (end)
      stream_ended(c); /* trailers */
    return 0;
  }
  if (c->cfg.is_server)
    return server_answer(c, end);
  client_response(c);
  if (end && c->answered)
    stream_ended(c);
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  struct h2_conn *c = ud;
  char why[96];

  (void)s;
  switch (f->hd.type) {
  case NGHTTP2_SETTINGS:
    if (!c->cfg.is_server && !(f->hd.flags & NGHTTP2_FLAG_ACK))
      client_settings(c);
    return 0;
  case NGHTTP2_HEADERS: return on_headers(c, f);
  case NGHTTP2_DATA:
    if (f->hd.stream_id == c->stream && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
      stream_ended(c);
    return 0;
  case NGHTTP2_RST_STREAM:
    if (f->hd.stream_id == c->stream)
      h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR,
                   "peer reset the request stream");
    return 0;
  case NGHTTP2_GOAWAY:
    snprintf(why, sizeof(why), "peer sent GOAWAY (%s)",
             nghttp2_http2_strerror(f->goaway.error_code));
    h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR, why);
    return 0;
  default: return 0;
  }
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid,
                         const uint8_t *data, size_t len, void *ud) {
  struct h2_conn *c = ud;
  int rv;

  (void)s;
  (void)flags;
  if (sid != c->stream || c->rx == NULL || c->fail != QUIC_END_NONE)
    return 0;
  rv = cip_rx_feed(c->rx, data, len);
  /* RFC 9297 3.3: a bad capsule makes the message malformed, which RFC
   * 9113 8.1.1 answers with a stream error of type PROTOCOL_ERROR. */
  if (rv != 0) {
    c->stats.drop_malformed++;
    tunnel_abort(c, QUIC_END_PROTOCOL, NGHTTP2_PROTOCOL_ERROR,
                 cip_rx_strerror(rv));
  }
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code,
                           void *ud) {
  struct h2_conn *c = ud;
  char why[96];

  (void)s;
  if (sid != c->stream)
    return 0;
  c->tunnel_open = 0;
  /* Without an earlier reason, nghttp2 itself reset the stream (the
   * peer broke HTTP/2's rules for it). */
  snprintf(why, sizeof(why), "request stream closed (%s)",
           nghttp2_http2_strerror(code));
  h2_conn_fail(c, code ? QUIC_END_PROTOCOL : QUIC_END_PEER_CLOSE, code, why);
  return 0;
}

/* nghttp2 ends the connection itself on a connection error (RFC 9113
 * 5.4.1): its GOAWAY is our first news of it. */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  struct h2_conn *c = ud;
  char why[96];

  (void)s;
  if (f->hd.type != NGHTTP2_GOAWAY || c->fail != QUIC_END_NONE)
    return 0;
  snprintf(why, sizeof(why), "HTTP/2 connection error (%s)",
           nghttp2_http2_strerror(f->goaway.error_code));
  h2_conn_fail(c, QUIC_END_PROTOCOL, f->goaway.error_code, why);
  return 0;
}

/* --- the session --------------------------------------------------------- */

static int session_new(struct h2_conn *c) {
  nghttp2_session_callbacks *cb;
  int rv;

  if (nghttp2_session_callbacks_new(&cb) != 0)
    return JVPN_ERR_NOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  rv = c->cfg.is_server ? nghttp2_session_server_new(&c->h2, cb, c)
                        : nghttp2_session_client_new(&c->h2, cb, c);
  nghttp2_session_callbacks_del(cb);
  return rv == 0 ? 0 : JVPN_ERR_NOMEM;
}

int h2_tunnel_start(struct h2_conn *c) {
  /* Windows at their maximum in both directions (the receiver consumes
   * at once): HTTP/2 flow control never holds the tunnel back. */
  nghttp2_settings_entry server[] = {
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, NGHTTP2_MAX_WINDOW_SIZE},
  };
  nghttp2_settings_entry client[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, NGHTTP2_MAX_WINDOW_SIZE},
  };
  int rv;

  if ((rv = session_new(c)) != 0)
    return rv;
  rv = c->cfg.is_server
           ? nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, server, 2)
           : nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, client, 2);
  if (rv != 0 || nghttp2_session_set_local_window_size(
                     c->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_MAX_WINDOW_SIZE) != 0)
    return JVPN_ERR_NOMEM;
  return 0;
}

void h2_tunnel_free(struct h2_conn *c) {
  nghttp2_session_del(c->h2); /* accepts NULL */
  c->h2 = NULL;
  cip_rx_free(c->rx);
  free(c->rx);
  c->rx = NULL;
}

int h2_tunnel_recv(struct h2_conn *c, const uint8_t *data, size_t len) {
  ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
  char why[96];

  if (n < 0) {
    snprintf(why, sizeof(why), "HTTP/2: %s", nghttp2_strerror((int)n));
    h2_conn_fail(c, QUIC_END_PROTOCOL, NGHTTP2_PROTOCOL_ERROR, why);
  }
  return c->fail != QUIC_END_NONE ? JVPN_ERR_PROTO : 0;
}

long h2_tunnel_pull(struct h2_conn *c, const uint8_t **data) {
  ssize_t n = nghttp2_session_mem_send(c->h2, data);

  if (n < 0) {
    h2_conn_fail(c, QUIC_END_INTERNAL, NGHTTP2_INTERNAL_ERROR,
                 nghttp2_strerror((int)n));
    return JVPN_ERR_PROTO;
  }
  return (long)n;
}

void h2_tunnel_ping(struct h2_conn *c) {
  /* Fails only without memory: then the idle timer decides. */
  (void)nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
}

void h2_tunnel_goaway(struct h2_conn *c, uint32_t h2_error) {
  /* Fails after nghttp2's own GOAWAY: that one stands. */
  (void)nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->h2),
                              h2_error, NULL, 0);
}
