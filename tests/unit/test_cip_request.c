/*
 * tests/unit/test_cip_request: the CONNECT-IP request's fields as they
 * arrive, the server's judgement of them (every rule), the client's
 * request and the server's response field lists, and the client's report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/cip_request.h"
#include "quic/connect_ip.h"

/* --- a recording program ------------------------------------------------- */

static struct {
  int requests, opens, refused;
  int refuse_with;
  struct quic_tunnel_req req;
  char attach[CIP_ATTACH_MAX + 1];
  const char *session, *version;
  size_t session_len, version_len;
  int fill_resp; /* fill session and version without a NUL */
  long attach_rv;
  const char *attach_value;
} prog;

static void tunnel_request(void *user, const struct quic_tunnel_req *req,
                           struct quic_tunnel_resp *resp) {
  (void)user;
  prog.requests++;
  prog.req = *req;
  if (req->attach)
    memcpy(prog.attach, req->attach, req->attach_len);
  resp->status = prog.refuse_with;
  if (prog.fill_resp) {
    memset(resp->session, 's', sizeof(resp->session));
    memset(resp->version, '7', sizeof(resp->version));
  } else {
    snprintf(resp->session, sizeof(resp->session), "S1");
    snprintf(resp->version, sizeof(resp->version), "42");
  }
}

static long attach_header(void *user, char *buf, size_t len, char *version,
                          size_t version_len) {
  (void)user;
  assert_int_equal(len, CIP_ATTACH_MAX);
  assert_int_equal(version_len, CIP_VERSION_MAX);
  memset(version, '9', version_len); /* no NUL: the module adds one */
  if (prog.attach_value)
    memcpy(buf, prog.attach_value, strlen(prog.attach_value));
  return prog.attach_rv;
}

static void tunnel_open(void *user, const char *session, size_t len,
                        const char *version, size_t version_len) {
  (void)user;
  prog.opens++;
  prog.session = session;
  prog.session_len = len;
  prog.version = version;
  prog.version_len = version_len;
}

static void tunnel_refused(void *user, int status) {
  (void)user;
  prog.refused = status;
}

static const struct quic_conn_ops ops = {
    .tunnel_request = tunnel_request,
    .attach_header = attach_header,
    .tunnel_open = tunnel_open,
    .tunnel_refused = tunnel_refused,
};

static int reset_prog(void **state) {
  (void)state;
  memset(&prog, 0, sizeof(prog));
  return 0;
}

/* --- helpers ------------------------------------------------------------- */

static void add(struct cip_fields *f, int server, const char *name,
                const char *value) {
  cip_fields_add(f, server, (const uint8_t *)name, strlen(name),
                 (const uint8_t *)value, strlen(value));
}

static void add_len(struct cip_fields *f, int server, const char *name,
                    char c, size_t len) {
  char v[512];

  memset(v, c, len);
  cip_fields_add(f, server, (const uint8_t *)name, strlen(name),
                 (const uint8_t *)v, len);
}

/* The fields of a well-formed request, from the client's own list. */
static void good_request(struct cip_fields *f) {
  struct cip_attach a;
  struct cip_nv nv[CIP_REQUEST_MAX_NV];
  size_t n, i;

  memset(&a, 0, sizeof(a));
  n = cip_request_nv(nv, "vpn.example", &a);
  cip_fields_reset(f);
  for (i = 0; i < n; i++)
    cip_fields_add(f, 1, (const uint8_t *)nv[i].name, nv[i].name_len,
                   (const uint8_t *)nv[i].value, nv[i].value_len);
}

static int answer(const struct cip_fields *f) {
  struct quic_tunnel_resp resp;

  return cip_request_answer(f, &ops, NULL, &resp, "test");
}

/* --- the server's judgement ---------------------------------------------- */

static void test_request_accepted(void **state) {
  struct cip_fields f;
  struct quic_tunnel_resp resp;

  (void)state;
  good_request(&f);
  assert_true(f.method_connect && f.protocol_cip && f.scheme_https &&
              f.authority && f.path_ok && f.capsule_proto);
  memset(&resp, 0xaa, sizeof(resp));
  assert_int_equal(cip_request_answer(&f, &ops, NULL, &resp, "t"), 200);
  assert_int_equal(prog.requests, 1);
  assert_null(prog.req.attach); /* birth: neither header */
  assert_int_equal(prog.req.attach_len, 0);
  assert_null(prog.req.version);
  assert_int_equal(resp.status, 0);
  assert_string_equal(resp.session, "S1");
  assert_string_equal(resp.version, "42");
}

/* Each field the request needs, missing or with a wrong value: malformed
 * (0) and the program is never asked. */
static void test_request_malformed(void **state) {
  static const struct {
    const char *name, *value; /* the field replaced; NULL value: removed */
  } bad[] = {
      {":method", NULL},           {":method", "GET"},
      {":method", "connect"},      {":method", "CONNECT "},
      {":protocol", NULL},         {":protocol", "connect-udp"},
      {":protocol", "CONNECT-IP"}, {":scheme", NULL},
      {":scheme", "http"},         {":authority", NULL},
      {":authority", ""},          {"capsule-protocol", NULL},
      {"capsule-protocol", "?0"},  {"capsule-protocol", "1"},
  };
  struct cip_attach a;
  struct cip_nv nv[CIP_REQUEST_MAX_NV];
  struct cip_fields f;
  size_t n, i, k;

  (void)state;
  memset(&a, 0, sizeof(a));
  n = cip_request_nv(nv, NULL, &a);
  for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    cip_fields_reset(&f);
    for (i = 0; i < n; i++) {
      if (strcmp(nv[i].name, bad[k].name) != 0)
        cip_fields_add(&f, 1, (const uint8_t *)nv[i].name, nv[i].name_len,
                       (const uint8_t *)nv[i].value, nv[i].value_len);
      else if (bad[k].value)
        add(&f, 1, bad[k].name, bad[k].value);
    }
    if (answer(&f) != 0)
      fail_msg("%s: %s accepted", bad[k].name,
               bad[k].value ? bad[k].value : "(absent)");
  }
  assert_int_equal(prog.requests, 0);
}

/* A later field of the same name replaces the earlier one. */
static void test_request_last_field_wins(void **state) {
  struct cip_fields f;

  (void)state;
  good_request(&f);
  add(&f, 1, ":method", "GET");
  assert_int_equal(answer(&f), 0);
  add(&f, 1, ":method", "CONNECT");
  assert_int_equal(answer(&f), 200);
}

/* Names match exactly: case, length, no prefix. */
static void test_request_names_exact(void **state) {
  struct cip_fields f;

  (void)state;
  cip_fields_reset(&f);
  add(&f, 1, ":Method", "CONNECT");
  add(&f, 1, ":metho", "CONNECT");
  add(&f, 1, ":methodx", "CONNECT");
  add(&f, 1, "Capsule-Protocol", "?1");
  assert_false(f.method_connect);
  assert_false(f.capsule_proto);
  good_request(&f);
  add(&f, 1, "x-unrelated", "1"); /* ignored */
  assert_int_equal(answer(&f), 200);
}

/* Only the full tunnel is offered: any other path is a 404, and the
 * program is not asked. */
static void test_request_scoped_404(void **state) {
  static const char *const paths[] = {
      "/.well-known/masque/ip/10.0.0.1/*/",
      "/.well-known/masque/ip/*/6/",
      "/.well-known/masque/ip/*/*",
      "/",
      "",
  };
  struct cip_fields f;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    good_request(&f);
    add(&f, 1, ":path", paths[i]);
    assert_int_equal(answer(&f), 404);
  }
  /* a malformed request without a path is malformed, not a 404 */
  good_request(&f);
  add(&f, 1, ":path", "/x");
  add(&f, 1, ":scheme", "http");
  assert_int_equal(answer(&f), 0);
  assert_int_equal(prog.requests, 0);
}

/* The program's answer: a refusal is the status; an acceptance filling
 * session and version to the brim is NUL-terminated anyway. */
static void test_request_program_answer(void **state) {
  struct cip_fields f;
  struct quic_tunnel_resp resp;

  (void)state;
  good_request(&f);
  prog.refuse_with = 403;
  assert_int_equal(cip_request_answer(&f, &ops, NULL, &resp, "t"), 403);
  prog.refuse_with = 0;
  prog.fill_resp = 1;
  assert_int_equal(cip_request_answer(&f, &ops, NULL, &resp, "t"), 200);
  assert_int_equal(strlen(resp.session), sizeof(resp.session) - 1);
  assert_int_equal(strlen(resp.version), sizeof(resp.version) - 1);
  assert_int_equal(prog.requests, 2);
}

/* jvpn-attach and jvpn-version reach the program as sent; at the bound
 * they are "oversize" (len == room, nothing copied), never truncated. */
static void test_request_attach_bounds(void **state) {
  struct cip_fields f;
  char want[CIP_ATTACH_MAX];

  (void)state;
  good_request(&f);
  add(&f, 1, "jvpn-attach", "v=1; sid=abc");
  add(&f, 1, "jvpn-version", "17");
  assert_int_equal(answer(&f), 200);
  assert_int_equal(prog.req.attach_len, 12);
  assert_memory_equal(prog.attach, "v=1; sid=abc", 12);
  assert_int_equal(prog.req.version_len, 2);
  assert_memory_equal(prog.req.version, "17", 2);

  /* the longest kept: one byte below the room */
  good_request(&f);
  add_len(&f, 1, "jvpn-attach", 'a', CIP_ATTACH_MAX - 1);
  add_len(&f, 1, "jvpn-version", '5', CIP_VERSION_MAX - 1);
  memset(want, 'a', sizeof(want));
  assert_int_equal(f.attach_len, CIP_ATTACH_MAX - 1);
  assert_memory_equal(f.attach, want, CIP_ATTACH_MAX - 1);
  assert_int_equal(f.version_len, CIP_VERSION_MAX - 1);

  /* at the room and beyond: oversize, nothing copied */
  good_request(&f);
  add_len(&f, 1, "jvpn-attach", 'b', CIP_ATTACH_MAX);
  add_len(&f, 1, "jvpn-version", '6', 300);
  assert_int_equal(f.attach_len, CIP_ATTACH_MAX);
  assert_int_equal(f.attach[0], 0);
  assert_int_equal(f.version_len, CIP_VERSION_MAX);
  assert_int_equal(f.version[0], 0);
  assert_int_equal(answer(&f), 200);
  assert_int_equal(prog.req.attach_len, CIP_ATTACH_MAX); /* program refuses */
  assert_int_equal(prog.req.version_len, CIP_VERSION_MAX);

  /* an empty jvpn-attach is no jvpn-attach: a birth request */
  good_request(&f);
  add(&f, 1, "jvpn-attach", "");
  assert_int_equal(answer(&f), 200);
  assert_null(prog.req.attach);
}

/* Which side records which field: jvpn-attach only in a request,
 * jvpn-session only in a response; jvpn-version in both. */
static void test_fields_by_side(void **state) {
  struct cip_fields f;

  (void)state;
  cip_fields_reset(&f);
  add(&f, 0, "jvpn-attach", "x");
  add(&f, 1, "jvpn-session", "y");
  assert_int_equal(f.attach_len, 0);
  assert_int_equal(f.session_len, 0);
  add(&f, 1, "jvpn-attach", "x");
  add(&f, 0, "jvpn-session", "y");
  add(&f, 0, "jvpn-version", "3");
  assert_int_equal(f.attach_len, 1);
  assert_int_equal(f.session_len, 1);
  assert_int_equal(f.version_len, 1);
  cip_fields_reset(&f);
  assert_int_equal(f.attach_len + f.session_len + f.version_len, 0);
}

/* :status must be exactly three digits. */
static void test_status_parse(void **state) {
  static const struct {
    const char *v;
    int want;
  } cases[] = {
      {"200", 200}, {"404", 404}, {"999", 999}, {"103", 103}, {"099", 99},
      {"20", 0},    {"2000", 0},  {"2a0", 0},   {"", 0},      {" 20", 0},
      {"-20", 0},   {"+20", 0},
  };
  struct cip_fields f;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cip_fields_reset(&f);
    add(&f, 0, ":status", cases[i].v);
    if (f.status != cases[i].want)
      fail_msg(":status \"%s\": %d, not %d", cases[i].v, f.status,
               cases[i].want);
  }
}

/* --- the client's request ------------------------------------------------ */

static const struct cip_nv *find(const struct cip_nv *nv, size_t n,
                                 const char *name) {
  size_t i;

  for (i = 0; i < n; i++)
    if (nv[i].name_len == strlen(name) &&
        memcmp(nv[i].name, name, nv[i].name_len) == 0)
      return &nv[i];
  return NULL;
}

static void assert_value(const struct cip_nv *nv, size_t n, const char *name,
                         const char *value) {
  const struct cip_nv *e = find(nv, n, name);

  assert_non_null(e);
  assert_int_equal(e->value_len, strlen(value));
  assert_memory_equal(e->value, value, e->value_len);
}

static void test_request_nv(void **state) {
  struct cip_attach a;
  struct cip_nv nv[CIP_REQUEST_MAX_NV];
  size_t n, i;

  (void)state;
  memset(&a, 0, sizeof(a));
  n = cip_request_nv(nv, "vpn.example:443", &a);
  assert_int_equal(n, 6);
  /* pseudo-header fields first */
  for (i = 0; i < n; i++)
    assert_int_equal(nv[i].name[0] == ':', i < 5);
  assert_value(nv, n, ":method", "CONNECT");
  assert_value(nv, n, ":protocol", JVPN_CIP_PROTOCOL);
  assert_value(nv, n, ":scheme", "https");
  assert_value(nv, n, ":authority", "vpn.example:443");
  assert_value(nv, n, ":path", JVPN_CIP_PATH);
  assert_value(nv, n, "capsule-protocol", "?1");
  assert_null(find(nv, n, "jvpn-attach"));
  /* NULL or "" authority: "jvpn" */
  n = cip_request_nv(nv, NULL, &a);
  assert_value(nv, n, ":authority", "jvpn");
  n = cip_request_nv(nv, "", &a);
  assert_value(nv, n, ":authority", "jvpn");
  /* with an attach value: both session headers */
  memcpy(a.attach, "proof", 5);
  a.attach_len = 5;
  snprintf(a.version, sizeof(a.version), "8");
  n = cip_request_nv(nv, "h", &a);
  assert_int_equal(n, CIP_REQUEST_MAX_NV);
  assert_value(nv, n, "jvpn-attach", "proof");
  assert_value(nv, n, "jvpn-version", "8");
  for (i = 0; i < n; i++)
    assert_int_equal(nv[i].name_len, strlen(nv[i].name));
}

static void test_request_attach(void **state) {
  struct cip_attach a;
  struct quic_conn_ops no_hdr = ops;

  (void)state;
  /* no callback: a birth request */
  no_hdr.attach_header = NULL;
  memset(&a, 0x55, sizeof(a));
  assert_int_equal(cip_request_attach(&no_hdr, NULL, &a), 0);
  assert_int_equal(a.attach_len, 0);
  assert_string_equal(a.version, "");
  /* the program's value; its version NUL-terminated by the module */
  prog.attach_value = "v=1; sid=x";
  prog.attach_rv = 10;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), 0);
  assert_int_equal(a.attach_len, 10);
  assert_memory_equal(a.attach, "v=1; sid=x", 10);
  assert_int_equal(strlen(a.version), CIP_VERSION_MAX - 1);
  /* 0: birth */
  prog.attach_rv = 0;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), 0);
  assert_int_equal(a.attach_len, 0);
  /* its error is the caller's */
  prog.attach_rv = JVPN_ERR_FATAL;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), JVPN_ERR_FATAL);
  /* the longest a server keeps (CIP_ATTACH_MAX - 1) goes; from the room
   * on, a server would take it as oversize: refused here already */
  prog.attach_value = NULL;
  prog.attach_rv = CIP_ATTACH_MAX - 1;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), 0);
  assert_int_equal(a.attach_len, CIP_ATTACH_MAX - 1);
  prog.attach_rv = CIP_ATTACH_MAX;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), JVPN_ERR_OVERSIZE);
  prog.attach_rv = CIP_ATTACH_MAX + 1;
  assert_int_equal(cip_request_attach(&ops, NULL, &a), JVPN_ERR_OVERSIZE);
}

/* What the client sends, the server accepts, with the attach value. */
static void test_request_round_trip(void **state) {
  struct cip_attach a;
  struct cip_nv nv[CIP_REQUEST_MAX_NV];
  struct cip_fields f;
  size_t n, i;

  (void)state;
  prog.attach_value = "v=1; sid=AAAA; n=1; r=reattach; p=BBBB";
  prog.attach_rv = (long)strlen(prog.attach_value);
  assert_int_equal(cip_request_attach(&ops, NULL, &a), 0);
  n = cip_request_nv(nv, "vpn.example", &a);
  cip_fields_reset(&f);
  for (i = 0; i < n; i++)
    cip_fields_add(&f, 1, (const uint8_t *)nv[i].name, nv[i].name_len,
                   (const uint8_t *)nv[i].value, nv[i].value_len);
  assert_int_equal(answer(&f), 200);
  assert_int_equal(prog.req.attach_len, strlen(prog.attach_value));
  assert_memory_equal(prog.attach, prog.attach_value, prog.req.attach_len);
  assert_int_equal(prog.req.version_len, CIP_VERSION_MAX - 1);
}

/* --- the server's response and the client's report ----------------------- */

static void test_response_nv(void **state) {
  struct quic_tunnel_resp resp;
  struct cip_nv nv[CIP_RESPONSE_MAX_NV];
  char code[4];
  size_t n;

  (void)state;
  memset(&resp, 0, sizeof(resp));
  snprintf(resp.session, sizeof(resp.session), "sess");
  snprintf(resp.version, sizeof(resp.version), "5");
  n = cip_response_nv(nv, code, 200, &resp);
  assert_int_equal(n, 4);
  assert_string_equal(nv[0].name, ":status"); /* pseudo-header first */
  assert_value(nv, n, ":status", "200");
  assert_value(nv, n, "capsule-protocol", "?1");
  assert_value(nv, n, "jvpn-session", "sess");
  assert_value(nv, n, "jvpn-version", "5");
  /* empty session and version: not sent */
  resp.session[0] = resp.version[0] = '\0';
  n = cip_response_nv(nv, code, 200, &resp);
  assert_int_equal(n, 2);
  assert_null(find(nv, n, "jvpn-session"));
  /* a refusal: the status alone */
  n = cip_response_nv(nv, code, 403, &resp);
  assert_int_equal(n, 1);
  assert_value(nv, n, ":status", "403");
  n = cip_response_nv(nv, code, 100, &resp);
  assert_value(nv, n, ":status", "100");
  n = cip_response_nv(nv, code, 999, &resp);
  assert_value(nv, n, ":status", "999");
  /* not an HTTP status: 500 */
  n = cip_response_nv(nv, code, 99, &resp);
  assert_value(nv, n, ":status", "500");
  n = cip_response_nv(nv, code, 1000, &resp);
  assert_value(nv, n, ":status", "500");
  n = cip_response_nv(nv, code, -200, &resp);
  assert_int_equal(n, 1);
  assert_value(nv, n, ":status", "500");
}

static void test_response_report(void **state) {
  struct cip_fields f;
  char why[96];

  (void)state;
  cip_fields_reset(&f);
  add(&f, 0, ":status", "200");
  add(&f, 0, "jvpn-session", "sess-9");
  add(&f, 0, "jvpn-version", "12");
  assert_int_equal(cip_response_report(&f, &ops, NULL, why, sizeof(why), "t"),
                   0);
  assert_int_equal(prog.opens, 1);
  assert_int_equal(prog.session_len, 6);
  assert_memory_equal(prog.session, "sess-9", 6);
  assert_int_equal(prog.version_len, 2);
  assert_memory_equal(prog.version, "12", 2);
  /* without the session headers: NULL, 0 */
  cip_fields_reset(&f);
  add(&f, 0, ":status", "200");
  assert_int_equal(cip_response_report(&f, &ops, NULL, why, sizeof(why), "t"),
                   0);
  assert_null(prog.session);
  assert_int_equal(prog.session_len, 0);
  assert_null(prog.version);
  /* a session value too long to keep is not kept */
  add_len(&f, 0, "jvpn-session", 'z', CIP_SESSION_MAX);
  assert_int_equal(f.session_len, 0);
  add_len(&f, 0, "jvpn-session", 'z', CIP_SESSION_MAX - 1);
  assert_int_equal(f.session_len, CIP_SESSION_MAX - 1);
  /* a refusal, and no status at all */
  cip_fields_reset(&f);
  add(&f, 0, ":status", "403");
  assert_int_equal(cip_response_report(&f, &ops, NULL, why, sizeof(why), "t"),
                   JVPN_ERR_DENIED);
  assert_int_equal(prog.refused, 403);
  assert_string_equal(why, "server answered CONNECT-IP with status 403");
  cip_fields_reset(&f);
  assert_int_equal(cip_response_report(&f, &ops, NULL, why, sizeof(why), "t"),
                   JVPN_ERR_DENIED);
  assert_int_equal(prog.refused, 0);
  assert_int_equal(prog.opens, 2);
}

/* The ADDRESS_REQUEST value: one IPv4 and one IPv6 "any single address". */
static void test_request_addresses(void **state) {
  struct cip_addr got[JVPN_CIP_MAX_ADDRS];
  uint8_t buf[64], zero[16] = {0};
  size_t cnt = 0;
  long n;

  (void)state;
  n = cip_request_addresses(buf, sizeof(buf));
  assert_true(n > 0);
  assert_int_equal(
      cip_addrs_decode(buf, (size_t)n, got, JVPN_CIP_MAX_ADDRS, &cnt), 0);
  assert_int_equal(cnt, 2);
  assert_int_equal(got[0].request_id, 1);
  assert_int_equal(got[0].ip_version, 4);
  assert_int_equal(got[0].prefix_len, 32);
  assert_int_equal(got[1].request_id, 2);
  assert_int_equal(got[1].ip_version, 6);
  assert_int_equal(got[1].prefix_len, 128);
  assert_memory_equal(got[0].addr, zero, 4);
  assert_memory_equal(got[1].addr, zero, 16);
  /* too small a buffer: an error, not a partial value */
  assert_true(cip_request_addresses(buf, (size_t)n - 1) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_request_accepted, reset_prog),
      cmocka_unit_test_setup(test_request_malformed, reset_prog),
      cmocka_unit_test_setup(test_request_last_field_wins, reset_prog),
      cmocka_unit_test_setup(test_request_names_exact, reset_prog),
      cmocka_unit_test_setup(test_request_scoped_404, reset_prog),
      cmocka_unit_test_setup(test_request_program_answer, reset_prog),
      cmocka_unit_test_setup(test_request_attach_bounds, reset_prog),
      cmocka_unit_test_setup(test_fields_by_side, reset_prog),
      cmocka_unit_test_setup(test_status_parse, reset_prog),
      cmocka_unit_test_setup(test_request_nv, reset_prog),
      cmocka_unit_test_setup(test_request_attach, reset_prog),
      cmocka_unit_test_setup(test_request_round_trip, reset_prog),
      cmocka_unit_test_setup(test_response_nv, reset_prog),
      cmocka_unit_test_setup(test_response_report, reset_prog),
      cmocka_unit_test_setup(test_request_addresses, reset_prog),
  };

  jvpn_log_set_level(JVPN_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
