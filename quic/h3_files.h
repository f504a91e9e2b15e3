/*
 * quic/h3_files: HTTP/3 GET requests and 200 responses with a body, with
 * nghttp3 on top of quic_conn's stream mode (the interop endpoint's
 * `http3` case, and any case its peer runs over h3). The VPN's HTTP/3
 * (quic/h3_conn: CONNECT-IP) stays apart.
 *
 * Like quic/quic_conn.h, this header names no nghttp3 or ngtcp2 type:
 * byte ranges travel as struct quic_vec.
 */
#ifndef QUIC_H3_FILES_H
#define QUIC_H3_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "quic/quic_conn.h"

/* Longest :path a request may carry (bytes, without the NUL); a longer
 * one, an empty one or a repeated one is answered 400. */
#define H3F_PATH_MAX 1024

struct h3f;

struct h3f_ops {
  /* Server: GET of |path| (the request's :path, NUL-terminated, |len|
   * bytes) on |sid|. Returns 200 (the body comes from body_read) or
   * another status (sent without a body). */
  int (*request)(void *user, int64_t sid, const char *path, size_t len);
  /* Server: body bytes of |sid|, valid until body_acked: fills at most
   * |max| vectors, sets *eof after the last. Returns the count, or a
   * negative JVPN_ERR_* to abort the stream. */
  long (*body_read)(void *user, int64_t sid, struct quic_vec *vec, size_t max,
                    int *eof);
  /* Server: the peer acknowledged |n| more body bytes of |sid|. */
  void (*body_acked)(void *user, int64_t sid, uint64_t n);
  /* Client: body bytes of the response on |sid|; nonzero aborts. */
  int (*response_data)(void *user, int64_t sid, const uint8_t *data,
                       size_t len);
  /* Client: the response on |sid| ended with |status| (0: none). */
  void (*response_end)(void *user, int64_t sid, int status);
};

/* Starts HTTP/3 on |qc| (after the handshake, or before it in 0-RTT):
 * opens the control and QPACK streams. Returns 0 or JVPN_ERR_H3 / _NOMEM
 * / _QUIC. */
int h3f_new(struct h3f **ph, struct quic_conn *qc, int is_server,
            const struct h3f_ops *ops, void *user);
void h3f_del(struct h3f *h);

/* quic_conn stream-mode events, passed through (see quic/quic_conn.h). */
int h3f_recv(struct h3f *h, int64_t sid, const uint8_t *data, size_t len,
             int fin);
long h3f_next(struct h3f *h, int64_t *sid, int *fin, struct quic_vec *vec,
              size_t max);
void h3f_sent(struct h3f *h, int64_t sid, size_t n);
void h3f_blocked(struct h3f *h, int64_t sid, int state);
void h3f_acked(struct h3f *h, int64_t sid, uint64_t len);
void h3f_close(struct h3f *h, int64_t sid, uint64_t app_error);

/* Client: sends GET |path| for |authority| on the new stream |sid|. */
int h3f_get(struct h3f *h, int64_t sid, const char *authority,
            const char *path);
/* Server: more body bytes of |sid| are ready. */
void h3f_resume(struct h3f *h, int64_t sid);

#endif /* QUIC_H3_FILES_H */
