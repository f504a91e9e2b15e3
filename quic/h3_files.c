/* quic/h3_files: nghttp3 GET/200 over quic_conn's stream mode. */
#include "quic/h3_files.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp3/nghttp3.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"

#define H3F_NO_ERROR 0x100 /* H3_NO_ERROR, RFC 9114 8.1 */

/* The header's struct quic_vec stands for nghttp3_vec. */
_Static_assert(sizeof(struct quic_vec) == sizeof(nghttp3_vec) &&
                   offsetof(struct quic_vec, base) ==
                       offsetof(nghttp3_vec, base) &&
                   offsetof(struct quic_vec, len) == offsetof(nghttp3_vec, len),
               "struct quic_vec must match nghttp3_vec");

/* Per request: what its header block said. Listed in its h3f, because
 * nghttp3_conn_del frees streams without reporting their close. */
struct h3f_stream {
  int status;                 /* client: :status */
  char path[H3F_PATH_MAX + 1]; /* server: :path */
  int path_bad;               /* absent, oversize or repeated */
  struct h3f_stream *prev, *next;
};

struct h3f {
  nghttp3_conn *h3;
  struct quic_conn *qc;
  int is_server;
  const struct h3f_ops *ops;
  void *user;
  struct h3f_stream *streams; /* every record not yet closed */
};

static void stream_unlink_free(struct h3f *h, struct h3f_stream *st) {
  if (st->prev)
    st->prev->next = st->next;
  else
    h->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  free(st);
}

static struct h3f_stream *stream_of(struct h3f *h, int64_t sid, void *sud) {
  struct h3f_stream *st = sud;

  if (st)
    return st;
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return NULL;
  st->path_bad = 1; /* until a good :path arrives */
  if (nghttp3_conn_set_stream_user_data(h->h3, sid, st) != 0) {
    free(st);
    return NULL;
  }
  st->next = h->streams;
  if (h->streams)
    h->streams->prev = st;
  h->streams = st;
  return st;
}

static int acked_cb(nghttp3_conn *c, int64_t sid, uint64_t len, void *ud,
                    void *sud) {
  struct h3f *h = ud;

  (void)c;
  (void)sud;
  if (h->ops->body_acked)
    h->ops->body_acked(h->user, sid, len);
  return 0;
}

static int stream_close_cb(nghttp3_conn *c, int64_t sid, uint64_t code,
                           void *ud, void *sud) {
  (void)c;
  (void)sid;
  (void)code;
  if (sud != NULL)
    stream_unlink_free(ud, sud);
  return 0;
}

static int recv_data_cb(nghttp3_conn *c, int64_t sid, const uint8_t *data,
                        size_t len, void *ud, void *sud) {
  struct h3f *h = ud;

  (void)c;
  (void)sud;
  /* nghttp3 leaves the credit for body bytes to the application. */
  quic_conn_stream_consumed(h->qc, sid, len);
  if (h->is_server || h->ops->response_data == NULL)
    return 0;
  return h->ops->response_data(h->user, sid, data, len) == 0
             ? 0
             : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int deferred_consume_cb(nghttp3_conn *c, int64_t sid, size_t n,
                               void *ud, void *sud) {
  struct h3f *h = ud;

  (void)c;
  (void)sud;
  quic_conn_stream_consumed(h->qc, sid, n);
  return 0;
}

static int begin_headers_cb(nghttp3_conn *c, int64_t sid, void *ud,
                            void *sud) {
  (void)c;
  return stream_of(ud, sid, sud) ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int recv_header_cb(nghttp3_conn *c, int64_t sid, int32_t token,
                          nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                          uint8_t flags, void *ud, void *sud) {
  struct h3f_stream *st = stream_of(ud, sid, sud);
  nghttp3_vec v = nghttp3_rcbuf_get_buf(value);

  (void)c;
  (void)name;
  (void)flags;
  if (st == NULL)
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  if (token == NGHTTP3_QPACK_TOKEN__STATUS && v.len == 3) {
    st->status = (v.base[0] - '0') * 100 + (v.base[1] - '0') * 10 +
                 (v.base[2] - '0');
  } else if (token == NGHTTP3_QPACK_TOKEN__PATH) {
    /* Only one :path (RFC 9114 4.3.1), and it must fit. */
    st->path_bad = st->path[0] != '\0' || v.len == 0 ||
                   v.len >= sizeof(st->path);
    if (!st->path_bad) {
      memcpy(st->path, v.base, v.len);
      st->path[v.len] = '\0';
    }
  }
  return 0;
}

static nghttp3_ssize read_body_cb(nghttp3_conn *c, int64_t sid,
                                  nghttp3_vec *vec, size_t veccnt,
                                  uint32_t *pflags, void *ud, void *sud) {
  struct h3f *h = ud;
  int eof = 0;
  long n;

  (void)c;
  (void)sud;
  n = h->ops->body_read(h->user, sid, (struct quic_vec *)vec, veccnt, &eof);
  if (n < 0)
    return NGHTTP3_ERR_CALLBACK_FAILURE;
  if (eof)
    *pflags |= NGHTTP3_DATA_FLAG_EOF;
  else if (n == 0)
    return NGHTTP3_ERR_WOULDBLOCK;
  return n;
}

static int respond(struct h3f *h, int64_t sid, int status) {
  char code[4] = "500";
  nghttp3_nv nv[1];
  nghttp3_data_reader dr = {read_body_cb};

  if (status >= 100 && status <= 599) {
    code[0] = (char)('0' + status / 100);
    code[1] = (char)('0' + status / 10 % 10);
    code[2] = (char)('0' + status % 10);
  }
  nv[0] = (nghttp3_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3,
                       NGHTTP3_NV_FLAG_NONE};
  return nghttp3_conn_submit_response(h->h3, sid, nv, 1,
                                      status == 200 ? &dr : NULL);
}

static int end_headers_cb(nghttp3_conn *c, int64_t sid, int fin, void *ud,
                          void *sud) {
  struct h3f *h = ud;
  struct h3f_stream *st = sud;
  int status = 400;

  (void)c;
  (void)fin;
  if (!h->is_server || st == NULL)
    return 0;
  if (!st->path_bad)
    status = h->ops->request(h->user, sid, st->path, strlen(st->path));
  return respond(h, sid, status) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

static int end_stream_cb(nghttp3_conn *c, int64_t sid, void *ud, void *sud) {
  struct h3f *h = ud;
  struct h3f_stream *st = sud;

  (void)c;
  if (!h->is_server && h->ops->response_end)
    h->ops->response_end(h->user, sid, st ? st->status : 0);
  return 0;
}

static int stop_sending_cb(nghttp3_conn *c, int64_t sid, uint64_t code,
                           void *ud, void *sud) {
  struct h3f *h = ud;

  (void)c;
  (void)sud;
  quic_conn_stream_shutdown(h->qc, sid, code);
  return 0;
}

int h3f_new(struct h3f **ph, struct quic_conn *qc, int is_server,
            const struct h3f_ops *ops, void *user) {
  nghttp3_callbacks cb;
  nghttp3_settings s;
  int64_t ctrl, qenc, qdec;
  struct h3f *h;
  int rv;

  h = calloc(1, sizeof(*h));
  if (h == NULL)
    return JVPN_ERR_NOMEM;
  h->qc = qc;
  h->is_server = is_server;
  h->ops = ops;
  h->user = user;
  memset(&cb, 0, sizeof(cb));
  cb.acked_stream_data = acked_cb;
  cb.stream_close = stream_close_cb;
  cb.recv_data = recv_data_cb;
  cb.deferred_consume = deferred_consume_cb;
  cb.begin_headers = begin_headers_cb;
  cb.recv_header = recv_header_cb;
  cb.end_headers = end_headers_cb;
  cb.end_stream = end_stream_cb;
  cb.stop_sending = stop_sending_cb;
  cb.reset_stream = stop_sending_cb;
  nghttp3_settings_default(&s);
  rv = is_server ? nghttp3_conn_server_new(&h->h3, &cb, &s, NULL, h)
                 : nghttp3_conn_client_new(&h->h3, &cb, &s, NULL, h);
  if (rv != 0) {
    free(h);
    return JVPN_ERR_H3;
  }
  if (is_server)
    nghttp3_conn_set_max_client_streams_bidi(h->h3, QUIC_STREAMS_MAX_BIDI);
  rv = quic_conn_open_uni_stream(qc, &ctrl);
  if (rv == 0)
    rv = quic_conn_open_uni_stream(qc, &qenc);
  if (rv == 0)
    rv = quic_conn_open_uni_stream(qc, &qdec);
  if (rv == 0 && (nghttp3_conn_bind_control_stream(h->h3, ctrl) != 0 ||
                  nghttp3_conn_bind_qpack_streams(h->h3, qenc, qdec) != 0))
    rv = JVPN_ERR_H3;
  if (rv != 0) {
    h3f_del(h);
    return rv;
  }
  *ph = h;
  return 0;
}

void h3f_del(struct h3f *h) {
  if (h == NULL)
    return;
  nghttp3_conn_del(h->h3);
  while (h->streams)
    stream_unlink_free(h, h->streams);
  free(h);
}

int h3f_recv(struct h3f *h, int64_t sid, const uint8_t *data, size_t len,
             int fin) {
  nghttp3_ssize n = nghttp3_conn_read_stream(h->h3, sid, data, len, fin);

  if (n < 0) {
    LOG_WARN(NULL, "HTTP/3 error on stream %lld: %s", (long long)sid,
             nghttp3_strerror((int)n));
    return JVPN_ERR_H3;
  }
  quic_conn_stream_consumed(h->qc, sid, (size_t)n);
  return 0;
}

long h3f_next(struct h3f *h, int64_t *sid, int *fin, struct quic_vec *vec,
              size_t max) {
  nghttp3_ssize n;

  n = nghttp3_conn_writev_stream(h->h3, sid, fin, (nghttp3_vec *)vec, max);
  return n < 0 ? JVPN_ERR_H3 : (long)n;
}

void h3f_sent(struct h3f *h, int64_t sid, size_t n) {
  if (n > 0)
    (void)nghttp3_conn_add_write_offset(h->h3, sid, n); /* known stream */
}

void h3f_blocked(struct h3f *h, int64_t sid, int state) {
  if (state > 0)
    nghttp3_conn_block_stream(h->h3, sid);
  else if (state == 0)
    (void)nghttp3_conn_unblock_stream(h->h3, sid); /* may be unknown */
  else
    nghttp3_conn_shutdown_stream_write(h->h3, sid);
}

void h3f_acked(struct h3f *h, int64_t sid, uint64_t len) {
  (void)nghttp3_conn_add_ack_offset(h->h3, sid, len); /* may be gone */
}

void h3f_close(struct h3f *h, int64_t sid, uint64_t app_error) {
  (void)nghttp3_conn_close_stream(h->h3, sid,
                                  app_error ? app_error : H3F_NO_ERROR);
}

int h3f_get(struct h3f *h, int64_t sid, const char *authority,
            const char *path) {
  nghttp3_nv nv[4] = {
      {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
      {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
      {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
       0},
      {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
  };

  return nghttp3_conn_submit_request(h->h3, sid, nv, 4, NULL, NULL) == 0
             ? 0
             : JVPN_ERR_H3;
}

void h3f_resume(struct h3f *h, int64_t sid) {
  (void)nghttp3_conn_resume_stream(h->h3, sid); /* may have ended */
}
