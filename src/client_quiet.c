/*
 * jvpn-quic client: a quiet tunnel's keep-alive (docs/decisions.md D47).
 * After JVPN_QUIET_AFTER_MS without an IP packet either way, the active
 * QUIC attachment asks the server for a longer keep-alive, naming the
 * address it sends from; it uses what the server grants until the next IP
 * packet, a new path or a new connection (client_quiet_wake,
 * client_quiet_new_path). Behind a NAT it takes the server's offer of a
 * longer keep-alive and refreshes the mapping itself (D52).
 */

#include <inttypes.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/client_int.h"
#include "src/session_wire.h"

static uint64_t now_ms(void) { return glue_now() / 1000000; }

static uint64_t tunnel_packets(const struct client *cl) {
  return cl->ctr.tx_packets + cl->ctr.rx_packets;
}

static int ask(struct client_link *l) {
  struct quic_path path;
  uint8_t val[JVPN_WIRE_KEEPALIVE_MAX];
  long n;

  transport_get_path(&l->tp, &path);
  n = jvpn_quiet_request(val, sizeof(val), path.local, path.local_len);
  if (n < 0)
    return (int)n;
  return transport_send_capsule(&l->tp, JVPN_CAPSULE_KEEPALIVE, val,
                                (size_t)n);
}

static void on_quiet_tick(uv_timer_t *t) {
  struct client *cl = t->data;
  struct client_link *l = cl->cur;

  if (l == NULL || l->tp.qc == NULL || !client_link_open(l) ||
      !l->attached || l->req == CLIENT_REQ_STANDBY)
    return;
  if (!jvpn_quiet_due(&l->quiet, tunnel_packets(cl), now_ms()))
    return;
  if (ask(l) != 0)
    return;
  l->quiet.asked = 1;
  cl->hooks.link_flush(l);
}

/* Keeps the active connection's NAT mapping with a one-byte datagram on
 * its path, which the server's kernel drops (D52). */
static void on_refresh_tick(uv_timer_t *t) {
  static const uint8_t refresh[JVPN_NAT_REFRESH_LEN];
  struct client *cl = t->data;
  struct client_link *l = cl->cur;
  struct quic_path path;

  if (l == NULL || l->tp.qc == NULL || l->quiet.refresh_ms == 0) {
    uv_timer_stop(t);
    return;
  }
  transport_get_path(&l->tp, &path);
  if (glue_send(&client_sock_for_path(l, &path)->s, &path, refresh,
                sizeof(refresh), 0, 0) == 0)
    cl->nat_refreshes++;
}

void client_quiet_init(struct client *cl) {
  uv_timer_init(cl->loop, &cl->quiet_timer);
  cl->quiet_timer.data = cl;
  uv_timer_start(&cl->quiet_timer, on_quiet_tick, JVPN_QUIET_AFTER_MS / 3,
                 JVPN_QUIET_AFTER_MS / 3);
  uv_timer_init(cl->loop, &cl->refresh_timer);
  cl->refresh_timer.data = cl;
}

/* The grant in force on |l| ends: the usual keep-alive, no NAT refresh. */
static void end_grant(struct client_link *l) {
  if (l->quiet.refresh_ms && l == l->cl->cur)
    uv_timer_stop(&l->cl->refresh_timer);
  if (l->tp.qc)
    quic_conn_set_keepalive(l->tp.qc, 0, 0, glue_now());
}

/* Takes the keep-alive |ms| a capsule of |what| gave |l| (from
 * jvpn_quiet_result or jvpn_quiet_nat_refresh). Returns 1 when it is in
 * force now, 0 when the capsule was malformed (counted) or of the past. */
static int take_keepalive(struct client_link *l, long ms, const char *what) {
  if (ms < 0) {
    LOG_WARN(NULL, "malformed %s capsule: ignored", what);
    l->cl->ctr.drop_malformed++;
    return 0;
  }
  if (ms == 0 || l->tp.qc == NULL)
    return 0; /* an answer to a connection or a request of the past */
  quic_conn_set_keepalive(l->tp.qc, (unsigned)ms,
                          jvpn_quiet_idle_ms((unsigned)ms), glue_now());
  return 1;
}

void client_quiet_result(struct client_link *l, const uint8_t *v,
                         size_t len) {
  long ms = jvpn_quiet_result(&l->quiet, v, len);

  if (take_keepalive(l, ms, "KEEPALIVE_RESULT"))
    LOG_INFO(NULL, "tunnel quiet: keep-alive every %ld ms", ms);
}

void client_quiet_nat_refresh(struct client_link *l, const uint8_t *v,
                              size_t len) {
  long ms;

  if (l != l->cl->cur)
    return; /* the link asked as the active one and is no longer */
  ms = jvpn_quiet_nat_refresh(&l->quiet, v, len);
  if (!take_keepalive(l, ms, "NAT_REFRESH"))
    return;
  uv_timer_start(&l->cl->refresh_timer, on_refresh_tick, l->quiet.refresh_ms,
                 l->quiet.refresh_ms);
  LOG_INFO(NULL,
           "tunnel quiet behind a NAT: keep-alive every %ld ms, NAT refresh "
           "every %u ms",
           ms, l->quiet.refresh_ms);
}

void client_quiet_new_path(struct client_link *l) {
  if (l->quiet.granted_ms)
    end_grant(l);
  jvpn_quiet_new_path(&l->quiet, tunnel_packets(l->cl), now_ms());
}

void client_quiet_handover(struct client *cl, struct client_link *to) {
  struct client_link *from = cl->cur;

  if (from != NULL && from != to && from->quiet.granted_ms)
    client_quiet_new_path(from);
}

void client_quiet_wake(struct client_link *l) {
  if (l->quiet.granted_ms) {
    end_grant(l);
    LOG_DEBUG(NULL, "tunnel busy again: the usual keep-alive");
  }
  jvpn_quiet_reset(&l->quiet, tunnel_packets(l->cl), now_ms());
}

void client_quiet_status(const struct client *cl, struct glue_buf *b,
                         int json) {
  const struct jvpn_quiet *q = &cl->cur->quiet;

  glue_buf_printf(b,
                  json ? ",\"quiet\":{\"keepalive_ms\":%u,\"nat_refresh_ms\":%u,"
                         "\"nat_refreshes\":%" PRIu64 "}"
                       : " quiet_keepalive_ms=%u nat_refresh_ms=%u "
                         "nat_refreshes=%" PRIu64,
                  q->granted_ms, q->refresh_ms, cl->nat_refreshes);
}
