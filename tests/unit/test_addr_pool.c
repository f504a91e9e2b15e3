/* Unit tests for src/addr_pool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "src/addr_pool.h"

#define NPEERS 8

struct fixture {
  struct jvpn_server_conf conf;
  struct jvpn_peer_conf peers[NPEERS];
};

static void set_prefix(struct jvpn_prefix *p, int family, const char *addr,
                       unsigned plen) {
  memset(p, 0, sizeof(*p));
  p->family = family;
  assert_int_equal(inet_pton(family, addr, p->addr), 1);
  p->plen = (uint8_t)plen;
}

/* Peers with pins 0x10, 0x20, ... in the first byte; the reversed order
 * of the array checks that assignment follows first use, not config
 * order. */
static void setup_conf(struct fixture *f, size_t npeers, const char *pool4,
                       unsigned plen4, const char *pool6, unsigned plen6) {
  size_t i;

  memset(f, 0, sizeof(*f));
  if (pool4 != NULL)
    set_prefix(&f->conf.pool4, AF_INET, pool4, plen4);
  if (pool6 != NULL)
    set_prefix(&f->conf.pool6, AF_INET6, pool6, plen6);
  for (i = 0; i < npeers; i++) {
    memset(f->peers[i].pin, (int)(0x80 - 0x10 * i), JVPN_PIN_LEN);
    f->peers[i].pin[JVPN_PIN_LEN - 1] = (uint8_t)i;
  }
  f->conf.peers = f->peers;
  f->conf.npeers = npeers;
}

static void assert_v4(const uint8_t *a, const char *text) {
  uint8_t want[4];
  assert_int_equal(inet_pton(AF_INET, text, want), 1);
  assert_memory_equal(a, want, 4);
}

static void assert_v6(const uint8_t *a, const char *text) {
  uint8_t want[16];
  assert_int_equal(inet_pton(AF_INET6, text, want), 1);
  assert_memory_equal(a, want, 16);
}

static void test_order_v4_v6(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e0, *e1, *e2;
  uint8_t a4[4], a6[16];

  (void)state;
  setup_conf(&f, 3, "198.18.200.0", 24, "fd77:6a76:706e::", 64);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_int_equal(addr_pool_server_addr4(&p, a4), 0);
  assert_v4(a4, "198.18.200.1");
  assert_int_equal(addr_pool_server_addr6(&p, a6), 0);
  assert_v6(a6, "fd77:6a76:706e::1");

  e1 = addr_pool_assign(&p, &f.peers[1]);
  e0 = addr_pool_assign(&p, &f.peers[0]);
  e2 = addr_pool_assign(&p, &f.peers[2]);
  assert_non_null(e0);
  assert_non_null(e1);
  assert_non_null(e2);
  assert_true(e1->has4 && e1->has6);
  assert_memory_equal(e1->pin, f.peers[1].pin, JVPN_PIN_LEN);
  /* first use gets the first host after the server's */
  assert_v4(e1->addr4, "198.18.200.2");
  assert_v6(e1->addr6, "fd77:6a76:706e::2");
  assert_v4(e0->addr4, "198.18.200.3");
  assert_v6(e0->addr6, "fd77:6a76:706e::3");
  assert_v4(e2->addr4, "198.18.200.4");
  assert_v6(e2->addr6, "fd77:6a76:706e::4");
  addr_pool_free(&p);
  addr_pool_free(&p);
  addr_pool_free(NULL);
}

static void test_v6_only_and_carry(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e;
  uint8_t a4[4];
  size_t i;

  (void)state;
  setup_conf(&f, 5, NULL, 0, "fd77:6a76:706e:1::ff00", 120);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_int_equal(addr_pool_server_addr4(&p, a4), JVPN_ERR_NOTFOUND);
  for (i = 0; i < 5; i++) {
    e = addr_pool_assign(&p, &f.peers[i]);
    assert_non_null(e);
    assert_false(e->has4);
    assert_true(e->has6);
  }
  e = addr_pool_assign(&p, &f.peers[4]);
  assert_v6(e->addr6, "fd77:6a76:706e:1::ff06");
  addr_pool_free(&p);

  /* IPv6 keeps the last address of the prefix usable */
  setup_conf(&f, 3, NULL, 0, "fd77:6a76:706e:1::fffc", 126);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_v6(addr_pool_assign(&p, &f.peers[0])->addr6, "fd77:6a76:706e:1::fffe");
  assert_v6(addr_pool_assign(&p, &f.peers[1])->addr6, "fd77:6a76:706e:1::ffff");
  assert_null(addr_pool_assign(&p, &f.peers[2]));
  addr_pool_free(&p);

  /* Carries across bytes, and the end of a /64 (the index wraps to 0,
   * which must read as exhausted, not as the network address). */
  setup_conf(&f, 4, "198.18.0.0", 16, "fd77:6a76:706e:1::", 64);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  p.next4 = 0xff;
  p.next6 = UINT64_MAX - 1;
  e = addr_pool_assign(&p, &f.peers[0]);
  assert_v4(e->addr4, "198.18.0.255");
  assert_v6(e->addr6, "fd77:6a76:706e:1:ffff:ffff:ffff:fffe");
  e = addr_pool_assign(&p, &f.peers[1]);
  assert_v4(e->addr4, "198.18.1.0");
  assert_v6(e->addr6, "fd77:6a76:706e:1:ffff:ffff:ffff:ffff");
  assert_null(addr_pool_assign(&p, &f.peers[2]));
  assert_int_equal(p.next6, 0);
  /* IPv4 was taken before IPv6 ran out; it stays with the pin */
  e = addr_pool_assign(&p, &f.peers[2]);
  assert_null(e);
  assert_int_equal(p.next4, 0x102);
  addr_pool_free(&p);
}

static void test_fixed_addresses(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e;
  size_t i;
  int seen_fixed;

  (void)state;
  setup_conf(&f, 6, "198.18.200.0", 28, "fd77:6a76:706e::", 64);
  /* peer 3 owns .2 (the first dynamic slot) and ::5; peer 5 owns .4 */
  set_prefix(&f.peers[3].addr4, AF_INET, "198.18.200.2", 32);
  set_prefix(&f.peers[3].addr6, AF_INET6, "fd77:6a76:706e::5", 128);
  set_prefix(&f.peers[5].addr4, AF_INET, "198.18.200.4", 32);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);

  seen_fixed = 0;
  for (i = 0; i < 6; i++) {
    if (i == 3 || i == 5)
      continue;
    e = addr_pool_assign(&p, &f.peers[i]);
    assert_non_null(e);
    assert_false(memcmp(e->addr4, f.peers[3].addr4.addr, 4) == 0);
    assert_false(memcmp(e->addr4, f.peers[5].addr4.addr, 4) == 0);
    assert_false(memcmp(e->addr6, f.peers[3].addr6.addr, 16) == 0);
    seen_fixed++;
  }
  assert_int_equal(seen_fixed, 4);
  /* the four dynamic peers took .3 .5 .6 .7, in order */
  assert_v4(addr_pool_assign(&p, &f.peers[0])->addr4, "198.18.200.3");
  assert_v4(addr_pool_assign(&p, &f.peers[4])->addr4, "198.18.200.7");
  assert_v6(addr_pool_assign(&p, &f.peers[2])->addr6, "fd77:6a76:706e::4");
  assert_v6(addr_pool_assign(&p, &f.peers[4])->addr6, "fd77:6a76:706e::6");

  /* fixed peers get their addresses even when they come last; peer 5 has
   * no fixed IPv6 and takes the next dynamic one */
  e = addr_pool_assign(&p, &f.peers[3]);
  assert_v4(e->addr4, "198.18.200.2");
  assert_v6(e->addr6, "fd77:6a76:706e::5");
  e = addr_pool_assign(&p, &f.peers[5]);
  assert_v4(e->addr4, "198.18.200.4");
  assert_v6(e->addr6, "fd77:6a76:706e::7");
  addr_pool_free(&p);
}

static void test_sticky(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *a, *b;
  struct jvpn_peer_conf copy;

  (void)state;
  setup_conf(&f, 2, "198.18.200.0", 24, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  a = addr_pool_assign(&p, &f.peers[0]);
  b = addr_pool_assign(&p, &f.peers[1]);
  assert_non_null(a);
  assert_non_null(b);
  /* a reconnect (another conf object, same pin) keeps the address and
   * does not consume a new one */
  memcpy(&copy, &f.peers[0], sizeof(copy));
  assert_ptr_equal(addr_pool_assign(&p, &copy), a);
  assert_v4(a->addr4, "198.18.200.2");
  assert_ptr_equal(addr_pool_assign(&p, &f.peers[1]), b);
  assert_int_equal(p.next4, 4);
  /* a pin not in the config gets nothing */
  copy.pin[0] ^= 1;
  assert_null(addr_pool_assign(&p, &copy));
  addr_pool_free(&p);
}

/* A stored session takes its addresses back (D41): nobody else gets
 * them; a fixed address that moved, another pin's address, an address
 * outside the pool or an unknown pin are refused and change nothing. */
static void test_claim(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e;
  uint8_t a4[4], a6[16], other[JVPN_PIN_LEN];
  size_t i;

  (void)state;
  setup_conf(&f, 4, "198.18.200.0", 28, "fd77:6a76:706e::", 64);
  set_prefix(&f.peers[3].addr4, AF_INET, "198.18.200.9", 32);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_int_equal(inet_pton(AF_INET, "198.18.200.3", a4), 1);
  assert_int_equal(inet_pton(AF_INET6, "fd77:6a76:706e::2", a6), 1);
  e = addr_pool_claim(&p, f.peers[1].pin, 1, a4, 1, a6);
  assert_non_null(e);
  assert_v4(e->addr4, "198.18.200.3");
  /* the same claim again is fine; the pin's next assignment keeps it */
  assert_ptr_equal(addr_pool_claim(&p, f.peers[1].pin, 1, a4, 1, a6), e);
  assert_ptr_equal(addr_pool_assign(&p, &f.peers[1]), e);
  /* another pin can neither claim nor be assigned it */
  assert_null(addr_pool_claim(&p, f.peers[0].pin, 1, a4, 0, NULL));
  e = addr_pool_find(&p, f.peers[0].pin);
  assert_false(e->has4);
  for (i = 0; i < 3; i++) {
    if (i == 1)
      continue;
    e = addr_pool_assign(&p, &f.peers[i]);
    assert_non_null(e);
    assert_false(memcmp(e->addr4, a4, 4) == 0);
    assert_false(memcmp(e->addr6, a6, 16) == 0);
  }
  /* a fixed peer whose stored address is not its fixed one */
  assert_null(addr_pool_claim(&p, f.peers[3].pin, 1, a4, 0, NULL));
  /* the server's own address, outside the pool, an unknown pin */
  assert_int_equal(inet_pton(AF_INET, "198.18.200.1", other), 1);
  assert_null(addr_pool_claim(&p, f.peers[3].pin, 0, NULL, 1, a6));
  addr_pool_free(&p);
  setup_conf(&f, 2, "198.18.200.0", 28, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_null(addr_pool_claim(&p, f.peers[0].pin, 1, other, 0, NULL));
  assert_int_equal(inet_pton(AF_INET, "10.0.0.5", other), 1);
  assert_null(addr_pool_claim(&p, f.peers[0].pin, 1, other, 0, NULL));
  assert_null(addr_pool_claim(&p, f.peers[0].pin, 0, NULL, 1, a6)); /* no v6 */
  assert_false(addr_pool_find(&p, f.peers[0].pin)->has4);
  other[0] = 0x77;
  assert_null(addr_pool_claim(&p, other, 1, a4, 0, NULL));
  addr_pool_free(&p);
}

/* Several nodes (D44): a pin's address is what the shared store says;
 * set moves it, forgetting lets the next assignment offer the next host,
 * and another pin's address, a non-host or an unknown pin are refused
 * without a change. */
static void test_set(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e, *o;
  uint8_t a4[4], a6[16], pin[JVPN_PIN_LEN];

  (void)state;
  setup_conf(&f, 3, "198.18.200.0", 28, "fd77:6a76:706e::", 64);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  e = addr_pool_assign(&p, &f.peers[0]);
  assert_v4(e->addr4, "198.18.200.2");
  assert_int_equal(inet_pton(AF_INET, "198.18.200.7", a4), 1);
  assert_int_equal(addr_pool_set(&p, f.peers[0].pin, AF_INET, a4), 0);
  assert_v4(e->addr4, "198.18.200.7");
  assert_ptr_equal(addr_pool_assign(&p, &f.peers[0]), e); /* kept */
  /* another pin cannot take it */
  assert_int_equal(addr_pool_set(&p, f.peers[1].pin, AF_INET, a4),
                   JVPN_ERR_EXISTS);
  assert_false(addr_pool_find(&p, f.peers[1].pin)->has4);
  /* forgotten: the next assignment offers the next free host */
  assert_int_equal(addr_pool_set(&p, f.peers[0].pin, AF_INET, NULL), 0);
  assert_false(e->has4);
  o = addr_pool_assign(&p, &f.peers[0]);
  assert_v4(o->addr4, "198.18.200.3");
  assert_true(o->has6);
  /* IPv6 likewise; the server's own, outside the pool, unknown pin */
  assert_int_equal(inet_pton(AF_INET6, "fd77:6a76:706e::9", a6), 1);
  assert_int_equal(addr_pool_set(&p, f.peers[2].pin, AF_INET6, a6), 0);
  assert_int_equal(memcmp(addr_pool_find(&p, f.peers[2].pin)->addr6, a6, 16),
                   0);
  assert_int_equal(inet_pton(AF_INET, "198.18.200.1", a4), 1);
  assert_int_equal(addr_pool_set(&p, f.peers[1].pin, AF_INET, a4),
                   JVPN_ERR_INVAL);
  assert_int_equal(inet_pton(AF_INET, "10.0.0.5", a4), 1);
  assert_int_equal(addr_pool_set(&p, f.peers[1].pin, AF_INET, a4),
                   JVPN_ERR_INVAL);
  memset(pin, 0x77, sizeof(pin));
  assert_int_equal(addr_pool_set(&p, pin, AF_INET, NULL), JVPN_ERR_NOTFOUND);
  addr_pool_free(&p);
}

static void test_exhaustion(void **state) {
  struct fixture f;
  struct addr_pool p;
  const struct addr_pool_entry *e;

  (void)state;
  /* a /30 holds network, server, one client and broadcast */
  setup_conf(&f, 2, "198.18.200.4", 30, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  e = addr_pool_assign(&p, &f.peers[0]);
  assert_non_null(e);
  assert_v4(e->addr4, "198.18.200.6");
  assert_null(addr_pool_assign(&p, &f.peers[1]));
  assert_null(addr_pool_assign(&p, &f.peers[1]));
  /* the peer that got in keeps its address */
  assert_ptr_equal(addr_pool_assign(&p, &f.peers[0]), e);
  addr_pool_free(&p);

  /* a fixed address filling the only slot exhausts the pool too */
  setup_conf(&f, 2, "198.18.200.4", 30, NULL, 0);
  set_prefix(&f.peers[1].addr4, AF_INET, "198.18.200.6", 32);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  assert_null(addr_pool_assign(&p, &f.peers[0]));
  assert_non_null(addr_pool_assign(&p, &f.peers[1]));
  addr_pool_free(&p);
}

static void test_invalid_fixed(void **state) {
  struct fixture f;
  struct addr_pool p;
  static const struct {
    int family;
    const char *addr;
  } bad[] = {
      {AF_INET, "198.18.201.5"},       /* outside the pool */
      {AF_INET, "198.18.200.0"},       /* network address */
      {AF_INET, "198.18.200.1"},       /* the server's */
      {AF_INET, "198.18.200.255"},     /* broadcast */
      {AF_INET6, "fd77:6a76:706f::5"}, /* outside the pool */
      {AF_INET6, "fd77:6a76:706e::1"}, /* the server's */
      {AF_INET6, "fd77:6a76:706e::"},  /* subnet-router anycast */
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    setup_conf(&f, 2, "198.18.200.0", 24, "fd77:6a76:706e::", 64);
    if (bad[i].family == AF_INET)
      set_prefix(&f.peers[1].addr4, AF_INET, bad[i].addr, 32);
    else
      set_prefix(&f.peers[1].addr6, AF_INET6, bad[i].addr, 128);
    assert_int_equal(addr_pool_init(&p, &f.conf), JVPN_ERR_INVAL);
    assert_null(p.entries);
  }

  /* a fixed address for a pool that is not configured */
  setup_conf(&f, 1, NULL, 0, "fd77:6a76:706e::", 64);
  set_prefix(&f.peers[0].addr4, AF_INET, "198.18.200.9", 32);
  assert_int_equal(addr_pool_init(&p, &f.conf), JVPN_ERR_INVAL);

  /* the same fixed address twice */
  setup_conf(&f, 3, "198.18.200.0", 24, NULL, 0);
  set_prefix(&f.peers[0].addr4, AF_INET, "198.18.200.9", 32);
  set_prefix(&f.peers[2].addr4, AF_INET, "198.18.200.9", 32);
  assert_int_equal(addr_pool_init(&p, &f.conf), JVPN_ERR_INVAL);

  /* the same pin twice */
  setup_conf(&f, 3, "198.18.200.0", 24, NULL, 0);
  memcpy(f.peers[2].pin, f.peers[0].pin, JVPN_PIN_LEN);
  assert_int_equal(addr_pool_init(&p, &f.conf), JVPN_ERR_INVAL);

  /* a pool too small to hold a client */
  setup_conf(&f, 1, "198.18.200.0", 31, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), JVPN_ERR_INVAL);
}

static void test_no_peers(void **state) {
  struct fixture f;
  struct addr_pool p;

  (void)state;
  setup_conf(&f, 0, "198.18.200.0", 24, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  setup_conf(&f, 1, "198.18.200.0", 24, NULL, 0);
  assert_null(addr_pool_assign(&p, &f.peers[0]));
  addr_pool_free(&p);
}

/* A reload keeps what pins still present were given, drops removed pins,
 * honours a changed fixed address and lets a new fixed address take a
 * dynamic one (whose owner then gets a new address). */
static void test_rebuild_keeps_assignments(void **state) {
  struct fixture f;
  struct addr_pool p, q;
  const struct addr_pool_entry *e0, *e1, *e2, *n0, *n1, *n2;

  (void)state;
  setup_conf(&f, 3, "198.18.200.0", 24, NULL, 0);
  assert_int_equal(addr_pool_init(&p, &f.conf), 0);
  e0 = addr_pool_assign(&p, &f.peers[0]); /* .2 */
  e1 = addr_pool_assign(&p, &f.peers[1]); /* .3 */
  e2 = addr_pool_assign(&p, &f.peers[2]); /* .4 */
  assert_v4(e2->addr4, "198.18.200.4");

  /* peer 2 removed, peer 1 now fixed at .2 (peer 0's), a new peer 3 */
  memset(f.peers[2].pin, 0x01, JVPN_PIN_LEN);
  set_prefix(&f.peers[1].addr4, AF_INET, "198.18.200.2", 32);
  assert_int_equal(addr_pool_rebuild(&q, &p, &f.conf), 0);
  n0 = addr_pool_find(&q, f.peers[0].pin);
  n1 = addr_pool_find(&q, f.peers[1].pin);
  assert_non_null(n0);
  assert_non_null(n1);
  assert_null(addr_pool_find(&q, e2->pin));
  assert_v4(n1->addr4, "198.18.200.2");
  assert_false(addr_pool_entry_same(n1, e1));
  assert_false(n0->has4); /* lost .2 to the fixed address */
  assert_false(addr_pool_entry_same(n0, e0));
  n2 = addr_pool_find(&q, f.peers[2].pin);
  assert_non_null(n2);
  assert_false(n2->has4);
  /* New assignments continue past the old cursor: .4 is not reused. */
  assert_v4(addr_pool_assign(&q, &f.peers[2])->addr4, "198.18.200.5");
  assert_v4(addr_pool_assign(&q, &f.peers[0])->addr4, "198.18.200.6");
  addr_pool_free(&q);

  /* Unchanged config: every assignment stays. */
  setup_conf(&f, 3, "198.18.200.0", 24, NULL, 0);
  assert_int_equal(addr_pool_rebuild(&q, &p, &f.conf), 0);
  assert_true(addr_pool_entry_same(addr_pool_find(&q, f.peers[0].pin), e0));
  assert_true(addr_pool_entry_same(addr_pool_find(&q, f.peers[1].pin), e1));
  assert_true(addr_pool_entry_same(addr_pool_find(&q, f.peers[2].pin), e2));
  addr_pool_free(&q);

  /* Two peers with one fixed address: refused, |p| untouched. */
  set_prefix(&f.peers[0].addr4, AF_INET, "198.18.200.9", 32);
  set_prefix(&f.peers[1].addr4, AF_INET, "198.18.200.9", 32);
  assert_int_equal(addr_pool_rebuild(&q, &p, &f.conf), JVPN_ERR_INVAL);
  assert_v4(addr_pool_find(&p, f.peers[0].pin)->addr4, "198.18.200.2");
  addr_pool_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_v4_v6),
      cmocka_unit_test(test_v6_only_and_carry),
      cmocka_unit_test(test_fixed_addresses),
      cmocka_unit_test(test_sticky),
      cmocka_unit_test(test_claim),
      cmocka_unit_test(test_exhaustion),
      cmocka_unit_test(test_invalid_fixed),
      cmocka_unit_test(test_no_peers),
      cmocka_unit_test(test_set),
      cmocka_unit_test(test_rebuild_keeps_assignments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
