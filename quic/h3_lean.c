/* quic/h3_lean: HTTP/3 of an established tunnel without nghttp3. */
#include "quic/h3_lean.h"

#include <string.h>

#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/h3_tunnel.h"
#include "quic/quic_conn_int.h"

static int is_uni(int64_t sid) { return (sid & 0x2) != 0; }

/* Opened by this end (RFC 9000 2.1: bit 0 is the initiator). */
static int is_local(const struct quic_conn *c, int64_t sid) {
  return (int)(sid & 0x1) == (c->cfg.is_server ? 1 : 0);
}

void h3_lean_init(struct h3_lean *l) {
  size_t i;

  memset(l, 0, sizeof(*l));
  for (i = 0; i < H3_LEAN_STREAMS; i++)
    l->st[i].id = -1;
}

static struct h3_lean_stream *find(struct h3_lean *l, int64_t sid) {
  size_t i;

  for (i = 0; i < H3_LEAN_STREAMS; i++)
    if (l->st[i].id == sid)
      return &l->st[i];
  return NULL;
}

/* A new entry for |sid|, or NULL when all are taken. */
static struct h3_lean_stream *adopt(struct h3_lean *l, int64_t sid) {
  struct h3_lean_stream *e = find(l, -1);

  if (e == NULL)
    return NULL;
  memset(e, 0, sizeof(*e));
  e->id = sid;
  e->role = is_uni(sid) ? H3_LEAN_UNTYPED : H3_LEAN_REQUEST;
  h3_frame_reader_init(&e->rd);
  return e;
}

static enum h3_lean_role role_of_type(uint64_t type) {
  switch (type) {
  case H3_UNI_CONTROL:
    return H3_LEAN_CONTROL;
  case H3_UNI_QPACK_ENCODER:
  case H3_UNI_QPACK_DECODER:
    return H3_LEAN_QPACK;
  case H3_UNI_PUSH:
    return H3_LEAN_PUSH;
  default:
    return H3_LEAN_OTHER;
  }
}

/* Reads a unidirectional stream's type from the front of its bytes.
 * Returns 1 once known (|*p|, |*len| then hold what follows). */
static int take_type(struct h3_lean_stream *e, const uint8_t **p,
                     size_t *len) {
  uint64_t type;

  if (e->role != H3_LEAN_UNTYPED)
    return 1;
  if (!h3_varint_take(&e->type, p, len, &type))
    return 0;
  e->role = (uint8_t)role_of_type(type);
  return 1;
}

void h3_lean_observe(struct quic_conn *c, int64_t sid, const uint8_t *data,
                     size_t len) {
  struct h3_lean *l = &c->lean;
  struct h3_lean_stream *e;

  if (l->untraceable || (is_local(c, sid) && is_uni(sid)))
    return;
  e = find(l, sid);
  if (e == NULL && (e = adopt(l, sid)) == NULL) {
    l->untraceable = 1;
    return;
  }
  if (!take_type(e, &data, &len))
    return;
  if (e->role == H3_LEAN_REQUEST || e->role == H3_LEAN_CONTROL)
    (void)h3_frame_read(&e->rd, NULL, data, len);
}

/* Every followed stream between frames, the tunnel the only request. */
static int streams_settled(const struct quic_conn *c) {
  const struct h3_lean *l = &c->lean;
  int control = 0, request = 0;
  size_t i;

  for (i = 0; i < H3_LEAN_STREAMS; i++) {
    const struct h3_lean_stream *e = &l->st[i];

    if (e->id < 0)
      continue;
    switch (e->role) {
    case H3_LEAN_REQUEST:
      if (e->id != c->tunnel_stream || !h3_frame_at_boundary(&e->rd))
        return 0;
      request = 1;
      break;
    case H3_LEAN_CONTROL:
      if (!h3_frame_at_boundary(&e->rd))
        return 0;
      control = 1;
      break;
    case H3_LEAN_QPACK:
    case H3_LEAN_OTHER:
      break;
    default:
      return 0; /* a type half read, or a push stream */
    }
  }
  return control && request;
}

int h3_lean_ready(const struct quic_conn *c) {
  const struct h3_lean *l = &c->lean;

  if (l->untraceable || l->active || !c->tunnel_open || c->tunnel_failed ||
      !c->peer_settings.seen || l->unacked != 0)
    return 0;
  if (c->sbuf_sent != c->sbuf_len || c->sbuf_acked != c->sbuf_len)
    return 0;
  return streams_settled(c);
}

/* --- once nghttp3 is released --------------------------------------------- */

static int fail(struct quic_conn *c, uint64_t code, const char *why) {
  LOG_WARN(c->ctx, "HTTP/3 error 0x%llx: %s", (unsigned long long)code, why);
  c->stats.drop_h3_frames++;
  h3_tunnel_app_error(c, code);
  return -1;
}

struct lean_read {
  struct quic_conn *c;
  int64_t sid;
  enum h3_frame_stream where;
};

static uint64_t on_frame(void *ud, uint64_t type, uint64_t len) {
  const struct lean_read *r = ud;

  if (type == H3_FRAME_GOAWAY && r->where == H3_ON_CONTROL)
    LOG_INFO(r->c->ctx, "peer sent GOAWAY; the tunnel stays until it ends");
  return h3_frame_allowed(r->where, r->c->cfg.is_server, type, len);
}

static void on_payload(void *ud, uint64_t type, const uint8_t *p, size_t n) {
  const struct lean_read *r = ud;

  if (r->where == H3_ON_REQUEST && type == H3_FRAME_DATA)
    h3_tunnel_body(r->c, r->sid, p, n);
}

/* A stream the peer opened after nghttp3 was released: a second request
 * is refused (one tunnel per connection), a unidirectional stream read
 * for its type while there is room to follow it. */
static struct h3_lean_stream *newcomer(struct quic_conn *c, int64_t sid) {
  struct h3_lean_stream *e;

  if (!is_uni(sid)) {
    c->stats.drop_h3_frames++;
    (void)ngtcp2_conn_shutdown_stream(c->conn, 0, sid,
                                      JVPN_H3_REQUEST_REJECTED);
    return NULL;
  }
  if ((e = adopt(&c->lean, sid)) == NULL) {
    c->stats.drop_h3_frames++;
    (void)ngtcp2_conn_shutdown_stream_read(c->conn, 0, sid,
                                           JVPN_H3_STREAM_CREATION_ERROR);
  }
  return e;
}

static size_t count_role(const struct h3_lean *l, enum h3_lean_role role) {
  size_t i, n = 0;

  for (i = 0; i < H3_LEAN_STREAMS; i++)
    n += l->st[i].id >= 0 && l->st[i].role == role;
  return n;
}

/* The type just read is one the peer may open now (RFC 9114 6.2). */
static int check_type(struct quic_conn *c, const struct h3_lean_stream *e) {
  if (e->role == H3_LEAN_CONTROL && count_role(&c->lean, H3_LEAN_CONTROL) > 1)
    return fail(c, JVPN_H3_STREAM_CREATION_ERROR, "a second control stream");
  if (e->role == H3_LEAN_PUSH)
    return fail(c, c->cfg.is_server ? JVPN_H3_STREAM_CREATION_ERROR
                                    : JVPN_H3_ID_ERROR,
                "a push stream, never allowed");
  return 0;
}

static int stream_fin(struct quic_conn *c, const struct h3_lean_stream *e) {
  switch (e->role) {
  case H3_LEAN_REQUEST:
    if (!h3_frame_at_boundary(&e->rd))
      return fail(c, JVPN_H3_FRAME_ERROR, "a stream ended inside a frame");
    h3_tunnel_ended(c, e->id);
    return 0;
  case H3_LEAN_CONTROL:
  case H3_LEAN_QPACK:
    return fail(c, JVPN_H3_CLOSED_CRITICAL_STREAM,
                "the peer ended a critical stream");
  default:
    return 0;
  }
}

int h3_lean_recv(struct quic_conn *c, int64_t sid, int fin,
                 const uint8_t *data, size_t len) {
  struct h3_lean_stream *e = find(&c->lean, sid);
  struct lean_read r = {c, sid, H3_ON_REQUEST};
  const struct h3_frame_sink sink = {on_frame, on_payload, &r};
  uint64_t err;

  h3_tunnel_credit(c, sid, len); /* every byte is taken as it arrives */
  if (e == NULL && (is_local(c, sid) || (e = newcomer(c, sid)) == NULL))
    return 0;
  if (e->role == H3_LEAN_UNTYPED) {
    if (!take_type(e, &data, &len))
      return 0;
    if (check_type(c, e) != 0)
      return -1;
  }
  if (e->role == H3_LEAN_REQUEST || e->role == H3_LEAN_CONTROL) {
    r.where = e->role == H3_LEAN_REQUEST ? H3_ON_REQUEST : H3_ON_CONTROL;
    if ((err = h3_frame_read(&e->rd, &sink, data, len)) != 0)
      return fail(c, err, "a frame this stream must not carry");
  }
  return fin ? stream_fin(c, e) : 0;
}

int h3_lean_stream_reset(struct quic_conn *c, int64_t sid) {
  const struct h3_lean_stream *e = find(&c->lean, sid);

  if (sid == c->tunnel_stream) {
    h3_tunnel_abort(c, JVPN_H3_NO_ERROR, "peer reset the request stream");
    return 0;
  }
  if ((e && (e->role == H3_LEAN_CONTROL || e->role == H3_LEAN_QPACK)) ||
      (is_uni(sid) && is_local(c, sid)))
    return fail(c, JVPN_H3_CLOSED_CRITICAL_STREAM,
                "the peer reset a critical stream");
  return 0;
}

void h3_lean_stream_close(struct quic_conn *c, int64_t sid) {
  struct h3_lean_stream *e = find(&c->lean, sid);

  if (sid == c->tunnel_stream)
    h3_tunnel_abort(c, JVPN_H3_NO_ERROR, "request stream closed");
  if (e)
    e->id = -1;
}

long h3_lean_stream_data(struct quic_conn *c, int64_t *sid, int *fin,
                         ngtcp2_vec *vec, size_t max) {
  uint64_t left = c->sbuf_len - c->sbuf_sent;
  size_t at, run;

  *sid = -1;
  *fin = 0;
  if (left == 0 || max == 0 || c->lean.out != H3_LEAN_OUT_OPEN ||
      c->tunnel_stream < 0)
    return 0;
  /* The ring holds whole DATA frames: they go out as they are. */
  at = (size_t)(c->sbuf_sent % QUIC_CAPSULE_SBUF);
  run = QUIC_CAPSULE_SBUF - at < left ? QUIC_CAPSULE_SBUF - at : (size_t)left;
  vec[0] = (ngtcp2_vec){c->sbuf + at, run};
  *sid = c->tunnel_stream;
  if (run == left || max < 2)
    return 1;
  vec[1] = (ngtcp2_vec){c->sbuf, (size_t)left - run};
  return 2;
}

void h3_lean_written(struct quic_conn *c, int64_t sid, size_t n) {
  if (sid == c->tunnel_stream)
    c->sbuf_sent += n;
}

void h3_lean_acked(struct quic_conn *c, int64_t sid, uint64_t len) {
  if (sid == c->tunnel_stream)
    c->sbuf_acked += len;
}

void h3_lean_blocked(struct quic_conn *c, int64_t sid, int shut) {
  if (sid == c->tunnel_stream)
    c->lean.out = shut ? H3_LEAN_OUT_SHUT : H3_LEAN_OUT_BLOCKED;
}

void h3_lean_unblock(struct quic_conn *c, int64_t sid) {
  if (sid == c->tunnel_stream && c->lean.out == H3_LEAN_OUT_BLOCKED)
    c->lean.out = H3_LEAN_OUT_OPEN;
}
