/* Unit tests for src/sockaddr_same: one endpoint, or two. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "src/sockaddr_same.h"

#define SA(x) ((const struct sockaddr *)(x))

static void v4(struct sockaddr_in *s, const char *ip, uint16_t port) {
  memset(s, 0, sizeof(*s));
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
}

static void v6(struct sockaddr_in6 *s, const char *ip, uint16_t port,
               uint32_t scope) {
  memset(s, 0, sizeof(*s));
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  s->sin6_scope_id = scope;
  assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
}

static void test_ipv4(void **state) {
  struct sockaddr_in a, b;

  (void)state;
  v4(&a, "198.18.1.2", 443);
  v4(&b, "198.18.1.2", 443);
  b.sin_zero[0] = 7; /* padding does not count */
  assert_true(jvpn_sockaddr_same(SA(&a), SA(&b)));
  v4(&b, "198.18.1.3", 443);
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&b)));
  v4(&b, "198.18.1.2", 444);
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&b)));
}

static void test_ipv6(void **state) {
  struct sockaddr_in6 a, b;
  struct sockaddr_in c;

  (void)state;
  v6(&a, "2001:db8::1", 443, 0);
  v6(&b, "2001:db8::1", 443, 0);
  assert_true(jvpn_sockaddr_same(SA(&a), SA(&b)));
  v6(&b, "2001:db8::2", 443, 0);
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&b)));
  v6(&a, "fe80::1", 443, 2);
  v6(&b, "fe80::1", 443, 3); /* another link */
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&b)));
  /* an IPv4-mapped address is another family */
  v6(&a, "::ffff:198.18.1.2", 443, 0);
  v4(&c, "198.18.1.2", 443);
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&c)));
}

static void test_other_family(void **state) {
  struct sockaddr_storage a, b;

  (void)state;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  a.ss_family = b.ss_family = AF_UNIX;
  assert_false(jvpn_sockaddr_same(SA(&a), SA(&b)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4),
      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_other_family),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
