/* quic/tls_session: what every GnuTLS session of the VPN does alike. */
#include "quic/tls_session.h"

#include "jvpn/log.h"
#include "quic/tls_identity.h"

const char tls_session_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:"
    "+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";

/* Pins replace PKI: the certificate's SPKI hash is the identity, so
 * nothing else is checked (self-signed certificates are the norm). */
int tls_session_verify_peer(gnutls_session_t s, const struct quic_conn_ops *ops,
                            void *user, uint8_t pin[JVPN_PIN_LEN], int *pin_set,
                            const char *log_ctx) {
  const gnutls_datum_t *certs;
  unsigned int n = 0;

  certs = gnutls_certificate_get_peers(s, &n);
  if (certs == NULL || n == 0) {
    LOG_WARN(log_ctx, "refused peer: no certificate presented");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (tls_identity_pin_der(certs[0].data, certs[0].size, pin) != 0) {
    LOG_WARN(log_ctx, "refused peer: unreadable certificate");
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  *pin_set = 1;
  if (ops->verify_peer(user, pin) != 0)
    return GNUTLS_E_CERTIFICATE_ERROR;
  return 0;
}

void tls_session_keylog(gnutls_session_t s, FILE *f, const char *label,
                        const gnutls_datum_t *secret) {
  gnutls_datum_t crand, srand;
  unsigned i;

  gnutls_session_get_random(s, &crand, &srand);
  fprintf(f, "%s ", label);
  for (i = 0; i < crand.size; i++)
    fprintf(f, "%02x", crand.data[i]);
  fputc(' ', f);
  for (i = 0; i < secret->size; i++)
    fprintf(f, "%02x", secret->data[i]);
  fputc('\n', f);
  fflush(f);
}
