/*
 * interop/h3_files: HTTP/3 GET requests and 200 responses with a body,
 * with nghttp3 on top of quic_conn's stream mode (the `http3` case). The
 * VPN's HTTP/3 (quic/h3_conn: SETTINGS shim, CONNECT-IP) stays apart.
 */
#ifndef INTEROP_H3_FILES_H
#define INTEROP_H3_FILES_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

struct quic_conn;
struct h3f;

struct h3f_ops {
  /* Server: GET of file |name| on |sid|. Returns 200 (the body comes from
   * body_read) or another status (sent without a body). */
  int (*request)(void *user, int64_t sid, const char *name);
  /* Server: body bytes of |sid|, valid until body_acked: fills at most
   * |max| vectors, sets *eof after the last. Returns the count. */
  long (*body_read)(void *user, int64_t sid, nghttp3_vec *vec, size_t max,
                    int *eof);
  void (*body_acked)(void *user, int64_t sid, uint64_t n);
  /* Client: body bytes of the response on |sid|; nonzero aborts. */
  int (*response_data)(void *user, int64_t sid, const uint8_t *data,
                       size_t len);
  /* Client: the response on |sid| ended with |status| (0: none). */
  void (*response_end)(void *user, int64_t sid, int status);
};

/* Starts HTTP/3 on |qc| (after the handshake): opens the control and
 * QPACK streams. Returns 0 or JVPN_ERR_H3 / _NOMEM / _QUIC. */
int h3f_new(struct h3f **ph, struct quic_conn *qc, int is_server,
            const struct h3f_ops *ops, void *user);
void h3f_del(struct h3f *h);

/* quic_conn stream-mode events, passed through (see quic/quic_conn.h). */
int h3f_recv(struct h3f *h, int64_t sid, const uint8_t *data, size_t len,
             int fin);
long h3f_next(struct h3f *h, int64_t *sid, int *fin, ngtcp2_vec *vec,
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

#endif /* INTEROP_H3_FILES_H */
