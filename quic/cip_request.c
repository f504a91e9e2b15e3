/* quic/cip_request: the CONNECT-IP request and its answer (RFC 9484 3). */
#include "quic/cip_request.h"

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/connect_ip.h"

#define NV(n, v)                                                               \
  { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

static int is(const uint8_t *s, size_t len, const char *lit) {
  size_t n = strlen(lit);

  return len == n && memcmp(s, lit, n) == 0;
}

/* Keeps |v| in |dst| (room for |room|); a value that does not fit is
 * recorded as oversize (|*len| == room) with nothing copied. */
static void keep(char *dst, size_t room, size_t *len, const uint8_t *v,
                 size_t vlen) {
  *len = vlen < room ? vlen : room;
  if (vlen < room)
    memcpy(dst, v, vlen);
}

static int parse_status(const uint8_t *v, size_t len) {
  size_t i;
  int s = 0;

  if (len != 3)
    return 0;
  for (i = 0; i < 3; i++) {
    if (v[i] < '0' || v[i] > '9')
      return 0;
    s = s * 10 + (v[i] - '0');
  }
  return s;
}

void cip_fields_reset(struct cip_fields *f) {
  memset(f, 0, sizeof(*f));
}

void cip_fields_add(struct cip_fields *f, int is_server, const uint8_t *name,
                    size_t name_len, const uint8_t *value, size_t value_len) {
  if (is(name, name_len, ":method"))
    f->method_connect = is(value, value_len, "CONNECT");
  else if (is(name, name_len, ":protocol"))
    f->protocol_cip = is(value, value_len, JVPN_CIP_PROTOCOL);
  else if (is(name, name_len, ":scheme"))
    f->scheme_https = is(value, value_len, "https");
  else if (is(name, name_len, ":path"))
    /* Only the full tunnel (any target, any protocol) is offered. */
    f->path_ok = is(value, value_len, JVPN_CIP_PATH);
  else if (is(name, name_len, ":authority"))
    f->authority = value_len > 0;
  else if (is(name, name_len, ":status"))
    f->status = parse_status(value, value_len);
  else if (is(name, name_len, "capsule-protocol"))
    f->capsule_proto = is(value, value_len, "?1");
  else if (is_server && is(name, name_len, "jvpn-attach"))
    keep(f->attach, sizeof(f->attach), &f->attach_len, value, value_len);
  else if (is(name, name_len, "jvpn-version"))
    keep(f->version, sizeof(f->version), &f->version_len, value, value_len);
  else if (!is_server && is(name, name_len, "jvpn-session") &&
           value_len < sizeof(f->session))
    keep(f->session, sizeof(f->session), &f->session_len, value, value_len);
}

int cip_request_answer(const struct cip_fields *f,
                       const struct quic_conn_ops *ops, void *user,
                       struct quic_tunnel_resp *resp, const char *log_ctx) {
  struct quic_tunnel_req req;

  memset(resp, 0, sizeof(*resp));
  if (!(f->method_connect && f->protocol_cip && f->scheme_https &&
        f->authority && f->capsule_proto))
    return 0;
  if (!f->path_ok) {
    LOG_WARN(log_ctx, "CONNECT-IP request for a scoped target refused (404)");
    return 404;
  }
  req.attach = f->attach_len ? f->attach : NULL;
  req.attach_len = f->attach_len;
  req.version = f->version_len ? f->version : NULL;
  req.version_len = f->version_len;
  ops->tunnel_request(user, &req, resp);
  if (resp->status != 0)
    return resp->status;
  resp->session[sizeof(resp->session) - 1] = '\0';
  resp->version[sizeof(resp->version) - 1] = '\0';
  return 200;
}

int cip_request_attach(const struct quic_conn_ops *ops, void *user,
                       struct cip_attach *a) {
  long n;

  memset(a, 0, sizeof(*a));
  if (ops->attach_header == NULL)
    return 0;
  n = ops->attach_header(user, a->attach, sizeof(a->attach), a->version,
                         sizeof(a->version));
  if (n < 0)
    return (int)n;
  /* A server keeps at most CIP_ATTACH_MAX - 1 bytes (cip_fields_add). */
  if ((size_t)n >= sizeof(a->attach))
    return JVPN_ERR_OVERSIZE;
  a->attach_len = (size_t)n;
  a->version[sizeof(a->version) - 1] = '\0';
  return 0;
}

size_t cip_request_nv(struct cip_nv nv[CIP_REQUEST_MAX_NV],
                      const char *authority, const struct cip_attach *a) {
  const char *auth = authority && authority[0] ? authority : "jvpn";
  /* Pseudo-header fields first (RFC 9113 8.3, RFC 9114 4.3). */
  const struct cip_nv fixed[] = {
      NV(":method", "CONNECT"),   NV(":protocol", JVPN_CIP_PROTOCOL),
      NV(":scheme", "https"),     {":authority", 10, auth, strlen(auth)},
      NV(":path", JVPN_CIP_PATH), NV("capsule-protocol", "?1"),
  };
  size_t n = sizeof(fixed) / sizeof(fixed[0]);

  memcpy(nv, fixed, sizeof(fixed));
  if (a->attach_len > 0) {
    nv[n++] = (struct cip_nv){"jvpn-attach", 11, a->attach, a->attach_len};
    nv[n++] =
        (struct cip_nv){"jvpn-version", 12, a->version, strlen(a->version)};
  }
  return n;
}

size_t cip_response_nv(struct cip_nv nv[CIP_RESPONSE_MAX_NV], char code[4],
                       int status, const struct quic_tunnel_resp *resp) {
  size_t n = 0;

  if (status < 100 || status > 999)
    status = 500; /* not an HTTP status: ours to avoid sending */
  code[0] = (char)('0' + status / 100);
  code[1] = (char)('0' + status / 10 % 10);
  code[2] = (char)('0' + status % 10);
  code[3] = '\0';
  nv[n++] = (struct cip_nv){":status", 7, code, 3};
  if (status != 200)
    return n;
  nv[n++] = (struct cip_nv){"capsule-protocol", 16, "?1", 2};
  if (resp->session[0])
    nv[n++] = (struct cip_nv){"jvpn-session", 12, resp->session,
                              strlen(resp->session)};
  if (resp->version[0])
    nv[n++] = (struct cip_nv){"jvpn-version", 12, resp->version,
                              strlen(resp->version)};
  return n;
}

int cip_response_report(const struct cip_fields *f,
                        const struct quic_conn_ops *ops, void *user, char *why,
                        size_t why_len, const char *log_ctx) {
  if (f->status != 200) {
    snprintf(why, why_len, "server answered CONNECT-IP with status %d",
             f->status);
    LOG_WARN(log_ctx, "%s", why);
    if (ops->tunnel_refused)
      ops->tunnel_refused(user, f->status);
    return JVPN_ERR_DENIED;
  }
  if (ops->tunnel_open)
    ops->tunnel_open(user, f->session_len ? f->session : NULL, f->session_len,
                     f->version_len ? f->version : NULL, f->version_len);
  return 0;
}

long cip_request_addresses(uint8_t *dst, size_t dstlen) {
  struct cip_addr want[2];

  memset(want, 0, sizeof(want));
  want[0].request_id = 1;
  want[0].ip_version = 4;
  want[0].prefix_len = 32;
  want[1].request_id = 2;
  want[1].ip_version = 6;
  want[1].prefix_len = 128;
  return cip_addrs_encode(dst, dstlen, want, 2);
}
