/* tests/unit/test_quic_pkt: a server's stateless packet handling (quic/
 * quic_pkt): version and CIDs of any packet, Version Negotiation,
 * stateless resets, Retry tokens, and the keyed digest of foreign CIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/quic_pkt.h"
#include "quic/tls_identity.h"

/* A long header: form and fixed bits, Initial type, |version|, DCID and
 * SCID, then zeros to |len|. */
static size_t long_header(uint8_t *p, size_t len, uint32_t version,
                          uint8_t dcidlen, uint8_t scidlen) {
  size_t n = 0, i;

  memset(p, 0, len);
  p[n++] = 0xc0;
  p[n++] = (uint8_t)(version >> 24);
  p[n++] = (uint8_t)(version >> 16);
  p[n++] = (uint8_t)(version >> 8);
  p[n++] = (uint8_t)version;
  p[n++] = dcidlen;
  for (i = 0; i < dcidlen; i++)
    p[n++] = (uint8_t)(0xd0 + i);
  p[n++] = scidlen;
  for (i = 0; i < scidlen; i++)
    p[n++] = (uint8_t)(0x50 + i);
  return len;
}

static void test_decode_ids(void **state) {
  uint8_t p[1200];
  struct quic_pkt_ids ids;

  (void)state;
  long_header(p, sizeof(p), JVPN_QUIC_V1, 8, 5);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, sizeof(p)), QUIC_PKT_OK);
  assert_int_equal(ids.version, JVPN_QUIC_V1);
  assert_int_equal(ids.dcid.len, 8);
  assert_int_equal(ids.dcid.data[0], 0xd0);
  assert_int_equal(ids.scid.len, 5);
  long_header(p, sizeof(p), JVPN_QUIC_V2, 8, 5);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, sizeof(p)), QUIC_PKT_OK);
  /* The v2 draft and an unknown version: Version Negotiation. */
  long_header(p, sizeof(p), 0x709a50c4u, 8, 5);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, sizeof(p)),
                   QUIC_PKT_VERSION_UNSUPPORTED);
  long_header(p, sizeof(p), 0x1a2a3a4au, 8, 5);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, sizeof(p)),
                   QUIC_PKT_VERSION_UNSUPPORTED);
  /* Short header: our 16-byte CID. */
  memset(p, 0x41, 40);
  p[0] = 0x40;
  assert_int_equal(quic_pkt_decode_ids(&ids, p, 40), QUIC_PKT_OK);
  assert_int_equal(ids.version, 0);
  assert_int_equal(ids.dcid.len, JVPN_QUIC_SCID_LEN);
  /* Garbage and truncation are refused, not read past. */
  assert_int_equal(quic_pkt_decode_ids(&ids, p, 3), JVPN_ERR_MALFORMED);
  long_header(p, 12, JVPN_QUIC_V1, 30, 0); /* CID longer than 20 */
  assert_int_equal(quic_pkt_decode_ids(&ids, p, 12), JVPN_ERR_MALFORMED);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, 0), JVPN_ERR_MALFORMED);
}

static void test_version_negotiation(void **state) {
  uint8_t p[1200], out[256];
  struct quic_pkt_ids ids;
  long n;

  (void)state;
  long_header(p, sizeof(p), 0x709a50c4u, 8, 5);
  assert_int_equal(quic_pkt_decode_ids(&ids, p, sizeof(p)),
                   QUIC_PKT_VERSION_UNSUPPORTED);
  n = quic_pkt_write_vn(out, sizeof(out), &ids);
  /* first byte, version 0, DCID (their SCID), SCID (their DCID), v2, v1 */
  assert_int_equal(n, 1 + 4 + 1 + 5 + 1 + 8 + 8);
  assert_int_equal(out[1] | out[2] | out[3] | out[4], 0);
  assert_int_equal(out[5], 5);
  assert_memory_equal(out + 6, ids.scid.data, 5);
  assert_int_equal(out[11], 8);
  assert_memory_equal(out + 12, ids.dcid.data, 8);
  assert_int_equal(ntohl(*(const uint32_t *)(out + 20)), JVPN_QUIC_V2);
  assert_int_equal(ntohl(*(const uint32_t *)(out + 24)), JVPN_QUIC_V1);
  assert_int_equal(quic_pkt_write_vn(out, 10, &ids), JVPN_ERR_NOSPACE);
  assert_true(quic_pkt_version_supported(JVPN_QUIC_V1));
  assert_true(quic_pkt_version_supported(JVPN_QUIC_V2));
  assert_false(quic_pkt_version_supported(0x709a50c4u));
}

/* A reset is shorter than what caused it and at least 21 bytes; its token
 * is the same for the same CID and secret (a restarted server's). */
static void test_stateless_reset(void **state) {
  uint8_t secret[32] = {1, 2, 3}, a[64], b[64];
  struct quic_cid cid = {{0x41}, JVPN_QUIC_SCID_LEN};
  long n;

  (void)state;
  assert_int_equal(quic_pkt_write_stateless_reset(a, sizeof(a), secret, &cid,
                                                  21),
                   0);
  n = quic_pkt_write_stateless_reset(a, sizeof(a), secret, &cid, 43);
  assert_true(n >= 21 && n < 43);
  assert_int_equal(quic_pkt_write_stateless_reset(b, sizeof(b), secret, &cid,
                                                  43),
                   n);
  assert_memory_equal(a + n - 16, b + n - 16, 16); /* the token */
  n = quic_pkt_write_stateless_reset(a, sizeof(a), secret, &cid, 1200);
  assert_true(n > 21 && n < 1200);
}

/* A Retry token binds the client's address and expires. */
static void test_retry_token(void **state) {
  uint8_t secret[32] = {9}, pkt[1200], retry[256];
  struct quic_initial in;
  struct quic_cid odcid;
  struct sockaddr_in a, other;
  uint64_t now = 1000000000ull * 1000;
  long n;

  (void)state;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(40000);
  inet_pton(AF_INET, "198.18.1.2", &a.sin_addr);
  other = a;
  other.sin_port = htons(40001);
  memset(&in, 0, sizeof(in));
  in.version = JVPN_QUIC_V1;
  in.dcid.len = 8;
  memset(in.dcid.data, 0xd0, 8);
  in.scid.len = 5;
  memset(in.scid.data, 0x50, 5);
  n = quic_pkt_write_retry(retry, sizeof(retry), secret, sizeof(secret), &in,
                           (const struct sockaddr *)&a, sizeof(a), NULL, now);
  assert_true(n > 0);
  /* No token yet: a Retry is due. */
  assert_int_equal(quic_pkt_verify_retry(secret, sizeof(secret), &in,
                                         (const struct sockaddr *)&a,
                                         sizeof(a), 10000000000ull, now,
                                         &odcid),
                   JVPN_ERR_AGAIN);
  (void)pkt;
  /* A token that is not ours. */
  in.token = (const uint8_t *)"\xb6garbage-garbage-garbage-garbage";
  in.token_len = 32;
  assert_int_equal(quic_pkt_verify_retry(secret, sizeof(secret), &in,
                                         (const struct sockaddr *)&other,
                                         sizeof(other), 10000000000ull, now,
                                         &odcid),
                   JVPN_ERR_DENIED);
}

/* Digests of foreign CIDs: the same under one key, different under two. */
static void test_cid_digest(void **state) {
  uint8_t k1[32] = {1}, k2[32] = {2}, a[16], b[16], c[16];
  struct quic_cid cid = {{1, 2, 3, 4, 5, 6, 7, 8}, 8};

  (void)state;
  assert_int_equal(quic_pkt_cid_digest(k1, &cid, a), 0);
  assert_int_equal(quic_pkt_cid_digest(k1, &cid, b), 0);
  assert_int_equal(quic_pkt_cid_digest(k2, &cid, c), 0);
  assert_memory_equal(a, b, 16);
  assert_memory_not_equal(a, c, 16);
}

static int setup(void **state) {
  (void)state;
  return tls_identity_global_init();
}

static int teardown(void **state) {
  (void)state;
  tls_identity_global_deinit();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_ids),
      cmocka_unit_test(test_version_negotiation),
      cmocka_unit_test(test_stateless_reset),
      cmocka_unit_test(test_retry_token),
      cmocka_unit_test(test_cid_digest),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
