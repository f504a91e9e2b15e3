/*
 * src/server_store: the server's sessions across restarts (D41).
 *
 * Between the session layer (src/server_session.c) and the store
 * (include/jvpn/store.h, LMDB by default): opens the store before the
 * privilege drop, loads its sessions back into the table and the address
 * pool, and writes a session whenever the core changed what a restarted
 * server would need (srv_store_sync). The core itself never sees the
 * store.
 */
#include <inttypes.h>
#include <pwd.h>
#include <string.h>
#include <time.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/tls_identity.h"
#include "src/server_int.h"
#include "src/store_lmdb.h"
#include "src/store_record.h"
#include "src/store_redis.h"

#define STORE_SEAL_LABEL "jvpn store seal v1"

static uint64_t mono_ms(void) { return glue_now() / 1000000; }

static uint64_t wall_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void mark_of(const struct jvpn_session *s, struct srv_store_mark *m) {
  memset(m, 0, sizeof(*m));
  m->state_version = s->state_version;
  m->attach_version = s->attach_version;
  m->nonce_top = s->replay.top;
  m->switches = s->n_switches;
  m->attachment = jvpn_session_active(s);
  m->stored = 1;
}

static void queue_add(struct server *srv, struct srv_session *ss) {
  if (ss->store_queued)
    return;
  ss->store_queued = 1;
  ss->store_prev = NULL;
  ss->store_next = srv->store_q;
  if (srv->store_q)
    srv->store_q->store_prev = ss;
  srv->store_q = ss;
}

void srv_store_forget(struct server *srv, struct srv_session *ss) {
  if (!ss->store_queued)
    return;
  if (ss->store_prev)
    ss->store_prev->store_next = ss->store_next;
  else
    srv->store_q = ss->store_next;
  if (ss->store_next)
    ss->store_next->store_prev = ss->store_prev;
  ss->store_queued = 0;
  ss->store_prev = ss->store_next = NULL;
}

void srv_store_sync(struct server *srv, struct srv_session *ss) {
  struct jvpn_session *s;

  if (srv->store == NULL || ss == NULL || srv->store_loading)
    return;
  s = jvpn_session_table_find(srv->sessions, ss->id);
  if (s == NULL || s->state == JVPN_SS_TERMINATED) {
    srv_store_forget(srv, ss);
    if (ss->stored.stored && jvpn_store_del(srv->store, ss->id) == 0)
      ss->stored.stored = 0;
    return;
  }
  if (s->state != JVPN_SS_BIRTH)
    queue_add(srv, ss); /* a birth not attached yet: nothing to come back to */
}

/* Writes |ss|'s record if the store's copy is behind. Returns 1 when it
 * went into the store (ss->storing holds its mark), 0 when there was
 * nothing to write or it failed (logged; fenced in a cluster). */
static int write_one(struct server *srv, struct srv_session *ss) {
  struct jvpn_store_record r;
  struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);
  int rv;

  if (s == NULL || s->state == JVPN_SS_TERMINATED)
    return 0;
  mark_of(s, &ss->storing);
  if (memcmp(&ss->storing, &ss->stored, sizeof(ss->storing)) == 0)
    return 0;
  store_record_from_session(&r, s, &srv->conf.policy, mono_ms(), wall_ms());
  if (ss->addrs != NULL) {
    r.has4 = (uint8_t)ss->addrs->has4;
    r.has6 = (uint8_t)ss->addrs->has6;
    memcpy(r.addr4, ss->addrs->addr4, sizeof(r.addr4));
    memcpy(r.addr6, ss->addrs->addr6, sizeof(r.addr6));
  }
  rv = jvpn_store_put(srv->store, &r);
  jvpn_wipe(&r, sizeof(r));
  if (rv == JVPN_ERR_DENIED) {
    srv_cluster_fenced(srv, ss); /* another node took it */
    return 0;
  }
  if (rv != 0) {
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "session %s not stored: %s", ss->idstr,
                jvpn_strerror(rv));
    return 0;
  }
  return 1;
}

/* A store without batches: each record is durable once put. */
static void flush_each(struct server *srv) {
  struct srv_session *ss;

  while ((ss = srv->store_q) != NULL) {
    srv_store_forget(srv, ss);
    if (write_one(srv, ss))
      ss->stored = ss->storing;
  }
}

/* One transaction; the marks move only once it is durable. The written
 * sessions are chained through store_next meanwhile (off the queue). */
static void flush_batch(struct server *srv) {
  struct srv_session *ss, *done = NULL;
  int rv = jvpn_store_begin(srv->store);

  if (rv != 0) {
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "session store: %s", jvpn_strerror(rv));
    return;
  }
  while ((ss = srv->store_q) != NULL) {
    srv_store_forget(srv, ss);
    if (write_one(srv, ss)) {
      ss->store_next = done;
      done = ss;
    }
  }
  rv = jvpn_store_commit(srv->store);
  if (rv != 0)
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "session store: commit failed: %s",
                jvpn_strerror(rv));
  while ((ss = done) != NULL) {
    done = ss->store_next;
    ss->store_next = NULL;
    if (rv == 0)
      ss->stored = ss->storing;
  }
}

void srv_store_flush(struct server *srv) {
  if (srv->store == NULL || srv->store_q == NULL || srv->store_flushing)
    return;
  srv->store_flushing = 1;
  if (jvpn_store_batches(srv->store))
    flush_batch(srv);
  else
    flush_each(srv);
  srv->store_flushing = 0;
}

/* --- loading ---------------------------------------------------------------- */

void srv_store_audit(struct server *srv, const uint8_t *id, const char *event,
                     const char *reason, const char *detail) {
  struct jvpn_audit_record a;

  memset(&a, 0, sizeof(a));
  a.kind = JVPN_AUDIT_INFO;
  a.mono_ms = mono_ms();
  a.event = event;
  a.reason = reason;
  if (id != NULL) {
    memcpy(a.session, id, sizeof(a.session));
    a.has_session = 1;
  }
  snprintf(a.detail, sizeof(a.detail), "%s", detail);
  if (srv->audit)
    (void)jvpn_audit_emit(srv->audit, &a);
}

static void on_skip(void *arg, const uint8_t *id, enum jvpn_store_skip why,
                    const char *detail) {
  struct server *srv = arg;

  LOG_WARN(NULL, "stored session skipped (%s): %s", jvpn_store_skip_name(why),
           detail);
  srv_store_audit(srv, id, "store_skipped", jvpn_store_skip_name(why),
                  detail);
}

/* A stored session that cannot come back (owner removed, its addresses
 * taken): the core terminates it with |why|, audited, and it is gone. */
static void drop_stored(struct server *srv, const uint8_t *id,
                        const char *why) {
  struct jvpn_session *s = jvpn_session_table_find(srv->sessions, id);
  struct jvpn_session_event ev;
  struct jvpn_session_out out;

  if (s != NULL) {
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_TERMINATE;
    ev.reason = JVPN_R_OPERATOR_TERMINATED;
    ev.detail = why;
    jvpn_session_out_reset(&out);
    (void)jvpn_session_handle(s, &ev, &srv->conf.policy, mono_ms(), &out);
    srv_session_emit(srv, &out);
    (void)jvpn_session_table_delete(srv->sessions, id);
  }
  (void)jvpn_store_del(srv->store, id);
  srv->store_dropped++;
  LOG_INFO(NULL, "stored session dropped: %s", why);
}

/* |r|'s addresses back in the pool: those the shared store holds for
 * its pin in a cluster, else exactly these (a restart's). */
static const struct addr_pool_entry *
restore_addrs(struct server *srv, const struct jvpn_peer_conf *peer,
              const struct jvpn_store_record *r) {
  if (srv->store->cluster != NULL)
    return srv_cluster_adopt_addrs(srv, peer->pin, r);
  return addr_pool_claim(&srv->pool, peer->pin, r->has4, r->addr4, r->has6,
                         r->addr6);
}

/* |r| into the table on a clock on which all of its times are
 * representable; 1 when its TTL passed while nobody served it (ended
 * then, with its reason, and deleted), 0 when restored, -1 on failure. */
static int restore_core(struct server *srv, const struct jvpn_store_record *r) {
  struct jvpn_session_out out;
  struct jvpn_session s, *ps;
  uint64_t now = mono_ms(), wall = wall_ms();
  uint64_t clock = store_record_clock(r, now, wall);
  int rv, expired;

  store_record_to_session(&s, r, clock, wall);
  expired = jvpn_session_expired(&s, &srv->conf.policy, clock);
  if (!expired)
    store_record_to_session(&s, r, now, wall);
  rv = jvpn_session_table_restore(srv->sessions, &s, &ps);
  jvpn_wipe(&s, sizeof(s));
  if (rv != 0) {
    LOG_WARN(NULL, "stored session not restored: %s", jvpn_strerror(rv));
    return -1;
  }
  if (!expired)
    return 0;
  jvpn_session_out_reset(&out);
  (void)jvpn_session_tick(ps, &srv->conf.policy, clock, &out);
  srv_session_emit(srv, &out);
  (void)jvpn_session_table_delete(srv->sessions, r->id);
  (void)jvpn_store_del(srv->store, r->id);
  srv->store_expired++;
  LOG_INFO(NULL, "stored session expired while nobody served it");
  return 1;
}

int srv_store_restore(struct server *srv, const struct jvpn_store_record *r,
                      const char *why) {
  const struct jvpn_peer_conf *peer =
      jvpn_server_conf_peer(&srv->conf, r->owner_pin);
  const struct addr_pool_entry *addrs;
  struct jvpn_session_event ev;
  struct srv_session *ss;

  if (r->state == JVPN_SS_BIRTH || r->state == JVPN_SS_TERMINATED) {
    (void)jvpn_store_del(srv->store, r->id);
    return JVPN_ERR_NOTFOUND;
  }
  if (restore_core(srv, r) != 0)
    return JVPN_ERR_NOTFOUND;
  if (peer == NULL) {
    drop_stored(srv, r->id, "restore: owner no longer configured");
    return JVPN_ERR_NOTFOUND;
  }
  addrs = restore_addrs(srv, peer, r);
  if (addrs == NULL) {
    drop_stored(srv, r->id, "restore: stored inner address not available");
    return JVPN_ERR_NOTFOUND;
  }
  ss = srv_session_adopt(srv, r->id, peer, addrs);
  if (ss == NULL) {
    drop_stored(srv, r->id, "restore: out of memory");
    return JVPN_ERR_NOTFOUND;
  }
  srv->store_restored++;
  if (r->active_attachment != 0) {
    /* Its connection died with the process that served it: RECOVERING
     * from now. */
    memset(&ev, 0, sizeof(ev));
    ev.type = JVPN_EV_TRANSPORT_DEAD;
    ev.attachment = r->active_attachment;
    ev.detail = why;
    (void)srv_session_event(srv, ss, &ev);
  } else {
    srv_store_sync(srv, ss);
  }
  LOG_INFO(NULL, "session %s of %s restored (v%" PRIu64 ")", ss->idstr,
           peer->name, r->state_version);
  return 0;
}

static void on_record(void *arg, const struct jvpn_store_record *r) {
  (void)srv_store_restore(arg, r, "server restarted");
}

/* Opens the store |srv->conf| names with sealing key |key|. */
static int store_open(struct server *srv, const uint8_t *key, uid_t uid,
                      gid_t gid, char *why, size_t whylen) {
  struct store_redis_conf rc;
  struct timespec ts;

  if (srv->conf.store != JVPN_STORE_REDIS)
    return store_lmdb_open(&srv->store, srv->conf.state_dir, key, uid, gid,
                           why, whylen);
  clock_gettime(CLOCK_REALTIME, &ts);
  memset(&rc, 0, sizeof(rc));
  rc.addr = srv->conf.redis;
  rc.node_id = srv->conf.node_id;
  /* Fresh at every start: the fencing token of this run's ownership. */
  rc.epoch = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
  rc.prefix = "jvpn";
  rc.timeout_ms = STORE_REDIS_TIMEOUT_MS;
  return store_redis_open(&srv->store, &rc, key, why, whylen);
}

/* After each loop iteration's I/O: what no answer flushed (timers,
 * sweeps) is written too. */
static void on_store_check(uv_check_t *h) { srv_store_flush(h->data); }

int srv_store_start(struct server *srv) {
  uint8_t key[JVPN_STORE_KEY_LEN];
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  char why[512];
  uint64_t t0;
  int rv;

  srv->store_state = "off";
  if (srv->conf.store == JVPN_STORE_OFF)
    return 0;
  srv->store_state = "unavailable";
  if (srv->conf.user[0] != '\0') {
    struct passwd *pw = getpwnam(srv->conf.user);

    if (pw != NULL) {
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    }
  }
  rv = tls_identity_derive_secret(srv->conf.key_file, STORE_SEAL_LABEL, key);
  if (rv == 0)
    rv = store_open(srv, key, uid, gid, why, sizeof(why));
  else
    snprintf(why, sizeof(why), "cannot derive the sealing key from %.400s",
             srv->conf.key_file);
  jvpn_wipe(key, sizeof(key));
  if (rv != 0) {
    LOG_ERR(NULL, "session store unavailable (%s): sessions will not "
            "survive a restart", why);
    return 0;
  }
  srv->store_state = srv->store->ops->name;
  uv_check_init(srv->loop, &srv->store_check);
  srv->store_check.data = srv;
  uv_check_start(&srv->store_check, on_store_check);
  if (srv->store->cluster != NULL && !srv_cluster_init(srv))
    LOG_WARN(NULL, "session store %s does not answer yet: sessions come "
             "back as their clients reattach", srv->conf.redis);
  /* The load's time (read, restore, sweep) goes to the log and to status
   * (load_ms): what a restart adds per stored session. Nothing is written
   * meanwhile: a loaded session's RECOVERING is what any later load would
   * make of its record too, so its first change after the load writes it
   * (srv_store_sync compares with an empty mark). */
  t0 = glue_now();
  srv->store_loading = 1; /* a cluster's take wrote att 0 already */
  rv = jvpn_store_load(srv->store, on_record, on_skip, srv);
  srv->store_loading = 0;
  if (rv != 0)
    LOG_ERR(NULL, "session store: loading failed: %s", jvpn_strerror(rv));
  /* TTLs that passed while the server was down end those sessions now,
   * with their reasons (the core's timers). */
  srv_sessions_sweep(srv);
  srv->store_load_us = (glue_now() - t0) / 1000;
  LOG_INFO(NULL, "session store: %s at %s, %" PRIu64 " sessions restored, "
           "%zu live, loaded in %" PRIu64 ".%03" PRIu64 " ms",
           srv->store_state,
           srv->store->cluster ? srv->conf.redis : srv->conf.state_dir,
           srv->store_restored, jvpn_session_table_count(srv->sessions),
           srv->store_load_us / 1000, srv->store_load_us % 1000);
  return 0;
}

void srv_store_stop(struct server *srv) {
  srv_store_flush(srv);
  if (srv->store != NULL)
    uv_check_stop(&srv->store_check);
  jvpn_store_close(srv->store);
  srv->store = NULL;
}

void srv_store_status(struct server *srv, struct glue_buf *b, int json) {
  const struct jvpn_store_stats *st =
      srv->store ? jvpn_store_stats(srv->store) : NULL;
  static const struct jvpn_store_stats none;

  if (st == NULL)
    st = &none;
  glue_buf_printf(
      b,
      json ? "\"store\":{\"kind\":\"%s\",\"restored\":%" PRIu64
             ",\"expired\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"writes\":%" PRIu64
             ",\"write_errors\":%" PRIu64 ",\"deletes\":%" PRIu64
             ",\"skipped_malformed\":%" PRIu64 ",\"skipped_version\":%" PRIu64
             ",\"skipped_seal\":%" PRIu64 ",\"write_us_avg\":%" PRIu64
             ",\"write_us_max\":%" PRIu64
             ",\"load_ms\":%" PRIu64 "}"
           : "store=%s restored=%" PRIu64 " expired=%" PRIu64
             " dropped=%" PRIu64
             " writes=%" PRIu64 " write_errors=%" PRIu64 " deletes=%" PRIu64
             " skipped_malformed=%" PRIu64 " skipped_version=%" PRIu64
             " skipped_seal=%" PRIu64 " write_us_avg=%" PRIu64
             " write_us_max=%" PRIu64 " load_ms=%" PRIu64 "\n",
      srv->store_state ? srv->store_state : "off", srv->store_restored,
      srv->store_expired, srv->store_dropped, st->writes, st->write_errors, st->deletes,
      st->skipped[JVPN_STORE_SKIP_MALFORMED],
      st->skipped[JVPN_STORE_SKIP_VERSION], st->skipped[JVPN_STORE_SKIP_SEAL],
      st->writes + st->deletes
          ? st->write_ns_total / (st->writes + st->deletes) / 1000
          : 0,
      st->write_ns_max / 1000, (srv->store_load_us + 500) / 1000);
}
