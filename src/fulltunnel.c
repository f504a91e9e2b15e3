/*
 * src/fulltunnel: the client's full-tunnel mode (see the header).
 */
#include "src/fulltunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "jvpn/errors.h"
#include "tun/netlink.h"

/* Rules of one priority a crashed client can leave: the server's and
 * every exclude. */
#define STALE_MAX (JVPN_MAX_ROUTES + 4)

static const uint8_t any[16];

static int *flag_of(struct full_tunnel *ft, int family) {
  return family == AF_INET ? &ft->on4 : &ft->on6;
}

/* The address of |ss| as a host prefix; its family, or 0. */
static int host_of(const struct sockaddr_storage *ss, const uint8_t **a,
                   uint8_t *plen) {
  if (ss->ss_family == AF_INET) {
    *a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
    *plen = 32;
    return AF_INET;
  }
  if (ss->ss_family == AF_INET6) {
    *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    *plen = 128;
    return AF_INET6;
  }
  return 0;
}

/* The rules at P for the server's addresses (add or delete). */
static int server_rules(struct full_tunnel *ft, int add) {
  size_t i;

  for (i = 0; i < ft->nservers; i++) {
    struct tun_nl_rule r = {0};

    r.family = host_of(&ft->servers[i], &r.to, &r.to_len);
    if (r.family == 0)
      continue;
    r.pref = ft->pref;
    r.table = 254; /* main */
    r.suppress_plen = -1;
    if (!add)
      (void)tun_nl_rule_del(&r);
    else if (tun_nl_rule_add(&r) != 0)
      return JVPN_ERR_SYSTEM;
  }
  return 0;
}

/* The exclude rules of |family| at P (add or delete). */
static int exclude_rules(struct full_tunnel *ft, int family, int add) {
  size_t i;

  for (i = 0; i < ft->nexcludes; i++) {
    const struct jvpn_prefix *x = &ft->excludes[i];
    struct tun_nl_rule r = {family, ft->pref, 254, x->addr, x->plen, -1};

    if (x->family != family)
      continue;
    if (!add)
      (void)tun_nl_rule_del(&r);
    else if (tun_nl_rule_add(&r) != 0)
      return JVPN_ERR_SYSTEM;
  }
  return 0;
}

/* The rules at P+1 and P+2, the excludes at P, and the table's default
 * route of |family|. */
static int family_rules(struct full_tunnel *ft, int family, int add) {
  struct tun_nl_rule main_specific = {family, ft->pref + 1, 254, NULL, 0, 0};
  struct tun_nl_rule own = {family, ft->pref + 2, ft->table, NULL, 0, -1};

  if (!add) {
    (void)tun_nl_rule_del(&own);
    (void)tun_nl_rule_del(&main_specific);
    (void)exclude_rules(ft, family, 0);
    (void)tun_nl_route_del(ft->ifindex, family, any, 0, ft->table, 0);
    return 0;
  }
  if (tun_nl_route_add(ft->ifindex, family, any, 0, ft->table, 0) != 0 ||
      exclude_rules(ft, family, 1) != 0 ||
      tun_nl_rule_add(&main_specific) != 0 || tun_nl_rule_add(&own) != 0) {
    int saved = errno;

    (void)family_rules(ft, family, 0);
    errno = saved;
    return JVPN_ERR_SYSTEM;
  }
  return 0;
}

int full_tunnel_init(struct full_tunnel *ft, int ifindex, uint32_t table,
                     uint32_t pref, const struct jvpn_prefix *excludes,
                     size_t n) {
  static const int families[2] = {AF_INET, AF_INET6};
  int i, stale = 0, rv;
  uint32_t p;

  memset(ft, 0, sizeof(*ft));
  ft->ifindex = ifindex;
  ft->table = table;
  ft->pref = pref;
  ft->excludes = excludes;
  ft->nexcludes = excludes != NULL ? n : 0;
  for (i = 0; i < 2; i++)
    for (p = pref; p < pref + 3; p++) {
      rv = tun_nl_rule_flush_pref(families[i], p, STALE_MAX);
      if (rv < 0)
        return rv;
      stale += rv;
    }
  return stale;
}

int full_tunnel_set(struct full_tunnel *ft, int family, int on) {
  int *flag = flag_of(ft, family), was_on = ft->on4 || ft->on6;

  if (*flag == !!on)
    return 0;
  if (!on) {
    (void)family_rules(ft, family, 0);
    *flag = 0;
    if (!ft->on4 && !ft->on6)
      (void)server_rules(ft, 0);
    return 0;
  }
  if ((!was_on && server_rules(ft, 1) != 0) ||
      family_rules(ft, family, 1) != 0) {
    if (!was_on)
      (void)server_rules(ft, 0);
    return JVPN_ERR_SYSTEM;
  }
  *flag = 1;
  return 0;
}

int full_tunnel_servers(struct full_tunnel *ft,
                        const struct sockaddr_storage *servers, size_t n) {
  int on = ft->on4 || ft->on6;

  if (on)
    (void)server_rules(ft, 0);
  if (n > FULL_TUNNEL_SERVERS_MAX)
    n = FULL_TUNNEL_SERVERS_MAX;
  memcpy(ft->servers, servers, n * sizeof(*servers));
  ft->nservers = n;
  return on ? server_rules(ft, 1) : 0;
}

void full_tunnel_off(struct full_tunnel *ft) {
  if (ft->on4)
    (void)full_tunnel_set(ft, AF_INET, 0);
  if (ft->on6)
    (void)full_tunnel_set(ft, AF_INET6, 0);
}
