/*
 * src/client: the client program on one libuv loop.
 *
 * The TUN device is created once and outlives connections: when a
 * connection ends for any reason but a refused identity, the client
 * reconnects with exponential backoff and the device keeps its name,
 * addresses and routes.
 *
 * Connections live in links (src/client_int.h): one in single-path mode,
 * which follows the routing table and migrates when the local address
 * changes; one per [uplink] in multi-path mode, where src/client_uplink.c
 * decides which carries the data. Until its handshake completes, a link's
 * connection may be raced by attempts to the server's other addresses
 * (RFC 8305; src/client_lookup.c finds them).
 */
#include <config.h> /* autoconf's: JVPN_TEST_HOOKS */

#include "src/client.h"
#include "src/client_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/connect_ip.h"
#include "quic/tls_identity.h"
#include "src/config.h"
#include "src/control.h"
#include "src/glue.h"
#include "src/netmon.h"
#include "src/pin.h"
#include "tun/netlink.h"

_Static_assert(CLIENT_LINK_SOCKS >= 2, "a migration needs a spare socket");

static void client_stop(struct client *cl, int code);
static void schedule_reconnect(struct client_link *l);
static int fast_retry(const struct client_link *l);
static void check_mtu(struct client_link *l);
static void client_link_connect(struct client_link *l);
static void client_link_close(struct client_link *l, const char *why);
static void client_link_flush(struct client_link *l);
static void client_tun_update(struct client *cl);
static int link_needed(const struct client_link *l);
static unsigned link_families(struct client_link *l);
static struct client_race *live_race(struct client_link *l);
static void races_end(struct client_link *l, const char *why);
static int race_take_over(struct client_link *l);
static void on_next_attempt(uv_timer_t *t);
static struct quic_conn *attempt_start(struct client_link *l, int slot,
                                       const struct quic_conn_ops *ops,
                                       void *user,
                                       struct sockaddr_storage *remote,
                                       socklen_t *remote_len);

/* --- connection ---------------------------------------------------------- */

static int link_handshake_done(struct client_link *l) {
  struct quic_conn_info st;

  transport_get_info(&l->tp, &st);
  return st.handshake_done;
}

/* The link's connection went or goes: no request, no attachment. */
static void link_forget_request(struct client_link *l) {
  l->req = CLIENT_REQ_NONE;
  l->attached = 0;
  l->activating = 0;
  l->att = 0;
}

static void sock_close(struct client_sock *cs) {
  if (!cs->open)
    return;
  uv_poll_stop(&cs->poll);
  udp_sock_close(&cs->s);
  cs->open = 0;
}

static void link_drop(struct client_link *l) {
  struct client *cl = l->cl;
  struct quic_conn_info st;

  if (!link_has_conn(l))
    return;
  transport_get_info(&l->tp, &st);
  /* Remember the path's RTT for recovery attempts; a connection that
   * never got a sample keeps the previous value. */
  if (st.srtt_ns > 0 && st.handshake_done)
    l->last_srtt_ms = (unsigned)(st.srtt_ns / 1000000 + 1);
  if (transport_tunnel_is_open(&l->tp)) {
    cl->tunnel_up_ms = glue_now() / 1000000;
    l->failed_attempts = 0; /* it was up until now */
  }
  races_end(l, "the connection ended");
  client_tcp_unwatch(l);
  transport_del(&l->tp);
  l->silent = 0;
  link_forget_request(l);
  uv_timer_stop(&l->timer);
  uv_timer_stop(&l->next_attempt);
  if (cl->multi)
    sock_close(&l->socks[l->active]);
  client_tun_update(cl);
}

static int sock_open(struct client_link *l, int i, const struct sockaddr *to,
                     socklen_t to_len);

/* The socket slot a migration moves to: one the connection does not use
 * (racing attempts, which use the others, are over once a connection
 * can migrate). */
static int spare_sock(const struct client_link *l) {
  return l->active == 0 ? 1 : 0;
}

/* Closes the sockets the connection no longer uses (not the racers'). */
static void socks_close_spare(struct client_link *l) {
  int i;

  for (i = 0; i < CLIENT_LINK_SOCKS; i++)
    if (i != l->active && l->socks[i].race == NULL)
      sock_close(&l->socks[i]);
}

static void audit_black_hole(struct client_link *l, const char *how) {
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = "pmtu_black_hole";
  r.reason = "PATH_MTU_LOWER"; /* and an attachment: not client_audit_info */
  r.to_attachment = l->att;
  (void)snprintf(r.detail, sizeof(r.detail),
                 "full-size packets lost while small ones arrive; %s", how);
  client_sess_audit(l->cl, &r, 1);
}

/* The path lost its full-size packets (its MTU shrank and no Packet Too
 * Big reached us): a new path starts again at 1200-byte packets and PMTUD
 * finds the new size. Single-path: migrate to a fresh port of the same
 * address; multi-path (sockets belong to uplinks): a new connection
 * reattaches. */
static void leave_black_hole(struct client_link *l) {
  int next = spare_sock(l);

  l->pmtu_black_hole = 0;
  if (!l->cl->multi && sock_open(l, next, (const struct sockaddr *)&l->remote,
                                 l->remote_len) == 0) {
    if (quic_conn_migrate(l->tp.qc,
                          (const struct sockaddr *)&l->socks[next].s.local,
                          l->socks[next].s.local_len, 0, glue_now()) == 0) {
      client_quiet_new_path(l);
      audit_black_hole(l, "migrating to a fresh port");
      return;
    }
    sock_close(&l->socks[next]);
  }
  audit_black_hole(l, "reconnecting");
  transport_close(&l->tp, QUIC_END_PMTU,
                  "path MTU black hole", glue_now());
}

/* The server went quiet on this connection while it streamed to us, or
 * came back (quic_conn probes the path itself): audited, and a silent
 * active uplink is news for the multi-path decisions. */
static void on_rx_silence(void *user, int started, uint64_t ms) {
  struct client_link *l = user;
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = started ? "rx_silence" : "rx_resumed";
  r.reason = "RX_SILENCE";
  r.to_attachment = l->att;
  (void)snprintf(r.detail, sizeof(r.detail),
                 started ? "%s: nothing from the server for %llu ms while it "
                           "streamed: probing the path"
                         : "%s: traffic back after %llu ms of silence",
                 l->ifname[0] ? l->ifname : "uplink", (unsigned long long)ms);
  client_sess_audit(l->cl, &r, 1);
  l->silent = started;
  if (started)
    client_tcp_fallback_arm(l, ms); /* transport = auto: TCP may race */
  else
    client_tcp_fallback_cancel(l);
}

/* The server's NEW_TOKEN: the next connection (a reattach, above all)
 * presents it and skips a Retry round trip. */
static void on_new_token(void *user, const uint8_t *token, size_t len) {
  struct client *cl = ((struct client_link *)user)->cl;

  if (len == 0 || len > sizeof(cl->token))
    return;
  memcpy(cl->token, token, len);
  cl->token_len = len;
}

static void on_pmtu_black_hole(void *user) {
  ((struct client_link *)user)->pmtu_black_hole = 1;
}

/* Writes what |qc| has due, handling the deadlines that pass meanwhile,
 * until it ends (*|dead|). Returns 1 when the socket is full: |t| then
 * tries again in 1 ms. */
static int conn_write(struct quic_conn *qc, uv_timer_t *t, const int *dead) {
  uint64_t now;
  int rv, i;

  for (i = 0; i < 8 && !*dead; i++) {
    now = glue_now();
    rv = quic_conn_write(qc, now);
    if (rv == JVPN_ERR_AGAIN) {
      uv_timer_start(t, t->timer_cb, 1, 0);
      return 1;
    }
    if (rv != 0 || quic_conn_expiry(qc) > now ||
        quic_conn_handle_expiry(qc, now) != 0)
      break;
  }
  return 0;
}

/* The QUIC connection that was taking the session from the link's TCP
 * one failed first: the TCP one carries on. Returns 1 if it did. */
static int tcp_take_back(struct client_link *l) {
  struct quic_conn *qc = l->tp.qc;

  if (qc == NULL || l->tcp_old.h2 == NULL || live_race(l) != NULL)
    return 0;
  l->tp.qc = NULL;
  if (!client_tcp_take_back(l)) {
    l->tp.qc = qc;
    return 0;
  }
  quic_conn_del(qc);
  sock_close(&l->socks[l->active]);
  return 1;
}

static void client_link_flush(struct client_link *l) {
  if (!link_has_conn(l))
    return;
  if (l->tp.h2)
    client_tcp_flush(l);
  else if (conn_write(l->tp.qc, &l->timer, &l->dead))
    return;
  if (l->pmtu_black_hole && !l->dead)
    leave_black_hole(l);
  if (l->dead && (race_take_over(l) || tcp_take_back(l))) {
    client_link_flush(l);
    return;
  }
  if (l->dead) {
    link_drop(l);
    schedule_reconnect(l);
    if (l->cl->multi)
      client_up_tick(l->cl); /* a lost active fails over at once */
    return;
  }
  /* Racers lost once the request went, except QUIC probes while on TCP */
  if (l->nraces > 0 && l->req != CLIENT_REQ_NONE && l->tp.h2 == NULL)
    races_end(l, "another address answered first");
  glue_timer_arm(&l->timer, transport_expiry(&l->tp), glue_now());
  client_tun_update(l->cl);
}

/* A TCP attempt answered first: the link's QUIC connection and its races
 * go, silently (UDP is blocked or the server unreachable over it). */
static void quic_abandon(struct client_link *l) {
  int i;

  races_end(l, "HTTP/2 over TCP answered first");
  quic_conn_del(l->tp.qc);
  l->tp.qc = NULL;
  for (i = 0; i < CLIENT_LINK_SOCKS; i++)
    sock_close(&l->socks[i]);
  l->dead = 0;
  l->heard = 1;
  l->silent = 0;
  link_forget_request(l);
  l->pmtu_black_hole = 0;
  uv_timer_stop(&l->next_attempt);
  uv_timer_stop(&l->reconnect);
}

/* A TCP attempt got through after an outage while the link's QUIC
 * connection still hears nothing: its window is full of packets lost in
 * the outage and its probes wait on backed-off timers, so it would only
 * come back at its idle timeout (D50). It ends as stalled; the session
 * reattaches on a fresh connection at once. */
static void quic_restart(struct client_link *l, const char *why) {
  if (l->tp.qc == NULL || l->dead || l->tp.h2 != NULL)
    return;
  /* on_closed logs the end with |why| */
  transport_close(&l->tp, QUIC_END_STALLED, why, glue_now());
}

static void client_link_close(struct client_link *l, const char *why) {
  if (!link_has_conn(l))
    return;
  if (!l->dead)
    transport_close(&l->tp, QUIC_END_LOCAL_CLOSE, why,
                    glue_now());
  link_drop(l);
  if (l->cl->multi)
    schedule_reconnect(l); /* it comes back as a standby when it can */
}

static void on_conn_timer(uv_timer_t *t) {
  struct client_link *l = t->data;

  if (!link_has_conn(l))
    return;
  (void)transport_handle_expiry(&l->tp, glue_now()); /* ends via closed */
  client_link_flush(l);
  if (link_has_conn(l))
    check_mtu(l);
}

/* --- TUN configuration from capsules ------------------------------------- */

/* The tunnel MTU: the configured one; else the default, lowered to what
 * one datagram holds on the current path once PMTUD has settled there
 * (until then a larger packet rides the request stream, so the MTU chosen
 * at start holds). Never below 1280 while IPv6 is assigned: IPv6 packets
 * up to 1280 bytes then ride the stream (quic_conn_queue_ip). */
static unsigned wanted_mtu(const struct client *cl, struct transport *t) {
  unsigned mtu = cl->conf.mtu ? cl->conf.mtu : JVPN_TUN_DEFAULT_MTU;
  size_t room;

  if (cl->conf.mtu)
    return mtu;
  if (t->qc == NULL && cl->link_up)
    return cl->mtu; /* HTTP/2 carries what QUIC did: keep it */
  if (t->qc && quic_conn_pmtu_settled(t->qc)) {
    room = quic_conn_max_ip_packet(t->qc);
    if (mtu > room)
      mtu = (unsigned)room;
  }
  if (cl->has6 && mtu < JVPN_TUN_MIN_MTU_V6)
    mtu = JVPN_TUN_MIN_MTU_V6;
  return mtu < JVPN_TUN_MIN_MTU ? JVPN_TUN_MIN_MTU : mtu;
}

static void audit_mtu(struct client *cl, unsigned from, unsigned to,
                      struct transport *t) {
  struct jvpn_audit_record r;
  struct quic_conn_info info;

  transport_get_info(t, &info);
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = "mtu_change";
  r.reason = to < from ? "PATH_MTU_LOWER" : "PATH_MTU_HIGHER";
  (void)snprintf(r.detail, sizeof(r.detail),
                 "tunnel MTU %u -> %u: the path carries %zu-byte QUIC "
                 "packets, %zu-byte IP packets per datagram",
                 from, to, info.max_udp_payload,
                 transport_max_ip_packet(t));
  client_sess_audit(cl, &r, 1);
}

static int apply_mtu(struct client *cl, struct transport *t) {
  unsigned mtu = wanted_mtu(cl, t), old = cl->mtu;

  if (cl->link_up && mtu == cl->mtu)
    return 0;
  if (tun_nl_link_up(cl->tun.ifindex, mtu) != 0) {
    LOG_ERR(NULL, "cannot set %s up with MTU %u: %m", cl->tun.name, mtu);
    return JVPN_ERR_SYSTEM;
  }
  cl->mtu = mtu;
  if (cl->link_up) {
    LOG_INFO(NULL, "tunnel MTU %u -> %u (path MTU)", old, mtu);
    audit_mtu(cl, old, mtu, t);
  }
  cl->link_up = 1;
  return 0;
}

/* Re-sizes the tunnel MTU when the active path settled or changed. */
static void check_mtu(struct client_link *l) {
  if (l == l->cl->cur && l->cl->link_up && client_link_open(l))
    (void)apply_mtu(l->cl, &l->tp);
}

static int set_address(struct client *cl, int family, const uint8_t *addr) {
  uint8_t *cur = family == AF_INET ? cl->addr4 : cl->addr6;
  int *has = family == AF_INET ? &cl->has4 : &cl->has6;
  size_t alen = family == AF_INET ? 4 : 16;
  uint8_t plen = family == AF_INET ? 32 : 128;
  char s[INET6_ADDRSTRLEN];

  if (*has && memcmp(cur, addr, alen) == 0)
    return 0; /* unchanged: no flap on reconnect */
  if (*has)
    (void)tun_nl_addr_del(cl->tun.ifindex, family, cur, plen);
  if (tun_nl_addr_add(cl->tun.ifindex, family, addr, plen) != 0) {
    LOG_ERR(NULL, "cannot add %s to %s: %m",
            glue_ip_str(family, addr, s, sizeof(s)), cl->tun.name);
    *has = 0;
    return JVPN_ERR_SYSTEM;
  }
  memcpy(cur, addr, alen);
  *has = 1;
  return 0;
}

static int on_address_assign(struct client_link *l, const uint8_t *v,
                             size_t len) {
  struct client *cl = l->cl;
  struct cip_addr a[JVPN_CIP_MAX_ADDRS];
  char s4[INET_ADDRSTRLEN] = "-", s6[INET6_ADDRSTRLEN] = "-";
  size_t n, i;
  int rv;

  rv = cip_addrs_decode(v, len, a, JVPN_CIP_MAX_ADDRS, &n);
  if (rv != 0) {
    LOG_WARN(NULL, "malformed ADDRESS_ASSIGN: %s", jvpn_strerror(rv));
    return JVPN_ERR_MALFORMED;
  }
  for (i = 0; i < n; i++) {
    int family = a[i].ip_version == 4 ? AF_INET : AF_INET6;
    static const uint8_t zero[16];

    if (memcmp(a[i].addr, zero, family == AF_INET ? 4 : 16) == 0)
      continue; /* "cannot assign" */
    if (a[i].prefix_len != (family == AF_INET ? 32 : 128)) {
      LOG_WARN(NULL, "ignoring assigned prefix /%u: only single addresses "
                     "are used", a[i].prefix_len);
      continue;
    }
    if (set_address(cl, family, a[i].addr) != 0)
      return JVPN_ERR_SYSTEM;
  }
  if (apply_mtu(cl, &l->tp) != 0)
    return JVPN_ERR_SYSTEM;
  if (cl->has4)
    glue_ip_str(AF_INET, cl->addr4, s4, sizeof(s4));
  if (cl->has6)
    glue_ip_str(AF_INET6, cl->addr6, s6, sizeof(s6));
  LOG_INFO(NULL, "tunnel up dev=%s ipv4=%s ipv6=%s mtu=%u transport=%s",
           cl->tun.name, s4, s6, cl->mtu,
           l->tp.qc == NULL ? "tcp"
           : quic_conn_version(l->tp.qc) == JVPN_QUIC_V2 ? "quic-v2"
                                                          : "quic-v1");
  cl->tunnel_up_ms = glue_now() / 1000000;
  l->backoff_ms = 0;
  client_tun_update(cl);
  return 0;
}

/* --- quic_conn callbacks ------------------------------------------------- */

struct client_sock *client_sock_for_path(struct client_link *l,
                                         const struct quic_path *path) {
  int i;

  for (i = 0; i < CLIENT_LINK_SOCKS; i++)
    if (l->socks[i].open && l->socks[i].race == NULL &&
        netmon_same_addr((const struct sockaddr *)&l->socks[i].s.local,
                         path->local) &&
        ((const struct sockaddr_in *)&l->socks[i].s.local)->sin_port ==
            ((const struct sockaddr_in *)path->local)->sin_port)
      return &l->socks[i];
  return &l->socks[l->active];
}

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct client_link *l = user;

  return glue_send(&client_sock_for_path(l, path)->s, path, data, len, seg,
                   ecn);
}

static void on_path_changed(void *user, const struct quic_path *path,
                            int same_ip) {
  struct client_link *l = user;
  struct client_sock *cs = client_sock_for_path(l, path);
  char buf[64];

  (void)same_ip;
  LOG_INFO(NULL, "migrated: now sending from %s",
           glue_sockaddr_str(path->local, buf, sizeof(buf)));
  l->active = (int)(cs - l->socks);
  socks_close_spare(l);
  client_sess_path_changed(l, buf);
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct client *cl = ((struct client_link *)user)->cl;
  char got[JVPN_PIN_STR_LEN], want[JVPN_PIN_STR_LEN];

  if (jvpn_pin_equal(pin, cl->conf.server_pin))
    return 0;
  jvpn_pin_format(pin, got);
  jvpn_pin_format(cl->conf.server_pin, want);
  LOG_ERR(NULL, "server certificate pin %s does not match server_pin %s",
          got, want);
  return -1;
}

/* The connection is ready for its request (its handshake done, the
 * server's SETTINGS in): if others raced it, it won, and the next write
 * closes them (client_link_flush). Its address goes first from now on,
 * unless it is a standby's (an uplink's families are its own). */
static long on_attach_header(void *user, char *buf, size_t len,
                             char *version, size_t version_len) {
  struct client_link *l = user;

  if (link_needed(l))
    he_list_won(&l->cl->he, (const struct sockaddr *)&l->remote);
  uv_timer_stop(&l->next_attempt);
  if (l->tp.qc != NULL)
    client_tcp_fallback_cancel(l); /* QUIC answered */
  return client_sess_attach_header(l, buf, len, version, version_len);
}

static void on_tunnel_open(void *user, const char *session, size_t len,
                           const char *version, size_t version_len) {
  LOG_DEBUG(NULL, "CONNECT-IP request accepted");
  client_quiet_new_path(user);
  client_sess_opened(user, session, len, version, version_len);
  client_tcp_tunnel_opened(user);
}

static void on_tunnel_refused(void *user, int status) {
  client_sess_refused(user, status);
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct client_link *l = user;

  switch (type) {
  case JVPN_CAPSULE_ADDRESS_ASSIGN:
    return on_address_assign(l, value, len);
  case JVPN_CAPSULE_ROUTE_ADVERTISEMENT:
    return client_routes_advertised(l->cl, value, len);
  case JVPN_CAPSULE_ACTIVATE_RESULT:
    client_sess_activate_result(l, value, len);
    return 0;
  case JVPN_CAPSULE_KEEPALIVE_RESULT:
    client_quiet_result(l, value, len);
    return 0;
  case JVPN_CAPSULE_NAT_REFRESH:
    client_quiet_nat_refresh(l, value, len);
    return 0;
  case JVPN_CAPSULE_DNS_ASSIGN:
    return client_dns_capsule(l->cl, value, len);
  default:
    return 0; /* a server does not request addresses from us */
  }
}

static void on_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct client *cl = ((struct client_link *)user)->cl;
  struct ip_info ip;
  char src[INET6_ADDRSTRLEN];

  if (ip_check(pkt, len, &ip) != 0) {
    cl->ctr.drop_malformed++;
    return;
  }
  if (!client_routes_source_ok(cl, &ip)) {
    cl->ctr.drop_spoofed++;
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL,
                "dropped downlink packet from %s: outside the advertised "
                "routes",
                glue_ip_str(ip.family, ip.src, src, sizeof(src)));
    return;
  }
  if (tun_dev_write(&cl->tun, pkt, len) != 0) {
    cl->ctr.drop_tun_full++;
    return;
  }
  cl->ctr.rx_packets++;
  if (((struct client_link *)user)->quiet.granted_ms)
    client_quiet_wake(user);
}

static void auth_failed(struct client *cl, const char *detail) {
  LOG_ERR(NULL, "authentication failed: %s%s", detail,
          strstr(detail, "peer refused")
              ? " (is this client's pin in the server's [peer] list?)"
              : "");
  client_stop(cl, 1);
}

/* An attempt to |remote| ended before its handshake: the address failed,
 * unless we closed it ourselves. */
static void attempt_failed(struct client *cl,
                           const struct sockaddr_storage *remote,
                           enum quic_conn_end why, const char *detail) {
  char a[64];

  if (why != QUIC_END_LOCAL_CLOSE)
    he_list_failed(&cl->he, (const struct sockaddr *)remote);
  LOG_DEBUG(NULL, "attempt to %s ended: %s (%s)",
            glue_sockaddr_str((const struct sockaddr *)remote, a, sizeof(a)),
            quic_conn_end_str(why), detail);
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct client_link *l = user;
  struct client *cl = l->cl;
  int early = link_has_conn(l) && !link_handshake_done(l);

  l->dead = 1;
  if (cl->stopping)
    return;
  if (why == QUIC_END_AUTH) {
    auth_failed(cl, detail);
    return;
  }
  if (early)
    attempt_failed(cl, &l->remote, why, detail);
  /* A racing attempt takes its place (client_link_flush), unless the
   * link itself is being closed or was on TCP (its races are QUIC probes,
   * ended with it). */
  if (why != QUIC_END_LOCAL_CLOSE && l->tp.h2 == NULL && live_race(l) != NULL)
    return;
  if (early && fast_retry(l)) {
    /* An attempt into a dead path: expected while recovering, and many
     * of them; one line a second says the client keeps trying. */
    l->failed_attempts++;
    JVPN_LOG_RL(JVPN_LOG_INFO, NULL, "no answer from the server yet (%llu "
                                     "attempts); still trying",
                (unsigned long long)l->failed_attempts);
  } else {
    LOG_WARN(NULL, "connection ended: %s (%s)", quic_conn_end_str(why),
             detail);
  }
  if (cl->multi)
    client_up_lost(l);
  client_sess_conn_ended(l, quic_conn_end_str(why));
}

static const struct quic_conn_ops client_ops = {
    .send = on_send,
    .verify_peer = on_verify_peer,
    .attach_header = on_attach_header,
    .tunnel_open = on_tunnel_open,
    .tunnel_refused = on_tunnel_refused,
    .capsule = on_capsule,
    .ip_packet = on_ip_packet,
    .closed = on_closed,
    .path_changed = on_path_changed,
    .pmtu_black_hole = on_pmtu_black_hole,
    .rx_silence = on_rx_silence,
    .new_token = on_new_token,
};

/* --- racing attempts (RFC 8305) ------------------------------------------
 *
 * While the link's connection waits for its handshake, the next address
 * of the round races it whenever an attempt delay passes with no packet
 * from the server on any of them (a slow server that answers is waited
 * for). The first attempt ready for its request becomes the link's
 * connection; the others are closed. Racer callbacks get their struct
 * client_race; a winner is handed to the link (race_swap).
 */

static const struct quic_conn_ops race_ops;

#define SWAP(a, b)                                                             \
  do {                                                                         \
    __typeof__(a) swap_ = (a);                                                 \
    (a) = (b);                                                                 \
    (b) = swap_;                                                               \
  } while (0)

/* Exchanges the link's connection with the one of racing attempt |r|:
 * the connection, its socket, its state and its address. */
static void race_swap(struct client_link *l, struct client_race *r) {
  SWAP(l->tp.qc, r->qc);
  SWAP(l->active, r->sock);
  SWAP(l->dead, r->dead);
  SWAP(l->heard, r->heard);
  SWAP(l->remote, r->remote);
  SWAP(l->remote_len, r->remote_len);
  quic_conn_set_owner(l->tp.qc, &client_ops, l);
  quic_conn_set_owner(r->qc, &race_ops, r);
  l->socks[l->active].race = NULL;
  l->socks[r->sock].race = r;
}

static int race_send(void *user, const struct quic_path *path,
                     const uint8_t *data, size_t len, size_t seg, uint8_t ecn) {
  struct client_race *r = user;

  return glue_send(&r->link->socks[r->sock].s, path, data, len, seg, ecn);
}

static int race_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  return on_verify_peer(((struct client_race *)user)->link, pin);
}

static void race_new_token(void *user, const uint8_t *token, size_t len) {
  on_new_token(((struct client_race *)user)->link, token, len);
}

/* The link is on TCP and QUIC probe |r| finished its handshake: it takes
 * the session back (a reattach), while the TCP connection carries the
 * data until the new tunnel opens (src/client_tcp.c). */
static void race_takes_tcp_link(struct client_link *l, struct client_race *r) {
  char a[64];

  client_tcp_retire(l);
  l->tp.qc = r->qc;
  r->qc = NULL;
  l->active = r->sock;
  l->dead = 0;
  l->heard = r->heard;
  l->remote = r->remote;
  l->remote_len = r->remote_len;
  link_forget_request(l);
  quic_conn_set_owner(l->tp.qc, &client_ops, l);
  l->socks[l->active].race = NULL;
  uv_timer_stop(&r->timer);
  l->nraces--;
  LOG_INFO(NULL, "QUIC answers again (%s): moving the session back",
           glue_sockaddr_str((const struct sockaddr *)&l->remote, a,
                             sizeof(a)));
}

/* This attempt is the first ready for its request: it becomes the link's
 * connection, and the link's own attempt races on in its place until the
 * next write closes it (client_link_flush). */
static long race_attach_header(void *user, char *buf, size_t len, char *version,
                               size_t version_len) {
  struct client_race *r = user;
  struct client_link *l = r->link;
  char a[64];

  if (l->tp.h2 != NULL) {
    race_takes_tcp_link(l, r); /* a QUIC probe answered */
    return on_attach_header(l, buf, len, version, version_len);
  }
  race_swap(l, r);
  LOG_INFO(NULL, "%s answered first%s%s",
           glue_sockaddr_str((const struct sockaddr *)&l->remote, a, sizeof(a)),
           l->idx >= 0 ? " via " : "", l->idx >= 0 ? l->ifname : "");
  return on_attach_header(l, buf, len, version, version_len);
}

static void race_closed(void *user, enum quic_conn_end why,
                        const char *detail) {
  struct client_race *r = user;
  struct client *cl = r->link->cl;

  r->dead = 1;
  if (cl->stopping)
    return;
  if (why == QUIC_END_AUTH)
    auth_failed(cl, detail);
  else if (r->link->tp.h2 != NULL)
    LOG_DEBUG(NULL, "QUIC probe ended: %s (%s)", quic_conn_end_str(why),
              detail); /* UDP still blocked: TCP carries on */
  else
    attempt_failed(cl, &r->remote, why, detail);
}

/* Until it wins, a racing attempt only needs its handshake. */
static const struct quic_conn_ops race_ops = {
    .send = race_send,
    .verify_peer = race_verify_peer,
    .attach_header = race_attach_header,
    .closed = race_closed,
    .new_token = race_new_token,
};

static void race_drop(struct client_race *r, const char *why) {
  struct client_link *l = r->link;

  if (r->qc == NULL)
    return;
  if (!r->dead)
    quic_conn_close(r->qc, JVPN_H3_NO_ERROR, QUIC_END_LOCAL_CLOSE, why,
                    glue_now());
  quic_conn_del(r->qc);
  r->qc = NULL;
  uv_timer_stop(&r->timer);
  l->socks[r->sock].race = NULL;
  sock_close(&l->socks[r->sock]);
  l->nraces--;
}

static void races_end(struct client_link *l, const char *why) {
  size_t i;

  for (i = 0; i < CLIENT_RACES; i++)
    race_drop(&l->races[i], why);
}

static void race_flush(struct client_race *r) {
  if (r->qc == NULL || conn_write(r->qc, &r->timer, &r->dead))
    return;
  if (r->dead) {
    race_drop(r, NULL);
    return;
  }
  glue_timer_arm(&r->timer, quic_conn_expiry(r->qc), glue_now());
}

static void on_race_timer(uv_timer_t *t) {
  struct client_race *r = t->data;

  if (r->qc == NULL)
    return;
  (void)quic_conn_handle_expiry(r->qc, glue_now()); /* ends via closed */
  race_flush(r);
}

static struct client_race *live_race(struct client_link *l) {
  size_t i;

  for (i = 0; i < CLIENT_RACES; i++)
    if (l->races[i].qc != NULL && !l->races[i].dead)
      return &l->races[i];
  return NULL;
}

/* The link's own attempt failed while others race on: one of them takes
 * its place. Returns 1 if one did. */
static int race_take_over(struct client_link *l) {
  struct client_race *r = live_race(l);
  char a[64];

  if (r == NULL || l->tp.h2 != NULL)
    return 0; /* a QUIC probe of a TCP link ends with it (link_drop) */
  race_swap(l, r);
  race_drop(r, NULL); /* the failed one, now in r */
  LOG_DEBUG(
      NULL, "the attempt to %s goes on alone",
      glue_sockaddr_str((const struct sockaddr *)&l->remote, a, sizeof(a)));
  return 1;
}

static int attempts_heard(const struct client_link *l) {
  size_t i;

  for (i = 0; i < CLIENT_RACES; i++)
    if (l->races[i].qc != NULL && l->races[i].heard)
      return 1;
  return l->heard;
}

/* The link's QUIC connection or one of its racing attempts heard from
 * the server: UDP passes (src/client_tcp.c waits for QUIC then). */
static int quic_heard(const struct client_link *l) {
  size_t i;

  for (i = 0; i < CLIENT_RACES; i++)
    if (l->races[i].qc != NULL && !l->races[i].dead && l->races[i].heard)
      return 1;
  return l->tp.qc != NULL && !l->dead && l->heard;
}

/* Starts the next address of the round on a free racing slot. */
static void race_start(struct client_link *l) {
  struct client_race *r = NULL;
  int used[CLIENT_LINK_SOCKS] = {0}, slot = 0;
  size_t i;

  used[l->active] = 1;
  for (i = 0; i < CLIENT_RACES; i++) {
    if (l->races[i].qc != NULL)
      used[l->races[i].sock] = 1;
    else if (r == NULL)
      r = &l->races[i];
  }
  while (slot < CLIENT_LINK_SOCKS && used[slot])
    slot++;
  if (r == NULL || slot == CLIENT_LINK_SOCKS)
    return; /* JVPN_HE_ATTEMPTS_MAX in flight: the next waits for one */
  r->qc = attempt_start(l, slot, &race_ops, r, &r->remote, &r->remote_len);
  if (r->qc == NULL)
    return;
  r->sock = slot;
  r->dead = 0;
  r->heard = 0;
  l->socks[slot].race = r;
  l->nraces++;
  race_flush(r);
}

/* The link is on TCP (transport = auto): a QUIC attempt to the server's
 * first address races nothing but tells whether UDP passes again; one
 * that finishes its handshake takes the session back
 * (race_takes_tcp_link). A probe that heard nothing gives way to a fresh
 * one: its own retransmission would come only at its next PTO (1 s, 3 s,
 * 7 s after it started), so UDP's return is seen one probe interval
 * after it at most. */
static void quic_probe(struct client_link *l) {
  struct client_race *r = live_race(l);

  if (r != NULL && r->heard)
    return; /* the last probe is completing its handshake */
  if (r != NULL)
    race_drop(r, "probe renewed");
  he_list_retry(&l->cl->he);
  l->he_next = 0;
  race_start(l);
}

/* The attempt delay passed (armed by each attempt of the link): unless an
 * attempt heard from the server, the next address races them. */
static void on_next_attempt(uv_timer_t *t) {
  struct client_link *l = t->data;

  if (l->tp.qc == NULL || l->dead || l->req != CLIENT_REQ_NONE ||
      !link_needed(l) ||
      he_list_next(&l->cl->he, l->he_next, link_families(l)) < 0)
    return;
  if (!attempts_heard(l))
    race_start(l);
  uv_timer_start(t, on_next_attempt, he_attempt_delay_ms(l->last_srtt_ms), 0);
}

/* --- I/O ----------------------------------------------------------------- */

static void on_sock_readable(uv_poll_t *p, int status, int events) {
  struct client_sock *cs = p->data;
  struct client_link *l = cs->link;
  struct client *cl = l->cl;
  uint64_t now;
  int n, rounds;

  (void)events;
  if (status < 0)
    return;
  for (rounds = 0; rounds < 4 && cs->open; rounds++) {
    /* The socket's connection: the link's, or a racing attempt's (which
     * may win during the read and pass the socket to the link). */
    struct client_race *r = cs->race;
    struct quic_conn *qc = r ? r->qc : l->tp.qc;
    int *dead = r ? &r->dead : &l->dead;

    if (qc == NULL || *dead)
      break;
    n = udp_sock_recv(&cs->s, &cl->rx);
    if (n <= 0)
      break;
    /* one clock read per batch, not per packet */
    now = glue_now();
    l->last_rx_ms = now / 1000000;
    *(r ? &r->heard : &l->heard) = 1;
    /* What the batch brings for the TUN leaves in coalesced writes. */
    tun_dev_batch_begin(&cl->tun);
    glue_conn_read_batch(qc, &cs->s, &cl->rx, n, now, dead);
    tun_dev_batch_end(&cl->tun);
    if (cs->race)
      race_flush(cs->race);
    else
      client_link_flush(l);
  }
}

/* The kernel sends link-scope traffic (IPv6 router solicitations, MLD
 * reports from the link-local address) into any interface; none of it
 * has meaning beyond this link, so it never enters the tunnel. */
static int tunnel_local_only(const uint8_t *pkt, size_t len) {
  if (len >= 40 && (pkt[0] >> 4) == 6)
    return (pkt[8] == 0xfe && (pkt[9] & 0xc0) == 0x80) || /* src fe80::/10 */
           (pkt[24] == 0xff && (pkt[25] & 0x0f) <= 2);    /* dst ff0X scope<=2 */
  return 0;
}

/* Sends one IP packet read from the TUN into the tunnel. Returns nonzero
 * when the connection's send queue is filling up. */
static int tun_packet(struct client *cl, struct client_link *l,
                      const uint8_t *pkt, size_t len) {
  int rv;

  if (tunnel_local_only(pkt, len)) {
    cl->ctr.drop_local_only++;
    return 0;
  }
  if (!client_link_open(l) && client_tcp_old_queue_ip(l, pkt, len) == 0) {
    cl->ctr.tx_packets++; /* QUIC is taking over from TCP */
    return 0;
  }
  if (!client_link_open(l) ||
      (l->req == CLIENT_REQ_STANDBY && !l->activating)) {
    /* Between connections the device stays up with its addresses and
     * routes; what applications send meanwhile is dropped and counted
     * (TCP resends it once the session is back). */
    cl->ctr.drop_recovering++;
    return 0;
  }
  rv = transport_queue_ip(&l->tp, pkt, len);
  if (rv == JVPN_ERR_OVERSIZE)
    (void)glue_send_ptb(&cl->tun, pkt, len, transport_max_ip_packet(&l->tp));
  else if (rv == 0)
    cl->ctr.tx_packets++;
  if (l->quiet.granted_ms)
    client_quiet_wake(l);
  return transport_txq_busy(&l->tp);
}

static void on_tun_readable(uv_poll_t *p, int status, int events) {
  struct client *cl = p->data;
  struct client_link *l = cl->cur;
  int i, busy = 0;
  long n;

  (void)events;
  if (status < 0)
    return;
  for (i = 0; i < JVPN_TUN_BATCH && !busy; i++) {
    struct vnet_seg seg;
    const uint8_t *pkt;
    size_t len;

    n = tun_dev_read(&cl->tun, cl->tunbuf, sizeof(cl->tunbuf));
    if (n <= 0)
      break;
    if (tun_dev_segments(&cl->tun, &seg, cl->tunbuf, (size_t)n) != 0) {
      cl->ctr.drop_malformed++;
      continue;
    }
    /* All of a super-packet goes: the kernel cannot take it back. */
    while ((pkt = vnet_seg_next(&seg, &len)) != NULL)
      busy |= tun_packet(cl, l, pkt, len);
  }
  client_tcp_old_flush(l); /* a QUIC return's handover, if one runs */
  if (link_has_conn(l) && !l->dead)
    client_link_flush(l);
}

/* Reads the TUN device unless the connection says to pause (a QUIC send
 * queue filling up: transport_tun_pause). Over TCP reads go on and what
 * does not fit is dropped (drop_queue), as issue 14 wants of inner TCP
 * over outer TCP: with 1 % loss an upload moved twice as much with a third
 * of the RTT under load (docs/performance.md). Without a connection it
 * reads and drops (counted). */
static void client_tun_update(struct client *cl) {
  const struct client_link *l = cl->cur;
  int want = cl->link_up &&
             (!link_has_conn(l) || l->dead || !transport_tun_pause(&l->tp));

  if (want && !cl->tun_reading)
    uv_poll_start(&cl->tun_poll, UV_READABLE, on_tun_readable);
  else if (!want && cl->tun_reading)
    uv_poll_stop(&cl->tun_poll);
  cl->tun_reading = want;
}

static void sock_watch(struct client_link *l, struct client_sock *cs) {
  cs->link = l;
  cs->race = NULL;
  cs->open = 1;
  uv_poll_init(l->cl->loop, &cs->poll, cs->s.fd);
  cs->poll.data = cs;
  uv_poll_start(&cs->poll, UV_READABLE, on_sock_readable);
}

/* Opens slot |i| of the single-path link bound to the address the kernel
 * uses to reach server address |to| now, so the connection's path names a
 * real local address and a change of that address is visible (and
 * migratable). In multi-path mode the uplink's own socket of |to|'s
 * family. */
static int sock_open(struct client_link *l, int i, const struct sockaddr *to,
                     socklen_t to_len) {
  struct client_sock *cs = &l->socks[i];
  struct sockaddr_storage src;
  socklen_t len;
  char buf[64];

  sock_close(cs);
  if (l->cl->multi) {
    if (client_up_sock_open(l, i, to->sa_family) != 0)
      return JVPN_ERR_SYSTEM;
    sock_watch(l, cs);
    return 0;
  }
  if (netmon_source_for(to, to_len, &src, &len) != 0) {
    LOG_WARN(NULL, "no route to %s", glue_sockaddr_str(to, buf, sizeof(buf)));
    return JVPN_ERR_SYSTEM;
  }
  if (udp_sock_open(&cs->s, (struct sockaddr *)&src, len) != 0) {
    LOG_ERR(NULL, "cannot open a UDP socket on %s: %m",
            glue_sockaddr_str((const struct sockaddr *)&src, buf,
                              sizeof(buf)));
    return JVPN_ERR_SYSTEM;
  }
  sock_watch(l, cs);
  return 0;
}

/* The local address changed under |l|'s connection, which cannot
 * migrate: a new connection from the new address takes over at once. */
static void reconnect_now(struct client_link *l) {
  client_link_close(l, "moving to a new local address");
  l->backoff_ms = 0;
  client_link_connect(l);
}

/* The underlay changed: if the kernel would now reach the server from
 * another address, move the connection there. */
static void check_path(struct client *cl) {
  struct client_link *l = &cl->links[0];
  struct client_sock *cur = &l->socks[l->active];
  const struct sockaddr *to = (const struct sockaddr *)&l->remote;
  struct sockaddr_storage src;
  socklen_t len;
  char a[64], b[64];
  int next = spare_sock(l), rv;

  if (l->tp.qc == NULL || l->dead || !cur->open)
    return; /* TCP: its socket ends with its address; then a reconnect */
  if (netmon_source_for(to, l->remote_len, &src, &len) != 0)
    return; /* no route now: wait for one; QUIC's timers decide */
  if (netmon_same_addr((const struct sockaddr *)&src,
                       (const struct sockaddr *)&cur->s.local))
    return;
  LOG_INFO(NULL, "local address changed from %s to %s",
           glue_sockaddr_str((const struct sockaddr *)&cur->s.local, a,
                             sizeof(a)),
           glue_sockaddr_str((const struct sockaddr *)&src, b, sizeof(b)));
  if (l->nraces > 0) {
    /* Still racing, so no handshake to migrate: a new round starts. */
    reconnect_now(l);
    return;
  }
  if (sock_open(l, next, to, l->remote_len) != 0)
    return;
  /* At once, not after validating the new path: the kernel routes to the
   * server from the new address now, so the old one is at best on a path
   * it no longer uses (its interface may be down with the address kept;
   * docs/decisions.md D24). ngtcp2 validates afterwards and falls back. */
  rv = quic_conn_migrate(l->tp.qc,
                         (const struct sockaddr *)&l->socks[next].s.local,
                         l->socks[next].s.local_len, 1, glue_now());
  if (rv == 0) {
    client_quiet_new_path(l);
    client_link_flush(l);
    return;
  }
  /* The server forbids migration (or no spare connection ID): a new
   * connection from the new address reattaches instead. */
  LOG_INFO(NULL, "migration not possible (%s): reconnecting",
           jvpn_strerror(rv));
  sock_close(&l->socks[next]);
  reconnect_now(l);
}

static void on_netmon_timer(uv_timer_t *t) {
  struct client *cl = t->data;

  if (cl->multi)
    client_up_netmon(cl);
  else
    check_path(cl);
}

static void on_netmon(uv_poll_t *p, int status, int events) {
  struct client *cl = p->data;

  (void)events;
  if (status < 0)
    return;
  if (netmon_drain(cl->netmon_fd) == 1)
    /* A burst of messages (address, routes, link) settles within a few
     * ms; the path is judged once after it. */
    uv_timer_start(&cl->netmon_timer, on_netmon_timer, 5, 0);
}

/* No other uplink's connection carries the session's data: the session
 * waits for this link's connection, whose attempts race and retry fast (a
 * standby's try one address each, at their own pace). */
static int link_needed(const struct client_link *l) {
  const struct client *cl = l->cl;
  size_t i;

  if (cl->multi)
    for (i = 0; i < cl->nlinks; i++)
      if (&cl->links[i] != l && cl->links[i].attached &&
          client_link_open(&cl->links[i]) &&
          cl->links[i].req != CLIENT_REQ_STANDBY)
        return 0;
  return 1;
}

/* Short, frequent attempts while a session is recovering, and for a
 * while after a tunnel was last up (its session may have just ended with
 * the path): the path can come back any moment. Otherwise back off. */
static int fast_retry(const struct client_link *l) {
  const struct client *cl = l->cl;

  /* A standby is not urgent while another connection carries the data. */
  if (!link_needed(l))
    return 0;
  return client_sess_recovering(cl) ||
         (cl->tunnel_up_ms &&
          glue_now() / 1000000 - cl->tunnel_up_ms < CLIENT_FAST_RETRY_MS);
}

/* The configuration of a new connection of |l|, whose callbacks go to
 * |ops| with |user|. */
static void conn_config(struct client_link *l, struct quic_conn_config *cfg,
                        const struct quic_conn_ops *ops, void *user) {
  struct client *cl = l->cl;

  memset(cfg, 0, sizeof(*cfg));
  cfg->is_server = 0;
  cfg->cred = cl->cred;
  cfg->sni = cl->he.fixed ? NULL : cl->conf.server_host; /* no literal */
  cfg->authority = cl->authority;
  cfg->cc = cl->conf.cc;
  cfg->token = cl->token_len ? cl->token : NULL;
  cfg->token_len = cl->token_len;
  glue_silence_policy(&cfg->silence, &cl->conf.policy);
  cfg->ops = ops;
  cfg->user = user;
  cfg->log_ctx = l->idx >= 0 ? l->ifname : NULL;
  cfg->keepalive_ms = cl->conf.keepalive_ms;
  /* The server's idle timeout, whatever our keep-alive: the server pings
   * after 2.5 s of quiet, so 3 s without a packet is a dead path here too
   * (QUIC's negotiation imposed it before the tunnel timed itself out,
   * D47; a quiet tunnel agrees on a longer one). */
  cfg->idle_ms = JVPN_QUIC_KEEPALIVE_MS * JVPN_QUIC_IDLE_KEEPALIVES;
  cfg->keylog = cl->keylog;
  if (cl->multi && cl->sess.have && !fast_retry(l)) {
    /* Most likely a standby: keep-alives at its cost class's rate (the
     * idle timeout follows: 3 of them). */
    uint64_t ka = jvpn_uplink_keepalive_ms(&cl->up, (size_t)l->idx,
                                           &cl->conf.policy);

    cfg->keepalive_ms = ka ? (unsigned)ka : cl->conf.keepalive_ms;
    /* an attempt into a path that is still dead is retried soon, and
     * its lost Initials are resent at the pace of the path's known RTT
     * (right after a link comes back its routes may lag its first
     * packets) */
    cfg->handshake_ms = JVPN_QUIC_REATTACH_HANDSHAKE_MS;
    if (l->last_srtt_ms)
      cfg->initial_rtt_ms = l->last_srtt_ms < 5 ? 5 : l->last_srtt_ms;
  }
  /* While recovering, an attempt that gets no answer soon is abandoned
   * for a fresh one, so a returning path is used within a retry interval
   * rather than after the Initial's exponential backoff. */
  if (fast_retry(l) && l->last_srtt_ms) {
    unsigned t = 8 * l->last_srtt_ms + 100;

    cfg->handshake_ms = t < CLIENT_ATTEMPT_MIN_MS   ? CLIENT_ATTEMPT_MIN_MS
                        : t > CLIENT_ATTEMPT_MAX_MS ? CLIENT_ATTEMPT_MAX_MS
                                                    : t;
    cfg->initial_rtt_ms = l->last_srtt_ms < 5 ? 5 : l->last_srtt_ms;
  } else if (fast_retry(l)) {
    cfg->handshake_ms = JVPN_QUIC_REATTACH_HANDSHAKE_MS;
  }
}

/* The families of server addresses |l| can reach. */
static unsigned link_families(struct client_link *l) {
  return l->cl->multi ? client_up_families(l) : HE_FAM_ANY;
}

/* Starts a connection of |l| from socket |slot| to the next address of
 * the round (l->he_next), its callbacks to |ops| with |user|; addresses
 * without a route or socket are marked failed on the way. Returns the
 * connection, its address in |remote|, or NULL (logged) when none could
 * start. */
static struct quic_conn *attempt_start(struct client_link *l, int slot,
                                       const struct quic_conn_ops *ops,
                                       void *user,
                                       struct sockaddr_storage *remote,
                                       socklen_t *remote_len) {
  struct client *cl = l->cl;
  struct client_sock *cs = &l->socks[slot];
  struct quic_conn_config cfg;
  struct quic_conn *qc = NULL;
  unsigned fams = link_families(l);
  char buf[64];
  int i;

  while ((i = he_list_next(&cl->he, l->he_next, fams)) >= 0) {
    const struct he_addr *a = &cl->he.a[i];

    l->he_next = (size_t)i + 1;
    if (sock_open(l, slot, (const struct sockaddr *)&a->sa, a->len) == 0)
      break;
    he_list_failed(&cl->he, (const struct sockaddr *)&a->sa);
  }
  if (i < 0) {
    JVPN_LOG_RL(JVPN_LOG_INFO, NULL, "no address of %s to try now%s%s",
                cl->conf.server_host, l->idx >= 0 ? " via " : "",
                l->idx >= 0 ? l->ifname : "");
    return NULL;
  }
  conn_config(l, &cfg, ops, user);
  if (quic_conn_client_new(&qc, &cfg, (const struct sockaddr *)&cs->s.local,
                           cs->s.local_len,
                           (const struct sockaddr *)&cl->he.a[i].sa,
                           cl->he.a[i].len, glue_now()) != 0) {
    LOG_ERR(NULL, "cannot create a QUIC connection");
    sock_close(cs);
    return NULL;
  }
  *remote = cl->he.a[i].sa;
  *remote_len = cl->he.a[i].len;
  cl->connects++;
  l->connects++;
  LOG_INFO(NULL, "connecting to %s (%s)%s%s%s", cl->conf.server_host,
           glue_sockaddr_str((const struct sockaddr *)remote, buf, sizeof(buf)),
           l->idx >= 0 ? " via " : "", l->idx >= 0 ? l->ifname : "",
           ops == &race_ops ? ", racing the attempt still unanswered" : "");
  return qc;
}

static void client_link_connect(struct client_link *l) {
  struct client *cl = l->cl;
  int rv;

  if (link_has_conn(l) || l->lookup_wait || cl->stopping ||
      (cl->multi && !client_up_wants_conn(l)))
    return;
  uv_timer_stop(&l->reconnect);
  rv = client_lookup_ready(l, link_families(l));
  if (rv == 0)
    return; /* the lookup's end connects it again (hooks.link_connect) */
  l->dead = 0;
  l->heard = 0;
  link_forget_request(l);
  l->he_next = 0;
  if (rv > 0 && cl->conf.transport == JVPN_TRANSPORT_TCP && !cl->multi) {
    client_tcp_start(l); /* it retries by itself */
    return;
  }
  if (rv > 0)
    l->tp.qc =
        attempt_start(l, l->active, &client_ops, l, &l->remote, &l->remote_len);
  client_tcp_fallback_arm(l, 0); /* transport = auto: TCP if QUIC is late */
  if (!link_has_conn(l)) {
    schedule_reconnect(l);
    return;
  }
  uv_timer_start(&l->next_attempt, on_next_attempt,
                 he_attempt_delay_ms(l->last_srtt_ms), 0);
  client_link_flush(l);
}

static void on_reconnect(uv_timer_t *t) { client_link_connect(t->data); }

/* A client that cannot get through is polite: a backed-off delay gets
 * +-20 % of jitter, so clients that lost the same server do not come back
 * in step, and a server that answered 429 or 503 is left alone for
 * CLIENT_HOLD_OFF_MS. The short RTT-paced attempts of a recovery keep
 * their pace. */
static unsigned polite_delay(struct client_link *l, unsigned delay) {
  uint64_t now = glue_now() / 1000000;
  uint32_t r = 0;

  if (delay >= CLIENT_BACKOFF_MIN_MS &&
      tls_identity_random(&r, sizeof(r)) == 0)
    delay = delay - delay / 5 + (unsigned)(r % (2 * (delay / 5) + 1));
  if (l->hold_until_ms > now && l->hold_until_ms - now > delay)
    delay = (unsigned)(l->hold_until_ms - now);
  return delay;
}

static void schedule_reconnect(struct client_link *l) {
  struct client *cl = l->cl;

  if (cl->stopping)
    return;
  if (cl->multi && !client_up_wants_conn(l))
    return; /* the uplink layer connects it when it can be used */
  unsigned delay = l->backoff_ms;

  /* The first attempt after a working tunnel goes at once (a restarted
   * server or a reset answers fast); repeated failures back off, but
   * while a session is recovering only up to the retry interval: its
   * recovery window is short and the path may return any moment. */
  l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : CLIENT_BACKOFF_MIN_MS;
  if (l->backoff_ms > CLIENT_BACKOFF_MAX_MS)
    l->backoff_ms = CLIENT_BACKOFF_MAX_MS;
  if (fast_retry(l) && l->backoff_ms > CLIENT_RECOVERY_RETRY_MS)
    l->backoff_ms = CLIENT_RECOVERY_RETRY_MS;
  /* An uplink's path may return any moment, and a standby attempt costs
   * one handshake: keep trying it often. */
  if (cl->multi && l->backoff_ms > CLIENT_STANDBY_RETRY_MAX_MS)
    l->backoff_ms = CLIENT_STANDBY_RETRY_MAX_MS;
  delay = polite_delay(l, delay);
  LOG_INFO(NULL, "reconnecting%s%s in %u ms", l->idx >= 0 ? " via " : "",
           l->idx >= 0 ? l->ifname : "", delay);
  uv_timer_start(&l->reconnect, on_reconnect, delay, 0);
}

/* --- shutdown ------------------------------------------------------------ */

static const char *const transport_mode_names[] = {"auto", "quic", "tcp"};

static int client_status(void *user, int json, char **out, size_t *len) {
  struct client *cl = user;
  struct glue_buf b = {0};
  char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
  const struct client_link *l = cl->cur;
  const char *state = l->lookup_wait                    ? "resolving"
                      : !link_has_conn(l) || l->dead        ? "reconnecting"
                      : transport_tunnel_is_open(&l->tp) ? "up"
                                                        : "connecting";

  if (cl->has4)
    glue_ip_str(AF_INET, cl->addr4, a4, sizeof(a4));
  if (cl->has6)
    glue_ip_str(AF_INET6, cl->addr6, a6, sizeof(a6));
  glue_buf_printf(&b,
                  json ? "{\"role\":\"client\",\"server\":\"%s\",\"state\":\"%s\","
                         "\"tun\":\"%s\",\"mtu\":%u,\"ipv4\":\"%s\",\"ipv6\":\"%s\","
                         "\"connections\":%llu,\"audit_written\":%llu,"
                         "\"audit_dropped\":%llu,\"drop_spoofed\":%llu,"
                         "\"drop_malformed\":%llu,\"full_tunnel\":\"%s\","
                         "\"kill_switch\":\"%s\",\"transport\":\"%s\","
                         "\"transport_mode\":\"%s\",\"tcp_fallbacks\":%llu,"
                         "\"quic_returns\":%llu"
                       : "client server=%s state=%s tun=%s mtu=%u ipv4=%s "
                         "ipv6=%s connections=%llu audit_written=%llu "
                         "audit_dropped=%llu drop_spoofed=%llu "
                         "drop_malformed=%llu full_tunnel=%s kill_switch=%s "
                         "transport=%s transport_mode=%s tcp_fallbacks=%llu "
                         "quic_returns=%llu",
                  cl->authority, state, cl->tun.name, cl->mtu, a4, a6,
                  (unsigned long long)cl->connects,
                  (unsigned long long)jvpn_audit_written(cl->sess.audit),
                  (unsigned long long)jvpn_audit_dropped(cl->sess.audit),
                  (unsigned long long)cl->ctr.drop_spoofed,
                  (unsigned long long)cl->ctr.drop_malformed,
                  cl->ft.on4 && cl->ft.on6 ? "ipv4,ipv6"
                  : cl->ft.on4            ? "ipv4"
                  : cl->ft.on6            ? "ipv6"
                                          : "off",
                  cl->ks.on ? "on" : "off",
                  transport_kind_name(transport_kind(&l->tp)),
                  transport_mode_names[cl->conf.transport],
                  (unsigned long long)cl->tcp_fallbacks,
                  (unsigned long long)cl->quic_returns);
  client_sess_status(cl, &b, json);
  client_dns_status(cl, &b, json);
  client_quiet_status(cl, &b, json);
  client_lookup_status(cl, &b, json);
  if (cl->multi)
    client_up_status(cl, &b, json);
  if (link_has_conn(l) && !l->dead) {
    glue_buf_printf(&b, json ? "," : "\n  ");
    glue_buf_conn(&b, &cl->cur->tp, json);
  }
  glue_buf_printf(&b, json ? "}\n" : "\n");
  if (b.failed) {
    free(b.p);
    return JVPN_ERR_NOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}

static void client_log_stats(const struct client *cl) {
  char line[512], tun[160];

  glue_stats_line(line, sizeof(line), &cl->ctr, &cl->cur->tp);
  glue_tun_stats(tun, sizeof(tun), &cl->tun);
  LOG_INFO(NULL, "stats %s %s", line, tun);
}

static void client_stop(struct client *cl, int code) {
  size_t i;

  if (cl->stopping)
    return;
  cl->stopping = 1;
  cl->exit_code = code;
  client_log_stats(cl);
  for (i = 0; i < cl->nlinks; i++)
    client_tcp_end(&cl->links[i]);
  for (i = 0; i < cl->nlinks; i++)
    if (link_has_conn(&cl->links[i]) && !cl->links[i].dead)
      transport_close(&cl->links[i].tp, QUIC_END_LOCAL_CLOSE,
                      "client shutdown", glue_now());
  if (cl->control)
    control_close(cl->control);
  cl->control = NULL;
  uv_stop(cl->loop);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct client *cl = h->data;

  if (signum == SIGUSR1) {
    client_log_stats(cl);
    return;
  }
  if (signum == SIGHUP) {
    /* The unit's ExecReload serves both roles: keep running. */
    LOG_WARN(NULL, "SIGHUP: the client has nothing to reload; restart it "
                   "to apply a changed configuration");
    return;
  }
  LOG_INFO(NULL, "signal %d: shutting down", signum);
  client_stop(cl, 0);
}

static void timer_init(struct client *cl, uv_timer_t *t, void *data,
                       uv_timer_cb cb) {
  uv_timer_init(cl->loop, t);
  t->data = data;
  t->timer_cb = cb;
}

/* One link per [uplink], or the single path's one. */
static void links_init(struct client *cl) {
  size_t i, j;

  cl->multi = cl->conf.nuplinks > 0;
  cl->nlinks = cl->multi ? cl->conf.nuplinks : 1;
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    l->cl = cl;
    l->idx = cl->multi ? (int)i : -1;
    for (j = 0; j < CLIENT_LINK_SOCKS; j++)
      l->socks[j].s.fd = -1;
    l->link_up = 1;
    timer_init(cl, &l->timer, l, on_conn_timer);
    timer_init(cl, &l->reconnect, l, on_reconnect);
    timer_init(cl, &l->next_attempt, l, on_next_attempt);
    for (j = 0; j < CLIENT_RACES; j++) {
      l->races[j].link = l;
      timer_init(cl, &l->races[j].timer, &l->races[j], on_race_timer);
    }
    client_tcp_init(l);
  }
  cl->cur = &cl->links[0];
}

#ifdef JVPN_TEST_HOOKS
/* Test hook (--enable-test-hooks only): with JVPN_TEST_DUMP_KEYLOG=FILE
 * set, every connection's TLS secrets are appended to FILE as NSS key log
 * lines, so tests/netns/wire.sh can decrypt its capture (docs/decisions.md
 * D16). Whoever reads FILE reads the tunnel: a default build has no such
 * hook. Opened before the privilege drop; NULL when unset or unopenable. */
static FILE *keylog_for_tests(void) {
  const char *path = getenv("JVPN_TEST_DUMP_KEYLOG");
  FILE *f = NULL;
  int fd;

  if (path == NULL || *path == '\0')
    return NULL;
  fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0 && (f = fdopen(fd, "a")) == NULL)
    close(fd);
  if (f == NULL)
    LOG_WARN(NULL, "JVPN_TEST_DUMP_KEYLOG: cannot open %s: %m", path);
  return f;
}
#else
static FILE *keylog_for_tests(void) { return NULL; }
#endif /* JVPN_TEST_HOOKS */

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

int jvpn_client_run(const char *config_path, int verbosity,
                    const char *control_path) {
  struct client *cl;
  struct jvpn_config_error err;
  size_t i;
  int rc = 1;

  cl = calloc(1, sizeof(*cl));
  if (cl == NULL)
    return 1;
  cl->tun.fd = -1;
  cl->netmon_fd = -1;
  jvpn_log_set_node("client");
  if (jvpn_config_load_client(&cl->conf, config_path, &err) != 0) {
    fprintf(stderr, "%s:%u: %s\n", err.file, err.line, err.msg);
    free(cl);
    return 2;
  }
  jvpn_log_set_level(cl->conf.log_level + verbosity);
  snprintf(cl->authority, sizeof(cl->authority),
           strchr(cl->conf.server_host, ':') ? "[%s]:%u" : "%s:%u",
           cl->conf.server_host, cl->conf.server_port);
  cl->loop = uv_default_loop();
  if (udp_rx_batch_init(&cl->rx) != 0)
    goto out;
  if (glue_load_cred(&cl->cred, cl->conf.cert_file, cl->conf.key_file) != 0)
    goto out_rx;
  if (tun_dev_open(&cl->tun, cl->conf.tun_name,
                   glue_tun_offload_mode(cl->conf.tun_offload)) != 0) {
    LOG_ERR(NULL, "cannot create TUN device %s: %m", cl->conf.tun_name);
    goto out_cred;
  }
  glue_tun_offload_log(&cl->tun, cl->conf.tun_offload);
  uv_poll_init(cl->loop, &cl->tun_poll, cl->tun.fd);
  cl->tun_poll.data = cl;
  client_routes_prepare(cl);
  links_init(cl);
  uv_timer_init(cl->loop, &cl->netmon_timer);
  cl->netmon_timer.data = cl;
  client_quiet_init(cl);
  cl->netmon_fd = netmon_open();
  if (cl->netmon_fd >= 0) {
    uv_poll_init(cl->loop, &cl->netmon_poll, cl->netmon_fd);
    cl->netmon_poll.data = cl;
    uv_poll_start(&cl->netmon_poll, UV_READABLE, on_netmon);
  } else {
    LOG_WARN(NULL, "cannot watch address changes: %m");
  }
  uv_signal_init(cl->loop, &cl->sig_int);
  uv_signal_init(cl->loop, &cl->sig_term);
  uv_signal_init(cl->loop, &cl->sig_usr1);
  uv_signal_init(cl->loop, &cl->sig_hup);
  cl->sig_int.data = cl->sig_term.data = cl->sig_usr1.data = cl;
  cl->sig_hup.data = cl;
  uv_signal_start(&cl->sig_int, on_signal, SIGINT);
  uv_signal_start(&cl->sig_term, on_signal, SIGTERM);
  uv_signal_start(&cl->sig_usr1, on_signal, SIGUSR1);
  uv_signal_start(&cl->sig_hup, on_signal, SIGHUP);
  cl->hooks.link_connect = client_link_connect;
  cl->hooks.link_close = client_link_close;
  cl->hooks.link_flush = client_link_flush;
  cl->hooks.tun_update = client_tun_update;
  cl->hooks.auth_failed = auth_failed;
  cl->hooks.quic_abandon = quic_abandon;
  cl->hooks.quic_probe = quic_probe;
  cl->hooks.quic_heard = quic_heard;
  cl->hooks.quic_restart = quic_restart;
  cl->hooks.link_ops = &client_ops;
  cl->hooks.up_attached = client_up_attached;
  cl->hooks.up_refused = client_up_refused;
  cl->hooks.up_activated = client_up_activated;
  if (client_sess_init(cl) != 0) {
    rc = 2;
    goto out_tun;
  }
  /* An address literal is known now, and with the kill switch a name too
   * (looked up before its table goes in): the full tunnel's rule for the
   * server needs them; the uplinks pick their addresses by the server's
   * families. */
  client_lookup_init(cl);
  if (client_kill_switch_prepare(cl) != 0) {
    rc = 1;
    goto out_tun;
  }
  client_server_addrs(cl);
  client_dns_prepare(cl);
  if (cl->multi && client_up_init(cl) != 0) {
    rc = 2;
    goto out_tun;
  }
  glue_control_open(&cl->control, cl->loop, control_path, "client",
                    client_status, cl);
  cl->keylog = keylog_for_tests();
  /* Run time needs CAP_NET_ADMIN: addresses, routes and MTU of the TUN
   * device, SO_RCVBUFFORCE on new sockets. */
  if (glue_drop_root(cl->conf.user, PRIVDROP_KEEP_NET_ADMIN) != 0 ||
      glue_sandbox(cl->conf.seccomp, SANDBOX_CLIENT) != 0 ||
      glue_audit_start(cl->sess.audit) != 0)
    client_stop(cl, 1);
  else if (cl->multi)
    client_up_tick(cl); /* connects the first uplink */
  else
    client_link_connect(cl->cur);
  uv_run(cl->loop, UV_RUN_DEFAULT);
  rc = cl->exit_code;
  client_full_tunnel_done(cl);
  client_kill_switch_done(cl);
  client_dns_done(cl);
  for (i = 0; i < cl->nlinks; i++)
    link_drop(&cl->links[i]);
  /* A lookup in its thread keeps the loop until it returns. */
  client_lookup_free(cl);
  uv_walk(cl->loop, close_walk, NULL);
  uv_run(cl->loop, UV_RUN_DEFAULT);
  for (i = 0; i < cl->nlinks; i++) {
    size_t j;

    for (j = 0; j < CLIENT_LINK_SOCKS; j++)
      udp_sock_close(&cl->links[i].socks[j].s);
  }
  if (cl->netmon_fd >= 0)
    close(cl->netmon_fd);
  if (cl->keylog)
    (void)fclose(cl->keylog); /* each line was flushed when written */
out_tun:
  kill_switch_close(&cl->ks);
  client_sess_free(cl);
  /* Closing the device removes it with its addresses and routes. */
  tun_dev_close(&cl->tun);
out_cred:
  tls_identity_cred_del(cl->cred);
out_rx:
  udp_rx_batch_free(&cl->rx);
out:
  uv_loop_close(cl->loop);
  free(cl);
  LOG_INFO(NULL, "stopped");
  return rc;
}
