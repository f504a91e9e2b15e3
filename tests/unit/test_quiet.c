/* Unit tests for src/quiet: when a quiet tunnel asks for a longer
 * keep-alive, and what the server grants (docs/decisions.md D47). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "src/quiet.h"
#include "src/session_wire.h"

static void test_due_after_quiet_period(void **state) {
  struct jvpn_quiet q;

  (void)state;
  jvpn_quiet_reset(&q, 7, 1000);
  assert_int_equal(jvpn_quiet_due(&q, 7, 1000 + JVPN_QUIET_AFTER_MS - 1), 0);
  assert_int_equal(jvpn_quiet_due(&q, 7, 1000 + JVPN_QUIET_AFTER_MS), 1);
  /* asked: not again until the answer or a reset */
  q.asked = 1;
  assert_int_equal(jvpn_quiet_due(&q, 7, 1000 + 2 * JVPN_QUIET_AFTER_MS), 0);
}

static void test_packets_restart_the_count(void **state) {
  struct jvpn_quiet q;
  uint64_t t = 5000;

  (void)state;
  jvpn_quiet_reset(&q, 0, t);
  t += JVPN_QUIET_AFTER_MS - 10;
  assert_int_equal(jvpn_quiet_due(&q, 1, t), 0); /* one packet went by */
  assert_int_equal(jvpn_quiet_due(&q, 1, t + JVPN_QUIET_AFTER_MS - 1), 0);
  assert_int_equal(jvpn_quiet_due(&q, 1, t + JVPN_QUIET_AFTER_MS), 1);
}

static void test_granted_is_not_asked_again(void **state) {
  struct jvpn_quiet q;

  (void)state;
  jvpn_quiet_reset(&q, 0, 0);
  q.granted_ms = JVPN_QUIET_KEEPALIVE_OPEN_MS;
  assert_int_equal(jvpn_quiet_due(&q, 0, 10 * JVPN_QUIET_AFTER_MS), 0);
  jvpn_quiet_reset(&q, 3, 10 * JVPN_QUIET_AFTER_MS);
  assert_int_equal(q.granted_ms, 0);
  assert_int_equal(q.asked, 0);
}

static void test_new_path_keeps_the_quiet_period(void **state) {
  struct jvpn_quiet q;

  (void)state;
  memset(&q, 0, sizeof(q));
  jvpn_quiet_new_path(&q, 5, 1000); /* the first connection starts it */
  assert_true(q.since_ms == 1000);
  q.granted_ms = JVPN_QUIET_KEEPALIVE_NAT_MS;
  /* a reattach 40 s later: the grant ends, the quiet period does not */
  jvpn_quiet_new_path(&q, 5, 41000);
  assert_int_equal(q.granted_ms, 0);
  assert_true(q.since_ms == 1000);
  assert_int_equal(jvpn_quiet_due(&q, 5, 41000), 1);
}

static void v4(struct sockaddr_in *s, const char *ip, uint16_t port) {
  memset(s, 0, sizeof(*s));
  s->sin_family = AF_INET;
  s->sin_port = htons(port);
  assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
}

static void v6(struct sockaddr_in6 *s, const char *ip, uint16_t port) {
  memset(s, 0, sizeof(*s));
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
}

#define SA(x) ((const struct sockaddr *)(x))

static void test_grant_open_path(void **state) {
  struct sockaddr_in a, b;
  struct sockaddr_in6 c, d;

  (void)state;
  v4(&a, "198.18.1.2", 40000);
  v4(&b, "198.18.1.2", 40000);
  assert_int_equal(jvpn_quiet_grant(60000, SA(&a), SA(&b)),
                   JVPN_QUIET_KEEPALIVE_OPEN_MS);
  v6(&c, "2001:db8::2", 443);
  v6(&d, "2001:db8::2", 443);
  assert_int_equal(jvpn_quiet_grant(60000, SA(&c), SA(&d)),
                   JVPN_QUIET_KEEPALIVE_OPEN_MS);
}

static void test_grant_nat(void **state) {
  struct sockaddr_in a, b;
  struct sockaddr_in6 c;

  (void)state;
  v4(&a, "10.0.0.2", 40000);
  v4(&b, "198.18.1.2", 40000); /* another address */
  assert_int_equal(jvpn_quiet_grant(60000, SA(&a), SA(&b)),
                   JVPN_QUIET_KEEPALIVE_NAT_MS);
  v4(&b, "10.0.0.2", 40001); /* the port was rewritten */
  assert_int_equal(jvpn_quiet_grant(60000, SA(&a), SA(&b)),
                   JVPN_QUIET_KEEPALIVE_NAT_MS);
  v6(&c, "::ffff:10.0.0.2", 40000); /* another family */
  assert_int_equal(jvpn_quiet_grant(60000, SA(&a), SA(&c)),
                   JVPN_QUIET_KEEPALIVE_NAT_MS);
  /* the 5 s NAT of the tests is beaten */
  assert_true(JVPN_QUIET_KEEPALIVE_NAT_MS < 5000);
}

static void test_grant_bounded_by_wish(void **state) {
  struct sockaddr_in a;

  (void)state;
  v4(&a, "198.18.1.2", 40000);
  assert_int_equal(jvpn_quiet_grant(2000, SA(&a), SA(&a)), 2000);
  assert_int_equal(jvpn_quiet_grant(1, SA(&a), SA(&a)),
                   JVPN_QUIC_KEEPALIVE_MS);
  assert_int_equal(jvpn_quiet_idle_ms(4000), 4000 * JVPN_QUIC_IDLE_KEEPALIVES);
  /* every idle timeout agreed on fits in QUIC's */
  assert_true(jvpn_quiet_idle_ms(JVPN_QUIET_KEEPALIVE_OPEN_MS) <
              JVPN_QUIC_IDLE_MAX_MS);
}

/* The request carries the address it names; the answer is taken once,
 * only when asked, and a malformed one is refused. */
static void test_request_and_result(void **state) {
  struct jvpn_quiet q;
  struct jvpn_wire_keepalive k;
  struct sockaddr_in a;
  uint8_t buf[JVPN_WIRE_KEEPALIVE_MAX];
  uint8_t ans[JVPN_WIRE_KEEPALIVE_RESULT_MAX];
  static const uint8_t bad[] = {0x40}; /* a cut varint */
  long n, r;

  (void)state;
  v4(&a, "198.18.1.2", 40000);
  n = jvpn_quiet_request(buf, sizeof(buf), SA(&a), sizeof(a));
  assert_true(n > 0);
  assert_int_equal(jvpn_wire_decode_keepalive(buf, (size_t)n, &k), 0);
  assert_true(k.want_ms == JVPN_QUIET_KEEPALIVE_OPEN_MS);
  assert_memory_equal(&k.from, &a, sizeof(a));
  assert_int_equal(jvpn_quiet_request(buf, sizeof(buf), NULL, 0),
                   JVPN_ERR_INVAL);
  memset(&q, 0, sizeof(q));
  r = jvpn_wire_encode_keepalive_result(ans, sizeof(ans), 4000);
  assert_int_equal(jvpn_quiet_result(&q, ans, (size_t)r), 0); /* unasked */
  q.asked = 1;
  assert_int_equal(jvpn_quiet_result(&q, bad, sizeof(bad)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_quiet_result(&q, ans, (size_t)r), 4000);
  assert_int_equal(q.granted_ms, 4000);
  assert_int_equal(q.asked, 0);
  assert_int_equal(jvpn_quiet_result(&q, ans, (size_t)r), 0); /* once */
}

/* Behind a NAT the server offers the open path's keep-alive with a
 * refresh at the grant (D52); never more than the client wanted, nothing
 * for a grant that is already all it wanted. */
static void test_refresh_offer(void **state) {
  unsigned r = 0;

  (void)state;
  assert_int_equal(jvpn_quiet_refresh_offer(JVPN_QUIET_KEEPALIVE_OPEN_MS,
                                            JVPN_QUIET_KEEPALIVE_NAT_MS, &r),
                   JVPN_QUIET_KEEPALIVE_OPEN_MS);
  assert_int_equal(r, JVPN_QUIET_NAT_REFRESH_MS);
  /* the 5 s NAT of the tests is beaten with room to spare */
  assert_true(JVPN_QUIET_NAT_REFRESH_MS <= 5000 - 2000);
  assert_int_equal(
      jvpn_quiet_refresh_offer(60000, JVPN_QUIET_KEEPALIVE_NAT_MS, &r),
      JVPN_QUIET_KEEPALIVE_OPEN_MS);
  assert_int_equal(
      jvpn_quiet_refresh_offer(10000, JVPN_QUIET_KEEPALIVE_NAT_MS, &r), 10000);
  assert_int_equal(jvpn_quiet_refresh_offer(JVPN_QUIET_KEEPALIVE_OPEN_MS,
                                            JVPN_QUIET_KEEPALIVE_OPEN_MS, &r),
                   0);
  assert_int_equal(jvpn_quiet_refresh_offer(2000, 2000, &r), 0);
  /* a grant shorter than the usual refresh: the refresh follows it */
  assert_int_equal(jvpn_quiet_refresh_offer(60000, 2000, &r),
                   JVPN_QUIET_KEEPALIVE_OPEN_MS);
  assert_int_equal(r, 2000);
}

/* The offer refines a grant in force only; the refresh is never longer
 * than the grant; a new path or an IP packet ends both. */
static void test_nat_refresh_taken(void **state) {
  struct jvpn_quiet q;
  struct jvpn_wire_nat_refresh r = {25000, 4000};
  uint8_t v[JVPN_WIRE_NAT_REFRESH_MAX];
  static const uint8_t bad[] = {0x61, 0xa8}; /* the refresh is missing */
  long n;

  (void)state;
  memset(&q, 0, sizeof(q));
  n = jvpn_wire_encode_nat_refresh(v, sizeof(v), &r);
  assert_true(n > 0);
  assert_int_equal(jvpn_quiet_nat_refresh(&q, v, (size_t)n), 0); /* none */
  assert_int_equal(q.refresh_ms, 0);
  q.granted_ms = 4000;
  assert_int_equal(jvpn_quiet_nat_refresh(&q, bad, sizeof(bad)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(q.refresh_ms, 0);
  assert_int_equal(jvpn_quiet_nat_refresh(&q, v, (size_t)n), 25000);
  assert_int_equal(q.granted_ms, 25000);
  assert_int_equal(q.refresh_ms, 4000);
  jvpn_quiet_new_path(&q, 7, 1000);
  assert_int_equal(q.refresh_ms, 0);
  assert_int_equal(q.granted_ms, 0);
  q.granted_ms = 3000; /* a grant shorter than the offered refresh */
  assert_int_equal(jvpn_quiet_nat_refresh(&q, v, (size_t)n), 25000);
  assert_int_equal(q.refresh_ms, 3000);
  jvpn_quiet_reset(&q, 8, 2000);
  assert_int_equal(q.refresh_ms, 0);
  assert_int_equal(q.granted_ms, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_due_after_quiet_period),
      cmocka_unit_test(test_packets_restart_the_count),
      cmocka_unit_test(test_granted_is_not_asked_again),
      cmocka_unit_test(test_new_path_keeps_the_quiet_period),
      cmocka_unit_test(test_grant_open_path),
      cmocka_unit_test(test_grant_nat),
      cmocka_unit_test(test_grant_bounded_by_wish),
      cmocka_unit_test(test_request_and_result),
      cmocka_unit_test(test_refresh_offer),
      cmocka_unit_test(test_nat_refresh_taken),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
