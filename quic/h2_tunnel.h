/*
 * quic/h2_tunnel: the HTTP/2 session (nghttp2) of an h2_conn and its one
 * CONNECT-IP stream: SETTINGS (extended CONNECT, RFC 8441; windows at
 * their maximum, so flow control never stalls the tunnel), the request
 * (client) or its answer (server) through quic/cip_request, the capsule
 * stream both ways through quic/cip_stream. Sans-I/O: it takes decrypted
 * bytes and gives bytes to encrypt; h2_conn moves them through TLS.
 *
 * A second request stream on one connection is refused with RST_STREAM
 * REFUSED_STREAM. Anything that ends the tunnel marks the connection
 * failed (h2_conn_fail); h2_conn then closes it.
 *
 * Internal to quic/h2_conn (and its fuzz harness).
 */
#ifndef QUIC_H2_TUNNEL_H
#define QUIC_H2_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct h2_conn;

/* Creates c->h2 for c->cfg.is_server and queues our SETTINGS (the client
 * preface too). Called once TLS is up. Returns 0 or JVPN_ERR_NOMEM. */
int h2_tunnel_start(struct h2_conn *c);
void h2_tunnel_free(struct h2_conn *c);

/* Feeds decrypted bytes from the peer. Returns 0, or JVPN_ERR_PROTO once
 * the connection failed (c->fail says why). */
int h2_tunnel_recv(struct h2_conn *c, const uint8_t *data, size_t len);

/* The next bytes to encrypt: stores a pointer (valid until the next call)
 * in |*data| and returns their length, 0 when nothing is due, or
 * JVPN_ERR_PROTO (failed). */
long h2_tunnel_pull(struct h2_conn *c, const uint8_t **data);

/* Appends encoded capsules to the request stream if the capsule buffer
 * stays within |cap| bytes. Returns 0 or JVPN_ERR_FULL. */
int h2_tunnel_append(struct h2_conn *c, const uint8_t *data, size_t len,
                     size_t cap);

/* Queues a PING (keep-alive) / a GOAWAY with |h2_error|. */
void h2_tunnel_ping(struct h2_conn *c);
void h2_tunnel_goaway(struct h2_conn *c, uint32_t h2_error);

#endif /* QUIC_H2_TUNNEL_H */
