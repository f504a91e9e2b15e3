/* jvpn-quic: the Internet checksum (RFC 1071). */
#include "tun/inet_csum.h"

uint32_t inet_csum_add(uint32_t sum, const uint8_t *p, size_t len) {
  size_t i;

  for (i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (len & 1)
    sum += (uint32_t)p[len - 1] << 8;
  return sum;
}

uint16_t inet_csum_fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}
