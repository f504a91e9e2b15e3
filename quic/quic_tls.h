/*
 * quic/quic_tls: the GnuTLS session of one QUIC connection (see
 * quic_tls.c). Internal to quic/quic_conn.
 */
#ifndef QUIC_QUIC_TLS_H
#define QUIC_QUIC_TLS_H

#include <ngtcp2/ngtcp2.h>

struct quic_conn;

/* Creates c->tls from c->cfg (role, ALPN, credentials, priority, pins,
 * tickets, key log) and ties it to c->conn_ref, which the caller has set.
 * Returns 0 or JVPN_ERR_TLS. */
int quic_tls_setup(struct quic_conn *c);

/* ngtcp2's packet protection callbacks: the Handshake and 1-RTT keys kept
 * by c->pp (quic/pp_keys, D51), the other levels by ngtcp2_crypto. */
void quic_tls_crypto_callbacks(ngtcp2_callbacks *cb);

#endif /* QUIC_QUIC_TLS_H */
