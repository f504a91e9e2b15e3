/*
 * jvpn-quic: QUIC variable-length integers (RFC 9000 16).
 */
#ifndef JVPN_VARINT_H
#define JVPN_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define JVPN_VARINT_MAX ((uint64_t)0x3fffffffffffffffULL)

/* Returns the encoded length of |v| (1, 2, 4 or 8), or 0 if |v| exceeds
 * JVPN_VARINT_MAX. */
size_t jvpn_varint_len(uint64_t v);

/* Writes |v| in its shortest form. Returns the bytes written, or 0 if |v|
 * is too large or does not fit in |dstlen|. */
size_t jvpn_varint_encode(uint8_t *dst, size_t dstlen, uint64_t v);

/* Reads one varint from |src|. On success stores the value in |*v|, the
 * bytes used in |*used| and returns 0; returns JVPN_ERR_TRUNCATED if
 * |len| is shorter than the encoding. Non-minimal encodings are accepted
 * (RFC 9000 16 allows them). */
int jvpn_varint_decode(const uint8_t *src, size_t len, uint64_t *v,
                       size_t *used);

#endif /* JVPN_VARINT_H */
