/* Unit tests for src/tun_gate: when the server may pause TUN reads. The
 * clock is advanced by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "src/tun_gate.h"

/* Two clients; only their addresses matter to the gate. */
static const int client_a, client_b;
#define A ((const void *)&client_a)
#define B ((const void *)&client_b)

static void fresh(struct tun_gate *g) { memset(g, 0, sizeof(*g)); }

/* One client alone: its busy queue pauses reads until it drains. */
static void test_sole_client_pauses_until_drained(void **state) {
  struct tun_gate g;
  uint64_t now = 1000;

  (void)state;
  fresh(&g);
  tun_gate_route(&g, A, now);
  assert_int_equal(tun_gate_busy(&g, A, now), 1);
  assert_true(tun_gate_paused(&g));
  assert_int_equal(tun_gate_resume_at(&g), now + TUN_GATE_PAUSE_MAX_MS);
  assert_int_equal(tun_gate_expire(&g, now + 1), 0);
  assert_int_equal(tun_gate_drained(&g, B), 0); /* not the pauser */
  assert_true(tun_gate_paused(&g));
  assert_int_equal(tun_gate_drained(&g, A), 1);
  assert_false(tun_gate_paused(&g));
  assert_int_equal(tun_gate_resume_at(&g), 0);
  assert_int_equal(g.pauses, 1);
}

/* A queue that never drains (a dead path) holds reads for at most the
 * maximum pause. */
static void test_pause_is_bounded(void **state) {
  struct tun_gate g;
  uint64_t now = 5000;

  (void)state;
  fresh(&g);
  tun_gate_route(&g, A, now);
  assert_int_equal(tun_gate_busy(&g, A, now), 1);
  assert_int_equal(tun_gate_expire(&g, now + TUN_GATE_PAUSE_MAX_MS - 1), 0);
  assert_int_equal(tun_gate_expire(&g, now + TUN_GATE_PAUSE_MAX_MS), 1);
  assert_false(tun_gate_paused(&g));
  /* Expiring again changes nothing. */
  assert_int_equal(tun_gate_expire(&g, now + 100), 0);
}

/* Two clients receiving: a busy queue does not pause reads (its client's
 * packets drop at its own queue), until the other has been quiet for the
 * sharing window. */
static void test_shared_downlink_never_pauses(void **state) {
  struct tun_gate g;
  uint64_t now = 100;

  (void)state;
  fresh(&g);
  tun_gate_route(&g, A, now);
  tun_gate_route(&g, B, now + 1);
  tun_gate_route(&g, A, now + 2);
  assert_int_equal(tun_gate_busy(&g, A, now + 2), 0);
  assert_false(tun_gate_paused(&g));
  assert_int_equal(g.pauses_refused, 1);
  /* Only A from now on; B's last packet was at now + 1, the switch back
   * to A at now + 2 keeps the window open until now + 2 + the window. */
  tun_gate_route(&g, A, now + 50);
  assert_int_equal(tun_gate_busy(&g, A, now + 50), 0);
  tun_gate_route(&g, A, now + 2 + TUN_GATE_SHARED_MS);
  assert_int_equal(tun_gate_busy(&g, A, now + 2 + TUN_GATE_SHARED_MS), 1);
  assert_int_equal(g.pauses, 1);
  assert_int_equal(g.pauses_refused, 2);
}

/* A client that goes away while its queue holds reads ends the pause, and
 * is forgotten as the last destination. */
static void test_forget_ends_pause(void **state) {
  struct tun_gate g;

  (void)state;
  fresh(&g);
  tun_gate_route(&g, A, 10);
  assert_int_equal(tun_gate_busy(&g, A, 10), 1);
  assert_int_equal(tun_gate_forget(&g, B), 0);
  assert_true(tun_gate_paused(&g));
  assert_int_equal(tun_gate_forget(&g, A), 1);
  assert_false(tun_gate_paused(&g));
  assert_null(g.last_dest);
  /* A new client after a forgotten one is not "another client". */
  tun_gate_route(&g, B, 11);
  assert_int_equal(tun_gate_busy(&g, B, 11), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sole_client_pauses_until_drained),
      cmocka_unit_test(test_pause_is_bounded),
      cmocka_unit_test(test_shared_downlink_never_pauses),
      cmocka_unit_test(test_forget_ends_pause),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
