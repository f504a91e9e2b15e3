/* Unit tests for tun/vnet: TCP/UDP segmentation and TCP coalescing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "tun/net_bytes.h"
#include "tun/vnet.h"

#define BUF (JVPN_TUN_BUF + 64)
#define OPT_LEN 12 /* NOP NOP timestamp */

/* --- An independent reference: RFC 1071 by the book -------------------- */

static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len) {
  size_t i;

  for (i = 0; i < len; i++)
    sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
  return sum;
}

static uint16_t ref_fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

static size_t iphl(const uint8_t *ip) {
  return (ip[0] >> 4) == 4 ? (size_t)(ip[0] & 15) * 4 : 40;
}

/* The pseudo-header sum for the transport segment of |ip|. */
static uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4len) {
  uint8_t ph[40];
  size_t n;

  memset(ph, 0, sizeof(ph));
  if ((ip[0] >> 4) == 4) {
    memcpy(ph, ip + 12, 8);
    ph[9] = proto;
    net_put16(ph + 10, (uint32_t)l4len);
    n = 12;
  } else {
    memcpy(ph, ip + 8, 32);
    net_put16(ph + 34, (uint32_t)l4len);
    ph[39] = proto;
    n = 40;
  }
  return ref_sum(0, ph, n);
}

/* Checks the IP header and the transport checksum of a whole packet. */
static void assert_packet_ok(const uint8_t *ip, size_t len) {
  size_t hl = iphl(ip);
  uint8_t proto = (ip[0] >> 4) == 4 ? ip[9] : ip[6];

  if ((ip[0] >> 4) == 4) {
    assert_int_equal(net_get16(ip + 2), len);
    assert_int_equal(ref_fold(ref_sum(0, ip, hl)), 0xffff);
  } else {
    assert_int_equal(net_get16(ip + 4) + 40, len);
  }
  if (proto == IPPROTO_UDP)
    assert_int_equal(net_get16(ip + hl + 4), len - hl);
  assert_int_equal(
      ref_fold(ref_sum(ref_pseudo(ip, proto, len - hl), ip + hl, len - hl)),
      0xffff);
}

/* --- Packets built by hand --------------------------------------------- */

static uint8_t payload_byte(size_t i) {
  return (uint8_t)(i * 7 + 3);
}

/* An IP header (v4: 198.18.0.2 -> 198.18.0.1, ID 0x1234, DF, TTL 64; v6:
 * fd00::2 -> fd00::1, hop limit 64) for |proto| and |l4len| bytes. */
static size_t put_ip(uint8_t *p, int family, uint8_t proto, size_t l4len) {
  if (family == 4) {
    memset(p, 0, 20);
    p[0] = 0x45;
    net_put16(p + 2, (uint32_t)(20 + l4len));
    net_put16(p + 4, 0x1234);
    p[6] = 0x40;
    p[8] = 64;
    p[9] = proto;
    p[12] = 198, p[13] = 18, p[15] = 2;
    p[16] = 198, p[17] = 18, p[19] = 1;
    net_put16(p + 10, (uint16_t)~ref_fold(ref_sum(0, p, 20)));
    return 20;
  }
  memset(p, 0, 40);
  p[0] = 0x60;
  net_put16(p + 4, (uint32_t)l4len);
  p[6] = proto;
  p[7] = 64;
  p[8] = 0xfd, p[23] = 2;
  p[24] = 0xfd, p[39] = 1;
  return 40;
}

/* A TCP packet (ACK | |flags|, seq |seq|, timestamp option) carrying
 * |n| payload bytes from offset |from| of the pattern. |full| gives it a
 * complete checksum; otherwise the field holds the pseudo-header sum, as
 * the kernel leaves it with NEEDS_CSUM. Returns its length. */
static size_t make_tcp(uint8_t *p, int family, uint8_t flags, uint32_t seq,
                       size_t from, size_t n, int full) {
  size_t hl = put_ip(p, family, IPPROTO_TCP, 20 + OPT_LEN + n), i;
  uint8_t *th = p + hl;
  uint16_t c;

  memset(th, 0, 20 + OPT_LEN);
  net_put16(th, 40000);
  net_put16(th + 2, 5201);
  th[4] = (uint8_t)(seq >> 24), th[5] = (uint8_t)(seq >> 16);
  th[6] = (uint8_t)(seq >> 8), th[7] = (uint8_t)seq;
  th[8] = 0xaa, th[11] = 0x55; /* ack */
  th[12] = (20 + OPT_LEN) / 4 << 4;
  th[13] = (uint8_t)(0x10 | flags);
  net_put16(th + 14, 512);
  th[20] = 1, th[21] = 1, th[22] = 8, th[23] = 10;
  th[27] = 9, th[31] = 7; /* TSval 9, TSecr 7 */
  for (i = 0; i < n; i++)
    th[20 + OPT_LEN + i] = payload_byte(from + i);
  c = ref_fold(ref_pseudo(p, IPPROTO_TCP, 20 + OPT_LEN + n));
  if (full)
    c = (uint16_t)~ref_fold(ref_sum(c, th, 20 + OPT_LEN + n));
  net_put16(th + 16, c);
  return hl + 20 + OPT_LEN + n;
}

static size_t make_udp(uint8_t *p, int family, size_t n, int full) {
  size_t hl = put_ip(p, family, IPPROTO_UDP, 8 + n), i;
  uint8_t *uh = p + hl;
  uint16_t c;

  net_put16(uh, 40000);
  net_put16(uh + 2, 53);
  net_put16(uh + 4, (uint32_t)(8 + n));
  net_put16(uh + 6, 0);
  for (i = 0; i < n; i++)
    uh[8 + i] = payload_byte(i);
  c = ref_fold(ref_pseudo(p, IPPROTO_UDP, 8 + n));
  if (full)
    c = (uint16_t)~ref_fold(ref_sum(c, uh, 8 + n));
  net_put16(uh + 6, c);
  return hl + 8 + n;
}

static void put_vnet(uint8_t *buf, uint8_t gso, uint16_t size, uint16_t start,
                     uint16_t off) {
  struct vnet_hdr h = {VNET_F_NEEDS_CSUM, gso, 0, size, start, off};

  vnet_hdr_put(buf, &h);
}

/* A TCP super-packet of |n| payload bytes after a virtio-net header. */
static size_t make_super_tcp(uint8_t *buf, int family, uint8_t flags, size_t n,
                             uint16_t mss) {
  size_t len = make_tcp(buf + JVPN_VNET_HDR_LEN, family, flags, 1000, 0, n, 0);

  put_vnet(buf, family == 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6, mss,
           family == 4 ? 20 : 40, 16);
  return JVPN_VNET_HDR_LEN + len;
}

/* --- Segmentation ------------------------------------------------------ */

/* Cuts a TCP super-packet and checks every segment against the pattern. */
static void split_tcp(int family, size_t n, uint16_t mss, uint8_t flags) {
  uint8_t *buf = malloc(BUF);
  struct vnet_seg s;
  const uint8_t *seg;
  size_t len, off = 0, hl = family == 4 ? 20 : 40, hdr = hl + 20 + OPT_LEN;
  size_t nseg = n == 0 ? 1 : (n + mss - 1) / mss, k = 0, i;

  assert_non_null(buf);
  len = make_super_tcp(buf, family, flags, n, mss);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), 0);
  while ((seg = vnet_seg_next(&s, &len)) != NULL) {
    size_t want = n - off < mss ? n - off : mss;
    const uint8_t *th = seg + hl;
    uint8_t fl = (uint8_t)(0x10 | flags);

    assert_true(k < nseg);
    assert_int_equal(len, hdr + want);
    assert_packet_ok(seg, len);
    if (family == 4)
      assert_int_equal(net_get16(seg + 4), (0x1234 + k) & 0xffff);
    assert_int_equal(net_get32(th + 4), 1000 + off);
    if (k > 0)
      fl &= (uint8_t)~0x80;
    if (k + 1 < nseg)
      fl &= (uint8_t)~0x09;
    assert_int_equal(th[13], fl);
    assert_int_equal(net_get32(th + 8), 0xaa000055);
    assert_int_equal(th[22], 8); /* options kept */
    for (i = 0; i < want; i++)
      assert_int_equal(th[20 + OPT_LEN + i], payload_byte(off + i));
    off += want;
    k++;
  }
  assert_int_equal(k, nseg);
  assert_int_equal(off, n);
  free(buf);
}

static void test_split_v4(void **state) {
  (void)state;
  split_tcp(4, 10000, 1360, 0x08);
  split_tcp(4, 1360 * 4, 1360, 0x08 | 0x01 | 0x80); /* PSH FIN CWR */
  split_tcp(4, 100, 1360, 0x08);                    /* one segment */
}

static void test_split_v6(void **state) {
  (void)state;
  split_tcp(6, 10001, 1340, 0x08 | 0x01);
  split_tcp(6, 1340 * 3, 1340, 0x80);
}

static void test_split_bounds(void **state) {
  (void)state;
  split_tcp(4, 300, 1, 0x08);                       /* gso_size 1 */
  split_tcp(4, 65535 - 20 - 20 - OPT_LEN, 1388, 0); /* a full 64 KB */
  split_tcp(6, 65535 - 40 - 20 - OPT_LEN, 1000, 0x08);
  split_tcp(4, 65535 - 20 - 20 - OPT_LEN, 65535, 0); /* gso beyond it */
}

static void test_split_udp(void **state) {
  static const int fams[] = {4, 6};
  uint8_t *buf = malloc(BUF);
  size_t f;

  (void)state;
  assert_non_null(buf);
  for (f = 0; f < 2; f++) {
    struct vnet_seg s;
    const uint8_t *seg;
    size_t hl = fams[f] == 4 ? 20 : 40, len, off = 0, k = 0, i;

    len = make_udp(buf + JVPN_VNET_HDR_LEN, fams[f], 3000, 0);
    put_vnet(buf, VNET_GSO_UDP_L4, 1200, (uint16_t)hl, 6);
    assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1), 0);
    while ((seg = vnet_seg_next(&s, &len)) != NULL) {
      size_t want = 3000 - off < 1200 ? 3000 - off : 1200;

      assert_int_equal(len, hl + 8 + want);
      assert_packet_ok(seg, len);
      for (i = 0; i < want; i++)
        assert_int_equal(seg[hl + 8 + i], payload_byte(off + i));
      off += want;
      k++;
    }
    assert_int_equal(k, 3);
  }
  free(buf);
}

/* gso_type NONE with NEEDS_CSUM: one packet, its checksum completed. */
static void test_csum_only(void **state) {
  uint8_t buf[2048];
  struct vnet_seg s;
  const uint8_t *seg;
  size_t len;

  (void)state;
  len = make_tcp(buf + JVPN_VNET_HDR_LEN, 6, 0x08, 5, 0, 777, 0);
  put_vnet(buf, VNET_GSO_NONE, 0, 40, 16);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1), 0);
  seg = vnet_seg_next(&s, &len);
  assert_non_null(seg);
  assert_packet_ok(seg, len);
  assert_null(vnet_seg_next(&s, &len));

  len = make_udp(buf + JVPN_VNET_HDR_LEN, 4, 333, 0);
  put_vnet(buf, VNET_GSO_NONE, 0, 20, 6);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1), 0);
  seg = vnet_seg_next(&s, &len);
  assert_non_null(seg);
  assert_packet_ok(seg, len);

  /* No flags: passed as it is; no header at all: the same. */
  memset(buf, 0, JVPN_VNET_HDR_LEN);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1), 0);
  seg = vnet_seg_next(&s, &len);
  assert_ptr_equal(seg, buf + JVPN_VNET_HDR_LEN);
  assert_int_equal(vnet_seg_init(&s, buf, 40, 0), 0);
  assert_ptr_equal(vnet_seg_next(&s, &len), buf);
  assert_int_equal(len, 40);
  assert_null(vnet_seg_next(&s, &len));
}

static void test_split_malformed(void **state) {
  uint8_t *buf = malloc(BUF);
  struct vnet_seg s;
  size_t len;

  (void)state;
  assert_non_null(buf);
  assert_int_equal(vnet_seg_init(&s, buf, 9, 1), JVPN_ERR_TRUNCATED);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_TUN_BUF + 1, 1),
                   JVPN_ERR_OVERSIZE);
  /* TCPV4 on an IPv6 packet, and the reverse. */
  len = make_super_tcp(buf, 6, 0, 3000, 1000);
  buf[1] = VNET_GSO_TCPV4;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  len = make_super_tcp(buf, 4, 0, 3000, 1000);
  buf[1] = VNET_GSO_TCPV6;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  /* gso_size 0, no NEEDS_CSUM, a checksum elsewhere. */
  len = make_super_tcp(buf, 4, 0, 3000, 0);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  len = make_super_tcp(buf, 4, 0, 3000, 1000);
  buf[0] = 0;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  len = make_super_tcp(buf, 4, 0, 3000, 1000);
  put_vnet(buf, VNET_GSO_TCPV4, 1000, 24, 16);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  put_vnet(buf, VNET_GSO_TCPV4, 1000, 20, 6);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  /* UFO and unknown types. */
  put_vnet(buf, VNET_GSO_UDP, 1000, 20, 16);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_UNSUPPORTED);
  put_vnet(buf, 99, 1000, 20, 16);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_UNSUPPORTED);
  /* A fragment; a TCP header longer than the packet; a short IP header. */
  len = make_super_tcp(buf, 4, 0, 3000, 1000);
  buf[JVPN_VNET_HDR_LEN + 6] |= 0x20;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  len = make_super_tcp(buf, 4, 0, 0, 1000);
  buf[JVPN_VNET_HDR_LEN + 20 + 12] = 0xf0;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_TRUNCATED);
  buf[JVPN_VNET_HDR_LEN + 20 + 12] = 0x40;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  len = make_super_tcp(buf, 4, 0, 3000, 1000);
  buf[JVPN_VNET_HDR_LEN] = 0x44;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  buf[JVPN_VNET_HDR_LEN] = 0x4f;
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + 40, 1),
                   JVPN_ERR_TRUNCATED);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + 10, 1),
                   JVPN_ERR_TRUNCATED);
  /* IPv6 with an extension header before TCP; an unknown version. */
  len = make_super_tcp(buf, 6, 0, 3000, 1000);
  buf[JVPN_VNET_HDR_LEN + 6] = 0;
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_UNSUPPORTED);
  buf[JVPN_VNET_HDR_LEN] = 0x50;
  put_vnet(buf, VNET_GSO_UDP_L4, 1000, 40, 6);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), JVPN_ERR_MALFORMED);
  /* NONE with a checksum field outside the packet. */
  len = make_udp(buf + JVPN_VNET_HDR_LEN, 4, 10, 0);
  put_vnet(buf, VNET_GSO_NONE, 0, 20, 17);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1),
                   JVPN_ERR_MALFORMED);
  put_vnet(buf, VNET_GSO_NONE, 0, 38, 0);
  assert_int_equal(vnet_seg_init(&s, buf, JVPN_VNET_HDR_LEN + len, 1),
                   JVPN_ERR_MALFORMED);
  free(buf);
}

/* --- Coalescing -------------------------------------------------------- */

#define MAX_WRITES 256

struct capture {
  size_t n;
  struct vnet_hdr h[MAX_WRITES];
  uint8_t *pkt[MAX_WRITES];
  size_t len[MAX_WRITES];
  unsigned nseg[MAX_WRITES];
};

static void on_write(void *user, const struct vnet_hdr *h, const uint8_t *pkt,
                     size_t len, unsigned nseg) {
  struct capture *c = user;

  assert_true(c->n < MAX_WRITES);
  c->h[c->n] = *h;
  c->pkt[c->n] = malloc(len);
  assert_non_null(c->pkt[c->n]);
  memcpy(c->pkt[c->n], pkt, len);
  c->len[c->n] = len;
  c->nseg[c->n] = nseg;
  c->n++;
}

static void capture_free(struct capture *c) {
  size_t i;

  for (i = 0; i < c->n; i++)
    free(c->pkt[i]);
  c->n = 0;
}

/* What the kernel does with a NEEDS_CSUM packet: sums from csum_start to
 * the end over the seed in the field. */
static void finish_csum(uint8_t *p, size_t len, const struct vnet_hdr *h) {
  uint8_t *f = p + h->csum_start + h->csum_offset;

  net_put16(f, (uint16_t)~ref_fold(
                   ref_sum(0, p + h->csum_start, len - h->csum_start)));
}

/* Checks that write |i| is one merged TCP super-packet holding the
 * pattern from |from| for |n| bytes at sequence number |seq|. */
static void assert_merged(struct capture *c, size_t i, int family, uint32_t seq,
                          size_t from, size_t n, uint16_t mss) {
  const struct vnet_hdr *h = &c->h[i];
  size_t hl = family == 4 ? 20 : 40, hdr = hl + 20 + OPT_LEN, k;
  uint8_t *p = c->pkt[i];

  assert_int_equal(c->len[i], hdr + n);
  if (c->nseg[i] > 1) {
    assert_int_equal(h->flags, VNET_F_NEEDS_CSUM);
    assert_int_equal(h->gso_type,
                     family == 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6);
    assert_int_equal(h->gso_size, mss);
    assert_int_equal(h->hdr_len, hdr);
    assert_int_equal(h->csum_start, hl);
    assert_int_equal(h->csum_offset, 16);
    finish_csum(p, c->len[i], h);
  } else {
    assert_int_equal(h->flags, 0);
    assert_int_equal(h->gso_type, VNET_GSO_NONE);
  }
  assert_packet_ok(p, c->len[i]);
  assert_int_equal(net_get32(p + hl + 4), seq);
  for (k = 0; k < n; k++)
    assert_int_equal(p[hdr + k], payload_byte(from + k));
}

/* Splits a super-packet and coalesces its segments again. */
static void roundtrip(int family, size_t n, uint16_t mss) {
  uint8_t *buf = malloc(BUF);
  struct capture *c = calloc(1, sizeof(*c));
  struct vnet_gro *g = vnet_gro_new(on_write, c);
  struct vnet_seg s;
  const uint8_t *seg;
  size_t len;

  assert_non_null(buf);
  assert_non_null(c);
  assert_non_null(g);
  len = make_super_tcp(buf, family, 0x08, n, mss);
  assert_int_equal(vnet_seg_init(&s, buf, len, 1), 0);
  while ((seg = vnet_seg_next(&s, &len)) != NULL)
    vnet_gro_add(g, seg, len);
  vnet_gro_flush(g);
  /* PSH on the last segment flushed the flow: one write. */
  assert_int_equal(c->n, 1);
  assert_int_equal(c->nseg[0], (n + mss - 1) / mss);
  assert_merged(c, 0, family, 1000, 0, n, mss);
  assert_int_equal(c->pkt[0][(family == 4 ? 20 : 40) + 13], 0x18);
  capture_free(c);
  vnet_gro_del(g);
  free(c);
  free(buf);
}

static void test_roundtrip(void **state) {
  (void)state;
  roundtrip(4, 10000, 1360);
  roundtrip(6, 10000, 1340);
  roundtrip(4, 1360 * 8, 1360);
  roundtrip(4, 65535 - 20 - 20 - OPT_LEN, 1388);
  roundtrip(6, 65535 - 40 - 20 - OPT_LEN, 1000);
  roundtrip(4, 64, 1);
}

struct gro_fixture {
  struct capture c;
  struct vnet_gro *g;
  uint8_t pkt[2048];
};

static int gro_setup(void **state) {
  struct gro_fixture *f = calloc(1, sizeof(*f));

  if (f == NULL)
    return -1;
  f->g = vnet_gro_new(on_write, &f->c);
  *state = f;
  return f->g == NULL ? -1 : 0;
}

static int gro_teardown(void **state) {
  struct gro_fixture *f = *state;

  capture_free(&f->c);
  vnet_gro_del(f->g);
  free(f);
  return 0;
}

static void add_tcp(struct gro_fixture *f, int family, uint8_t flags,
                    uint32_t seq, size_t n) {
  size_t len = make_tcp(f->pkt, family, flags, seq, seq - 1000, n, 1);

  vnet_gro_add(f->g, f->pkt, len);
}

/* Out of sequence: the flow is written, a new one begins. */
static void test_gro_gap(void **state) {
  struct gro_fixture *f = *state;

  add_tcp(f, 4, 0, 1000, 1000);
  add_tcp(f, 4, 0, 2000, 1000);
  add_tcp(f, 4, 0, 4000, 1000); /* 3000..3999 lost */
  add_tcp(f, 4, 0, 5000, 1000);
  assert_int_equal(f->c.n, 1);
  vnet_gro_flush(f->g);
  assert_int_equal(f->c.n, 2);
  assert_merged(&f->c, 0, 4, 1000, 0, 2000, 1000);
  assert_merged(&f->c, 1, 4, 4000, 3000, 2000, 1000);
}

/* A shorter segment ends the flow; a longer one cannot follow. */
static void test_gro_sizes(void **state) {
  struct gro_fixture *f = *state;

  add_tcp(f, 6, 0, 1000, 1000);
  add_tcp(f, 6, 0, 2000, 500);
  assert_int_equal(f->c.n, 1);
  assert_merged(&f->c, 0, 6, 1000, 0, 1500, 1000);
  add_tcp(f, 6, 0, 2500, 500);
  add_tcp(f, 6, 0, 3000, 600);
  vnet_gro_flush(f->g);
  assert_int_equal(f->c.n, 3);
  assert_merged(&f->c, 1, 6, 2500, 1500, 500, 500);
  assert_merged(&f->c, 2, 6, 3000, 2000, 600, 600);
}

/* Interleaved flows both merge; other flags, other TTLs, bad checksums,
 * IPv4 options and non-TCP packets pass alone, in their flow's order. */
static void test_gro_flows(void **state) {
  struct gro_fixture *f = *state;
  size_t len, i;

  add_tcp(f, 4, 0, 1000, 1000);
  add_tcp(f, 6, 0, 1000, 1000);
  add_tcp(f, 4, 0, 2000, 1000);
  add_tcp(f, 6, 0, 2000, 1000);
  assert_int_equal(f->c.n, 0);
  add_tcp(f, 4, 0x01, 3000, 1000); /* FIN: the v4 flow, then the FIN */
  assert_int_equal(f->c.n, 2);
  assert_merged(&f->c, 0, 4, 1000, 0, 2000, 1000);
  assert_merged(&f->c, 1, 4, 3000, 2000, 1000, 1000);
  vnet_gro_flush(f->g);
  assert_int_equal(f->c.n, 3);
  assert_merged(&f->c, 2, 6, 1000, 0, 2000, 1000);

  /* Another TTL. */
  add_tcp(f, 4, 0, 1000, 1000);
  len = make_tcp(f->pkt, 4, 0, 2000, 1000, 1000, 1);
  f->pkt[8] = 63;
  net_put16(f->pkt + 10, 0);
  net_put16(f->pkt + 10, (uint16_t)~ref_fold(ref_sum(0, f->pkt, 20)));
  vnet_gro_add(f->g, f->pkt, len);
  vnet_gro_flush(f->g);
  assert_int_equal(f->c.n, 5);
  assert_int_equal(f->c.nseg[3], 1);
  assert_int_equal(f->c.nseg[4], 1);

  /* A bad TCP checksum passes alone (for the kernel to drop). */
  add_tcp(f, 6, 0, 1000, 1000);
  len = make_tcp(f->pkt, 6, 0, 2000, 1000, 1000, 1);
  f->pkt[len - 1] ^= 1;
  vnet_gro_add(f->g, f->pkt, len);
  assert_int_equal(f->c.n, 7);
  assert_memory_equal(f->c.pkt[6], f->pkt, len);

  /* UDP and garbage pass alone. */
  len = make_udp(f->pkt, 4, 100, 1);
  vnet_gro_add(f->g, f->pkt, len);
  assert_int_equal(f->c.n, 8);
  vnet_gro_add(f->g, f->pkt, 3);
  vnet_gro_add(f->g, f->pkt, 0);
  assert_int_equal(f->c.n, 10);
  for (i = 7; i < 10; i++)
    assert_int_equal(f->c.h[i].gso_type, VNET_GSO_NONE);
}

/* More flows than slots: the oldest is written to make room; nothing is
 * lost and each flow stays merged. */
static void test_gro_many_flows(void **state) {
  struct gro_fixture *f = *state;
  size_t i, total = 0, len;

  for (i = 0; i < JVPN_GRO_FLOWS + 3; i++) {
    len = make_tcp(f->pkt, 4, 0, 1000, 0, 1000, 0);
    net_put16(f->pkt + 20, (uint32_t)(30000 + i)); /* another source port */
    net_put16(f->pkt + 36, 0);
    net_put16(f->pkt + 36, (uint16_t)~ref_fold(ref_sum(
                               ref_pseudo(f->pkt, IPPROTO_TCP, len - 20),
                               f->pkt + 20, len - 20)));
    vnet_gro_add(f->g, f->pkt, len);
  }
  assert_int_equal(f->c.n, 3);
  vnet_gro_flush(f->g);
  assert_int_equal(f->c.n, JVPN_GRO_FLOWS + 3);
  for (i = 0; i < f->c.n; i++) {
    assert_packet_ok(f->c.pkt[i], f->c.len[i]);
    assert_int_equal(net_get16(f->c.pkt[i] + 20), 30000 + i); /* oldest first */
    total += f->c.len[i];
  }
  assert_int_equal(total, (JVPN_GRO_FLOWS + 3) * len);
}

/* Nothing past 64 KB: a full flow is written and the next one begins. */
static void test_gro_full(void **state) {
  struct gro_fixture *f = *state;
  uint32_t seq = 1000;
  size_t i, sum = 0;

  for (i = 0; i < 60; i++, seq += 1400)
    add_tcp(f, 6, 0, seq, 1400);
  vnet_gro_flush(f->g);
  assert_true(f->c.n >= 2);
  for (i = 0; i < f->c.n; i++) {
    assert_true(f->c.len[i] <= JVPN_MAX_PACKET);
    sum += f->c.len[i] - 40 - 20 - OPT_LEN;
    if (f->c.nseg[i] > 1)
      finish_csum(f->c.pkt[i], f->c.len[i], &f->c.h[i]);
    assert_packet_ok(f->c.pkt[i], f->c.len[i]);
  }
  assert_int_equal(sum, 60 * 1400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_v4),
      cmocka_unit_test(test_split_v6),
      cmocka_unit_test(test_split_bounds),
      cmocka_unit_test(test_split_udp),
      cmocka_unit_test(test_csum_only),
      cmocka_unit_test(test_split_malformed),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test_setup_teardown(test_gro_gap, gro_setup, gro_teardown),
      cmocka_unit_test_setup_teardown(test_gro_sizes, gro_setup, gro_teardown),
      cmocka_unit_test_setup_teardown(test_gro_flows, gro_setup, gro_teardown),
      cmocka_unit_test_setup_teardown(test_gro_many_flows, gro_setup,
                                      gro_teardown),
      cmocka_unit_test_setup_teardown(test_gro_full, gro_setup, gro_teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
