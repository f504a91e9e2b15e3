/* jvpn-quic: a Linux TUN device. */
#include "tun/tun_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "jvpn/errors.h"

/* Linux 6.2 (UDP segmentation offload); older headers lack them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define OFFLOAD_TCP (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

/* The kernel's own rule (dev_valid_name): a name it would refuse anyway is
 * reported as ours to fix, not as a system failure. */
static int name_ok(const char *name) {
  size_t n, i;

  if (name == NULL)
    return 0;
  n = strnlen(name, IFNAMSIZ);
  if (n == 0 || n >= IFNAMSIZ)
    return 0;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];

    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
      return 0;
  }
  return 1;
}

static int open_dev(const char *name, short flags, char out[IFNAMSIZ]) {
  struct ifreq ifr;
  int fd, saved;

  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -1;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = flags;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  /* The kernel expanded any "%d" and wrote the final name back. */
  memcpy(out, ifr.ifr_name, IFNAMSIZ);
  out[IFNAMSIZ - 1] = '\0';
  return fd;
}

static void gro_write(void *user, const struct vnet_hdr *h, const uint8_t *pkt,
                      size_t len, unsigned nseg) {
  struct tun_dev *t = user;
  uint8_t hb[JVPN_VNET_HDR_LEN];
  struct iovec iov[2];
  ssize_t n;

  vnet_hdr_put(hb, h);
  iov[0].iov_base = hb;
  iov[0].iov_len = sizeof(hb);
  iov[1].iov_base = (void *)(uintptr_t)pkt;
  iov[1].iov_len = len;
  do {
    n = writev(t->fd, iov, 2);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    t->write_drops += nseg;
    return;
  }
  if (nseg > 1) {
    t->gro_writes++;
    t->gro_segs += nseg;
  }
}

/* Asks for offloads on |fd| (opened with IFF_VNET_HDR): everything, then
 * without USO (before Linux 6.2). Returns 0 or -1 with t->fallback set. */
static int offload_on(struct tun_dev *t, int fd, int refuse) {
  int sz = JVPN_VNET_HDR_LEN;

  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
    t->fallback = "TUNSETVNETHDRSZ refused";
    return -1;
  }
  t->offloads = OFFLOAD_TCP | TUN_F_USO4 | TUN_F_USO6;
  if (refuse || ioctl(fd, TUNSETOFFLOAD, (unsigned long)t->offloads) < 0) {
    t->offloads = OFFLOAD_TCP;
    if (refuse || ioctl(fd, TUNSETOFFLOAD, (unsigned long)t->offloads) < 0) {
      if (refuse)
        errno = EINVAL;
      t->offloads = 0;
      t->fallback = "TUNSETOFFLOAD refused";
      return -1;
    }
  }
  t->gro = vnet_gro_new(gro_write, t);
  if (t->gro == NULL) {
    errno = ENOMEM;
    t->fallback = "no memory for the coalescer";
    return -1;
  }
  return 0;
}

int tun_dev_open(struct tun_dev *t, const char *name,
                 enum tun_offload offload) {
  char real[IFNAMSIZ];
  unsigned idx;
  int fd = -1, saved;

  memset(t, 0, sizeof(*t));
  t->fd = -1;
  if (!name_ok(name))
    return JVPN_ERR_INVAL;

  if (offload != TUN_OFFLOAD_OFF) {
    fd = open_dev(name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, real);
    if (fd < 0) {
      t->fallback = "IFF_VNET_HDR refused";
    } else if (offload_on(t, fd, offload == TUN_OFFLOAD_REFUSED) != 0) {
      /* The flags cannot be taken back: start over without them. */
      saved = errno;
      close(fd);
      fd = -1;
      errno = saved;
    }
    if (fd < 0) {
      t->fallback_errno = errno;
      t->offloads = 0;
    }
  }
  if (fd >= 0) {
    t->vnet = 1;
  } else {
    fd = open_dev(name, IFF_TUN | IFF_NO_PI, real);
    if (fd < 0)
      return JVPN_ERR_SYSTEM;
  }
  idx = if_nametoindex(real);
  if (idx == 0)
    goto fail_fd;

  t->fd = fd;
  t->ifindex = (int)idx;
  memcpy(t->name, real, IFNAMSIZ);
  return 0;

fail_fd:
  saved = errno;
  close(fd);
  vnet_gro_del(t->gro);
  t->gro = NULL;
  t->vnet = 0;
  errno = saved;
  return JVPN_ERR_SYSTEM;
}

void tun_dev_close(struct tun_dev *t) {
  if (t == NULL || t->fd < 0)
    return;
  /* Nothing to do about a failing close: the fd is gone either way. */
  (void)close(t->fd);
  t->fd = -1;
  t->ifindex = 0;
  vnet_gro_del(t->gro);
  t->gro = NULL;
  t->vnet = 0;
  t->batching = 0;
}

long tun_dev_read(struct tun_dev *t, uint8_t *buf, size_t len) {
  ssize_t n;

  do {
    n = read(t->fd, buf, len);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? JVPN_ERR_AGAIN
                                                   : JVPN_ERR_SYSTEM;
  /* A packet longer than |buf| arrives cut short; its IP length field then
   * exceeds what was read and ip_check() (or vnet_seg_init) drops it. */
  return (long)((size_t)n < len ? (size_t)n : len);
}

int tun_dev_segments(struct tun_dev *t, struct vnet_seg *s, uint8_t *buf,
                     size_t len) {
  int rv = vnet_seg_init(s, buf, len, t->vnet);

  if (rv == 0 && s->mode == VNET_SEG_GSO)
    t->tso_reads++;
  return rv;
}

int tun_dev_write(struct tun_dev *t, const uint8_t *pkt, size_t len) {
  static const uint8_t none[JVPN_VNET_HDR_LEN];
  struct iovec iov[2];
  ssize_t n;

  if (t->batching) {
    vnet_gro_add(t->gro, pkt, len);
    return 0;
  }
  iov[0].iov_base = (void *)(uintptr_t)none;
  iov[0].iov_len = t->vnet ? sizeof(none) : 0;
  iov[1].iov_base = (void *)(uintptr_t)pkt;
  iov[1].iov_len = len;
  do {
    n = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? JVPN_ERR_AGAIN
                                                   : JVPN_ERR_SYSTEM;
  return 0;
}

void tun_dev_batch_begin(struct tun_dev *t) {
  t->batching = t->gro != NULL;
}

void tun_dev_batch_end(struct tun_dev *t) {
  if (!t->batching)
    return;
  vnet_gro_flush(t->gro);
  t->batching = 0;
}
