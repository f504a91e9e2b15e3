/*
 * Unit tests for src/happy_eyeballs: the order of the server's addresses
 * (RFC 8305 4), when to look the name up again, and the attempt delay.
 * Answers are getaddrinfo() chains built by hand; time is a number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "src/happy_eyeballs.h"

#define MAXA 40

/* A resolver answer: |n| addresses (IPv6 when they hold a ':'). */
struct answer {
  struct addrinfo ai[MAXA];
  struct sockaddr_storage ss[MAXA];
};

static const struct addrinfo *answer(struct answer *a, const char *const *addrs,
                                     size_t n) {
  size_t i;

  assert_true(n > 0 && n <= MAXA);
  memset(a, 0, sizeof(*a));
  for (i = 0; i < n; i++) {
    struct addrinfo *ai = &a->ai[i];

    if (strchr(addrs[i], ':')) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss[i];

      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(443);
      assert_int_equal(inet_pton(AF_INET6, addrs[i], &s6->sin6_addr), 1);
      ai->ai_addrlen = sizeof(*s6);
    } else {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss[i];

      s4->sin_family = AF_INET;
      s4->sin_port = htons(443);
      assert_int_equal(inet_pton(AF_INET, addrs[i], &s4->sin_addr), 1);
      ai->ai_addrlen = sizeof(*s4);
    }
    ai->ai_family = a->ss[i].ss_family;
    ai->ai_socktype = SOCK_DGRAM;
    ai->ai_addr = (struct sockaddr *)&a->ss[i];
    ai->ai_next = i + 1 < n ? &a->ai[i + 1] : NULL;
  }
  return &a->ai[0];
}

#define ANSWER(a, ...)                                                         \
  answer((a), (const char *const[]){__VA_ARGS__},                              \
         sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The text of address |i| of |l|. */
static const char *addr_at(const struct he_list *l, size_t i) {
  static char buf[INET6_ADDRSTRLEN];
  const struct sockaddr_storage *ss = &l->a[i].sa;

  assert_true(i < l->n);
  if (ss->ss_family == AF_INET6)
    return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
                     buf, sizeof(buf));
  return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf,
                   sizeof(buf));
}

static void assert_order(const struct he_list *l, const char *const *want,
                         size_t n) {
  size_t i;

  assert_int_equal(l->n, n);
  for (i = 0; i < n; i++)
    assert_string_equal(addr_at(l, i), want[i]);
}

#define ORDER(l, ...)                                                          \
  assert_order((l), (const char *const[]){__VA_ARGS__},                        \
               sizeof((const char *const[]){__VA_ARGS__}) /                    \
                   sizeof(const char *))

#define SA(l, i) ((const struct sockaddr *)&(l)->a[(i)].sa)

/* The families take turns, IPv6 first, each in the resolver's order. */
static void test_interleave(void **state) {
  struct he_list l;
  struct answer a;

  (void)state;
  he_list_init(&l);
  assert_int_equal(
      he_list_set(&l,
                  ANSWER(&a, "198.18.3.2", "2001:db8::1", "2001:db8::2",
                         "198.18.3.3", "2001:db8::3"),
                  1000),
      5);
  ORDER(&l, "2001:db8::1", "198.18.3.2", "2001:db8::2", "198.18.3.3",
        "2001:db8::3");
  assert_int_equal(he_list_families(&l), HE_FAM_ANY);
  /* One family only: the resolver's order. */
  assert_int_equal(
      he_list_set(&l, ANSWER(&a, "198.18.77.1", "198.18.3.2"), 1000), 2);
  ORDER(&l, "198.18.77.1", "198.18.3.2");
  assert_int_equal(he_list_families(&l), HE_FAM_V4);
}

/* Duplicates (getaddrinfo repeats an address per socket type, a hosts
 * file per line) are kept once; other families are dropped; an answer
 * with nothing usable leaves the previous one. */
static void test_dedup_and_families(void **state) {
  struct he_list l;
  struct answer a;
  struct sockaddr_un un;

  (void)state;
  he_list_init(&l);
  assert_int_equal(
      he_list_set(&l,
                  ANSWER(&a, "198.18.3.2", "2001:db8::1", "198.18.3.2",
                         "2001:db8::1", "198.18.3.2"),
                  5),
      2);
  ORDER(&l, "2001:db8::1", "198.18.3.2");
  assert_int_equal(l.answer_ms, 5);
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  ANSWER(&a, "198.18.3.9");
  a.ai[0].ai_family = AF_UNIX;
  a.ai[0].ai_addr = (struct sockaddr *)&un;
  assert_int_equal(he_list_set(&l, &a.ai[0], 9), 0);
  ORDER(&l, "2001:db8::1", "198.18.3.2");
  assert_int_equal(l.answer_ms, 5);
}

/* A long answer of one family cannot crowd the other out. */
static void test_bound(void **state) {
  static const char *const many[] = {
      "2001:db8::1",  "2001:db8::2",  "2001:db8::3",  "2001:db8::4",
      "2001:db8::5",  "2001:db8::6",  "2001:db8::7",  "2001:db8::8",
      "2001:db8::9",  "2001:db8::a",  "2001:db8::b",  "2001:db8::c",
      "2001:db8::d",  "2001:db8::e",  "2001:db8::f",  "2001:db8::10",
      "2001:db8::11", "2001:db8::12", "2001:db8::13", "2001:db8::14",
      "198.18.3.2",   "198.18.3.3"};
  struct he_list l;
  struct answer a;

  (void)state;
  he_list_init(&l);
  assert_int_equal(
      he_list_set(&l, answer(&a, many, sizeof(many) / sizeof(many[0])), 1),
      JVPN_HE_ADDRS_MAX);
  assert_string_equal(addr_at(&l, 1), "198.18.3.2");
  assert_string_equal(addr_at(&l, 3), "198.18.3.3");
  assert_string_equal(addr_at(&l, JVPN_HE_ADDRS_MAX - 1), "2001:db8::e");
}

/* An uplink with IPv4 addresses only picks IPv4 addresses; failed ones
 * are skipped. */
static void test_next_by_family(void **state) {
  struct he_list l;
  struct answer a;

  (void)state;
  he_list_init(&l);
  he_list_set(
      &l, ANSWER(&a, "2001:db8::1", "2001:db8::2", "198.18.3.2", "198.18.3.3"),
      1);
  assert_int_equal(he_list_next(&l, 0, HE_FAM_ANY), 0);
  assert_int_equal(he_list_next(&l, 0, HE_FAM_V4), 1);
  assert_int_equal(he_list_next(&l, 2, HE_FAM_V4), 3);
  assert_int_equal(he_list_next(&l, 0, HE_FAM_V6), 0);
  he_list_failed(&l, SA(&l, 1));
  assert_int_equal(he_list_next(&l, 0, HE_FAM_V4), 3);
  he_list_failed(&l, SA(&l, 3));
  assert_int_equal(he_list_next(&l, 0, HE_FAM_V4), -1);
  assert_int_equal(he_list_next(&l, 0, HE_FAM_ANY), 0);
  assert_int_equal(he_list_next(&l, 1, HE_FAM_ANY), 2);
  assert_int_equal(he_list_next(&l, 4, HE_FAM_ANY), -1);
  assert_int_equal(he_list_next(&l, 0, 0), -1);
}

/* Every address failed: look the name up again, but not twice within
 * JVPN_RESOLVE_MIN_GAP_MS (until then the addresses are tried again). */
static void test_need_after_failures(void **state) {
  struct he_list l;
  struct answer a;
  uint64_t t = 100000;

  (void)state;
  he_list_init(&l);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t), HE_LOOKUP);
  he_list_asked(&l, t);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + 10), HE_WAIT);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + JVPN_RESOLVE_MIN_GAP_MS),
                   HE_LOOKUP);
  he_list_set(&l, ANSWER(&a, "198.18.77.1", "198.18.3.2"), t + 20);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + 20), HE_READY);
  /* An uplink without IPv6 has nothing here to try. */
  assert_int_equal(he_list_need(&l, HE_FAM_V6, t + 20), HE_RETRY);
  he_list_failed(&l, SA(&l, 0));
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + 30), HE_READY);
  he_list_failed(&l, SA(&l, 1));
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + 40), HE_RETRY);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + JVPN_RESOLVE_MIN_GAP_MS),
                   HE_LOOKUP);
  he_list_retry(&l);
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, t + 40), HE_READY);
}

/* An answer is used for JVPN_RESOLVE_LIFETIME_MS. */
static void test_need_when_stale(void **state) {
  struct he_list l;
  struct answer a;
  uint64_t t = 5000;

  (void)state;
  he_list_init(&l);
  he_list_asked(&l, t);
  he_list_set(&l, ANSWER(&a, "198.18.3.2"), t + 3);
  assert_int_equal(
      he_list_need(&l, HE_FAM_ANY, t + 3 + JVPN_RESOLVE_LIFETIME_MS - 1),
      HE_READY);
  assert_int_equal(
      he_list_need(&l, HE_FAM_ANY, t + 3 + JVPN_RESOLVE_LIFETIME_MS),
      HE_LOOKUP);
  /* A lookup just failed: the old answer goes on for now. */
  he_list_asked(&l, t + 3 + JVPN_RESOLVE_LIFETIME_MS);
  assert_int_equal(
      he_list_need(&l, HE_FAM_ANY, t + 4 + JVPN_RESOLVE_LIFETIME_MS), HE_READY);
}

/* An address literal is never looked up. */
static void test_literal_never_looked_up(void **state) {
  struct he_list l;
  struct answer a;

  (void)state;
  he_list_init(&l);
  he_list_set(&l, ANSWER(&a, "2001:db8::1"), 0);
  l.fixed = 1;
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, 10 * 60 * 1000), HE_READY);
  he_list_failed(&l, SA(&l, 0));
  assert_int_equal(he_list_need(&l, HE_FAM_ANY, 10 * 60 * 1000), HE_RETRY);
  assert_int_equal(he_list_need(&l, HE_FAM_V4, 0), HE_RETRY);
}

/* The winner goes first and its family leads from then on, in later
 * answers too, until the other family wins a race. */
static void test_family_preference(void **state) {
  struct he_list l;
  struct answer a;
  struct sockaddr_storage w;

  (void)state;
  he_list_init(&l);
  he_list_set(
      &l, ANSWER(&a, "2001:db8::1", "2001:db8::2", "198.18.3.2", "198.18.3.3"),
      1);
  ORDER(&l, "2001:db8::1", "198.18.3.2", "2001:db8::2", "198.18.3.3");
  he_list_failed(&l, SA(&l, 0));
  he_list_failed(&l, SA(&l, 2));
  w = l.a[3].sa;
  he_list_won(&l, (const struct sockaddr *)&w);
  assert_int_equal(l.first_family, AF_INET);
  ORDER(&l, "198.18.3.3", "2001:db8::1", "198.18.3.2", "2001:db8::2");
  assert_int_equal(he_list_next(&l, 0, HE_FAM_ANY), 0);
  assert_int_equal(he_list_next(&l, 1, HE_FAM_ANY), 1); /* failures gone */
  he_list_set(
      &l, ANSWER(&a, "2001:db8::1", "2001:db8::2", "198.18.3.2", "198.18.3.3"),
      2);
  ORDER(&l, "198.18.3.2", "2001:db8::1", "198.18.3.3", "2001:db8::2");
  w = l.a[3].sa;
  he_list_won(&l, (const struct sockaddr *)&w);
  assert_int_equal(l.first_family, AF_INET6);
  ORDER(&l, "2001:db8::2", "198.18.3.2", "2001:db8::1", "198.18.3.3");
}

/* A winner from an older answer only sets the preference. */
static void test_won_unknown_address(void **state) {
  struct he_list l;
  struct answer a, b;

  (void)state;
  he_list_init(&l);
  ANSWER(&b, "198.18.9.9");
  he_list_set(&l, ANSWER(&a, "2001:db8::1", "198.18.3.2"), 1);
  he_list_failed(&l, SA(&l, 0));
  he_list_won(&l, b.ai[0].ai_addr);
  assert_int_equal(l.first_family, AF_INET);
  ORDER(&l, "198.18.3.2", "2001:db8::1");
  assert_int_equal(he_list_next(&l, 1, HE_FAM_ANY), 1);
}

/* Twice the RTT, within 100 ms .. 2 s; 250 ms when unknown. */
static void test_attempt_delay(void **state) {
  (void)state;
  assert_int_equal(he_attempt_delay_ms(0), JVPN_HE_ATTEMPT_DELAY_MS);
  assert_int_equal(he_attempt_delay_ms(1), JVPN_HE_ATTEMPT_DELAY_MIN_MS);
  assert_int_equal(he_attempt_delay_ms(50), 100);
  assert_int_equal(he_attempt_delay_ms(60), 120);
  assert_int_equal(he_attempt_delay_ms(400), 800);
  assert_int_equal(he_attempt_delay_ms(1000), 2000);
  assert_int_equal(he_attempt_delay_ms(1001), JVPN_HE_ATTEMPT_DELAY_MAX_MS);
  assert_int_equal(he_attempt_delay_ms(0x80000001u),
                   JVPN_HE_ATTEMPT_DELAY_MAX_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interleave),
      cmocka_unit_test(test_dedup_and_families),
      cmocka_unit_test(test_bound),
      cmocka_unit_test(test_next_by_family),
      cmocka_unit_test(test_need_after_failures),
      cmocka_unit_test(test_need_when_stale),
      cmocka_unit_test(test_literal_never_looked_up),
      cmocka_unit_test(test_family_preference),
      cmocka_unit_test(test_won_unknown_address),
      cmocka_unit_test(test_attempt_delay),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
