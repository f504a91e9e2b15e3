/*
 * quic/cip_stream: the capsules of a CONNECT-IP request stream (RFC 9297
 * 3.2, RFC 9484 4.7), for both HTTP mappings: incoming bytes are parsed
 * (quic/capsule), known capsules go to ops->capsule, DATAGRAM capsules
 * (RFC 9297 3.5) with context ID 0 to ops->ip_packet, other contexts are
 * counted and dropped; outgoing IP packets are framed as DATAGRAM
 * capsules.
 *
 * The ops and user pointers are followed, not copied, so that a change of
 * owner (quic_conn_set_owner, h2_conn_set_owner) takes effect at once.
 */
#ifndef QUIC_CIP_STREAM_H
#define QUIC_CIP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "quic/capsule.h"
#include "quic/quic_conn.h"

/* bytes: a DATAGRAM capsule's header: type (1), length (up to 4 for any
 * value we accept) and context ID 0 (1) */
#define CIP_DATAGRAM_OVERHEAD 6

struct cip_rx {
  struct capsule_parser parser;
  struct quic_conn_stats *stats; /* not owned */
  const struct quic_conn_ops *const *ops;
  void *const *user;
};

/* Prepares |rx| to deliver to *|ops| with *|user| and count in |stats|. */
void cip_rx_init(struct cip_rx *rx, struct quic_conn_stats *stats,
                 const struct quic_conn_ops *const *ops, void *const *user);

/* Releases what a partly received capsule holds; accepts NULL. */
void cip_rx_free(struct cip_rx *rx);

/* Feeds request stream bytes. Returns 0, or a JVPN_ERR_* after which the
 * stream is malformed (RFC 9297 3.3): a capsule over the size limit,
 * bad framing, or ops->capsule's refusal. */
int cip_rx_feed(struct cip_rx *rx, const uint8_t *data, size_t len);

/* Nonzero if the stream ended here would end inside a capsule. */
int cip_rx_mid_capsule(const struct cip_rx *rx);

/* Why cip_rx_feed() returned |rv|, for logs and ops->closed. */
const char *cip_rx_strerror(int rv);

/* Delivers one HTTP Datagram payload with |context| (counted). */
void cip_rx_datagram(struct cip_rx *rx, uint64_t context, const uint8_t *pkt,
                     size_t len);

/* Writes a DATAGRAM capsule carrying |pkt| with context ID 0 into |dst|.
 * Returns its length or JVPN_ERR_NOSPACE. */
long cip_datagram_encode(uint8_t *dst, size_t dstlen, const uint8_t *pkt,
                         size_t len);

#endif /* QUIC_CIP_STREAM_H */
