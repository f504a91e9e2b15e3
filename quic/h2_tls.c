/* quic/h2_tls: GnuTLS over an h2_conn's TCP socket. */
#include "quic/h2_tls.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/h2_conn_int.h"
#include "quic/quic_conn_int.h" /* struct quic_cred */
#include "quic/tls_session.h"

/* --- transport: the user-space output buffer and the socket ----------- */

static ssize_t push(gnutls_transport_ptr_t ptr, const void *data, size_t len) {
  struct h2_conn *c = ptr;

  /* The pump keeps far below the cap; a record that does not fit is a
   * bug, reported as a failed write rather than an unbounded buffer. */
  if (len > H2_CONN_TLS_OUT_CAP - c->tls_out_len) {
    gnutls_transport_set_errno(c->tls, ENOBUFS);
    return -1;
  }
  memcpy(c->tls_out + c->tls_out_len, data, len);
  c->tls_out_len += len;
  return (ssize_t)len;
}

static ssize_t pull(gnutls_transport_ptr_t ptr, void *data, size_t len) {
  struct h2_conn *c = ptr;
  ssize_t n;

  do
    n = recv(c->fd, data, len, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    gnutls_transport_set_errno(c->tls, errno == EWOULDBLOCK ? EAGAIN : errno);
    return -1;
  }
  if (n > 0)
    c->last_rx = c->now;
  return n;
}

int h2_tls_flush(struct h2_conn *c) {
  char why[96];
  ssize_t n;

  while (c->tls_out_len > 0) {
    n = send(c->fd, c->tls_out, c->tls_out_len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n < 0) {
      snprintf(why, sizeof(why), "TCP send: %s", strerror(errno));
      h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR, why);
      c->tls_out_len = 0; /* nothing will take them now */
      return JVPN_ERR_SYSTEM;
    }
    memmove(c->tls_out, c->tls_out + n, c->tls_out_len - (size_t)n);
    c->tls_out_len -= (size_t)n;
    c->last_tx = c->now;
  }
  return 0;
}

/* --- session ------------------------------------------------------------- */

static int verify_peer_cb(gnutls_session_t s) {
  struct h2_conn *c = gnutls_session_get_ptr(s);
  int rv = tls_session_verify_peer(s, c->cfg.ops, c->cfg.user, c->peer_pin,
                                   &c->peer_pin_set, c->ctx);

  if (rv != 0)
    c->tls_auth_failed = 1;
  return rv;
}

static int keylog_cb(gnutls_session_t s, const char *label,
                     const gnutls_datum_t *secret) {
  struct h2_conn *c = gnutls_session_get_ptr(s);

  tls_session_keylog(s, c->cfg.keylog, label, secret);
  return 0;
}

static int configure(struct h2_conn *c) {
  gnutls_datum_t alpn = {(unsigned char *)H2_ALPN, sizeof(H2_ALPN) - 1};

  if (gnutls_priority_set_direct(c->tls, tls_session_priority, NULL) != 0 ||
      gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
                             c->cfg.cred->gcred) != 0 ||
      gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) != 0)
    return JVPN_ERR_TLS;
  gnutls_session_set_verify_function(c->tls, verify_peer_cb);
  if (c->cfg.is_server)
    gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
  if (!c->cfg.is_server && c->cfg.sni && c->cfg.sni[0] &&
      gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, c->cfg.sni,
                             strlen(c->cfg.sni)) != 0)
    return JVPN_ERR_TLS;
  if (c->cfg.keylog)
    gnutls_session_set_keylog_function(c->tls, keylog_cb);
  gnutls_session_set_ptr(c->tls, c);
  gnutls_transport_set_ptr(c->tls, c);
  gnutls_transport_set_push_function(c->tls, push);
  gnutls_transport_set_pull_function(c->tls, pull);
  return 0;
}

int h2_tls_setup(struct h2_conn *c) {
  if (gnutls_init(&c->tls, c->cfg.is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) !=
      0) {
    c->tls = NULL;
    return JVPN_ERR_TLS;
  }
  return configure(c);
}

void h2_tls_free(struct h2_conn *c) {
  if (c->tls)
    gnutls_deinit(c->tls);
  c->tls = NULL;
}

/* --- errors -------------------------------------------------------------- */

/* Alerts by which a peer says it refused our certificate. */
static int alert_is_auth(gnutls_alert_description_t a) {
  switch (a) {
  case GNUTLS_A_BAD_CERTIFICATE:
  case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
  case GNUTLS_A_CERTIFICATE_REVOKED:
  case GNUTLS_A_CERTIFICATE_EXPIRED:
  case GNUTLS_A_CERTIFICATE_UNKNOWN:
  case GNUTLS_A_UNKNOWN_CA:
  case GNUTLS_A_ACCESS_DENIED:
  case GNUTLS_A_CERTIFICATE_REQUIRED: return 1;
  default: return 0;
  }
}

/* Marks the connection failed for GnuTLS error |rv|. */
static int tls_failed(struct h2_conn *c, int rv) {
  enum quic_conn_end why = QUIC_END_PROTOCOL;
  char detail[128];

  if (c->tls_auth_failed || rv == GNUTLS_E_NO_CERTIFICATE_FOUND ||
      (rv == GNUTLS_E_FATAL_ALERT_RECEIVED &&
       alert_is_auth(gnutls_alert_get(c->tls))))
    why = QUIC_END_AUTH;
  else if (rv == GNUTLS_E_PREMATURE_TERMINATION || rv == GNUTLS_E_PULL_ERROR ||
           rv == GNUTLS_E_PUSH_ERROR)
    why = QUIC_END_PEER_CLOSE;
  if (rv == GNUTLS_E_FATAL_ALERT_RECEIVED)
    snprintf(detail, sizeof(detail), "TLS: peer sent alert %s",
             gnutls_alert_get_name(gnutls_alert_get(c->tls)));
  else
    snprintf(detail, sizeof(detail), "TLS: %s", gnutls_strerror(rv));
  LOG_WARN(c->ctx, "%s", detail);
  h2_conn_fail(c, why, NGHTTP2_NO_ERROR, detail);
  return JVPN_ERR_TLS;
}

static int alpn_is_h2(struct h2_conn *c) {
  gnutls_datum_t p;

  return gnutls_alpn_get_selected_protocol(c->tls, &p) == 0 &&
         p.size == sizeof(H2_ALPN) - 1 && memcmp(p.data, H2_ALPN, p.size) == 0;
}

int h2_tls_handshake(struct h2_conn *c) {
  int rv = gnutls_handshake(c->tls);

  if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED ||
      (rv < 0 && !gnutls_error_is_fatal(rv)))
    return JVPN_ERR_AGAIN;
  if (rv < 0) {
    /* Tell the peer why (a refused pin: bad_certificate). */
    (void)gnutls_alert_send_appropriate(c->tls, rv); /* best effort */
    return tls_failed(c, rv);
  }
  if (!alpn_is_h2(c)) {
    h2_conn_fail(c, QUIC_END_PROTOCOL, NGHTTP2_NO_ERROR,
                 "TLS: ALPN h2 not negotiated");
    return JVPN_ERR_TLS;
  }
  return 0;
}

long h2_tls_read(struct h2_conn *c, uint8_t *buf, size_t len) {
  ssize_t n = gnutls_record_recv(c->tls, buf, len);

  if (n > 0)
    return (long)n;
  if (n == 0) {
    h2_conn_fail(c, QUIC_END_PEER_CLOSE, NGHTTP2_NO_ERROR,
                 "peer closed the TLS session");
    return JVPN_ERR_TLS;
  }
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ||
      !gnutls_error_is_fatal((int)n))
    return JVPN_ERR_AGAIN;
  return tls_failed(c, (int)n);
}

int h2_tls_write(struct h2_conn *c, const uint8_t *data, size_t len) {
  ssize_t n;

  while (len > 0) {
    n = gnutls_record_send(c->tls, data, len);
    if (n < 0)
      return tls_failed(c, (int)n);
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

void h2_tls_cork(struct h2_conn *c) {
  gnutls_record_cork(c->tls);
}

int h2_tls_uncork(struct h2_conn *c) {
  int rv = gnutls_record_uncork(c->tls, GNUTLS_RECORD_WAIT);

  return rv < 0 ? tls_failed(c, rv) : 0;
}

void h2_tls_bye(struct h2_conn *c) {
  (void)gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* best effort */
}

int h2_tls_export(struct h2_conn *c, const char *label, const uint8_t *context,
                  size_t context_len, uint8_t *out, size_t out_len) {
  if (!c->tls_done)
    return JVPN_ERR_TLS;
  return gnutls_prf_rfc5705(c->tls, strlen(label), label, context_len,
                            (const char *)context, out_len, (char *)out) == 0
             ? 0
             : JVPN_ERR_TLS;
}
