/*
 * tun/vnet: the virtio-net header of a TUN device opened with IFF_VNET_HDR,
 * and the two halves of TUN offloads (docs/decisions.md D42):
 *
 * - Segmentation (the read side): the kernel hands one TCP (or UDP, USO)
 *   super-packet of up to 64 KB with a header saying how to cut it
 *   (gso_type, gso_size) and a checksum left to finish (NEEDS_CSUM,
 *   csum_start/csum_offset). vnet_seg cuts it into IP packets of at most
 *   gso_size payload bytes each, with their own IP lengths, IPv4 IDs and
 *   header checksums, TCP sequence numbers and flags, and full checksums.
 *   It works in place: each packet is written over the bytes of the one
 *   before, so nothing is copied but the headers.
 *
 * - Coalescing (the write side, GRO): consecutive TCP segments of one flow
 *   are joined into one super-packet with a header asking the kernel to
 *   treat it as many segments, so that one write delivers them all.
 *
 * Pure: no I/O, no clock, no allocation after vnet_gro_new. Every byte
 * parsed may come from the kernel or (on the write side) from the peer;
 * malformed input is an error code, never a crash.
 */
#ifndef TUN_VNET_H
#define TUN_VNET_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"

/* struct virtio_net_hdr (linux/virtio_net.h), in host byte order (a TUN
 * device's default). */
#define VNET_F_NEEDS_CSUM 1 /* flags: finish the checksum at csum_start */
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3 /* UFO: IPv4 fragmentation, never offered here */
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5 /* USO */
#define VNET_GSO_ECN 0x80 /* gso_type bit: the first segment carries CWR */

struct vnet_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len; /* the kernel's hint only: recomputed, never trusted */
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};

/* Reads the JVPN_VNET_HDR_LEN bytes at |p|. Returns 0 or
 * JVPN_ERR_TRUNCATED. Values are checked by vnet_seg_init, not here. */
int vnet_hdr_parse(const uint8_t *p, size_t len, struct vnet_hdr *h);
/* Writes |h| into the JVPN_VNET_HDR_LEN bytes at |p|. */
void vnet_hdr_put(uint8_t *p, const struct vnet_hdr *h);

/* --- Segmentation -------------------------------------------------------- */

/* What vnet_seg_init found: one packet to pass as it is, one whose
 * checksum is to be finished, or a super-packet to cut. */
enum vnet_seg_mode { VNET_SEG_WHOLE, VNET_SEG_CSUM, VNET_SEG_GSO };

/* bytes: the largest IP + TCP header, options included (60 + 60) */
#define VNET_TMPL_MAX 128

struct vnet_seg {
  uint8_t *pkt;   /* the super-packet (after the virtio-net header) */
  size_t len;     /* its length */
  size_t l4;      /* offset of the TCP/UDP header (0: no checksum work) */
  size_t hdr;     /* bytes of IP + transport header per segment */
  size_t mss;     /* payload bytes per segment */
  size_t off;     /* payload offset of the next segment (from hdr) */
  unsigned idx;   /* segments returned so far */
  uint8_t proto;  /* IPPROTO_TCP or IPPROTO_UDP when segmenting */
  uint8_t family; /* 4 or 6 */
  uint8_t mode;   /* enum vnet_seg_mode */
  uint8_t tmpl[VNET_TMPL_MAX]; /* the first header, as the kernel gave it */
};

/* Prepares to cut |buf| (|len| bytes, as read from the TUN device). With
 * |has_vnet| the buffer starts with a virtio-net header; without it the
 * buffer is one IP packet, returned whole by vnet_seg_next. |buf| is
 * modified in place while segments are taken. Returns 0,
 * JVPN_ERR_TRUNCATED, JVPN_ERR_MALFORMED (a header that contradicts the
 * packet: wrong family for the GSO type, a checksum outside the packet, a
 * fragment, gso_size 0...) or JVPN_ERR_UNSUPPORTED (UFO, IPv6 extension
 * headers before TCP/UDP, a GSO type we did not ask for). */
int vnet_seg_init(struct vnet_seg *s, uint8_t *buf, size_t len, int has_vnet);

/* Returns the next IP packet (a pointer into the buffer given to
 * vnet_seg_init, valid until the next call) and its length in |*len|, or
 * NULL when there are no more. */
const uint8_t *vnet_seg_next(struct vnet_seg *s, size_t *len);

/* --- Coalescing ---------------------------------------------------------- */

/* Writes one packet or super-packet |pkt| (|len| bytes) with the header
 * |h| before it. A failed write is the writer's to count: |nseg| IP
 * packets were in it. */
typedef void (*vnet_write_fn)(void *user, const struct vnet_hdr *h,
                              const uint8_t *pkt, size_t len, unsigned nseg);

struct vnet_gro;

/* Allocates a coalescer of JVPN_GRO_FLOWS flows, each with a buffer of
 * JVPN_TUN_BUF bytes. Returns NULL when out of memory. */
struct vnet_gro *vnet_gro_new(vnet_write_fn write, void *user);
/* Frees |g| (NULL accepted). Anything still held is lost: flush first. */
void vnet_gro_del(struct vnet_gro *g);

/* Takes one IP packet (|len| bytes, checked by ip_check by the caller or
 * not: malformed packets are passed through alone for the kernel to
 * drop). A TCP segment that can join a flow held from this batch is
 * copied into that flow's super-packet; anything else is written at once
 * (after the held packets of its own flow, so a flow's order is kept).
 * A flow is written when it reaches 64 KB, when a segment cannot follow
 * (out of sequence, other flags or options, a shorter segment was
 * already added), or when its slot is needed for a new flow (the oldest
 * goes). */
void vnet_gro_add(struct vnet_gro *g, const uint8_t *pkt, size_t len);
/* Writes everything held (call at the end of each receive batch). */
void vnet_gro_flush(struct vnet_gro *g);

#endif /* TUN_VNET_H */
