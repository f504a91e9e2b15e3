/*
 * src/resolved: the server's DNS configuration handed to systemd-resolved
 * over D-Bus (sd-bus), per link: the TUN's DNS servers and domains
 * (docs/decisions.md D38).
 *
 * The system bus is opened at start-up, as root: dbus-daemon takes a
 * connection's credentials when it is made, so this one keeps root's
 * rights with resolved after the daemon dropped root (resolved grants
 * its per-link calls to a root sender without asking polkit). When the
 * configuration arrives:
 *
 *   SetLinkDNSEx(ifindex, a(iayqs))      the plain-DNS servers, with port
 *                                        and name
 *   SetLinkDomains(ifindex, a(sb))       search domains (false), the
 *                                        internal domains as routing
 *                                        domains (true), and "." (true,
 *                                        shown as "~.") in full-tunnel mode
 *   SetLinkDefaultRoute(ifindex, b)      true in full-tunnel mode, or
 *                                        when no routing domain limits it
 *
 * and RevertLink(ifindex) when it is withdrawn or the client stops.
 * Nothing outlives a crash: resolved forgets a link's settings when the
 * link goes, and the TUN goes with the process.
 *
 * The pure half (what to send, which back end) is separate from the bus
 * half so that tests/unit/test_resolved.c checks it without a bus.
 */
#ifndef SRC_RESOLVED_H
#define SRC_RESOLVED_H

#include <stddef.h>
#include <stdint.h>

#include "quic/connect_ip_dns.h"
#include "src/config.h"

#define RESOLVED_NAME "systemd-resolved"
#define RESOLVED_BUS_NAME "org.freedesktop.resolve1"
/* Each call to resolved waits at most this long (it runs on the loop). */
#define RESOLVED_CALL_USEC 1000000
/* search + internal domains, and "." in full-tunnel mode */
#define RESOLVED_MAX_DOMAINS (2 * JVPN_DNS_MAX_DOMAINS + 1)

/* One entry of SetLinkDNSEx's a(iayqs). */
struct resolved_server {
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  size_t addrlen;   /* 4 or 16 */
  uint16_t port;    /* 0: 53 */
  const char *name; /* "" for none; points into the cip_dns_config */
};

/* One entry of SetLinkDomains' a(sb). */
struct resolved_domain {
  const char *name; /* "." for the root; points into the config */
  int routing_only; /* 1: route queries for it, never search it */
};

/* What the link gets: the arguments of the three calls. */
struct resolved_link {
  struct resolved_server servers[JVPN_DNS_MAX_SERVERS];
  size_t nservers;
  struct resolved_domain domains[RESOLVED_MAX_DOMAINS];
  size_t ndomains;
  int default_route;
};

/* Fills |out| from |c| (which must outlive it): servers that speak plain
 * DNS, in the config's order; the search domains; the internal domains
 * that are not the root and not already a search domain; with
 * |full_tunnel| the root as routing domain and DefaultRoute true, else
 * DefaultRoute only when no routing domain was given (what resolved would
 * pick itself). */
void resolved_link_build(const struct cip_dns_config *c, int full_tunnel,
                         struct resolved_link *out);

/* Which back end applies the configuration. */
enum dns_backend {
  DNS_BACKEND_NONE = 0, /* nothing is applied (with a reason logged) */
  DNS_BACKEND_RESOLVED, /* systemd-resolved, per link */
  DNS_BACKEND_FILE,     /* /etc/resolv.conf (src/resolvconf.h) */
};

/* The back end for preference |pref|, given whether resolved answered on
 * the system bus and whether /etc/resolv.conf is a file this client may
 * write (not a link into resolved's directory). */
enum dns_backend resolved_choose(enum jvpn_dns_backend pref, int resolved_up,
                                 int file_usable);

/* Its name for status, logs and the audit trail. */
const char *resolved_backend_name(enum dns_backend b);

struct sd_bus;

struct resolved {
  struct sd_bus *bus; /* NULL: not connected */
  int ifindex;        /* the link that holds our settings; 0: none */
};

/* As root: connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS if set)
 * and checks that resolved owns its name. Returns 0; JVPN_ERR_NOTFOUND
 * when there is no bus or no resolved on it (|why| says which); |r| is
 * usable either way (closed then). */
int resolved_open(struct resolved *r, char *why, size_t whylen);

/* Gives |link| to resolved for |ifindex|; with no server, reverts the
 * link instead. Returns 0, or JVPN_ERR_SYSTEM with the bus error in
 * |why|. */
int resolved_apply(struct resolved *r, int ifindex,
                   const struct resolved_link *link, char *why, size_t whylen);

/* RevertLink on the link that holds our settings (none: no call). */
int resolved_revert(struct resolved *r, char *why, size_t whylen);

/* Reverts and disconnects. */
void resolved_close(struct resolved *r);

#endif /* SRC_RESOLVED_H */
