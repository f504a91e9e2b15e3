/*
 * quic/connect_ip: the CONNECT-IP capsule payloads (RFC 9484 4.7).
 *
 *   ADDRESS_ASSIGN / ADDRESS_REQUEST: a list of
 *     { Request ID (i), IP Version (8), IP Address (32 or 128),
 *       IP Prefix Length (8) }
 *   ROUTE_ADVERTISEMENT: a list of
 *     { IP Version (8), Start IP Address, End IP Address, IP Protocol (8) }
 *
 * Decoders validate everything the RFC requires: version 4 or 6, prefix
 * length within the family, no bits set past the prefix, start <= end, and
 * for routes the RFC's ordering (4.7.3: by IP version, then IP protocol,
 * then start address; no overlap within the same protocol, nor with a
 * range for all protocols). The Request ID of ADDRESS_REQUEST must not be
 * zero; that rule is the caller's, since the decoder serves both types.
 * Lists longer than the caller's array are JVPN_ERR_OVERSIZE.
 */
#ifndef QUIC_CONNECT_IP_H
#define QUIC_CONNECT_IP_H

#include <stddef.h>
#include <stdint.h>

struct cip_addr {
  uint64_t request_id;
  uint8_t ip_version; /* 4 or 6 */
  uint8_t prefix_len;
  uint8_t addr[16];   /* IPv4 in the first 4 bytes */
};

struct cip_range {
  uint8_t ip_version; /* 4 or 6 */
  uint8_t ipproto;    /* 0 = all protocols */
  uint8_t start[16];
  uint8_t end[16];
};

/* Decodes an ADDRESS_ASSIGN or ADDRESS_REQUEST value into |out| (room for
 * |max|); stores the count in |*n|. Returns 0, JVPN_ERR_TRUNCATED,
 * JVPN_ERR_MALFORMED or JVPN_ERR_OVERSIZE. */
int cip_addrs_decode(const uint8_t *v, size_t len, struct cip_addr *out,
                     size_t max, size_t *n);
/* Encodes |n| addresses. Returns bytes written or JVPN_ERR_NOSPACE /
 * JVPN_ERR_INVAL (bad version or prefix length). */
long cip_addrs_encode(uint8_t *dst, size_t dstlen, const struct cip_addr *a,
                      size_t n);

/* The same for ROUTE_ADVERTISEMENT values. */
int cip_routes_decode(const uint8_t *v, size_t len, struct cip_range *out,
                      size_t max, size_t *n);
long cip_routes_encode(uint8_t *dst, size_t dstlen, const struct cip_range *r,
                       size_t n);

/* Converts a prefix (addr/plen) into the range it covers. */
void cip_range_from_prefix(struct cip_range *r, uint8_t ip_version,
                           const uint8_t *addr, uint8_t plen);
/* Converts a range into the smallest prefix that covers it exactly; returns
 * 0, or JVPN_ERR_UNSUPPORTED if the range is not one CIDR prefix. */
int cip_range_to_prefix(const struct cip_range *r, uint8_t addr[16],
                        uint8_t *plen);
/* Returns 1 if |addr| (4 bytes for version 4, 16 for 6) lies inside |r|
 * (start and end included), 0 if not or if the versions differ. */
int cip_range_contains(const struct cip_range *r, uint8_t ip_version,
                       const uint8_t *addr);

#endif /* QUIC_CONNECT_IP_H */
