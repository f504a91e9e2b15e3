/*
 * tests/tools/loadgen: many real jvpn-quic sessions from one process, to
 * measure a server at scale (scripts/bench-scale.sh).
 *
 *   loadgen --gen-keys N --key-dir DIR
 *   loadgen --server ADDR:PORT --server-pin PIN --key-dir DIR --sessions N
 *           [--rate R] [--duration S] [--reattach-storm] [--traffic PPS]
 *           [--bind ADDR] [--sockets S] [--inflight W] [--timeout S]
 *           [--inner ADDR] [--quiet on|off|nat] [-v]
 *   loadgen --sizes
 *
 * --gen-keys writes N client identities, DIR/NNNNN/key.pem and cert.pem,
 * and DIR/peers.conf: one [peer] section per pin, for the server's config.
 * The server allows one session per client pin (a new birth supersedes the
 * old session, whose addresses are the same), so N sessions need N pins.
 *
 * The run opens N sessions against a real server, each with its own pinned
 * key: QUIC handshake, CONNECT-IP birth request, its address (the
 * ADDRESS_ASSIGN answer to quic_conn's ADDRESS_REQUEST), then QUIC's own
 * keep-alives. Births start at --rate R per second (default 200), at most
 * --inflight W (default 256) handshakes at a time; a failed birth is
 * counted by reason and retried after a second, up to 3 times. No TUN
 * device: --traffic PPS sends that many small IPv4 UDP packets per second
 * in total, round robin over the sessions, from each session's inner
 * address to --inner ADDR (the server's tunnel address, port 9), as HTTP
 * Datagrams; what comes back is counted.
 *
 * Sockets: S UDP sockets (default 64, at most N), each bound to --bind
 * ADDR + i (consecutive addresses: bench-scale.sh routes a whole prefix to
 * the loadgen namespace's loopback, so any of them binds), port chosen by
 * the kernel; without --bind, all on the address the kernel would send
 * from. Session i uses socket i % S. Packets are demultiplexed by their
 * destination connection ID, which is one of the IDs that session's
 * connection issued (quic_conn_ops.cid_add), as the server maps its own.
 * One epoll loop drives everything; connection deadlines sit in a binary
 * heap.
 *
 * Once all sessions are up (or the births gave up), it prints
 *   loadgen: up N of M in S s (B births/s)
 * on stderr and holds the sessions for --duration S (default 10). With
 * --reattach-storm it then drops every connection at once (no
 * CONNECTION_CLOSE: the client's NAT forgot them), reopens its sockets on
 * new ports and reattaches every session with a proof from its session
 * secret (the TLS exporter of its birth connection, as src/client_session.c
 * born() derives it), all at once within --inflight. The storm is absorbed
 * when every session has its address again. At the end, one line on
 * stdout:
 *
 *   loadgen: sessions=N up=U births_per_s=B birth_s=T storm_ms=M
 *            storm_cpu_ms=C storm_up=K lost=L tx=P rx=Q quiet_grants=G
 *            nat_refreshes=R failures=reason:count,...
 *
 * storm_cpu_ms is the loadgen's own CPU time (user + system) during the
 * storm: next to the server's, it shows which side bounded it. *
 * storm_ms is -1 without --reattach-storm (or when it was not absorbed
 * within --timeout, default 120 s). Exit 0 when every session came up
 * (and the storm was absorbed), 1 otherwise, 2 on bad usage.
 *
 * Quiet tunnels (docs/decisions.md D47): a session without IP packets for
 * JVPN_QUIET_AFTER_MS asks for a longer keep-alive as the client does
 * (src/client_quiet.c) and uses what the server grants; --quiet off never
 * asks, --quiet nat names a port the server does not see, as a client
 * behind a NAT would, and gets the NAT's shorter interval, which it
 * takes with the offer of a NAT refresh (D52): the open path's keep-alive
 * and a one-byte datagram at the NAT's interval. quiet_grants= on the
 * summary line counts the answers, nat_refreshes= the datagrams.
 *
 * --sizes prints the sizes of the per-session structures of the server's
 * session core and connection (for docs/performance.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"
#include "quic/connect_ip.h"
#include "quic/quic_conn.h"
#include "quic/quic_pkt.h"
#include "quic/tls_identity.h"
#include "quic/udp_sock.h"
#include "src/glue.h"
#include "src/netmon.h"
#include "src/peer_table.h"
#include "src/pin.h"
#include "src/server_int.h"
#include "src/quiet.h"
#include "src/session_wire.h"
#include "tests/tools/tool_util.h"

#define LG_MAX_SESSIONS 65536
#define LG_MAX_SOCKETS 4096
#define LG_MAX_RATE 100000      /* births per second */
#define LG_MAX_SECONDS 86400
#define LG_RETRIES 3            /* retries of a failed birth */
#define LG_RETRY_NS 1000000000ull
#define LG_HANDSHAKE_MS 10000
#define LG_TOKEN_MAX 128

enum lg_state {
  LG_IDLE = 0,   /* no connection; waits for its turn (retry_at) */
  LG_CONNECTING, /* handshake and request under way */
  LG_UP,         /* address received */
  LG_FAILED,     /* gave up */
};

/* Why a connection failed, for the summary. */
enum lg_fail {
  F_HANDSHAKE_TIMEOUT,
  F_IDLE,
  F_PEER_CLOSE,
  F_AUTH,
  F_PROTOCOL,
  F_RESET,
  F_OTHER_END,
  F_STATUS_403,
  F_STATUS_404,
  F_STATUS_409,
  F_STATUS_429,
  F_STATUS_503,
  F_STATUS_OTHER,
  F_NO_SESSION,
  F_CREATE,
  F_LOST_WHILE_UP,
  F_COUNT
};

static const char *const fail_name[F_COUNT] = {
    "handshake_timeout", "idle_timeout", "peer_close", "auth",
    "protocol", "stateless_reset", "other_end", "status_403", "status_404",
    "status_409", "status_429", "status_503", "status_other", "no_session",
    "create", "lost_while_up"};

struct lg_sock {
  struct udp_sock us;
  struct sockaddr_storage bind; /* what it was bound to (port 0) */
  socklen_t bind_len;
};

struct lg_sess {
  struct lg *lg;
  size_t idx;
  struct quic_conn *qc;
  struct quic_cred *cred;
  enum lg_state state;
  int dirty;            /* read something: write once the batch is done */
  int retries;
  int up_once;          /* reached LG_UP in this phase */
  int in_ready;         /* in the ready ring */
  size_t heap_at;       /* position in the heap; SIZE_MAX = not in it */
  uint64_t due;         /* heap key: ns */
  uint64_t retry_at;    /* LG_IDLE: when to (re)connect */
  /* the session */
  int have;             /* a session was born */
  uint8_t sid[JVPN_SESSION_ID_LEN];
  uint8_t secret[JVPN_SECRET_LEN];
  uint64_t version, nonce;
  uint8_t addr4[4];
  int has_addr;
  uint8_t token[LG_TOKEN_MAX];
  size_t token_len;
  /* a quiet tunnel's keep-alive, as src/client_quiet.c asks for it */
  struct jvpn_quiet quiet;
  uint64_t pkts;        /* IP packets either way */
  uint64_t refreshed_ms; /* the NAT refresh last sent (D52) */
};

/* --quiet: ask for a quiet tunnel's keep-alive as the client does
 * ("on"), not at all ("off"), or naming a port the server does not see,
 * as a client behind a NAT would ("nat"). */
enum lg_quiet { LG_QUIET_ON, LG_QUIET_OFF, LG_QUIET_NAT };

struct lg {
  struct lg_sess *s;
  size_t n;
  struct lg_sock *sock;
  size_t nsock;
  int ep;
  struct udp_rx_batch rx;
  struct peer_table by_cid;
  struct lg_sess **heap;
  size_t nheap;
  struct lg_sess **dirty;
  size_t ndirty;
  struct lg_sess **ready;      /* a ring: sessions due to (re)connect */
  size_t ready_head, nready;
  struct sockaddr_storage srv;
  socklen_t srv_len;
  char authority[INET6_ADDRSTRLEN + 16];
  uint8_t server_pin[JVPN_PIN_LEN];
  uint8_t inner[4];
  int has_inner;
  enum lg_quiet quiet;
  uint64_t quiet_grants; /* KEEPALIVE_RESULTs taken */
  uint64_t nat_refreshes; /* NAT refresh datagrams sent (D52) */
  /* counters */
  size_t connecting, up;
  uint64_t fail[F_COUNT];
  uint64_t tx_pkts, rx_pkts;
};

static volatile sig_atomic_t stop;

/* This process's CPU time (user + system), ms. */
static uint64_t cpu_ms(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return 0;
  return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
         (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* --- the deadline heap --------------------------------------------------- */

static void heap_swap(struct lg *lg, size_t a, size_t b) {
  struct lg_sess *t = lg->heap[a];

  lg->heap[a] = lg->heap[b];
  lg->heap[b] = t;
  lg->heap[a]->heap_at = a;
  lg->heap[b]->heap_at = b;
}

static void heap_fix(struct lg *lg, size_t i) {
  size_t l, r, m;

  while (i > 0 && lg->heap[(i - 1) / 2]->due > lg->heap[i]->due) {
    heap_swap(lg, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    l = 2 * i + 1;
    r = l + 1;
    m = i;
    if (l < lg->nheap && lg->heap[l]->due < lg->heap[m]->due)
      m = l;
    if (r < lg->nheap && lg->heap[r]->due < lg->heap[m]->due)
      m = r;
    if (m == i)
      return;
    heap_swap(lg, i, m);
    i = m;
  }
}

static void heap_set(struct lg *lg, struct lg_sess *s, uint64_t due) {
  s->due = due;
  if (s->heap_at == SIZE_MAX) {
    s->heap_at = lg->nheap;
    lg->heap[lg->nheap++] = s;
  }
  heap_fix(lg, s->heap_at);
}

static void heap_remove(struct lg *lg, struct lg_sess *s) {
  size_t i = s->heap_at;

  if (i == SIZE_MAX)
    return;
  s->heap_at = SIZE_MAX;
  if (--lg->nheap == i)
    return;
  lg->heap[i] = lg->heap[lg->nheap];
  lg->heap[i]->heap_at = i;
  heap_fix(lg, i);
}

static void ready_push(struct lg *lg, struct lg_sess *s) {
  if (s->in_ready)
    return;
  s->in_ready = 1;
  lg->ready[(lg->ready_head + lg->nready++) % lg->n] = s;
}

static struct lg_sess *ready_pop(struct lg *lg) {
  struct lg_sess *s;

  if (lg->nready == 0)
    return NULL;
  s = lg->ready[lg->ready_head];
  lg->ready_head = (lg->ready_head + 1) % lg->n;
  lg->nready--;
  s->in_ready = 0;
  return s;
}

/* --- sessions ------------------------------------------------------------ */

static void fail(struct lg_sess *s, enum lg_fail why) { s->lg->fail[why]++; }

/* Drops |s|'s connection without a word to the server. */
static void conn_drop(struct lg_sess *s) {
  struct lg *lg = s->lg;

  if (s->qc == NULL)
    return;
  quic_conn_del(s->qc); /* retires its CIDs through cid_remove */
  s->qc = NULL;
  if (s->state == LG_CONNECTING)
    lg->connecting--;
  else if (s->state == LG_UP)
    lg->up--;
  s->state = LG_IDLE;
  s->has_addr = 0;
}

/* The connection ended or failed: try again in a second, or give up. */
static void conn_failed(struct lg_sess *s, uint64_t now) {
  int was_up = s->state == LG_UP;

  conn_drop(s);
  if (was_up)
    fail(s, F_LOST_WHILE_UP);
  if (++s->retries > LG_RETRIES) {
    s->state = LG_FAILED;
    heap_remove(s->lg, s);
    return;
  }
  s->retry_at = now + LG_RETRY_NS;
  heap_set(s->lg, s, s->retry_at);
}

static struct lg_sock *sock_of(struct lg_sess *s) {
  return &s->lg->sock[s->idx % s->lg->nsock];
}

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data, size_t len, size_t seg, uint8_t ecn) {
  struct lg_sess *s = user;

  return glue_send(&sock_of(s)->us, path, data, len, seg, ecn);
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct lg_sess *s = user;

  return jvpn_pin_equal(pin, s->lg->server_pin) ? 0 : -1;
}

static void on_cid_add(void *user, const struct quic_cid *cid) {
  struct lg_sess *s = user;

  if (cid->len == JVPN_QUIC_SCID_LEN &&
      peer_table_put(&s->lg->by_cid, AF_INET6, cid->data, s) != 0)
    LOG_WARN(NULL, "connection ID table full");
}

static void on_cid_remove(void *user, const struct quic_cid *cid) {
  struct lg_sess *s = user;

  if (cid->len == JVPN_QUIC_SCID_LEN)
    peer_table_del(&s->lg->by_cid, AF_INET6, cid->data, s);
}

/* Birth: no header. Reattach: a proof from the session secret, bound to
 * this connection's TLS channel (as src/client_session.c proof_for). */
static long on_attach_header(void *user, char *buf, size_t len, char *version,
                             size_t version_len) {
  struct lg_sess *s = user;
  struct jvpn_wire_attach w;
  uint8_t bind[JVPN_BIND_LEN];
  long n;

  if (!s->have)
    return 0;
  if (quic_conn_export(s->qc, JVPN_EXPORTER_BIND_LABEL, NULL, 0, bind,
                       sizeof(bind)) != 0)
    return JVPN_ERR_TLS;
  memset(&w, 0, sizeof(w));
  memcpy(w.session_id, s->sid, sizeof(w.session_id));
  w.nonce = ++s->nonce;
  w.role = JVPN_ROLE_REATTACH;
  if (jvpn_proof_compute(s->secret, s->sid, w.nonce, w.role, bind,
                         w.proof) != 0)
    return JVPN_ERR_FATAL;
  n = jvpn_wire_format_attach(buf, len, &w);
  if (n < 0 || jvpn_wire_format_version(version, version_len, s->version) < 0)
    return JVPN_ERR_NOSPACE;
  return n;
}

static void on_tunnel_open(void *user, const char *session, size_t len,
                           const char *version, size_t version_len) {
  struct lg_sess *s = user;
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint64_t v;

  if (session == NULL || version == NULL ||
      jvpn_wire_parse_session_id(session, len, id) != 0 ||
      jvpn_wire_parse_version(version, version_len, &v) != 0) {
    fail(s, F_NO_SESSION);
    return;
  }
  if (!s->have || memcmp(id, s->sid, sizeof(id)) != 0) {
    /* A birth (or the server started us afresh): the secret comes from
     * this connection's exporter, with the session ID as context. */
    if (quic_conn_export(s->qc, JVPN_EXPORTER_SESSION_LABEL, id, sizeof(id),
                         s->secret, sizeof(s->secret)) != 0) {
      fail(s, F_NO_SESSION);
      return;
    }
    memcpy(s->sid, id, sizeof(id));
    s->have = 1;
    s->nonce = 0;
  }
  s->version = v;
}

static void on_tunnel_refused(void *user, int status) {
  struct lg_sess *s = user;

  switch (status) {
  case 403: fail(s, F_STATUS_403); break;
  case 404:
    /* The session is gone: the next attempt is a birth. */
    s->have = 0;
    fail(s, F_STATUS_404);
    break;
  case 409: fail(s, F_STATUS_409); break;
  case 429: fail(s, F_STATUS_429); break;
  case 503: fail(s, F_STATUS_503); break;
  default: fail(s, F_STATUS_OTHER); break;
  }
}

/* The usual keep-alive again after an IP packet. */
static void quiet_wake(struct lg_sess *s) {
  s->pkts++;
  if (s->quiet.granted_ms && s->qc)
    quic_conn_set_keepalive(s->qc, 0, 0, glue_now());
  if (s->quiet.granted_ms)
    jvpn_quiet_reset(&s->quiet, s->pkts, glue_now() / 1000000);
}

static int quiet_result(struct lg_sess *s, const uint8_t *value, size_t len) {
  long ms = jvpn_quiet_result(&s->quiet, value, len);

  if (ms <= 0)
    return (int)ms;
  s->lg->quiet_grants++;
  quic_conn_set_keepalive(s->qc, (unsigned)ms,
                          jvpn_quiet_idle_ms((unsigned)ms), glue_now());
  return 0;
}

/* The server's offer behind a NAT (src/client_quiet.c). */
static int quiet_nat_refresh(struct lg_sess *s, const uint8_t *value,
                             size_t len) {
  long ms = jvpn_quiet_nat_refresh(&s->quiet, value, len);

  if (ms <= 0)
    return (int)ms;
  quic_conn_set_keepalive(s->qc, (unsigned)ms,
                          jvpn_quiet_idle_ms((unsigned)ms), glue_now());
  s->refreshed_ms = glue_now() / 1000000;
  return 0;
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct lg_sess *s = user;
  struct cip_addr a[JVPN_CIP_MAX_ADDRS];
  size_t n, i;

  if (type == JVPN_CAPSULE_KEEPALIVE_RESULT)
    return quiet_result(s, value, len);
  if (type == JVPN_CAPSULE_NAT_REFRESH)
    return quiet_nat_refresh(s, value, len);
  if (type != JVPN_CAPSULE_ADDRESS_ASSIGN)
    return 0;
  if (cip_addrs_decode(value, len, a, JVPN_CIP_MAX_ADDRS, &n) != 0)
    return JVPN_ERR_MALFORMED;
  for (i = 0; i < n; i++)
    if (a[i].ip_version == 4) {
      memcpy(s->addr4, a[i].addr, 4);
      s->has_addr = 1;
    }
  if (s->state == LG_CONNECTING) {
    jvpn_quiet_new_path(&s->quiet, s->pkts, glue_now() / 1000000);
    s->state = LG_UP;
    s->up_once = 1;
    s->retries = 0;
    s->lg->connecting--;
    s->lg->up++;
  }
  return 0;
}

static void on_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct lg_sess *s = user;

  (void)pkt;
  (void)len;
  s->lg->rx_pkts++;
  quiet_wake(s);
}

static void on_new_token(void *user, const uint8_t *token, size_t len) {
  struct lg_sess *s = user;

  if (len <= sizeof(s->token)) {
    memcpy(s->token, token, len);
    s->token_len = len;
  }
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct lg_sess *s = user;

  (void)detail;
  switch (why) {
  case QUIC_END_HANDSHAKE_TIMEOUT: fail(s, F_HANDSHAKE_TIMEOUT); break;
  case QUIC_END_IDLE: fail(s, F_IDLE); break;
  case QUIC_END_PEER_CLOSE: fail(s, F_PEER_CLOSE); break;
  case QUIC_END_AUTH: fail(s, F_AUTH); break;
  case QUIC_END_PROTOCOL: fail(s, F_PROTOCOL); break;
  case QUIC_END_STATELESS_RESET: fail(s, F_RESET); break;
  default: fail(s, F_OTHER_END); break;
  }
}

static const struct quic_conn_ops lg_ops = {
    .send = on_send,
    .verify_peer = on_verify_peer,
    .cid_add = on_cid_add,
    .cid_remove = on_cid_remove,
    .attach_header = on_attach_header,
    .tunnel_open = on_tunnel_open,
    .tunnel_refused = on_tunnel_refused,
    .capsule = on_capsule,
    .ip_packet = on_ip_packet,
    .new_token = on_new_token,
    .closed = on_closed,
};

/* Re-arms |s|'s deadline after anything happened to its connection. */
static void rearm(struct lg_sess *s) {
  if (s->qc != NULL)
    heap_set(s->lg, s, quic_conn_expiry(s->qc));
}

/* Writes what is due; handles a dead connection. */
static void conn_write(struct lg_sess *s, uint64_t now) {
  int rv;

  if (s->qc == NULL)
    return;
  rv = quic_conn_write(s->qc, now);
  if (rv == JVPN_ERR_AGAIN) {
    heap_set(s->lg, s, now + 1000000); /* socket full: again in 1 ms */
    return;
  }
  if (rv != 0) {
    conn_failed(s, now);
    return;
  }
  rearm(s);
}

static int conn_start(struct lg_sess *s, uint64_t now) {
  struct lg *lg = s->lg;
  struct lg_sock *k = sock_of(s);
  struct quic_conn_config cfg;

  memset(&cfg, 0, sizeof(cfg));
  cfg.cred = s->cred;
  cfg.authority = lg->authority;
  cfg.ops = &lg_ops;
  cfg.user = s;
  cfg.log_ctx = "loadgen";
  cfg.handshake_ms = LG_HANDSHAKE_MS;
  cfg.token = s->token_len ? s->token : NULL;
  cfg.token_len = s->token_len;
  if (quic_conn_client_new(&s->qc, &cfg, (const struct sockaddr *)&k->us.local,
                           k->us.local_len, (const struct sockaddr *)&lg->srv,
                           lg->srv_len, now) != 0) {
    s->qc = NULL;
    fail(s, F_CREATE);
    conn_failed(s, now);
    return -1;
  }
  s->state = LG_CONNECTING;
  lg->connecting++;
  conn_write(s, now);
  return 0;
}

/* --- sockets ------------------------------------------------------------- */

static int socks_open(struct lg *lg) {
  struct epoll_event ev;
  size_t i;

  for (i = 0; i < lg->nsock; i++) {
    struct lg_sock *k = &lg->sock[i];

    if (udp_sock_open(&k->us, (const struct sockaddr *)&k->bind,
                      k->bind_len) != 0) {
      fprintf(stderr, "loadgen: cannot open socket %zu: %s\n", i,
              strerror(errno));
      return -1;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, k->us.fd, &ev) != 0)
      return -1;
  }
  return 0;
}

static void socks_close(struct lg *lg) {
  size_t i;

  for (i = 0; i < lg->nsock; i++)
    if (lg->sock[i].us.fd >= 0) {
      (void)epoll_ctl(lg->ep, EPOLL_CTL_DEL, lg->sock[i].us.fd, NULL);
      udp_sock_close(&lg->sock[i].us);
      lg->sock[i].us.fd = -1;
    }
}

/* Reads what socket |si| holds, by destination connection ID. */
static void sock_read(struct lg *lg, size_t si) {
  struct lg_sock *k = &lg->sock[si];
  uint64_t now;
  int n, i, rounds;

  for (rounds = 0; rounds < 8; rounds++) {
    n = udp_sock_recv(&k->us, &lg->rx);
    if (n <= 0)
      return;
    now = glue_now();
    for (i = 0; i < n; i++) {
      struct udp_rx_msg *m = &lg->rx.msg[i];
      const uint8_t *pkt;
      size_t off = 0, len;

      while (udp_rx_msg_next(m, &off, &pkt, &len)) {
        struct quic_pkt_ids ids;
        struct lg_sess *s;

        if (quic_pkt_decode_ids(&ids, pkt, len) != 0 ||
            ids.dcid.len != JVPN_QUIC_SCID_LEN)
          continue;
        s = peer_table_get(&lg->by_cid, AF_INET6, ids.dcid.data);
        if (s == NULL || s->qc == NULL)
          continue;
        if (quic_conn_read(s->qc, (const struct sockaddr *)&m->local,
                           m->local_len, (const struct sockaddr *)&m->peer,
                           m->peer_len, m->ecn, pkt, len, now) != 0) {
          conn_failed(s, now);
          continue;
        }
        if (!s->dirty) {
          s->dirty = 1;
          lg->dirty[lg->ndirty++] = s;
        }
      }
    }
    for (i = 0; i < (int)lg->ndirty; i++) {
      lg->dirty[i]->dirty = 0;
      conn_write(lg->dirty[i], glue_now());
    }
    lg->ndirty = 0;
  }
}

/* --- traffic ------------------------------------------------------------- */

static uint16_t csum16(const uint8_t *p, size_t len) {
  uint32_t sum = 0;
  size_t i;

  for (i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1)
    sum += (uint32_t)(p[len - 1] << 8);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* One 64-byte IPv4/UDP packet from |s|'s address to the server's tunnel
 * address, port 9 (discard): the server's kernel answers with an ICMP
 * port unreachable, which comes back down the tunnel. */
static void send_one(struct lg *lg, struct lg_sess *s, uint64_t now) {
  uint8_t p[64];
  uint16_t c;

  memset(p, 0, sizeof(p));
  p[0] = 0x45;
  p[3] = sizeof(p);
  p[8] = 64;
  p[9] = 17;
  memcpy(p + 12, s->addr4, 4);
  memcpy(p + 16, lg->inner, 4);
  c = csum16(p, 20);
  p[10] = (uint8_t)(c >> 8);
  p[11] = (uint8_t)c;
  p[20] = 0x9c;
  p[21] = 0x40;           /* source port 40000 */
  p[23] = 9;              /* destination port 9 */
  p[25] = sizeof(p) - 20; /* UDP length; checksum 0: none (IPv4) */
  if (quic_conn_queue_ip(s->qc, p, sizeof(p)) == 0) {
    lg->tx_pkts++;
    quiet_wake(s);
    conn_write(s, now);
  }
}

/* Asks for a quiet tunnel's keep-alive (src/client_quiet.c ask()). */
static void quiet_ask(struct lg *lg, struct lg_sess *s, uint64_t now) {
  struct lg_sock *sk = sock_of(s);
  struct sockaddr_storage from = sk->us.local;
  uint8_t val[JVPN_WIRE_KEEPALIVE_MAX];
  long n;

  if (lg->quiet == LG_QUIET_NAT)
    ((struct sockaddr_in *)&from)->sin_port ^= 1;
  n = jvpn_quiet_request(val, sizeof(val), (const struct sockaddr *)&from,
                         sk->us.local_len);
  if (n < 0 || quic_conn_send_capsule(s->qc, JVPN_CAPSULE_KEEPALIVE, val,
                                      (size_t)n) != 0)
    return;
  s->quiet.asked = 1;
  conn_write(s, now);
}

/* A NAT refresh from |s|'s socket when its interval has passed (D52). */
static void nat_refresh(struct lg *lg, struct lg_sess *s, uint64_t now_ms) {
  static const uint8_t refresh[JVPN_NAT_REFRESH_LEN];

  if (s->quiet.refresh_ms == 0 ||
      now_ms - s->refreshed_ms < s->quiet.refresh_ms)
    return;
  s->refreshed_ms = now_ms;
  if (udp_sock_send(&sock_of(s)->us, (const struct sockaddr *)&lg->srv,
                    lg->srv_len, NULL, 0, refresh, sizeof(refresh), 0,
                    0) == 0)
    lg->nat_refreshes++;
}

/* Every second: the sessions whose tunnel has been quiet long enough, and
 * the NAT refreshes due. */
static void quiet_scan(struct lg *lg, uint64_t now) {
  size_t i;

  if (lg->quiet == LG_QUIET_OFF)
    return;
  for (i = 0; i < lg->n; i++) {
    struct lg_sess *s = &lg->s[i];

    if (s->state != LG_UP || s->qc == NULL)
      continue;
    if (jvpn_quiet_due(&s->quiet, s->pkts, now / 1000000))
      quiet_ask(lg, s, now);
    nat_refresh(lg, s, now / 1000000);
  }
}

/* --- phases -------------------------------------------------------------- */

/* Runs timers and sockets until |deadline|, starting idle sessions at
 * |rate| per second (0: as fast as --inflight allows) while |starting|.
 * Returns early once every session is up or failed, if |until_up|. */
static void run(struct lg *lg, uint64_t deadline, double rate, size_t inflight,
                int until_up, double traffic) {
  struct epoll_event evs[64];
  uint64_t now = glue_now(), next_birth = now, next_tx = now;
  uint64_t next_quiet = now + 1000000000ull;
  size_t txcur = 0;
  int n, i, ms;

  while (!stop) {
    now = glue_now();
    if (now >= deadline)
      return;
    if (until_up) {
      size_t failed = 0, j;

      if (lg->up == lg->n)
        return;
      if (lg->connecting == 0 && lg->nready == 0) {
        for (j = 0; j < lg->n; j++)
          failed += lg->s[j].state == LG_FAILED;
        if (failed + lg->up == lg->n)
          return;
      }
    }
    /* New connections, in turn, within the window and rate. */
    while (lg->connecting < inflight && lg->nready > 0 &&
           (rate <= 0 || next_birth <= now)) {
      struct lg_sess *s = ready_pop(lg);

      if (s->state != LG_IDLE || s->qc != NULL)
        continue;
      (void)conn_start(s, now);
      if (rate > 0)
        next_birth += (uint64_t)(1e9 / rate);
    }
    if (rate > 0 && next_birth < now - 100000000ull)
      next_birth = now - 100000000ull; /* no catch-up burst after a stall */
    /* Traffic, round robin over the sessions that are up. */
    if (traffic > 0 && lg->up > 0) {
      size_t guard = 0;

      while (next_tx <= now && guard++ < 1000) {
        struct lg_sess *s = &lg->s[txcur++ % lg->n];

        if (s->state == LG_UP && s->has_addr)
          send_one(lg, s, now);
        next_tx += (uint64_t)(1e9 / traffic);
      }
      if (next_tx < now)
        next_tx = now;
    }
    if (now >= next_quiet) {
      quiet_scan(lg, now);
      next_quiet = now + 1000000000ull;
    }
    /* Due deadlines. */
    while (lg->nheap > 0 && lg->heap[0]->due <= now) {
      struct lg_sess *s = lg->heap[0];

      if (s->qc == NULL) {
        heap_remove(lg, s); /* an idle session's retry time came */
        if (s->state == LG_IDLE)
          ready_push(lg, s);
        continue;
      }
      if (quic_conn_expiry(s->qc) <= now &&
          quic_conn_handle_expiry(s->qc, now) != 0) {
        conn_failed(s, now);
        continue;
      }
      conn_write(s, now);
      if (s->qc && s->due <= now)
        heap_set(lg, s, now + 1000000); /* never spin on one deadline */
    }
    /* Sleep until the next deadline, birth or packet. */
    {
      uint64_t next = deadline;

      if (lg->nheap > 0 && lg->heap[0]->due < next)
        next = lg->heap[0]->due;
      if (lg->connecting < inflight && lg->nready > 0 && rate > 0 &&
          next_birth < next)
        next = next_birth;
      if (traffic > 0 && next_tx < next)
        next = next_tx;
      if (next_quiet < next)
        next = next_quiet;
      if (until_up && next > now + 100000000ull)
        next = now + 100000000ull;
      now = glue_now();
      ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
    }
    n = epoll_wait(lg->ep, evs, 64, ms);
    for (i = 0; i < n; i++)
      sock_read(lg, (size_t)evs[i].data.u64);
  }
}

/* Drops every connection at once and reopens the sockets on new ports. */
static int storm_drop(struct lg *lg) {
  size_t i;

  for (i = 0; i < lg->n; i++) {
    struct lg_sess *s = &lg->s[i];

    conn_drop(s);
    heap_remove(lg, s);
    s->retries = 0;
    s->up_once = 0;
    s->retry_at = 0;
    if (s->state == LG_FAILED)
      s->state = LG_IDLE;
    ready_push(lg, s);
  }
  socks_close(lg);
  return socks_open(lg);
}

/* --- set-up -------------------------------------------------------------- */

/* Socket i's address: --bind + i (IPv4), or where the kernel would send
 * from. */
static int socks_plan(struct lg *lg, const char *bind) {
  size_t i;

  for (i = 0; i < lg->nsock; i++) {
    struct lg_sock *k = &lg->sock[i];

    k->us.fd = -1;
    memset(&k->bind, 0, sizeof(k->bind));
    if (bind == NULL) {
      if (netmon_source_for((const struct sockaddr *)&lg->srv, lg->srv_len,
                            &k->bind, &k->bind_len) != 0)
        return -1;
      continue;
    }
    {
      struct sockaddr_in *sin = (struct sockaddr_in *)&k->bind;
      struct in_addr a;

      if (inet_pton(AF_INET, bind, &a) != 1)
        return -1;
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl(ntohl(a.s_addr) + (uint32_t)i);
      k->bind_len = sizeof(*sin);
    }
  }
  return 0;
}

static int gen_keys(long n, const char *dir) {
  char sub[2048], path[4096], err[320], text[JVPN_PIN_STR_LEN];
  uint8_t pin[JVPN_PIN_LEN];
  FILE *f;
  long i;

  snprintf(path, sizeof(path), "%s/peers.conf", dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "loadgen: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  f = fopen(path, "w");
  if (f == NULL) {
    fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (i = 0; i < n; i++) {
    char name[32];

    snprintf(sub, sizeof(sub), "%s/%05ld", dir, i);
    snprintf(name, sizeof(name), "lg%05ld", i);
    snprintf(path, sizeof(path), "%s/cert.pem", sub);
    if ((access(path, R_OK) == 0
             ? tls_identity_pin_file(path, pin, err, sizeof(err))
             : tls_identity_generate(sub, name, pin, err, sizeof(err))) != 0) {
      fprintf(stderr, "loadgen: %s: %s\n", sub, err);
      fclose(f);
      return 1;
    }
    jvpn_pin_format(pin, text);
    fprintf(f, "[peer]\nname = %s\npin = %s\n", name, text);
  }
  return fclose(f) == 0 ? 0 : 1;
}

static void print_sizes(void) {
  printf("struct jvpn_session %zu\n", sizeof(struct jvpn_session));
  printf("struct srv_session %zu\n", sizeof(struct srv_session));
  printf("struct sclient %zu\n", sizeof(struct sclient));
  printf("struct quic_conn %zu\n", quic_conn_sizeof());
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: loadgen --gen-keys N --key-dir DIR\n"
          "       loadgen --server ADDR:PORT --server-pin PIN --key-dir DIR\n"
          "               --sessions N [--rate R] [--duration S]\n"
          "               [--reattach-storm] [--traffic PPS] [--inner ADDR]\n"
          "               [--bind ADDR] [--sockets S] [--inflight W]\n"
          "               [--timeout S] [--quiet on|off|nat] [-v]\n"
          "       loadgen --sizes\n");
}

int main(int argc, char **argv) {
  const char *server = NULL, *pin = NULL, *dir = NULL, *bind = NULL;
  const char *inner = NULL;
  long sessions = 0, nsock = 64, inflight = 256, gen = 0;
  double rate = 200, traffic = 0;
  uint64_t duration = 10000000000ull, timeout = 120000000000ull;
  int storm = 0, verbose = 0, rc = 1, i, quiet = LG_QUIET_ON;
  struct lg *lg;
  uint64_t t0, t_up, t_storm = 0, storm_ms = (uint64_t)-1, storm_cpu = 0;
  size_t up_births = 0, storm_up = 0, j;
  struct rlimit rl;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;

    if (strcmp(a, "--reattach-storm") == 0) {
      storm = 1;
      continue;
    }
    if (strcmp(a, "-v") == 0) {
      verbose++;
      continue;
    }
    if (strcmp(a, "--sizes") == 0) {
      print_sizes();
      return 0;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (v == NULL) {
      usage(stderr);
      return 2;
    }
    i++;
    if (strcmp(a, "--server") == 0)
      server = v;
    else if (strcmp(a, "--server-pin") == 0)
      pin = v;
    else if (strcmp(a, "--key-dir") == 0)
      dir = v;
    else if (strcmp(a, "--bind") == 0)
      bind = v;
    else if (strcmp(a, "--inner") == 0)
      inner = v;
    else if (strcmp(a, "--gen-keys") == 0)
      bad = tool_parse_long(v, 1, LG_MAX_SESSIONS, &gen);
    else if (strcmp(a, "--sessions") == 0)
      bad = tool_parse_long(v, 1, LG_MAX_SESSIONS, &sessions);
    else if (strcmp(a, "--sockets") == 0)
      bad = tool_parse_long(v, 1, LG_MAX_SOCKETS, &nsock);
    else if (strcmp(a, "--inflight") == 0)
      bad = tool_parse_long(v, 1, LG_MAX_SESSIONS, &inflight);
    else if (strcmp(a, "--rate") == 0) {
      long r;

      bad = tool_parse_long(v, 0, LG_MAX_RATE, &r);
      rate = (double)r;
    } else if (strcmp(a, "--traffic") == 0) {
      long r;

      bad = tool_parse_long(v, 0, LG_MAX_RATE, &r);
      traffic = (double)r;
    } else if (strcmp(a, "--duration") == 0)
      bad = tool_parse_seconds(v, LG_MAX_SECONDS, &duration);
    else if (strcmp(a, "--timeout") == 0)
      bad = tool_parse_seconds(v, LG_MAX_SECONDS, &timeout);
    else if (strcmp(a, "--quiet") == 0) {
      quiet = strcmp(v, "on") == 0    ? LG_QUIET_ON
              : strcmp(v, "off") == 0 ? LG_QUIET_OFF
              : strcmp(v, "nat") == 0 ? LG_QUIET_NAT
                                      : -1;
      bad = quiet < 0;
    } else {
      fprintf(stderr, "loadgen: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    if (bad) {
      fprintf(stderr, "loadgen: %s %s: out of range\n", a, v);
      return 2;
    }
  }
  if (tls_identity_global_init() != 0)
    return 1;
  jvpn_log_set_node("loadgen");
  jvpn_log_set_level(JVPN_LOG_ERROR + verbose);
  if (gen) {
    if (dir == NULL) {
      usage(stderr);
      return 2;
    }
    rc = gen_keys(gen, dir);
    tls_identity_global_deinit();
    return rc;
  }
  if (server == NULL || pin == NULL || dir == NULL || sessions == 0) {
    usage(stderr);
    return 2;
  }
  if (traffic > 0 && inner == NULL) {
    fprintf(stderr, "loadgen: --traffic needs --inner\n");
    return 2;
  }
  if (nsock > sessions)
    nsock = sessions;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  /* A socket per --sockets and the epoll descriptor, plus stdio. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  lg = calloc(1, sizeof(*lg));
  if (lg == NULL)
    return 1;
  lg->n = (size_t)sessions;
  lg->quiet = (enum lg_quiet)quiet;
  lg->nsock = (size_t)nsock;
  lg->s = calloc(lg->n, sizeof(*lg->s));
  lg->sock = calloc(lg->nsock, sizeof(*lg->sock));
  lg->heap = calloc(lg->n, sizeof(*lg->heap));
  lg->dirty = calloc(lg->n, sizeof(*lg->dirty));
  lg->ready = calloc(lg->n, sizeof(*lg->ready));
  lg->ep = epoll_create1(EPOLL_CLOEXEC);
  if (lg->s == NULL || lg->sock == NULL || lg->heap == NULL ||
      lg->dirty == NULL || lg->ready == NULL || lg->ep < 0 || udp_rx_batch_init(&lg->rx) != 0 ||
      peer_table_init(&lg->by_cid,
                      lg->n * (JVPN_QUIC_ACTIVE_CID_LIMIT + 2)) != 0)
    return 1;
  if (tool_parse_endpoint(server, &lg->srv, &lg->srv_len) != 0) {
    fprintf(stderr, "loadgen: --server %s: want ADDR:PORT\n", server);
    return 2;
  }
  snprintf(lg->authority, sizeof(lg->authority), "%s", server);
  if (jvpn_pin_parse(pin, lg->server_pin) != 0) {
    fprintf(stderr, "loadgen: --server-pin: not a pin\n");
    return 2;
  }
  if (inner && inet_pton(AF_INET, inner, lg->inner) != 1) {
    fprintf(stderr, "loadgen: --inner: an IPv4 address\n");
    return 2;
  }
  if (socks_plan(lg, bind) != 0) {
    fprintf(stderr, "loadgen: --bind: an IPv4 address\n");
    return 2;
  }
  for (j = 0; j < lg->n; j++) {
    struct lg_sess *s = &lg->s[j];
    char cert[4096], key[4096];

    s->lg = lg;
    s->idx = j;
    s->heap_at = SIZE_MAX;
    snprintf(cert, sizeof(cert), "%s/%05zu/cert.pem", dir, j);
    snprintf(key, sizeof(key), "%s/%05zu/key.pem", dir, j);
    if (glue_load_cred(&s->cred, cert, key) != 0) {
      fprintf(stderr, "loadgen: no identity %zu in %s (--gen-keys)\n", j,
              dir);
      return 1;
    }
    ready_push(lg, s);
  }
  if (socks_open(lg) != 0)
    return 1;

  /* Births. */
  t0 = glue_now();
  run(lg, t0 + timeout, rate, (size_t)inflight, 1, 0);
  t_up = glue_now();
  up_births = lg->up;
  fprintf(stderr, "loadgen: up %zu of %zu in %.2f s (%.0f births/s)\n",
          lg->up, lg->n, (double)(t_up - t0) / 1e9,
          (double)lg->up / ((double)(t_up - t0) / 1e9));
  /* Hold. */
  if (!stop)
    run(lg, glue_now() + duration, 0, (size_t)inflight, 0, traffic);
  fprintf(stderr, "loadgen: held %zu sessions\n", lg->up);
  /* The storm. */
  if (storm && !stop) {
    size_t before = lg->up;

    fprintf(stderr, "loadgen: reattach storm: dropping %zu connections\n",
            before);
    t_storm = glue_now();
    storm_cpu = cpu_ms();
    if (storm_drop(lg) != 0)
      return 1;
    run(lg, t_storm + timeout, 0, (size_t)inflight, 1, 0);
    storm_cpu = cpu_ms() - storm_cpu;
    storm_up = lg->up;
    if (lg->up == lg->n || (lg->up >= before && before > 0))
      storm_ms = (glue_now() - t_storm) / 1000000;
    fprintf(stderr, "loadgen: storm: %zu up after %.0f ms\n", lg->up,
            (double)(glue_now() - t_storm) / 1e6);
  }
  printf("loadgen: sessions=%zu up=%zu births_per_s=%.0f birth_s=%.2f "
         "storm_ms=%" PRId64 " storm_cpu_ms=%" PRIu64 " storm_up=%zu tx=%" PRIu64
         " rx=%" PRIu64 " quiet_grants=%" PRIu64 " nat_refreshes=%" PRIu64
         " failures=",
         lg->n, up_births,
         (double)up_births / ((double)(t_up - t0) / 1e9),
         (double)(t_up - t0) / 1e9, (int64_t)storm_ms, storm_cpu, storm_up,
         lg->tx_pkts,
         lg->rx_pkts, lg->quiet_grants, lg->nat_refreshes);
  {
    int any = 0, k;

    for (k = 0; k < F_COUNT; k++)
      if (lg->fail[k]) {
        printf("%s%s:%" PRIu64, any ? "," : "", fail_name[k], lg->fail[k]);
        any = 1;
      }
    if (!any)
      printf("none");
  }
  printf("\n");
  fflush(stdout);
  rc = up_births == lg->n && (!storm || storm_ms != (uint64_t)-1) ? 0 : 1;
  /* Leave politely: each server connection ends at once. */
  for (j = 0; j < lg->n; j++) {
    struct lg_sess *s = &lg->s[j];

    if (s->qc) {
      quic_conn_close(s->qc, JVPN_H3_NO_ERROR, QUIC_END_LOCAL_CLOSE,
                      "loadgen done", glue_now());
      quic_conn_del(s->qc);
      s->qc = NULL;
    }
    jvpn_wipe(s->secret, sizeof(s->secret));
    tls_identity_cred_del(s->cred);
  }
  socks_close(lg);
  peer_table_free(&lg->by_cid);
  udp_rx_batch_free(&lg->rx);
  close(lg->ep);
  free(lg->s);
  free(lg->sock);
  free(lg->heap);
  free(lg->dirty);
  free(lg->ready);
  free(lg);
  tls_identity_global_deinit();
  return rc;
}
