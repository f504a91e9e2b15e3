/* src/netmon: underlay change notifications and source address lookup. */
#include "src/netmon.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "jvpn/errors.h"

#define NETMON_MAX_READS 64 /* datagrams per drain call */

int netmon_open(void) {
  struct sockaddr_nl sa;
  int fd;

  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
              NETLINK_ROUTE);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                 RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return JVPN_ERR_SYSTEM;
  }
  return fd;
}

int netmon_drain(int fd) {
  uint8_t buf[8192] __attribute__((aligned(4)));
  int i, changed = 0;
  ssize_t n;

  for (i = 0; i < NETMON_MAX_READS; i++) {
    struct nlmsghdr *h;

    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (errno == ENOBUFS) {
        /* Messages were lost: assume something changed. */
        changed = 1;
        continue;
      }
      return JVPN_ERR_SYSTEM;
    }
    for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
      switch (h->nlmsg_type) {
      case RTM_NEWADDR:
      case RTM_DELADDR:
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
      case RTM_NEWLINK:
      case RTM_DELLINK:
        changed = 1;
        break;
      default:
        break;
      }
    }
  }
  return changed;
}

int netmon_source_for(const struct sockaddr *dst, socklen_t dst_len,
                      struct sockaddr_storage *src, socklen_t *src_len) {
  int fd, rv = JVPN_ERR_SYSTEM;

  fd = socket(dst->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  *src_len = sizeof(*src);
  /* connect() on UDP only looks the route up; no packet leaves. */
  if (connect(fd, dst, dst_len) == 0 &&
      getsockname(fd, (struct sockaddr *)src, src_len) == 0) {
    if (src->ss_family == AF_INET)
      ((struct sockaddr_in *)src)->sin_port = 0;
    else
      ((struct sockaddr_in6 *)src)->sin6_port = 0;
    rv = 0;
  }
  close(fd);
  return rv;
}

int netmon_addr_present(const struct sockaddr *addr, socklen_t len) {
  struct sockaddr_storage ss;
  int fd, ok;

  if (len > sizeof(ss))
    return 0;
  memcpy(&ss, addr, len);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = 0;
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
  fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 1; /* cannot tell: assume it is there */
  ok = bind(fd, (struct sockaddr *)&ss, len) == 0 || errno != EADDRNOTAVAIL;
  close(fd);
  return ok;
}

int netmon_same_addr(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family)
    return 0;
  if (a->sa_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->sa_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
  return 0;
}

/* The first usable address of the family: not link-local (a socket bound
 * to fe80:: needs a scope the server cannot route back to). */
static int usable(const struct ifaddrs *ia, int family) {
  const struct sockaddr_in6 *s6;

  if (ia->ifa_addr == NULL || ia->ifa_addr->sa_family != family)
    return 0;
  if (family != AF_INET6)
    return 1;
  s6 = (const struct sockaddr_in6 *)ia->ifa_addr;
  return !IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr);
}

int netmon_iface_addr(const char *ifname, int family,
                      struct sockaddr_storage *out, socklen_t *out_len) {
  struct ifaddrs *all, *ia;
  int rv = JVPN_ERR_NOTFOUND;

  if (getifaddrs(&all) != 0)
    return JVPN_ERR_SYSTEM;
  for (ia = all; ia != NULL; ia = ia->ifa_next) {
    if (strcmp(ia->ifa_name, ifname) != 0 || !usable(ia, family))
      continue;
    *out_len = family == AF_INET ? sizeof(struct sockaddr_in)
                                 : sizeof(struct sockaddr_in6);
    memset(out, 0, sizeof(*out));
    memcpy(out, ia->ifa_addr, *out_len);
    rv = 0;
    break;
  }
  freeifaddrs(all);
  return rv;
}

int netmon_iface_of(const struct sockaddr *addr, char ifname[IFNAMSIZ]) {
  struct ifaddrs *all, *ia;
  int rv = JVPN_ERR_NOTFOUND;

  if (getifaddrs(&all) != 0)
    return JVPN_ERR_SYSTEM;
  for (ia = all; ia != NULL; ia = ia->ifa_next) {
    if (ia->ifa_addr == NULL || !netmon_same_addr(ia->ifa_addr, addr))
      continue;
    (void)snprintf(ifname, IFNAMSIZ, "%s", ia->ifa_name);
    rv = 0;
    break;
  }
  freeifaddrs(all);
  return rv;
}

int netmon_link_up(const char *ifname) {
  struct ifreq ifr;
  int fd, up;

  memset(&ifr, 0, sizeof(ifr));
  if (snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname) >=
      (int)sizeof(ifr.ifr_name))
    return 0;
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 1; /* cannot tell: assume it is up */
  up = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 &&
       (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
  close(fd);
  return up;
}
