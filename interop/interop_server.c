/*
 * interop/interop_server: the endpoint's server role. One UDP socket (and
 * one per preferred address in connectionmigration), one connection table
 * keyed by connection ID for all of them, Retry when the case asks for
 * it, session tickets for resumption and 0-RTT, and files from --www sent
 * over hq-interop or HTTP/3 through a bounded ring per stream (the file
 * is read as the peer acknowledges, never whole).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <uv.h>

#include "interop/interop.h"
#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/h3_files.h"
#include "quic/quic_conn.h"
#include "quic/quic_pkt.h"
#include "quic/tls_identity.h"
#include "quic/udp_sock.h"
#include "src/glue.h"

#define SRV_MAX_CONNS 256         /* connections at once */
#define SRV_MAX_STREAMS 512       /* streams per connection */
#define SRV_RETRY_TOKEN_TTL_NS (10ULL * 1000000000) /* a Retry token's
                                                        * lifetime */
#define SRV_HQ_REFUSED 0x1        /* hq-interop: file not served */
#define SRV_MAX_SOCKS (1 + INTEROP_MAX_PREFERRED) /* --listen, --preferred */

struct srv_stream {
  struct srv_stream *next;
  int64_t sid;
  uint8_t req[INTEROP_REQ_MAX + 1];
  size_t req_len;
  int responding;              /* a file is open and being sent */
  int fd;
  int eof;                     /* the whole file is in the ring */
  int fin_sent, blocked;
  struct interop_ring ring;
};

struct server;

struct srv_sock {
  struct udp_sock s;
  uv_poll_t poll;
  struct server *srv;
};

struct srv_conn {
  struct srv_conn *next;
  struct server *srv;
  struct quic_conn *qc;
  struct h3f *h3;
  int app_known;               /* ALPN seen: hq or h3 chosen */
  struct srv_stream *streams;
  size_t nstreams;
  int dead;
};

struct cid_ent {
  struct quic_cid cid;
  struct srv_conn *sc;
};

struct server {
  const struct interop_opts *o;
  uv_loop_t *loop;
  uv_timer_t timer;
  uv_signal_t sigterm, sigint;
  struct srv_sock socks[SRV_MAX_SOCKS]; /* [0]: --listen */
  size_t nsocks;
  struct quic_preferred_addr preferred; /* offered if npreferred > 0 */
  size_t npreferred;
  struct udp_rx_batch rx;
  struct quic_cred *cred;
  struct quic_resumption *resumption; /* session tickets, 0-RTT */
  uint8_t token_secret[32];
  uint8_t reset_secret[32];
  int www;                     /* directory fd */
  struct srv_conn *conns;
  size_t nconns;
  struct cid_ent *cids;
  size_t ncids, capcids;
  uint64_t echoed;
};

/* --- connection IDs ------------------------------------------------------ */

static struct srv_conn *cid_find(struct server *srv, const uint8_t *cid,
                                 size_t len) {
  size_t i;

  for (i = 0; i < srv->ncids; i++)
    if (srv->cids[i].cid.len == len &&
        memcmp(srv->cids[i].cid.data, cid, len) == 0)
      return srv->cids[i].sc;
  return NULL;
}

static void on_cid_add(void *user, const struct quic_cid *cid) {
  struct srv_conn *sc = user;
  struct server *srv = sc->srv;

  if (srv->ncids == srv->capcids) {
    size_t cap = srv->capcids ? srv->capcids * 2 : 64;
    struct cid_ent *n = realloc(srv->cids, cap * sizeof(*n));

    if (n == NULL)
      return; /* this CID stays unknown: its packets are dropped */
    srv->cids = n;
    srv->capcids = cap;
  }
  srv->cids[srv->ncids].cid = *cid;
  srv->cids[srv->ncids++].sc = sc;
}

static void on_cid_remove(void *user, const struct quic_cid *cid) {
  struct srv_conn *sc = user;
  struct server *srv = sc->srv;
  size_t i;

  for (i = 0; i < srv->ncids; i++)
    if (srv->cids[i].sc == sc && srv->cids[i].cid.len == cid->len &&
        memcmp(srv->cids[i].cid.data, cid->data, cid->len) == 0) {
      srv->cids[i] = srv->cids[--srv->ncids];
      return;
    }
}

/* --- streams ------------------------------------------------------------- */

static struct srv_stream *stream_find(struct srv_conn *sc, int64_t sid) {
  struct srv_stream *s;

  for (s = sc->streams; s; s = s->next)
    if (s->sid == sid)
      return s;
  return NULL;
}

static struct srv_stream *stream_get(struct srv_conn *sc, int64_t sid) {
  struct srv_stream *s = stream_find(sc, sid), **tail;

  if (s || sc->nstreams >= SRV_MAX_STREAMS)
    return s;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->sid = sid;
  s->fd = -1;
  for (tail = &sc->streams; *tail; tail = &(*tail)->next)
    ;
  *tail = s;
  sc->nstreams++;
  return s;
}

static void stream_free(struct srv_stream *s) {
  if (s->fd >= 0)
    close(s->fd);
  interop_ring_free(&s->ring);
  free(s);
}

static void stream_remove(struct srv_conn *sc, int64_t sid) {
  struct srv_stream **pp, *s;

  for (pp = &sc->streams; (s = *pp); pp = &s->next)
    if (s->sid == sid) {
      *pp = s->next;
      sc->nstreams--;
      stream_free(s);
      return;
    }
}

/* Opens |name| under --www for |s|. Returns 0 or a JVPN_ERR_*. */
static int stream_open_file(struct srv_conn *sc, struct srv_stream *s,
                            const char *name) {
  struct stat st;
  int fd;

  fd = openat(sc->srv->www, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    LOG_INFO(NULL, "request for %s: %s", name, strerror(errno));
    return JVPN_ERR_NOTFOUND;
  }
  /* A FIFO or device would block the loop or never end. */
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      interop_ring_init(&s->ring) != 0) {
    close(fd);
    return JVPN_ERR_NOTFOUND;
  }
  s->fd = fd;
  s->responding = 1;
  LOG_DEBUG(NULL, "stream %lld: serving %s (%lld bytes)", (long long)s->sid,
            name, (long long)st.st_size);
  return 0;
}

/* Reads more of the file into the ring while there is room. */
static void stream_top_up(struct srv_stream *s) {
  long n;

  while (!s->eof && interop_ring_room(&s->ring) > 0) {
    n = interop_ring_fill_fd(&s->ring, s->fd);
    if (n < 0) {
      /* A read error truncates the file; the client sees it short. */
      LOG_WARN(NULL, "stream %lld: read error", (long long)s->sid);
      s->eof = 1;
    } else if (n == 0) {
      s->eof = 1;
    } else if ((size_t)n < 4096) {
      break; /* short read: try again next time */
    }
  }
  if (s->eof && s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
}

/* --- HTTP/3 -------------------------------------------------------------- */

static int h3_request(void *user, int64_t sid, const char *path,
                      size_t len) {
  struct srv_conn *sc = user;
  struct srv_stream *s;
  char name[INTEROP_NAME_MAX + 1];

  if (interop_path_to_name(path, len, name, sizeof(name)) != 0)
    return 400;
  s = stream_get(sc, sid);
  if (s == NULL || s->responding)
    return 500;
  return stream_open_file(sc, s, name) == 0 ? 200 : 404;
}

static long h3_body_read(void *user, int64_t sid, struct quic_vec *vec,
                         size_t max, int *eof) {
  struct srv_stream *s = stream_find(user, sid);
  size_t n, i;

  if (s == NULL || !s->responding) {
    *eof = 1;
    return 0;
  }
  stream_top_up(s);
  n = interop_ring_unsent(&s->ring, vec, max);
  /* quic/h3_files holds these bytes until h3_body_acked. */
  for (i = 0; i < n; i++)
    s->ring.sent += vec[i].len;
  *eof = s->eof && s->ring.sent == s->ring.filled;
  return (long)n;
}

static void h3_body_acked(void *user, int64_t sid, uint64_t n) {
  struct srv_conn *sc = user;
  struct srv_stream *s = stream_find(sc, sid);

  if (s == NULL || !s->responding)
    return;
  s->ring.acked += n;
  if (!s->eof)
    h3f_resume(sc->h3, sid);
}

static const struct h3f_ops srv_h3_ops = {
    .request = h3_request,
    .body_read = h3_body_read,
    .body_acked = h3_body_acked,
};

/* Picks hq-interop or HTTP/3 once the ALPN is known (at the latest when
 * the first stream data arrives, which 0-RTT allows before the end of the
 * handshake). */
static int conn_app_ready(struct srv_conn *sc) {
  char alpn[32];

  if (sc->app_known)
    return 0;
  quic_conn_alpn(sc->qc, alpn, sizeof(alpn));
  if (alpn[0] == '\0')
    return JVPN_ERR_AGAIN;
  sc->app_known = 1;
  if (strcmp(alpn, "h3") == 0)
    return h3f_new(&sc->h3, sc->qc, 1, &srv_h3_ops, sc);
  return 0;
}

/* --- quic_conn callbacks ------------------------------------------------- */

/* The socket a path leaves from: the one whose bound address is the
 * path's local address (the address the packets of that path came in
 * on, as dispatch names it). */
static struct udp_sock *sock_of(struct server *srv,
                                const struct quic_path *path) {
  size_t i;

  for (i = 0; i < srv->nsocks; i++)
    if (srv->socks[i].s.local_len == path->local_len &&
        memcmp(&srv->socks[i].s.local, path->local, path->local_len) == 0)
      return &srv->socks[i].s;
  return &srv->socks[0].s;
}

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data, size_t len, size_t seg, uint8_t ecn) {
  struct srv_conn *sc = user;

  return glue_send(sock_of(sc->srv, path), path, data, len, seg, ecn);
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct srv_conn *sc = user;

  LOG_INFO(NULL, "connection ended: %s (%s)", quic_conn_end_str(why),
           detail);
  sc->dead = 1;
}

static void on_handshake(void *user, int confirmed) {
  struct srv_conn *sc = user;
  char alpn[32];

  if (confirmed)
    return;
  quic_conn_alpn(sc->qc, alpn, sizeof(alpn));
  LOG_INFO(NULL, "handshake completed: ALPN %s, version 0x%08x%s", alpn,
           quic_conn_version(sc->qc),
           quic_conn_resumed(sc->qc) ? ", resumed" : "");
  if (conn_app_ready(sc) < 0 && sc->app_known)
    quic_conn_close(sc->qc, 0x101, QUIC_END_INTERNAL, "HTTP/3 set-up",
                    glue_now());
}

static int hq_request(struct srv_conn *sc, struct srv_stream *s,
                      const uint8_t *data, size_t len, int fin) {
  char name[INTEROP_NAME_MAX + 1];
  size_t take = sizeof(s->req) - s->req_len < len
                    ? sizeof(s->req) - s->req_len
                    : len;
  int rv;

  memcpy(s->req + s->req_len, data, take);
  s->req_len += take;
  rv = interop_hq_request_parse(s->req, s->req_len, fin, name, sizeof(name));
  if (rv == JVPN_ERR_AGAIN)
    return 0;
  if (rv == 0)
    rv = stream_open_file(sc, s, name);
  if (rv != 0) {
    /* hq-interop has no status: the stream is reset instead. */
    LOG_INFO(NULL, "stream %lld: request refused (%s)", (long long)s->sid,
             jvpn_strerror(rv));
    quic_conn_stream_shutdown(sc->qc, s->sid, SRV_HQ_REFUSED);
    s->fin_sent = 1;
  }
  return 0;
}

static int on_stream_data(void *user, int64_t sid, uint64_t offset,
                          const uint8_t *data, size_t len, int fin) {
  struct srv_conn *sc = user;
  struct srv_stream *s;
  int rv;

  (void)offset;
  rv = conn_app_ready(sc);
  if (rv < 0 && rv != JVPN_ERR_AGAIN)
    return rv;
  if (sc->h3)
    return h3f_recv(sc->h3, sid, data, len, fin);
  quic_conn_stream_consumed(sc->qc, sid, len);
  /* hq-interop: client bidirectional streams only carry requests. */
  if ((sid & 0x3) != 0)
    return 0;
  s = stream_get(sc, sid);
  if (s == NULL) {
    quic_conn_stream_shutdown(sc->qc, sid, SRV_HQ_REFUSED);
    return 0;
  }
  if (s->responding || s->fin_sent)
    return 0; /* bytes after the request line: ignored */
  return hq_request(sc, s, data, len, fin);
}

static long on_stream_next(void *user, int64_t *sid, int *fin,
                           struct quic_vec *vec, size_t max) {
  struct srv_conn *sc = user;
  struct srv_stream *s, **pp;
  size_t n;

  *sid = -1;
  *fin = 0;
  if (sc->h3)
    return h3f_next(sc->h3, sid, fin, vec, max);
  for (pp = &sc->streams; (s = *pp); pp = &s->next) {
    if (!s->responding || s->blocked || s->fin_sent)
      continue;
    stream_top_up(s);
    n = interop_ring_unsent(&s->ring, vec, max);
    if (n == 0 && !s->eof)
      continue; /* waiting for acknowledgements to free the ring */
    /* Round robin: the stream goes to the back for the next packet. */
    if (s->next) {
      struct srv_stream **tail;

      *pp = s->next;
      for (tail = pp; *tail; tail = &(*tail)->next)
        ;
      *tail = s;
      s->next = NULL;
    }
    *sid = s->sid;
    *fin = s->eof;
    return (long)n;
  }
  return 0;
}

static void on_stream_sent(void *user, int64_t sid, size_t n, int fin_sent) {
  struct srv_conn *sc = user;
  struct srv_stream *s;

  if (sc->h3) {
    h3f_sent(sc->h3, sid, n);
    return;
  }
  s = stream_find(sc, sid);
  if (s == NULL)
    return;
  s->ring.sent += n;
  if (fin_sent)
    s->fin_sent = 1;
}

static void on_stream_blocked(void *user, int64_t sid, int state) {
  struct srv_conn *sc = user;
  struct srv_stream *s;

  if (sc->h3) {
    h3f_blocked(sc->h3, sid, state);
    return;
  }
  s = stream_find(sc, sid);
  if (s == NULL)
    return;
  s->blocked = state > 0;
  if (state < 0)
    s->fin_sent = 1; /* the write side is gone */
}

static void on_stream_acked(void *user, int64_t sid, uint64_t offset,
                            uint64_t len) {
  struct srv_conn *sc = user;
  struct srv_stream *s;

  if (sc->h3) {
    h3f_acked(sc->h3, sid, len);
    return;
  }
  s = stream_find(sc, sid);
  if (s && s->responding && offset + len > s->ring.acked &&
      offset + len <= s->ring.sent)
    s->ring.acked = offset + len;
}

static void on_stream_close(void *user, int64_t sid, uint64_t app_error,
                            int reset) {
  struct srv_conn *sc = user;

  (void)reset;
  if (sc->h3)
    h3f_close(sc->h3, sid, app_error);
  stream_remove(sc, sid);
}

static void on_datagram(void *user, const uint8_t *data, size_t len,
                        int early) {
  struct srv_conn *sc = user;

  (void)early;
  if (quic_conn_send_datagram(sc->qc, data, len) == 0)
    sc->srv->echoed++;
}

static const struct quic_conn_ops srv_ops = {
    .send = on_send,
    .cid_add = on_cid_add,
    .cid_remove = on_cid_remove,
    .closed = on_closed,
    .handshake_done = on_handshake,
    .stream_data = on_stream_data,
    .stream_next = on_stream_next,
    .stream_sent = on_stream_sent,
    .stream_blocked = on_stream_blocked,
    .stream_acked = on_stream_acked,
    .stream_close = on_stream_close,
    .datagram = on_datagram,
};

/* --- connections --------------------------------------------------------- */

static void conn_free(struct srv_conn *sc) {
  struct server *srv = sc->srv;
  struct srv_stream *s, *next;
  size_t i;

  quic_conn_del(sc->qc); /* retires the CIDs through on_cid_remove */
  /* and the client's original DCID (new_conn) goes here */
  for (i = 0; i < srv->ncids;)
    if (srv->cids[i].sc == sc)
      srv->cids[i] = srv->cids[--srv->ncids];
    else
      i++;
  h3f_del(sc->h3);
  for (s = sc->streams; s; s = next) {
    next = s->next;
    stream_free(s);
  }
  free(sc);
}

/* Writes every connection, frees the ended ones and re-arms the timer. */
static void server_flush(struct server *srv) {
  struct srv_conn **pp, *sc;
  uint64_t now = glue_now(), next = UINT64_MAX, e;

  for (pp = &srv->conns; (sc = *pp);) {
    if (!sc->dead)
      (void)quic_conn_write(sc->qc, now); /* errors end it via closed */
    if (sc->dead) {
      *pp = sc->next;
      srv->nconns--;
      conn_free(sc);
      continue;
    }
    e = quic_conn_expiry(sc->qc);
    if (e < next)
      next = e;
    pp = &sc->next;
  }
  glue_timer_arm(&srv->timer, next, now);
}

static void on_timer(uv_timer_t *t) {
  struct server *srv = t->data;
  struct srv_conn *sc;
  uint64_t now = glue_now();

  for (sc = srv->conns; sc; sc = sc->next)
    if (!sc->dead && quic_conn_expiry(sc->qc) <= now)
      (void)quic_conn_handle_expiry(sc->qc, now); /* ends via closed */
  server_flush(srv);
}

static void send_raw(struct udp_sock *us, const struct udp_rx_msg *m,
                     const uint8_t *data, size_t len) {
  /* Best effort, like every stateless answer. */
  (void)udp_sock_send(us, (const struct sockaddr *)&m->peer,
                      m->peer_len, NULL, 0, data, len, 0, 0);
}

static void send_retry(struct server *srv, struct udp_sock *us,
                       const struct udp_rx_msg *m,
                       const struct quic_initial *in) {
  uint8_t out[JVPN_QUIC_MAX_UDP_PAYLOAD];
  long n;

  n = quic_pkt_write_retry(out, sizeof(out), srv->token_secret,
                           sizeof(srv->token_secret), in,
                           (const struct sockaddr *)&m->peer, m->peer_len,
                           NULL, glue_now());
  if (n > 0) {
    LOG_INFO(NULL, "sent Retry");
    send_raw(us, m, out, (size_t)n);
  }
}

static void new_conn(struct server *srv, struct udp_sock *us,
                     const struct udp_rx_msg *m, const uint8_t *pkt,
                     size_t len, uint64_t now) {
  static const char *const alpn_hq[] = {"hq-interop", "h3"};
  static const char *const alpn_h3[] = {"h3", "hq-interop"};
  const struct interop_opts *o = srv->o;
  struct quic_conn_config cfg;
  struct srv_conn *sc;
  struct quic_initial in;
  struct quic_cid odcid;
  int use_odcid = 0, rv;

  if (quic_pkt_accept(&in, pkt, len) != 0 || srv->nconns >= SRV_MAX_CONNS)
    return;
  if (o->tc == IC_RETRY && in.is_initial) {
    rv = quic_pkt_verify_retry(srv->token_secret, sizeof(srv->token_secret),
                               &in, (const struct sockaddr *)&m->peer,
                               m->peer_len, SRV_RETRY_TOKEN_TTL_NS, now,
                               &odcid);
    if (rv == JVPN_ERR_AGAIN) {
      send_retry(srv, us, m, &in);
      return;
    }
    if (rv != 0) {
      LOG_INFO(NULL, "invalid Retry token: dropped");
      return;
    }
    use_odcid = 1;
  }
  sc = calloc(1, sizeof(*sc));
  if (sc == NULL)
    return;
  sc->srv = srv;
  memset(&cfg, 0, sizeof(cfg));
  cfg.is_server = 1;
  cfg.cred = srv->cred;
  cfg.ops = &srv_ops;
  cfg.user = sc;
  cfg.log_ctx = "srv";
  interop_conn_timeouts(&cfg, o->tc);
  cfg.reset_secret = srv->reset_secret;
  cfg.app = QUIC_APP_STREAMS;
  /* The negotiated ALPN picks hq-interop or HTTP/3, whatever the case. */
  memcpy(cfg.alpn, strcmp(o->alpn, "h3") == 0 ? alpn_h3 : alpn_hq,
         sizeof(alpn_hq));
  cfg.no_peer_auth = 1;
  cfg.tls_priority = interop_tls_priority(o->tc);
  /* v2: a client that offers it is moved there by compatible version
   * negotiation (RFC 9368); every other case stays in v1. */
  cfg.v1_only = o->tc != IC_V2;
  cfg.retry_odcid = use_odcid ? &odcid : NULL;
  cfg.resumption = srv->resumption;
  cfg.datagrams = o->tc == IC_DATAGRAM;
  cfg.keylog = o->keylog;
  cfg.qlog_dir = o->qlog_dir;
  cfg.preferred = srv->npreferred ? &srv->preferred : NULL;
  /* Link first: cid_add runs during creation. */
  sc->next = srv->conns;
  srv->conns = sc;
  srv->nconns++;
  if (quic_conn_server_new(&sc->qc, &cfg, &in,
                           (const struct sockaddr *)&us->local, us->local_len,
                           (const struct sockaddr *)&m->peer, m->peer_len,
                           now) != 0) {
    LOG_WARN(NULL, "cannot create a connection");
    sc->dead = 1;
    return;
  }
  /* The client keeps sending to the DCID it chose (a repeated Initial,
   * its 0-RTT packets) until our first Initial reaches it: those packets
   * belong to this connection, not to a new one. */
  on_cid_add(sc, &in.dcid);
  (void)quic_conn_read(sc->qc, (const struct sockaddr *)&us->local,
                       us->local_len, (const struct sockaddr *)&m->peer,
                       m->peer_len, m->ecn, pkt, len, now);
}

/* Hands a packet that came in on |us| to its connection (by DCID, on
 * whichever socket: the preferred address's too), or starts one. The
 * local address quic_conn sees is |us|'s bound one, so each socket is a
 * path of its own. */
static void dispatch(struct server *srv, struct udp_sock *us,
                     const struct udp_rx_msg *m, const uint8_t *pkt,
                     size_t len, uint64_t now) {
  struct quic_pkt_ids ids;
  struct srv_conn *sc;
  int rv;

  rv = quic_pkt_decode_ids(&ids, pkt, len);
  if (rv != QUIC_PKT_OK && rv != QUIC_PKT_VERSION_UNSUPPORTED)
    return;
  sc = cid_find(srv, ids.dcid.data, ids.dcid.len);
  if (rv == QUIC_PKT_VERSION_UNSUPPORTED && sc == NULL) {
    uint8_t out[256];
    long n;

    /* Only a packet that could start a connection (RFC 9000 14.1) earns
     * an answer, so a small spoofed one cannot be amplified. */
    if (len < JVPN_QUIC_MIN_UDP_PAYLOAD)
      return;
    n = quic_pkt_write_vn(out, sizeof(out), &ids);
    if (n > 0)
      send_raw(us, m, out, (size_t)n);
    return;
  }
  if (sc) {
    if (!sc->dead)
      (void)quic_conn_read(sc->qc, (const struct sockaddr *)&us->local,
                           us->local_len, (const struct sockaddr *)&m->peer,
                           m->peer_len, m->ecn, pkt, len, now);
    return;
  }
  if (ids.version != 0) /* long header: maybe a new connection */
    new_conn(srv, us, m, pkt, len, now);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  struct srv_sock *ss = p->data;
  struct server *srv = ss->srv;
  int i, n;

  (void)events;
  if (status < 0)
    return;
  for (;;) {
    uint64_t now;

    n = udp_sock_recv(&ss->s, &srv->rx);
    if (n <= 0)
      break;
    now = glue_now();
    for (i = 0; i < n; i++) {
      const struct udp_rx_msg *m = &srv->rx.msg[i];
      const uint8_t *pkt;
      size_t off = 0, len;

      while (udp_rx_msg_next(m, &off, &pkt, &len))
        dispatch(srv, &ss->s, m, pkt, len, now);
    }
  }
  server_flush(srv);
}

static void on_signal(uv_signal_t *sig, int signum) {
  struct server *srv = sig->data;
  struct srv_conn *sc;

  (void)signum;
  for (sc = srv->conns; sc; sc = sc->next)
    if (!sc->dead)
      quic_conn_close(sc->qc, 0, QUIC_END_LOCAL_CLOSE, "server stopping",
                      glue_now());
  uv_stop(srv->loop);
}

/* Opens the next socket, bound to |spec| (ADDR:PORT, from option |opt|);
 * in |addr| its address. Returns 0 or a JVPN_ERR_*. */
static int sock_add(struct server *srv, const char *opt, const char *spec,
                    struct sockaddr_storage *addr) {
  struct srv_sock *ss = &srv->socks[srv->nsocks];
  socklen_t len;

  if (interop_sockaddr_parse(spec, addr, &len) != 0) {
    LOG_ERR(NULL, "%s needs ADDR:PORT with an address literal: %s", opt,
            spec);
    return JVPN_ERR_CONFIG;
  }
  if (udp_sock_open(&ss->s, (const struct sockaddr *)addr, len) != 0) {
    /* EADDRINUSE: a wildcard --listen of the same family and port
     * already holds it; give the preferred address another port. */
    LOG_ERR(NULL, "cannot bind %s %s: %s", opt, spec, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  ss->srv = srv;
  srv->nsocks++;
  return 0;
}

/* The preferred addresses (connectionmigration only): one per family, a
 * unicast address the client can reach, unlike a wildcard. */
static int preferred_setup(struct server *srv) {
  const struct interop_opts *o = srv->o;
  struct sockaddr_storage a;
  size_t i;
  int rv;

  if (o->tc != IC_CONNECTIONMIGRATION)
    return 0;
  for (i = 0; i < o->npreferred; i++) {
    rv = sock_add(srv, "--preferred", o->preferred[i], &a);
    if (rv != 0)
      return rv;
    if (a.ss_family == AF_INET && srv->preferred.ipv4.sin_family == 0 &&
        ((struct sockaddr_in *)&a)->sin_addr.s_addr != htonl(INADDR_ANY)) {
      memcpy(&srv->preferred.ipv4, &a, sizeof(srv->preferred.ipv4));
    } else if (a.ss_family == AF_INET6 &&
               srv->preferred.ipv6.sin6_family == 0 &&
               !IN6_IS_ADDR_UNSPECIFIED(
                   &((struct sockaddr_in6 *)&a)->sin6_addr)) {
      memcpy(&srv->preferred.ipv6, &a, sizeof(srv->preferred.ipv6));
    } else {
      LOG_ERR(NULL, "--preferred %s: a wildcard, or a second of its family",
              o->preferred[i]);
      return JVPN_ERR_CONFIG;
    }
    srv->npreferred++;
    LOG_INFO(NULL, "preferred address %s", o->preferred[i]);
  }
  return 0;
}

static int server_setup(struct server *srv) {
  struct sockaddr_storage a;
  const struct interop_opts *o = srv->o;
  int rv;

  srv->www = open(o->www, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (srv->www < 0) {
    LOG_ERR(NULL, "cannot open --www %s: %s", o->www, strerror(errno));
    return JVPN_ERR_CONFIG;
  }
  if (glue_load_cred(&srv->cred, o->cert, o->key) != 0)
    return JVPN_ERR_TLS;
  /* Every 0-RTT ClientHello within GnuTLS's ticket-age window is
   * accepted: a test server keeps no replay database (quic_resumption). */
  if (quic_resumption_new(&srv->resumption) != 0 ||
      tls_identity_random(srv->token_secret, sizeof(srv->token_secret)) !=
          0 ||
      tls_identity_random(srv->reset_secret, sizeof(srv->reset_secret)) != 0)
    return JVPN_ERR_TLS;
  if (udp_rx_batch_init(&srv->rx) != 0)
    return JVPN_ERR_NOMEM;
  rv = sock_add(srv, "--listen", o->listen, &a);
  if (rv != 0)
    return rv;
  return preferred_setup(srv);
}

int interop_server_run(const struct interop_opts *o) {
  static struct server srv;
  size_t i;
  int rv;

  srv.o = o;
  srv.www = -1;
  srv.loop = uv_default_loop();
  rv = server_setup(&srv);
  if (rv == 0) {
    for (i = 0; i < srv.nsocks; i++) {
      uv_poll_init(srv.loop, &srv.socks[i].poll, srv.socks[i].s.fd);
      srv.socks[i].poll.data = &srv.socks[i];
      uv_poll_start(&srv.socks[i].poll, UV_READABLE, on_readable);
    }
    uv_timer_init(srv.loop, &srv.timer);
    srv.timer.data = &srv;
    srv.timer.timer_cb = on_timer;
    uv_signal_init(srv.loop, &srv.sigterm);
    uv_signal_init(srv.loop, &srv.sigint);
    srv.sigterm.data = srv.sigint.data = &srv;
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    LOG_INFO(NULL, "listening on %s (%s)", o->listen, o->alpn);
    uv_run(srv.loop, UV_RUN_DEFAULT);
    if (o->tc == IC_DATAGRAM)
      printf("datagrams echoed=%llu\n", (unsigned long long)srv.echoed);
    fflush(stdout);
    while (srv.conns) {
      struct srv_conn *sc = srv.conns;

      srv.conns = sc->next;
      conn_free(sc);
    }
  }
  for (i = 0; i < srv.nsocks; i++)
    udp_sock_close(&srv.socks[i].s);
  udp_rx_batch_free(&srv.rx);
  tls_identity_cred_del(srv.cred);
  quic_resumption_del(srv.resumption);
  free(srv.cids);
  if (srv.www >= 0)
    close(srv.www);
  return rv == 0 ? INTEROP_EXIT_OK : INTEROP_EXIT_FAIL;
}
