/*
 * quic/quic_lb: see quic/quic_lb.h.
 */
#include "quic/quic_lb.h"

#include <string.h>

#include <gnutls/crypto.h>

#include "jvpn/errors.h"

#define CID_LEN_MIN 2
#define CID_LEN_MAX 20

int quic_lb_cid(const struct quic_lb *lb, uint8_t *cid, size_t len) {
  if (len < CID_LEN_MIN || len > CID_LEN_MAX)
    return JVPN_ERR_INVAL;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, cid, len) != 0)
    return JVPN_ERR_TLS;
  if (lb == NULL || !lb->on)
    return 0;
  if (lb->config_id > QUIC_LB_CONFIG_MAX ||
      1 + lb->server_id_len + QUIC_LB_NONCE_MIN > len)
    return JVPN_ERR_INVAL;
  cid[0] = (uint8_t)(lb->config_id << 5 | (len - 1));
  memcpy(cid + 1, lb->server_id, lb->server_id_len);
  return 0;
}

int quic_lb_decode(const struct quic_lb *lb, const uint8_t *cid, size_t len,
                   uint8_t *sid) {
  if (lb == NULL || !lb->on || len < 1 + lb->server_id_len ||
      cid[0] >> 5 != lb->config_id || (size_t)(cid[0] & 0x1f) + 1 != len)
    return JVPN_ERR_NOTFOUND;
  memcpy(sid, cid + 1, lb->server_id_len);
  return 0;
}
