/*
 * src/server_session: the server's session layer on the loop.
 *
 * Joins the sans-I/O core (src/session.c, src/session_table.c) to the
 * connections of src/server.c: a birth CONNECT makes a session, a
 * "jvpn-attach" CONNECT passes the table's gate and moves the session to
 * the new connection, a dead connection leaves the session RECOVERING
 * until the transport-loss TTL, and the table's timers terminate it and
 * release its addresses. Every record the core writes goes to the audit
 * log.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/tls_identity.h"
#include "src/server_int.h"
#include "src/session_wire.h"

#define SRV_MAX_SESSIONS (2 * JVPN_MAX_PEERS)

static uint64_t now_ms(void) { return glue_now() / 1000000; }

/* The peer's current address, for audit records and logs. */
static const struct sockaddr *remote_of(struct sclient *sc,
                                        struct quic_path *path) {
  transport_get_path(&sc->tp, path);
  return path->remote;
}

/* --- audit --------------------------------------------------------------- */

static struct srv_session *sess_find(struct server *srv, const uint8_t *id);

/* A switch record: the session's last switch, for status. */
static void note_switch(struct server *srv,
                        const struct jvpn_audit_record *r) {
  struct srv_session *ss;

  if (r->kind != JVPN_AUDIT_SWITCH || !r->has_session || r->reason == NULL)
    return;
  ss = sess_find(srv, r->session);
  if (ss == NULL)
    return;
  ss->last_switch = r->reason;
  ss->last_switch_ms = now_ms();
}

static void emit(struct server *srv, struct jvpn_session_out *out) {
  size_t i;

  for (i = 0; i < out->nrecords; i++) {
    note_switch(srv, &out->records[i]);
    srv_metrics_record(srv, &out->records[i]);
    if (srv->audit)
      (void)jvpn_audit_emit(srv->audit, &out->records[i]);
    if (out->records[i].kind == JVPN_AUDIT_TRANSITION)
      LOG_INFO(NULL, "session %02x%02x%02x%02x: %s -> %s (%s) v%" PRIu64,
               out->records[i].session[0], out->records[i].session[1],
               out->records[i].session[2], out->records[i].session[3],
               out->records[i].from ? out->records[i].from : "?",
               out->records[i].to ? out->records[i].to : "?",
               out->records[i].reason ? out->records[i].reason : "",
               out->records[i].state_version);
  }
}

/* A security record (|reason|) for a request the core never saw. */
static void emit_refused(struct server *srv, struct sclient *sc,
                         enum jvpn_reason reason, const char *why) {
  struct jvpn_audit_record r;
  struct quic_path path;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_SECURITY;
  r.mono_ms = now_ms();
  r.event = "attach_refused";
  r.reason = jvpn_reason_name(reason);
  glue_sockaddr_str(remote_of(sc, &path), r.peer,
                    sizeof(r.peer));
  snprintf(r.detail, sizeof(r.detail), "%s", why);
  if (srv->audit)
    (void)jvpn_audit_emit(srv->audit, &r);
}

/* ... for input that did not parse. */
static void emit_security(struct server *srv, struct sclient *sc,
                          const char *why) {
  emit_refused(srv, sc, JVPN_R_MALFORMED_REQUEST, why);
}

/* ... for a request over a limit. */
static void emit_refusal(struct server *srv, struct sclient *sc,
                         const char *why) {
  emit_refused(srv, sc, JVPN_R_RATE_LIMITED, why);
}

/* |ss|'s data now goes through |sc|: an INFO record when that changed the
 * transport (TCP_FALLBACK or QUIC_RETURN), after the reattach's own. */
static void note_transport(struct server *srv, struct srv_session *ss,
                           struct sclient *sc) {
  enum transport_kind now = transport_kind(&sc->tp);
  struct jvpn_audit_record r;
  struct quic_path path;

  if (ss->kind == now || ss->kind == TRANSPORT_NONE) {
    ss->kind = now;
    return;
  }
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = now_ms();
  memcpy(r.session, ss->id, sizeof(r.session));
  r.has_session = 1;
  r.event = "transport_switch";
  r.reason = jvpn_reason_name(now == TRANSPORT_TCP ? JVPN_R_TCP_FALLBACK
                                                   : JVPN_R_QUIC_RETURN);
  r.to_attachment = sc->att;
  glue_sockaddr_str(remote_of(sc, &path), r.peer, sizeof(r.peer));
  snprintf(r.detail, sizeof(r.detail), "%s -> %s",
           transport_kind_name(ss->kind), transport_kind_name(now));
  srv_metrics_record(srv, &r);
  if (srv->audit)
    (void)jvpn_audit_emit(srv->audit, &r);
  LOG_INFO(sc->ctx, "session %s: transport %s", ss->idstr, r.detail);
  ss->kind = now;
  ss->last_switch = r.reason;
  ss->last_switch_ms = r.mono_ms;
}

/* Closes |sc|'s connection (the session's actions ended it); its timer,
 * which src/server.c armed, deletes it on the next loop turn. */
static void sclient_close_later(struct sclient *sc, const char *why) {
  if (sc->dead)
    return;
  transport_close(&sc->tp, QUIC_END_LOCAL_CLOSE, why, glue_now());
  uv_timer_start(&sc->timer, sc->timer.timer_cb, 0, 0); /* deletes it */
}

/* --- bookkeeping --------------------------------------------------------- */

static void sess_route(struct server *srv, struct srv_session *ss) {
  if (ss->routed || ss->addrs == NULL)
    return;
  if (ss->addrs->has4)
    (void)peer_table_put(&srv->by_addr, AF_INET, ss->addrs->addr4, ss);
  if (ss->addrs->has6)
    (void)peer_table_put(&srv->by_addr, AF_INET6, ss->addrs->addr6, ss);
  ss->routed = 1;
  srv_cluster_route(srv, ss, 1);
}

static void sess_unroute(struct server *srv, struct srv_session *ss) {
  if (!ss->routed)
    return;
  if (ss->addrs->has4)
    peer_table_del(&srv->by_addr, AF_INET, ss->addrs->addr4, ss);
  if (ss->addrs->has6)
    peer_table_del(&srv->by_addr, AF_INET6, ss->addrs->addr6, ss);
  ss->routed = 0;
  srv_cluster_route(srv, ss, 0);
}

static struct srv_session *sess_find(struct server *srv, const uint8_t *id) {
  return peer_table_get(&srv->by_session, AF_INET6, id);
}

static struct srv_session *sess_new(struct server *srv, const uint8_t *id,
                                    const struct jvpn_peer_conf *peer) {
  struct srv_session *ss = calloc(1, sizeof(*ss));

  if (ss == NULL)
    return NULL;
  memcpy(ss->id, id, JVPN_SESSION_ID_LEN);
  (void)jvpn_wire_format_session_id(ss->idstr, sizeof(ss->idstr), id);
  ss->peer = peer;
  if (peer_table_put(&srv->by_session, AF_INET6, id, ss) != 0) {
    free(ss);
    return NULL;
  }
  ss->next = srv->sess_list;
  if (srv->sess_list)
    srv->sess_list->prev = ss;
  srv->sess_list = ss;
  return ss;
}

/* |sc| goes from its session's connections (sc->sess: NULL after). */
static void sess_remove_conn(struct sclient *sc) {
  struct srv_session *ss = sc->sess;

  if (ss == NULL)
    return;
  if (sc->sess_prev)
    sc->sess_prev->sess_next = sc->sess_next;
  else
    ss->conns = sc->sess_next;
  if (sc->sess_next)
    sc->sess_next->sess_prev = sc->sess_prev;
  sc->sess_prev = sc->sess_next = NULL;
  sc->sess = NULL;
}

/* |sc| is attached to |ss| (active or standby) from now on. */
static void sess_add_conn(struct srv_session *ss, struct sclient *sc) {
  sess_remove_conn(sc);
  sc->sess = ss;
  sc->sess_next = ss->conns;
  if (ss->conns)
    ss->conns->sess_prev = sc;
  ss->conns = sc;
}

static void sess_free(struct server *srv, struct srv_session *ss) {
  struct srv_pin *pin = srv_pin_of(srv, ss->peer);

  if (pin != NULL && pin->sess == ss)
    pin->sess = NULL;
  srv_store_forget(srv, ss);
  srv_metrics_session_gone(srv, ss);
  sess_unroute(srv, ss);
  /* Standbys point at it too, not only the active connection. */
  while (ss->conns)
    sess_remove_conn(ss->conns);
  ss->active = NULL;
  peer_table_del(&srv->by_session, AF_INET6, ss->id, ss);
  if (ss->prev)
    ss->prev->next = ss->next;
  else
    srv->sess_list = ss->next;
  if (ss->next)
    ss->next->prev = ss->prev;
  free(ss);
}

/* Detaches |sc| from its session without telling the core. */
static void detach(struct sclient *sc) {
  const struct quic_conn_stats *st = transport_get_stats(&sc->tp);

  if (sc->sess == NULL)
    return;
  sc->sess->rx_bytes += st->rx_bytes; /* its share of the session's */
  sc->sess->tx_bytes += st->tx_bytes;
  if (sc->sess->active == sc)
    sc->sess->active = NULL;
  sess_remove_conn(sc);
}

/* The connections of |ss| with attachment ID *|att| (every one when
 * |att| is NULL) go, with |why|. */
static void close_conns(struct srv_session *ss, const uint64_t *att,
                        const char *why) {
  struct sclient *sc, *next;

  for (sc = ss->conns; sc; sc = next) {
    next = sc->sess_next;
    if ((att == NULL || sc->att == *att) && !sc->dead) {
      detach(sc);
      sclient_close_later(sc, why);
    }
  }
}

/* Carries out what the core decided for |ss|. */
static void apply(struct server *srv, struct srv_session *ss,
                  const struct jvpn_session_out *out) {
  size_t i;

  for (i = 0; i < out->nactions; i++) {
    const struct jvpn_session_action *a = &out->actions[i];

    switch (a->type) {
    case JVPN_ACT_CLOSE_ATTACHMENT:
      close_conns(ss, &a->attachment, jvpn_reason_name(a->reason));
      break;
    case JVPN_ACT_TERMINATE:
      ss->terminated = 1;
      close_conns(ss, NULL, jvpn_reason_name(a->reason));
      break;
    case JVPN_ACT_RELEASE_ADDRESSES:
      /* The pool keeps a client's addresses for its pin (stickiness), so
       * "release" means no session routes them any more. */
      sess_unroute(srv, ss);
      break;
    case JVPN_ACT_ACTIVATE:
    case JVPN_ACT_START_RECOVERY:
      break; /* the caller installs the connection; clients recover */
    }
  }
}

static void sweep_at(struct server *srv, uint64_t d) {
  uint64_t now = now_ms();

  srv->sweep_at = d;
  uv_timer_start(&srv->sess_timer, srv->sess_timer.timer_cb,
                 d > now ? d - now : 0, 0);
}

/* The sweep at the earliest deadline of the whole table (a scan of it:
 * after a sweep, and where sessions went). */
static void arm_sweep(struct server *srv) {
  uint64_t d = jvpn_session_table_next_deadline(srv->sessions,
                                                &srv->conf.policy);

  if (d == JVPN_NO_DEADLINE)
    uv_timer_stop(&srv->sess_timer);
  else
    sweep_at(srv, d);
}

/* The sweep no later than the next deadline of |ss|, the session an
 * event just changed (no scan: at 10,000 sessions a scan per event was
 * a tenth of a reattach storm's CPU). A deadline that moved later leaves
 * the timer early: that sweep finds nothing due and arms for the
 * earliest (arm_sweep). */
static void arm_sweep_for(struct server *srv, const struct srv_session *ss) {
  const struct jvpn_session *s =
      jvpn_session_table_find(srv->sessions, ss->id);
  uint64_t d;

  if (s == NULL)
    return;
  d = s->state == JVPN_SS_TERMINATED
          ? 0
          : jvpn_session_next_deadline(s, &srv->conf.policy);
  if (d == JVPN_NO_DEADLINE ||
      (uv_is_active((uv_handle_t *)&srv->sess_timer) && srv->sweep_at <= d))
    return;
  sweep_at(srv, d);
}

/* Feeds one event to |ss|'s core session and carries out the result. */
static int sess_event(struct server *srv, struct srv_session *ss,
                      const struct jvpn_session_event *ev) {
  struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);
  struct jvpn_session_out out;
  int rv;

  if (s == NULL)
    return JVPN_ERR_NOTFOUND;
  jvpn_session_out_reset(&out);
  rv = jvpn_session_handle(s, ev, &srv->conf.policy, now_ms(), &out);
  emit(srv, &out);
  apply(srv, ss, &out);
  srv_store_sync(srv, ss);
  arm_sweep_for(srv, ss);
  return rv;
}

int srv_session_event(struct server *srv, struct srv_session *ss,
                      const struct jvpn_session_event *ev) {
  return sess_event(srv, ss, ev);
}

void srv_session_emit(struct server *srv, struct jvpn_session_out *out) {
  emit(srv, out);
}

struct srv_session *srv_session_adopt(struct server *srv, const uint8_t *id,
                                      const struct jvpn_peer_conf *peer,
                                      const struct addr_pool_entry *addrs) {
  struct srv_session *ss = sess_new(srv, id, peer);
  struct srv_pin *pin;

  if (ss == NULL)
    return NULL;
  ss->addrs = addrs;
  sess_route(srv, ss);
  pin = srv_pin_of(srv, peer);
  if (pin != NULL && (pin->sess == NULL || pin->sess->terminated))
    pin->sess = ss;
  return ss;
}

static void on_sweep(void *arg, const struct jvpn_session *s,
                     const struct jvpn_session_out *out, int released) {
  struct server *srv = arg;
  struct srv_session *ss = sess_find(srv, s->id);
  struct jvpn_session_out copy = *out;

  emit(srv, &copy);
  if (ss == NULL)
    return;
  apply(srv, ss, out);
  srv_store_sync(srv, ss);
  if (released) {
    LOG_INFO(NULL, "session %s of %s ended (%s); addresses released",
             ss->idstr, ss->peer->name, jvpn_session_state_name(s->state));
    sess_free(srv, ss);
  }
}

void srv_sessions_sweep(struct server *srv) {
  (void)jvpn_session_table_sweep(srv->sessions, &srv->conf.policy, now_ms(),
                                 on_sweep, srv);
  arm_sweep(srv);
}

static void on_sess_timer(uv_timer_t *t) { srv_sessions_sweep(t->data); }

void srv_session_release(struct server *srv, struct srv_session *ss) {
  close_conns(ss, NULL, "session moved to another node");
  (void)jvpn_session_table_delete(srv->sessions, ss->id);
  sess_free(srv, ss);
  arm_sweep(srv);
}

/* --- births and reattaches ----------------------------------------------- */

/* A new session of the same client replaces its old ones: their
 * addresses are the same (sticky per pin), so only one may route them. */
static void supersede(struct server *srv, struct srv_session *keep) {
  struct srv_pin *pin = srv_pin_of(srv, keep->peer);
  struct srv_session *o = pin ? pin->sess : NULL;
  struct jvpn_session_event ev;

  if (pin != NULL)
    pin->sess = keep;
  if (o != NULL && o != keep && !o->terminated) {
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_TERMINATE;
    ev.reason = JVPN_R_POLICY_TERMINATION;
    ev.detail = "superseded by a new session of the same client";
    LOG_INFO(NULL, "session %s superseded by %s", o->idstr, keep->idstr);
    (void)sess_event(srv, o, &ev);
    sess_unroute(srv, o);
  }
}

static void respond_accept(struct srv_session *ss, const struct jvpn_session *s,
                           struct quic_tunnel_resp *resp) {
  resp->status = 0;
  snprintf(resp->session, sizeof(resp->session), "%s", ss->idstr);
  (void)jvpn_wire_format_version(resp->version, sizeof(resp->version),
                                 s->attach_version);
}

/* The HTTP status that tells the client what to do next: 404/409 start a
 * new session, 429 retry later (rate or switch policy), 403 is an
 * authentication failure. */
static int refusal_status(enum jvpn_reason why) {
  switch (why) {
  case JVPN_R_UNKNOWN_SESSION:
  case JVPN_R_SESSION_TERMINATED:
  case JVPN_R_TTL_EXPIRED:
    return 404;
  case JVPN_R_STALE_VERSION:
    return 409;
  case JVPN_R_RATE_LIMITED:
  case JVPN_R_POLICY_FLAP_LIMIT:
  case JVPN_R_POLICY_DENY:
    /* The session is fine (perhaps DEGRADED): try again later. */
    return 429;
  default:
    return 403;
  }
}

/* The birth gate: the client's pin bucket, then the table's births.
 * Returns 0 or answers 429 (counted, audited). */
static int birth_admitted(struct sclient *sc, struct quic_tunnel_resp *resp) {
  struct server *srv = sc->srv;
  struct jvpn_session_out out;
  struct quic_path path;
  char peer[64];

  glue_sockaddr_str(remote_of(sc, &path), peer, sizeof(peer));
  jvpn_session_out_reset(&out);
  if (jvpn_session_table_admit_birth(srv->sessions, transport_peer_pin(&sc->tp),
                                     now_ms(), &srv->conf.policy, peer,
                                     &out) == 0)
    return 0;
  emit(srv, &out);
  srv_metrics_refused(srv, JVPN_R_RATE_LIMITED);
  JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "new session refused: %s",
              out.nrecords > 0 ? out.records[0].detail : "rate limited");
  resp->status = refusal_status(JVPN_R_RATE_LIMITED);
  return -1;
}

static void birth(struct sclient *sc, struct quic_tunnel_resp *resp) {
  struct server *srv = sc->srv;
  uint8_t id[JVPN_SESSION_ID_LEN], secret[JVPN_SECRET_LEN];
  struct jvpn_session_out out;
  struct jvpn_session_event ev;
  struct jvpn_session *s;
  struct srv_session *ss;
  struct quic_path path;
  char peer[64];

  if (birth_admitted(sc, resp) != 0)
    return;
  resp->status = 503;
  if (!srv_cluster_birth_ok(srv)) {
    JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "new session refused: the session "
                "store is unreachable");
    return;
  }
  if (tls_identity_random(id, sizeof(id)) != 0 ||
      transport_export(&sc->tp, JVPN_EXPORTER_SESSION_LABEL, id, sizeof(id),
                       secret, sizeof(secret)) != 0) {
    LOG_ERR(sc->ctx, "cannot derive a session secret");
    return;
  }
  jvpn_session_out_reset(&out);
  if (jvpn_session_table_create(srv->sessions, id, secret, transport_peer_pin(&sc->tp),
                                &srv->conf.policy, now_ms(), &out, &s) != 0) {
    jvpn_wipe(secret, sizeof(secret));
    LOG_WARN(sc->ctx, "session table full: tunnel refused");
    return;
  }
  jvpn_wipe(secret, sizeof(secret));
  emit(srv, &out);
  ss = sess_new(srv, id, sc->peer);
  if (ss == NULL) {
    (void)jvpn_session_table_delete(srv->sessions, id);
    return;
  }
  ss->addrs = srv_cluster_assign(srv, sc->peer);
  if (ss->addrs == NULL) {
    LOG_WARN(sc->ctx, "address pool exhausted: tunnel refused");
    (void)jvpn_session_table_delete(srv->sessions, id);
    sess_free(srv, ss);
    return;
  }
  supersede(srv, ss);
  sess_add_conn(ss, sc);
  sc->att = s->last_attachment_id + 1;
  ss->active = sc;
  ss->kind = transport_kind(&sc->tp);
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_ATTACH_CONFIRMED;
  ev.attachment = sc->att;
  ev.detail = "birth";
  ev.peer = glue_sockaddr_str(remote_of(sc, &path), peer, sizeof(peer));
  (void)sess_event(srv, ss, &ev);
  sess_route(srv, ss);
  respond_accept(ss, s, resp);
  LOG_INFO(sc->ctx, "session %s born", ss->idstr);
}

/* A reattach in a cluster: the store says which node serves the session
 * (src/server_cluster.c). Returns 0 to go on (served here, or unknown:
 * the gate answers 404), else -1 with 503 in |resp|: a live node serves
 * it, or the store does not answer for a session this node lacks; the
 * client tries again (src/client_session.c holds off, then races the
 * nodes). */
static int take_over(struct sclient *sc, const uint8_t *id,
                     struct quic_tunnel_resp *resp) {
  struct server *srv = sc->srv;
  uint64_t held_ms = 0;
  int rv = srv_cluster_take(srv, sess_find(srv, id), id, &held_ms);

  if (rv == 0 || rv == JVPN_ERR_NOTFOUND)
    return 0;
  resp->status = 503;
  emit_refused(srv, sc, JVPN_R_POLICY_DENY,
               rv == JVPN_ERR_EXISTS ? "takeover: another node's lease holds "
                                       "the session"
                                     : "takeover: the session store is "
                                       "unreachable");
  srv_metrics_refused(srv, JVPN_R_POLICY_DENY);
  LOG_INFO(sc->ctx, "reattach to a session of another node refused (%s%" PRIu64
           " ms of its lease left)", rv == JVPN_ERR_EXISTS ? "" : "store "
           "unreachable; ", held_ms);
  return -1;
}

static void reattach(struct sclient *sc, const struct quic_tunnel_req *req,
                     struct quic_tunnel_resp *resp) {
  struct server *srv = sc->srv;
  struct jvpn_wire_attach w;
  struct jvpn_attach_req ar;
  struct jvpn_session_out out;
  struct jvpn_session *s;
  struct srv_session *ss;
  struct quic_path path;
  char peer[64];
  int rv;

  resp->status = 400;
  memset(&ar, 0, sizeof(ar));
  if (jvpn_wire_parse_attach(req->attach, req->attach_len, &w) != 0 ||
      req->version == NULL ||
      jvpn_wire_parse_version(req->version, req->version_len, &ar.version) !=
          0) {
    LOG_WARN(sc->ctx, "malformed jvpn-attach request refused");
    emit_security(srv, sc, "malformed jvpn-attach or jvpn-version header");
    srv_metrics_refused(srv, JVPN_R_MALFORMED_REQUEST);
    return;
  }
  if (w.role == JVPN_ROLE_ACTIVATE) {
    /* Activation is a capsule on a standby's stream, never a request:
     * refused before the gate, so no nonce is spent. */
    emit_security(srv, sc, "activate role on a CONNECT-IP request");
    srv_metrics_refused(srv, JVPN_R_MALFORMED_REQUEST);
    return;
  }
  glue_sockaddr_str(remote_of(sc, &path), peer,
                    sizeof(peer));
  memcpy(ar.session_id, w.session_id, sizeof(ar.session_id));
  ar.nonce = w.nonce;
  ar.role = w.role;
  memcpy(ar.proof, w.proof, sizeof(ar.proof));
  memcpy(ar.peer_pin, transport_peer_pin(&sc->tp), sizeof(ar.peer_pin));
  ar.handshake_ms = sc->created_ms;
  ar.peer = peer;
  if (transport_export(&sc->tp, JVPN_EXPORTER_BIND_LABEL, NULL, 0, ar.bind,
                       sizeof(ar.bind)) != 0) {
    resp->status = 500;
    return;
  }
  if (take_over(sc, w.session_id, resp) != 0)
    return;
  s = jvpn_session_table_find(srv->sessions, w.session_id);
  ar.attachment = s ? s->last_attachment_id + 1 : 1;
  jvpn_session_out_reset(&out);
  rv = jvpn_session_table_attach(srv->sessions, &ar, now_ms(),
                                 &srv->conf.policy, &out);
  emit(srv, &out);
  ss = sess_find(srv, w.session_id);
  if (rv != 0) {
    srv_metrics_refused(srv, out.verdict);
    resp->status = refusal_status(out.verdict);
    LOG_WARN(sc->ctx, "reattach refused: %s (HTTP %d)",
             jvpn_reason_name(out.verdict), resp->status);
    if (ss) {
      apply(srv, ss, &out);
      srv_store_sync(srv, ss);
      arm_sweep_for(srv, ss);
    }
    return;
  }
  if (ss == NULL) {
    resp->status = 500;
    return;
  }
  /* The core closed the old attachment through |out|; install this one
   * before applying so the close finds the old connection only. */
  sess_add_conn(ss, sc);
  sc->att = ar.attachment;
  apply(srv, ss, &out);
  srv_store_sync(srv, ss);
  if (w.role == JVPN_ROLE_STANDBY) {
    /* Warm and silent: the session's data stays where it is. */
    respond_accept(ss, s, resp);
    arm_sweep_for(srv, ss);
    LOG_INFO(sc->ctx, "session %s: standby attachment %" PRIu64, ss->idstr,
             sc->att);
    return;
  }
  ss->active = sc;
  note_transport(srv, ss, sc);
  sess_route(srv, ss);
  respond_accept(ss, s, resp);
  arm_sweep_for(srv, ss);
  LOG_INFO(sc->ctx, "session %s reattached (attachment %" PRIu64 ")",
           ss->idstr, sc->att);
}

static int send_activate_result(struct sclient *sc, int status,
                                uint64_t version) {
  struct jvpn_wire_activate_result r;
  uint8_t val[JVPN_WIRE_ACTIVATE_RESULT_MAX];
  long n;

  r.status = (uint64_t)status;
  r.version = version;
  n = jvpn_wire_encode_activate_result(val, sizeof(val), &r);
  if (n < 0)
    return (int)n;
  return transport_send_capsule(&sc->tp, JVPN_CAPSULE_ACTIVATE_RESULT, val,
                                (size_t)n);
}

int srv_activate(struct sclient *sc, const uint8_t *value, size_t len) {
  struct server *srv = sc->srv;
  struct jvpn_wire_activate w;
  struct jvpn_attach_req ar;
  struct jvpn_session_out out;
  struct jvpn_session *s;
  struct srv_session *ss = sc->sess;
  struct quic_path path;
  char peer[64];
  int rv, status;

  if (jvpn_wire_decode_activate(value, len, &w) != 0) {
    LOG_WARN(sc->ctx, "malformed ACTIVATE capsule");
    emit_security(srv, sc, "malformed ACTIVATE capsule");
    srv_metrics_refused(srv, JVPN_R_MALFORMED_REQUEST);
    return JVPN_ERR_MALFORMED;
  }
  s = ss ? jvpn_session_table_find(srv->sessions, ss->id) : NULL;
  if (s == NULL || ss->active == sc) {
    /* Not a standby of a live session: nothing the gate could weigh. */
    srv_metrics_refused(srv, s == NULL ? JVPN_R_UNKNOWN_SESSION
                                       : JVPN_R_POLICY_DENY);
    return send_activate_result(sc, s == NULL ? 404 : 409,
                                s ? s->attach_version : 0);
  }
  glue_sockaddr_str(remote_of(sc, &path), peer,
                    sizeof(peer));
  memset(&ar, 0, sizeof(ar));
  memcpy(ar.session_id, ss->id, sizeof(ar.session_id));
  ar.nonce = w.nonce;
  ar.role = JVPN_ROLE_ACTIVATE;
  memcpy(ar.proof, w.proof, sizeof(ar.proof));
  memcpy(ar.peer_pin, transport_peer_pin(&sc->tp), sizeof(ar.peer_pin));
  ar.attachment = sc->att;
  ar.version = w.version;
  ar.failover = (w.flags & JVPN_WIRE_ACTIVATE_FAILOVER) != 0;
  /* The proof is fresh now, whatever the connection's age: a standby
   * may wait long before it is needed. */
  ar.handshake_ms = 0;
  ar.peer = peer;
  if (transport_export(&sc->tp, JVPN_EXPORTER_BIND_LABEL, NULL, 0, ar.bind,
                       sizeof(ar.bind)) != 0)
    return send_activate_result(sc, 500, s->attach_version);
  jvpn_session_out_reset(&out);
  rv = jvpn_session_table_attach(srv->sessions, &ar, now_ms(),
                                 &srv->conf.policy, &out);
  emit(srv, &out);
  if (rv != 0) {
    srv_metrics_refused(srv, out.verdict);
    status = rv == JVPN_ERR_DENIED ? refusal_status(out.verdict) : 500;
    LOG_WARN(sc->ctx, "activate refused: %s (%d)",
             jvpn_reason_name(out.verdict), status);
    apply(srv, ss, &out);
    srv_store_sync(srv, ss);
    arm_sweep_for(srv, ss);
    /* The session may have been swept by now: name no version then. */
    s = jvpn_session_table_find(srv->sessions, ss->id);
    return send_activate_result(sc, status, s ? s->attach_version : 0);
  }
  apply(srv, ss, &out);
  srv_store_sync(srv, ss);
  ss->active = sc;
  note_transport(srv, ss, sc);
  sess_route(srv, ss);
  arm_sweep_for(srv, ss);
  LOG_INFO(sc->ctx, "session %s: attachment %" PRIu64 " activated",
           ss->idstr, sc->att);
  return send_activate_result(sc, 0, s->attach_version);
}

/* Live connections of |sc|'s client pin, |sc| included. */
int srv_pin_admit(struct sclient *sc) {
  uint32_t max = sc->srv->conf.policy.pin_max_connections;
  const struct srv_pin *pin;

  srv_pin_conn_add(sc);
  pin = srv_pin_of(sc->srv, sc->peer);
  if (pin == NULL || pin->conns <= max)
    return 0;
  emit_refusal(sc->srv, sc, "pin connection limit");
  srv_metrics_refused(sc->srv, JVPN_R_RATE_LIMITED);
  JVPN_LOG_RL(JVPN_LOG_WARN, sc->ctx, "refused client: over %u connections "
              "for this client pin", (unsigned)max);
  return -1;
}

void srv_tunnel_request(struct sclient *sc, const struct quic_tunnel_req *req,
                        struct quic_tunnel_resp *resp) {
  if (sc->peer == NULL) {
    resp->status = 403;
    return;
  }
  if (req->attach == NULL)
    birth(sc, resp);
  else
    reattach(sc, req, resp);
  /* Attached: the TLS session's work is done but for the bind exporter
   * a standby's later ACTIVATE proves; an idle connection is ~24 KB
   * lighter without the rest. */
  if (resp->status == 0 &&
      transport_release_tls(&sc->tp, JVPN_EXPORTER_BIND_LABEL,
                            JVPN_BIND_LEN) != 0)
    LOG_DEBUG(sc->ctx, "TLS session kept: the handshake is not confirmed");
}

void srv_conn_ended(struct sclient *sc) {
  struct srv_session *ss = sc->sess;
  struct jvpn_session_event ev;

  if (ss == NULL)
    return;
  detach(sc);
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_TRANSPORT_DEAD;
  ev.attachment = sc->att;
  ev.detail = "connection ended";
  (void)sess_event(sc->srv, ss, &ev);
}

void srv_path_changed(struct sclient *sc, int same_ip) {
  struct jvpn_session_event ev;
  char buf[64];
  struct quic_path path;

  if (sc->sess == NULL)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_PATH_CHANGE;
  ev.attachment = sc->att;
  ev.reason = same_ip ? JVPN_R_NAT_REBIND : JVPN_R_PATH_MIGRATED;
  ev.peer = glue_sockaddr_str(remote_of(sc, &path), buf,
                              sizeof(buf));
  ev.detail = same_ip ? "client port changed" : "client address changed";
  LOG_INFO(sc->ctx, "path change: %s now %s", jvpn_reason_name(ev.reason),
           buf);
  /* The log prefix follows the client to its new address. */
  if (snprintf(sc->ctx, sizeof(sc->ctx), "from=%s peer=%.40s", buf,
               sc->peer ? sc->peer->name : "?") < 0)
    sc->ctx[0] = '\0';
  transport_set_log_ctx(&sc->tp, sc->ctx);
  (void)sess_event(sc->srv, sc->sess, &ev);
}

void srv_session_give_up(struct sclient *sc, const char *why) {
  if (sc->sess == NULL || sc->sess->active != sc)
    return;
  srv_conn_ended(sc);
  sclient_close_later(sc, why);
}

void srv_rx_silence(struct sclient *sc, int started, uint64_t ms) {
  struct jvpn_audit_record r;
  struct quic_path path;
  struct jvpn_session *s;

  if (sc->sess == NULL)
    return;
  if (sc->srv->audit != NULL) {
    s = jvpn_session_table_find(sc->srv->sessions, sc->sess->id);
    memset(&r, 0, sizeof(r));
    r.kind = JVPN_AUDIT_INFO;
    r.mono_ms = now_ms();
    r.event = started ? "rx_silence" : "rx_resumed";
    r.reason = "RX_SILENCE";
    memcpy(r.session, sc->sess->id, sizeof(r.session));
    r.has_session = 1;
    r.state_version = s ? s->state_version : 0;
    r.to_attachment = sc->att;
    glue_sockaddr_str(remote_of(sc, &path), r.peer, sizeof(r.peer));
    (void)snprintf(r.detail, sizeof(r.detail),
                   started ? "nothing from the client for %llu ms while it "
                             "streamed: probing the path"
                           : "traffic back after %llu ms of silence",
                   (unsigned long long)ms);
    (void)jvpn_audit_emit(sc->srv->audit, &r);
  }
}

struct srv_session *srv_session_by_addr(struct server *srv, int family,
                                        const uint8_t *addr) {
  return peer_table_get(&srv->by_addr, family, addr);
}

void srv_session_status(struct server *srv, struct glue_buf *b,
                        const struct srv_session *ss, int json) {
  struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);
  uint64_t now = now_ms();

  if (s == NULL)
    return;
  glue_buf_printf(b,
                  json ? "\"session\":\"%s\",\"state\":\"%s\","
                         "\"state_version\":%" PRIu64 ",\"attachment\":%" PRIu64
                         ",\"switches_last_min\":%u,\"switches\":%" PRIu64
                         ",\"age_s\":%" PRIu64 ",\"in_state_s\":%" PRIu64
                         ",\"drop_unattached\":%" PRIu64
                         ",\"standbys\":%zu,\"attach_version\":%" PRIu64
                       : "session=%s state=%s version=%" PRIu64
                         " attachment=%" PRIu64 " switches_last_min=%u"
                         " switches=%" PRIu64 " age_s=%" PRIu64
                         " in_state_s=%" PRIu64 " drop_unattached=%" PRIu64
                         " standbys=%zu attach_version=%" PRIu64,
                  ss->idstr, jvpn_session_state_name(s->state),
                  s->state_version, jvpn_session_active(s),
                  jvpn_session_switches(s, now), s->n_switches,
                  (now - s->born_ms) / 1000,
                  (now - s->state_entered_ms) / 1000, ss->drop_unattached,
                  (size_t)jvpn_session_count(s, JVPN_ATT_STANDBY),
                  s->attach_version);
  glue_buf_state_times(b, s, now, json);
}

/* --- configuration reloads ---------------------------------------------- */

/* Ends |ss| (a reload removed its peer or changed its addresses) and takes
 * its addresses out of the routing table. */
static void sess_revoke(struct server *srv, struct srv_session *ss,
                        const char *why) {
  struct jvpn_session_event ev;

  if (!ss->terminated) {
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_TERMINATE;
    ev.reason = JVPN_R_OPERATOR_TERMINATED;
    ev.detail = why;
    LOG_INFO(NULL, "session %s of %s ended: %s", ss->idstr, ss->peer->name,
             why);
    (void)sess_event(srv, ss, &ev);
  }
  sess_unroute(srv, ss);
  ss->addrs = NULL; /* the old pool goes away */
}

size_t srv_sessions_reload(struct server *srv,
                           const struct jvpn_server_conf *nc,
                           const struct addr_pool *np) {
  struct srv_session *ss;
  struct sclient *sc;
  size_t ended = 0;

  for (ss = srv->sess_list; ss; ss = ss->next) {
    const struct jvpn_peer_conf *peer = jvpn_server_conf_peer(nc, ss->peer->pin);
    const struct addr_pool_entry *e =
        peer != NULL ? addr_pool_find(np, peer->pin) : NULL;

    if (e != NULL && ss->addrs != NULL && addr_pool_entry_same(e, ss->addrs)) {
      ss->peer = peer;
      ss->addrs = e;
      continue;
    }
    if (!ss->terminated)
      ended++;
    sess_revoke(srv, ss, peer == NULL ? "peer removed by a configuration reload"
                                      : "inner address changed by a "
                                        "configuration reload");
    if (peer != NULL)
      ss->peer = peer;
  }
  /* Connections of removed peers that have no session (yet) go too. */
  for (sc = srv->clients; sc; sc = sc->next) {
    const struct jvpn_peer_conf *peer;

    if (sc->peer == NULL)
      continue;
    peer = jvpn_server_conf_peer(nc, sc->peer->pin);
    if (peer != NULL)
      sc->peer = peer;
    else
      sclient_close_later(sc, "peer removed by a configuration reload");
  }
  return ended;
}

/* --- set-up -------------------------------------------------------------- */

int srv_sessions_init(struct server *srv) {
  const char *audit = srv->conf.audit_log;
  int rv;

  rv = jvpn_session_table_new(&srv->sessions, SRV_MAX_SESSIONS, NULL);
  if (rv != 0)
    return rv;
  rv = peer_table_init(&srv->by_session, SRV_MAX_SESSIONS);
  if (rv != 0)
    return rv;
  if (audit[0]) {
    rv = jvpn_audit_new(&srv->audit,
                        strcmp(audit, "stderr") == 0 ? NULL : audit,
                        strcmp(audit, "stderr") == 0,
                        srv->conf.node_id[0] ? srv->conf.node_id : "server",
                        0);
    if (rv != 0) {
      LOG_ERR(NULL, "cannot open the audit log %s: %s", audit,
              jvpn_strerror(rv));
      return rv;
    }
  }
  uv_timer_init(srv->loop, &srv->sess_timer);
  srv->sess_timer.data = srv;
  srv->sess_timer.timer_cb = on_sess_timer;
  rv = srv_pins_init(srv);
  if (rv != 0)
    return rv;
  return srv_store_start(srv);
}

void srv_sessions_free(struct server *srv) {
  while (srv->sess_list)
    sess_free(srv, srv->sess_list);
  srv_pins_free(srv);
  srv_store_stop(srv);
  jvpn_session_table_del(srv->sessions);
  srv->sessions = NULL;
  peer_table_free(&srv->by_session);
  jvpn_audit_del(srv->audit);
  srv->audit = NULL;
}
