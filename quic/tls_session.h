/*
 * quic/tls_session: what every GnuTLS session of the VPN does alike,
 * whichever transport carries it (quic/quic_tls for QUIC, quic/h2_tls for
 * TLS over TCP): the priority string, the peer's pin check, and the NSS
 * key log line.
 */
#ifndef QUIC_TLS_SESSION_H
#define QUIC_TLS_SESSION_H

#include <stdio.h>

#include <gnutls/gnutls.h>

#include "jvpn/proto.h"
#include "quic/quic_conn.h"

/* TLS 1.3 only, AEAD ciphers, X25519 and the NIST curves. */
extern const char tls_session_priority[];

/* The peer's certificate arrived: computes its pin into |pin| (|*pin_set|
 * then 1) and asks ops->verify_peer. Returns 0, or
 * GNUTLS_E_CERTIFICATE_ERROR (no or unreadable certificate, or the pin is
 * refused) after logging why under |log_ctx|. */
int tls_session_verify_peer(gnutls_session_t s, const struct quic_conn_ops *ops,
                            void *user, uint8_t pin[JVPN_PIN_LEN], int *pin_set,
                            const char *log_ctx);

/* Writes one NSS key log line (label, client random, secret) to |f|. */
void tls_session_keylog(gnutls_session_t s, FILE *f, const char *label,
                        const gnutls_datum_t *secret);

#endif /* QUIC_TLS_SESSION_H */
