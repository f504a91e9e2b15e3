/*
 * tests/fuzz/fuzz_h3_frame: HTTP/3 frames read at their boundaries
 * (quic/h3_frame), as a released tunnel reads its peer's request and
 * control streams (docs/decisions.md D49).
 *
 * Input: byte 0 picks the stream (bit 0: control, bit 1: at the server),
 * byte 1 seeds the sizes of the pieces the rest is fed in. The reading is
 * done twice, whole and in pieces, with the frame rules as the sink's
 * answer: both must see the same frames, the same payload and the same
 * verdict, and no frame's payload may exceed its announced length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quic/h3_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
  enum h3_frame_stream where;
  int at_server;
  uint64_t hash;      /* FNV-1a over frame headers and payload */
  uint64_t frames;
  uint64_t announced; /* the current frame's length */
  uint64_t got;       /* its payload bytes seen */
};

static void mix(struct trace *t, const uint8_t *p, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    t->hash = (t->hash ^ p[i]) * 0x100000001b3ULL;
}

static uint64_t on_frame(void *ud, uint64_t type, uint64_t len) {
  struct trace *t = ud;
  uint64_t v[2] = {type, len};

  if (t->frames && t->got != t->announced)
    abort(); /* a frame began before the last one ended */
  t->frames++;
  t->announced = len;
  t->got = 0;
  mix(t, (const uint8_t *)v, sizeof(v));
  return h3_frame_allowed(t->where, t->at_server, type, len);
}

static void on_payload(void *ud, uint64_t type, const uint8_t *p, size_t n) {
  struct trace *t = ud;

  (void)type;
  t->got += n;
  if (n == 0 || t->got > t->announced)
    abort();
  mix(t, p, n);
}

static uint64_t read_all(struct trace *t, const uint8_t *d, size_t len,
                         unsigned seed, int *boundary) {
  struct h3_frame_reader r;
  struct h3_frame_sink sink = {on_frame, on_payload, t};
  uint64_t err = 0;
  size_t off = 0, n;

  h3_frame_reader_init(&r);
  while (off < len && err == 0) {
    n = seed ? 1 + (seed + off * 7) % (seed % 13 + 1) : len;
    if (n > len - off)
      n = len - off;
    err = h3_frame_read(&r, &sink, d + off, n);
    off += n;
  }
  *boundary = h3_frame_at_boundary(&r);
  return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct trace whole, pieces;
  uint64_t e1, e2;
  int b1, b2;

  if (size < 2)
    return 0;
  memset(&whole, 0, sizeof(whole));
  whole.where = (data[0] & 1) ? H3_ON_CONTROL : H3_ON_REQUEST;
  whole.at_server = (data[0] >> 1) & 1;
  whole.hash = 0xcbf29ce484222325ULL;
  pieces = whole;
  e1 = read_all(&whole, data + 2, size - 2, 0, &b1);
  e2 = read_all(&pieces, data + 2, size - 2, (unsigned)data[1] + 1, &b2);
  if (e1 != e2 || whole.hash != pieces.hash || whole.frames != pieces.frames)
    abort();
  if (e1 == 0 && b1 != b2)
    abort();
  return 0;
}
