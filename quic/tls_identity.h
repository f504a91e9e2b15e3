/*
 * quic/tls_identity: keys, certificates and pins with GnuTLS.
 *
 * An identity is a private key and a self-signed certificate (ECDSA P-256),
 * named by its pin: SHA-256 of the certificate's SubjectPublicKeyInfo DER.
 */
#ifndef QUIC_TLS_IDENTITY_H
#define QUIC_TLS_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"

struct quic_cred;

/* Creates |dir| if needed and writes |dir|/key.pem (mode 0600) and
 * |dir|/cert.pem (CN |name|, valid 10 years). Refuses to overwrite an
 * existing key (JVPN_ERR_EXISTS). Stores the pin in |pin|. Returns 0,
 * JVPN_ERR_EXISTS, JVPN_ERR_SYSTEM or JVPN_ERR_TLS; |errbuf| says why. */
int tls_identity_generate(const char *dir, const char *name,
                          uint8_t pin[JVPN_PIN_LEN], char *errbuf,
                          size_t errlen);

/* Computes the pin of a PEM certificate file. */
int tls_identity_pin_file(const char *cert_path, uint8_t pin[JVPN_PIN_LEN],
                          char *errbuf, size_t errlen);

/* Computes the pin of a DER certificate (as a TLS peer presents it).
 * Returns 0 or JVPN_ERR_TLS. */
int tls_identity_pin_der(const uint8_t *der, size_t len,
                         uint8_t pin[JVPN_PIN_LEN]);

/* Initialises / releases the TLS library; once per process, before and
 * after everything else in quic/. Returns 0 or JVPN_ERR_TLS. */
int tls_identity_global_init(void);
void tls_identity_global_deinit(void);

/* Loads a PEM certificate and its private key into |*cred| for
 * quic_conn_config.cred. Returns 0 or JVPN_ERR_TLS; |errbuf| says why. */
int tls_identity_cred_load(struct quic_cred **cred, const char *cert_file,
                           const char *key_file, char *errbuf,
                           size_t errlen);
/* Creates a credential with no certificate, for a client that presents
 * none (quic_conn_config.no_peer_auth: the interop endpoint). Returns 0 or
 * JVPN_ERR_TLS. */
int tls_identity_cred_new_empty(struct quic_cred **cred);
/* Checks, as ssh does, that the private key file |key_file| is a regular
 * file that neither its group nor others may read or write. Returns 0, or
 * JVPN_ERR_DENIED / JVPN_ERR_SYSTEM with the reason in |errbuf|. */
int tls_identity_key_private(const char *key_file, char *errbuf,
                             size_t errlen);

/* Frees a credential; accepts NULL. */
void tls_identity_cred_del(struct quic_cred *cred);

/* Derives a 32-byte secret from the private key file |key_file| and a
 * |label| (HMAC-SHA256 keyed by the file's bytes): stable across restarts,
 * different for every identity and purpose (stateless reset tokens, Retry
 * tokens). Returns 0, JVPN_ERR_SYSTEM (unreadable) or JVPN_ERR_TLS. */
int tls_identity_derive_secret(const char *key_file, const char *label,
                               uint8_t out[32]);

/* Fills |buf| with |len| random bytes from the TLS library's generator.
 * Returns 0 or JVPN_ERR_TLS. */
int tls_identity_random(void *buf, size_t len);

#endif /* QUIC_TLS_IDENTITY_H */
