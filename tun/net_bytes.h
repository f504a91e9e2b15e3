/*
 * tun/net_bytes: 16- and 32-bit fields in network byte order, for the
 * packet headers tun/ reads and writes.
 */
#ifndef TUN_NET_BYTES_H
#define TUN_NET_BYTES_H

#include <stdint.h>

static inline uint16_t net_get16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t net_get32(const uint8_t *p) {
  return (uint32_t)net_get16(p) << 16 | net_get16(p + 2);
}

/* Writes the low 16 bits of |v|. */
static inline void net_put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void net_put32(uint8_t *p, uint32_t v) {
  net_put16(p, v >> 16);
  net_put16(p + 2, v);
}

#endif /* TUN_NET_BYTES_H */
