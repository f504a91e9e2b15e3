/* jvpn-quic: header checks for IP packets crossing the tunnel. */
#include "tun/ip_check.h"

#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"

#define IPV4_MIN_HDR 20
#define IPV6_HDR 40

/* RFC 1071 sum over an even-length IPv4 header; a valid header, checksum
 * field included, folds to 0xffff. */
static int ipv4_hdr_sum_ok(const uint8_t *h, size_t hlen) {
  uint32_t sum = 0;
  size_t i;

  for (i = 0; i < hlen; i += 2)
    sum += (uint32_t)h[i] << 8 | h[i + 1];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

static int check_v4(const uint8_t *pkt, size_t len, struct ip_info *info) {
  size_t hlen, total;

  if (len < IPV4_MIN_HDR)
    return JVPN_ERR_TRUNCATED;
  hlen = (size_t)(pkt[0] & 0x0f) * 4;
  if (hlen < IPV4_MIN_HDR)
    return JVPN_ERR_MALFORMED;
  if (hlen > len)
    return JVPN_ERR_TRUNCATED;
  total = (size_t)pkt[2] << 8 | pkt[3];
  if (total < hlen)
    return JVPN_ERR_MALFORMED;
  if (total > len)
    return JVPN_ERR_TRUNCATED;
  /* Trailing bytes would be carried to the peer as if they were data. */
  if (total < len)
    return JVPN_ERR_MALFORMED;
  if (!ipv4_hdr_sum_ok(pkt, hlen))
    return JVPN_ERR_MALFORMED;
  info->family = AF_INET;
  info->proto = pkt[9];
  info->hdr_len = hlen;
  info->total_len = total;
  info->src = pkt + 12;
  info->dst = pkt + 16;
  return 0;
}

static int check_v6(const uint8_t *pkt, size_t len, struct ip_info *info) {
  size_t total;

  if (len < IPV6_HDR)
    return JVPN_ERR_TRUNCATED;
  /* A jumbogram (payload length 0, RFC 2675) cannot cross the tunnel, and
   * falls out here as a length mismatch. */
  total = ((size_t)pkt[4] << 8 | pkt[5]) + IPV6_HDR;
  if (total > len)
    return JVPN_ERR_TRUNCATED;
  if (total < len)
    return JVPN_ERR_MALFORMED;
  info->family = AF_INET6;
  info->proto = pkt[6];
  info->hdr_len = IPV6_HDR;
  info->total_len = total;
  info->src = pkt + 8;
  info->dst = pkt + 24;
  return 0;
}

int ip_check(const uint8_t *pkt, size_t len, struct ip_info *info) {
  if (len < 1)
    return JVPN_ERR_TRUNCATED;
  switch (pkt[0] >> 4) {
  case 4: return check_v4(pkt, len, info);
  case 6: return check_v6(pkt, len, info);
  default: return JVPN_ERR_MALFORMED;
  }
}

int ip_src_is(const struct ip_info *info, int family, const uint8_t *addr) {
  if (info->family != family)
    return 0;
  return memcmp(info->src, addr, family == AF_INET ? 4 : 16) == 0;
}
