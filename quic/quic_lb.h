/*
 * quic/quic_lb: server connection IDs that name their server, so that a
 * connection-ID-aware UDP load balancer in front of several server nodes
 * can route every packet of a connection to the node that holds it, also
 * after the client's address changed (draft-ietf-quic-load-balancers,
 * the plaintext CID algorithm).
 *
 *   first octet: config rotation (3 high bits) | CID length - 1 (5 bits)
 *   server ID:   QUIC_LB server_id_len bytes, the node's
 *   nonce:       the rest, random (at least QUIC_LB_NONCE_MIN bytes)
 *
 * Without a server ID the connection IDs are random as before (config
 * rotation bits 0b111 would say "unroutable"; a random first octet may
 * say anything, which is what an unconfigured server may do).
 */
#ifndef QUIC_QUIC_LB_H
#define QUIC_QUIC_LB_H

#include <stddef.h>
#include <stdint.h>

#define QUIC_LB_SERVER_ID_MAX 15 /* bytes */
#define QUIC_LB_NONCE_MIN 4      /* bytes of randomness at least */
#define QUIC_LB_CONFIG_MAX 6     /* config rotation 7 is "unroutable" */

struct quic_lb {
  int on;                        /* a server ID is configured */
  uint8_t config_id;             /* 0..QUIC_LB_CONFIG_MAX */
  uint8_t server_id[QUIC_LB_SERVER_ID_MAX];
  size_t server_id_len;
};

/* Fills |cid| (|len| bytes, 2..20) with a new connection ID: encoded as
 * above when |lb| is on (len must leave QUIC_LB_NONCE_MIN nonce bytes
 * after the server ID), else random. |lb| may be NULL (random). Returns
 * 0, JVPN_ERR_INVAL or JVPN_ERR_TLS (no randomness). */
int quic_lb_cid(const struct quic_lb *lb, uint8_t *cid, size_t len);

/* What a load balancer reads: the config rotation of |cid| and, when it
 * matches |lb| and the length bits agree with |len|, the server ID into
 * |sid| (room for lb->server_id_len). Returns 0, or JVPN_ERR_NOTFOUND for
 * a CID this configuration does not route. */
int quic_lb_decode(const struct quic_lb *lb, const uint8_t *cid, size_t len,
                   uint8_t *sid);

#endif /* QUIC_QUIC_LB_H */
