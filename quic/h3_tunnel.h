/*
 * quic/h3_tunnel: the CONNECT-IP request stream's life, shared by the two
 * ways its HTTP/3 is carried (quic/h3_conn with nghttp3, quic/h3_lean
 * without): the body's bytes to the capsule parser, the stream's end, the
 * tunnel's abort and the connection's HTTP/3 error.
 */
#ifndef QUIC_H3_TUNNEL_H
#define QUIC_H3_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct quic_conn;

/* Ends the tunnel: the request stream is reset with |h3_error| and the
 * connection closes after the next write (quic_conn_write). Once only. */
void h3_tunnel_abort(struct quic_conn *c, uint64_t h3_error, const char *why);

/* Sets the HTTP/3 error the connection closes with. */
void h3_tunnel_app_error(struct quic_conn *c, uint64_t code);

/* Body bytes of |sid| (DATA payload): capsules when it is the tunnel's
 * stream; a bad capsule aborts the tunnel (RFC 9297 3.3). */
void h3_tunnel_body(struct quic_conn *c, int64_t sid, const uint8_t *data,
                    size_t len);

/* |n| bytes of |sid| were taken off the stream: their flow-control
 * credit returns, for the stream and the connection. */
void h3_tunnel_credit(struct quic_conn *c, int64_t sid, uint64_t n);

/* The peer ended stream |sid| cleanly (FIN after a whole frame). */
void h3_tunnel_ended(struct quic_conn *c, int64_t sid);

#endif /* QUIC_H3_TUNNEL_H */
