/*
 * quic/h2_conn: the HTTP/2 fallback connection: its socket, its state
 * (TCP connect, TLS handshake, HTTP/2), its timers and the API; TLS is
 * quic/h2_tls's, HTTP/2 and the tunnel quic/h2_tunnel's.
 */
#include "quic/h2_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/capsule.h"
#include "quic/h2_conn_int.h"
#include "quic/h2_tls.h"
#include "quic/h2_tunnel.h"

#define MS_NS 1000000ULL

/* --- set-up -------------------------------------------------------------- */

/* Small buffers against inner-TCP-over-outer-TCP meltdown, no Nagle
 * delay for the tunnel's packets, and a dead peer noticed within the
 * idle timeout even with data unacknowledged. A socket without them
 * (not TCP) still works. */
static void socket_options(struct h2_conn *c) {
  int one = 1, lowat = H2_CONN_NOTSENT_LOWAT;
  unsigned user_timeout = (unsigned)(c->idle_ns / MS_NS);
  int fl = fcntl(c->fd, F_GETFL);

  if (fl >= 0 && !(fl & O_NONBLOCK))
    (void)fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
  if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
      setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat,
                 sizeof(lowat)) != 0 ||
      setsockopt(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
                 sizeof(user_timeout)) != 0)
    LOG_DEBUG(c->ctx, "TCP socket options not set: %s", strerror(errno));
}

/* Records the socket's addresses. Returns 0, or -1 while connect() is
 * still in progress. */
static int read_addresses(struct h2_conn *c) {
  c->remote_len = sizeof(c->remote);
  if (getpeername(c->fd, (struct sockaddr *)&c->remote, &c->remote_len) != 0)
    return -1;
  c->local_len = sizeof(c->local);
  if (getsockname(c->fd, (struct sockaddr *)&c->local, &c->local_len) != 0)
    c->local_len = 0;
  return 0;
}

static void copy_config(struct h2_conn *c, const struct h2_conn_config *cfg,
                        uint64_t now) {
  unsigned ka = cfg->keepalive_ms ? cfg->keepalive_ms : JVPN_QUIC_KEEPALIVE_MS;
  unsigned idle = cfg->idle_ms ? cfg->idle_ms : ka * JVPN_QUIC_IDLE_KEEPALIVES;
  unsigned hs =
      cfg->handshake_ms ? cfg->handshake_ms : JVPN_QUIC_HANDSHAKE_TIMEOUT_MS;

  c->cfg = *cfg;
  snprintf(c->sni, sizeof(c->sni), "%s", cfg->sni ? cfg->sni : "");
  snprintf(c->authority, sizeof(c->authority), "%s",
           cfg->authority ? cfg->authority : "");
  c->cfg.sni = c->sni;
  c->cfg.authority = c->authority;
  c->cfg.log_ctx = NULL;
  snprintf(c->ctx, sizeof(c->ctx), "%s", cfg->log_ctx ? cfg->log_ctx : "");
  c->keepalive_ns = ka * MS_NS;
  c->idle_ns = idle * MS_NS;
  c->handshake_ns = hs * MS_NS;
  c->now = c->started = c->last_rx = c->last_tx = now;
}

static int conn_init(struct h2_conn *c, const struct h2_conn_config *cfg,
                     int fd, uint64_t now) {
  copy_config(c, cfg, now);
  c->fd = fd;
  c->stream = -1;
  c->state = cfg->is_server ? H2_TLS_HANDSHAKE : H2_TCP_CONNECTING;
  socket_options(c);
  if (cfg->is_server)
    (void)read_addresses(c); /* accepted: known now */
  c->tls_out = malloc(H2_CONN_TLS_OUT_CAP);
  c->cap = malloc(H2_CONN_CAPSULE_CAP);
  if (c->tls_out == NULL || c->cap == NULL)
    return JVPN_ERR_NOMEM;
  return h2_tls_setup(c);
}

int h2_conn_new(struct h2_conn **pc, const struct h2_conn_config *cfg, int fd,
                uint64_t now) {
  struct h2_conn *c;
  int rv;

  *pc = NULL;
  if (cfg->cred == NULL || cfg->ops == NULL || cfg->ops->verify_peer == NULL ||
      (cfg->is_server && cfg->ops->tunnel_request == NULL)) {
    close(fd);
    return JVPN_ERR_INVAL;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    return JVPN_ERR_NOMEM;
  }
  if ((rv = conn_init(c, cfg, fd, now)) != 0) {
    h2_conn_del(c); /* closes fd */
    return rv;
  }
  *pc = c;
  return 0;
}

void h2_conn_del(struct h2_conn *c) {
  if (c == NULL)
    return;
  h2_tunnel_free(c);
  h2_tls_free(c);
  free(c->tls_out);
  free(c->cap);
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}

int h2_conn_fd(const struct h2_conn *c) {
  return c->fd;
}

/* --- I/O ----------------------------------------------------------------- */

/* Client: connect() finished (1), still in progress (0) or failed (-1). */
static int tcp_connected(struct h2_conn *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  char why[96];

  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err == 0)
    return read_addresses(c) == 0 ? 1 : 0;
  snprintf(why, sizeof(why), "TCP connect: %s", strerror(err));
  h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR, why);
  return -1;
}

/* Decrypts and hands to nghttp2 whatever the socket holds. */
static int receive(struct h2_conn *c) {
  uint8_t buf[H2_CONN_READ_BUF];
  long n;

  for (;;) {
    n = h2_tls_read(c, buf, sizeof(buf));
    if (n == JVPN_ERR_AGAIN)
      return 0;
    if (n < 0)
      return (int)n;
    if (h2_tunnel_recv(c, buf, (size_t)n) != 0)
      return JVPN_ERR_PROTO;
    if (c->state == H2_CLOSED)
      return 0; /* the program closed it from a callback */
  }
}

/* Moves nghttp2's output into TLS records while little waits for the
 * socket; the rest stays in the capsule buffer (where h2_conn_queue_ip
 * sees it and drops rather than queue). */
static int pump(struct h2_conn *c) {
  size_t budget =
      c->tls_out_len < H2_CONN_TLS_PUMP ? H2_CONN_TLS_PUMP - c->tls_out_len : 0;
  const uint8_t *data;
  long n = 0;
  int rv = 0;

  h2_tls_cork(c);
  while (budget > 0 && rv == 0) {
    n = h2_tunnel_pull(c, &data);
    if (n <= 0)
      break;
    rv = h2_tls_write(c, data, (size_t)n);
    budget -= (size_t)n < budget ? (size_t)n : budget;
  }
  if (h2_tls_uncork(c) != 0 || rv != 0 || n < 0)
    return JVPN_ERR_PROTO;
  return 0;
}

static int start_http(struct h2_conn *c) {
  int rv;

  c->tls_done = 1;
  LOG_INFO(c->ctx, "TLS handshake complete (HTTP/2 over TCP)");
  if ((rv = h2_tunnel_start(c)) != 0)
    h2_conn_fail(c, QUIC_END_INTERNAL, NGHTTP2_INTERNAL_ERROR,
                 "cannot start HTTP/2");
  c->state = H2_HTTP;
  return rv;
}

/* The state machine: each state moves on as soon as it can. */
static int advance(struct h2_conn *c, int readable) {
  int rv;

  switch (c->state) {
  case H2_TCP_CONNECTING:
    if ((rv = tcp_connected(c)) <= 0)
      return rv < 0 ? JVPN_ERR_SYSTEM : 0;
    c->state = H2_TLS_HANDSHAKE; /* connected */
    /* fallthrough */
  case H2_TLS_HANDSHAKE:
    rv = h2_tls_handshake(c);
    if (rv != 0)
      return rv == JVPN_ERR_AGAIN ? 0 : rv;
    if ((rv = start_http(c)) != 0)
      return rv;
    readable = 1; /* records may have come with the handshake's end */
    /* fallthrough */
  case H2_HTTP: return readable ? receive(c) : 0;
  default: return 0;
  }
}

static int finish(struct h2_conn *c) {
  h2_conn_close(c, c->fail_h2_error, c->fail, c->fail_why, c->now);
  return JVPN_ERR_PROTO;
}

int h2_conn_io(struct h2_conn *c, int readable, uint64_t now) {
  int rv;

  if (c->state == H2_CLOSED)
    return JVPN_ERR_PROTO;
  c->now = now;
  rv = advance(c, readable);
  if (rv == 0 && c->state == H2_HTTP)
    rv = pump(c);
  if (rv == 0)
    rv = h2_tls_flush(c);
  if (c->state == H2_CLOSED)
    return JVPN_ERR_PROTO;
  if (c->fail != QUIC_END_NONE)
    return finish(c);
  return 0;
}

int h2_conn_want_write(const struct h2_conn *c) {
  return c->state != H2_CLOSED &&
         (c->state == H2_TCP_CONNECTING || c->tls_out_len > 0);
}

/* --- timers -------------------------------------------------------------- */
/* handshake: from creation until the tunnel opens (TCP, TLS and the
 * request's answer), then never again;
 * keep-alive: a PING when nothing was sent for keepalive_ms (HTTP/2 up);
 * idle: nothing received for idle_ms ends the connection. */

static uint64_t keepalive_at(const struct h2_conn *c) {
  return c->state == H2_HTTP ? c->last_tx + c->keepalive_ns : UINT64_MAX;
}

uint64_t h2_conn_expiry(const struct h2_conn *c) {
  uint64_t e = c->last_rx + c->idle_ns, k = keepalive_at(c);

  if (c->state == H2_CLOSED)
    return UINT64_MAX;
  if (!c->tunnel_open && c->started + c->handshake_ns < e)
    e = c->started + c->handshake_ns;
  return k < e ? k : e;
}

int h2_conn_handle_expiry(struct h2_conn *c, uint64_t now) {
  if (c->state == H2_CLOSED)
    return JVPN_ERR_PROTO;
  c->now = now;
  if (!c->tunnel_open && now >= c->started + c->handshake_ns) {
    h2_conn_close(c, NGHTTP2_NO_ERROR, QUIC_END_HANDSHAKE_TIMEOUT,
                  "handshake did not finish", now);
    return JVPN_ERR_PROTO;
  }
  if (now >= c->last_rx + c->idle_ns) {
    h2_conn_close(c, NGHTTP2_NO_ERROR, QUIC_END_IDLE, "nothing from the peer",
                  now);
    return JVPN_ERR_PROTO;
  }
  if (now >= keepalive_at(c)) {
    h2_tunnel_ping(c);
    c->last_tx = now; /* due once, even while the socket is full */
    return h2_conn_io(c, 0, now);
  }
  return 0;
}

/* --- the tunnel's output ------------------------------------------------ */

static size_t waiting(const struct h2_conn *c) {
  return c->cap_len + c->tls_out_len;
}

int h2_conn_queue_ip(struct h2_conn *c, const uint8_t *pkt, size_t len) {
  uint8_t buf[H2_CONN_MAX_IP_PACKET + CIP_DATAGRAM_OVERHEAD];
  long n;

  if (!c->tunnel_open || c->fail != QUIC_END_NONE || len == 0) {
    c->stats.drop_not_ready++;
    return JVPN_ERR_AGAIN;
  }
  if (len > H2_CONN_MAX_IP_PACKET) {
    c->stats.drop_too_big++;
    return JVPN_ERR_OVERSIZE;
  }
  n = cip_datagram_encode(buf, sizeof(buf), pkt, len);
  if (n < 0 || waiting(c) + (size_t)n > H2_CONN_TXBUF ||
      h2_tunnel_append(c, buf, (size_t)n, H2_CONN_TXBUF) != 0) {
    c->stats.drop_queue++;
    return JVPN_ERR_FULL;
  }
  c->stats.tx_datagrams++;
  c->stats.tx_bytes += len;
  return 0;
}

int h2_conn_send_capsule(struct h2_conn *c, uint64_t type, const uint8_t *value,
                         size_t len) {
  uint8_t buf[JVPN_CAPSULE_MAX_VALUE + 16];
  long n;

  if (c->rx == NULL || c->fail != QUIC_END_NONE)
    return JVPN_ERR_AGAIN;
  n = capsule_encode(buf, sizeof(buf), type, value, len);
  if (n < 0)
    return JVPN_ERR_FULL;
  return h2_tunnel_append(c, buf, (size_t)n, H2_CONN_CAPSULE_CAP);
}

int h2_conn_txq_busy(const struct h2_conn *c) {
  return waiting(c) >= H2_CONN_TXBUF / 2;
}

size_t h2_conn_max_ip_packet(const struct h2_conn *c) {
  (void)c;
  return H2_CONN_MAX_IP_PACKET;
}

/* --- the end ------------------------------------------------------------- */

void h2_conn_close(struct h2_conn *c, uint32_t h2_error, enum quic_conn_end why,
                   const char *detail, uint64_t now) {
  if (c->state == H2_CLOSED)
    return;
  c->now = now;
  h2_conn_fail(c, why, h2_error, detail ? detail : "");
  if (c->state == H2_HTTP) {
    h2_tunnel_goaway(c, h2_error);
    (void)pump(c); /* best effort, as is all that follows */
    h2_tls_bye(c);
  }
  (void)h2_tls_flush(c);
  c->state = H2_CLOSED;
  c->tunnel_open = 0;
  LOG_INFO(c->ctx, "connection closed: %s (%s)", quic_conn_end_str(why),
           detail ? detail : "");
  if (c->cfg.ops->closed)
    c->cfg.ops->closed(c->cfg.user, why, detail ? detail : "");
}

int h2_conn_export(struct h2_conn *c, const char *label, const uint8_t *context,
                   size_t context_len, uint8_t *out, size_t out_len) {
  return h2_tls_export(c, label, context, context_len, out, out_len);
}

/* --- accessors ----------------------------------------------------------- */

void h2_conn_set_log_ctx(struct h2_conn *c, const char *ctx) {
  snprintf(c->ctx, sizeof(c->ctx), "%s", ctx ? ctx : "");
}

void h2_conn_set_owner(struct h2_conn *c, const struct quic_conn_ops *ops,
                       void *user) {
  c->cfg.ops = ops;
  c->cfg.user = user;
}

void h2_conn_get_info(struct h2_conn *c, struct quic_conn_info *info) {
  struct tcp_info ti;
  socklen_t len = sizeof(ti);

  memset(info, 0, sizeof(*info));
  info->min_rtt_ns = UINT64_MAX;
  info->handshake_done = c->tls_done;
  memset(&ti, 0, sizeof(ti));
  if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return;
  info->srtt_ns = (uint64_t)ti.tcpi_rtt * 1000;
  info->latest_rtt_ns = info->srtt_ns; /* TCP keeps no latest sample */
  info->rttvar_ns = (uint64_t)ti.tcpi_rttvar * 1000;
  if (len >=
          offsetof(struct tcp_info, tcpi_min_rtt) + sizeof(ti.tcpi_min_rtt) &&
      ti.tcpi_min_rtt != UINT32_MAX && ti.tcpi_min_rtt != 0)
    info->min_rtt_ns = (uint64_t)ti.tcpi_min_rtt * 1000;
  info->cwnd = (uint64_t)ti.tcpi_snd_cwnd * ti.tcpi_snd_mss;
  info->bytes_in_flight = (uint64_t)ti.tcpi_unacked * ti.tcpi_snd_mss;
}

uint64_t h2_conn_last_heard(struct h2_conn *c, uint64_t now) {
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  uint64_t ack;

  memset(&ti, 0, sizeof(ti));
  if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return c->last_rx;
  ack = (uint64_t)ti.tcpi_last_ack_recv * 1000000;
  ack = now > ack ? now - ack : 0;
  return ack > c->last_rx ? ack : c->last_rx;
}

void h2_conn_get_path(struct h2_conn *c, struct quic_path *path) {
  path->local = (const struct sockaddr *)&c->local;
  path->local_len = c->local_len;
  path->remote = (const struct sockaddr *)&c->remote;
  path->remote_len = c->remote_len;
}

const struct quic_conn_stats *h2_conn_get_stats(const struct h2_conn *c) {
  return &c->stats;
}

int h2_conn_tunnel_is_open(const struct h2_conn *c) {
  return c->tunnel_open && c->state != H2_CLOSED;
}

int h2_conn_handshake_done(const struct h2_conn *c) {
  return c->tls_done;
}

const uint8_t *h2_conn_peer_pin(const struct h2_conn *c) {
  return c->peer_pin_set ? c->peer_pin : NULL;
}
