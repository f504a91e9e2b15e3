/*
 * tests/unit/test_quic_lb: server connection IDs that name their server
 * (quic/quic_lb, the plaintext algorithm of draft-ietf-quic-load-balancers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jvpn/errors.h"
#include "quic/quic_lb.h"
#include "quic/tls_identity.h"

/* |hex| (even length) as the server ID of configuration |config_id|. */
static void lb_set(struct quic_lb *lb, const char *hex, unsigned config_id) {
  size_t i;
  unsigned int b;

  memset(lb, 0, sizeof(*lb));
  for (i = 0; hex[2 * i] != '\0'; i++) {
    assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
    lb->server_id[i] = (uint8_t)b;
  }
  lb->server_id_len = i;
  lb->config_id = (uint8_t)config_id;
  lb->on = 1;
}

static int setup(void **state) {
  (void)state;
  return tls_identity_global_init() == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tls_identity_global_deinit();
  return 0;
}

/* The first octet carries config rotation and length, the server ID
 * follows, the nonce differs between CIDs. */
static void test_encode(void **state) {
  struct quic_lb lb;
  uint8_t a[16], b[16], sid[QUIC_LB_SERVER_ID_MAX];

  (void)state;
  lb_set(&lb, "a1b2c3", 2);
  assert_int_equal(lb.server_id_len, 3);
  assert_int_equal(quic_lb_cid(&lb, a, sizeof(a)), 0);
  assert_int_equal(quic_lb_cid(&lb, b, sizeof(b)), 0);
  assert_int_equal(a[0], 2 << 5 | 15);
  assert_memory_equal(a + 1, "\xa1\xb2\xc3", 3);
  assert_memory_equal(b + 1, "\xa1\xb2\xc3", 3);
  assert_memory_not_equal(a + 4, b + 4, 12); /* 96 random bits */
  assert_int_equal(quic_lb_decode(&lb, a, sizeof(a), sid), 0);
  assert_memory_equal(sid, "\xa1\xb2\xc3", 3);
}

/* A load balancer routes only CIDs of its configuration and length. */
static void test_decode_refuses(void **state) {
  struct quic_lb lb, other;
  uint8_t cid[16], sid[QUIC_LB_SERVER_ID_MAX];

  (void)state;
  lb_set(&lb, "0102", 1);
  lb_set(&other, "0102", 3);
  assert_int_equal(quic_lb_cid(&other, cid, sizeof(cid)), 0);
  assert_int_equal(quic_lb_decode(&lb, cid, sizeof(cid), sid),
                   JVPN_ERR_NOTFOUND); /* config rotation 3, not 1 */
  assert_int_equal(quic_lb_cid(&lb, cid, sizeof(cid)), 0);
  assert_int_equal(quic_lb_decode(&lb, cid, 12, sid), JVPN_ERR_NOTFOUND);
  assert_int_equal(quic_lb_decode(NULL, cid, sizeof(cid), sid),
                   JVPN_ERR_NOTFOUND);
}

/* Without a server ID: random, every length QUIC allows. */
static void test_random(void **state) {
  uint8_t a[20], b[20];
  size_t len;

  (void)state;
  for (len = 2; len <= 20; len++)
    assert_int_equal(quic_lb_cid(NULL, a, len), 0);
  assert_int_equal(quic_lb_cid(NULL, a, sizeof(a)), 0);
  assert_int_equal(quic_lb_cid(NULL, b, sizeof(b)), 0);
  assert_memory_not_equal(a, b, sizeof(a));
  assert_int_equal(quic_lb_cid(NULL, a, 1), JVPN_ERR_INVAL);
  assert_int_equal(quic_lb_cid(NULL, a, 21), JVPN_ERR_INVAL);
}

/* A server ID that leaves fewer than 4 nonce bytes does not fit. */
static void test_too_long(void **state) {
  struct quic_lb lb;
  uint8_t cid[16];

  (void)state;
  lb_set(&lb, "0102030405060708090a0b", 0);
  assert_int_equal(quic_lb_cid(&lb, cid, sizeof(cid)), 0); /* 1+11+4 */
  lb_set(&lb, "0102030405060708090a0b0c", 0);
  assert_int_equal(quic_lb_cid(&lb, cid, sizeof(cid)), JVPN_ERR_INVAL);
}

/* A configuration rotation past 6 is refused. */
static void test_bad_config(void **state) {
  struct quic_lb lb;
  uint8_t cid[16];

  (void)state;
  lb_set(&lb, "01", 7);
  assert_int_equal(quic_lb_cid(&lb, cid, sizeof(cid)), JVPN_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode),   cmocka_unit_test(test_decode_refuses),
      cmocka_unit_test(test_random),   cmocka_unit_test(test_too_long),
      cmocka_unit_test(test_bad_config),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
