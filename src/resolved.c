/*
 * src/resolved: the server's DNS configuration in systemd-resolved (see
 * the header).
 */
#include "src/resolved.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "jvpn/errors.h"

#define RESOLVED_PATH "/org/freedesktop/resolve1"
#define RESOLVED_MANAGER "org.freedesktop.resolve1.Manager"

/* --- the pure half ------------------------------------------------------ */

static void add_server(struct resolved_link *out,
                       const struct cip_dns_server *s) {
  struct resolved_server *d = &out->servers[out->nservers++];

  d->family = s->ip_version == 6 ? AF_INET6 : AF_INET;
  d->addrlen = s->ip_version == 6 ? 16 : 4;
  memcpy(d->addr, s->addr, d->addrlen);
  d->port = s->port;
  d->name = s->name;
}

static void add_domain(struct resolved_link *out, const char *name,
                       int routing_only) {
  out->domains[out->ndomains].name = name;
  out->domains[out->ndomains].routing_only = routing_only;
  out->ndomains++;
}

/* 1 if |name| is one of |c|'s search domains. */
static int is_search(const struct cip_dns_config *c, const char *name) {
  size_t i;

  for (i = 0; i < c->nsearch; i++)
    if (strcmp(c->search[i], name) == 0)
      return 1;
  return 0;
}

void resolved_link_build(const struct cip_dns_config *c, int full_tunnel,
                         struct resolved_link *out) {
  size_t i, routing = 0;

  memset(out, 0, sizeof(*out));
  for (i = 0; i < c->nservers; i++)
    if (c->servers[i].ip_version != 0 &&
        (c->servers[i].transports & CIP_DNS_DO53))
      add_server(out, &c->servers[i]);
  for (i = 0; i < c->nsearch; i++)
    add_domain(out, c->search[i], 0);
  for (i = 0; i < c->ndomains; i++) {
    if (cip_dns_name_is_root(c->domains[i]) || is_search(c, c->domains[i]))
      continue;
    add_domain(out, c->domains[i], 1);
    routing++;
  }
  if (full_tunnel)
    add_domain(out, ".", 1);
  out->default_route = full_tunnel || routing == 0;
}

enum dns_backend resolved_choose(enum jvpn_dns_backend pref, int resolved_up,
                                 int file_usable) {
  if (pref != JVPN_DNS_BACKEND_FILE && resolved_up)
    return DNS_BACKEND_RESOLVED;
  if (pref != JVPN_DNS_BACKEND_RESOLVED && file_usable)
    return DNS_BACKEND_FILE;
  return DNS_BACKEND_NONE;
}

const char *resolved_backend_name(enum dns_backend b) {
  switch (b) {
  case DNS_BACKEND_RESOLVED: return RESOLVED_NAME;
  case DNS_BACKEND_FILE: return "resolv.conf";
  default: return "none";
  }
}

/* --- the bus half ------------------------------------------------------- */

/* |why| from a bus error or a negative errno. */
static int failed(const char *what, const sd_bus_error *e, int rc, char *why,
                  size_t whylen) {
  if (e != NULL && sd_bus_error_is_set(e))
    snprintf(why, whylen, "%s: %s", what, e->message ? e->message : e->name);
  else
    snprintf(why, whylen, "%s: %s", what, strerror(-rc));
  return JVPN_ERR_SYSTEM;
}

int resolved_open(struct resolved *r, char *why, size_t whylen) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  int rc, owned = 0;

  memset(r, 0, sizeof(*r));
  rc = sd_bus_open_system(&r->bus);
  if (rc < 0) {
    r->bus = NULL;
    snprintf(why, whylen, "no system bus: %s", strerror(-rc));
    return JVPN_ERR_NOTFOUND;
  }
  /* The first call also completes the connection (authentication,
   * Hello) while this process is root. */
  rc = sd_bus_call_method(r->bus, "org.freedesktop.DBus",
                          "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "NameHasOwner", &e, &reply, "s", RESOLVED_BUS_NAME);
  if (rc >= 0)
    rc = sd_bus_message_read(reply, "b", &owned);
  if (rc < 0 || !owned) {
    if (rc < 0)
      (void)failed("the system bus", &e, rc, why, whylen);
    else
      snprintf(why, whylen, "%s is not on the system bus", RESOLVED_BUS_NAME);
    sd_bus_message_unref(reply);
    sd_bus_error_free(&e);
    resolved_close(r);
    return JVPN_ERR_NOTFOUND;
  }
  sd_bus_message_unref(reply);
  return 0;
}

/* A call to the manager: "(ifindex)" plus what |fill| appends. */
typedef int (*fill_fn)(sd_bus_message *m, const struct resolved_link *link);

static int call(struct resolved *r, const char *method, int ifindex,
                fill_fn fill, const struct resolved_link *link, char *why,
                size_t whylen) {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message *m = NULL;
  int rc;

  rc = sd_bus_message_new_method_call(r->bus, &m, RESOLVED_BUS_NAME,
                                      RESOLVED_PATH, RESOLVED_MANAGER, method);
  if (rc >= 0)
    rc = sd_bus_message_append(m, "i", (int32_t)ifindex);
  if (rc >= 0 && fill != NULL)
    rc = fill(m, link);
  if (rc >= 0)
    rc = sd_bus_call(r->bus, m, RESOLVED_CALL_USEC, &e, NULL);
  if (rc < 0)
    (void)failed(method, &e, rc, why, whylen);
  sd_bus_error_free(&e);
  sd_bus_message_unref(m);
  return rc < 0 ? JVPN_ERR_SYSTEM : 0;
}

static int fill_servers(sd_bus_message *m, const struct resolved_link *link) {
  size_t i;
  int rc = sd_bus_message_open_container(m, 'a', "(iayqs)");

  for (i = 0; i < link->nservers && rc >= 0; i++) {
    const struct resolved_server *s = &link->servers[i];

    rc = sd_bus_message_open_container(m, 'r', "iayqs");
    if (rc >= 0)
      rc = sd_bus_message_append(m, "i", (int32_t)s->family);
    if (rc >= 0)
      rc = sd_bus_message_append_array(m, 'y', s->addr, s->addrlen);
    if (rc >= 0)
      rc = sd_bus_message_append(m, "qs", s->port, s->name);
    if (rc >= 0)
      rc = sd_bus_message_close_container(m);
  }
  return rc >= 0 ? sd_bus_message_close_container(m) : rc;
}

static int fill_domains(sd_bus_message *m, const struct resolved_link *link) {
  size_t i;
  int rc = sd_bus_message_open_container(m, 'a', "(sb)");

  for (i = 0; i < link->ndomains && rc >= 0; i++)
    rc = sd_bus_message_append(m, "(sb)", link->domains[i].name,
                               link->domains[i].routing_only);
  return rc >= 0 ? sd_bus_message_close_container(m) : rc;
}

static int fill_default_route(sd_bus_message *m,
                              const struct resolved_link *link) {
  return sd_bus_message_append(m, "b", link->default_route);
}

int resolved_apply(struct resolved *r, int ifindex,
                   const struct resolved_link *link, char *why, size_t whylen) {
  int rv;

  if (r->bus == NULL) {
    snprintf(why, whylen, "not connected to %s", RESOLVED_NAME);
    return JVPN_ERR_SYSTEM;
  }
  if (link->nservers == 0)
    return resolved_revert(r, why, whylen);
  r->ifindex = ifindex; /* a call that fails half-way is reverted too */
  rv = call(r, "SetLinkDNSEx", ifindex, fill_servers, link, why, whylen);
  if (rv == 0)
    rv = call(r, "SetLinkDomains", ifindex, fill_domains, link, why, whylen);
  if (rv == 0)
    rv = call(r, "SetLinkDefaultRoute", ifindex, fill_default_route, link, why,
              whylen);
  return rv;
}

int resolved_revert(struct resolved *r, char *why, size_t whylen) {
  int rv;

  if (r->bus == NULL || r->ifindex == 0)
    return 0;
  rv = call(r, "RevertLink", r->ifindex, NULL, NULL, why, whylen);
  r->ifindex = 0;
  return rv;
}

void resolved_close(struct resolved *r) {
  char why[200];

  (void)resolved_revert(r, why, sizeof(why));
  if (r->bus != NULL)
    sd_bus_flush_close_unref(r->bus);
  r->bus = NULL;
}
