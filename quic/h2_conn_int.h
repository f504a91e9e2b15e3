/*
 * quic/h2_conn_int: the HTTP/2 fallback connection object, shared by the
 * modules that implement it: h2_conn (socket, timers, the API), h2_tls
 * (GnuTLS over the socket) and h2_tunnel (nghttp2 and the CONNECT-IP
 * stream). Nothing outside quic/ includes this header; the program sees
 * quic/h2_conn.h.
 */
#ifndef QUIC_H2_CONN_INT_H
#define QUIC_H2_CONN_INT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>

#include "quic/cip_request.h"
#include "quic/cip_stream.h"
#include "quic/h2_conn.h"

/* bytes: the capsules waiting for the request stream may reach this (a
 * hard cap for capsules; IP packets stop at H2_CONN_TXBUF) */
#define H2_CONN_CAPSULE_CAP (4 * H2_CONN_TXBUF)
/* bytes: nghttp2's output is encrypted only while less than this waits
 * for the socket, so the rest stays in the capsule buffer, where the
 * drop decision sees it */
#define H2_CONN_TLS_PUMP (16 * 1024)
/* bytes: encrypted output above this is a bug (the pump stops far
 * earlier); push fails rather than grow */
#define H2_CONN_TLS_OUT_CAP (H2_CONN_TXBUF + 64 * 1024)
#define H2_CONN_READ_BUF (16 * 1024) /* bytes: one TLS record's plaintext */
#define H2_CONN_NAME_MAX 256         /* bytes: SNI, :authority */

enum h2_state {
  H2_TCP_CONNECTING = 0, /* client: connect() in progress */
  H2_TLS_HANDSHAKE,      /* TLS until the handshake is complete */
  H2_HTTP,               /* HTTP/2: the request, then the tunnel */
  H2_CLOSED,             /* ops->closed was called */
};

struct h2_conn {
  struct h2_conn_config cfg; /* strings point into the copies below */
  char sni[H2_CONN_NAME_MAX];
  char authority[H2_CONN_NAME_MAX];
  char ctx[96]; /* log prefix */
  int fd;       /* owned */
  enum h2_state state;
  gnutls_session_t tls;
  uint8_t *tls_out; /* encrypted bytes waiting for send() */
  size_t tls_out_len;
  int tls_auth_failed; /* our verify_peer refused the peer */
  int tls_done;        /* the handshake completed */
  nghttp2_session *h2;
  int32_t stream;               /* the CONNECT-IP stream; -1 = none yet */
  int answered;                 /* server: status sent; client: received */
  int tunnel_open;              /* 200 sent / received, not ended since */
  struct cip_fields hdr;        /* the request / response fields */
  struct quic_tunnel_resp resp; /* server: the answer sent */
  struct cip_rx *rx;            /* owned; once the tunnel opens */
  uint8_t *cap;                 /* capsules to send: a ring, owned */
  size_t cap_head, cap_len;
  /* the tunnel failed: set by any module, reported by h2_conn */
  enum quic_conn_end fail; /* QUIC_END_NONE while all is well */
  uint32_t fail_h2_error;  /* GOAWAY code to send */
  char fail_why[128];
  uint64_t now, started, last_rx, last_tx; /* ns */
  uint64_t keepalive_ns, idle_ns, handshake_ns;
  uint8_t peer_pin[JVPN_PIN_LEN];
  int peer_pin_set;
  struct sockaddr_storage local, remote;
  socklen_t local_len, remote_len;
  struct quic_conn_stats stats;
};

/* Marks the connection failed with |why| and the GOAWAY code |h2_error|
 * (the first failure wins); h2_conn_io closes it on its way out. */
static inline void h2_conn_fail(struct h2_conn *c, enum quic_conn_end why,
                                uint32_t h2_error, const char *detail) {
  if (c->fail != QUIC_END_NONE)
    return;
  c->fail = why;
  c->fail_h2_error = h2_error;
  snprintf(c->fail_why, sizeof(c->fail_why), "%s", detail);
}

#endif /* QUIC_H2_CONN_INT_H */
