/*
 * src/killswitch: the client's kill switch (docs/decisions.md D36).
 *
 * An nftables table of the client's own, "inet jvpn_killswitch" (the
 * name is configurable), whose output chain drops everything that would
 * leave the host outside the tunnel: allowed are loopback, the TUN device,
 * QUIC and the HTTP/2 fallback (TCP, same port) to the server's addresses
 * (a set each family, kept current),
 * DHCP/DHCPv6 and IPv6 neighbour discovery/MLD on the uplinks, the
 * kernel's port-unreachable answers to the server, and the config's
 * `exclude` prefixes (split tunnelling: chosen to stay outside). The table is written
 * in one nftables transaction, replacing any table of that name (a
 * previous run's), so there is never a moment without it while it is
 * wanted. It stays in the kernel when the process dies: between a crash
 * and a restart nothing leaks. A clean exit, or `jvpn-quic client --down`,
 * deletes it.
 *
 * libnftables (Debian's libnftables-dev) does the netlink; the context is
 * made at start-up, before the privilege drop and the seccomp filter
 * (CAP_NET_ADMIN, kept, is all later updates need).
 */
#ifndef SRC_KILLSWITCH_H
#define SRC_KILLSWITCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/config.h"

#define KILL_SWITCH_TABLE "jvpn_killswitch"

struct nft_ctx;

struct kill_switch {
  struct nft_ctx *nft;
  char table[32];
  char tun[16];
  uint16_t port;     /* the server's UDP port */
  int on;            /* the table is in place */
};

/* Makes the nftables context. Returns 0 or JVPN_ERR_NOMEM. */
int kill_switch_open(struct kill_switch *ks, const char *table);
/* Frees the context; leaves the table as it is. */
void kill_switch_close(struct kill_switch *ks);

/* What the table lets through besides the server. */
struct kill_switch_allow {
  const char *tun;                   /* the TUN device */
  uint16_t port;                     /* the server's UDP port */
  const struct jvpn_prefix *excludes; /* split-tunnel prefixes */
  size_t nexcludes;
};

/* Puts the table in place for |allow| and the server at |servers| (n of
 * them; none: only the rest is allowed), replacing a table of that name.
 * Returns 0, or JVPN_ERR_SYSTEM with nftables' message in |err|. */
int kill_switch_apply(struct kill_switch *ks,
                      const struct kill_switch_allow *allow,
                      const struct sockaddr_storage *servers, size_t n,
                      char *err, size_t errlen);

/* The server's addresses changed: the sets follow. */
int kill_switch_servers(struct kill_switch *ks,
                        const struct sockaddr_storage *servers, size_t n,
                        char *err, size_t errlen);

/* The server addresses that a table of this name already in the kernel
 * (a crashed run's) admits: up to |max| of them into |out|, with |port|.
 * Returns how many; 0 when there is no such table or it admits none. */
size_t kill_switch_stale_servers(struct kill_switch *ks, uint16_t port,
                                 struct sockaddr_storage *out, size_t max);

/* Deletes the table (a missing table is success). */
int kill_switch_remove(struct kill_switch *ks, char *err, size_t errlen);

#endif /* SRC_KILLSWITCH_H */
