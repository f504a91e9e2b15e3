/* jvpn-quic: the Internet checksum (RFC 1071). */
#include "tun/inet_csum.h"

#include <string.h>

/* The sum is taken over 32-bit words in host byte order into a 64-bit
 * accumulator (no carry is lost below 2^32 words), folded to 16 bits,
 * and turned to network byte order at the end: RFC 1071 2(B), the sum is
 * independent of byte order up to a swap. This runs over every byte the
 * offloads cut or coalesce (tun/vnet), so it must not go a byte at a
 * time. */
uint32_t inet_csum_add(uint32_t sum, const uint8_t *p, size_t len) {
  uint64_t acc = 0;
  uint32_t w;
  uint16_t h;

  for (; len >= 8; p += 8, len -= 8) {
    uint32_t a, b;

    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    acc += (uint64_t)a + b;
  }
  if (len >= 4) {
    memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    memcpy(&h, p, 2);
    acc += h;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    /* The odd byte is the high half of a word padded with zero: in host
     * order that word is the byte itself (little-endian) or byte << 8. */
    uint8_t last[2] = {p[0], 0};

    memcpy(&h, last, 2);
    acc += h;
  }
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
  return sum + (uint32_t)acc;
}

uint16_t inet_csum_fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}
