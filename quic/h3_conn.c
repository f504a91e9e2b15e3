/*
 * quic/h3_conn: nghttp3 on top of quic_conn, the CONNECT-IP request stream,
 * its capsules and the HTTP Datagrams that carry IP packets; nghttp3's
 * release once the request is answered (D49, quic/h3_lean).
 */
#include "quic/h3_conn.h"

#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/varint.h"
#include "quic/h3_datagram.h"
#include "quic/h3_lean.h"
#include "quic/h3_tunnel.h"
#include "quic/quic_conn_int.h"

/* --- capsules ------------------------------------------------------------ */

static int tunnel_setup(struct quic_conn *c) {
  if (c->capsules == NULL) {
    c->capsules = malloc(sizeof(*c->capsules));
    if (c->capsules == NULL)
      return JVPN_ERR_NOMEM;
    cip_rx_init(c->capsules, &c->stats, &c->cfg.ops, &c->cfg.user);
  }
  c->dgram_hdr_len = h3_datagram_header(c->dgram_hdr,
                                        (uint64_t)c->tunnel_stream,
                                        JVPN_CIP_CONTEXT_IP);
  return c->dgram_hdr_len ? 0 : JVPN_ERR_INVAL;
}

/* --- nghttp3 callbacks --------------------------------------------------- */

static nghttp3_ssize read_tunnel_data(nghttp3_conn *h3, int64_t sid,
                                      nghttp3_vec *vec, size_t veccnt,
                                      uint32_t *pflags, void *ud, void *sud) {
  struct quic_conn *c = ud;
  size_t n;

  (void)h3;
  (void)sid;
  (void)sud;
  *pflags = 0; /* never EOF: the tunnel lives as long as the stream */
  if (c->sbuf_sent == c->sbuf_len)
    return NGHTTP3_ERR_WOULDBLOCK;
  /* A ring: bytes stay where they are until acknowledged, so one run
   * ends at the buffer's end and the next starts at its beginning. */
  for (n = 0; n < veccnt && c->sbuf_sent < c->sbuf_len; n++) {
    size_t at = c->sbuf_sent % QUIC_CAPSULE_SBUF;
    size_t run = QUIC_CAPSULE_SBUF - at;

    if (run > c->sbuf_len - c->sbuf_sent)
      run = c->sbuf_len - c->sbuf_sent;
    vec[n].base = c->sbuf + at;
    vec[n].len = run;
    c->sbuf_sent += run;
  }
  return (nghttp3_ssize)n;
}

static int h3_acked_cb(nghttp3_conn *h3, int64_t sid, uint64_t len, void *ud,
                       void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  if (sid == c->tunnel_stream)
    c->sbuf_acked += (size_t)len;
  return 0;
}

static int h3_stream_close_cb(nghttp3_conn *h3, int64_t sid, uint64_t code,
                              void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  if (sid == c->tunnel_stream && !c->tunnel_failed) {
    LOG_INFO(c->ctx, "CONNECT-IP stream closed by peer (H3 code 0x%llx)",
             (unsigned long long)code);
    c->tunnel_open = 0;
    c->tunnel_failed = JVPN_H3_NO_ERROR;
  }
  return 0;
}

static int h3_recv_data_cb(nghttp3_conn *h3, int64_t sid, const uint8_t *data,
                           size_t len, void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  /* nghttp3 leaves flow-control credit for body bytes to us. */
  h3_tunnel_credit(c, sid, len);
  h3_tunnel_body(c, sid, data, len);
  return 0;
}

static int h3_deferred_consume_cb(nghttp3_conn *h3, int64_t sid,
                                  size_t consumed, void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  h3_tunnel_credit(c, sid, consumed);
  return 0;
}

static int h3_begin_headers_cb(nghttp3_conn *h3, int64_t sid, void *ud,
                               void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  if (c->cfg.is_server && c->tunnel_stream < 0)
    c->tunnel_stream = sid;
  if (sid != c->tunnel_stream)
    return 0;
  /* The fields are kept only while they arrive and are answered. */
  if (c->hdr == NULL && (c->hdr = malloc(sizeof(*c->hdr))) == NULL)
    return NGHTTP3_ERR_NOMEM;
  cip_fields_reset(c->hdr);
  return 0;
}

static void fields_done(struct quic_conn *c) {
  free(c->hdr);
  c->hdr = NULL;
}

static int h3_recv_header_cb(nghttp3_conn *h3, int64_t sid, int32_t token,
                             nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                             uint8_t flags, void *ud, void *sud) {
  struct quic_conn *c = ud;
  nghttp3_vec n = nghttp3_rcbuf_get_buf(name);
  nghttp3_vec v = nghttp3_rcbuf_get_buf(value);

  (void)h3;
  (void)token;
  (void)flags;
  (void)sud;
  if (sid == c->tunnel_stream && c->hdr)
    cip_fields_add(c->hdr, c->cfg.is_server, n.base, n.len, v.base, v.len);
  return 0;
}

/* cip_request's fields as nghttp3's. */
static size_t to_nv(nghttp3_nv *out, const struct cip_nv *in, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    out[i] = (nghttp3_nv){(uint8_t *)in[i].name, (uint8_t *)in[i].value,
                          in[i].name_len, in[i].value_len,
                          NGHTTP3_NV_FLAG_NONE};
  return n;
}

/* nghttp3 copies the fields: |resp| may go once this returns. */
static int submit_status(struct quic_conn *c, int64_t sid, int status,
                         const struct quic_tunnel_resp *resp) {
  char code[4];
  struct cip_nv cnv[CIP_RESPONSE_MAX_NV];
  nghttp3_nv nv[CIP_RESPONSE_MAX_NV];
  nghttp3_data_reader dr = {read_tunnel_data};
  size_t n = to_nv(nv, cnv, cip_response_nv(cnv, code, status, resp));

  return nghttp3_conn_submit_response(c->h3, sid, nv, n,
                                      status == 200 ? &dr : NULL);
}

static int server_end_headers(struct quic_conn *c, int64_t sid) {
  struct quic_tunnel_resp resp;
  int status = c->hdr ? cip_request_answer(c->hdr, c->cfg.ops, c->cfg.user,
                                           &resp, c->ctx)
                      : 0;

  fields_done(c);
  if (status == 0) {
    h3_tunnel_abort(c, JVPN_H3_MESSAGE_ERROR,
                    "malformed CONNECT-IP request (RFC 9484 3)");
    return 0;
  }
  if (status != 200)
    return submit_status(c, sid, status, &resp);
  if (tunnel_setup(c) != 0)
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  c->tunnel_open = 1;
  return submit_status(c, sid, 200, &resp);
}

static int h3_end_headers_cb(nghttp3_conn *h3, int64_t sid, int fin, void *ud,
                             void *sud) {
  struct quic_conn *c = ud;
  char why[64];
  int rv;

  (void)h3;
  (void)sud;
  if (sid != c->tunnel_stream) {
    /* One tunnel per connection. */
    (void)ngtcp2_conn_shutdown_stream(c->conn, 0, sid, JVPN_H3_REQUEST_REJECTED);
    return 0;
  }
  if (c->cfg.is_server) {
    if (fin) {
      h3_tunnel_abort(c, JVPN_H3_MESSAGE_ERROR, "CONNECT request ended early");
      return 0;
    }
    return server_end_headers(c, sid);
  }
  if (c->hdr == NULL)
    return 0; /* no response fields to judge: begin_headers failed */
  if (c->hdr->status == 200)
    c->tunnel_open = 1; /* before the callback, which may send capsules */
  rv = cip_response_report(c->hdr, c->cfg.ops, c->cfg.user, why, sizeof(why),
                           c->ctx);
  fields_done(c);
  if (rv != 0)
    h3_tunnel_abort(c, JVPN_H3_REQUEST_REJECTED, why);
  return 0;
}

static int h3_end_stream_cb(nghttp3_conn *h3, int64_t sid, void *ud,
                            void *sud) {
  (void)h3;
  (void)sud;
  h3_tunnel_ended(ud, sid);
  return 0;
}

static int h3_stop_sending_cb(nghttp3_conn *h3, int64_t sid, uint64_t code,
                              void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  (void)ngtcp2_conn_shutdown_stream_read(c->conn, 0, sid, code);
  return 0;
}

static int h3_reset_stream_cb(nghttp3_conn *h3, int64_t sid, uint64_t code,
                              void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)h3;
  (void)sud;
  (void)ngtcp2_conn_shutdown_stream_write(c->conn, 0, sid, code);
  return 0;
}

/* --- set-up -------------------------------------------------------------- */

static int client_submit_request(struct quic_conn *c) {
  uint8_t val[64];
  struct cip_attach a;
  struct cip_nv cnv[CIP_REQUEST_MAX_NV];
  nghttp3_nv nv[CIP_REQUEST_MAX_NV];
  nghttp3_data_reader dr = {read_tunnel_data};
  int64_t sid;
  size_t nnv;
  long n;
  int rv;

  if ((rv = cip_request_attach(c->cfg.ops, c->cfg.user, &a)) != 0)
    return rv;
  nnv = to_nv(nv, cnv, cip_request_nv(cnv, c->cfg.authority, &a));
  if (ngtcp2_conn_open_bidi_stream(c->conn, &sid, NULL) != 0)
    return JVPN_ERR_QUIC;
  c->tunnel_stream = sid;
  if (nghttp3_conn_submit_request(c->h3, sid, nv, nnv, &dr, NULL) != 0)
    return JVPN_ERR_H3;
  if (tunnel_setup(c) != 0)
    return JVPN_ERR_NOMEM;
  n = cip_request_addresses(val, sizeof(val));
  if (n < 0)
    return (int)n;
  return quic_conn_send_capsule(c, JVPN_CAPSULE_ADDRESS_REQUEST, val,
                                (size_t)n);
}

/* The peer's SETTINGS (RFC 9114 7.2.4; nghttp3 has checked their form and
 * that they came first). Without H3_DATAGRAM=1 there is no tunnel (RFC
 * 9297 2.1.1); a client sends its CONNECT-IP request once it has them. */
static int h3_recv_settings_cb(nghttp3_conn *h3, const nghttp3_settings *st,
                               void *ud) {
  struct quic_conn *c = ud;
  const ngtcp2_transport_params *rp;
  int rv;

  (void)h3;
  c->peer_settings.seen = 1;
  c->peer_settings.h3_datagram = st->h3_datagram;
  c->peer_settings.connect_protocol = st->enable_connect_protocol;
  rp = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (st->h3_datagram && (rp == NULL || rp->max_datagram_frame_size == 0)) {
    /* RFC 9297 2.1.1: H3_DATAGRAM without QUIC DATAGRAM support. */
    LOG_WARN(c->ctx, "peer sent SETTINGS_H3_DATAGRAM=1 without the QUIC "
                     "max_datagram_frame_size transport parameter");
    c->stats.drop_settings++;
    h3_tunnel_app_error(c, JVPN_H3_SETTINGS_ERROR);
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  if (!st->h3_datagram) {
    LOG_ERR(c->ctx, "peer does not support HTTP Datagrams "
                    "(no SETTINGS_H3_DATAGRAM=1); cannot tunnel");
    c->stats.drop_settings++;
    h3_tunnel_app_error(c, JVPN_H3_GENERAL_PROTOCOL_ERROR);
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  LOG_DEBUG(c->ctx, "peer SETTINGS: H3_DATAGRAM=1 connect_protocol=%d",
            (int)st->enable_connect_protocol);
  if (c->cfg.is_server)
    return 0;
  /* RFC 9220 3 wants SETTINGS_ENABLE_CONNECT_PROTOCOL=1 before extended
   * CONNECT, but nghttp3 before 1.14 drops the server's value on the
   * client (st->enable_connect_protocol is always 0 here): the request
   * goes out regardless, and a server without extended CONNECT refuses it
   * with H3_MESSAGE_ERROR, which ends the tunnel with that reason
   * (docs/decisions.md D21). */
  rv = client_submit_request(c);
  if (rv != 0) {
    LOG_ERR(c->ctx, "cannot send the CONNECT-IP request: %s",
            jvpn_strerror(rv));
    h3_tunnel_app_error(c, JVPN_H3_INTERNAL_ERROR);
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

int h3_conn_start(struct quic_conn *c) {
  nghttp3_callbacks cb;
  nghttp3_settings s;
  int64_t ctrl, qenc, qdec;
  int rv;

  memset(&cb, 0, sizeof(cb));
  cb.acked_stream_data = h3_acked_cb;
  cb.stream_close = h3_stream_close_cb;
  cb.recv_data = h3_recv_data_cb;
  cb.deferred_consume = h3_deferred_consume_cb;
  cb.begin_headers = h3_begin_headers_cb;
  cb.recv_header = h3_recv_header_cb;
  cb.end_headers = h3_end_headers_cb;
  cb.end_stream = h3_end_stream_cb;
  cb.stop_sending = h3_stop_sending_cb;
  cb.reset_stream = h3_reset_stream_cb;
  cb.recv_settings = h3_recv_settings_cb;
  nghttp3_settings_default(&s);
  s.enable_connect_protocol = c->cfg.is_server;
  s.h3_datagram = 1;
  rv = c->cfg.is_server ? nghttp3_conn_server_new(&c->h3, &cb, &s, NULL, c)
                        : nghttp3_conn_client_new(&c->h3, &cb, &s, NULL, c);
  if (rv != 0)
    return JVPN_ERR_H3;
  if (c->cfg.is_server)
    nghttp3_conn_set_max_client_streams_bidi(c->h3,
                                             JVPN_QUIC_MAX_STREAMS_BIDI);
  if (ngtcp2_conn_open_uni_stream(c->conn, &ctrl, NULL) != 0 ||
      ngtcp2_conn_open_uni_stream(c->conn, &qenc, NULL) != 0 ||
      ngtcp2_conn_open_uni_stream(c->conn, &qdec, NULL) != 0)
    return JVPN_ERR_QUIC;
  if (nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 ||
      nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec) != 0)
    return JVPN_ERR_H3;
  c->ctrl_stream = ctrl;
  return 0;
}

void h3_conn_free(struct quic_conn *c) {
  if (c->h3)
    nghttp3_conn_del(c->h3);
  c->h3 = NULL;
  cip_rx_free(c->capsules);
  free(c->capsules);
  c->capsules = NULL;
}

/* --- ngtcp2 -> nghttp3 (or quic/h3_lean once it is released) ---------- */

int h3_conn_running(const struct quic_conn *c) {
  return c->h3 != NULL || c->lean.active;
}

int h3_conn_ensure(struct quic_conn *c) {
  return h3_conn_running(c) ? 0 : h3_conn_start(c);
}

int h3_conn_recv_stream(struct quic_conn *c, int64_t stream_id, int fin,
                        const uint8_t *data, size_t len) {
  nghttp3_ssize n;

  if (c->lean.active)
    return h3_lean_recv(c, stream_id, fin, data, len);
  h3_lean_observe(c, stream_id, data, len);
  n = nghttp3_conn_read_stream(c->h3, stream_id, data, len, fin);
  if (n < 0) {
    LOG_WARN(c->ctx, "HTTP/3 error on stream %lld: %s", (long long)stream_id,
             nghttp3_strerror((int)n));
    h3_tunnel_app_error(c, nghttp3_err_infer_quic_app_error_code((int)n));
    return -1;
  }
  h3_tunnel_credit(c, stream_id, (uint64_t)n);
  return 0;
}

int h3_conn_acked(struct quic_conn *c, int64_t stream_id, uint64_t offset,
                  uint64_t len) {
  (void)offset;
  if (c->lean.active) {
    h3_lean_acked(c, stream_id, len);
    return 0;
  }
  if (c->h3 == NULL)
    return 0;
  c->lean.unacked -= len < c->lean.unacked ? len : c->lean.unacked;
  return nghttp3_conn_add_ack_offset(c->h3, stream_id, len) == 0 ? 0 : -1;
}

int h3_conn_stream_close(struct quic_conn *c, int64_t stream_id,
                         uint64_t app_error) {
  int rv;

  if (c->lean.active) {
    h3_lean_stream_close(c, stream_id);
    return 0;
  }
  if (c->h3 == NULL)
    return 0;
  rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error);
  if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
    h3_tunnel_app_error(c, nghttp3_err_infer_quic_app_error_code(rv));
    return -1;
  }
  if (stream_id == c->tunnel_stream)
    h3_tunnel_abort(c, JVPN_H3_NO_ERROR, "request stream closed");
  return 0;
}

int h3_conn_stream_reset(struct quic_conn *c, int64_t stream_id) {
  if (c->lean.active)
    return h3_lean_stream_reset(c, stream_id);
  if (c->h3 == NULL)
    return 0;
  if (stream_id == c->tunnel_stream)
    h3_tunnel_abort(c, JVPN_H3_NO_ERROR, "peer reset the request stream");
  return nghttp3_conn_shutdown_stream_read(c->h3, stream_id) == 0 ? 0 : -1;
}

int h3_conn_unblock(struct quic_conn *c, int64_t stream_id) {
  if (c->lean.active) {
    h3_lean_unblock(c, stream_id);
    return 0;
  }
  if (c->h3 == NULL)
    return 0;
  return nghttp3_conn_unblock_stream(c->h3, stream_id) == 0 ? 0 : -1;
}

int h3_conn_recv_datagram(struct quic_conn *c, const uint8_t *data,
                          size_t len) {
  uint64_t sid, context;
  const uint8_t *pkt;
  size_t plen;

  if (h3_datagram_parse(data, len, &sid, &context, &pkt, &plen) != 0) {
    /* RFC 9297 2.1: an HTTP Datagram that cannot be parsed is a
     * connection error of type H3_DATAGRAM_ERROR. */
    c->stats.drop_malformed++;
    LOG_WARN(c->ctx, "malformed HTTP Datagram (%zu bytes): closing with "
                     "H3_DATAGRAM_ERROR", len);
    h3_tunnel_app_error(c, JVPN_H3_DATAGRAM_ERROR);
    return JVPN_ERR_MALFORMED;
  }
  if (!c->tunnel_open || sid != (uint64_t)c->tunnel_stream) {
    /* For a request that is not (or no longer) a tunnel: dropped, as RFC
     * 9297 2.1 allows. */
    c->stats.drop_stream++;
    return 0;
  }
  cip_rx_datagram(c->capsules, context, pkt, plen);
  return 0;
}

long h3_conn_get_stream_data(struct quic_conn *c, int64_t *stream_id,
                             int *fin, ngtcp2_vec *vec, size_t max) {
  nghttp3_ssize n;

  if (c->lean.active)
    return h3_lean_stream_data(c, stream_id, fin, vec, max);
  *stream_id = -1;
  *fin = 0;
  n = nghttp3_conn_writev_stream(c->h3, stream_id, fin, (nghttp3_vec *)vec,
                                 max);
  if (n < 0) {
    h3_tunnel_app_error(c, nghttp3_err_infer_quic_app_error_code((int)n));
    return JVPN_ERR_H3;
  }
  return (long)n;
}

int h3_conn_stream_written(struct quic_conn *c, int64_t stream_id, size_t n) {
  if (n == 0)
    return 0;
  if (c->lean.active) {
    h3_lean_written(c, stream_id, n);
    return 0;
  }
  c->lean.unacked += n;
  return nghttp3_conn_add_write_offset(c->h3, stream_id, n) == 0 ? 0 : -1;
}

void h3_conn_stream_blocked(struct quic_conn *c, int64_t stream_id) {
  if (c->lean.active)
    h3_lean_blocked(c, stream_id, 0);
  else
    nghttp3_conn_block_stream(c->h3, stream_id);
}

void h3_conn_stream_shut_wr(struct quic_conn *c, int64_t stream_id) {
  if (c->lean.active)
    h3_lean_blocked(c, stream_id, 1);
  else
    nghttp3_conn_shutdown_stream_write(c->h3, stream_id);
}

int h3_conn_datagrams_ok(const struct quic_conn *c) {
  return c->peer_settings.seen && c->peer_settings.h3_datagram;
}

void h3_conn_resume_tunnel(struct quic_conn *c) {
  if (c->h3 && c->tunnel_stream >= 0)
    (void)nghttp3_conn_resume_stream(c->h3, c->tunnel_stream);
}

size_t h3_conn_capsule_prefix(const struct quic_conn *c, uint8_t *dst,
                              size_t dstlen, size_t len) {
  return c->lean.active ? h3_frame_data_header(dst, dstlen, len) : 0;
}

void h3_conn_release(struct quic_conn *c) {
  int64_t sid = -1;
  int fin = 0;
  nghttp3_vec v;

  if (c->h3 == NULL || c->cfg.keep_nghttp3 || !h3_lean_ready(c))
    return;
  /* Nothing more to send: it would come out here without being taken. */
  if (nghttp3_conn_writev_stream(c->h3, &sid, &fin, &v, 1) != 0 || sid >= 0)
    return;
  nghttp3_conn_del(c->h3);
  c->h3 = NULL;
  c->lean.active = 1;
  c->stats.h3_released = 1;
  LOG_DEBUG(c->ctx, "HTTP/3 carried without nghttp3 from now on (D49)");
}
