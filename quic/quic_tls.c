/*
 * quic/quic_tls: the GnuTLS session of one QUIC connection: priorities,
 * ALPN, peer pinning, session tickets and 0-RTT (stream mode), key log;
 * after the handshake its exporter, its release (D46) and what it
 * negotiated.
 */
#include "quic/quic_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/pp_keys.h"
#include "quic/quic_conn_int.h"
#include "quic/tls_session.h"

/* GnuTLS calls this when the peer's certificate arrives. */
static int verify_peer_cb(gnutls_session_t s) {
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
  struct quic_conn *c = ref->user_data;
  int rv = tls_session_verify_peer(s, c->cfg.ops, c->cfg.user, c->peer_pin,
                                   &c->peer_pin_set, c->ctx);

  if (rv != 0)
    c->end = QUIC_END_AUTH;
  return rv;
}

static int keylog_cb(gnutls_session_t s, const char *label,
                     const gnutls_datum_t *secret) {
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
  struct quic_conn *c = ref->user_data;

  tls_session_keylog(s, c->cfg.keylog, label, secret);
  return 0;
}

/* Client: keeps the newest session data when a NewSessionTicket was
 * processed, for a later resumption. */
static int ticket_hook(gnutls_session_t s, unsigned htype, unsigned when,
                       unsigned incoming, const gnutls_datum_t *msg) {
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
  struct quic_conn *c = ref->user_data;
  gnutls_datum_t d = {NULL, 0};

  (void)htype;
  (void)when;
  (void)incoming;
  (void)msg;
  if (gnutls_session_get_data2(s, &d) != 0)
    return 0; /* no usable ticket: the next connection is a full one */
  gnutls_free(c->ticket.data);
  c->ticket = d;
  if (c->cfg.ops->session_ticket)
    c->cfg.ops->session_ticket(c->cfg.user);
  return 0;
}

/* GnuTLS hands over a level's secrets: the Handshake and 1-RTT keys are
 * kept as bytes (D51), the Initial and 0-RTT ones go to ngtcp2_crypto.
 * (ngtcp2_crypto's own hook also passes transport parameters to the TLS
 * stack at these points; with GnuTLS that is a no-op, the extension
 * carries them.) */
static int secret_cb(gnutls_session_t s, gnutls_record_encryption_level_t gl,
                     const void *rx_secret, const void *tx_secret,
                     size_t secretlen) {
  ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
  struct quic_conn *c = ref->user_data;
  ngtcp2_encryption_level level =
      ngtcp2_crypto_gnutls_from_gnutls_record_encryption_level(gl);

  if (level != NGTCP2_ENCRYPTION_LEVEL_HANDSHAKE &&
      level != NGTCP2_ENCRYPTION_LEVEL_1RTT) {
    if (rx_secret && ngtcp2_crypto_derive_and_install_rx_key(
                         c->conn, NULL, NULL, NULL, level, rx_secret,
                         secretlen) != 0)
      return -1;
    if (tx_secret && ngtcp2_crypto_derive_and_install_tx_key(
                         c->conn, NULL, NULL, NULL, level, tx_secret,
                         secretlen) != 0)
      return -1;
    return 0;
  }
  if (rx_secret &&
      pp_keys_install(&c->pp, c->conn, level, 1, rx_secret, secretlen) != 0)
    return -1;
  if (tx_secret &&
      pp_keys_install(&c->pp, c->conn, level, 0, tx_secret, secretlen) != 0)
    return -1;
  return 0;
}

static int update_key_cb(ngtcp2_conn *conn, uint8_t *rx_secret,
                         uint8_t *tx_secret,
                         ngtcp2_crypto_aead_ctx *rx_aead_ctx, uint8_t *rx_iv,
                         ngtcp2_crypto_aead_ctx *tx_aead_ctx, uint8_t *tx_iv,
                         const uint8_t *current_rx_secret,
                         const uint8_t *current_tx_secret, size_t secretlen,
                         void *ud) {
  struct quic_conn *c = ud;

  return pp_keys_update(&c->pp, conn, rx_secret, tx_secret, rx_aead_ctx,
                        rx_iv, tx_aead_ctx, tx_iv, current_rx_secret,
                        current_tx_secret, secretlen);
}

static void delete_aead_cb(ngtcp2_conn *conn, ngtcp2_crypto_aead_ctx *ctx,
                           void *ud) {
  struct quic_conn *c = ud;

  pp_keys_delete_aead(&c->pp, conn, ctx);
}

static void delete_cipher_cb(ngtcp2_conn *conn, ngtcp2_crypto_cipher_ctx *ctx,
                             void *ud) {
  struct quic_conn *c = ud;

  pp_keys_delete_cipher(&c->pp, conn, ctx);
}

void quic_tls_crypto_callbacks(ngtcp2_callbacks *cb) {
  cb->encrypt = pp_keys_encrypt_cb;
  cb->decrypt = pp_keys_decrypt_cb;
  cb->hp_mask = pp_keys_hp_mask_cb;
  cb->update_key = update_key_cb;
  cb->delete_crypto_aead_ctx = delete_aead_cb;
  cb->delete_crypto_cipher_ctx = delete_cipher_cb;
}

int quic_tls_setup(struct quic_conn *c) {
  gnutls_datum_t alpn[QUIC_ALPN_MAX];
  unsigned int flags = c->cfg.is_server ? GNUTLS_SERVER : GNUTLS_CLIENT;
  unsigned nalpn = 0;
  int stream_app = c->cfg.app == QUIC_APP_STREAMS;
  int rv;

  while (nalpn < QUIC_ALPN_MAX && c->cfg.alpn[nalpn]) {
    alpn[nalpn].data = (unsigned char *)c->cfg.alpn[nalpn];
    alpn[nalpn].size = (unsigned)strlen(c->cfg.alpn[nalpn]);
    nalpn++;
  }
  if (nalpn == 0) {
    alpn[0].data = (unsigned char *)JVPN_ALPN;
    alpn[0].size = sizeof(JVPN_ALPN) - 1;
    nalpn = 1;
  }
  /* 0-RTT only where the program asked for resumption. */
  if (stream_app && c->cfg.is_server && c->cfg.resumption)
    flags |= GNUTLS_ENABLE_EARLY_DATA | GNUTLS_NO_AUTO_SEND_TICKET;
  if (stream_app && !c->cfg.is_server && c->cfg.resume_session)
    flags |= GNUTLS_ENABLE_EARLY_DATA;
  if (gnutls_init(&c->tls, flags | GNUTLS_NO_END_OF_EARLY_DATA) != 0)
    return JVPN_ERR_TLS;
  rv = c->cfg.is_server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                        : ngtcp2_crypto_gnutls_configure_client_session(c->tls);
  if (rv != 0)
    return JVPN_ERR_TLS;
  gnutls_handshake_set_secret_function(c->tls, secret_cb);
  if (gnutls_priority_set_direct(c->tls,
                                 c->cfg.tls_priority ? c->cfg.tls_priority
                                                     : tls_session_priority,
                                 NULL) != 0 ||
      gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
                             c->cfg.cred->gcred) != 0 ||
      gnutls_alpn_set_protocols(c->tls, alpn, nalpn, GNUTLS_ALPN_MANDATORY) !=
          0)
    return JVPN_ERR_TLS;
  /* Pins are the VPN's authentication; only the stream mode may go
   * without (interop peers use throw-away self-signed certificates). */
  if (!(stream_app && c->cfg.no_peer_auth)) {
    gnutls_session_set_verify_function(c->tls, verify_peer_cb);
    if (c->cfg.is_server)
      gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
  }
  if (!c->cfg.is_server && c->cfg.sni && c->cfg.sni[0]) {
    if (gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, c->cfg.sni,
                               strlen(c->cfg.sni)) != 0)
      return JVPN_ERR_TLS;
  }
  if (stream_app && c->cfg.is_server && c->cfg.resumption) {
    if (gnutls_session_ticket_enable_server(
            c->tls, &c->cfg.resumption->ticket_key) != 0)
      return JVPN_ERR_TLS;
    gnutls_anti_replay_enable(c->tls, c->cfg.resumption->anti_replay);
    /* QUIC bounds early data by flow control, not by this TLS limit
     * (RFC 9001 4.6.1 requires 0xffffffff). */
    gnutls_record_set_max_early_data_size(c->tls, 0xffffffffu);
  }
  if (stream_app && !c->cfg.is_server) {
    gnutls_handshake_set_hook_function(c->tls,
                                       GNUTLS_HANDSHAKE_NEW_SESSION_TICKET,
                                       GNUTLS_HOOK_POST, ticket_hook);
    if (c->cfg.resume_session &&
        gnutls_session_set_data(c->tls, c->cfg.resume_session,
                                c->cfg.resume_session_len) != 0)
      LOG_WARN(c->ctx, "stored session unusable; full handshake");
  }
  if (c->cfg.keylog)
    gnutls_session_set_keylog_function(c->tls, keylog_cb);
  gnutls_session_set_ptr(c->tls, &c->conn_ref);
  return 0;
}

/* Accepts every 0-RTT ClientHello: the stream mode's servers (the interop
 * endpoint) keep no replay database, as ngtcp2's examples do not; the
 * VPN offers no 0-RTT. */
static int anti_replay_add(void *ptr, time_t exp, const gnutls_datum_t *key,
                           const gnutls_datum_t *data) {
  (void)ptr;
  (void)exp;
  (void)key;
  (void)data;
  return 0;
}

int quic_resumption_new(struct quic_resumption **pr) {
  struct quic_resumption *r = calloc(1, sizeof(*r));

  *pr = NULL;
  if (r == NULL)
    return JVPN_ERR_NOMEM;
  if (gnutls_session_ticket_key_generate(&r->ticket_key) != 0 ||
      gnutls_anti_replay_init(&r->anti_replay) != 0) {
    quic_resumption_del(r);
    return JVPN_ERR_TLS;
  }
  gnutls_anti_replay_set_add_function(r->anti_replay, anti_replay_add);
  *pr = r;
  return 0;
}

void quic_resumption_del(struct quic_resumption *r) {
  if (r == NULL)
    return;
  if (r->ticket_key.data) {
    gnutls_memset(r->ticket_key.data, 0, r->ticket_key.size);
    gnutls_free(r->ticket_key.data);
  }
  if (r->anti_replay)
    gnutls_anti_replay_deinit(r->anti_replay);
  free(r);
}

/* --- after the handshake: exporter, release, what was negotiated ------- */

int quic_conn_export(struct quic_conn *c, const char *label,
                     const uint8_t *context, size_t context_len,
                     uint8_t *out, size_t out_len) {
  if (!ngtcp2_conn_get_handshake_completed(c->conn))
    return JVPN_ERR_TLS;
  if (c->tls == NULL) {
    if (c->kept_label == NULL || strcmp(label, c->kept_label) != 0 ||
        context_len != 0 || out_len != c->kept_len)
      return JVPN_ERR_TLS;
    memcpy(out, c->kept_export, out_len);
    return 0;
  }
  if (gnutls_prf_rfc5705(c->tls, strlen(label), label, context_len,
                         (const char *)context, out_len, (char *)out) != 0)
    return JVPN_ERR_TLS;
  return 0;
}

int quic_conn_release_tls(struct quic_conn *c, const char *label,
                          size_t out_len) {
  if (c->tls == NULL)
    return 0;
  if (!c->cfg.is_server || !ngtcp2_conn_get_handshake_completed(c->conn) ||
      out_len > sizeof(c->kept_export) ||
      quic_conn_export(c, label, NULL, 0, c->kept_export, out_len) != 0)
    return JVPN_ERR_TLS;
  c->kept_label = label;
  c->kept_len = out_len;
  ngtcp2_conn_set_tls_native_handle(c->conn, NULL);
  gnutls_deinit(c->tls);
  c->tls = NULL;
  return 0;
}

void quic_conn_alpn(struct quic_conn *c, char *buf, size_t len) {
  gnutls_datum_t p = {NULL, 0};

  if (len == 0)
    return;
  buf[0] = '\0';
  if (c->tls != NULL && gnutls_alpn_get_selected_protocol(c->tls, &p) == 0)
    snprintf(buf, len, "%.*s", (int)p.size, (const char *)p.data);
}

int quic_conn_get_session(struct quic_conn *c, uint8_t **ticket,
                          size_t *ticket_len, uint8_t *params,
                          size_t *params_len) {
  ngtcp2_ssize n;

  if (c->ticket.data == NULL)
    return JVPN_ERR_AGAIN;
  n = ngtcp2_conn_encode_0rtt_transport_params(c->conn, params, *params_len);
  if (n < 0)
    return n == NGTCP2_ERR_NOBUF ? JVPN_ERR_NOSPACE : JVPN_ERR_AGAIN;
  *ticket = malloc(c->ticket.size);
  if (*ticket == NULL)
    return JVPN_ERR_NOMEM;
  memcpy(*ticket, c->ticket.data, c->ticket.size);
  *ticket_len = c->ticket.size;
  *params_len = (size_t)n;
  return 0;
}

int quic_conn_resumed(struct quic_conn *c) {
  return c->tls != NULL && gnutls_session_is_resumed(c->tls) != 0;
}

int quic_conn_early_accepted(struct quic_conn *c) {
  return c->tls != NULL &&
         (gnutls_session_get_flags(c->tls) & GNUTLS_SFLAGS_EARLY_DATA) != 0;
}
