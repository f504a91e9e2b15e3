/*
 * interop/interop_client: the endpoint's client role. Downloads the URLs
 * over hq-interop or HTTP/3 on one connection, one per URL (multiconnect)
 * or two (resumption, zerortt: the second resumes the first's session),
 * and runs the per-case extras: key update, migration, datagram echoes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <uv.h>

#include "interop/interop.h"
#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/h3_files.h"
#include "quic/quic_conn.h"
#include "quic/tls_identity.h"
#include "quic/udp_sock.h"
#include "src/glue.h"

#define CL_H3_NO_ERROR 0x100
#define CL_MIGRATION_MS 3000  /* ms: the transfer waits for the new path */
#define CL_PARAMS_MAX 512     /* bytes: encoded 0-RTT transport params */

struct cl_req {
  char path[INTEROP_REQ_MAX];
  char name[INTEROP_NAME_MAX + 1];
  int64_t sid;                 /* -1: not opened (yet, or again) */
  int fd;
  int done, failed;
  char line[INTEROP_REQ_MAX + 8]; /* hq-interop request */
  size_t line_len, line_sent;
  int fin_sent, blocked;
};

struct cl_sock {
  struct udp_sock s;
  uv_poll_t poll;
  int open;
  struct client *cl;
};

struct client {
  const struct interop_opts *o;
  uv_loop_t *loop;
  struct cl_sock socks[2];
  uv_timer_t timer, dgram_timer;
  struct udp_rx_batch rx;
  struct quic_cred *cred;      /* no certificate: the client shows none */
  struct sockaddr_storage server;
  socklen_t server_len;
  char host[64], authority[80];
  uint16_t port;
  int dl;                      /* downloads directory fd */
  struct cl_req *reqs;
  size_t nreqs, lo, hi;        /* this connection's requests: [lo, hi) */
  struct quic_conn *qc;
  struct h3f *h3;
  int conn_dead, conn_error, closing;
  int have_session;
  uint8_t *session;            /* the first connection's ticket (owned) */
  size_t session_len;
  uint8_t params[CL_PARAMS_MAX]; /* and its 0-RTT transport parameters */
  size_t params_len;
  uint64_t ticket_deadline;
  uint64_t mig_deadline;       /* 0: no migration under way */
  int migrated;                /* the new path was validated */
  int want_key_update, want_migrate; /* due at the next client_flush */
  int preferred;               /* moving to the server's preferred
                                * address (quic_conn drives it) */
  unsigned dg_total, dg_sent, dg_echoed;
  uint8_t *dg_seen;
  uint64_t dg_deadline;
  int failed;
};

static void client_flush(struct client *cl);

/* --- requests ------------------------------------------------------------ */

static struct cl_req *req_of(struct client *cl, int64_t sid) {
  size_t i;

  for (i = cl->lo; i < cl->hi; i++)
    if (cl->reqs[i].sid == sid)
      return &cl->reqs[i];
  return NULL;
}

static int req_start_file(struct client *cl, struct cl_req *r) {
  if (r->fd >= 0)
    close(r->fd);
  r->fd = openat(cl->dl, r->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0644);
  if (r->fd < 0) {
    LOG_ERR(NULL, "cannot create %s: %s", r->name, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  return 0;
}

static void req_finish(struct client *cl, struct cl_req *r, int ok) {
  if (r->done || r->failed)
    return;
  if (r->fd >= 0) {
    if (close(r->fd) != 0)
      ok = 0;
    r->fd = -1;
  }
  if (ok)
    r->done = 1;
  else
    r->failed = 1;
  LOG_INFO(NULL, "%s: %s", r->name, ok ? "downloaded" : "FAILED");
  (void)cl;
}

/* Opens streams for the requests not yet sent; stops at the peer's
 * stream limit (streams_available resumes). */
static void open_requests(struct client *cl) {
  size_t i;

  for (i = cl->lo; i < cl->hi; i++) {
    struct cl_req *r = &cl->reqs[i];
    int rv;

    if (r->sid >= 0 || r->done || r->failed)
      continue;
    rv = quic_conn_open_stream(cl->qc, &r->sid);
    if (rv == JVPN_ERR_AGAIN)
      return;
    if (rv != 0 || req_start_file(cl, r) != 0) {
      r->sid = -1;
      req_finish(cl, r, 0);
      continue;
    }
    if (cl->h3) {
      if (h3f_get(cl->h3, r->sid, cl->authority, r->path) != 0)
        req_finish(cl, r, 0);
      continue;
    }
    r->line_len = (size_t)snprintf(r->line, sizeof(r->line), "GET %s\r\n",
                                   r->path);
    r->line_sent = 0;
    r->fin_sent = r->blocked = 0;
  }
}

/* --- HTTP/3 -------------------------------------------------------------- */

static int h3_response_data(void *user, int64_t sid, const uint8_t *data,
                            size_t len) {
  struct cl_req *r = req_of(user, sid);

  if (r == NULL || r->fd < 0)
    return 0;
  return interop_write_all(r->fd, data, len);
}

static void h3_response_end(void *user, int64_t sid, int status) {
  struct cl_req *r = req_of(user, sid);

  if (r == NULL)
    return;
  if (status != 200)
    LOG_WARN(NULL, "%s: HTTP status %d", r->name, status);
  req_finish(user, r, status == 200);
}

static const struct h3f_ops cl_h3_ops = {
    .response_data = h3_response_data,
    .response_end = h3_response_end,
};

/* --- quic_conn callbacks ------------------------------------------------- */

static struct cl_sock *sock_for_path(struct client *cl,
                                     const struct quic_path *path) {
  const struct sockaddr_in *a = (const struct sockaddr_in *)path->local;
  int i;

  /* sin_port and sin6_port sit at the same offset; the preferred
   * address may be of the other family. */
  for (i = 0; i < 2; i++) {
    const struct sockaddr_in *b =
        (const struct sockaddr_in *)&cl->socks[i].s.local;

    if (cl->socks[i].open && a->sin_family == b->sin_family &&
        a->sin_port == b->sin_port)
      return &cl->socks[i];
  }
  return &cl->socks[0];
}

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct client *cl = user;

  return glue_send(&sock_for_path(cl, path)->s, path, data, len, seg, ecn);
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct client *cl = user;

  cl->conn_dead = 1;
  if (why != QUIC_END_LOCAL_CLOSE) {
    LOG_WARN(NULL, "connection ended: %s (%s)", quic_conn_end_str(why),
             detail);
    cl->conn_error = 1;
  }
}

static void dgram_send_next(uv_timer_t *t);

static void sock_start(struct client *cl, struct cl_sock *cs);

/* The second socket, bound to |family|'s wildcard address and a port the
 * kernel picks: the local end of the new path. Returns 0 or -1. */
static int second_sock(struct client *cl, int family) {
  struct cl_sock *cs = &cl->socks[1];
  struct sockaddr_storage a;
  socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);

  if (cs->open)
    return -1; /* one move per connection */
  memset(&a, 0, sizeof(a));
  a.ss_family = (sa_family_t)family;
  if (udp_sock_open(&cs->s, (const struct sockaddr *)&a, len) != 0) {
    LOG_ERR(NULL, "cannot open a second socket for migration: %s",
            strerror(errno));
    return -1;
  }
  sock_start(cl, cs);
  return 0;
}

/* The server offers a preferred address (RFC 9000 9.6): every case
 * follows it, as ngtcp2's and most clients do by default (the runner's
 * connectionmigration names the server's role only: the client runs
 * "transfer"). ngtcp2 validates the path, then moves with the address's
 * connection ID once the handshake is confirmed. */
static int on_preferred_addr(void *user, const struct sockaddr *remote,
                             socklen_t remote_len, struct sockaddr *local,
                             socklen_t *local_len) {
  struct client *cl = user;
  struct cl_sock *cs = &cl->socks[1];
  char buf[INET6_ADDRSTRLEN + 8];

  (void)remote_len;
  LOG_INFO(NULL, "server's preferred address %s",
           glue_sockaddr_str(remote, buf, sizeof(buf)));
  if (cl->qc == NULL || second_sock(cl, remote->sa_family) != 0)
    return -1;
  memcpy(local, &cs->s.local, cs->s.local_len);
  *local_len = cs->s.local_len;
  cl->preferred = 1;
  cl->mig_deadline = glue_now() + (uint64_t)CL_MIGRATION_MS * 1000000;
  return 0;
}

/* connectionmigration without a preferred address: the client moves to a
 * new local port of its own. */
static void migrate(struct client *cl) {
  struct cl_sock *cs = &cl->socks[1];
  int rv;

  /* socks[0] is bound to the wildcard address: same address, new port. */
  if (second_sock(cl, cl->socks[0].s.family) != 0)
    return;
  /* Immediate: the client moves its traffic (with a fresh connection ID)
   * to the new path at once and validates it there, so the server sees
   * non-probing packets from the new address and validates it too; the
   * runner wants a PATH_CHALLENGE from the server on every new path
   * (RFC 9000 9.2 allows this: the server's address is validated). */
  rv = quic_conn_migrate(cl->qc, (const struct sockaddr *)&cs->s.local,
                         cs->s.local_len, 1, glue_now());
  LOG_INFO(NULL, "migration to a new local port: %s",
           rv == 0 ? "started" : jvpn_strerror(rv));
  if (rv == 0)
    cl->mig_deadline = glue_now() + (uint64_t)CL_MIGRATION_MS * 1000000;
}

static void on_handshake(void *user, int confirmed) {
  struct client *cl = user;
  char alpn[32];

  if (!confirmed) {
    quic_conn_alpn(cl->qc, alpn, sizeof(alpn));
    LOG_INFO(NULL, "handshake completed: ALPN %s, version 0x%08x%s%s", alpn,
             quic_conn_version(cl->qc),
             quic_conn_resumed(cl->qc) ? ", resumed" : "",
             cl->o->tc == IC_ZERORTT && cl->have_session
                 ? (quic_conn_early_accepted(cl->qc) ? ", 0-RTT accepted"
                                                     : ", 0-RTT refused")
                 : "");
    if (strcmp(alpn, "h3") == 0 && cl->h3 == NULL &&
        h3f_new(&cl->h3, cl->qc, 0, &cl_h3_ops, cl) != 0) {
      quic_conn_close(cl->qc, 0x102, QUIC_END_INTERNAL, "HTTP/3 set-up",
                      glue_now());
      return;
    }
    open_requests(cl);
    return;
  }
  LOG_INFO(NULL, "handshake confirmed");
  /* Not from inside this callback: the packet that confirmed the
   * handshake is being read at an earlier time than glue_now() gives now,
   * and the rest of its batch too; ngtcp2 wants its clock never to go
   * back. client_flush, after the batch, starts them. */
  if (cl->o->tc == IC_KEYUPDATE)
    cl->want_key_update = 1;
  if (cl->o->tc == IC_CONNECTIONMIGRATION && !cl->preferred)
    cl->want_migrate = 1;
  if (cl->o->tc == IC_DATAGRAM && cl->dg_sent == 0)
    uv_timer_start(&cl->dgram_timer, dgram_send_next, 0,
                   INTEROP_DGRAM_GAP_MS);
}

static int on_stream_data(void *user, int64_t sid, uint64_t offset,
                          const uint8_t *data, size_t len, int fin) {
  struct client *cl = user;
  struct cl_req *r;

  (void)offset;
  if (cl->h3)
    return h3f_recv(cl->h3, sid, data, len, fin);
  quic_conn_stream_consumed(cl->qc, sid, len);
  r = req_of(cl, sid);
  if (r == NULL || r->done || r->failed)
    return 0;
  if (len > 0 && interop_write_all(r->fd, data, len) != 0) {
    req_finish(cl, r, 0);
    return 0;
  }
  if (fin)
    req_finish(cl, r, 1);
  return 0;
}

static long on_stream_next(void *user, int64_t *sid, int *fin,
                           struct quic_vec *vec, size_t max) {
  struct client *cl = user;
  size_t i;

  *sid = -1;
  *fin = 0;
  if (cl->h3)
    return h3f_next(cl->h3, sid, fin, vec, max);
  for (i = cl->lo; i < cl->hi; i++) {
    struct cl_req *r = &cl->reqs[i];

    if (r->sid < 0 || r->fin_sent || r->blocked || r->line_len == 0)
      continue;
    *sid = r->sid;
    *fin = 1;
    vec[0].base = (uint8_t *)r->line + r->line_sent;
    vec[0].len = r->line_len - r->line_sent;
    return vec[0].len ? 1 : 0;
  }
  return 0;
}

static void on_stream_sent(void *user, int64_t sid, size_t n, int fin_sent) {
  struct client *cl = user;
  struct cl_req *r;

  if (cl->h3) {
    h3f_sent(cl->h3, sid, n);
    return;
  }
  r = req_of(cl, sid);
  if (r == NULL)
    return;
  r->line_sent += n;
  if (fin_sent)
    r->fin_sent = 1;
}

static void on_stream_blocked(void *user, int64_t sid, int state) {
  struct client *cl = user;
  struct cl_req *r;

  if (cl->h3) {
    h3f_blocked(cl->h3, sid, state);
    return;
  }
  r = req_of(cl, sid);
  if (r == NULL)
    return;
  r->blocked = state > 0;
  if (state < 0)
    r->fin_sent = 1;
}

static void on_stream_acked(void *user, int64_t sid, uint64_t offset,
                            uint64_t len) {
  struct client *cl = user;

  (void)offset;
  if (cl->h3)
    h3f_acked(cl->h3, sid, len);
}

static void on_stream_close(void *user, int64_t sid, uint64_t app_error,
                            int reset) {
  struct client *cl = user;
  struct cl_req *r;

  if (cl->h3)
    h3f_close(cl->h3, sid, app_error);
  r = req_of(cl, sid);
  if (r && !r->done && reset) {
    LOG_WARN(NULL, "%s: stream reset (0x%llx)", r->name,
             (unsigned long long)app_error);
    req_finish(cl, r, 0);
  }
}

static void on_streams_available(void *user) { open_requests(user); }

static void on_path_changed(void *user, const struct quic_path *path,
                            int same_ip) {
  struct client *cl = user;

  (void)path;
  LOG_INFO(NULL, "migrated: new path validated and in use%s",
           same_ip ? " (same address, new port)" : "");
  cl->migrated = 1;
}

static void on_datagram(void *user, const uint8_t *data, size_t len,
                        int early) {
  struct client *cl = user;
  uint32_t idx;

  (void)early;
  if (len != INTEROP_DGRAM_LEN)
    return;
  idx = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
        (uint32_t)data[2] << 8 | data[3];
  if (idx >= cl->dg_total || cl->dg_seen[idx])
    return;
  cl->dg_seen[idx] = 1;
  cl->dg_echoed++;
}

static void on_session_ticket(void *user) {
  struct client *cl = user;

  LOG_DEBUG(NULL, "session ticket received");
  if (cl->have_session)
    return;
  cl->params_len = sizeof(cl->params);
  if (quic_conn_get_session(cl->qc, &cl->session, &cl->session_len,
                            cl->params, &cl->params_len) == 0)
    cl->have_session = 1;
}

static void on_early_rejected(void *user) {
  struct client *cl = user;
  size_t i;

  /* The streams are gone: send every request again in 1-RTT. */
  for (i = cl->lo; i < cl->hi; i++)
    if (!cl->reqs[i].done) {
      cl->reqs[i].sid = -1;
      cl->reqs[i].failed = 0;
    }
}

static const struct quic_conn_ops cl_ops = {
    .send = on_send,
    .closed = on_closed,
    .handshake_done = on_handshake,
    .stream_data = on_stream_data,
    .stream_next = on_stream_next,
    .stream_sent = on_stream_sent,
    .stream_blocked = on_stream_blocked,
    .stream_acked = on_stream_acked,
    .stream_close = on_stream_close,
    .streams_available = on_streams_available,
    .datagram = on_datagram,
    .session_ticket = on_session_ticket,
    .early_rejected = on_early_rejected,
    .path_changed = on_path_changed,
    .preferred_addr = on_preferred_addr,
};

/* --- the loop ------------------------------------------------------------ */

static void dgram_send_next(uv_timer_t *t) {
  struct client *cl = t->data;
  uint8_t d[INTEROP_DGRAM_LEN];
  uint32_t i = cl->dg_sent;

  if (cl->qc == NULL || cl->conn_dead) {
    uv_timer_stop(t);
    return;
  }
  if (i >= cl->dg_total) {
    uv_timer_stop(t);
    client_flush(cl); /* the deadline has passed: judge */
    return;
  }
  memset(d, 0xa5, sizeof(d));
  d[0] = (uint8_t)(i >> 24);
  d[1] = (uint8_t)(i >> 16);
  d[2] = (uint8_t)(i >> 8);
  d[3] = (uint8_t)i;
  if (quic_conn_send_datagram(cl->qc, d, sizeof(d)) == 0)
    cl->dg_sent++;
  if (cl->dg_sent == cl->dg_total) {
    cl->dg_deadline = glue_now() + (uint64_t)INTEROP_DGRAM_WAIT_MS * 1000000;
    uv_timer_start(t, dgram_send_next, INTEROP_DGRAM_WAIT_MS + 1, 0);
  }
  client_flush(cl);
}

static int conn_work_done(struct client *cl) {
  uint64_t now = glue_now();
  size_t i;

  for (i = cl->lo; i < cl->hi; i++)
    if (!cl->reqs[i].done && !cl->reqs[i].failed)
      return 0;
  /* connectionmigration: the connection ends on the new path. */
  if (cl->mig_deadline && !cl->migrated && now < cl->mig_deadline)
    return 0;
  if (cl->o->tc == IC_DATAGRAM && cl->dg_echoed < cl->dg_total &&
      (cl->dg_sent < cl->dg_total || now < cl->dg_deadline))
    return 0;
  /* The first connection of resumption / zerortt waits briefly for a
   * ticket, which the server sends after the handshake. */
  if ((cl->o->tc == IC_RESUMPTION || cl->o->tc == IC_ZERORTT) &&
      cl->lo == 0 && !cl->have_session) {
    if (cl->ticket_deadline == 0)
      cl->ticket_deadline = now + (uint64_t)INTEROP_TICKET_WAIT_MS * 1000000;
    if (now < cl->ticket_deadline)
      return 0;
    LOG_WARN(NULL, "no session ticket arrived");
  }
  return 1;
}

static int start_conn(struct client *cl);

static void conn_end(struct client *cl) {
  size_t i;

  h3f_del(cl->h3);
  cl->h3 = NULL;
  quic_conn_del(cl->qc);
  cl->qc = NULL;
  uv_timer_stop(&cl->timer);
  for (i = cl->lo; i < cl->hi; i++)
    req_finish(cl, &cl->reqs[i], cl->reqs[i].done);
  if (cl->conn_error)
    cl->failed = 1;
  if (cl->socks[1].open) {
    uv_poll_stop(&cl->socks[1].poll);
    /* the handle closes on the next loop turn; the fd then */
    cl->socks[1].open = 0;
    uv_close((uv_handle_t *)&cl->socks[1].poll, NULL);
    udp_sock_close(&cl->socks[1].s);
  }
  if (cl->hi < cl->nreqs && !cl->failed) {
    cl->lo = cl->hi;
    cl->hi = cl->o->tc == IC_MULTICONNECT ? cl->lo + 1 : cl->nreqs;
    if (start_conn(cl) == 0)
      return;
    cl->failed = 1;
  }
  uv_stop(cl->loop);
}

static void client_flush(struct client *cl) {
  uint64_t now;
  int rv;

  if (cl->qc == NULL)
    return;
  if (cl->want_key_update && !cl->conn_dead) {
    cl->want_key_update = 0;
    rv = quic_conn_key_update(cl->qc, glue_now());
    LOG_INFO(NULL, "key update: %s", rv == 0 ? "initiated" : "refused");
  }
  if (cl->want_migrate && !cl->conn_dead) {
    cl->want_migrate = 0;
    if (!cl->preferred)
      migrate(cl);
  }
  if (!cl->conn_dead && !cl->closing && conn_work_done(cl)) {
    cl->closing = 1;
    if (!cl->have_session && cl->o->tc != IC_MULTICONNECT)
      on_session_ticket(cl);
    /* Done: CONNECTION_CLOSE with NO_ERROR (H3_NO_ERROR for HTTP/3). */
    quic_conn_close(cl->qc, cl->h3 ? CL_H3_NO_ERROR : 0,
                    QUIC_END_LOCAL_CLOSE, "done", glue_now());
  }
  if (!cl->conn_dead)
    (void)quic_conn_write(cl->qc, glue_now()); /* errors come via closed */
  if (cl->conn_dead) {
    conn_end(cl);
    return;
  }
  now = glue_now();
  {
    uint64_t e = quic_conn_expiry(cl->qc);

    if (cl->ticket_deadline && !cl->have_session && cl->ticket_deadline < e)
      e = cl->ticket_deadline;
    if (cl->mig_deadline && !cl->migrated && cl->mig_deadline < e)
      e = cl->mig_deadline;
    glue_timer_arm(&cl->timer, e, now);
  }
}

static void on_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  uint64_t now = glue_now();

  if (cl->qc && !cl->conn_dead && quic_conn_expiry(cl->qc) <= now)
    (void)quic_conn_handle_expiry(cl->qc, now); /* ends via closed */
  client_flush(cl);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  struct cl_sock *cs = p->data;
  struct client *cl = cs->cl;
  int n;

  (void)events;
  if (status < 0)
    return;
  while (cl->qc && !cl->conn_dead &&
         (n = udp_sock_recv(&cs->s, &cl->rx)) > 0)
    glue_conn_read_batch(cl->qc, &cs->s, &cl->rx, n, glue_now(),
                         &cl->conn_dead);
  if (cl->qc == NULL) {
    /* Between connections: drain stale packets. */
    while (udp_sock_recv(&cs->s, &cl->rx) > 0)
      ;
    return;
  }
  client_flush(cl);
}

static void sock_start(struct client *cl, struct cl_sock *cs) {
  cs->cl = cl;
  cs->open = 1;
  uv_poll_init(cl->loop, &cs->poll, cs->s.fd);
  cs->poll.data = cs;
  uv_poll_start(&cs->poll, UV_READABLE, on_readable);
}

static int start_conn(struct client *cl) {
  const struct interop_opts *o = cl->o;
  struct quic_conn_config cfg;
  int resume = cl->have_session && cl->lo > 0 &&
               (o->tc == IC_RESUMPTION || o->tc == IC_ZERORTT);

  cl->conn_dead = cl->conn_error = cl->closing = 0;
  cl->mig_deadline = 0;
  cl->migrated = cl->preferred = 0;
  cl->want_key_update = cl->want_migrate = 0;
  memset(&cfg, 0, sizeof(cfg));
  cfg.cred = cl->cred;
  cfg.authority = cl->authority;
  /* RFC 6066 3: no address literal in SNI; the runner uses names. */
  {
    struct in6_addr tmp;

    if (inet_pton(AF_INET, cl->host, &tmp) != 1 &&
        inet_pton(AF_INET6, cl->host, &tmp) != 1)
      cfg.sni = cl->host;
  }
  cfg.ops = &cl_ops;
  cfg.user = cl;
  cfg.log_ctx = "cl";
  interop_conn_timeouts(&cfg, o->tc);
  cfg.app = QUIC_APP_STREAMS;
  cfg.alpn[0] = o->alpn; /* h3 for http3, or any case with INTEROP_ALPN */
  cfg.no_peer_auth = 1;
  cfg.tls_priority = interop_tls_priority(o->tc);
  /* v2: offered by compatible version negotiation (RFC 9368), the first
   * Initial in v1; every other case stays in v1, as the runner checks. */
  cfg.v1_only = o->tc != IC_V2;
  cfg.datagrams = o->tc == IC_DATAGRAM;
  /* zerortt: the runner counts every byte of the client's 1-RTT payload
   * against the requests that should have gone in 0-RTT, a PMTU probe
   * (PING + PADDING, ~1400 bytes per connection) too; 32-byte files gain
   * nothing from a larger packet size. */
  cfg.no_pmtud = o->tc == IC_ZERORTT;
  cfg.keylog = o->keylog;
  cfg.qlog_dir = o->qlog_dir;
  if (resume) {
    cfg.resume_session = cl->session;
    cfg.resume_session_len = cl->session_len;
    cfg.resume_params = cl->params;
    cfg.resume_params_len = cl->params_len;
  }
  if (quic_conn_client_new(&cl->qc, &cfg,
                           (const struct sockaddr *)&cl->socks[0].s.local,
                           cl->socks[0].s.local_len,
                           (const struct sockaddr *)&cl->server,
                           cl->server_len, glue_now()) != 0) {
    LOG_ERR(NULL, "cannot create a connection");
    return JVPN_ERR_QUIC;
  }
  /* 0-RTT: the requests go out with the first flight (HTTP/3's control
   * streams too, which the remembered limits allow). */
  if (resume && o->tc == IC_ZERORTT) {
    if (strcmp(cfg.alpn[0], "h3") == 0 &&
        h3f_new(&cl->h3, cl->qc, 0, &cl_h3_ops, cl) != 0)
      return JVPN_ERR_H3;
    open_requests(cl);
  }
  client_flush(cl);
  return 0;
}

/* The server of the first URL: an address literal or a name (the
 * runner's URLs name "server4" or "server46"), the first address the
 * resolver gives, and the :authority to ask it for. */
static int resolve_server(struct client *cl) {
  if (glue_resolve(cl->host, cl->port, &cl->server, &cl->server_len) != 0)
    return JVPN_ERR_NOTFOUND;
  snprintf(cl->authority, sizeof(cl->authority),
           strchr(cl->host, ':') ? "[%s]:%u" : "%s:%u", cl->host, cl->port);
  return 0;
}

static int client_setup(struct client *cl) {
  const struct interop_opts *o = cl->o;
  struct sockaddr_storage any;
  char host[64], env[16];
  uint16_t port;
  size_t i;
  const char *n = getenv("JVPN_INTEROP_DATAGRAMS");

  if (o->nurls == 0) {
    LOG_ERR(NULL, "no URL given");
    return JVPN_ERR_CONFIG;
  }
  cl->reqs = calloc(o->nurls, sizeof(*cl->reqs));
  if (cl->reqs == NULL)
    return JVPN_ERR_NOMEM;
  cl->nreqs = o->nurls;
  for (i = 0; i < o->nurls; i++) {
    struct cl_req *r = &cl->reqs[i];

    r->sid = -1;
    r->fd = -1;
    if (interop_url_parse(o->urls[i], host, sizeof(host), &port, r->path,
                          sizeof(r->path)) != 0 ||
        interop_path_to_name(r->path, strlen(r->path), r->name,
                             sizeof(r->name)) != 0) {
      LOG_ERR(NULL, "bad URL %s", o->urls[i]);
      return JVPN_ERR_CONFIG;
    }
    if (i == 0) {
      snprintf(cl->host, sizeof(cl->host), "%s", host);
      cl->port = port;
    }
  }
  memset(&any, 0, sizeof(any));
  if (resolve_server(cl) != 0)
    return JVPN_ERR_CONFIG;
  any.ss_family = cl->server.ss_family;
  cl->dl = open(o->downloads, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cl->dl < 0) {
    LOG_ERR(NULL, "cannot open --downloads %s: %s", o->downloads,
            strerror(errno));
    return JVPN_ERR_CONFIG;
  }
  /* No client certificate; the server's is not checked (self-signed). */
  if (tls_identity_cred_new_empty(&cl->cred) != 0)
    return JVPN_ERR_TLS;
  if (udp_rx_batch_init(&cl->rx) != 0)
    return JVPN_ERR_NOMEM;
  if (udp_sock_open(&cl->socks[0].s, (struct sockaddr *)&any,
                    cl->server_len) != 0) {
    LOG_ERR(NULL, "cannot open a UDP socket: %s", strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  sock_start(cl, &cl->socks[0]);
  if (o->tc == IC_DATAGRAM) {
    unsigned long v = n ? strtoul(n, NULL, 10) : INTEROP_DGRAM_DEFAULT;

    cl->dg_total = v > 0 && v <= 1000000 ? (unsigned)v
                                          : INTEROP_DGRAM_DEFAULT;
    cl->dg_seen = calloc(cl->dg_total, 1);
    if (cl->dg_seen == NULL)
      return JVPN_ERR_NOMEM;
  }
  (void)env;
  cl->lo = 0;
  cl->hi = o->tc == IC_MULTICONNECT || o->tc == IC_RESUMPTION ||
                   o->tc == IC_ZERORTT
               ? 1
               : cl->nreqs;
  return 0;
}

int interop_client_run(const struct interop_opts *o) {
  static struct client cl;
  size_t i;
  int rv;

  cl.o = o;
  cl.dl = -1;
  cl.socks[0].s.fd = cl.socks[1].s.fd = -1;
  cl.loop = uv_default_loop();
  uv_timer_init(cl.loop, &cl.timer);
  cl.timer.data = &cl;
  cl.timer.timer_cb = on_timer;
  uv_timer_init(cl.loop, &cl.dgram_timer);
  cl.dgram_timer.data = &cl;
  rv = client_setup(&cl);
  if (rv == 0)
    rv = start_conn(&cl);
  if (rv == 0)
    uv_run(cl.loop, UV_RUN_DEFAULT);
  else
    cl.failed = 1;
  if (cl.qc) {
    h3f_del(cl.h3);
    quic_conn_del(cl.qc);
  }
  for (i = 0; i < cl.nreqs; i++) {
    if (!cl.reqs[i].done)
      cl.failed = 1;
    if (cl.reqs[i].fd >= 0)
      close(cl.reqs[i].fd);
  }
  if (o->tc == IC_DATAGRAM) {
    printf("datagrams sent=%u echoed=%u\n", cl.dg_sent, cl.dg_echoed);
    if (cl.dg_echoed != cl.dg_total)
      cl.failed = 1;
  }
  fflush(stdout);
  udp_sock_close(&cl.socks[0].s);
  udp_sock_close(&cl.socks[1].s);
  udp_rx_batch_free(&cl.rx);
  tls_identity_cred_del(cl.cred);
  free(cl.session);
  free(cl.dg_seen);
  free(cl.reqs);
  if (cl.dl >= 0)
    close(cl.dl);
  return cl.failed ? INTEROP_EXIT_FAIL : INTEROP_EXIT_OK;
}
