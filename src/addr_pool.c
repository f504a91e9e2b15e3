/* jvpn-quic: inner address assignment.
 *
 * Only peers named in the config can be assigned an address, so every
 * entry is created by addr_pool_init(): one per peer, in one allocation
 * that never moves (the header promises stable pointers), sorted by pin.
 * Lookup by pin is a binary search, O(log n). Dynamic addresses are handed
 * out on first use from a cursor that only moves forward; a candidate is
 * checked against the other entries' addresses in O(n), and the cursor
 * passes each fixed address at most once, so the whole life of a pool
 * costs O(n * (n + fixed)) comparisons for n <= JVPN_MAX_PEERS peers.
 */
#include "src/addr_pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"

/* Host index of the server's own address; clients start after it. */
#define SERVER_INDEX 1

static size_t addr_len(int family) {
  return family == AF_INET ? 4 : 16;
}

static int in_prefix(const struct jvpn_prefix *p, const uint8_t *addr) {
  size_t full = p->plen / 8;
  unsigned rem = p->plen % 8;

  if (memcmp(p->addr, addr, full) != 0)
    return 0;
  if (rem == 0)
    return 1;
  return ((p->addr[full] ^ addr[full]) & (0xff00 >> rem) & 0xff) == 0;
}

/* Largest usable host index: the last address is IPv4's broadcast;
 * IPv6 keeps it. Indices past 2^64 - 1 are never reached. */
static uint64_t last_index(const struct jvpn_prefix *p) {
  unsigned bits = (unsigned)(addr_len(p->family) * 8) - p->plen;
  uint64_t all = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;

  return p->family == AF_INET ? all - 1 : all;
}

/* |out| = network address of |p| + |idx|, in 128-bit (or 32-bit)
 * big-endian arithmetic with carry. */
static void addr_at(const struct jvpn_prefix *p, uint64_t idx, uint8_t *out) {
  size_t len = addr_len(p->family), i = len;
  unsigned carry = 0;

  memcpy(out, p->addr, len);
  while (i-- > 0 && (idx != 0 || carry != 0)) {
    unsigned sum = out[i] + (unsigned)(idx & 0xff) + carry;
    out[i] = (uint8_t)sum;
    carry = sum >> 8;
    idx >>= 8;
  }
}

/* Returns 1 if |addr| may be given to a client: inside the pool and
 * neither the network address, the broadcast (IPv4) nor the server's. */
static int host_ok(const struct jvpn_prefix *p, const uint8_t *addr) {
  uint8_t tmp[16];
  size_t len = addr_len(p->family);

  if (!in_prefix(p, addr))
    return 0;
  addr_at(p, 0, tmp);
  if (memcmp(tmp, addr, len) == 0)
    return 0;
  addr_at(p, SERVER_INDEX, tmp);
  if (memcmp(tmp, addr, len) == 0)
    return 0;
  if (p->family == AF_INET) {
    addr_at(p, last_index(p) + 1, tmp);
    if (memcmp(tmp, addr, len) == 0)
      return 0;
  }
  return 1;
}

static int pool_valid(const struct jvpn_prefix *p) {
  if (p->family == AF_INET)
    return p->plen <= 30;
  if (p->family == AF_INET6)
    return p->plen <= 127;
  return 0;
}

static int entry_cmp(const void *a, const void *b) {
  return memcmp(((const struct addr_pool_entry *)a)->pin,
                ((const struct addr_pool_entry *)b)->pin, JVPN_PIN_LEN);
}

/* Returns 1 if an entry other than |self| holds |addr| in |family|. */
static int addr_taken(const struct addr_pool *p, int family,
                      const uint8_t *addr, const struct addr_pool_entry *self) {
  size_t i;

  for (i = 0; i < p->n; i++) {
    const struct addr_pool_entry *e = &p->entries[i];
    if (e == self)
      continue;
    if (family == AF_INET && e->has4 && memcmp(e->addr4, addr, 4) == 0)
      return 1;
    if (family == AF_INET6 && e->has6 && memcmp(e->addr6, addr, 16) == 0)
      return 1;
  }
  return 0;
}

/* |e| takes |pc|'s fixed addresses. Returns 0 or JVPN_ERR_INVAL when one
 * lies outside its pool or is reserved. */
static int take_fixed(const struct addr_pool *p, struct addr_pool_entry *e,
                      const struct jvpn_peer_conf *pc) {
  memcpy(e->pin, pc->pin, JVPN_PIN_LEN);
  if (pc->addr4.family != 0) {
    if (p->pool4.family == 0 || !host_ok(&p->pool4, pc->addr4.addr))
      return JVPN_ERR_INVAL;
    memcpy(e->addr4, pc->addr4.addr, 4);
    e->has4 = 1;
  }
  if (pc->addr6.family != 0) {
    if (p->pool6.family == 0 || !host_ok(&p->pool6, pc->addr6.addr))
      return JVPN_ERR_INVAL;
    memcpy(e->addr6, pc->addr6.addr, 16);
    e->has6 = 1;
  }
  return 0;
}

/* |e| (no fixed address in a family) keeps what |old| gave its pin in
 * that family, unless someone's fixed address is that address now. */
static void carry_assigned(const struct addr_pool *p, struct addr_pool_entry *e,
                           const struct addr_pool_entry *old) {
  if (old == NULL)
    return;
  if (!e->has4 && old->has4 && !addr_taken(p, AF_INET, old->addr4, e)) {
    memcpy(e->addr4, old->addr4, 4);
    e->has4 = 1;
  }
  if (!e->has6 && old->has6 && !addr_taken(p, AF_INET6, old->addr6, e)) {
    memcpy(e->addr6, old->addr6, 16);
    e->has6 = 1;
  }
}

/* The entry for |pin| in |p|, or NULL. */
static struct addr_pool_entry *find_entry(const struct addr_pool *p,
                                          const uint8_t *pin) {
  struct addr_pool_entry key;

  if (p == NULL || p->n == 0)
    return NULL;
  memcpy(key.pin, pin, JVPN_PIN_LEN);
  return bsearch(&key, p->entries, p->n, sizeof(*p->entries), entry_cmp);
}

/* Fills |p|'s entries for |conf|'s peers: fixed addresses first, then
 * what |old| (may be NULL) assigned; no address twice, no pin twice. */
static int fill_entries(struct addr_pool *p, const struct jvpn_server_conf *conf,
                        const struct addr_pool *old) {
  size_t i;

  p->cap = conf->npeers;
  if (p->cap > 0) {
    p->entries = calloc(p->cap, sizeof(*p->entries));
    if (p->entries == NULL)
      return JVPN_ERR_NOMEM;
  }
  for (i = 0; i < conf->npeers; i++)
    if (take_fixed(p, &p->entries[i], &conf->peers[i]) != 0)
      return JVPN_ERR_INVAL;
  p->n = conf->npeers;
  for (i = 0; i < p->n; i++) {
    struct addr_pool_entry *e = &p->entries[i];
    if ((e->has4 && addr_taken(p, AF_INET, e->addr4, e)) ||
        (e->has6 && addr_taken(p, AF_INET6, e->addr6, e)))
      return JVPN_ERR_INVAL;
  }
  for (i = 0; i < p->n; i++)
    carry_assigned(p, &p->entries[i], find_entry(old, p->entries[i].pin));
  if (p->n > 1) {
    qsort(p->entries, p->n, sizeof(*p->entries), entry_cmp);
    for (i = 1; i < p->n; i++)
      if (entry_cmp(&p->entries[i - 1], &p->entries[i]) == 0)
        return JVPN_ERR_INVAL;
  }
  return 0;
}

/* A pool for |conf| that keeps |old|'s assignments (NULL: none). */
static int build(struct addr_pool *p, const struct jvpn_server_conf *conf,
                 const struct addr_pool *old) {
  int rv;

  memset(p, 0, sizeof(*p));
  if (conf->npeers > JVPN_MAX_PEERS)
    return JVPN_ERR_INVAL;
  if ((conf->pool4.family != 0 &&
       (conf->pool4.family != AF_INET || !pool_valid(&conf->pool4))) ||
      (conf->pool6.family != 0 &&
       (conf->pool6.family != AF_INET6 || !pool_valid(&conf->pool6))))
    return JVPN_ERR_INVAL;
  p->pool4 = conf->pool4;
  p->pool6 = conf->pool6;
  p->next4 = p->next6 = SERVER_INDEX + 1;
  if (old != NULL) {
    p->next4 = old->next4;
    p->next6 = old->next6;
  }
  rv = fill_entries(p, conf, old);
  if (rv != 0)
    addr_pool_free(p);
  return rv;
}

int addr_pool_init(struct addr_pool *p, const struct jvpn_server_conf *conf) {
  return build(p, conf, NULL);
}

int addr_pool_rebuild(struct addr_pool *p, const struct addr_pool *old,
                      const struct jvpn_server_conf *conf) {
  return build(p, conf, old);
}

const struct addr_pool_entry *addr_pool_find(const struct addr_pool *p,
                                             const uint8_t *pin) {
  return find_entry(p, pin);
}

int addr_pool_entry_same(const struct addr_pool_entry *a,
                         const struct addr_pool_entry *b) {
  return a->has4 == b->has4 && a->has6 == b->has6 &&
         (!a->has4 || memcmp(a->addr4, b->addr4, 4) == 0) &&
         (!a->has6 || memcmp(a->addr6, b->addr6, 16) == 0);
}

void addr_pool_free(struct addr_pool *p) {
  if (p == NULL)
    return;
  free(p->entries);
  memset(p, 0, sizeof(*p));
}

static int server_addr(const struct jvpn_prefix *pool, uint8_t *out) {
  if (pool->family == 0)
    return JVPN_ERR_NOTFOUND;
  addr_at(pool, SERVER_INDEX, out);
  return 0;
}

int addr_pool_server_addr4(const struct addr_pool *p, uint8_t out[4]) {
  return server_addr(&p->pool4, out);
}

int addr_pool_server_addr6(const struct addr_pool *p, uint8_t out[16]) {
  return server_addr(&p->pool6, out);
}

/* Gives |e| the next free host of |pool|. Returns 0 or JVPN_ERR_FULL. */
static int take_next(struct addr_pool *p, const struct jvpn_prefix *pool,
                     uint64_t *next, struct addr_pool_entry *e) {
  uint64_t last = last_index(pool);
  uint8_t cand[16];

  for (; *next <= last && *next != 0; (*next)++) {
    addr_at(pool, *next, cand);
    if (addr_taken(p, pool->family, cand, e))
      continue; /* somebody's fixed address */
    if (pool->family == AF_INET) {
      memcpy(e->addr4, cand, 4);
      e->has4 = 1;
    } else {
      memcpy(e->addr6, cand, 16);
      e->has6 = 1;
    }
    (*next)++; /* wraps to 0 past 2^64 - 1: treated as exhausted */
    return 0;
  }
  return JVPN_ERR_FULL;
}

const struct addr_pool_entry *
addr_pool_assign(struct addr_pool *p, const struct jvpn_peer_conf *peer) {
  struct addr_pool_entry *e = find_entry(p, peer->pin);

  if (e == NULL)
    return NULL; /* not a configured peer */
  if (p->pool4.family != 0 && !e->has4 &&
      take_next(p, &p->pool4, &p->next4, e) < 0)
    return NULL;
  if (p->pool6.family != 0 && !e->has6 &&
      take_next(p, &p->pool6, &p->next6, e) < 0)
    return NULL;
  return e;
}

/* |e| takes |addr| in |pool|'s family unless it holds another address
 * there, or the address is not a host of the pool, or another pin has it. */
static int claim_one(const struct addr_pool *p, const struct jvpn_prefix *pool,
                     struct addr_pool_entry *e, const uint8_t *addr) {
  int v4 = pool->family == AF_INET;
  size_t len = v4 ? 4 : 16;
  uint8_t *mine = v4 ? e->addr4 : e->addr6;
  int *has = v4 ? &e->has4 : &e->has6;

  if (*has)
    return memcmp(mine, addr, len) == 0 ? 0 : JVPN_ERR_EXISTS;
  if (pool->family == 0 || !host_ok(pool, addr) ||
      addr_taken(p, pool->family, addr, e))
    return JVPN_ERR_EXISTS;
  memcpy(mine, addr, len);
  *has = 1;
  return 0;
}

const struct addr_pool_entry *
addr_pool_claim(struct addr_pool *p, const uint8_t *pin, int has4,
                const uint8_t addr4[4], int has6, const uint8_t addr6[16]) {
  struct addr_pool_entry *e = find_entry(p, pin), saved;

  if (e == NULL)
    return NULL;
  saved = *e;
  if ((has4 && claim_one(p, &p->pool4, e, addr4) != 0) ||
      (has6 && claim_one(p, &p->pool6, e, addr6) != 0)) {
    *e = saved;
    return NULL;
  }
  return e;
}

int addr_pool_set(struct addr_pool *p, const uint8_t *pin, int family,
                  const uint8_t *addr) {
  struct addr_pool_entry *e = find_entry(p, pin);
  const struct jvpn_prefix *pool = family == AF_INET ? &p->pool4 : &p->pool6;
  int *has;

  if (e == NULL)
    return JVPN_ERR_NOTFOUND;
  has = family == AF_INET ? &e->has4 : &e->has6;
  if (addr == NULL) {
    *has = 0;
    return 0;
  }
  if (pool->family != family || !host_ok(pool, addr))
    return JVPN_ERR_INVAL;
  if (addr_taken(p, family, addr, e))
    return JVPN_ERR_EXISTS;
  memcpy(family == AF_INET ? e->addr4 : e->addr6, addr,
         family == AF_INET ? 4 : 16);
  *has = 1;
  return 0;
}
