/* Unit tests for src/fulltunnel, against the kernel's routing rules in a
 * network namespace of their own (unshare: root only, as the netns tests;
 * a machine where that cannot run fails the test rather than skip it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "src/fulltunnel.h"
#include "tun/netlink.h"

#define TABLE 27254
#define PREF 27250

/* `ip FAMILY CMD` output (ip(8) is what an operator would look with). */
static const char *ip(const char *args) {
  static char out[4096];
  char cmd[128];
  size_t n;
  FILE *p;

  snprintf(cmd, sizeof(cmd), "ip %s 2>&1", args);
  p = popen(cmd, "r");
  assert_non_null(p);
  n = fread(out, 1, sizeof(out) - 1, p);
  out[n] = '\0';
  pclose(p);
  return out;
}

static int count(const char *hay, const char *needle) {
  int n = 0;

  for (; (hay = strstr(hay, needle)) != NULL; hay++)
    n++;
  return n;
}

static struct sockaddr_storage v4(const char *text) {
  struct sockaddr_storage ss;

  memset(&ss, 0, sizeof(ss));
  ss.ss_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, text,
                             &((struct sockaddr_in *)&ss)->sin_addr), 1);
  return ss;
}

static int lo_index;

static int setup(void **state) {
  (void)state;
  if (unshare(CLONE_NEWNET) != 0)
    return -1;
  lo_index = (int)if_nametoindex("lo");
  return tun_nl_link_up(lo_index, 65536);
}

static void test_on_off(void **state) {
  struct full_tunnel ft;
  struct sockaddr_storage sv = v4("198.18.3.2"), moved = v4("198.18.4.2");

  (void)state;
  assert_int_equal(full_tunnel_init(&ft, lo_index, TABLE, PREF, NULL, 0), 0);
  assert_int_equal(full_tunnel_servers(&ft, &sv, 1), 0);
  assert_int_equal(full_tunnel_set(&ft, AF_INET, 1), 0);
  assert_int_equal(full_tunnel_set(&ft, AF_INET6, 1), 0);
  assert_non_null(strstr(ip("-4 rule list"),
                         "27250:\tfrom all to 198.18.3.2 lookup main"));
  assert_non_null(strstr(ip("-4 rule list"),
                         "27251:\tfrom all lookup main suppress_prefixlength 0"));
  assert_non_null(strstr(ip("-4 rule list"), "27252:\tfrom all lookup 27254"));
  assert_non_null(strstr(ip("-6 rule list"), "27252:\tfrom all lookup 27254"));
  assert_null(strstr(ip("-6 rule list"), "27250:"));
  assert_non_null(strstr(ip("-4 route show table 27254"), "default dev lo"));
  /* Setting it on again changes nothing; the server moving moves P. */
  assert_int_equal(full_tunnel_set(&ft, AF_INET, 1), 0);
  assert_int_equal(count(ip("-4 rule list"), "lookup 27254"), 1);
  assert_int_equal(full_tunnel_servers(&ft, &moved, 1), 0);
  assert_non_null(strstr(ip("-4 rule list"), "to 198.18.4.2 lookup main"));
  assert_null(strstr(ip("-4 rule list"), "198.18.3.2"));
  full_tunnel_off(&ft);
  assert_null(strstr(ip("-4 rule list"), "2725"));
  assert_null(strstr(ip("-6 rule list"), "2725"));
  assert_int_equal(count(ip("-4 route show table 27254"), "default"), 0);
}

/* Rules a killed client left are flushed by the next init. */
static void test_stale_flushed(void **state) {
  struct full_tunnel ft;
  struct sockaddr_storage sv = v4("198.18.3.2");

  (void)state;
  assert_int_equal(full_tunnel_init(&ft, lo_index, TABLE, PREF, NULL, 0), 0);
  assert_int_equal(full_tunnel_servers(&ft, &sv, 1), 0);
  assert_int_equal(full_tunnel_set(&ft, AF_INET, 1), 0);
  /* ... the process dies here; a new one starts: */
  assert_int_equal(full_tunnel_init(&ft, lo_index, TABLE, PREF, NULL, 0), 3);
  assert_null(strstr(ip("-4 rule list"), "2725"));
  assert_int_equal(full_tunnel_init(&ft, lo_index, TABLE, PREF, NULL, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_on_off, setup),
      cmocka_unit_test_setup(test_stale_flushed, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
