/*
 * quic/h3_conn: HTTP/3 on a quic_conn: nghttp3 set-up and callbacks
 * (nghttp3 sends and checks SETTINGS_H3_DATAGRAM and
 * ENABLE_CONNECT_PROTOCOL), the CONNECT-IP request (client) and response (server),
 * capsules on the request stream and HTTP Datagrams.
 *
 * Called only by quic/quic_conn; the program sees quic_conn's API.
 */
#ifndef QUIC_H3_CONN_H
#define QUIC_H3_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

struct quic_conn;

/* Creates the nghttp3 connection once the handshake is complete, opens the
 * control and QPACK streams and, on the client, submits the CONNECT-IP
 * request with an ADDRESS_REQUEST capsule. Returns 0 or JVPN_ERR_H3. */
int h3_conn_start(struct quic_conn *c);
/* h3_conn_start() unless HTTP/3 runs already (with or without nghttp3). */
int h3_conn_ensure(struct quic_conn *c);
int h3_conn_running(const struct quic_conn *c);
void h3_conn_free(struct quic_conn *c);

/* ngtcp2 -> nghttp3 plumbing, called from quic_conn's callbacks. */
int h3_conn_recv_stream(struct quic_conn *c, int64_t stream_id, int fin,
                        const uint8_t *data, size_t len);
int h3_conn_acked(struct quic_conn *c, int64_t stream_id, uint64_t offset,
                  uint64_t len);
int h3_conn_stream_close(struct quic_conn *c, int64_t stream_id,
                         uint64_t app_error);
int h3_conn_stream_reset(struct quic_conn *c, int64_t stream_id);
int h3_conn_unblock(struct quic_conn *c, int64_t stream_id);
/* An HTTP Datagram. Returns 0, or JVPN_ERR_MALFORMED when it cannot be
 * parsed (the connection then closes with H3_DATAGRAM_ERROR). */
int h3_conn_recv_datagram(struct quic_conn *c, const uint8_t *data,
                          size_t len);

/* Fetches stream data to send: fills |vec| (at most |max|), the stream ID
 * and fin. Returns the vector count (0 with *stream_id == -1: nothing),
 * or JVPN_ERR_H3. */
long h3_conn_get_stream_data(struct quic_conn *c, int64_t *stream_id,
                             int *fin, ngtcp2_vec *vec, size_t max);
/* Reports |n| bytes of |stream_id| accepted by ngtcp2. */
int h3_conn_stream_written(struct quic_conn *c, int64_t stream_id, size_t n);
void h3_conn_stream_blocked(struct quic_conn *c, int64_t stream_id);
void h3_conn_stream_shut_wr(struct quic_conn *c, int64_t stream_id);

/* Nonzero once the peer's SETTINGS carried H3_DATAGRAM=1: HTTP Datagrams
 * wait for them (RFC 9297 2.1.1). */
int h3_conn_datagrams_ok(const struct quic_conn *c);

/* Wakes the CONNECT stream after capsules were queued. */
void h3_conn_resume_tunnel(struct quic_conn *c);

/* Once nghttp3 was released, a capsule of |len| bytes goes out as one
 * DATA frame: writes its header (at most 9 bytes) and returns its length;
 * 0 while nghttp3 frames the capsules itself. */
size_t h3_conn_capsule_prefix(const struct quic_conn *c, uint8_t *dst,
                              size_t dstlen, size_t len);

/* Frees nghttp3 once it holds nothing the tunnel needs (quic/h3_lean,
 * docs/decisions.md D49); the streams are then carried by quic/h3_lean.
 * Called before each write; a few comparisons when not yet possible. */
void h3_conn_release(struct quic_conn *c);

#endif /* QUIC_H3_CONN_H */
