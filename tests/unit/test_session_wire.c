/* Unit tests for src/session_wire: session header fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/session_wire.h"

/* Base64url of bytes 0x00..0x0f and 0x00..0x1f (Python's
 * base64.urlsafe_b64encode with the '=' stripped). */
#define SID "AAECAwQFBgcICQoLDA0ODw"
#define PRF "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define CANON "v=1; sid=" SID "; n=1; r=reattach; p=" PRF

static int parse(const char *s, struct jvpn_wire_attach *out) {
  return jvpn_wire_parse_attach(s, strlen(s), out);
}

static void expect_canon(const struct jvpn_wire_attach *a, uint64_t nonce,
                         enum jvpn_proof_role role) {
  size_t i;

  for (i = 0; i < JVPN_SESSION_ID_LEN; i++)
    assert_int_equal(a->session_id[i], i);
  for (i = 0; i < JVPN_PROOF_LEN; i++)
    assert_int_equal(a->proof[i], i);
  assert_true(a->nonce == nonce);
  assert_int_equal(a->role, role);
}

static void canon_attach(struct jvpn_wire_attach *a) {
  size_t i;

  memset(a, 0, sizeof(*a));
  for (i = 0; i < JVPN_SESSION_ID_LEN; i++)
    a->session_id[i] = (uint8_t)i;
  for (i = 0; i < JVPN_PROOF_LEN; i++)
    a->proof[i] = (uint8_t)i;
  a->nonce = 1;
  a->role = JVPN_ROLE_REATTACH;
}

/* --- session ID ----------------------------------------------------------- */

static void test_session_id_known(void **state) {
  static const struct {
    const char *text;
    uint8_t first, last; /* bytes 0 and 15; 1..14 as noted */
  } v[] = {
      {"AAECAwQFBgcICQoLDA0ODw", 0x00, 0x0f},
      {"_____________________w", 0xff, 0xff},
      {"----AAAAAAAAAAAAAAAAAA", 0xfb, 0x00},
  };
  uint8_t id[JVPN_SESSION_ID_LEN];
  char buf[JVPN_WIRE_SESSION_ID_STR_LEN];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    assert_int_equal(jvpn_wire_parse_session_id(v[i].text, 22, id), 0);
    assert_int_equal(id[0], v[i].first);
    assert_int_equal(id[15], v[i].last);
    assert_int_equal(jvpn_wire_format_session_id(buf, sizeof(buf), id), 22);
    assert_string_equal(buf, v[i].text);
  }
  /* "-" and "_" are 62 and 63: 0xfb 0xef 0xbe */
  assert_int_equal(jvpn_wire_parse_session_id("----AAAAAAAAAAAAAAAAAA", 22, id),
                   0);
  assert_int_equal(id[1], 0xef);
  assert_int_equal(id[2], 0xbe);
}

static void test_session_id_ows_and_bounds(void **state) {
  uint8_t id[JVPN_SESSION_ID_LEN];
  char buf[JVPN_WIRE_SESSION_ID_STR_LEN];

  (void)state;
  assert_int_equal(jvpn_wire_parse_session_id(" \t" SID "\t ", 26, id), 0);
  assert_int_equal(id[15], 0x0f);
  /* the parser stops at |len|: what follows is not read */
  assert_int_equal(jvpn_wire_parse_session_id(SID "garbage", 22, id), 0);
  assert_int_equal(jvpn_wire_format_session_id(buf, sizeof(buf) - 1, id),
                   JVPN_ERR_NOSPACE);
  assert_int_equal(jvpn_wire_format_session_id(buf, 0, id), JVPN_ERR_NOSPACE);
}

static void test_session_id_rejects(void **state) {
  static const char *bad[] = {
      "",
      "   ",
      "AAECAwQFBgcICQoLDA0OD",    /* 21 */
      "AAECAwQFBgcICQoLDA0ODwA",  /* 23 */
      "AAECAwQFBgcICQoLDA0ODw==", /* padding */
      "AAECAwQFBgcICQoLDA0ODx",   /* trailing bits 0001 */
      "AAECAwQFBgcICQoLDA0ODz",   /* trailing bits 0011 */
      "AAECAwQFBgcICQoLDA0OD8",   /* trailing bits 1100 */
      "+AECAwQFBgcICQoLDA0ODw",   /* standard alphabet */
      "/AECAwQFBgcICQoLDA0ODw",
      "AAECAwQFBgcI CQoLDA0ODw", /* space inside */
      "AAECAwQFBgcICQoLDA0O.w",
      "AAECAwQFBgcICQoLDA0ODw\r", /* CR is not OWS */
      "AAECAwQFBgcICQoLDA0ODw\n",
  };
  uint8_t id[JVPN_SESSION_ID_LEN];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(jvpn_wire_parse_session_id(bad[i], strlen(bad[i]), id),
                     JVPN_ERR_MALFORMED);
  /* embedded NUL, and NUL in place of the last character */
  assert_int_equal(
      jvpn_wire_parse_session_id("AAECAwQFBgcI\0QoLDA0ODw", 22, id),
      JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_parse_session_id(SID "\0", 23, id),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_parse_session_id(NULL, 0, id), JVPN_ERR_MALFORMED);
}

/* Every byte value in every position survives a round trip, and only the
 * canonical last character is accepted. */
static void test_session_id_round_trip(void **state) {
  uint8_t id[JVPN_SESSION_ID_LEN], back[JVPN_SESSION_ID_LEN];
  char buf[JVPN_WIRE_SESSION_ID_STR_LEN];
  int b, pos, accepted;
  const char *alpha =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  (void)state;
  for (pos = 0; pos < JVPN_SESSION_ID_LEN; pos++)
    for (b = 0; b < 256; b++) {
      memset(id, (uint8_t)(pos * 17), sizeof(id));
      id[pos] = (uint8_t)b;
      assert_int_equal(jvpn_wire_format_session_id(buf, sizeof(buf), id), 22);
      assert_int_equal(strlen(buf), 22);
      assert_int_equal(jvpn_wire_parse_session_id(buf, 22, back), 0);
      assert_memory_equal(id, back, sizeof(id));
    }
  /* the last character carries 2 data bits: 4 of 64 characters fit */
  accepted = 0;
  for (b = 0; b < 64; b++) {
    buf[21] = alpha[b];
    if (jvpn_wire_parse_session_id(buf, 22, back) == 0)
      accepted++;
  }
  assert_int_equal(accepted, 4);
}

/* --- jvpn-attach ---------------------------------------------------------- */

static void test_attach_format_known(void **state) {
  struct jvpn_wire_attach a;
  char buf[JVPN_WIRE_ATTACH_STR_LEN];
  long n;
  size_t len;

  (void)state;
  canon_attach(&a);
  n = jvpn_wire_format_attach(buf, sizeof(buf), &a);
  assert_int_equal(n, strlen(CANON));
  assert_string_equal(buf, CANON);

  /* the longest value fits JVPN_WIRE_ATTACH_STR_LEN */
  a.nonce = UINT64_MAX;
  a.role = JVPN_ROLE_REATTACH;
  n = jvpn_wire_format_attach(buf, sizeof(buf), &a);
  assert_int_equal(n, 114);
  assert_non_null(strstr(buf, "; n=18446744073709551615; "));

  /* every buffer shorter than length + NUL is refused, untouched past it */
  for (len = 0; len <= 114; len++) {
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(jvpn_wire_format_attach(buf, len, &a), JVPN_ERR_NOSPACE);
    assert_int_equal(buf[len], 'x');
  }
  assert_int_equal(jvpn_wire_format_attach(buf, 115, &a), 114);

  a.nonce = 0;
  assert_int_equal(jvpn_wire_format_attach(buf, sizeof(buf), &a),
                   JVPN_ERR_INVAL);
  a.nonce = 1;
  a.role = (enum jvpn_proof_role)7;
  assert_int_equal(jvpn_wire_format_attach(buf, sizeof(buf), &a),
                   JVPN_ERR_INVAL);
}

static void test_attach_parse_canonical(void **state) {
  struct jvpn_wire_attach a;

  (void)state;
  assert_int_equal(parse(CANON, &a), 0);
  expect_canon(&a, 1, JVPN_ROLE_REATTACH);
  assert_int_equal(
      parse("v=1; sid=" SID "; n=18446744073709551615; r=standby; p=" PRF, &a),
      0);
  expect_canon(&a, UINT64_MAX, JVPN_ROLE_STANDBY);
  assert_int_equal(parse("v=1; sid=" SID "; n=1000; r=activate; p=" PRF, &a),
                   0);
  expect_canon(&a, 1000, JVPN_ROLE_ACTIVATE);
}

/* All 120 orders of the five parameters. */
static void test_attach_any_order(void **state) {
  static const char *params[5] = {"v=1", "sid=" SID, "n=42", "r=standby",
                                  "p=" PRF};
  int idx[5] = {0, 1, 2, 3, 4};
  int count = 0;

  (void)state;
  for (;;) {
    struct jvpn_wire_attach a;
    char buf[300];
    int i, j, k;

    snprintf(buf, sizeof(buf), "%s;%s ;%s; %s ; %s", params[idx[0]],
             params[idx[1]], params[idx[2]], params[idx[3]], params[idx[4]]);
    assert_int_equal(parse(buf, &a), 0);
    expect_canon(&a, 42, JVPN_ROLE_STANDBY);
    count++;

    /* next permutation in lexicographic order */
    for (i = 3; i >= 0 && idx[i] > idx[i + 1]; i--)
      ;
    if (i < 0)
      break;
    for (j = 4; idx[j] < idx[i]; j--)
      ;
    k = idx[i];
    idx[i] = idx[j];
    idx[j] = k;
    for (i = i + 1, j = 4; i < j; i++, j--) {
      k = idx[i];
      idx[i] = idx[j];
      idx[j] = k;
    }
  }
  assert_int_equal(count, 120);
}

static void test_attach_whitespace(void **state) {
  static const char *ok[] = {
      "v=1;sid=" SID ";n=1;r=reattach;p=" PRF,
      "  v=1; sid=" SID "; n=1; r=reattach; p=" PRF "  ",
      "v = 1 ; sid = " SID " ; n = 1 ; r = reattach ; p = " PRF,
      "\tv\t=\t1\t;\tsid=" SID ";n=1;r=reattach;p=" PRF "\t",
      "v=1   ;   sid=" SID ";n   =1;r=   reattach;p=" PRF,
  };
  struct jvpn_wire_attach a;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    memset(&a, 0, sizeof(a));
    assert_int_equal(parse(ok[i], &a), 0);
    expect_canon(&a, 1, JVPN_ROLE_REATTACH);
  }
}

static void test_attach_malformed(void **state) {
  static const char *bad[] = {
      "",
      " ",
      /* missing each parameter */
      "sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1; n=1; r=reattach; p=" PRF,
      "v=1; sid=" SID "; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=1; p=" PRF,
      "v=1; sid=" SID "; n=1; r=reattach",
      /* each parameter twice, even with the same value */
      CANON "; v=1",
      CANON "; sid=" SID,
      CANON "; n=1",
      CANON "; r=reattach",
      CANON "; p=" PRF,
      /* unknown or misspelt parameters */
      CANON "; x=1",
      CANON "; nonce=1",
      "V=1; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1; SID=" SID "; n=1; r=reattach; p=" PRF,
      "v=1; s1d=" SID "; n=1; r=reattach; p=" PRF,
      /* version */
      "v=2; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=01; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=; sid=" SID "; n=1; r=reattach; p=" PRF,
      /* structure */
      CANON ";",
      CANON "; ",
      ";" CANON,
      "v=1;; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1, sid=" SID "; n=1; r=reattach; p=" PRF,
      "v1; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v==1; sid=" SID "; n=1; r=reattach; p=" PRF,
      "=1; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1 1; sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1;\nsid=" SID "; n=1; r=reattach; p=" PRF,
      "v=1;\r sid=" SID "; n=1; r=reattach; p=" PRF,
      "v=\"1\"; sid=" SID "; n=1; r=reattach; p=" PRF,
      /* nonce */
      "v=1; sid=" SID "; n=0; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=00; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=01; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=-1; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=+1; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=0x10; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=1e3; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=18446744073709551616; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=18446744073709551620; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=99999999999999999999; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=100000000000000000000; r=reattach; p=" PRF,
      "v=1; sid=" SID "; n=000000000000000000001; r=reattach; p=" PRF,
      /* role */
      "v=1; sid=" SID "; n=1; r=REATTACH; p=" PRF,
      "v=1; sid=" SID "; n=1; r=reattachx; p=" PRF,
      "v=1; sid=" SID "; n=1; r=reattac; p=" PRF,
      "v=1; sid=" SID "; n=1; r=; p=" PRF,
      "v=1; sid=" SID "; n=1; r=1; p=" PRF,
      /* session ID */
      "v=1; sid=AAECAwQFBgcICQoLDA0OD; n=1; r=reattach; p=" PRF,
      "v=1; sid=AAECAwQFBgcICQoLDA0ODwA; n=1; r=reattach; p=" PRF,
      "v=1; sid=AAECAwQFBgcICQoLDA0ODw==; n=1; r=reattach; p=" PRF,
      "v=1; sid=AAECAwQFBgcICQoLDA0ODx; n=1; r=reattach; p=" PRF,
      "v=1; sid=+AECAwQFBgcICQoLDA0ODw; n=1; r=reattach; p=" PRF,
      "v=1; sid=; n=1; r=reattach; p=" PRF,
      /* proof */
      "v=1; sid=" SID "; n=1; r=reattach; p=" PRF "A",
      "v=1; sid=" SID "; n=1; r=reattach; p=" PRF "=",
      "v=1; sid=" SID "; n=1; r=reattach; p=" PRF "A=",
      "v=1; sid=" SID "; n=1; r=reattach; p="
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh",
      "v=1; sid=" SID "; n=1; r=reattach; p="
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9", /* bits 01 */
      "v=1; sid=" SID "; n=1; r=reattach; p="
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/",
      "v=1; sid=" SID "; n=1; r=reattach; p=",
  };
  struct jvpn_wire_attach a;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rv = parse(bad[i], &a);

    if (rv != JVPN_ERR_MALFORMED)
      fail_msg("accepted or misjudged (%d): \"%s\"", rv, bad[i]);
  }
  assert_int_equal(jvpn_wire_parse_attach(NULL, 0, &a), JVPN_ERR_MALFORMED);
}

static void test_attach_embedded_nul(void **state) {
  char buf[JVPN_WIRE_ATTACH_MAX];
  struct jvpn_wire_attach a;
  size_t len = strlen(CANON), i;

  (void)state;
  memcpy(buf, CANON, len);
  assert_int_equal(jvpn_wire_parse_attach(buf, len, &a), 0);
  /* a NUL anywhere, replacing any byte, is refused */
  for (i = 0; i < len; i++) {
    char saved = buf[i];

    buf[i] = '\0';
    assert_int_equal(jvpn_wire_parse_attach(buf, len, &a), JVPN_ERR_MALFORMED);
    buf[i] = saved;
  }
  /* and so is one after the value, counted in |len| */
  buf[len] = '\0';
  assert_int_equal(jvpn_wire_parse_attach(buf, len + 1, &a),
                   JVPN_ERR_MALFORMED);
}

static void test_attach_oversize(void **state) {
  char buf[JVPN_WIRE_ATTACH_MAX + 2];
  struct jvpn_wire_attach a;
  size_t len = strlen(CANON);

  (void)state;
  /* padded with trailing whitespace to exactly the limit: accepted */
  memset(buf, ' ', sizeof(buf));
  memcpy(buf, CANON, len);
  assert_int_equal(jvpn_wire_parse_attach(buf, JVPN_WIRE_ATTACH_MAX, &a), 0);
  expect_canon(&a, 1, JVPN_ROLE_REATTACH);
  /* one byte more: refused before anything is read */
  assert_int_equal(jvpn_wire_parse_attach(buf, JVPN_WIRE_ATTACH_MAX + 1, &a),
                   JVPN_ERR_OVERSIZE);
  assert_int_equal(jvpn_wire_parse_attach(NULL, 100000, &a), JVPN_ERR_OVERSIZE);
}

/* Formatting then parsing gives back the value, for varied inputs. */
static void test_attach_round_trip(void **state) {
  uint64_t x = 0x243f6a8885a308d3ull;
  int round;

  (void)state;
  for (round = 0; round < 2000; round++) {
    struct jvpn_wire_attach a, back;
    char buf[JVPN_WIRE_ATTACH_STR_LEN];
    long n;
    size_t i;

    memset(&a, 0, sizeof(a));
    for (i = 0; i < JVPN_SESSION_ID_LEN + JVPN_PROOF_LEN; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      if (i < JVPN_SESSION_ID_LEN)
        a.session_id[i] = (uint8_t)x;
      else
        a.proof[i - JVPN_SESSION_ID_LEN] = (uint8_t)(x >> 8);
    }
    /* nonces of every digit count, including the extremes */
    a.nonce = round == 0 ? 1 : round == 1 ? UINT64_MAX : x >> (round % 64);
    if (a.nonce == 0)
      a.nonce = 10;
    a.role = (enum jvpn_proof_role)(1 + round % 3);
    n = jvpn_wire_format_attach(buf, sizeof(buf), &a);
    assert_true(n > 0 && n < JVPN_WIRE_ATTACH_STR_LEN);
    memset(&back, 0xee, sizeof(back));
    assert_int_equal(jvpn_wire_parse_attach(buf, (size_t)n, &back), 0);
    assert_memory_equal(back.session_id, a.session_id, JVPN_SESSION_ID_LEN);
    assert_memory_equal(back.proof, a.proof, JVPN_PROOF_LEN);
    assert_true(back.nonce == a.nonce);
    assert_int_equal(back.role, a.role);
  }
}

/* jvpn-version: decimal with one spelling per value, 0 allowed. */
static void test_version(void **state) {
  static const char *bad[] = {"", " ", "00", "01", "-1", "+1", "1 2", "0x1",
                              "18446744073709551616", "1;", "a"};
  char buf[JVPN_WIRE_VERSION_STR_LEN];
  uint64_t v = 7;
  size_t i;

  (void)state;
  assert_int_equal(jvpn_wire_parse_version("0", 1, &v), 0);
  assert_true(v == 0);
  assert_int_equal(jvpn_wire_parse_version(" 42\t", 4, &v), 0);
  assert_true(v == 42);
  assert_int_equal(jvpn_wire_parse_version("18446744073709551615", 20, &v),
                   0);
  assert_true(v == UINT64_MAX);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(jvpn_wire_parse_version(bad[i], strlen(bad[i]), &v),
                     JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_format_version(buf, sizeof(buf), 0), 1);
  assert_string_equal(buf, "0");
  assert_int_equal(jvpn_wire_format_version(buf, sizeof(buf), UINT64_MAX), 20);
  assert_string_equal(buf, "18446744073709551615");
  assert_int_equal(jvpn_wire_format_version(buf, 20, UINT64_MAX),
                   JVPN_ERR_NOSPACE);
}

/* --- ACTIVATE capsules --------------------------------------------------- */

static void test_activate_round_trip(void **state) {
  static const uint64_t vals[] = {1, 63, 64, 16383, 16384, 1073741823,
                                  1073741824, 0x3fffffffffffffffULL};
  struct jvpn_wire_activate a, b;
  uint8_t buf[JVPN_WIRE_ACTIVATE_MAX];
  size_t i;
  long n;

  (void)state;
  for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
    memset(&a, 0, sizeof(a));
    a.nonce = vals[i];
    a.version = vals[sizeof(vals) / sizeof(vals[0]) - 1 - i];
    a.flags = i % 2 ? JVPN_WIRE_ACTIVATE_FAILOVER : 0;
    memset(a.proof, (int)i + 1, sizeof(a.proof));
    n = jvpn_wire_encode_activate(buf, sizeof(buf), &a);
    assert_true(n > JVPN_PROOF_LEN);
    assert_int_equal(jvpn_wire_decode_activate(buf, (size_t)n, &b), 0);
    assert_true(b.nonce == a.nonce && b.version == a.version &&
                b.flags == a.flags);
    assert_memory_equal(b.proof, a.proof, JVPN_PROOF_LEN);
    /* every shorter buffer is refused, never overrun */
    assert_int_equal(jvpn_wire_encode_activate(buf, (size_t)n - 1, &a),
                     JVPN_ERR_NOSPACE);
  }
}

static void test_activate_malformed(void **state) {
  struct jvpn_wire_activate a;
  uint8_t buf[64];
  size_t i;

  (void)state;
  memset(buf, 0xab, sizeof(buf));
  /* nonce 1, version 0, flags 1 (failover), proof: exactly 35 bytes */
  buf[0] = 0x01;
  buf[1] = 0x00;
  buf[2] = 0x01;
  assert_int_equal(jvpn_wire_decode_activate(buf, 35, &a), 0);
  assert_true(a.nonce == 1 && a.version == 0 &&
              a.flags == JVPN_WIRE_ACTIVATE_FAILOVER && a.proof[31] == 0xab);
  /* a byte short, a byte long: the proof length is exact */
  assert_int_equal(jvpn_wire_decode_activate(buf, 34, &a), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_activate(buf, 36, &a), JVPN_ERR_MALFORMED);
  /* every truncation */
  for (i = 0; i < 35; i++)
    assert_int_equal(jvpn_wire_decode_activate(buf, i, &a),
                     JVPN_ERR_MALFORMED);
  /* unknown flag bits: malformed, not ignored */
  buf[2] = 0x02;
  assert_int_equal(jvpn_wire_decode_activate(buf, 35, &a), JVPN_ERR_MALFORMED);
  buf[2] = 0x00;
  /* nonce 0 is never valid */
  buf[0] = 0x00;
  assert_int_equal(jvpn_wire_decode_activate(buf, 35, &a), JVPN_ERR_MALFORMED);
  /* a non-minimal nonce (1 in two bytes): two spellings, refused */
  buf[0] = 0x40;
  buf[1] = 0x01;
  buf[2] = 0x00;
  buf[3] = 0x00;
  assert_int_equal(jvpn_wire_decode_activate(buf, 36, &a), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_activate(NULL, 35, &a),
                   JVPN_ERR_MALFORMED);
  /* encoder refuses what the decoder would */
  memset(&a, 0, sizeof(a));
  assert_int_equal(jvpn_wire_encode_activate(buf, sizeof(buf), &a),
                   JVPN_ERR_INVAL);
  a.nonce = 1;
  a.version = 0x4000000000000000ULL;
  assert_int_equal(jvpn_wire_encode_activate(buf, sizeof(buf), &a),
                   JVPN_ERR_INVAL);
  a.version = 0;
  a.flags = 0x4;
  assert_int_equal(jvpn_wire_encode_activate(buf, sizeof(buf), &a),
                   JVPN_ERR_INVAL);
}

static void test_activate_result(void **state) {
  struct jvpn_wire_activate_result r, q;
  uint8_t buf[JVPN_WIRE_ACTIVATE_RESULT_MAX];
  long n;

  (void)state;
  r.status = 0;
  r.version = 7;
  n = jvpn_wire_encode_activate_result(buf, sizeof(buf), &r);
  assert_int_equal(n, 2);
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 2, &q), 0);
  assert_true(q.status == 0 && q.version == 7);
  r.status = 409;
  r.version = 1u << 20;
  n = jvpn_wire_encode_activate_result(buf, sizeof(buf), &r);
  assert_int_equal(n, 6);
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 6, &q), 0);
  assert_true(q.status == 409 && q.version == 1u << 20);
  /* trailing bytes and truncations are malformed */
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 5, &q),
                   JVPN_ERR_MALFORMED);
  buf[6] = 0;
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 7, &q),
                   JVPN_ERR_MALFORMED);
  /* statuses outside 0 and 100..599 */
  buf[0] = 0x01; /* status 1 */
  buf[1] = 0x00;
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 2, &q),
                   JVPN_ERR_MALFORMED);
  r.status = 600;
  assert_int_equal(jvpn_wire_encode_activate_result(buf, sizeof(buf), &r),
                   JVPN_ERR_INVAL);
  r.status = 99;
  assert_int_equal(jvpn_wire_encode_activate_result(buf, sizeof(buf), &r),
                   JVPN_ERR_INVAL);
  /* non-minimal status 0 */
  buf[0] = 0x40;
  buf[1] = 0x00;
  buf[2] = 0x00;
  assert_int_equal(jvpn_wire_decode_activate_result(buf, 3, &q),
                   JVPN_ERR_MALFORMED);
  r.status = 200;
  r.version = 1;
  assert_int_equal(jvpn_wire_encode_activate_result(buf, 2, &r),
                   JVPN_ERR_NOSPACE);
}

static void test_keepalive_round_trip(void **state) {
  struct jvpn_wire_keepalive k, back;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&k.from;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&k.from;
  uint8_t buf[JVPN_WIRE_KEEPALIVE_MAX];
  /* 15000 = 0x3a98: a 2-byte varint 0x7a 0x98; 4; 198.18.1.2; port 443 */
  static const uint8_t want4[] = {0x7a, 0x98, 4, 198, 18, 1, 2, 0x01, 0xbb};
  long n;

  (void)state;
  memset(&k, 0, sizeof(k));
  k.want_ms = 15000;
  s4->sin_family = AF_INET;
  s4->sin_port = htons(443);
  assert_int_equal(inet_pton(AF_INET, "198.18.1.2", &s4->sin_addr), 1);
  n = jvpn_wire_encode_keepalive(buf, sizeof(buf), &k);
  assert_int_equal(n, sizeof(want4));
  assert_memory_equal(buf, want4, sizeof(want4));
  assert_int_equal(jvpn_wire_decode_keepalive(buf, (size_t)n, &back), 0);
  assert_true(back.want_ms == 15000);
  assert_int_equal(back.from.ss_family, AF_INET);
  assert_memory_equal(&back.from, &k.from, sizeof(struct sockaddr_in));
  memset(&k, 0, sizeof(k));
  k.want_ms = 1000;
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(65535);
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &s6->sin6_addr), 1);
  n = jvpn_wire_encode_keepalive(buf, sizeof(buf), &k);
  assert_int_equal(n, 2 + 1 + 16 + 2);
  assert_int_equal(jvpn_wire_decode_keepalive(buf, (size_t)n, &back), 0);
  assert_memory_equal(&back.from, &k.from, sizeof(struct sockaddr_in6));
  assert_int_equal(jvpn_wire_encode_keepalive(buf, 5, &k), JVPN_ERR_NOSPACE);
  k.want_ms = 999; /* below the usual keep-alive */
  assert_int_equal(jvpn_wire_encode_keepalive(buf, sizeof(buf), &k),
                   JVPN_ERR_INVAL);
}

static void test_keepalive_malformed(void **state) {
  struct jvpn_wire_keepalive k;
  uint64_t ms;
  static const uint8_t ok[] = {0x7a, 0x98, 4, 198, 18, 1, 2, 0x01, 0xbb};
  static const uint8_t bad_family[] = {0x7a, 0x98, 5, 198, 18, 1, 2, 1, 0xbb};
  static const uint8_t long_varint[] = {0x80, 0x00, 0x3a, 0x98, 4,
                                        198,  18,   1,    2,    1, 0xbb};
  static const uint8_t too_long_ms[] = {0x80, 0x00, 0xea, 0x60, 4,
                                        198,  18,   1,    2,    1, 0xbb};
  uint8_t extra[sizeof(ok) + 1];
  size_t i;

  (void)state;
  assert_int_equal(jvpn_wire_decode_keepalive(ok, sizeof(ok), &k), 0);
  for (i = 0; i < sizeof(ok); i++) /* every truncation */
    assert_int_equal(jvpn_wire_decode_keepalive(ok, i, &k),
                     JVPN_ERR_MALFORMED);
  memcpy(extra, ok, sizeof(ok));
  extra[sizeof(ok)] = 0;
  assert_int_equal(jvpn_wire_decode_keepalive(extra, sizeof(extra), &k),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(
      jvpn_wire_decode_keepalive(bad_family, sizeof(bad_family), &k),
      JVPN_ERR_MALFORMED);
  assert_int_equal(
      jvpn_wire_decode_keepalive(long_varint, sizeof(long_varint), &k),
      JVPN_ERR_MALFORMED);
  assert_int_equal(
      jvpn_wire_decode_keepalive(too_long_ms, sizeof(too_long_ms), &k),
      JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_keepalive(NULL, 0, &k),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_keepalive_result(ok, 2, &ms), 0);
  assert_true(ms == 15000);
  assert_int_equal(jvpn_wire_decode_keepalive_result(ok, 3, &ms),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_keepalive_result(long_varint, 4, &ms),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_decode_keepalive_result(too_long_ms, 4, &ms),
                   JVPN_ERR_MALFORMED);
}

/* NAT_REFRESH (D52): two minimal varints, the refresh the shorter, both
 * within the keep-alive range, nothing after them. */
static void test_nat_refresh(void **state) {
  struct jvpn_wire_nat_refresh r = {25000, 4000}, back;
  uint8_t buf[JVPN_WIRE_NAT_REFRESH_MAX], extra[JVPN_WIRE_NAT_REFRESH_MAX + 1];
  /* 25000 = 0x61a8, a 4-byte varint; 4000 = 0x0fa0, a 2-byte one */
  static const uint8_t want[] = {0x80, 0x00, 0x61, 0xa8, 0x4f, 0xa0};
  static const uint8_t swapped[] = {0x4f, 0xa0, 0x80, 0x00, 0x61, 0xa8};
  static const uint8_t equal[] = {0x4f, 0xa0, 0x4f, 0xa0};
  static const uint8_t long_varint[] = {0x80, 0x00, 0x61, 0xa8,
                                        0x80, 0x00, 0x0f, 0xa0};
  static const uint8_t too_short[] = {0x80, 0x00, 0x61, 0xa8,
                                      0x43, 0xe7}; /* 999 ms */
  const struct {
    const uint8_t *v;
    size_t len;
  } bad[] = {{swapped, sizeof(swapped)},         {equal, sizeof(equal)},
             {long_varint, sizeof(long_varint)}, {too_short, sizeof(too_short)},
             {NULL, 0}};
  size_t i;
  long n;

  (void)state;
  n = jvpn_wire_encode_nat_refresh(buf, sizeof(buf), &r);
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(buf, want, sizeof(want));
  assert_int_equal(jvpn_wire_decode_nat_refresh(buf, (size_t)n, &back), 0);
  assert_true(back.keepalive_ms == 25000 && back.refresh_ms == 4000);
  for (i = 0; i < sizeof(want); i++) /* every truncation */
    assert_int_equal(jvpn_wire_decode_nat_refresh(want, i, &back),
                     JVPN_ERR_MALFORMED);
  memcpy(extra, want, sizeof(want));
  extra[sizeof(want)] = 0;
  assert_int_equal(
      jvpn_wire_decode_nat_refresh(extra, sizeof(want) + 1, &back),
      JVPN_ERR_MALFORMED);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(jvpn_wire_decode_nat_refresh(bad[i].v, bad[i].len, &back),
                     JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_wire_encode_nat_refresh(buf, 5, &r),
                   JVPN_ERR_NOSPACE);
  r.refresh_ms = 25000; /* not shorter than the keep-alive */
  assert_int_equal(jvpn_wire_encode_nat_refresh(buf, sizeof(buf), &r),
                   JVPN_ERR_INVAL);
  r.keepalive_ms = 60000; /* past the range */
  r.refresh_ms = 4000;
  assert_int_equal(jvpn_wire_encode_nat_refresh(buf, sizeof(buf), &r),
                   JVPN_ERR_INVAL);
}

static void test_keepalive_result(void **state) {
  uint8_t buf[JVPN_WIRE_KEEPALIVE_RESULT_MAX];
  uint64_t ms;
  long n;

  (void)state;
  n = jvpn_wire_encode_keepalive_result(buf, sizeof(buf), 4000);
  assert_int_equal(n, 2);
  assert_int_equal(jvpn_wire_decode_keepalive_result(buf, (size_t)n, &ms), 0);
  assert_true(ms == 4000);
  assert_int_equal(jvpn_wire_encode_keepalive_result(buf, sizeof(buf), 60000),
                   JVPN_ERR_INVAL);
  assert_int_equal(jvpn_wire_encode_keepalive_result(buf, 1, 4000),
                   JVPN_ERR_NOSPACE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_session_id_known),
      cmocka_unit_test(test_session_id_ows_and_bounds),
      cmocka_unit_test(test_session_id_rejects),
      cmocka_unit_test(test_session_id_round_trip),
      cmocka_unit_test(test_attach_format_known),
      cmocka_unit_test(test_attach_parse_canonical),
      cmocka_unit_test(test_attach_any_order),
      cmocka_unit_test(test_attach_whitespace),
      cmocka_unit_test(test_attach_malformed),
      cmocka_unit_test(test_attach_embedded_nul),
      cmocka_unit_test(test_attach_oversize),
      cmocka_unit_test(test_attach_round_trip),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_activate_round_trip),
      cmocka_unit_test(test_activate_malformed),
      cmocka_unit_test(test_activate_result),
      cmocka_unit_test(test_keepalive_round_trip),
      cmocka_unit_test(test_keepalive_malformed),
      cmocka_unit_test(test_keepalive_result),
      cmocka_unit_test(test_nat_refresh),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
