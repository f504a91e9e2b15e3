/*
 * tests/unit/test_cip_stream: the capsule stream of a CONNECT-IP request:
 * DATAGRAM capsules with context 0 to ip_packet, other contexts counted
 * and dropped, malformed DATAGRAM capsules, other capsules to the
 * program, the size limit, and DATAGRAM capsule encoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "jvpn/varint.h"
#include "quic/capsule.h"
#include "quic/cip_stream.h"

#define MAXREC 8

struct rec {
  size_t npkt, ncap;
  uint8_t pkt[MAXREC][JVPN_CAPSULE_MAX_VALUE];
  size_t pkt_len[MAXREC];
  uint64_t cap_type[MAXREC];
  size_t cap_len[MAXREC];
  int refuse; /* capsule() returns this */
};

static int capsule(void *user, uint64_t type, const uint8_t *value,
                   size_t len) {
  struct rec *r = user;

  (void)value;
  if (r->ncap < MAXREC) {
    r->cap_type[r->ncap] = type;
    r->cap_len[r->ncap] = len;
  }
  r->ncap++;
  return r->refuse;
}

static void ip_packet(void *user, const uint8_t *pkt, size_t len) {
  struct rec *r = user;

  if (r->npkt < MAXREC) {
    memcpy(r->pkt[r->npkt], pkt, len);
    r->pkt_len[r->npkt] = len;
  }
  r->npkt++;
}

static const struct quic_conn_ops ops = {
    .capsule = capsule,
    .ip_packet = ip_packet,
};

struct fixture {
  struct cip_rx rx;
  struct quic_conn_stats stats;
  const struct quic_conn_ops *ops;
  void *user;
  struct rec rec, other;
};

static int setup(void **state) {
  static struct fixture f;

  memset(&f, 0, sizeof(f));
  f.ops = &ops;
  f.user = &f.rec;
  cip_rx_init(&f.rx, &f.stats, &f.ops, &f.user);
  *state = &f;
  return 0;
}

/* A DATAGRAM capsule with |context| and |len| bytes of |fill|. */
static size_t datagram(uint8_t *out, size_t room, uint64_t context,
                       uint8_t fill, size_t len) {
  uint8_t v[JVPN_CAPSULE_MAX_VALUE + 16];
  size_t n = jvpn_varint_encode(v, sizeof(v), context);
  long k;

  memset(v + n, fill, len);
  k = capsule_encode(out, room, JVPN_CAPSULE_DATAGRAM, v, n + len);
  assert_true(k > 0);
  return (size_t)k;
}

static void test_context_zero(void **state) {
  struct fixture *f = *state;
  uint8_t buf[2048];
  size_t n = datagram(buf, sizeof(buf), JVPN_CIP_CONTEXT_IP, 0x45, 1400);

  assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  assert_int_equal(f->rec.npkt, 1);
  assert_int_equal(f->rec.pkt_len[0], 1400);
  assert_int_equal(f->rec.pkt[0][0], 0x45);
  assert_int_equal(f->rec.pkt[0][1399], 0x45);
  assert_int_equal(f->stats.rx_datagrams, 1);
  assert_int_equal(f->stats.rx_bytes, 1400);
  assert_int_equal(f->stats.capsules_rx, 1);
  assert_int_equal(f->rec.ncap, 0); /* not a capsule for the program */
  assert_false(cip_rx_mid_capsule(&f->rx));
}

/* Other context IDs (1-byte, 2-byte and 8-byte varints) are counted and
 * dropped; the stream goes on. */
static void test_other_contexts(void **state) {
  static const uint64_t ctx[] = {1, 2, 63, 64, 16383, 16384,
                                 ((uint64_t)1 << 62) - 1};
  struct fixture *f = *state;
  uint8_t buf[256];
  size_t i, n;

  for (i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++) {
    n = datagram(buf, sizeof(buf), ctx[i], 0x60, 40);
    assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  }
  assert_int_equal(f->stats.drop_context, sizeof(ctx) / sizeof(ctx[0]));
  assert_int_equal(f->rec.npkt, 0);
  assert_int_equal(f->stats.rx_datagrams, 0);
  /* context 0 still goes after them */
  n = datagram(buf, sizeof(buf), 0, 0x60, 40);
  assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  assert_int_equal(f->rec.npkt, 1);
  /* a direct HTTP Datagram (QUIC's DATAGRAM frames) is judged alike */
  cip_rx_datagram(&f->rx, 7, buf, 10);
  assert_int_equal(f->stats.drop_context, sizeof(ctx) / sizeof(ctx[0]) + 1);
  cip_rx_datagram(&f->rx, 0, buf, 10);
  assert_int_equal(f->rec.npkt, 2);
  assert_int_equal(f->stats.rx_bytes, 50);
}

/* A DATAGRAM capsule with no context ID is malformed (the stream ends);
 * one with a context ID but no payload is dropped and counted. */
static void test_malformed_datagram(void **state) {
  static const uint8_t empty[] = {0x00, 0x00};
  static const uint8_t no_payload[] = {0x00, 0x01, 0x00};
  static const uint8_t short_ctx[] = {0x00, 0x01, 0x40}; /* 2-byte varint */
  struct fixture *f = *state;
  uint8_t buf[64];
  size_t n;

  assert_int_equal(cip_rx_feed(&f->rx, no_payload, sizeof(no_payload)), 0);
  assert_int_equal(f->stats.drop_malformed, 1);
  assert_int_equal(f->rec.npkt, 0);
  assert_int_equal(cip_rx_feed(&f->rx, empty, sizeof(empty)),
                   JVPN_ERR_MALFORMED);
  assert_string_equal(cip_rx_strerror(JVPN_ERR_MALFORMED),
                      "malformed capsule");
  /* the parser stays failed: nothing more is delivered */
  n = datagram(buf, sizeof(buf), 0, 1, 20);
  assert_int_not_equal(cip_rx_feed(&f->rx, buf, n), 0);
  assert_int_equal(f->rec.npkt, 0);

  setup(state);
  f = *state;
  assert_int_equal(cip_rx_feed(&f->rx, short_ctx, sizeof(short_ctx)),
                   JVPN_ERR_MALFORMED);
}

/* Known capsules go to the program; its refusal ends the stream; unknown
 * ones are skipped and counted. */
static void test_other_capsules(void **state) {
  static const uint8_t v[] = {1, 2, 3, 4};
  struct fixture *f = *state;
  uint8_t buf[64];
  long n;

  n = capsule_encode(buf, sizeof(buf), JVPN_CAPSULE_ADDRESS_ASSIGN, v, 4);
  assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), 0);
  n = capsule_encode(buf, sizeof(buf), JVPN_CAPSULE_DNS_ASSIGN, v, 2);
  assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), 0);
  n = capsule_encode(buf, sizeof(buf), 0x2a, v, 4); /* unknown */
  assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), 0);
  assert_int_equal(f->rec.ncap, 2);
  assert_int_equal(f->rec.cap_type[0], JVPN_CAPSULE_ADDRESS_ASSIGN);
  assert_int_equal(f->rec.cap_len[0], 4);
  assert_int_equal(f->rec.cap_type[1], JVPN_CAPSULE_DNS_ASSIGN);
  assert_int_equal(f->stats.capsules_rx, 2);
  assert_int_equal(f->stats.capsules_skipped, 1);
  f->rec.refuse = JVPN_ERR_MALFORMED;
  n = capsule_encode(buf, sizeof(buf), JVPN_CAPSULE_ACTIVATE, v, 0);
  assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), JVPN_ERR_MALFORMED);
}

/* The owner may change between capsules: the next one goes to the new. */
static void test_owner_change(void **state) {
  struct fixture *f = *state;
  uint8_t buf[64];
  size_t n = datagram(buf, sizeof(buf), 0, 9, 20);

  assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  f->user = &f->other;
  assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  assert_int_equal(f->rec.npkt, 1);
  assert_int_equal(f->other.npkt, 1);
}

/* Bytes in any pieces: one byte at a time, a capsule split mid-header. */
static void test_pieces(void **state) {
  struct fixture *f = *state;
  uint8_t buf[4096];
  size_t n = 0, i;

  n += datagram(buf + n, sizeof(buf) - n, 0, 0x11, 300);
  n += datagram(buf + n, sizeof(buf) - n, 5, 0x22, 30);
  n += datagram(buf + n, sizeof(buf) - n, 0, 0x33, 1);
  for (i = 0; i < n; i++) {
    assert_int_equal(cip_rx_feed(&f->rx, buf + i, 1), 0);
    if (i == 1)
      assert_true(cip_rx_mid_capsule(&f->rx));
  }
  assert_false(cip_rx_mid_capsule(&f->rx));
  assert_int_equal(f->rec.npkt, 2);
  assert_int_equal(f->rec.pkt_len[0], 300);
  assert_int_equal(f->rec.pkt[1][0], 0x33);
  assert_int_equal(f->stats.drop_context, 1);
}

/* A DATAGRAM capsule over JVPN_CAPSULE_MAX_VALUE ends the stream. */
static void test_oversize(void **state) {
  struct fixture *f = *state;
  uint8_t buf[JVPN_CAPSULE_MAX_VALUE + 32];
  size_t n;

  /* value: context (1) + payload: exactly the limit still goes */
  n = datagram(buf, sizeof(buf), 0, 0x45, JVPN_CAPSULE_MAX_VALUE - 1);
  assert_int_equal(cip_rx_feed(&f->rx, buf, n), 0);
  assert_int_equal(f->rec.npkt, 1);
  n = datagram(buf, sizeof(buf), 0, 0x45, JVPN_CAPSULE_MAX_VALUE);
  assert_int_equal(cip_rx_feed(&f->rx, buf, n), JVPN_ERR_OVERSIZE);
  assert_string_equal(cip_rx_strerror(JVPN_ERR_OVERSIZE),
                      "capsule exceeds the size limit");
  assert_int_equal(f->rec.npkt, 1);
}

/* Encoding: type 0, the length, context 0, the packet; what the receiver
 * decodes is what was encoded. */
static void test_encode_round_trip(void **state) {
  static const size_t lens[] = {1, 20, 62, 63, 1500,
                                JVPN_CAPSULE_MAX_VALUE - 1};
  struct fixture *f = *state;
  static uint8_t pkt[20000], buf[20000 + CIP_DATAGRAM_OVERHEAD];
  size_t i, k;
  long n;

  for (k = 0; k < sizeof(pkt); k++)
    pkt[k] = (uint8_t)(k * 7);
  /* one-byte length: 1 + 1 + 1 + 20 */
  n = cip_datagram_encode(buf, sizeof(buf), pkt, 20);
  assert_int_equal(n, 23);
  assert_int_equal(buf[0], JVPN_CAPSULE_DATAGRAM);
  assert_int_equal(buf[1], 21);
  assert_int_equal(buf[2], JVPN_CIP_CONTEXT_IP);
  assert_memory_equal(buf + 3, pkt, 20);
  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    n = cip_datagram_encode(buf, sizeof(buf), pkt, lens[i]);
    assert_true(n > 0);
    assert_true((size_t)n <= lens[i] + CIP_DATAGRAM_OVERHEAD);
    assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), 0);
    assert_int_equal(f->rec.npkt, i + 1);
    if (i < MAXREC) {
      assert_int_equal(f->rec.pkt_len[i], lens[i]);
      assert_memory_equal(f->rec.pkt[i], pkt, lens[i]);
    }
  }
  /* a packet too big for the receiver's limit encodes, and is refused */
  n = cip_datagram_encode(buf, sizeof(buf), pkt, JVPN_CAPSULE_MAX_VALUE);
  assert_int_equal(n, JVPN_CAPSULE_MAX_VALUE + 1 + 2 + 1);
  assert_int_equal(cip_rx_feed(&f->rx, buf, (size_t)n), JVPN_ERR_OVERSIZE);
}

/* The destination must hold all of it, or nothing is written. */
static void test_encode_nospace(void **state) {
  uint8_t pkt[100], buf[200];
  long need;

  (void)state;
  memset(pkt, 1, sizeof(pkt));
  need = cip_datagram_encode(buf, sizeof(buf), pkt, sizeof(pkt));
  assert_int_equal(need, 1 + 2 + 1 + 100); /* 101 needs a 2-byte length */
  memset(buf, 0xee, sizeof(buf));
  assert_int_equal(cip_datagram_encode(buf, (size_t)need - 1, pkt, sizeof(pkt)),
                   JVPN_ERR_NOSPACE);
  assert_int_equal(buf[0], 0xee);
  assert_int_equal(cip_datagram_encode(buf, 0, pkt, 0), JVPN_ERR_NOSPACE);
  assert_int_equal(cip_datagram_encode(buf, (size_t)need, pkt, sizeof(pkt)),
                   need);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_context_zero, setup),
      cmocka_unit_test_setup(test_other_contexts, setup),
      cmocka_unit_test_setup(test_malformed_datagram, setup),
      cmocka_unit_test_setup(test_other_capsules, setup),
      cmocka_unit_test_setup(test_owner_change, setup),
      cmocka_unit_test_setup(test_pieces, setup),
      cmocka_unit_test_setup(test_oversize, setup),
      cmocka_unit_test_setup(test_encode_round_trip, setup),
      cmocka_unit_test_setup(test_encode_nospace, setup),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
