/*
 * quic/cip_request: the CONNECT-IP request and its answer (RFC 9484 3,
 * RFC 9220 / RFC 8441 extended CONNECT) on plain name/value pairs, for
 * both HTTP mappings (quic/h3_conn over nghttp3, quic/h2_tunnel over
 * nghttp2): the fields a client sends, what makes a request well-formed,
 * the server's answer, and how the client reports the response.
 *
 * No HTTP library here: each mapping converts the pairs to its own type.
 */
#ifndef QUIC_CIP_REQUEST_H
#define QUIC_CIP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "quic/quic_conn.h"

#define CIP_ATTACH_MAX 256    /* bytes: room for a jvpn-attach value */
#define CIP_SESSION_MAX 64    /* bytes: room for a jvpn-session value */
#define CIP_VERSION_MAX 24    /* bytes: room for a jvpn-version value */
#define CIP_REQUEST_MAX_NV 8  /* fields of a request */
#define CIP_RESPONSE_MAX_NV 4 /* fields of a response */

/* One header field; |value| need not be NUL-terminated. */
struct cip_nv {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

/* The fields of a request (server) or response (client) as they arrive. */
struct cip_fields {
  int method_connect, protocol_cip, path_ok, scheme_https, capsule_proto;
  int authority;
  int status;                    /* client: response status; 0 = none */
  char attach[CIP_ATTACH_MAX];   /* server: jvpn-attach value */
  size_t attach_len;             /* 0 = absent; CIP_ATTACH_MAX = oversize */
  char session[CIP_SESSION_MAX]; /* client: jvpn-session value */
  size_t session_len;
  char version[CIP_VERSION_MAX]; /* jvpn-version value (both sides) */
  size_t version_len;            /* CIP_VERSION_MAX = oversize */
};

/* The client's side of a request: what it sends besides the fixed fields
 * (filled by cip_request_attach). */
struct cip_attach {
  char attach[CIP_ATTACH_MAX];
  size_t attach_len; /* 0: a birth request (neither header) */
  char version[CIP_VERSION_MAX];
};

void cip_fields_reset(struct cip_fields *f);

/* Records one received field. |is_server|: a request's fields (a
 * response's otherwise); fields of no interest are ignored. An oversize
 * attach or version value is kept as "oversize" for the program's parser
 * to refuse, never truncated into something that parses. */
void cip_fields_add(struct cip_fields *f, int is_server, const uint8_t *name,
                    size_t name_len, const uint8_t *value, size_t value_len);

/* Server: judges the request in |f| (complete) and, when it is well-formed
 * and for the full tunnel, asks the program through ops->tunnel_request.
 * Returns the status to answer with (200, 404 for a scoped target, or the
 * program's refusal), or 0 for a malformed request (the mapping resets the
 * stream). On 200, |resp|'s session and version are NUL-terminated. */
int cip_request_answer(const struct cip_fields *f,
                       const struct quic_conn_ops *ops, void *user,
                       struct quic_tunnel_resp *resp, const char *log_ctx);

/* Client: asks the program for the jvpn-attach and jvpn-version values
 * (ops->attach_header; NULL = birth). Returns 0 or its JVPN_ERR_*. */
int cip_request_attach(const struct quic_conn_ops *ops, void *user,
                       struct cip_attach *a);

/* Client: the request's fields for |authority| (NULL or "" = "jvpn") and
 * |a| (the pointers refer into |a| and |authority|). Returns the count. */
size_t cip_request_nv(struct cip_nv nv[CIP_REQUEST_MAX_NV],
                      const char *authority, const struct cip_attach *a);

/* Server: the response's fields for |status| with, on 200, |resp|'s
 * session and version (the pointers refer into |code| and |resp|).
 * Returns the count. */
size_t cip_response_nv(struct cip_nv nv[CIP_RESPONSE_MAX_NV], char code[4],
                       int status, const struct quic_tunnel_resp *resp);

/* Client: reports the response in |f| to the program: ops->tunnel_open on
 * 200 (returns 0), ops->tunnel_refused otherwise (returns JVPN_ERR_DENIED
 * with the reason in |why|). */
int cip_response_report(const struct cip_fields *f,
                        const struct quic_conn_ops *ops, void *user, char *why,
                        size_t why_len, const char *log_ctx);

/* Client: the ADDRESS_REQUEST capsule value sent after the request: one
 * address of each family (RFC 9484 4.7.2: an all-zero address with a
 * full-length prefix asks for "any single address"). Returns its length
 * or a JVPN_ERR_*. */
long cip_request_addresses(uint8_t *dst, size_t dstlen);

#endif /* QUIC_CIP_REQUEST_H */
