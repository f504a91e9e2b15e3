/*
 * src/happy_eyeballs: the order of the server's addresses (see the header).
 */
#include "src/happy_eyeballs.h"
#include "src/sockaddr_same.h"

#include <netinet/in.h>
#include <string.h>

unsigned he_family_bit(int family) {
  return family == AF_INET ? HE_FAM_V4 : family == AF_INET6 ? HE_FAM_V6 : 0;
}

static int find(const struct he_addr *a, size_t n, const struct sockaddr *sa) {
  size_t i;

  for (i = 0; i < n; i++)
    if (jvpn_sockaddr_same((const struct sockaddr *)&a[i].sa, sa))
      return (int)i;
  return -1;
}

/* The next index at or after |i| in |src| whose family is (|want|) or is
 * not (!|want|) |family|; |n| if none. */
static size_t skip_to(const struct he_addr *src, size_t n, size_t i, int family,
                      int want) {
  while (i < n && (src[i].sa.ss_family == family) != want)
    i++;
  return i;
}

/* Puts the |n| addresses of |src| into |l| in Happy Eyeballs order: the
 * families take turns, l->first_family first ("First Address Family
 * Count" 1, RFC 8305 4), each in the order of |src|; the rest of one
 * family follows when the other runs out. */
static void arrange(struct he_list *l, const struct he_addr *src, size_t n) {
  size_t at[2] = {0, 0}, k = 0;
  int turn = 0;

  while (k < JVPN_HE_ADDRS_MAX) {
    int t = turn;

    at[t] = skip_to(src, n, at[t], l->first_family, t == 0);
    if (at[t] >= n) {
      t = !t;
      at[t] = skip_to(src, n, at[t], l->first_family, t == 0);
      if (at[t] >= n)
        break;
    }
    l->a[k++] = src[at[t]++];
    turn = !turn;
  }
  l->n = k;
}

void he_list_init(struct he_list *l) {
  memset(l, 0, sizeof(*l));
  l->first_family = AF_INET6;
}

size_t he_list_set(struct he_list *l, const struct addrinfo *ai,
                   uint64_t now_ms) {
  /* Up to the bound of each family, so that a long answer of one family
   * cannot crowd the other out. */
  struct he_addr src[2 * JVPN_HE_ADDRS_MAX];
  size_t n = 0, per[2] = {0, 0};

  for (; ai != NULL; ai = ai->ai_next) {
    unsigned bit = he_family_bit(ai->ai_family);

    if (bit == 0 || ai->ai_addr == NULL || ai->ai_addrlen > sizeof(src[0].sa) ||
        per[bit - 1] == JVPN_HE_ADDRS_MAX || find(src, n, ai->ai_addr) >= 0)
      continue;
    memset(&src[n], 0, sizeof(src[n]));
    memcpy(&src[n].sa, ai->ai_addr, ai->ai_addrlen);
    src[n].len = ai->ai_addrlen;
    per[bit - 1]++;
    n++;
  }
  if (n == 0)
    return 0; /* nothing usable: the previous answer stays */
  arrange(l, src, n);
  l->answer_ms = now_ms;
  return l->n;
}

void he_list_asked(struct he_list *l, uint64_t now_ms) {
  l->asked_ms = now_ms;
}

int he_list_next(const struct he_list *l, size_t from, unsigned fams) {
  size_t i;

  for (i = from; i < l->n; i++)
    if (!l->a[i].failed && (he_family_bit(l->a[i].sa.ss_family) & fams))
      return (int)i;
  return -1;
}

enum he_need he_list_need(const struct he_list *l, unsigned fams,
                          uint64_t now_ms) {
  int may_ask = !l->fixed && (l->asked_ms == 0 ||
                              now_ms - l->asked_ms >= JVPN_RESOLVE_MIN_GAP_MS);
  int spent = he_list_next(l, 0, fams) < 0;

  if (l->n == 0 && !l->fixed)
    return may_ask ? HE_LOOKUP : HE_WAIT;
  if (may_ask && (spent || now_ms - l->answer_ms >= JVPN_RESOLVE_LIFETIME_MS))
    return HE_LOOKUP;
  return spent ? HE_RETRY : HE_READY;
}

void he_list_failed(struct he_list *l, const struct sockaddr *sa) {
  int i = find(l->a, l->n, sa);

  if (i >= 0)
    l->a[i].failed = 1;
}

void he_list_retry(struct he_list *l) {
  size_t i;

  for (i = 0; i < l->n; i++)
    l->a[i].failed = 0;
}

void he_list_won(struct he_list *l, const struct sockaddr *sa) {
  struct he_addr src[JVPN_HE_ADDRS_MAX];
  int w = find(l->a, l->n, sa);
  size_t i, n = 0;

  if (he_family_bit(sa->sa_family) == 0)
    return;
  l->first_family = sa->sa_family;
  he_list_retry(l);
  if (w >= 0)
    src[n++] = l->a[w];
  for (i = 0; i < l->n; i++)
    if ((int)i != w)
      src[n++] = l->a[i];
  arrange(l, src, n);
}

unsigned he_list_families(const struct he_list *l) {
  unsigned fams = 0;
  size_t i;

  for (i = 0; i < l->n; i++)
    fams |= he_family_bit(l->a[i].sa.ss_family);
  return fams;
}

unsigned he_attempt_delay_ms(unsigned srtt_ms) {
  unsigned d = 2 * srtt_ms;

  if (srtt_ms == 0)
    return JVPN_HE_ATTEMPT_DELAY_MS;
  if (srtt_ms > JVPN_HE_ATTEMPT_DELAY_MAX_MS ||
      d > JVPN_HE_ATTEMPT_DELAY_MAX_MS)
    return JVPN_HE_ATTEMPT_DELAY_MAX_MS;
  return d < JVPN_HE_ATTEMPT_DELAY_MIN_MS ? JVPN_HE_ATTEMPT_DELAY_MIN_MS : d;
}
