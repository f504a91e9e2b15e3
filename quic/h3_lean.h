/*
 * quic/h3_lean: HTTP/3 of an established tunnel without nghttp3
 * (docs/decisions.md D49).
 *
 * nghttp3 keeps ~14.7 KB per connection (its stream and chunk pools, QPACK
 * state), although once the CONNECT-IP request is answered the tunnel only
 * needs DATA frames of capsules on the request stream and the peer's
 * control stream left open. While nghttp3 runs, the bytes it is given are
 * followed to their frame boundaries here; once it holds nothing the
 * tunnel needs (everything it wrote acknowledged, every stream between two
 * frames, the request answered), quic/h3_conn frees it and these functions
 * carry the streams: capsules go out as DATA frames from quic_conn's
 * capsule ring, the request stream's DATA payload goes to the capsule
 * parser, the control stream is read for frames it must not carry, QPACK
 * streams are drained (both ends advertise a dynamic table of 0), and new
 * streams are refused. Called by quic/h3_conn (h3_lean_init by quic_conn,
 * which holds the state).
 */
#ifndef QUIC_H3_LEAN_H
#define QUIC_H3_LEAN_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

#include "quic/h3_frame.h"

/* Peer streams followed: the request, the control stream, two QPACK
 * streams and room for two the peer may add (unknown types). */
#define H3_LEAN_STREAMS 6

enum h3_lean_role {
  H3_LEAN_UNTYPED,  /* unidirectional, its type not yet read */
  H3_LEAN_REQUEST,  /* a request stream: frames */
  H3_LEAN_CONTROL,  /* the peer's control stream: frames */
  H3_LEAN_QPACK,    /* a QPACK stream: critical, its bytes drained */
  H3_LEAN_OTHER,    /* an unknown type: drained */
  H3_LEAN_PUSH      /* a push stream: never allowed here */
};

struct h3_lean_stream {
  int64_t id;                 /* -1: a free entry */
  uint8_t role;               /* enum h3_lean_role */
  struct h3_varint_acc type;  /* a unidirectional stream's type */
  struct h3_frame_reader rd;
};

enum h3_lean_out { H3_LEAN_OUT_OPEN, H3_LEAN_OUT_BLOCKED, H3_LEAN_OUT_SHUT };

struct h3_lean {
  struct h3_lean_stream st[H3_LEAN_STREAMS];
  uint64_t unacked;    /* bytes nghttp3 had sent and not yet acknowledged */
  uint8_t untraceable; /* a stream could not be followed: nghttp3 stays */
  uint8_t active;      /* nghttp3 released: the streams are carried here */
  uint8_t out;         /* enum h3_lean_out: the request stream's sending */
};

struct quic_conn;

void h3_lean_init(struct h3_lean *l);

/* Follows bytes of |sid| on their way to nghttp3. */
void h3_lean_observe(struct quic_conn *c, int64_t sid, const uint8_t *data,
                     size_t len);

/* Nonzero when nghttp3 may be released as far as the streams go: the
 * tunnel is open, the peer's SETTINGS arrived, every byte nghttp3 and the
 * capsule ring sent was acknowledged, and every followed stream is between
 * frames. (quic/h3_conn also asks nghttp3 whether it has more to send.) */
int h3_lean_ready(const struct quic_conn *c);

/* Stream events once active; the same contracts as quic/h3_conn's. */
int h3_lean_recv(struct quic_conn *c, int64_t sid, int fin,
                 const uint8_t *data, size_t len);
int h3_lean_stream_reset(struct quic_conn *c, int64_t sid);
void h3_lean_stream_close(struct quic_conn *c, int64_t sid);
long h3_lean_stream_data(struct quic_conn *c, int64_t *sid, int *fin,
                         ngtcp2_vec *vec, size_t max);
void h3_lean_written(struct quic_conn *c, int64_t sid, size_t n);
void h3_lean_acked(struct quic_conn *c, int64_t sid, uint64_t len);
void h3_lean_blocked(struct quic_conn *c, int64_t sid, int shut);
void h3_lean_unblock(struct quic_conn *c, int64_t sid);

#endif /* QUIC_H3_LEAN_H */
