/* jvpn-quic: "packet too big" errors for packets the tunnel cannot carry. */
#include "tun/icmp_ptb.h"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "tun/ip_check.h"
#include "tun/inet_csum.h"
#include "tun/net_bytes.h"

#define IPV4_HDR 20
#define IPV6_HDR 40
#define ICMP_HDR 8
#define IPV4_ERR_MAX 576  /* bytes: RFC 1812 4.3.2.3 */
#define IPV6_ERR_MAX 1280 /* bytes: RFC 4443 2.4 (c) */
#define ERR_TTL 64

/* RFC 1122 3.2.2: no error about an error, and none whose source (our
 * destination) or destination (their source) is not one host. */
static int v4_denied(const uint8_t *pkt, const struct ip_info *ip) {
  uint16_t frag = (uint16_t)(pkt[6] << 8 | pkt[7]);
  uint8_t s0 = ip->src[0], d0 = ip->dst[0];

  if (!(frag & IP_DF))
    return 1;
  /* A later fragment has no transport header to quote (RFC 1122 3.2.2). */
  if (frag & IP_OFFMASK)
    return 1;
  /* 0/8 is "this network"; 224/4 multicast; 240/4 reserved, with the
   * limited broadcast address. */
  if (s0 == 0 || s0 >= 224 || d0 == 0 || d0 >= 224)
    return 1;
  if (ip->proto == IPPROTO_ICMP) {
    uint8_t type;

    if (ip->total_len <= ip->hdr_len)
      return 1;
    type = pkt[ip->hdr_len];
    if (type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
        type == ICMP_REDIRECT || type == ICMP_TIME_EXCEEDED ||
        type == ICMP_PARAMETERPROB)
      return 1;
  }
  return 0;
}

static long build_v4(uint8_t *out, size_t outlen, const uint8_t *pkt,
                     const struct ip_info *ip, uint32_t mtu) {
  size_t quote = ip->total_len, total;
  uint8_t *icmp;

  if (v4_denied(pkt, ip))
    return JVPN_ERR_DENIED;
  if (quote > IPV4_ERR_MAX - IPV4_HDR - ICMP_HDR)
    quote = IPV4_ERR_MAX - IPV4_HDR - ICMP_HDR;
  total = IPV4_HDR + ICMP_HDR + quote;
  if (outlen < total)
    return JVPN_ERR_NOSPACE;

  memset(out, 0, IPV4_HDR + ICMP_HDR);
  out[0] = 0x45;
  net_put16(out + 2, (uint32_t)total);
  out[8] = ERR_TTL;
  out[9] = IPPROTO_ICMP;
  memcpy(out + 12, ip->dst, 4);
  memcpy(out + 16, ip->src, 4);
  net_put16(out + 10, inet_csum_fold(inet_csum_add(0, out, IPV4_HDR)));

  icmp = out + IPV4_HDR;
  icmp[0] = ICMP_DEST_UNREACH;
  icmp[1] = ICMP_FRAG_NEEDED;
  net_put16(icmp + 6, mtu > 0xffff ? 0xffff : mtu);
  memcpy(icmp + ICMP_HDR, pkt, quote);
  net_put16(icmp + 2, inet_csum_fold(inet_csum_add(0, icmp, ICMP_HDR + quote)));
  return (long)total;
}

/* RFC 4443 2.4 (e) allows a Packet Too Big for a multicast destination,
 * but the error would have to come from that group address, which no
 * packet may carry as its source; with no address of our own on the far
 * side, such packets get no error. Only the first next header is looked
 * at: an ICMPv6 error behind extension headers is not recognised, which
 * at worst answers one error with another that its sender then drops. */
static int v6_denied(const uint8_t *pkt, const struct ip_info *ip) {
  static const uint8_t unspec[16];

  if (ip->src[0] == 0xff || ip->dst[0] == 0xff)
    return 1;
  if (memcmp(ip->src, unspec, 16) == 0 || memcmp(ip->dst, unspec, 16) == 0)
    return 1;
  if (ip->proto == IPPROTO_ICMPV6) {
    if (ip->total_len <= ip->hdr_len)
      return 1;
    if (!(pkt[ip->hdr_len] & ICMP6_INFOMSG_MASK))
      return 1;
  }
  return 0;
}

static long build_v6(uint8_t *out, size_t outlen, const uint8_t *pkt,
                     const struct ip_info *ip, uint32_t mtu) {
  size_t quote = ip->total_len, plen;
  uint8_t *icmp, pseudo[8];
  uint32_t sum;

  if (v6_denied(pkt, ip))
    return JVPN_ERR_DENIED;
  if (quote > IPV6_ERR_MAX - IPV6_HDR - ICMP_HDR)
    quote = IPV6_ERR_MAX - IPV6_HDR - ICMP_HDR;
  plen = ICMP_HDR + quote;
  if (outlen < IPV6_HDR + plen)
    return JVPN_ERR_NOSPACE;

  memset(out, 0, IPV6_HDR + ICMP_HDR);
  out[0] = 0x60;
  net_put16(out + 4, (uint32_t)plen);
  out[6] = IPPROTO_ICMPV6;
  out[7] = ERR_TTL;
  memcpy(out + 8, ip->dst, 16);
  memcpy(out + 24, ip->src, 16);

  icmp = out + IPV6_HDR;
  icmp[0] = ICMP6_PACKET_TOO_BIG;
  net_put32(icmp + 4, mtu);
  memcpy(icmp + ICMP_HDR, pkt, quote);

  /* Pseudo-header (RFC 8200 8.1): addresses, upper-layer length, zeros
   * and the next header. */
  net_put32(pseudo, (uint32_t)plen);
  pseudo[4] = pseudo[5] = pseudo[6] = 0;
  pseudo[7] = IPPROTO_ICMPV6;
  sum = inet_csum_add(0, out + 8, 32);
  sum = inet_csum_add(sum, pseudo, sizeof(pseudo));
  sum = inet_csum_add(sum, icmp, plen);
  net_put16(icmp + 2, inet_csum_fold(sum));
  return (long)(IPV6_HDR + plen);
}

long icmp_ptb_build(uint8_t *out, size_t outlen, const uint8_t *pkt, size_t len,
                    uint32_t mtu) {
  struct ip_info ip;
  int rv;

  /* Checked again here: this is the slow path, and the quote below reads
   * as far as the header's own length says. */
  rv = ip_check(pkt, len, &ip);
  if (rv < 0)
    return JVPN_ERR_MALFORMED;
  if (ip.family == AF_INET)
    return build_v4(out, outlen, pkt, &ip, mtu);
  return build_v6(out, outlen, pkt, &ip, mtu);
}
