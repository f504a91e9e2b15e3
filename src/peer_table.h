/*
 * src/peer_table: inner address -> connection, for the server's downlink.
 *
 * Open addressing keyed by a 16-byte address (IPv4 as ::ffff:a.b.c.d),
 * O(1) lookup that never allocates. The slots start few and double as the
 * table fills, up to what |max| entries need (load at most 1/2).
 */
#ifndef SRC_PEER_TABLE_H
#define SRC_PEER_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct peer_table_slot {
  uint8_t key[16];
  void *value;   /* NULL = empty */
  int tomb;      /* deleted marker */
};

struct peer_table {
  struct peer_table_slot *slots; /* owned; power-of-two count */
  size_t mask;
  size_t n, tombs, max;
};

/* Creates a table for up to |max| entries. Returns 0 or JVPN_ERR_NOMEM. */
int peer_table_init(struct peer_table *t, size_t max);
void peer_table_free(struct peer_table *t);

/* |family| is AF_INET (4-byte |addr|) or AF_INET6 (16 bytes). */
int peer_table_put(struct peer_table *t, int family, const uint8_t *addr,
                   void *value); /* 0, JVPN_ERR_FULL (max entries), or
                                  * JVPN_ERR_NOMEM (could not grow); an
                                  * existing entry is replaced */
void *peer_table_get(const struct peer_table *t, int family,
                     const uint8_t *addr);
/* Removes the entry only if it still maps to |value|. */
void peer_table_del(struct peer_table *t, int family, const uint8_t *addr,
                    void *value);

#endif /* SRC_PEER_TABLE_H */
