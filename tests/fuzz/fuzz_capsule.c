/*
 * tests/fuzz/fuzz_capsule: the capsule stream parser and the CONNECT-IP
 * value codecs.
 *
 * The input is fed twice: whole, and in pieces whose sizes come from the
 * input's own bytes. Both runs must see the same capsules and end the same
 * way. Each ADDRESS_*, ROUTE_ADVERTISEMENT or DNS_ASSIGN value that
 * decodes is encoded again and decoded again, and must come back
 * unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/proto.h"
#include "quic/capsule.h"
#include "quic/connect_ip.h"
#include "quic/connect_ip_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
  uint64_t n;
  uint64_t hash; /* FNV-1a over every type and value seen */
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t len) {
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static int known(uint64_t type) {
  return type <= 3 || type == JVPN_CAPSULE_DNS_ASSIGN;
}

static void check_addrs(const uint8_t *v, size_t len) {
  static struct cip_addr a[JVPN_CIP_MAX_ADDRS], b[JVPN_CIP_MAX_ADDRS];
  static uint8_t buf[JVPN_CAPSULE_MAX_VALUE];
  size_t n, m, i;
  long w;

  if (cip_addrs_decode(v, len, a, JVPN_CIP_MAX_ADDRS, &n) != 0)
    return;
  w = cip_addrs_encode(buf, sizeof(buf), a, n);
  /* minimal varints never make the value longer */
  if (w < 0 || (size_t)w > len)
    abort();
  if (cip_addrs_decode(buf, (size_t)w, b, JVPN_CIP_MAX_ADDRS, &m) != 0 ||
      m != n)
    abort();
  for (i = 0; i < n; i++)
    if (a[i].request_id != b[i].request_id ||
        a[i].ip_version != b[i].ip_version ||
        a[i].prefix_len != b[i].prefix_len ||
        memcmp(a[i].addr, b[i].addr, sizeof(a[i].addr)) != 0)
      abort();
  /* same length means every varint was minimal: then the bytes match */
  if ((size_t)w == len && memcmp(buf, v, len) != 0)
    abort();
}

static void check_routes(const uint8_t *v, size_t len) {
  static struct cip_range a[JVPN_CIP_MAX_ROUTES], b[JVPN_CIP_MAX_ROUTES];
  static uint8_t buf[JVPN_CAPSULE_MAX_VALUE];
  static uint8_t pa[16];
  size_t n, m, i;
  uint8_t plen;
  struct cip_range r;
  long w;

  if (cip_routes_decode(v, len, a, JVPN_CIP_MAX_ROUTES, &n) != 0)
    return;
  /* routes have no varints: the encoding is unique */
  w = cip_routes_encode(buf, sizeof(buf), a, n);
  if (w < 0 || (size_t)w != len || memcmp(buf, v, len) != 0)
    abort();
  if (cip_routes_decode(buf, (size_t)w, b, JVPN_CIP_MAX_ROUTES, &m) != 0 ||
      m != n)
    abort();
  for (i = 0; i < n; i++) {
    if (a[i].ip_version != b[i].ip_version || a[i].ipproto != b[i].ipproto ||
        memcmp(a[i].start, b[i].start, 16) != 0 ||
        memcmp(a[i].end, b[i].end, 16) != 0)
      abort();
    /* a range that is one prefix converts back to itself */
    if (cip_range_to_prefix(&a[i], pa, &plen) == 0) {
      cip_range_from_prefix(&r, a[i].ip_version, pa, plen);
      if (memcmp(r.start, a[i].start, 16) != 0 ||
          memcmp(r.end, a[i].end, 16) != 0)
        abort();
    }
  }
}

static void check_dns(const uint8_t *v, size_t len) {
  static struct cip_dns_config a, b;
  static uint8_t buf[2 * JVPN_CAPSULE_MAX_VALUE];
  const char *why = NULL;
  long w;
  int rv;

  rv = cip_dns_decode(v, len, &a, &why);
  if (rv != 0) {
    if (why == NULL || a.nservers != 0)
      abort(); /* an error names its reason and leaves nothing behind */
    return;
  }
  /* what the decoder kept, the encoder takes; the encoding may be longer
   * (a nameserver's addresses become one nameserver each) */
  w = cip_dns_encode(buf, sizeof(buf), &a);
  if (w < 0 || cip_dns_decode(buf, (size_t)w, &b, NULL) != 0)
    abort();
  a.unusable = 0; /* not on the wire */
  if (memcmp(&a, &b, sizeof(a)) != 0)
    abort();
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  struct sink *s = user;
  uint8_t t[8];
  int i;

  for (i = 0; i < 8; i++)
    t[i] = (uint8_t)(type >> (8 * i));
  s->n++;
  s->hash = fnv(fnv(s->hash, t, sizeof(t)), value, len);
  switch (type) {
  case JVPN_CAPSULE_ADDRESS_ASSIGN:
  case JVPN_CAPSULE_ADDRESS_REQUEST: check_addrs(value, len); break;
  case JVPN_CAPSULE_ROUTE_ADVERTISEMENT: check_routes(value, len); break;
  case JVPN_CAPSULE_DNS_ASSIGN: check_dns(value, len); break;
  default: break;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct capsule_parser whole, split;
  struct sink sw = {0, 0xcbf29ce484222325ULL};
  struct sink ss = {0, 0xcbf29ce484222325ULL};
  size_t off = 0, k = 0, piece;
  int rw, rs = 0;

  capsule_parser_init(&whole, known, on_capsule, &sw);
  capsule_parser_init(&split, known, on_capsule, &ss);
  rw = capsule_parser_feed(&whole, data, size);
  while (off < size && rs == 0) {
    /* sizes 0..63 from the input itself; a 0-byte feed must be a no-op */
    piece = data[k++ % size] % 64;
    if (piece > size - off)
      piece = size - off;
    rs = capsule_parser_feed(&split, data + off, piece);
    off += piece;
    if (piece == 0 && rs == 0) {
      rs = capsule_parser_feed(&split, data + off, 1);
      off++;
    }
  }
  if (rw != rs || sw.n != ss.n || sw.hash != ss.hash)
    abort();
  if (rw == 0 && (whole.stats.skipped != split.stats.skipped ||
                  whole.stats.skipped_bytes != split.stats.skipped_bytes ||
                  capsule_parser_mid_capsule(&whole) !=
                      capsule_parser_mid_capsule(&split)))
    abort();
  /* a failed parser stays failed */
  if (rw != 0 && capsule_parser_feed(&whole, data, size) == 0)
    abort();
  capsule_parser_free(&whole);
  capsule_parser_free(&split);
  return 0;
}
