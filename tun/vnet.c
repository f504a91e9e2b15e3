/* jvpn-quic: TUN offloads, segmentation and coalescing (tun/vnet.h). */
#include "tun/vnet.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "tun/inet_csum.h"
#include "tun/net_bytes.h"

#define IPV4_HDR 20
#define IPV6_HDR 40
#define TCP_HDR 20
#define UDP_HDR 8
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_CWR 0x80

int vnet_hdr_parse(const uint8_t *p, size_t len, struct vnet_hdr *h) {
  if (len < JVPN_VNET_HDR_LEN)
    return JVPN_ERR_TRUNCATED;
  h->flags = p[0];
  h->gso_type = p[1];
  memcpy(&h->hdr_len, p + 2, 2);
  memcpy(&h->gso_size, p + 4, 2);
  memcpy(&h->csum_start, p + 6, 2);
  memcpy(&h->csum_offset, p + 8, 2);
  return 0;
}

void vnet_hdr_put(uint8_t *p, const struct vnet_hdr *h) {
  p[0] = h->flags;
  p[1] = h->gso_type;
  memcpy(p + 2, &h->hdr_len, 2);
  memcpy(p + 4, &h->gso_size, 2);
  memcpy(p + 6, &h->csum_start, 2);
  memcpy(p + 8, &h->csum_offset, 2);
}

/* The pseudo-header sum (RFC 793 3.1, RFC 8200 8.1) of the IP packet at
 * |ip| for a transport segment of |l4len| bytes. */
static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len) {
  uint32_t sum;

  if ((ip[0] >> 4) == 4)
    sum = inet_csum_add(0, ip + 12, 8);
  else
    sum = inet_csum_add(0, ip + 8, 32);
  return sum + proto + (uint32_t)l4len;
}

/* The IPv4 header checksum, written into the header. */
static void ipv4_csum_set(uint8_t *ip, size_t hl) {
  net_put16(ip + 10, 0);
  net_put16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, hl)));
}

/* The transport checksum of the segment at |l4| (|l4len| bytes), written
 * into it. A UDP checksum that comes out 0 is sent as 0xffff (RFC 768: 0
 * means "none"); for TCP the two are the same number. */
static void l4_csum_set(uint8_t *ip, uint8_t *l4, uint8_t proto, size_t l4len) {
  size_t at = proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF;
  uint16_t c;

  net_put16(l4 + at, 0);
  c = inet_csum_fold(inet_csum_add(pseudo_sum(ip, proto, l4len), l4, l4len));
  net_put16(l4 + at, c == 0 && proto == IPPROTO_UDP ? 0xffff : c);
}

/* Checks the IP header of a super-packet the kernel wants cut, and finds
 * where its transport header starts. */
static int seg_ip(struct vnet_seg *s, uint8_t gso) {
  const uint8_t *p = s->pkt;
  size_t hl;

  if (s->len < 1)
    return JVPN_ERR_TRUNCATED;
  s->family = p[0] >> 4;
  if ((gso == VNET_GSO_TCPV4 && s->family != 4) ||
      (gso == VNET_GSO_TCPV6 && s->family != 6))
    return JVPN_ERR_MALFORMED;
  s->proto = gso == VNET_GSO_UDP_L4 ? IPPROTO_UDP : IPPROTO_TCP;
  if (s->family == 4) {
    if (s->len < IPV4_HDR)
      return JVPN_ERR_TRUNCATED;
    hl = (size_t)(p[0] & 0x0f) * 4;
    if (hl < IPV4_HDR)
      return JVPN_ERR_MALFORMED;
    if (net_get16(p + 6) & (IP_MF | IP_OFFMASK))
      return JVPN_ERR_MALFORMED; /* a fragment cannot be segmented */
    if (p[9] != s->proto)
      return JVPN_ERR_MALFORMED;
  } else if (s->family == 6) {
    if (s->len < IPV6_HDR)
      return JVPN_ERR_TRUNCATED;
    hl = IPV6_HDR;
    if (p[6] != s->proto)
      return JVPN_ERR_UNSUPPORTED; /* extension headers */
  } else {
    return JVPN_ERR_MALFORMED;
  }
  if (hl > s->len)
    return JVPN_ERR_TRUNCATED;
  s->l4 = hl;
  return 0;
}

static int seg_gso(struct vnet_seg *s, const struct vnet_hdr *h, uint8_t gso) {
  size_t thl;
  int rv;

  if (gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6 && gso != VNET_GSO_UDP_L4)
    return JVPN_ERR_UNSUPPORTED;
  if (!(h->flags & VNET_F_NEEDS_CSUM) || h->gso_size == 0)
    return JVPN_ERR_MALFORMED;
  rv = seg_ip(s, gso);
  if (rv != 0)
    return rv;
  if (h->csum_start != s->l4 ||
      h->csum_offset != (s->proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF))
    return JVPN_ERR_MALFORMED;
  if (s->proto == IPPROTO_TCP) {
    if (s->len < s->l4 + TCP_HDR)
      return JVPN_ERR_TRUNCATED;
    thl = (size_t)(s->pkt[s->l4 + 12] >> 4) * 4;
    if (thl < TCP_HDR)
      return JVPN_ERR_MALFORMED;
  } else {
    thl = UDP_HDR;
  }
  /* The kernel's hdr_len is only a hint (it may include payload that
   * happens to sit in the linear part of its buffer): ours is exact. */
  s->hdr = s->l4 + thl;
  if (s->hdr > s->len)
    return JVPN_ERR_TRUNCATED;
  if (s->hdr > sizeof(s->tmpl))
    return JVPN_ERR_MALFORMED;
  memcpy(s->tmpl, s->pkt, s->hdr);
  s->mss = h->gso_size;
  s->mode = VNET_SEG_GSO;
  return 0;
}

int vnet_seg_init(struct vnet_seg *s, uint8_t *buf, size_t len, int has_vnet) {
  struct vnet_hdr h;
  uint8_t gso;
  int rv;

  memset(s, 0, offsetof(struct vnet_seg, tmpl));
  s->pkt = buf;
  s->len = len;
  s->mode = VNET_SEG_WHOLE;
  if (!has_vnet)
    return 0;
  rv = vnet_hdr_parse(buf, len, &h);
  if (rv != 0)
    return rv;
  s->pkt = buf + JVPN_VNET_HDR_LEN;
  s->len = len - JVPN_VNET_HDR_LEN;
  if (s->len > JVPN_MAX_PACKET)
    return JVPN_ERR_OVERSIZE;
  gso = h.gso_type & (uint8_t)~VNET_GSO_ECN;
  if (gso != VNET_GSO_NONE)
    return seg_gso(s, &h, gso);
  if (!(h.flags & VNET_F_NEEDS_CSUM))
    return 0;
  /* One packet whose checksum the kernel left to us. */
  if (h.csum_start >= s->len ||
      (size_t)h.csum_offset + 2 > s->len - h.csum_start)
    return JVPN_ERR_MALFORMED;
  s->l4 = h.csum_start;
  s->mss = h.csum_offset;
  s->mode = VNET_SEG_CSUM;
  return 0;
}

/* Finishes a checksum the kernel started: the field holds the
 * pseudo-header's sum, so the sum from csum_start to the end is the
 * whole one. csum_offset 6 is where UDP keeps its checksum (which may not
 * be sent as 0); TCP's and ICMPv6's are elsewhere. */
static void seg_csum(struct vnet_seg *s) {
  uint8_t *f = s->pkt + s->l4 + s->mss;
  uint16_t c = inet_csum_fold(inet_csum_add(0, s->pkt + s->l4, s->len - s->l4));

  net_put16(f, c == 0 && s->mss == UDP_CSUM_OFF ? 0xffff : c);
}

const uint8_t *vnet_seg_next(struct vnet_seg *s, size_t *len) {
  size_t payload, n, total;
  uint8_t *p, *l4;

  if (s->mode != VNET_SEG_GSO) {
    if (s->idx > 0)
      return NULL;
    s->idx = 1;
    if (s->mode == VNET_SEG_CSUM)
      seg_csum(s);
    *len = s->len;
    return s->pkt;
  }
  payload = s->len - s->hdr;
  if (s->idx > 0 && s->off >= payload)
    return NULL;
  n = payload - s->off < s->mss ? payload - s->off : s->mss;
  total = s->hdr + n;
  /* Segment k's header goes just before its payload, over the tail of
   * segment k-1, which the caller has taken already. */
  p = s->pkt + s->off;
  memmove(p, s->tmpl, s->hdr);
  l4 = p + s->l4;
  if (s->family == 4) {
    net_put16(p + 2, (uint32_t)total);
    net_put16(p + 4, net_get16(s->tmpl + 4) + s->idx);
    ipv4_csum_set(p, s->l4);
  } else {
    net_put16(p + 4, (uint32_t)(total - IPV6_HDR));
  }
  if (s->proto == IPPROTO_TCP) {
    uint8_t fl = l4[13];

    net_put32(l4 + 4, net_get32(s->tmpl + s->l4 + 4) + (uint32_t)s->off);
    if (s->idx > 0)
      fl &= (uint8_t)~TH_CWR;
    if (s->off + n < payload)
      fl &= (uint8_t) ~(TH_FIN | TH_PSH);
    l4[13] = fl;
  } else {
    net_put16(l4 + 4, (uint32_t)(total - s->l4));
  }
  l4_csum_set(p, l4, s->proto, total - s->l4);
  s->off += n;
  s->idx++;
  *len = total;
  return p;
}

/* --- Coalescing ---------------------------------------------------------- */

struct gro_flow {
  uint8_t *buf;      /* the super-packet: the first segment's headers */
  size_t len;        /* 0: the slot is free */
  size_t l4;         /* IP header length */
  size_t hdr;        /* IP + TCP header length */
  uint32_t next_seq; /* the sequence number that may follow */
  uint16_t mss;      /* the first segment's payload: gso_size */
  unsigned nseg;
  uint64_t born; /* for choosing the oldest slot */
};

struct vnet_gro {
  vnet_write_fn write;
  void *user;
  uint64_t clock; /* counts flows started, not time */
  struct gro_flow flow[JVPN_GRO_FLOWS];
};

/* What vnet_gro_add needs to know about a packet. */
struct tcp_view {
  int family; /* 0: not TCP over IPv4/IPv6 that we can read */
  int mergeable;
  size_t l4, hdr, payload;
  uint32_t seq;
  uint8_t flags;
};

/* The full checksum of a received TCP segment, pseudo-header included. A
 * segment that fails it is never merged: the merged packet's checksum is
 * left to the kernel to trust, so it must be right for every part. */
static int tcp_csum_ok(const uint8_t *pkt, size_t l4, size_t len) {
  uint32_t sum = pseudo_sum(pkt, IPPROTO_TCP, len - l4);

  return inet_csum_fold(inet_csum_add(sum, pkt + l4, len - l4)) == 0;
}

static void tcp_view(const uint8_t *pkt, size_t len, struct tcp_view *v) {
  const uint8_t *th;
  size_t thl;

  memset(v, 0, sizeof(*v));
  if (len < IPV4_HDR)
    return;
  if ((pkt[0] >> 4) == 4) {
    size_t hl = (size_t)(pkt[0] & 0x0f) * 4;

    if (hl < IPV4_HDR || hl > len || net_get16(pkt + 2) != len ||
        pkt[9] != IPPROTO_TCP)
      return;
    if (net_get16(pkt + 6) & (IP_MF | IP_OFFMASK))
      return;
    v->l4 = hl;
    v->mergeable =
        hl == IPV4_HDR && inet_csum_fold(inet_csum_add(0, pkt, hl)) == 0;
  } else if ((pkt[0] >> 4) == 6) {
    if (len < IPV6_HDR || (size_t)net_get16(pkt + 4) + IPV6_HDR != len ||
        pkt[6] != IPPROTO_TCP)
      return;
    v->l4 = IPV6_HDR;
    v->mergeable = 1;
  } else {
    return;
  }
  if (len < v->l4 + TCP_HDR)
    return;
  th = pkt + v->l4;
  thl = (size_t)(th[12] >> 4) * 4;
  if (thl < TCP_HDR || v->l4 + thl > len)
    return;
  v->family = pkt[0] >> 4;
  v->hdr = v->l4 + thl;
  v->payload = len - v->hdr;
  v->seq = net_get32(th + 4);
  v->flags = th[13];
  /* Only plain data segments merge: ACK with or without PSH. */
  if (v->payload == 0 || (v->flags & (uint8_t)~TH_PSH) != TH_ACK ||
      th[12] & 0x0f)
    v->mergeable = 0;
  if (v->mergeable && !tcp_csum_ok(pkt, v->l4, len))
    v->mergeable = 0;
}

/* Same addresses and ports (the flow), given both are TCP of one family. */
static int same_flow(const struct gro_flow *f, const uint8_t *pkt,
                     const struct tcp_view *v) {
  const uint8_t *a = f->buf;

  if ((a[0] >> 4) != v->family)
    return 0;
  if (v->family == 4 ? memcmp(a + 12, pkt + 12, 8) != 0
                     : memcmp(a + 8, pkt + 8, 32) != 0)
    return 0;
  return memcmp(a + f->l4, pkt + v->l4, 4) == 0;
}

/* Whether |pkt| (of the flow |f|) can be appended to it. */
static int can_follow(const struct gro_flow *f, const uint8_t *pkt,
                      const struct tcp_view *v) {
  const uint8_t *a = f->buf, *ta = a + f->l4, *tb = pkt + v->l4;

  if (!v->mergeable || v->hdr != f->hdr || v->seq != f->next_seq)
    return 0;
  if (v->payload > f->mss || f->len + v->payload > JVPN_MAX_PACKET)
    return 0;
  if (v->family == 4) {
    /* TOS (with ECN), DF and TTL. */
    if (a[1] != pkt[1] || (a[6] ^ pkt[6]) & 0x40 || a[8] != pkt[8])
      return 0;
  } else {
    /* Traffic class, flow label, hop limit. */
    if (memcmp(a, pkt, 4) != 0 || a[7] != pkt[7])
      return 0;
  }
  /* Acknowledgment, flags but PSH, window, urgent pointer and options:
   * everything the receiver would read from one header for all. */
  return memcmp(ta + 8, tb + 8, 5) == 0 &&
         ((ta[13] ^ tb[13]) & (uint8_t)~TH_PSH) == 0 &&
         memcmp(ta + 14, tb + 14, 2) == 0 &&
         memcmp(ta + 18, tb + 18, f->hdr - f->l4 - 18) == 0;
}

static void flow_flush(struct vnet_gro *g, struct gro_flow *f) {
  struct vnet_hdr h;
  uint8_t *p = f->buf;

  if (f->len == 0)
    return;
  memset(&h, 0, sizeof(h));
  if (f->nseg > 1) {
    uint8_t *th = p + f->l4;
    uint16_t sum;

    if ((p[0] >> 4) == 4) {
      net_put16(p + 2, (uint32_t)f->len);
      ipv4_csum_set(p, f->l4);
      h.gso_type = VNET_GSO_TCPV4;
    } else {
      net_put16(p + 4, (uint32_t)(f->len - IPV6_HDR));
      h.gso_type = VNET_GSO_TCPV6;
    }
    /* NEEDS_CSUM: the field holds the pseudo-header's sum, uncomplemented,
     * and the kernel adds the rest (as for a packet from its own stack). */
    sum = inet_csum_fold(pseudo_sum(p, IPPROTO_TCP, f->len - f->l4));
    net_put16(th + TCP_CSUM_OFF, (uint16_t)~sum);
    h.flags = VNET_F_NEEDS_CSUM;
    h.gso_size = f->mss;
    h.hdr_len = (uint16_t)f->hdr;
    h.csum_start = (uint16_t)f->l4;
    h.csum_offset = TCP_CSUM_OFF;
  }
  g->write(g->user, &h, p, f->len, f->nseg);
  f->len = 0;
}

static void write_alone(struct vnet_gro *g, const uint8_t *pkt, size_t len) {
  struct vnet_hdr h;

  memset(&h, 0, sizeof(h));
  g->write(g->user, &h, pkt, len, 1);
}

struct vnet_gro *vnet_gro_new(vnet_write_fn write, void *user) {
  struct vnet_gro *g;
  uint8_t *arena;
  size_t i;

  g = calloc(1, sizeof(*g));
  if (g == NULL)
    return NULL;
  arena = malloc((size_t)JVPN_GRO_FLOWS * JVPN_MAX_PACKET);
  if (arena == NULL) {
    free(g);
    return NULL;
  }
  for (i = 0; i < JVPN_GRO_FLOWS; i++)
    g->flow[i].buf = arena + i * JVPN_MAX_PACKET;
  g->write = write;
  g->user = user;
  return g;
}

void vnet_gro_del(struct vnet_gro *g) {
  if (g == NULL)
    return;
  free(g->flow[0].buf);
  free(g);
}

void vnet_gro_add(struct vnet_gro *g, const uint8_t *pkt, size_t len) {
  struct gro_flow *f = NULL, *slot = NULL;
  struct tcp_view v;
  size_t i;

  tcp_view(pkt, len, &v);
  if (v.family == 0) {
    write_alone(g, pkt, len);
    return;
  }
  for (i = 0; i < JVPN_GRO_FLOWS; i++) {
    struct gro_flow *c = &g->flow[i];

    if (c->len == 0) {
      if (slot == NULL)
        slot = c;
    } else if (same_flow(c, pkt, &v)) {
      f = c;
      break;
    }
  }
  if (f != NULL && can_follow(f, pkt, &v)) {
    memcpy(f->buf + f->len, pkt + v.hdr, v.payload);
    f->len += v.payload;
    f->nseg++;
    f->next_seq += (uint32_t)v.payload;
    f->buf[f->l4 + 13] |= v.flags & TH_PSH;
    /* After PSH or a short segment nothing more can follow. */
    if (v.flags & TH_PSH || v.payload < f->mss)
      flow_flush(g, f);
    return;
  }
  if (f != NULL) {
    flow_flush(g, f); /* the flow's order is kept */
    slot = f;
  }
  if (!v.mergeable || v.flags & TH_PSH || len > JVPN_MAX_PACKET) {
    write_alone(g, pkt, len);
    return;
  }
  if (slot == NULL) {
    slot = &g->flow[0];
    for (i = 1; i < JVPN_GRO_FLOWS; i++)
      if (g->flow[i].born < slot->born)
        slot = &g->flow[i];
    flow_flush(g, slot);
  }
  memcpy(slot->buf, pkt, len);
  slot->len = len;
  slot->l4 = v.l4;
  slot->hdr = v.hdr;
  slot->mss = (uint16_t)v.payload;
  slot->next_seq = v.seq + (uint32_t)v.payload;
  slot->nseg = 1;
  slot->born = ++g->clock;
}

void vnet_gro_flush(struct vnet_gro *g) {
  size_t i;

  /* Oldest first, so that flows leave in the order they began. */
  for (;;) {
    struct gro_flow *o = NULL;

    for (i = 0; i < JVPN_GRO_FLOWS; i++)
      if (g->flow[i].len > 0 && (o == NULL || g->flow[i].born < o->born))
        o = &g->flow[i];
    if (o == NULL)
      break;
    flow_flush(g, o);
  }
}
