/*
 * src/server: the server program on one libuv loop.
 *
 * Packets reach a connection by destination connection ID (never by
 * address: NAT rebinding changes addresses), and IP packets from the TUN
 * device reach a connection by inner destination address.
 */
#include "src/server.h"
#include "src/server_int.h"
#include "src/server_reload.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proof.h"
#include "quic/connect_ip.h"
#include "quic/connect_ip_dns.h"
#include "quic/quic_pkt.h"
#include "quic/tcp_sock.h"
#include "quic/tls_identity.h"
#include "src/addr_pool.h"
#include "src/config.h"
#include "src/control.h"
#include "src/glue.h"
#include "src/peer_table.h"
#include "src/pin.h"
#include "src/quiet.h"
#include "src/session_wire.h"
#include "tun/netlink.h"


/* --- client lifecycle ---------------------------------------------------- */


static void free_timer(uv_handle_t *h) { free(h->data); }
static void free_handle(uv_handle_t *h) { free(h); }

/* Reads the TUN device again after a pause (src/tun_gate.h). */
static void tun_read_resume(struct server *srv) {
  uv_timer_stop(&srv->tun_resume);
  uv_poll_start(&srv->tun_poll, UV_READABLE, srv->tun_poll.poll_cb);
}

static void on_tun_resume(uv_timer_t *t);

/* Ends a pause when the gate says so, at the latest after its maximum. */
static void tun_resume_arm(struct server *srv, uint64_t now_ms) {
  uint64_t at = tun_gate_resume_at(&srv->gate);

  uv_timer_start(&srv->tun_resume, on_tun_resume, at > now_ms ? at - now_ms : 1,
                 0);
}

static void on_tun_resume(uv_timer_t *t) {
  struct server *srv = t->data;
  uint64_t now_ms = glue_now() / 1000000;

  if (tun_gate_expire(&srv->gate, now_ms))
    tun_read_resume(srv);
  else if (tun_gate_paused(&srv->gate))
    tun_resume_arm(srv, now_ms); /* the timer ran early by the clock */
}

static void sclient_del(struct sclient *sc) {
  struct server *srv = sc->srv;
  size_t i;

  srv_conn_ended(sc);
  srv_pin_conn_del(sc);
  halfopen_remove(&srv->halfopen, &sc->halfopen);
  if (tun_gate_forget(&srv->gate, sc))
    tun_read_resume(srv);
  if (sc->dirty) {
    for (i = 0; i < srv->ndirty; i++)
      if (srv->dirty[i] == sc)
        srv->dirty[i] = srv->dirty[--srv->ndirty];
    sc->dirty = 0;
  }
  if (sc->prev)
    sc->prev->next = sc->next;
  else
    srv->clients = sc->next;
  if (sc->next)
    sc->next->prev = sc->prev;
  srv->nclients--;
  if (sc->odcid_filed)
    peer_table_del(&srv->by_odcid, AF_INET6, sc->odcid_digest, sc);
  if (sc->tcp_poll) { /* stop watching before the socket closes */
    uv_poll_stop(sc->tcp_poll);
    uv_close((uv_handle_t *)sc->tcp_poll, free_handle);
    sc->tcp_poll = NULL;
  }
  srv_metrics_conn_gone(srv, sc);
  transport_del(&sc->tp); /* QUIC retires its CIDs through cid_remove */
  uv_timer_stop(&sc->timer);
  sc->timer.data = sc;
  uv_close((uv_handle_t *)&sc->timer, free_timer);
}

/* Writes what the connection has to send and re-arms its timer; deletes
 * it if it ended. Returns 0 if it is still alive. */
static void on_tcp_conn_io(uv_poll_t *p, int status, int events);

/* TCP: the socket is watched for output only while some waits. */
static int sclient_flush_tcp(struct sclient *sc) {
  struct h2_conn *h2 = sc->tp.h2;

  if (h2_conn_io(h2, 0, glue_now()) != 0 || sc->dead) {
    sclient_del(sc);
    return -1;
  }
  uv_poll_start(sc->tcp_poll,
                UV_READABLE | (h2_conn_want_write(h2) ? UV_WRITABLE : 0),
                on_tcp_conn_io);
  glue_timer_arm(&sc->timer, h2_conn_expiry(h2), glue_now());
  if (!h2_conn_txq_busy(h2) && tun_gate_drained(&sc->srv->gate, sc))
    tun_read_resume(sc->srv);
  return 0;
}

static int sclient_flush(struct sclient *sc) {
  uint64_t now;
  int rv, i;

  /* What an answer promises is stored before the answer leaves (D48). */
  srv_store_flush(sc->srv);
  if (sc->dead) {
    sclient_del(sc);
    return -1;
  }
  if (sc->tp.h2)
    return sclient_flush_tcp(sc);
  /* A paced burst per call; deadlines already due are served at once. */
  for (i = 0; i < 8; i++) {
    now = glue_now();
    rv = quic_conn_write(sc->tp.qc, now);
    if (rv == JVPN_ERR_AGAIN) {
      /* Socket full: try again in a millisecond. */
      uv_timer_start(&sc->timer, sc->timer.timer_cb, 1, 0);
      return 0;
    }
    if (rv != 0 || sc->dead) {
      sclient_del(sc);
      return -1;
    }
    if (transport_expiry(&sc->tp) > now)
      break;
    if (transport_handle_expiry(&sc->tp, now) != 0) {
      sclient_del(sc);
      return -1;
    }
  }
  glue_timer_arm(&sc->timer, transport_expiry(&sc->tp), glue_now());
  if (!transport_txq_busy(&sc->tp) && tun_gate_drained(&sc->srv->gate, sc))
    tun_read_resume(sc->srv);
  return 0;
}

static void on_client_timer(uv_timer_t *t) {
  struct sclient *sc = t->data;

  if (transport_handle_expiry(&sc->tp, glue_now()) != 0 || sc->dead) {
    sclient_del(sc);
    return;
  }
  sclient_flush(sc);
}

static void on_tcp_conn_io(uv_poll_t *p, int status, int events) {
  struct sclient *sc = p->data;
  int readable = status < 0 || (events & UV_READABLE);

  if (sc->tp.h2 == NULL)
    return;
  if (h2_conn_io(sc->tp.h2, readable, glue_now()) != 0 || sc->dead) {
    sclient_del(sc);
    return;
  }
  sclient_flush(sc);
}

/* --- quic_conn callbacks ------------------------------------------------- */

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct sclient *sc = user;

  return glue_send(&sc->srv->sock[sc->sock], path, data, len, seg, ecn);
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct sclient *sc = user;
  char text[JVPN_PIN_STR_LEN];

  sc->peer = jvpn_server_conf_peer(&sc->srv->conf, pin);
  if (sc->peer == NULL) {
    jvpn_pin_format(pin, text);
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "refused client: unknown client pin %s",
                text);
    return -1;
  }
  halfopen_remove(&sc->srv->halfopen, &sc->halfopen);
  snprintf(sc->ctx + strlen(sc->ctx), sizeof(sc->ctx) - strlen(sc->ctx),
           " peer=%s", sc->peer->name);
  transport_set_log_ctx(&sc->tp, sc->ctx);
  return srv_pin_admit(sc);
}

static void on_cid_add(void *user, const struct quic_cid *cid) {
  struct sclient *sc = user;

  if (cid->len == JVPN_QUIC_SCID_LEN &&
      peer_table_put(&sc->srv->by_cid, AF_INET6, cid->data, sc) != 0)
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "connection ID table full");
}

static void on_cid_remove(void *user, const struct quic_cid *cid) {
  struct sclient *sc = user;

  if (cid->len == JVPN_QUIC_SCID_LEN)
    peer_table_del(&sc->srv->by_cid, AF_INET6, cid->data, sc);
}

static void on_tunnel_request(void *user, const struct quic_tunnel_req *req,
                              struct quic_tunnel_resp *resp) {
  srv_tunnel_request(user, req, resp);
}

static void on_rx_silence(void *user, int started, uint64_t ms) {
  srv_rx_silence(user, started, ms);
}

static void on_path_changed(void *user, const struct quic_path *path,
                            int same_ip) {
  (void)path;
  srv_path_changed(user, same_ip);
}

/* Prefixes are nested or apart, and RFC 9484 4.7.3 forbids overlapping
 * ranges: of sorted |r|, those inside the one before them (a default route
 * holds the pool's route, say) go. Returns the count left. */
static size_t drop_nested_ranges(struct cip_range *r, size_t n) {
  size_t i, k = 0;

  for (i = 0; i < n; i++) {
    if (k > 0 && r[k - 1].ip_version == r[i].ip_version &&
        memcmp(r[i].end, r[k - 1].end, 16) <= 0)
      continue; /* its start is not below r[k - 1]'s: sorted */
    r[k++] = r[i];
  }
  return k;
}

static int send_routes(struct sclient *sc) {
  struct jvpn_server_conf *conf = &sc->srv->conf;
  struct cip_range r[JVPN_MAX_ROUTES];
  uint8_t val[JVPN_MAX_ROUTES * 34];
  size_t i, j, n = 0;
  long len;

  /* RFC 9484 4.7.3: IPv4 ranges first, then IPv6, each by start address. */
  for (i = 0; i < conf->nroutes; i++)
    if (conf->routes[i].family == AF_INET)
      cip_range_from_prefix(&r[n++], 4, conf->routes[i].addr,
                            conf->routes[i].plen);
  for (i = 0; i < conf->nroutes; i++)
    if (conf->routes[i].family == AF_INET6)
      cip_range_from_prefix(&r[n++], 6, conf->routes[i].addr,
                            conf->routes[i].plen);
  for (i = 1; i < n; i++) { /* insertion sort: n <= JVPN_MAX_ROUTES */
    struct cip_range t = r[i];

    for (j = i; j > 0 && r[j - 1].ip_version == t.ip_version &&
                memcmp(r[j - 1].start, t.start, 16) > 0;
         j--)
      r[j] = r[j - 1];
    r[j] = t;
  }
  n = drop_nested_ranges(r, n);
  len = cip_routes_encode(val, sizeof(val), r, n);
  if (len < 0)
    return (int)len;
  return transport_send_capsule(&sc->tp, JVPN_CAPSULE_ROUTE_ADVERTISEMENT, val,
                                (size_t)len);
}

/* The dns and dns_search lines as one DNS configuration: plain DNS to each
 * address, preferred in config order, for every name (the root as the
 * internal domain); a search list alone names no internal domain. */
static void dns_config_from_conf(const struct jvpn_server_conf *conf,
                                 struct cip_dns_config *d) {
  size_t i;

  memset(d, 0, sizeof(*d));
  for (i = 0; i < conf->ndns; i++) {
    struct cip_dns_server *s = &d->servers[i];

    s->ip_version = conf->dns[i].family == AF_INET ? 4 : 6;
    memcpy(s->addr, conf->dns[i].addr, sizeof(s->addr));
    s->transports = CIP_DNS_DO53;
    s->priority = (uint16_t)(i + 1);
  }
  d->nservers = conf->ndns;
  d->ndomains = conf->ndns > 0; /* domains[0] is "", the root */
  for (i = 0; i < conf->ndns_search; i++)
    memcpy(d->search[i], conf->dns_search[i], sizeof(d->search[i]));
  d->nsearch = conf->ndns_search;
}

/* DNS_ASSIGN, when the config names DNS servers or search domains, or
 * named some before a reload (then empty: each DNS_ASSIGN replaces the
 * last). The draft (section 5) wants it after ROUTE_ADVERTISEMENT, so
 * that the servers are known to lie inside the tunnel first. */
static int send_dns(struct sclient *sc) {
  struct cip_dns_config d;
  uint8_t val[JVPN_CAPSULE_MAX_VALUE];
  long len;

  if (sc->srv->conf.ndns == 0 && sc->srv->conf.ndns_search == 0 &&
      !sc->srv->dns_sent)
    return 0;
  sc->srv->dns_sent = 1;
  dns_config_from_conf(&sc->srv->conf, &d);
  len = cip_dns_encode(val, sizeof(val), &d);
  if (len < 0)
    return (int)len;
  return transport_send_capsule(&sc->tp, JVPN_CAPSULE_DNS_ASSIGN, val,
                                (size_t)len);
}

static int answer_address_request(struct sclient *sc, const uint8_t *value,
                                  size_t len) {
  const struct addr_pool_entry *addrs = sc->sess->addrs;
  struct cip_addr req[JVPN_CIP_MAX_ADDRS], out[JVPN_CIP_MAX_ADDRS];
  uint8_t val[JVPN_CIP_MAX_ADDRS * 32];
  size_t n, i, k = 0;
  long enc;
  int rv;

  rv = cip_addrs_decode(value, len, req, JVPN_CIP_MAX_ADDRS, &n);
  if (rv != 0) {
    LOG_WARN(sc->ctx, "malformed ADDRESS_REQUEST: %s", jvpn_strerror(rv));
    return JVPN_ERR_MALFORMED;
  }
  for (i = 0; i < n; i++)
    if (req[i].request_id == 0) {
      /* RFC 9484 4.7.2: zero is reserved for unsolicited assignments. */
      LOG_WARN(sc->ctx, "malformed ADDRESS_REQUEST: request ID 0");
      return JVPN_ERR_MALFORMED;
    }
  for (i = 0; i < n; i++) {
    /* The client asks for any address of a family; it gets its own. A
     * family without a pool is not answered. */
    memset(&out[k], 0, sizeof(out[k]));
    out[k].request_id = req[i].request_id;
    out[k].ip_version = req[i].ip_version;
    if (req[i].ip_version == 4 && addrs->has4) {
      memcpy(out[k].addr, addrs->addr4, 4);
      out[k++].prefix_len = 32;
    } else if (req[i].ip_version == 6 && addrs->has6) {
      memcpy(out[k].addr, addrs->addr6, 16);
      out[k++].prefix_len = 128;
    }
  }
  enc = cip_addrs_encode(val, sizeof(val), out, k);
  if (enc < 0)
    return (int)enc;
  rv = transport_send_capsule(&sc->tp, JVPN_CAPSULE_ADDRESS_ASSIGN, val,
                              (size_t)enc);
  if (rv == 0)
    rv = send_routes(sc);
  if (rv == 0)
    rv = send_dns(sc);
  return rv == 0 ? 0 : JVPN_ERR_INVAL;
}

/* Behind a NAT: the client may ping every |keepalive_ms| if it keeps its
 * mapping with a datagram every |refresh_ms|, which our UDP sockets'
 * filter drops in the kernel (docs/decisions.md D52). A client that does
 * not know the capsule skips it and pings at the grant. */
static int offer_nat_refresh(struct sclient *sc, unsigned keepalive_ms,
                             unsigned refresh_ms) {
  struct jvpn_wire_nat_refresh r = {keepalive_ms, refresh_ms};
  uint8_t val[JVPN_WIRE_NAT_REFRESH_MAX];
  long n = jvpn_wire_encode_nat_refresh(val, sizeof(val), &r);

  if (n < 0)
    return (int)n;
  sc->srv->nat_refresh_offers++;
  return transport_send_capsule(&sc->tp, JVPN_CAPSULE_NAT_REFRESH, val,
                                (size_t)n);
}

/* A quiet client asks for a longer keep-alive (docs/decisions.md D47):
 * grant what the path allows, use it here and say so. */
static int grant_keepalive(struct sclient *sc, const uint8_t *value,
                           size_t len) {
  struct jvpn_wire_keepalive k;
  struct quic_path path;
  uint8_t val[JVPN_WIRE_KEEPALIVE_RESULT_MAX];
  unsigned ms, refreshed, refresh_ms;
  long n;
  int rv;

  if (jvpn_wire_decode_keepalive(value, len, &k) != 0) {
    LOG_WARN(sc->ctx, "malformed KEEPALIVE capsule");
    srv_metrics_refused(sc->srv, JVPN_R_MALFORMED_REQUEST);
    return JVPN_ERR_MALFORMED;
  }
  if (sc->tp.qc == NULL || sc->sess == NULL)
    return 0; /* HTTP/2 keeps its own; no session: nothing to keep */
  transport_get_path(&sc->tp, &path);
  ms = jvpn_quiet_grant(k.want_ms, (const struct sockaddr *)&k.from,
                        path.remote);
  refreshed = jvpn_quiet_refresh_offer(k.want_ms, ms, &refresh_ms);
  n = jvpn_wire_encode_keepalive_result(val, sizeof(val), ms);
  if (n < 0)
    return (int)n;
  /* The client pings every |ms|, or |refreshed| if it takes the offer
   * below (ngtcp2 times our keep-alive from what we sent, so ours would
   * add PINGs of our own to its): we send none, and a client that stops
   * is idle after 3 of them. */
  quic_conn_set_keepalive(sc->tp.qc, QUIC_KEEPALIVE_OFF,
                          jvpn_quiet_idle_ms(refreshed ? refreshed : ms),
                          glue_now());
  sc->srv->quiet_grants[ms == JVPN_QUIET_KEEPALIVE_OPEN_MS]++;
  LOG_DEBUG(sc->ctx, "quiet tunnel: keep-alive %u ms", ms);
  rv = transport_send_capsule(&sc->tp, JVPN_CAPSULE_KEEPALIVE_RESULT, val,
                              (size_t)n);
  if (rv != 0 || refreshed == 0)
    return rv;
  return offer_nat_refresh(sc, refreshed, refresh_ms);
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct sclient *sc = user;

  switch (type) {
  case JVPN_CAPSULE_ADDRESS_REQUEST:
    if (sc->sess == NULL)
      return 0;
    return answer_address_request(sc, value, len);
  case JVPN_CAPSULE_ACTIVATE:
    return srv_activate(sc, value, len);
  case JVPN_CAPSULE_KEEPALIVE:
    return grant_keepalive(sc, value, len);
  case JVPN_CAPSULE_ADDRESS_ASSIGN:
  case JVPN_CAPSULE_ROUTE_ADVERTISEMENT:
  case JVPN_CAPSULE_ACTIVATE_RESULT:
  case JVPN_CAPSULE_KEEPALIVE_RESULT:
  case JVPN_CAPSULE_NAT_REFRESH:
  case JVPN_CAPSULE_DNS_ASSIGN:
    /* A client has no addresses, routes or resolvers to offer us (the
     * DNS draft, 3.5: an IP proxy ignores a client's DNS configuration). */
    return 0;
  default:
    return 0;
  }
}

static void on_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct sclient *sc = user;
  const struct addr_pool_entry *addrs;
  struct ip_info ip;
  const uint8_t *own;

  if (ip_check(pkt, len, &ip) != 0) {
    sc->ctr.drop_malformed++;
    return;
  }
  if (sc->sess == NULL || sc->sess->active != sc) {
    /* Only the session's active attachment carries data (rule 2). */
    sc->ctr.drop_no_route++;
    return;
  }
  addrs = sc->sess->addrs;
  own = ip.family == AF_INET ? (addrs->has4 ? addrs->addr4 : NULL)
                             : (addrs->has6 ? addrs->addr6 : NULL);
  if (own == NULL || !ip_src_is(&ip, ip.family, own)) {
    /* Only the address this client was given may be its source. */
    char src[INET6_ADDRSTRLEN];

    sc->ctr.drop_spoofed++;
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx,
                "dropped uplink packet from %s: not the client's address",
                glue_ip_str(ip.family, ip.src, src, sizeof(src)));
    return;
  }
  if (tun_dev_write(&sc->srv->tun, pkt, len) != 0) {
    sc->ctr.drop_tun_full++;
    return;
  }
  sc->ctr.rx_packets++;
  sc->ctr.rx_bytes += len;
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct sclient *sc = user;
  int level = why == QUIC_END_AUTH || why == QUIC_END_PROTOCOL ? JVPN_LOG_WARN
                                                                : JVPN_LOG_INFO;

  /* Before authentication anyone can end connections (spoofed Initials
   * time out by the thousand): those lines come at a limited rate. */
  if (sc->peer == NULL)
    JVPN_LOG_RL(level, sc->ctx, "connection ended: %s (%s)",
                quic_conn_end_str(why), detail);
  else
    JVPN_LOG(level, sc->ctx, "connection ended: %s (%s)",
             quic_conn_end_str(why), detail);
  srv_conn_ended(sc);
  sc->dead = 1;
}

static const struct quic_conn_ops server_ops = {
    .send = on_send,
    .verify_peer = on_verify_peer,
    .cid_add = on_cid_add,
    .cid_remove = on_cid_remove,
    .tunnel_request = on_tunnel_request,
    .capsule = on_capsule,
    .ip_packet = on_ip_packet,
    .closed = on_closed,
    .path_changed = on_path_changed,
    .rx_silence = on_rx_silence,
};

/* --- UDP ingress --------------------------------------------------------- */

/* A client's first flight carries a DCID we did not choose; its keyed
 * digest finds the connection in O(1). */
static struct sclient *find_by_odcid(struct server *srv,
                                     const struct quic_cid *dcid) {
  uint8_t d[16];

  if (quic_pkt_cid_digest(srv->odcid_key, dcid, d) != 0)
    return NULL;
  return peer_table_get(&srv->by_odcid, AF_INET6, d);
}

/* Whether a new client must prove its address with a Retry round trip
 * first: the config says always or never; "auto", once more than
 * JVPN_RETRY_AUTO_RATE connections began this second (spoofed Initials
 * then cost a stateless Retry, not a connection). */
static int retry_wanted(struct server *srv) {
  uint64_t now_ms = glue_now() / 1000000;

  if (srv->conf.retry != JVPN_RETRY_AUTO)
    return srv->conf.retry == JVPN_RETRY_ALWAYS;
  if (now_ms - srv->new_window_ms >= 1000) {
    srv->new_window_ms = now_ms;
    srv->new_in_window = 0;
  }
  return srv->new_in_window >= JVPN_RETRY_AUTO_RATE ||
         srv->halfopen.count >= JVPN_RETRY_AUTO_HALFOPEN;
}

/* Address validation for a client's first Initial |in| from |m|: 1 when a
 * connection may start (|*validated| says whether a Retry token proved the
 * address, then |odcid| is set; |*token_ok|, whether a NEW_TOKEN did), 0
 * when it was answered with a Retry or its token refused. */
static int validate_address(struct server *srv, size_t si,
                            const struct udp_rx_msg *m,
                            const struct quic_initial *in,
                            struct quic_cid *odcid, int *validated,
                            int *token_ok, uint64_t now) {
  uint8_t out[256];
  long n;
  int rv;

  *validated = *token_ok = 0;
  if (!in->is_initial || (in->token_len == 0 && !retry_wanted(srv)))
    return 1;
  /* A NEW_TOKEN from an earlier connection (a reattach, above all) proves
   * the address without a round trip. */
  if (quic_pkt_verify_token(srv->token_secret, sizeof(srv->token_secret), in,
                            (const struct sockaddr *)&m->peer, m->peer_len,
                            (uint64_t)JVPN_NEW_TOKEN_TTL_S * 1000000000ull,
                            now) == 0) {
    *token_ok = 1;
    srv->token_accepted++;
    return 1;
  }
  rv = quic_pkt_verify_retry(srv->retry_secret, sizeof(srv->retry_secret), in,
                             (const struct sockaddr *)&m->peer, m->peer_len,
                             (uint64_t)JVPN_RETRY_TOKEN_TTL_S * 1000000000ull,
                             now, odcid);
  if (rv == 0) {
    *validated = 1;
    return 1;
  }
  if (rv != 0 && !retry_wanted(srv))
    return 1; /* a stale or foreign token, and no Retry needed: start */
  if (rv == JVPN_ERR_DENIED) {
    srv->drop_bad_token++;
    JVPN_LOG_RL(JVPN_LOG_INFO, NULL, "invalid or expired Retry token: dropped");
    return 0;
  }
  n = quic_pkt_write_retry(out, sizeof(out), srv->retry_secret,
                           sizeof(srv->retry_secret), in,
                           (const struct sockaddr *)&m->peer, m->peer_len,
                           srv->conf.lb.on ? &srv->conf.lb : NULL, now);
  if (n > 0 &&
      udp_sock_send(&srv->sock[si], (const struct sockaddr *)&m->peer,
                    m->peer_len, (const struct sockaddr *)&m->local,
                    m->local_len, out, (size_t)n, 0, 0) == 0)
    srv->retries_sent++;
  return 0;
}

/* A source at its half-open limit loses its oldest unauthenticated
 * connection to the new one (src/halfopen.h). */
static void forget_oldest_halfopen(struct server *srv,
                                   const struct sockaddr *peer) {
  struct halfopen_node *old =
      halfopen_over_limit(&srv->halfopen, peer, JVPN_HALFOPEN_PER_SOURCE);
  struct sclient *sc;

  if (old == NULL)
    return;
  sc = (struct sclient *)(void *)((char *)old -
                                  offsetof(struct sclient, halfopen));
  JVPN_LOG_RL(JVPN_LOG_INFO, sc->ctx, "%d half-open connections from this "
              "source: its oldest is forgotten", JVPN_HALFOPEN_PER_SOURCE);
  sclient_del(sc);
}

/* A new connection's program side, linked into the list (cid_add runs
 * while QUIC creates the connection), its timer ready. */
static struct sclient *sclient_new(struct server *srv,
                                   const struct sockaddr *peer,
                                   const char *proto) {
  struct sclient *sc;
  char addr[64];

  sc = calloc(1, sizeof(*sc));
  if (sc == NULL)
    return NULL;
  sc->srv = srv;
  sc->sock = -1;
  sc->created_ms = glue_now() / 1000000;
  snprintf(sc->ctx, sizeof(sc->ctx), "from=%s%s", proto,
           glue_sockaddr_str(peer, addr, sizeof(addr)));
  sc->next = srv->clients;
  if (srv->clients)
    srv->clients->prev = sc;
  srv->clients = sc;
  srv->nclients++;
  uv_timer_init(srv->loop, &sc->timer);
  sc->timer.data = sc;
  sc->timer.timer_cb = on_client_timer;
  return sc;
}

/* Room for one more connection from |peer|; says so at a limited rate if
 * there is none. */
static int conn_room(struct server *srv, const struct sockaddr *peer) {
  if (srv->nclients >= JVPN_MAX_CONNS) {
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "connection limit reached; dropped");
    return 0;
  }
  forget_oldest_halfopen(srv, peer);
  return 1;
}

static struct sclient *accept_client(struct server *srv, size_t si,
                                     const struct udp_rx_msg *m,
                                     const uint8_t *pkt, size_t len,
                                     uint64_t now) {
  const struct sockaddr *peer = (const struct sockaddr *)&m->peer;
  struct quic_initial in;
  struct quic_cid odcid;
  struct sclient *sc;
  struct quic_conn_config cfg;
  int validated, token_ok;

  if (quic_pkt_accept(&in, pkt, len) != 0)
    return NULL;
  if (!validate_address(srv, si, m, &in, &odcid, &validated, &token_ok, now))
    return NULL;
  if (!conn_room(srv, peer))
    return NULL;
  srv->new_in_window++;
  sc = sclient_new(srv, peer, "");
  if (sc == NULL)
    return NULL;
  sc->sock = (int)si;
  sc->odcid = in.dcid;
  if (quic_pkt_cid_digest(srv->odcid_key, &in.dcid, sc->odcid_digest) == 0 &&
      peer_table_put(&srv->by_odcid, AF_INET6, sc->odcid_digest, sc) == 0)
    sc->odcid_filed = 1;
  memset(&cfg, 0, sizeof(cfg));
  cfg.is_server = 1;
  cfg.keepalive_ms = JVPN_QUIC_SERVER_KEEPALIVE_MS;
  cfg.idle_ms = JVPN_QUIC_KEEPALIVE_MS * JVPN_QUIC_IDLE_KEEPALIVES;
  cfg.cred = srv->cred;
  cfg.cc = srv->conf.cc;
  glue_silence_policy(&cfg.silence, &srv->conf.policy);
  cfg.ops = &server_ops;
  cfg.user = sc;
  cfg.log_ctx = sc->ctx;
  cfg.reset_secret = srv->reset_secret;
  cfg.retry_odcid = validated ? &odcid : NULL;
  cfg.lb = srv->conf.lb.on ? &srv->conf.lb : NULL;
  cfg.token_validated = token_ok;
  cfg.token_secret = srv->token_secret;
  if (quic_conn_server_new(&sc->tp.qc, &cfg, &in,
                           (const struct sockaddr *)&m->local, m->local_len,
                           peer, m->peer_len, now) != 0) {
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "cannot create a connection");
    sclient_del(sc);
    return NULL;
  }
  /* Unfiled (out of memory) only means no per-source limit for it. */
  (void)halfopen_add(&srv->halfopen, &sc->halfopen, peer);
  LOG_DEBUG(sc->ctx, "new connection");
  return sc;
}

/* --- TCP ingress (the HTTP/2 fallback) ----------------------------------- */

/* A TCP connection accepted: TLS and HTTP/2 on it, under the same limits
 * as a QUIC connection (half-open per source, connections per pin). */
static void accept_tcp_client(struct server *srv, int fd,
                              const struct sockaddr *peer) {
  struct h2_conn_config cfg;
  struct sclient *sc;

  if (!conn_room(srv, peer) || (sc = sclient_new(srv, peer, "tcp:")) == NULL) {
    close(fd);
    return;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.is_server = 1;
  cfg.cred = srv->cred;
  cfg.ops = &server_ops;
  cfg.user = sc;
  cfg.log_ctx = sc->ctx;
  sc->tcp_poll = malloc(sizeof(*sc->tcp_poll));
  if (sc->tcp_poll == NULL ||
      h2_conn_new(&sc->tp.h2, &cfg, fd, glue_now()) != 0) {
    if (sc->tcp_poll == NULL)
      close(fd);
    free(sc->tcp_poll);
    sc->tcp_poll = NULL;
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "cannot create a TCP connection");
    sclient_del(sc);
    return;
  }
  uv_poll_init(srv->loop, sc->tcp_poll, fd);
  sc->tcp_poll->data = sc;
  (void)halfopen_add(&srv->halfopen, &sc->halfopen, peer);
  srv->tcp_accepted++;
  LOG_DEBUG(sc->ctx, "new TCP connection");
  sclient_flush(sc);
}

static void on_tcp_listener(uv_poll_t *p, int status, int events) {
  struct server *srv = p->data;
  size_t li = (size_t)(p - srv->tcp_poll);
  struct sockaddr_storage peer;
  socklen_t peer_len;
  int i, fd;

  (void)events;
  if (status < 0)
    return;
  /* Bounded: a SYN flood cannot starve the rest of the loop. */
  for (i = 0; i < JVPN_TCP_ACCEPT_BATCH; i++) {
    fd = tcp_sock_accept(srv->tcp_fd[li], &peer, &peer_len);
    if (fd == JVPN_ERR_AGAIN)
      break;
    if (fd < 0) {
      JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "accept on TCP: %m");
      break;
    }
    accept_tcp_client(srv, fd, (const struct sockaddr *)&peer);
  }
}

/* A short-header packet for a connection we do not know (a server restart
 * forgot it, say) gets a stateless reset (RFC 9000 10.3), so the client
 * learns at once that its connection is gone instead of waiting for the
 * idle timeout. The token derives from the server key, so it is the one the
 * client was given before the restart. */
static void send_stateless_reset(struct server *srv, size_t si,
                                 const struct udp_rx_msg *m,
                                 const struct quic_pkt_ids *ids, size_t len) {
  uint8_t out[64];
  uint64_t now_ms = glue_now() / 1000000;
  long n;

  if (ids->dcid.len != JVPN_QUIC_SCID_LEN)
    return;
  if (now_ms - srv->reset_window_ms >= 1000) {
    srv->reset_window_ms = now_ms;
    srv->resets_in_window = 0;
  }
  if (srv->resets_in_window >= JVPN_RESET_RATE)
    return;
  n = quic_pkt_write_stateless_reset(out, sizeof(out), srv->reset_secret,
                                     &ids->dcid, len);
  if (n <= 0)
    return;
  srv->resets_in_window++;
  if (udp_sock_send(&srv->sock[si], (const struct sockaddr *)&m->peer,
                    m->peer_len, (const struct sockaddr *)&m->local,
                    m->local_len, out, (size_t)n, 0, 0) == 0)
    srv->resets_sent++;
}

static int vn_allowed(struct server *srv) {
  uint64_t now_ms = glue_now() / 1000000;

  if (now_ms - srv->vn_window_ms >= 1000) {
    srv->vn_window_ms = now_ms;
    srv->vns_in_window = 0;
  }
  if (srv->vns_in_window >= JVPN_VN_RATE)
    return 0;
  srv->vns_in_window++;
  return 1;
}

static void handle_packet(struct server *srv, size_t si,
                          const struct udp_rx_msg *m, const uint8_t *pkt,
                          size_t len, uint64_t now) {
  struct quic_pkt_ids ids;
  struct sclient *sc = NULL;
  int rv;

  rv = quic_pkt_decode_ids(&ids, pkt, len);
  if (rv == QUIC_PKT_VERSION_UNSUPPORTED) {
    uint8_t out[256];
    long n;

    srv->drop_version++;
    /* Only a packet that could start a connection (RFC 9000 14.1) earns
     * an answer, so a small spoofed one cannot be amplified, and at most
     * JVPN_VN_RATE a second (a VN packet is not for reflection). */
    if (len < JVPN_QUIC_MIN_UDP_PAYLOAD || !vn_allowed(srv))
      return;
    n = quic_pkt_write_vn(out, sizeof(out), &ids);
    if (n > 0)
      (void)udp_sock_send(&srv->sock[si], (const struct sockaddr *)&m->peer,
                          m->peer_len, NULL, 0, out, (size_t)n, 0, 0);
    return;
  }
  if (rv != 0)
    return;
  if (ids.dcid.len == JVPN_QUIC_SCID_LEN)
    sc = peer_table_get(&srv->by_cid, AF_INET6, ids.dcid.data);
  if (sc == NULL && ids.version != 0)
    sc = find_by_odcid(srv, &ids.dcid);
  if (sc == NULL) {
    if (ids.version == 0) {
      srv->drop_unknown_cid++;
      send_stateless_reset(srv, si, m, &ids, len);
      return;
    }
    sc = accept_client(srv, si, m, pkt, len, now);
    if (sc == NULL)
      return;
  }
  if (sc->dead)
    return;
  if (quic_conn_read(sc->tp.qc, (const struct sockaddr *)&m->local, m->local_len,
                     (const struct sockaddr *)&m->peer, m->peer_len, m->ecn,
                     pkt, len, now) != 0) {
    sclient_del(sc);
    return;
  }
  if (!sc->dirty && srv->ndirty < JVPN_TUN_BATCH) {
    sc->dirty = 1;
    srv->dirty[srv->ndirty++] = sc;
  } else if (!sc->dirty) {
    sclient_flush(sc);
  }
}

static void flush_dirty(struct server *srv) {
  size_t i;

  for (i = 0; i < srv->ndirty; i++) {
    struct sclient *sc = srv->dirty[i];

    sc->dirty = 0;
    sclient_flush(sc);
  }
  srv->ndirty = 0;
}

static void on_sock_readable(uv_poll_t *p, int status, int events) {
  struct server *srv = p->data;
  size_t si = (size_t)(p - srv->sock_poll);
  uint64_t now;
  int n, i, rounds;

  (void)events;
  if (status < 0)
    return;
  /* Bounded: a flood cannot starve the TUN device or the timers. */
  for (rounds = 0; rounds < 4; rounds++) {
    n = udp_sock_recv(&srv->sock[si], &srv->rx);
    if (n <= 0)
      break;
    now = glue_now(); /* one clock read per batch, not per packet */
    /* What the batch brings for the TUN leaves in coalesced writes. */
    tun_dev_batch_begin(&srv->tun);
    for (i = 0; i < n; i++) {
      struct udp_rx_msg *m = &srv->rx.msg[i];
      const uint8_t *pkt;
      size_t off = 0, len;

      while (udp_rx_msg_next(m, &off, &pkt, &len))
        handle_packet(srv, si, m, pkt, len, now);
    }
    tun_dev_batch_end(&srv->tun);
    /* Flush once per batch: ACKs and replies leave as GSO batches. */
    flush_dirty(srv);
  }
}

/* --- TUN egress ---------------------------------------------------------- */

/* Returns nonzero when the destination's send queue is filling up and the
 * gate (src/tun_gate.h) lets that pause TUN reads: the kernel then queues
 * (and TCP feels the pressure) instead of this program dropping. */
static int route_from_tun(struct server *srv, const uint8_t *pkt,
                          size_t len, uint64_t now_ms) {
  struct ip_info ip;
  struct srv_session *ss;
  struct sclient *sc;
  int rv;

  if (ip_check(pkt, len, &ip) != 0) {
    srv->drop_malformed_tun++;
    return 0;
  }
  ss = srv_session_by_addr(srv, ip.family, ip.dst);
  if (ss == NULL) {
    srv->drop_no_route++;
    return 0;
  }
  sc = ss->active;
  if (sc == NULL || sc->dead) {
    /* The session is recovering: its client will reattach. */
    ss->drop_unattached++;
    return 0;
  }
  tun_gate_route(&srv->gate, sc, now_ms);
  rv = transport_queue_ip(&sc->tp, pkt, len);
  if (rv == JVPN_ERR_OVERSIZE) {
    (void)glue_send_ptb(&srv->tun, pkt, len, transport_max_ip_packet(&sc->tp));
    return 0;
  }
  if (rv != 0)
    return 0;
  sc->ctr.tx_packets++;
  sc->ctr.tx_bytes += len;
  if (!sc->dirty) {
    if (srv->ndirty == JVPN_TUN_BATCH)
      flush_dirty(srv);
    sc->dirty = 1;
    srv->dirty[srv->ndirty++] = sc;
  }
  return transport_txq_busy(&sc->tp) && tun_gate_busy(&srv->gate, sc, now_ms);
}

static void on_tun_readable(uv_poll_t *p, int status, int events) {
  struct server *srv = p->data;
  uint64_t now_ms = glue_now() / 1000000;
  int i, pause = 0;
  long n;

  (void)events;
  if (status < 0)
    return;
  for (i = 0; i < JVPN_TUN_BATCH && !pause; i++) {
    struct vnet_seg seg;
    const uint8_t *pkt;
    size_t len;

    n = tun_dev_read(&srv->tun, srv->tunbuf, sizeof(srv->tunbuf));
    if (n <= 0)
      break;
    if (tun_dev_segments(&srv->tun, &seg, srv->tunbuf, (size_t)n) != 0) {
      srv->drop_malformed_tun++;
      continue;
    }
    /* A super-packet is routed whole: its segments are one flow's. */
    while ((pkt = vnet_seg_next(&seg, &len)) != NULL)
      pause |= route_from_tun(srv, pkt, len, now_ms);
  }
  if (pause) {
    uv_poll_stop(&srv->tun_poll);
    tun_resume_arm(srv, now_ms);
  }
  flush_dirty(srv);
}

/* --- signals and set-up -------------------------------------------------- */

static void log_stats(struct server *srv) {
  struct sclient *sc;
  char line[512];

  for (sc = srv->clients; sc; sc = sc->next) {
    if (sc->peer == NULL)
      continue;
    glue_stats_line(line, sizeof(line), &sc->ctr, &sc->tp);
    LOG_INFO(NULL, "stats peer=%s %s", sc->peer->name, line);
  }
  glue_tun_stats(line, sizeof(line), &srv->tun);
  LOG_INFO(NULL, "stats server clients=%zu drop_no_route=%llu "
                 "drop_malformed_tun=%llu drop_unknown_cid=%llu "
                 "drop_version=%llu stateless_resets=%llu retries=%llu "
                 "drop_bad_token=%llu tokens_accepted=%llu %s",
           srv->nclients, (unsigned long long)srv->drop_no_route,
           (unsigned long long)srv->drop_malformed_tun,
           (unsigned long long)srv->drop_unknown_cid,
           (unsigned long long)srv->drop_version,
           (unsigned long long)srv->resets_sent,
           (unsigned long long)srv->retries_sent,
           (unsigned long long)srv->drop_bad_token,
           (unsigned long long)srv->token_accepted, line);
}


static void on_signal(uv_signal_t *h, int signum) {
  struct server *srv = h->data;
  size_t i;

  if (signum == SIGUSR1) {
    log_stats(srv);
    return;
  }
  if (signum == SIGHUP) {
    srv_reload(srv);
    return;
  }
  LOG_INFO(NULL, "signal %d: shutting down", signum);
  log_stats(srv);
  while (srv->clients) {
    struct sclient *sc = srv->clients;

    transport_close(&sc->tp, QUIC_END_LOCAL_CLOSE, "server shutdown",
                    glue_now());
    sclient_del(sc);
  }
  for (i = 0; i < srv->nsock; i++)
    uv_poll_stop(&srv->sock_poll[i]);
  for (i = 0; i < srv->ntcp; i++)
    uv_poll_stop(&srv->tcp_poll[i]);
  uv_poll_stop(&srv->tun_poll);
  uv_timer_stop(&srv->tun_resume);
  uv_signal_stop(&srv->sig_int);
  uv_signal_stop(&srv->sig_term);
  uv_signal_stop(&srv->sig_usr1);
  uv_signal_stop(&srv->sig_hup);
  if (srv->control)
    control_close(srv->control);
  srv->control = NULL;
  uv_stop(srv->loop);
}

static int setup_tun(struct server *srv) {
  struct jvpn_server_conf *c = &srv->conf;
  uint8_t a[16];
  char s[INET6_ADDRSTRLEN];

  if (tun_dev_open(&srv->tun, c->tun_name,
                   glue_tun_offload_mode(c->tun_offload)) != 0) {
    LOG_ERR(NULL, "cannot create TUN device %s: %m", c->tun_name);
    return JVPN_ERR_SYSTEM;
  }
  glue_tun_offload_log(&srv->tun, c->tun_offload);
  if (tun_nl_link_up(srv->tun.ifindex, c->mtu) != 0) {
    LOG_ERR(NULL, "cannot bring %s up with MTU %u: %m", srv->tun.name, c->mtu);
    return JVPN_ERR_SYSTEM;
  }
  if (addr_pool_server_addr4(&srv->pool, a) == 0) {
    if (tun_nl_addr_add(srv->tun.ifindex, AF_INET, a, c->pool4.plen) != 0) {
      LOG_ERR(NULL, "cannot add %s to %s: %m", glue_ip_str(AF_INET, a, s, sizeof(s)),
              srv->tun.name);
      return JVPN_ERR_SYSTEM;
    }
  }
  if (addr_pool_server_addr6(&srv->pool, a) == 0) {
    if (tun_nl_addr_add(srv->tun.ifindex, AF_INET6, a, c->pool6.plen) != 0) {
      LOG_ERR(NULL, "cannot add %s to %s: %m",
              glue_ip_str(AF_INET6, a, s, sizeof(s)), srv->tun.name);
      return JVPN_ERR_SYSTEM;
    }
  }
  return 0;
}

/* The HTTP/2 fallback listens on the same address and port number. */
static int setup_tcp_listener(struct server *srv, const struct sockaddr *sa,
                              socklen_t len) {
  size_t i = srv->ntcp;
  char buf[64];
  int fd = tcp_sock_listen(sa, len);

  if (fd < 0) {
    LOG_ERR(NULL, "cannot listen on TCP %s: %m",
            glue_sockaddr_str(sa, buf, sizeof(buf)));
    return JVPN_ERR_SYSTEM;
  }
  srv->tcp_fd[i] = fd;
  srv->ntcp++;
  uv_poll_init(srv->loop, &srv->tcp_poll[i], fd);
  srv->tcp_poll[i].data = srv;
  uv_poll_start(&srv->tcp_poll[i], UV_READABLE, on_tcp_listener);
  LOG_INFO(NULL, "listening on TCP %s (TLS, HTTP/2: the fallback)",
           glue_sockaddr_str(sa, buf, sizeof(buf)));
  return 0;
}

static int setup_sockets(struct server *srv) {
  size_t i;
  char buf[64];

  for (i = 0; i < srv->conf.nlisten; i++) {
    const struct sockaddr *sa =
        (const struct sockaddr *)&srv->conf.listen[i];

    if (udp_sock_open(&srv->sock[i], sa, srv->conf.listen_len[i]) != 0) {
      LOG_ERR(NULL, "cannot listen on UDP %s: %m",
              glue_sockaddr_str(sa, buf, sizeof(buf)));
      return JVPN_ERR_SYSTEM;
    }
    /* NAT refreshes (D52) and other runts die in the kernel; without the
     * filter they cost a wakeup each and fail to parse here. */
    if (udp_sock_drop_short(&srv->sock[i], JVPN_QUIC_MIN_DATAGRAM) != 0)
      LOG_WARN(NULL, "UDP %s: no socket filter for short datagrams: %m",
               glue_sockaddr_str(sa, buf, sizeof(buf)));
    srv->nsock++;
    uv_poll_init(srv->loop, &srv->sock_poll[i], srv->sock[i].fd);
    srv->sock_poll[i].data = srv;
    uv_poll_start(&srv->sock_poll[i], UV_READABLE, on_sock_readable);
    LOG_INFO(NULL, "listening on UDP %s (QUIC, HTTP/3)",
             glue_sockaddr_str(sa, buf, sizeof(buf)));
    if (srv->conf.tcp && setup_tcp_listener(srv, sa, srv->conf.listen_len[i]))
      return JVPN_ERR_SYSTEM;
  }
  return 0;
}

/* The stateless reset key: HMAC-SHA256 keyed by the server's private key
 * file, so it survives restarts and changes with the identity. */
static int derive_reset_secret(struct server *srv) {
  int rv = tls_identity_derive_secret(srv->conf.key_file,
                                      "jvpn stateless reset v1",
                                      srv->reset_secret);

  if (rv == 0)
    rv = tls_identity_derive_secret(srv->conf.key_file, "jvpn retry token v1",
                                    srv->retry_secret);
  if (rv == 0)
    rv = tls_identity_derive_secret(srv->conf.key_file, "jvpn new token v1",
                                    srv->token_secret);

  if (rv != 0)
    LOG_ERR(NULL, "cannot derive the stateless reset key from %s: %s",
            srv->conf.key_file, jvpn_strerror(rv));
  return rv;
}

/* Closes every handle left; a connection's timer carries its sclient,
 * which goes with it, and a TCP connection's watcher was allocated alone
 * (the server's own handles carry the server). */
static void close_walk(uv_handle_t *h, void *arg) {
  int ours = h->data && h->data != arg; /* a connection's */

  if (uv_is_closing(h))
    return;
  if (ours && h->type == UV_TIMER)
    uv_close(h, free_timer);
  else if (ours && h->type == UV_POLL)
    uv_close(h, free_handle); /* a TCP connection's watcher */
  else
    uv_close(h, NULL);
}

int jvpn_server_run(const char *config_path, int verbosity,
                    const char *control_path) {
  struct server *srv;
  struct jvpn_config_error err;
  int rc = 1;
  size_t i;

  srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return 1;
  srv->tun.fd = -1;
  jvpn_log_set_node("server");
  if (jvpn_config_load_server(&srv->conf, config_path, &err) != 0) {
    fprintf(stderr, "%s:%u: %s\n", err.file, err.line, err.msg);
    free(srv);
    return 2;
  }
  jvpn_log_set_level(srv->conf.log_level + verbosity);
  srv->verbosity = verbosity;
  snprintf(srv->conf_path, sizeof(srv->conf_path), "%s", config_path);
  srv->loop = uv_default_loop();
  if (addr_pool_init(&srv->pool, &srv->conf) != 0) {
    fprintf(stderr, "%s: inconsistent address pools or fixed addresses\n",
            config_path);
    rc = 2;
    goto out_conf;
  }
  if (peer_table_init(&srv->by_addr, 2 * JVPN_MAX_PEERS) != 0 ||
      peer_table_init(&srv->by_odcid, JVPN_MAX_CONNS) != 0 ||
      halfopen_init(&srv->halfopen, JVPN_MAX_CONNS) != 0 ||
      tls_identity_random(srv->odcid_key, sizeof(srv->odcid_key)) != 0 ||
      peer_table_init(&srv->by_cid,
                      JVPN_MAX_CONNS * (JVPN_QUIC_ACTIVE_CID_LIMIT + 1)) !=
          0 ||
      udp_rx_batch_init(&srv->rx) != 0)
    goto out_tables;
  if (srv_sessions_init(srv) != 0)
    goto out_tables;
  if (glue_load_cred(&srv->cred, srv->conf.cert_file, srv->conf.key_file) !=
      0)
    goto out_tables;
  if (derive_reset_secret(srv) != 0)
    goto out_io;
  if (setup_tun(srv) != 0 || setup_sockets(srv) != 0)
    goto out_io;
  srv_cluster_start(srv);
  uv_poll_init(srv->loop, &srv->tun_poll, srv->tun.fd);
  srv->tun_poll.data = srv;
  uv_poll_start(&srv->tun_poll, UV_READABLE, on_tun_readable);
  uv_timer_init(srv->loop, &srv->tun_resume);
  srv->tun_resume.data = srv;
  uv_signal_init(srv->loop, &srv->sig_int);
  uv_signal_init(srv->loop, &srv->sig_term);
  uv_signal_init(srv->loop, &srv->sig_usr1);
  uv_signal_init(srv->loop, &srv->sig_hup);
  srv->sig_int.data = srv->sig_term.data = srv->sig_usr1.data = srv;
  srv->sig_hup.data = srv;
  uv_signal_start(&srv->sig_int, on_signal, SIGINT);
  uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
  uv_signal_start(&srv->sig_usr1, on_signal, SIGUSR1);
  uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
  srv->started_ms = glue_now() / 1000000;
  glue_control_open(&srv->control, srv->loop, control_path, "server",
                    srv_status, srv);
  if (srv_metrics_start(srv) != 0)
    goto out_io;
  /* A node of a cluster routes its sessions' addresses (D44). */
  if (glue_drop_root(srv->conf.user, srv->store && srv->store->cluster
                                         ? PRIVDROP_KEEP_NET_ADMIN
                                         : PRIVDROP_KEEP_NONE) != 0 ||
      glue_sandbox(srv->conf.seccomp, srv->store && srv->store->cluster
                                          ? SANDBOX_SERVER_NODE
                                          : SANDBOX_SERVER) != 0 ||
      glue_audit_start(srv->audit) != 0)
    goto out_io;
  LOG_INFO(NULL, "ready: tun=%s mtu=%u peers=%zu", srv->tun.name,
           srv->conf.mtu, srv->conf.npeers);
  uv_run(srv->loop, UV_RUN_DEFAULT);
  rc = 0;

out_io:
  srv_metrics_stop(srv); /* its handles are its own, not close_walk's */
  uv_walk(srv->loop, close_walk, srv);
  uv_run(srv->loop, UV_RUN_DEFAULT);
  for (i = 0; i < srv->nsock; i++)
    udp_sock_close(&srv->sock[i]);
  for (i = 0; i < srv->ntcp; i++)
    close(srv->tcp_fd[i]);
  tun_dev_close(&srv->tun);
  tls_identity_cred_del(srv->cred);
out_tables:
  udp_rx_batch_free(&srv->rx);
  peer_table_free(&srv->by_cid);
  peer_table_free(&srv->by_odcid);
  halfopen_free(&srv->halfopen);
  peer_table_free(&srv->by_addr);
  srv_sessions_free(srv);
  srv_retired_peers_sweep(srv, 1);
  addr_pool_free(&srv->pool);
out_conf:
  jvpn_server_conf_free(&srv->conf);
  uv_loop_close(srv->loop);
  jvpn_wipe(srv->reset_secret, sizeof(srv->reset_secret));
  jvpn_wipe(srv->retry_secret, sizeof(srv->retry_secret));
  jvpn_wipe(srv->token_secret, sizeof(srv->token_secret));
  free(srv);
  if (rc == 0)
    LOG_INFO(NULL, "stopped");
  return rc;
}
