/* Unit tests of the session store (src/store_record.c, src/store_lmdb.c):
 * the record's round trip through LMDB in a temporary directory, sealing
 * (a changed byte is refused with a reason and counted), records that
 * are corrupt or of an unknown version (skipped, counted, never a crash),
 * crash consistency (a writer killed at random never leaves half a
 * record), expiry on load by the core's own timers, the one-server lock,
 * and the cost of a write (printed: µs per write and writes per second
 * over 1000 sessions). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/policy.h"
#include "jvpn/session.h"
#include "jvpn/store.h"
#include "src/session_table.h"
#include "src/store_lmdb.h"
#include "src/store_record.h"

#define MONO0 5000000ULL          /* this run's monotonic clock, ms */
#define WALL0 1700000000000ULL    /* wall clock, ms */

static uint8_t key[JVPN_STORE_KEY_LEN];
static char dir[64];

static void fill(uint8_t *b, size_t n, uint8_t seed) {
  size_t i;

  for (i = 0; i < n; i++)
    b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static void rm_dir(void) {
  char p[128];

  snprintf(p, sizeof(p), "%s/data.mdb", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/lock.mdb", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/jvpn.lock", dir);
  unlink(p);
  rmdir(dir);
}

static int setup(void **state) {
  (void)state;
  fill(key, sizeof(key), 9);
  snprintf(dir, sizeof(dir), "/tmp/jvpn-store-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rm_dir();
  return 0;
}

static struct jvpn_store *open_store(void) {
  struct jvpn_store *st = NULL;
  char why[256];

  assert_int_equal(store_lmdb_open(&st, dir, key, (uid_t)-1, (gid_t)-1, why,
                                   sizeof(why)),
                   0);
  return st;
}

/* A session that lived a little: attached, switched, reattached. */
static void live_session(struct jvpn_session *out, uint8_t seed) {
  struct jvpn_session_table *t;
  struct jvpn_session *s;
  struct jvpn_session_out o;
  struct jvpn_session_event e;
  struct jvpn_policy p;
  uint8_t id[JVPN_SESSION_ID_LEN], sec[JVPN_SECRET_LEN], pin[JVPN_PIN_LEN];

  jvpn_policy_init(&p);
  fill(id, sizeof(id), seed);
  fill(sec, sizeof(sec), (uint8_t)(seed + 1));
  fill(pin, sizeof(pin), (uint8_t)(seed + 2));
  assert_int_equal(jvpn_session_table_new(&t, 4, NULL), 0);
  jvpn_session_out_reset(&o);
  assert_int_equal(
      jvpn_session_table_create(t, id, sec, pin, &p, MONO0, &o, &s), 0);
  memset(&e, 0, sizeof(e));
  e.type = JVPN_EV_ATTACH_CONFIRMED;
  e.attachment = 1;
  assert_int_equal(jvpn_session_handle(s, &e, &p, MONO0, &o), 0);
  e.type = JVPN_EV_PATH_CHANGE;
  e.reason = JVPN_R_NAT_REBIND;
  assert_int_equal(jvpn_session_handle(s, &e, &p, MONO0 + 10000, &o), 0);
  assert_int_equal(jvpn_replay_commit(&s->replay, 3), 0);
  assert_int_equal(jvpn_replay_commit(&s->replay, 5), 0);
  *out = *s;
  jvpn_session_table_del(t);
}

static void record_of(struct jvpn_store_record *r, uint8_t seed) {
  struct jvpn_session s;
  struct jvpn_policy p;

  jvpn_policy_init(&p);
  live_session(&s, seed);
  store_record_from_session(r, &s, &p, MONO0 + 20000, WALL0);
  r->has4 = 1;
  r->addr4[0] = 10;
  r->addr4[3] = seed;
}

/* --- codec -------------------------------------------------------------- */

static void test_codec_round_trip(void **state) {
  struct jvpn_store_record r, back;
  uint8_t buf[STORE_RECORD_MAX], nonce[STORE_RECORD_NONCE_LEN] = {1};
  enum jvpn_store_skip why;
  const char *detail;
  long n;

  (void)state;
  record_of(&r, 1);
  n = store_record_encode(buf, sizeof(buf), &r, key, nonce);
  assert_true(n >= (long)STORE_RECORD_MIN);
  assert_int_equal(n, STORE_RECORD_MIN + 8 * r.nswitches);
  assert_int_equal(store_record_decode(buf, (size_t)n, key, &back, &why,
                                       &detail),
                   0);
  assert_memory_equal(&r, &back, sizeof(r));
  /* The secret is not in the clear. */
  assert_null(memmem(buf, (size_t)n, r.secret, 8));
  /* Too small a buffer. */
  assert_int_equal(store_record_encode(buf, 10, &r, key, nonce),
                   JVPN_ERR_NOSPACE);
}

static void test_codec_tamper(void **state) {
  struct jvpn_store_record r, back;
  uint8_t buf[STORE_RECORD_MAX], bad[STORE_RECORD_MAX], other[32];
  uint8_t nonce[STORE_RECORD_NONCE_LEN] = {2};
  enum jvpn_store_skip why;
  const char *detail;
  size_t i;
  long n;

  (void)state;
  record_of(&r, 2);
  n = store_record_encode(buf, sizeof(buf), &r, key, nonce);
  assert_true(n > 0);
  /* Every byte, flipped: refused with a reason, never accepted. */
  for (i = 0; i < (size_t)n; i++) {
    memcpy(bad, buf, (size_t)n);
    bad[i] ^= 0x40;
    assert_int_equal(
        store_record_decode(bad, (size_t)n, key, &back, &why, &detail), -1);
    assert_non_null(detail);
    if (i >= 4 && i != STORE_RECORD_FIXED - 1)
      assert_true(why == JVPN_STORE_SKIP_SEAL ||
                  why == JVPN_STORE_SKIP_MALFORMED);
  }
  bad[3] = 0;
  memcpy(bad, buf, (size_t)n);
  bad[3] = 2;
  assert_int_equal(store_record_decode(bad, (size_t)n, key, &back, &why,
                                       &detail),
                   -1);
  assert_int_equal(why, JVPN_STORE_SKIP_VERSION);
  /* Sealed under another server key. */
  fill(other, sizeof(other), 77);
  assert_int_equal(store_record_decode(buf, (size_t)n, other, &back, &why,
                                       &detail),
                   -1);
  assert_int_equal(why, JVPN_STORE_SKIP_SEAL);
  for (i = 0; i < sizeof(back.secret); i++)
    assert_int_equal(back.secret[i], 0);
  /* Every truncation. */
  for (i = 0; i < (size_t)n; i++)
    assert_int_equal(
        store_record_decode(buf, i, key, &back, &why, &detail), -1);
}

/* --- the LMDB store ------------------------------------------------------- */

struct seen {
  struct jvpn_store_record r[8];
  size_t n;
  size_t skips[JVPN_STORE_SKIP_COUNT];
};

static void on_rec(void *arg, const struct jvpn_store_record *r) {
  struct seen *s = arg;

  if (s->n < 8)
    s->r[s->n] = *r;
  s->n++;
}

static void on_skip(void *arg, const uint8_t *id, enum jvpn_store_skip why,
                    const char *detail) {
  struct seen *s = arg;

  (void)id;
  assert_non_null(detail);
  if (getenv("STORE_TEST_VERBOSE") != NULL)
    print_message("skipped: %s: %s\n", jvpn_store_skip_name(why), detail);
  s->skips[why]++;
}

static void test_lmdb_round_trip(void **state) {
  struct jvpn_store_record r1, r2;
  struct jvpn_store *st;
  struct seen seen;
  struct jvpn_session s;
  struct jvpn_session orig;

  (void)state;
  record_of(&r1, 1);
  record_of(&r2, 2);
  st = open_store();
  assert_int_equal(jvpn_store_put(st, &r1), 0);
  assert_int_equal(jvpn_store_put(st, &r2), 0);
  r1.state_version++; /* an update replaces the record */
  assert_int_equal(jvpn_store_put(st, &r1), 0);
  assert_int_equal(jvpn_store_stats(st)->writes, 3);
  jvpn_store_close(st);

  st = open_store();
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(jvpn_store_load(st, on_rec, on_skip, &seen), 0);
  assert_int_equal(seen.n, 2);
  assert_int_equal(jvpn_store_stats(st)->loaded, 2);
  if (memcmp(seen.r[0].id, r1.id, sizeof(r1.id)) != 0) {
    struct jvpn_store_record tmp = seen.r[0];
    seen.r[0] = seen.r[1];
    seen.r[1] = tmp;
  }
  assert_memory_equal(&seen.r[0], &r1, sizeof(r1));
  assert_memory_equal(&seen.r[1], &r2, sizeof(r2));

  /* Back into a session on another clock: same identity, versions,
   * window, switch budget and ages. */
  live_session(&orig, 2);
  store_record_to_session(&s, &seen.r[1], 900000, WALL0 + 1000);
  assert_memory_equal(s.id, orig.id, sizeof(s.id));
  assert_memory_equal(s.secret, orig.secret, sizeof(s.secret));
  assert_memory_equal(s.owner_pin, orig.owner_pin, sizeof(s.owner_pin));
  assert_int_equal(s.state, orig.state);
  assert_int_equal(s.state_version, orig.state_version);
  assert_int_equal(s.attach_version, orig.attach_version);
  assert_memory_equal(&s.replay, &orig.replay, sizeof(s.replay));
  assert_int_equal(s.switch_count, orig.switch_count);
  assert_int_equal(s.n_switches, orig.n_switches);
  assert_int_equal(jvpn_session_active(&s), jvpn_session_active(&orig));
  /* born 21 s before the record's wall time, which is 1 s ago */
  assert_int_equal(s.born_ms, 900000 - 21000);

  assert_int_equal(jvpn_store_del(st, r1.id), 0);
  assert_int_equal(jvpn_store_del(st, r1.id), 0); /* gone: no error */
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(jvpn_store_load(st, on_rec, on_skip, &seen), 0);
  assert_int_equal(seen.n, 1);
  jvpn_store_close(st);
}

/* Writes |val| under |k| behind the store's back. */
static void raw_put(const void *k, size_t klen, const void *val, size_t len) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val mk = {.mv_size = klen, .mv_data = (void *)k};
  MDB_val mv = {.mv_size = len, .mv_data = (void *)val};

  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_mapsize(env, STORE_LMDB_MAP_SIZE), 0);
  assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
  assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static void test_lmdb_skips(void **state) {
  struct jvpn_store_record r;
  struct jvpn_store *st;
  struct seen seen;
  uint8_t buf[STORE_RECORD_MAX], nonce[STORE_RECORD_NONCE_LEN] = {3};
  uint8_t k[JVPN_SESSION_ID_LEN];
  long n;

  (void)state;
  record_of(&r, 4);
  st = open_store();
  assert_int_equal(jvpn_store_put(st, &r), 0);
  jvpn_store_close(st);

  record_of(&r, 5);
  n = store_record_encode(buf, sizeof(buf), &r, key, nonce);
  buf[n - 20] ^= 1; /* tampered secret */
  raw_put(r.id, sizeof(r.id), buf, (size_t)n);
  fill(k, sizeof(k), 6);
  raw_put(k, sizeof(k), "JVS", 3);               /* truncated */
  k[0] ^= 1;
  raw_put(k, sizeof(k), "JVS\x07 a future format", 20); /* unknown version */
  k[0] ^= 2;
  record_of(&r, 7);
  n = store_record_encode(buf, sizeof(buf), &r, key, nonce);
  raw_put(k, sizeof(k), buf, (size_t)n); /* under another ID's key */
  raw_put("short", 5, buf, (size_t)n);   /* a key of the wrong length */

  st = open_store();
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(jvpn_store_load(st, on_rec, on_skip, &seen), 0);
  assert_int_equal(seen.n, 1);
  assert_int_equal(seen.skips[JVPN_STORE_SKIP_SEAL], 1);
  assert_int_equal(seen.skips[JVPN_STORE_SKIP_VERSION], 1);
  assert_int_equal(seen.skips[JVPN_STORE_SKIP_MALFORMED], 3);
  assert_int_equal(jvpn_store_stats(st)->skipped[JVPN_STORE_SKIP_SEAL], 1);
  assert_int_equal(jvpn_store_stats(st)->skipped[JVPN_STORE_SKIP_MALFORMED],
                   3);
  assert_string_equal(jvpn_store_skip_name(JVPN_STORE_SKIP_SEAL), "seal");
  jvpn_store_close(st);
}

static void test_lmdb_one_server(void **state) {
  struct jvpn_store *st = open_store(), *st2 = NULL;
  char why[256];

  (void)state;
  assert_int_equal(store_lmdb_open(&st2, dir, key, (uid_t)-1, (gid_t)-1, why,
                                   sizeof(why)),
                   JVPN_ERR_SYSTEM);
  assert_null(st2);
  assert_non_null(strstr(why, "another server"));
  jvpn_store_close(st);
  /* A directory that cannot be made. */
  assert_int_not_equal(store_lmdb_open(&st2, "/proc/no/such/dir", key,
                                       (uid_t)-1, (gid_t)-1, why, sizeof(why)),
                       0);
}

/* A writer killed at random moments: what is on disk afterwards is whole
 * records only (one LMDB transaction per write). */
static void test_lmdb_crash_consistency(void **state) {
  struct jvpn_store *st;
  struct seen seen;
  int round;

  (void)state;
  for (round = 0; round < 5; round++) {
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
      struct jvpn_store_record r;
      uint64_t i;

      st = open_store();
      record_of(&r, 1);
      for (i = 0;; i++) {
        r.id[0] = (uint8_t)(i % 8); /* eight sessions, rewritten */
        r.state_version = r.attach_version + i;
        if (jvpn_store_put(st, &r) != 0)
          _exit(3);
      }
    }
    usleep((useconds_t)(2000 + (rand() % 20000)));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    st = open_store();
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(jvpn_store_load(st, on_rec, on_skip, &seen), 0);
    assert_int_equal(seen.skips[JVPN_STORE_SKIP_MALFORMED] +
                         seen.skips[JVPN_STORE_SKIP_SEAL] +
                         seen.skips[JVPN_STORE_SKIP_VERSION],
                     0);
    assert_true(seen.n <= 8);
    jvpn_store_close(st);
  }
}

/* --- expiry on load ------------------------------------------------------ */

static enum jvpn_reason tick_reason(const struct jvpn_store_record *r,
                                    uint64_t now_wall) {
  struct jvpn_session s;
  struct jvpn_session_out o;
  struct jvpn_policy p;
  uint64_t now = store_record_clock(r, 123456, now_wall);
  size_t i;

  jvpn_policy_init(&p);
  p.transport_loss_ttl_ms = 3000;
  p.recovery_window_ms = 1000;

  store_record_to_session(&s, r, now, now_wall);
  assert_int_equal(jvpn_session_expired(&s, &p, now),
                   (s.state == JVPN_SS_RECOVERING &&
                    now_wall >= r->last_attached_wall_ms + 3000) ||
                       now_wall >= r->born_wall_ms + p.session_lifetime_ms);
  jvpn_session_out_reset(&o);
  (void)jvpn_session_tick(&s, &p, now, &o);
  if (s.state != JVPN_SS_TERMINATED)
    return JVPN_R_NONE;
  for (i = 0; i < o.nactions; i++)
    if (o.actions[i].type == JVPN_ACT_TERMINATE)
      return o.actions[i].reason;
  return JVPN_R_COUNT;
}

static void test_expiry_on_load(void **state) {
  struct jvpn_store_record r;

  (void)state;
  record_of(&r, 3);
  r.state = JVPN_SS_RECOVERING;
  r.active_attachment = 0;
  r.last_attached_wall_ms = WALL0;
  /* 2 s later: alive; 5 s later: the transport-loss TTL passed. */
  assert_int_equal(tick_reason(&r, WALL0 + 2000), JVPN_R_NONE);
  assert_int_equal(tick_reason(&r, WALL0 + 5000),
                   JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED);
  /* Born 9 h ago, on a clock that started 2 min ago (a reboot): the
   * lifetime (8 h) passed all the same. */
  r.born_wall_ms = WALL0 - 9ULL * 3600 * 1000;
  assert_int_equal(tick_reason(&r, WALL0 + 100),
                   JVPN_R_TTL_SESSION_EXPIRED);
}

/* --- cost ----------------------------------------------------------------- */

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_write_cost(void **state) {
  struct jvpn_store_record r;
  struct jvpn_store *st;
  struct jvpn_store_stats ss;
  struct seen seen;
  uint64_t t0, dt, i, n = 1000, load_ns;

  (void)state;
  st = open_store();
  record_of(&r, 1);
  t0 = now_ns();
  for (i = 0; i < 2 * n; i++) {
    memcpy(r.id, &i, sizeof(i)); /* 1000 sessions, each written twice */
    if (i >= n)
      memcpy(r.id, (uint64_t[]){i - n}, sizeof(i));
    r.state_version = i;
    assert_int_equal(jvpn_store_put(st, &r), 0);
  }
  dt = now_ns() - t0;
  ss = *jvpn_store_stats(st);
  jvpn_store_close(st);
  st = open_store();
  memset(&seen, 0, sizeof(seen));
  t0 = now_ns();
  assert_int_equal(jvpn_store_load(st, NULL, on_skip, &seen), 0);
  load_ns = now_ns() - t0;
  assert_int_equal(jvpn_store_stats(st)->loaded, n);
  print_message("store cost (%s): %llu writes over %llu sessions, "
                "%.1f us per write (max %.1f us), %.0f writes/s; "
                "loading %llu sessions %.2f ms\n",
                dir, (unsigned long long)(2 * n), (unsigned long long)n,
                (double)dt / 1000.0 / (double)(2 * n),
                (double)ss.write_ns_max / 1000.0,
                (double)(2 * n) * 1e9 / (double)dt, (unsigned long long)n,
                (double)load_ns / 1e6);
  jvpn_store_close(st);
}

/* Group commit (D48): one transaction for many writes, durable at commit
 * only; an open batch a crash (here: a close) interrupts stores nothing. */
static void test_lmdb_batch(void **state) {
  struct jvpn_store_record r1, r2, r3;
  struct jvpn_store *st;
  struct seen seen;
  uint64_t t0, dt, i, n = 1000;

  (void)state;
  record_of(&r1, 1);
  record_of(&r2, 2);
  record_of(&r3, 3);
  st = open_store();
  assert_true(jvpn_store_batches(st));
  assert_int_equal(jvpn_store_begin(st), 0);
  assert_int_equal(jvpn_store_begin(st), JVPN_ERR_INVAL); /* one at a time */
  assert_int_equal(jvpn_store_put(st, &r1), 0);
  assert_int_equal(jvpn_store_put(st, &r2), 0);
  assert_int_equal(jvpn_store_del(st, r3.id), 0); /* absent: no error */
  assert_int_equal(jvpn_store_commit(st), 0);
  assert_int_equal(jvpn_store_commit(st), JVPN_ERR_INVAL);
  assert_int_equal(jvpn_store_begin(st), 0);
  assert_int_equal(jvpn_store_put(st, &r3), 0);
  jvpn_store_close(st); /* no commit */
  st = open_store();
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(jvpn_store_load(st, on_rec, on_skip, &seen), 0);
  assert_int_equal(seen.n, 2);
  /* the cost: 1000 records in batches of 50 */
  t0 = now_ns();
  for (i = 0; i < n; i++) {
    if (i % 50 == 0)
      assert_int_equal(jvpn_store_begin(st), 0);
    memcpy(r1.id, &i, sizeof(i));
    assert_int_equal(jvpn_store_put(st, &r1), 0);
    if (i % 50 == 49)
      assert_int_equal(jvpn_store_commit(st), 0);
  }
  dt = now_ns() - t0;
  print_message("batched store cost (%s): %.1f us per write in batches of "
                "50\n", dir, (double)dt / 1000.0 / (double)n);
  jvpn_store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_codec_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_codec_tamper, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lmdb_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lmdb_skips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lmdb_one_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lmdb_crash_consistency, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_expiry_on_load, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_cost, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lmdb_batch, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
