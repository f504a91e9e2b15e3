/* quic/cip_stream: the capsules of a CONNECT-IP request stream. */
#include "quic/cip_stream.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "jvpn/varint.h"

static int capsule_known(uint64_t type) {
  return type == JVPN_CAPSULE_DATAGRAM || type == JVPN_CAPSULE_ADDRESS_ASSIGN ||
         type == JVPN_CAPSULE_ADDRESS_REQUEST ||
         type == JVPN_CAPSULE_ROUTE_ADVERTISEMENT ||
         type == JVPN_CAPSULE_ACTIVATE ||
         type == JVPN_CAPSULE_ACTIVATE_RESULT ||
         type == JVPN_CAPSULE_KEEPALIVE ||
         type == JVPN_CAPSULE_KEEPALIVE_RESULT ||
         type == JVPN_CAPSULE_NAT_REFRESH ||
         type == JVPN_CAPSULE_DNS_ASSIGN;
}

void cip_rx_datagram(struct cip_rx *rx, uint64_t context, const uint8_t *pkt,
                     size_t len) {
  if (context != JVPN_CIP_CONTEXT_IP) {
    /* RFC 9484 6: unknown contexts are dropped (or buffered briefly). */
    rx->stats->drop_context++;
    return;
  }
  if (len == 0) {
    rx->stats->drop_malformed++;
    return;
  }
  rx->stats->rx_datagrams++;
  rx->stats->rx_bytes += len;
  (*rx->ops)->ip_packet(*rx->user, pkt, len);
}

static int on_capsule(void *ud, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct cip_rx *rx = ud;
  uint64_t context;
  size_t used;

  rx->stats->capsules_rx++;
  if (type == JVPN_CAPSULE_DATAGRAM) {
    /* RFC 9297 3.5: a datagram sent reliably on the stream. */
    if (jvpn_varint_decode(value, len, &context, &used) != 0)
      return JVPN_ERR_MALFORMED;
    cip_rx_datagram(rx, context, value + used, len - used);
    return 0;
  }
  return (*rx->ops)->capsule(*rx->user, type, value, len);
}

void cip_rx_init(struct cip_rx *rx, struct quic_conn_stats *stats,
                 const struct quic_conn_ops *const *ops, void *const *user) {
  capsule_parser_init(&rx->parser, capsule_known, on_capsule, rx);
  rx->stats = stats;
  rx->ops = ops;
  rx->user = user;
}

void cip_rx_free(struct cip_rx *rx) {
  if (rx)
    capsule_parser_free(&rx->parser);
}

int cip_rx_feed(struct cip_rx *rx, const uint8_t *data, size_t len) {
  int rv = capsule_parser_feed(&rx->parser, data, len);

  rx->stats->capsules_skipped = rx->parser.stats.skipped;
  return rv;
}

int cip_rx_mid_capsule(const struct cip_rx *rx) {
  return capsule_parser_mid_capsule(&rx->parser);
}

const char *cip_rx_strerror(int rv) {
  switch (rv) {
  case JVPN_ERR_OVERSIZE: return "capsule exceeds the size limit";
  case JVPN_ERR_NOMEM: return "no memory for a capsule";
  default: return "malformed capsule";
  }
}

long cip_datagram_encode(uint8_t *dst, size_t dstlen, const uint8_t *pkt,
                         size_t len) {
  size_t clen = 1 + len; /* context ID 0 is one byte */
  size_t hlen = 1 + jvpn_varint_len(clen), off;

  if (jvpn_varint_len(clen) == 0 || dstlen < hlen + clen)
    return JVPN_ERR_NOSPACE;
  off = jvpn_varint_encode(dst, dstlen, JVPN_CAPSULE_DATAGRAM);
  off += jvpn_varint_encode(dst + off, dstlen - off, clen);
  off += jvpn_varint_encode(dst + off, dstlen - off, JVPN_CIP_CONTEXT_IP);
  memcpy(dst + off, pkt, len);
  return (long)(off + len);
}
