/*
 * src/client_host: what the client changes on its host besides its TUN
 * device, and undoes: the advertised routes it installs (and the checks of
 * downlink sources against them), full-tunnel mode (src/fulltunnel.h),
 * split tunnelling (include/exclude), the kill switch (src/killswitch.h),
 * and `jvpn-quic client --down` for what a crashed client left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/connect_ip.h"
#include "src/client.h"
#include "src/client_int.h"
#include "tun/ip_check.h"
#include "tun/netlink.h"

/* --- advertised routes, full tunnel, split tunnelling -------------------- */

static int range_covers(const struct cip_range *r,
                        const struct sockaddr_storage *ss) {
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

  if (ss->ss_family == AF_INET)
    return cip_range_contains(r, 4, (const uint8_t *)&s4->sin_addr);
  if (ss->ss_family == AF_INET6)
    return cip_range_contains(r, 6, s6->sin6_addr.s6_addr);
  return 0;
}

/* Returns 1 if |r| covers one of the server's underlay addresses (those
 * of the current answer, and those the connections use): through the
 * tunnel, such a route would carry the QUIC packets themselves. */
static int covers_server(const struct client *cl, const struct cip_range *r) {
  size_t i;

  for (i = 0; i < cl->he.n; i++)
    if (range_covers(r, &cl->he.a[i].sa))
      return 1;
  for (i = 0; i < cl->nlinks; i++)
    if (link_has_conn(&cl->links[i]) && range_covers(r, &cl->links[i].remote))
      return 1;
  return 0;
}

/* Returns 1 if |addr| (of |version|) is inside an allow_route prefix, or if
 * there are none. */
static int locally_allowed(const struct client *cl, uint8_t version,
                           const uint8_t *addr) {
  size_t i;

  if (cl->nlocal_allow == 0)
    return 1;
  for (i = 0; i < cl->nlocal_allow; i++)
    if (cip_range_contains(&cl->local_allow[i], version, addr))
      return 1;
  return 0;
}

/* Returns 1 if an exclude prefix holds all of |r|. */
static int range_excluded(const struct client *cl, const struct cip_range *r) {
  struct cip_range x;
  size_t i;

  for (i = 0; i < cl->conf.nexcludes; i++) {
    const struct jvpn_prefix *p = &cl->conf.excludes[i];

    cip_range_from_prefix(&x, p->family == AF_INET ? 4 : 6, p->addr, p->plen);
    if (cip_range_contains(&x, r->ip_version, r->start) &&
        cip_range_contains(&x, r->ip_version, r->end))
      return 1;
  }
  return 0;
}

/* Returns 1 if one allow_route prefix holds all of |r| (or there are none). */
static int range_locally_allowed(const struct client *cl,
                                 const struct cip_range *r) {
  size_t i;

  if (cl->nlocal_allow == 0)
    return 1;
  for (i = 0; i < cl->nlocal_allow; i++)
    if (cip_range_contains(&cl->local_allow[i], r->ip_version, r->start) &&
        cip_range_contains(&cl->local_allow[i], r->ip_version, r->end))
      return 1;
  return 0;
}

/* An advertised default route of |family|: full-tunnel mode for it, when
 * the config allows and the tunnel has an address of that family. */
static int wants_full_tunnel(const struct client *cl, int family) {
  if (cl->conf.full_tunnel == JVPN_FULL_TUNNEL_OFF || !cl->ft_ok)
    return 0;
  return family == AF_INET ? cl->has4 : cl->has6;
}

/* Returns 1 if |w| (the prefix of range |r|) may go through the tunnel:
 * it is not excluded and does not cover the server; else logs why not. */
static int route_wanted(const struct client *cl, const struct cip_range *r,
                        const struct client_route *w) {
  char s[INET6_ADDRSTRLEN];

  if (range_excluded(cl, r)) {
    LOG_INFO(NULL, "not routing %s/%u through the tunnel: excluded",
             glue_ip_str(w->family, w->addr, s, sizeof(s)), w->plen);
    return 0;
  }
  if (covers_server(cl, r)) {
    LOG_WARN(NULL, "ignoring advertised route %s/%u: it covers the "
                   "server's own address",
             glue_ip_str(w->family, w->addr, s, sizeof(s)), w->plen);
    return 0;
  }
  return 1;
}

/* Nonzero if |r| is one of the |n| routes of |list|. */
static int route_in(const struct client_route *list, size_t n,
                    const struct client_route *r) {
  size_t i;

  for (i = 0; i < n; i++)
    if (list[i].family == r->family && list[i].plen == r->plen &&
        memcmp(list[i].addr, r->addr, 16) == 0)
      return 1;
  return 0;
}

/* An advertised range |r| that no include prefix holds: the include
 * prefixes inside it go through the tunnel instead (include wins, also
 * over an advertised default route). Appends them to |want| (|*nwant| of
 * at most |max| used). Returns how many it appended. */
static size_t includes_inside(const struct client *cl,
                              const struct cip_range *r,
                              struct client_route *want, size_t *nwant,
                              size_t max) {
  size_t i, added = 0;

  for (i = 0; i < cl->nlocal_allow && *nwant < max; i++) {
    const struct cip_range *inc = &cl->local_allow[i];
    struct client_route *w = &want[*nwant];

    if (!cip_range_contains(r, inc->ip_version, inc->start) ||
        !cip_range_contains(r, inc->ip_version, inc->end))
      continue;
    memset(w, 0, sizeof(*w));
    w->family = inc->ip_version == 4 ? AF_INET : AF_INET6;
    if (cip_range_to_prefix(inc, w->addr, &w->plen) != 0)
      continue;
    if (route_in(want, *nwant, w) || !route_wanted(cl, inc, w))
      continue;
    (*nwant)++;
    added++;
  }
  return added;
}

/* Turns advertised ranges into the routes to install; returns their count
 * (at most |max|). A default route asks for full-tunnel mode of its family
 * (|full|, indexed 0 for IPv4, 1 for IPv6), unless include prefixes are
 * set and none is the default route itself: then only they go through the
 * tunnel. A range that is no prefix and one covering the server are left
 * out with a warning. */
static size_t routes_to_install(const struct client *cl,
                                const struct cip_range *r, size_t n,
                                struct client_route *want, size_t max,
                                int full[2]) {
  size_t i, nwant = 0;
  char s[INET6_ADDRSTRLEN];

  for (i = 0; i < n && nwant < max; i++) {
    struct client_route *w = &want[nwant];

    memset(w, 0, sizeof(*w));
    w->family = r[i].ip_version == 4 ? AF_INET : AF_INET6;
    if (cip_range_to_prefix(&r[i], w->addr, &w->plen) != 0) {
      LOG_WARN(NULL, "ignoring a route range that is not one prefix");
      continue;
    }
    if (!range_locally_allowed(cl, &r[i])) {
      if (includes_inside(cl, &r[i], want, &nwant, max) == 0)
        LOG_WARN(NULL, "ignoring advertised route %s/%u: outside include "
                       "(allow_route)",
                 glue_ip_str(w->family, w->addr, s, sizeof(s)), w->plen);
      continue;
    }
    if (w->plen == 0) {
      if (wants_full_tunnel(cl, w->family))
        full[w->family == AF_INET6] = 1;
      else
        LOG_WARN(NULL, "ignoring advertised default route (%s): full_tunnel "
                       "is off or the tunnel has no %s address",
                 w->family == AF_INET ? "IPv4" : "IPv6",
                 w->family == AF_INET ? "IPv4" : "IPv6");
      continue;
    }
    if (route_wanted(cl, &r[i], w))
      nwant++;
  }
  return nwant;
}

/* Full-tunnel mode of |family| on or off as |on| says; logged and
 * audited when it changes. Returns 1 if it changed. */
static int full_tunnel_switch(struct client *cl, int family, int on) {
  const char *fam = family == AF_INET ? "IPv4" : "IPv6";
  int was = family == AF_INET ? cl->ft.on4 : cl->ft.on6;

  if (was == on)
    return 0;
  if (full_tunnel_set(&cl->ft, family, on) != 0) {
    LOG_WARN(NULL, "cannot turn full-tunnel mode %s for %s: %m",
             on ? "on" : "off", fam);
    return 0;
  }
  LOG_INFO(NULL, "full tunnel %s for %s (table %u, rules %u-%u)",
           on ? "on" : "off", fam, cl->ft.table, cl->ft.pref, cl->ft.pref + 2);
  client_audit_info(cl, on ? "full_tunnel_on" : "full_tunnel_off",
                    "%s; table %u, rules %u-%u", fam, cl->ft.table,
                    cl->ft.pref, cl->ft.pref + 2);
  return 1;
}

/* As full_tunnel_switch; the DNS settings follow a change (the "~."
 * routing domain is for full-tunnel mode). */
static void full_tunnel_apply(struct client *cl, int family, int on) {
  if (full_tunnel_switch(cl, family, on))
    client_dns_refresh(cl);
}

int client_routes_advertised(struct client *cl, const uint8_t *v,
                             size_t len) {
  struct cip_range r[JVPN_CIP_MAX_ROUTES];
  struct client_route want[CLIENT_MAX_ROUTES];
  size_t n, i, nwant;
  char s[INET6_ADDRSTRLEN];
  int rv, full[2] = {0, 0};

  rv = cip_routes_decode(v, len, r, JVPN_CIP_MAX_ROUTES, &n);
  if (rv != 0) {
    LOG_WARN(NULL, "malformed ROUTE_ADVERTISEMENT: %s", jvpn_strerror(rv));
    return JVPN_ERR_MALFORMED;
  }
  memcpy(cl->allowed, r, n * sizeof(r[0]));
  cl->nallowed = n;
  nwant = routes_to_install(cl, r, n, want, CLIENT_MAX_ROUTES, full);
  full_tunnel_apply(cl, AF_INET, full[0]);
  full_tunnel_apply(cl, AF_INET6, full[1]);
  /* Withdraw routes no longer advertised, then add the new ones. */
  for (i = 0; i < cl->nroutes;) {
    if (route_in(want, nwant, &cl->routes[i])) {
      i++;
      continue;
    }
    (void)tun_nl_route_del(cl->tun.ifindex, cl->routes[i].family,
                           cl->routes[i].addr, cl->routes[i].plen, 0, 0);
    cl->routes[i] = cl->routes[--cl->nroutes];
  }
  for (i = 0; i < nwant; i++) {
    if (route_in(cl->routes, cl->nroutes, &want[i]))
      continue;
    if (tun_nl_route_add(cl->tun.ifindex, want[i].family, want[i].addr,
                         want[i].plen, 0, 0) != 0) {
      LOG_WARN(NULL, "cannot add route %s/%u via %s: %m",
               glue_ip_str(want[i].family, want[i].addr, s, sizeof(s)),
               want[i].plen, cl->tun.name);
      continue;
    }
    LOG_INFO(NULL, "route %s/%u via %s",
             glue_ip_str(want[i].family, want[i].addr, s, sizeof(s)),
             want[i].plen, cl->tun.name);
    cl->routes[cl->nroutes++] = want[i];
  }
  return 0;
}

/* Returns 1 if the server advertised a route to |ip|'s source (for its
 * protocol) and allow_route admits it: what WireGuard's AllowedIPs check
 * on received packets. */
int client_routes_source_ok(const struct client *cl,
                            const struct ip_info *ip) {
  uint8_t version = ip->family == AF_INET ? 4 : 6;
  size_t i;

  for (i = 0; i < cl->nallowed; i++)
    if ((cl->allowed[i].ipproto == 0 || cl->allowed[i].ipproto == ip->proto) &&
        cip_range_contains(&cl->allowed[i], version, ip->src))
      return locally_allowed(cl, version, ip->src);
  return 0;
}

/* --- start-up and exit --------------------------------------------------- */

/* Full-tunnel mode's rules: what a killed client left goes first. */
static void full_tunnel_prepare(struct client *cl) {
  int stale = full_tunnel_init(&cl->ft, cl->tun.ifindex, cl->conf.routing_table,
                               cl->conf.rule_priority, cl->conf.excludes,
                               cl->conf.nexcludes);

  if (stale < 0) {
    LOG_WARN(NULL, "cannot clear policy routing rules %u-%u (full-tunnel "
                   "mode disabled): %m",
             cl->conf.rule_priority, cl->conf.rule_priority + 2);
    return;
  }
  if (stale > 0)
    LOG_INFO(NULL, "removed %d stale policy routing rules at %u-%u", stale,
             cl->conf.rule_priority, cl->conf.rule_priority + 2);
  cl->ft_ok = 1;
}

/* The server's addresses as the lookup has them, into |a|; their count. */
static size_t server_addrs(const struct client *cl, struct sockaddr_storage *a) {
  size_t i;

  for (i = 0; i < cl->he.n; i++)
    a[i] = cl->he.a[i].sa;
  return cl->he.n;
}

void client_server_addrs(struct client *cl) {
  struct sockaddr_storage a[JVPN_HE_ADDRS_MAX];
  size_t n = server_addrs(cl, a);
  char err[200];

  if (full_tunnel_servers(&cl->ft, a, n) != 0)
    LOG_WARN(NULL, "cannot move the full tunnel's rules to the server's "
                   "addresses: %m");
  if (kill_switch_servers(&cl->ks, a, n, err, sizeof(err)) != 0)
    LOG_WARN(NULL, "cannot give the kill switch the server's addresses: %s",
             err);
}

/* With the kill switch, the server's name is looked up at start-up, before
 * the table goes in and the loop runs (later lookups the table blocks keep
 * these addresses). Returns 0, or -1 when it does not resolve. */
static int lookup_before_kill_switch(struct client *cl) {
  struct addrinfo hints, *ai;
  char port[8];
  size_t n;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  snprintf(port, sizeof(port), "%u", cl->conf.server_port);
  if (getaddrinfo(cl->conf.server_host, port, &hints, &ai) != 0)
    return -1;
  n = he_list_set(&cl->he, ai, glue_now() / 1000000);
  freeaddrinfo(ai);
  return n > 0 ? 0 : -1;
}

/* The addresses a crashed run's kill switch, still in place, admits, as
 * the server's (docs/decisions.md D45). Returns how many were taken. */
static size_t addrs_of_stale_kill_switch(struct client *cl) {
  struct sockaddr_storage a[JVPN_HE_ADDRS_MAX];
  struct addrinfo ai[JVPN_HE_ADDRS_MAX];
  size_t i, n;

  n = kill_switch_stale_servers(&cl->ks, cl->conf.server_port, a,
                                JVPN_HE_ADDRS_MAX);
  if (n == 0)
    return 0;
  memset(ai, 0, sizeof(ai));
  for (i = 0; i < n; i++) {
    ai[i].ai_family = a[i].ss_family;
    ai[i].ai_socktype = SOCK_DGRAM;
    ai[i].ai_addr = (struct sockaddr *)&a[i];
    ai[i].ai_addrlen = a[i].ss_family == AF_INET
                           ? sizeof(struct sockaddr_in)
                           : sizeof(struct sockaddr_in6);
    ai[i].ai_next = i + 1 < n ? &ai[i + 1] : NULL;
  }
  return he_list_set(&cl->he, ai, glue_now() / 1000000);
}

/* The server's addresses before the kill switch goes in: looked up, or,
 * when the lookup fails (a crashed run's table, still in place, drops DNS
 * and would drop it forever), the addresses that table admits. */
static void addrs_before_kill_switch(struct client *cl) {
  size_t n;

  if (lookup_before_kill_switch(cl) == 0)
    return;
  n = addrs_of_stale_kill_switch(cl);
  if (n > 0)
    LOG_WARN(NULL, "kill switch: %s does not resolve now; trying the %zu "
                   "address%s the kill switch left by an earlier run admits",
             cl->conf.server_host, n, n == 1 ? "" : "es");
  else
    LOG_WARN(NULL, "kill switch: %s does not resolve now; nothing reaches "
                   "the server until it does", cl->conf.server_host);
}

/* The audit record of the kill switch going on or off. */
static void audit_kill_switch(struct client *cl, int on) {
  client_audit_info(cl, on ? "kill_switch_on" : "kill_switch_off",
                    "nftables table inet %s", cl->ks.table);
}

/* With kill_switch = on: the table goes in before the first packet, with
 * the server's address when it resolves now (else nothing passes until it
 * does). Returns 0, or -1 (logged) when the client must not run without
 * it. */
int client_kill_switch_prepare(struct client *cl) {
  struct kill_switch_allow allow = {cl->tun.name, cl->conf.server_port,
                                    cl->conf.excludes, cl->conf.nexcludes};
  struct sockaddr_storage a[JVPN_HE_ADDRS_MAX];
  char err[200];
  size_t n;

  if (!cl->conf.kill_switch)
    return 0;
  if (kill_switch_open(&cl->ks, NULL) != 0) {
    LOG_ERR(NULL, "kill switch: cannot make an nftables context");
    return -1;
  }
  /* A lookup the kill switch would block: before the loop runs. */
  if (cl->he.n == 0)
    addrs_before_kill_switch(cl);
  n = server_addrs(cl, a);
  if (kill_switch_apply(&cl->ks, &allow, a, n, err, sizeof(err)) != 0) {
    LOG_ERR(NULL, "kill switch: %s", err);
    return -1;
  }
  LOG_INFO(NULL, "kill switch on: nothing leaves outside %s but QUIC to the "
                 "server's %zu address%s (nftables table inet %s)",
           cl->tun.name, n, n == 1 ? "" : "es", cl->ks.table);
  audit_kill_switch(cl, 1);
  return 0;
}

/* On exit: the kill switch goes (a crash leaves it, failing closed). */
void client_kill_switch_done(struct client *cl) {
  char err[200];

  if (cl->ks.on)
    audit_kill_switch(cl, 0);

  if (cl->ks.on) {
    if (kill_switch_remove(&cl->ks, err, sizeof(err)) != 0)
      LOG_WARN(NULL, "kill switch: cannot remove table inet %s: %s",
               cl->ks.table, err);
    else
      LOG_INFO(NULL, "kill switch off");
  }
  kill_switch_close(&cl->ks);
}

/* On exit: full-tunnel mode off (audited); the DNS settings go next. */
void client_full_tunnel_done(struct client *cl) {
  (void)full_tunnel_switch(cl, AF_INET, 0);
  (void)full_tunnel_switch(cl, AF_INET6, 0);
}

/* The config's allow_route prefixes as ranges, for the checks per packet. */
static void local_allow_init(struct client *cl) {
  size_t i;

  for (i = 0; i < cl->conf.nallow_routes; i++) {
    const struct jvpn_prefix *p = &cl->conf.allow_routes[i];

    cip_range_from_prefix(&cl->local_allow[i], p->family == AF_INET ? 4 : 6,
                          p->addr, p->plen);
  }
  cl->nlocal_allow = cl->conf.nallow_routes;
}

void client_routes_prepare(struct client *cl) {
  full_tunnel_prepare(cl);
  local_allow_init(cl);
}

/* `--down`'s part for the kill switch: its table removed. Returns 0, or
 * 1 (said on stderr). */
static int down_kill_switch(void) {
  struct kill_switch ks;
  char why[200];
  int rc = 0;

  if (kill_switch_open(&ks, NULL) != 0 ||
      kill_switch_remove(&ks, why, sizeof(why)) != 0) {
    fprintf(stderr, "kill switch: cannot remove table inet %s: %s\n",
            KILL_SWITCH_TABLE, ks.nft != NULL ? why : "no nftables context");
    rc = 1;
  }
  kill_switch_close(&ks);
  return rc;
}

int jvpn_client_down(const char *config_path, int keep_kill_switch) {
  struct jvpn_client_conf conf;
  struct jvpn_config_error err;
  struct full_tunnel ft;
  int rc = 0, rules;

  if (jvpn_config_load_client(&conf, config_path, &err) != 0) {
    fprintf(stderr, "%s:%u: %s\n", err.file, err.line, err.msg);
    return 2;
  }
  if (!keep_kill_switch)
    rc = down_kill_switch();
  if (resolv_conf_recover(RESOLV_CONF_PATH) == 1)
    printf("%s put back as it was\n", RESOLV_CONF_PATH);
  rules = full_tunnel_init(&ft, 0, conf.routing_table, conf.rule_priority,
                           NULL, 0);
  if (rules < 0) {
    fprintf(stderr, "cannot remove the policy routing rules %u-%u: %s\n",
            conf.rule_priority, conf.rule_priority + 2, strerror(errno));
    rc = 1;
  }
  if (rc == 0 && keep_kill_switch)
    printf("%d policy routing rules removed; the kill switch (table inet "
           "%s, if any) kept\n",
           rules, KILL_SWITCH_TABLE);
  else if (rc == 0)
    printf("kill switch (table inet %s) and %d policy routing rules "
           "removed\n",
           KILL_SWITCH_TABLE, rules);
  return rc;
}
