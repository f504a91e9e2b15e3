/*
 * Unit tests for src/resolver: address literals without a lookup, a
 * lookup on a libuv loop (localhost, from the hosts file), one lookup at
 * a time, and an answer dropped after resolver_free().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/resolver.h"

struct outcome {
  int calls;
  int err;
  size_t naddrs;
};

static void on_outcome(void *user, const struct addrinfo *ai, int err) {
  struct outcome *o = user;

  o->calls++;
  o->err = err;
  for (; ai != NULL; ai = ai->ai_next)
    o->naddrs++;
}

static void close_loop(uv_loop_t *loop, struct resolver *r) {
  uv_close((uv_handle_t *)&r->timeout, NULL);
  assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(loop), 0);
}

/* A literal is an answer at once; a name is not. */
static void test_numeric(void **state) {
  struct addrinfo *ai = NULL;

  (void)state;
  assert_int_equal(resolver_numeric("198.18.3.2", 443, &ai), 0);
  assert_int_equal(ai->ai_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port), 443);
  freeaddrinfo(ai);
  assert_int_equal(resolver_numeric("2001:db8::1", 8443, &ai), 0);
  assert_int_equal(ai->ai_family, AF_INET6);
  assert_int_equal(ntohs(((struct sockaddr_in6 *)ai->ai_addr)->sin6_port),
                   8443);
  freeaddrinfo(ai);
  assert_int_equal(resolver_numeric("vpn.example", 443, &ai),
                   JVPN_ERR_NOTFOUND);
  assert_null(ai);
}

/* A lookup answers through the callback once; a second start meanwhile
 * waits for the same answer. */
static void test_lookup(void **state) {
  struct outcome o = {0, 1, 0};
  struct resolver r;
  uv_loop_t loop;

  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  resolver_init(&r, &loop, "localhost", 443, on_outcome, &o);
  assert_int_equal(resolver_start(&r), 0);
  assert_int_equal(r.state, RESOLVER_RUNNING);
  assert_int_equal(resolver_start(&r), JVPN_ERR_AGAIN);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.err, 0);
  assert_true(o.naddrs >= 1);
  assert_int_equal(r.state, RESOLVER_IDLE);
  assert_int_equal(r.lookups, 1);
  assert_int_equal(r.timeouts, 0);
  close_loop(&loop, &r);
}

/* After resolver_free() the answer is dropped, whenever it comes. */
static void test_free_drops_answer(void **state) {
  struct outcome o = {0, 1, 0};
  struct resolver r;
  uv_loop_t loop;

  (void)state;
  assert_int_equal(uv_loop_init(&loop), 0);
  resolver_init(&r, &loop, "localhost", 443, on_outcome, &o);
  assert_int_equal(resolver_start(&r), 0);
  resolver_free(&r);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(o.calls, 0);
  assert_int_equal(r.state, RESOLVER_IDLE);
  close_loop(&loop, &r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numeric),
      cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_free_drops_answer),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
