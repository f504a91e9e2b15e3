/*
 * src/addr_pool: the server's inner address assignment.
 *
 * Each allowed client (identified by its pin) gets one IPv4 and/or one IPv6
 * inner address: its fixed address from the config if it has one, else the
 * next free host of the pool. The first host of each pool is the server's
 * own tunnel address and never assigned. Assignment is sticky: the same pin
 * gets the same addresses for the life of the process, so a restarted client
 * keeps its address. Bounded by the pool size and JVPN_MAX_PEERS.
 */
#ifndef SRC_ADDR_POOL_H
#define SRC_ADDR_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "src/config.h"

struct addr_pool_entry {
  uint8_t pin[JVPN_PIN_LEN];
  int has4, has6;
  uint8_t addr4[4];
  uint8_t addr6[16];
};

struct addr_pool {
  struct jvpn_prefix pool4, pool6;
  struct addr_pool_entry *entries; /* owned */
  size_t n, cap;
  uint64_t next4, next6;           /* next host index to try */
};

/* Sets up |p| for |conf|'s pools and reserves every peer's fixed address.
 * Returns 0, JVPN_ERR_INVAL if a fixed address lies outside its pool or is
 * the server's own address or is reserved twice, or JVPN_ERR_NOMEM. */
int addr_pool_init(struct addr_pool *p, const struct jvpn_server_conf *conf);
void addr_pool_free(struct addr_pool *p);

/* The server's own tunnel address in each pool (first host). Returns 0 or
 * JVPN_ERR_NOTFOUND when that pool is not configured. */
int addr_pool_server_addr4(const struct addr_pool *p, uint8_t out[4]);
int addr_pool_server_addr6(const struct addr_pool *p, uint8_t out[16]);

/* Returns the entry for |peer| (fixed addresses honoured), assigning from
 * the pools on first use. Returns NULL when a pool is exhausted or memory
 * runs out. The pointer stays valid until addr_pool_free(). */
const struct addr_pool_entry *addr_pool_assign(struct addr_pool *p,
                                               const struct jvpn_peer_conf *peer);

/* A session loaded from the store (D41) takes back the addresses it had:
 * |pin|'s entry gets |addr4| (if |has4|) and |addr6| (if |has6|), which
 * the pool then never hands to another pin. Returns the entry, or NULL
 * when |pin| is not a configured peer, or an address is outside its pool,
 * held by another pin, or differs from the pin's fixed one (nothing
 * changes then). Call before any assignment of this run. */
const struct addr_pool_entry *
addr_pool_claim(struct addr_pool *p, const uint8_t *pin, int has4,
                const uint8_t addr4[4], int has6, const uint8_t addr6[16]);

/* Several nodes (D44): |pin|'s address in |family| becomes |addr|, as the
 * shared store decided (NULL: none, so that the next assignment offers
 * the next free host). Returns 0, or JVPN_ERR_NOTFOUND when |pin| is not
 * a configured peer, JVPN_ERR_INVAL when |addr| is not a host of the
 * pool, JVPN_ERR_EXISTS when another pin here holds it (nothing changes
 * then). */
int addr_pool_set(struct addr_pool *p, const uint8_t *pin, int family,
                  const uint8_t *addr);
/* A configuration reload: |p| becomes a pool for |conf|'s peers that keeps
 * what |old| assigned to pins still present, except where a peer's fixed
 * address changed or now claims another peer's assigned address (that
 * peer gets a new one on its next session). |old| is left as it was; the
 * caller compares entries (addr_pool_find, addr_pool_entry_same), then
 * frees |old|. The pools themselves must be |old|'s. Returns 0,
 * JVPN_ERR_INVAL (as addr_pool_init) or JVPN_ERR_NOMEM. */
int addr_pool_rebuild(struct addr_pool *p, const struct addr_pool *old,
                      const struct jvpn_server_conf *conf);

/* The entry of |pin|, or NULL when it is not a configured peer. */
const struct addr_pool_entry *addr_pool_find(const struct addr_pool *p,
                                             const uint8_t *pin);

/* 1 when |a| and |b| hold the same addresses. */
int addr_pool_entry_same(const struct addr_pool_entry *a,
                         const struct addr_pool_entry *b);

#endif /* SRC_ADDR_POOL_H */
