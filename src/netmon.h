/*
 * src/netmon: watches the client's underlay for address, route and link
 * changes (rtnetlink multicast groups), and finds which local address the
 * kernel would use to reach the server now.
 */
#ifndef SRC_NETMON_H
#define SRC_NETMON_H

#include <net/if.h>
#include <sys/socket.h>

/* Opens a non-blocking NETLINK_ROUTE socket subscribed to link, IPv4/IPv6
 * address and route changes. Returns the fd or JVPN_ERR_SYSTEM. */
int netmon_open(void);

/* Reads every pending message (bounded). Returns 1 if any of them was a
 * change worth re-checking the path for, 0 if none, or JVPN_ERR_SYSTEM. */
int netmon_drain(int fd);

/* The source address the kernel picks for |dst| now (a connected UDP
 * probe; nothing is sent). The port of |src| is 0. Returns 0, or
 * JVPN_ERR_SYSTEM when there is no route. */
int netmon_source_for(const struct sockaddr *dst, socklen_t dst_len,
                      struct sockaddr_storage *src, socklen_t *src_len);

/* Returns 1 if |addr| is still assigned to a local interface (a socket
 * can bind to it), 0 if not. */
int netmon_addr_present(const struct sockaddr *addr, socklen_t len);

/* Returns 1 if |a| and |b| hold the same address (ports ignored). */
int netmon_same_addr(const struct sockaddr *a, const struct sockaddr *b);

/* The first address of |family| on interface |ifname| (not IPv6
 * link-local), port 0. Returns 0, JVPN_ERR_NOTFOUND or JVPN_ERR_SYSTEM. */
int netmon_iface_addr(const char *ifname, int family,
                      struct sockaddr_storage *out, socklen_t *out_len);

/* The interface that holds |addr|. Returns 0, JVPN_ERR_NOTFOUND or
 * JVPN_ERR_SYSTEM. */
int netmon_iface_of(const struct sockaddr *addr, char ifname[IFNAMSIZ]);

/* 1 if |ifname| exists, is up and has carrier (IFF_UP and IFF_RUNNING),
 * else 0. */
int netmon_link_up(const char *ifname);

#endif /* SRC_NETMON_H */
