/*
 * tests/fuzz/fuzz_h3_datagram: HTTP Datagram framing and the SETTINGS shim.
 *
 * The input is parsed as a DATAGRAM payload (and its header rebuilt), read
 * as the body of a peer control stream, whole and in pieces sized by the
 * input itself (both must agree), and offered to the outgoing rewrite,
 * whose output a second shim must read back as our SETTINGS.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "quic/h3_datagram.h"
#include "quic/h3_settings.h"

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

/* Feeds 0x00 and then |data| as peer stream 3, in pieces if |split|. */
static int feed_ctrl(struct h3_settings_shim *s, const uint8_t *data,
                     size_t size, int split) {
  size_t off = 0, k = 0, piece;
  int rv;

  h3_settings_init(s);
  if ((rv = h3_settings_peek(s, 3, 0, (const uint8_t *)"", 1)) != 0)
    return rv;
  if (!split)
    return h3_settings_peek(s, 3, 1, data, size);
  while (off < size) {
    piece = 1 + data[k++ % size] % 32;
    if (piece > size - off)
      piece = size - off;
    if ((rv = h3_settings_peek(s, 3, 1 + off, data + off, piece)) != 0)
      return rv;
    off += piece;
  }
  return 0;
}

static void fuzz_peek(const uint8_t *data, size_t size) {
  static struct h3_settings_shim a, b;
  int ra, rb;

  ra = feed_ctrl(&a, data, size, 0);
  rb = feed_ctrl(&b, data, size, 1);
  if (ra != rb || a.peer_settings_seen != b.peer_settings_seen ||
      a.peer_h3_datagram != b.peer_h3_datagram ||
      a.peer_connect_protocol != b.peer_connect_protocol)
    abort();
  if (a.peer_ctrl_stream != 3 || (ra != 0 && a.peer_settings_seen))
    abort();
  /* the raw input as the start of any peer uni stream */
  h3_settings_init(&a);
  (void)h3_settings_peek(&a, 7, 0, data, size);
}

static void fuzz_rewrite(const uint8_t *data, size_t size) {
  static struct h3_settings_shim s, peer;
  const uint8_t *out;
  size_t len, total;
  long used;
  int rv;

  h3_settings_init(&s);
  used = h3_settings_rewrite(&s, data, size);
  if (used < 0)
    return;
  if ((size_t)used > size || (size_t)used != s.orig_len)
    abort();
  out = h3_settings_pending(&s, &len);
  if (out == NULL || len != s.out_len || len > sizeof(s.out))
    abort();
  /* our output is a control stream prefix a peer can read */
  h3_settings_init(&peer);
  rv = h3_settings_peek(&peer, 3, 0, out, len);
  if (rv == 0 && !peer.peer_settings_seen)
    abort();
  if (rv != 0 && rv != JVPN_ERR_MALFORMED)
    abort();
  /* sends of 3 bytes at a time: the prefix, then nghttp3's bytes */
  total = 0;
  while (h3_settings_pending(&s, &len) != NULL)
    total += h3_settings_sent(&s, 3);
  if (total != 3 - (s.out_len % 3 == 0 ? 3 : s.out_len % 3))
    abort();
  if (h3_settings_wire_to_h3(&s, 0, s.out_len) != 0 ||
      h3_settings_wire_to_h3(&s, s.out_len, 9) != 9)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_datagram(data, size);
  fuzz_peek(data, size);
  fuzz_rewrite(data, size);
  return 0;
}
