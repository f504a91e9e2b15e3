/*
 * quic/h2_conn: one TLS-over-TCP connection carrying one CONNECT-IP tunnel
 * over HTTP/2 — the fallback when UDP is blocked (docs/protocol.md,
 * "HTTP/2 fallback").
 *
 * GnuTLS (TLS 1.3, ALPN "h2", mutual certificate authentication by SPKI
 * pin, the same credentials as quic_conn) under nghttp2. The CONNECT-IP
 * request is an extended CONNECT (RFC 8441: SETTINGS_ENABLE_CONNECT_PROTOCOL,
 * :protocol connect-ip, RFC 9484 8.2) with capsule-protocol: ?1; IP packets
 * travel as DATAGRAM capsules (RFC 9297 3.5, context ID 0) in the request
 * stream's DATA frames, next to the same capsules the QUIC path uses
 * (ADDRESS_ASSIGN, ROUTE_ADVERTISEMENT, ACTIVATE, DNS_ASSIGN, ...).
 *
 * It answers to the same struct quic_conn_ops as a QUIC connection
 * (verify_peer, tunnel_request, attach_header, tunnel_open, tunnel_refused,
 * capsule, ip_packet, closed; the others are never called), so the program
 * treats both transports alike (quic/transport.h).
 *
 * Small buffers on purpose (inner TCP over outer TCP): the socket has
 * TCP_NOTSENT_LOWAT set, the outgoing bytes waiting in user space are
 * bounded by H2_CONN_TXBUF, and an IP packet that finds them full is
 * dropped (drop_queue) rather than queued.
 *
 * Owns its socket. Sans-loop: the program polls the descriptor for input
 * and, while h2_conn_want_write() says so, for output; calls h2_conn_io()
 * when either is ready and after queueing anything; re-arms its timer from
 * h2_conn_expiry(). Not thread-safe.
 */
#ifndef QUIC_H2_CONN_H
#define QUIC_H2_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "quic/quic_conn.h"

#define H2_ALPN "h2"
/* bytes of encrypted output waiting for the socket before IP packets are
 * dropped (capsules and control frames still go) */
#define H2_CONN_TXBUF (64 * 1024)
#define H2_CONN_NOTSENT_LOWAT (16 * 1024) /* TCP_NOTSENT_LOWAT, bytes */
/* the largest IP packet a DATAGRAM capsule carries here */
#define H2_CONN_MAX_IP_PACKET 1500

struct h2_conn;

struct h2_conn_config {
  int is_server;
  const struct quic_cred *cred;  /* not owned; outlives the conn */
  const char *sni;               /* client: DNS name for SNI or NULL */
  const char *authority;         /* client: :authority of the request */
  const struct quic_conn_ops *ops;
  void *user;
  const char *log_ctx;           /* copied into the log prefix */
  unsigned keepalive_ms;         /* HTTP/2 PING when nothing was sent for
                                  * this long; 0 = JVPN_QUIC_KEEPALIVE_MS */
  unsigned idle_ms;              /* nothing heard for this long ends it
                                  * (QUIC_END_IDLE); 0 = JVPN_QUIC_IDLE_
                                  * KEEPALIVES times the keep-alive */
  unsigned handshake_ms;         /* TCP + TLS + the request's answer must
                                  * complete within; 0 =
                                  * JVPN_QUIC_HANDSHAKE_TIMEOUT_MS */
  FILE *keylog;                  /* NSS key log lines; not owned */
};

/* Takes |fd|, a nonblocking TCP socket: connecting or connected (client),
 * accepted (server). Sets its socket options and starts TLS. Returns 0 or
 * a JVPN_ERR_* (the fd is closed either way on error). */
int h2_conn_new(struct h2_conn **pc, const struct h2_conn_config *cfg, int fd,
                uint64_t now);

/* Closes the socket and frees everything; accepts NULL. */
void h2_conn_del(struct h2_conn *c);

int h2_conn_fd(const struct h2_conn *c);

/* Reads what the socket holds (|readable|) and writes what is due. Returns
 * 0, or a fatal JVPN_ERR_* after which ops->closed has been called and the
 * caller deletes the conn. */
int h2_conn_io(struct h2_conn *c, int readable, uint64_t now);

/* Nonzero while output waits for the socket (poll for writability too). */
int h2_conn_want_write(const struct h2_conn *c);

/* The next deadline (ns, CLOCK_MONOTONIC) or UINT64_MAX. */
uint64_t h2_conn_expiry(const struct h2_conn *c);
/* Handles timers (keep-alive PING, idle, handshake). Returns 0 or a fatal
 * JVPN_ERR_* (ops->closed has been called). */
int h2_conn_handle_expiry(struct h2_conn *c, uint64_t now);

/* Queues one IP packet as a DATAGRAM capsule. Returns 0, JVPN_ERR_OVERSIZE
 * (over H2_CONN_MAX_IP_PACKET), JVPN_ERR_FULL (output full: dropped) or
 * JVPN_ERR_AGAIN (tunnel not open), each counted. */
int h2_conn_queue_ip(struct h2_conn *c, const uint8_t *pkt, size_t len);
/* Appends a capsule to the request stream. Returns 0, JVPN_ERR_FULL or
 * JVPN_ERR_AGAIN (tunnel not open). */
int h2_conn_send_capsule(struct h2_conn *c, uint64_t type,
                         const uint8_t *value, size_t len);
/* Nonzero while the output is at least half full. */
int h2_conn_txq_busy(const struct h2_conn *c);
size_t h2_conn_max_ip_packet(const struct h2_conn *c);

/* Ends the tunnel and the connection (GOAWAY with |h2_error|, TLS
 * close_notify, best effort) and calls ops->closed with |why|. */
void h2_conn_close(struct h2_conn *c, uint32_t h2_error,
                   enum quic_conn_end why, const char *detail, uint64_t now);

/* TLS exporter (RFC 8446 7.5) after the handshake. 0 or JVPN_ERR_TLS. */
int h2_conn_export(struct h2_conn *c, const char *label,
                   const uint8_t *context, size_t context_len, uint8_t *out,
                   size_t out_len);

void h2_conn_set_log_ctx(struct h2_conn *c, const char *ctx);
void h2_conn_set_owner(struct h2_conn *c, const struct quic_conn_ops *ops,
                       void *user);

/* RTT (TCP_INFO), window (snd_cwnd * mss), handshake_done, and
 * max_udp_payload 0. */
void h2_conn_get_info(struct h2_conn *c, struct quic_conn_info *info);
/* When the peer was last heard at |now| (glue clock, ns): its last bytes
 * read, or the last ACK TCP received (TCP_INFO), whichever is later. An
 * ACK of our data is proof of life that never makes the socket readable
 * (an upload over a quiet downlink). */
uint64_t h2_conn_last_heard(struct h2_conn *c, uint64_t now);
/* The socket's addresses. */
void h2_conn_get_path(struct h2_conn *c, struct quic_path *path);
const struct quic_conn_stats *h2_conn_get_stats(const struct h2_conn *c);
int h2_conn_tunnel_is_open(const struct h2_conn *c);
int h2_conn_handshake_done(const struct h2_conn *c);
const uint8_t *h2_conn_peer_pin(const struct h2_conn *c);

#endif /* QUIC_H2_CONN_H */
