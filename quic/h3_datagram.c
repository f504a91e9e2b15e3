/* quic/h3_datagram: HTTP Datagram framing (RFC 9297 2.1). */
#include "quic/h3_datagram.h"

#include "jvpn/errors.h"
#include "jvpn/varint.h"

/* Largest quarter stream ID: stream IDs are varints (at most 2^62-1), so
 * a request stream ID, a multiple of 4, is at most 2^62-4. */
#define QUARTER_MAX (JVPN_VARINT_MAX >> 2)

int h3_datagram_parse(const uint8_t *d, size_t len, uint64_t *stream_id,
                      uint64_t *context_id, const uint8_t **payload,
                      size_t *payload_len) {
  uint64_t quarter, ctx;
  size_t off, used;
  int rv;

  if ((rv = jvpn_varint_decode(d, len, &quarter, &off)) != 0)
    return rv;
  if (quarter > QUARTER_MAX)
    return JVPN_ERR_MALFORMED;
  if ((rv = jvpn_varint_decode(d + off, len - off, &ctx, &used)) != 0)
    return rv;
  off += used;
  *stream_id = quarter << 2;
  *context_id = ctx;
  *payload = d + off;
  *payload_len = len - off;
  return 0;
}

size_t h3_datagram_header(uint8_t hdr[H3_DATAGRAM_MAX_HEADER],
                          uint64_t stream_id, uint64_t context_id) {
  size_t n, m;

  if ((stream_id & 3) != 0 || stream_id > JVPN_VARINT_MAX)
    return 0;
  n = jvpn_varint_encode(hdr, H3_DATAGRAM_MAX_HEADER, stream_id >> 2);
  m = jvpn_varint_encode(hdr + n, H3_DATAGRAM_MAX_HEADER - n, context_id);
  if (n == 0 || m == 0)
    return 0;
  return n + m;
}
