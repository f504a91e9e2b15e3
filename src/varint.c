/* jvpn-quic: QUIC variable-length integers. */
#include "jvpn/varint.h"

#include "jvpn/errors.h"

size_t jvpn_varint_len(uint64_t v) {
  if (v < 64)
    return 1;
  if (v < 16384)
    return 2;
  if (v < 1073741824)
    return 4;
  if (v <= JVPN_VARINT_MAX)
    return 8;
  return 0;
}

size_t jvpn_varint_encode(uint8_t *dst, size_t dstlen, uint64_t v) {
  size_t n = jvpn_varint_len(v), i;
  static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};

  if (n == 0 || n > dstlen)
    return 0;
  for (i = n; i > 0; i--) {
    dst[i - 1] = (uint8_t)v;
    v >>= 8;
  }
  dst[0] |= prefix[n];
  return n;
}

int jvpn_varint_decode(const uint8_t *src, size_t len, uint64_t *v,
                       size_t *used) {
  size_t n, i;
  uint64_t x;

  if (len == 0)
    return JVPN_ERR_TRUNCATED;
  n = (size_t)1 << (src[0] >> 6);
  if (len < n)
    return JVPN_ERR_TRUNCATED;
  x = src[0] & 0x3f;
  for (i = 1; i < n; i++)
    x = (x << 8) | src[i];
  *v = x;
  *used = n;
  return 0;
}
