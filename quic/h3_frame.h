/*
 * quic/h3_frame: HTTP/3 frames (RFC 9114 7.1) read at their boundaries,
 * for the streams of a tunnel whose nghttp3 connection was released
 * (quic/h3_lean, docs/decisions.md D49).
 *
 * A reader takes a stream's bytes in any pieces and reports each frame
 * header and each piece of a frame's payload. Fed without a sink it only
 * follows the boundaries, so that a stream can change hands between two
 * frames. h3_frame_allowed() says which frame types a stream may carry
 * once the request and the SETTINGS are behind it.
 */
#ifndef QUIC_H3_FRAME_H
#define QUIC_H3_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Frame types (RFC 9114 7.2, 11.2.1; RFC 9218 7.1). */
#define H3_FRAME_DATA 0x00
#define H3_FRAME_HEADERS 0x01
#define H3_FRAME_CANCEL_PUSH 0x03
#define H3_FRAME_SETTINGS 0x04
#define H3_FRAME_PUSH_PROMISE 0x05
#define H3_FRAME_GOAWAY 0x07
#define H3_FRAME_MAX_PUSH_ID 0x0d
#define H3_FRAME_PRIORITY_UPDATE 0xf0700
#define H3_FRAME_PRIORITY_UPDATE_PUSH 0xf0701

/* Unidirectional stream types (RFC 9114 6.2, RFC 9204 4.2). */
#define H3_UNI_CONTROL 0x00
#define H3_UNI_PUSH 0x01
#define H3_UNI_QPACK_ENCODER 0x02
#define H3_UNI_QPACK_DECODER 0x03

/* Bytes of one variable-length integer taken in pieces. */
struct h3_varint_acc {
  uint8_t buf[8];
  uint8_t len;
};

/* Takes bytes of one varint from *|p| (|*left| of them), advancing both.
 * Returns 1 with *|v| once complete, 0 while more are needed. */
int h3_varint_take(struct h3_varint_acc *a, const uint8_t **p, size_t *left,
                   uint64_t *v);

enum h3_frame_part { H3_FRAME_PART_TYPE, H3_FRAME_PART_LENGTH,
                     H3_FRAME_PART_PAYLOAD };

struct h3_frame_reader {
  struct h3_varint_acc acc; /* the header varint being read */
  uint8_t part;             /* enum h3_frame_part */
  uint64_t type;            /* the frame being read */
  uint64_t left;            /* its payload bytes still to come */
};

/* What a reader reports. Both may be NULL (boundaries only). |frame|
 * returns 0 or an HTTP/3 error code, which stops the reading; |payload|
 * receives the payload of every frame in pieces. */
struct h3_frame_sink {
  uint64_t (*frame)(void *ud, uint64_t type, uint64_t len);
  void (*payload)(void *ud, uint64_t type, const uint8_t *p, size_t n);
  void *ud;
};

void h3_frame_reader_init(struct h3_frame_reader *r);

/* Reads |len| bytes. Returns 0, or the first error |sink->frame| gave. */
uint64_t h3_frame_read(struct h3_frame_reader *r,
                       const struct h3_frame_sink *sink, const uint8_t *p,
                       size_t len);

/* Nonzero between two frames (the stream may end or change hands). */
int h3_frame_at_boundary(const struct h3_frame_reader *r);

enum h3_frame_stream { H3_ON_REQUEST, H3_ON_CONTROL };

/* 0 if a frame of |type| with |len| payload bytes may arrive on the
 * request stream or the control stream of an endpoint (|at_server|) after
 * the request and the SETTINGS, else the HTTP/3 error to close with. */
uint64_t h3_frame_allowed(enum h3_frame_stream where, int at_server,
                          uint64_t type, uint64_t len);

/* Writes a DATA frame header for |len| payload bytes. Returns its length
 * (at most 9), or 0 when |dstlen| is too small. */
size_t h3_frame_data_header(uint8_t *dst, size_t dstlen, uint64_t len);

#endif /* QUIC_H3_FRAME_H */
