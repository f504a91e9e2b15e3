/* jvpn-quic: session header fields, parsed strictly from untrusted bytes. */
#include "src/session_wire.h"

#include <arpa/inet.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "jvpn/varint.h"
#include "src/b64.h"

#define NONCE_MAX_DIGITS 20 /* 2^64 - 1 = 18446744073709551615 */

enum wire_param {
  PARAM_V = 1 << 0,
  PARAM_SID = 1 << 1,
  PARAM_N = 1 << 2,
  PARAM_R = 1 << 3,
  PARAM_P = 1 << 4,
};
#define PARAM_ALL (PARAM_V | PARAM_SID | PARAM_N | PARAM_R | PARAM_P)

static const struct {
  const char *name;
  enum jvpn_proof_role role;
} wire_roles[] = {
    {"reattach", JVPN_ROLE_REATTACH},
    {"standby", JVPN_ROLE_STANDBY},
    {"activate", JVPN_ROLE_ACTIVATE},
};
#define N_ROLES (sizeof(wire_roles) / sizeof(wire_roles[0]))

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static size_t skip_ows(const char *v, size_t len, size_t i) {
  while (i < len && is_ows(v[i]))
    i++;
  return i;
}

static int parse_nonce(const char *s, size_t slen, uint64_t *out) {
  uint64_t n = 0;
  size_t i;

  /* "0" is refused here too: nonces start at 1 (the replay window never
   * accepts 0). */
  if (slen == 0 || slen > NONCE_MAX_DIGITS || s[0] == '0')
    return JVPN_ERR_MALFORMED;
  for (i = 0; i < slen; i++) {
    unsigned d;

    if (s[i] < '0' || s[i] > '9')
      return JVPN_ERR_MALFORMED;
    d = (unsigned)(s[i] - '0');
    if (n > (UINT64_MAX - d) / 10)
      return JVPN_ERR_MALFORMED;
    n = n * 10 + d;
  }
  *out = n;
  return 0;
}

static int parse_role(const char *s, size_t slen, enum jvpn_proof_role *out) {
  size_t i;

  for (i = 0; i < N_ROLES; i++)
    if (strlen(wire_roles[i].name) == slen &&
        memcmp(wire_roles[i].name, s, slen) == 0) {
      *out = wire_roles[i].role;
      return 0;
    }
  return JVPN_ERR_MALFORMED;
}

static const char *role_name(enum jvpn_proof_role role) {
  size_t i;

  for (i = 0; i < N_ROLES; i++)
    if (wire_roles[i].role == role)
      return wire_roles[i].name;
  return NULL;
}

static int name_is(const char *name, size_t nlen, const char *want) {
  return strlen(want) == nlen && memcmp(name, want, nlen) == 0;
}

/* Parses one "name=value" and records it in |seen|. */
static int parse_param(const char *name, size_t nlen, const char *val,
                       size_t vlen, unsigned *seen,
                       struct jvpn_wire_attach *out) {
  unsigned bit;
  int rv;

  if (name_is(name, nlen, "v")) {
    bit = PARAM_V;
    rv = vlen == 1 && val[0] == '1' ? 0 : JVPN_ERR_MALFORMED;
  } else if (name_is(name, nlen, "sid")) {
    bit = PARAM_SID;
    rv = jvpn_b64_decode(val, vlen, out->session_id, JVPN_SESSION_ID_LEN,
                         JVPN_B64_URL);
  } else if (name_is(name, nlen, "n")) {
    bit = PARAM_N;
    rv = parse_nonce(val, vlen, &out->nonce);
  } else if (name_is(name, nlen, "r")) {
    bit = PARAM_R;
    rv = parse_role(val, vlen, &out->role);
  } else if (name_is(name, nlen, "p")) {
    bit = PARAM_P;
    rv = jvpn_b64_decode(val, vlen, out->proof, JVPN_PROOF_LEN, JVPN_B64_URL);
  } else {
    return JVPN_ERR_MALFORMED;
  }
  if (rv != 0 || (*seen & bit))
    return JVPN_ERR_MALFORMED;
  *seen |= bit;
  return 0;
}

int jvpn_wire_parse_attach(const char *v, size_t len,
                           struct jvpn_wire_attach *out) {
  unsigned seen = 0;
  size_t i;

  if (len > JVPN_WIRE_ATTACH_MAX)
    return JVPN_ERR_OVERSIZE;
  if (v == NULL || out == NULL)
    return JVPN_ERR_MALFORMED;

  i = skip_ows(v, len, 0);
  for (;;) {
    size_t name, nlen, val, vlen;
    int rv;

    name = i;
    while (i < len && v[i] >= 'a' && v[i] <= 'z')
      i++;
    nlen = i - name;
    i = skip_ows(v, len, i);
    if (nlen == 0 || i >= len || v[i] != '=')
      return JVPN_ERR_MALFORMED;
    i = skip_ows(v, len, i + 1);
    /* The value runs to the next delimiter; its own parser judges every
     * byte, so NULs and other strays fail there. */
    val = i;
    while (i < len && v[i] != ';' && !is_ows(v[i]))
      i++;
    vlen = i - val;
    rv = parse_param(v + name, nlen, v + val, vlen, &seen, out);
    if (rv != 0)
      return rv;
    i = skip_ows(v, len, i);
    if (i == len)
      break;
    if (v[i] != ';')
      return JVPN_ERR_MALFORMED;
    i = skip_ows(v, len, i + 1);
  }
  return seen == PARAM_ALL ? 0 : JVPN_ERR_MALFORMED;
}

/* Appends |n| bytes at *pos if they fit in |cap|; remembers overflow. */
static void put(char *buf, size_t cap, size_t *pos, const char *s, size_t n) {
  if (*pos <= cap && n <= cap - *pos)
    memcpy(buf + *pos, s, n);
  *pos += n;
}

static void put_str(char *buf, size_t cap, size_t *pos, const char *s) {
  put(buf, cap, pos, s, strlen(s));
}

long jvpn_wire_format_attach(char *buf, size_t len,
                             const struct jvpn_wire_attach *a) {
  char digits[NONCE_MAX_DIGITS], b64[JVPN_WIRE_PROOF_CHARS];
  const char *role = role_name(a->role);
  size_t pos = 0, nd = 0;
  uint64_t n = a->nonce;

  if (a->nonce == 0 || role == NULL)
    return JVPN_ERR_INVAL;
  while (n > 0) {
    digits[sizeof(digits) - 1 - nd++] = (char)('0' + n % 10);
    n /= 10;
  }

  put_str(buf, len, &pos, "v=1; sid=");
  put(buf, len, &pos, b64,
      jvpn_b64_encode(a->session_id, JVPN_SESSION_ID_LEN, b64, JVPN_B64_URL));
  put_str(buf, len, &pos, "; n=");
  put(buf, len, &pos, digits + sizeof(digits) - nd, nd);
  put_str(buf, len, &pos, "; r=");
  put_str(buf, len, &pos, role);
  put_str(buf, len, &pos, "; p=");
  put(buf, len, &pos, b64,
      jvpn_b64_encode(a->proof, JVPN_PROOF_LEN, b64, JVPN_B64_URL));
  if (pos >= len)
    return JVPN_ERR_NOSPACE;
  buf[pos] = '\0';
  return (long)pos;
}

/* Trims optional whitespace around a whole header value. */
static size_t trim_ows(const char *v, size_t len, size_t *start) {
  size_t end = len;

  *start = skip_ows(v, len, 0);
  while (end > *start && is_ows(v[end - 1]))
    end--;
  return end - *start;
}

int jvpn_wire_parse_session_id(const char *v, size_t len,
                               uint8_t id[JVPN_SESSION_ID_LEN]) {
  size_t start, n;

  if (v == NULL)
    return JVPN_ERR_MALFORMED;
  n = trim_ows(v, len, &start);
  return jvpn_b64_decode(v + start, n, id, JVPN_SESSION_ID_LEN, JVPN_B64_URL);
}

long jvpn_wire_format_session_id(char *buf, size_t len,
                                 const uint8_t id[JVPN_SESSION_ID_LEN]) {
  if (len < JVPN_WIRE_SESSION_ID_STR_LEN)
    return JVPN_ERR_NOSPACE;
  buf[jvpn_b64_encode(id, JVPN_SESSION_ID_LEN, buf, JVPN_B64_URL)] = '\0';
  return JVPN_WIRE_SESSION_ID_CHARS;
}

int jvpn_wire_parse_version(const char *v, size_t len, uint64_t *out) {
  size_t start, n;

  if (v == NULL)
    return JVPN_ERR_MALFORMED;
  n = trim_ows(v, len, &start);
  if (n == 1 && v[start] == '0') {
    *out = 0;
    return 0;
  }
  return parse_nonce(v + start, n, out);
}

long jvpn_wire_format_version(char *buf, size_t len, uint64_t version) {
  char digits[NONCE_MAX_DIGITS];
  size_t nd = 0;

  do {
    digits[sizeof(digits) - 1 - nd++] = (char)('0' + version % 10);
    version /= 10;
  } while (version > 0);
  if (len <= nd)
    return JVPN_ERR_NOSPACE;
  memcpy(buf, digits + sizeof(digits) - nd, nd);
  buf[nd] = '\0';
  return (long)nd;
}

/* --- ACTIVATE capsules --------------------------------------------------- */

/* One minimal varint at |*off|; a longer spelling would give a value two
 * encodings. */
static int take_varint(const uint8_t *v, size_t len, size_t *off,
                       uint64_t *out) {
  size_t used;

  if (jvpn_varint_decode(v + *off, len - *off, out, &used) != 0 ||
      used != jvpn_varint_len(*out))
    return JVPN_ERR_MALFORMED;
  *off += used;
  return 0;
}

static int status_ok(uint64_t status) {
  return status == 0 || (status >= 100 && status <= 599);
}

int jvpn_wire_decode_activate(const uint8_t *v, size_t len,
                              struct jvpn_wire_activate *out) {
  size_t off = 0;

  if (v == NULL || out == NULL || len > JVPN_WIRE_ACTIVATE_MAX)
    return JVPN_ERR_MALFORMED;
  if (take_varint(v, len, &off, &out->nonce) != 0 || out->nonce == 0 ||
      take_varint(v, len, &off, &out->version) != 0 ||
      take_varint(v, len, &off, &out->flags) != 0 ||
      (out->flags & ~(uint64_t)JVPN_WIRE_ACTIVATE_FLAGS) != 0 ||
      len - off != JVPN_PROOF_LEN)
    return JVPN_ERR_MALFORMED;
  memcpy(out->proof, v + off, JVPN_PROOF_LEN);
  return 0;
}

long jvpn_wire_encode_activate(uint8_t *buf, size_t len,
                               const struct jvpn_wire_activate *a) {
  size_t n1, n2, n3;

  if (a->nonce == 0 || a->nonce > JVPN_VARINT_MAX ||
      a->version > JVPN_VARINT_MAX ||
      (a->flags & ~(uint64_t)JVPN_WIRE_ACTIVATE_FLAGS) != 0)
    return JVPN_ERR_INVAL;
  n1 = jvpn_varint_len(a->nonce);
  n2 = jvpn_varint_len(a->version);
  n3 = jvpn_varint_len(a->flags);
  if (len < n1 + n2 + n3 + JVPN_PROOF_LEN)
    return JVPN_ERR_NOSPACE;
  (void)jvpn_varint_encode(buf, len, a->nonce);
  (void)jvpn_varint_encode(buf + n1, len - n1, a->version);
  (void)jvpn_varint_encode(buf + n1 + n2, len - n1 - n2, a->flags);
  memcpy(buf + n1 + n2 + n3, a->proof, JVPN_PROOF_LEN);
  return (long)(n1 + n2 + n3 + JVPN_PROOF_LEN);
}

int jvpn_wire_decode_activate_result(const uint8_t *v, size_t len,
                                     struct jvpn_wire_activate_result *out) {
  size_t off = 0;

  if (v == NULL || out == NULL || len > JVPN_WIRE_ACTIVATE_RESULT_MAX)
    return JVPN_ERR_MALFORMED;
  if (take_varint(v, len, &off, &out->status) != 0 ||
      !status_ok(out->status) ||
      take_varint(v, len, &off, &out->version) != 0 || off != len)
    return JVPN_ERR_MALFORMED;
  return 0;
}

long jvpn_wire_encode_activate_result(
    uint8_t *buf, size_t len, const struct jvpn_wire_activate_result *r) {
  size_t n1, n2;

  if (!status_ok(r->status) || r->version > JVPN_VARINT_MAX)
    return JVPN_ERR_INVAL;
  n1 = jvpn_varint_len(r->status);
  n2 = jvpn_varint_len(r->version);
  if (len < n1 + n2)
    return JVPN_ERR_NOSPACE;
  (void)jvpn_varint_encode(buf, len, r->status);
  (void)jvpn_varint_encode(buf + n1, len - n1, r->version);
  return (long)(n1 + n2);
}

static int interval_ok(uint64_t ms) {
  return ms >= JVPN_QUIC_KEEPALIVE_MS &&
         ms <= JVPN_QUIC_IDLE_MAX_MS / (JVPN_QUIC_IDLE_KEEPALIVES + 1);
}

/* The address bytes of |ss| and their count (4 or 16), or 0. */
static size_t addr_bytes(const struct sockaddr_storage *ss,
                         const uint8_t **a, uint16_t *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

    *a = (const uint8_t *)&s4->sin_addr;
    *port = ntohs(s4->sin_port);
    return 4;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

    *a = (const uint8_t *)&s6->sin6_addr;
    *port = ntohs(s6->sin6_port);
    return 16;
  }
  return 0;
}

static void addr_fill(struct sockaddr_storage *ss, const uint8_t *a,
                      size_t alen, uint16_t port) {
  memset(ss, 0, sizeof(*ss));
  if (alen == 4) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

    s4->sin_family = AF_INET;
    memcpy(&s4->sin_addr, a, 4);
    s4->sin_port = htons(port);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

    s6->sin6_family = AF_INET6;
    memcpy(&s6->sin6_addr, a, 16);
    s6->sin6_port = htons(port);
  }
}

int jvpn_wire_decode_keepalive(const uint8_t *v, size_t len,
                               struct jvpn_wire_keepalive *out) {
  size_t off = 0, alen;

  if (v == NULL || out == NULL || len > JVPN_WIRE_KEEPALIVE_MAX ||
      take_varint(v, len, &off, &out->want_ms) != 0 ||
      !interval_ok(out->want_ms) || off >= len)
    return JVPN_ERR_MALFORMED;
  alen = v[off] == 4 ? 4 : v[off] == 6 ? 16 : 0;
  off++;
  if (alen == 0 || len - off != alen + 2)
    return JVPN_ERR_MALFORMED;
  addr_fill(&out->from, v + off, alen,
            (uint16_t)(v[off + alen] << 8 | v[off + alen + 1]));
  return 0;
}

long jvpn_wire_encode_keepalive(uint8_t *buf, size_t len,
                                const struct jvpn_wire_keepalive *k) {
  const uint8_t *a;
  uint16_t port;
  size_t alen = addr_bytes(&k->from, &a, &port), n;

  if (!interval_ok(k->want_ms) || alen == 0)
    return JVPN_ERR_INVAL;
  n = jvpn_varint_len(k->want_ms);
  if (len < n + 1 + alen + 2)
    return JVPN_ERR_NOSPACE;
  (void)jvpn_varint_encode(buf, len, k->want_ms);
  buf[n] = alen == 4 ? 4 : 6;
  memcpy(buf + n + 1, a, alen);
  buf[n + 1 + alen] = (uint8_t)(port >> 8);
  buf[n + 2 + alen] = (uint8_t)port;
  return (long)(n + 1 + alen + 2);
}

int jvpn_wire_decode_keepalive_result(const uint8_t *v, size_t len,
                                      uint64_t *interval_ms) {
  size_t off = 0;

  if (v == NULL || interval_ms == NULL ||
      len > JVPN_WIRE_KEEPALIVE_RESULT_MAX ||
      take_varint(v, len, &off, interval_ms) != 0 || off != len ||
      !interval_ok(*interval_ms))
    return JVPN_ERR_MALFORMED;
  return 0;
}

long jvpn_wire_encode_keepalive_result(uint8_t *buf, size_t len,
                                       uint64_t interval_ms) {
  size_t n;

  if (!interval_ok(interval_ms))
    return JVPN_ERR_INVAL;
  n = jvpn_varint_len(interval_ms);
  if (len < n)
    return JVPN_ERR_NOSPACE;
  (void)jvpn_varint_encode(buf, len, interval_ms);
  return (long)n;
}

static int nat_refresh_ok(const struct jvpn_wire_nat_refresh *r) {
  return interval_ok(r->keepalive_ms) && interval_ok(r->refresh_ms) &&
         r->refresh_ms < r->keepalive_ms;
}

int jvpn_wire_decode_nat_refresh(const uint8_t *v, size_t len,
                                 struct jvpn_wire_nat_refresh *out) {
  size_t off = 0;

  if (v == NULL || out == NULL || len > JVPN_WIRE_NAT_REFRESH_MAX ||
      take_varint(v, len, &off, &out->keepalive_ms) != 0 ||
      take_varint(v, len, &off, &out->refresh_ms) != 0 || off != len ||
      !nat_refresh_ok(out))
    return JVPN_ERR_MALFORMED;
  return 0;
}

long jvpn_wire_encode_nat_refresh(uint8_t *buf, size_t len,
                                  const struct jvpn_wire_nat_refresh *r) {
  long a, b;

  if (!nat_refresh_ok(r))
    return JVPN_ERR_INVAL;
  a = jvpn_wire_encode_keepalive_result(buf, len, r->keepalive_ms);
  if (a < 0)
    return a;
  b = jvpn_wire_encode_keepalive_result(buf + a, len - (size_t)a,
                                        r->refresh_ms);
  return b < 0 ? b : a + b;
}
