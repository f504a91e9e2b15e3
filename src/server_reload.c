/*
 * src/server_reload: SIGHUP re-reads the server's configuration file and
 * applies what can change without a restart (docs/decisions.md D29):
 *
 * - [peer] sections: a removed peer's sessions end (OPERATOR_TERMINATED,
 *   audited) and its connections close; a peer whose inner address changed
 *   is ended the same way, so that it comes back with the new one; added
 *   peers may connect at once; everyone else keeps their session, their
 *   addresses and their connections.
 * - [policy], route, dns, dns_search, cc, retry and log_level: for every
 *   decision, new connection and new attachment from now on;
 *   metrics_per_session from the next scrape.
 *
 * The rest (listen, key, cert, pools, tun, mtu, user, audit_log, tcp,
 * metrics) needs the privileges or the resources of start-up: a change is
 * reported and ignored until the next restart. A file that does not parse
 * changes nothing. Peer structures the sessions of removed peers still
 * point at are kept until nothing refers to them.
 */
#include "src/server_reload.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/server_int.h"

/* A setting that only a restart applies: its name and where it lives. */
struct restart_only {
  const char *name;
  size_t off, len;
};

#define RESTART_ONLY(key, field)                                       \
  {key, offsetof(struct jvpn_server_conf, field),                      \
   sizeof(((struct jvpn_server_conf *)0)->field)}

static const struct restart_only restart_only[] = {
    RESTART_ONLY("listen", listen),       RESTART_ONLY("listen", listen_len),
    RESTART_ONLY("listen", nlisten),      RESTART_ONLY("key", key_file),
    RESTART_ONLY("cert", cert_file),      RESTART_ONLY("pool", pool4),
    RESTART_ONLY("pool", pool6),          RESTART_ONLY("tun", tun_name),
    RESTART_ONLY("mtu", mtu),             RESTART_ONLY("user", user),
    RESTART_ONLY("audit_log", audit_log), RESTART_ONLY("tcp", tcp),
    RESTART_ONLY("quic_lb_server_id", lb),
    RESTART_ONLY("metrics", metrics),     RESTART_ONLY("metrics", metrics_len),
};

/* Puts back into |nc| every restart-only setting that differs from the
 * running |cur|, saying so once per key. */
static void keep_restart_only(struct jvpn_server_conf *nc,
                              const struct jvpn_server_conf *cur) {
  const char *said = NULL;
  size_t i;

  for (i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++) {
    const struct restart_only *r = &restart_only[i];
    uint8_t *to = (uint8_t *)nc + r->off;
    const uint8_t *from = (const uint8_t *)cur + r->off;

    if (memcmp(to, from, r->len) == 0)
      continue;
    memcpy(to, from, r->len);
    if (said == NULL || strcmp(said, r->name) != 0)
      LOG_WARN(NULL, "reload: \"%s\" changed; it takes effect at the next "
                     "restart", r->name);
    said = r->name;
  }
}

/* 1 when |p| lies inside |peers| (n of them). */
static int points_into(const struct jvpn_peer_conf *p,
                       const struct jvpn_peer_conf *peers, size_t n) {
  return p >= peers && p < peers + n;
}

static int peers_in_use(const struct server *srv,
                        const struct retired_peers *r) {
  const struct srv_session *ss;
  const struct sclient *sc;

  for (ss = srv->sess_list; ss; ss = ss->next)
    if (points_into(ss->peer, r->peers, r->n))
      return 1;
  for (sc = srv->clients; sc; sc = sc->next)
    if (sc->peer != NULL && points_into(sc->peer, r->peers, r->n))
      return 1;
  return 0;
}

void srv_retired_peers_sweep(struct server *srv, int all) {
  struct retired_peers **pr = &srv->retired, *r;

  while ((r = *pr) != NULL) {
    if (!all && peers_in_use(srv, r)) {
      pr = &r->next;
      continue;
    }
    *pr = r->next;
    free(r->peers);
    free(r);
  }
}

/* The running peer list makes way for |nc|'s. Returns 0 or
 * JVPN_ERR_NOMEM (then nothing changed). */
static int take_peers(struct server *srv, struct jvpn_server_conf *nc) {
  struct retired_peers *r = calloc(1, sizeof(*r));

  if (r == NULL)
    return JVPN_ERR_NOMEM;
  r->peers = srv->conf.peers;
  r->n = srv->conf.npeers;
  r->next = srv->retired;
  srv->retired = r;
  srv->conf.peers = nc->peers;
  srv->conf.npeers = nc->npeers;
  free(srv->conf.peer_by_pin); /* indexes the retired list: unused now */
  srv->conf.peer_by_pin = nc->peer_by_pin;
  nc->peers = NULL;
  nc->npeers = 0;
  nc->peer_by_pin = NULL;
  return 0;
}

/* What applies at once besides the peers. */
static void take_settings(struct server *srv,
                          const struct jvpn_server_conf *nc) {
  memcpy(srv->conf.routes, nc->routes, sizeof(nc->routes));
  srv->conf.nroutes = nc->nroutes;
  memcpy(srv->conf.dns, nc->dns, sizeof(nc->dns));
  srv->conf.ndns = nc->ndns;
  memcpy(srv->conf.dns_search, nc->dns_search, sizeof(nc->dns_search));
  srv->conf.ndns_search = nc->ndns_search;
  srv->conf.cc = nc->cc;
  srv->conf.retry = nc->retry;
  srv->conf.log_level = nc->log_level;
  srv->conf.metrics_per_session = nc->metrics_per_session;
  srv->conf.policy = nc->policy;
  jvpn_log_set_level(nc->log_level + srv->verbosity);
}

/* An audit record of the reload. */
static void audit_reload(struct server *srv, size_t before, size_t ended) {
  struct jvpn_audit_record r;

  if (srv->audit == NULL)
    return;
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = "config_reload";
  r.policy_version = srv->conf.policy.version;
  snprintf(r.detail, sizeof(r.detail), "peers %zu -> %zu, sessions ended %zu",
           before, srv->conf.npeers, ended);
  (void)jvpn_audit_emit(srv->audit, &r);
}

void srv_reload(struct server *srv) {
  struct jvpn_server_conf nc;
  struct jvpn_config_error err;
  struct addr_pool np;
  size_t before = srv->conf.npeers, ended;

  LOG_INFO(NULL, "reload: reading %s", srv->conf_path);
  if (jvpn_config_load_server(&nc, srv->conf_path, &err) != 0) {
    LOG_ERR(NULL, "reload refused, nothing changed: %s:%u: %s", err.file,
            err.line, err.msg);
    return;
  }
  keep_restart_only(&nc, &srv->conf);
  if (addr_pool_rebuild(&np, &srv->pool, &nc) != 0) {
    LOG_ERR(NULL, "reload refused, nothing changed: inconsistent fixed "
                  "addresses in %s", srv->conf_path);
    jvpn_server_conf_free(&nc);
    return;
  }
  ended = srv_sessions_reload(srv, &nc, &np);
  if (take_peers(srv, &nc) != 0) {
    /* Sessions already ended stay ended; the old peers stay. */
    LOG_ERR(NULL, "reload incomplete: out of memory");
    addr_pool_free(&np);
    jvpn_server_conf_free(&nc);
    return;
  }
  addr_pool_free(&srv->pool);
  srv->pool = np;
  if (srv_pins_rebuild(srv) != 0)
    LOG_ERR(NULL, "reload: out of memory for the per-pin counts: no pin "
                  "connection limit until the next reload");
  take_settings(srv, &nc);
  jvpn_server_conf_free(&nc);
  srv_retired_peers_sweep(srv, 0);
  srv_sessions_sweep(srv); /* the new policy's deadlines, from now on */
  audit_reload(srv, before, ended);
  LOG_INFO(NULL, "reloaded: %zu peers (was %zu), %zu sessions ended, "
                 "policy version %08x", srv->conf.npeers, before, ended,
           (unsigned)srv->conf.policy.version);
}
