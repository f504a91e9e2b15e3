/* quic/h3_frame: HTTP/3 frames read at their boundaries. */
#include "quic/h3_frame.h"

#include <string.h>

#include "jvpn/proto.h"
#include "jvpn/varint.h"

int h3_varint_take(struct h3_varint_acc *a, const uint8_t **p, size_t *left,
                   uint64_t *v) {
  size_t want, n, used;

  if (a->len == 0 && *left == 0)
    return 0;
  /* RFC 9000 16: the first byte's two high bits give the length. */
  want = (size_t)1 << ((a->len ? a->buf[0] : (*p)[0]) >> 6);
  n = want - a->len < *left ? want - a->len : *left;
  memcpy(a->buf + a->len, *p, n);
  a->len = (uint8_t)(a->len + n);
  *p += n;
  *left -= n;
  if (a->len < want)
    return 0;
  a->len = 0;
  return jvpn_varint_decode(a->buf, want, v, &used) == 0;
}

void h3_frame_reader_init(struct h3_frame_reader *r) {
  memset(r, 0, sizeof(*r));
  r->part = H3_FRAME_PART_TYPE;
}

/* Ends a frame header: its length is known. */
static uint64_t header_done(struct h3_frame_reader *r,
                            const struct h3_frame_sink *sink, uint64_t len) {
  r->left = len;
  r->part = H3_FRAME_PART_PAYLOAD;
  if (sink && sink->frame)
    return sink->frame(sink->ud, r->type, len);
  return 0;
}

uint64_t h3_frame_read(struct h3_frame_reader *r,
                       const struct h3_frame_sink *sink, const uint8_t *p,
                       size_t len) {
  uint64_t v, err;
  size_t n;

  while (len > 0 || (r->part == H3_FRAME_PART_PAYLOAD && r->left == 0)) {
    switch (r->part) {
    case H3_FRAME_PART_TYPE:
      if (!h3_varint_take(&r->acc, &p, &len, &r->type))
        return 0;
      r->part = H3_FRAME_PART_LENGTH;
      break;
    case H3_FRAME_PART_LENGTH:
      if (!h3_varint_take(&r->acc, &p, &len, &v))
        return 0;
      if ((err = header_done(r, sink, v)) != 0)
        return err;
      break;
    default:
      n = r->left < len ? (size_t)r->left : len;
      if (n && sink && sink->payload)
        sink->payload(sink->ud, r->type, p, n);
      p += n;
      len -= n;
      r->left -= n;
      if (r->left == 0)
        r->part = H3_FRAME_PART_TYPE;
      break;
    }
  }
  return 0;
}

int h3_frame_at_boundary(const struct h3_frame_reader *r) {
  return r->part == H3_FRAME_PART_TYPE && r->acc.len == 0;
}

/* HTTP/2 frame types HTTP/3 reserves (RFC 9114 7.2.8). */
static int h2_only(uint64_t type) {
  return type == 0x02 || type == 0x06 || type == 0x08 || type == 0x09;
}

static uint64_t allowed_on_request(int at_server, uint64_t type) {
  switch (type) {
  case H3_FRAME_DATA:
  case H3_FRAME_HEADERS: /* trailers */
    return 0;
  case H3_FRAME_PUSH_PROMISE:
    /* A server never receives one; a client that sent no MAX_PUSH_ID
     * allowed no push (RFC 9114 7.2.5). */
    return at_server ? JVPN_H3_FRAME_UNEXPECTED : JVPN_H3_ID_ERROR;
  case H3_FRAME_CANCEL_PUSH:
  case H3_FRAME_SETTINGS:
  case H3_FRAME_GOAWAY:
  case H3_FRAME_MAX_PUSH_ID:
  case H3_FRAME_PRIORITY_UPDATE:
  case H3_FRAME_PRIORITY_UPDATE_PUSH:
    return JVPN_H3_FRAME_UNEXPECTED;
  default:
    return 0; /* unknown types are skipped (RFC 9114 9) */
  }
}

/* A frame whose payload is one varint (RFC 9114 7.2.3, 7.2.6, 7.2.7). */
static uint64_t one_varint(uint64_t len) {
  return len == 0 || len > 8 ? JVPN_H3_FRAME_ERROR : 0;
}

static uint64_t allowed_on_control(int at_server, uint64_t type,
                                   uint64_t len) {
  switch (type) {
  case H3_FRAME_DATA:
  case H3_FRAME_HEADERS:
  case H3_FRAME_PUSH_PROMISE:
  case H3_FRAME_SETTINGS: /* only once, first (RFC 9114 7.2.4) */
    return JVPN_H3_FRAME_UNEXPECTED;
  case H3_FRAME_CANCEL_PUSH:
    /* A client was promised no push; a server pushes none to cancel. */
    return at_server ? one_varint(len) : JVPN_H3_ID_ERROR;
  case H3_FRAME_GOAWAY:
    return one_varint(len);
  case H3_FRAME_MAX_PUSH_ID:
    return at_server ? one_varint(len) : JVPN_H3_FRAME_UNEXPECTED;
  case H3_FRAME_PRIORITY_UPDATE:
    return at_server ? 0 : JVPN_H3_FRAME_UNEXPECTED;
  case H3_FRAME_PRIORITY_UPDATE_PUSH:
    return at_server ? JVPN_H3_ID_ERROR : JVPN_H3_FRAME_UNEXPECTED;
  default:
    return 0;
  }
}

uint64_t h3_frame_allowed(enum h3_frame_stream where, int at_server,
                          uint64_t type, uint64_t len) {
  if (h2_only(type))
    return JVPN_H3_FRAME_UNEXPECTED;
  return where == H3_ON_REQUEST ? allowed_on_request(at_server, type)
                                : allowed_on_control(at_server, type, len);
}

size_t h3_frame_data_header(uint8_t *dst, size_t dstlen, uint64_t len) {
  size_t n = jvpn_varint_encode(dst, dstlen, H3_FRAME_DATA), m;

  if (n == 0)
    return 0;
  m = jvpn_varint_encode(dst + n, dstlen - n, len);
  return m ? n + m : 0;
}
