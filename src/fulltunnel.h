/*
 * src/fulltunnel: the client's full-tunnel mode, by policy routing
 * (docs/decisions.md D35).
 *
 * For each family the server advertises a default route in, the client
 * puts a default route via its TUN device into a table of its own and
 * three rules before the main table's:
 *
 *   pref P     to SERVER lookup main            (the QUIC packets, and the
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

struct full_tunnel {
  int ifindex;               /* the TUN device */
  uint32_t table, pref;
  int on4, on6;              /* applied per family */
  struct sockaddr_storage server; /* excluded by the rule at P */
  int server_ruled;          /* that rule is in place */
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

/* Turns full-tunnel mode for |family| on or off. |server| is the server's
 * current address (the rule at P follows it). Returns 0 or JVPN_ERR_SYSTEM
 * (errno kept; what was added is removed again). */
int full_tunnel_set(struct full_tunnel *ft, int family, int on,
                    const struct sockaddr *server);

/* The server's address changed (a new lookup): moves the rule at P. */
int full_tunnel_server(struct full_tunnel *ft, const struct sockaddr *server);

/* Removes everything (exit). */
void full_tunnel_off(struct full_tunnel *ft);

#endif /* SRC_FULLTUNNEL_H */
