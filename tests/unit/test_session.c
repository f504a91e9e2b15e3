/* Unit tests of the session core (src/session.c) with a hand-advanced
 * clock: the transitions of docs/state-machine.md, its timers and its
 * invariants. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/session.h"

#define S_ 1000ULL
#define T0 1000000ULL /* an arbitrary monotonic origin */

static const uint8_t ID[JVPN_SESSION_ID_LEN] = {
    0x5e, 0x55, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static const uint8_t SECRET[JVPN_SECRET_LEN] = {0xaa, 0xbb, 0xcc};
static const uint8_t PIN[JVPN_PIN_LEN] = {0x01, 0x02, 0x03};

struct fixture {
  struct jvpn_policy p;
  struct jvpn_session s;
  struct jvpn_session_out out;
  uint64_t now;
};

static struct fixture fx;

static int setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  jvpn_policy_init(&fx.p);
  fx.now = T0;
  jvpn_session_out_reset(&fx.out);
  jvpn_session_init(&fx.s, JVPN_SIDE_SERVER, ID, SECRET, PIN, &fx.p, fx.now,
                    &fx.out);
  return 0;
}

static int ev(enum jvpn_event_type type, uint64_t att, enum jvpn_reason r) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = type;
  e.attachment = att;
  e.reason = r;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out);
}

/* ACTIVATE of |att| flagged as a failover (the active is dead). */
static int failover(uint64_t att) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_ACTIVATE;
  e.attachment = att;
  e.failover = 1;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out);
}

static int health(uint64_t att, uint64_t silence, uint32_t loss,
                  uint32_t drops) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_HEALTH;
  e.attachment = att;
  e.health.silence_ms = silence;
  e.health.loss_pct = loss;
  e.health.probe_drops = drops;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out);
}

static int tick_at(uint64_t t) {
  fx.now = t;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_tick(&fx.s, &fx.p, fx.now, &fx.out);
}

static const struct jvpn_audit_record *rec_of(enum jvpn_audit_kind kind,
                                              size_t nth) {
  size_t i;

  for (i = 0; i < fx.out.nrecords; i++)
    if (fx.out.records[i].kind == kind && nth-- == 0)
      return &fx.out.records[i];
  return NULL;
}

static int has_action(enum jvpn_action_type type, uint64_t att) {
  size_t i;

  for (i = 0; i < fx.out.nactions; i++)
    if (fx.out.actions[i].type == type && fx.out.actions[i].attachment == att)
      return 1;
  return 0;
}

static void attach_first(void) {
  assert_int_equal(ev(JVPN_EV_ATTACH_CONFIRMED, 1, 0), 0);
}

/* |type| for |att| from the connection at |peer|. */
static int ev_from(enum jvpn_event_type type, uint64_t att, const char *peer) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = type;
  e.attachment = att;
  e.peer = peer;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out);
}

/* --- tests ----------------------------------------------------------- */

/* The records that open an attachment name its connection's remote
 * address: the timeline labels each bar with it. */
static void test_peer_in_records(void **state) {
  (void)state;
  assert_int_equal(ev_from(JVPN_EV_ATTACH_CONFIRMED, 1, "198.18.3.1:4000"), 0);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_TRANSITION);
  assert_string_equal(fx.out.records[0].reason, "HANDSHAKE_OK");
  assert_string_equal(fx.out.records[0].peer, "198.18.3.1:4000");
  fx.now += 1;
  assert_int_equal(ev_from(JVPN_EV_STANDBY, 2, "198.18.4.1:4001"), 0);
  assert_int_equal(fx.out.nrecords, 1);
  assert_string_equal(fx.out.records[0].event, "standby_added");
  assert_int_equal(fx.out.records[0].to_attachment, 2);
  assert_string_equal(fx.out.records[0].peer, "198.18.4.1:4001");
}

static void test_birth_then_attached(void **state) {
  const struct jvpn_audit_record *r;

  (void)state;
  /* init wrote the SESSION_BORN record */
  assert_int_equal(fx.out.nrecords, 1);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_INFO);
  assert_string_equal(fx.out.records[0].reason, "SESSION_BORN");
  assert_int_equal(fx.s.state, JVPN_SS_BIRTH);
  assert_int_equal(fx.s.state_version, 0);

  fx.now += 40;
  attach_first();
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(fx.s.state_version, 1);
  assert_int_equal(fx.s.attach_version, 1);
  assert_int_equal(jvpn_session_active(&fx.s), 1);
  assert_true(has_action(JVPN_ACT_ACTIVATE, 1));
  r = rec_of(JVPN_AUDIT_TRANSITION, 0);
  assert_non_null(r);
  assert_string_equal(r->from, "BIRTH");
  assert_string_equal(r->to, "ATTACHED");
  assert_string_equal(r->reason, "HANDSHAKE_OK");
  assert_int_equal(r->state_version, 1);
  assert_int_equal(r->policy_version, fx.p.version);
  assert_int_equal(r->mono_ms, T0 + 40);
  assert_int_equal(r->wall_ms, 0); /* the writer's to fill */
  assert_memory_equal(r->session, ID, sizeof(ID));
  assert_int_equal(fx.s.time_in_state_ms[JVPN_SS_BIRTH], 40);
}

/* Issue scenario 1.1: the active attachment dies, the client comes back on
 * another one; same session, one version per transition. */
static void test_death_then_reattach_elsewhere(void **state) {
  const struct jvpn_audit_record *r;

  (void)state;
  attach_first();
  fx.now += 5 * S_;
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 1, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_RECOVERING);
  assert_int_equal(fx.s.state_version, 2);
  assert_int_equal(jvpn_session_active(&fx.s), 0);
  assert_string_equal(rec_of(JVPN_AUDIT_TRANSITION, 0)->reason,
                      "TRANSPORT_DEAD");
  /* the server waits for the client: no recovery action of its own */
  assert_int_equal(fx.out.nactions, 0);

  fx.now += 2 * S_;
  assert_int_equal(ev(JVPN_EV_REATTACH, 7, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(fx.s.state_version, 3);
  assert_int_equal(fx.s.attach_version, 3);
  assert_int_equal(jvpn_session_active(&fx.s), 7);
  assert_memory_equal(fx.s.id, ID, sizeof(ID));
  r = rec_of(JVPN_AUDIT_TRANSITION, 0);
  assert_string_equal(r->reason, "REATTACH_ACCEPT");
  assert_string_equal(r->from, "RECOVERING");
  r = rec_of(JVPN_AUDIT_SWITCH, 0);
  assert_non_null(r);
  assert_int_equal(r->from_attachment, 0);
  assert_int_equal(r->to_attachment, 7);
  assert_true(has_action(JVPN_ACT_ACTIVATE, 7));
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now), 1);
  assert_int_equal(fx.s.time_in_state_ms[JVPN_SS_RECOVERING], 2 * S_);
}

/* The server had not noticed the death: a reattach while ATTACHED goes
 * through RECOVERING (two transitions) and closes the old attachment. */
static void test_reattach_while_attached(void **state) {
  (void)state;
  attach_first();
  fx.now += S_;
  assert_int_equal(ev(JVPN_EV_REATTACH, 2, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(fx.s.state_version, 3);
  assert_int_equal(fx.out.nrecords, 3); /* 2 transitions + 1 switch */
  assert_string_equal(rec_of(JVPN_AUDIT_TRANSITION, 0)->reason,
                      "RECOVERY_START");
  assert_int_equal(rec_of(JVPN_AUDIT_TRANSITION, 0)->state_version, 2);
  assert_int_equal(rec_of(JVPN_AUDIT_TRANSITION, 1)->state_version, 3);
  assert_true(has_action(JVPN_ACT_CLOSE_ATTACHMENT, 1));
  assert_int_equal(jvpn_session_count(&fx.s, JVPN_ATT_ACTIVE), 1);
  assert_int_equal(jvpn_session_active(&fx.s), 2);
}

static void test_reattach_before_bound(void **state) {
  (void)state;
  attach_first();
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 1, 0), 0);
  /* just inside the recovery window */
  assert_int_equal(tick_at(T0 + fx.p.recovery_window_ms - 1), 0);
  assert_int_equal(fx.s.state, JVPN_SS_RECOVERING);
  assert_int_equal(ev(JVPN_EV_REATTACH, 2, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  /* attached again: the transport-loss TTL is disarmed */
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   T0 + fx.p.session_lifetime_ms);
}

/* After the recovery window: DEGRADED, still reattachable; after the
 * transport-loss TTL: TERMINATED, addresses released, and a late reattach
 * is refused. */
static void test_reattach_after_bound_terminated(void **state) {
  struct jvpn_session snap;

  (void)state;
  attach_first();
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 1, 0), 0);
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   T0 + fx.p.recovery_window_ms);
  assert_int_equal(tick_at(T0 + fx.p.recovery_window_ms), 1);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  assert_string_equal(fx.out.records[0].reason, "RECOVERY_BOUNDS_EXCEEDED");
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   T0 + fx.p.transport_loss_ttl_ms);
  assert_false(
      jvpn_session_expired(&fx.s, &fx.p, T0 + fx.p.transport_loss_ttl_ms - 1));
  assert_true(
      jvpn_session_expired(&fx.s, &fx.p, T0 + fx.p.transport_loss_ttl_ms));

  assert_int_equal(tick_at(T0 + fx.p.transport_loss_ttl_ms), 1);
  assert_int_equal(fx.s.state, JVPN_SS_TERMINATED);
  assert_string_equal(fx.out.records[0].reason, "TTL_TRANSPORT_LOSS_EXPIRED");
  assert_true(has_action(JVPN_ACT_TERMINATE, 0));
  assert_true(has_action(JVPN_ACT_RELEASE_ADDRESSES, 0));
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p), JVPN_NO_DEADLINE);

  fx.now += 1;
  memcpy(&snap, &fx.s, sizeof(snap));
  assert_int_equal(ev(JVPN_EV_REATTACH, 2, 0), JVPN_ERR_DENIED);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_DENIAL);
}

static void test_lifetime_expiry(void **state) {
  uint64_t end = T0 + fx.p.session_lifetime_ms;

  (void)state;
  attach_first();
  assert_int_equal(ev(JVPN_EV_STANDBY, 2, 0), 0);
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p), end);
  assert_int_equal(tick_at(end - 1), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(tick_at(end), 1);
  assert_int_equal(fx.s.state, JVPN_SS_TERMINATED);
  assert_string_equal(fx.out.records[0].reason, "TTL_SESSION_EXPIRED");
  assert_string_equal(fx.out.records[0].from, "ATTACHED");
  /* both attachments closed, in ID order, then terminate and release */
  assert_int_equal(fx.out.nactions, 4);
  assert_int_equal(fx.out.actions[0].type, JVPN_ACT_CLOSE_ATTACHMENT);
  assert_int_equal(fx.out.actions[0].attachment, 1);
  assert_int_equal(fx.out.actions[1].attachment, 2);
  assert_int_equal(fx.out.actions[2].type, JVPN_ACT_TERMINATE);
  assert_int_equal(fx.out.actions[3].type, JVPN_ACT_RELEASE_ADDRESSES);
  assert_int_equal(jvpn_session_count(&fx.s, JVPN_ATT_FREE),
                   JVPN_MAX_ATTACHMENTS);
}

/* A clock jump past everything ends the session once, with the reason of
 * the earliest expired bound. */
static void test_clock_jump(void **state) {
  (void)state;
  attach_first();
  assert_int_equal(health(1, 5 * S_, 0, 0), 0); /* silence -> VOLATILE */
  assert_int_equal(fx.s.state, JVPN_SS_VOLATILE);
  assert_int_equal(tick_at(T0 + 100 * 3600 * S_), 2);
  assert_int_equal(fx.s.state, JVPN_SS_TERMINATED);
  assert_string_equal(fx.out.records[0].reason, "VOLATILE_PERSISTED");
  assert_string_equal(fx.out.records[1].reason, "TTL_SESSION_EXPIRED");
  assert_int_equal(fx.s.state_version, 4);
  assert_int_equal(tick_at(T0 + 200 * 3600 * S_), 0);
}

static void test_undefined_pair_changes_nothing(void **state) {
  struct jvpn_session snap;

  (void)state;
  /* BIRTH: no reattach, no health */
  memcpy(&snap, &fx.s, sizeof(snap));
  assert_int_equal(ev(JVPN_EV_REATTACH, 3, 0), JVPN_ERR_DENIED);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
  assert_int_equal(fx.out.nrecords, 1);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_DENIAL);
  assert_string_equal(fx.out.records[0].reason, "UNDEFINED_EVENT");
  assert_string_equal(fx.out.records[0].from, "BIRTH");
  assert_int_equal(fx.out.verdict, JVPN_R_UNDEFINED_EVENT);

  attach_first();
  memcpy(&snap, &fx.s, sizeof(snap));
  assert_int_equal(ev(JVPN_EV_ATTACH_CONFIRMED, 5, 0), JVPN_ERR_DENIED);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
  /* malformed events: refused without a record */
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_HANDSHAKE_OK),
                   JVPN_ERR_INVAL);
  assert_int_equal(ev(JVPN_EV_TERMINATE, 0, JVPN_R_NAT_REBIND), JVPN_ERR_INVAL);
  assert_int_equal(ev(JVPN_EV_TERMINATE, 0, JVPN_R_TTL_SESSION_EXPIRED),
                   JVPN_ERR_INVAL);
  assert_int_equal(ev((enum jvpn_event_type)99, 1, 0), JVPN_ERR_INVAL);
  /* a reused attachment ID never names a new attachment */
  assert_int_equal(ev(JVPN_EV_REATTACH, 1, 0), JVPN_ERR_INVAL);
  assert_int_equal(ev(JVPN_EV_STANDBY, 0, 0), JVPN_ERR_INVAL);
  /* a late report about an unknown attachment */
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 42, 0), JVPN_ERR_NOTFOUND);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
}

static void test_terminated_absorbing(void **state) {
  static const enum jvpn_event_type types[] = {
      JVPN_EV_ATTACH_CONFIRMED, JVPN_EV_HEALTH,   JVPN_EV_VOLATILITY,
      JVPN_EV_TRANSPORT_DEAD,   JVPN_EV_REATTACH, JVPN_EV_STANDBY,
      JVPN_EV_ACTIVATE,         JVPN_EV_TERMINATE};
  struct jvpn_session snap;
  size_t i;
  int rv;

  (void)state;
  attach_first();
  assert_int_equal(ev(JVPN_EV_TERMINATE, 0, JVPN_R_OPERATOR_TERMINATED), 0);
  assert_int_equal(fx.s.state, JVPN_SS_TERMINATED);
  assert_true(has_action(JVPN_ACT_CLOSE_ATTACHMENT, 1));
  memcpy(&snap, &fx.s, sizeof(snap));
  for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    fx.now += 10;
    rv = ev(types[i], 9 + i, JVPN_R_PEER_CLOSED);
    assert_true(rv == JVPN_ERR_DENIED || rv == JVPN_ERR_INVAL);
    assert_memory_equal(&snap, &fx.s, sizeof(snap));
  }
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND),
                   JVPN_ERR_DENIED);
  assert_int_equal(tick_at(T0 + 365 * 24 * 3600 * S_), 0);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
}

static void test_id_never_changes(void **state) {
  uint64_t att = 1;
  int i;

  (void)state;
  attach_first();
  for (i = 0; i < 30; i++) {
    fx.now += 9 * S_; /* beyond the per-minute budget over time */
    (void)ev(JVPN_EV_TRANSPORT_DEAD, att, 0);
    (void)ev(JVPN_EV_REATTACH, ++att, 0);
    (void)ev(JVPN_EV_PATH_CHANGE, att, JVPN_R_NAT_REBIND);
    (void)health(att, 3 * S_, 50, 4);
    (void)tick_at(fx.now + 5 * S_);
    assert_memory_equal(fx.s.id, ID, sizeof(ID));
    assert_true(jvpn_session_count(&fx.s, JVPN_ATT_ACTIVE) <= 1);
  }
}

/* Same inputs, same outputs (rule 6): a scripted run twice, compared byte
 * for byte, session and output alike. */
static void script(struct jvpn_session *s, struct jvpn_session_out *all,
                   const struct jvpn_policy *p) {
  struct jvpn_session_event e;
  struct jvpn_session_out o;
  uint64_t now = T0;
  size_t i, k;

  memset(all, 0, sizeof(*all));
  jvpn_session_init(s, JVPN_SIDE_CLIENT, ID, SECRET, PIN, p, now, all);
  for (i = 0; i < 40; i++) {
    memset(&e, 0, sizeof(e));
    memset(&o, 0, sizeof(o));
    e.type = (enum jvpn_event_type)(1 + i % 8);
    e.attachment = 1 + i / 2;
    e.reason = i % 3 ? JVPN_R_NAT_REBIND : JVPN_R_PEER_CLOSED;
    e.health.silence_ms = (i * 700) % 3000;
    now += (i * 997) % 6000;
    (void)jvpn_session_handle(s, &e, p, now, &o);
    (void)jvpn_session_tick(s, p, now, &o);
    for (k = 0; k < o.nrecords && all->nrecords < JVPN_SESSION_MAX_RECORDS; k++)
      all->records[all->nrecords++] = o.records[k];
    all->records_dropped += o.nrecords + o.nactions;
  }
}

static void test_deterministic(void **state) {
  static struct jvpn_session a, b;
  static struct jvpn_session_out oa, ob;

  (void)state;
  script(&a, &oa, &fx.p);
  script(&b, &ob, &fx.p);
  assert_memory_equal(&a, &b, sizeof(a));
  assert_memory_equal(&oa, &ob, sizeof(oa));
  assert_true(a.n_transitions > 0);
}

/* Issue: rapid deaths beyond the switch limit -> DEGRADED, and no further
 * switch while the limit holds. */
static void test_rapid_deaths_flap_limit(void **state) {
  struct jvpn_session snap;
  uint64_t att = 1;
  uint32_t i;

  (void)state;
  attach_first();
  for (i = 0; i < fx.p.max_switches_per_min; i++) {
    fx.now += 200;
    assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, att, 0), 0);
    assert_int_equal(ev(JVPN_EV_REATTACH, ++att, 0), 0);
    assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  }
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now),
                   fx.p.max_switches_per_min);
  fx.now += 200;
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, att, 0), 0);
  assert_int_equal(ev(JVPN_EV_REATTACH, att + 1, 0), JVPN_ERR_DENIED);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  assert_string_equal(fx.out.records[0].reason, "POLICY_FLAP_LIMIT");
  assert_string_equal(fx.out.records[0].from, "RECOVERING");
  assert_true(has_action(JVPN_ACT_CLOSE_ATTACHMENT, att + 1));
  assert_int_equal(jvpn_session_active(&fx.s), 0);

  /* DEGRADED: further reattaches are refused and change nothing */
  fx.now += 500;
  memcpy(&snap, &fx.s, sizeof(snap));
  assert_int_equal(ev(JVPN_EV_REATTACH, att + 2, 0), JVPN_ERR_DENIED);
  assert_memory_equal(&snap, &fx.s, sizeof(snap));
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_DENIAL);
  assert_int_equal(fx.s.n_switches, fx.p.max_switches_per_min);
}

static void test_path_changes_counted(void **state) {
  uint32_t i;

  (void)state;
  attach_first();
  for (i = 0; i < fx.p.max_switches_per_min; i++) {
    fx.now += 1000;
    assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1,
                        i % 2 ? JVPN_R_PATH_MIGRATED : JVPN_R_NAT_REBIND),
                     0);
    assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_SWITCH);
    assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  }
  assert_string_equal(fx.out.records[0].reason, "PATH_MIGRATED");
  fx.now += 1000;
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND),
                   JVPN_ERR_DENIED);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  assert_string_equal(fx.out.records[0].reason, "POLICY_FLAP_LIMIT");
  assert_int_equal(jvpn_session_active(&fx.s), 1); /* path still carries */
  /* a minute after the first switch, the ring has room again */
  fx.now = T0 + 1000 + JVPN_POLICY_SWITCH_WINDOW_MS;
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND), 0);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
}

/* D53: the second port a NAT gives a flow right after the first is the
 * same event: audited, counted once; a path that keeps changing is still
 * counted once a second and reaches the limit. */
static void test_path_change_burst_counted_once(void **state) {
  uint32_t i;

  (void)state;
  attach_first();
  fx.now += 1000;
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND), 0);
  fx.now += 12;
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND), 0);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_SWITCH);
  assert_string_equal(fx.out.records[0].reason, "NAT_REBIND");
  assert_non_null(strstr(fx.out.records[0].detail, "counted once"));
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now), 1);
  /* a second after the counted one: a new event */
  fx.now += JVPN_POLICY_PATH_BURST_MS - 12;
  assert_int_equal(ev(JVPN_EV_PATH_CHANGE, 1, JVPN_R_NAT_REBIND), 0);
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now), 2);
  /* a path changing every 200 ms: one counted a second, then the limit */
  for (i = 0; i < 5 * fx.p.max_switches_per_min &&
              fx.s.state == JVPN_SS_ATTACHED;
       i++) {
    fx.now += 200;
    (void)ev(JVPN_EV_PATH_CHANGE, 1,
             i % 2 ? JVPN_R_PATH_MIGRATED : JVPN_R_NAT_REBIND);
  }
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now),
                   fx.p.max_switches_per_min);
  assert_true(i >= 5 * (fx.p.max_switches_per_min - 2));
}

static void test_volatile_degraded_recovered(void **state) {
  (void)state;
  attach_first();
  /* under every threshold: nothing */
  assert_int_equal(health(1, 1999, 20, 2), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(fx.out.nrecords, 0);
  /* loss over 20 % */
  assert_int_equal(health(1, 0, 21, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_VOLATILE);
  assert_non_null(strstr(fx.out.records[0].detail, "loss 21%"));
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   T0 + fx.p.volatile_degraded_ms);
  assert_int_equal(tick_at(T0 + fx.p.volatile_degraded_ms), 1);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  /* healthy again, but only a full stability window later */
  fx.now += 100;
  assert_int_equal(health(1, 0, 0, 0), 0);
  assert_int_equal(fx.out.nrecords, 0);
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   fx.now + fx.p.stability_window_ms);
  /* a bad report restarts the measurement */
  fx.now += 1000;
  assert_int_equal(health(1, 0, 0, 3), 0);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  assert_int_equal(health(1, 0, 0, 0), 0);
  assert_int_equal(tick_at(fx.now + fx.p.stability_window_ms - 1), 0);
  assert_int_equal(tick_at(fx.now + 1), 1);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_string_equal(fx.out.records[0].reason, "HEALTH_RECOVERED");
  /* standbys do not move the session */
  assert_int_equal(health(99, 9 * S_, 0, 0), JVPN_ERR_NOTFOUND);
}

static void test_standby_activate_cooldown(void **state) {
  uint32_t i;

  (void)state;
  attach_first();
  for (i = 0; i < fx.p.max_candidates; i++)
    assert_int_equal(ev(JVPN_EV_STANDBY, 2 + i, 0), 0);
  assert_int_equal(fx.s.state_version, 1); /* standbys are no transition */
  assert_int_equal(ev(JVPN_EV_STANDBY, 10, 0), JVPN_ERR_DENIED);
  assert_true(has_action(JVPN_ACT_CLOSE_ATTACHMENT, 10));
  assert_int_equal(jvpn_session_count(&fx.s, JVPN_ATT_STANDBY), 3);

  fx.now += S_;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 3, 0), 0);
  assert_int_equal(jvpn_session_active(&fx.s), 3);
  assert_int_equal(jvpn_session_count(&fx.s, JVPN_ATT_ACTIVE), 1);
  assert_int_equal(jvpn_session_count(&fx.s, JVPN_ATT_STANDBY), 3);
  assert_string_equal(rec_of(JVPN_AUDIT_TRANSITION, 1)->reason,
                      "TRANSPORT_SWITCH_OK");
  assert_int_equal(rec_of(JVPN_AUDIT_SWITCH, 0)->from_attachment, 1);
  /* a second voluntary switch inside the cooldown is refused */
  fx.now += fx.p.switch_cooldown_ms - 1;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 1, 0), JVPN_ERR_DENIED);
  assert_string_equal(fx.out.records[0].reason, "POLICY_DENY");
  fx.now += 1;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 1, 0), 0);
  assert_int_equal(jvpn_session_active(&fx.s), 1);
  /* a failover inside the cooldown goes through: the active is dead, so
   * there is nothing to flap from (the server may not know it yet) */
  fx.now += 1;
  assert_int_equal(failover(4), 0);
  assert_int_equal(jvpn_session_active(&fx.s), 4);
  assert_string_equal(rec_of(JVPN_AUDIT_TRANSITION, 1)->reason,
                      "TRANSPORT_SWITCH_OK");
  /* ... but not past the switch budget */
  fx.p.max_switches_per_min = 3;
  fx.now += 1;
  assert_int_equal(failover(1), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_session_active(&fx.s), 4);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  fx.p.max_switches_per_min = 8;
  fx.now += fx.p.switch_cooldown_ms;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 1, 0), 0);
  /* activating something that is not a standby */
  fx.now += 2 * S_;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 77, 0), JVPN_ERR_DENIED);
  /* losing a standby is bookkeeping, not a transition */
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 2, 0), 0);
  assert_string_equal(fx.out.records[0].reason, "STANDBY_LOST");
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
}

/* The client's copy decides recovery: a death names the best standby
 * (lowest ID) and a DEGRADED session retries after the cooldown. */
static void test_client_recovery_actions(void **state) {
  (void)state;
  jvpn_session_init(&fx.s, JVPN_SIDE_CLIENT, ID, SECRET, PIN, &fx.p, fx.now,
                    NULL);
  attach_first();
  assert_int_equal(ev(JVPN_EV_STANDBY, 5, 0), 0);
  assert_int_equal(ev(JVPN_EV_STANDBY, 4, 0), JVPN_ERR_INVAL); /* reused */
  assert_int_equal(ev(JVPN_EV_STANDBY, 6, 0), 0);
  assert_int_equal(ev(JVPN_EV_TRANSPORT_DEAD, 1, 0), 0);
  assert_true(has_action(JVPN_ACT_START_RECOVERY, 5));
  /* nothing worked within the window */
  assert_int_equal(tick_at(T0 + fx.p.recovery_window_ms), 1);
  assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
  /* the retry timer: one cooldown after entering DEGRADED */
  assert_int_equal(jvpn_session_next_deadline(&fx.s, &fx.p),
                   fx.now + fx.p.switch_cooldown_ms);
  assert_int_equal(tick_at(fx.now + fx.p.switch_cooldown_ms - 1), 0);
  assert_int_equal(tick_at(fx.now + 1), 1);
  assert_int_equal(fx.s.state, JVPN_SS_RECOVERING);
  assert_string_equal(fx.out.records[0].reason, "RECOVERY_RETRY");
  assert_true(has_action(JVPN_ACT_START_RECOVERY, 5));
  fx.now += 100;
  assert_int_equal(ev(JVPN_EV_ACTIVATE, 5, 0), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(jvpn_session_active(&fx.s), 5);
}

/* Rule 7: a full record batch drops and counts records; the transition
 * happens all the same. */
static void test_full_out_counts_drops(void **state) {
  (void)state;
  jvpn_session_out_reset(&fx.out);
  fx.out.nrecords = JVPN_SESSION_MAX_RECORDS;
  {
    struct jvpn_session_event e;
    memset(&e, 0, sizeof(e));
    e.type = JVPN_EV_ATTACH_CONFIRMED;
    e.attachment = 1;
    assert_int_equal(jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out), 0);
  }
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(fx.s.state_version, 1);
  assert_int_equal(fx.out.records_dropped, 1);
}

static void test_free_wipes_secret(void **state) {
  static const uint8_t zero[JVPN_SECRET_LEN];

  (void)state;
  assert_memory_equal(fx.s.secret, SECRET, sizeof(SECRET));
  jvpn_session_free(&fx.s);
  assert_memory_equal(fx.s.secret, zero, sizeof(zero));
  jvpn_session_free(NULL);
}

static void test_names(void **state) {
  int r;

  (void)state;
  assert_string_equal(jvpn_session_state_name(JVPN_SS_RECOVERING),
                      "RECOVERING");
  assert_string_equal(jvpn_session_state_name((enum jvpn_session_state)77),
                      "?");
  for (r = 0; r < JVPN_R_COUNT; r++)
    assert_string_not_equal(jvpn_reason_name((enum jvpn_reason)r), "?");
  assert_string_equal(jvpn_reason_name(JVPN_R_COUNT), "?");
  assert_true(jvpn_reason_is_security(JVPN_R_BAD_PROOF));
  assert_true(jvpn_reason_is_security(JVPN_R_STALE_VERSION));
  assert_false(jvpn_reason_is_security(JVPN_R_POLICY_DENY));
  assert_false(jvpn_reason_is_security(JVPN_R_NAT_REBIND));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_birth_then_attached, setup),
      cmocka_unit_test_setup(test_peer_in_records, setup),
      cmocka_unit_test_setup(test_death_then_reattach_elsewhere, setup),
      cmocka_unit_test_setup(test_reattach_while_attached, setup),
      cmocka_unit_test_setup(test_reattach_before_bound, setup),
      cmocka_unit_test_setup(test_reattach_after_bound_terminated, setup),
      cmocka_unit_test_setup(test_lifetime_expiry, setup),
      cmocka_unit_test_setup(test_clock_jump, setup),
      cmocka_unit_test_setup(test_undefined_pair_changes_nothing, setup),
      cmocka_unit_test_setup(test_terminated_absorbing, setup),
      cmocka_unit_test_setup(test_id_never_changes, setup),
      cmocka_unit_test_setup(test_deterministic, setup),
      cmocka_unit_test_setup(test_rapid_deaths_flap_limit, setup),
      cmocka_unit_test_setup(test_path_changes_counted, setup),
      cmocka_unit_test_setup(test_path_change_burst_counted_once, setup),
      cmocka_unit_test_setup(test_volatile_degraded_recovered, setup),
      cmocka_unit_test_setup(test_standby_activate_cooldown, setup),
      cmocka_unit_test_setup(test_client_recovery_actions, setup),
      cmocka_unit_test_setup(test_full_out_counts_drops, setup),
      cmocka_unit_test_setup(test_free_wipes_secret, setup),
      cmocka_unit_test_setup(test_names, setup),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
