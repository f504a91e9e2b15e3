/* Unit tests for src/killswitch, against the kernel's nftables in a
 * network namespace of their own (unshare: root only, as the netns tests;
 * a machine where that cannot run fails the test rather than skip it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <string.h>

#include "src/killswitch.h"

static struct sockaddr_storage addr(int family, const char *text) {
  struct sockaddr_storage ss;

  memset(&ss, 0, sizeof(ss));
  ss.ss_family = (sa_family_t)family;
  assert_int_equal(
      inet_pton(family, text,
                family == AF_INET
                    ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                    : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr),
      1);
  return ss;
}

/* The ruleset of this namespace as nft prints it. */
static const char *ruleset(struct nft_ctx *nft) {
  assert_int_equal(nft_run_cmd_from_buffer(nft, "list ruleset"), 0);
  return nft_ctx_get_output_buffer(nft);
}

static int setup(void **state) {
  (void)state;
  /* Every test in a fresh namespace: nothing touches the host's rules. */
  return unshare(CLONE_NEWNET);
}

static void test_apply_update_remove(void **state) {
  struct kill_switch ks;
  struct sockaddr_storage sv[2] = {addr(AF_INET, "198.18.3.2"),
                                   addr(AF_INET6, "2001:db8:3::2")};
  struct sockaddr_storage moved = addr(AF_INET, "198.18.4.2");
  struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
  struct jvpn_prefix excl = {AF_INET, {192, 0, 2, 0}, 24};
  struct kill_switch_allow allow = {"jvpn7", 443, &excl, 1};
  char err[200];
  const char *r;

  (void)state;
  assert_non_null(nft);
  assert_int_equal(nft_ctx_buffer_output(nft), 0);
  assert_int_equal(kill_switch_open(&ks, NULL), 0);
  assert_int_equal(kill_switch_apply(&ks, &allow, sv, 2, err, sizeof(err)), 0);
  assert_true(ks.on);
  r = ruleset(nft);
  assert_non_null(strstr(r, "table inet jvpn_killswitch"));
  assert_non_null(strstr(r, "policy drop"));
  assert_non_null(strstr(r, "oifname \"jvpn7\" accept"));
  assert_non_null(strstr(r, "198.18.3.2"));
  assert_non_null(strstr(r, "2001:db8:3::2"));
  assert_non_null(strstr(r, "udp dport 443 accept"));
  assert_non_null(strstr(r, "tcp dport 443 accept")); /* the fallback */
  assert_non_null(strstr(r, "ip daddr 192.0.2.0/24 accept"));
  /* Applying again replaces the table: one of it, the new port. */
  allow.port = 8443;
  assert_int_equal(kill_switch_apply(&ks, &allow, sv, 1, err, sizeof(err)), 0);
  r = ruleset(nft);
  assert_null(strstr(strstr(r, "table inet jvpn_killswitch") + 1,
                     "table inet jvpn_killswitch"));
  assert_non_null(strstr(r, "udp dport 8443 accept"));
  assert_null(strstr(r, "2001:db8:3::2"));
  /* The server moved. */
  assert_int_equal(kill_switch_servers(&ks, &moved, 1, err, sizeof(err)), 0);
  r = ruleset(nft);
  assert_non_null(strstr(r, "198.18.4.2"));
  assert_null(strstr(r, "198.18.3.2"));
  assert_int_equal(kill_switch_remove(&ks, err, sizeof(err)), 0);
  assert_false(ks.on);
  assert_null(strstr(ruleset(nft), "jvpn_killswitch"));
  /* Removing what is not there is success. */
  assert_int_equal(kill_switch_remove(&ks, err, sizeof(err)), 0);
  kill_switch_close(&ks);
  nft_ctx_free(nft);
}

/* Without a server address nothing but the rest passes; updates to a
 * switch that is off do nothing. */
static void test_no_server_and_off(void **state) {
  struct kill_switch ks;
  struct sockaddr_storage sv = addr(AF_INET, "198.18.3.2");
  char err[200];

  (void)state;
  assert_int_equal(kill_switch_open(&ks, "jvpn_ks_test"), 0);
  assert_int_equal(kill_switch_servers(&ks, &sv, 1, err, sizeof(err)), 0);
  assert_false(ks.on);
  struct kill_switch_allow allow = {"jvpn0", 443, NULL, 0};

  assert_int_equal(kill_switch_apply(&ks, &allow, NULL, 0, err, sizeof(err)),
                   0);
  assert_int_equal(kill_switch_remove(&ks, err, sizeof(err)), 0);
  kill_switch_close(&ks);
  kill_switch_close(&ks); /* twice: harmless */
}

/* A crashed run's table, seen by a new context: the addresses it admits,
 * with the port asked for; none once it is gone. */
static void test_stale_servers(void **state) {
  struct kill_switch ks, later;
  struct sockaddr_storage sv[3] = {addr(AF_INET, "198.18.3.2"),
                                   addr(AF_INET, "198.18.4.2"),
                                   addr(AF_INET6, "2001:db8:3::2")};
  struct sockaddr_storage got[4];
  struct kill_switch_allow allow = {"jvpn0", 443, NULL, 0};
  struct sockaddr_in *g4 = (struct sockaddr_in *)&got[0];
  struct sockaddr_in6 *g6 = (struct sockaddr_in6 *)&got[2];
  char err[200];

  (void)state;
  assert_int_equal(kill_switch_open(&later, NULL), 0);
  assert_int_equal(kill_switch_stale_servers(&later, 443, got, 4), 0);
  assert_int_equal(kill_switch_open(&ks, NULL), 0);
  assert_int_equal(kill_switch_apply(&ks, &allow, sv, 3, err, sizeof(err)), 0);
  kill_switch_close(&ks); /* the table stays, as after kill -9 */
  assert_int_equal(kill_switch_stale_servers(&later, 8443, got, 4), 3);
  assert_int_equal(g4->sin_family, AF_INET);
  assert_int_equal(ntohs(g4->sin_port), 8443);
  assert_int_equal(g6->sin6_family, AF_INET6);
  assert_memory_equal(&g6->sin6_addr,
                      &((struct sockaddr_in6 *)&sv[2])->sin6_addr, 16);
  assert_int_equal(kill_switch_stale_servers(&later, 443, got, 1), 1);
  assert_int_equal(kill_switch_remove(&later, err, sizeof(err)), 0);
  assert_int_equal(kill_switch_stale_servers(&later, 443, got, 4), 0);
  kill_switch_close(&later);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_apply_update_remove, setup),
      cmocka_unit_test_setup(test_no_server_and_off, setup),
      cmocka_unit_test_setup(test_stale_servers, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
