/*
 * tests/fuzz/fuzz_vnet: TUN offloads (tun/vnet). The first byte picks the
 * side: even, a buffer as read from a TUN device with IFF_VNET_HDR (the
 * virtio-net header and a super-packet to cut); odd, a receive batch of
 * IP packets (each after a 2-byte length) for the coalescer, as they come
 * from the peer. The segments cut are coalesced again, so both halves see
 * each other's output.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "tun/vnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_write(void *user, const struct vnet_hdr *h, const uint8_t *pkt,
                     size_t len, unsigned nseg) {
  volatile uint8_t sink = 0;

  (void)user;
  if (len > JVPN_MAX_PACKET || nseg == 0)
    abort();
  if (nseg > 1 &&
      (h->gso_size == 0 || h->hdr_len > len ||
       (size_t)h->csum_start + h->csum_offset + 2 > len ||
       (h->gso_type != VNET_GSO_TCPV4 && h->gso_type != VNET_GSO_TCPV6)))
    abort();
  if (len > 0)
    sink = pkt[0] ^ pkt[len - 1]; /* the bytes must be readable */
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct vnet_gro *g;
  static uint8_t buf[JVPN_TUN_BUF];
  struct vnet_seg s;
  const uint8_t *seg;
  size_t len, off;

  if (g == NULL && (g = vnet_gro_new(on_write, NULL)) == NULL)
    abort();
  if (size < 1 || size - 1 > sizeof(buf))
    return 0;
  memcpy(buf, data + 1, size - 1);
  if (!(data[0] & 1)) {
    if (vnet_seg_init(&s, buf, size - 1, 1) != 0)
      return 0;
    while ((seg = vnet_seg_next(&s, &len)) != NULL) {
      if (seg < buf || seg + len > buf + size - 1 || len > JVPN_MAX_PACKET)
        abort();
      vnet_gro_add(g, seg, len);
    }
  } else {
    for (off = 0; off + 2 <= size - 1;) {
      len = (size_t)buf[off] << 8 | buf[off + 1];
      off += 2;
      if (len > size - 1 - off)
        len = size - 1 - off;
      vnet_gro_add(g, buf + off, len);
      off += len;
    }
  }
  vnet_gro_flush(g);
  return 0;
}
