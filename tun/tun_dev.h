/*
 * tun/tun_dev: a Linux TUN device (IFF_TUN | IFF_NO_PI, non-blocking).
 * The device exists while the fd is open; closing removes it.
 */
#ifndef TUN_TUN_DEV_H
#define TUN_TUN_DEV_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

struct tun_dev {
  int fd;
  int ifindex;
  char name[IFNAMSIZ];
};

/* Creates (or attaches to) the device |name| ("jvpn%d" patterns allowed).
 * Returns 0 or JVPN_ERR_SYSTEM (errno kept), JVPN_ERR_INVAL for a bad name. */
int tun_dev_open(struct tun_dev *t, const char *name);
/* Closes the fd (removing a non-persistent device). Accepts a closed one. */
void tun_dev_close(struct tun_dev *t);

/* Reads one packet. Returns its length, JVPN_ERR_AGAIN when none is
 * waiting, or JVPN_ERR_SYSTEM. */
long tun_dev_read(struct tun_dev *t, uint8_t *buf, size_t len);
/* Writes one packet. Returns 0, JVPN_ERR_AGAIN (queue full: dropped by the
 * caller and counted), or JVPN_ERR_SYSTEM. */
int tun_dev_write(struct tun_dev *t, const uint8_t *pkt, size_t len);

#endif /* TUN_TUN_DEV_H */
