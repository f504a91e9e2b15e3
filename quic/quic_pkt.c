/*
 * quic/quic_pkt: a server's stateless packet handling, on ngtcp2's packet
 * functions and its GnuTLS crypto helper (tokens, Retry integrity tag).
 */
#include "quic/quic_pkt.h"
#include "quic/quic_lb.h"

#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "jvpn/errors.h"
#include "quic/quic_conn_int.h"

/* Versions a client may begin in, most preferred first. */
static const uint32_t supported_versions[] = {NGTCP2_PROTO_VER_V2,
                                              NGTCP2_PROTO_VER_V1};

static void cid_from(struct quic_cid *dst, const uint8_t *data, size_t len) {
  dst->len = len <= QUIC_CID_MAX ? len : QUIC_CID_MAX;
  if (dst->len) /* a short header has no SCID: |data| is NULL */
    memcpy(dst->data, data, dst->len);
}

int quic_pkt_verify_token(const uint8_t *secret, size_t secret_len,
                          const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          uint64_t ttl_ns, uint64_t now) {
  if (in->token_len == 0 || in->token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR)
    return JVPN_ERR_AGAIN;
  if (ngtcp2_crypto_verify_regular_token(
          in->token, in->token_len, secret, secret_len,
          (const ngtcp2_sockaddr *)remote, (ngtcp2_socklen)remote_len, ttl_ns,
          now) != 0)
    return JVPN_ERR_DENIED;
  return 0;
}

int quic_pkt_cid_digest(const uint8_t key[32], const struct quic_cid *cid,
                        uint8_t out[16]) {
  uint8_t mac[32];

  if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, 32, cid->data, cid->len,
                       mac) != 0)
    return JVPN_ERR_TLS;
  memcpy(out, mac, 16);
  return 0;
}

int quic_pkt_version_supported(uint32_t version) {
  size_t i;

  for (i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]);
       i++)
    if (supported_versions[i] == version)
      return 1;
  return 0;
}

int quic_pkt_decode_ids(struct quic_pkt_ids *ids, const uint8_t *pkt,
                        size_t len) {
  ngtcp2_version_cid vc;
  int rv;

  memset(ids, 0, sizeof(*ids));
  /* ngtcp2 asserts on an empty buffer; a 0-byte UDP datagram is easy to
   * send. */
  if (len == 0)
    return JVPN_ERR_MALFORMED;
  rv = ngtcp2_pkt_decode_version_cid(&vc, pkt, len, JVPN_QUIC_SCID_LEN);
  if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION)
    return JVPN_ERR_MALFORMED;
  ids->version = vc.version;
  cid_from(&ids->dcid, vc.dcid, vc.dcidlen);
  cid_from(&ids->scid, vc.scid, vc.scidlen);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION ||
      (vc.version != 0 && !quic_pkt_version_supported(vc.version)))
    return QUIC_PKT_VERSION_UNSUPPORTED;
  return QUIC_PKT_OK;
}

int quic_pkt_accept(struct quic_initial *in, const uint8_t *pkt, size_t len) {
  ngtcp2_pkt_hd hd;

  memset(in, 0, sizeof(*in));
  if (len == 0 || ngtcp2_accept(&hd, pkt, len) != 0)
    return JVPN_ERR_MALFORMED;
  in->version = hd.version;
  quic_cid_from_ngtcp2(&in->dcid, &hd.dcid);
  quic_cid_from_ngtcp2(&in->scid, &hd.scid);
  in->token = hd.token;
  in->token_len = hd.tokenlen;
  in->is_initial = hd.type == NGTCP2_PKT_INITIAL;
  return 0;
}

long quic_pkt_write_vn(uint8_t *out, size_t cap,
                       const struct quic_pkt_ids *ids) {
  uint8_t unused;
  ngtcp2_ssize n;

  (void)gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1); /* any value will do */
  n = ngtcp2_pkt_write_version_negotiation(
      out, cap, unused, ids->scid.data, ids->scid.len, ids->dcid.data,
      ids->dcid.len, supported_versions,
      sizeof(supported_versions) / sizeof(supported_versions[0]));
  return n > 0 ? (long)n : JVPN_ERR_NOSPACE;
}

long quic_pkt_write_stateless_reset(uint8_t *out, size_t cap,
                                    const uint8_t secret[32],
                                    const struct quic_cid *dcid,
                                    size_t pkt_len) {
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[40];
  ngtcp2_cid cid;
  size_t randlen;
  ngtcp2_ssize n;

  /* One byte shorter than the packet that caused it, at least 21 bytes
   * (RFC 9000 10.3). */
  if (pkt_len < 1 + NGTCP2_MIN_STATELESS_RESET_RANDLEN +
                    NGTCP2_STATELESS_RESET_TOKENLEN + 1)
    return 0;
  randlen = pkt_len - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
  if (randlen > sizeof(rnd))
    randlen = sizeof(rnd);
  ngtcp2_cid_init(&cid, dcid->data, dcid->len);
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret, 32, &cid) !=
          0 ||
      gnutls_rnd(GNUTLS_RND_NONCE, rnd, randlen) != 0)
    return JVPN_ERR_TLS;
  n = ngtcp2_pkt_write_stateless_reset(out, cap, token, rnd, randlen);
  return n > 0 ? (long)n : JVPN_ERR_NOSPACE;
}

long quic_pkt_write_retry(uint8_t *out, size_t cap, const uint8_t *secret,
                          size_t secret_len, const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          const struct quic_lb *lb, uint64_t now) {
  uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
  ngtcp2_cid scid, dcid, odcid;
  ngtcp2_ssize tlen, n;

  scid.datalen = JVPN_QUIC_SCID_LEN;
  if (quic_lb_cid(lb, scid.data, scid.datalen) != 0)
    return JVPN_ERR_TLS;
  ngtcp2_cid_init(&odcid, in->dcid.data, in->dcid.len);
  ngtcp2_cid_init(&dcid, in->scid.data, in->scid.len);
  tlen = ngtcp2_crypto_generate_retry_token(
      token, secret, secret_len, in->version, (const ngtcp2_sockaddr *)remote,
      (ngtcp2_socklen)remote_len, &scid, &odcid, now);
  if (tlen < 0)
    return JVPN_ERR_TLS;
  n = ngtcp2_crypto_write_retry(out, cap, in->version, &dcid, &scid, &odcid,
                                token, (size_t)tlen);
  return n > 0 ? (long)n : JVPN_ERR_NOSPACE;
}

int quic_pkt_verify_retry(const uint8_t *secret, size_t secret_len,
                          const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          uint64_t ttl_ns, uint64_t now,
                          struct quic_cid *odcid) {
  ngtcp2_cid o, dcid;

  /* No token, or one that is not a Retry token (a NEW_TOKEN one, say):
   * a Retry is what proves the address. */
  if (in->token_len == 0 || in->token[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY)
    return JVPN_ERR_AGAIN;
  ngtcp2_cid_init(&dcid, in->dcid.data, in->dcid.len);
  if (ngtcp2_crypto_verify_retry_token(
          &o, in->token, in->token_len, secret, secret_len, in->version,
          (const ngtcp2_sockaddr *)remote, (ngtcp2_socklen)remote_len, &dcid,
          ttl_ns, now) != 0)
    return JVPN_ERR_DENIED;
  quic_cid_from_ngtcp2(odcid, &o);
  return 0;
}
