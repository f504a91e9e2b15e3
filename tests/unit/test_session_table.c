/* Unit tests of the session table (src/session_table.c): O(1) lookup, the
 * attach gate in its documented order, "unauthenticated input changes
 * nothing" by snapshot, the expiry sweep, and allocation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"
#include "src/session_table.h"

#define S_ 1000ULL
#define T0 5000000ULL

struct fixture {
  struct jvpn_policy p;
  struct jvpn_session_table *t;
  struct jvpn_session *s;
  struct jvpn_session_out out;
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint8_t secret[JVPN_SECRET_LEN];
  uint8_t pin[JVPN_PIN_LEN];
  uint64_t now, nonce, next_att;
};

static struct fixture fx;

static void fill(uint8_t *b, size_t n, uint8_t seed) {
  size_t i;

  for (i = 0; i < n; i++)
    b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static int setup(void **state) {
  struct jvpn_session_event e;

  (void)state;
  memset(&fx, 0, sizeof(fx));
  jvpn_policy_init(&fx.p);
  fx.now = T0;
  fill(fx.id, sizeof(fx.id), 1);
  fill(fx.secret, sizeof(fx.secret), 2);
  fill(fx.pin, sizeof(fx.pin), 3);
  assert_int_equal(jvpn_session_table_new(&fx.t, 16, NULL), 0);
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_table_create(fx.t, fx.id, fx.secret, fx.pin,
                                             &fx.p, fx.now, &fx.out, &fx.s),
                   0);
  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_ATTACH_CONFIRMED;
  e.attachment = 1;
  assert_int_equal(jvpn_session_handle(fx.s, &e, &fx.p, fx.now, &fx.out), 0);
  fx.next_att = 2;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  jvpn_session_table_del(fx.t);
  return 0;
}

/* A valid request for the fixture's session on a connection with bind
 * byte |bindseed|. */
static void make_req(struct jvpn_attach_req *r, enum jvpn_proof_role role,
                     uint8_t bindseed) {
  memset(r, 0, sizeof(*r));
  memcpy(r->session_id, fx.id, sizeof(fx.id));
  r->nonce = ++fx.nonce;
  r->role = role;
  fill(r->bind, sizeof(r->bind), bindseed);
  memcpy(r->peer_pin, fx.pin, sizeof(fx.pin));
  r->attachment = fx.next_att++;
  r->version = fx.s->attach_version;
  r->peer = "198.18.0.2:4433";
  assert_int_equal(
      jvpn_proof_compute(fx.secret, fx.id, r->nonce, role, r->bind, r->proof),
      0);
}

static int attach(const struct jvpn_attach_req *r) {
  jvpn_session_out_reset(&fx.out);
  return jvpn_session_table_attach(fx.t, r, fx.now, &fx.p, &fx.out);
}

/* Asserts that |r| is refused with |why|, a single SECURITY record, and
 * the session untouched byte for byte. */
static void refused_untouched(const struct jvpn_attach_req *r,
                              enum jvpn_reason why) {
  static struct jvpn_session snap;

  memcpy(&snap, fx.s, sizeof(snap));
  assert_int_equal(attach(r), JVPN_ERR_DENIED);
  assert_memory_equal(&snap, fx.s, sizeof(snap));
  assert_int_equal(fx.out.verdict, why);
  assert_int_equal(fx.out.nrecords, 1);
  assert_int_equal(fx.out.nactions, 0);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_SECURITY);
  assert_string_equal(fx.out.records[0].reason, jvpn_reason_name(why));
  assert_string_equal(fx.out.records[0].peer, "198.18.0.2:4433");
  assert_true(jvpn_reason_is_security(why));
}

static void die(uint64_t att) {
  struct jvpn_session_event e;

  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_TRANSPORT_DEAD;
  e.attachment = att;
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_handle(fx.s, &e, &fx.p, fx.now, &fx.out), 0);
}

/* --- tests ----------------------------------------------------------- */

static void test_reattach_accepted(void **state) {
  struct jvpn_attach_req r;

  (void)state;
  die(1);
  fx.now += S_;
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  assert_int_equal(attach(&r), 0);
  assert_int_equal(fx.s->state, JVPN_SS_ATTACHED);
  assert_int_equal(jvpn_session_active(fx.s), r.attachment);
  assert_int_equal(fx.s->replay.top, r.nonce);
  assert_int_equal(fx.out.verdict, JVPN_R_REATTACH_ACCEPT);
  assert_int_equal(fx.s->attach_version, fx.s->state_version);
}

static void test_unknown_and_malformed(void **state) {
  struct jvpn_attach_req r;

  (void)state;
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.session_id[0] ^= 0xff;
  refused_untouched(&r, JVPN_R_UNKNOWN_SESSION);
  assert_int_equal(fx.out.records[0].state_version, 0);
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.role = (enum jvpn_proof_role)9;
  refused_untouched(&r, JVPN_R_MALFORMED_REQUEST);
}

/* Every refusal before the MAC (and the MAC, nonce and version checks
 * themselves) leaves the victim session byte for byte untouched. */
static void test_unauthenticated_changes_nothing(void **state) {
  struct jvpn_attach_req r, good;
  uint8_t other_secret[JVPN_SECRET_LEN], other_id[JVPN_SESSION_ID_LEN];

  (void)state;
  die(1);
  fx.now += S_;

  /* forged: random proof bytes */
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  fill(r.proof, sizeof(r.proof), 77);
  refused_untouched(&r, JVPN_R_BAD_PROOF);
  /* captured proof replayed on another connection (wrong bind) */
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.bind[0] ^= 1;
  refused_untouched(&r, JVPN_R_BAD_PROOF);
  /* a proof made for one role presented as another */
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  r.role = JVPN_ROLE_REATTACH;
  refused_untouched(&r, JVPN_R_BAD_PROOF);
  /* a proof for another session (other secret and ID) sent for this one */
  fill(other_secret, sizeof(other_secret), 40);
  fill(other_id, sizeof(other_id), 41);
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  assert_int_equal(jvpn_proof_compute(other_secret, other_id, r.nonce, r.role,
                                      r.bind, r.proof),
                   0);
  refused_untouched(&r, JVPN_R_BAD_PROOF);
  /* the right proof from the wrong client */
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.peer_pin[31] ^= 0x80;
  refused_untouched(&r, JVPN_R_PIN_MISMATCH);
  /* a valid proof, but the connection waited too long to present it */
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.handshake_ms = fx.now - fx.p.proof_max_age_ms - 1;
  refused_untouched(&r, JVPN_R_TTL_EXPIRED);
  r.handshake_ms = fx.now - fx.p.proof_max_age_ms;
  assert_int_equal(attach(&r), 0); /* exactly at the bound: fine */

  /* replay of the accepted request, on the same connection */
  memcpy(&good, &r, sizeof(good));
  fx.now += 100;
  refused_untouched(&good, JVPN_R_TTL_EXPIRED); /* the age check is first */
  good.handshake_ms = 0;
  refused_untouched(&good, JVPN_R_REPLAY);
}

/* Issue: nonce replay rejected with the version unchanged; nonces older
 * than the policy's window are replays too. */
static void test_replay_window(void **state) {
  struct jvpn_attach_req r, old;
  uint64_t v;

  (void)state;
  assert_int_equal(jvpn_policy_set(&fx.p, "replay_window", "4", NULL, 0), 0);
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  make_req(&old, JVPN_ROLE_STANDBY, 9); /* nonce 1, kept for later */
  fx.nonce = 10;
  make_req(&r, JVPN_ROLE_STANDBY, 9); /* nonce 11 */
  assert_int_equal(attach(&r), 0);
  v = fx.s->state_version;
  refused_untouched(&r, JVPN_R_REPLAY);
  assert_int_equal(fx.s->state_version, v);
  /* nonce 1 was never seen, but 11 - 1 >= 4 */
  old.version = fx.s->attach_version;
  old.attachment = fx.next_att++;
  refused_untouched(&old, JVPN_R_REPLAY);
  /* nonce 8: never seen, inside the window */
  fx.nonce = 7;
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  assert_int_equal(attach(&r), 0);
}

/* Issue: two concurrent reattaches -> exactly one wins. Both carry the
 * version the client holds; the first moves it, the second is stale. */
static void test_concurrent_reattach_one_wins(void **state) {
  struct jvpn_attach_req a, b;

  (void)state;
  die(1);
  fx.now += 300;
  make_req(&a, JVPN_ROLE_REATTACH, 20);
  make_req(&b, JVPN_ROLE_REATTACH, 21);
  assert_int_equal(a.version, b.version);
  assert_int_equal(attach(&a), 0);
  refused_untouched(&b, JVPN_R_STALE_VERSION);
  assert_int_equal(jvpn_session_active(fx.s), a.attachment);
  assert_int_equal(jvpn_session_count(fx.s, JVPN_ATT_ACTIVE), 1);
  /* and in the other order on a fresh pair */
  make_req(&b, JVPN_ROLE_REATTACH, 22);
  make_req(&a, JVPN_ROLE_REATTACH, 23);
  assert_int_equal(attach(&a), 0);
  refused_untouched(&b, JVPN_R_STALE_VERSION);
}

/* Issue: stale version rejected and state unchanged. */
static void test_stale_version(void **state) {
  struct jvpn_attach_req r;

  (void)state;
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.version = fx.s->attach_version - 1;
  refused_untouched(&r, JVPN_R_STALE_VERSION);
  r.version = fx.s->attach_version + 5; /* from the future: as stale */
  refused_untouched(&r, JVPN_R_STALE_VERSION);
  /* server-side transitions do not invalidate the client's version */
  die(1);
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  assert_int_equal(attach(&r), 0);
}

static void test_terminated_and_ttl(void **state) {
  struct jvpn_attach_req r;
  struct jvpn_session_event e;

  (void)state;
  /* past the transport-loss TTL, before the sweep ran */
  die(1);
  fx.now += fx.p.transport_loss_ttl_ms;
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  refused_untouched(&r, JVPN_R_TTL_EXPIRED);
  /* operator-terminated */
  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_TERMINATE;
  e.reason = JVPN_R_OPERATOR_TERMINATED;
  assert_int_equal(jvpn_session_handle(fx.s, &e, &fx.p, fx.now, &fx.out), 0);
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  refused_untouched(&r, JVPN_R_SESSION_TERMINATED);
}

static void test_lifetime_ttl_refused(void **state) {
  struct jvpn_attach_req r;

  (void)state;
  fx.now = T0 + fx.p.session_lifetime_ms;
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  refused_untouched(&r, JVPN_R_TTL_EXPIRED);
}

static void test_rate_limits(void **state) {
  struct jvpn_attach_req r;
  uint8_t other[JVPN_SESSION_ID_LEN];
  uint32_t i;

  (void)state;
  assert_int_equal(jvpn_policy_set(&fx.p, "session_attach_burst", "3", NULL, 0),
                   0);
  assert_int_equal(
      jvpn_policy_set(&fx.p, "session_attach_rate_per_s", "2", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "attach_burst", "5", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "attach_rate_per_s", "1", NULL, 0),
                   0);
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  /* per session: 3 forged attempts pass the bucket, the 4th does not */
  for (i = 0; i < 3; i++) {
    make_req(&r, JVPN_ROLE_STANDBY, 9);
    r.proof[0] ^= 1;
    refused_untouched(&r, JVPN_R_BAD_PROOF);
  }
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  refused_untouched(&r, JVPN_R_RATE_LIMITED);
  /* the table's bucket also drains on unknown sessions */
  fill(other, sizeof(other), 99);
  memcpy(r.session_id, other, sizeof(other));
  refused_untouched(&r, JVPN_R_UNKNOWN_SESSION);
  refused_untouched(&r, JVPN_R_RATE_LIMITED); /* 6th attempt overall */
  /* half a second refills one per-session token, but the table has none */
  fx.now += 500;
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  refused_untouched(&r, JVPN_R_RATE_LIMITED);
  /* a second later both have refilled */
  fx.now += S_;
  assert_int_equal(attach(&r), 0);
}

/* One client pin over its own budget is refused before the table's
 * bucket, so it cannot spend what the other clients need. */
static void test_pin_rate_first(void **state) {
  struct jvpn_attach_req r;
  uint8_t other_pin[JVPN_PIN_LEN];
  uint32_t i;

  (void)state;
  assert_int_equal(jvpn_policy_set(&fx.p, "pin_attach_burst", "3", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "pin_attach_rate_per_s", "1", NULL, 0),
                   0);
  assert_int_equal(jvpn_policy_set(&fx.p, "session_attach_burst", "3", NULL, 0),
                   0);
  assert_int_equal(jvpn_policy_set(&fx.p, "attach_burst", "5", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "attach_rate_per_s", "1", NULL, 0),
                   0);
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  /* The owner's pin: 3 forged attempts reach the MAC check ... */
  for (i = 0; i < 3; i++) {
    make_req(&r, JVPN_ROLE_STANDBY, 9);
    r.proof[0] ^= 1;
    refused_untouched(&r, JVPN_R_BAD_PROOF);
  }
  /* ... then 20 more stop at its own bucket. */
  for (i = 0; i < 20; i++) {
    make_req(&r, JVPN_ROLE_STANDBY, 9);
    refused_untouched(&r, JVPN_R_RATE_LIMITED);
    assert_string_equal(fx.out.records[0].detail, "standby: pin attach rate");
  }
  /* Another client (its own session, unknown here) still finds 2 of the
   * table's 5 tokens. */
  fill(other_pin, sizeof(other_pin), 42);
  make_req(&r, JVPN_ROLE_STANDBY, 9);
  memcpy(r.peer_pin, other_pin, sizeof(other_pin));
  fill(r.session_id, sizeof(r.session_id), 77);
  refused_untouched(&r, JVPN_R_UNKNOWN_SESSION);
  refused_untouched(&r, JVPN_R_UNKNOWN_SESSION);
  refused_untouched(&r, JVPN_R_RATE_LIMITED);
  assert_string_equal(fx.out.records[0].detail, "standby: table attach rate");
}

/* Births pass the pin's bucket, then the table's birth bucket. */
static void test_birth_rate(void **state) {
  uint8_t pin2[JVPN_PIN_LEN], pin3[JVPN_PIN_LEN];
  uint32_t i;

  (void)state;
  assert_int_equal(jvpn_policy_set(&fx.p, "pin_attach_burst", "2", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "birth_burst", "3", NULL, 0), 0);
  assert_int_equal(jvpn_policy_set(&fx.p, "birth_rate_per_s", "2", NULL, 0), 0);
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  fill(pin2, sizeof(pin2), 50);
  fill(pin3, sizeof(pin3), 51);
  for (i = 0; i < 2; i++) {
    jvpn_session_out_reset(&fx.out);
    assert_int_equal(jvpn_session_table_admit_birth(fx.t, pin2, fx.now, &fx.p,
                                                    "198.18.0.9:1", &fx.out),
                     0);
    assert_int_equal(fx.out.nrecords, 0);
  }
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_table_admit_birth(fx.t, pin2, fx.now, &fx.p,
                                                  "198.18.0.9:1", &fx.out),
                   JVPN_ERR_DENIED);
  assert_int_equal(fx.out.verdict, JVPN_R_RATE_LIMITED);
  assert_int_equal(fx.out.nrecords, 1);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_SECURITY);
  assert_string_equal(fx.out.records[0].detail, "birth: pin attach rate");
  assert_false(fx.out.records[0].has_session); /* a birth has no ID yet */
  assert_string_equal(fx.out.records[0].peer, "198.18.0.9:1");
  /* pin3: the table's third birth passes, its fourth does not */
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_table_admit_birth(fx.t, pin3, fx.now, &fx.p,
                                                  NULL, &fx.out),
                   0);
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_table_admit_birth(fx.t, pin3, fx.now, &fx.p,
                                                  NULL, &fx.out),
                   JVPN_ERR_DENIED);
  assert_string_equal(fx.out.records[0].detail, "birth: table birth rate");
  /* half a second later the table has one birth again */
  fx.now += 500;
  jvpn_session_out_reset(&fx.out);
  assert_int_equal(jvpn_session_table_admit_birth(fx.t, pin3, fx.now, &fx.p,
                                                  NULL, &fx.out),
                   0);
}

/* Authenticated but refused by policy: the nonce is spent, the session
 * degrades (RECOVERING) or records a DENIAL. */
static void test_policy_refusal_after_mac(void **state) {
  struct jvpn_attach_req r;
  uint32_t i;

  (void)state;
  assert_int_equal(jvpn_policy_set(&fx.p, "max_switches_per_min", "2", NULL, 0),
                   0);
  assert_int_equal(jvpn_policy_validate(&fx.p, NULL, 0), 0);
  for (i = 0; i < 2; i++) {
    die(jvpn_session_active(fx.s));
    fx.now += 400;
    make_req(&r, JVPN_ROLE_REATTACH, 9);
    assert_int_equal(attach(&r), 0);
  }
  die(jvpn_session_active(fx.s));
  fx.now += 400;
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  assert_int_equal(attach(&r), JVPN_ERR_DENIED);
  assert_int_equal(fx.out.verdict, JVPN_R_POLICY_FLAP_LIMIT);
  assert_int_equal(fx.s->state, JVPN_SS_DEGRADED);
  assert_int_equal(fx.s->replay.top, r.nonce);
  assert_int_equal(fx.out.records[0].kind, JVPN_AUDIT_TRANSITION);
  /* a reused attachment ID is the caller's bug: nothing happens */
  make_req(&r, JVPN_ROLE_REATTACH, 9);
  r.attachment = 1;
  assert_int_equal(attach(&r), JVPN_ERR_INVAL);
}

struct swept {
  size_t calls, released, release_actions;
  enum jvpn_reason last_reason;
  uint8_t id[JVPN_SESSION_ID_LEN];
};

static void on_sweep(void *arg, const struct jvpn_session *s,
                     const struct jvpn_session_out *out, int released) {
  struct swept *w = arg;
  size_t i;

  w->calls++;
  if (released) {
    w->released++;
    memcpy(w->id, s->id, sizeof(w->id));
  }
  for (i = 0; i < out->nactions; i++) {
    if (out->actions[i].type == JVPN_ACT_RELEASE_ADDRESSES)
      w->release_actions++;
    w->last_reason = out->actions[i].reason;
  }
}

/* Issue: the session lives on without an attachment until the
 * transport-loss TTL; then TERMINATED and its addresses released. */
static void test_sweep_transport_loss(void **state) {
  struct swept w;
  uint8_t id2[JVPN_SESSION_ID_LEN];

  (void)state;
  memset(&w, 0, sizeof(w));
  fill(id2, sizeof(id2), 50);
  assert_int_equal(jvpn_session_table_create(fx.t, id2, fx.secret, fx.pin,
                                             &fx.p, fx.now, &fx.out, NULL),
                   0);
  assert_int_equal(jvpn_session_table_create(fx.t, id2, fx.secret, fx.pin,
                                             &fx.p, fx.now, &fx.out, NULL),
                   JVPN_ERR_EXISTS);
  die(1);
  assert_int_equal(jvpn_session_table_next_deadline(fx.t, &fx.p),
                   fx.now + fx.p.recovery_window_ms);
  assert_int_equal(
      jvpn_session_table_sweep(
          fx.t, &fx.p, fx.now + fx.p.transport_loss_ttl_ms - 1, on_sweep, &w),
      0);
  assert_non_null(jvpn_session_table_find(fx.t, fx.id));
  assert_int_equal(w.calls, 1); /* the RECOVERING -> DEGRADED tick */
  /* the never-confirmed id2 and the detached session die together */
  assert_int_equal(jvpn_session_table_sweep(fx.t, &fx.p,
                                            fx.now + fx.p.transport_loss_ttl_ms,
                                            on_sweep, &w),
                   2);
  assert_int_equal(w.released, 2);
  assert_int_equal(w.release_actions, 2);
  assert_int_equal(w.last_reason, JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED);
  assert_null(jvpn_session_table_find(fx.t, fx.id));
  assert_null(jvpn_session_table_find(fx.t, id2));
  assert_int_equal(jvpn_session_table_count(fx.t), 0);
  assert_int_equal(jvpn_session_table_next_deadline(fx.t, &fx.p),
                   JVPN_NO_DEADLINE);
}

static void test_sweep_lifetime(void **state) {
  struct swept w;

  (void)state;
  memset(&w, 0, sizeof(w));
  assert_int_equal(jvpn_session_table_next_deadline(fx.t, &fx.p),
                   T0 + fx.p.session_lifetime_ms);
  assert_int_equal(jvpn_session_table_sweep(fx.t, &fx.p,
                                            T0 + fx.p.session_lifetime_ms,
                                            on_sweep, &w),
                   1);
  assert_int_equal(w.last_reason, JVPN_R_TTL_SESSION_EXPIRED);
  assert_memory_equal(w.id, fx.id, sizeof(fx.id));
}

/* Lookup stays right under collisions and deletions (backward shift). */
static void test_many_sessions(void **state) {
  struct jvpn_session_table *t;
  uint8_t id[JVPN_SESSION_ID_LEN];
  uint32_t i, n = 1000;

  (void)state;
  assert_int_equal(jvpn_session_table_new(&t, n, NULL), 0);
  memset(id, 0, sizeof(id));
  for (i = 0; i < n; i++) {
    memcpy(id, &i, sizeof(i)); /* structured IDs, on purpose */
    assert_int_equal(jvpn_session_table_create(t, id, fx.secret, fx.pin, &fx.p,
                                               fx.now, NULL, NULL),
                     0);
  }
  memcpy(id, &n, sizeof(n));
  assert_int_equal(jvpn_session_table_create(t, id, fx.secret, fx.pin, &fx.p,
                                             fx.now, NULL, NULL),
                   JVPN_ERR_FULL);
  for (i = 0; i < n; i += 3) {
    memcpy(id, &i, sizeof(i));
    assert_int_equal(jvpn_session_table_delete(t, id), 0);
    assert_int_equal(jvpn_session_table_delete(t, id), JVPN_ERR_NOTFOUND);
  }
  for (i = 0; i < n; i++) {
    memcpy(id, &i, sizeof(i));
    if (i % 3 == 0)
      assert_null(jvpn_session_table_find(t, id));
    else
      assert_memory_equal(jvpn_session_table_find(t, id)->id, id, sizeof(id));
  }
  assert_int_equal(jvpn_session_table_count(t), n - (n + 2) / 3);
  jvpn_session_table_del(t);
  assert_int_equal(jvpn_session_table_new(&t, 0, NULL), JVPN_ERR_INVAL);
  jvpn_session_table_del(NULL);
}

struct failmem {
  int fail_at, calls, live;
};

static void *fm_calloc(void *user, size_t n, size_t size) {
  struct failmem *f = user;
  void *p;

  if (f->calls++ == f->fail_at)
    return NULL;
  p = calloc(n, size);
  if (p != NULL)
    f->live++;
  return p;
}

static void fm_free(void *user, void *ptr) {
  struct failmem *f = user;

  if (ptr != NULL)
    f->live--;
  free(ptr);
}

static void test_alloc_failure(void **state) {
  struct failmem f;
  struct jvpn_mem m = {fm_calloc, fm_free, &f};
  struct jvpn_session_table *t;
  int i, rv;

  (void)state;
  for (i = 0;; i++) {
    memset(&f, 0, sizeof(f));
    f.fail_at = i;
    rv = jvpn_session_table_new(&t, 8, &m);
    if (rv == 0) {
      jvpn_session_table_del(t);
      assert_int_equal(f.live, 0);
      break;
    }
    assert_int_equal(rv, JVPN_ERR_NOMEM);
    assert_null(t);
    assert_int_equal(f.live, 0);
  }
  assert_int_equal(i, 6); /* every allocation was failed once */
}

/* A session loaded from the store goes in as it is (D41). */
static void test_restore(void **state) {
  struct jvpn_session copy = *fx.s, *ps;
  uint8_t id[JVPN_SESSION_ID_LEN];

  (void)state;
  assert_int_equal(jvpn_session_table_restore(fx.t, &copy, &ps),
                   JVPN_ERR_EXISTS);
  assert_null(ps);
  fill(id, sizeof(id), 42);
  memcpy(copy.id, id, sizeof(id));
  copy.state_version = 77;
  assert_int_equal(jvpn_session_table_restore(fx.t, &copy, &ps), 0);
  assert_ptr_equal(jvpn_session_table_find(fx.t, id), ps);
  assert_memory_equal(ps, &copy, sizeof(copy));
  assert_int_equal(jvpn_session_table_count(fx.t), 2);
  assert_int_equal(jvpn_session_table_restore(NULL, &copy, NULL),
                   JVPN_ERR_INVAL);
  while (jvpn_session_table_count(fx.t) < 16) {
    copy.id[0]++;
    assert_int_equal(jvpn_session_table_restore(fx.t, &copy, NULL), 0);
  }
  copy.id[0]++;
  assert_int_equal(jvpn_session_table_restore(fx.t, &copy, NULL),
                   JVPN_ERR_FULL);
  jvpn_wipe(&copy, sizeof(copy));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reattach_accepted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_and_malformed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unauthenticated_changes_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_replay_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_reattach_one_wins, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stale_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_terminated_and_ttl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lifetime_ttl_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rate_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pin_rate_first, setup, teardown),
      cmocka_unit_test_setup_teardown(test_birth_rate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_refusal_after_mac, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sweep_transport_loss, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sweep_lifetime, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_sessions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
