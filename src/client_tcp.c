/*
 * src/client_tcp: the HTTP/2-over-TCP fallback of a link (docs/decisions.md
 * D39). With "transport = auto" a link connects with QUIC; when no QUIC
 * handshake completes within the fallback delay (tcp_fallback_ms, at least
 * three RTTs of the last path), or its QUIC connection goes silent for that
 * long, a TCP attempt races it and the first to finish its handshake
 * carries the session. While on TCP, QUIC is tried again every
 * quic_probe_ms, and a QUIC connection that completes its handshake takes
 * the session back by reattaching; the TCP connection carries the data
 * until the new tunnel opens, so the return has no gap. "transport = tcp"
 * uses TCP only, "quic" never.
 *
 * In multi-path mode each uplink's link does the same on its own: its TCP
 * socket leaves from the uplink's address and is bound to its interface,
 * so an uplink that blocks UDP carries a standby (or the active) over
 * TCP, probes QUIC there and returns to it by a standby request (or a
 * reattach), and the uplink core replaces the attachment, not losing it.
 *
 * Three slots per link (struct client_tcp): the own connection (also in
 * link->tp, driven by the link's timer), an attempt, and a retired one.
 * Their callbacks go to the slot until the connection becomes the link's
 * own; then to the link's (hooks.link_ops).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/tcp_sock.h"
#include "src/client_int.h"

#define TCP_RETRY_MIN_MS 250    /* transport = tcp: first retry delay */
#define TCP_RETRY_MAX_MS 8000   /* ... doubling up to this */
#define TCP_SYN_RETRY_MS 1000   /* Linux's first SYN retransmission */

static uint64_t now_ms(void) { return glue_now() / 1000000; }

static void free_handle(uv_handle_t *h) { free(h); }

static int auto_mode(const struct client *cl) {
  return cl->conf.transport == JVPN_TRANSPORT_AUTO;
}

/* --- slots ---------------------------------------------------------------- */

static void on_slot_io(uv_poll_t *p, int status, int events);

static void slot_unwatch(struct client_tcp *t) {
  if (t->poll == NULL)
    return;
  uv_poll_stop(t->poll);
  uv_close((uv_handle_t *)t->poll, free_handle);
  t->poll = NULL;
}

static void slot_drop(struct client_tcp *t) {
  if (t->h2 == NULL)
    return;
  slot_unwatch(t);
  h2_conn_del(t->h2); /* closes the socket; no callback */
  t->h2 = NULL;
  t->dead = 0;
  uv_timer_stop(&t->timer);
}

static void slot_watch(struct client_tcp *t) {
  int ev = UV_READABLE | (h2_conn_want_write(t->h2) ? UV_WRITABLE : 0);

  uv_poll_start(t->poll, ev, on_slot_io);
}

/* Moves the connection of |from| into the free slot |to|. */
static void slot_move(struct client_tcp *from, struct client_tcp *to) {
  to->h2 = from->h2;
  to->poll = from->poll;
  to->dead = from->dead;
  to->poll->data = to;
  from->h2 = NULL;
  from->poll = NULL;
  from->dead = 0;
  uv_timer_stop(&from->timer);
}

/* An attempt's or the retired one's: writes, watches, re-arms; drops it
 * once it ended. */
static void slot_flush(struct client_tcp *t) {
  if (t->h2 == NULL)
    return;
  if (!t->dead && h2_conn_io(t->h2, 0, glue_now()) != 0)
    t->dead = 1;
  if (t->dead) {
    slot_drop(t);
    return;
  }
  slot_watch(t);
  glue_timer_arm(&t->timer, h2_conn_expiry(t->h2), glue_now());
}

static void on_slot_timer(uv_timer_t *timer) {
  struct client_tcp *t = timer->data;

  if (t->h2 != NULL && h2_conn_handle_expiry(t->h2, glue_now()) != 0)
    t->dead = 1;
  slot_flush(t);
}

static void on_slot_io(uv_poll_t *p, int status, int events) {
  struct client_tcp *t = p->data;
  struct client_link *l = t->link;
  int readable = status < 0 || (events & UV_READABLE);

  if (t->h2 == NULL)
    return;
  if (h2_conn_io(t->h2, readable, glue_now()) != 0)
    t->dead = 1;
  if (t == &l->tcp_own || (t == &l->tcp_try && t->h2 == NULL)) {
    if (readable && l->tcp_own.h2 != NULL)
      l->last_rx_ms = glue_now() / 1000000; /* as a UDP read does */
    l->cl->hooks.link_flush(l); /* it is (or just became) the link's */
    return;
  }
  slot_flush(t);
}

/* UDP passes for |l|: its QUIC connection, or a racing attempt, heard
 * from the server and is not silent. A slow QUIC handshake (a Retry, a
 * loaded server, a long path) is then waited for, not raced by TCP. */
static int udp_passes(struct client_link *l) {
  if (l->cl->conf.transport != JVPN_TRANSPORT_AUTO || l->silent)
    return 0;
  return l->cl->hooks.quic_heard(l);
}

/* The attempt needed a retransmitted SYN (or as long) while the session
 * was on QUIC: TCP was blocked as well, the outage was of the whole path,
 * and now that it is over QUIC most likely passes again. Its attempts,
 * every few tens of ms while recovering, take the session back on the
 * same path; a fresh TCP attempt follows a fallback delay later if UDP
 * stays silent. (A session already on TCP keeps TCP.) */
static int outage_over(struct client_link *l, const struct client_tcp *t) {
  uint64_t slow = TCP_SYN_RETRY_MS;

  if (l->cl->conf.transport != JVPN_TRANSPORT_AUTO ||
      l->last_kind != TRANSPORT_QUIC)
    return 0;
  if (4 * (uint64_t)l->last_srtt_ms > slow)
    slow = 4 * (uint64_t)l->last_srtt_ms;
  return now_ms() - t->started_ms >= slow;
}

/* --- the attempt ---------------------------------------------------------- */

static unsigned fallback_delay_ms(const struct client_link *l) {
  uint64_t d = l->cl->conf.policy.tcp_fallback_ms;

  if (3 * (uint64_t)l->last_srtt_ms > d)
    d = 3 * (uint64_t)l->last_srtt_ms;
  return (unsigned)d;
}

static void on_fallback(uv_timer_t *timer);

/* transport = tcp: the next attempt after |l->tcp_failures| failures. */
static void retry_later(struct client_link *l) {
  unsigned d = TCP_RETRY_MIN_MS << (l->tcp_failures < 5 ? l->tcp_failures : 5);

  if (client_sess_recovering(l->cl))
    d = TCP_RETRY_MIN_MS;
  uv_timer_start(&l->tcp_fallback, on_fallback,
                 d > TCP_RETRY_MAX_MS ? TCP_RETRY_MAX_MS : d, 0);
}

static int try_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct client_link *l = ((struct client_tcp *)user)->link;

  return l->cl->hooks.link_ops->verify_peer(l, pin);
}

/* The attempt is the first ready for its request: it becomes the link's
 * connection, and the QUIC one (and its races) go. */
static long try_attach_header(void *user, char *buf, size_t len,
                              char *version, size_t version_len) {
  struct client_tcp *t = user;
  struct client_link *l = t->link;
  struct client *cl = l->cl;

  if (udp_passes(l) || outage_over(l, t)) {
    /* UDP passes after all, or may again: QUIC first. */
    LOG_DEBUG(NULL, "QUIC answers too, or may again: the TCP attempt is "
                    "dropped");
    t->dead = 1;
    if (l->silent)
      /* The path is back, yet QUIC still hears nothing (D50). */
      cl->hooks.quic_restart(l, "the path is back (TCP got through) but "
                                "QUIC hears nothing: a fresh connection");
    return JVPN_ERR_AGAIN;
  }
  cl->hooks.quic_abandon(l);
  slot_move(t, &l->tcp_own);
  l->tp.h2 = l->tcp_own.h2;
  l->tcp_failures = 0;
  uv_timer_stop(&l->tcp_fallback);
  h2_conn_set_owner(l->tp.h2, cl->hooks.link_ops, l);
  LOG_INFO(NULL, "HTTP/2 over TCP answered first: the session goes over "
                 "TCP");
  return cl->hooks.link_ops->attach_header(l, buf, len, version, version_len);
}

static void try_closed(void *user, enum quic_conn_end why,
                       const char *detail) {
  struct client_tcp *t = user;
  struct client_link *l = t->link;
  struct client *cl = l->cl;

  if (t->dead)
    return; /* dropped on purpose (try_attach_header) */
  t->dead = 1;
  if (cl->stopping)
    return;
  if (why == QUIC_END_AUTH) {
    cl->hooks.auth_failed(cl, detail);
    return;
  }
  l->tcp_failures++;
  JVPN_LOG_RL(JVPN_LOG_INFO, NULL, "TCP attempt ended: %s (%s)",
              quic_conn_end_str(why), detail);
  if (cl->conf.transport == JVPN_TRANSPORT_TCP)
    retry_later(l);
}

static const struct quic_conn_ops try_ops = {
    .verify_peer = try_verify_peer,
    .attach_header = try_attach_header,
    .closed = try_closed,
};

/* The server address to try: the QUIC attempt's, else the first of the
 * lookup's round. */
static const struct sockaddr *target(struct client_link *l, socklen_t *len) {
  struct client *cl = l->cl;
  int i;

  if (l->remote_len > 0) {
    *len = l->remote_len;
    return (const struct sockaddr *)&l->remote;
  }
  i = he_list_next(&cl->he, 0,
                   l->idx >= 0 ? client_up_families(l) : HE_FAM_ANY);
  if (i < 0)
    return NULL;
  l->remote = cl->he.a[i].sa;
  l->remote_len = cl->he.a[i].len;
  *len = l->remote_len;
  return (const struct sockaddr *)&l->remote;
}

/* A TCP socket connecting to |to|: in multi-path mode from the uplink's
 * address and bound to its interface, as its QUIC sockets are, so that
 * it leaves through that uplink whatever the routing table prefers. */
static int sock_connect(struct client_link *l, const struct sockaddr *to,
                        socklen_t to_len) {
  struct sockaddr_storage src;
  socklen_t src_len = 0;

  if (l->idx < 0)
    return tcp_sock_connect(to, to_len, NULL, 0, NULL);
  if (client_up_local(l, to->sa_family, &src, &src_len) != 0) {
    errno = EADDRNOTAVAIL;
    return JVPN_ERR_SYSTEM;
  }
  return tcp_sock_connect(to, to_len, (const struct sockaddr *)&src, src_len,
                          l->ifname);
}

static int try_open(struct client_link *l, const struct sockaddr *to,
                    socklen_t to_len) {
  struct client *cl = l->cl;
  struct client_tcp *t = &l->tcp_try;
  struct h2_conn_config cfg;
  int fd = sock_connect(l, to, to_len);

  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  memset(&cfg, 0, sizeof(cfg));
  cfg.cred = cl->cred;
  cfg.sni = cl->he.fixed ? NULL : cl->conf.server_host;
  cfg.authority = cl->authority;
  cfg.ops = &try_ops;
  cfg.user = t;
  cfg.keepalive_ms = cl->conf.keepalive_ms;
  cfg.keylog = cl->keylog;
  if (l->last_srtt_ms && client_sess_recovering(cl))
    cfg.handshake_ms = JVPN_QUIC_REATTACH_HANDSHAKE_MS;
  t->poll = malloc(sizeof(*t->poll));
  if (t->poll == NULL || h2_conn_new(&t->h2, &cfg, fd, glue_now()) != 0) {
    free(t->poll); /* h2_conn_new closed the socket */
    t->poll = NULL;
    t->h2 = NULL;
    return JVPN_ERR_SYSTEM;
  }
  uv_poll_init(cl->loop, t->poll, fd);
  t->poll->data = t;
  t->dead = 0;
  t->started_ms = now_ms();
  return 0;
}

void client_tcp_start(struct client_link *l) {
  struct client *cl = l->cl;
  const struct sockaddr *to;
  socklen_t to_len = 0;
  char a[64];

  if (l->tcp_try.h2 != NULL || l->tcp_own.h2 != NULL || cl->stopping)
    return;
  to = target(l, &to_len);
  if (to == NULL || try_open(l, to, to_len) != 0) {
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "cannot start a TCP attempt: %m");
    l->tcp_failures++;
    if (cl->conf.transport == JVPN_TRANSPORT_TCP)
      retry_later(l);
    return;
  }
  cl->connects++;
  l->connects++;
  LOG_INFO(NULL, "trying %s over TCP (TLS, HTTP/2)%s",
           glue_sockaddr_str(to, a, sizeof(a)),
           cl->conf.transport == JVPN_TRANSPORT_TCP ? "" : ": QUIC is late");
  slot_flush(&l->tcp_try);
}

static void on_fallback(uv_timer_t *timer) {
  struct client_link *l = timer->data;
  struct quic_conn_info st;

  if (l->tcp_own.h2 != NULL)
    return;
  if (udp_passes(l)) {
    transport_get_info(&l->tp, &st);
    if (!st.handshake_done) /* still in the handshake: look again later */
      uv_timer_start(timer, on_fallback, fallback_delay_ms(l), 0);
    return;
  }
  client_tcp_start(l);
}

void client_tcp_fallback_arm(struct client_link *l, uint64_t silent_ms) {
  unsigned d = fallback_delay_ms(l);

  if (!auto_mode(l->cl) || l->tcp_own.h2 != NULL || l->tcp_try.h2 != NULL ||
      uv_is_active((uv_handle_t *)&l->tcp_fallback))
    return;
  uv_timer_start(&l->tcp_fallback, on_fallback,
                 silent_ms >= d ? 0 : d - silent_ms, 0);
}

void client_tcp_fallback_cancel(struct client_link *l) {
  uv_timer_stop(&l->tcp_fallback);
  if (l->tcp_try.h2 != NULL)
    LOG_DEBUG(NULL, "QUIC answered: the TCP attempt is dropped");
  slot_drop(&l->tcp_try);
}

/* --- the link's own ------------------------------------------------------- */

void client_tcp_flush(struct client_link *l) {
  struct client_tcp *t = &l->tcp_own;

  if (t->h2 == NULL)
    return;
  if (!l->dead && h2_conn_io(t->h2, 0, glue_now()) != 0)
    l->dead = 1;
  if (!l->dead)
    slot_watch(t);
  glue_timer_arm(&l->timer, h2_conn_expiry(t->h2), glue_now());
}

uint64_t client_tcp_last_heard_ms(struct client_link *l, uint64_t now_ms) {
  uint64_t heard;

  if (l->tcp_own.h2 == NULL)
    return l->last_rx_ms;
  heard = h2_conn_last_heard(l->tcp_own.h2, now_ms * 1000000) / 1000000;
  return heard > l->last_rx_ms ? heard : l->last_rx_ms;
}

void client_tcp_unwatch(struct client_link *l) {
  slot_unwatch(&l->tcp_own);
  l->tcp_own.h2 = NULL; /* link->tp's: deleted there */
  uv_timer_stop(&l->quic_probe);
}

/* --- the way back to QUIC ------------------------------------------------- */

static void old_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct client_link *l = ((struct client_tcp *)user)->link;

  l->cl->hooks.link_ops->ip_packet(l, pkt, len);
}

static int old_capsule(void *user, uint64_t type, const uint8_t *value,
                       size_t len) {
  (void)user;
  (void)type;
  (void)value;
  (void)len;
  return 0; /* its configuration is the session's: the new one repeats it */
}

static void old_closed(void *user, enum quic_conn_end why,
                       const char *detail) {
  struct client_tcp *t = user;

  t->dead = 1;
  LOG_DEBUG(NULL, "the retired TCP connection ended: %s (%s)",
            quic_conn_end_str(why), detail);
}

static const struct quic_conn_ops old_ops = {
    .ip_packet = old_ip_packet,
    .capsule = old_capsule,
    .closed = old_closed,
};

void client_tcp_retire(struct client_link *l) {
  if (l->tcp_own.h2 == NULL)
    return;
  l->tcp_old_att = l->attached ? l->att : 0;
  l->tcp_old_req = l->req;
  slot_drop(&l->tcp_old);
  slot_move(&l->tcp_own, &l->tcp_old);
  l->tp.h2 = NULL;
  uv_timer_stop(&l->quic_probe);
  uv_timer_stop(&l->timer);
  h2_conn_set_owner(l->tcp_old.h2, &old_ops, &l->tcp_old);
  slot_flush(&l->tcp_old);
}

int client_tcp_take_back(struct client_link *l) {
  struct client_tcp *t = &l->tcp_old;

  if (t->h2 == NULL || t->dead || !h2_conn_tunnel_is_open(t->h2) ||
      l->tcp_old_att == 0 || l->tp.qc != NULL)
    return 0;
  slot_move(t, &l->tcp_own);
  l->tp.h2 = l->tcp_own.h2;
  h2_conn_set_owner(l->tp.h2, l->cl->hooks.link_ops, l);
  l->dead = 0;
  l->attached = 1;
  l->req = l->tcp_old_req; /* a reattach, or a multi-path standby */
  l->att = l->tcp_old_att;
  LOG_INFO(NULL, "QUIC failed before its tunnel opened: back to TCP");
  client_tcp_tunnel_opened(l); /* the probes go on */
  return 1;
}

void client_tcp_old_close(struct client_link *l) {
  struct client_tcp *t = &l->tcp_old;

  if (t->h2 == NULL)
    return;
  if (!t->dead)
    h2_conn_close(t->h2, 0, QUIC_END_LOCAL_CLOSE, "back to QUIC",
                  glue_now());
  (void)h2_conn_io(t->h2, 0, glue_now()); /* GOAWAY, best effort */
  slot_drop(t);
}

int client_tcp_old_queue_ip(struct client_link *l, const uint8_t *pkt,
                            size_t len) {
  struct client_tcp *t = &l->tcp_old;

  if (t->h2 == NULL || t->dead || h2_conn_queue_ip(t->h2, pkt, len) != 0)
    return -1;
  return 0; /* written by client_tcp_old_flush, once per TUN batch */
}

void client_tcp_old_flush(struct client_link *l) {
  slot_flush(&l->tcp_old);
}

/* ms to the next QUIC probe: the policy's interval; on a metered uplink
 * that is not the active one, not more often than its keep-alives (a
 * metered standby carries nothing else, docs/multipath.md). */
static uint64_t probe_interval_ms(struct client_link *l) {
  struct client *cl = l->cl;
  uint64_t d = cl->conf.policy.quic_probe_ms, ka;

  if (l->idx < 0 || l == cl->cur || !cl->conf.uplinks[l->idx].cfg.metered)
    return d;
  ka = jvpn_uplink_keepalive_ms(&cl->up, (size_t)l->idx, &cl->conf.policy);
  return ka > d ? ka : d;
}

static void on_quic_probe(uv_timer_t *timer) {
  struct client_link *l = timer->data;

  if (l->tp.h2 == NULL || !client_link_open(l))
    return;
  l->cl->hooks.quic_probe(l);
  uv_timer_start(&l->quic_probe, on_quic_probe, probe_interval_ms(l), 0);
}

static void audit_switch(struct client_link *l, enum transport_kind from,
                         enum transport_kind to) {
  struct client *cl = l->cl;
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = now_ms();
  r.event = "transport_switch";
  r.reason = jvpn_reason_name(to == TRANSPORT_TCP ? JVPN_R_TCP_FALLBACK
                                                  : JVPN_R_QUIC_RETURN);
  r.to_attachment = l->att;
  (void)snprintf(r.detail, sizeof(r.detail), "%s -> %s%s%s",
                 transport_kind_name(from), transport_kind_name(to),
                 l->idx >= 0 ? " via " : "", l->idx >= 0 ? l->ifname : "");
  client_sess_audit(cl, &r, 1);
  LOG_INFO(NULL, "transport %s", r.detail);
}

void client_tcp_tunnel_opened(struct client_link *l) {
  struct client *cl = l->cl;
  enum transport_kind k = transport_kind(&l->tp);
  uint64_t first;

  client_tcp_old_close(l);
  /* Per link: in multi-path mode each uplink has its own transport. */
  if (l->last_kind != TRANSPORT_NONE && l->last_kind != k) {
    audit_switch(l, l->last_kind, k);
    if (k == TRANSPORT_TCP)
      cl->tcp_fallbacks++;
    else
      cl->quic_returns++;
  }
  l->last_kind = k;
  if (k != TRANSPORT_TCP || !auto_mode(cl))
    return;
  /* The way back is a switch too: not before the policy's cooldown. */
  first = probe_interval_ms(l);
  if (cl->conf.policy.switch_cooldown_ms > first)
    first = cl->conf.policy.switch_cooldown_ms;
  uv_timer_start(&l->quic_probe, on_quic_probe, first, 0);
}

/* --- set-up and end ------------------------------------------------------- */

static void slot_init(struct client_link *l, struct client_tcp *t) {
  t->link = l;
  uv_timer_init(l->cl->loop, &t->timer);
  t->timer.data = t;
  t->timer.timer_cb = on_slot_timer;
}

void client_tcp_init(struct client_link *l) {
  slot_init(l, &l->tcp_own);
  slot_init(l, &l->tcp_try);
  slot_init(l, &l->tcp_old);
  uv_timer_init(l->cl->loop, &l->tcp_fallback);
  l->tcp_fallback.data = l;
  uv_timer_init(l->cl->loop, &l->quic_probe);
  l->quic_probe.data = l;
}

void client_tcp_end(struct client_link *l) {
  uv_timer_stop(&l->tcp_fallback);
  uv_timer_stop(&l->quic_probe);
  slot_drop(&l->tcp_try);
  client_tcp_old_close(l);
}
