/* Unit tests for src/peer_table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "src/peer_table.h"

/* Distinct non-NULL values to store. */
static char vals[8192];

static void v4(uint8_t a[4], uint32_t n) {
  a[0] = 198;
  a[1] = (uint8_t)(18 + (n >> 16 & 1));
  a[2] = (uint8_t)(n >> 8);
  a[3] = (uint8_t)n;
}

static void v6(uint8_t a[16], uint32_t n) {
  static const uint8_t base[16] = {0xfd, 0x77, 0x6a, 0x76, 0x70, 0x6e};
  memcpy(a, base, 16);
  a[12] = (uint8_t)(n >> 24);
  a[13] = (uint8_t)(n >> 16);
  a[14] = (uint8_t)(n >> 8);
  a[15] = (uint8_t)n;
}

static void test_put_get_del(void **state) {
  struct peer_table t;
  uint8_t a4[4] = {198, 18, 200, 2}, b4[4] = {198, 18, 200, 3};
  uint8_t a6[16], mapped[16] = {0};

  (void)state;
  v6(a6, 2);
  assert_int_equal(peer_table_init(&t, 16), 0);
  assert_null(peer_table_get(&t, AF_INET, a4));
  assert_int_equal(peer_table_put(&t, AF_INET, a4, &vals[1]), 0);
  assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[2]), 0);
  assert_ptr_equal(peer_table_get(&t, AF_INET, a4), &vals[1]);
  assert_ptr_equal(peer_table_get(&t, AF_INET6, a6), &vals[2]);
  assert_null(peer_table_get(&t, AF_INET, b4));
  assert_int_equal(t.n, 2);

  /* IPv4 keys live in the IPv4-mapped IPv6 space */
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  memcpy(mapped + 12, a4, 4);
  assert_ptr_equal(peer_table_get(&t, AF_INET6, mapped), &vals[1]);
  /* the same 4 bytes as the start of an IPv6 address are another key */
  memset(mapped, 0, sizeof(mapped));
  memcpy(mapped, a4, 4);
  assert_null(peer_table_get(&t, AF_INET6, mapped));

  peer_table_del(&t, AF_INET, a4, &vals[1]);
  assert_null(peer_table_get(&t, AF_INET, a4));
  assert_ptr_equal(peer_table_get(&t, AF_INET6, a6), &vals[2]);
  peer_table_del(&t, AF_INET6, a6, &vals[2]);
  assert_null(peer_table_get(&t, AF_INET6, a6));
  assert_int_equal(t.n, 0);
  /* deleting a missing key is harmless */
  peer_table_del(&t, AF_INET6, a6, &vals[2]);
  assert_int_equal(t.n, 0);
  peer_table_free(&t);
  peer_table_free(&t); /* idempotent */
}

static void test_bad_args(void **state) {
  struct peer_table t;
  uint8_t a4[4] = {198, 18, 0, 1};

  (void)state;
  assert_int_equal(peer_table_init(&t, 0), JVPN_ERR_INVAL);
  assert_int_equal(peer_table_init(&t, SIZE_MAX), JVPN_ERR_INVAL);
  assert_int_equal(peer_table_init(&t, 4), 0);
  assert_int_equal(peer_table_put(&t, AF_INET, a4, NULL), JVPN_ERR_INVAL);
  assert_int_equal(peer_table_put(&t, AF_UNIX, a4, &vals[0]), JVPN_ERR_INVAL);
  assert_int_equal(peer_table_put(&t, AF_INET, NULL, &vals[0]), JVPN_ERR_INVAL);
  assert_null(peer_table_get(&t, AF_UNIX, a4));
  assert_int_equal(t.n, 0);
  peer_table_free(&t);
  peer_table_free(NULL);
}

static void test_replace_and_conditional_del(void **state) {
  struct peer_table t;
  uint8_t a4[4] = {198, 18, 200, 7};

  (void)state;
  assert_int_equal(peer_table_init(&t, 4), 0);
  assert_int_equal(peer_table_put(&t, AF_INET, a4, &vals[1]), 0);
  /* a reconnecting client takes the address over */
  assert_int_equal(peer_table_put(&t, AF_INET, a4, &vals[2]), 0);
  assert_int_equal(t.n, 1);
  assert_ptr_equal(peer_table_get(&t, AF_INET, a4), &vals[2]);
  /* the old connection closing must not remove the new mapping */
  peer_table_del(&t, AF_INET, a4, &vals[1]);
  assert_ptr_equal(peer_table_get(&t, AF_INET, a4), &vals[2]);
  assert_int_equal(t.n, 1);
  peer_table_del(&t, AF_INET, a4, &vals[2]);
  assert_null(peer_table_get(&t, AF_INET, a4));
  peer_table_free(&t);
}

static void test_full(void **state) {
  struct peer_table t;
  uint8_t a[4];
  uint32_t i;

  (void)state;
  assert_int_equal(peer_table_init(&t, 5), 0);
  assert_true(t.mask + 1 >= 10);
  assert_int_equal((t.mask + 1) & t.mask, 0);
  for (i = 0; i < 5; i++) {
    v4(a, i);
    assert_int_equal(peer_table_put(&t, AF_INET, a, &vals[i]), 0);
  }
  v4(a, 5);
  assert_int_equal(peer_table_put(&t, AF_INET, a, &vals[5]), JVPN_ERR_FULL);
  assert_null(peer_table_get(&t, AF_INET, a));
  /* replacing an existing key still works when full */
  v4(a, 4);
  assert_int_equal(peer_table_put(&t, AF_INET, a, &vals[9]), 0);
  assert_ptr_equal(peer_table_get(&t, AF_INET, a), &vals[9]);
  /* freeing one entry makes room again */
  v4(a, 0);
  peer_table_del(&t, AF_INET, a, &vals[0]);
  v4(a, 5);
  assert_int_equal(peer_table_put(&t, AF_INET, a, &vals[5]), 0);
  assert_int_equal(t.n, 5);
  peer_table_free(&t);
}

static void test_tombstone_reuse(void **state) {
  struct peer_table t;
  uint8_t a[16];
  uint32_t i, round;

  (void)state;
  assert_int_equal(peer_table_init(&t, 64), 0);
  for (i = 0; i < 64; i++) {
    v6(a, i);
    assert_int_equal(peer_table_put(&t, AF_INET6, a, &vals[i]), 0);
  }
  /* Heavy churn on a full table: tombstones must neither pile up (they are
   * reused or swept) nor hide the entries placed behind them. */
  for (round = 0; round < 200; round++) {
    uint32_t victim = (round * 7) % 64;
    v6(a, victim);
    peer_table_del(&t, AF_INET6, a, peer_table_get(&t, AF_INET6, a));
    assert_null(peer_table_get(&t, AF_INET6, a));
    assert_true(t.tombs <= (t.mask + 1) / 4);
    assert_int_equal(peer_table_put(&t, AF_INET6, a, &vals[victim + 100]), 0);
    assert_true(t.n + t.tombs <= t.mask + 1);
  }
  assert_int_equal(t.n, 64);
  for (i = 0; i < 64; i++) {
    v6(a, i);
    assert_non_null(peer_table_get(&t, AF_INET6, a));
  }
  /* A sliding window of fresh keys leaves tombstones where new keys do not
   * probe, until the in-place rehash sweeps them. */
  for (i = 64; i < 5000; i++) {
    v6(a, i - 64);
    peer_table_del(&t, AF_INET6, a, peer_table_get(&t, AF_INET6, a));
    v6(a, i);
    assert_int_equal(peer_table_put(&t, AF_INET6, a, &vals[i]), 0);
    assert_true(t.tombs <= (t.mask + 1) / 4);
    assert_int_equal(t.n, 64);
  }
  for (i = 0; i < 5000; i++) {
    v6(a, i);
    if (i < 5000 - 64)
      assert_null(peer_table_get(&t, AF_INET6, a));
    else
      assert_ptr_equal(peer_table_get(&t, AF_INET6, a), &vals[i]);
  }
  peer_table_free(&t);
}

/* The slots start few and double as entries arrive, the load never above
 * one half, up to what |max| entries need; every entry survives each
 * doubling. */
static void test_grows_to_demand(void **state) {
  struct peer_table t;
  uint8_t a6[16];
  uint32_t i, j;
  size_t caps = 0, last = 0;
  const uint32_t max = 3000;

  (void)state;
  assert_int_equal(peer_table_init(&t, max), 0);
  assert_int_equal(t.mask + 1, 64);
  for (i = 0; i < max; i++) {
    v6(a6, i);
    assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[i % 4000]), 0);
    assert_true(2 * t.n <= t.mask + 1);
    if (t.mask + 1 != last) {
      last = t.mask + 1;
      caps++;
      for (j = 0; j <= i; j++) { /* everything kept across the doubling */
        v6(a6, j);
        assert_ptr_equal(peer_table_get(&t, AF_INET6, a6), &vals[j % 4000]);
      }
    }
  }
  assert_int_equal(t.mask + 1, 8192); /* what 3,000 need, no more */
  assert_int_equal(caps, 8);          /* 64 .. 8192 */
  v6(a6, max);
  assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[0]), JVPN_ERR_FULL);
  peer_table_free(&t);
}

/* Churn (entries put and removed, as connection IDs come and go) clears
 * its tombstones in place instead of doubling the slots. */
static void test_churn_keeps_size(void **state) {
  struct peer_table t;
  uint8_t a6[16];
  uint32_t i;

  (void)state;
  assert_int_equal(peer_table_init(&t, 3000), 0);
  for (i = 0; i < 20; i++) { /* 20 live entries: 64 slots hold them */
    v6(a6, i);
    assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[i]), 0);
  }
  for (i = 20; i < 2020; i++) { /* one in, the oldest out */
    v6(a6, i);
    assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[i % 4000]), 0);
    v6(a6, i - 20);
    peer_table_del(&t, AF_INET6, a6, &vals[(i - 20) % 4000]);
    assert_int_equal(t.n, 20);
  }
  assert_int_equal(t.mask + 1, 64);
  for (i = 2000; i < 2020; i++) {
    v6(a6, i);
    assert_ptr_equal(peer_table_get(&t, AF_INET6, a6), &vals[i % 4000]);
  }
  peer_table_free(&t);
}

static void test_many(void **state) {
  struct peer_table t;
  uint8_t a4[4], a6[16];
  uint32_t i;
  const uint32_t n = 2000;

  (void)state;
  assert_int_equal(peer_table_init(&t, 2 * n), 0);
  for (i = 0; i < n; i++) {
    v4(a4, i);
    v6(a6, i);
    assert_int_equal(peer_table_put(&t, AF_INET, a4, &vals[i]), 0);
    assert_int_equal(peer_table_put(&t, AF_INET6, a6, &vals[n + i]), 0);
  }
  assert_int_equal(t.n, 2 * n);
  /* Remove three entries in four: more tombstones than a quarter of the
   * slots, which drives the in-place rehash. */
  for (i = 0; i < n; i++) {
    if (i % 4 == 0)
      continue;
    v4(a4, i);
    v6(a6, i);
    peer_table_del(&t, AF_INET, a4, &vals[i]);
    peer_table_del(&t, AF_INET6, a6, &vals[n + i]);
  }
  assert_int_equal(t.n, n / 2);
  for (i = 0; i < n; i++) {
    v4(a4, i);
    v6(a6, i);
    if (i % 4) {
      assert_null(peer_table_get(&t, AF_INET, a4));
      assert_null(peer_table_get(&t, AF_INET6, a6));
    } else {
      assert_ptr_equal(peer_table_get(&t, AF_INET, a4), &vals[i]);
      assert_ptr_equal(peer_table_get(&t, AF_INET6, a6), &vals[n + i]);
    }
  }
  assert_true(t.tombs <= (t.mask + 1) / 4);
  peer_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_del),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_replace_and_conditional_del),
      cmocka_unit_test(test_full),
      cmocka_unit_test(test_tombstone_reuse),
      cmocka_unit_test(test_grows_to_demand),
      cmocka_unit_test(test_churn_keeps_size),
      cmocka_unit_test(test_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
