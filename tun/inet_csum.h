/*
 * tun/inet_csum: the Internet checksum (RFC 1071), for the headers this
 * program writes itself (ICMP Packet Too Big, the test tools' packets).
 */
#ifndef TUN_INET_CSUM_H
#define TUN_INET_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds |len| bytes to a running sum; an odd tail is padded with a zero
 * byte, so only the last chunk summed may have an odd length. */
uint32_t inet_csum_add(uint32_t sum, const uint8_t *p, size_t len);

/* Folds a running sum into the 16-bit one's complement checksum. */
uint16_t inet_csum_fold(uint32_t sum);

#endif /* TUN_INET_CSUM_H */
