/* quic/connect_ip_dns: the DNS_ASSIGN capsule value
 * (draft-ietf-masque-connect-ip-dns-05, section 3). */
#include "quic/connect_ip_dns.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/varint.h"

/* SvcParamKeys (RFC 9460 14.3.2) the draft names. */
enum svc_key {
  SVC_MANDATORY = 0,
  SVC_ALPN = 1,
  SVC_NO_DEFAULT_ALPN = 2,
  SVC_PORT = 3,
  SVC_IPV4HINT = 4,
  SVC_IPV6HINT = 6,
  SVC_INVALID = 65535,
};

/* Smallest encodings, for counts that cannot fit what is left. */
#define NAMESERVER_MIN_BYTES 6 /* priority, 2 empty counts, "", no params */
#define DOMAIN_MIN_BYTES 1

/* The ALPN protocol IDs we know, each with its length first. */
static const struct {
  uint8_t transport;
  uint8_t id[4];
} alpn_ids[] = {
    {CIP_DNS_DOT, {3, 'd', 'o', 't'}},
    {CIP_DNS_DOQ, {3, 'd', 'o', 'q'}},
};

#define ENCRYPTED (CIP_DNS_DOT | CIP_DNS_DOQ)
#define TRANSPORTS (CIP_DNS_DO53 | ENCRYPTED)

/* --- domain names ------------------------------------------------------- */

static int label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int cip_dns_name_ok(const char *name, size_t len) {
  size_t i, label = 0;

  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len > JVPN_DNS_NAME_MAX)
    return 0;
  for (i = 0; i < len; i++) {
    if (name[i] == '.') {
      if (label == 0 || name[i - 1] == '-')
        return 0;
      label = 0;
      continue;
    }
    if (!label_char(name[i]) || (label == 0 && name[i] == '-') || ++label > 63)
      return 0;
  }
  return len == 0 || (label > 0 && name[len - 1] != '-');
}

int cip_dns_name_is_root(const char *name) {
  return name[0] == '\0' || (name[0] == '.' && name[1] == '\0');
}

/* --- rules shared by both directions ------------------------------------ */

/* The draft's rules for one nameserver (section 3.2, and RFC 9460 7.1.1
 * for "no-default-alpn"). Returns NULL if they hold, else why not.
 *
 * One rule is the sender's only: "no-default-alpn" absent (unencrypted
 * DNS offered) needs an address. The draft's own example 3.6.1 breaks it
 * (DNS over HTTPS by name, no addresses, no "no-default-alpn"), so the
 * decoder reads such a nameserver as not offering unencrypted DNS, which
 * it could not be reached by anyway, and the encoder never writes one. */
static const char *nameserver_problem(uint16_t priority, int no_name,
                                      int has_alpn, int no_default_alpn) {
  if (priority == 0)
    return "service priority 0";
  if (no_name && (has_alpn || no_default_alpn))
    return "ALPN parameters without an authentication domain name";
  if (no_default_alpn && !has_alpn)
    return "no-default-alpn without alpn";
  return NULL;
}

/* What the encoder checks of an entry: what the decoder can produce. */
static int server_valid(const struct cip_dns_server *s) {
  size_t nlen = strnlen(s->name, sizeof(s->name));

  if (s->ip_version != 0 && s->ip_version != 4 && s->ip_version != 6)
    return 0;
  if ((s->transports & ~TRANSPORTS) != 0 || s->transports == 0)
    return 0;
  if (nlen == sizeof(s->name) || !cip_dns_name_ok(s->name, nlen) ||
      (nlen > 0 && cip_dns_name_is_root(s->name)))
    return 0;
  if ((s->transports & CIP_DNS_DO53) && s->ip_version == 0)
    return 0;
  return nameserver_problem(s->priority, nlen == 0,
                            (s->transports & ENCRYPTED) != 0,
                            !(s->transports & CIP_DNS_DO53)) == NULL;
}

/* --- reading ------------------------------------------------------------ */

struct reader {
  const uint8_t *p;
  size_t len, off;
  const char *why;
};

static int fail(struct reader *r, int err, const char *why) {
  r->why = why;
  return err;
}

static int get_bytes(struct reader *r, uint64_t n, const uint8_t **out) {
  if (n > r->len - r->off)
    return fail(r, JVPN_ERR_TRUNCATED, "the value ends inside a field");
  *out = r->p + r->off;
  r->off += (size_t)n;
  return 0;
}

static int get_varint(struct reader *r, uint64_t *v) {
  size_t used;

  if (jvpn_varint_decode(r->p + r->off, r->len - r->off, v, &used) != 0)
    return fail(r, JVPN_ERR_TRUNCATED, "the value ends inside a field");
  r->off += used;
  return 0;
}

/* A count of items at least |min_bytes| long each. */
static int get_count(struct reader *r, size_t min_bytes, uint64_t *n) {
  int rv = get_varint(r, n);

  if (rv == 0 && *n > (r->len - r->off) / min_bytes)
    return fail(r, JVPN_ERR_TRUNCATED, "a count larger than the value");
  return rv;
}

/* One Domain into |out| (NUL-terminated). */
static int get_domain(struct reader *r, char out[JVPN_DNS_NAME_SIZE]) {
  const uint8_t *name;
  uint64_t n;
  int rv;

  if ((rv = get_varint(r, &n)) != 0 || (rv = get_bytes(r, n, &name)) != 0)
    return rv;
  if (n > JVPN_DNS_NAME_SIZE - 1)
    return fail(r, JVPN_ERR_MALFORMED, "domain name too long");
  if (!cip_dns_name_ok((const char *)name, (size_t)n))
    return fail(r, JVPN_ERR_MALFORMED, "bad domain name");
  memcpy(out, name, (size_t)n);
  out[n] = '\0';
  return 0;
}

/* A list of Domains appended to |list|; the root only if |root_ok|. */
static int get_domains(struct reader *r, char (*list)[JVPN_DNS_NAME_SIZE],
                       size_t *n, int root_ok) {
  uint64_t count, i;
  int rv;

  if ((rv = get_count(r, DOMAIN_MIN_BYTES, &count)) != 0)
    return rv;
  for (i = 0; i < count; i++) {
    if (*n == JVPN_DNS_MAX_DOMAINS)
      return fail(r, JVPN_ERR_OVERSIZE, "too many domains");
    if ((rv = get_domain(r, list[*n])) != 0)
      return rv;
    if (!root_ok && cip_dns_name_is_root(list[*n]))
      return fail(r, JVPN_ERR_MALFORMED, "the root as a search domain");
    (*n)++;
  }
  return 0;
}

/* What the service parameters of one nameserver say. */
struct svc_params {
  int has_alpn, no_default_alpn, usable;
  uint8_t transports; /* from "alpn" */
  uint16_t port;
  uint32_t seen;      /* bit per key 0..3 present */
  uint32_t mandatory; /* bit per key 0..3 listed in "mandatory" */
};

static uint16_t be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* "mandatory": keys in strictly increasing order, never itself (RFC 9460
 * 8). A key we do not use makes the nameserver unusable to us. */
static int svc_mandatory(struct reader *r, const uint8_t *v, size_t len,
                         struct svc_params *sp) {
  size_t i;
  uint16_t k;

  if (len == 0 || len % 2 != 0)
    return fail(r, JVPN_ERR_MALFORMED, "bad mandatory parameter");
  for (i = 0; i < len; i += 2) {
    k = be16(v + i);
    if (k == SVC_MANDATORY || (i > 0 && k <= be16(v + i - 2)))
      return fail(r, JVPN_ERR_MALFORMED, "bad mandatory parameter");
    if (k > SVC_PORT)
      sp->usable = 0;
    else
      sp->mandatory |= 1u << k;
  }
  return 0;
}

/* "alpn": protocol IDs of 1..255 bytes (RFC 9460 7.1.1). */
static int svc_alpn(struct reader *r, const uint8_t *v, size_t len,
                    struct svc_params *sp) {
  size_t off = 0, n, i;

  if (len == 0)
    return fail(r, JVPN_ERR_MALFORMED, "empty alpn parameter");
  while (off < len) {
    n = v[off];
    if (n == 0 || n >= len - off)
      return fail(r, JVPN_ERR_MALFORMED, "bad alpn parameter");
    for (i = 0; i < sizeof(alpn_ids) / sizeof(alpn_ids[0]); i++)
      if (n + 1 == sizeof(alpn_ids[i].id) &&
          memcmp(v + off, alpn_ids[i].id, n + 1) == 0)
        sp->transports |= alpn_ids[i].transport;
    off += 1 + n;
  }
  sp->has_alpn = 1;
  return 0;
}

static int svc_param(struct reader *r, uint16_t key, const uint8_t *v,
                     size_t len, struct svc_params *sp) {
  switch (key) {
  case SVC_MANDATORY: return svc_mandatory(r, v, len, sp);
  case SVC_ALPN: return svc_alpn(r, v, len, sp);
  case SVC_NO_DEFAULT_ALPN:
    if (len != 0)
      return fail(r, JVPN_ERR_MALFORMED, "bad no-default-alpn parameter");
    sp->no_default_alpn = 1;
    return 0;
  case SVC_PORT:
    if (len != 2 || be16(v) == 0)
      return fail(r, JVPN_ERR_MALFORMED, "bad port parameter");
    sp->port = be16(v);
    return 0;
  case SVC_IPV4HINT:
  case SVC_IPV6HINT:
    /* draft 3.2: superseded by the addresses of the nameserver */
    return fail(r, JVPN_ERR_MALFORMED, "ipv4hint or ipv6hint parameter");
  case SVC_INVALID: return fail(r, JVPN_ERR_MALFORMED, "parameter key 65535");
  default: return 0; /* dohpath, ech, ...: nothing we use */
  }
}

/* Service Parameters (RFC 9460 2.2): key (16), length (16), value; keys
 * in strictly increasing order. They lie inside a length-checked field,
 * so a parameter running past it is a bad field, not a truncated value. */
static int svc_params(struct reader *r, const uint8_t *v, size_t len,
                      struct svc_params *sp) {
  size_t off = 0, n;
  long prev = -1;
  uint16_t key;
  int rv;

  memset(sp, 0, sizeof(*sp));
  sp->usable = 1;
  while (off < len) {
    if (len - off < 4)
      return fail(r, JVPN_ERR_MALFORMED, "service parameter overruns");
    key = be16(v + off);
    n = be16(v + off + 2);
    off += 4;
    if ((long)key <= prev)
      return fail(r, JVPN_ERR_MALFORMED, "service parameters out of order");
    if (n > len - off)
      return fail(r, JVPN_ERR_MALFORMED, "service parameter overruns");
    if ((rv = svc_param(r, key, v + off, n, sp)) != 0)
      return rv;
    if (key <= SVC_PORT)
      sp->seen |= 1u << key;
    prev = key;
    off += n;
  }
  if ((sp->mandatory & ~sp->seen) != 0)
    return fail(r, JVPN_ERR_MALFORMED, "a mandatory parameter is missing");
  return 0;
}

/* Appends one entry per address (or one without) for a nameserver. */
static int add_servers(struct reader *r, struct cip_dns_config *out,
                       const struct cip_dns_server *tmpl, const uint8_t *a4,
                       uint64_t n4, const uint8_t *a6, uint64_t n6) {
  uint64_t i, total = n4 + n6;
  struct cip_dns_server *s;

  for (i = 0; i < total || (i == 0 && total == 0); i++) {
    if (out->nservers == JVPN_DNS_MAX_SERVERS)
      return fail(r, JVPN_ERR_OVERSIZE, "too many nameserver addresses");
    s = &out->servers[out->nservers++];
    memcpy(s, tmpl, sizeof(*s));
    if (i < n4) {
      s->ip_version = 4;
      memcpy(s->addr, a4 + 4 * i, 4);
    } else if (i < total) {
      s->ip_version = 6;
      memcpy(s->addr, a6 + 16 * (i - n4), 16);
    }
  }
  return 0;
}

static int get_nameserver(struct reader *r, struct cip_dns_config *out) {
  struct cip_dns_server s;
  struct svc_params sp;
  const uint8_t *prio, *a4, *a6, *params;
  uint64_t n4, n6, plen;
  const char *problem;
  int rv;

  memset(&s, 0, sizeof(s));
  if ((rv = get_bytes(r, 2, &prio)) != 0 || (rv = get_count(r, 4, &n4)) != 0 ||
      (rv = get_bytes(r, 4 * n4, &a4)) != 0 ||
      (rv = get_count(r, 16, &n6)) != 0 ||
      (rv = get_bytes(r, 16 * n6, &a6)) != 0 ||
      (rv = get_domain(r, s.name)) != 0 || (rv = get_varint(r, &plen)) != 0 ||
      (rv = get_bytes(r, plen, &params)) != 0)
    return rv;
  if (s.name[0] != '\0' && cip_dns_name_is_root(s.name))
    return fail(r, JVPN_ERR_MALFORMED, "the root as authentication name");
  if ((rv = svc_params(r, params, (size_t)plen, &sp)) != 0)
    return rv;
  s.priority = be16(prio);
  problem = nameserver_problem(s.priority, s.name[0] == '\0', sp.has_alpn,
                               sp.no_default_alpn);
  if (problem != NULL)
    return fail(r, JVPN_ERR_MALFORMED, problem);
  s.transports = sp.transports;
  if (!sp.no_default_alpn && n4 + n6 > 0)
    s.transports |= CIP_DNS_DO53;
  s.port = sp.port;
  if (!sp.usable || s.transports == 0) {
    out->unusable++;
    return 0;
  }
  return add_servers(r, out, &s, a4, n4, a6, n6);
}

static int get_config(struct reader *r, struct cip_dns_config *out) {
  uint64_t count, i;
  int rv;

  if ((rv = get_count(r, NAMESERVER_MIN_BYTES, &count)) != 0)
    return rv;
  for (i = 0; i < count; i++)
    if ((rv = get_nameserver(r, out)) != 0)
      return rv;
  if ((rv = get_domains(r, out->domains, &out->ndomains, 1)) != 0)
    return rv;
  return get_domains(r, out->search, &out->nsearch, 0);
}

int cip_dns_decode(const uint8_t *v, size_t len, struct cip_dns_config *out,
                   const char **why) {
  struct reader r = {v, len, 0, NULL};
  int rv = 0;

  memset(out, 0, sizeof(*out));
  while (r.off < r.len && rv == 0)
    rv = get_config(&r, out);
  if (rv != 0) {
    memset(out, 0, sizeof(*out));
    if (why != NULL)
      *why = r.why;
  }
  return rv;
}

/* --- writing ------------------------------------------------------------ */

struct writer {
  uint8_t *p;
  size_t len, off;
  int full;
};

static void put(struct writer *w, const void *src, size_t n) {
  if (w->full || n > w->len - w->off) {
    w->full = 1;
    return;
  }
  if (n > 0)
    memcpy(w->p + w->off, src, n);
  w->off += n;
}

static void put_varint(struct writer *w, uint64_t v) {
  uint8_t b[8];

  put(w, b, jvpn_varint_encode(b, sizeof(b), v));
}

static void put_u16(struct writer *w, uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

  put(w, b, 2);
}

static void put_domain(struct writer *w, const char *name) {
  size_t n = strlen(name);

  put_varint(w, n);
  put(w, name, n);
}

/* One address field pair: the count, then the address if of |version|. */
static void put_addrs(struct writer *w, const struct cip_dns_server *s,
                      uint8_t version) {
  put_varint(w, s->ip_version == version);
  if (s->ip_version == version)
    put(w, s->addr, version == 4 ? 4 : 16);
}

/* Service parameters in key order: alpn, no-default-alpn, port. */
static void put_params(struct writer *w, const struct cip_dns_server *s) {
  uint8_t alpn[sizeof(alpn_ids)];
  size_t alen = 0, total, i;
  int nodef = !(s->transports & CIP_DNS_DO53);

  for (i = 0; i < sizeof(alpn_ids) / sizeof(alpn_ids[0]); i++)
    if (s->transports & alpn_ids[i].transport) {
      memcpy(alpn + alen, alpn_ids[i].id, sizeof(alpn_ids[i].id));
      alen += sizeof(alpn_ids[i].id);
    }
  total = (alen ? 4 + alen : 0) + (nodef ? 4 : 0) + (s->port ? 6 : 0);
  put_varint(w, total);
  if (alen) {
    put_u16(w, SVC_ALPN);
    put_u16(w, (uint16_t)alen);
    put(w, alpn, alen);
  }
  if (nodef) {
    put_u16(w, SVC_NO_DEFAULT_ALPN);
    put_u16(w, 0);
  }
  if (s->port) {
    put_u16(w, SVC_PORT);
    put_u16(w, 2);
    put_u16(w, s->port);
  }
}

static void put_server(struct writer *w, const struct cip_dns_server *s) {
  put_u16(w, s->priority);
  put_addrs(w, s, 4);
  put_addrs(w, s, 6);
  put_domain(w, s->name);
  put_params(w, s);
}

static int domains_valid(const char (*list)[JVPN_DNS_NAME_SIZE], size_t n,
                         int root_ok) {
  size_t i, len;

  if (n > JVPN_DNS_MAX_DOMAINS)
    return 0;
  for (i = 0; i < n; i++) {
    len = strnlen(list[i], JVPN_DNS_NAME_SIZE);
    if (len == JVPN_DNS_NAME_SIZE || !cip_dns_name_ok(list[i], len) ||
        (!root_ok && cip_dns_name_is_root(list[i])))
      return 0;
  }
  return 1;
}

static void put_domains(struct writer *w,
                        const char (*list)[JVPN_DNS_NAME_SIZE], size_t n) {
  size_t i;

  put_varint(w, n);
  for (i = 0; i < n; i++)
    put_domain(w, list[i]);
}

long cip_dns_encode(uint8_t *dst, size_t dstlen,
                    const struct cip_dns_config *c) {
  struct writer w = {dst, dstlen, 0, 0};
  size_t i;

  if (c->nservers > JVPN_DNS_MAX_SERVERS ||
      !domains_valid(c->domains, c->ndomains, 1) ||
      !domains_valid(c->search, c->nsearch, 0))
    return JVPN_ERR_INVAL;
  for (i = 0; i < c->nservers; i++)
    if (!server_valid(&c->servers[i]))
      return JVPN_ERR_INVAL;
  if (c->nservers == 0 && c->ndomains == 0 && c->nsearch == 0)
    return 0;
  put_varint(&w, c->nservers);
  for (i = 0; i < c->nservers; i++)
    put_server(&w, &c->servers[i]);
  put_domains(&w, c->domains, c->ndomains);
  put_domains(&w, c->search, c->nsearch);
  return w.full ? JVPN_ERR_NOSPACE : (long)w.off;
}
