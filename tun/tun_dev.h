/*
 * tun/tun_dev: a Linux TUN device (IFF_TUN | IFF_NO_PI, non-blocking).
 * The device exists while the fd is open; closing removes it.
 *
 * With offloads (IFF_VNET_HDR, TUNSETOFFLOAD) every read and write starts
 * with a virtio-net header: reads may return TCP (or UDP) super-packets
 * of up to 64 KB that the caller cuts with tun/vnet, and writes made
 * between tun_dev_batch_begin and tun_dev_batch_end are coalesced
 * (tun/vnet's GRO) into super-packets written at the end of the batch.
 */
#ifndef TUN_TUN_DEV_H
#define TUN_TUN_DEV_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/vnet.h"

struct tun_dev {
  int fd;
  int ifindex;
  char name[IFNAMSIZ];
  int vnet;             /* reads and writes carry a virtio-net header */
  unsigned offloads;    /* TUN_F_* the kernel accepted */
  const char *fallback; /* why offloads were asked for and are off */
  int fallback_errno;   /* errno of that refusal */
  struct vnet_gro *gro; /* the coalescer, with vnet */
  int batching;         /* writes go to |gro| until tun_dev_batch_end */
  uint64_t write_drops; /* packets in coalesced writes that failed */
  uint64_t gro_writes;  /* super-packets of more than one segment */
  uint64_t gro_segs;    /* segments in them */
  uint64_t tso_reads;   /* super-packets read (cut by the caller) */
};

/* |offload| of tun_dev_open. */
enum tun_offload {
  TUN_OFFLOAD_OFF,
  TUN_OFFLOAD_ON,
  /* As ON, but TUNSETOFFLOAD is taken as refused (EINVAL) without asking
   * the kernel: the fallback, for tests (--enable-test-hooks builds). */
  TUN_OFFLOAD_REFUSED,
};

/* Creates (or attaches to) the device |name| ("jvpn%d" patterns allowed).
 * With |offload| other than OFF it asks for IFF_VNET_HDR with checksum,
 * TSO4/6 and USO4/6 offloads, then without USO; a kernel that refuses
 * them (or no memory for the coalescer) leaves the device without any
 * (t->vnet 0) and t->fallback saying why. Returns 0 or JVPN_ERR_SYSTEM
 * (errno kept), JVPN_ERR_INVAL for a bad name. */
int tun_dev_open(struct tun_dev *t, const char *name, enum tun_offload offload);
/* Closes the fd (removing a non-persistent device). Accepts a closed one. */
void tun_dev_close(struct tun_dev *t);

/* Reads one packet (with t->vnet: a virtio-net header and a packet or
 * super-packet, to be cut by vnet_seg_init(.., t->vnet)). |buf| should
 * hold JVPN_TUN_BUF bytes. Returns its length, JVPN_ERR_AGAIN when none
 * is waiting, or JVPN_ERR_SYSTEM. */
long tun_dev_read(struct tun_dev *t, uint8_t *buf, size_t len);
/* Prepares |s| to cut what tun_dev_read left in |buf| (vnet_seg_init
 * with t->vnet), counting super-packets. Returns vnet_seg_init's result. */
int tun_dev_segments(struct tun_dev *t, struct vnet_seg *s, uint8_t *buf,
                     size_t len);
/* Writes one IP packet, or during a batch queues it for coalescing (then
 * a failed write is counted in t->write_drops). Returns 0, JVPN_ERR_AGAIN
 * (queue full: dropped by the caller and counted), or JVPN_ERR_SYSTEM. */
int tun_dev_write(struct tun_dev *t, const uint8_t *pkt, size_t len);

/* Starts a receive batch: writes are coalesced until tun_dev_batch_end
 * (a no-op without offloads). */
void tun_dev_batch_begin(struct tun_dev *t);
/* Writes what the batch coalesced and ends it. */
void tun_dev_batch_end(struct tun_dev *t);

#endif /* TUN_TUN_DEV_H */
