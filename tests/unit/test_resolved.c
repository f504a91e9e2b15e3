/* Unit tests for src/resolved: what systemd-resolved is sent for a
 * configuration, and which back end applies it (the bus half is tested by
 * tests/netns/resolved.sh against a real resolved). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "src/resolved.h"

static void add_server(struct cip_dns_config *c, const char *addr,
                       uint8_t transports, uint16_t port, const char *name) {
  struct cip_dns_server *s = &c->servers[c->nservers++];

  if (strchr(addr, ':') != NULL) {
    s->ip_version = 6;
    assert_int_equal(inet_pton(AF_INET6, addr, s->addr), 1);
  } else if (addr[0] != '\0') {
    s->ip_version = 4;
    assert_int_equal(inet_pton(AF_INET, addr, s->addr), 1);
  }
  s->transports = transports;
  s->port = port;
  snprintf(s->name, sizeof(s->name), "%s", name);
}

/* Domain |i| of |l| is |name|, routing-only or not. */
static void assert_domain(const struct resolved_link *l, size_t i,
                          const char *name, int routing_only) {
  assert_true(i < l->ndomains);
  assert_string_equal(l->domains[i].name, name);
  assert_int_equal(l->domains[i].routing_only, routing_only);
}

/* The lab server's configuration: one server, a search domain, the root
 * as internal domain. */
static void lab_config(struct cip_dns_config *c) {
  memset(c, 0, sizeof(*c));
  add_server(c, "198.18.200.1", CIP_DNS_DO53, 0, "");
  snprintf(c->search[c->nsearch++], JVPN_DNS_NAME_SIZE, "vpn.test");
  c->domains[c->ndomains++][0] = '\0';
}

/* Split tunnel: the search domain only (the root is not routed to the
 * tunnel); full tunnel: "~." too. The link is a default route in both. */
static void test_lab_config(void **state) {
  struct cip_dns_config c;
  struct resolved_link l;
  static const uint8_t want[4] = {198, 18, 200, 1};

  (void)state;
  lab_config(&c);
  resolved_link_build(&c, 0, &l);
  assert_int_equal(l.nservers, 1);
  assert_int_equal(l.servers[0].family, AF_INET);
  assert_int_equal(l.servers[0].addrlen, 4);
  assert_memory_equal(l.servers[0].addr, want, 4);
  assert_int_equal(l.servers[0].port, 0);
  assert_string_equal(l.servers[0].name, "");
  assert_int_equal(l.ndomains, 1);
  assert_domain(&l, 0, "vpn.test", 0);
  assert_int_equal(l.default_route, 1);
  resolved_link_build(&c, 1, &l);
  assert_int_equal(l.ndomains, 2);
  assert_domain(&l, 1, ".", 1);
  assert_int_equal(l.default_route, 1);
}

static void test_routing_domains(void **state) {
  struct cip_dns_config c;
  struct resolved_link l;

  (void)state;
  lab_config(&c);
  snprintf(c.domains[c.ndomains++], JVPN_DNS_NAME_SIZE, "corp.example");
  snprintf(c.domains[c.ndomains++], JVPN_DNS_NAME_SIZE, "vpn.test");
  resolved_link_build(&c, 0, &l);
  /* vpn.test is searched (which routes it too): not twice. */
  assert_int_equal(l.ndomains, 2);
  assert_domain(&l, 1, "corp.example", 1);
  /* Only the domains named go through the tunnel. */
  assert_int_equal(l.default_route, 0);
  resolved_link_build(&c, 1, &l);
  assert_int_equal(l.ndomains, 3);
  assert_int_equal(l.default_route, 1);
}

static void test_servers_kept(void **state) {
  struct cip_dns_config c;
  struct resolved_link l;

  (void)state;
  memset(&c, 0, sizeof(c));
  add_server(&c, "fd77:6a76:706e::1", CIP_DNS_DO53 | CIP_DNS_DOT, 5353,
             "dns.vpn.test");
  add_server(&c, "198.18.200.9", CIP_DNS_DOT, 853, "dot.vpn.test");
  add_server(&c, "", CIP_DNS_DO53, 0, "byname.vpn.test");
  add_server(&c, "198.18.200.1", CIP_DNS_DO53, 0, "");
  resolved_link_build(&c, 0, &l);
  /* The DoT-only one and the one without an address are left out. */
  assert_int_equal(l.nservers, 2);
  assert_int_equal(l.servers[0].family, AF_INET6);
  assert_int_equal(l.servers[0].addrlen, 16);
  assert_int_equal(l.servers[0].port, 5353);
  assert_string_equal(l.servers[0].name, "dns.vpn.test");
  assert_int_equal(l.servers[1].family, AF_INET);
  assert_int_equal(l.ndomains, 0);
}

static void test_empty(void **state) {
  struct cip_dns_config c;
  struct resolved_link l;

  (void)state;
  memset(&c, 0, sizeof(c));
  resolved_link_build(&c, 1, &l);
  assert_int_equal(l.nservers, 0);
  assert_int_equal(l.ndomains, 1);
}

static void test_choose(void **state) {
  static const struct {
    enum jvpn_dns_backend pref;
    int resolved_up, file_usable;
    enum dns_backend want;
  } cases[] = {
      {JVPN_DNS_BACKEND_AUTO, 1, 1, DNS_BACKEND_RESOLVED},
      {JVPN_DNS_BACKEND_AUTO, 1, 0, DNS_BACKEND_RESOLVED},
      {JVPN_DNS_BACKEND_AUTO, 0, 1, DNS_BACKEND_FILE},
      {JVPN_DNS_BACKEND_AUTO, 0, 0, DNS_BACKEND_NONE},
      {JVPN_DNS_BACKEND_RESOLVED, 0, 1, DNS_BACKEND_NONE},
      {JVPN_DNS_BACKEND_RESOLVED, 1, 1, DNS_BACKEND_RESOLVED},
      {JVPN_DNS_BACKEND_FILE, 1, 1, DNS_BACKEND_FILE},
      {JVPN_DNS_BACKEND_FILE, 1, 0, DNS_BACKEND_NONE},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_int_equal(resolved_choose(cases[i].pref, cases[i].resolved_up,
                                     cases[i].file_usable),
                     cases[i].want);
  assert_string_equal(resolved_backend_name(DNS_BACKEND_RESOLVED),
                      "systemd-resolved");
  assert_string_equal(resolved_backend_name(DNS_BACKEND_FILE), "resolv.conf");
  assert_string_equal(resolved_backend_name(DNS_BACKEND_NONE), "none");
}

/* No bus: open says so and leaves nothing to close. */
static void test_no_bus(void **state) {
  struct resolved r;
  char why[200];

  (void)state;
  setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/jvpn-bus", 1);
  assert_int_equal(resolved_open(&r, why, sizeof(why)), JVPN_ERR_NOTFOUND);
  assert_non_null(strstr(why, "no system bus"));
  assert_null(r.bus);
  resolved_close(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lab_config),
      cmocka_unit_test(test_routing_domains),
      cmocka_unit_test(test_servers_kept),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_choose),
      cmocka_unit_test(test_no_bus),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
