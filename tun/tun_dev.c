/* jvpn-quic: a Linux TUN device. */
#include "tun/tun_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "jvpn/errors.h"

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

int tun_dev_open(struct tun_dev *t, const char *name) {
  struct ifreq ifr;
  int fd, saved;
  unsigned idx;

  t->fd = -1;
  t->ifindex = 0;
  t->name[0] = '\0';
  if (!name_ok(name))
    return JVPN_ERR_INVAL;

  fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    goto fail_fd;
  /* The kernel expanded any "%d" and wrote the final name back. */
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  idx = if_nametoindex(ifr.ifr_name);
  if (idx == 0)
    goto fail_fd;

  t->fd = fd;
  t->ifindex = (int)idx;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  return 0;

fail_fd:
  saved = errno;
  close(fd);
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
   * exceeds what was read and ip_check() drops it. */
  return (long)((size_t)n < len ? (size_t)n : len);
}

int tun_dev_write(struct tun_dev *t, const uint8_t *pkt, size_t len) {
  ssize_t n;

  do {
    n = write(t->fd, pkt, len);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? JVPN_ERR_AGAIN
                                                   : JVPN_ERR_SYSTEM;
  return 0;
}
