/*
 * quic/h3_settings: the SETTINGS shim between nghttp3 0.8 and ngtcp2.
 *
 * nghttp3 0.8 neither sends SETTINGS_H3_DATAGRAM (0x33) nor reveals the
 * peer's SETTINGS. This module does both, without nghttp3's help:
 *
 * Outgoing: nghttp3's first bytes on its control stream are the stream
 * type (0x00) and one SETTINGS frame. h3_settings_rewrite() copies them
 * into the shim with H3_DATAGRAM=1 appended; the glue then sends the shim's
 * bytes first and everything later from nghttp3. Stream offsets differ by
 * |extra| bytes from then on, which h3_settings_wire_to_h3() accounts for.
 *
 * Incoming: h3_settings_peek() sees every byte of each peer-initiated
 * unidirectional stream (in order, from offset 0) before nghttp3 does,
 * finds the control stream and parses its first frame, which must be
 * SETTINGS (RFC 9114 6.2.1).
 */
#ifndef QUIC_H3_SETTINGS_H
#define QUIC_H3_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#define H3_SETTINGS_MAX 256 /* bytes: largest SETTINGS frame we accept */
#define H3_SETTINGS_MAX_UNI 8 /* peer uni streams tracked */

struct h3_settings_shim {
  /* outgoing */
  uint8_t out[H3_SETTINGS_MAX + 16]; /* rewritten stream prefix */
  size_t out_len;   /* bytes in |out| */
  size_t out_sent;  /* bytes of |out| accepted by QUIC so far */
  size_t orig_len;  /* nghttp3 bytes the prefix replaced */
  int rewritten;
  /* incoming */
  int64_t peer_ctrl_stream; /* -1 until found */
  uint8_t in[H3_SETTINGS_MAX + 16];
  size_t in_len;
  int peer_settings_seen;
  int peer_h3_datagram;       /* value of 0x33; 0 when absent */
  int peer_connect_protocol;  /* value of 0x08; 0 when absent */
  struct {
    int64_t id;
    uint64_t off;
    int done;                 /* type known; no more peeking */
  } uni[H3_SETTINGS_MAX_UNI];
  size_t nuni;
};

void h3_settings_init(struct h3_settings_shim *s);

/* Rewrites nghttp3's control-stream prefix. |data| holds the first bytes
 * nghttp3 produced for the control stream (at least the stream type and
 * the whole SETTINGS frame; more bytes may follow and are not consumed).
 * Returns the number of nghttp3 bytes consumed (the prefix), which the
 * glue reports to nghttp3 as written and acknowledged at once, since the
 * shim now owns a copy; JVPN_ERR_TRUNCATED if the frame is incomplete, or
 * JVPN_ERR_MALFORMED if the bytes are not a control stream + SETTINGS. */
long h3_settings_rewrite(struct h3_settings_shim *s, const uint8_t *data,
                         size_t len);

/* Returns the unsent part of the rewritten prefix (NULL, 0 when done). */
const uint8_t *h3_settings_pending(const struct h3_settings_shim *s,
                                   size_t *len);

/* Splits |n| wire bytes accepted by QUIC on the control stream: the part
 * that belonged to the shim's prefix is recorded as sent; the rest is
 * returned as the count to report to nghttp3_conn_add_write_offset(). */
size_t h3_settings_sent(struct h3_settings_shim *s, size_t n);

/* Maps an acknowledged wire range [off, off+len) of the control stream to
 * the number of nghttp3 bytes it acknowledges (the prefix was already
 * acknowledged to nghttp3 at rewrite time). */
size_t h3_settings_wire_to_h3(const struct h3_settings_shim *s, uint64_t off,
                              size_t len);

/* Peeks at |len| bytes of peer unidirectional stream |stream_id| at stream
 * offset |off|. Returns 0, or JVPN_ERR_MALFORMED if the control stream's
 * first frame is not a valid SETTINGS frame (the glue closes the
 * connection with H3_SETTINGS_ERROR / H3_MISSING_SETTINGS), or
 * JVPN_ERR_OVERSIZE if it is longer than H3_SETTINGS_MAX. */
int h3_settings_peek(struct h3_settings_shim *s, int64_t stream_id,
                     uint64_t off, const uint8_t *data, size_t len);

#endif /* QUIC_H3_SETTINGS_H */
