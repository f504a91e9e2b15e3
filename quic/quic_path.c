/*
 * quic/quic_path: the path a connection uses: PMTUD's young path and the
 * MTU black hole it may meet (D20), path changes ngtcp2 validated or made
 * silently, and a server's preferred address offered to the program.
 * Internal to quic/quic_conn.
 */
#include "quic/quic_path.h"

#include <string.h>

#include <netinet/in.h>

#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/quic_conn_int.h"

/* A new path (or connection) begins: PMTUD probes it for a while, and no
 * full-size loss is held against it yet. */
void quic_path_watch_reset(struct quic_conn *c) {
  const ngtcp2_path *cur = ngtcp2_conn_get_path(c->conn);

  memset(&c->pmtu, 0, sizeof(c->pmtu));
  c->young_since = c->last_now ? c->last_now : 1;
  ngtcp2_path_storage_init(&c->pmtu_path, cur->local.addr, cur->local.addrlen,
                           cur->remote.addr, cur->remote.addrlen, NULL);
}

/* When a young path settles: the longer of a fixed time and 16 PTOs, with
 * the PTO of now (a new path's RTT estimate starts at 333 ms and shrinks
 * with its first samples). */
static uint64_t young_until(const struct quic_conn *c) {
  uint64_t settle = (uint64_t)JVPN_QUIC_PMTUD_SETTLE_MS * NGTCP2_MILLISECONDS;
  uint64_t ptos = JVPN_QUIC_PMTUD_SETTLE_PTOS * ngtcp2_conn_get_pto(c->conn);

  return c->young_since + (ptos > settle ? ptos : settle);
}

/* Nonzero while PMTUD may still raise the path's packet size: the
 * handshake is not confirmed, or the path is new. */
int quic_path_young(const struct quic_conn *c) {
  return c->young_since == 0 || c->last_now < young_until(c);
}

/* A path change that no validation reported (ngtcp2 moves a server to a
 * rebound client at once, a client to the path it migrates to) also
 * starts PMTUD afresh at 1200 bytes. */
void quic_path_track(struct quic_conn *c) {
  if (c->young_since != 0 &&
      !ngtcp2_path_eq(&c->pmtu_path.path, ngtcp2_conn_get_path(c->conn)))
    quic_path_watch_reset(c);
}

/* Full-size datagrams keep vanishing, none acknowledged since the streak
 * began, while the peer was heard meanwhile (so small packets get
 * through: not an outage) on a path that had carried them: the MTU shrank
 * without a Packet Too Big. Judged once per path. */
int quic_path_black_hole(struct quic_conn *c, uint64_t now) {
  uint64_t pto = ngtcp2_conn_get_pto(c->conn);

  if (c->pmtu.reported || quic_path_young(c) ||
      c->pmtu.big_lost < JVPN_QUIC_PMTU_BH_LOSSES ||
      ngtcp2_conn_get_path_max_tx_udp_payload_size(c->conn) <=
          JVPN_QUIC_MIN_UDP_PAYLOAD)
    return 0;
  if (now - c->pmtu.streak_start < 3 * pto ||
      c->last_rx <= c->pmtu.streak_start ||
      c->pmtu.big_acked_at >= c->pmtu.streak_start)
    return 0;
  c->pmtu.reported = 1;
  return 1;
}

static int same_ip(const ngtcp2_addr *a, const ngtcp2_addr *b) {
  const struct sockaddr *x = (const struct sockaddr *)a->addr;
  const struct sockaddr *y = (const struct sockaddr *)b->addr;

  if (x->sa_family != y->sa_family)
    return 0;
  if (x->sa_family == AF_INET)
    return memcmp(&((const struct sockaddr_in *)x)->sin_addr,
                  &((const struct sockaddr_in *)y)->sin_addr, 4) == 0;
  return memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
                &((const struct sockaddr_in6 *)y)->sin6_addr, 16) == 0;
}

int quic_path_validation_cb(ngtcp2_conn *conn, uint32_t flags,
                            const ngtcp2_path *path,
                            const ngtcp2_path *old_path,
                            ngtcp2_path_validation_result res, void *ud) {
  struct quic_conn *c = ud;

  (void)conn;
  (void)flags;
  (void)old_path;
  if (res != NGTCP2_PATH_VALIDATION_RESULT_SUCCESS) {
    LOG_INFO(c->ctx, "path validation failed");
    return 0;
  }
  /* A validated path other than the one the program knows is a change
   * (ngtcp2 may switch to it just after this callback). */
  if (ngtcp2_path_eq(&c->path.path, path))
    return 0;
  LOG_DEBUG(c->ctx, "path validated and in use");
  /* ngtcp2 starts PMTUD afresh on the new path, from 1200 bytes. */
  quic_path_watch_reset(c);
  if (c->cfg.ops->path_changed) {
    struct quic_path qp;

    quic_path_from_ngtcp2(&qp, path);
    c->cfg.ops->path_changed(c->cfg.user, &qp,
                             same_ip(&c->path.path.remote, &path->remote) &&
                                 same_ip(&c->path.path.local, &path->local));
  }
  ngtcp2_path_storage_init(&c->path, path->local.addr, path->local.addrlen,
                           path->remote.addr, path->remote.addrlen, NULL);
  return 0;
}

/* Offers one preferred address to the program; 1 if it took it. */
static int offer_preferred(struct quic_conn *c, ngtcp2_path *dest,
                           const ngtcp2_sockaddr *remote, size_t remote_len) {
  socklen_t local_len = sizeof(struct sockaddr_storage);

  if (c->cfg.ops->preferred_addr(
          c->cfg.user, (const struct sockaddr *)remote, (socklen_t)remote_len,
          (struct sockaddr *)dest->local.addr, &local_len) != 0)
    return 0;
  dest->local.addrlen = local_len;
  memcpy(dest->remote.addr, remote, remote_len);
  dest->remote.addrlen = remote_len;
  return 1;
}

int quic_path_select_preferred_cb(ngtcp2_conn *conn, ngtcp2_path *dest,
                                  const ngtcp2_preferred_addr *paddr,
                                  void *ud) {
  struct quic_conn *c = ud;
  int cur = ngtcp2_conn_get_path(conn)->remote.addr->sa_family;
  int v4 = paddr->ipv4_present, v6 = paddr->ipv6_present;

  if (c->cfg.ops->preferred_addr == NULL)
    return 0; /* dest untouched: declined */
  /* The other family first: a move the peer sees as a new address, not
   * only a new port (the runner's rebind-addr style check). */
  if (cur == AF_INET && v6 &&
      offer_preferred(c, dest, (const ngtcp2_sockaddr *)&paddr->ipv6,
                      sizeof(paddr->ipv6)))
    return 0;
  if (v4 && offer_preferred(c, dest, (const ngtcp2_sockaddr *)&paddr->ipv4,
                            sizeof(paddr->ipv4)))
    return 0;
  if (cur != AF_INET && v6)
    (void)offer_preferred(c, dest, (const ngtcp2_sockaddr *)&paddr->ipv6,
                          sizeof(paddr->ipv6)); /* declined: stays put */
  return 0;
}
