/* Unit tests for src/resolvconf, on a temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "src/resolvconf.h"

#define ORIG "# the host's\nnameserver 192.0.2.53\nsearch example.net\n"

static char path[64];

static void put_file(const char *text) {
  FILE *f = fopen(path, "w");

  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static const char *get_file(void) {
  static char buf[8192];
  FILE *f = fopen(path, "r");
  size_t n;

  assert_non_null(f);
  n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int setup(void **state) {
  int fd;

  (void)state;
  snprintf(path, sizeof(path), "/tmp/jvpn-resolv-XXXXXX");
  fd = mkstemp(path);
  if (fd < 0)
    return -1;
  close(fd);
  put_file(ORIG);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(path);
  return 0;
}

static void config(struct cip_dns_config *c) {
  memset(c, 0, sizeof(*c));
  c->servers[0].ip_version = 4;
  inet_pton(AF_INET, "198.18.200.1", c->servers[0].addr);
  c->servers[0].transports = CIP_DNS_DO53;
  c->servers[1].ip_version = 6;
  inet_pton(AF_INET6, "fd77:6a76:706e::1", c->servers[1].addr);
  c->servers[1].transports = CIP_DNS_DO53;
  c->servers[2].ip_version = 4; /* DoT only: not for resolv.conf */
  inet_pton(AF_INET, "198.18.200.9", c->servers[2].addr);
  c->servers[2].transports = CIP_DNS_DOT;
  c->nservers = 3;
  strcpy(c->search[0], "vpn.test");
  c->nsearch = 1;
}

static void test_apply_and_restore(void **state) {
  struct resolv_conf rc;
  struct cip_dns_config c;
  char why[128];
  const char *t;

  (void)state;
  config(&c);
  assert_int_equal(resolv_conf_open(&rc, path, why, sizeof(why)), 0);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  t = get_file();
  assert_int_equal(strncmp(t, RESOLV_CONF_MARKER, strlen(RESOLV_CONF_MARKER)),
                   0);
  assert_non_null(strstr(t, "\nnameserver 198.18.200.1\n"
                            "nameserver fd77:6a76:706e::1\n"
                            "search vpn.test\n"));
  assert_null(strstr(t, "198.18.200.9"));
  assert_non_null(strstr(t, "#jvpn-orig: nameserver 192.0.2.53\n"));
  assert_null(strstr(t, "\nnameserver 192.0.2.53"));
  /* A configuration without a usable server puts the original back. */
  c.nservers = 0;
  assert_int_equal(resolv_conf_apply(&rc, &c), JVPN_ERR_NOTFOUND);
  assert_string_equal(get_file(), ORIG);
  config(&c);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  resolv_conf_close(&rc);
  assert_string_equal(get_file(), ORIG);
}

/* resolvconf renames a new file into place: the one held is neither
 * written nor put back, and the new one is left as it is. */
static void test_replaced(void **state) {
  struct resolv_conf rc;
  struct cip_dns_config c;
  char why[128], other[80];
  FILE *f;

  (void)state;
  config(&c);
  assert_int_equal(resolv_conf_open(&rc, path, why, sizeof(why)), 0);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  snprintf(other, sizeof(other), "%s.new", path);
  f = fopen(other, "w");
  assert_non_null(f);
  fputs("nameserver 192.0.2.99\n", f);
  fclose(f);
  assert_int_equal(rename(other, path), 0);
  assert_int_equal(resolv_conf_apply(&rc, &c), JVPN_ERR_EXISTS);
  assert_int_equal(resolv_conf_restore(&rc), 0);
  resolv_conf_close(&rc);
  assert_string_equal(get_file(), "nameserver 192.0.2.99\n");
}

/* What a killed client left is undone by the next open and by recover. */
static void test_crash_leftovers(void **state) {
  struct resolv_conf rc;
  struct cip_dns_config c;
  char why[128], left[8192];

  (void)state;
  config(&c);
  assert_int_equal(resolv_conf_open(&rc, path, why, sizeof(why)), 0);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  snprintf(left, sizeof(left), "%s", get_file());
  rc.written = 0; /* "killed": close without restoring */
  resolv_conf_close(&rc);
  assert_string_equal(get_file(), left);
  /* the next start */
  assert_int_equal(resolv_conf_open(&rc, path, why, sizeof(why)), 0);
  assert_string_equal(get_file(), ORIG);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  assert_string_equal(get_file(), left); /* wrapped once, not twice */
  rc.written = 0;
  resolv_conf_close(&rc);
  /* client --down */
  assert_int_equal(resolv_conf_recover(path), 1);
  assert_string_equal(get_file(), ORIG);
  assert_int_equal(resolv_conf_recover(path), 0);
}

/* A file without a final newline, and a missing one. */
static void test_edges(void **state) {
  struct resolv_conf rc;
  struct cip_dns_config c;
  char why[128];

  (void)state;
  put_file("nameserver 192.0.2.1");
  config(&c);
  assert_int_equal(resolv_conf_open(&rc, path, why, sizeof(why)), 0);
  assert_int_equal(resolv_conf_apply(&rc, &c), 0);
  assert_non_null(strstr(get_file(), "#jvpn-orig: nameserver 192.0.2.1\n"));
  resolv_conf_close(&rc);
  assert_string_equal(get_file(), "nameserver 192.0.2.1");
  assert_int_equal(resolv_conf_open(&rc, "/nonexistent/resolv.conf", why,
                                    sizeof(why)),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(rc.fd, -1);
  assert_int_equal(resolv_conf_apply(&rc, &c), JVPN_ERR_SYSTEM);
  resolv_conf_close(&rc);
  assert_int_equal(resolv_conf_recover("/nonexistent/resolv.conf"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_apply_and_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
