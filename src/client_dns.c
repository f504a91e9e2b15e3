/*
 * src/client_dns: the DNS configuration the server gives the client in a
 * DNS_ASSIGN capsule (docs/protocol.md 4.1).
 *
 * The client keeps the latest one it took, logs it and audits each
 * change; `status` shows it and which back end applied it. The back end
 * is chosen at start-up, as root (docs/decisions.md D38):
 * systemd-resolved when it answers on the system bus (the TUN's servers
 * and domains, src/resolved.h), else /etc/resolv.conf when no resolver
 * manager owns that file (src/resolvconf.h); each undoes its change when
 * the client stops. The server is trusted for this as for routes (its pin
 * was checked), which is what the draft's section 5 asks before a
 * configuration is acted on; "dns = off" ignores it all.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/client_int.h"

/* bytes: a configuration as text, its longest (8 servers, 16 names) */
#define DNS_TEXT_MAX 8192

/* "addr", "addr:port" / "[v6]:port", then "#name" and "/dot+doq" when
 * they apply: one word, no spaces, never JSON-special characters (names
 * hold letters, digits, '-', '_' and '.'). */
static void server_str(const struct cip_dns_server *s, char *buf, size_t len) {
  static const char *const encrypted[4] = {"", "/dot", "/doq", "/dot+doq"};
  char a[INET6_ADDRSTRLEN] = "";
  int v6 = s->ip_version == 6;

  if (s->ip_version != 0)
    glue_ip_str(v6 ? AF_INET6 : AF_INET, s->addr, a, sizeof(a));
  if (s->port != 0 && s->ip_version != 0)
    (void)snprintf(buf, len, v6 ? "[%s]:%u" : "%s:%u", a, s->port);
  else
    (void)snprintf(buf, len, "%s", a);
  if (s->name[0] != '\0')
    (void)snprintf(buf + strlen(buf), len - strlen(buf), "#%s", s->name);
  (void)snprintf(buf + strlen(buf), len - strlen(buf), "%s",
                 encrypted[(s->transports >> 1) & 3]);
}

/* A domain for people: the root shows as ".". */
static const char *domain_str(const char *name) {
  return name[0] == '\0' ? "." : name;
}

/* A configuration as words: the servers in server_str's form, the search
 * list, and the internal domains. */
struct dns_words {
  char server[JVPN_DNS_MAX_SERVERS][JVPN_DNS_NAME_SIZE + 64];
  const char *servers[JVPN_DNS_MAX_SERVERS];
  const char *search[JVPN_DNS_MAX_DOMAINS];
  const char *domains[JVPN_DNS_MAX_DOMAINS];
};

static void words_init(struct dns_words *w, const struct cip_dns_config *c) {
  size_t i;

  for (i = 0; i < c->nservers; i++) {
    server_str(&c->servers[i], w->server[i], sizeof(w->server[i]));
    w->servers[i] = w->server[i];
  }
  for (i = 0; i < c->nsearch; i++)
    w->search[i] = c->search[i];
  for (i = 0; i < c->ndomains; i++)
    w->domains[i] = domain_str(c->domains[i]);
}

/* Appends " key=a,b" ("-" for none) to |buf|, cut short if need be. */
static void list_text(char *buf, size_t len, const char *key,
                      const char *const *words, size_t n) {
  size_t i, used = strlen(buf);

  (void)snprintf(buf + used, len - used, " %s=%s", key, n ? "" : "-");
  for (i = 0; i < n; i++) {
    used = strlen(buf);
    (void)snprintf(buf + used, len - used, "%s%s", i ? "," : "", words[i]);
  }
}

/* Keys of the three lists: in the log and the audit record, and in the
 * text status. */
static const char *const log_keys[3] = {"servers", "search", "domains"};
static const char *const status_keys[3] = {"dns", "dns_search", "dns_domains"};

/* " servers=a,b search=c domains=." with |keys|. */
static void summary(const struct cip_dns_config *c, const char *const *keys,
                    char *buf, size_t len) {
  struct dns_words w;

  words_init(&w, c);
  buf[0] = '\0';
  list_text(buf, len, keys[0], w.servers, c->nservers);
  list_text(buf, len, keys[1], w.search, c->nsearch);
  list_text(buf, len, keys[2], w.domains, c->ndomains);
}

static void audit_change(struct client *cl, const char *text) {
  struct jvpn_audit_record r;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  r.mono_ms = glue_now() / 1000000;
  r.event = "dns_config";
  if (strlen(text) < sizeof(r.detail))
    memcpy(r.detail, text, strlen(text) + 1);
  else /* bounded; say that it was cut */
    (void)snprintf(r.detail, sizeof(r.detail), "%.*s...",
                   (int)sizeof(r.detail) - 4, text);
  client_sess_audit(cl, &r, 1);
}

/* Nonzero while either family is in full-tunnel mode. */
static int full_tunnel_now(const struct client *cl) {
  return cl->ft.on4 || cl->ft.on6;
}

/* The configuration to systemd-resolved, on the TUN's link. */
static int apply_resolved(struct client *cl, char *where, size_t len) {
  struct client_dns *d = &cl->dns;
  struct resolved_link link;
  char why[300];
  int rv;

  d->full = full_tunnel_now(cl);
  resolved_link_build(&d->cur, d->full, &link);
  snprintf(where, len, "%s link %s (ifindex %d)", RESOLVED_NAME,
           cl->tun.name, cl->tun.ifindex);
  rv = resolved_apply(&d->resolved, cl->tun.ifindex, &link, why, sizeof(why));
  if (rv != 0)
    LOG_WARN(NULL, "%s: %s", RESOLVED_NAME, why);
  else if (link.nservers == 0)
    LOG_INFO(NULL, "no DNS server for %s: link %s reverted", RESOLVED_NAME,
             cl->tun.name);
  else
    LOG_INFO(NULL, "DNS servers applied through %s on %s%s", RESOLVED_NAME,
             cl->tun.name, d->full ? " (\"~.\", default route)" : "");
  return rv == 0 && link.nservers > 0;
}

/* The configuration into /etc/resolv.conf. */
static int apply_file(struct client *cl, char *where, size_t len) {
  int rv = resolv_conf_apply(&cl->dns.file, &cl->dns.cur);

  snprintf(where, len, "%s", RESOLV_CONF_PATH);
  if (rv == JVPN_ERR_NOTFOUND)
    LOG_INFO(NULL, "no DNS server to put in %s: left as it was",
             RESOLV_CONF_PATH);
  else if (rv == JVPN_ERR_EXISTS)
    LOG_WARN(NULL, "%s was replaced by another program (resolvconf?) since "
                   "the start: not written", RESOLV_CONF_PATH);
  else if (rv != 0)
    LOG_WARN(NULL, "cannot write %s: %s", RESOLV_CONF_PATH,
             jvpn_strerror(rv));
  else
    LOG_INFO(NULL, "DNS servers applied in %s", RESOLV_CONF_PATH);
  return rv == 0;
}

/* The configuration through the back end chosen at start-up; logged and
 * audited. */
static void apply(struct client *cl) {
  struct client_dns *d = &cl->dns;
  char where[128];

  if (d->backend == DNS_BACKEND_RESOLVED)
    d->applied = apply_resolved(cl, where, sizeof(where));
  else if (d->backend == DNS_BACKEND_FILE)
    d->applied = apply_file(cl, where, sizeof(where));
  else
    return;
  client_audit_info(cl, d->applied ? "dns_applied" : "dns_not_applied", "%s",
                    where);
}

void client_dns_refresh(struct client *cl) {
  const struct client_dns *d = &cl->dns;

  if (d->backend == DNS_BACKEND_RESOLVED && d->applied &&
      d->full != full_tunnel_now(cl))
    apply(cl);
}

int client_dns_capsule(struct client *cl, const uint8_t *v, size_t len) {
  struct client_dns *d = &cl->dns;
  struct cip_dns_config next;
  char text[DNS_TEXT_MAX];
  const char *why = "?";
  int rv;

  d->received++;
  if (!cl->conf.dns) {
    if (!d->off_logged)
      LOG_INFO(NULL, "ignoring the server's DNS configuration (dns = off)");
    d->off_logged = 1;
    return 0;
  }
  rv = cip_dns_decode(v, len, &next, &why);
  if (rv != 0) {
    d->rejected++;
    JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "rejected DNS_ASSIGN from the server: %s",
                why);
    /* A value that ends inside a field is a malformed capsule (RFC 9297
     * 3.3): the stream ends as for any other. A field that breaks a rule
     * of the draft, which says nothing of errors, or a list over our
     * limits only loses this capsule; the last configuration stays. */
    return rv == JVPN_ERR_TRUNCATED ? JVPN_ERR_MALFORMED : 0;
  }
  /* Every attachment brings it again; an empty one while none is held
   * changes nothing either (|cur| is all zero until the first). */
  if (memcmp(&next, &d->cur, sizeof(next)) == 0) {
    client_dns_refresh(cl); /* the full-tunnel mode may have changed */
    return 0;
  }
  memcpy(&d->cur, &next, sizeof(next));
  summary(&d->cur, log_keys, text, sizeof(text));
  LOG_INFO(NULL, "DNS configuration from the server:%s%s", text,
           d->cur.unusable ? " (nameservers left out: no transport we use)"
                           : "");
  audit_change(cl, text + 1);
  apply(cl);
  return 0;
}

/* As root: opens /etc/resolv.conf for writing; 1 when it can be used. */
static int prepare_file(struct client *cl) {
  char why[200];
  int rv = resolv_conf_open(&cl->dns.file, RESOLV_CONF_PATH, why, sizeof(why));

  if (rv == JVPN_ERR_NOTFOUND)
    LOG_WARN(NULL, "%s (not used: dns_backend, or not on the system bus): "
                   "left alone", why);
  else if (rv != 0)
    LOG_WARN(NULL, "%s", why);
  return rv == 0;
}

/* As root: is systemd-resolved there (the connection is kept)? */
static int prepare_resolved(struct client *cl) {
  char why[200];

  if (resolved_open(&cl->dns.resolved, why, sizeof(why)) == 0)
    return 1;
  if (cl->conf.dns_backend == JVPN_DNS_BACKEND_RESOLVED)
    LOG_WARN(NULL, "%s: %s", RESOLVED_NAME, why);
  else
    LOG_DEBUG(NULL, "%s: %s", RESOLVED_NAME, why);
  return 0;
}

void client_dns_prepare(struct client *cl) {
  struct client_dns *d = &cl->dns;
  enum jvpn_dns_backend pref = cl->conf.dns_backend;
  int up = 0, file = 0;

  d->file.fd = -1;
  d->backend = DNS_BACKEND_NONE;
  if (!cl->conf.dns)
    return;
  if (pref != JVPN_DNS_BACKEND_FILE)
    up = prepare_resolved(cl);
  if (up) /* a crashed run's lines in the file go; nothing else changes */
    (void)resolv_conf_recover(RESOLV_CONF_PATH);
  else if (pref != JVPN_DNS_BACKEND_RESOLVED)
    file = prepare_file(cl);
  d->backend = resolved_choose(pref, up, file);
  if (d->backend == DNS_BACKEND_NONE)
    LOG_WARN(NULL, "DNS from the server will not be applied");
  else
    LOG_INFO(NULL, "DNS from the server goes to %s",
             d->backend == DNS_BACKEND_RESOLVED ? RESOLVED_NAME
                                                : RESOLV_CONF_PATH);
}

/* Takes the applied configuration away from systemd-resolved; the audit
 * record's detail into |where|. */
static void remove_resolved(struct client *cl, char *where, size_t len) {
  char why[300];

  if (resolved_revert(&cl->dns.resolved, why, sizeof(why)) == 0) {
    LOG_INFO(NULL, "%s: link %s reverted", RESOLVED_NAME, cl->tun.name);
    snprintf(where, len, "%s link %s reverted", RESOLVED_NAME, cl->tun.name);
    return;
  }
  LOG_WARN(NULL, "%s: %s (the link's settings go with it)", RESOLVED_NAME, why);
  snprintf(where, len, "%s link %s closed, not reverted", RESOLVED_NAME,
           cl->tun.name);
}

/* Puts /etc/resolv.conf back; the audit record's detail into |where|. */
static void remove_file(struct client *cl, char *where, size_t len) {
  int rv = resolv_conf_restore(&cl->dns.file);

  if (rv == 0) {
    LOG_INFO(NULL, "%s as it was before", RESOLV_CONF_PATH);
    snprintf(where, len, "%s restored", RESOLV_CONF_PATH);
    return;
  }
  LOG_WARN(NULL, "cannot put %s back (%s): the next start or client --down "
                 "does", RESOLV_CONF_PATH, jvpn_strerror(rv));
  snprintf(where, len, "%s not restored", RESOLV_CONF_PATH);
}

void client_dns_done(struct client *cl) {
  struct client_dns *d = &cl->dns;
  char where[128];

  if (d->applied) {
    if (d->backend == DNS_BACKEND_RESOLVED)
      remove_resolved(cl, where, sizeof(where));
    else
      remove_file(cl, where, sizeof(where));
    client_audit_info(cl, "dns_removed", "%s", where);
  }
  resolved_close(&d->resolved);
  resolv_conf_close(&d->file);
  d->applied = 0;
}

/* Where the configuration is now, for status: "no" when nowhere. */
static const char *applied_where(const struct client_dns *d) {
  if (!d->applied)
    return "no";
  return d->backend == DNS_BACKEND_RESOLVED ? RESOLVED_NAME
                                            : RESOLV_CONF_PATH;
}

/* One list as a JSON array member. */
static void json_list(struct glue_buf *b, const char *key,
                      const char *const *words, size_t n) {
  size_t i;

  glue_buf_printf(b, ",\"%s\":[", key);
  for (i = 0; i < n; i++)
    glue_buf_printf(b, "%s\"%s\"", i ? "," : "", words[i]);
  glue_buf_printf(b, "]");
}

void client_dns_status(const struct client *cl, struct glue_buf *b, int json) {
  const struct client_dns *d = &cl->dns;
  const struct cip_dns_config *c = &d->cur;
  struct dns_words w;
  char text[DNS_TEXT_MAX];

  if (!json) {
    if (!cl->conf.dns) {
      glue_buf_printf(b, " dns=off");
      return;
    }
    summary(c, status_keys, text, sizeof(text));
    glue_buf_printf(
        b, "%s dns_applied=%s dns_received=%" PRIu64 " dns_rejected=%" PRIu64,
        text, applied_where(d), d->received, d->rejected);
    return;
  }
  words_init(&w, c);
  glue_buf_printf(b, ",\"dns\":{\"enabled\":%s",
                  cl->conf.dns ? "true" : "false");
  json_list(b, "servers", w.servers, c->nservers);
  json_list(b, "search", w.search, c->nsearch);
  json_list(b, "domains", w.domains, c->ndomains);
  glue_buf_printf(b,
                  ",\"applied\":%s,\"backend\":\"%s\",\"received\":%" PRIu64
                  ",\"rejected\":%" PRIu64 "}",
                  d->applied ? "true" : "false",
                  resolved_backend_name(d->backend), d->received, d->rejected);
}
