/* quic/connect_ip: CONNECT-IP capsule payloads (RFC 9484 4.7). */
#include "quic/connect_ip.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/varint.h"

/* Address length in bytes for an IP version, 0 if the version is unknown. */
static size_t addr_len(uint8_t ip_version) {
  switch (ip_version) {
  case 4: return 4;
  case 6: return 16;
  default: return 0;
  }
}

/* Returns nonzero if any bit of |a| (|alen| bytes) past |plen| is set. */
static int host_bits_set(const uint8_t *a, size_t alen, unsigned plen) {
  size_t i = plen / 8;

  if (i < alen && (plen % 8) != 0) {
    if (a[i] & (uint8_t)(0xff >> (plen % 8)))
      return 1;
    i++;
  }
  for (; i < alen; i++)
    if (a[i] != 0)
      return 1;
  return 0;
}

/* Checks one address entry; shared by the decoder and the encoder so that
 * we never emit what we would reject. */
static int addr_valid(uint8_t ip_version, uint8_t plen, const uint8_t *a) {
  size_t alen = addr_len(ip_version);

  if (alen == 0 || plen > alen * 8)
    return 0;
  /* RFC 9484 4.7.1: the address identifies a prefix, so host bits are
   * zero; an all-zero ADDRESS_REQUEST address ("any") passes too. */
  return !host_bits_set(a, alen, plen);
}

int cip_addrs_decode(const uint8_t *v, size_t len, struct cip_addr *out,
                     size_t max, size_t *n) {
  size_t off = 0, count = 0, used, alen;
  uint64_t id;
  struct cip_addr *a;
  int rv;

  *n = 0;
  while (off < len) {
    if (count == max)
      return JVPN_ERR_OVERSIZE;
    if ((rv = jvpn_varint_decode(v + off, len - off, &id, &used)) != 0)
      return rv;
    off += used;
    if (off == len)
      return JVPN_ERR_TRUNCATED;
    alen = addr_len(v[off]);
    if (alen == 0)
      return JVPN_ERR_MALFORMED;
    if (len - off < 1 + alen + 1)
      return JVPN_ERR_TRUNCATED;
    a = &out[count];
    memset(a, 0, sizeof(*a));
    a->request_id = id;
    a->ip_version = v[off];
    memcpy(a->addr, v + off + 1, alen);
    a->prefix_len = v[off + 1 + alen];
    off += 1 + alen + 1;
    if (!addr_valid(a->ip_version, a->prefix_len, a->addr))
      return JVPN_ERR_MALFORMED;
    count++;
  }
  *n = count;
  return 0;
}

long cip_addrs_encode(uint8_t *dst, size_t dstlen, const struct cip_addr *a,
                      size_t n) {
  size_t off = 0, i, alen, ilen;

  for (i = 0; i < n; i++) {
    if (!addr_valid(a[i].ip_version, a[i].prefix_len, a[i].addr))
      return JVPN_ERR_INVAL;
    ilen = jvpn_varint_len(a[i].request_id);
    if (ilen == 0)
      return JVPN_ERR_INVAL;
    alen = addr_len(a[i].ip_version);
    if (dstlen - off < ilen + 1 + alen + 1)
      return JVPN_ERR_NOSPACE;
    off += jvpn_varint_encode(dst + off, dstlen - off, a[i].request_id);
    dst[off++] = a[i].ip_version;
    memcpy(dst + off, a[i].addr, alen);
    off += alen;
    dst[off++] = a[i].prefix_len;
  }
  return (long)off;
}

/* RFC 9484 4.7.3: within a range start <= end; between consecutive ranges
 * the version does not decrease, then the protocol does not decrease, and
 * ranges of the same version and protocol are strictly ascending (which
 * also rules out overlap). |prev| is NULL for the first range. */
static int range_valid(const struct cip_range *prev,
                       const struct cip_range *r) {
  size_t alen = addr_len(r->ip_version);

  if (alen == 0 || memcmp(r->start, r->end, alen) > 0)
    return 0;
  if (prev == NULL || prev->ip_version < r->ip_version)
    return 1;
  if (prev->ip_version > r->ip_version || prev->ipproto > r->ipproto)
    return 0;
  if (prev->ipproto < r->ipproto)
    return 1;
  return memcmp(prev->end, r->start, alen) < 0;
}

/* RFC 9484 4.7.3: a range for one protocol must not overlap a range for
 * all protocols (0), which the ordering rule alone does not catch. Checking
 * is optional for receivers; we do, since the route table would otherwise
 * depend on lookup order. Protocol-0 ranges sort first within a version,
 * so only earlier entries can conflict; |n| is bounded by the caller's
 * array, which keeps the scan cheap. */
static int overlaps_any_proto(const struct cip_range *list, size_t n,
                              const struct cip_range *r) {
  size_t alen = addr_len(r->ip_version), i;

  if (r->ipproto == 0)
    return 0;
  for (i = 0; i < n; i++)
    if (list[i].ip_version == r->ip_version && list[i].ipproto == 0 &&
        memcmp(list[i].start, r->end, alen) <= 0 &&
        memcmp(r->start, list[i].end, alen) <= 0)
      return 1;
  return 0;
}

int cip_routes_decode(const uint8_t *v, size_t len, struct cip_range *out,
                      size_t max, size_t *n) {
  size_t off = 0, count = 0, alen;
  struct cip_range *r;

  *n = 0;
  while (off < len) {
    if (count == max)
      return JVPN_ERR_OVERSIZE;
    alen = addr_len(v[off]);
    if (alen == 0)
      return JVPN_ERR_MALFORMED;
    if (len - off < 1 + 2 * alen + 1)
      return JVPN_ERR_TRUNCATED;
    r = &out[count];
    memset(r, 0, sizeof(*r));
    r->ip_version = v[off];
    memcpy(r->start, v + off + 1, alen);
    memcpy(r->end, v + off + 1 + alen, alen);
    r->ipproto = v[off + 1 + 2 * alen];
    off += 1 + 2 * alen + 1;
    if (!range_valid(count > 0 ? &out[count - 1] : NULL, r) ||
        overlaps_any_proto(out, count, r))
      return JVPN_ERR_MALFORMED;
    count++;
  }
  *n = count;
  return 0;
}

long cip_routes_encode(uint8_t *dst, size_t dstlen, const struct cip_range *r,
                       size_t n) {
  size_t off = 0, i, alen;

  for (i = 0; i < n; i++) {
    if (!range_valid(i > 0 ? &r[i - 1] : NULL, &r[i]) ||
        overlaps_any_proto(r, i, &r[i]))
      return JVPN_ERR_INVAL;
    alen = addr_len(r[i].ip_version);
    if (dstlen - off < 1 + 2 * alen + 1)
      return JVPN_ERR_NOSPACE;
    dst[off++] = r[i].ip_version;
    memcpy(dst + off, r[i].start, alen);
    off += alen;
    memcpy(dst + off, r[i].end, alen);
    off += alen;
    dst[off++] = r[i].ipproto;
  }
  return (long)off;
}

void cip_range_from_prefix(struct cip_range *r, uint8_t ip_version,
                           const uint8_t *addr, uint8_t plen) {
  size_t alen = addr_len(ip_version), i;
  unsigned bits;
  uint8_t mask;

  memset(r, 0, sizeof(*r));
  r->ip_version = ip_version;
  if (plen > alen * 8)
    plen = (uint8_t)(alen * 8);
  for (i = 0; i < alen; i++) {
    bits = plen > i * 8 ? plen - (unsigned)(i * 8) : 0;
    mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
    r->start[i] = addr[i] & mask;
    r->end[i] = (uint8_t)(addr[i] | (uint8_t)~mask);
  }
}

int cip_range_contains(const struct cip_range *r, uint8_t ip_version,
                       const uint8_t *addr) {
  size_t alen = addr_len(ip_version);

  /* Addresses in network byte order compare as big-endian numbers. */
  return alen != 0 && r->ip_version == ip_version &&
         memcmp(r->start, addr, alen) <= 0 && memcmp(addr, r->end, alen) <= 0;
}

int cip_range_to_prefix(const struct cip_range *r, uint8_t addr[16],
                        uint8_t *plen) {
  size_t alen = addr_len(r->ip_version), i;
  unsigned common = 0, b;
  uint8_t x;

  if (alen == 0)
    return JVPN_ERR_UNSUPPORTED;
  /* The prefix length is the count of leading bits start and end share;
   * the range is a prefix iff start's remaining bits are all 0 and end's
   * all 1. */
  for (i = 0; i < alen; i++) {
    x = r->start[i] ^ r->end[i];
    if (x == 0) {
      common += 8;
      continue;
    }
    for (b = 0; b < 8 && !(x & (0x80 >> b)); b++)
      common++;
    break;
  }
  if (host_bits_set(r->start, alen, common))
    return JVPN_ERR_UNSUPPORTED;
  for (i = common / 8; i < alen; i++) {
    x = (uint8_t)~r->end[i];
    if (i == common / 8)
      x &= (uint8_t)(0xff >> (common % 8));
    if (x != 0)
      return JVPN_ERR_UNSUPPORTED;
  }
  memset(addr, 0, 16);
  memcpy(addr, r->start, alen);
  *plen = (uint8_t)common;
  return 0;
}
