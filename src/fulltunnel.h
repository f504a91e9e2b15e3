/*
 * src/fulltunnel: the client's full-tunnel mode, by policy routing
 * (docs/decisions.md D35).
 *
 * For each family the server advertises a default route in, the client
 * puts a default route via its TUN device into a table of its own and
 * three rules before the main table's:
 *
 *   pref P     to SERVER lookup main            (for each of the server's
 *                                               addresses: the QUIC packets,
 *                                               and the
 *                                               reverse-path check of the
 *                                               server's answers, keep the
 *                                               uplink)
 *   pref P+1   lookup main suppress_prefixlength 0   (the main table's
 *                                               specific routes still win:
 *                                               the LAN, the tunnel's own)
 *   pref P+2   lookup TABLE                     (everything else: the TUN)
 *
 * The config's `exclude` prefixes get rules at P too (`to X lookup main`):
 * split tunnelling out of a full tunnel.
 *
 * No socket marks are needed, so strict reverse-path filtering on the
 * uplink keeps working. Routes in TABLE go with the TUN device; rules do
 * not, so they are removed on exit, and on start any rule left at P..P+2
 * by a client that was killed is flushed first.
 */
#ifndef SRC_FULLTUNNEL_H
#define SRC_FULLTUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/config.h"

#define FULL_TUNNEL_SERVERS_MAX 16

struct full_tunnel {
  int ifindex;               /* the TUN device */
  uint32_t table, pref;
  int on4, on6;              /* applied per family */
  /* the server's addresses, each with a rule at P while any family is
   * on (the QUIC packets of every attempt keep the uplink) */
  struct sockaddr_storage servers[FULL_TUNNEL_SERVERS_MAX];
  size_t nservers;
  const struct jvpn_prefix *excludes; /* not owned: the config's */
  size_t nexcludes;
};

/* Sets up |ft| and removes stale rules at |pref|..|pref|+2 of both
 * families. |excludes| (n of them, may be NULL; must outlive |ft|) stay
 * outside the tunnel. Returns the number of stale rules removed (logged
 * by the caller), or a JVPN_ERR_*. */
int full_tunnel_init(struct full_tunnel *ft, int ifindex, uint32_t table,
                     uint32_t pref, const struct jvpn_prefix *excludes,
                     size_t n);

/* Turns full-tunnel mode for |family| on or off. Returns 0 or
 * JVPN_ERR_SYSTEM (errno kept; what was added is removed again). */
int full_tunnel_set(struct full_tunnel *ft, int family, int on);

/* The server's addresses (a new lookup): the rules at P follow them (the
 * first FULL_TUNNEL_SERVERS_MAX). Returns 0 or JVPN_ERR_SYSTEM. */
int full_tunnel_servers(struct full_tunnel *ft,
                        const struct sockaddr_storage *servers, size_t n);

/* Removes everything (exit). */
void full_tunnel_off(struct full_tunnel *ft);

#endif /* SRC_FULLTUNNEL_H */
