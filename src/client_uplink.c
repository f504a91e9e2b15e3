/*
 * src/client_uplink: the client's multi-path mode (docs/multipath.md).
 *
 * One link (connection) per [uplink], its socket bound to the uplink's
 * interface. The first link to come up starts the session; the others
 * join it as warm standbys. Every CLIENT_UP_TICK_MS each attached link is
 * measured (ngtcp2's RTT and PTO count, the last packet received, the
 * datagram loss over the policy's loss window) and src/uplink.c decides;
 * a SWITCH sends ACTIVATE on the chosen standby and moves the uplink
 * traffic there at once. Netlink link changes are fed and decided at once.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/client_int.h"
#include "src/netmon.h"

/* ms between measurements and decisions: small against the silence
 * floor (150 ms), so detection is late by at most this. */
#define CLIENT_UP_TICK_MS 10
/* ms an ACTIVATE may wait for its result before it counts as lost */
#define CLIENT_UP_ACTIVATE_WAIT_MS 1000
/* ms no activation is tried after one was refused (at least) */
#define CLIENT_UP_HOLD_MS 1000
/* a loss percentage needs this many datagrams in the window */
#define CLIENT_UP_LOSS_MIN_SAMPLES 20

static uint64_t now_ms(void) { return glue_now() / 1000000; }

static struct client_link *link_of_att(struct client *cl, uint64_t att) {
  size_t i;

  if (att == 0)
    return NULL;
  for (i = 0; i < cl->nlinks; i++)
    if (cl->links[i].attached && cl->links[i].att == att)
      return &cl->links[i];
  return NULL;
}

/* --- sockets ------------------------------------------------------------ */

int client_up_local(struct client_link *l, int family,
                    struct sockaddr_storage *ss, socklen_t *len) {
  const struct jvpn_client_uplink *u = &l->cl->conf.uplinks[l->idx];
  void *addr;

  if (!u->by_address)
    return netmon_iface_addr(l->ifname, family, ss, len);
  memset(ss, 0, sizeof(*ss));
  ss->ss_family = (sa_family_t)family;
  if (family == AF_INET) {
    addr = &((struct sockaddr_in *)ss)->sin_addr;
    *len = sizeof(struct sockaddr_in);
  } else {
    addr = &((struct sockaddr_in6 *)ss)->sin6_addr;
    *len = sizeof(struct sockaddr_in6);
  }
  if (inet_pton(family, u->cfg.name, addr) != 1)
    return JVPN_ERR_NOTFOUND;
  return netmon_iface_of((struct sockaddr *)ss, l->ifname);
}

unsigned client_up_families(struct client_link *l) {
  struct sockaddr_storage ss;
  socklen_t len;
  unsigned fams = 0;

  if (client_up_local(l, AF_INET6, &ss, &len) == 0)
    fams |= HE_FAM_V6;
  if (client_up_local(l, AF_INET, &ss, &len) == 0)
    fams |= HE_FAM_V4;
  return fams;
}

/* The uplink is up and has an address of a family the server has (any,
 * before the server's name is resolved). */
static int uplink_usable(struct client_link *l) {
  unsigned server = he_list_families(&l->cl->he);

  return (client_up_families(l) & (server ? server : HE_FAM_ANY)) != 0 &&
         netmon_link_up(l->ifname);
}

int client_up_sock_open(struct client_link *l, int slot, int family) {
  struct client_sock *cs = &l->socks[slot];
  struct sockaddr_storage ss;
  socklen_t len = 0;
  char buf[64];

  if (cs->open) {
    uv_poll_stop(&cs->poll);
    udp_sock_close(&cs->s);
    cs->open = 0;
  }
  if (client_up_local(l, family, &ss, &len) != 0) {
    JVPN_LOG_RL(JVPN_LOG_INFO, NULL, "uplink %s has no %s address now",
                l->cl->conf.uplinks[l->idx].cfg.name,
                family == AF_INET ? "IPv4" : "IPv6");
    return JVPN_ERR_NOTFOUND;
  }
  if (udp_sock_open(&cs->s, (struct sockaddr *)&ss, len) != 0) {
    LOG_WARN(NULL, "cannot open a UDP socket on %s: %m",
             glue_sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf)));
    return JVPN_ERR_SYSTEM;
  }
  /* The address alone would leave the route to the kernel's choice, which
   * is the other uplink when both have a default route. */
  if (setsockopt(cs->s.fd, SOL_SOCKET, SO_BINDTODEVICE, l->ifname,
                 (socklen_t)strlen(l->ifname) + 1) != 0) {
    LOG_WARN(NULL, "cannot bind a socket to %s: %m", l->ifname);
    udp_sock_close(&cs->s);
    return JVPN_ERR_SYSTEM;
  }
  return 0;
}

/* --- connections -------------------------------------------------------- */

/* The link that starts a session: up, fewest failed births, then the
 * best priority, then config order. While one is trying, it stays. */
static struct client_link *birth_link(struct client *cl) {
  struct client_link *best = NULL;
  size_t i;

  for (i = 0; i < cl->nlinks; i++)
    if (link_has_conn(&cl->links[i]))
      return &cl->links[i];
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    if (!l->link_up)
      continue;
    if (best == NULL || l->birth_fails < best->birth_fails ||
        (l->birth_fails == best->birth_fails &&
         cl->conf.uplinks[l->idx].cfg.priority <
             cl->conf.uplinks[best->idx].cfg.priority))
      best = l;
  }
  return best;
}

int client_up_wants_conn(const struct client_link *l) {
  struct client *cl = l->cl;

  if (!l->link_up || cl->stopping)
    return 0;
  return cl->sess.have || birth_link(cl) == l;
}

/* Connects every link that should have a connection and has neither one
 * nor a retry pending. */
static void connect_links(struct client *cl) {
  size_t i;

  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    if (!link_has_conn(l) && !uv_is_active((uv_handle_t *)&l->reconnect) &&
        client_up_wants_conn(l))
      cl->hooks.link_connect(l);
  }
}

/* --- measurements -------------------------------------------------------- */

static void measure(struct client_link *l, uint64_t now) {
  struct client *cl = l->cl;
  const struct quic_conn_stats *qs = transport_get_stats(&l->tp);
  struct jvpn_uplink_sample m;
  struct quic_conn_info st;
  uint64_t acked = qs->dgram_acked - l->loss_base_acked;
  uint64_t lost = qs->dgram_lost - l->loss_base_lost;

  transport_get_info(&l->tp, &st);
  memset(&m, 0, sizeof(m));
  m.srtt_us = st.srtt_ns / 1000;
  m.pto_count = (uint32_t)st.pto_count;
  m.bytes_in_flight = st.bytes_in_flight;
  /* TCP: an ACK of our data is heard too (it wakes no read) */
  m.last_ack_ms = l->tp.h2 ? client_tcp_last_heard_ms(l, now) : l->last_rx_ms;
  /* Loss of the datagrams QUIC has judged within the window. A window
   * that ends with too few to judge (a standby carries none) is no
   * evidence of loss: total loss shows as silence or PTOs instead. */
  if (acked + lost >= CLIENT_UP_LOSS_MIN_SAMPLES)
    l->loss_pct = (uint32_t)(lost * 100 / (acked + lost));
  if (now - l->loss_base_ms >= cl->conf.policy.loss_window_ms) {
    if (acked + lost < CLIENT_UP_LOSS_MIN_SAMPLES)
      l->loss_pct = 0;
    l->loss_base_ms = now;
    l->loss_base_acked = qs->dgram_acked;
    l->loss_base_lost = qs->dgram_lost;
  }
  m.loss_pct = l->loss_pct;
  (void)jvpn_uplink_measure(&cl->up, l->att, now, &m);
}

/* --- decisions ----------------------------------------------------------- */

static void audit_refusal(struct client *cl, struct client_link *l,
                          int status) {
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_DENIAL;
  r.mono_ms = now_ms();
  r.event = "uplink_activate_refused";
  r.reason = status == 408 ? "NO_ANSWER" : "POLICY_DENY";
  r.to_attachment = l->att;
  r.policy_version = cl->conf.policy.version;
  (void)snprintf(r.detail, sizeof(r.detail), "%s: %s %d%s", l->ifname,
                 status == 408 ? "no answer, as HTTP" : "server answered",
                 status,
                 status == 429 ? " (switch budget or cooldown)" : "");
  client_sess_audit(cl, &r, 1);
}

static void act_switch(struct client *cl,
                       const struct jvpn_uplink_decision *dec) {
  struct client_link *to = link_of_att(cl, dec->to);
  struct client_link *from = link_of_att(cl, dec->from);
  int rv;

  if (to == NULL)
    return;
  if (dec->failover && from != NULL) {
    /* A dead active is closed rather than kept as a standby: when its
     * path returns it comes back as a fresh standby, proven healthy. */
    LOG_WARN(NULL, "uplink %s failed (%s): failing over to %s",
             from->ifname, jvpn_uplink_reason_name(dec->reason), to->ifname);
    cl->hooks.link_close(from, "uplink failed");
  }
  rv = client_sess_activate(to, dec->failover);
  if (rv != 0) {
    LOG_WARN(NULL, "cannot activate %s: %s", to->ifname, jvpn_strerror(rv));
    cl->up_hold_until_ms = now_ms() + CLIENT_UP_TICK_MS * 10;
    return;
  }
  to->activate_ms = now_ms();
  cl->prev_cur = from;
  (void)snprintf(cl->pending_switch, sizeof(cl->pending_switch), "%s",
                 jvpn_uplink_reason_name(dec->reason));
  /* Uplink packets go the new way at once; the server moves the downlink
   * when it accepts the ACTIVATE that precedes them on this connection. */
  client_quiet_handover(cl, to);
  cl->cur = to;
  cl->hooks.tun_update(cl);
}

/* The active is dead and no standby can take over: close it, so that
 * every uplink races to reattach on a new connection. */
static void act_no_candidate(struct client *cl,
                             const struct jvpn_uplink_decision *dec) {
  struct client_link *from = link_of_att(cl, dec->from);
  size_t i;

  if (from != NULL) {
    LOG_WARN(NULL, "uplink %s failed (%s) and no standby is ready: "
                   "reattaching",
             from->ifname, jvpn_uplink_reason_name(dec->reason));
    cl->hooks.link_close(from, "uplink failed");
  }
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    if (!link_has_conn(l) && l->link_up) {
      uv_timer_stop(&l->reconnect);
      l->backoff_ms = 0;
    }
  }
}

static int activation_pending(struct client *cl, uint64_t now) {
  size_t i;
  int pending = 0;

  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    if (!l->activating)
      continue;
    /* A target judged dead meanwhile is given up at once. */
    if (now - l->activate_ms < CLIENT_UP_ACTIVATE_WAIT_MS &&
        cl->up.up[l->idx].status != JVPN_UPLINK_ST_DEAD) {
      pending = 1;
      continue;
    }
    LOG_WARN(NULL, "no answer to ACTIVATE via %s after %" PRIu64 " ms",
             l->ifname, now - l->activate_ms);
    l->activating = 0;
    audit_refusal(cl, l, 408);
    cl->up_hold_until_ms = now + CLIENT_UP_HOLD_MS;
  }
  return pending;
}

void client_up_tick(struct client *cl) {
  struct jvpn_uplink_decision dec;
  struct jvpn_session_event ev;
  uint64_t now = now_ms();
  size_t i;

  connect_links(cl);
  if (!cl->sess.have)
    return;
  for (i = 0; i < cl->nlinks; i++)
    if (cl->links[i].attached && client_link_open(&cl->links[i]))
      measure(&cl->links[i], now);
  if (jvpn_uplink_decide(&cl->up, &cl->sess.core, &cl->conf.policy, now,
                         &dec) != 0)
    return;
  if (dec.nrecords > 0)
    client_sess_audit(cl, dec.records, dec.nrecords);
  if (activation_pending(cl, now) || now < cl->up_hold_until_ms)
    return;
  switch (dec.action) {
  case JVPN_UPLINK_SWITCH: act_switch(cl, &dec); break;
  case JVPN_UPLINK_NO_CANDIDATE: act_no_candidate(cl, &dec); break;
  case JVPN_UPLINK_DENIED_BUDGET:
    if (dec.nrecords > 0 && cl->sess.core.state != JVPN_SS_DEGRADED) {
      /* The core records the flap limit and goes DEGRADED. */
      memset(&ev, 0, sizeof(ev));
      ev.type = JVPN_EV_ACTIVATE;
      ev.attachment = dec.to;
      ev.detail = dec.detail;
      client_sess_event(cl, &ev);
    }
    break;
  default: break;
  }
  connect_links(cl);
}

static void on_tick(uv_timer_t *t) { client_up_tick(t->data); }

/* --- events from the connections and the session ------------------------ */

void client_up_attached(struct client_link *l, enum jvpn_att_role role) {
  struct client *cl = l->cl;
  int rv;

  l->loss_base_ms = now_ms();
  l->loss_base_acked = link_has_conn(l) ? transport_get_stats(&l->tp)->dgram_acked : 0;
  l->loss_base_lost = link_has_conn(l) ? transport_get_stats(&l->tp)->dgram_lost : 0;
  l->loss_pct = 0;
  l->birth_fails = 0;
  /* The uplink may still hold the attachment of the connection this one
   * took over from (QUIC <-> TCP on the same uplink): it is replaced,
   * not lost, so the uplink does not count as failed. */
  rv = jvpn_uplink_replaced(&cl->up, (size_t)l->idx, l->att, role, now_ms());
  if (rv != 0)
    LOG_WARN(NULL, "uplink %s: attachment %" PRIu64 " not tracked: %s",
             l->ifname, l->att, jvpn_strerror(rv));
  /* Standbys follow a birth at once, but from the loop: this runs inside
   * the connection's read, where it must not be written to (an ACTIVATE
   * on it would be). */
  uv_timer_start(&cl->up_timer, on_tick, 0, CLIENT_UP_TICK_MS);
}

void client_up_lost(struct client_link *l) {
  struct client *cl = l->cl;

  if (!cl->sess.have && l->req == CLIENT_REQ_NONE)
    l->birth_fails++; /* try another uplink for the birth next */
  if (l->attached)
    (void)jvpn_uplink_lost(&cl->up, l->att, now_ms());
  if (cl->prev_cur == l)
    cl->prev_cur = NULL;
}

void client_up_activated(struct client_link *l) {
  struct client *cl = l->cl;
  size_t i;

  (void)jvpn_uplink_activated(&cl->up, l->att, now_ms());
  cl->switches++;
  (void)snprintf(cl->last_switch, sizeof(cl->last_switch), "%s",
                 cl->pending_switch);
  for (i = 0; i < cl->nlinks; i++)
    if (&cl->links[i] != l && cl->links[i].attached)
      cl->links[i].req = CLIENT_REQ_STANDBY; /* the server's view too */
  cl->prev_cur = NULL;
  LOG_INFO(NULL, "session %s: data now via %s (%s, switch %" PRIu64 ")",
           cl->sess.idstr, l->ifname, cl->last_switch, cl->switches);
}

void client_up_refused(struct client_link *l, int status) {
  struct client *cl = l->cl;

  audit_refusal(cl, l, status);
  cl->up_hold_until_ms =
      now_ms() + (cl->conf.policy.switch_cooldown_ms > CLIENT_UP_HOLD_MS
                      ? cl->conf.policy.switch_cooldown_ms
                      : CLIENT_UP_HOLD_MS);
  /* The server still sends on the old active if it lives: go back. */
  if (cl->cur == l && cl->prev_cur != NULL && client_link_open(cl->prev_cur)) {
    client_quiet_handover(cl, cl->prev_cur);
    cl->cur = cl->prev_cur;
  }
  cl->prev_cur = NULL;
  cl->hooks.tun_update(cl);
}

void client_up_netmon(struct client *cl) {
  uint64_t now = now_ms();
  size_t i;

  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];
    int up = uplink_usable(l);

    if (up == l->link_up)
      continue;
    LOG_INFO(NULL, "uplink %s is %s", l->ifname, up ? "up" : "down");
    l->link_up = up;
    (void)jvpn_uplink_link(&cl->up, i, up, now);
    if (up) {
      uv_timer_stop(&l->reconnect);
      l->backoff_ms = 0;
    } else if (link_has_conn(l) && l != cl->cur) {
      cl->hooks.link_close(l, "link down");
    }
  }
  client_up_tick(cl);
}

/* --- setup and status ----------------------------------------------------- */

int client_up_init(struct client *cl) {
  uint64_t now = now_ms();
  size_t i;
  int rv;

  jvpn_uplink_set_init(&cl->up, &cl->conf.uplink_policy);
  if (cl->conf.transport == JVPN_TRANSPORT_TCP)
    LOG_WARN(NULL, "transport = tcp is not built for [uplink] sections: "
                   "the uplinks use QUIC only (transport = auto falls "
                   "back to TCP per uplink)");
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];
    const struct jvpn_client_uplink *u = &cl->conf.uplinks[i];

    rv = jvpn_uplink_add(&cl->up, &u->cfg);
    if (rv < 0) {
      LOG_ERR(NULL, "uplink %s: %s", u->cfg.name, jvpn_strerror(rv));
      return rv;
    }
    if (!u->by_address)
      (void)snprintf(l->ifname, sizeof(l->ifname), "%s", u->cfg.name);
    l->link_up = uplink_usable(l);
    if (!l->link_up)
      (void)jvpn_uplink_link(&cl->up, i, 0, now);
    LOG_INFO(NULL, "uplink %s: priority %" PRIu32 "%s, %s", u->cfg.name,
             u->cfg.priority, u->cfg.metered ? " (metered)" : "",
             l->link_up ? "up" : "down");
  }
  uv_timer_init(cl->loop, &cl->up_timer);
  cl->up_timer.data = cl;
  uv_timer_start(&cl->up_timer, on_tick, CLIENT_UP_TICK_MS,
                 CLIENT_UP_TICK_MS);
  return 0;
}

void client_up_status(struct client *cl, struct glue_buf *b, int json) {
  size_t i;

  glue_buf_printf(b, json ? ",\"switches\":%" PRIu64
                            ",\"last_switch_reason\":\"%s\",\"uplinks\":["
                          : "\n  switches=%" PRIu64 " last_switch_reason=%s",
                  cl->switches, cl->last_switch[0] ? cl->last_switch : "-");
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];
    const struct jvpn_uplink *u = &cl->up.up[i];
    const char *role = !l->attached      ? "none"
                       : l == cl->cur     ? "active"
                       : l->activating    ? "activating"
                                          : "standby";
    char local[64] = "-";

    if (link_has_conn(l) && !l->dead) {
      struct quic_path path;

      memset(&path, 0, sizeof(path));
      transport_get_path(&l->tp, &path);
      if (path.local != NULL)
        (void)glue_sockaddr_str(path.local, local, sizeof(local));
    }
    glue_buf_printf(
        b,
        json ? "%s{\"interface\":\"%s\",\"name\":\"%s\",\"priority\":%" PRIu32
               ",\"metered\":%s,\"link\":\"%s\",\"role\":\"%s\","
               "\"status\":\"%s\",\"attachment\":%" PRIu64
               ",\"local\":\"%s\",\"rtt_ms\":%.1f,\"loss_pct\":%" PRIu32
               ",\"connections\":%" PRIu64 ",\"transport\":\"%s\"}"
             : "%s\n  uplink %s name=%s priority=%" PRIu32
               " metered=%s link=%s role=%s status=%s attachment=%" PRIu64
               " local=%s rtt_ms=%.1f loss_pct=%" PRIu32 " connections=%" PRIu64
               " transport=%s",
        json && i > 0 ? "," : "", l->ifname, u->cfg.name, u->cfg.priority,
        u->cfg.metered ? "true" : "false", l->link_up ? "up" : "down", role,
        jvpn_uplink_status_name(u->status), l->attached ? l->att : 0, local,
        (double)u->m.srtt_us / 1000.0, u->m.loss_pct, l->connects,
        transport_kind_name(l->dead ? TRANSPORT_NONE : transport_kind(&l->tp)));
  }
  if (json)
    glue_buf_printf(b, "]");
}
