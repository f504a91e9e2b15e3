/*
 * Deterministic volatility simulation of the session core (ARCHITECTURE 3;
 * docs/state-machine.md "Reproducing a simulation seed").
 *
 * Each seed drives a server session table holding two client sessions
 * through a random sequence of events: deaths, NAT rebinds and path
 * migrations, health reports, legitimate reattaches (alone and racing),
 * standbys and activations, forged proofs, replayed proofs, proofs for
 * the wrong session, pin or channel, stale versions, unknown sessions,
 * operator terminations and clock jumps. After every step it checks the
 * invariants of ARCHITECTURE 3, and it runs every seed twice and compares
 * a hash of everything the core emitted (rule 6).
 *
 *   SIM_SEEDS=n   number of seeds (default 5000)
 *   SIM_STEPS=n   steps per seed (default 200)
 *   SIM_SEED=n    run only seed n, printing every step
 *
 * Exit status 0 when every seed passes, 1 otherwise (failing seeds are
 * printed with the command that replays them).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"
#include "src/session_table.h"

#define NCLIENTS 2
#define MAX_FAIL_PRINT 10

/* splitmix64: small, fast, and the same on every platform. */
struct rng {
  uint64_t s;
};

static uint64_t rng_next(struct rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n) {
  return n == 0 ? 0 : rng_next(r) % n;
}

static void rng_bytes(struct rng *r, uint8_t *b, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    b[i] = (uint8_t)rng_next(r);
}

/* What a client knows about its session. */
struct client {
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint8_t secret[JVPN_SECRET_LEN];
  uint8_t pin[JVPN_PIN_LEN];
  uint64_t nonce;
  uint64_t version; /* attach_version the server last returned */
  struct jvpn_attach_req last_ok;
  int has_last_ok;
  unsigned births;
};

/* What the checker remembers between steps. */
struct seen {
  int present;
  uint8_t id[JVPN_SESSION_ID_LEN];
  enum jvpn_session_state state;
  uint64_t version, last_att, replay_top;
};

struct world {
  struct rng rng;
  struct jvpn_policy p;
  struct jvpn_session_table *t;
  struct client c[NCLIENTS];
  struct seen seen[NCLIENTS];
  struct jvpn_session snap[NCLIENTS];
  int snap_ok[NCLIENTS];
  uint64_t now, next_att, step, seed;
  uint64_t hash;
  int verbose;
  int failed;
  char why[256];
  /* what the current step emitted */
  struct jvpn_session_out out;
  struct jvpn_session_out sweep_out; /* accumulated over one sweep */
  unsigned long stats[8];
};

enum stat { ST_ACCEPT, ST_SECURITY, ST_DENIED, ST_TRANSITIONS, ST_BIRTHS };

static void fail(struct world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct world *w, const char *fmt, ...) {
  va_list ap;

  if (w->failed)
    return;
  w->failed = 1;
  va_start(ap, fmt);
  (void)vsnprintf(w->why, sizeof(w->why), fmt, ap);
  va_end(ap);
}

/* --- the output stream hash (rule 6) ------------------------------------ */

static void h_bytes(struct world *w, const void *p, size_t n) {
  const uint8_t *b = p;
  size_t i;

  for (i = 0; i < n; i++) {
    w->hash ^= b[i];
    w->hash *= 0x100000001b3ULL;
  }
}

static void h_u64(struct world *w, uint64_t v) {
  h_bytes(w, &v, sizeof(v));
}

static void h_str(struct world *w, const char *s) {
  if (s == NULL)
    s = "-";
  h_bytes(w, s, strlen(s) + 1);
}

static void h_out(struct world *w, const struct jvpn_session_out *o, int rv) {
  const struct jvpn_audit_record *r;
  size_t i;

  h_u64(w, (uint64_t)(int64_t)rv);
  h_u64(w, o->verdict);
  for (i = 0; i < o->nactions; i++) {
    h_u64(w, o->actions[i].type);
    h_u64(w, o->actions[i].attachment);
    h_u64(w, o->actions[i].reason);
  }
  for (i = 0; i < o->nrecords; i++) {
    r = &o->records[i];
    h_u64(w, r->kind);
    h_u64(w, r->mono_ms);
    h_bytes(w, r->session, sizeof(r->session));
    h_str(w, r->event);
    h_u64(w, r->state_version);
    h_str(w, r->from);
    h_str(w, r->to);
    h_str(w, r->reason);
    h_u64(w, r->from_attachment);
    h_u64(w, r->to_attachment);
    h_u64(w, r->policy_version);
    h_str(w, r->peer);
    h_str(w, r->detail);
  }
  h_u64(w, o->records_dropped);
}

static void print_out(const struct world *w, const struct jvpn_session_out *o,
                      int rv) {
  const struct jvpn_audit_record *r;
  size_t i;

  if (!w->verbose)
    return;
  printf("    rv=%d verdict=%s\n", rv, jvpn_reason_name(o->verdict));
  for (i = 0; i < o->nrecords; i++) {
    r = &o->records[i];
    printf("    rec %s sess=%02x%02x v=%" PRIu64 " %s->%s %s att %" PRIu64
           "->%" PRIu64 " %s\n",
           r->event, r->session[0], r->session[1], r->state_version,
           r->from ? r->from : "-", r->to ? r->to : "-", r->reason,
           r->from_attachment, r->to_attachment, r->detail);
  }
  for (i = 0; i < o->nactions; i++)
    printf("    act %d att=%" PRIu64 " %s\n", (int)o->actions[i].type,
           o->actions[i].attachment, jvpn_reason_name(o->actions[i].reason));
}

/* --- invariants --------------------------------------------------------- */

static struct jvpn_session *sess_of(struct world *w, int k) {
  return jvpn_session_table_find(w->t, w->c[k].id);
}

static void snapshot(struct world *w) {
  struct jvpn_session *s;
  int k;

  for (k = 0; k < NCLIENTS; k++) {
    s = sess_of(w, k);
    w->snap_ok[k] = s != NULL;
    if (s != NULL)
      memcpy(&w->snap[k], s, sizeof(*s));
  }
}

/* Transitions of session |k| found in |o|, checking their versions run
 * on from |*v| one by one. */
static uint64_t count_transitions(struct world *w, int k,
                                  const struct jvpn_session_out *o,
                                  uint64_t *v) {
  const struct jvpn_audit_record *r;
  uint64_t n = 0;
  size_t i;

  for (i = 0; i < o->nrecords; i++) {
    r = &o->records[i];
    if (r->kind != JVPN_AUDIT_TRANSITION ||
        memcmp(r->session, w->seen[k].id, JVPN_SESSION_ID_LEN) != 0)
      continue;
    if (r->state_version != *v + 1)
      fail(w, "session %d: transition record v%" PRIu64 " after v%" PRIu64, k,
           r->state_version, *v);
    if (r->from != NULL && strcmp(r->from, "TERMINATED") == 0)
      fail(w, "session %d: transition out of TERMINATED (%s)", k, r->reason);
    *v = r->state_version;
    n++;
  }
  return n;
}

static void check_bounds(struct world *w, int k, const struct jvpn_session *s) {
  size_t i, j, active = 0, standby = 0;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++) {
    const struct jvpn_attachment *a = &s->att[i];
    if (a->role == JVPN_ATT_FREE)
      continue;
    active += a->role == JVPN_ATT_ACTIVE;
    standby += a->role == JVPN_ATT_STANDBY;
    if (a->id == 0 || a->id > s->last_attachment_id)
      fail(w, "session %d: attachment id %" PRIu64 " beyond %" PRIu64, k, a->id,
           s->last_attachment_id);
    for (j = i + 1; j < JVPN_MAX_ATTACHMENTS; j++)
      if (s->att[j].role != JVPN_ATT_FREE && s->att[j].id == a->id)
        fail(w, "session %d: attachment %" PRIu64 " twice", k, a->id);
  }
  if (active > 1)
    fail(w, "session %d: %zu active attachments", k, active);
  if (standby > w->p.max_candidates)
    fail(w, "session %d: %zu standbys", k, standby);
  if (s->state == JVPN_SS_TERMINATED && active + standby > 0)
    fail(w, "session %d: TERMINATED with attachments", k);
  if (s->switch_count > JVPN_SWITCH_RING)
    fail(w, "session %d: switch ring %u", k, s->switch_count);
  if (jvpn_session_switches(s, w->now) > w->p.max_switches_per_min)
    fail(w, "session %d: %u switches in a minute", k,
         jvpn_session_switches(s, w->now));
  if (s->state >= JVPN_SS_COUNT)
    fail(w, "session %d: bad state %d", k, (int)s->state);
  if (s->attach_version > s->state_version)
    fail(w, "session %d: attach_version ahead of state_version", k);
}

/* After each step. |target| is the session an attach was aimed at (-1
 * none, -2 an unknown one: nothing may change), |security| whether it was
 * refused as unauthenticated. */
static void check(struct world *w, int target, int security, int rv) {
  struct jvpn_session *s;
  uint64_t v, n;
  int k;

  for (k = 0; k < NCLIENTS; k++) {
    s = sess_of(w, k);
    if (!w->seen[k].present)
      continue;
    v = w->seen[k].version;
    n = count_transitions(w, k, &w->out, &v) +
        count_transitions(w, k, &w->sweep_out, &v);
    w->stats[ST_TRANSITIONS] += n;
    if (s == NULL) {
      /* only the sweep removes, and only TERMINATED sessions */
      if (w->seen[k].state != JVPN_SS_TERMINATED && v == w->seen[k].version)
        fail(w, "session %d vanished without terminating", k);
      continue;
    }
    if (memcmp(s->id, w->seen[k].id, JVPN_SESSION_ID_LEN) != 0)
      fail(w, "session %d: ID changed", k);
    if (s->state_version != w->seen[k].version + n)
      fail(w,
           "session %d: version %" PRIu64 " after %" PRIu64 " + %" PRIu64
           " transitions",
           k, s->state_version, w->seen[k].version, n);
    if (w->seen[k].state == JVPN_SS_TERMINATED &&
        s->state != JVPN_SS_TERMINATED)
      fail(w, "session %d: left TERMINATED", k);
    if (s->last_attachment_id < w->seen[k].last_att)
      fail(w, "session %d: attachment IDs went back", k);
    if (s->replay.top < w->seen[k].replay_top)
      fail(w, "session %d: replay window went back", k);
    check_bounds(w, k, s);
    /* rule 4: unauthenticated input changes nothing, and an attach
     * changes no other session */
    if (w->snap_ok[k] && (target == -2 || (k == target && security) ||
                          (target >= 0 && k != target)))
      if (memcmp(&w->snap[k], s, sizeof(*s)) != 0)
        fail(w, "session %d changed by a refused request (rv %d)", k, rv);
  }
}

static void remember(struct world *w) {
  struct jvpn_session *s;
  int k;

  for (k = 0; k < NCLIENTS; k++) {
    s = sess_of(w, k);
    w->seen[k].present = s != NULL;
    if (s == NULL)
      continue;
    memcpy(w->seen[k].id, s->id, JVPN_SESSION_ID_LEN);
    w->seen[k].state = s->state;
    w->seen[k].version = s->state_version;
    w->seen[k].last_att = s->last_attachment_id;
    w->seen[k].replay_top = s->replay.top;
  }
}

/* --- the server's side of the world ------------------------------------ */

static void birth(struct world *w, int k) {
  struct client *c = &w->c[k];
  struct jvpn_session *s;
  struct jvpn_session_event e;
  uint8_t old[JVPN_SESSION_ID_LEN];
  int rv;

  memcpy(old, c->id, sizeof(old));
  do
    rng_bytes(&w->rng, c->id, sizeof(c->id));
  while (memcmp(old, c->id, sizeof(old)) == 0);
  rng_bytes(&w->rng, c->secret, sizeof(c->secret));
  if (c->births == 0)
    rng_bytes(&w->rng, c->pin, sizeof(c->pin));
  c->births++;
  c->nonce = 0;
  c->has_last_ok = 0;
  rv = jvpn_session_table_create(w->t, c->id, c->secret, c->pin, &w->p, w->now,
                                 &w->out, &s);
  if (rv < 0) {
    fail(w, "birth of session %d: %s", k, jvpn_strerror(rv));
    return;
  }
  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_ATTACH_CONFIRMED;
  e.attachment = ++w->next_att;
  rv = jvpn_session_handle(s, &e, &w->p, w->now, &w->out);
  if (rv < 0 || s->state != JVPN_SS_ATTACHED || s->state_version != 1)
    fail(w, "session %d not ATTACHED after birth", k);
  c->version = s->attach_version;
  w->stats[ST_BIRTHS]++;
}

static void on_sweep(void *arg, const struct jvpn_session *s,
                     const struct jvpn_session_out *o, int released) {
  struct world *w = arg;
  size_t i;

  (void)released;
  (void)s;
  h_out(w, o, 0);
  print_out(w, o, 0);
  for (i = 0;
       i < o->nrecords && w->sweep_out.nrecords < JVPN_SESSION_MAX_RECORDS; i++)
    w->sweep_out.records[w->sweep_out.nrecords++] = o->records[i];
  if (i < o->nrecords)
    fail(w, "sweep produced more records than the checker holds");
}

static void sweep(struct world *w) {
  size_t n = jvpn_session_table_sweep(w->t, &w->p, w->now, on_sweep, w);

  h_u64(w, n);
}

/* A request from client |k| (signed with |signer|'s keys). */
static void make_req(struct world *w, int k, int signer,
                     enum jvpn_proof_role role, struct jvpn_attach_req *r) {
  struct client *c = &w->c[k], *sc = &w->c[signer];
  struct jvpn_session *s = sess_of(w, k);

  memset(r, 0, sizeof(*r));
  memcpy(r->session_id, c->id, sizeof(c->id));
  r->nonce = ++c->nonce;
  r->role = role;
  rng_bytes(&w->rng, r->bind, sizeof(r->bind));
  memcpy(r->peer_pin, c->pin, sizeof(c->pin));
  r->attachment = ++w->next_att;
  r->version = c->version;
  r->peer = k ? "198.18.0.3:50000" : "198.18.0.2:40000";
  if (role == JVPN_ROLE_ACTIVATE && s != NULL) {
    size_t i, n = 0;
    uint64_t pick[JVPN_MAX_ATTACHMENTS];
    for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
      if (s->att[i].role == JVPN_ATT_STANDBY)
        pick[n++] = s->att[i].id;
    r->attachment = n ? pick[rng_below(&w->rng, n)] : s->last_attachment_id;
  }
  if (jvpn_proof_compute(sc->secret, sc->id, r->nonce, role, r->bind,
                         r->proof) < 0)
    fail(w, "proof_compute failed");
}

enum attack {
  LEGIT,
  FORGED,
  REPLAYED,
  WRONG_SESSION,
  WRONG_PIN,
  WRONG_BIND,
  STALE,
  UNKNOWN,
};

static const char *const attack_names[] = {
    "legit",     "forged",     "replayed", "wrong-session",
    "wrong-pin", "wrong-bind", "stale",    "unknown-session"};

static int do_attach(struct world *w, int k, enum jvpn_proof_role role,
                     enum attack how) {
  struct client *c = &w->c[k];
  struct jvpn_attach_req r;
  struct jvpn_session *s;
  int rv, security;

  if (how == REPLAYED) {
    if (!c->has_last_ok)
      how = FORGED;
    else
      r = c->last_ok;
  }
  if (how != REPLAYED)
    make_req(w, k, how == WRONG_SESSION ? 1 - k : k, role, &r);
  switch (how) {
  case FORGED: rng_bytes(&w->rng, r.proof, sizeof(r.proof)); break;
  case WRONG_PIN: r.peer_pin[rng_below(&w->rng, JVPN_PIN_LEN)] ^= 0x10; break;
  case WRONG_BIND: r.bind[rng_below(&w->rng, JVPN_BIND_LEN)] ^= 0x01; break;
  case STALE: r.version = c->version - 1 - rng_below(&w->rng, 3); break;
  case UNKNOWN: rng_bytes(&w->rng, r.session_id, sizeof(r.session_id)); break;
  default: break;
  }
  if (w->verbose)
    printf("  %s %s attach role=%d att=%" PRIu64 " nonce=%" PRIu64 " v=%" PRIu64
           "\n",
           k ? "B" : "A", attack_names[how], (int)r.role, r.attachment, r.nonce,
           r.version);
  rv = jvpn_session_table_attach(w->t, &r, w->now, &w->p, &w->out);
  h_out(w, &w->out, rv);
  print_out(w, &w->out, rv);
  security = rv < 0 && jvpn_reason_is_security(w->out.verdict);
  if (rv == JVPN_ERR_INVAL)
    fail(w, "attach returned INVAL");
  if (how != LEGIT && rv == 0)
    fail(w, "%s request accepted", attack_names[how]);
  if (how != LEGIT && !security)
    fail(w, "%s request refused without a security reason (%s)",
         attack_names[how], jvpn_reason_name(w->out.verdict));
  if (rv == 0) {
    w->stats[ST_ACCEPT]++;
    s = sess_of(w, k);
    c->version = s->attach_version;
    c->last_ok = r;
    c->has_last_ok = 1;
  } else {
    w->stats[security ? ST_SECURITY : ST_DENIED]++;
    if (how == LEGIT && !security)
      c->last_ok = r, c->has_last_ok = 1; /* nonce spent all the same */
  }
  check(w, how == UNKNOWN ? -2 : k, security, rv);
  return rv;
}

static void do_event(struct world *w, int k, struct jvpn_session_event *e) {
  struct jvpn_session *s = sess_of(w, k);
  int rv;

  if (s == NULL)
    return;
  if (w->verbose)
    printf("  %s event %d att=%" PRIu64 " %s\n", k ? "B" : "A", (int)e->type,
           e->attachment, jvpn_reason_name(e->reason));
  rv = jvpn_session_handle(s, e, &w->p, w->now, &w->out);
  h_out(w, &w->out, rv);
  print_out(w, &w->out, rv);
  if (rv == JVPN_ERR_INVAL)
    fail(w, "event refused as malformed");
  check(w, -1, 0, rv);
}

static uint64_t some_attachment(struct world *w, struct jvpn_session *s) {
  uint64_t a = jvpn_session_active(s);

  if (a == 0 || rng_below(&w->rng, 4) == 0) {
    size_t i = rng_below(&w->rng, JVPN_MAX_ATTACHMENTS);
    if (s->att[i].role != JVPN_ATT_FREE)
      a = s->att[i].id;
  }
  return a;
}

static void step(struct world *w) {
  struct jvpn_session_event e;
  struct jvpn_session *s;
  uint64_t dice = rng_below(&w->rng, 100);
  int k = (int)rng_below(&w->rng, NCLIENTS);

  jvpn_session_out_reset(&w->out);
  jvpn_session_out_reset(&w->sweep_out);
  snapshot(w);
  w->now += rng_below(&w->rng, 300); /* events are never simultaneous */
  s = sess_of(w, k);
  memset(&e, 0, sizeof(e));

  if (s == NULL) {
    birth(w, k);
    h_out(w, &w->out, 0);
    print_out(w, &w->out, 0);
    remember(w);
    return;
  }
  if (dice < 10) {
    w->now += 1 + rng_below(&w->rng, 2000);
    if (w->verbose)
      printf("  tick now=%" PRIu64 "\n", w->now);
    sweep(w);
    check(w, -1, 0, 0);
  } else if (dice < 13) {
    /* clock jumps: seconds to hours, across every bound */
    w->now +=
        1000 * (1 + rng_below(&w->rng, rng_below(&w->rng, 2) ? 20 : 36000));
    if (w->verbose)
      printf("  jump now=%" PRIu64 "\n", w->now);
    sweep(w);
    check(w, -1, 0, 0);
  } else if (dice < 21) {
    e.type = JVPN_EV_TRANSPORT_DEAD;
    e.attachment = some_attachment(w, s);
    do_event(w, k, &e);
  } else if (dice < 29) {
    e.type = JVPN_EV_PATH_CHANGE;
    e.attachment = some_attachment(w, s);
    e.reason = rng_below(&w->rng, 2) ? JVPN_R_NAT_REBIND : JVPN_R_PATH_MIGRATED;
    do_event(w, k, &e);
  } else if (dice < 37) {
    e.type = rng_below(&w->rng, 5) ? JVPN_EV_HEALTH : JVPN_EV_VOLATILITY;
    e.attachment = some_attachment(w, s);
    e.health.silence_ms = rng_below(&w->rng, 3000);
    e.health.loss_pct = (uint32_t)rng_below(&w->rng, 30);
    e.health.probe_drops = (uint32_t)rng_below(&w->rng, 4);
    do_event(w, k, &e);
  } else if (dice < 52) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, LEGIT);
  } else if (dice < 56) {
    /* two reattaches racing on the same version: at most one may win */
    uint64_t held = w->c[k].version;
    int rv1, rv2;
    rv1 = do_attach(w, k, JVPN_ROLE_REATTACH, LEGIT);
    w->c[k].version = held;
    jvpn_session_out_reset(&w->out);
    snapshot(w);
    remember(w);
    rv2 = do_attach(w, k, JVPN_ROLE_REATTACH, LEGIT);
    if (rv1 == 0 && rv2 == 0)
      fail(w, "both racing reattaches won");
    s = sess_of(w, k);
    if (s != NULL)
      w->c[k].version = s->attach_version;
  } else if (dice < 62) {
    (void)do_attach(w, k, JVPN_ROLE_STANDBY, LEGIT);
  } else if (dice < 67) {
    (void)do_attach(w, k, JVPN_ROLE_ACTIVATE, LEGIT);
  } else if (dice < 72) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, FORGED);
  } else if (dice < 77) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, REPLAYED);
  } else if (dice < 81) {
    (void)do_attach(
        w, k, rng_below(&w->rng, 2) ? JVPN_ROLE_REATTACH : JVPN_ROLE_STANDBY,
        WRONG_SESSION);
  } else if (dice < 85) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, WRONG_PIN);
  } else if (dice < 89) {
    (void)do_attach(w, k, JVPN_ROLE_ACTIVATE, WRONG_BIND);
  } else if (dice < 93) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, STALE);
  } else if (dice < 96) {
    (void)do_attach(w, k, JVPN_ROLE_REATTACH, UNKNOWN);
  } else if (dice < 97) {
    e.type = JVPN_EV_TERMINATE;
    e.reason =
        rng_below(&w->rng, 2) ? JVPN_R_OPERATOR_TERMINATED : JVPN_R_PEER_CLOSED;
    do_event(w, k, &e);
  } else {
    sweep(w);
    check(w, -1, 0, 0);
  }
  remember(w);
}

/* Runs one seed; returns the output hash. */
static uint64_t run(uint64_t seed, unsigned steps, int verbose, int *failed,
                    char *why, size_t whylen, unsigned long *stats) {
  static struct world w;
  unsigned i;
  int k;

  memset(&w, 0, sizeof(w));
  w.rng.s = seed;
  w.seed = seed;
  w.verbose = verbose;
  w.hash = 0xcbf29ce484222325ULL;
  w.now = 1000 + rng_below(&w.rng, 1000000);
  jvpn_policy_init(&w.p);
  if (jvpn_session_table_new(&w.t, 8, NULL) < 0) {
    *failed = 1;
    (void)snprintf(why, whylen, "table_new failed");
    return 0;
  }
  for (k = 0; k < NCLIENTS; k++) {
    jvpn_session_out_reset(&w.out);
    birth(&w, k);
    h_out(&w, &w.out, 0);
  }
  remember(&w);
  for (i = 0; i < steps && !w.failed; i++) {
    w.step = i;
    if (verbose)
      printf("step %u now=%" PRIu64 "\n", i, w.now);
    step(&w);
  }
  jvpn_session_table_del(w.t);
  *failed = w.failed;
  if (w.failed)
    (void)snprintf(why, whylen, "step %" PRIu64 ": %s", w.step, w.why);
  for (k = 0; k < 8; k++)
    stats[k] += w.stats[k];
  return w.hash;
}

static unsigned long env_num(const char *name, unsigned long def) {
  const char *v = getenv(name);
  char *end;
  unsigned long n;

  if (v == NULL || *v == '\0')
    return def;
  n = strtoul(v, &end, 10);
  return *end == '\0' ? n : def;
}

int main(void) {
  unsigned long seeds = env_num("SIM_SEEDS", 5000);
  unsigned long steps = env_num("SIM_STEPS", 200);
  unsigned long passed = 0, failed = 0, seed, first = 0;
  unsigned long stats[8] = {0}, dummy[8] = {0};
  const char *one = getenv("SIM_SEED");
  struct timespec t0, t1;
  uint64_t h1, h2;
  char why[320], why2[320];
  int f1, f2;
  double secs;

  if (one != NULL && *one != '\0') {
    first = env_num("SIM_SEED", 0);
    seeds = 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (seed = first; seed < first + seeds; seed++) {
    why[0] = why2[0] = '\0';
    h1 = run(seed, (unsigned)steps, one != NULL && *one != '\0', &f1, why,
             sizeof(why), stats);
    h2 = run(seed, (unsigned)steps, 0, &f2, why2, sizeof(why2), dummy);
    if (!f1 && h1 != h2) {
      f1 = 1;
      (void)snprintf(why, sizeof(why),
                     "not deterministic: hash %016" PRIx64 " then %016" PRIx64,
                     h1, h2);
    }
    if (f1) {
      if (failed < MAX_FAIL_PRINT)
        printf("FAIL seed %lu: %s\n  replay: SIM_SEED=%lu SIM_STEPS=%lu "
               "%s\n",
               seed, why, seed, steps, "tests/sim/sim_session");
      failed++;
    } else {
      passed++;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sim_session: %lu passed, %lu failed (%lu seeds x %lu steps, each "
         "run twice, %.1f s, %.0f seeds/s)\n",
         passed, failed, seeds, steps, secs, secs > 0 ? seeds / secs : 0.0);
  printf("  accepted %lu, refused as unauthenticated %lu, refused by policy "
         "%lu, transitions %lu, births %lu\n",
         stats[ST_ACCEPT], stats[ST_SECURITY], stats[ST_DENIED],
         stats[ST_TRANSITIONS], stats[ST_BIRTHS]);
  return failed == 0 ? 0 : 1;
}
