/* Unit tests of the session policy (src/policy.c): defaults, parsing of
 * config values, range and relation checks, the version hash, and the
 * health and hysteresis helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/proof.h"

static void test_defaults(void **state) {
  struct jvpn_policy p;
  char err[128];

  (void)state;
  jvpn_policy_init(&p);
  /* ARCHITECTURE 3, the seed's policy schema */
  assert_int_equal(p.session_lifetime_ms, 8ULL * 3600 * 1000);
  assert_int_equal(p.transport_loss_ttl_ms, 15000);
  assert_int_equal(p.recovery_window_ms, 8000);
  assert_int_equal(p.heartbeat_ms, 500);
  assert_int_equal(p.silence_volatile_ms, 2000);
  assert_int_equal(p.loss_volatile_pct, 20);
  assert_int_equal(p.loss_window_ms, 2000);
  assert_int_equal(p.probe_drops_volatile, 3);
  assert_int_equal(p.volatile_degraded_ms, 4000);
  assert_int_equal(p.max_switches_per_min, 8);
  assert_int_equal(p.switch_cooldown_ms, 1500);
  assert_int_equal(p.hysteresis_pct, 10);
  assert_int_equal(p.max_candidates, 3);
  assert_int_equal(p.replay_window, JVPN_REPLAY_WINDOW);
  assert_int_equal(p.proof_max_age_ms, 5000);
  assert_int_not_equal(p.version, 0);
  assert_int_equal(p.version, jvpn_policy_hash(&p));
  assert_int_equal(jvpn_policy_validate(&p, err, sizeof(err)), 0);
}

static void test_set_values_and_units(void **state) {
  struct jvpn_policy p;
  char err[128];

  (void)state;
  jvpn_policy_init(&p);
  assert_int_equal(
      jvpn_policy_set(&p, "recovery_window_ms", "6s", err, sizeof(err)), 0);
  assert_int_equal(p.recovery_window_ms, 6000);
  assert_int_equal(p.version, 0); /* stale until validated */
  assert_int_equal(
      jvpn_policy_set(&p, "session_lifetime_ms", "2h", err, sizeof(err)), 0);
  assert_int_equal(p.session_lifetime_ms, 7200000);
  assert_int_equal(
      jvpn_policy_set(&p, "transport_loss_ttl_ms", "1min", err, sizeof(err)),
      0);
  assert_int_equal(p.transport_loss_ttl_ms, 60000);
  assert_int_equal(
      jvpn_policy_set(&p, "switch_cooldown_ms", "0ms", err, sizeof(err)), 0);
  assert_int_equal(p.switch_cooldown_ms, 0);
  assert_int_equal(jvpn_policy_set(&p, "max_candidates", "0", err, sizeof(err)),
                   0);
  /* Receive-silence probing: 0 arrivals turns it off. */
  assert_int_equal(p.rx_silence_arrivals, 4);
  assert_int_equal(
      jvpn_policy_set(&p, "rx_silence_arrivals", "0", err, sizeof(err)), 0);
  assert_int_equal(p.rx_silence_arrivals, 0);
  assert_int_equal(
      jvpn_policy_set(&p, "rx_silence_probe_ms", "50ms", err, sizeof(err)), 0);
  assert_int_equal(p.rx_silence_probe_ms, 50);
  assert_int_equal(jvpn_policy_validate(&p, err, sizeof(err)), 0);
  assert_int_not_equal(p.version, 0);
}

static void test_set_rejects(void **state) {
  static const char *const bad[][2] = {
      {"recovery_window_ms", ""},
      {"recovery_window_ms", "-5"},
      {"recovery_window_ms", "5 s"},
      {"recovery_window_ms", "1.5s"},
      {"recovery_window_ms", "5sec"},
      {"recovery_window_ms", "99"},
      {"loss_volatile_pct", "0"},
      {"loss_volatile_pct", "101"},
      {"loss_volatile_pct", "20ms"},
      {"max_candidates", "4"},
      {"max_switches_per_min", "65"},
      {"replay_window", "129"},
      {"replay_window", "0"},
      {"heartbeat_ms", "49"},
      {"session_lifetime_ms", "31000h"},
      {"session_lifetime_ms", "99999999999999999999999"},
      {"session_lifetime_ms", "18446744073709551615h"},
      {"rx_silence_arrivals", "65"},
      {"rx_silence_floor_ms", "4"},
      {"rx_silence_probe_ms", "2min"},
  };
  struct jvpn_policy p, before;
  char err[128];
  size_t i;

  (void)state;
  jvpn_policy_init(&p);
  memcpy(&before, &p, sizeof(p));
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    assert_int_equal(
        jvpn_policy_set(&p, bad[i][0], bad[i][1], err, sizeof(err)),
        JVPN_ERR_INVAL);
    assert_non_null(strstr(err, bad[i][0]));
    assert_memory_equal(&p, &before, sizeof(p)); /* nothing half-set */
  }
  assert_int_equal(
      jvpn_policy_set(&p, "recovery_window", "5s", err, sizeof(err)),
      JVPN_ERR_NOTFOUND);
  assert_non_null(strstr(err, "unknown policy key"));
  assert_int_equal(jvpn_policy_set(&p, "version", "1", NULL, 0),
                   JVPN_ERR_NOTFOUND);
  assert_int_equal(jvpn_policy_set(NULL, "a", "b", NULL, 0), JVPN_ERR_INVAL);
}

/* recovery window < transport-loss TTL < session lifetime (rule 5), and
 * the other relations. */
static void test_validate_relations(void **state) {
  static const char *const cases[][3] = {
      {"recovery_window_ms", "15s", "must be less than transport_loss"},
      {"transport_loss_ttl_ms", "8s", "must be less than transport_loss"},
      {"session_lifetime_ms", "15s", "must be less than session_lifetime"},
      {"silence_volatile_ms", "500", "must exceed heartbeat_ms"},
      {"switch_cooldown_ms", "60s", "under a minute"},
      {"session_attach_burst", "300", "must not exceed attach_burst"},
  };
  struct jvpn_policy p;
  char err[160];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    jvpn_policy_init(&p);
    if (i == 5) /* the per-session burst may not exceed the table's */
      assert_int_equal(jvpn_policy_set(&p, "attach_burst", "299", NULL, 0), 0);
    assert_int_equal(
        jvpn_policy_set(&p, cases[i][0], cases[i][1], err, sizeof(err)), 0);
    err[0] = '\0';
    assert_int_equal(jvpn_policy_validate(&p, err, sizeof(err)),
                     JVPN_ERR_INVAL);
    assert_non_null(strstr(err, cases[i][2]));
    assert_int_equal(p.version, 0);
  }
  /* a policy built in code is range-checked too */
  jvpn_policy_init(&p);
  p.max_switches_per_min = 0;
  assert_int_equal(jvpn_policy_validate(&p, err, sizeof(err)), JVPN_ERR_INVAL);
  assert_non_null(strstr(err, "max_switches_per_min"));
}

static void test_version_hash(void **state) {
  struct jvpn_policy a, b;

  (void)state;
  jvpn_policy_init(&a);
  jvpn_policy_init(&b);
  assert_int_equal(a.version, b.version);
  /* setting a knob to its current value keeps the version */
  assert_int_equal(jvpn_policy_set(&b, "heartbeat_ms", "500ms", NULL, 0), 0);
  assert_int_equal(jvpn_policy_validate(&b, NULL, 0), 0);
  assert_int_equal(a.version, b.version);
  assert_int_equal(jvpn_policy_set(&b, "heartbeat_ms", "501", NULL, 0), 0);
  assert_int_equal(jvpn_policy_validate(&b, NULL, 0), 0);
  assert_int_not_equal(a.version, b.version);
  /* the hash reads values, not padding */
  memset(&b, 0xa5, sizeof(b));
  jvpn_policy_init(&b);
  assert_int_equal(a.version, b.version);
}

static void test_health_thresholds(void **state) {
  struct jvpn_policy p;
  struct jvpn_health h;
  char d[64];

  (void)state;
  jvpn_policy_init(&p);
  memset(&h, 0, sizeof(h));
  h.silence_ms = 1999;
  h.loss_pct = 20;
  h.probe_drops = 2;
  assert_false(jvpn_policy_health_volatile(&p, &h, d, sizeof(d)));
  h.silence_ms = 2000;
  assert_true(jvpn_policy_health_volatile(&p, &h, d, sizeof(d)));
  assert_string_equal(d, "silence 2000 ms");
  h.silence_ms = 0;
  h.loss_pct = 21;
  assert_true(jvpn_policy_health_volatile(&p, &h, d, sizeof(d)));
  assert_string_equal(d, "loss 21% over 2000 ms");
  h.loss_pct = 0;
  h.probe_drops = 3;
  assert_true(jvpn_policy_health_volatile(&p, &h, NULL, 0));
}

static void test_hysteresis(void **state) {
  struct jvpn_policy p;

  (void)state;
  jvpn_policy_init(&p);
  /* 10 %: 100 ms active needs a candidate under 90 ms */
  assert_false(jvpn_policy_candidate_better(&p, 100000, 90000));
  assert_true(jvpn_policy_candidate_better(&p, 100000, 89999));
  assert_false(jvpn_policy_candidate_better(&p, 100000, 100000));
  assert_false(jvpn_policy_candidate_better(&p, UINT64_MAX, 1));
  p.hysteresis_pct = 0;
  assert_true(jvpn_policy_candidate_better(&p, 100000, 99999));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_set_values_and_units),
      cmocka_unit_test(test_set_rejects),
      cmocka_unit_test(test_validate_relations),
      cmocka_unit_test(test_version_hash),
      cmocka_unit_test(test_health_thresholds),
      cmocka_unit_test(test_hysteresis),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
