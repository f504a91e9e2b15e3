/* jvpn-quic: inner address -> connection table. */
#include "src/peer_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "jvpn/errors.h"

/* Slots a table starts with; it doubles as it fills (peer_table_put). */
#define PEER_TABLE_FIRST_CAP 64

/* Marks a live slot not yet re-placed during an in-place rehash. */
#define SLOT_PENDING 2

/* Rehash in place once tombstones take more than a quarter of the slots,
 * so that misses (downlink packets to unknown addresses) stay short. */
#define TOMB_LIMIT(t) (((t)->mask + 1) / 4)

/* One seed for every table of the process. Inner addresses are chosen by
 * the tunnel's traffic, so an unkeyed hash would let a sender aim every
 * lookup at one probe chain. The header leaves no room for a per-table
 * key, and a process-wide one defends as well. */
static uint64_t seed_k0, seed_k1;
static int seed_ready;

static void seed_init(void) {
  uint64_t k[2];
  struct timespec ts;

  if (seed_ready)
    return;
  if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
    /* Only before the kernel's pool is ready at early boot; a weaker
     * seed still spreads ordinary traffic. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)&ts;
    k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uintptr_t)k;
  }
  seed_k0 = k[0];
  seed_k1 = k[1];
  seed_ready = 1;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = ROTL(v1, 13);                                                         \
    v1 ^= v0;                                                                  \
    v0 = ROTL(v0, 32);                                                         \
    v2 += v3;                                                                  \
    v3 = ROTL(v3, 16);                                                         \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = ROTL(v3, 21);                                                         \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = ROTL(v1, 17);                                                         \
    v1 ^= v2;                                                                  \
    v2 = ROTL(v2, 32);                                                         \
  } while (0)

static uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* SipHash-1-3 of a 16-byte key: the reduced-round variant hash tables use
 * (it runs on every downlink packet); flooding resistance comes from the
 * secret key, not from the round count. */
static uint64_t hash_key(const uint8_t key[16]) {
  uint64_t v0 = seed_k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = seed_k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = seed_k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = seed_k1 ^ 0x7465646279746573ULL;
  uint64_t m, b = (uint64_t)16 << 56;
  int i;

  for (i = 0; i < 2; i++) {
    m = load_le64(key + 8 * i);
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  v3 ^= b;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

static int make_key(int family, const uint8_t *addr, uint8_t key[16]) {
  if (addr == NULL)
    return -1;
  if (family == AF_INET) {
    memset(key, 0, 10);
    key[10] = 0xff;
    key[11] = 0xff;
    memcpy(key + 12, addr, 4);
    return 0;
  }
  if (family == AF_INET6) {
    memcpy(key, addr, 16);
    return 0;
  }
  return -1;
}

static int slot_empty(const struct peer_table_slot *s) {
  return s->value == NULL && !s->tomb;
}

/* Returns the slot holding |key|, or NULL. Probes at most every slot once,
 * so a table without empty slots still terminates. */
static struct peer_table_slot *find(const struct peer_table *t,
                                    const uint8_t key[16]) {
  size_t i = (size_t)hash_key(key) & t->mask, n;

  for (n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
    struct peer_table_slot *s = &t->slots[i];
    if (slot_empty(s))
      return NULL;
    if (s->value != NULL && memcmp(s->key, key, 16) == 0)
      return s;
  }
  return NULL;
}

/* Drops every tombstone without allocating (the scheme of SwissTable's
 * in-place rehash): live entries are marked pending, then each is moved to
 * the first slot of its probe sequence that is empty or still pending,
 * swapping a pending occupant out to be placed next. A placed entry's
 * probe path holds only placed entries, so no lookup is ever cut short. */
static void rehash_in_place(struct peer_table *t) {
  size_t i, j, cap = t->mask + 1;

  for (i = 0; i < cap; i++) {
    struct peer_table_slot *s = &t->slots[i];
    s->tomb = s->value != NULL ? SLOT_PENDING : 0;
  }
  for (i = 0; i < cap; i++) {
    struct peer_table_slot cur;

    if (t->slots[i].tomb != SLOT_PENDING)
      continue;
    cur = t->slots[i];
    t->slots[i].value = NULL;
    t->slots[i].tomb = 0;
    for (;;) {
      struct peer_table_slot *s;

      j = (size_t)hash_key(cur.key) & t->mask;
      while (t->slots[j].value != NULL && t->slots[j].tomb != SLOT_PENDING)
        j = (j + 1) & t->mask;
      s = &t->slots[j];
      if (s->value == NULL) {
        *s = cur;
        s->tomb = 0;
        break;
      }
      {
        struct peer_table_slot next = *s;
        *s = cur;
        s->tomb = 0;
        cur = next;
      }
    }
  }
  t->tombs = 0;
}

/* The slots |max| entries need: a load factor of at most 1/2 keeps
 * linear probing chains short. */
static size_t cap_for(size_t max) {
  size_t cap = 8;

  while (cap < 2 * max)
    cap <<= 1;
  return cap;
}

/* Puts a live entry into the first empty slot of its probe sequence (a
 * fresh array: no tombstones). */
static void place(struct peer_table *t, const struct peer_table_slot *e) {
  size_t j = (size_t)hash_key(e->key) & t->mask;

  while (t->slots[j].value != NULL)
    j = (j + 1) & t->mask;
  t->slots[j] = *e;
  t->slots[j].tomb = 0;
}

/* Doubles the slots, up to what |max| entries need. JVPN_ERR_NOMEM leaves
 * the table as it was. */
static int grow(struct peer_table *t) {
  size_t oldcap = t->mask + 1, i;
  struct peer_table_slot *old = t->slots;
  struct peer_table_slot *fresh = calloc(2 * oldcap, sizeof(*fresh));

  if (fresh == NULL)
    return JVPN_ERR_NOMEM;
  t->slots = fresh;
  t->mask = 2 * oldcap - 1;
  t->tombs = 0;
  for (i = 0; i < oldcap; i++)
    if (old[i].value != NULL)
      place(t, &old[i]);
  free(old);
  return 0;
}

int peer_table_init(struct peer_table *t, size_t max) {
  size_t cap;

  memset(t, 0, sizeof(*t));
  if (max == 0 || max > SIZE_MAX / 4 / sizeof(struct peer_table_slot))
    return JVPN_ERR_INVAL;
  /* Sized to demand: most tables hold far fewer than |max| entries, and a
   * hashed table's pages are all resident once it holds a few per page. */
  cap = cap_for(max);
  if (cap > PEER_TABLE_FIRST_CAP)
    cap = PEER_TABLE_FIRST_CAP;
  t->slots = calloc(cap, sizeof(*t->slots));
  if (t->slots == NULL)
    return JVPN_ERR_NOMEM;
  seed_init();
  t->mask = cap - 1;
  t->max = max;
  return 0;
}

void peer_table_free(struct peer_table *t) {
  if (t == NULL)
    return;
  free(t->slots);
  memset(t, 0, sizeof(*t));
}

int peer_table_put(struct peer_table *t, int family, const uint8_t *addr,
                   void *value) {
  uint8_t key[16];
  struct peer_table_slot *s, *first_tomb = NULL;
  size_t i, n;

  if (t->slots == NULL || value == NULL || make_key(family, addr, key) < 0)
    return JVPN_ERR_INVAL;
  s = find(t, key);
  if (s != NULL) {
    s->value = value;
    return 0;
  }
  if (t->n >= t->max)
    return JVPN_ERR_FULL;
  /* Past half full: with live entries at most 3/8 of the slots, the
   * tombstones go in place (churn must not double the slots, and 1/8 of
   * them is left to fill before the next pass); else the slots double,
   * up to what |max| needs (a power of two: fewer than cap_for(max)
   * means fewer than 2 * max). */
  if (2 * (t->n + t->tombs + 1) > t->mask + 1) {
    if (8 * (t->n + 1) <= 3 * (t->mask + 1))
      rehash_in_place(t);
    else if (t->mask + 1 < 2 * t->max)
      (void)grow(t); /* without memory it fills further, still correct */
  }
  if (t->n >= t->mask)
    return JVPN_ERR_NOMEM; /* keep one empty slot: misses must end */
  i = (size_t)hash_key(key) & t->mask;
  for (n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
    s = &t->slots[i];
    if (s->tomb && first_tomb == NULL)
      first_tomb = s;
    if (slot_empty(s))
      break;
  }
  if (first_tomb != NULL) {
    s = first_tomb;
    s->tomb = 0;
    t->tombs--;
  }
  /* n < mask + 1, so an empty or tombstone slot always exists. */
  memcpy(s->key, key, 16);
  s->value = value;
  t->n++;
  return 0;
}

void *peer_table_get(const struct peer_table *t, int family,
                     const uint8_t *addr) {
  uint8_t key[16];
  struct peer_table_slot *s;

  if (t->slots == NULL || make_key(family, addr, key) < 0)
    return NULL;
  s = find(t, key);
  return s != NULL ? s->value : NULL;
}

void peer_table_del(struct peer_table *t, int family, const uint8_t *addr,
                    void *value) {
  uint8_t key[16];
  struct peer_table_slot *s;
  size_t i;

  if (t->slots == NULL || make_key(family, addr, key) < 0)
    return;
  s = find(t, key);
  /* A connection that lost its address to a newer one must not remove the
   * newer mapping when it closes. */
  if (s == NULL || s->value != value)
    return;
  s->value = NULL;
  t->n--;
  i = (size_t)(s - t->slots);
  if (slot_empty(&t->slots[(i + 1) & t->mask])) {
    /* No probe sequence continues past an empty slot, so this slot and the
     * tombstones right before it end no chain and can be emptied. */
    for (;;) {
      i = (i - 1) & t->mask;
      if (!t->slots[i].tomb || t->slots[i].value != NULL)
        break;
      t->slots[i].tomb = 0;
      t->tombs--;
    }
    return;
  }
  s->tomb = 1;
  t->tombs++;
  if (t->tombs > TOMB_LIMIT(t))
    rehash_in_place(t);
}
