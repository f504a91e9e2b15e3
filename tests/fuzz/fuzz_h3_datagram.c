/*
 * tests/fuzz/fuzz_h3_datagram: HTTP Datagram framing (RFC 9297 2.1).
 *
 * The input is parsed as a DATAGRAM payload and its header rebuilt, which
 * must parse back to the same stream and context. (The peer's SETTINGS are
 * nghttp3's to parse since nghttp3 1.x; it fuzzes them itself.)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "quic/h3_datagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_datagram(const uint8_t *data, size_t size) {
  uint8_t hdr[H3_DATAGRAM_MAX_HEADER];
  uint64_t sid, ctx, sid2, ctx2;
  const uint8_t *p, *p2;
  size_t plen, plen2, n;

  if (h3_datagram_parse(data, size, &sid, &ctx, &p, &plen) != 0)
    return;
  if (p < data || p + plen != data + size)
    abort();
  n = h3_datagram_header(hdr, sid, ctx);
  if (n == 0 || n > (size_t)(p - data))
    abort();
  if (h3_datagram_parse(hdr, n, &sid2, &ctx2, &p2, &plen2) != 0 ||
      sid2 != sid || ctx2 != ctx || plen2 != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_datagram(data, size);
  return 0;
}
