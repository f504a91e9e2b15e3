/*
 * src/server_cluster: one node of several sharing their sessions through
 * a shared store (store = redis, docs/decisions.md D44).
 *
 * The store says who serves a session; this file keeps this node's side
 * of that: its lease (renewed every lease_ms / 3; while the store does
 * not answer the node keeps serving what it owns and refuses births and
 * takeovers, audited both ways), takeovers (a reattach for a session this
 * node does not hold takes it from a node whose lease is gone), inner
 * addresses one for the whole cluster (claimed in the store), the fence
 * (a write refused because another node took the session: the session is
 * released here, not ended), and a kernel route per served inner address
 * into the TUN device, which the nodes' routing daemon redistributes
 * (docs/operations.md 11), so packets for a session reach its node.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/server_int.h"
#include "tun/netlink.h"

/* How many pool addresses a birth tries before it gives up (the others
 * being held by pins this node has not seen). */
#define CLUSTER_ADDR_TRIES 64
/* Cut off from the store, the node gives up an attachment whose client
 * has sent nothing for this long (its keep-alives come every second), and
 * looks this often: a client that left for another node is let go
 * within ~1.5 s, before it can have moved (it needs longer to notice a
 * dead path without traffic), so two nodes do not hold its session
 * ATTACHED at once. */
#define CLUSTER_SILENT_MS 1200
#define CLUSTER_FENCE_TICK_MS 200
/* At start the store gets this many tries this far apart (1 s). */
#define FIRST_CONTACT_TRIES 20
#define FIRST_CONTACT_PAUSE_MS 50

static uint64_t now_ms(void) { return glue_now() / 1000000; }

static int cluster_on(const struct server *srv) {
  return srv->store != NULL && srv->store->cluster != NULL;
}

/* --- the lease -------------------------------------------------------------- */

static void on_fence(uv_timer_t *t) {
  struct server *srv = t->data;
  uint64_t now = glue_now();
  struct sclient *sc, *next;

  for (sc = srv->clients; sc; sc = next) {
    uint64_t rx = transport_last_rx(&sc->tp);

    next = sc->next;
    if (sc->sess != NULL && sc->sess->active == sc && rx != 0 &&
        now - rx > (uint64_t)CLUSTER_SILENT_MS * 1000000)
      srv_session_give_up(sc, "client silent while the session store is "
                              "unreachable");
  }
}

static void note_reachable(struct server *srv, int up) {
  struct srv_cluster *c = &srv->cluster;
  char d[256];

  if (up == c->reachable)
    return;
  snprintf(d, sizeof(d), "node %s: store %.80s %s after %" PRIu64 " ms",
           srv->conf.node_id, srv->conf.redis,
           up ? "reachable again" : "unreachable: serving owned sessions, "
                                    "refusing births and takeovers",
           now_ms() - c->change_ms);
  c->reachable = up;
  c->change_ms = now_ms();
  if (up)
    uv_timer_stop(&c->fence);
  else
    uv_timer_start(&c->fence, on_fence, CLUSTER_FENCE_TICK_MS,
                   CLUSTER_FENCE_TICK_MS);
  srv_store_audit(srv, NULL, up ? "store_reachable" : "store_unreachable",
                  NULL, d);
  if (up)
    LOG_INFO(NULL, "%s", d);
  else
    LOG_WARN(NULL, "%s", d);
}

/* Re-writes every session this node serves: after the store was away
 * (a restarted Redis may have lost them), and to learn which ones another
 * node took meanwhile (their writes are fenced). */
static void rewrite_owned(struct server *srv) {
  struct srv_session *ss;

  for (ss = srv->sess_list; ss; ss = ss->next) {
    memset(&ss->stored, 0, sizeof(ss->stored));
    srv_store_sync(srv, ss);
  }
}

static void on_lease(uv_timer_t *t) {
  struct server *srv = t->data;
  int was = srv->cluster.reachable;
  int rv = srv->store->cluster->renew(srv->store->impl, srv->conf.lease_ms);
  int up = rv == 0;

  if (rv == JVPN_ERR_DENIED)
    JVPN_LOG_RL(JVPN_LOG_ERROR, NULL, "node %s: a newer start of this node "
                "holds its lease: two servers with one node_id?",
                srv->conf.node_id);

  note_reachable(srv, up);
  if (up && !was)
    rewrite_owned(srv);
}

int srv_cluster_init(struct server *srv) {
  unsigned i;

  uv_timer_init(srv->loop, &srv->cluster.lease);
  uv_timer_init(srv->loop, &srv->cluster.moved_timer);
  uv_timer_init(srv->loop, &srv->cluster.fence);
  srv->cluster.lease.data = srv->cluster.moved_timer.data = srv;
  srv->cluster.fence.data = srv;
  /* A connect may take more than one call (it never blocks long). */
  for (i = 0; i < FIRST_CONTACT_TRIES; i++) {
    if (srv->store->cluster->renew(srv->store->impl, srv->conf.lease_ms) ==
        0) {
      srv->cluster.reachable = 1;
      break;
    }
    uv_sleep(FIRST_CONTACT_PAUSE_MS);
  }
  srv->cluster.change_ms = now_ms();
  if (!srv->cluster.reachable) {
    srv_store_audit(srv, NULL, "store_unreachable", NULL, "at start");
    uv_timer_start(&srv->cluster.fence, on_fence, CLUSTER_FENCE_TICK_MS,
                   CLUSTER_FENCE_TICK_MS);
  }
  return srv->cluster.reachable;
}

/* --- routes ----------------------------------------------------------------- */

static void route_one(struct server *srv, int family, const uint8_t *addr,
                      int on) {
  int rv = tun_nl_host_route(srv->tun.ifindex, family, addr, on);

  if (rv != 0 && on) {
    srv->cluster.route_errors++;
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "cannot add the route of a session's "
                "inner address: %s", jvpn_strerror(rv));
  }
}

void srv_cluster_route(struct server *srv, struct srv_session *ss, int on) {
  if (!cluster_on(srv) || srv->tun.ifindex <= 0 || ss->addrs == NULL)
    return;
  if (ss->addrs->has4)
    route_one(srv, AF_INET, ss->addrs->addr4, on);
  if (ss->addrs->has6)
    route_one(srv, AF_INET6, ss->addrs->addr6, on);
}

/* --- sessions another node took -------------------------------------------- */

static void on_moved(uv_timer_t *t) {
  struct server *srv = t->data;
  struct srv_session *ss, *next;
  unsigned n = 0;

  for (ss = srv->sess_list; ss; ss = next) {
    next = ss->next;
    if (!ss->moved)
      continue;
    srv_store_audit(srv, ss->id, "session_moved", NULL,
                    "another node serves this session now: released here");
    LOG_INFO(NULL, "session %s moved to another node: released", ss->idstr);
    srv_session_release(srv, ss);
    n++;
  }
  srv->cluster.moved += n;
}

void srv_cluster_fenced(struct server *srv, struct srv_session *ss) {
  ss->moved = 1;
  uv_timer_start(&srv->cluster.moved_timer, on_moved, 0, 0);
}

int srv_cluster_cut_off(const struct server *srv) {
  return cluster_on(srv) && !srv->cluster.reachable;
}

/* --- births ------------------------------------------------------------------ */

int srv_cluster_birth_ok(struct server *srv) {
  if (!cluster_on(srv) || srv->cluster.reachable)
    return 1;
  srv->cluster.births_refused++;
  return 0;
}

/* |peer|'s address in |family| as the store has it: the pool's candidate
 * unless the store holds another one for this pin, or the candidate is
 * another pin's (then the next candidate). Returns 0, JVPN_ERR_FULL or
 * JVPN_ERR_AGAIN. */
static int settle_family(struct server *srv, const struct jvpn_peer_conf *peer,
                         int family) {
  const struct jvpn_store_cluster_ops *cl = srv->store->cluster;
  size_t len = family == AF_INET ? 4 : 16;
  uint8_t want[16], got[16];
  unsigned tries;
  int rv;

  for (tries = 0; tries < CLUSTER_ADDR_TRIES; tries++) {
    const struct addr_pool_entry *e = addr_pool_assign(&srv->pool, peer);

    if (e == NULL)
      return JVPN_ERR_FULL;
    memcpy(want, family == AF_INET ? e->addr4 : e->addr6, len);
    rv = cl->claim_addr(srv->store->impl, peer->pin, family, want, got);
    if (rv == 0)
      return addr_pool_set(&srv->pool, peer->pin, family, got) == 0
                 ? 0
                 : JVPN_ERR_FULL;
    if (rv != JVPN_ERR_EXISTS)
      return JVPN_ERR_AGAIN;
    if ((family == AF_INET ? peer->addr4.family : peer->addr6.family) != 0)
      return JVPN_ERR_FULL; /* a fixed address another pin holds */
    (void)addr_pool_set(&srv->pool, peer->pin, family, NULL);
  }
  return JVPN_ERR_FULL;
}

const struct addr_pool_entry *
srv_cluster_assign(struct server *srv, const struct jvpn_peer_conf *peer) {
  if (!cluster_on(srv))
    return addr_pool_assign(&srv->pool, peer);
  if ((srv->pool.pool4.family != 0 && settle_family(srv, peer, AF_INET) != 0) ||
      (srv->pool.pool6.family != 0 && settle_family(srv, peer, AF_INET6) != 0))
    return NULL;
  return addr_pool_find(&srv->pool, peer->pin);
}

/* A taken session's addresses, from its record: the store's for its pin,
 * which this node's pool takes over from whatever it held. */
const struct addr_pool_entry *
srv_cluster_adopt_addrs(struct server *srv, const uint8_t *pin,
                        const struct jvpn_store_record *r) {
  if ((r->has4 && addr_pool_set(&srv->pool, pin, AF_INET, r->addr4) != 0) ||
      (r->has6 && addr_pool_set(&srv->pool, pin, AF_INET6, r->addr6) != 0))
    return NULL;
  return addr_pool_find(&srv->pool, pin);
}

/* --- takeovers --------------------------------------------------------------- */

/* The store's record |r| of a session this node holds as |local| (may be
 * NULL): 0 when |local| is current (this node served it all along), else
 * |local| goes and |r| comes back in its place (another node served the
 * session since). */
static int adopt_record(struct server *srv, struct srv_session *local,
                        const struct jvpn_store_record *r) {
  const struct jvpn_session *s =
      local ? jvpn_session_table_find(srv->sessions, local->id) : NULL;
  char d[160];
  int rv;

  if (s != NULL && s->state_version >= r->state_version)
    return 0;
  if (local != NULL)
    srv_session_release(srv, local);
  rv = srv_store_restore(srv, r, "taken over from another node");
  if (rv != 0)
    return rv;
  srv->cluster.takeovers++;
  snprintf(d, sizeof(d), "node %s took the session over (its owner's lease "
           "was gone, or its client had left it)", srv->conf.node_id);
  srv_store_audit(srv, r->id, "session_taken_over", NULL, d);
  return 0;
}

int srv_cluster_take(struct server *srv, struct srv_session *local,
                     const uint8_t *id, uint64_t *held_ms) {
  struct jvpn_store_record r;
  int rv;

  *held_ms = 0;
  if (!cluster_on(srv))
    return JVPN_ERR_NOTFOUND;
  rv = srv->cluster.reachable
           ? srv->store->cluster->take(srv->store->impl, id, &r, held_ms)
           : JVPN_ERR_AGAIN;
  if (rv == 0)
    rv = adopt_record(srv, local, &r);
  jvpn_wipe(&r, sizeof(r));
  if (rv == JVPN_ERR_EXISTS || (rv == JVPN_ERR_AGAIN && local == NULL))
    srv->cluster.take_refused++;
  if (rv == JVPN_ERR_EXISTS && local != NULL)
    srv_session_release(srv, local); /* served elsewhere now */
  if (rv == JVPN_ERR_AGAIN && local != NULL)
    return 0; /* cut off: it keeps serving what it holds */
  if (rv == JVPN_ERR_MALFORMED)
    return JVPN_ERR_NOTFOUND;
  return rv;
}

/* --- set-up and status ------------------------------------------------------- */

void srv_cluster_start(struct server *srv) {
  struct srv_session *ss;

  if (!cluster_on(srv))
    return;
  for (ss = srv->sess_list; ss; ss = ss->next)
    if (ss->routed)
      srv_cluster_route(srv, ss, 1);
  uv_timer_start(&srv->cluster.lease, on_lease, srv->conf.lease_ms / 3,
                 srv->conf.lease_ms / 3);
}

void srv_cluster_status(struct server *srv, struct glue_buf *b, int json) {
  const struct srv_cluster *c = &srv->cluster;

  if (!cluster_on(srv))
    return;
  glue_buf_printf(
      b,
      json ? ",\"cluster\":{\"node\":\"%s\",\"store\":\"%s\",\"reachable\":%s,"
             "\"since_ms\":%" PRIu64 ",\"lease_ms\":%u,\"takeovers\":%" PRIu64
             ",\"takeovers_refused\":%" PRIu64 ",\"moved\":%" PRIu64
             ",\"births_refused\":%" PRIu64 ",\"route_errors\":%" PRIu64 "}"
           : "  node=%s store=%s reachable=%s since_ms=%" PRIu64
             " lease_ms=%u takeovers=%" PRIu64 " takeovers_refused=%" PRIu64
             " moved=%" PRIu64 " births_refused=%" PRIu64
             " route_errors=%" PRIu64 "\n",
      srv->conf.node_id, srv->conf.redis, c->reachable ? "true" : "false",
      now_ms() - c->change_ms, srv->conf.lease_ms, c->takeovers,
      c->take_refused, c->moved, c->births_refused, c->route_errors);
}
