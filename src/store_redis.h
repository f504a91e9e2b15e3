/*
 * src/store_redis: the session store of several server nodes (D44), in
 * one Redis (7.x) that every node reaches.
 *
 * Keys (<p> is the prefix, "jvpn" by default; IDs, pins and addresses in
 * lower-case hex):
 *
 *   <p>:s:<session id>   hash: rec (the sealed record, src/store_record.h,
 *                        byte for byte what LMDB stores), owner (node ID),
 *                        epoch (the owner's epoch, decimal), ver (the
 *                        record's state_version, decimal)
 *   <p>:node:<node id>   the node's lease: its epoch, with PX lease_ms;
 *                        each renewal overwrites it
 *   <p>:owned:<node id>  set of the session IDs the node owns (its load)
 *   <p>:pin4:<pin>, <p>:pin6:<pin>     the pin's inner address, for good
 *   <p>:a4:<address>, <p>:a6:<address> the pin holding the address
 *
 * Every change of more than one key, and every check-then-write, is one
 * Lua script (EVALSHA, EVAL after NOSCRIPT), so two nodes never interleave
 * inside one. Ownership is by lease per node, not per session: one
 * renewal per node and interval whatever the number of sessions. The
 * node's epoch is the fencing token: a record names its owner's epoch,
 * and put and del succeed only for that owner and epoch.
 *
 * I/O is synchronous hiredis with the command timeout on the socket; a
 * lost connection is reopened by renew only, without blocking (a
 * non-blocking connect started in one call and finished in a later one),
 * so an unreachable Redis costs the caller at most the timeout per call.
 * The process must ignore SIGPIPE (hiredis writes with write(2)).
 */
#ifndef SRC_STORE_REDIS_H
#define SRC_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/store.h"

#define STORE_REDIS_TIMEOUT_MS 200   /* default connect/command timeout */
#define STORE_REDIS_LOAD_MAX 1000000 /* session IDs one load reads */
#define STORE_REDIS_NAME_MAX 63      /* node ID and prefix, bytes */

struct store_redis_conf {
  const char *addr;    /* "unix:/path/to/sock", "a.b.c.d:port", "[v6]:port" */
  const char *node_id; /* this node's name, [A-Za-z0-9._-]{1,63} */
  uint64_t epoch;      /* fresh and larger at every process start (wall ns) */
  const char *prefix;  /* key prefix, [A-Za-z0-9._:-]{1,63}; NULL: "jvpn" */
  unsigned timeout_ms; /* connect and command timeout; 0: the default */
};

/* What the Redis store counts besides struct jvpn_store_stats. */
struct store_redis_stats {
  uint64_t renewals;      /* leases written */
  uint64_t superseded;    /* renewals refused: a newer start of this node */
  uint64_t takes;         /* records taken from another node or epoch */
  uint64_t takes_refused; /* take refused: a live node holds the record */
  uint64_t fenced;        /* put or del refused: another owner or epoch */
  uint64_t stale;         /* put refused: older state_version than stored */
  uint64_t connects, reconnects, connect_errors;
  uint64_t io_errors;     /* commands that failed or timed out */
  uint64_t error_replies; /* commands Redis answered with an error */
  uint64_t bad_replies;   /* replies of an unexpected shape (dropped) */
};

/* Opens the store of node |conf->node_id| in the Redis at |conf->addr|;
 * records are sealed with |key|. Only configuration errors fail
 * (JVPN_ERR_CONFIG, |why| says which): a Redis that is down leaves the
 * store unreachable until a later renew connects. The cluster operations
 * are in (*out)->cluster; renew also returns JVPN_ERR_DENIED when the
 * lease holds a later epoch of this node ID (a newer process serves this
 * node: this one must stop). */
int store_redis_open(struct jvpn_store **out,
                     const struct store_redis_conf *conf,
                     const uint8_t key[JVPN_STORE_KEY_LEN], char *why,
                     size_t whylen);

/* The counters of a store opened by store_redis_open, else NULL. */
const struct store_redis_stats *store_redis_stats(const struct jvpn_store *s);

#endif /* SRC_STORE_REDIS_H */
