/* libFuzzer harness for src/session_wire: the header values and the
 * ACTIVATE and KEEPALIVE capsule values on every input; whatever parses must survive
 * format -> parse unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/session_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_attach(const char *v, size_t len) {
  struct jvpn_wire_attach a, b;
  char text[JVPN_WIRE_ATTACH_STR_LEN], text2[JVPN_WIRE_ATTACH_STR_LEN];
  long n, n2;

  if (jvpn_wire_parse_attach(v, len, &a) != 0)
    return;
  n = jvpn_wire_format_attach(text, sizeof(text), &a);
  if (n <= 0 || (size_t)n != strlen(text))
    abort();
  if (jvpn_wire_parse_attach(text, (size_t)n, &b) != 0)
    abort();
  if (memcmp(a.session_id, b.session_id, sizeof(a.session_id)) != 0 ||
      memcmp(a.proof, b.proof, sizeof(a.proof)) != 0 || a.nonce != b.nonce ||
      a.role != b.role || a.nonce == 0)
    abort();
  /* canonical: formatting the re-parsed value gives the same text */
  n2 = jvpn_wire_format_attach(text2, sizeof(text2), &b);
  if (n2 != n || memcmp(text, text2, (size_t)n) != 0)
    abort();
}

static void check_session_id(const char *v, size_t len) {
  uint8_t id[JVPN_SESSION_ID_LEN], id2[JVPN_SESSION_ID_LEN];
  char text[JVPN_WIRE_SESSION_ID_STR_LEN];
  size_t i, start = 0, end = len;

  if (jvpn_wire_parse_session_id(v, len, id) != 0)
    return;
  if (jvpn_wire_format_session_id(text, sizeof(text), id) !=
      JVPN_WIRE_SESSION_ID_CHARS)
    abort();
  if (jvpn_wire_parse_session_id(text, JVPN_WIRE_SESSION_ID_CHARS, id2) != 0 ||
      memcmp(id, id2, sizeof(id)) != 0)
    abort();
  /* one spelling per ID: the input, less its blanks, is the output */
  while (start < len && (v[start] == ' ' || v[start] == '\t'))
    start++;
  while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
    end--;
  if (end - start != JVPN_WIRE_SESSION_ID_CHARS)
    abort();
  for (i = 0; i < JVPN_WIRE_SESSION_ID_CHARS; i++)
    if (v[start + i] != text[i])
      abort();
}

static void check_version(const char *v, size_t len) {
  char text[JVPN_WIRE_VERSION_STR_LEN];
  uint64_t a, b;
  long n;

  if (jvpn_wire_parse_version(v, len, &a) != 0)
    return;
  n = jvpn_wire_format_version(text, sizeof(text), a);
  if (n <= 0 || jvpn_wire_parse_version(text, (size_t)n, &b) != 0 || a != b)
    abort();
}

static void check_activate(const uint8_t *v, size_t len) {
  struct jvpn_wire_activate a, b;
  struct jvpn_wire_activate_result r, q;
  uint8_t buf[JVPN_WIRE_ACTIVATE_MAX];
  long n;

  if (jvpn_wire_decode_activate(v, len, &a) == 0) {
    /* one spelling: re-encoding gives back the input */
    n = jvpn_wire_encode_activate(buf, sizeof(buf), &a);
    if (n < 0 || (size_t)n != len || memcmp(buf, v, len) != 0 ||
        jvpn_wire_decode_activate(buf, (size_t)n, &b) != 0 ||
        b.nonce != a.nonce || b.version != a.version || a.nonce == 0)
      abort();
  }
  if (jvpn_wire_decode_activate_result(v, len, &r) == 0) {
    n = jvpn_wire_encode_activate_result(buf, sizeof(buf), &r);
    if (n < 0 || (size_t)n != len || memcmp(buf, v, len) != 0 ||
        jvpn_wire_decode_activate_result(buf, (size_t)n, &q) != 0 ||
        q.status != r.status || q.version != r.version)
      abort();
  }
}

static void check_keepalive(const uint8_t *v, size_t len) {
  struct jvpn_wire_keepalive k, k2;
  uint8_t buf[JVPN_WIRE_KEEPALIVE_MAX];
  uint64_t ms, ms2;
  long n;

  if (jvpn_wire_decode_keepalive(v, len, &k) == 0) {
    n = jvpn_wire_encode_keepalive(buf, sizeof(buf), &k);
    if (n < 0 || (size_t)n != len || memcmp(buf, v, len) != 0 ||
        jvpn_wire_decode_keepalive(buf, (size_t)n, &k2) != 0 ||
        k2.want_ms != k.want_ms || memcmp(&k2.from, &k.from, sizeof(k.from)))
      abort();
  }
  if (jvpn_wire_decode_keepalive_result(v, len, &ms) == 0) {
    n = jvpn_wire_encode_keepalive_result(buf, sizeof(buf), ms);
    if (n < 0 || (size_t)n != len || memcmp(buf, v, len) != 0 ||
        jvpn_wire_decode_keepalive_result(buf, (size_t)n, &ms2) != 0 ||
        ms2 != ms)
      abort();
  }
}

static void check_nat_refresh(const uint8_t *v, size_t len) {
  struct jvpn_wire_nat_refresh r, r2;
  uint8_t buf[JVPN_WIRE_NAT_REFRESH_MAX];
  long n;

  if (jvpn_wire_decode_nat_refresh(v, len, &r) != 0)
    return;
  n = jvpn_wire_encode_nat_refresh(buf, sizeof(buf), &r);
  if (n < 0 || (size_t)n != len || memcmp(buf, v, len) != 0 ||
      jvpn_wire_decode_nat_refresh(buf, (size_t)n, &r2) != 0 ||
      r2.keepalive_ms != r.keepalive_ms || r2.refresh_ms != r.refresh_ms ||
      r.refresh_ms >= r.keepalive_ms)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_activate(data, size);
  check_keepalive(data, size);
  check_nat_refresh(data, size);
  /* The parsers must stay within |size|: |data| is not NUL-terminated. */
  check_attach((const char *)data, size);
  check_session_id((const char *)data, size);
  check_version((const char *)data, size);
  return 0;
}
