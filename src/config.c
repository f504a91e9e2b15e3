/* jvpn-quic: server and client configuration files (docs/config.md). */
#include "src/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/policy.h"
#include "quic/connect_ip_dns.h"
#include "src/pin.h"

enum section {
  SEC_NONE,
  SEC_SERVER,
  SEC_PEER,
  SEC_CLIENT,
  SEC_POLICY,
  SEC_UPLINK
};

enum key_id {
  K_LISTEN,
  K_KEY,
  K_CERT,
  K_POOL4,
  K_POOL6,
  K_ROUTE,
  K_TUN,
  K_MTU,
  K_CC,
  K_LOG_LEVEL,
  K_PIN,
  K_NAME,
  K_ADDRESS4,
  K_ADDRESS6,
  K_SERVER,
  K_SERVER_PIN,
  K_AUDIT_LOG,
  K_KEEPALIVE,
  K_RETRY,
  K_INTERFACE,
  K_LOCAL_ADDR,
  K_PRIORITY,
  K_COST,
  K_ALLOW_ROUTE,
  K_USER,
  K_SECCOMP,
  K_FULL_TUNNEL,
  K_ROUTING_TABLE,
  K_RULE_PRIORITY,
  K_KILL_SWITCH,
  K_EXCLUDE,
  K_DNS,
  K_DNS_SEARCH,
  K_TCP,
  K_LB_SERVER_ID,
  K_LB_CONFIG_ID,
  K_STATE_DIR,
  K_STORE,
  K_TRANSPORT,
  K_DNS_BACKEND,
  K_METRICS,
  K_METRICS_PER_SESSION,
  K_TUN_OFFLOAD,
  K_REDIS,
  K_NODE_ID,
  K_SERVER_ORDER,
  K_LEASE_MS,
  K_COUNT
};

struct key_def {
  const char *name;
  enum key_id id;
  int repeatable;
};

static const struct key_def server_keys[] = {
    {"listen", K_LISTEN, 1}, {"key", K_KEY, 0},
    {"cert", K_CERT, 0},     {"pool4", K_POOL4, 0},
    {"pool6", K_POOL6, 0},   {"route", K_ROUTE, 1},
    {"tun", K_TUN, 0},       {"mtu", K_MTU, 0},
    {"congestion", K_CC, 0}, {"log_level", K_LOG_LEVEL, 0},
    {"audit_log", K_AUDIT_LOG, 0}, {"retry", K_RETRY, 0},
    {"user", K_USER, 0},     {"seccomp", K_SECCOMP, 0},
    {"dns", K_DNS, 1},       {"dns_search", K_DNS_SEARCH, 1},
    {"tcp", K_TCP, 0},       {"tun_offload", K_TUN_OFFLOAD, 0},
    {"quic_lb_server_id", K_LB_SERVER_ID, 0},
    {"quic_lb_config_id", K_LB_CONFIG_ID, 0},
    {"metrics", K_METRICS, 0},
    {"metrics_per_session", K_METRICS_PER_SESSION, 0},
    {"state_dir", K_STATE_DIR, 0}, {"store", K_STORE, 0},
    {"redis", K_REDIS, 0},   {"node_id", K_NODE_ID, 0},
    {"lease_ms", K_LEASE_MS, 0},
    {NULL, K_COUNT, 0},
};

static const struct key_def peer_keys[] = {
    {"pin", K_PIN, 0},           {"name", K_NAME, 0},
    {"address4", K_ADDRESS4, 0}, {"address6", K_ADDRESS6, 0},
    {NULL, K_COUNT, 0},
};

static const struct key_def client_keys[] = {
    {"server", K_SERVER, 0}, {"server_pin", K_SERVER_PIN, 0},
    {"server_order", K_SERVER_ORDER, 0},
    {"key", K_KEY, 0},       {"cert", K_CERT, 0},
    {"tun", K_TUN, 0},       {"mtu", K_MTU, 0},
    {"congestion", K_CC, 0}, {"log_level", K_LOG_LEVEL, 0},
    {"audit_log", K_AUDIT_LOG, 0}, {"keepalive_ms", K_KEEPALIVE, 0},
    {"allow_route", K_ALLOW_ROUTE, 1}, {"include", K_ALLOW_ROUTE, 1},
    {"exclude", K_EXCLUDE, 1},         {"user", K_USER, 0},
    {"seccomp", K_SECCOMP, 0}, {"full_tunnel", K_FULL_TUNNEL, 0},
    {"routing_table", K_ROUTING_TABLE, 0},
    {"rule_priority", K_RULE_PRIORITY, 0},
    {"kill_switch", K_KILL_SWITCH, 0},
    {"allow_route", K_ALLOW_ROUTE, 1}, {"user", K_USER, 0},
    {"seccomp", K_SECCOMP, 0}, {"dns", K_DNS, 0},
    {"transport", K_TRANSPORT, 0},
    {"dns_backend", K_DNS_BACKEND, 0},
    {"tun_offload", K_TUN_OFFLOAD, 0},
    {NULL, K_COUNT, 0},
};

static const struct key_def uplink_keys[] = {
    {"interface", K_INTERFACE, 0}, {"address", K_LOCAL_ADDR, 0},
    {"priority", K_PRIORITY, 0},   {"cost", K_COST, 0},
    {"keepalive_ms", K_KEEPALIVE, 0},
    {NULL, K_COUNT, 0},
};

static const char *const cc_names[] = {"cubic", "reno", "bbr"};
static const char *const retry_names[] = {"auto", "always", "never"};
static const char *const seccomp_names[] = {"on", "off", "log"};
static const char *const full_tunnel_names[] = {"auto", "off"};
static const char *const off_on_names[] = {"off", "on"};
/* enum jvpn_store_kind, in order */
static const char *const store_names[] = {"lmdb", "off", "redis"};
static const char *const server_order_names[] = {"listed", "shuffle"};
static const char *const transport_names[] = {"auto", "quic", "tcp"};
/* enum jvpn_dns_backend, in order */
static const char *const dns_backend_names[] = {"auto", "resolved", "file"};
static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

/* Where each peer's keys were, for messages about cross-peer checks made
 * after the whole file is read. */
struct peer_lines {
  unsigned section, pin, addr4, addr6;
};

struct parser {
  const char *text;
  size_t len, pos;
  unsigned line;
  const char *filename;
  struct jvpn_config_error *err;
  enum section sec;
  unsigned seen[K_COUNT]; /* line a key was set on, per section */
  char buf[JVPN_CONFIG_MAX_LINE + 1];
  /* server only */
  unsigned server_line;
  size_t peers_cap;
  struct peer_lines *plines;
  char pin_text[JVPN_CONFIG_MAX_LINE + 1]; /* checked when [peer] ends */
  /* [policy], either file: its line and the keys set, for duplicates */
  unsigned policy_line;
  struct {
    char name[40];
    unsigned line;
  } pkeys[32];
  size_t npkeys;
};

/* Records the first error. Bytes from the file may end up in the message,
 * so control characters are masked before it reaches a terminal. */
static int fail(struct parser *ps, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, unsigned line, const char *fmt, ...) {
  struct jvpn_config_error *e = ps->err;
  const char *name = ps->filename != NULL ? ps->filename : "(config)";
  size_t n;
  va_list ap;

  if (e == NULL)
    return JVPN_ERR_CONFIG;
  n = strnlen(name, sizeof(e->file) - 1);
  memcpy(e->file, name, n);
  e->file[n] = '\0';
  e->line = line;
  va_start(ap, fmt);
  (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap); /* truncation is ok */
  va_end(ap);
  for (n = 0; e->msg[n] != '\0'; n++)
    if ((unsigned char)e->msg[n] < 0x20 || e->msg[n] == 0x7f)
      e->msg[n] = '?';
  return JVPN_ERR_CONFIG;
}

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim(char *s) {
  size_t n;

  while (is_ws(*s))
    s++;
  n = strlen(s);
  while (n > 0 && is_ws(s[n - 1]))
    s[--n] = '\0';
  return s;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int all_chars(const char *s, const char *extra) {
  for (; *s != '\0'; s++)
    if (!is_alnum(*s) && strchr(extra, *s) == NULL)
      return 0;
  return 1;
}

/* Decimal without sign or spaces, at most |max|. Returns 0 or -1. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  unsigned long v = 0;

  if (*s == '\0')
    return -1;
  for (; *s != '\0'; s++) {
    if (!is_digit(*s))
      return -1;
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > max)
      return -1;
  }
  *out = v;
  return 0;
}

/* Bounded copy; returns -1 if |src| does not fit. */
static int copy_str(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap);

  if (n >= cap)
    return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

/* --- addresses ---------------------------------------------------------- */

/* The network bits of byte |i| of an address under a /|plen| prefix. */
static uint8_t net_mask(unsigned plen, size_t i) {
  unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;

  return (uint8_t)(0xff00 >> keep);
}

enum pfx_result { PFX_OK, PFX_SYNTAX, PFX_PLEN, PFX_HOSTBITS };

static int prefix_parse(const char *text, struct jvpn_prefix *p) {
  char addr[INET6_ADDRSTRLEN];
  const char *slash = strchr(text, '/');
  size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
  unsigned long plen, maxlen;
  size_t i, bytes;

  memset(p, 0, sizeof(*p));
  if (alen == 0 || alen >= sizeof(addr))
    return PFX_SYNTAX;
  memcpy(addr, text, alen);
  addr[alen] = '\0';
  if (strchr(addr, ':') != NULL) {
    p->family = AF_INET6;
    maxlen = 128;
  } else {
    p->family = AF_INET;
    maxlen = 32;
  }
  if (inet_pton(p->family, addr, p->addr) != 1) {
    memset(p, 0, sizeof(*p));
    return PFX_SYNTAX;
  }
  plen = maxlen;
  if (slash != NULL && parse_uint(slash + 1, maxlen, &plen) < 0) {
    memset(p, 0, sizeof(*p));
    return PFX_PLEN;
  }
  p->plen = (uint8_t)plen;
  bytes = maxlen / 8;
  for (i = 0; i < bytes; i++)
    if (p->addr[i] & (uint8_t)~net_mask(p->plen, i))
      return PFX_HOSTBITS;
  return PFX_OK;
}

int jvpn_prefix_parse(const char *text, struct jvpn_prefix *p) {
  if (text == NULL || prefix_parse(text, p) != PFX_OK) {
    memset(p, 0, sizeof(*p));
    return JVPN_ERR_MALFORMED;
  }
  return 0;
}

/* A DNS name as quic/connect_ip_dns takes it (labels of letters, digits,
 * '-' and '_', an optional final dot), but not the root, and with a last
 * label that is not all digits, so a mistyped IPv4 address is not taken
 * for a name. */
static int hostname_ok(const char *s) {
  size_t n = strlen(s);

  if (cip_dns_name_is_root(s) || !cip_dns_name_ok(s, n))
    return 0;
  if (s[n - 1] == '.')
    n--;
  for (; n > 0 && s[n - 1] != '.'; n--)
    if (!is_digit(s[n - 1]))
      return 1;
  return 0;
}

/* Splits "host:port", "[v6]:port", "host" or a bare IPv6 literal.
 * |*v6_literal| is set when the host can only be an IPv6 address. */
static int split_hostport(const char *text, uint16_t defport, char *host,
                          size_t hostcap, uint16_t *port, int *v6_literal) {
  const char *h = text, *end, *colon, *portstr = NULL;
  unsigned long v;
  size_t hlen;

  *v6_literal = 0;
  if (text[0] == '[') {
    h = text + 1;
    end = strchr(h, ']');
    if (end == NULL)
      return -1;
    if (end[1] == ':')
      portstr = end + 2;
    else if (end[1] != '\0')
      return -1;
    *v6_literal = 1;
  } else {
    colon = strchr(text, ':');
    end = text + strlen(text);
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
      *v6_literal = 1; /* two colons: an unbracketed IPv6 address */
    } else if (colon != NULL) {
      portstr = colon + 1;
      end = colon;
    }
  }
  hlen = (size_t)(end - h);
  if (hlen == 0 || hlen >= hostcap)
    return -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = defport;
  if (portstr != NULL) {
    if (parse_uint(portstr, 65535, &v) < 0 || v == 0)
      return -1;
    *port = (uint16_t)v;
  }
  return 0;
}

int jvpn_sockaddr_parse(const char *text, uint16_t defport,
                        struct sockaddr_storage *ss, socklen_t *len) {
  char host[JVPN_HOST_MAX];
  uint16_t port;
  int v6only;
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

  if (text == NULL ||
      split_hostport(text, defport, host, sizeof(host), &port, &v6only) < 0)
    return JVPN_ERR_MALFORMED;
  memset(ss, 0, sizeof(*ss));
  if (!v6only && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    *len = sizeof(*sin);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    *len = sizeof(*sin6);
    return 0;
  }
  memset(ss, 0, sizeof(*ss));
  if (!v6only && hostname_ok(host))
    return JVPN_ERR_UNSUPPORTED;
  return JVPN_ERR_MALFORMED;
}

static const char *addr_str(int family, const uint8_t *a, char *buf,
                            size_t cap) {
  if (inet_ntop(family, a, buf, (socklen_t)cap) == NULL)
    return "?";
  return buf;
}

/* --- values shared by both files ---------------------------------------- */

static int value_prefix(struct parser *ps, const char *key, const char *v,
                        int family, unsigned minlen, unsigned maxlen,
                        struct jvpn_prefix *out) {
  const char *fam = family == AF_INET ? "IPv4" : "IPv6";

  switch (prefix_parse(v, out)) {
  case PFX_OK: break;
  case PFX_SYNTAX:
    return fail(ps, ps->line, "%s: \"%s\" is not an address prefix", key, v);
  case PFX_PLEN:
    return fail(ps, ps->line, "%s: bad prefix length in \"%s\"", key, v);
  default: return fail(ps, ps->line, "%s: host bits set in %s", key, v);
  }
  if (family != 0 && out->family != family)
    return fail(ps, ps->line, "%s: \"%s\" is not an %s prefix", key, v, fam);
  if (minlen != 0 && (out->plen < minlen || out->plen > maxlen))
    return fail(ps, ps->line, "%s: prefix length /%u out of range %u..%u", key,
                out->plen, minlen, maxlen);
  return 0;
}

/* Appends a prefix of either family to a list of JVPN_MAX_ROUTES. */
static int value_prefix_list(struct parser *ps, const char *key,
                             const char *v, struct jvpn_prefix *list,
                             size_t *n) {
  int rv;

  if (*n == JVPN_MAX_ROUTES)
    return fail(ps, ps->line, "too many %s lines (max %d)", key,
                JVPN_MAX_ROUTES);
  rv = value_prefix(ps, key, v, 0, 0, 0, &list[*n]);
  if (rv == 0)
    (*n)++;
  return rv;
}

/* A nameserver for the clients: one address of either family, not the
 * unspecified one, each given once. */
static int value_dns(struct parser *ps, const char *v,
                     struct jvpn_server_conf *c) {
  static const uint8_t zero[16];
  struct jvpn_prefix *p = &c->dns[c->ndns];
  size_t i;

  if (c->ndns == JVPN_DNS_MAX_SERVERS)
    return fail(ps, ps->line, "too many dns lines (max %d)",
                JVPN_DNS_MAX_SERVERS);
  if (prefix_parse(v, p) != PFX_OK || strchr(v, '/') != NULL)
    return fail(ps, ps->line, "dns: \"%s\" is not an IPv4 or IPv6 address",
                v);
  if (memcmp(p->addr, zero, sizeof(zero)) == 0)
    return fail(ps, ps->line, "dns: %s is the unspecified address", v);
  for (i = 0; i < c->ndns; i++)
    if (c->dns[i].family == p->family &&
        memcmp(c->dns[i].addr, p->addr, sizeof(p->addr)) == 0)
      return fail(ps, ps->line, "duplicate dns address %s", v);
  c->ndns++;
  return 0;
}

/* A search domain for the clients, each given once. */
static int value_dns_search(struct parser *ps, const char *v,
                            struct jvpn_server_conf *c) {
  size_t i;

  if (c->ndns_search == JVPN_DNS_MAX_DOMAINS)
    return fail(ps, ps->line, "too many dns_search lines (max %d)",
                JVPN_DNS_MAX_DOMAINS);
  if (!hostname_ok(v))
    return fail(ps, ps->line, "dns_search: \"%.80s\" is not a domain name",
                v);
  for (i = 0; i < c->ndns_search; i++)
    if (strcasecmp(c->dns_search[i], v) == 0)
      return fail(ps, ps->line, "duplicate dns_search %s", v);
  return copy_str(c->dns_search[c->ndns_search++], JVPN_DNS_NAME_SIZE, v);
}

static int value_path(struct parser *ps, const char *key, const char *v,
                      char *out) {
  if (copy_str(out, JVPN_PATH_MAX, v) < 0)
    return fail(ps, ps->line, "%s: path too long", key);
  return 0;
}

static int value_tun(struct parser *ps, const char *v, char out[IFNAMSIZ]) {
  if (strlen(v) > IFNAMSIZ - 1)
    return fail(ps, ps->line, "tun name \"%s\" longer than %d characters", v,
                IFNAMSIZ - 1);
  /* The kernel refuses "." and ".." and names with '/', ':' or spaces;
   * '%' lets the kernel number the device ("jvpn%d"). */
  if (!all_chars(v, "_.%-") || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
    return fail(ps, ps->line,
                "tun name \"%s\" may contain only A-Z a-z 0-9 _ . %% -", v);
  return copy_str(out, IFNAMSIZ, v);
}

/* A system user name as useradd takes it; looked up when the daemon
 * drops root, not here. */
static int value_user(struct parser *ps, const char *v,
                      char out[JVPN_USER_MAX]) {
  if (strlen(v) > JVPN_USER_MAX - 1)
    return fail(ps, ps->line, "user \"%s\" longer than %d characters", v,
                JVPN_USER_MAX - 1);
  if (!all_chars(v, "_.-") || v[0] == '-' || v[0] == '.')
    return fail(ps, ps->line,
                "user \"%s\" may contain only A-Z a-z 0-9 _ . - (not first)",
                v);
  return copy_str(out, JVPN_USER_MAX, v);
}

/* A node's name in a shared store (D44): part of Redis key names. */
static int value_node_id(struct parser *ps, const char *v,
                         char out[JVPN_NODE_ID_MAX]) {
  if (v[0] == '\0' || strlen(v) > JVPN_NODE_ID_MAX - 1 ||
      !all_chars(v, "_.-"))
    return fail(ps, ps->line,
                "node_id \"%.80s\": 1 to %d characters of A-Z a-z 0-9 _ . -",
                v, JVPN_NODE_ID_MAX - 1);
  return copy_str(out, JVPN_NODE_ID_MAX, v);
}

static int value_mtu(struct parser *ps, const char *v, int allow_zero,
                     unsigned *out) {
  unsigned long m;

  if (parse_uint(v, 999999, &m) < 0)
    return fail(ps, ps->line, "mtu \"%s\" is not a number in %d..%d", v,
                JVPN_TUN_MIN_MTU_V6, JVPN_TUN_MAX_MTU);
  if (allow_zero && m == 0) {
    *out = 0;
    return 0;
  }
  if (m < JVPN_TUN_MIN_MTU_V6 || m > JVPN_TUN_MAX_MTU)
    return fail(ps, ps->line, "mtu %lu out of range %s%d..%d", m,
                allow_zero ? "(0 or) " : "", JVPN_TUN_MIN_MTU_V6,
                JVPN_TUN_MAX_MTU);
  *out = (unsigned)m;
  return 0;
}

static int value_enum(struct parser *ps, const char *key, const char *v,
                      const char *const *names, size_t n, int *out) {
  char list[64] = "";
  size_t i, used;

  for (i = 0; i < n; i++) {
    if (strcmp(v, names[i]) == 0) {
      *out = (int)i;
      return 0;
    }
  }
  for (i = 0; i < n; i++) {
    used = strlen(list);
    (void)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                   names[i]); /* the lists are short; truncation is ok */
  }
  return fail(ps, ps->line, "%s \"%s\" is not one of %s", key, v, list);
}

/* A decimal |v| in lo..hi into |*out|. */
/* quic_lb_server_id: 1..11 bytes in hex (a 16-byte connection ID keeps
 * QUIC_LB_NONCE_MIN random bytes after it and its first octet). */
static int value_lb_server_id(struct parser *ps, const char *v,
                              struct quic_lb *lb) {
  size_t n = strlen(v), i;
  unsigned int byte;

  if (n < 2 || n % 2 != 0 ||
      n / 2 > JVPN_QUIC_SCID_LEN - 1 - QUIC_LB_NONCE_MIN ||
      strspn(v, "0123456789abcdefABCDEF") != n)
    return fail(ps, ps->line,
                "quic_lb_server_id \"%.64s\": want 1..%d bytes in hex", v,
                JVPN_QUIC_SCID_LEN - 1 - QUIC_LB_NONCE_MIN);
  for (i = 0; i < n / 2; i++) {
    (void)sscanf(v + 2 * i, "%2x", &byte);
    lb->server_id[i] = (uint8_t)byte;
  }
  lb->server_id_len = n / 2;
  lb->on = 1;
  return 0;
}

static int value_u32(struct parser *ps, const char *key, const char *v,
                     uint32_t lo, uint32_t hi, uint32_t *out) {
  char *end;
  unsigned long long n;

  errno = 0;
  n = strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n < lo || n > hi)
    return fail(ps, ps->line, "%s \"%.64s\" out of range %u..%u", key, v, lo,
                hi);
  *out = (uint32_t)n;
  return 0;
}

static int value_seccomp(struct parser *ps, const char *key, const char *v,
                         enum jvpn_seccomp *out) {
  int x = 0, rv = value_enum(ps, key, v, seccomp_names, 3, &x);

  if (rv == 0)
    *out = (enum jvpn_seccomp)x;
  return rv;
}

static int value_common(struct parser *ps, enum key_id id, const char *key,
                        const char *v, char *key_file, char *cert_file,
                        char *tun, unsigned *mtu, int mtu_zero,
                        enum jvpn_cc *cc, int *level) {
  int x = 0, rv;

  switch (id) {
  case K_KEY: return value_path(ps, key, v, key_file);
  case K_CERT: return value_path(ps, key, v, cert_file);
  case K_TUN: return value_tun(ps, v, tun);
  case K_MTU: return value_mtu(ps, v, mtu_zero, mtu);
  case K_CC:
    rv = value_enum(ps, key, v, cc_names, 3, &x);
    if (rv == 0)
      *cc = (enum jvpn_cc)x;
    return rv;
  case K_LOG_LEVEL:
    rv = value_enum(ps, key, v, level_names, 5, &x);
    if (rv == 0)
      *level = JVPN_LOG_ERROR + x;
    return rv;
  default: return fail(ps, ps->line, "internal: key \"%s\"", key);
  }
}

/* --- lines -------------------------------------------------------------- */

enum line_kind { LINE_END, LINE_BLANK, LINE_SECTION, LINE_KV };

/* Reads the next line into ps->buf and splits it. Returns a line_kind or
 * JVPN_ERR_CONFIG. Never reads past ps->len; the text need not end in a
 * NUL or a newline. */
static int next_line(struct parser *ps, char **name, char **value) {
  const char *start, *nl;
  size_t avail, n;
  char *p, *q, *eq;

  if (ps->pos >= ps->len)
    return LINE_END;
  start = ps->text + ps->pos;
  avail = ps->len - ps->pos;
  nl = memchr(start, '\n', avail);
  n = nl != NULL ? (size_t)(nl - start) : avail;
  ps->pos += nl != NULL ? n + 1 : n;
  ps->line++;
  if (n > 0 && start[n - 1] == '\r')
    n--;
  if (n > JVPN_CONFIG_MAX_LINE)
    return fail(ps, ps->line, "line longer than %d bytes",
                JVPN_CONFIG_MAX_LINE);
  if (memchr(start, '\0', n) != NULL)
    return fail(ps, ps->line, "NUL byte in line");
  memcpy(ps->buf, start, n);
  ps->buf[n] = '\0';

  p = ps->buf;
  while (is_ws(*p))
    p++;
  if (*p == '#' || *p == ';')
    return LINE_BLANK;
  /* A comment may follow a value after whitespace; '#' inside a value
   * (a path like "a#b") stays. */
  for (q = p; *q != '\0'; q++) {
    if ((*q == '#' || *q == ';') && q > p && is_ws(q[-1])) {
      *q = '\0';
      break;
    }
  }
  p = trim(p);
  if (*p == '\0')
    return LINE_BLANK;
  if (*p == '[') {
    n = strlen(p);
    if (p[n - 1] != ']')
      return fail(ps, ps->line, "malformed section header \"%s\"", p);
    p[n - 1] = '\0';
    *name = trim(p + 1);
    if (**name == '\0')
      return fail(ps, ps->line, "empty section name");
    return LINE_SECTION;
  }
  eq = strchr(p, '=');
  if (eq == NULL)
    return fail(ps, ps->line,
                "expected \"key = value\" or \"[section]\", "
                "got \"%.64s\"",
                p);
  *eq = '\0';
  *name = trim(p);
  *value = trim(eq + 1);
  if (**name == '\0')
    return fail(ps, ps->line, "missing key before \"=\"");
  return LINE_KV;
}

static const char *sec_name(enum section s) {
  switch (s) {
  case SEC_SERVER: return "server";
  case SEC_PEER: return "peer";
  case SEC_CLIENT: return "client";
  case SEC_POLICY: return "policy";
  case SEC_UPLINK: return "uplink";
  default: return "";
  }
}

/* Finds |key| in |defs| and enforces "once per section". */
static int lookup_key(struct parser *ps, const struct key_def *defs,
                      const char *key, const char *value,
                      const struct key_def **out) {
  const struct key_def *d;

  for (d = defs; d->name != NULL; d++)
    if (strcmp(d->name, key) == 0)
      break;
  if (d->name == NULL)
    return fail(ps, ps->line, "unknown key \"%.64s\" in [%s]", key,
                sec_name(ps->sec));
  if (!d->repeatable && ps->seen[d->id] != 0)
    return fail(ps, ps->line,
                "duplicate key \"%s\" in [%s] (first on line "
                "%u)",
                key, sec_name(ps->sec), ps->seen[d->id]);
  if (*value == '\0')
    return fail(ps, ps->line, "empty value for key \"%s\" in [%s]", key,
                sec_name(ps->sec));
  ps->seen[d->id] = ps->line;
  *out = d;
  return 0;
}

static void parser_init(struct parser *ps, const char *text, size_t len,
                        const char *filename, struct jvpn_config_error *err) {
  memset(ps, 0, sizeof(*ps));
  ps->text = text != NULL ? text : "";
  ps->len = text != NULL ? len : 0;
  ps->filename = filename;
  ps->err = err;
  if (err != NULL)
    memset(err, 0, sizeof(*err));
  /* Editors on some systems start UTF-8 files with a byte order mark. */
  if (ps->len >= 3 && memcmp(ps->text, "\xef\xbb\xbf", 3) == 0)
    ps->pos = 3;
}

/* The parser holds two line buffers; keep them off small stacks. */
static int parser_new(struct parser **pps, const char *text, size_t len,
                      const char *filename, struct jvpn_config_error *err) {
  struct parser *ps = malloc(sizeof(*ps));

  *pps = ps;
  if (ps == NULL) {
    struct parser tiny;

    parser_init(&tiny, NULL, 0, filename, err);
    return fail(&tiny, 0, "out of memory");
  }
  parser_init(ps, text, len, filename, err);
  return 0;
}

static void parser_del(struct parser *ps) {
  if (ps == NULL)
    return;
  free(ps->plines);
  free(ps);
}

/* The defaults both files share; everything else starts at zero. */
static void conf_defaults(char tun[IFNAMSIZ], enum jvpn_cc *cc, int *level,
                          struct jvpn_policy *policy) {
  (void)copy_str(tun, IFNAMSIZ, "jvpn0"); /* fits */
  *cc = JVPN_CC_CUBIC;
  *level = JVPN_LOG_INFO;
  jvpn_policy_init(policy);
}

static void enter_section(struct parser *ps, enum section s) {
  ps->sec = s;
  memset(ps->seen, 0, sizeof(ps->seen));
}

/* --- [policy] (both files) ---------------------------------------------- */

static int policy_begin(struct parser *ps) {
  if (ps->policy_line != 0)
    return fail(ps, ps->line, "duplicate [policy] section (first on line %u)",
                ps->policy_line);
  /* Not enter_section(): the required-key bookkeeping of [client] must
   * survive a [policy] that follows it. */
  ps->sec = SEC_POLICY;
  ps->policy_line = ps->line;
  return 0;
}

/* The knobs belong to src/policy.c; this only adds what every section
 * has: one setting per key, no empty values, file and line in errors. */
/* The client's failover knobs live in [policy] too (docs/multipath.md)
 * but belong to struct jvpn_uplink_policy. Returns JVPN_ERR_NOTFOUND for
 * any other key. */
static int uplink_policy_set(struct jvpn_uplink_policy *up, const char *key,
                             const char *v, char *msg, size_t cap) {
  static const struct {
    const char *name;
    unsigned long min, max;
  } nums[] = {{"failover_detect_k", 1, 32},
              {"failover_detect_floor_ms", 10, 60000},
              {"failover_detect_ptos", 1, 16},
              {"metered_keepalive_ms", 50, 60000}};
  uint64_t n;
  size_t i;

  if (strcmp(key, "failover_return") == 0) {
    if (jvpn_uplink_return_parse(v, &up->return_mode) == 0)
      return 0;
    (void)snprintf(msg, cap, "failover_return \"%.64s\": expected never or "
                             "after_stability", v);
    return JVPN_ERR_INVAL;
  }
  for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
    if (strcmp(key, nums[i].name) == 0)
      break;
  if (i == sizeof(nums) / sizeof(nums[0]))
    return JVPN_ERR_NOTFOUND;
  if (jvpn_policy_parse_value(v, strstr(key, "_ms") != NULL, &n) < 0 ||
      n < nums[i].min || n > nums[i].max) {
    (void)snprintf(msg, cap, "%s \"%.64s\" out of range %lu..%lu", key, v,
                   nums[i].min, nums[i].max);
    return JVPN_ERR_INVAL;
  }
  switch (i) {
  case 0: up->detect_k = (uint32_t)n; break;
  case 1: up->detect_floor_ms = n; break;
  case 2: up->detect_ptos = (uint32_t)n; break;
  default: up->metered_keepalive_ms = n; break;
  }
  return 0;
}

/* |up| is NULL in a server config, which has no failover knobs. */
static int policy_key(struct parser *ps, struct jvpn_policy *p,
                      struct jvpn_uplink_policy *up, const char *key,
                      const char *value) {
  char msg[200];
  size_t i;
  int rv;

  for (i = 0; i < ps->npkeys; i++)
    if (strcmp(ps->pkeys[i].name, key) == 0)
      return fail(ps, ps->line,
                  "duplicate key \"%s\" in [policy] (first on line %u)", key,
                  ps->pkeys[i].line);
  if (*value == '\0')
    return fail(ps, ps->line, "empty value for key \"%.64s\" in [policy]", key);
  msg[0] = '\0';
  rv = up != NULL ? uplink_policy_set(up, key, value, msg, sizeof(msg))
                  : JVPN_ERR_NOTFOUND;
  if (rv == JVPN_ERR_NOTFOUND)
    rv = jvpn_policy_set(p, key, value, msg, sizeof(msg));
  if (rv == JVPN_ERR_NOTFOUND)
    return fail(ps, ps->line, "unknown key \"%.64s\" in [policy]", key);
  if (rv < 0)
    return fail(ps, ps->line, "%s", msg);
  /* Known keys are shorter than the slot and fewer than the slots. */
  if (ps->npkeys < sizeof(ps->pkeys) / sizeof(ps->pkeys[0]) &&
      copy_str(ps->pkeys[ps->npkeys].name, sizeof(ps->pkeys[0].name), key) == 0)
    ps->pkeys[ps->npkeys++].line = ps->line;
  return 0;
}

/* Relations between knobs can only be checked once all are read; the
 * error points at the [policy] header. */
static int policy_finish(struct parser *ps, struct jvpn_policy *p) {
  char msg[200];

  msg[0] = '\0';
  if (jvpn_policy_validate(p, msg, sizeof(msg)) < 0)
    return fail(ps, ps->policy_line, "[policy]: %s", msg);
  return 0;
}

/* --- server ------------------------------------------------------------- */

static const char *peer_label(const struct jvpn_peer_conf *pc, char *buf,
                              size_t cap) {
  if (pc->name[0] == '\0')
    return "[peer]";
  (void)snprintf(buf, cap, "peer \"%s\"", pc->name);
  return buf;
}

/* Closes the current [peer]: its pin is checked here so the message can
 * name the peer even when "name" comes after "pin". */
static int peer_finish(struct parser *ps, struct jvpn_server_conf *c) {
  struct jvpn_peer_conf *pc = &c->peers[c->npeers - 1];
  struct peer_lines *pl = &ps->plines[c->npeers - 1];
  char label[JVPN_NAME_MAX + 8];

  if (pl->pin == 0)
    return fail(ps, pl->section, "missing required key \"pin\" in [peer]");
  if (jvpn_pin_parse(ps->pin_text, pc->pin) < 0)
    return fail(ps, pl->pin, "%s: pin is not a valid sha256// pin",
                peer_label(pc, label, sizeof(label)));
  if (pc->name[0] == '\0')
    jvpn_pin_short(pc->pin, pc->name);
  return 0;
}

static int peer_begin(struct parser *ps, struct jvpn_server_conf *c) {
  if (c->npeers == JVPN_MAX_PEERS)
    return fail(ps, ps->line, "too many [peer] sections (max %d)",
                JVPN_MAX_PEERS);
  if (c->npeers == ps->peers_cap) {
    size_t cap = ps->peers_cap ? ps->peers_cap * 2 : 4;
    struct jvpn_peer_conf *np;
    struct peer_lines *nl;

    if (cap > JVPN_MAX_PEERS)
      cap = JVPN_MAX_PEERS;
    np = realloc(c->peers, cap * sizeof(*np));
    if (np == NULL)
      return fail(ps, ps->line, "out of memory");
    c->peers = np;
    nl = realloc(ps->plines, cap * sizeof(*nl));
    if (nl == NULL)
      return fail(ps, ps->line, "out of memory");
    ps->plines = nl;
    ps->peers_cap = cap;
  }
  memset(&c->peers[c->npeers], 0, sizeof(c->peers[0]));
  memset(&ps->plines[c->npeers], 0, sizeof(ps->plines[0]));
  ps->plines[c->npeers].section = ps->line;
  c->npeers++;
  return 0;
}

static int peer_key(struct parser *ps, struct jvpn_server_conf *c,
                    enum key_id id, const char *key, const char *v) {
  struct jvpn_peer_conf *pc = &c->peers[c->npeers - 1];
  struct peer_lines *pl = &ps->plines[c->npeers - 1];
  int family = id == K_ADDRESS4 ? AF_INET : AF_INET6;
  struct jvpn_prefix *a = id == K_ADDRESS4 ? &pc->addr4 : &pc->addr6;
  char label[JVPN_NAME_MAX + 8];
  int rv;

  switch (id) {
  case K_PIN:
    pl->pin = ps->line;
    return copy_str(ps->pin_text, sizeof(ps->pin_text), v);
  case K_NAME:
    if (strlen(v) >= JVPN_NAME_MAX)
      return fail(ps, ps->line, "peer name longer than %d characters",
                  JVPN_NAME_MAX - 1);
    if (!all_chars(v, "_.-"))
      return fail(ps, ps->line,
                  "peer name \"%s\" may contain only A-Z a-z 0-9 _ . -", v);
    return copy_str(pc->name, sizeof(pc->name), v);
  case K_ADDRESS4:
  case K_ADDRESS6:
    rv = value_prefix(ps, key, v, family, 0, 0, a);
    if (rv < 0)
      return rv;
    if (a->plen != (family == AF_INET ? 32 : 128))
      return fail(ps, ps->line, "%s: %s must be one address (/%d), not %s",
                  peer_label(pc, label, sizeof(label)), key,
                  family == AF_INET ? 32 : 128, v);
    if (id == K_ADDRESS4)
      pl->addr4 = ps->line;
    else
      pl->addr6 = ps->line;
    return 0;
  default: return fail(ps, ps->line, "internal: key \"%s\"", key);
  }
}

/* "metrics = ADDR:PORT" (numeric, the port required) or "off". */
static int value_metrics(struct parser *ps, const char *v,
                         struct jvpn_server_conf *c) {
  if (strcmp(v, "off") == 0) {
    c->metrics_len = 0;
    return 0;
  }
  if (jvpn_sockaddr_parse(v, 0, &c->metrics, &c->metrics_len) != 0 ||
      /* sin6_port lies where sin_port does */
      ((struct sockaddr_in *)&c->metrics)->sin_port == 0) {
    c->metrics_len = 0;
    return fail(ps, ps->line,
                "metrics \"%s\": expected off, addr:port or [v6addr]:port "
                "(numeric, with a port)",
                v);
  }
  return 0;
}

static int server_key(struct parser *ps, struct jvpn_server_conf *c,
                      enum key_id id, const char *key, const char *v) {
  size_t i;
  int rv;

  switch (id) {
  case K_LISTEN:
    if (c->nlisten == JVPN_MAX_LISTEN)
      return fail(ps, ps->line, "too many listen addresses (max %d)",
                  JVPN_MAX_LISTEN);
    rv = jvpn_sockaddr_parse(v, JVPN_DEFAULT_PORT, &c->listen[c->nlisten],
                             &c->listen_len[c->nlisten]);
    if (rv == JVPN_ERR_UNSUPPORTED)
      return fail(ps, ps->line,
                  "listen \"%s\": use a numeric address, not "
                  "a host name",
                  v);
    if (rv < 0)
      return fail(ps, ps->line,
                  "listen \"%s\": expected addr, addr:port or "
                  "[v6addr]:port",
                  v);
    for (i = 0; i < c->nlisten; i++)
      if (c->listen_len[i] == c->listen_len[c->nlisten] &&
          memcmp(&c->listen[i], &c->listen[c->nlisten], c->listen_len[i]) == 0)
        return fail(ps, ps->line, "duplicate listen address \"%s\"", v);
    c->nlisten++;
    return 0;
  case K_POOL4: return value_prefix(ps, key, v, AF_INET, 8, 30, &c->pool4);
  case K_POOL6: return value_prefix(ps, key, v, AF_INET6, 64, 126, &c->pool6);
  case K_ROUTE: return value_prefix_list(ps, key, v, c->routes, &c->nroutes);
  case K_DNS: return value_dns(ps, v, c);
  case K_DNS_SEARCH: return value_dns_search(ps, v, c);
  case K_AUDIT_LOG: return value_path(ps, key, v, c->audit_log);
  case K_USER: return value_user(ps, v, c->user);
  case K_SECCOMP: return value_seccomp(ps, key, v, &c->seccomp);
  case K_TCP: return value_enum(ps, key, v, off_on_names, 2, &c->tcp);
  case K_LB_SERVER_ID: return value_lb_server_id(ps, v, &c->lb);
  case K_LB_CONFIG_ID: {
    uint32_t x = 0;

    rv = value_u32(ps, key, v, 0, QUIC_LB_CONFIG_MAX, &x);
    c->lb.config_id = (uint8_t)x;
    return rv;
  }
  case K_METRICS: return value_metrics(ps, v, c);
  case K_METRICS_PER_SESSION:
    return value_enum(ps, key, v, off_on_names, 2, &c->metrics_per_session);
  case K_STATE_DIR:
    if (v[0] != '/')
      return fail(ps, ps->line, "state_dir \"%s\" must be an absolute path",
                  v);
    return value_path(ps, key, v, c->state_dir);
  case K_STORE: {
    int x = 0;

    rv = value_enum(ps, key, v, store_names, 3, &x);
    if (rv == 0)
      c->store = (enum jvpn_store_kind)x;
    return rv;
  }
  case K_REDIS: return value_path(ps, key, v, c->redis);
  case K_NODE_ID: return value_node_id(ps, v, c->node_id);
  case K_LEASE_MS:
    return value_u32(ps, key, v, JVPN_LEASE_MS_MIN, JVPN_LEASE_MS_MAX,
                     &c->lease_ms);
  case K_TUN_OFFLOAD:
    return value_enum(ps, key, v, off_on_names, 2, &c->tun_offload);
  case K_RETRY: {
    int x = 0;

    rv = value_enum(ps, key, v, retry_names, 3, &x);
    if (rv == 0)
      c->retry = (enum jvpn_retry)x;
    return rv;
  }
  default:
    return value_common(ps, id, key, v, c->key_file, c->cert_file, c->tun_name,
                        &c->mtu, 0, &c->cc, &c->log_level);
  }
}

/* Whether |a| can be a client's fixed address in |pool|: inside it, and
 * neither the network address, the server's (first host) nor IPv4's
 * broadcast. addr_pool_init() enforces the same rule; checking it here
 * too gives the operator a file and line. */
static const char *fixed_addr_problem(const struct jvpn_prefix *pool,
                                      const uint8_t *a) {
  size_t len = pool->family == AF_INET ? 4 : 16, i;
  int upper_zero = 1, all_ones = 1;
  uint8_t net, hmask, host = 0;

  for (i = 0; i < len; i++) {
    net = net_mask(pool->plen, i);
    hmask = (uint8_t)~net;
    host = a[i] & hmask;
    if ((a[i] ^ pool->addr[i]) & net)
      return "outside";
    if (host != 0 && i + 1 < len)
      upper_zero = 0;
    if (host != hmask)
      all_ones = 0;
  }
  /* |host| is now the last byte's host bits */
  if (upper_zero && host == 0)
    return "the network address of";
  if (upper_zero && host == 1)
    return "the server's own address in";
  if (pool->family == AF_INET && all_ones)
    return "the broadcast address of";
  return NULL;
}

struct dup_item {
  uint8_t key[JVPN_PIN_LEN];
  size_t idx;
};

static int dup_cmp(const void *a, const void *b) {
  const struct dup_item *x = a, *y = b;
  int r = memcmp(x->key, y->key, sizeof(x->key));

  if (r != 0)
    return r;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts |items| and returns the first duplicate pair (earlier peer in
 * |*first|), or 0 when all keys differ. O(n log n). */
static int find_dup(struct dup_item *items, size_t n, size_t *first,
                    size_t *second) {
  size_t i;

  qsort(items, n, sizeof(*items), dup_cmp);
  for (i = 1; i < n; i++) {
    if (memcmp(items[i - 1].key, items[i].key, sizeof(items[i].key)) == 0) {
      *first = items[i - 1].idx;
      *second = items[i].idx;
      return 1;
    }
  }
  return 0;
}

/* qsort over peer indexes, by pin (|index_peers_of| is the array). */
static const struct jvpn_peer_conf *index_peers_of;

static int peer_index_cmp(const void *a, const void *b) {
  return memcmp(index_peers_of[*(const uint32_t *)a].pin,
                index_peers_of[*(const uint32_t *)b].pin, JVPN_PIN_LEN);
}

/* c->peer_by_pin: a peer is found by its pin in O(log n) (a handshake
 * asks once; 10,000 peers made a linear search show in profiles). */
static int index_peers(struct jvpn_server_conf *c) {
  uint32_t i;

  c->peer_by_pin = calloc(c->npeers, sizeof(*c->peer_by_pin));
  if (c->peer_by_pin == NULL)
    return JVPN_ERR_NOMEM;
  for (i = 0; i < c->npeers; i++)
    c->peer_by_pin[i] = i;
  index_peers_of = c->peers;
  qsort(c->peer_by_pin, c->npeers, sizeof(*c->peer_by_pin), peer_index_cmp);
  index_peers_of = NULL;
  return 0;
}

static int check_peer_dups(struct parser *ps, struct jvpn_server_conf *c) {
  struct dup_item *items;
  size_t i, a, b, n;
  int pass, rv = 0;
  char text[INET6_ADDRSTRLEN];

  items = calloc(c->npeers, sizeof(*items));
  if (items == NULL)
    return fail(ps, 0, "out of memory");
  for (pass = 0; pass < 3 && rv == 0; pass++) {
    n = 0;
    for (i = 0; i < c->npeers; i++) {
      const struct jvpn_peer_conf *pc = &c->peers[i];
      memset(items[n].key, 0, sizeof(items[n].key));
      if (pass == 0)
        memcpy(items[n].key, pc->pin, JVPN_PIN_LEN);
      else if (pass == 1 && pc->addr4.family != 0)
        memcpy(items[n].key, pc->addr4.addr, 4);
      else if (pass == 2 && pc->addr6.family != 0)
        memcpy(items[n].key, pc->addr6.addr, 16);
      else
        continue;
      items[n++].idx = i;
    }
    if (!find_dup(items, n, &a, &b))
      continue;
    if (pass == 0)
      rv = fail(ps, ps->plines[b].pin,
                "peer \"%s\": same pin as peer \"%s\" "
                "(line %u)",
                c->peers[b].name, c->peers[a].name, ps->plines[a].pin);
    else if (pass == 1)
      rv = fail(ps, ps->plines[b].addr4,
                "peer \"%s\": address4 %s already "
                "belongs to peer \"%s\" (line %u)",
                c->peers[b].name,
                addr_str(AF_INET, c->peers[b].addr4.addr, text, sizeof(text)),
                c->peers[a].name, ps->plines[a].addr4);
    else
      rv = fail(ps, ps->plines[b].addr6,
                "peer \"%s\": address6 %s already "
                "belongs to peer \"%s\" (line %u)",
                c->peers[b].name,
                addr_str(AF_INET6, c->peers[b].addr6.addr, text, sizeof(text)),
                c->peers[a].name, ps->plines[a].addr6);
  }
  free(items);
  return rv;
}

static int check_fixed(struct parser *ps, const struct jvpn_server_conf *c,
                       size_t i, int family) {
  const struct jvpn_peer_conf *pc = &c->peers[i];
  const struct jvpn_prefix *a = family == AF_INET ? &pc->addr4 : &pc->addr6;
  const struct jvpn_prefix *pool = family == AF_INET ? &c->pool4 : &c->pool6;
  unsigned line = family == AF_INET ? ps->plines[i].addr4 : ps->plines[i].addr6;
  const char *key = family == AF_INET ? "address4" : "address6";
  const char *pname = family == AF_INET ? "pool4" : "pool6";
  char text[INET6_ADDRSTRLEN], ptext[INET6_ADDRSTRLEN];
  const char *problem;

  if (a->family == 0)
    return 0;
  if (pool->family == 0)
    return fail(ps, line, "peer \"%s\": %s given but [server] has no %s",
                pc->name, key, pname);
  problem = fixed_addr_problem(pool, a->addr);
  if (problem != NULL)
    return fail(ps, line, "peer \"%s\": %s %s is %s %s %s/%u", pc->name, key,
                addr_str(family, a->addr, text, sizeof(text)), problem, pname,
                addr_str(family, pool->addr, ptext, sizeof(ptext)), pool->plen);
  return 0;
}

static int server_finish(struct parser *ps, struct jvpn_server_conf *c) {
  struct sockaddr_in *sin;
  struct sockaddr_in6 *sin6;
  size_t i;
  int rv;

  if (ps->server_line == 0)
    return fail(ps, 0, "missing [server] section");
  if (c->key_file[0] == '\0')
    return fail(ps, ps->server_line,
                "missing required key \"key\" in [server]");
  if (c->cert_file[0] == '\0')
    return fail(ps, ps->server_line,
                "missing required key \"cert\" in [server]");
  if (c->pool4.family == 0 && c->pool6.family == 0)
    return fail(ps, ps->server_line, "[server] needs pool4 or pool6 (or both)");
  if (c->npeers == 0)
    return fail(ps, 0, "no [peer] section: list at least one client pin");
  if (c->store == JVPN_STORE_REDIS &&
      (c->redis[0] == '\0' || c->node_id[0] == '\0'))
    return fail(ps, ps->server_line,
                "store = redis needs \"redis\" (the store's address) and "
                "\"node_id\" (this node's name)");
  for (i = 0; i < c->npeers; i++) {
    rv = check_fixed(ps, c, i, AF_INET);
    if (rv == 0)
      rv = check_fixed(ps, c, i, AF_INET6);
    if (rv < 0)
      return rv;
  }
  rv = check_peer_dups(ps, c);
  if (rv < 0)
    return rv;
  if (index_peers(c) != 0)
    return fail(ps, 0, "out of memory");
  if (c->nlisten == 0) {
    sin = (struct sockaddr_in *)&c->listen[0];
    sin->sin_family = AF_INET;
    sin->sin_port = htons(JVPN_DEFAULT_PORT);
    c->listen_len[0] = sizeof(*sin);
    sin6 = (struct sockaddr_in6 *)&c->listen[1];
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(JVPN_DEFAULT_PORT);
    c->listen_len[1] = sizeof(*sin6);
    c->nlisten = 2;
  }
  return 0;
}

static int parse_server(struct parser *ps, struct jvpn_server_conf *c) {
  const struct key_def *d;
  char *name = NULL, *value = NULL;
  int kind, rv;

  for (;;) {
    kind = next_line(ps, &name, &value);
    if (kind < 0)
      return kind;
    if (kind == LINE_BLANK)
      continue;
    if (kind != LINE_KV && ps->sec == SEC_PEER) {
      rv = peer_finish(ps, c);
      if (rv < 0)
        return rv;
    }
    if (kind == LINE_END) {
      rv = server_finish(ps, c);
      return rv < 0 ? rv : policy_finish(ps, &c->policy);
    }
    if (kind == LINE_SECTION) {
      if (strcmp(name, "server") == 0) {
        if (ps->server_line != 0)
          return fail(ps, ps->line,
                      "duplicate [server] section (first on "
                      "line %u)",
                      ps->server_line);
        enter_section(ps, SEC_SERVER);
        ps->server_line = ps->line;
      } else if (strcmp(name, "peer") == 0) {
        rv = peer_begin(ps, c);
        if (rv < 0)
          return rv;
        enter_section(ps, SEC_PEER);
      } else if (strcmp(name, "policy") == 0) {
        rv = policy_begin(ps);
        if (rv < 0)
          return rv;
      } else {
        return fail(ps, ps->line,
                    "unknown section [%.64s] in a server "
                    "config (expected [server], [peer] or [policy])",
                    name);
      }
      continue;
    }
    if (ps->sec == SEC_NONE)
      return fail(ps, ps->line, "key \"%.64s\" outside any section", name);
    if (ps->sec == SEC_POLICY) {
      rv = policy_key(ps, &c->policy, NULL, name, value);
      if (rv < 0)
        return rv;
      continue;
    }
    rv = lookup_key(ps, ps->sec == SEC_SERVER ? server_keys : peer_keys, name,
                    value, &d);
    if (rv == 0)
      rv = ps->sec == SEC_SERVER ? server_key(ps, c, d->id, name, value)
                                 : peer_key(ps, c, d->id, name, value);
    if (rv < 0)
      return rv;
  }
}

int jvpn_config_parse_server(struct jvpn_server_conf *c, const char *text,
                             size_t len, const char *filename,
                             struct jvpn_config_error *err) {
  struct parser *ps;
  int rv;

  memset(c, 0, sizeof(*c));
  rv = parser_new(&ps, text, len, filename, err);
  if (rv < 0)
    return rv;
  conf_defaults(c->tun_name, &c->cc, &c->log_level, &c->policy);
  c->mtu = JVPN_TUN_DEFAULT_MTU;
  c->tcp = 1;
  (void)copy_str(c->state_dir, JVPN_PATH_MAX, JVPN_STATE_DIR_DEFAULT);
  c->lease_ms = JVPN_LEASE_MS_DEFAULT;
  c->tun_offload = 1;
  rv = parse_server(ps, c);
  parser_del(ps);
  if (rv < 0)
    jvpn_server_conf_free(c);
  return rv;
}

void jvpn_server_conf_free(struct jvpn_server_conf *c) {
  if (c == NULL)
    return;
  free(c->peers);
  free(c->peer_by_pin);
  memset(c, 0, sizeof(*c));
}

/* --- client ------------------------------------------------------------- */

/* One entry of a server list: an address literal with the list's port. */
static int server_list_entry(struct parser *ps, const char *e,
                             struct jvpn_client_conf *c) {
  char host[JVPN_HOST_MAX];
  uint16_t port;
  uint8_t tmp[16];
  int v6;

  if (split_hostport(e, JVPN_DEFAULT_PORT, host, sizeof(host), &port, &v6) <
          0 ||
      (v6 ? inet_pton(AF_INET6, host, tmp) : inet_pton(AF_INET, host, tmp)) !=
          1)
    return fail(ps, ps->line, "server list: \"%.80s\" is not an address "
                "literal (a list names nodes by address; one name may stand "
                "alone)", e);
  if (c->nservers > 0 && port != c->server_port)
    return fail(ps, ps->line, "server list: every node needs the same port");
  if (c->nservers == JVPN_SERVERS_MAX)
    return fail(ps, ps->line, "server list: at most %d nodes",
                JVPN_SERVERS_MAX);
  c->server_port = port;
  return copy_str(c->servers[c->nservers++], JVPN_SERVER_LITERAL_MAX, host);
}

/* server = a, b, c: the nodes of a cluster (D44), tried in this order
 * (or shuffled once, server_order = shuffle). */
static int value_server_list(struct parser *ps, const char *v,
                             struct jvpn_client_conf *c) {
  char buf[JVPN_CONFIG_MAX_LINE + 1], *save = NULL, *e;
  int rv;

  if (copy_str(buf, sizeof(buf), v) < 0)
    return fail(ps, ps->line, "server list too long");
  c->nservers = 0;
  for (e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    while (*e == ' ' || *e == '\t')
      e++;
    e[strcspn(e, " \t")] = '\0';
    rv = server_list_entry(ps, e, c);
    if (rv < 0)
      return rv;
  }
  if (c->nservers == 0)
    return fail(ps, ps->line, "server list: no address");
  snprintf(c->server_host, sizeof(c->server_host), "%s", c->servers[0]);
  return 0;
}

static int client_key(struct parser *ps, struct jvpn_client_conf *c,
                      enum key_id id, const char *key, const char *v) {
  char host[JVPN_HOST_MAX];
  uint8_t tmp[16];
  int v6only;

  switch (id) {
  case K_SERVER:
    if (strchr(v, ',') != NULL)
      return value_server_list(ps, v, c);
    if (split_hostport(v, JVPN_DEFAULT_PORT, host, sizeof(host),
                       &c->server_port, &v6only) < 0)
      return fail(ps, ps->line,
                  "server \"%s\": expected host, host:port or "
                  "[v6addr]:port",
                  v);
    if (v6only ? inet_pton(AF_INET6, host, tmp) != 1
               : inet_pton(AF_INET, host, tmp) != 1 && !hostname_ok(host))
      return fail(ps, ps->line,
                  "server \"%s\": \"%s\" is not a host name or "
                  "address",
                  v, host);
    return copy_str(c->server_host, sizeof(c->server_host), host);
  case K_SERVER_ORDER: {
    int x = 0, rv = value_enum(ps, key, v, server_order_names, 2, &x);

    c->server_shuffle = x;
    return rv;
  }
  case K_SERVER_PIN:
    if (jvpn_pin_parse(v, c->server_pin) < 0)
      return fail(ps, ps->line, "server_pin is not a valid sha256// pin");
    return 0;
  case K_AUDIT_LOG: return value_path(ps, key, v, c->audit_log);
  case K_ALLOW_ROUTE:
    return value_prefix_list(ps, key, v, c->allow_routes, &c->nallow_routes);
  case K_EXCLUDE:
    return value_prefix_list(ps, key, v, c->excludes, &c->nexcludes);
  case K_USER: return value_user(ps, v, c->user);
  case K_SECCOMP: return value_seccomp(ps, key, v, &c->seccomp);
  case K_FULL_TUNNEL: {
    int x = 0, rv = value_enum(ps, key, v, full_tunnel_names, 2, &x);

    if (rv == 0)
      c->full_tunnel = (enum jvpn_full_tunnel)x;
    return rv;
  }
  case K_ROUTING_TABLE:
    if (value_u32(ps, key, v, 1, 0x7fffffff, &c->routing_table) != 0)
      return JVPN_ERR_CONFIG;
    /* The kernel's default, main and local tables. */
    if (c->routing_table >= 253 && c->routing_table <= 255)
      return fail(ps, ps->line, "routing_table %u is one of the kernel's own",
                  c->routing_table);
    return 0;
  case K_RULE_PRIORITY:
    return value_u32(ps, key, v, 1, 32000, &c->rule_priority);
  case K_KILL_SWITCH:
    return value_enum(ps, key, v, off_on_names, 2, &c->kill_switch);
  case K_DNS: return value_enum(ps, key, v, off_on_names, 2, &c->dns);
  case K_TUN_OFFLOAD:
    return value_enum(ps, key, v, off_on_names, 2, &c->tun_offload);
  case K_TRANSPORT: {
    int x = 0, rv = value_enum(ps, key, v, transport_names, 3, &x);

    if (rv == 0)
      c->transport = (enum jvpn_transport)x;
    return rv;
  }
  case K_DNS_BACKEND: {
    int x = 0, rv = value_enum(ps, key, v, dns_backend_names, 3, &x);

    if (rv == 0)
      c->dns_backend = (enum jvpn_dns_backend)x;
    return rv;
  }
  case K_KEEPALIVE: {
    char *end;
    unsigned long ms = strtoul(v, &end, 10);

    /* NAT mappings for UDP often last 30 s; keep well under. */
    if (*v < '0' || *v > '9' || *end != '\0' || ms < 1000 || ms > 60000)
      return fail(ps, ps->line, "keepalive_ms \"%s\" out of range 1000..60000",
                  v);
    c->keepalive_ms = (unsigned)ms;
    return 0;
  }
  default:
    return value_common(ps, id, key, v, c->key_file, c->cert_file, c->tun_name,
                        &c->mtu, 1, &c->cc, &c->log_level);
  }
}

/* --- [uplink] (client) ------------------------------------------------- */

static int uplink_begin(struct parser *ps, struct jvpn_client_conf *c) {
  if (c->nuplinks == JVPN_UPLINK_MAX)
    return fail(ps, ps->line, "too many [uplink] sections (max %d)",
                JVPN_UPLINK_MAX);
  memset(&c->uplinks[c->nuplinks], 0, sizeof(c->uplinks[0]));
  c->uplinks[c->nuplinks].cfg.priority = JVPN_UPLINK_DEFAULT_PRIORITY;
  c->nuplinks++;
  enter_section(ps, SEC_UPLINK);
  return 0;
}

/* Closes the [uplink] that began on |line| (0: none is open). */
static int uplink_finish(struct parser *ps, struct jvpn_client_conf *c,
                         unsigned line) {
  const struct jvpn_client_uplink *u;
  size_t i;

  if (line == 0 || c->nuplinks == 0)
    return 0;
  u = &c->uplinks[c->nuplinks - 1];
  if (u->cfg.name[0] == '\0')
    return fail(ps, line, "[uplink] needs \"interface\" or \"address\"");
  for (i = 0; i + 1 < c->nuplinks; i++)
    if (strcmp(c->uplinks[i].cfg.name, u->cfg.name) == 0)
      return fail(ps, line, "[uplink] %s is listed twice", u->cfg.name);
  return 0;
}

static int uplink_key(struct parser *ps, struct jvpn_client_conf *c,
                      enum key_id id, const char *key, const char *v) {
  struct jvpn_client_uplink *u = &c->uplinks[c->nuplinks - 1];
  unsigned long n;
  uint8_t a[16];

  switch (id) {
  case K_INTERFACE:
  case K_LOCAL_ADDR:
    if (u->cfg.name[0] != '\0')
      return fail(ps, ps->line, "[uplink] takes \"interface\" or "
                                "\"address\", not both");
    if (id == K_INTERFACE) {
      if (strlen(v) >= IFNAMSIZ || !all_chars(v, "_.-@"))
        return fail(ps, ps->line, "interface \"%.64s\" is not an interface "
                                  "name", v);
    } else if (inet_pton(AF_INET, v, a) != 1 &&
               inet_pton(AF_INET6, v, a) != 1) {
      return fail(ps, ps->line, "address \"%.64s\" is not an IPv4 or IPv6 "
                                "address", v);
    }
    u->by_address = id == K_LOCAL_ADDR;
    return copy_str(u->cfg.name, sizeof(u->cfg.name), v) < 0
               ? fail(ps, ps->line, "%s \"%.64s\" is too long", key, v)
               : 0;
  case K_PRIORITY:
    if (parse_uint(v, 1000000, &n) < 0)
      return fail(ps, ps->line, "priority \"%.64s\" out of range 0..1000000",
                  v);
    u->cfg.priority = (uint32_t)n;
    return 0;
  case K_COST:
    if (strcmp(v, "normal") != 0 && strcmp(v, "metered") != 0)
      return fail(ps, ps->line, "cost \"%.64s\": expected normal or metered",
                  v);
    u->cfg.metered = strcmp(v, "metered") == 0;
    return 0;
  case K_KEEPALIVE:
    if (parse_uint(v, 60000, &n) < 0 || n < 50)
      return fail(ps, ps->line, "keepalive_ms \"%.64s\" out of range "
                                "50..60000", v);
    u->cfg.standby_keepalive_ms = n;
    return 0;
  default: return fail(ps, ps->line, "internal: key \"%s\"", key);
  }
}

static int parse_client(struct parser *ps, struct jvpn_client_conf *c) {
  static const struct {
    enum key_id id;
    const char *name;
  } required[] = {{K_SERVER, "server"},
                  {K_SERVER_PIN, "server_pin"},
                  {K_KEY, "key"},
                  {K_CERT, "cert"}};
  const struct key_def *d;
  char *name = NULL, *value = NULL, msg[200];
  unsigned client_line = 0, uplink_line = 0, client_seen[K_COUNT];
  int client_saved = 0;
  size_t i;
  int kind, rv;

  for (;;) {
    kind = next_line(ps, &name, &value);
    if (kind < 0)
      return kind;
    if (kind == LINE_END)
      break;
    if (kind == LINE_BLANK)
      continue;
    if (kind == LINE_SECTION) {
      if (strcmp(name, "policy") == 0) {
        rv = policy_begin(ps);
        if (rv < 0)
          return rv;
        continue;
      }
      if (strcmp(name, "uplink") == 0) {
        if (client_line != 0 && !client_saved) {
          /* [uplink] has keys of its own; keep [client]'s for the check
           * of required keys at the end. */
          memcpy(client_seen, ps->seen, sizeof(client_seen));
          client_saved = 1;
        }
        rv = uplink_finish(ps, c, uplink_line);
        if (rv == 0)
          rv = uplink_begin(ps, c);
        uplink_line = ps->line;
        if (rv < 0)
          return rv;
        continue;
      }
      if (strcmp(name, "client") != 0)
        return fail(ps, ps->line,
                    "unknown section [%.64s] in a client "
                    "config (expected [client], [uplink] or [policy])",
                    name);
      if (client_line != 0)
        return fail(ps, ps->line,
                    "duplicate [client] section (first on "
                    "line %u)",
                    client_line);
      rv = uplink_finish(ps, c, uplink_line);
      if (rv < 0)
        return rv;
      uplink_line = 0;
      enter_section(ps, SEC_CLIENT);
      client_line = ps->line;
      continue;
    }
    if (ps->sec == SEC_NONE)
      return fail(ps, ps->line, "key \"%.64s\" outside any section", name);
    if (ps->sec == SEC_POLICY) {
      rv = policy_key(ps, &c->policy, &c->uplink_policy, name, value);
      if (rv < 0)
        return rv;
      continue;
    }
    if (ps->sec == SEC_UPLINK) {
      rv = lookup_key(ps, uplink_keys, name, value, &d);
      if (rv == 0)
        rv = uplink_key(ps, c, d->id, name, value);
      if (rv < 0)
        return rv;
      continue;
    }
    rv = lookup_key(ps, client_keys, name, value, &d);
    if (rv == 0)
      rv = client_key(ps, c, d->id, name, value);
    if (rv < 0)
      return rv;
  }
  rv = uplink_finish(ps, c, uplink_line);
  if (rv < 0)
    return rv;
  if (client_line == 0)
    return fail(ps, 0, "missing [client] section");
  if (!client_saved)
    memcpy(client_seen, ps->seen, sizeof(client_seen));
  for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
    if (client_seen[required[i].id] == 0)
      return fail(ps, client_line, "missing required key \"%s\" in [client]",
                  required[i].name);
  rv = policy_finish(ps, &c->policy);
  if (rv < 0)
    return rv;
  msg[0] = '\0';
  if (jvpn_uplink_policy_validate(&c->uplink_policy, &c->policy, msg,
                                  sizeof(msg)) < 0)
    return fail(ps, ps->policy_line, "[policy]: %s", msg);
  return 0;
}

int jvpn_config_parse_client(struct jvpn_client_conf *c, const char *text,
                             size_t len, const char *filename,
                             struct jvpn_config_error *err) {
  struct parser *ps;
  int rv;

  memset(c, 0, sizeof(*c));
  rv = parser_new(&ps, text, len, filename, err);
  if (rv < 0)
    return rv;
  conf_defaults(c->tun_name, &c->cc, &c->log_level, &c->policy);
  c->server_port = JVPN_DEFAULT_PORT;
  c->keepalive_ms = JVPN_QUIC_KEEPALIVE_MS;
  c->routing_table = JVPN_ROUTING_TABLE_DEFAULT;
  c->rule_priority = JVPN_RULE_PRIORITY_DEFAULT;
  c->dns = 1;
  c->tun_offload = 1;
  jvpn_uplink_policy_init(&c->uplink_policy);
  rv = parse_client(ps, c);
  parser_del(ps);
  if (rv < 0)
    memset(c, 0, sizeof(*c));
  return rv;
}

/* --- files -------------------------------------------------------------- */

/* Reads all of |path| into a fresh buffer of at most JVPN_CONFIG_MAX_BYTES
 * bytes. */
static int read_file(const char *path, char **out, size_t *outlen,
                     struct jvpn_config_error *err) {
  struct parser ps;
  char *buf;
  size_t len = 0;
  ssize_t r;
  int fd, saved;

  parser_init(&ps, NULL, 0, path, err);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(&ps, 0, "cannot open: %s", strerror(errno));
  /* One byte more than allowed tells "exactly at the limit" from "over". */
  buf = malloc(JVPN_CONFIG_MAX_BYTES + 1);
  if (buf == NULL) {
    close(fd);
    return fail(&ps, 0, "out of memory");
  }
  for (;;) {
    r = read(fd, buf + len, JVPN_CONFIG_MAX_BYTES + 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      saved = errno;
      close(fd);
      free(buf);
      return fail(&ps, 0, "cannot read: %s", strerror(saved));
    }
    if (r == 0)
      break;
    len += (size_t)r;
    if (len > JVPN_CONFIG_MAX_BYTES) {
      close(fd);
      free(buf);
      return fail(&ps, 0, "file larger than %d bytes", JVPN_CONFIG_MAX_BYTES);
    }
  }
  close(fd);
  *out = buf;
  *outlen = len;
  return 0;
}

const struct jvpn_peer_conf *
jvpn_server_conf_peer(const struct jvpn_server_conf *c, const uint8_t *pin) {
  size_t lo = 0, hi = c->peer_by_pin ? c->npeers : 0;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct jvpn_peer_conf *p = &c->peers[c->peer_by_pin[mid]];
    int d = memcmp(p->pin, pin, JVPN_PIN_LEN);

    if (d == 0)
      return p;
    if (d < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

int jvpn_config_load_server(struct jvpn_server_conf *c, const char *path,
                            struct jvpn_config_error *err) {
  char *buf;
  size_t len;
  int rv;

  memset(c, 0, sizeof(*c));
  rv = read_file(path, &buf, &len, err);
  if (rv < 0)
    return rv;
  rv = jvpn_config_parse_server(c, buf, len, path, err);
  free(buf);
  return rv;
}

int jvpn_config_load_client(struct jvpn_client_conf *c, const char *path,
                            struct jvpn_config_error *err) {
  char *buf;
  size_t len;
  int rv;

  memset(c, 0, sizeof(*c));
  rv = read_file(path, &buf, &len, err);
  if (rv < 0)
    return rv;
  rv = jvpn_config_parse_client(c, buf, len, path, err);
  free(buf);
  return rv;
}
