/*
 * quic/quic_conn: ngtcp2 for one connection (its GnuTLS session is set up
 * by quic/quic_tls); the write loop that interleaves HTTP/3 stream data
 * and HTTP Datagrams into GSO batches.
 */
#include "quic/quic_conn_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/varint.h"
#include "quic/h3_conn.h"
#include "quic/quic_lb.h"
#include "quic/quic_path.h"
#include "quic/quic_pkt.h"
#include "quic/quic_tls.h"

_Static_assert(sizeof(struct quic_vec) == sizeof(ngtcp2_vec) &&
                   offsetof(struct quic_vec, base) ==
                       offsetof(ngtcp2_vec, base) &&
                   offsetof(struct quic_vec, len) == offsetof(ngtcp2_vec, len),
               "struct quic_vec must match ngtcp2_vec");

/* One transmit buffer for all connections: writes are synchronous and the
 * program is single-threaded, so a GSO batch never outlives a call. */
static uint8_t txbuf[JVPN_GSO_MAX_SEGS * JVPN_QUIC_MAX_UDP_PAYLOAD];

const char *quic_conn_end_str(enum quic_conn_end why) {
  switch (why) {
  case QUIC_END_NONE: return "none";
  case QUIC_END_LOCAL_CLOSE: return "closed locally";
  case QUIC_END_PEER_CLOSE: return "closed by peer";
  case QUIC_END_IDLE: return "idle timeout";
  case QUIC_END_HANDSHAKE_TIMEOUT: return "handshake timeout";
  case QUIC_END_AUTH: return "authentication failed";
  case QUIC_END_PROTOCOL: return "protocol error";
  case QUIC_END_STATELESS_RESET: return "stateless reset";
  case QUIC_END_INTERNAL: return "internal error";
  case QUIC_END_STALLED: return "stalled";
  case QUIC_END_PMTU: return "path MTU black hole";
  }
  return "unknown";
}

static void report_closed(struct quic_conn *c, enum quic_conn_end why,
                          const char *detail) {
  if (c->closed)
    return;
  c->closed = 1;
  c->end = why;
  if (c->cfg.ops->closed)
    c->cfg.ops->closed(c->cfg.user, why, detail ? detail : "");
}

static void send_path(struct quic_conn *c, const ngtcp2_path *path,
                      const uint8_t *data, size_t len, size_t seg,
                      uint8_t ecn, int *rv) {
  struct quic_path qp;

  quic_path_from_ngtcp2(&qp, path);
  *rv = c->cfg.ops->send(c->cfg.user, &qp, data, len, seg, ecn);
}

/* --- ngtcp2 callbacks ---------------------------------------------------- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) {
  return ((struct quic_conn *)ref->user_data)->conn;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
  (void)ctx;
  /* gnutls_rnd fails only if the library is unusable; the QUIC layer
   * then fails its own checks, so no error path exists here. */
  (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int get_new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
                          size_t cidlen, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  if (quic_lb_cid(c->cfg.is_server ? c->cfg.lb : NULL, cid->data, cidlen) !=
      0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  cid->datalen = cidlen;
  if (ngtcp2_crypto_generate_stateless_reset_token(
          token, c->static_secret, sizeof(c->static_secret), cid) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (c->cfg.ops->cid_add) {
    struct quic_cid q;

    quic_cid_from_ngtcp2(&q, cid);
    c->cfg.ops->cid_add(c->cfg.user, &q);
  }
  return 0;
}

static int remove_cid_cb(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  if (c->cfg.ops->cid_remove) {
    struct quic_cid q;

    quic_cid_from_ngtcp2(&q, cid);
    c->cfg.ops->cid_remove(c->cfg.user, &q);
  }
  return 0;
}

/* Server: a NEW_TOKEN for the client's next connection (RFC 9000 8.1.3),
 * bound to its address, so that connection skips a Retry. */
static void give_token(struct quic_conn *c) {
  uint8_t token[NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN];
  const ngtcp2_path *path = ngtcp2_conn_get_path(c->conn);
  ngtcp2_ssize n;

  if (c->cfg.token_secret == NULL)
    return;
  n = ngtcp2_crypto_generate_regular_token(token, c->cfg.token_secret, 32,
                                           path->remote.addr,
                                           path->remote.addrlen, c->last_now);
  if (n > 0 && ngtcp2_conn_submit_new_token(c->conn, token, (size_t)n) != 0)
    LOG_DEBUG(c->ctx, "cannot send a NEW_TOKEN");
}

static int recv_new_token_cb(ngtcp2_conn *conn, const uint8_t *token,
                             size_t len, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  if (c->cfg.ops->new_token)
    c->cfg.ops->new_token(c->cfg.user, token, len);
  return 0;
}

static int streams_mode(const struct quic_conn *c) {
  return c->cfg.app == QUIC_APP_STREAMS;
}

static unsigned keepalive_ms(const struct quic_conn *c) {
  return c->cfg.keepalive_ms ? c->cfg.keepalive_ms : JVPN_QUIC_KEEPALIVE_MS;
}

/* ms without a packet from the peer before the connection ends as idle:
 * JVPN_QUIC_IDLE_KEEPALIVES keep-alives unless the config says. */
static uint64_t default_idle_ms(const struct quic_conn *c) {
  return c->cfg.idle_ms ? (uint64_t)c->cfg.idle_ms
                        : (uint64_t)keepalive_ms(c) * JVPN_QUIC_IDLE_KEEPALIVES;
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  LOG_DEBUG(c->ctx, "QUIC handshake completed");
  /* A server's handshake is confirmed now (RFC 9001 4.1.2), and ngtcp2
   * starts PMTUD; a client's waits for HANDSHAKE_DONE. */
  if (c->cfg.is_server) {
    quic_path_watch_reset(c);
    give_token(c);
  }
  ngtcp2_conn_set_keep_alive_timeout(
      c->conn, (uint64_t)keepalive_ms(c) * NGTCP2_MILLISECONDS);
  if (!streams_mode(c)) {
    if (h3_conn_ensure(c) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  /* The server sends its ticket itself (GNUTLS_NO_AUTO_SEND_TICKET):
   * only once the handshake is over may 1-RTT CRYPTO data carry it. */
  if (c->cfg.is_server && c->cfg.resumption &&
      gnutls_session_ticket_send(c->tls, 1, 0) != 0)
    LOG_WARN(c->ctx, "cannot send a session ticket");
  if (!c->cfg.is_server && c->cfg.resume_session &&
      !(gnutls_session_get_flags(c->tls) & GNUTLS_SFLAGS_EARLY_DATA)) {
    /* ngtcp2 forgets the 0-RTT streams and calls early_data_rejected. */
    if (ngtcp2_conn_tls_early_data_rejected(c->conn) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  if (c->cfg.ops->handshake_done)
    c->cfg.ops->handshake_done(c->cfg.user, 0);
  return 0;
}

static int handshake_confirmed_cb(ngtcp2_conn *conn, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  /* ngtcp2 begins path MTU discovery now. */
  quic_path_watch_reset(c);
  if (streams_mode(c) && c->cfg.ops->handshake_done)
    c->cfg.ops->handshake_done(c->cfg.user, 1);
  return 0;
}

static int early_data_rejected_cb(ngtcp2_conn *conn, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  LOG_INFO(c->ctx, "server refused 0-RTT");
  if (streams_mode(c) && c->cfg.ops->early_rejected)
    c->cfg.ops->early_rejected(c->cfg.user);
  return 0;
}

static int extend_max_local_streams_bidi_cb(ngtcp2_conn *conn,
                                            uint64_t max_streams, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)max_streams;
  if (streams_mode(c) && c->cfg.ops->streams_available)
    c->cfg.ops->streams_available(c->cfg.user);
  return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags,
                               int64_t stream_id, uint64_t offset,
                               const uint8_t *data, size_t len, void *ud,
                               void *sud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)sud;
  if (streams_mode(c))
    return c->cfg.ops->stream_data(c->cfg.user, stream_id, offset, data, len,
                                   flags & NGTCP2_STREAM_DATA_FLAG_FIN) == 0
               ? 0
               : NGTCP2_ERR_CALLBACK_FAILURE;
  /* A server may see the client's first stream frames in the same flight
   * that completes the handshake. */
  if (h3_conn_ensure(c) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  (void)offset;
  if (h3_conn_recv_stream(c, stream_id, flags & NGTCP2_STREAM_DATA_FLAG_FIN,
                          data, len) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int acked_stream_data_offset_cb(ngtcp2_conn *conn, int64_t stream_id,
                                       uint64_t offset, uint64_t len,
                                       void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)sud;
  if (streams_mode(c)) {
    if (c->cfg.ops->stream_acked)
      c->cfg.ops->stream_acked(c->cfg.user, stream_id, offset, len);
    return 0;
  }
  if (h3_conn_acked(ud, stream_id, offset, len) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags,
                           int64_t stream_id, uint64_t app_error, void *ud,
                           void *sud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)sud;
  if (streams_mode(c)) {
    if (c->cfg.ops->stream_close)
      c->cfg.ops->stream_close(
          c->cfg.user, stream_id, app_error,
          (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0);
    return 0;
  }
  if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
    app_error = JVPN_H3_NO_ERROR;
  if (h3_conn_stream_close(ud, stream_id, app_error) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int stream_reset_cb(ngtcp2_conn *conn, int64_t stream_id,
                           uint64_t final_size, uint64_t app_error, void *ud,
                           void *sud) {
  (void)conn;
  (void)final_size;
  (void)app_error;
  (void)sud;
  /* Stream mode: stream_close reports the end. */
  if (streams_mode(ud))
    return 0;
  if (h3_conn_stream_reset(ud, stream_id) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int stream_stop_sending_cb(ngtcp2_conn *conn, int64_t stream_id,
                                  uint64_t app_error, void *ud, void *sud) {
  (void)conn;
  (void)app_error;
  (void)sud;
  if (streams_mode(ud)) {
    /* The peer wants nothing more: stop sending (RFC 9000 3.5). */
    (void)ngtcp2_conn_shutdown_stream_write(conn, 0, stream_id, app_error);
    return 0;
  }
  if (h3_conn_stream_reset(ud, stream_id) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int extend_max_stream_data_cb(ngtcp2_conn *conn, int64_t stream_id,
                                     uint64_t max_data, void *ud, void *sud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)max_data;
  (void)sud;
  if (streams_mode(c)) {
    if (c->cfg.ops->stream_blocked)
      c->cfg.ops->stream_blocked(c->cfg.user, stream_id, 0);
    return 0;
  }
  if (h3_conn_unblock(ud, stream_id) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

static int recv_datagram_cb(ngtcp2_conn *conn, uint32_t flags,
                            const uint8_t *data, size_t len, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  if (streams_mode(c)) {
    if (c->cfg.ops->datagram)
      c->cfg.ops->datagram(c->cfg.user, data, len,
                           (flags & NGTCP2_DATAGRAM_FLAG_0RTT) != 0);
    return 0;
  }
  return h3_conn_recv_datagram(ud, data, len) == 0
             ? 0
             : NGTCP2_ERR_CALLBACK_FAILURE;
}

/* A datagram's id says whether it was full-size: too large for a packet
 * of the 1200 bytes every QUIC path carries (bit 0). */
static int ack_datagram_cb(ngtcp2_conn *conn, uint64_t id, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  c->stats.dgram_acked++;
  if (id & 1) {
    c->pmtu.big_lost = 0;
    c->pmtu.big_acked_at = c->last_now;
  }
  return 0;
}

static int lost_datagram_cb(ngtcp2_conn *conn, uint64_t id, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  c->stats.dgram_lost++;
  /* Losses an outage caused (declared when it ends) say nothing of the
   * path's MTU. */
  if (quic_silence_outage(&c->silence)) {
    c->pmtu.big_lost = 0;
    return 0;
  }
  if (id & 1) {
    if (c->pmtu.big_lost++ == 0)
      c->pmtu.streak_start = c->last_now;
  }
  return 0;
}

static int recv_stateless_reset_cb(ngtcp2_conn *conn,
                                   const ngtcp2_pkt_stateless_reset *sr,
                                   void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)sr;
  c->end = QUIC_END_STATELESS_RESET;
  return 0;
}

static void ngtcp2_log_cb(void *ud, const char *fmt, ...) {
  struct quic_conn *c = ud;
  char buf[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  LOG_TRACE(c->ctx, "ngtcp2: %s", buf);
}

/* CRYPTO data after the TLS session was released (a peer may still send
 * some at 1-RTT, though nothing in TLS 1.3 over QUIC needs it): the
 * connection ends with an error instead of handing it to no session. */
static int recv_crypto_data_cb(ngtcp2_conn *conn,
                               ngtcp2_encryption_level level, uint64_t offset,
                               const uint8_t *data, size_t datalen, void *ud) {
  struct quic_conn *c = ud;

  if (c->tls == NULL) {
    LOG_DEBUG(c->ctx, "CRYPTO data after the handshake's TLS state was "
                      "released");
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data,
                                           datalen, ud);
}

static void fill_callbacks(ngtcp2_callbacks *cb, int is_server) {
  memset(cb, 0, sizeof(*cb));
  if (is_server)
    cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  else
    cb->client_initial = ngtcp2_crypto_client_initial_cb;
  cb->recv_crypto_data = recv_crypto_data_cb;
  quic_tls_crypto_callbacks(cb);
  cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
  cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb->rand = rand_cb;
  cb->get_new_connection_id = get_new_cid_cb;
  cb->remove_connection_id = remove_cid_cb;
  cb->handshake_completed = handshake_completed_cb;
  cb->recv_stream_data = recv_stream_data_cb;
  cb->acked_stream_data_offset = acked_stream_data_offset_cb;
  cb->stream_close = stream_close_cb;
  cb->stream_reset = stream_reset_cb;
  cb->stream_stop_sending = stream_stop_sending_cb;
  cb->extend_max_stream_data = extend_max_stream_data_cb;
  cb->recv_datagram = recv_datagram_cb;
  cb->ack_datagram = ack_datagram_cb;
  cb->lost_datagram = lost_datagram_cb;
  cb->recv_stateless_reset = recv_stateless_reset_cb;
  cb->path_validation = quic_path_validation_cb;
  cb->handshake_confirmed = handshake_confirmed_cb;
  cb->tls_early_data_rejected = early_data_rejected_cb;
  cb->extend_max_local_streams_bidi = extend_max_local_streams_bidi_cb;
  if (!is_server) {
    cb->select_preferred_addr = quic_path_select_preferred_cb;
    cb->recv_new_token = recv_new_token_cb;
  }
}

/* --- TLS ----------------------------------------------------------------- */

/* --- creation ------------------------------------------------------------ */

/* Compatible version negotiation (RFC 9368): QUIC v2 (RFC 9369) is
 * preferred, v1 accepted; a client begins in v1 and offers both. */
static const uint32_t versions_v2_first[] = {NGTCP2_PROTO_VER_V2,
                                             NGTCP2_PROTO_VER_V1};
static const uint32_t versions_v1_only[] = {NGTCP2_PROTO_VER_V1};

static void qlog_write_cb(void *ud, uint32_t flags, const void *data,
                          size_t len) {
  struct quic_conn *c = ud;

  if (c->qlog == NULL)
    return;
  if (fwrite(data, 1, len, c->qlog) != len ||
      (flags & NGTCP2_QLOG_WRITE_FLAG_FIN))
    (void)fflush(c->qlog); /* a short qlog is only a debugging loss */
}

/* Opens cfg.qlog_dir/<ODCID hex>.sqlog (JSON-SEQ, as ngtcp2 writes). */
static void qlog_open(struct quic_conn *c, const ngtcp2_cid *odcid) {
  char path[4096];
  size_t n, i;

  n = (size_t)snprintf(path, sizeof(path), "%s/", c->cfg.qlog_dir);
  for (i = 0; i < odcid->datalen && n + 3 < sizeof(path); i++)
    n += (size_t)snprintf(path + n, sizeof(path) - n, "%02x",
                          odcid->data[i]);
  if (n + 7 >= sizeof(path))
    return;
  snprintf(path + n, sizeof(path) - n, ".sqlog");
  c->qlog = fopen(path, "w");
  if (c->qlog == NULL)
    LOG_WARN(c->ctx, "cannot write qlog %s", path);
}

static void fill_settings(struct quic_conn *c, ngtcp2_settings *s,
                          uint64_t now) {
  ngtcp2_settings_default(s);
  s->initial_ts = now;
  s->cc_algo = c->cfg.cc == JVPN_CC_RENO  ? NGTCP2_CC_ALGO_RENO
               : c->cfg.cc == JVPN_CC_BBR ? NGTCP2_CC_ALGO_BBR
                                          : NGTCP2_CC_ALGO_CUBIC;
  if (c->cfg.initial_rtt_ms)
    s->initial_rtt = (uint64_t)c->cfg.initial_rtt_ms * NGTCP2_MILLISECONDS;
  /* Packets start at the 1200 bytes every QUIC path carries; path MTU
   * discovery raises them up to this (docs/decisions.md D8). */
  s->max_tx_udp_payload_size = JVPN_QUIC_MAX_UDP_PAYLOAD;
  s->handshake_timeout =
      (uint64_t)(c->cfg.handshake_ms ? c->cfg.handshake_ms
                                     : JVPN_QUIC_HANDSHAKE_TIMEOUT_MS) *
      NGTCP2_MILLISECONDS;
  s->max_window = 16 * 1024 * 1024;
  s->max_stream_window = 4 * 1024 * 1024;
  if (jvpn_log_level >= JVPN_LOG_TRACE)
    s->log_printf = ngtcp2_log_cb;
  if (streams_mode(c) && c->cfg.v1_only) {
    s->preferred_versions = versions_v1_only;
    s->preferred_versionslen = 1;
  } else {
    /* A client also lists both in its version_information (RFC 9368
     * 3); ngtcp2 would otherwise offer only the version it began in. */
    s->preferred_versions = versions_v2_first;
    s->preferred_versionslen = 2;
    s->available_versions = versions_v2_first;
    s->available_versionslen = 2;
  }
  if (streams_mode(c) && c->cfg.qlog_dir)
    s->qlog_write = qlog_write_cb;
  if (streams_mode(c) && c->cfg.no_pmtud)
    s->no_pmtud = 1;
}

static void fill_params(struct quic_conn *c, ngtcp2_transport_params *p) {
  ngtcp2_transport_params_default(p);
  p->initial_max_stream_data_bidi_local = JVPN_QUIC_STREAM_WINDOW;
  p->initial_max_stream_data_bidi_remote = JVPN_QUIC_STREAM_WINDOW;
  p->initial_max_stream_data_uni = JVPN_QUIC_STREAM_WINDOW;
  p->initial_max_data = JVPN_QUIC_CONN_WINDOW;
  p->initial_max_streams_bidi = c->cfg.is_server ? JVPN_QUIC_MAX_STREAMS_BIDI
                                                 : 0;
  p->initial_max_streams_uni = JVPN_QUIC_MAX_STREAMS_UNI;
  /* The tunnel judges idleness itself (idle_deadline(), D47): QUIC's
   * timeout only has to outlast the longest keep-alive we may agree on. */
  p->max_idle_timeout =
      (streams_mode(c) ? default_idle_ms(c) : JVPN_QUIC_IDLE_MAX_MS) *
      NGTCP2_MILLISECONDS;
  p->max_datagram_frame_size = JVPN_QUIC_MAX_DATAGRAM_FRAME;
  p->active_connection_id_limit = JVPN_QUIC_ACTIVE_CID_LIMIT;
  if (streams_mode(c)) {
    /* Files, not a tunnel: many concurrent streams, larger windows, and
     * DATAGRAM only where the program uses it. */
    p->initial_max_stream_data_bidi_local = QUIC_STREAMS_STREAM_WINDOW;
    p->initial_max_stream_data_bidi_remote = QUIC_STREAMS_STREAM_WINDOW;
    p->initial_max_stream_data_uni = QUIC_STREAMS_STREAM_WINDOW;
    p->initial_max_data = QUIC_STREAMS_CONN_WINDOW;
    p->initial_max_streams_bidi = c->cfg.is_server ? QUIC_STREAMS_MAX_BIDI
                                                   : 0;
    p->initial_max_streams_uni = 3 + QUIC_ALPN_MAX; /* HTTP/3: 3 needed */
    p->max_datagram_frame_size =
        c->cfg.datagrams ? JVPN_QUIC_MAX_DATAGRAM_FRAME : 0;
  }
}

static int conn_alloc(struct quic_conn **pc,
                      const struct quic_conn_config *cfg) {
  struct quic_conn *c = calloc(1, sizeof(*c));

  if (c == NULL)
    return JVPN_ERR_NOMEM;
  c->cfg = *cfg;
  c->tunnel_stream = -1;
  c->ctrl_stream = -1;
  h3_lean_init(&c->lean);
  snprintf(c->ctx, sizeof(c->ctx), "%s", cfg->log_ctx ? cfg->log_ctx : "");
  c->conn_ref.get_conn = get_conn; /* GnuTLS finds the conn by it */
  c->conn_ref.user_data = c;
  quic_silence_init(&c->silence, &cfg->silence);
  c->usual_keepalive_ms = keepalive_ms(c);
  c->usual_idle_ms = (unsigned)default_idle_ms(c);
  c->idle_ns = (uint64_t)c->usual_idle_ms * NGTCP2_MILLISECONDS;
  /* The IP send queue, the refused batch and the capsule ring come when
   * used (buffers_trim frees them again). */
  if (cfg->reset_secret)
    memcpy(c->static_secret, cfg->reset_secret, sizeof(c->static_secret));
  if (cfg->reset_secret == NULL &&
      gnutls_rnd(GNUTLS_RND_RANDOM, c->static_secret,
                 sizeof(c->static_secret)) != 0) {
    free(c);
    return JVPN_ERR_NOMEM;
  }
  *pc = c;
  return 0;
}

int quic_conn_client_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const struct sockaddr *local, socklen_t local_len,
                         const struct sockaddr *remote, socklen_t remote_len,
                         uint64_t now) {
  struct quic_conn *c;
  ngtcp2_callbacks cb;
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  ngtcp2_cid dcid, scid;
  int rv;

  rv = conn_alloc(&c, cfg);
  if (rv != 0)
    return rv;
  c->last_now = c->idle_from = now;
  dcid.datalen = 18;
  scid.datalen = JVPN_QUIC_SCID_LEN;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    rv = JVPN_ERR_TLS;
    goto fail;
  }
  ngtcp2_path_storage_init(&c->path, (const ngtcp2_sockaddr *)local,
                           local_len, (const ngtcp2_sockaddr *)remote,
                           remote_len, NULL);
  fill_callbacks(&cb, 0);
  fill_settings(c, &s, now);
  fill_params(c, &p);
  if (cfg->token && cfg->token_len) {
    /* ngtcp2 copies it: the caller's buffer may change after this. */
    s.token = cfg->token;
    s.tokenlen = cfg->token_len;
    s.token_type = NGTCP2_TOKEN_TYPE_NEW_TOKEN;
  }
  if (s.qlog_write)
    qlog_open(c, &dcid);
  if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &c->path.path,
                             streams_mode(c) && c->cfg.version
                                 ? c->cfg.version
                                 : NGTCP2_PROTO_VER_V1,
                             &cb, &s, &p, NULL, c) != 0) {
    rv = JVPN_ERR_QUIC;
    goto fail;
  }
  rv = quic_tls_setup(c);
  if (rv != 0)
    goto fail;
  ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
  if (cfg->ops->cid_add) {
    /* A client that demultiplexes by connection ID (a load generator
     * with many connections on one socket) needs its first one too. */
    struct quic_cid q;

    quic_cid_from_ngtcp2(&q, &scid);
    cfg->ops->cid_add(cfg->user, &q);
  }
  if (streams_mode(c) && c->cfg.resume_session && c->cfg.resume_params &&
      ngtcp2_conn_decode_and_set_0rtt_transport_params(
          c->conn, c->cfg.resume_params, c->cfg.resume_params_len) != 0)
    /* Limits for 0-RTT streams; RFC 9000 7.4.1 says which are kept. */
    LOG_WARN(c->ctx, "stored transport parameters unusable; no 0-RTT");
  *pc = c;
  return 0;

fail:
  quic_conn_del(c);
  return rv;
}

/* Server: the preferred_address transport parameter: the addresses of
 * cfg.preferred, a fresh connection ID and its stateless reset token. */
static int fill_preferred(struct quic_conn *c, ngtcp2_preferred_addr *pa) {
  const struct quic_preferred_addr *pref = c->cfg.preferred;

  memset(pa, 0, sizeof(*pa));
  if (pref->ipv4.sin_family == AF_INET) {
    memcpy(&pa->ipv4, &pref->ipv4, sizeof(pa->ipv4));
    pa->ipv4_present = 1;
  }
  if (pref->ipv6.sin6_family == AF_INET6) {
    memcpy(&pa->ipv6, &pref->ipv6, sizeof(pa->ipv6));
    pa->ipv6_present = 1;
  }
  if (!pa->ipv4_present && !pa->ipv6_present)
    return JVPN_ERR_CONFIG;
  pa->cid.datalen = JVPN_QUIC_SCID_LEN;
  if (quic_lb_cid(c->cfg.lb, pa->cid.data, pa->cid.datalen) != 0)
    return JVPN_ERR_TLS;
  if (ngtcp2_crypto_generate_stateless_reset_token(
          pa->stateless_reset_token, c->static_secret,
          sizeof(c->static_secret), &pa->cid) != 0)
    return JVPN_ERR_QUIC;
  return 0;
}

int quic_conn_server_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const struct quic_initial *in,
                         const struct sockaddr *local, socklen_t local_len,
                         const struct sockaddr *remote, socklen_t remote_len,
                         uint64_t now) {
  struct quic_conn *c;
  ngtcp2_callbacks cb;
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  ngtcp2_cid scid, dcid, client_scid;
  struct quic_cid q;
  int rv;

  rv = conn_alloc(&c, cfg);
  if (rv != 0)
    return rv;
  c->last_now = c->idle_from = now;
  scid.datalen = JVPN_QUIC_SCID_LEN;
  if (quic_lb_cid(cfg->lb, scid.data, scid.datalen) != 0) {
    rv = JVPN_ERR_TLS;
    goto fail;
  }
  ngtcp2_path_storage_init(&c->path, (const ngtcp2_sockaddr *)local,
                           local_len, (const ngtcp2_sockaddr *)remote,
                           remote_len, NULL);
  fill_callbacks(&cb, 1);
  fill_settings(c, &s, now);
  fill_params(c, &p);
  ngtcp2_cid_init(&dcid, in->dcid.data, in->dcid.len);
  ngtcp2_cid_init(&client_scid, in->scid.data, in->scid.len);
  p.original_dcid = dcid;
  p.original_dcid_present = 1;
  if (cfg->token_validated) {
    s.token = in->token;
    s.tokenlen = in->token_len;
    s.token_type = NGTCP2_TOKEN_TYPE_NEW_TOKEN;
  }
  if (cfg->retry_odcid) {
    /* RFC 9000 7.3: after a Retry, original_destination_connection_id is
     * the first Initial's DCID and retry_source_connection_id ours; the
     * token proves the address, which lifts the amplification limit. */
    ngtcp2_cid_init(&p.original_dcid, cfg->retry_odcid->data,
                    cfg->retry_odcid->len);
    p.retry_scid = dcid;
    p.retry_scid_present = 1;
    s.token = in->token;
    s.tokenlen = in->token_len;
    s.token_type = NGTCP2_TOKEN_TYPE_RETRY;
  }
  if (s.qlog_write)
    qlog_open(c, &p.original_dcid);
  p.stateless_reset_token_present = 1;
  if (ngtcp2_crypto_generate_stateless_reset_token(
          p.stateless_reset_token, c->static_secret,
          sizeof(c->static_secret), &scid) != 0) {
    rv = JVPN_ERR_QUIC;
    goto fail;
  }
  if (streams_mode(c) && cfg->preferred) {
    rv = fill_preferred(c, &p.preferred_addr);
    if (rv != 0)
      goto fail;
    p.preferred_addr_present = 1;
  }
  if (ngtcp2_conn_server_new(&c->conn, &client_scid, &scid, &c->path.path,
                             in->version, &cb, &s, &p, NULL, c) != 0) {
    rv = JVPN_ERR_QUIC;
    goto fail;
  }
  rv = quic_tls_setup(c);
  if (rv != 0)
    goto fail;
  ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
  if (cfg->ops->cid_add) {
    quic_cid_from_ngtcp2(&q, &scid);
    cfg->ops->cid_add(cfg->user, &q);
    /* ngtcp2 owns it as sequence number 1 from now on (and retires it
     * through remove_connection_id), but never asked us for it. */
    if (p.preferred_addr_present) {
      quic_cid_from_ngtcp2(&q, &p.preferred_addr.cid);
      cfg->ops->cid_add(cfg->user, &q);
    }
  }
  *pc = c;
  return 0;

fail:
  quic_conn_del(c);
  return rv;
}

void quic_conn_del(struct quic_conn *c) {
  size_t i, n;
  ngtcp2_cid *cids;

  if (c == NULL)
    return;
  if (c->conn && c->cfg.ops->cid_remove) {
    n = ngtcp2_conn_get_scid(c->conn, NULL);
    cids = calloc(n ? n : 1, sizeof(*cids));
    if (cids) {
      ngtcp2_conn_get_scid(c->conn, cids);
      for (i = 0; i < n; i++) {
        struct quic_cid q;

        quic_cid_from_ngtcp2(&q, &cids[i]);
        c->cfg.ops->cid_remove(c->cfg.user, &q);
      }
      free(cids);
    }
  }
  h3_conn_free(c);
  if (c->conn)
    ngtcp2_conn_del(c->conn);
  pp_keys_clear(&c->pp); /* ngtcp2 gave back its keys; wipe any it kept */
  if (c->tls)
    gnutls_deinit(c->tls);
  if (c->qlog)
    (void)fclose(c->qlog); /* best effort: a debugging aid */
  if (c->ticket.data) {
    gnutls_memset(c->ticket.data, 0, c->ticket.size);
    gnutls_free(c->ticket.data);
  }
  gnutls_memset(c->static_secret, 0, sizeof(c->static_secret));
  free(c->txq.slot);
  free(c->pending);
  free(c->sbuf);
  free(c->hdr);
  free(c);
}

/* --- receive ------------------------------------------------------------- */

static uint64_t srtt_of(struct quic_conn *c) {
  ngtcp2_conn_info ci;

  ngtcp2_conn_get_conn_info(c->conn, &ci);
  return ci.min_rtt == UINT64_MAX ? 0 : ci.smoothed_rtt;
}

/* A packet arrived: the receiving path is not silent. */
static void silence_heard(struct quic_conn *c, uint64_t now) {
  uint64_t ended;

  if (!ngtcp2_conn_get_handshake_completed(c->conn))
    return;
  ended = quic_silence_on_rx(&c->silence, now);
  if (ended == 0)
    return;
  /* The path is back: answer with an ack-eliciting packet at once, from
   * the window room kept for it, so ours is acknowledged and the packets
   * lost in the outage are declared lost now, not at a backed-off probe
   * timeout. */
  c->probe_now = 1;
  c->outage_ended_at = now;
  if (c->cfg.ops->rx_silence)
    c->cfg.ops->rx_silence(c->cfg.user, 0, ended / NGTCP2_MILLISECONDS);
}

/* Bytes the congestion window still takes. */
static uint64_t window_room(struct quic_conn *c) {
  ngtcp2_conn_info ci;

  ngtcp2_conn_get_conn_info(c->conn, &ci);
  return ci.cwnd > ci.bytes_in_flight ? ci.cwnd - ci.bytes_in_flight : 0;
}

/* The peer streamed to us and went quiet: the next write carries a PING
 * at once (ngtcp2 sends one when the keep-alive timer has run out, so it
 * is set to run out now and restored after the write). Returns nonzero if
 * the timer was shortened. */
static int silence_probe(struct quic_conn *c, uint64_t now) {
  uint64_t room;

  if (!ngtcp2_conn_get_handshake_completed(c->conn))
    return 0;
  if (c->probe_now) {
    c->probe_now = 0;
    LOG_DEBUG(c->ctx, "path back after an outage: PING at once (window "
                      "room %llu bytes)",
              (unsigned long long)window_room(c));
    ngtcp2_conn_set_keep_alive_timeout(c->conn, 1);
    return 1;
  }
  /* The probes of an outage stay in flight until it ends, and lost
   * packets are never declared lost without an ACK: after a persistent
   * congestion the window may be the minimum (2 packets). Probes slow
   * down when it runs low, so they last longer; when it is gone, ngtcp2's
   * own probe timeout and, once the peer is heard, the post-outage stall
   * (stall_ns) take over. */
  room = window_room(c);
  if (!quic_silence_probe_due(&c->silence, now, srtt_of(c),
                              room < JVPN_SILENCE_ROOMY_BYTES))
    return 0;
  if (room < JVPN_SILENCE_PROBE_BYTES) {
    LOG_DEBUG(c->ctx, "no window left for a silence probe");
    return 0;
  }
  c->stats.silence_probes++;
  if (quic_silence_outage_began(&c->silence)) {
    LOG_DEBUG(c->ctx, "peer silent for %llu ms: outage, no datagrams into "
                      "it (window room %llu bytes)",
              (unsigned long long)((now - c->silence.last_rx) /
                                   NGTCP2_MILLISECONDS),
              (unsigned long long)room);
    c->stats.silences++;
    if (c->cfg.ops->rx_silence)
      c->cfg.ops->rx_silence(c->cfg.user, 1,
                             (now - c->silence.last_rx) / NGTCP2_MILLISECONDS);
  }
  ngtcp2_conn_set_keep_alive_timeout(c->conn, 1);
  return 1;
}

/* ngtcp2 requires time never to go back; a caller that read its clock
 * before an earlier call must not make it (the later of the two counts). */
static uint64_t clock_step(struct quic_conn *c, uint64_t now) {
  if (now < c->last_now)
    now = c->last_now;
  c->last_now = now;
  return now;
}

/* Remembers since when bytes have been in flight (quic_conn_get_info's
 * PTO count). */
static void track_in_flight(struct quic_conn *c, uint64_t now) {
  ngtcp2_conn_info ci;

  ngtcp2_conn_get_conn_info(c->conn, &ci);
  if (ci.bytes_in_flight == 0)
    c->busy_since = 0;
  else if (c->busy_since == 0)
    c->busy_since = now;
}

static void describe_peer_close(struct quic_conn *c, char *buf, size_t len,
                                enum quic_conn_end *why) {
  const ngtcp2_ccerr *cc = ngtcp2_conn_get_ccerr(c->conn);
  uint64_t code = cc->error_code;

  *why = QUIC_END_PEER_CLOSE;
  if (cc->type == NGTCP2_CCERR_TYPE_TRANSPORT &&
      code >= 0x100 && code <= 0x1ff) {
    const char *alert = gnutls_alert_get_strname((gnutls_alert_description_t)(
        code - 0x100));
    /* The peer's TLS stack refused the handshake: a pin mismatch shows as
     * a certificate alert. */
    snprintf(buf, len, "peer refused the TLS handshake (alert %u: %s)",
             (unsigned)(code - 0x100), alert ? alert : "?");
    *why = QUIC_END_AUTH;
  } else if (cc->type == NGTCP2_CCERR_TYPE_APPLICATION) {
    snprintf(buf, len, "peer closed with H3 error 0x%llx%s%.*s",
             (unsigned long long)code, cc->reasonlen ? ": " : "",
             (int)cc->reasonlen, cc->reason ? (const char *)cc->reason : "");
  } else {
    snprintf(buf, len, "peer closed with transport error 0x%llx%s%.*s",
             (unsigned long long)code, cc->reasonlen ? ": " : "",
             (int)cc->reasonlen, cc->reason ? (const char *)cc->reason : "");
    if (code != 0)
      *why = QUIC_END_PROTOCOL;
  }
}

static void send_close(struct quic_conn *c, uint64_t now) {
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_ssize n;

  if (ngtcp2_conn_in_closing_period(c->conn) ||
      ngtcp2_conn_in_draining_period(c->conn))
    return;
  ngtcp2_path_storage_zero(&ps);
  n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, txbuf,
                                         JVPN_QUIC_MAX_UDP_PAYLOAD, &c->ccerr,
                                         now);
  if (n > 0) {
    int rv;

    /* best effort: the peer times out */
    send_path(c, &ps.path, txbuf, (size_t)n, 0, pi.ecn, &rv);
  }
}

/* Ends the connection after ngtcp2 reported |rv|. */
static int fail_conn(struct quic_conn *c, int rv, uint64_t now) {
  char detail[256];
  enum quic_conn_end why;

  switch (rv) {
  case NGTCP2_ERR_DRAINING:
    describe_peer_close(c, detail, sizeof(detail), &why);
    if (c->end == QUIC_END_STATELESS_RESET)
      why = QUIC_END_STATELESS_RESET;
    report_closed(c, why, detail);
    return JVPN_ERR_PROTO;
  case NGTCP2_ERR_IDLE_CLOSE:
    report_closed(c, QUIC_END_IDLE, "no packets from the peer");
    return JVPN_ERR_PROTO;
  case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
    report_closed(c, QUIC_END_HANDSHAKE_TIMEOUT, "handshake did not finish");
    return JVPN_ERR_PROTO;
  case NGTCP2_ERR_DROP_CONN:
  case NGTCP2_ERR_RETRY:
    report_closed(c, QUIC_END_PROTOCOL, ngtcp2_strerror(rv));
    return JVPN_ERR_PROTO;
  case NGTCP2_ERR_CRYPTO:
    ngtcp2_ccerr_set_tls_alert(
        &c->ccerr, ngtcp2_conn_get_tls_alert(c->conn), NULL, 0);
    send_close(c, now);
    if (c->end == QUIC_END_AUTH)
      report_closed(c, QUIC_END_AUTH, "peer certificate refused");
    else
      report_closed(c, QUIC_END_PROTOCOL, "TLS handshake failed");
    return JVPN_ERR_PROTO;
  default:
    if (c->ccerr.type != NGTCP2_CCERR_TYPE_APPLICATION ||
        c->ccerr.error_code == 0)
      ngtcp2_ccerr_set_liberr(&c->ccerr, rv,
                                                               NULL, 0);
    send_close(c, now);
    snprintf(detail, sizeof(detail), "%s", ngtcp2_strerror(rv));
    report_closed(c, rv == NGTCP2_ERR_CALLBACK_FAILURE ? QUIC_END_PROTOCOL
                                                        : QUIC_END_INTERNAL,
                  detail);
    return JVPN_ERR_PROTO;
  }
}

int quic_conn_read(struct quic_conn *c, const struct sockaddr *local,
                   socklen_t local_len, const struct sockaddr *remote,
                   socklen_t remote_len, uint8_t ecn, const uint8_t *pkt,
                   size_t len, uint64_t now) {
  ngtcp2_path path;
  ngtcp2_pkt_info pi;
  int rv;

  if (c->closed)
    return JVPN_ERR_PROTO;
  if (len == 0)
    return 0; /* an empty datagram: nothing to read (ngtcp2 asserts) */
  path.local.addr = (ngtcp2_sockaddr *)local;
  path.local.addrlen = local_len;
  path.remote.addr = (ngtcp2_sockaddr *)remote;
  path.remote.addrlen = remote_len;
  path.user_data = NULL;
  pi.ecn = ecn;
  now = clock_step(c, now);
  rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, pkt, len, now);
  if (rv != 0) {
    /* A corrupt or undecryptable packet is dropped by ngtcp2 itself with
     * rv == 0; anything else ends the connection. */
    return fail_conn(c, rv, now);
  }
  c->last_rx = now;
  track_in_flight(c, now);
  quic_path_track(c);
  silence_heard(c, now);
  return 0;
}

/* --- transmit ------------------------------------------------------------ */

struct tx_batch {
  size_t len, seg, npkt;
  ngtcp2_path_storage path;
  uint8_t ecn;
};

static int batch_flush(struct quic_conn *c, struct tx_batch *b) {
  int rv;

  if (b->npkt == 0)
    return 0;
  send_path(c, &b->path.path, txbuf, b->len, b->npkt > 1 ? b->seg : 0,
            b->ecn, &rv);
  if (rv == JVPN_ERR_AGAIN && c->pending == NULL &&
      (c->pending = malloc(sizeof(txbuf))) == NULL)
    rv = JVPN_ERR_NOMEM; /* lost to the network's view; QUIC recovers */
  if (rv == JVPN_ERR_AGAIN) {
    /* Keep the batch; the caller polls for writability. */
    c->buf_busy_at = c->last_now;
    memcpy(c->pending, txbuf, b->len);
    c->pending_len = b->len;
    c->pending_seg = b->npkt > 1 ? b->seg : 0;
    c->pending_ecn = b->ecn;
    ngtcp2_path_storage_init(&c->pending_path, b->path.path.local.addr,
                             b->path.path.local.addrlen,
                             b->path.path.remote.addr,
                             b->path.path.remote.addrlen, NULL);
  }
  b->len = b->npkt = 0;
  return rv == JVPN_ERR_AGAIN ? rv : 0;
}

static int flush_pending(struct quic_conn *c) {
  int rv;

  if (c->pending_len == 0)
    return 0;
  send_path(c, &c->pending_path.path, c->pending, c->pending_len,
            c->pending_seg, c->pending_ecn, &rv);
  if (rv == JVPN_ERR_AGAIN)
    return rv;
  c->pending_len = 0;
  return 0;
}

/* Adds the packet just written at txbuf + b->len. Returns 1 when the batch
 * must be sent now (its last packet is short, or it is full). */
static int batch_add(struct quic_conn *c, struct tx_batch *b, size_t n,
                     const ngtcp2_path *path, uint8_t ecn, size_t max_pkts,
                     int *again) {
  *again = 0;
  if (b->npkt > 0 && (!ngtcp2_path_eq(&b->path.path, path) ||
                      ecn != b->ecn || n > b->seg)) {
    /* Does not belong to this batch: send the batch, then start anew. */
    size_t keep = b->len;
    uint8_t tmp[JVPN_QUIC_MAX_UDP_PAYLOAD];

    memcpy(tmp, txbuf + keep, n);
    if (batch_flush(c, b) == JVPN_ERR_AGAIN) {
      /* The new packet is lost to the network's view; QUIC recovers. */
      *again = 1;
      return 1;
    }
    memcpy(txbuf, tmp, n);
  }
  if (b->npkt == 0) {
    b->seg = n;
    b->ecn = ecn;
    ngtcp2_path_storage_init(&b->path, path->local.addr, path->local.addrlen,
                             path->remote.addr, path->remote.addrlen, NULL);
  }
  b->len += n;
  b->npkt++;
  return n < b->seg || b->npkt >= max_pkts;
}

static void txq_pop(struct quic_txq *q) { q->head++; }

static int txq_empty(const struct quic_txq *q) { return q->head == q->tail; }

static struct quic_txq_slot *txq_front(struct quic_txq *q) {
  return &q->slot[q->head & (q->cap - 1)];
}

/* Room for one more packet: slots come at the first packet and double
 * while the queue fills, up to QUIC_TXQ_LEN. Returns 0, JVPN_ERR_FULL or
 * JVPN_ERR_NOMEM. */
static int txq_room(struct quic_txq *q) {
  struct quic_txq_slot *ns;
  uint32_t cap, k;

  if (q->tail - q->head < q->cap)
    return 0;
  if (q->cap >= QUIC_TXQ_LEN)
    return JVPN_ERR_FULL;
  cap = q->cap ? 2 * q->cap : QUIC_TXQ_MIN;
  ns = malloc(sizeof(*ns) * cap);
  if (ns == NULL)
    return JVPN_ERR_NOMEM;
  /* Positions are counters: each packet moves to its place modulo the
   * new size. */
  for (k = q->head; k != q->tail; k++) {
    const struct quic_txq_slot *o = &q->slot[k & (q->cap - 1)];

    ns[k & (cap - 1)].len = o->len;
    memcpy(ns[k & (cap - 1)].data, o->data, o->len);
  }
  free(q->slot);
  q->slot = ns;
  q->cap = cap;
  return 0;
}

/* Appends a packet of at most QUIC_TXQ_SLOT bytes. */
static int txq_push(struct quic_conn *c, const uint8_t *pkt, size_t len) {
  struct quic_txq *q = &c->txq;
  struct quic_txq_slot *sl;
  int rv = txq_room(q);

  if (rv != 0)
    return rv;
  sl = &q->slot[q->tail & (q->cap - 1)];
  memcpy(sl->data, pkt, len);
  sl->len = (uint16_t)len;
  q->tail++;
  c->buf_busy_at = c->last_now;
  return 0;
}

/* Frees the buffers an idle connection does not need: the IP send queue
 * when empty, the refused batch when sent, the capsule ring when all of
 * it was acknowledged, once none held data for QUIC_BUF_IDLE_MS. */
static void buffers_trim(struct quic_conn *c, uint64_t now) {
  int busy = !txq_empty(&c->txq) || c->pending_len != 0 ||
             c->sbuf_acked != c->sbuf_len;

  if (busy) {
    c->buf_busy_at = now;
    return;
  }
  if (now - c->buf_busy_at <
      (uint64_t)QUIC_BUF_IDLE_MS * NGTCP2_MILLISECONDS)
    return;
  free(c->txq.slot);
  c->txq.slot = NULL;
  c->txq.cap = 0;
  free(c->pending);
  c->pending = NULL;
  free(c->sbuf);
  c->sbuf = NULL;
}

size_t quic_conn_buffer_bytes(const struct quic_conn *c) {
  return c->txq.cap * sizeof(*c->txq.slot) +
         (c->pending ? sizeof(txbuf) : 0) + (c->sbuf ? QUIC_CAPSULE_SBUF : 0);
}

size_t quic_conn_sizeof(void) { return sizeof(struct quic_conn); }

/* Room for an IP packet in one DATAGRAM frame of a |udp|-byte packet. */
static size_t dgram_room(struct quic_conn *c, size_t udp) {
  size_t dcid = ngtcp2_conn_get_dcid(c->conn)->datalen;
  /* short header (1 + DCID + 4-byte packet number) + AEAD tag (16) +
   * DATAGRAM frame type (1) + length (2) + HTTP Datagram header */
  size_t overhead = 1 + dcid + 4 + 16 + 1 + 2 + c->dgram_hdr_len;

  return udp > overhead ? udp - overhead : 0;
}

/* The id of the next datagram: a sequence number, and in bit 0 whether
 * |len| bytes need more than the 1200 every path carries. */
static uint64_t dgram_id(struct quic_conn *c, size_t len) {
  return (++c->dgram_seq << 1) |
         (len > dgram_room(c, JVPN_QUIC_MIN_UDP_PAYLOAD) ? 1 : 0);
}

/* While the peer is silent (an episode of quic_silence: it streamed to
 * us and stopped), IP packets are not sent into the path: they would be
 * lost, and lost DATAGRAMs, never retransmitted, would hold the congestion
 * window until a backed-off probe timeout declares them lost. The window
 * stays open for the silence probes instead, so the first probe after the
 * path returns is acknowledged and traffic resumes within a round trip
 * (docs/decisions.md D23). */
static int peer_silent(const struct quic_conn *c) {
  return !streams_mode(c) && quic_silence_outage(&c->silence);
}

static void drop_queue_silent(struct quic_conn *c) {
  while (!txq_empty(&c->txq)) {
    txq_pop(&c->txq);
    c->stats.drop_silent++;
  }
}


/* How long IP packets may wait for the window while the peer is heard.
 * Right after an outage the window is full of packets lost in it, which
 * ngtcp2 declares lost only when something newer is acknowledged or a
 * backed-off probe timeout fires (seconds, after a few outages with the
 * window at its minimum); when the peer is back and our window stays shut
 * for a few round trips, a new connection is quicker (docs/decisions.md
 * D23). */
static uint64_t stall_ns(struct quic_conn *c) {
  ngtcp2_conn_info ci;
  uint64_t t = (uint64_t)JVPN_QUIC_STALL_MS * NGTCP2_MILLISECONDS;
  uint64_t post = (uint64_t)JVPN_QUIC_POST_OUTAGE_STALL_MS *
                  NGTCP2_MILLISECONDS;

  ngtcp2_conn_get_conn_info(c->conn, &ci);
  if (c->outage_ended_at && c->stall_heard_at >= c->outage_ended_at)
    return 4 * ci.smoothed_rtt > post ? 4 * ci.smoothed_rtt : post;
  return 10 * ci.smoothed_rtt > t ? 10 * ci.smoothed_rtt : t;
}

/* Routes the write loop's stream events to HTTP/3 or the program. */
static void stream_blocked(struct quic_conn *c, int64_t sid, int state) {
  if (streams_mode(c)) {
    if (c->cfg.ops->stream_blocked)
      c->cfg.ops->stream_blocked(c->cfg.user, sid, state);
  } else if (state > 0) {
    h3_conn_stream_blocked(c, sid);
  } else {
    h3_conn_stream_shut_wr(c, sid);
  }
}

static int stream_written(struct quic_conn *c, int64_t sid, size_t n,
                          int fin, const ngtcp2_vec *vec, size_t nvec) {
  size_t total = 0, i;

  if (!streams_mode(c))
    return h3_conn_stream_written(c, sid, n);
  for (i = 0; i < nvec; i++)
    total += vec[i].len;
  /* ngtcp2 sends the FIN only with the last byte. */
  if (c->cfg.ops->stream_sent)
    c->cfg.ops->stream_sent(c->cfg.user, sid, n, fin && n == total);
  return 0;
}

/* The stall watchdog (docs/decisions.md D17): IP packets wait for a
 * congestion window that never opens while the peer is heard. Only time
 * heard counts: a path on which nothing arrives is an outage, which the
 * silence probes, the idle timeout and the session's recovery judge (D23).
 * Returns nonzero when it closed the connection. */
static int stall_watchdog(struct quic_conn *c, int blocked, uint64_t now) {
  char why[96];

  if (streams_mode(c) || txq_empty(&c->txq) || !blocked) {
    c->blocked_since = c->stall_heard_at = 0;
    return 0;
  }
  if (c->blocked_since == 0)
    c->blocked_since = now;
  if (c->outage_ended_at && now - c->outage_ended_at >
                                (uint64_t)JVPN_SILENCE_GIVEUP_MS *
                                    NGTCP2_MILLISECONDS)
    c->outage_ended_at = 0; /* long past: the ordinary watchdog again */
  if (c->stall_heard_at == 0 && c->last_rx >= c->blocked_since)
    c->stall_heard_at = c->last_rx;
  if (c->stall_heard_at == 0 || now - c->stall_heard_at <= stall_ns(c))
    return 0;
  snprintf(why, sizeof(why),
           c->outage_ended_at && c->stall_heard_at >= c->outage_ended_at
               ? "window still held by packets lost in an outage after %llu "
                 "ms"
               : "no room in the congestion window for %llu ms",
           (unsigned long long)((now - c->blocked_since) / 1000000));
  ngtcp2_ccerr_set_application_error(&c->ccerr, JVPN_H3_NO_ERROR, NULL, 0);
  send_close(c, now);
  report_closed(c, QUIC_END_STALLED, why);
  return 1;
}

int quic_conn_write(struct quic_conn *c, uint64_t now) {
  struct tx_batch b = {0};
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  size_t maxpkt, pathpkt, max_pkts;
  int dgram_blocked = 0, again = 0, probing, rv;
  size_t sent = 0; /* datagrams that left in this call */

  if (c->closed)
    return 0;
  now = clock_step(c, now);
  h3_conn_release(c);
  quic_path_track(c);
  rv = flush_pending(c);
  if (rv != 0)
    return rv;
  probing = silence_probe(c, now);
  if (probing)
    /* ngtcp2 sends the PING when the keep-alive timer (now 1 ns) has run
     * out since its last packet in or out, which may be a packet read at
     * this very |now|. */
    now = clock_step(c, now + 1);
  if (peer_silent(c))
    drop_queue_silent(c);
  /* Room for a PMTUD probe; ngtcp2 keeps other packets to the path's
   * current size. */
  maxpkt = ngtcp2_conn_get_max_tx_udp_payload_size(c->conn);
  if (maxpkt > JVPN_QUIC_MAX_UDP_PAYLOAD)
    maxpkt = JVPN_QUIC_MAX_UDP_PAYLOAD;
  pathpkt = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
  max_pkts = ngtcp2_conn_get_send_quantum(c->conn) / pathpkt;
  if (max_pkts < 1)
    max_pkts = 1;
  if (max_pkts > JVPN_GSO_MAX_SEGS)
    max_pkts = JVPN_GSO_MAX_SEGS;
  ngtcp2_path_storage_zero(&ps);

  for (;;) {
    uint8_t *dst = txbuf + b.len;
    ngtcp2_ssize n, ndatalen = -1;
    int accepted = 0;

    if (!dgram_blocked && !txq_empty(&c->txq) &&
        (streams_mode(c) || (c->tunnel_open && h3_conn_datagrams_ok(c)))) {
      struct quic_txq_slot *sl = txq_front(&c->txq);
      ngtcp2_vec v[2] = {{c->dgram_hdr, c->dgram_hdr_len},
                         {sl->data, sl->len}};
      /* The stream mode's datagrams carry no HTTP Datagram header. */
      size_t skip = c->dgram_hdr_len ? 0 : 1;

      n = ngtcp2_conn_writev_datagram(
          c->conn, &ps.path, &pi, dst, maxpkt, &accepted,
          NGTCP2_WRITE_DATAGRAM_FLAG_MORE, dgram_id(c, sl->len),
          v + skip, 2 - skip, now);
      if (accepted) {
        sent++;
        c->stats.tx_bytes += sl->len;
        txq_pop(&c->txq);
        c->stats.tx_datagrams++;
      }
      if (n == NGTCP2_ERR_WRITE_MORE)
        continue;
      if (n == NGTCP2_ERR_INVALID_ARGUMENT) {
        /* Over the peer's max_datagram_frame_size. */
        txq_pop(&c->txq);
        c->stats.drop_too_big++;
        continue;
      }
      if (n < 0)
        return fail_conn(c, (int)n, now);
      if (n == 0) {
        /* Congestion window or pacing: the queue waits. (Packets that
         * could never fit were refused by quic_conn_queue_ip.) */
        if (!accepted)
          dgram_blocked = 1;
        continue;
      }
    } else {
      int64_t sid = -1;
      int fin = 0;
      ngtcp2_vec vec[16];
      long nvec = 0;
      uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

      if (streams_mode(c)) {
        /* struct quic_vec is laid out as ngtcp2_vec (see below). */
        nvec = c->cfg.ops->stream_next(c->cfg.user, &sid, &fin,
                                       (struct quic_vec *)vec, 16);
        if (nvec < 0)
          return fail_conn(c, NGTCP2_ERR_CALLBACK_FAILURE, now);
      } else if (h3_conn_running(c)) {
        nvec = h3_conn_get_stream_data(c, &sid, &fin, vec, 16);
        if (nvec < 0)
          return fail_conn(c, NGTCP2_ERR_CALLBACK_FAILURE, now);
      }
      if (fin)
        flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, dst, maxpkt,
                                    &ndatalen, flags, sid, vec, (size_t)nvec,
                                    now);
      if (n < 0) {
        switch (n) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          stream_blocked(c, sid, 1);
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
        case NGTCP2_ERR_STREAM_NOT_FOUND:
          if (n == NGTCP2_ERR_STREAM_NOT_FOUND && !streams_mode(c))
            return fail_conn(c, (int)n, now);
          stream_blocked(c, sid, -1);
          continue;
        case NGTCP2_ERR_WRITE_MORE:
          if (stream_written(c, sid, (size_t)ndatalen, fin, vec,
                             (size_t)nvec) != 0)
            return fail_conn(c, NGTCP2_ERR_CALLBACK_FAILURE, now);
          continue;
        default:
          return fail_conn(c, (int)n, now);
        }
      }
      if (ndatalen >= 0 && sid >= 0 &&
          stream_written(c, sid, (size_t)ndatalen, fin, vec, (size_t)nvec) !=
              0)
        return fail_conn(c, NGTCP2_ERR_CALLBACK_FAILURE, now);
      if (n == 0)
        break;
    }
    if (batch_add(c, &b, (size_t)n, &ps.path, pi.ecn, max_pkts, &again)) {
      if (again)
        break;
      if (b.npkt >= max_pkts) {
        rv = batch_flush(c, &b);
        if (rv != 0) {
          again = 1;
          break;
        }
        /* Pacing: one burst of send_quantum per call; the timer from
         * quic_conn_expiry() brings the next. */
        break;
      }
      if (batch_flush(c, &b) != 0) {
        again = 1;
        break;
      }
    }
  }
  if (!again && batch_flush(c, &b) != 0)
    again = 1;
  ngtcp2_conn_update_pkt_tx_time(c->conn, now);
  if (probing)
    ngtcp2_conn_set_keep_alive_timeout(
        c->conn, (uint64_t)keepalive_ms(c) * NGTCP2_MILLISECONDS);
  /* The stall watchdog guards the tunnel; the stream mode's datagrams
   * are best effort. */
  if (stall_watchdog(c, dgram_blocked && sent == 0, now))
    return JVPN_ERR_PROTO;
  if (!streams_mode(c) && quic_path_black_hole(c, now)) {
    LOG_WARN(c->ctx, "%u full-size datagrams lost in a row while smaller "
                     "packets arrive: path MTU black hole",
             c->pmtu.big_lost);
    c->stats.pmtu_black_holes++;
    if (c->cfg.ops->pmtu_black_hole)
      c->cfg.ops->pmtu_black_hole(c->cfg.user);
    if (c->cfg.is_server) {
      /* The client reattaches on a new connection, whose packets start
       * at 1200 bytes again. */
      ngtcp2_ccerr_set_application_error(&c->ccerr, JVPN_H3_NO_ERROR, NULL,
                                         0);
      send_close(c, now);
      report_closed(c, QUIC_END_PMTU, "path MTU black hole");
      return JVPN_ERR_PROTO;
    }
  }
  if (c->tunnel_failed && !c->closed) {
    /* The request stream was aborted (its RESET_STREAM went out above);
     * without it the connection has no purpose. */
    ngtcp2_ccerr_set_application_error(
        &c->ccerr, c->tunnel_failed, NULL, 0);
    send_close(c, now);
    report_closed(c, c->tunnel_failed == JVPN_H3_NO_ERROR ? QUIC_END_PEER_CLOSE
                                                          : QUIC_END_PROTOCOL,
                  c->tunnel_why[0] ? c->tunnel_why
                                   : "CONNECT-IP request stream ended");
    return JVPN_ERR_PROTO;
  }
  buffers_trim(c, now);
  return again ? JVPN_ERR_AGAIN : 0;
}

/* The tunnel's idle timeout (D47): idle_ns after the peer's last packet
 * (or the last change of idle_ns), and never before 3 PTOs, as RFC 9000
 * 10.1 has it. UINT64_MAX in the stream mode, where QUIC's own rules. */
static uint64_t idle_deadline(const struct quic_conn *c) {
  uint64_t from = c->last_rx > c->idle_from ? c->last_rx : c->idle_from;
  uint64_t pto3 = 3 * ngtcp2_conn_get_pto(c->conn);

  if (streams_mode(c))
    return UINT64_MAX;
  return from + (c->idle_ns > pto3 ? c->idle_ns : pto3);
}

void quic_conn_set_keepalive(struct quic_conn *c, unsigned keepalive_ms,
                             unsigned idle_ms, uint64_t now) {
  if (keepalive_ms == 0) {
    keepalive_ms = c->usual_keepalive_ms;
    idle_ms = c->usual_idle_ms;
  }
  c->cfg.keepalive_ms = keepalive_ms;
  c->idle_ns = (uint64_t)idle_ms * NGTCP2_MILLISECONDS;
  c->idle_from = now;
  if (ngtcp2_conn_get_handshake_completed(c->conn))
    ngtcp2_conn_set_keep_alive_timeout(
        c->conn, (uint64_t)keepalive_ms * NGTCP2_MILLISECONDS);
}

uint64_t quic_conn_expiry(struct quic_conn *c) {
  uint64_t e, w;

  if (c->closed)
    return UINT64_MAX;
  e = ngtcp2_conn_get_expiry(c->conn);
  w = idle_deadline(c);
  if (w < e)
    e = w;
  w = quic_silence_deadline(&c->silence, srtt_of(c));
  if (w < e)
    e = w;
  if (c->stall_heard_at) {
    /* wake up to judge the stall even if ngtcp2 has nothing to do */
    w = c->stall_heard_at + stall_ns(c) + NGTCP2_MILLISECONDS;
    if (w < e)
      e = w;
  }
  if (c->txq.slot || c->pending || c->sbuf) {
    /* A quiet tunnel may hear nothing for 25 s (D47): free its buffers
     * on time rather than at its next packet. */
    w = c->buf_busy_at +
        (uint64_t)(QUIC_BUF_IDLE_MS + 1) * NGTCP2_MILLISECONDS;
    if (w < e)
      e = w;
  }
  return e;
}

int quic_conn_handle_expiry(struct quic_conn *c, uint64_t now) {
  int rv;

  if (c->closed)
    return JVPN_ERR_PROTO;
  now = clock_step(c, now);
  if (now >= idle_deadline(c))
    return fail_conn(c, NGTCP2_ERR_IDLE_CLOSE, now);
  rv = ngtcp2_conn_handle_expiry(c->conn, now);
  if (rv != 0)
    return fail_conn(c, rv, now);
  /* The stall watchdog is judged in quic_conn_write(), which the caller
   * runs after this. */
  return 0;
}

/* --- tunnel API ---------------------------------------------------------- */

size_t quic_conn_max_ip_packet(struct quic_conn *c) {
  size_t udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
  const ngtcp2_transport_params *rp;
  size_t room;

  if (udp > JVPN_QUIC_MAX_UDP_PAYLOAD)
    udp = JVPN_QUIC_MAX_UDP_PAYLOAD;
  room = dgram_room(c, udp);
  rp = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (rp && rp->max_datagram_frame_size < room + c->dgram_hdr_len + 3) {
    size_t lim = (size_t)rp->max_datagram_frame_size;
    room = lim > c->dgram_hdr_len + 3 ? lim - c->dgram_hdr_len - 3 : 0;
  }
  return room < QUIC_TXQ_SLOT ? room : QUIC_TXQ_SLOT;
}

/* An IP packet too large for a DATAGRAM frame on this path goes as a
 * DATAGRAM capsule on the request stream (RFC 9297 3.5), which QUIC may
 * split over packets: while PMTUD is still probing a new path (so the
 * tunnel MTU holds from the first packet), and for IPv6 packets within
 * the 1280 bytes IPv6 guarantees (RFC 8200 5). Others get Packet Too Big. */
static int fits_capsule(const struct quic_conn *c, const uint8_t *pkt,
                        size_t len) {
  if (len + 8 > JVPN_CAPSULE_MAX_VALUE)
    return 0;
  return quic_path_young(c) ||
         ((pkt[0] >> 4) == 6 && len <= JVPN_TUN_MIN_MTU_V6);
}

static int queue_ip_capsule(struct quic_conn *c, const uint8_t *pkt,
                            size_t len) {
  uint8_t v[JVPN_CAPSULE_MAX_VALUE];
  size_t n = jvpn_varint_encode(v, sizeof(v), JVPN_CIP_CONTEXT_IP);

  memcpy(v + n, pkt, len);
  if (quic_conn_send_capsule(c, JVPN_CAPSULE_DATAGRAM, v, n + len) != 0) {
    c->stats.drop_queue++;
    return JVPN_ERR_FULL;
  }
  c->stats.tx_capsule_datagrams++;
  c->stats.tx_bytes += len;
  return 0;
}

int quic_conn_queue_ip(struct quic_conn *c, const uint8_t *pkt, size_t len) {
  if (!c->tunnel_open || c->closed || !h3_conn_datagrams_ok(c) || len == 0) {
    c->stats.drop_not_ready++;
    return JVPN_ERR_AGAIN;
  }
  if (peer_silent(c)) {
    c->stats.drop_silent++;
    return 0;
  }
  if (len > quic_conn_max_ip_packet(c)) {
    if (fits_capsule(c, pkt, len))
      return queue_ip_capsule(c, pkt, len);
    c->stats.drop_too_big++;
    return JVPN_ERR_OVERSIZE;
  }
  if (txq_push(c, pkt, len) != 0) {
    c->stats.drop_queue++;
    return JVPN_ERR_FULL;
  }
  return 0;
}

int quic_conn_pmtu_settled(struct quic_conn *c) { return !quic_path_young(c); }

int quic_conn_txq_busy(const struct quic_conn *c) {
  return c->txq.tail - c->txq.head >= QUIC_TXQ_LEN / 2;
}

/* Appends |n| bytes to the capsule ring (room checked by the caller). */
static void sbuf_put(struct quic_conn *c, const uint8_t *p, size_t n) {
  size_t at = c->sbuf_len % QUIC_CAPSULE_SBUF;
  size_t first = QUIC_CAPSULE_SBUF - at < n ? QUIC_CAPSULE_SBUF - at : n;

  memcpy(c->sbuf + at, p, first);
  memcpy(c->sbuf, p + first, n - first);
  c->sbuf_len += n;
}

int quic_conn_send_capsule(struct quic_conn *c, uint64_t type,
                           const uint8_t *value, size_t len) {
  uint8_t buf[JVPN_CAPSULE_MAX_VALUE + 16];
  uint8_t hdr[QUIC_DATA_HEADER_MAX]; /* once nghttp3 is released (D49) */
  size_t h;
  long n;

  if (c->tunnel_stream < 0 || c->closed)
    return JVPN_ERR_AGAIN;
  n = capsule_encode(buf, sizeof(buf), type, value, len);
  if (n < 0)
    return JVPN_ERR_FULL;
  h = h3_conn_capsule_prefix(c, hdr, sizeof(hdr), (size_t)n);
  if (h + (size_t)n > QUIC_CAPSULE_SBUF - (c->sbuf_len - c->sbuf_acked))
    return JVPN_ERR_FULL;
  if (c->sbuf == NULL && (c->sbuf = malloc(QUIC_CAPSULE_SBUF)) == NULL)
    return JVPN_ERR_FULL;
  c->buf_busy_at = c->last_now;
  /* Into the ring after everything not yet acknowledged. */
  sbuf_put(c, hdr, h);
  sbuf_put(c, buf, (size_t)n);
  h3_conn_resume_tunnel(c);
  return 0;
}

void quic_conn_close(struct quic_conn *c, uint64_t h3_error,
                     enum quic_conn_end why, const char *detail,
                     uint64_t now) {
  if (c->closed)
    return;
  now = clock_step(c, now);
  ngtcp2_ccerr_set_application_error(&c->ccerr, h3_error, NULL, 0);
  send_close(c, now);
  report_closed(c, why, detail);
}

int quic_conn_migrate(struct quic_conn *c, const struct sockaddr *local,
                      socklen_t local_len, int immediate, uint64_t now) {
  const ngtcp2_path *cur = ngtcp2_conn_get_path(c->conn);
  ngtcp2_path_storage ps;
  int rv;

  now = clock_step(c, now);
  ngtcp2_path_storage_init(&ps, (const ngtcp2_sockaddr *)local, local_len,
                           cur->remote.addr, cur->remote.addrlen, NULL);
  rv = immediate
           ? ngtcp2_conn_initiate_immediate_migration(c->conn, &ps.path, now)
           : ngtcp2_conn_initiate_migration(c->conn, &ps.path, now);
  switch (rv) {
  case 0:
    return 0;
  case NGTCP2_ERR_INVALID_STATE:
    /* Handshake not confirmed, or the peer sent
     * disable_active_migration. */
    return JVPN_ERR_UNSUPPORTED;
  case NGTCP2_ERR_CONN_ID_BLOCKED:
    return JVPN_ERR_AGAIN;
  default:
    return JVPN_ERR_QUIC;
  }
}

void quic_conn_set_log_ctx(struct quic_conn *c, const char *ctx) {
  snprintf(c->ctx, sizeof(c->ctx), "%s", ctx);
}

void quic_conn_set_owner(struct quic_conn *c, const struct quic_conn_ops *ops,
                         void *user) {
  c->cfg.ops = ops;
  c->cfg.user = user;
}

/* Consecutive probe timeouts since the peer was last heard while data
 * was in flight: the PTO doubles after each, so n PTOs take
 * (2^n - 1) x PTO. ngtcp2 1.x no longer exposes its own count. */
static uint32_t pto_count(struct quic_conn *c, uint64_t in_flight) {
  uint64_t pto = ngtcp2_conn_get_pto(c->conn), silent, since;
  uint32_t n = 0;

  if (in_flight == 0 || c->busy_since == 0 || pto == 0)
    return 0;
  since = c->last_rx > c->busy_since ? c->last_rx : c->busy_since;
  silent = c->last_now > since ? c->last_now - since : 0;
  while (n < 31 && silent >= (((uint64_t)1 << (n + 1)) - 1) * pto)
    n++;
  return n;
}

void quic_conn_get_info(struct quic_conn *c, struct quic_conn_info *info) {
  ngtcp2_conn_info ci;

  ngtcp2_conn_get_conn_info(c->conn, &ci);
  memset(info, 0, sizeof(*info));
  info->min_rtt_ns = ci.min_rtt;
  info->srtt_ns = ci.min_rtt == UINT64_MAX ? 0 : ci.smoothed_rtt;
  info->rttvar_ns = ci.rttvar;
  info->latest_rtt_ns = ci.latest_rtt;
  info->cwnd = ci.cwnd;
  info->bytes_in_flight = ci.bytes_in_flight;
  info->pto_count = pto_count(c, ci.bytes_in_flight);
  info->max_udp_payload = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn);
  info->handshake_done = ngtcp2_conn_get_handshake_completed(c->conn) != 0;
}

void quic_conn_get_path(struct quic_conn *c, struct quic_path *path) {
  quic_path_from_ngtcp2(path, ngtcp2_conn_get_path(c->conn));
}

uint64_t quic_conn_last_rx(const struct quic_conn *c) { return c->last_rx; }

const struct quic_conn_stats *quic_conn_get_stats(const struct quic_conn *c) {
  return &c->stats;
}

int quic_conn_tunnel_is_open(const struct quic_conn *c) {
  return c->tunnel_open;
}

const uint8_t *quic_conn_peer_pin(const struct quic_conn *c) {
  return c->peer_pin_set ? c->peer_pin : NULL;
}

/* --- stream mode --------------------------------------------------------- */

int quic_conn_open_stream(struct quic_conn *c, int64_t *sid) {
  int rv;

  if (c->closed)
    return JVPN_ERR_PROTO;
  rv = ngtcp2_conn_open_bidi_stream(c->conn, sid, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
    return JVPN_ERR_AGAIN;
  return rv == 0 ? 0 : JVPN_ERR_QUIC;
}

int quic_conn_open_uni_stream(struct quic_conn *c, int64_t *sid) {
  int rv;

  if (c->closed)
    return JVPN_ERR_PROTO;
  rv = ngtcp2_conn_open_uni_stream(c->conn, sid, NULL);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
    return JVPN_ERR_AGAIN;
  return rv == 0 ? 0 : JVPN_ERR_QUIC;
}

void quic_conn_stream_consumed(struct quic_conn *c, int64_t sid, size_t n) {
  ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
  ngtcp2_conn_extend_max_offset(c->conn, n);
}

void quic_conn_stream_shutdown(struct quic_conn *c, int64_t sid,
                               uint64_t app_error) {
  /* The stream may already be gone; nothing is left to do then. */
  (void)ngtcp2_conn_shutdown_stream(c->conn, 0, sid, app_error);
}

int quic_conn_send_datagram(struct quic_conn *c, const uint8_t *data,
                            size_t len) {
  const ngtcp2_transport_params *rp;
  if (c->closed)
    return JVPN_ERR_AGAIN;
  rp = ngtcp2_conn_get_remote_transport_params(c->conn);
  if (rp == NULL || rp->max_datagram_frame_size == 0)
    return JVPN_ERR_AGAIN;
  /* 3 bytes: DATAGRAM frame type and a 2-byte length. */
  if (len > QUIC_TXQ_SLOT || len + 3 > rp->max_datagram_frame_size)
    return JVPN_ERR_OVERSIZE;
  return txq_push(c, data, len) == 0 ? 0 : JVPN_ERR_FULL;
}

int quic_conn_key_update(struct quic_conn *c, uint64_t now) {
  now = clock_step(c, now);
  return ngtcp2_conn_initiate_key_update(c->conn, now) == 0 ? 0
                                                            : JVPN_ERR_AGAIN;
}

uint32_t quic_conn_version(struct quic_conn *c) {
  return ngtcp2_conn_get_negotiated_version(c->conn);
}
