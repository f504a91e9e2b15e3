/*
 * tun/ip_check: header checks for IP packets crossing the tunnel.
 */
#ifndef TUN_IP_CHECK_H
#define TUN_IP_CHECK_H

#include <stddef.h>
#include <stdint.h>

struct ip_info {
  int family;        /* AF_INET or AF_INET6 */
  uint8_t proto;     /* IPv4 protocol / IPv6 next header (first one) */
  size_t hdr_len;    /* bytes of the fixed (+ options) header */
  size_t total_len;  /* from the header; <= the buffer length */
  const uint8_t *src; /* 4 or 16 bytes inside the packet */
  const uint8_t *dst;
};

/* Validates the version, header length, total/payload length against |len|
 * (the packet may not be longer than the header says... trailing bytes are
 * JVPN_ERR_MALFORMED too), and for IPv4 the header checksum. Returns 0,
 * JVPN_ERR_TRUNCATED or JVPN_ERR_MALFORMED. */
int ip_check(const uint8_t *pkt, size_t len, struct ip_info *info);

/* Returns 1 if |info|'s source equals |addr| (4 or 16 bytes per family). */
int ip_src_is(const struct ip_info *info, int family, const uint8_t *addr);

#endif /* TUN_IP_CHECK_H */
