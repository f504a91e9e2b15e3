/*
 * src/client_session: the client's session layer.
 *
 * The birth connection's exporter gives the session secret; every later
 * connection presents a reattach proof bound to its own TLS channel
 * (ARCHITECTURE 4). The client runs its own copy of the state machine for
 * its log, its audit trail and its timers: when the transport-loss TTL
 * has passed without a reattach, the server has ended the session too, and
 * the next connection starts a new one.
 */
#include <config.h> /* autoconf's: JVPN_TEST_HOOKS */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/client_int.h"
#include "src/session_wire.h"

static uint64_t now_ms(void) { return glue_now() / 1000000; }

static void emit(struct client *cl, struct jvpn_session_out *out) {
  size_t i;

  for (i = 0; i < out->nrecords; i++) {
    const struct jvpn_audit_record *r = &out->records[i];

    if (cl->sess.audit)
      (void)jvpn_audit_emit(cl->sess.audit, r);
    if (r->kind == JVPN_AUDIT_TRANSITION)
      LOG_INFO(NULL, "session %s: %s -> %s (%s) v%" PRIu64, cl->sess.idstr,
               r->from ? r->from : "?", r->to ? r->to : "?",
               r->reason ? r->reason : "", r->state_version);
  }
}

/* The server's address on |l|'s connection, as the server's records name
 * the client's: "198.18.1.2:443"; NULL before the connection has one. */
static const char *remote_str(struct client_link *l, char *buf, size_t len) {
  struct quic_path path;

  transport_get_path(&l->tp, &path);
  return path.remote ? glue_sockaddr_str(path.remote, buf, len) : NULL;
}

static void arm(struct client *cl) {
  uint64_t d, now = now_ms();

  if (!cl->sess.have) {
    uv_timer_stop(&cl->sess.timer);
    return;
  }
  d = jvpn_session_next_deadline(&cl->sess.core, &cl->conf.policy);
  if (d == JVPN_NO_DEADLINE)
    uv_timer_stop(&cl->sess.timer);
  else
    uv_timer_start(&cl->sess.timer, cl->sess.timer.timer_cb,
                   d > now ? d - now : 0, 0);
}

/* Forgets the session: the next connection is a birth. */
static void forget(struct client *cl, const char *why) {
  struct jvpn_session_out out;
  struct jvpn_session_event ev;

  if (!cl->sess.have)
    return;
  LOG_WARN(NULL, "session %s is over (%s): the next connection starts a "
                 "new session",
           cl->sess.idstr, why);
  if (cl->sess.core.state != JVPN_SS_TERMINATED) {
    /* The server ended it: the client's copy follows, on the record. */
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_TERMINATE;
    ev.reason = JVPN_R_PEER_CLOSED;
    ev.detail = why;
    jvpn_session_out_reset(&out);
    (void)jvpn_session_handle(&cl->sess.core, &ev, &cl->conf.policy,
                              now_ms(), &out);
    emit(cl, &out);
  }
  jvpn_session_free(&cl->sess.core);
  jvpn_wipe(cl->sess.secret, sizeof(cl->sess.secret));
  cl->sess.have = 0;
  arm(cl);
}

void client_sess_event(struct client *cl,
                       const struct jvpn_session_event *ev) {
  struct jvpn_session_out out;

  jvpn_session_out_reset(&out);
  (void)jvpn_session_handle(&cl->sess.core, ev, &cl->conf.policy, now_ms(),
                            &out);
  emit(cl, &out);
  if (cl->sess.core.state == JVPN_SS_TERMINATED)
    forget(cl, "terminated");
  arm(cl);
}

static void on_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  struct jvpn_session_out out;

  if (!cl->sess.have)
    return;
  jvpn_session_out_reset(&out);
  (void)jvpn_session_tick(&cl->sess.core, &cl->conf.policy, now_ms(), &out);
  emit(cl, &out);
  if (cl->sess.core.state == JVPN_SS_TERMINATED)
    forget(cl, "the transport-loss TTL or the lifetime passed; the server "
               "has ended it too");
  arm(cl);
}

#ifdef JVPN_TEST_HOOKS
/* Test hook (only with ./configure --enable-test-hooks): with
 * JVPN_TEST_DUMP_ATTACH=FILE set, each reattach request's headers are
 * appended to FILE, so the netns tests can replay a captured request from
 * another host (it must be refused). A proof is useless elsewhere, but it
 * is not for the record. */
static void dump_for_tests(const char *attach, const char *version) {
  const char *path = getenv("JVPN_TEST_DUMP_ATTACH");
  FILE *f;

  if (path == NULL || *path == '\0')
    return;
  f = fopen(path, "a");
  if (f == NULL)
    return;
  fprintf(f, "%s\n%s\n", attach, version);
  fclose(f);
}

/* Test hook (--enable-test-hooks only): with JVPN_TEST_DUMP_SECRET=FILE
 * set, FILE is rewritten on each birth and accepted reattach with the
 * session ID, its secret (hex), the current attach version and the last
 * nonce used, so the netns tests can open a standby for this session from
 * a probe (docs/decisions.md D16). This hands the session away, which is
 * why a default build does not contain it. */
static void dump_secret_for_tests(const struct client *cl) {
  const char *path = getenv("JVPN_TEST_DUMP_SECRET");
  FILE *f;
  size_t i;

  if (path == NULL || *path == '\0')
    return;
  f = fopen(path, "w");
  if (f == NULL)
    return;
  fprintf(f, "sid %s\nsecret ", cl->sess.idstr);
  for (i = 0; i < sizeof(cl->sess.secret); i++)
    fprintf(f, "%02x", cl->sess.secret[i]);
  fprintf(f, "\nversion %" PRIu64 "\nnonce %" PRIu64 "\n", cl->sess.version,
          cl->sess.nonce);
  fclose(f);
}
#else
static void dump_for_tests(const char *attach, const char *version) {
  (void)attach;
  (void)version;
}

static void dump_secret_for_tests(const struct client *cl) { (void)cl; }
#endif /* JVPN_TEST_HOOKS */

/* Another link carries the session's data, or is asking for it: a new
 * connection joins as a standby rather than taking the session over. */
static int other_holds_session(const struct client_link *l) {
  const struct client *cl = l->cl;
  size_t i;

  for (i = 0; i < cl->nlinks; i++) {
    const struct client_link *o = &cl->links[i];

    if (o == l || !link_has_conn(o) || o->dead)
      continue;
    if (o->req == CLIENT_REQ_REATTACH && !o->attached)
      return 1;
    if (o->attached && o == cl->cur)
      return 1;
  }
  return 0;
}

/* Fills |w| with a fresh nonce and a proof for |role| bound to |l|'s
 * connection. Returns 0 or a JVPN_ERR_*. */
static int proof_for(struct client_link *l, enum jvpn_proof_role role,
                     struct jvpn_wire_attach *w) {
  struct client *cl = l->cl;
  uint8_t bind[JVPN_BIND_LEN];
  int rv;

  if (transport_export(&l->tp, JVPN_EXPORTER_BIND_LABEL, NULL, 0, bind,
                       sizeof(bind)) != 0)
    return JVPN_ERR_TLS;
  memset(w, 0, sizeof(*w));
  memcpy(w->session_id, cl->sess.id, sizeof(w->session_id));
  w->nonce = ++cl->sess.nonce;
  w->role = role;
  rv = jvpn_proof_compute(cl->sess.secret, cl->sess.id, w->nonce, w->role,
                          bind, w->proof);
  jvpn_wipe(bind, sizeof(bind));
  return rv != 0 ? JVPN_ERR_FATAL : 0;
}

long client_sess_attach_header(struct client_link *l, char *buf, size_t len,
                               char *version, size_t version_len) {
  struct client *cl = l->cl;
  struct jvpn_wire_attach w;
  int standby;
  long n;

  if (!cl->sess.have) {
    l->req = CLIENT_REQ_BIRTH;
    return 0;
  }
  standby = cl->multi && other_holds_session(l);
  if (proof_for(l, standby ? JVPN_ROLE_STANDBY : JVPN_ROLE_REATTACH, &w) != 0)
    return JVPN_ERR_FATAL;
  n = jvpn_wire_format_attach(buf, len, &w);
  jvpn_wipe(&w, sizeof(w));
  if (n < 0 ||
      jvpn_wire_format_version(version, version_len, cl->sess.version) < 0)
    return JVPN_ERR_NOSPACE;
  l->req = standby ? CLIENT_REQ_STANDBY : CLIENT_REQ_REATTACH;
  LOG_INFO(NULL, "%s session %s%s%s (nonce %" PRIu64 ")",
           standby ? "adding a standby to" : "reattaching", cl->sess.idstr,
           l->idx >= 0 ? " via " : "", l->idx >= 0 ? l->ifname : "",
           cl->sess.nonce);
  dump_for_tests(buf, version);
  return n;
}

static void born(struct client_link *l, const uint8_t id[JVPN_SESSION_ID_LEN],
                 uint64_t version) {
  struct client *cl = l->cl;
  struct jvpn_session_out out;
  struct jvpn_session_event ev;
  char peer[64];

  if (transport_export(&l->tp, JVPN_EXPORTER_SESSION_LABEL, id,
                       JVPN_SESSION_ID_LEN, cl->sess.secret,
                       sizeof(cl->sess.secret)) != 0) {
    LOG_ERR(NULL, "cannot derive the session secret: no reattach possible");
    return;
  }
  memcpy(cl->sess.id, id, JVPN_SESSION_ID_LEN);
  (void)jvpn_wire_format_session_id(cl->sess.idstr, sizeof(cl->sess.idstr),
                                    id);
  cl->sess.have = 1;
  cl->sess.version = version;
  cl->sess.nonce = 0;
  cl->sess.next_att = 1;
  cl->sess.births++;
  l->att = 1;
  l->attached = 1;
  cl->cur = l;
  jvpn_session_out_reset(&out);
  jvpn_session_init(&cl->sess.core, JVPN_SIDE_CLIENT, id, cl->sess.secret,
                    cl->conf.server_pin, &cl->conf.policy, now_ms(), &out);
  emit(cl, &out);
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_ATTACH_CONFIRMED;
  ev.attachment = l->att;
  ev.detail = l->idx >= 0 ? l->ifname : "birth";
  ev.peer = remote_str(l, peer, sizeof(peer));
  client_sess_event(cl, &ev);
  LOG_INFO(NULL, "session %s started", cl->sess.idstr);
  dump_secret_for_tests(cl);
  if (cl->multi)
    cl->hooks.up_attached(l, JVPN_ATT_ACTIVE);
}

void client_sess_opened(struct client_link *l, const char *session,
                        size_t len, const char *version, size_t version_len) {
  struct client *cl = l->cl;
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint64_t v = 0;
  struct jvpn_session_event ev;
  int standby = l->req == CLIENT_REQ_STANDBY;
  char peer[64];

  if (session == NULL || jvpn_wire_parse_session_id(session, len, id) != 0 ||
      version == NULL ||
      jvpn_wire_parse_version(version, version_len, &v) != 0) {
    LOG_WARN(NULL, "the server named no valid session: reattach will not "
                   "be possible on this connection");
    return;
  }
  if (l->req == CLIENT_REQ_BIRTH || !cl->sess.have) {
    born(l, id, v);
    return;
  }
  if (memcmp(id, cl->sess.id, sizeof(id)) != 0) {
    /* Not ours: the server answered a reattach with another session. */
    forget(cl, "the server answered with another session ID");
    born(l, id, v);
    return;
  }
  if (!standby || v > cl->sess.version)
    cl->sess.version = v;
  l->att = ++cl->sess.next_att;
  l->attached = 1;
  memset(&ev, 0, sizeof(ev));
  ev.type = standby ? JVPN_EV_STANDBY : JVPN_EV_REATTACH;
  ev.attachment = l->att;
  ev.detail = standby ? l->ifname : "reattach accepted";
  ev.peer = remote_str(l, peer, sizeof(peer));
  client_sess_event(cl, &ev);
  if (standby) {
    cl->sess.standbys++;
    LOG_INFO(NULL, "session %s: standby via %s ready", cl->sess.idstr,
             l->ifname);
  } else {
    cl->sess.reattaches++;
    client_quiet_handover(cl, l);
    cl->cur = l;
    LOG_INFO(NULL, "session %s reattached (same addresses)%s%s",
             cl->sess.idstr, l->idx >= 0 ? " via " : "",
             l->idx >= 0 ? l->ifname : "");
  }
  dump_secret_for_tests(cl);
  if (cl->multi)
    cl->hooks.up_attached(l, standby ? JVPN_ATT_STANDBY : JVPN_ATT_ACTIVE);
  cl->hooks.tun_update(cl);
}

void client_sess_refused(struct client_link *l, int status) {
  struct client *cl = l->cl;
  char why[96];

  if (l->req != CLIENT_REQ_REATTACH && l->req != CLIENT_REQ_STANDBY)
    return;
  if (status == 429 || status == 503) {
    /* Rate limited or busy: the session is fine; the next attempt waits
     * (src/client.c schedule_reconnect honours it). */
    l->hold_until_ms = now_ms() + CLIENT_HOLD_OFF_MS;
    return;
  }
  if (status != 404 && (l->req == CLIENT_REQ_STANDBY ||
                        other_holds_session(l))) {
    /* Lost a race with another of our connections, or the standby is
     * not wanted: the session itself is fine. */
    LOG_INFO(NULL, "%s via %s refused (HTTP %d); the session goes on",
             l->req == CLIENT_REQ_STANDBY ? "standby" : "reattach",
             l->ifname, status);
    return;
  }
  snprintf(why, sizeof(why),
           status == 404   ? "the server no longer knows it (HTTP %d)"
           : status == 409 ? "our attach version is stale (HTTP %d)"
                           : "the server refused our proof (HTTP %d)",
           status);
  forget(cl, why);
  /* The tunnel is gone with this connection; the reconnect logic in
   * src/client.c starts the new session at once. */
  l->backoff_ms = 0;
}

void client_sess_conn_ended(struct client_link *l, const char *why) {
  struct client *cl = l->cl;
  struct jvpn_session_event ev;

  if (!cl->sess.have || !l->attached)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_TRANSPORT_DEAD;
  ev.attachment = l->att;
  ev.detail = why;
  client_sess_event(cl, &ev);
}

void client_sess_path_changed(struct client_link *l, const char *local) {
  struct client *cl = l->cl;
  struct jvpn_session_event ev;

  if (!cl->sess.have || !l->attached)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_PATH_CHANGE;
  ev.attachment = l->att;
  ev.reason = JVPN_R_PATH_MIGRATED;
  ev.detail = local;
  client_sess_event(cl, &ev);
}

int client_sess_activate(struct client_link *l, int failover) {
  struct client *cl = l->cl;
  struct jvpn_wire_attach w;
  struct jvpn_wire_activate a;
  uint8_t val[JVPN_WIRE_ACTIVATE_MAX];
  long n;
  int rv;

  if (!cl->sess.have || !l->attached || !client_link_open(l))
    return JVPN_ERR_AGAIN;
  rv = proof_for(l, JVPN_ROLE_ACTIVATE, &w);
  if (rv != 0)
    return rv;
  a.nonce = w.nonce;
  a.version = cl->sess.version;
  a.flags = failover ? JVPN_WIRE_ACTIVATE_FAILOVER : 0;
  memcpy(a.proof, w.proof, sizeof(a.proof));
  jvpn_wipe(&w, sizeof(w));
  n = jvpn_wire_encode_activate(val, sizeof(val), &a);
  jvpn_wipe(&a, sizeof(a));
  if (n < 0)
    return (int)n;
  rv = transport_send_capsule(&l->tp, JVPN_CAPSULE_ACTIVATE, val, (size_t)n);
  if (rv != 0)
    return rv;
  l->activating = 1;
  LOG_INFO(NULL, "session %s: activating %s (attachment %" PRIu64
                 ", nonce %" PRIu64 ")",
           cl->sess.idstr, l->ifname, l->att, cl->sess.nonce);
  cl->hooks.link_flush(l);
  return 0;
}

void client_sess_activate_result(struct client_link *l, const uint8_t *v,
                                 size_t len) {
  struct client *cl = l->cl;
  struct jvpn_wire_activate_result r;
  struct jvpn_session_event ev;

  if (jvpn_wire_decode_activate_result(v, len, &r) != 0 || !l->activating) {
    LOG_WARN(NULL, "ignoring %s ACTIVATE_RESULT via %s",
             l->activating ? "a malformed" : "an unexpected", l->ifname);
    cl->ctr.drop_malformed++;
    return;
  }
  l->activating = 0;
  if (r.status != 0) {
    LOG_WARN(NULL, "session %s: activation via %s refused (status %" PRIu64
                   ")",
             cl->sess.idstr, l->ifname, r.status);
    cl->hooks.up_refused(l, (int)r.status);
    if (r.status == 404)
      forget(cl, "the server no longer knows it (activation refused)");
    return;
  }
  cl->sess.version = r.version;
  memset(&ev, 0, sizeof(ev));
  ev.type = JVPN_EV_ACTIVATE;
  ev.attachment = l->att;
  ev.detail = l->ifname;
  client_sess_event(cl, &ev);
  l->req = CLIENT_REQ_REATTACH; /* it carries the data now */
  cl->hooks.up_activated(l);
  dump_secret_for_tests(cl);
}

void client_sess_audit(struct client *cl, struct jvpn_audit_record *r,
                       size_t n) {
  size_t i;

  for (i = 0; i < n; i++) {
    memcpy(r[i].session, cl->sess.id, sizeof(r[i].session));
    r[i].has_session = cl->sess.have;
    r[i].state_version = cl->sess.have ? cl->sess.core.state_version : 0;
    if (cl->sess.audit)
      (void)jvpn_audit_emit(cl->sess.audit, &r[i]);
  }
}

void client_audit_info(struct client *cl, const char *event, const char *fmt,
                       ...) {
  struct jvpn_audit_record r;
  va_list ap;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = event;
  va_start(ap, fmt);
  (void)vsnprintf(r.detail, sizeof(r.detail), fmt, ap);
  va_end(ap);
  client_sess_audit(cl, &r, 1);
}

int client_sess_recovering(const struct client *cl) {
  return cl->sess.have && cl->sess.core.state != JVPN_SS_ATTACHED &&
         cl->sess.core.state != JVPN_SS_TERMINATED;
}

void client_sess_status(struct client *cl, struct glue_buf *b, int json) {
  uint64_t now = now_ms();
  const struct jvpn_session *s = &cl->sess.core;

  if (!cl->sess.have) {
    glue_buf_printf(b, json ? ",\"session\":null" : " session=none");
    return;
  }
  glue_buf_printf(b,
                  json ? ",\"session\":\"%s\",\"session_state\":\"%s\","
                         "\"state_version\":%" PRIu64 ",\"attach_version\":%" PRIu64
                         ",\"births\":%" PRIu64 ",\"reattaches\":%" PRIu64
                         ",\"session_age_s\":%" PRIu64
                       : " session=%s session_state=%s state_version=%" PRIu64
                         " attach_version=%" PRIu64 " births=%" PRIu64
                         " reattaches=%" PRIu64 " session_age_s=%" PRIu64,
                  cl->sess.idstr, jvpn_session_state_name(s->state),
                  s->state_version, cl->sess.version, cl->sess.births,
                  cl->sess.reattaches, (now - s->born_ms) / 1000);
  if (cl->multi)
    glue_buf_printf(b, json ? ",\"standbys_added\":%" PRIu64
                            : " standbys_added=%" PRIu64,
                    cl->sess.standbys);
  glue_buf_state_times(b, s, now, json);
}

int client_sess_init(struct client *cl) {
  const char *audit = cl->conf.audit_log;
  int rv;

  uv_timer_init(cl->loop, &cl->sess.timer);
  cl->sess.timer.data = cl;
  cl->sess.timer.timer_cb = on_timer;
  if (audit[0]) {
    rv = jvpn_audit_new(&cl->sess.audit,
                        strcmp(audit, "stderr") == 0 ? NULL : audit,
                        strcmp(audit, "stderr") == 0, "client", 0);
    if (rv != 0) {
      LOG_ERR(NULL, "cannot open the audit log %s: %s", audit,
              jvpn_strerror(rv));
      return rv;
    }
  }
  return 0;
}

void client_sess_free(struct client *cl) {
  if (cl->sess.have)
    jvpn_session_free(&cl->sess.core);
  jvpn_wipe(cl->sess.secret, sizeof(cl->sess.secret));
  cl->sess.have = 0;
  jvpn_audit_del(cl->sess.audit);
  cl->sess.audit = NULL;
}
