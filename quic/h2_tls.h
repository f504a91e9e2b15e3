/*
 * quic/h2_tls: the GnuTLS session of an h2_conn, over its nonblocking TCP
 * socket: TLS 1.3, ALPN "h2" mandatory, mutual authentication by pin
 * (quic/tls_session), SNI, key log. GnuTLS writes into c->tls_out (a
 * bounded buffer in user space) and h2_tls_flush() moves that to the
 * socket as it takes it; GnuTLS reads from the socket directly.
 *
 * Fatal errors mark the connection failed (h2_conn_fail) with the reason
 * (QUIC_END_AUTH for a refused pin on either side) and return a
 * JVPN_ERR_*. Internal to quic/h2_conn.
 */
#ifndef QUIC_H2_TLS_H
#define QUIC_H2_TLS_H

#include <stddef.h>
#include <stdint.h>

struct h2_conn;

/* Creates c->tls for c->cfg. Returns 0 or JVPN_ERR_TLS. */
int h2_tls_setup(struct h2_conn *c);
void h2_tls_free(struct h2_conn *c);

/* Advances the handshake. Returns 0 once it is complete, JVPN_ERR_AGAIN
 * while it waits for the peer, or a fatal JVPN_ERR_*. */
int h2_tls_handshake(struct h2_conn *c);

/* Decrypts one record into |buf|. Returns its length, JVPN_ERR_AGAIN
 * (nothing more now) or a fatal JVPN_ERR_* (the peer's close_notify or
 * EOF included: QUIC_END_PEER_CLOSE). */
long h2_tls_read(struct h2_conn *c, uint8_t *buf, size_t len);

/* Encrypts |len| bytes into c->tls_out. Returns 0 or JVPN_ERR_TLS. */
int h2_tls_write(struct h2_conn *c, const uint8_t *data, size_t len);
/* Hold records back until uncork, so small frames share one. */
void h2_tls_cork(struct h2_conn *c);
int h2_tls_uncork(struct h2_conn *c);

/* Sends what c->tls_out holds, as far as the socket takes it. Returns 0
 * or JVPN_ERR_SYSTEM. */
int h2_tls_flush(struct h2_conn *c);

/* Queues close_notify (best effort). */
void h2_tls_bye(struct h2_conn *c);

/* RFC 8446 7.5 exporter. Returns 0 or JVPN_ERR_TLS. */
int h2_tls_export(struct h2_conn *c, const char *label, const uint8_t *context,
                  size_t context_len, uint8_t *out, size_t out_len);

#endif /* QUIC_H2_TLS_H */
