/* tests/unit/test_connect_ip_dns: the DNS_ASSIGN capsule value
 * (draft-ietf-masque-connect-ip-dns-05, section 3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/connect_ip_dns.h"

/* --- building values by hand -------------------------------------------- */

struct wire {
  uint8_t b[JVPN_CAPSULE_MAX_VALUE];
  size_t n;
};

static void w_bytes(struct wire *w, const void *p, size_t n) {
  if (n == 0)
    return;
  assert_true(w->n + n <= sizeof(w->b));
  memcpy(w->b + w->n, p, n);
  w->n += n;
}

static void w_u8(struct wire *w, uint8_t v) {
  w_bytes(w, &v, 1);
}

static void w_u16(struct wire *w, uint16_t v) {
  w_u8(w, (uint8_t)(v >> 8));
  w_u8(w, (uint8_t)v);
}

/* Counts and lengths below 16384, as varints. */
static void w_varint(struct wire *w, size_t v) {
  if (v < 64) {
    w_u8(w, (uint8_t)v);
    return;
  }
  w_u8(w, (uint8_t)(0x40 | v >> 8));
  w_u8(w, (uint8_t)v);
}

static void w_domain(struct wire *w, const char *name) {
  w_varint(w, strlen(name));
  w_bytes(w, name, strlen(name));
}

/* A nameserver with one IPv4 address (none if |a4| is NULL), no IPv6, the
 * name |name| and |plen| bytes of service parameters |params|. */
static void w_ns(struct wire *w, uint16_t prio, const uint8_t *a4,
                 const char *name, const void *params, size_t plen) {
  w_u16(w, prio);
  w_u8(w, a4 != NULL);
  if (a4 != NULL)
    w_bytes(w, a4, 4);
  w_u8(w, 0);
  w_domain(w, name);
  w_u8(w, (uint8_t)plen);
  w_bytes(w, params, plen);
}

/* A whole configuration of one such nameserver and no domains. */
static struct wire one_ns(uint16_t prio, const uint8_t *a4, const char *name,
                          const void *params, size_t plen) {
  struct wire w;

  memset(&w, 0, sizeof(w));
  w_u8(&w, 1);
  w_ns(&w, prio, a4, name, params, plen);
  w_u8(&w, 0);
  w_u8(&w, 0);
  return w;
}

static const uint8_t A4[4] = {198, 18, 200, 1};

static struct cip_dns_config cfg; /* big: kept off the stack */
static struct cip_dns_config cfg2;

static struct cip_dns_server *add_server(struct cip_dns_config *c,
                                         uint8_t version, uint8_t last,
                                         uint8_t transports, uint16_t prio) {
  struct cip_dns_server *s = &c->servers[c->nservers++];

  memset(s, 0, sizeof(*s));
  s->ip_version = version;
  if (version == 4)
    memcpy(s->addr, A4, 3);
  if (version == 6)
    memcpy(s->addr, "\x20\x01\x0d\xb8", 4);
  s->addr[version == 4 ? 3 : 15] = last;
  s->transports = transports;
  s->priority = prio;
  return s;
}

static void set_name(char *dst, const char *src) {
  snprintf(dst, JVPN_DNS_NAME_SIZE, "%s", src);
}

/* --- round trips -------------------------------------------------------- */

static void test_round_trip(void **state) {
  uint8_t buf[JVPN_CAPSULE_MAX_VALUE];
  struct cip_dns_server *s;
  long n;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  add_server(&cfg, 4, 1, CIP_DNS_DO53, 1);
  add_server(&cfg, 6, 0x53, CIP_DNS_DO53, 2);
  s = add_server(&cfg, 4, 2, CIP_DNS_DO53 | CIP_DNS_DOT, 3);
  set_name(s->name, "dns.vpn.test");
  s = add_server(&cfg, 0, 0, CIP_DNS_DOT | CIP_DNS_DOQ, 4);
  set_name(s->name, "resolver.example.");
  s->port = 8853;
  set_name(cfg.domains[cfg.ndomains++], "");
  set_name(cfg.domains[cfg.ndomains++], "corp.example");
  set_name(cfg.search[cfg.nsearch++], "vpn.test");
  set_name(cfg.search[cfg.nsearch++], "xn--bcher-kva.example.");
  n = cip_dns_encode(buf, sizeof(buf), &cfg);
  assert_true(n > 0);
  assert_int_equal(cip_dns_decode(buf, (size_t)n, &cfg2, NULL), 0);
  assert_memory_equal(&cfg, &cfg2, sizeof(cfg));
  /* too small a buffer, at every size */
  while (--n >= 0)
    assert_int_equal(cip_dns_encode(buf, (size_t)n, &cfg), JVPN_ERR_NOSPACE);
}

/* What the server sends for "dns = 198.18.200.1" and "dns_search =
 * vpn.test", byte by byte. */
static void test_wire_layout(void **state) {
  static const uint8_t want[] = {
      0x01,                    /* one nameserver */
      0x00, 0x01,              /* priority 1 */
      0x01, 198,  18,  200, 1, /* one IPv4 address */
      0x00,                    /* no IPv6 */
      0x00,                    /* no authentication name */
      0x00,                    /* no service parameters */
      0x01, 0x00,              /* internal domains: the root */
      0x01, 0x08, 'v', 'p', 'n', '.', 't', 'e', 's', 't', /* search */
  };
  uint8_t buf[64];

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  add_server(&cfg, 4, 1, CIP_DNS_DO53, 1);
  cfg.ndomains = 1;
  set_name(cfg.search[cfg.nsearch++], "vpn.test");
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), sizeof(want));
  assert_memory_equal(buf, want, sizeof(want));
}

static void test_parameters_layout(void **state) {
  static const uint8_t params[] = {
      0x00, 0x01, 0x00, 0x08, 3,    'd',  'o', 't', 3, 'd', 'o', 'q', /* alpn */
      0x00, 0x02, 0x00, 0x00,             /* no-default */
      0x00, 0x03, 0x00, 0x02, 0x03, 0x55, /* port 853 */
  };
  struct wire w = one_ns(7, NULL, "ns.example", params, sizeof(params));
  uint8_t buf[128];
  struct cip_dns_server *s;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  s = add_server(&cfg, 0, 0, CIP_DNS_DOT | CIP_DNS_DOQ, 7);
  set_name(s->name, "ns.example");
  s->port = 853;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), w.n);
  assert_memory_equal(buf, w.b, w.n);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg2, NULL), 0);
  assert_memory_equal(&cfg, &cfg2, sizeof(cfg));
}

static void test_empty(void **state) {
  uint8_t buf[8];

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), 0);
  memset(&cfg2, 0xff, sizeof(cfg2));
  assert_int_equal(cip_dns_decode(buf, 0, &cfg2, NULL), 0);
  assert_memory_equal(&cfg, &cfg2, sizeof(cfg));
  /* one configuration with nothing in it reads the same */
  assert_int_equal(cip_dns_decode((const uint8_t *)"\0\0\0", 3, &cfg2, NULL),
                   0);
  assert_memory_equal(&cfg, &cfg2, sizeof(cfg));
}

/* Draft 3.6.2: one nameserver, an IPv4 and an IPv6 address, plain DNS. */
static void test_draft_split_tunnel(void **state) {
  struct wire w;

  (void)state;
  memset(&w, 0, sizeof(w));
  w_u8(&w, 1);
  w_u16(&w, 1);
  w_u8(&w, 1);
  w_bytes(&w, "\xc0\x00\x02\x21", 4);
  w_u8(&w, 1);
  w_bytes(&w, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  w_u8(&w, 0);
  w_u8(&w, 0);
  w_u8(&w, 1);
  w_domain(&w, "internal.corp.example");
  w_u8(&w, 2);
  w_domain(&w, "internal.corp.example");
  w_domain(&w, "corp.example");
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 2);
  assert_int_equal(cfg.servers[0].ip_version, 4);
  assert_memory_equal(cfg.servers[0].addr, "\xc0\x00\x02\x21", 4);
  assert_int_equal(cfg.servers[1].ip_version, 6);
  assert_int_equal(cfg.servers[1].addr[15], 1);
  assert_int_equal(cfg.servers[0].transports, CIP_DNS_DO53);
  assert_int_equal(cfg.servers[1].priority, 1);
  assert_int_equal(cfg.ndomains, 1);
  assert_string_equal(cfg.domains[0], "internal.corp.example");
  assert_int_equal(cfg.nsearch, 2);
  assert_string_equal(cfg.search[1], "corp.example");
}

/* Draft 3.6.1: DNS over HTTPS by name only; nothing we can use, and no
 * "no-default-alpn" although it has no address (see nameserver_problem). */
static void test_draft_full_tunnel(void **state) {
  static const uint8_t params[] = {
      0x00, 0x01, 0x00, 0x06, 2,   'h', '2', 2,   'h', '3',
      0x00, 0x07, 0x00, 0x10, '/', 'd', 'n', 's', '-', 'q',
      'u',  'e',  'r',  'y',  '{', '?', 'd', 'n', 's', '}',
  };
  struct wire w = one_ns(1, NULL, "masque.example.org", params, sizeof(params));

  (void)state;
  w.n -= 2; /* replace the empty domain lists: internal = [""] */
  w_u8(&w, 1);
  w_u8(&w, 0);
  w_u8(&w, 0);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 0);
  assert_int_equal(cfg.unusable, 1);
  assert_int_equal(cfg.ndomains, 1);
  assert_string_equal(cfg.domains[0], "");
}

static void test_configurations_merge(void **state) {
  struct wire w = one_ns(1, A4, "", NULL, 0);
  struct wire w2 = one_ns(2, A4, "", NULL, 0);

  (void)state;
  w.n -= 1;
  w_u8(&w, 1);
  w_domain(&w, "a.test");
  w2.n -= 1;
  w_u8(&w2, 1);
  w_domain(&w2, "b.test");
  w_bytes(&w, w2.b, w2.n);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 2);
  assert_int_equal(cfg.servers[1].priority, 2);
  assert_int_equal(cfg.nsearch, 2);
  assert_string_equal(cfg.search[0], "a.test");
  assert_string_equal(cfg.search[1], "b.test");
}

/* --- rejections --------------------------------------------------------- */

struct bad_case {
  const char *what;
  uint16_t prio;
  const uint8_t *a4;
  const char *name;
  const char *params;
  size_t plen;
};

static void test_malformed_nameservers(void **state) {
  static const struct bad_case cases[] = {
      {"priority 0", 0, A4, "", "", 0},
      {"ipv4hint", 1, A4, "", "\0\x04\0\x04\x01\x02\x03\x04", 8},
      {"ipv6hint", 1, A4, "n.test", "\0\x06\0\0", 4},
      {"key 65535", 1, A4, "", "\xff\xff\0\0", 4},
      {"out of order", 1, A4, "n.test",
       "\0\x03\0\x02\0\x35\0\x01\0\x04\x03"
       "dot",
       14},
      {"repeated key", 1, A4, "", "\0\x03\0\x02\0\x35\0\x03\0\x02\0\x35", 12},
      {"overrun", 1, A4, "", "\0\x03\0\x03\0\x35", 6},
      {"short header", 1, A4, "", "\0\x03\0", 3},
      {"port length", 1, A4, "", "\0\x03\0\x01\x35", 5},
      {"port 0", 1, A4, "", "\0\x03\0\x02\0\0", 6},
      {"empty alpn", 1, A4, "n.test", "\0\x01\0\0", 4},
      {"empty alpn id", 1, A4, "n.test", "\0\x01\0\x01\0", 5},
      {"alpn id overrun", 1, A4, "n.test", "\0\x01\0\x02\x03x", 6},
      {"alpn without name", 1, A4, "",
       "\0\x01\0\x04\x03"
       "dot",
       8},
      {"no-default without name", 1, A4, "", "\0\x02\0\0", 4},
      {"no-default without alpn", 1, A4, "n.test", "\0\x02\0\0", 4},
      {"no-default length", 1, A4, "n.test",
       "\0\x01\0\x04\x03"
       "dot"
       "\0\x02\0\x01\0",
       13},
      {"mandatory lists itself", 1, A4, "", "\0\0\0\x02\0\0", 6},
      {"mandatory odd", 1, A4, "", "\0\0\0\x01\x03", 5},
      {"mandatory empty", 1, A4, "", "\0\0\0\0", 4},
      {"mandatory unsorted", 1, A4, "",
       "\0\0\0\x04\0\x03\0\x01\0\x03\0\x02\0\x35", 14},
      {"mandatory missing", 1, A4, "", "\0\0\0\x02\0\x03", 6},
      {"root name", 1, A4, ".", "", 0},
      {"bad name", 1, A4, "a b.test", "", 0},
      {"empty label", 1, A4, "a..test", "", 0},
      {"leading hyphen", 1, A4, "-a.test", "", 0},
      {"trailing hyphen", 1, A4, "a-.test", "", 0},
  };
  struct wire w;
  const char *why;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct bad_case *c = &cases[i];

    w = one_ns(c->prio, c->a4, c->name, c->params, c->plen);
    why = NULL;
    print_message("%s\n", c->what);
    assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, &why), JVPN_ERR_MALFORMED);
    assert_non_null(why);
    assert_int_equal(cfg.nservers, 0);
  }
}

static void test_malformed_domains(void **state) {
  char long_label[80], long_name[300];
  const char *bad[] = {long_label, "a_b.-x", "x\x01y", ".a", "a..", "."};
  struct wire w;
  size_t i;

  (void)state;
  memset(long_label, 'a', 64);
  long_label[64] = '\0';
  for (i = 0; i < 254; i++)
    long_name[i] = i % 2 ? '.' : 'a';
  long_name[254] = 'a'; /* 255 bytes, no final dot */
  long_name[255] = '\0';
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&w, 0, sizeof(w));
    w_bytes(&w, "\0\0\x01", 3); /* no servers, no internal, one search */
    w_domain(&w, bad[i]);
    assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), JVPN_ERR_MALFORMED);
  }
  /* 255 bytes */
  memset(&w, 0, sizeof(w));
  w_bytes(&w, "\0\0\x01", 3);
  w_domain(&w, long_name);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), JVPN_ERR_MALFORMED);
  /* the root is an internal domain, never a search domain */
  assert_int_equal(cip_dns_decode((const uint8_t *)"\0\x01\0\0", 4, &cfg, NULL),
                   0);
  assert_int_equal(cip_dns_decode((const uint8_t *)"\0\0\x01\0", 4, &cfg, NULL),
                   JVPN_ERR_MALFORMED);
}

static void test_truncated_everywhere(void **state) {
  uint8_t buf[JVPN_CAPSULE_MAX_VALUE];
  struct cip_dns_server *s;
  const char *why;
  long n, k;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  add_server(&cfg, 6, 1, CIP_DNS_DO53, 1);
  s = add_server(&cfg, 4, 2, CIP_DNS_DO53 | CIP_DNS_DOQ, 2);
  set_name(s->name, "q.test");
  s->port = 784;
  set_name(cfg.domains[cfg.ndomains++], "corp.test");
  set_name(cfg.search[cfg.nsearch++], "vpn.test");
  n = cip_dns_encode(buf, sizeof(buf), &cfg);
  assert_true(n > 0);
  /* one configuration fills the value: every shorter prefix ends inside
   * a field */
  for (k = 1; k < n; k++) {
    why = NULL;
    assert_int_equal(cip_dns_decode(buf, (size_t)k, &cfg2, &why),
                     JVPN_ERR_TRUNCATED);
    assert_non_null(why);
  }
  /* counts far past the value */
  assert_int_equal(cip_dns_decode((const uint8_t *)"\x3f", 1, &cfg2, NULL),
                   JVPN_ERR_TRUNCATED);
  assert_int_equal(
      cip_dns_decode((const uint8_t *)"\0\0\xbf\xff\xff\xff", 6, &cfg2, NULL),
      JVPN_ERR_TRUNCATED);
  assert_int_equal(cip_dns_decode((const uint8_t *)"\x01\0\x01\x3f\0\0\0\0\0",
                                  9, &cfg2, NULL),
                   JVPN_ERR_TRUNCATED);
}

static void test_limits(void **state) {
  struct wire w;
  const char *why;
  size_t i;

  (void)state;
  /* nine nameservers */
  memset(&w, 0, sizeof(w));
  w_u8(&w, JVPN_DNS_MAX_SERVERS + 1);
  for (i = 0; i <= JVPN_DNS_MAX_SERVERS; i++)
    w_ns(&w, 1, A4, "", NULL, 0);
  w_bytes(&w, "\0\0", 2);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, &why), JVPN_ERR_OVERSIZE);
  /* eight is fine */
  w.b[0] = JVPN_DNS_MAX_SERVERS;
  w.n -= 2 + 10; /* the last nameserver and the domain lists */
  w_bytes(&w, "\0\0", 2);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, JVPN_DNS_MAX_SERVERS);
  /* one nameserver with nine addresses */
  memset(&w, 0, sizeof(w));
  w_bytes(&w, "\x01\0\x01\x09", 4);
  for (i = 0; i < 9; i++)
    w_bytes(&w, A4, 4);
  w_bytes(&w, "\0\0\0\0\0", 5);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), JVPN_ERR_OVERSIZE);
  /* nine search domains */
  memset(&w, 0, sizeof(w));
  w_bytes(&w, "\0\0", 2);
  w_u8(&w, JVPN_DNS_MAX_DOMAINS + 1);
  for (i = 0; i <= JVPN_DNS_MAX_DOMAINS; i++)
    w_domain(&w, "a.test");
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), JVPN_ERR_OVERSIZE);
}

static void test_unusable(void **state) {
  /* "mandatory" names dohpath (7), which we do not use */
  static const uint8_t mand[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x07,
                                 0x00, 0x07, 0x00, 0x01, '/'};
  /* alpn h2 only, with no-default-alpn: DNS over HTTPS only */
  static const uint8_t doh[] = {0x00, 0x01, 0x00, 0x03, 2,   'h',
                                '2',  0x00, 0x02, 0x00, 0x00};
  struct wire w = one_ns(1, A4, "", mand, sizeof(mand));

  (void)state;
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 0);
  assert_int_equal(cfg.unusable, 1);
  w = one_ns(1, A4, "doh.test", doh, sizeof(doh));
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 0);
  assert_int_equal(cfg.unusable, 1);
  /* h2 without no-default-alpn: unencrypted DNS is still there */
  w = one_ns(1, A4, "doh.test", doh, 7);
  assert_int_equal(cip_dns_decode(w.b, w.n, &cfg, NULL), 0);
  assert_int_equal(cfg.nservers, 1);
  assert_int_equal(cfg.servers[0].transports, CIP_DNS_DO53);
}

static void test_encode_refuses(void **state) {
  uint8_t buf[512];
  struct cip_dns_server *s;

  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  s = add_server(&cfg, 4, 1, CIP_DNS_DO53, 0); /* priority 0 */
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  s->priority = 1;
  s->ip_version = 0; /* unencrypted DNS without an address */
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  s->ip_version = 5;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  s->ip_version = 4;
  s->transports = 0;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  s->transports = 0x80;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  s->transports = CIP_DNS_DOT; /* DoT without a name */
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  set_name(s->name, ".");
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  set_name(s->name, "a..b");
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  set_name(s->name, "dot.test");
  assert_true(cip_dns_encode(buf, sizeof(buf), &cfg) > 0);
  set_name(cfg.search[cfg.nsearch++], ".");
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  cfg.nsearch = 0;
  cfg.ndomains = JVPN_DNS_MAX_DOMAINS + 1;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
  cfg.ndomains = 0;
  cfg.nservers = JVPN_DNS_MAX_SERVERS + 1;
  assert_int_equal(cip_dns_encode(buf, sizeof(buf), &cfg), JVPN_ERR_INVAL);
}

static void test_name_ok(void **state) {
  char max[JVPN_DNS_NAME_MAX + 2];
  size_t i;

  (void)state;
  assert_true(cip_dns_name_ok("", 0));
  assert_true(cip_dns_name_ok(".", 1));
  assert_true(cip_dns_name_ok("a", 1));
  assert_true(cip_dns_name_ok("vpn.test.", 9));
  assert_true(cip_dns_name_ok("_dns.Resolver-1.example", 23));
  assert_true(cip_dns_name_ok("xn--bcher-kva.example", 21));
  assert_false(cip_dns_name_ok("..", 2));
  assert_false(cip_dns_name_ok("a..", 3));
  assert_false(cip_dns_name_ok("a-", 2));
  assert_false(cip_dns_name_ok("a b", 3));
  assert_false(cip_dns_name_ok("a\0b", 3));
  /* 253 characters, labels of 63 */
  for (i = 0; i < JVPN_DNS_NAME_MAX; i++)
    max[i] = i % 64 == 63 ? '.' : 'x';
  assert_true(cip_dns_name_ok(max, JVPN_DNS_NAME_MAX));
  max[JVPN_DNS_NAME_MAX] = '.';
  assert_true(cip_dns_name_ok(max, JVPN_DNS_NAME_MAX + 1));
  max[JVPN_DNS_NAME_MAX] = 'x';
  assert_false(cip_dns_name_ok(max, JVPN_DNS_NAME_MAX + 1));
  memset(max, 'x', 64);
  assert_false(cip_dns_name_ok(max, 64));
  assert_true(cip_dns_name_ok(max, 63));
  assert_true(cip_dns_name_is_root(""));
  assert_true(cip_dns_name_is_root("."));
  assert_false(cip_dns_name_is_root("a."));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_wire_layout),
      cmocka_unit_test(test_parameters_layout),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_draft_split_tunnel),
      cmocka_unit_test(test_draft_full_tunnel),
      cmocka_unit_test(test_configurations_merge),
      cmocka_unit_test(test_malformed_nameservers),
      cmocka_unit_test(test_malformed_domains),
      cmocka_unit_test(test_truncated_everywhere),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_unusable),
      cmocka_unit_test(test_encode_refuses),
      cmocka_unit_test(test_name_ok),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
