/* Unit tests for src/halfopen: half-open connections per source. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/halfopen.h"

static struct sockaddr_storage v4(const char *a, uint16_t port) {
  struct sockaddr_storage ss;
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

  memset(&ss, 0, sizeof(ss));
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  assert_int_equal(inet_pton(AF_INET, a, &sin->sin_addr), 1);
  return ss;
}

static struct sockaddr_storage v6(const char *a, uint16_t port) {
  struct sockaddr_storage ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

  memset(&ss, 0, sizeof(ss));
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
  return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* Ports do not matter; the limit hands back the oldest, which is then
 * removed by the caller, and another source is unaffected. */
static void test_limit_returns_oldest(void **state) {
  struct halfopen h;
  struct halfopen_node n[4];
  struct sockaddr_storage a1 = v4("198.18.1.2", 1000);
  struct sockaddr_storage a2 = v4("198.18.1.2", 2000);
  struct sockaddr_storage b = v4("198.18.2.2", 1000);

  (void)state;
  memset(n, 0, sizeof(n));
  assert_int_equal(halfopen_init(&h, 16), 0);
  assert_null(halfopen_over_limit(&h, SA(a1), 2));
  assert_int_equal(halfopen_add(&h, &n[0], SA(a1)), 0);
  assert_int_equal(halfopen_add(&h, &n[1], SA(a2)), 0);
  assert_int_equal(halfopen_add(&h, &n[2], SA(b)), 0);
  assert_int_equal(halfopen_of(&h, SA(a2)), 2);
  assert_int_equal(halfopen_of(&h, SA(b)), 1);
  assert_ptr_equal(halfopen_over_limit(&h, SA(a1), 2), &n[0]);
  assert_int_equal(h.evicted, 1);
  assert_null(halfopen_over_limit(&h, SA(b), 2));
  halfopen_remove(&h, &n[0]);
  assert_int_equal(halfopen_add(&h, &n[3], SA(a1)), 0);
  /* now n[1] is the oldest of that source */
  assert_ptr_equal(halfopen_over_limit(&h, SA(a1), 2), &n[1]);
  assert_int_equal(h.count, 3);
  assert_int_equal(h.sources, 2);
  halfopen_remove(&h, &n[1]);
  halfopen_remove(&h, &n[1]); /* twice: no-op */
  halfopen_remove(&h, &n[2]);
  halfopen_remove(&h, &n[3]);
  assert_int_equal(h.count, 0);
  assert_int_equal(h.sources, 0);
  assert_int_equal(halfopen_of(&h, SA(b)), 0);
  halfopen_free(&h);
}

/* IPv6 sources are /64s; an IPv4-mapped address is its IPv4 source. */
static void test_source_keys(void **state) {
  struct halfopen h;
  struct halfopen_node n[3];
  struct sockaddr_storage x = v6("2001:db8:1:2::1", 1);
  struct sockaddr_storage y = v6("2001:db8:1:2:ffff::9", 2);
  struct sockaddr_storage z = v6("2001:db8:1:3::1", 3);
  struct sockaddr_storage m = v6("::ffff:198.18.1.2", 4);
  struct sockaddr_storage four = v4("198.18.1.2", 5);

  (void)state;
  memset(n, 0, sizeof(n));
  assert_int_equal(halfopen_init(&h, 16), 0);
  assert_int_equal(halfopen_add(&h, &n[0], SA(x)), 0);
  assert_int_equal(halfopen_of(&h, SA(y)), 1);
  assert_int_equal(halfopen_of(&h, SA(z)), 0);
  assert_int_equal(halfopen_add(&h, &n[1], SA(m)), 0);
  assert_int_equal(halfopen_of(&h, SA(four)), 1);
  /* a node is filed once */
  assert_int_equal(halfopen_add(&h, &n[1], SA(four)), JVPN_ERR_INVAL);
  halfopen_remove(&h, &n[0]);
  halfopen_remove(&h, &n[1]);
  halfopen_free(&h);
}

/* Capacity: sources past it are not filed, and say so. */
static void test_capacity(void **state) {
  struct halfopen h;
  struct halfopen_node n[40];
  char a[32];
  int i, filed = 0;

  (void)state;
  memset(n, 0, sizeof(n));
  assert_int_equal(halfopen_init(&h, 8), 0);
  for (i = 0; i < 40; i++) {
    struct sockaddr_storage s;

    snprintf(a, sizeof(a), "198.18.7.%d", i + 1);
    s = v4(a, 1);
    if (halfopen_add(&h, &n[i], SA(s)) == 0)
      filed++;
    else
      assert_null(n[i].src);
  }
  assert_true(filed >= 8);
  assert_int_equal(h.sources, (size_t)filed);
  halfopen_free(&h); /* frees the source entries still filed */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limit_returns_oldest),
      cmocka_unit_test(test_source_keys),
      cmocka_unit_test(test_capacity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
