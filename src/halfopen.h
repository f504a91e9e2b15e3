/*
 * src/halfopen: the server's connections whose client has not yet
 * authenticated, counted per source (an IPv4 address, an IPv6 /64), so
 * that one source cannot hold the whole connection budget.
 *
 * Each source keeps its half-open connections oldest first. When a source
 * is at its limit, the caller forgets its oldest to make room: behind one
 * NAT a client's own abandoned attempts (it reconnected before the server
 * gave up on the earlier ones) are simply the oldest and go first, while a
 * single source flooding handshakes only ever churns its own.
 *
 * Nodes are embedded in the caller's connection objects; no allocation
 * per connection beyond a source entry, freed with its last node. Bounded
 * by the capacity given at init (at most one source per connection).
 */
#ifndef SRC_HALFOPEN_H
#define SRC_HALFOPEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "src/peer_table.h"

struct halfopen_src;

struct halfopen_node {
  struct halfopen_src *src; /* NULL when not filed */
  struct halfopen_node *prev, *next;
};

struct halfopen {
  struct peer_table by_src; /* source key -> struct halfopen_src */
  size_t count;             /* filed nodes */
  size_t sources;
  uint64_t evicted;         /* oldest nodes handed back to make room */
};

/* Returns 0 or JVPN_ERR_NOMEM. */
int halfopen_init(struct halfopen *h, size_t max_nodes);
/* Frees the source entries; nodes must have been removed. */
void halfopen_free(struct halfopen *h);

/* The oldest node of |peer|'s source when that source already holds
 * |limit| nodes (the caller removes it and ends its connection), else
 * NULL. Counts the eviction. */
struct halfopen_node *halfopen_over_limit(struct halfopen *h,
                                          const struct sockaddr *peer,
                                          size_t limit);

/* Files |n| under |peer|'s source, newest. Returns 0, or JVPN_ERR_NOMEM /
 * JVPN_ERR_FULL (|n| stays unfiled; the caller may go on without it). */
int halfopen_add(struct halfopen *h, struct halfopen_node *n,
                 const struct sockaddr *peer);

/* Unfiles |n| (authenticated, or its connection ended); no-op when not
 * filed. */
void halfopen_remove(struct halfopen *h, struct halfopen_node *n);

/* Half-open connections of |peer|'s source. */
size_t halfopen_of(const struct halfopen *h, const struct sockaddr *peer);

#endif /* SRC_HALFOPEN_H */
