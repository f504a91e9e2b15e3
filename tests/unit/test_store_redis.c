/* Unit tests of the Redis session store (src/store_redis.c) against a real
 * redis-server started on a Unix socket in a temporary directory: the
 * round trip, two nodes and a lease (a take refused while the owner
 * lives, allowed after its lease ran out, the old owner fenced), a
 * restarted node taking its own sessions at once, address claims, Redis
 * killed and started again, a record sealed under another key and
 * garbage written into Redis (skipped and counted, never a crash). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/store.h"
#include "src/store_redis.h"

#define REDIS_SERVER "/usr/bin/redis-server"
#define TIMEOUT_MS 200
#define LONG_LEASE 10000 /* ms */

static char dir[64], sock[128], addr[140];
static pid_t redis_pid = -1;
static uint8_t key[JVPN_STORE_KEY_LEN];

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  nanosleep(&ts, NULL);
}

static void fill(uint8_t *b, size_t n, uint8_t seed) {
  size_t i;

  for (i = 0; i < n; i++)
    b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

/* A hiredis connection of the test's own, to look into Redis and to
 * write what no store would. */
static redisContext *raw(void) {
  redisContext *c = redisConnectUnix(sock);

  assert_non_null(c);
  assert_int_equal(c->err, 0);
  return c;
}

static void raw_cmd(const char *fmt, ...) {
  redisContext *c = raw();
  redisReply *r;
  va_list ap;

  va_start(ap, fmt);
  r = redisvCommand(c, fmt, ap);
  va_end(ap);
  assert_non_null(r);
  assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
  freeReplyObject(r);
  redisFree(c);
}

static void start_redis(void) {
  int i, null;
  redisContext *c;

  if (access(REDIS_SERVER, X_OK) != 0)
    fail_msg("%s is missing: scripts/deps.sh installs it "
             "(apt-get install redis-server)",
             REDIS_SERVER);
  redis_pid = fork();
  assert_true(redis_pid >= 0);
  if (redis_pid == 0) {
    null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execl(REDIS_SERVER, "redis-server", "--port", "0", "--unixsocket", sock,
          "--save", "", "--appendonly", "no", "--daemonize", "no",
          (char *)NULL);
    _exit(127);
  }
  for (i = 0; i < 500; i++) { /* 5 s */
    c = redisConnectUnix(sock);
    if (c != NULL && c->err == 0) {
      redisFree(c);
      return;
    }
    redisFree(c);
    nap_ms(10);
  }
  fail_msg("redis-server did not open %s within 5 s", sock);
}

static void stop_redis(void) {
  if (redis_pid <= 0)
    return;
  kill(redis_pid, SIGKILL);
  waitpid(redis_pid, NULL, 0);
  redis_pid = -1;
  unlink(sock);
}

static int group_setup(void **state) {
  (void)state;
  fill(key, sizeof(key), 9);
  snprintf(dir, sizeof(dir), "/tmp/jvpn-redis-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
  snprintf(addr, sizeof(addr), "unix:%s", sock);
  start_redis();
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  stop_redis();
  rmdir(dir);
  return 0;
}

static int flush(void **state) {
  (void)state;
  raw_cmd("FLUSHALL");
  return 0;
}

static struct jvpn_store *open_node(const char *node, uint64_t epoch,
                                    const uint8_t *k) {
  struct store_redis_conf conf = {addr, node, epoch, NULL, TIMEOUT_MS};
  struct jvpn_store *st = NULL;
  char why[256];

  assert_int_equal(store_redis_open(&st, &conf, k, why, sizeof(why)), 0);
  assert_non_null(st->cluster);
  return st;
}

static struct jvpn_store *open_live(const char *node, uint64_t epoch,
                                    uint64_t lease_ms) {
  struct jvpn_store *st = open_node(node, epoch, key);

  assert_int_equal(st->cluster->renew(st->impl, lease_ms), 0);
  assert_true(st->cluster->reachable(st->impl));
  return st;
}

static void record_of(struct jvpn_store_record *r, uint8_t seed) {
  memset(r, 0, sizeof(*r));
  fill(r->id, sizeof(r->id), seed);
  fill(r->owner_pin, sizeof(r->owner_pin), (uint8_t)(seed + 1));
  fill(r->secret, sizeof(r->secret), (uint8_t)(seed + 2));
  r->state = 1;
  r->state_version = 10 + seed;
  r->attach_version = 1;
  r->has4 = 1;
  r->addr4[0] = 10;
  r->addr4[3] = seed;
  r->born_wall_ms = 1700000000000ULL;
  r->lifetime_deadline_wall_ms = JVPN_NO_DEADLINE;
  r->loss_deadline_wall_ms = JVPN_NO_DEADLINE;
}

/* What a load delivered, and why it skipped. */
struct seen {
  struct jvpn_store_record r[8];
  int n;
  int skips[JVPN_STORE_SKIP_COUNT];
};

static void on_load(void *arg, const struct jvpn_store_record *r) {
  struct seen *s = arg;

  if (s->n < 8)
    s->r[s->n] = *r;
  s->n++;
}

static void on_skip(void *arg, const uint8_t *id, enum jvpn_store_skip why,
                    const char *detail) {
  (void)id;
  (void)detail;
  ((struct seen *)arg)->skips[why]++;
}

static const struct jvpn_store_record *find(const struct seen *s,
                                            const uint8_t *id) {
  int i;

  for (i = 0; i < s->n && i < 8; i++)
    if (memcmp(s->r[i].id, id, JVPN_SESSION_ID_LEN) == 0)
      return &s->r[i];
  return NULL;
}

/* --- tests ---------------------------------------------------------------- */

static void test_round_trip(void **state) {
  struct jvpn_store *a = open_live("a", 1, LONG_LEASE), *again;
  struct jvpn_store_record r1, r2;
  struct seen seen = {0};

  (void)state;
  record_of(&r1, 1);
  record_of(&r2, 2);
  assert_int_equal(jvpn_store_put(a, &r1), 0);
  assert_int_equal(jvpn_store_put(a, &r2), 0);
  r1.state_version++;
  assert_int_equal(jvpn_store_put(a, &r1), 0);
  assert_int_equal(jvpn_store_stats(a)->writes, 3);
  assert_true(jvpn_store_stats(a)->write_ns_max > 0);
  assert_string_equal(a->ops->name, "redis");

  /* The same process reopening its store: its own records. */
  again = open_node("a", 1, key);
  assert_int_equal(jvpn_store_load(again, on_load, on_skip, &seen), 0);
  assert_int_equal(seen.n, 2);
  assert_memory_equal(find(&seen, r1.id), &r1, sizeof(r1));
  assert_memory_equal(find(&seen, r2.id), &r2, sizeof(r2));
  assert_int_equal(jvpn_store_stats(again)->loaded, 2);

  assert_int_equal(jvpn_store_del(a, r2.id), 0);
  assert_int_equal(jvpn_store_del(a, r2.id), 0); /* missing: no error */
  assert_int_equal(jvpn_store_stats(a)->deletes, 2);
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(jvpn_store_load(again, on_load, on_skip, &seen), 0);
  assert_int_equal(seen.n, 1);
  assert_null(store_redis_stats(NULL));
  jvpn_store_close(again);
  jvpn_store_close(a);
}

static void test_two_nodes_lease(void **state) {
  struct jvpn_store *a = open_live("a", 1, 300), *b = open_live("b", 2, 5000);
  const struct store_redis_stats *as = store_redis_stats(a),
                                 *bs = store_redis_stats(b);
  struct jvpn_store_record r, got;
  uint64_t held = 0, t0, as_fenced_before, bs_takes_before;
  int rc, i;

  (void)state;
  /* A session its client left (RECOVERING: no attachment) goes at once
   * to the node the client comes to, even while its owner lives. */
  record_of(&r, 4);
  r.active_attachment = 0;
  assert_int_equal(jvpn_store_put(a, &r), 0);
  assert_int_equal(b->cluster->take(b->impl, r.id, &got, &held), 0);
  assert_int_equal(jvpn_store_put(a, &r), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_store_del(b, r.id), 0);
  as_fenced_before = as->fenced;
  bs_takes_before = bs->takes;

  /* One a connection carries at its live owner stays there. */
  record_of(&r, 3);
  r.active_attachment = r.last_attachment_id = 2;
  assert_int_equal(jvpn_store_put(a, &r), 0);
  assert_int_equal(b->cluster->take(b->impl, r.id, &got, &held),
                   JVPN_ERR_EXISTS);
  assert_true(held > 0 && held <= 300);
  assert_int_equal(bs->takes_refused, 1);

  /* a stops renewing: its lease runs out, then b may take. */
  t0 = now_ms();
  for (i = 0, rc = JVPN_ERR_EXISTS; i < 100 && rc == JVPN_ERR_EXISTS; i++) {
    nap_ms(20);
    rc = b->cluster->take(b->impl, r.id, &got, &held);
  }
  assert_int_equal(rc, 0);
  assert_true(now_ms() - t0 >= 250);
  assert_memory_equal(&got, &r, sizeof(r));
  assert_int_equal(bs->takes, bs_takes_before + 1);

  /* The fence: a's writes are refused, not counted as errors. */
  r.state_version++;
  assert_int_equal(jvpn_store_put(a, &r), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_store_del(a, r.id), JVPN_ERR_DENIED);
  assert_int_equal(as->fenced, as_fenced_before + 2);
  assert_int_equal(jvpn_store_stats(a)->write_errors, 0);
  assert_int_equal(b->cluster->take(b->impl, r.id, &got, &held), 0);

  /* b writes; an older version than stored is refused. */
  assert_int_equal(jvpn_store_put(b, &r), 0);
  r.state_version--;
  assert_int_equal(jvpn_store_put(b, &r), JVPN_ERR_DENIED);
  assert_int_equal(bs->stale, 1);
  assert_int_equal(jvpn_store_del(b, r.id), 0);
  assert_int_equal(b->cluster->take(b->impl, r.id, &got, &held),
                   JVPN_ERR_NOTFOUND);
  jvpn_store_close(a);
  jvpn_store_close(b);
}

static void test_restarted_node(void **state) {
  struct jvpn_store *old = open_live("a", 1, LONG_LEASE), *fresh;
  struct jvpn_store_record r1, r2;
  struct seen seen = {0};

  (void)state;
  record_of(&r1, 4);
  record_of(&r2, 5);
  assert_int_equal(jvpn_store_put(old, &r1), 0);
  assert_int_equal(jvpn_store_put(old, &r2), 0);

  /* The same node started again within its old lease: its sessions are
   * its own at once (the old epoch is dead), no waiting for the lease. */
  fresh = open_live("a", 3, LONG_LEASE);
  assert_int_equal(jvpn_store_load(fresh, on_load, on_skip, &seen), 0);
  assert_int_equal(seen.n, 2);
  assert_non_null(find(&seen, r1.id));
  assert_int_equal(store_redis_stats(fresh)->takes, 2);

  /* The old process, were it still alive, is fenced everywhere. */
  assert_int_equal(old->cluster->renew(old->impl, LONG_LEASE), JVPN_ERR_DENIED);
  assert_int_equal(store_redis_stats(old)->superseded, 1);
  r1.state_version++;
  assert_int_equal(jvpn_store_put(old, &r1), JVPN_ERR_DENIED);
  assert_int_equal(jvpn_store_put(fresh, &r1), 0);
  jvpn_store_close(old);
  jvpn_store_close(fresh);
}

static void test_claim_addr(void **state) {
  struct jvpn_store *a = open_live("a", 1, LONG_LEASE),
                    *b = open_live("b", 2, LONG_LEASE);
  uint8_t pin1[JVPN_PIN_LEN], pin2[JVPN_PIN_LEN];
  uint8_t want[16], got[16], want6[16], got6[16];

  (void)state;
  fill(pin1, sizeof(pin1), 1);
  fill(pin2, sizeof(pin2), 2);
  inet_pton(AF_INET, "10.0.0.5", want);
  assert_int_equal(a->cluster->claim_addr(a->impl, pin1, AF_INET, want, got),
                   0);
  assert_memory_equal(got, want, 4);
  /* The same pin from another node: the same address, whatever it wants. */
  inet_pton(AF_INET, "10.0.0.9", want);
  memset(got, 0, sizeof(got));
  assert_int_equal(b->cluster->claim_addr(b->impl, pin1, AF_INET, want, got),
                   0);
  inet_pton(AF_INET, "10.0.0.5", want);
  assert_memory_equal(got, want, 4);
  /* Another pin wanting a held address. */
  assert_int_equal(b->cluster->claim_addr(b->impl, pin2, AF_INET, want, got),
                   JVPN_ERR_EXISTS);
  inet_pton(AF_INET, "10.0.0.6", want);
  assert_int_equal(b->cluster->claim_addr(b->impl, pin2, AF_INET, want, got),
                   0);
  assert_memory_equal(got, want, 4);
  /* IPv6 is its own space. */
  inet_pton(AF_INET6, "fd00::5", want6);
  assert_int_equal(a->cluster->claim_addr(a->impl, pin2, AF_INET6, want6, got6),
                   0);
  assert_memory_equal(got6, want6, 16);
  assert_int_equal(b->cluster->claim_addr(b->impl, pin1, AF_INET6, want6, got6),
                   JVPN_ERR_EXISTS);
  assert_int_equal(a->cluster->claim_addr(a->impl, pin1, 99, want, got),
                   JVPN_ERR_INVAL);
  jvpn_store_close(a);
  jvpn_store_close(b);
}

static void test_redis_down(void **state) {
  struct jvpn_store *a = open_live("a", 1, LONG_LEASE);
  const struct store_redis_stats *as = store_redis_stats(a);
  struct jvpn_store_record r;
  uint64_t t0;
  int i, rc;

  (void)state;
  record_of(&r, 6);
  assert_int_equal(jvpn_store_put(a, &r), 0);
  stop_redis();
  t0 = now_ms();
  assert_int_equal(a->cluster->renew(a->impl, LONG_LEASE), JVPN_ERR_AGAIN);
  assert_int_equal(a->cluster->renew(a->impl, LONG_LEASE), JVPN_ERR_AGAIN);
  assert_true(now_ms() - t0 < TIMEOUT_MS + 100);
  assert_false(a->cluster->reachable(a->impl));
  r.state_version++;
  assert_int_equal(jvpn_store_put(a, &r), JVPN_ERR_AGAIN);
  assert_int_equal(jvpn_store_stats(a)->write_errors, 1);

  /* Back (empty: no persistence in the test): the next renew reconnects,
   * the put re-creates the record, the scripts are loaded again. */
  start_redis();
  for (i = 0, rc = JVPN_ERR_AGAIN; i < 50 && rc == JVPN_ERR_AGAIN; i++) {
    rc = a->cluster->renew(a->impl, LONG_LEASE);
    if (rc == JVPN_ERR_AGAIN)
      nap_ms(20);
  }
  assert_int_equal(rc, 0);
  assert_true(a->cluster->reachable(a->impl));
  assert_int_equal(jvpn_store_put(a, &r), 0);
  assert_int_equal(as->reconnects, 1);
  jvpn_store_close(a);
}

static void test_open_errors(void **state) {
  static const char *const bad_addr[] = {
      "",          "unix:",         "unix:rel",          "1.2.3.4",
      "1.2.3.4:0", "1.2.3.4:70000", "host.example:6379", "::1:6379",
      "[::1]6379", "[1.2.3.4]:6379"};
  struct store_redis_conf conf = {NULL, "a", 1, NULL, TIMEOUT_MS};
  struct jvpn_store *st = (struct jvpn_store *)1;
  char why[256], nowhere[160];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++) {
    conf.addr = bad_addr[i];
    why[0] = '\0';
    assert_int_equal(store_redis_open(&st, &conf, key, why, sizeof(why)),
                     JVPN_ERR_CONFIG);
    assert_null(st);
    assert_non_null(strstr(why, "redis address"));
  }
  conf.addr = "[::1]:6379";
  conf.node_id = "no/slash";
  assert_int_equal(store_redis_open(&st, &conf, key, why, sizeof(why)),
                   JVPN_ERR_CONFIG);
  assert_non_null(strstr(why, "node ID"));
  conf.node_id = "node-1.example_x";
  assert_int_equal(store_redis_open(&st, &conf, key, why, sizeof(why)), 0);
  jvpn_store_close(st);

  /* Redis down at start is no error: unreachable, and renew says so. */
  snprintf(nowhere, sizeof(nowhere), "unix:%s/none.sock", dir);
  conf.addr = nowhere;
  assert_int_equal(store_redis_open(&st, &conf, key, why, sizeof(why)), 0);
  assert_false(st->cluster->reachable(st->impl));
  assert_int_equal(st->cluster->renew(st->impl, 1000), JVPN_ERR_AGAIN);
  assert_int_equal(jvpn_store_load(st, NULL, NULL, NULL), JVPN_ERR_AGAIN);
  jvpn_store_close(st);
}

static void test_other_key(void **state) {
  struct jvpn_store *a = open_live("a", 1, LONG_LEASE), *other;
  uint8_t key2[JVPN_STORE_KEY_LEN];
  struct jvpn_store_record r, got;
  struct seen seen = {0};
  uint64_t held;

  (void)state;
  record_of(&r, 7);
  assert_int_equal(jvpn_store_put(a, &r), 0);
  fill(key2, sizeof(key2), 10);
  other = open_node("a", 1, key2);
  assert_int_equal(jvpn_store_load(other, on_load, on_skip, &seen), 0);
  assert_int_equal(seen.n, 0);
  assert_int_equal(seen.skips[JVPN_STORE_SKIP_SEAL], 1);
  assert_int_equal(jvpn_store_stats(other)->skipped[JVPN_STORE_SKIP_SEAL], 1);
  assert_int_equal(other->cluster->take(other->impl, r.id, &got, &held),
                   JVPN_ERR_MALFORMED);
  jvpn_store_close(other);
  jvpn_store_close(a);
}

static void test_garbage(void **state) {
  struct jvpn_store *a = open_live("a", 1, LONG_LEASE);
  uint8_t id1[JVPN_SESSION_ID_LEN], id2[JVPN_SESSION_ID_LEN];
  char h1[2 * JVPN_SESSION_ID_LEN + 1], h2[2 * JVPN_SESSION_ID_LEN + 1];
  struct jvpn_store_record r, got;
  struct seen seen = {0};
  uint64_t held;
  size_t i;

  (void)state;
  fill(id1, sizeof(id1), 20);
  fill(id2, sizeof(id2), 21);
  for (i = 0; i < sizeof(id1); i++) {
    snprintf(h1 + 2 * i, 3, "%02x", id1[i]);
    snprintf(h2 + 2 * i, 3, "%02x", id2[i]);
  }
  /* A hash with a garbage record, a key of the wrong type, a member of
   * the owned set that is no session ID, and one good record. */
  raw_cmd("HSET jvpn:s:%s rec garbage owner a epoch 1 ver 1", h1);
  raw_cmd("SET jvpn:s:%s notahash", h2);
  raw_cmd("SADD jvpn:owned:a %s %s zz", h1, h2);
  record_of(&r, 8);
  assert_int_equal(jvpn_store_put(a, &r), 0);

  assert_int_equal(jvpn_store_load(a, on_load, on_skip, &seen), 0);
  assert_int_equal(seen.n, 1);
  assert_memory_equal(&seen.r[0], &r, sizeof(r));
  assert_int_equal(seen.skips[JVPN_STORE_SKIP_MALFORMED], 3);
  assert_int_equal(jvpn_store_stats(a)->skipped[JVPN_STORE_SKIP_MALFORMED], 3);
  assert_int_equal(a->cluster->take(a->impl, id1, &got, &held),
                   JVPN_ERR_MALFORMED);
  assert_true(a->cluster->reachable(a->impl));
  jvpn_store_close(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_round_trip, flush),
      cmocka_unit_test_setup(test_two_nodes_lease, flush),
      cmocka_unit_test_setup(test_restarted_node, flush),
      cmocka_unit_test_setup(test_claim_addr, flush),
      cmocka_unit_test_setup(test_other_key, flush),
      cmocka_unit_test_setup(test_garbage, flush),
      cmocka_unit_test_setup(test_open_errors, flush),
      cmocka_unit_test_setup(test_redis_down, flush),
  };

  /* hiredis writes with write(2): a dead Redis must be EPIPE, not death. */
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
