/* Unit tests of client uplink selection (src/uplink.c) with a hand-advanced
 * clock. Every decision is also played into a real session core the way
 * the client does (docs/multipath.md), so a SWITCH the core would refuse,
 * or a denial it would accept, fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/session.h"
#include "jvpn/uplink.h"

#define S_ 1000ULL
#define T0 1000000ULL /* an arbitrary monotonic origin */
#define MS_ 1000ULL   /* us per ms */

static const uint8_t ID[JVPN_SESSION_ID_LEN] = {
    0x0b, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static const uint8_t SECRET[JVPN_SECRET_LEN] = {0xaa, 0xbb, 0xcc};
static const uint8_t PIN[JVPN_PIN_LEN] = {0x01, 0x02, 0x03};

struct fixture {
  struct jvpn_policy p;
  struct jvpn_uplink_policy up;
  struct jvpn_uplink_set set;
  struct jvpn_session s;
  struct jvpn_session_out out;
  struct jvpn_uplink_decision dec;
  uint64_t now;
};

static struct fixture fx;

/* Rebuilds the set and session after a test changed a policy knob. */
static void restart(void) {
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  assert_int_equal(jvpn_uplink_policy_validate(&fx.up, &fx.p, NULL, 0), 0);
  jvpn_uplink_set_init(&fx.set, &fx.up);
  jvpn_session_out_reset(&fx.out);
  jvpn_session_init(&fx.s, JVPN_SIDE_CLIENT, ID, SECRET, PIN, &fx.p, fx.now,
                    &fx.out);
}

static int setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  jvpn_policy_init(&fx.p);
  jvpn_uplink_policy_init(&fx.up);
  fx.now = T0;
  restart();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  jvpn_session_free(&fx.s);
  return 0;
}

static size_t add(const char *name, uint32_t prio, int metered,
                  uint64_t keepalive_ms) {
  struct jvpn_uplink_cfg c;
  int idx;

  memset(&c, 0, sizeof(c));
  (void)snprintf(c.name, sizeof(c.name), "%s", name);
  c.priority = prio;
  c.metered = metered;
  c.standby_keepalive_ms = keepalive_ms;
  idx = jvpn_uplink_add(&fx.set, &c);
  assert_true(idx >= 0);
  return (size_t)idx;
}

static int sess_ev(enum jvpn_event_type type, uint64_t att) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = type;
  e.attachment = att;
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_handle(&fx.s, &e, &fx.p, fx.now, &fx.out);
}

static void measure(uint64_t att, uint64_t srtt_ms, uint32_t loss,
                    uint64_t inflight, uint32_t ptos) {
  struct jvpn_uplink_sample m;

  memset(&m, 0, sizeof(m));
  m.srtt_us = srtt_ms * MS_;
  m.loss_pct = loss;
  m.last_ack_ms = fx.now;
  m.bytes_in_flight = inflight;
  m.pto_count = ptos;
  assert_int_equal(jvpn_uplink_measure(&fx.set, att, fx.now, &m), 0);
}

/* The session's first attachment, on uplink |idx|. */
static void attach_active(size_t idx, uint64_t att, uint64_t srtt_ms) {
  assert_int_equal(sess_ev(JVPN_EV_ATTACH_CONFIRMED, att), 0);
  assert_int_equal(
      jvpn_uplink_attached(&fx.set, idx, att, JVPN_ATT_ACTIVE, fx.now), 0);
  measure(att, srtt_ms, 0, 0, 0);
}

static void attach_standby(size_t idx, uint64_t att, uint64_t srtt_ms) {
  assert_int_equal(sess_ev(JVPN_EV_STANDBY, att), 0);
  assert_int_equal(
      jvpn_uplink_attached(&fx.set, idx, att, JVPN_ATT_STANDBY, fx.now), 0);
  measure(att, srtt_ms, 0, 0, 0);
}

static const struct jvpn_uplink_decision *decide(void) {
  assert_int_equal(jvpn_uplink_decide(&fx.set, &fx.s, &fx.p, fx.now, &fx.dec),
                   0);
  return &fx.dec;
}

/* Plays the decision into the session as the client does. */
static void apply(void) {
  const struct jvpn_uplink_decision *d = &fx.dec;

  if (d->action != JVPN_UPLINK_SWITCH && d->action != JVPN_UPLINK_DENIED_BUDGET)
    return;
  if (d->failover && jvpn_session_active(&fx.s) == d->from) {
    assert_int_equal(sess_ev(JVPN_EV_TRANSPORT_DEAD, d->from), 0);
    assert_int_equal(jvpn_uplink_lost(&fx.set, d->from, fx.now), 0);
  }
  if (d->action == JVPN_UPLINK_DENIED_BUDGET) {
    /* The core refuses it too, and that takes it to DEGRADED. */
    assert_int_equal(sess_ev(JVPN_EV_ACTIVATE, d->to), JVPN_ERR_DENIED);
    assert_int_equal(fx.s.state, JVPN_SS_DEGRADED);
    return;
  }
  assert_int_equal(sess_ev(JVPN_EV_ACTIVATE, d->to), 0);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  assert_int_equal(jvpn_session_active(&fx.s), d->to);
  assert_int_equal(jvpn_uplink_activated(&fx.set, d->to, fx.now), 0);
}

static void expect(enum jvpn_uplink_action a, enum jvpn_uplink_reason r,
                   uint64_t to) {
  const struct jvpn_uplink_decision *d = decide();

  if (d->action != a || d->reason != r || d->to != to)
    fail_msg("got %s %s to %llu (%s), want %s %s to %llu",
             jvpn_uplink_action_name(d->action),
             jvpn_uplink_reason_name(d->reason), (unsigned long long)d->to,
             d->detail, jvpn_uplink_action_name(a), jvpn_uplink_reason_name(r),
             (unsigned long long)to);
}

static const struct jvpn_audit_record *find_record(const char *event) {
  size_t i;

  for (i = 0; i < fx.dec.nrecords; i++)
    if (strcmp(fx.dec.records[i].event, event) == 0)
      return &fx.dec.records[i];
  return NULL;
}

/* --- policy -------------------------------------------------------------- */

static void test_policy(void **state) {
  struct jvpn_uplink_policy up;
  enum jvpn_uplink_return m;
  char err[128];

  (void)state;
  jvpn_uplink_policy_init(&up);
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, err, sizeof(err)),
                   0);
  up.detect_floor_ms = fx.p.silence_volatile_ms + 1;
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, err, sizeof(err)),
                   JVPN_ERR_INVAL);
  assert_non_null(strstr(err, "detect_floor_ms"));
  jvpn_uplink_policy_init(&up);
  up.metered_keepalive_ms = fx.p.heartbeat_ms - 1; /* not a "low rate" */
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, NULL, 0),
                   JVPN_ERR_INVAL);
  jvpn_uplink_policy_init(&up);
  up.detect_k = 0;
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, NULL, 0),
                   JVPN_ERR_INVAL);
  jvpn_uplink_policy_init(&up);
  up.detect_ptos = 0;
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, NULL, 0),
                   JVPN_ERR_INVAL);
  jvpn_uplink_policy_init(&up);
  up.return_mode = (enum jvpn_uplink_return)7;
  assert_int_equal(jvpn_uplink_policy_validate(&up, &fx.p, NULL, 0),
                   JVPN_ERR_INVAL);

  assert_int_equal(jvpn_uplink_return_parse("never", &m), 0);
  assert_int_equal(m, JVPN_UPLINK_RETURN_NEVER);
  assert_int_equal(jvpn_uplink_return_parse("after_stability", &m), 0);
  assert_int_equal(m, JVPN_UPLINK_RETURN_AFTER_STABILITY);
  assert_int_equal(jvpn_uplink_return_parse("always", &m), JVPN_ERR_INVAL);
  assert_string_equal(jvpn_uplink_reason_name(JVPN_UPLINK_R_ACTIVE_SILENT),
                      "ACTIVE_SILENT");
  assert_string_equal(jvpn_uplink_reason_name(JVPN_UPLINK_R_COUNT), "?");
  assert_string_equal(jvpn_uplink_action_name(JVPN_UPLINK_DENIED_BUDGET),
                      "DENIED_BUDGET");
}

static void test_silence_threshold(void **state) {
  (void)state;
  /* k x SRTT, rounded up to whole ms */
  assert_int_equal(jvpn_uplink_silence_ms(&fx.up, &fx.p, 100 * MS_), 400);
  assert_int_equal(jvpn_uplink_silence_ms(&fx.up, &fx.p, 100 * MS_ + 1), 401);
  /* the floor */
  assert_int_equal(jvpn_uplink_silence_ms(&fx.up, &fx.p, 20 * MS_), 150);
  /* no sample: RFC 9002's initial RTT */
  assert_int_equal(jvpn_uplink_silence_ms(&fx.up, &fx.p, 0), 4 * 333);
  /* never past the coarse bound */
  assert_int_equal(jvpn_uplink_silence_ms(&fx.up, &fx.p, 900 * MS_),
                   fx.p.silence_volatile_ms);
}

/* --- detection ----------------------------------------------------------- */

static void two_uplinks(void) {
  size_t a = add("wlan0", 0, 0, 0), b = add("lte0", 1, 0, 0);

  attach_active(a, 1, 100);
  attach_standby(b, 2, 60);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
}

static void test_silence_detection(void **state) {
  uint64_t t;

  (void)state;
  two_uplinks();
  /* Idle for 10 s since the last ACK: the threshold counts from when data
   * became outstanding, not from that old ACK. */
  fx.now += 10 * S_;
  t = fx.now;
  {
    struct jvpn_uplink_sample m = {100 * MS_, 0, t - 10 * S_, 1200, 0};
    assert_int_equal(jvpn_uplink_measure(&fx.set, 1, fx.now, &m), 0);
  }
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  {
    uint64_t ids[JVPN_UPLINK_MAX]; /* the standby's keep-alive is overdue */
    assert_int_equal(jvpn_uplink_keepalives_due(&fx.set, &fx.p, fx.now, ids,
                                                JVPN_UPLINK_MAX),
                     1);
  }
  assert_int_equal(jvpn_uplink_next_deadline(&fx.set, &fx.p), t + 400);
  fx.now = t + 399;
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  fx.now = t + 400; /* 4 x 100 ms */
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_SILENT, 2);
  assert_true(fx.dec.failover);
  assert_int_equal(fx.dec.from, 1);
  assert_non_null(strstr(fx.dec.detail, "silent 400ms >= 400ms"));
  assert_non_null(strstr(fx.dec.detail, "1200 B in flight"));
  apply();
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now), 1);
}

static void test_silence_floor(void **state) {
  size_t a, b;

  (void)state;
  a = add("eth0", 0, 0, 0);
  b = add("wlan0", 0, 0, 0);
  attach_active(a, 1, 20);
  attach_standby(b, 2, 25);
  measure(1, 20, 0, 1200, 0);
  fx.now += 149; /* 4 x 20 ms = 80 ms is under the 150 ms floor */
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  /* ACK progress with data still outstanding restarts the count */
  measure(1, 20, 0, 2400, 0);
  fx.now += 149;
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  fx.now += 1;
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_SILENT, 2);
}

static void test_idle_is_not_silent(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 60 * S_; /* nothing outstanding: nothing to wait for */
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
}

static void test_pto(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 50;
  measure(1, 100, 0, 1200, 1);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  measure(1, 100, 0, 1200, 2);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_PTO, 2);
  assert_true(fx.dec.failover);
  assert_non_null(strstr(fx.dec.detail, "2 PTOs >= 2"));
  apply();
}

static void test_link_down_immediate(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 1;
  assert_int_equal(jvpn_uplink_link(&fx.set, 0, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 2);
  assert_true(fx.dec.failover);
  apply();
  /* The session dropped the old attachment; the set agrees. */
  assert_int_equal(fx.set.up[0].att, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
}

static void test_loss(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 5 * S_; /* past any cooldown */
  measure(1, 100, fx.p.loss_volatile_pct, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  /* a lossy standby is no refuge */
  measure(2, 60, 50, 0, 0);
  measure(1, 100, fx.p.loss_volatile_pct + 1, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  /* it recovers, but failed: it must be stable first */
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.set.up[1].status, JVPN_UPLINK_ST_SETTLING);
  fx.now += fx.p.stability_window_ms;
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_LOSS, 2);
  /* a lossy active still carries data: a voluntary switch */
  assert_false(fx.dec.failover);
  apply();
  assert_int_equal(fx.set.up[0].role, JVPN_ATT_STANDBY);
}

/* --- selection ----------------------------------------------------------- */

static void test_priority_then_quality(void **state) {
  size_t a, b, c, d;

  (void)state;
  a = add("eth0", 0, 0, 0);
  b = add("fast-but-p2", 2, 0, 0);
  c = add("slow-p1", 1, 0, 0);
  d = add("lossy-p1", 1, 0, 0);
  attach_active(a, 1, 10);
  attach_standby(b, 2, 5);
  attach_standby(c, 3, 54);
  attach_standby(d, 4, 50);
  measure(4, 50, 10, 0, 0); /* 50 ms / 0.9 = 55.6 ms > 54 ms */
  /* A worse priority never wins on quality alone (5 ms against 10 ms). */
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(jvpn_uplink_link(&fx.set, a, 0, fx.now), 0);
  /* p1 before p2 however fast; within p1 the lower score */
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 3);
}

static void test_tie_by_id(void **state) {
  size_t a, x, y;

  (void)state;
  a = add("eth0", 0, 0, 0);
  x = add("x", 1, 0, 0); /* configured first ... */
  y = add("y", 1, 0, 0);
  attach_active(a, 1, 10);
  attach_standby(y, 5, 40); /* ... but y holds the lower ID */
  attach_standby(x, 9, 40);
  assert_int_equal(jvpn_uplink_link(&fx.set, a, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 5);
}

static void test_hysteresis(void **state) {
  size_t a, b;

  (void)state;
  a = add("wlan0", 0, 0, 0);
  b = add("wlan1", 0, 0, 0);
  attach_active(a, 1, 100);
  attach_standby(b, 2, 91); /* 9 % better */
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  measure(2, 90, 0, 0, 0); /* exactly the margin is not past it */
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  measure(2, 89, 0, 0, 0); /* 11 % better */
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_BETTER_CANDIDATE, 2);
  assert_false(fx.dec.failover);
  assert_non_null(strstr(fx.dec.detail, "margin 10%"));
  apply();
  /* The old one is no better by the margin the other way: no flap. */
  measure(1, 95, 0, 0, 0);
  fx.now += 10 * S_;
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
}

/* --- cooldown and budget ------------------------------------------------- */

static void test_cooldown_voluntary(void **state) {
  uint64_t t;

  (void)state;
  two_uplinks();
  assert_int_equal(jvpn_uplink_link(&fx.set, 0, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 2);
  apply();
  t = fx.now;
  /* a third uplink, same priority as the active, much better */
  {
    size_t c = add("lte1", 1, 0, 0);
    attach_standby(c, 3, 20);
  }
  fx.now = t + 1000;
  expect(JVPN_UPLINK_DENIED_COOLDOWN, JVPN_UPLINK_R_BETTER_CANDIDATE, 3);
  assert_int_equal(fx.dec.retry_ms, t + fx.p.switch_cooldown_ms);
  assert_non_null(find_record("uplink_denied"));
  assert_int_equal(find_record("uplink_denied")->kind, JVPN_AUDIT_DENIAL);
  assert_int_equal(find_record("uplink_denied")->to_attachment, 3);
  assert_true(jvpn_uplink_next_deadline(&fx.set, &fx.p) <=
              t + fx.p.switch_cooldown_ms);
  /* The core agrees: an activation now is refused, nothing changes. */
  assert_int_equal(sess_ev(JVPN_EV_ACTIVATE, 3), JVPN_ERR_DENIED);
  assert_int_equal(fx.s.state, JVPN_SS_ATTACHED);
  /* asked again: same answer, no second record */
  fx.now = t + 1400;
  expect(JVPN_UPLINK_DENIED_COOLDOWN, JVPN_UPLINK_R_BETTER_CANDIDATE, 3);
  assert_null(find_record("uplink_denied"));
  fx.now = t + fx.p.switch_cooldown_ms;
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_BETTER_CANDIDATE, 3);
  apply();
}

static void test_cooldown_not_for_dead_active(void **state) {
  (void)state;
  two_uplinks();
  measure(2, 50, 0, 0, 0);
  fx.now += 5 * S_;
  measure(2, 50, 0, 0, 0);
  measure(1, 100, 30, 0, 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_LOSS, 2);
  apply();
  /* 100 ms later the new active's link dies: failover now, cooldown or
   * not (the old one is lossy but alive) */
  fx.now += 100;
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 1);
  assert_true(fx.dec.failover);
  apply();
  /* ... and it counts against the budget */
  assert_int_equal(jvpn_session_switches(&fx.s, fx.now), 2);
}

/* Flaps between two same-priority uplinks by RTT, each switch accepted. */
static void flap_once(uint64_t to) {
  uint64_t other = to == 1 ? 2 : 1;

  measure(to, 40, 0, 0, 0);
  measure(other, 100, 0, 0, 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_BETTER_CANDIDATE, to);
  apply();
}

static void test_budget(void **state) {
  uint64_t t0;
  int i;

  (void)state;
  fx.p.max_switches_per_min = 3;
  restart();
  add("wlan0", 0, 0, 0);
  add("wlan1", 0, 0, 0);
  attach_active(0, 1, 100);
  attach_standby(1, 2, 100);
  t0 = fx.now;
  for (i = 0; i < 3; i++) {
    flap_once(i % 2 == 0 ? 2 : 1);
    fx.now += 2 * S_;
  }
  /* the fourth within the minute */
  measure(1, 40, 0, 0, 0);
  measure(2, 100, 0, 0, 0);
  expect(JVPN_UPLINK_DENIED_BUDGET, JVPN_UPLINK_R_BETTER_CANDIDATE, 1);
  assert_int_equal(fx.dec.switches, 3);
  assert_non_null(find_record("uplink_denied"));
  assert_non_null(strstr(fx.dec.detail, "3 switches in 60s, max 3"));
  apply(); /* the core refuses too, and goes DEGRADED */
  /* a dead active is denied as well: the budget binds failovers */
  fx.now += 10 * S_;
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  expect(JVPN_UPLINK_DENIED_BUDGET, JVPN_UPLINK_R_LINK_DOWN, 1);
  assert_true(fx.dec.failover);
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 1, fx.now), 0);
  measure(2, 100, 0, 0, 0);
  /* the first switch ages out of the minute */
  fx.now = t0 + 60 * S_ - 1;
  expect(JVPN_UPLINK_DENIED_BUDGET, JVPN_UPLINK_R_BETTER_CANDIDATE, 1);
  fx.now = t0 + 60 * S_;
  measure(2, 100, 0, 0, 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_BETTER_CANDIDATE, 1);
  apply(); /* DEGRADED -> RECOVERY_RETRY -> ATTACHED */
}

/* --- failure history and return ------------------------------------------ */

/* wlan0 (p0) fails over to lte0 (p1), comes back as a new standby and is
 * healthy from then on. Returns when it came back. */
static uint64_t fail_and_return(void) {
  two_uplinks();
  fx.now += 5 * S_;
  assert_int_equal(jvpn_uplink_link(&fx.set, 0, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 2);
  apply();
  fx.now += 2 * S_;
  assert_int_equal(jvpn_uplink_link(&fx.set, 0, 1, fx.now), 0);
  attach_standby(0, 3, 20);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0); /* after every input */
  return fx.now;
}

static void test_return_after_stability(void **state) {
  uint64_t back;

  (void)state;
  back = fail_and_return();
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.set.up[0].status, JVPN_UPLINK_ST_SETTLING);
  assert_int_equal(jvpn_uplink_next_deadline(&fx.set, &fx.p),
                   back + fx.p.heartbeat_ms); /* keep-alives come first */
  fx.now = back + fx.p.stability_window_ms - 1;
  measure(3, 20, 0, 0, 0);
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  fx.now += 1;
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_RETURN_PREFERRED, 3);
  assert_false(fx.dec.failover);
  apply();
  /* once */
  fx.now += 30 * S_;
  measure(3, 20, 0, 0, 0);
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
}

static void test_return_never(void **state) {
  (void)state;
  fx.up.return_mode = JVPN_UPLINK_RETURN_NEVER;
  restart();
  fail_and_return();
  fx.now += 60 * S_;
  measure(3, 20, 0, 0, 0);
  measure(2, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.set.up[0].status, JVPN_UPLINK_ST_READY);
  /* but it is the first choice when the active dies */
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 3);
}

static void test_recently_failed_not_preferred(void **state) {
  size_t c;

  (void)state;
  fail_and_return(); /* wlan0 p0 settling as att 3; lte0 p1 active (2) */
  c = add("lte1", 1, 0, 0);
  attach_standby(c, 4, 80);
  fx.now += 1 * S_;
  measure(3, 20, 0, 0, 0);
  measure(4, 80, 0, 0, 0);
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  /* wlan0 has the better priority and RTT, but failed 3 s ago and is
   * settling; lte1 never failed */
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 4);
  assert_non_null(strstr(fx.dec.detail, "READY"));
}

static void test_settling_beats_nothing(void **state) {
  (void)state;
  fail_and_return();
  fx.now += 1 * S_;
  measure(3, 20, 0, 0, 0);
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 3);
  assert_non_null(strstr(fx.dec.detail, "SETTLING"));
  apply();
}

/* A standby moves to a new connection on its uplink (QUIC <-> TCP): the
 * new attachment takes its place, no failure, no settling; the old ID is
 * gone. */
static void test_replaced(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 5 * S_;
  assert_int_equal(sess_ev(JVPN_EV_STANDBY, 3), 0);
  assert_int_equal(
      jvpn_uplink_replaced(&fx.set, 1, 1, JVPN_ATT_STANDBY, fx.now),
      JVPN_ERR_EXISTS); /* wlan0's */
  assert_int_equal(jvpn_uplink_replaced(&fx.set, 1, 3, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_EXISTS); /* wlan0 is active */
  assert_int_equal(
      jvpn_uplink_replaced(&fx.set, 2, 3, JVPN_ATT_STANDBY, fx.now),
      JVPN_ERR_INVAL);
  assert_int_equal(
      jvpn_uplink_replaced(&fx.set, 1, 3, JVPN_ATT_STANDBY, fx.now), 0);
  measure(3, 60, 0, 0, 0);
  measure(1, 100, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.set.up[1].status, JVPN_UPLINK_ST_READY);
  assert_int_equal(fx.set.up[1].att, 3);
  assert_int_equal(fx.set.up[1].role, JVPN_ATT_STANDBY);
  {
    struct jvpn_uplink_sample m;

    memset(&m, 0, sizeof(m));
    assert_int_equal(jvpn_uplink_measure(&fx.set, 2, fx.now, &m),
                     JVPN_ERR_NOTFOUND);
  }
  /* the failover goes to the new attachment, READY at once */
  assert_int_equal(jvpn_uplink_link(&fx.set, 0, 0, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_LINK_DOWN, 3);
  assert_non_null(strstr(fx.dec.detail, "READY"));
  apply();
  /* the active moves too (a reattach on the same uplink) */
  fx.now += 1 * S_;
  assert_int_equal(sess_ev(JVPN_EV_REATTACH, 4), 0);
  assert_int_equal(jvpn_uplink_replaced(&fx.set, 1, 4, JVPN_ATT_ACTIVE, fx.now),
                   0);
  measure(4, 60, 0, 0, 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.set.up[1].role, JVPN_ATT_ACTIVE);
}

static void test_no_candidate(void **state) {
  size_t a;

  (void)state;
  a = add("eth0", 0, 0, 0);
  attach_active(a, 1, 10);
  measure(1, 10, 0, 1200, 0);
  fx.now += 150;
  expect(JVPN_UPLINK_NO_CANDIDATE, JVPN_UPLINK_R_ACTIVE_SILENT, 0);
  assert_true(fx.dec.failover);
  assert_non_null(find_record("uplink_no_candidate"));
  fx.now += 10;
  expect(JVPN_UPLINK_NO_CANDIDATE, JVPN_UPLINK_R_ACTIVE_SILENT, 0);
  assert_null(find_record("uplink_no_candidate"));
  /* the caller closes it; the decision and its reason stay */
  assert_int_equal(sess_ev(JVPN_EV_TRANSPORT_DEAD, 1), 0);
  assert_int_equal(jvpn_uplink_lost(&fx.set, 1, fx.now), 0);
  expect(JVPN_UPLINK_NO_CANDIDATE, JVPN_UPLINK_R_ACTIVE_SILENT, 0);
  assert_int_equal(fx.dec.from, 1);
  assert_null(find_record("uplink_no_candidate"));
}

static void test_orphan_failover(void **state) {
  (void)state;
  two_uplinks();
  fx.now += 1;
  /* the transport reports the connection dead before any threshold */
  assert_int_equal(sess_ev(JVPN_EV_TRANSPORT_DEAD, 1), 0);
  assert_int_equal(jvpn_uplink_lost(&fx.set, 1, fx.now), 0);
  expect(JVPN_UPLINK_SWITCH, JVPN_UPLINK_R_ACTIVE_LOST, 2);
  assert_int_equal(fx.dec.from, 1);
  assert_true(fx.dec.failover);
  apply();
}

/* --- keep-alives --------------------------------------------------------- */

static void test_metered_keepalive(void **state) {
  uint64_t ids[JVPN_UPLINK_MAX], t;
  size_t a, u, m, o;

  (void)state;
  a = add("eth0", 0, 0, 0);
  u = add("wlan0", 1, 0, 0);
  m = add("lte0", 2, 1, 0);
  o = add("sat0", 3, 1, 2000); /* its own interval wins */
  t = fx.now;
  attach_active(a, 1, 10);
  attach_standby(u, 2, 30);
  attach_standby(m, 3, 60);
  attach_standby(o, 4, 600);
  assert_int_equal(jvpn_uplink_keepalive_ms(&fx.set, m, &fx.p),
                   fx.up.metered_keepalive_ms);
  assert_int_equal(jvpn_uplink_keepalive_ms(&fx.set, u, &fx.p),
                   fx.p.heartbeat_ms);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(jvpn_uplink_next_deadline(&fx.set, &fx.p), t + 500);
  assert_int_equal(
      jvpn_uplink_keepalives_due(&fx.set, &fx.p, t + 499, ids, JVPN_UPLINK_MAX),
      0);
  assert_int_equal(
      jvpn_uplink_keepalives_due(&fx.set, &fx.p, t + 500, ids, JVPN_UPLINK_MAX),
      1);
  assert_int_equal(ids[0], 2);
  /* Count what the metered one gets in a minute: 4, not 120. */
  {
    uint64_t now, n_m = 0, n_u = 0, n_o = 0;
    size_t i, n;

    for (now = t + 501; now <= t + 60 * S_; now++) {
      n = jvpn_uplink_keepalives_due(&fx.set, &fx.p, now, ids, JVPN_UPLINK_MAX);
      for (i = 0; i < n; i++) {
        assert_int_not_equal(ids[i], 1); /* never the active */
        if (i > 0)
          assert_true(ids[i - 1] < ids[i]);
        n_u += ids[i] == 2;
        n_m += ids[i] == 3;
        n_o += ids[i] == 4;
      }
    }
    assert_int_equal(n_u, 119);
    assert_int_equal(n_m, 4);
    assert_int_equal(n_o, 30);
  }
  /* a full output leaves the keep-alive due */
  assert_int_equal(
      jvpn_uplink_keepalives_due(&fx.set, &fx.p, t + 75 * S_, ids, 0), 0);
  assert_int_equal(jvpn_uplink_keepalives_due(&fx.set, &fx.p, t + 75 * S_, ids,
                                              JVPN_UPLINK_MAX),
                   3);
}

/* --- audit and determinism ----------------------------------------------- */

static void test_candidate_records(void **state) {
  const struct jvpn_audit_record *r;

  (void)state;
  two_uplinks();
  fx.now += 1;
  assert_int_equal(jvpn_uplink_link(&fx.set, 1, 0, fx.now), 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  r = find_record("uplink_candidate");
  assert_non_null(r);
  assert_int_equal(r->kind, JVPN_AUDIT_INFO);
  assert_string_equal(r->reason, "CANDIDATE_CHANGE");
  assert_int_equal(r->to_attachment, 2);
  assert_int_equal(r->policy_version, fx.p.version);
  assert_non_null(strstr(r->detail, "lte0#2 p1 srtt 60.0ms"));
  assert_non_null(strstr(r->detail, "READY->DEAD: link down"));
  /* nothing changed: nothing recorded */
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);
  assert_int_equal(fx.dec.nrecords, 0);
}

/* One scripted run: silence, failover, return, flapping, link events. */
static void script(uint64_t *trace, size_t cap, size_t *n,
                   struct jvpn_uplink_decision *decs) {
  size_t step = 0;
  uint64_t i;

  setup(NULL);
  add("wlan0", 0, 0, 0);
  add("lte0", 1, 1, 0);
  add("wlan1", 0, 0, 0);
  attach_active(0, 1, 30);
  attach_standby(1, 2, 70);
  attach_standby(2, 3, 33);
  for (i = 0; i < 400 && step < cap; i++) {
    fx.now += 97;
    if (fx.set.up[i % 3].att != 0)
      measure(fx.set.up[i % 3].att, 20 + (i * 7919) % 90,
              (uint32_t)((i * 31) % 27), (i % 5) ? 1200 : 0,
              (uint32_t)(i % 11 == 0));
    if (i % 37 == 0)
      (void)jvpn_uplink_link(&fx.set, (size_t)(i % 3), (int)(i % 2), fx.now);
    decide();
    decs[step] = fx.dec;
    trace[step++] = jvpn_uplink_next_deadline(&fx.set, &fx.p);
    if (fx.dec.action == JVPN_UPLINK_SWITCH &&
        (!fx.dec.failover || jvpn_session_active(&fx.s) == fx.dec.from) &&
        jvpn_session_active(&fx.s) != 0) {
      if (fx.dec.failover) {
        (void)sess_ev(JVPN_EV_TRANSPORT_DEAD, fx.dec.from);
        (void)jvpn_uplink_lost(&fx.set, fx.dec.from, fx.now);
      }
      if (sess_ev(JVPN_EV_ACTIVATE, fx.dec.to) == 0)
        (void)jvpn_uplink_activated(&fx.set, fx.dec.to, fx.now);
    }
  }
  *n = step;
  teardown(NULL);
}

static void test_determinism(void **state) {
  static struct jvpn_uplink_decision d1[400], d2[400];
  uint64_t t1[400], t2[400];
  size_t n1, n2, i, switches = 0;

  (void)state;
  teardown(NULL);
  script(t1, 400, &n1, d1);
  script(t2, 400, &n2, d2);
  assert_int_equal(n1, n2);
  assert_memory_equal(t1, t2, n1 * sizeof(t1[0]));
  for (i = 0; i < n1; i++) {
    assert_memory_equal(&d1[i], &d2[i], sizeof(d1[i]));
    switches += d1[i].action == JVPN_UPLINK_SWITCH;
  }
  assert_true(switches > 0); /* the script does exercise switching */
  setup(NULL);
}

/* --- bad input ----------------------------------------------------------- */

static void test_bad_input(void **state) {
  struct jvpn_uplink_cfg c;
  struct jvpn_uplink_sample m;

  (void)state;
  memset(&c, 0, sizeof(c));
  memset(&m, 0, sizeof(m));
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), JVPN_ERR_INVAL); /* "" */
  memset(c.name, 'x', sizeof(c.name)); /* unterminated */
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), JVPN_ERR_INVAL);
  (void)snprintf(c.name, sizeof(c.name), "eth0");
  c.standby_keepalive_ms = 10;
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), JVPN_ERR_INVAL);
  c.standby_keepalive_ms = 0;
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), 0);
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), JVPN_ERR_EXISTS);
  add("a", 0, 0, 0);
  add("b", 0, 0, 0);
  add("c", 0, 0, 0);
  (void)snprintf(c.name, sizeof(c.name), "d");
  assert_int_equal(jvpn_uplink_add(&fx.set, &c), JVPN_ERR_FULL);
  assert_int_equal(jvpn_uplink_find(&fx.set, "b"), 2);
  assert_int_equal(jvpn_uplink_find(&fx.set, "zz"), JVPN_ERR_NOTFOUND);

  /* before birth is confirmed there is nothing to switch */
  assert_int_equal(
      jvpn_uplink_attached(&fx.set, 1, 2, JVPN_ATT_STANDBY, fx.now), 0);
  expect(JVPN_UPLINK_NONE, JVPN_UPLINK_R_NONE, 0);

  assert_int_equal(jvpn_uplink_attached(&fx.set, 9, 1, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_attached(&fx.set, 0, 0, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_attached(&fx.set, 0, 1, JVPN_ATT_FREE, fx.now),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_attached(&fx.set, 0, 2, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_EXISTS); /* ID held by another uplink */
  assert_int_equal(jvpn_uplink_attached(&fx.set, 1, 3, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_EXISTS); /* uplink busy */
  assert_int_equal(jvpn_uplink_attached(&fx.set, 0, 1, JVPN_ATT_ACTIVE, fx.now),
                   0);
  assert_int_equal(jvpn_uplink_attached(&fx.set, 2, 4, JVPN_ATT_ACTIVE, fx.now),
                   JVPN_ERR_EXISTS); /* one active */
  assert_int_equal(jvpn_uplink_activated(&fx.set, 1, fx.now), JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_activated(&fx.set, 77, fx.now),
                   JVPN_ERR_NOTFOUND);
  assert_int_equal(jvpn_uplink_measure(&fx.set, 77, fx.now, &m),
                   JVPN_ERR_NOTFOUND);
  assert_int_equal(jvpn_uplink_lost(&fx.set, 77, fx.now), JVPN_ERR_NOTFOUND);
  assert_int_equal(jvpn_uplink_link(&fx.set, 9, 0, fx.now), JVPN_ERR_INVAL);

  /* absurd samples are clamped, not trusted */
  m.srtt_us = UINT64_MAX;
  m.loss_pct = 1000;
  assert_int_equal(jvpn_uplink_measure(&fx.set, 2, fx.now, &m), 0);
  assert_int_equal(fx.set.up[1].m.srtt_us, JVPN_UPLINK_MAX_RTT_US);
  assert_int_equal(fx.set.up[1].m.loss_pct, 100);

  assert_int_equal(jvpn_uplink_decide(NULL, &fx.s, &fx.p, fx.now, &fx.dec),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_decide(&fx.set, NULL, &fx.p, fx.now, &fx.dec),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_uplink_decide(&fx.set, &fx.s, &fx.p, fx.now, NULL),
                   JVPN_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silence_threshold, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silence_detection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silence_floor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_is_not_silent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pto, setup, teardown),
      cmocka_unit_test_setup_teardown(test_link_down_immediate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_loss, setup, teardown),
      cmocka_unit_test_setup_teardown(test_priority_then_quality, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tie_by_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hysteresis, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cooldown_voluntary, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cooldown_not_for_dead_active, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_return_after_stability, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_return_never, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recently_failed_not_preferred, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_settling_beats_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_candidate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_orphan_failover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metered_keepalive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_candidate_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
