/*
 * src/halfopen: half-open connections per source (see the header).
 */
#include "src/halfopen.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"

struct halfopen_src {
  int family;               /* of the key: AF_INET or AF_INET6 */
  uint8_t key[16];          /* IPv4 address, or the IPv6 /64 zero-padded */
  size_t n;
  struct halfopen_node *oldest, *newest;
};

/* The source key of |sa|: an IPv4 address (also when IPv4-mapped), or an
 * IPv6 address's /64. Returns 0, or -1 for another family. */
static int source_key(const struct sockaddr *sa, int *family, uint8_t key[16]) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

  memset(key, 0, 16);
  if (sa->sa_family == AF_INET) {
    memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    *family = AF_INET;
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

    if (memcmp(a, mapped, sizeof(mapped)) == 0) {
      memcpy(key, a + 12, 4);
      *family = AF_INET;
    } else {
      memcpy(key, a, 8);
      *family = AF_INET6;
    }
    return 0;
  }
  return -1;
}

static struct halfopen_src *find_src(const struct halfopen *h,
                                     const struct sockaddr *peer) {
  uint8_t key[16];
  int family;

  if (source_key(peer, &family, key) != 0)
    return NULL;
  return peer_table_get(&h->by_src, family, key);
}

int halfopen_init(struct halfopen *h, size_t max_nodes) {
  memset(h, 0, sizeof(*h));
  return peer_table_init(&h->by_src, max_nodes);
}

void halfopen_free(struct halfopen *h) {
  size_t i;

  for (i = 0; h->by_src.slots != NULL && i <= h->by_src.mask; i++)
    if (h->by_src.slots[i].value != NULL)
      free(h->by_src.slots[i].value);
  peer_table_free(&h->by_src);
  memset(h, 0, sizeof(*h));
}

struct halfopen_node *halfopen_over_limit(struct halfopen *h,
                                          const struct sockaddr *peer,
                                          size_t limit) {
  struct halfopen_src *s = find_src(h, peer);

  if (s == NULL || s->n < limit)
    return NULL;
  h->evicted++;
  return s->oldest;
}

int halfopen_add(struct halfopen *h, struct halfopen_node *n,
                 const struct sockaddr *peer) {
  struct halfopen_src *s;
  uint8_t key[16];
  int family, rv;

  if (n->src != NULL || source_key(peer, &family, key) != 0)
    return JVPN_ERR_INVAL;
  s = peer_table_get(&h->by_src, family, key);
  if (s == NULL) {
    s = calloc(1, sizeof(*s));
    if (s == NULL)
      return JVPN_ERR_NOMEM;
    s->family = family;
    memcpy(s->key, key, sizeof(key));
    rv = peer_table_put(&h->by_src, family, key, s);
    if (rv != 0) {
      free(s);
      return rv;
    }
    h->sources++;
  }
  n->src = s;
  n->next = NULL;
  n->prev = s->newest;
  if (s->newest != NULL)
    s->newest->next = n;
  else
    s->oldest = n;
  s->newest = n;
  s->n++;
  h->count++;
  return 0;
}

void halfopen_remove(struct halfopen *h, struct halfopen_node *n) {
  struct halfopen_src *s = n->src;

  if (s == NULL)
    return;
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    s->oldest = n->next;
  if (n->next != NULL)
    n->next->prev = n->prev;
  else
    s->newest = n->prev;
  n->src = NULL;
  n->prev = n->next = NULL;
  s->n--;
  h->count--;
  if (s->n == 0) {
    peer_table_del(&h->by_src, s->family, s->key, s);
    free(s);
    h->sources--;
  }
}

size_t halfopen_of(const struct halfopen *h, const struct sockaddr *peer) {
  const struct halfopen_src *s = find_src(h, peer);

  return s != NULL ? s->n : 0;
}
